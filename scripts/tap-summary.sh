#!/usr/bin/env bash
# Print "N passed, N failed" from a TAP file written by `ava --tap`.
# Counts "ok"/"not ok" lines (todo/skip directives count as neither); a TAP file without any
# test line (e.g. the build failed) counts as one failure so CI can never read it as green.
set -u
tap=${1:?usage: tap-summary.sh FILE}
pass=0; fail=0
if [ -f "$tap" ]; then
  pass=$(grep -E '^ok [0-9]+' "$tap" | grep -vcE '# (SKIP|TODO)' || true)
  fail=$(grep -cE '^not ok [0-9]+' "$tap" || true)
  skipped=$(grep -E '^(not )?ok [0-9]+' "$tap" | grep -cE '# (SKIP|TODO)' || true)
  [ "$skipped" -gt 0 ] && fail=$((fail + skipped))
fi
if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "$pass passed, $fail failed"
