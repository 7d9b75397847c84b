#!/bin/bash
# The i386 (32-bit x86) Debian 12 trees of the i386 guests, in $VM_CACHE/common-i386/:
#   base/      debootstrap --arch=i386 --variant=minbase with the same packages as the amd64 base
#              (the PACKAGES line of mk-base.sh is read from there, not copied)
#   kernels/   what the guests boot, taken from a copy of base/ in which linux-image-686 (non-PAE)
#              and linux-image-686-pae are installed with apt (kernels.chroot, removed afterwards):
#              per release <kver>/ vmlinuz, initrd.img, config, System.map, and the modules the guest
#              needs outside its initrd (qemu_fw_cfg.ko + modules.builtin*/order); kernels.json
# The chroot needs i386 binaries to run on the host. They run natively where the kernel has ia32
# emulation on; this host's kernel has it off ("32-bit emulation disabled. You can reenable with
# ia32_emulation=on", a boot parameter), so then qemu-i386-static (qemu-user-static) runs them:
# registered with binfmt_misc (flag F) for the length of this script and removed at its end.
# No i386 kernel is installed on the host (the host's /boot decides the amd64 guests' kernel).
# Slow (network, dpkg and two initrds under user-mode emulation). Rebuilt only when this script,
# mk-base.sh or lib.sh changes.
source "$(dirname "$0")/lib.sh"

COMMON_DIR="$VM_CACHE/common-i386"
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
PACKAGES=$(sed -n 's/^PACKAGES=//p' "$VM_IMAGES_DIR/mk-base.sh")
[[ $PACKAGES == python3,* ]] || die "could not read PACKAGES from mk-base.sh"
FLAVOURS=(686 686-pae)

base="$COMMON_DIR/base"
tmp="$COMMON_DIR/base.tmp"
kroot="$COMMON_DIR/kernels.chroot"
mkdir -p "$COMMON_DIR"
BINFMT=/proc/sys/fs/binfmt_misc
BINFMT_NAME=mig-qemu-i386
umount_kroot() { for m in dev/pts dev proc sys; do mountpoint -q "$kroot/$m" 2>/dev/null && umount -l "$kroot/$m"; done; return 0; }
unregister_binfmt() { [[ -e $BINFMT/$BINFMT_NAME ]] && echo -1 >"$BINFMT/$BINFMT_NAME"; return 0; }
trap 'umount_kroot; unregister_binfmt' EXIT
umount_kroot

# Can this host execute i386 ELF binaries? (a 9-byte i386 program: exit(0) through int 0x80)
i386_runs() {
  local t rc=0
  t=$(mktemp)
  python3 -c '
import struct, sys
code = bytes([0xb8, 1, 0, 0, 0, 0x31, 0xdb, 0xcd, 0x80])
base = 0x08048000
ehdr = struct.pack("<16sHHIIIIIHHHHHH", b"\x7fELF\x01\x01\x01" + bytes(9), 2, 3, 1, base + 84, 52, 0, 0, 52, 32, 1, 0, 0, 0)
phdr = struct.pack("<8I", 1, 0, base, base, 84 + len(code), 84 + len(code), 5, 0x1000)
open(sys.argv[1], "wb").write(ehdr + phdr + code)' "$t"
  chmod +x "$t"
  "$t" 2>/dev/null || rc=$?
  rm -f "$t"
  return $rc
}
I386_EXEC=native
if ! i386_runs; then
  if ! command -v qemu-i386-static >/dev/null; then
    log "i386 binaries do not run natively here: installing qemu-user-static"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-user-static >/dev/null || die "cannot install qemu-user-static"
  fi
  mountpoint -q "$BINFMT" || mount -t binfmt_misc binfmt_misc "$BINFMT" || die "cannot mount binfmt_misc"
  unregister_binfmt
  # ELF32, little-endian, ET_EXEC/ET_DYN, EM_386: the magic and mask of QEMU's scripts/qemu-binfmt-conf.sh.
  magic='\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00'
  mask='\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
  echo ":$BINFMT_NAME:M::$magic:$mask:$(command -v qemu-i386-static):F" >"$BINFMT/register"
  i386_runs || die "i386 binaries do not run even with qemu-i386-static registered in binfmt_misc"
  I386_EXEC=qemu-user
  log "i386 binaries run under qemu-i386-static here (binfmt_misc entry $BINFMT_NAME, removed when this script ends)"
fi
rm -rf "$tmp" "$base" "$kroot" "$COMMON_DIR/kernels" "$COMMON_DIR/kernels.tmp"
t0=$(now)
log "debootstrap --arch=i386 --variant=minbase $DEBIAN_SUITE from $DEBIAN_MIRROR (packages: $PACKAGES)"
debootstrap --variant=minbase --arch=i386 --include="$PACKAGES" \
  "$DEBIAN_SUITE" "$tmp" "$DEBIAN_MIRROR" >"$COMMON_DIR/debootstrap.log" 2>&1 \
  || { tail -n 30 "$COMMON_DIR/debootstrap.log" >&2; rm -rf "$tmp"; die "debootstrap failed (log: $COMMON_DIR/debootstrap.log)"; }
