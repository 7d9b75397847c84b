#!/bin/bash
# build-guest.sh <name> <memMiB>: boot one test guest on the real libvirtd and capture it.
#
#   create (transient) → MIG-BOOT → MIG-READY → MIG-KPF-DONE → virsh suspend
#   → (b) virsh dump --memory-only --format elf  dump.elf
#   → (a) virsh save --running                   save1.img     (same paused state as dump.elf)
#   → virsh restore save1.img → heartbeats continue → run ACTIVITY_SECONDS
#   → (c) virsh save                             save2.img     (the repeated-migration pair)
#   (SAVE2=0: after the restore check the domain is destroyed; no activity phase, no save2.img)
#
# Outputs in $VM_CACHE/<name>/: save1.img dump.elf save2.img kpageflags.bin domain.xml
# serial.log build.log manifest.json (+ kpf.disk, the guest's second disk, which restores of
# save1/save2 need). Every output is written under a .partial name and renamed at the end;
# manifest.json is written last, so its presence means the set is complete.
#
# Environment: ACCEL=auto|kvm|tcg (auto: KVM first unless it already failed on this host,
# then TCG), ACTIVITY_SECONDS (120), HEAP_PCT (30), CACHE_PCT (45), COMPRESS_PCT (6),
# HEARTBEAT_SECONDS (2), WORKLOAD_SEED (1), BOOT_TIMEOUT (300), KVM_BOOT_TIMEOUT (45),
# READY_TIMEOUT (1200), VCPUS (1), MACHINE (q35), TCG_CPU_MODEL (qemu64),
# KVM_CPUS ("host-passthrough qemu64": CPU models tried under KVM, in order), SAVE2 (1),
# PAGEMAP (0: pages per process of the in-guest /proc/PID/pagemap sample → pagemap.json).
# 32-bit guests: GUEST_ARCH=i686 (qemu-system-i386; default x86_64), GUEST_COMMON=common-i386
# (the shared files' directory under $VM_CACHE; default common), KERNEL_FLAVOUR=686|686-pae
# (boots vmlinuz-<flavour>/initrd.img-<flavour> of that directory; default: vmlinuz, initrd.img),
# FIRMWARE=default|seabios-pflash (SeaBIOS as a read-only pflash device instead of the BIOS ROM),
# DUMP_ELF_CLASS (32|64: fail unless dump.elf has this class).
source "$(dirname "$0")/lib.sh"

NAME=${1:?usage: build-guest.sh <name> <memMiB>}
MEM=${2:?usage: build-guest.sh <name> <memMiB>}
ACCEL=${ACCEL:-auto}
ACTIVITY_SECONDS=${ACTIVITY_SECONDS:-120}
HEAP_PCT=${HEAP_PCT:-30}
CACHE_PCT=${CACHE_PCT:-45}
COMPRESS_PCT=${COMPRESS_PCT:-6}
HEARTBEAT_SECONDS=${HEARTBEAT_SECONDS:-2}
WORKLOAD_SEED=${WORKLOAD_SEED:-1}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
KVM_BOOT_TIMEOUT=${KVM_BOOT_TIMEOUT:-45}
READY_TIMEOUT=${READY_TIMEOUT:-1200}
VCPUS=${VCPUS:-1}
MACHINE=${MACHINE:-q35}
TCG_CPU_MODEL=${TCG_CPU_MODEL:-qemu64}
KVM_CPUS=${KVM_CPUS:-host-passthrough qemu64}
SAVE2=${SAVE2:-1}
PAGEMAP=${PAGEMAP:-0}
GUEST_ARCH=${GUEST_ARCH:-x86_64}
KERNEL_FLAVOUR=${KERNEL_FLAVOUR:-}
FIRMWARE=${FIRMWARE:-default}
DUMP_ELF_CLASS=${DUMP_ELF_CLASS:-}
COMMON_DIR="$VM_CACHE/${GUEST_COMMON:-common}"
case $GUEST_ARCH in
  x86_64) EMULATOR=/usr/bin/qemu-system-x86_64 ;;
  i686) EMULATOR=/usr/bin/qemu-system-i386 ;;
  *) die "GUEST_ARCH=$GUEST_ARCH: x86_64 or i686" ;;
