#!/bin/bash
# build-guest.sh <name> <memMiB>: boot one test guest on the real libvirtd and capture it.
#
#   create (transient) → MIG-BOOT → MIG-READY → MIG-KPF-DONE → virsh suspend
#   → (b) virsh dump --memory-only --format elf  dump.elf
#   → (a) virsh save --running                   save1.img     (same paused state as dump.elf)
#   → virsh restore save1.img → heartbeats continue → run ACTIVITY_SECONDS
#   → (c) virsh save                             save2.img     (the repeated-migration pair)
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
# KVM_CPUS ("host-passthrough qemu64": CPU models tried under KVM, in order).
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
VIRSH=(virsh -q -c qemu:///system)

DIR="$VM_CACHE/$NAME"
SERIAL="$DIR/serial.log"
KPF_DISK="$DIR/kpf.disk"
PROBE="$COMMON_DIR/kvm-probe"
for f in rootfs.ext4 vmlinuz initrd.img rootfs.json; do
  [[ -r $COMMON_DIR/$f ]] || die "missing $COMMON_DIR/$f (make vm-rootfs)"
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
rm -f "$DIR"/{save1.img,save2.img,dump.elf,kpageflags.bin,domain.xml,build.log,build-failed.log,serial.log,serial.log.*}
exec > >(tee "$DIR/build.log.partial") 2>&1

if "${VIRSH[@]}" domstate "$NAME" >/dev/null 2>&1; then
  log "a domain named $NAME exists (stale build or a restored test guest): destroying it"
  "${VIRSH[@]}" destroy "$NAME" >/dev/null 2>&1 || true
  "${VIRSH[@]}" undefine "$NAME" >/dev/null 2>&1 || true
fi

KVER=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernelRelease"])' "$COMMON_DIR/rootfs.json")
ROOT_UUID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rootUuid"])' "$COMMON_DIR/rootfs.json")
QEMU_VERSION=$(qemu-system-x86_64 --version | sed -n '1s/^QEMU emulator version //p')
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
    <type arch='x86_64' machine='$MACHINE'>hvm</type>
    <kernel>$COMMON_DIR/vmlinuz</kernel>
    <initrd>$COMMON_DIR/initrd.img</initrd>
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
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
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

# Ground truth: the raw u64 array the guest wrote to its second disk (header: see guest/heapd.py).
python3 - "$KPF_DISK" "$DIR/kpageflags.bin.partial" "$KVER" <<'EOF' || die "bad kpageflags disk"
import struct, sys
disk, out, kver = sys.argv[1:]
with open(disk, "rb") as f:
    hdr = f.read(4096)
    magic, ver, off, n, page, _ = struct.unpack_from("<8sIIQQQ", hdr)
    rel = hdr[64:128].rstrip(b"\0").decode()
    if magic != b"MIGKPF01" or ver != 1 or page != 4096 or n == 0 or n % 8:
        sys.exit(f"kpf header: magic={magic!r} version={ver} bytes={n} page={page}")
    if rel != kver:
        sys.exit(f"kpf dump from kernel {rel}, expected {kver}")
    f.seek(off)
    data = f.read(n)
    if len(data) != n:
        sys.exit(f"kpf data truncated: {len(data)} of {n}")
open(out, "wb").write(data)
EOF

"${VIRSH[@]}" dumpxml "$NAME" >"$DIR/domain.xml.partial"
MACHINE_TYPE=$(sed -n "s/.*<type arch='x86_64' machine='\([^']*\)'.*/\1/p" "$DIR/domain.xml.partial" | head -n1)

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
"${VIRSH[@]}" domstate "$NAME" >/dev/null 2>&1 && die "domain $NAME still exists after the last save"

# --- checks ------------------------------------------------------------------------------------
for s in save1 save2; do
  [[ $(head -c 16 "$DIR/$s.img.partial") == LibvirtQemudSave ]] || die "$s.img does not start with LibvirtQemudSave"
done
[[ $(head -c 4 "$DIR/dump.elf.partial" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] || die "dump.elf is not ELF"
if command -v readelf >/dev/null; then
  readelf -n "$DIR/dump.elf.partial" | grep VMCOREINFO >/dev/null || die "dump.elf has no VMCOREINFO note"
  VMCOREINFO_NOTE=true
else
  VMCOREINFO_NOTE=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(1<<20); print("true" if b"VMCOREINFO" in d else "false")' "$DIR/dump.elf.partial")
  [[ $VMCOREINFO_NOTE == true ]] || die "dump.elf has no VMCOREINFO note"
fi

# --- publish: rename, then the manifest --------------------------------------------------------
mark_ts finished
set_dur total $(elapsed "$BUILD_T0")
for f in save1.img dump.elf save2.img kpageflags.bin domain.xml; do mv -f "$DIR/$f.partial" "$DIR/$f"; done
rm -f "$DIR/domain-input.xml.partial"
chmod 0644 "$DIR"/{save1.img,dump.elf,save2.img,kpageflags.bin,domain.xml}

export NAME MEM VCPUS ACCEL_USED MACHINE_TYPE KVER QEMU_VERSION LIBVIRT_VERSION DIR SERIAL HB1 HB2 HB_RESTORE \
  SERIAL_ON_RESTORE ACTIVITY_SECONDS HEAP_PCT CACHE_PCT COMPRESS_PCT HEARTBEAT_SECONDS WORKLOAD_SEED \
  CPU_USED VMCOREINFO_NOTE CMDLINE KPF_DISK
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
kpf_bytes = os.path.getsize(os.path.join(d, "kpageflags.bin"))
phases = {m[0]: float(m[1]) for m in re.findall(r"^MIG-PHASE (\S+) ([0-9.]+)", serial, re.M)}
heap = re.search(r"^MIG-HEAP (.*)$", serial, re.M)
common = os.path.join(os.path.dirname(d), "common")
rootfs = json.load(open(os.path.join(common, "rootfs.json")))
m = {
    "name": e["NAME"], "memMiB": int(e["MEM"]), "vcpus": int(e["VCPUS"]),
    "accel": e["ACCEL_USED"], "domainType": "kvm" if e["ACCEL_USED"] == "kvm" else "qemu",
    "cpuModel": e["CPU_USED"],
    "machine": e["MACHINE_TYPE"], "kernelRelease": e["KVER"],
    "qemuVersion": e["QEMU_VERSION"], "libvirtVersion": e["LIBVIRT_VERSION"],
    "dir": d, "files": files,
    "serialLog": e["SERIAL"],
    # Where a restored save1/save2 (domain XML as saved) writes its serial output, and whether
    # libvirt appends to that file or truncates it on restore (measured during this build).
    "serialLogOnRestore": e["SERIAL"], "serialLogRestoreMode": e["SERIAL_ON_RESTORE"],
    "sizes": {f: os.path.getsize(os.path.join(d, f)) for f in files.values() if f != "build.log"},
    "common": {"rootfs": f"{common}/rootfs.ext4", "kernel": f"{common}/vmlinuz", "initrd": f"{common}/initrd.img"},
    "kernelCmdline": e["CMDLINE"],
    "heartbeat": {"beforeSave1": int(e["HB1"]), "firstAfterRestore": int(e["HB_RESTORE"]),
                  "beforeSave2": int(e["HB2"]), "intervalSeconds": float(e["HEARTBEAT_SECONDS"]),
                  "pattern": "MIG-HEARTBEAT ([0-9]+)"},
    "kpageflags": {"pfns": kpf_bytes // 8, "maxPfn": kpf_bytes // 8 - 1, "bytes": kpf_bytes},
    "dumpHasVmcoreinfo": e["VMCOREINFO_NOTE"] == "true",
    "workload": {"heapPct": float(e["HEAP_PCT"]), "cachePct": float(e["CACHE_PCT"]),
                 "compressPct": float(e["COMPRESS_PCT"]), "seed": int(e["WORKLOAD_SEED"]),
                 "activitySeconds": int(e["ACTIVITY_SECONDS"]),
                 "heap": heap.group(1).strip() if heap else None, "guestPhaseSeconds": phases},
    "rootfsBuild": {k: rootfs[k] for k in ("debianMirror", "debianSuite", "debootstrapSeconds", "assembleSeconds", "built")},
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
log "made $DIR: save1.img ($(( $(stat -c %s "$DIR/save1.img") >> 20 )) MiB) dump.elf ($(( $(stat -c %s "$DIR/dump.elf") >> 20 )) MiB) save2.img ($(( $(stat -c %s "$DIR/save2.img") >> 20 )) MiB) kpageflags.bin domain.xml manifest.json — $ACCEL_USED, ${DUR[total]} s"
