#!/bin/bash
# Debian 12 minbase tree (debootstrap) shared by every guest: $VM_CACHE/common/base/.
# Slow (network); everything guest-specific is added later by mk-rootfs.sh, so editing the
# guest scripts never re-runs debootstrap. Rebuilt only when this script changes.
source "$(dirname "$0")/lib.sh"

DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
# minbase = Priority: required + apt; the workload needs python3 and the usual tools.
PACKAGES=python3,procps,psmisc,kmod,gzip,xz-utils,bzip2,zstd,coreutils,findutils,tar,cpio,file,less,gawk

base="$COMMON_DIR/base"
tmp="$COMMON_DIR/base.tmp"
mkdir -p "$COMMON_DIR"
rm -rf "$tmp" "$base"
t0=$(now)
log "debootstrap --variant=minbase $DEBIAN_SUITE from $DEBIAN_MIRROR (packages: $PACKAGES)"
debootstrap --variant=minbase --arch=amd64 --include="$PACKAGES" \
  "$DEBIAN_SUITE" "$tmp" "$DEBIAN_MIRROR" >"$COMMON_DIR/debootstrap.log" 2>&1 \
  || { tail -n 30 "$COMMON_DIR/debootstrap.log" >&2; rm -rf "$tmp"; die "debootstrap failed (log: $COMMON_DIR/debootstrap.log)"; }
# Package caches are not part of the guest.
rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages "$tmp"/var/log/*.log
chroot "$tmp" dpkg-query -W -f='${Package} ${Version}\n' >"$tmp/.mig-packages"
printf 'mirror=%s\nsuite=%s\npackages=%s\nseconds=%s\n' "$DEBIAN_MIRROR" "$DEBIAN_SUITE" "$PACKAGES" "$(elapsed "$t0")" >"$tmp/.mig-base"
mv "$tmp" "$base"
log "base tree ready: $base ($(du -sh "$base" | cut -f1), $(wc -l <"$base/.mig-packages") packages, $(elapsed "$t0") s)"