esac
case $FIRMWARE in
  default) LOADER= ;;
  # QEMU maps a pflash device as a ROM device, not RAM, so it is not in the ELF dump's memory: with
  # it the guest's memory ends below 4 GiB and QEMU writes an ELF32 dump for a 32-bit guest (the
  # default BIOS ROM ends at exactly 4 GiB, which makes QEMU 7.2 write ELF64).
  seabios-pflash) LOADER="<loader readonly='yes' type='pflash' stateless='yes'>/usr/share/seabios/bios-256k.bin</loader>" ;;
  *) die "FIRMWARE=$FIRMWARE: default or seabios-pflash" ;;
esac
KERNEL_FILE="$COMMON_DIR/vmlinuz${KERNEL_FLAVOUR:+-$KERNEL_FLAVOUR}"
INITRD_FILE="$COMMON_DIR/initrd.img${KERNEL_FLAVOUR:+-$KERNEL_FLAVOUR}"
VIRSH=(virsh -q -c qemu:///system)

DIR="$VM_CACHE/$NAME"
SERIAL="$DIR/serial.log"
KPF_DISK="$DIR/kpf.disk"
PROBE="$COMMON_DIR/kvm-probe"
for f in "$COMMON_DIR/rootfs.ext4" "$KERNEL_FILE" "$INITRD_FILE" "$COMMON_DIR/rootfs.json"; do
  [[ -r $f ]] || die "missing $f (make vm-rootfs, or vm-rootfs-i386)"
done
mkdir -p "$DIR"
chmod 0755 "$VM_CACHE" "$DIR"
exec 9>"$DIR/.lock"
flock -n 9 || die "another build of $NAME holds $DIR/.lock"

# A failed or interrupted run leaves no domain and no output that looks complete.
DOMAIN_UP=0
cleanup() {
  local rc=$?
  if (( DOMAIN_UP )) || "${VIRSH[@]}" domstate "$NAME" >/dev/null 2>&1; then
    "${VIRSH[@]}" destroy "$NAME" >/dev/null 2>&1 || true
  fi
  if (( rc != 0 )); then
    [[ -f $DIR/build.log.partial ]] && mv -f "$DIR/build.log.partial" "$DIR/build-failed.log"
    rm -f "$DIR"/*.partial
    log "$NAME: FAILED (exit $rc); serial log: $SERIAL; build log: $DIR/build-failed.log"
    [[ -f $SERIAL ]] && { log "last serial lines:"; tail -n 15 "$SERIAL" >&2; }
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

iso() { date -u +%FT%T.%3NZ; }
declare -A TS DUR
TS_ORDER=() DUR_ORDER=()
mark_ts() { TS[$1]=$(iso); TS_ORDER+=("$1"); }
set_dur() { DUR[$1]=$2; DUR_ORDER+=("$1"); }
BUILD_T0=$(now); mark_ts started

# Outputs from a previous run are invalid from here on: the manifest goes first.
rm -f "$DIR/manifest.json" "$DIR"/*.partial
rm -f "$DIR"/{save1.img,save2.img,dump.elf,kpageflags.bin,pagemap.json,domain.xml,build.log,build-failed.log,serial.log,serial.log.*}
exec > >(tee "$DIR/build.log.partial") 2>&1

if "${VIRSH[@]}" domstate "$NAME" >/dev/null 2>&1; then
  log "a domain named $NAME exists (stale build or a restored test guest): destroying it"
  "${VIRSH[@]}" destroy "$NAME" >/dev/null 2>&1 || true
  "${VIRSH[@]}" undefine "$NAME" >/dev/null 2>&1 || true
fi

KVER=$(python3 -c 'import json,sys; r = json.load(open(sys.argv[1])); print(r["kernels"][sys.argv[2]]["release"] if sys.argv[2] else r["kernelRelease"])' "$COMMON_DIR/rootfs.json" "$KERNEL_FLAVOUR")
ROOT_UUID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rootUuid"])' "$COMMON_DIR/rootfs.json")
QEMU_VERSION=$("$EMULATOR" --version | sed -n '1s/^QEMU emulator version //p')
LIBVIRT_VERSION=$("${VIRSH[@]}" version 2>/dev/null | sed -n 's/^Running against daemon: //p')
[[ -n $LIBVIRT_VERSION ]] || LIBVIRT_VERSION=$(virsh --version)
PROBE_KEY="qemu=$QEMU_VERSION host=$(uname -r)"

# The kpageflags disk: header page + one u64 per PFN (RAM below 4 GiB plus whatever lies above,
# with room for the PCI hole), rounded up to MiB. Sparse; fresh for every build.
KPF_BYTES=$(( ( (MEM + 4096) * 256 * 8 + 4096 + (1 << 20) - 1 ) >> 20 << 20 ))

# No relabelling: libvirt's DAC driver would chown the shared rootfs to the qemu user and, since the
# disk is read-only, never chown it back. Instead every security driver libvirtd has loaded gets
# type='none' (qemu still runs as the unprivileged qemu user), and the files are made readable
# (kpf.disk writable) for that user; no system config is edited.
SECLABELS=$("${VIRSH[@]}" capabilities |
  awk '/<secmodel>/ { s = 1 } /<\/secmodel>/ { s = 0 } s && /<model>/ { gsub(/.*<model>|<\/model>.*/, ""); print }' | sort -u |
  { grep -vx none || true; } | sed "s|.*|  <seclabel type='none' model='&'/>|")
