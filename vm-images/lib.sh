# Shared helpers for the vm-images scripts (sourced, not executed).
set -euo pipefail

VM_CACHE=${VM_CACHE:-/var/cache/mig/vm-images}
VM_IMAGES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMMON_DIR="$VM_CACHE/common"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The Debian kernel the guests boot: newest /boot/vmlinuz-* unless KERNEL_VERSION is set.
kernel_version() {
  if [[ -n ${KERNEL_VERSION:-} ]]; then echo "$KERNEL_VERSION"; return; fi
  local k
  k=$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V | tail -n1)
  [[ -n $k ]] || die "no /boot/vmlinuz-* (install linux-image-amd64)"
  echo "$k"
}

# Seconds since the epoch with milliseconds, for phase timings.
now() { date +%s.%N | cut -c1-14; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