[[ $(chroot "$tmp" dpkg --print-architecture) == i386 ]] || die "the chroot is not i386"
rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages "$tmp"/var/log/*.log
chroot "$tmp" dpkg-query -W -f='${Package} ${Version}\n' >"$tmp/.mig-packages"
t_deb=$(elapsed "$t0")

# Kernels: installed in a copy of the tree, so base/ keeps exactly the amd64 package list.
t1=$(now)
log "installing linux-image-686 and linux-image-686-pae in an i386 chroot"
cp -a "$tmp" "$kroot"
cp /etc/resolv.conf "$kroot/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$kroot/proc"
mount -t sysfs sysfs "$kroot/sys"
mount --bind /dev "$kroot/dev"
mount --bind /dev/pts "$kroot/dev/pts"
printf 'deb %s %s main\n' "$DEBIAN_MIRROR" "$DEBIAN_SUITE" >"$kroot/etc/apt/sources.list"
# The initrds are made by the chroot's own initramfs-tools, with MODULES=list instead of Debian's
# default MODULES=most: under qemu-user, `most` (every storage/fs module, a few processes per
# module) takes ~10 min per initrd here; the list (virtio_pci, virtio_blk, ext4 and what they
# depend on) well under a minute. The guests need nothing else to mount their root (checked below).
apt_in() { chroot "$kroot" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; }
{
  chroot "$kroot" apt-get update &&
  apt_in initramfs-tools &&
  printf 'MODULES=list\n' >"$kroot/etc/initramfs-tools/conf.d/mig-modules-list" &&
  printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic >>"$kroot/etc/initramfs-tools/modules" &&
  apt_in $(printf 'linux-image-%s ' "${FLAVOURS[@]}")
} >"$COMMON_DIR/kernels.log" 2>&1 || { tail -n 30 "$COMMON_DIR/kernels.log" >&2; die "kernel install failed (log: $COMMON_DIR/kernels.log)"; }

mkdir -p "$COMMON_DIR/kernels.tmp"
declare -A REL
for fl in "${FLAVOURS[@]}"; do
  kver=$(ls "$kroot"/boot/vmlinuz-*-"$fl" 2>/dev/null | sed "s|^$kroot/boot/vmlinuz-||" | sort -V | tail -n1)
  [[ -n $kver ]] || die "no /boot/vmlinuz-*-$fl in the chroot"
  REL[$fl]=$kver
  k="$COMMON_DIR/kernels.tmp/$kver"
  mkdir -p "$k/modules/kernel/drivers/firmware"
  for f in vmlinuz initrd.img config System.map; do
    [[ -r $kroot/boot/$f-$kver ]] || die "missing /boot/$f-$kver in the chroot"
    install -m 0644 "$kroot/boot/$f-$kver" "$k/$f"
  done
  install -m 0644 "$kroot/lib/modules/$kver/kernel/drivers/firmware/qemu_fw_cfg.ko" "$k/modules/kernel/drivers/firmware/"
  cp -a "$kroot/lib/modules/$kver"/modules.builtin* "$kroot/lib/modules/$kver/modules.order" "$k/modules/"
  chroot "$kroot" lsinitramfs "/boot/initrd.img-$kver" >"$k/initrd.lst"
  for m in virtio_blk.ko virtio_pci.ko ext4.ko; do
    grep -q "/$m" "$k/initrd.lst" || die "initrd of $kver lacks $m"
  done
  for opt in CONFIG_PROC_PAGE_MONITOR=y CONFIG_FW_CFG_SYSFS=m CONFIG_CRASH_CORE=y; do
    grep -qx "$opt" "$k/config" || die "$kver: $opt not set (needed for kpageflags/pagemap or VMCOREINFO)"
  done
  log "kernel $kver: $(( $(stat -c %s "$k/vmlinuz") >> 10 )) KiB, initrd $(( $(stat -c %s "$k/initrd.img") >> 10 )) KiB, $(grep -c '\.ko$' "$k/initrd.lst") modules in it; $(grep -E '^CONFIG_PGTABLE_LEVELS=' "$k/config")"
done
chroot "$kroot" dpkg-query -W -f='${Package} ${Version}\n' >"$COMMON_DIR/kernels.tmp/chroot-packages"
umount_kroot
rm -rf "$kroot"
t_k=$(elapsed "$t1")

python3 - "$COMMON_DIR/kernels.tmp/kernels.json" "${REL[686]}" "${REL[686-pae]}" "$t_k" <<'EOF'
import json, sys
out, k686, kpae, secs = sys.argv[1:]
json.dump({"686": k686, "686-pae": kpae, "installSeconds": float(secs)}, open(out, "w"), indent=2)
EOF
printf 'mirror=%s\nsuite=%s\npackages=%s\nseconds=%s\narch=i386\ni386exec=%s\n' "$DEBIAN_MIRROR" "$DEBIAN_SUITE" "$PACKAGES" "$t_deb" "$I386_EXEC" >"$tmp/.mig-base"
mv "$COMMON_DIR/kernels.tmp" "$COMMON_DIR/kernels"
mv "$tmp" "$base"
log "i386 base tree ready: $base ($(du -sh "$base" | cut -f1), $(wc -l <"$base/.mig-packages") packages, debootstrap $t_deb s); kernels ${REL[686]} ${REL[686-pae]} ($t_k s)"