[[ -n $SECLABELS ]] || SECLABELS="  <seclabel type='none'/>"
# qemu (as the qemu user) must reach the files: every directory above them needs o+x.
p=$DIR
while [[ $p != / ]]; do
  [[ $(( 0$(stat -c %a "$p") & 1 )) == 1 ]] || die "$p is not searchable by others (chmod o+x it): qemu runs unprivileged"
  p=$(dirname "$p")
done

CMDLINE="root=UUID=$ROOT_UUID rootfstype=ext4 ro fsck.mode=skip console=ttyS0,115200 init=/sbin/mig-init panic=-1"
CMDLINE+=" mig.name=$NAME mig.heap_pct=$HEAP_PCT mig.cache_pct=$CACHE_PCT mig.compress_pct=$COMPRESS_PCT"
CMDLINE+=" mig.heartbeat=$HEARTBEAT_SECONDS mig.seed=$WORKLOAD_SEED"
(( PAGEMAP > 0 )) && CMDLINE+=" mig.pagemap=$PAGEMAP"

domain_xml() { # <libvirt domain type: kvm|qemu> <cpu: host-passthrough|maximum|named model>
  local cpu
  case $2 in
    host-passthrough|host-model|maximum) cpu="<cpu mode='$2' check='none'/>" ;;
    *) cpu="<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>$2</model></cpu>" ;;
  esac
  cat <<EOF
<domain type='$1'>
  <name>$NAME</name>
  <description>mig test guest (vm-images/build-guest.sh)</description>
  <memory unit='MiB'>$MEM</memory>
  <currentMemory unit='MiB'>$MEM</currentMemory>
  <vcpu placement='static'>$VCPUS</vcpu>
  <os>
    <type arch='$GUEST_ARCH' machine='$MACHINE'>hvm</type>$LOADER
    <kernel>$KERNEL_FILE</kernel>
    <initrd>$INITRD_FILE</initrd>
    <cmdline>$CMDLINE</cmdline>
  </os>
  <features>
    <acpi/>
    <apic/>
    <vmcoreinfo state='on'/>
  </features>
  $cpu
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$EMULATOR</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$COMMON_DIR/rootfs.ext4'/>
      <target dev='vda' bus='virtio'/>
      <readonly/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='$KPF_DISK'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='$SERIAL' append='on'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
$SECLABELS
</domain>
EOF
}

