#!/bin/bash
# The files every guest shares, in $VM_CACHE/common/:
#   rootfs.ext4   the debootstrap base + the guest init/workload, as ext4 (mkfs.ext4 -d, no loop
#                 mounts, no journal: it is only ever mounted read-only from a read-only disk)
#   vmlinuz       Debian's kernel from the host's /boot (linux-image-amd64)
#   initrd.img    its initrd (must contain virtio_blk, virtio_pci, ext4)
#   rootfs.json   kernel release, sizes, UUID, build time
# Outputs are written to temporary names and renamed; rootfs.ext4 (the make target) comes last.
source "$(dirname "$0")/lib.sh"

ROOT_UUID=${ROOT_UUID:-6d69672d-726f-4f74-8000-000000000001}
base="$COMMON_DIR/base"
stage="$COMMON_DIR/rootfs.stage"
[[ -f $base/.mig-base ]] || die "no base tree at $base (run mk-base.sh first)"

t0=$(now)
kver=$(kernel_version)
vmlinuz=/boot/vmlinuz-$kver
initrd=/boot/initrd.img-$kver
fwcfg=/lib/modules/$kver/kernel/drivers/firmware/qemu_fw_cfg.ko
for f in "$vmlinuz" "$initrd" "$fwcfg"; do [[ -r $f ]] || die "missing $f (linux-image-$kver)"; done

# Direct kernel boot needs the root disk driver in the initrd (Debian's MODULES=most has it).
if command -v lsinitramfs >/dev/null; then
  mods=$(lsinitramfs "$initrd")
  for m in virtio_blk.ko virtio_pci.ko ext4.ko; do
    grep -q "/$m" <<<"$mods" || die "$initrd lacks $m; set MODULES=most in /etc/initramfs-tools/initramfs.conf and run update-initramfs -u"
  done
else
  log "warning: lsinitramfs not found; not checking the initrd for virtio_blk"
fi

log "assembling rootfs (kernel $kver)"
rm -rf "$stage"
cp -a "$base" "$stage"
rm -f "$stage/.mig-base"
install -m 0755 "$VM_IMAGES_DIR/guest/mig-init" "$stage/sbin/mig-init"
install -d -m 0755 "$stage/opt/mig"
install -m 0755 "$VM_IMAGES_DIR/guest/heapd.py" "$stage/opt/mig/heapd.py"
# Only the module the workload loads (qemu_fw_cfg: VMCOREINFO for ELF dumps); the initrd has the rest.
install -d "$stage/lib/modules/$kver/kernel/drivers/firmware"
install -m 0644 "$fwcfg" "$stage/lib/modules/$kver/kernel/drivers/firmware/"
cp -a /lib/modules/"$kver"/modules.builtin* /lib/modules/"$kver"/modules.order "$stage/lib/modules/$kver/"
chroot "$stage" depmod "$kver"
echo "mig-guest" >"$stage/etc/hostname"
printf 'UUID=%s / ext4 ro 0 0\n' "$ROOT_UUID" >"$stage/etc/fstab"
printf 'kernel=%s\nbuilt=%s\n' "$kver" "$(date -u +%FT%TZ)" >"$stage/etc/mig-build"

size_kib=$(du -sk "$stage" | cut -f1)
size_kib=$(( (size_kib * 12 / 10 + 65536) / 4096 * 4096 ))
rm -f "$COMMON_DIR"/{rootfs.ext4,vmlinuz,initrd.img,rootfs.json}.tmp
mkfs.ext4 -q -F -L migroot -U "$ROOT_UUID" -O ^has_journal -E root_owner=0:0,hash_seed="$ROOT_UUID" \
  -d "$stage" "$COMMON_DIR/rootfs.ext4.tmp" "${size_kib}k" >/dev/null
e2fsck -fn "$COMMON_DIR/rootfs.ext4.tmp" >/dev/null 2>&1 || die "e2fsck found problems in the new rootfs"
rm -rf "$stage"
install -m 0644 "$vmlinuz" "$COMMON_DIR/vmlinuz.tmp"
install -m 0644 "$initrd" "$COMMON_DIR/initrd.img.tmp"
chmod 0644 "$COMMON_DIR/rootfs.ext4.tmp"
chmod 0755 "$VM_CACHE" "$COMMON_DIR"
python3 - "$COMMON_DIR" "$kver" "$ROOT_UUID" "$(elapsed "$t0")" <<'EOF'
import json, os, sys, time
d, kver, uuid, secs = sys.argv[1:]
base = dict(l.split("=", 1) for l in open(os.path.join(d, "base", ".mig-base")).read().splitlines())
json.dump({
    "kernelRelease": kver, "rootUuid": uuid, "rootfsBytes": os.path.getsize(f"{d}/rootfs.ext4.tmp"),
    "debianMirror": base["mirror"], "debianSuite": base["suite"], "packages": base["packages"].split(","),
    "debootstrapSeconds": float(base["seconds"]), "assembleSeconds": float(secs),
    "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
}, open(f"{d}/rootfs.json.tmp", "w"), indent=2)
EOF
for f in vmlinuz initrd.img rootfs.json rootfs.ext4; do mv -f "$COMMON_DIR/$f.tmp" "$COMMON_DIR/$f"; done
log "made $COMMON_DIR/rootfs.ext4 ($(( $(stat -c %s "$COMMON_DIR/rootfs.ext4") >> 20 )) MiB), vmlinuz, initrd.img (kernel $kver) in $(elapsed "$t0") s"
