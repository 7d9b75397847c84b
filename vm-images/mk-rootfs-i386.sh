#!/bin/bash
# The files the i386 guests share, in $VM_CACHE/common-i386/ (the i386 counterpart of mk-rootfs.sh):
#   rootfs.ext4              the i386 base (same packages as amd64) + the same guest init/workload
#                            (guest/mig-init, guest/heapd.py) + qemu_fw_cfg.ko of both kernels
#   vmlinuz-<flavour>        Debian's linux-image-<flavour> from the i386 chroot, flavour 686 (non-PAE)
#   initrd.img-<flavour>     and 686-pae; their initrds (checked for virtio_blk, virtio_pci, ext4 by
#   System.map-<flavour>     mk-base-i386.sh); System.map and config for introspection
#   config-<flavour>
#   rootfs.json              kernels (flavour → release), sizes, UUID, build times
# Outputs are written to temporary names and renamed; rootfs.ext4 (the make target) comes last.
source "$(dirname "$0")/lib.sh"

COMMON_DIR="$VM_CACHE/common-i386"
ROOT_UUID=${ROOT_UUID_I386:-6d69672d-726f-4f74-8000-000000000386}
base="$COMMON_DIR/base"
kernels="$COMMON_DIR/kernels"
stage="$COMMON_DIR/rootfs.stage"
[[ -f $base/.mig-base && -f $kernels/kernels.json ]] || die "no i386 base tree/kernels in $COMMON_DIR (run mk-base-i386.sh first)"
FLAVOURS=(686 686-pae)

t0=$(now)
declare -A REL
for fl in "${FLAVOURS[@]}"; do
  REL[$fl]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$kernels/kernels.json" "$fl")
  for f in vmlinuz initrd.img config System.map modules/kernel/drivers/firmware/qemu_fw_cfg.ko; do
    [[ -r $kernels/${REL[$fl]}/$f ]] || die "missing $kernels/${REL[$fl]}/$f"
  done
done

log "assembling the i386 rootfs (kernels ${REL[686]}, ${REL[686-pae]})"
rm -rf "$stage"
cp -a "$base" "$stage"
rm -f "$stage/.mig-base"
install -m 0755 "$VM_IMAGES_DIR/guest/mig-init" "$stage/sbin/mig-init"
install -d -m 0755 "$stage/opt/mig"
install -m 0755 "$VM_IMAGES_DIR/guest/heapd.py" "$stage/opt/mig/heapd.py"
# Only the module the workload loads (qemu_fw_cfg: VMCOREINFO for ELF dumps); the initrds have the rest.
for fl in "${FLAVOURS[@]}"; do
  kver=${REL[$fl]}
  install -d "$stage/lib/modules/$kver/kernel/drivers/firmware"
  install -m 0644 "$kernels/$kver/modules/kernel/drivers/firmware/qemu_fw_cfg.ko" "$stage/lib/modules/$kver/kernel/drivers/firmware/"
  cp -a "$kernels/$kver/modules"/modules.builtin* "$kernels/$kver/modules/modules.order" "$stage/lib/modules/$kver/"
  depmod -b "$stage" "$kver"   # the host's depmod: no i386 binary has to run here
done
echo "mig-guest" >"$stage/etc/hostname"
printf 'UUID=%s / ext4 ro 0 0\n' "$ROOT_UUID" >"$stage/etc/fstab"
printf 'kernels=%s %s\nbuilt=%s\n' "${REL[686]}" "${REL[686-pae]}" "$(date -u +%FT%TZ)" >"$stage/etc/mig-build"

size_kib=$(du -sk "$stage" | cut -f1)
size_kib=$(( (size_kib * 12 / 10 + 65536) / 4096 * 4096 ))
rm -f "$COMMON_DIR"/*.tmp
mkfs.ext4 -q -F -L migroot -U "$ROOT_UUID" -O ^has_journal -E root_owner=0:0,hash_seed="$ROOT_UUID" \
  -d "$stage" "$COMMON_DIR/rootfs.ext4.tmp" "${size_kib}k" >/dev/null
e2fsck -fn "$COMMON_DIR/rootfs.ext4.tmp" >/dev/null 2>&1 || die "e2fsck found problems in the new rootfs"
rm -rf "$stage"
OUTS=()
for fl in "${FLAVOURS[@]}"; do
  for f in vmlinuz initrd.img System.map config; do
    install -m 0644 "$kernels/${REL[$fl]}/$f" "$COMMON_DIR/$f-$fl.tmp"
    OUTS+=("$f-$fl")
  done
done
chmod 0644 "$COMMON_DIR/rootfs.ext4.tmp"
chmod 0755 "$VM_CACHE" "$COMMON_DIR"
python3 - "$COMMON_DIR" "$ROOT_UUID" "$(elapsed "$t0")" <<'EOF'
import json, os, sys, time
d, uuid, secs = sys.argv[1:]
base = dict(l.split("=", 1) for l in open(os.path.join(d, "base", ".mig-base")).read().splitlines())
k = json.load(open(os.path.join(d, "kernels", "kernels.json")))
json.dump({
    "arch": "i386",
    "kernels": {fl: {"release": k[fl], "vmlinuz": f"{d}/vmlinuz-{fl}", "initrd": f"{d}/initrd.img-{fl}",
                     "systemMap": f"{d}/System.map-{fl}", "config": f"{d}/config-{fl}"} for fl in ("686", "686-pae")},
    "rootUuid": uuid, "rootfsBytes": os.path.getsize(f"{d}/rootfs.ext4.tmp"),
    "debianMirror": base["mirror"], "debianSuite": base["suite"], "packages": base["packages"].split(","),
    "i386Exec": base.get("i386exec", "native"),
    "debootstrapSeconds": float(base["seconds"]), "kernelInstallSeconds": k["installSeconds"],
    "assembleSeconds": float(secs),
    "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
}, open(f"{d}/rootfs.json.tmp", "w"), indent=2)
EOF
for f in "${OUTS[@]}" rootfs.json rootfs.ext4; do mv -f "$COMMON_DIR/$f.tmp" "$COMMON_DIR/$f"; done
log "made $COMMON_DIR/rootfs.ext4 ($(( $(stat -c %s "$COMMON_DIR/rootfs.ext4") >> 20 )) MiB) and the kernels ${REL[686]} ${REL[686-pae]} in $(elapsed "$t0") s"