# --- serial log helpers ------------------------------------------------------------------------
serial_has() { [[ -f $SERIAL ]] && grep -aqE "$1" "$SERIAL"; }
last_heartbeat() { # [byte offset]: last "MIG-HEARTBEAT n" at or after the offset, or empty
  [[ -f $SERIAL ]] || return 0
  tail -c +"$(( ${1:-0} + 1 ))" "$SERIAL" | { grep -aoE 'MIG-HEARTBEAT [0-9]+' || true; } | tail -n1 | awk '{print $2}'
}
dom_state() { local s; s=$("${VIRSH[@]}" domstate "$NAME" 2>/dev/null) || return 1; echo "${s%%$'\n'*}"; }
# wait_for <ERE> <timeout s> <what>: poll the serial log every 0.1 s; fail on MIG-ERROR or if the
# domain stops running.
wait_for() {
  local re=$1 timeout=$2 what=$3 t0 i=0
  t0=$(date +%s)
  while :; do
    serial_has "$re" && return 0
    serial_has 'MIG-ERROR' && { log "guest reported: $(grep -a -m1 'MIG-ERROR' "$SERIAL")"; return 1; }
    if (( ++i % 20 == 0 )); then
      [[ $(dom_state) == running ]] || { log "domain $NAME is $(dom_state || echo gone) while waiting for $what"; return 1; }
    fi
    (( $(date +%s) - t0 < timeout )) || { log "timeout (${timeout}s) waiting for $what"; return 1; }
    sleep 0.1
  done
}

# --- boot: KVM first (unless it is known not to work here), then TCG ----------------------------
boot() { # <kvm|qemu> <cpu> <boot timeout>
  local type=$1 cpu=$2 timeout=$3
  rm -f "$SERIAL" "$KPF_DISK"
  truncate -s "$KPF_BYTES" "$KPF_DISK"
  chmod 0666 "$KPF_DISK"   # opened read-write by qemu (runs as the qemu user; no relabelling)
  domain_xml "$type" "$cpu" >"$DIR/domain-input.xml.partial"
  local t0; t0=$(now); mark_ts created
  if ! "${VIRSH[@]}" create "$DIR/domain-input.xml.partial" >/dev/null; then
    log "virsh create ($type, cpu $cpu) failed"; return 1
  fi
  DOMAIN_UP=1
  if ! wait_for '^MIG-BOOT ' "$timeout" "the boot marker ($type, cpu $cpu)"; then
    "${VIRSH[@]}" destroy "$NAME" >/dev/null 2>&1 || true; DOMAIN_UP=0; return 1
  fi
  set_dur boot $(elapsed "$t0"); mark_ts booted
  CPU_USED=$cpu
  log "$NAME booted under $type (cpu $cpu) in ${DUR[boot]} s: $(grep -a -m1 '^MIG-BOOT' "$SERIAL" | tr -d '\r')"
}

ACCEL_USED=
if [[ $ACCEL == kvm || ( $ACCEL == auto && -c /dev/kvm ) ]]; then
  if [[ $ACCEL == auto && -f $PROBE ]] && grep -qxF "fail $PROBE_KEY" "$PROBE"; then
    log "KVM skipped: it failed before on this host ($PROBE_KEY; delete $PROBE to retry)"
  else
    for cpu in $KVM_CPUS; do
      log "trying KVM with cpu $cpu (boot marker within ${KVM_BOOT_TIMEOUT}s)"
      boot kvm "$cpu" "$KVM_BOOT_TIMEOUT" && { ACCEL_USED=kvm; echo "ok $PROBE_KEY" >"$PROBE"; break; }
    done
    if [[ -z $ACCEL_USED ]]; then
      echo "fail $PROBE_KEY" >"$PROBE"
      [[ $ACCEL == kvm ]] && die "KVM requested (ACCEL=kvm) but the guest did not boot"
      log "KVM did not work (see above); falling back to TCG"
    fi
  fi
fi
if [[ -z $ACCEL_USED ]]; then
  [[ $ACCEL == kvm ]] && die "KVM requested but /dev/kvm is missing"
  log "booting under TCG (cpu model $TCG_CPU_MODEL)"
  boot qemu "$TCG_CPU_MODEL" "$BOOT_TIMEOUT" || die "$NAME did not boot under TCG"
  ACCEL_USED=tcg
