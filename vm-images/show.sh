#!/bin/bash
# show.sh common|<guest>: print what a vm-images target made (paths, sizes, key manifest fields).
source "$(dirname "$0")/lib.sh"
what=${1:?usage: show.sh common|<guest>}
if [[ $what == common ]]; then
  for f in rootfs.ext4 vmlinuz initrd.img rootfs.json; do
    printf 'vm-rootfs: %-52s %6d MiB\n' "$COMMON_DIR/$f" $(( $(stat -c %s "$COMMON_DIR/$f") >> 20 ))
  done
  exit 0
fi
python3 - "$VM_CACHE/$what/manifest.json" <<'PY'
import json, os, sys
m = json.load(open(sys.argv[1]))
d = m["dir"]
print(f"{m['name']}: {m['memMiB']} MiB, {m['accel']}, {m['machine']}, kernel {m['kernelRelease']}, "
      f"built {m['timestamps']['finished']} in {m['durationsSeconds']['total']:.0f} s")
for k in ("save1", "dump", "save2", "kpageflags", "domainXml"):
    f = m["files"][k]
    print(f"  {os.path.join(d, f):60s} {m['sizes'][f]:>12,d} B")
print(f"  {os.path.join(d, 'manifest.json'):60s} heartbeat before save1 {m['heartbeat']['beforeSave1']}, "
      f"before save2 {m['heartbeat']['beforeSave2']}; serial log {m['serialLog']}")
PY
