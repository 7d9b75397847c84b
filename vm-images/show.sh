#!/bin/bash
# show.sh common|common-i386|<guest>: print what a vm-images target made (paths, sizes, key manifest fields).
source "$(dirname "$0")/lib.sh"
what=${1:?usage: show.sh common|common-i386|<guest>}
if [[ $what == common || $what == common-i386 ]]; then
  for f in "$VM_CACHE/$what"/{rootfs.ext4,vmlinuz*,initrd.img*,rootfs.json}; do
    printf 'vm-rootfs: %-58s %6d MiB\n' "$f" $(( $(stat -c %s "$f") >> 20 ))
  done
  exit 0
fi
python3 - "$VM_CACHE/$what/manifest.json" <<'PY'
import json, os, sys
m = json.load(open(sys.argv[1]))
d = m["dir"]
extra = f", {m['arch']} {m['kernelFlavour']} ({m['expectedPaging']}), ELF{m['dumpElfClass']} dump" if "arch" in m else ""
print(f"{m['name']}: {m['memMiB']} MiB, {m['accel']}, {m['machine']}, kernel {m['kernelRelease']}{extra}, "
      f"built {m['timestamps']['finished']} in {m['durationsSeconds']['total']:.0f} s")
for k in ("save1", "dump", "save2", "kpageflags", "pagemap", "domainXml"):
    if k not in m["files"]:
        continue
    f = m["files"][k]
    print(f"  {os.path.join(d, f):60s} {m['sizes'][f]:>12,d} B")
hb = m["heartbeat"]
print(f"  {os.path.join(d, 'manifest.json'):60s} heartbeat before save1 {hb['beforeSave1']}"
      + (f", before save2 {hb['beforeSave2']}" if hb.get("beforeSave2") is not None else ", no save2")
      + f"; serial log {m['serialLog']}")
PY