fi

# --- workload, ground truth, captures --------------------------------------------------------
t=$(now)
wait_for '^MIG-READY' "$READY_TIMEOUT" "the workload (MIG-READY)" || exit 1
set_dur workload $(elapsed "$t"); mark_ts ready
log "workload ready in ${DUR[workload]} s: $(grep -aE '^MIG-(HEAP|PHASE)' "$SERIAL" | tr -d '\r' | tr '\n' ';')"

t=$(now)
wait_for '^MIG-KPF-DONE' 120 "the kpageflags dump (MIG-KPF-DONE)" || exit 1
"${VIRSH[@]}" suspend "$NAME" >/dev/null
set_dur kpageflagsDump $(elapsed "$t"); mark_ts suspended
[[ $(dom_state) == paused ]] || die "domain not paused after virsh suspend"
sleep 1   # let virtlogd write out what the guest printed before the pause
HB1=$(last_heartbeat)
[[ -n $HB1 ]] || die "no heartbeat in the serial log before the suspend"
log "suspended at $(grep -a -m1 '^MIG-KPF-DONE' "$SERIAL" | tr -d '\r'); last heartbeat $HB1"

# Ground truth: the raw u64 array the guest wrote to its second disk (header: see guest/heapd.py);
# header version 2 adds the pagemap sample (JSON) after it → pagemap.json.
python3 - "$KPF_DISK" "$DIR/kpageflags.bin.partial" "$KVER" "$PAGEMAP" "$DIR/pagemap.json.partial" <<'EOF' || die "bad kpageflags disk"
import json, struct, sys
disk, out, kver, pagemap, pm_out = sys.argv[1:]
with open(disk, "rb") as f:
    hdr = f.read(4096)
    magic, ver, off, n, page, _ = struct.unpack_from("<8sIIQQQ", hdr)
    rel = hdr[64:128].rstrip(b"\0").decode()
    if magic != b"MIGKPF01" or ver not in (1, 2) or page != 4096 or n == 0 or n % 8:
        sys.exit(f"kpf header: magic={magic!r} version={ver} bytes={n} page={page}")
    if rel != kver:
        sys.exit(f"kpf dump from kernel {rel}, expected {kver}")
    f.seek(off)
    data = f.read(n)
    if len(data) != n:
        sys.exit(f"kpf data truncated: {len(data)} of {n}")
    if int(pagemap) > 0:
        if ver != 2:
            sys.exit(f"pagemap sample requested but the kpf header is version {ver}")
        pm_off, pm_n = struct.unpack_from("<QQ", hdr, 40)
        if pm_off < off + n or pm_off % 4096 or pm_n == 0:
            sys.exit(f"kpf pagemap blob at {pm_off}+{pm_n} (data ends at {off + n})")
        f.seek(pm_off)
        pm = json.loads(f.read(pm_n))
        if pm.get("version") != 1 or pm.get("kernelRelease") != kver or not pm.get("records"):
            sys.exit(f"pagemap sample: version {pm.get('version')}, kernel {pm.get('kernelRelease')}, {len(pm.get('records', []))} records")
        with open(pm_out, "w") as o:
            o.write('{\n' + ',\n'.join(f'"{k}": {json.dumps(v)}' for k, v in pm.items() if k != "records"))
            o.write(',\n"records": [\n' + ',\n'.join(json.dumps(r) for r in pm["records"]) + '\n]}\n')
open(out, "wb").write(data)
EOF

"${VIRSH[@]}" dumpxml "$NAME" >"$DIR/domain.xml.partial"
MACHINE_TYPE=$(sed -n "s/.*<type arch='$GUEST_ARCH' machine='\([^']*\)'.*/\1/p" "$DIR/domain.xml.partial" | head -n1)

t=$(now)
"${VIRSH[@]}" dump --memory-only --format elf "$NAME" "$DIR/dump.elf.partial" >/dev/null
set_dur dump $(elapsed "$t"); mark_ts dumped
[[ $(dom_state) == paused ]] || die "domain not paused after virsh dump"
log "dump.elf in ${DUR[dump]} s"

t=$(now)
"${VIRSH[@]}" save "$NAME" "$DIR/save1.img.partial" --running >/dev/null
set_dur save1 $(elapsed "$t"); mark_ts saved1
DOMAIN_UP=0
log "save1.img in ${DUR[save1]} s"

# Restore and check that the guest lives on: the heartbeat counter continues above HB1.
sleep 1
size_before=$(stat -c %s "$SERIAL")
t=$(now)
"${VIRSH[@]}" restore "$DIR/save1.img.partial" >/dev/null
DOMAIN_UP=1
set_dur restore $(elapsed "$t"); mark_ts restored
size_after=$(stat -c %s "$SERIAL")
if (( size_after < size_before )); then SERIAL_ON_RESTORE=truncated; off=0; else SERIAL_ON_RESTORE=appended; off=$size_before; fi
t=$(now)
while :; do
  hb=$(last_heartbeat "$off")
  [[ -n $hb ]] && break
  [[ $(dom_state) == running ]] || die "restored domain is $(dom_state || echo gone)"
  awk -v a="$t" -v b="$(now)" 'BEGIN { exit !(b - a > 60) }' && die "no heartbeat within 60 s of the restore"
  sleep 0.2
done
(( hb > HB1 )) || die "heartbeat after restore is $hb, not above $HB1"
set_dur firstHeartbeatAfterRestore $(elapsed "$t")
HB_RESTORE=$hb
log "restored in ${DUR[restore]} s; heartbeat continues at $hb (> $HB1); serial log $SERIAL_ON_RESTORE on restore"

if (( SAVE2 )); then
  t=$(now)
  end=$(( $(date +%s) + ACTIVITY_SECONDS ))
  while (( $(date +%s) < end )); do
    [[ $(dom_state) == running ]] || die "domain stopped during the activity period"
    serial_has 'MIG-ERROR' && die "guest reported: $(grep -a -m1 'MIG-ERROR' "$SERIAL")"
    sleep 2
  done
  set_dur activity $(elapsed "$t")
  t=$(now)
  "${VIRSH[@]}" save "$NAME" "$DIR/save2.img.partial" >/dev/null
  set_dur save2 $(elapsed "$t"); mark_ts saved2
  DOMAIN_UP=0
  sleep 1
  HB2=$(last_heartbeat)
  (( HB2 > HB_RESTORE )) || die "heartbeat did not advance during the activity period ($HB_RESTORE → $HB2)"
  log "save2.img in ${DUR[save2]} s after ${DUR[activity]} s of activity; last heartbeat $HB2"
  SAVES=(save1 save2)
else
  "${VIRSH[@]}" destroy "$NAME" >/dev/null
  DOMAIN_UP=0
  HB2=
  log "SAVE2=0: no activity phase and no save2.img; restored domain destroyed"
  SAVES=(save1)
fi
"${VIRSH[@]}" domstate "$NAME" >/dev/null 2>&1 && die "domain $NAME still exists after the last save"

# --- checks ------------------------------------------------------------------------------------
for s in "${SAVES[@]}"; do
  [[ $(head -c 16 "$DIR/$s.img.partial") == LibvirtQemudSave ]] || die "$s.img does not start with LibvirtQemudSave"
done
[[ $(head -c 4 "$DIR/dump.elf.partial" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] || die "dump.elf is not ELF"
if command -v readelf >/dev/null; then
  readelf -n "$DIR/dump.elf.partial" | grep VMCOREINFO >/dev/null || die "dump.elf has no VMCOREINFO note"
  log "dump.elf: $(readelf -h "$DIR/dump.elf.partial" | sed -n 's/^ *\(Class\|Machine\): *//p' | paste -sd' ')"
  VMCOREINFO_NOTE=true
else
  VMCOREINFO_NOTE=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(1<<20); print("true" if b"VMCOREINFO" in d else "false")' "$DIR/dump.elf.partial")
  [[ $VMCOREINFO_NOTE == true ]] || die "dump.elf has no VMCOREINFO note"
fi

# --- publish: rename, then the manifest --------------------------------------------------------
mark_ts finished
set_dur total $(elapsed "$BUILD_T0")
# The dump's ELF class and machine from e_ident[EI_CLASS] and e_machine (QEMU picks them: ELF32 only
# for a 32-bit guest whose memory ends below 4 GiB).
read -r DUMP_CLASS DUMP_MACHINE < <(python3 -c 'import struct,sys; h=open(sys.argv[1],"rb").read(20); print({1: 32, 2: 64}[h[4]], struct.unpack_from("<H", h, 18)[0])' "$DIR/dump.elf.partial")
[[ -z $DUMP_ELF_CLASS || $DUMP_CLASS == "$DUMP_ELF_CLASS" ]] || die "dump.elf is ELF$DUMP_CLASS, expected ELF$DUMP_ELF_CLASS"
OUT_FILES=(save1.img dump.elf kpageflags.bin domain.xml)
(( SAVE2 )) && OUT_FILES+=(save2.img)
(( PAGEMAP > 0 )) && OUT_FILES+=(pagemap.json)
for f in "${OUT_FILES[@]}"; do mv -f "$DIR/$f.partial" "$DIR/$f"; done
rm -f "$DIR/domain-input.xml.partial"
for f in "${OUT_FILES[@]}"; do chmod 0644 "$DIR/$f"; done
GUEST_CPU=$(grep -a -m1 '^MIG-CPU ' "$SERIAL" | tr -d '\r' | cut -d' ' -f2- || true)

export NAME MEM VCPUS ACCEL_USED MACHINE_TYPE KVER QEMU_VERSION LIBVIRT_VERSION DIR SERIAL HB1 HB2 HB_RESTORE \
  SERIAL_ON_RESTORE ACTIVITY_SECONDS HEAP_PCT CACHE_PCT COMPRESS_PCT HEARTBEAT_SECONDS WORKLOAD_SEED \
  CPU_USED VMCOREINFO_NOTE CMDLINE KPF_DISK SAVE2 PAGEMAP GUEST_ARCH KERNEL_FLAVOUR FIRMWARE DUMP_CLASS DUMP_MACHINE \
  KERNEL_FILE INITRD_FILE COMMON_DIR GUEST_CPU
TS_JSON=$(for k in "${TS_ORDER[@]}"; do printf '%s=%s\n' "$k" "${TS[$k]}"; done)
DUR_JSON=$(for k in "${DUR_ORDER[@]}"; do printf '%s=%s\n' "$k" "${DUR[$k]}"; done)
export TS_JSON DUR_JSON
python3 - <<'EOF'
import json, os, re
e = os.environ
d = e["DIR"]
serial = open(e["SERIAL"], "rb").read().decode(errors="replace")
def kv(s): return dict(l.split("=", 1) for l in s.splitlines() if l)
files = {"save1": "save1.img", "dump": "dump.elf", "save2": "save2.img", "kpageflags": "kpageflags.bin",
         "domainXml": "domain.xml", "buildLog": "build.log", "kpfDisk": "kpf.disk"}
save2 = e["SAVE2"] != "0"
if not save2:
    del files["save2"]
pagemap = None
if int(e["PAGEMAP"]) > 0:
    files["pagemap"] = "pagemap.json"
    pm = json.load(open(os.path.join(d, "pagemap.json")))
    pagemap = {"perProcess": pm["perProcess"], "records": len(pm["records"]), "unixTime": pm["unixTime"],
               "processes": pm["processes"]}
flavour = e["KERNEL_FLAVOUR"] or "amd64"
paging = {"amd64": "x86-64 4-level", "686": "x86 non-PAE", "686-pae": "x86 PAE"}[flavour]
guest_cpu = {k: (int(v) if v.isdigit() else v) for k, v in (w.split("=", 1) for w in e["GUEST_CPU"].split() if "=" in w)}
kpf_bytes = os.path.getsize(os.path.join(d, "kpageflags.bin"))
phases = {m[0]: float(m[1]) for m in re.findall(r"^MIG-PHASE (\S+) ([0-9.]+)", serial, re.M)}
heap = re.search(r"^MIG-HEAP (.*)$", serial, re.M)
common = e["COMMON_DIR"]
rootfs = json.load(open(os.path.join(common, "rootfs.json")))
m = {
    "name": e["NAME"], "memMiB": int(e["MEM"]), "vcpus": int(e["VCPUS"]),
    "accel": e["ACCEL_USED"], "domainType": "kvm" if e["ACCEL_USED"] == "kvm" else "qemu",
    "cpuModel": e["CPU_USED"],
    "machine": e["MACHINE_TYPE"], "kernelRelease": e["KVER"],
    "arch": e["GUEST_ARCH"], "kernelFlavour": flavour, "expectedPaging": paging,
    "firmware": {"default": "seabios-rom", "seabios-pflash": "seabios-pflash"}[e["FIRMWARE"]],
    "dumpElfClass": int(e["DUMP_CLASS"]), "dumpElfMachine": {3: "EM_386", 62: "EM_X86_64"}.get(int(e["DUMP_MACHINE"]), e["DUMP_MACHINE"]),
    "guestCpu": guest_cpu, "save2Captured": save2,
    "qemuVersion": e["QEMU_VERSION"], "libvirtVersion": e["LIBVIRT_VERSION"],
    "dir": d, "files": files,
    "serialLog": e["SERIAL"],
    # Where a restored save1/save2 (domain XML as saved) writes its serial output, and whether
    # libvirt appends to that file or truncates it on restore (measured during this build).
    "serialLogOnRestore": e["SERIAL"], "serialLogRestoreMode": e["SERIAL_ON_RESTORE"],
    "sizes": {f: os.path.getsize(os.path.join(d, f)) for f in files.values() if f != "build.log"},
    "common": {"rootfs": f"{common}/rootfs.ext4", "kernel": e["KERNEL_FILE"], "initrd": e["INITRD_FILE"]},
    "kernelCmdline": e["CMDLINE"],
    "heartbeat": {"beforeSave1": int(e["HB1"]), "firstAfterRestore": int(e["HB_RESTORE"]),
                  "beforeSave2": int(e["HB2"]) if save2 else None, "intervalSeconds": float(e["HEARTBEAT_SECONDS"]),
                  "pattern": "MIG-HEARTBEAT ([0-9]+)"},
    "kpageflags": {"pfns": kpf_bytes // 8, "maxPfn": kpf_bytes // 8 - 1, "bytes": kpf_bytes},
    "dumpHasVmcoreinfo": e["VMCOREINFO_NOTE"] == "true",
    **({"pagemap": pagemap} if pagemap else {}),
    "workload": {"heapPct": float(e["HEAP_PCT"]), "cachePct": float(e["CACHE_PCT"]),
                 "compressPct": float(e["COMPRESS_PCT"]), "seed": int(e["WORKLOAD_SEED"]),
                 "activitySeconds": int(e["ACTIVITY_SECONDS"]) if save2 else 0,
                 "heap": heap.group(1).strip() if heap else None, "guestPhaseSeconds": phases},
    "rootfsBuild": {k: rootfs[k] for k in ("debianMirror", "debianSuite", "debootstrapSeconds", "kernelInstallSeconds", "assembleSeconds", "built") if k in rootfs},
    "timestamps": kv(e["TS_JSON"]),
    "durationsSeconds": {k: float(v) for k, v in kv(e["DUR_JSON"]).items()},
}
tmp = os.path.join(d, "manifest.json.partial")
with open(tmp, "w") as f:
    json.dump(m, f, indent=2, sort_keys=False)
    f.write("\n")
EOF
mv -f "$DIR/build.log.partial" "$DIR/build.log"
chmod 0644 "$DIR/manifest.json.partial"
mv -f "$DIR/manifest.json.partial" "$DIR/manifest.json"
log "made $DIR: $(for f in "${OUT_FILES[@]}"; do printf '%s (%d MiB) ' "$f" $(( $(stat -c %s "$DIR/$f") >> 20 )); done)manifest.json — $ACCEL_USED, ELF$DUMP_CLASS dump, ${DUR[total]} s"
