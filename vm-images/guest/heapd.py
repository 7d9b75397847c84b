#!/usr/bin/python3
"""The long-lived "application" of the mig test guests (started by /sbin/mig-init).

1. Builds a large mixed heap (--heap-pct of MemTotal, measured as RSS): text strings, dicts of
   records, lists of numbers, random bytes, and copies of file contents (half as Python bytes,
   half as page-aligned anonymous mappings, i.e. anonymous pages identical to file pages).
2. Touches /run/mig-heap-ready, then prints "MIG-HEARTBEAT <n>" every --heartbeat seconds,
   forever. n lives only in this process's memory: after a save/restore it continues.
3. On SIGUSR1 (once per boot): copies /proc/kpageflags raw to --kpf-dev with O_DIRECT from a
   buffer allocated and touched at start (no page-cache churn, no allocation during the dump),
   prints "MIG-KPF-DONE bytes=<n> pfns=<n>", touches /run/mig-kpf-done, then stays quiet
   (heartbeats only) for --quiet seconds. Before the sample it stops every other process but PID 1
   (kill(-1, SIGSTOP); mig-init waits without forking meanwhile) and continues them when the
   quiet time ends, so that nothing is allocated or freed between the capture and the suspend. With --pagemap N (> 0), just before that it samples
   /proc/PID/pagemap of a few long-lived processes (itself, PID 1, `sleep infinity`, `vmstat`):
   up to N present pages each, spread over its mappings, as JSON records {pid, comm, va, pfn,
   mapping, perms, file, exclusive}, written after the kpageflags data.
4. Light activity at each heartbeat: rewrites some records/strings/random bytes; now and then
   allocates and drops a temporary list, or replaces a file copy.

Disk layout written to --kpf-dev (little-endian):
  offset 0:   magic "MIGKPF01", u32 version (1, or 2 with the pagemap sample), u32 data_offset=4096,
              u64 data_bytes, u64 page_size, u64 unix_time; version 2 only: u64 pagemap_offset,
              u64 pagemap_bytes (at offset 40); at offset 64 the kernel release (NUL padded, 64 B)
  offset 4096: data_bytes of /proc/kpageflags (one u64 per PFN, PFN 0 first)
  pagemap_offset (page-aligned, after the data): pagemap_bytes of UTF-8 JSON (version 2)
The data is written first, the header last, so a partial write has no valid header. Without
--pagemap the header is version 1, byte for byte as before.
"""
import argparse
import json
import mmap
import os
import random
import re
import signal
import struct
import sys
import time

PAGE = 4096
MAGIC = b"MIGKPF01"

ap = argparse.ArgumentParser()
ap.add_argument("--heap-pct", type=float, default=30)
ap.add_argument("--heartbeat", type=float, default=2)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--quiet", type=float, default=10)
ap.add_argument("--kpf-dev", default="/dev/vdb")
ap.add_argument("--tty", default="/dev/ttyS0")
ap.add_argument("--pagemap", type=int, default=0, help="pagemap sample: present pages per process (0: none)")
args = ap.parse_args()

tty = os.open(args.tty, os.O_WRONLY | os.O_NOCTTY)


def say(line):
    os.write(tty, (line + "\n").encode())


dump_requested = False


def freeze(sig):
    """SIGSTOP / SIGCONT every process but PID 1 and this one (kill(-1, sig))."""
    try:
        os.kill(-1, sig)
    except ProcessLookupError:
        pass


def on_usr1(signum, frame):
    global dump_requested
    dump_requested = True


signal.signal(signal.SIGUSR1, on_usr1)


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def max_ram_end():
    """End address of the highest "System RAM" range in /proc/iomem (we are root)."""
    end = 0
    with open("/proc/iomem") as f:
        for line in f:
            if line.startswith(" "):
                continue
            rng, _, name = line.strip().partition(" : ")
            if name == "System RAM":
                end = max(end, int(rng.split("-")[1], 16) + 1)
    return end


# The kpageflags buffer: header page + one u64 per PFN up to the highest RAM address, plus slack.
kpf_cap = PAGE + ((max_ram_end() // PAGE) * 8 + (1 << 20) + PAGE - 1) // PAGE * PAGE
kpf_buf = mmap.mmap(-1, kpf_cap)
for off in range(0, kpf_cap, PAGE):  # touch now: the dump must not allocate memory
    kpf_buf[off] = 1
    kpf_buf[off] = 0
# The pagemap sample's output buffer (page-aligned for O_DIRECT), touched now too.
pm_cap = (args.pagemap * 4 * 256 + (64 << 10) + PAGE - 1) // PAGE * PAGE if args.pagemap > 0 else 0
pm_buf = mmap.mmap(-1, pm_cap) if pm_cap else None
for off in range(0, pm_cap, PAGE):
    pm_buf[off] = 1
    pm_buf[off] = 0

rng = random.Random(args.seed)

# ---- 1. heap ---------------------------------------------------------------------------------
t0 = time.monotonic()
target = int(meminfo("MemTotal") * args.heap_pct / 100)

vocab = set()
pydir = next(d for d in sorted(os.listdir("/usr/lib")) if re.fullmatch(r"python3\.\d+", d))
for name in sorted(os.listdir("/usr/lib/" + pydir))[:150]:
    if name.endswith(".py"):
        with open(f"/usr/lib/{pydir}/{name}", errors="replace") as f:
            vocab.update(re.findall(r"[A-Za-z_]{3,16}", f.read()))
vocab = sorted(vocab)

file_pool = []
# The multiarch library directory: x86_64-linux-gnu (amd64 guests) or i386-linux-gnu (i386 guests).
libdir = "/usr/lib/" + next((d for d in sorted(os.listdir("/usr/lib")) if re.fullmatch(r"[a-z0-9_]+-linux-gnu", d)), "x86_64-linux-gnu")
for d in ("/usr/bin", libdir, "/usr/share/zoneinfo/Europe", "/etc"):
    for root, _, names in os.walk(d):
        for n in sorted(names):
            p = os.path.join(root, n)
            if os.path.isfile(p) and not os.path.islink(p) and 4096 <= os.path.getsize(p) <= 4 << 20:
                file_pool.append(p)
file_pool.sort()

texts, records, numbers, blobs, fcopies, fmaps = [], {}, [], [], [], []


def text():
    return " ".join(rng.choices(vocab, k=rng.randint(6, 120)))


def record(i):
    return {
        "id": i,
        "name": rng.choice(vocab) + " " + rng.choice(vocab),
        "email": f"{rng.choice(vocab).lower()}{i}@example.org",
        "score": rng.random() * 100,
        "visits": rng.randint(0, 10**6),
        "tags": rng.sample(vocab, rng.randint(1, 6)),
        "note": text() if rng.random() < 0.3 else None,
    }


def copy_file(path, aligned):
    with open(path, "rb") as f:
        data = f.read()
    if not aligned:
        return data
    m = mmap.mmap(-1, (len(data) + PAGE - 1) // PAGE * PAGE)
    m.write(data)
    return m


nrec = 0
fi = 0
step = 0
while rss() < target or step < 20:  # at least one round of every kind
    step += 1
    k = step % 20
    if k < 8:  # 40 %: text
        texts.extend(text() for _ in range(400))
    elif k < 13:  # 25 %: records
        for _ in range(600):
            records[nrec] = record(nrec)
            nrec += 1
    elif k < 16:  # 15 %: numbers
        numbers.append([rng.random() for _ in range(4000)] if k % 2 else
                       [rng.randint(-10**9, 10**9) for _ in range(4000)])
    elif k < 18:  # 10 %: random bytes
        blobs.append(bytearray(rng.randbytes(128 * 1024)))
    elif file_pool:  # 10 %: file contents
        (fmaps if fi % 2 else fcopies).append(copy_file(file_pool[fi % len(file_pool)], fi % 2 == 1))
        fi += 1

with open("/run/mig-heap-ready", "w") as f:
    f.write(str(rss()))
say(f"MIG-HEAP rssKiB={rss() // 1024} targetKiB={target // 1024} texts={len(texts)} "
    f"records={len(records)} numberLists={len(numbers)} blobs={len(blobs)} "
    f"fileCopies={len(fcopies) + len(fmaps)} seconds={time.monotonic() - t0:.1f}")


# ---- 3. kpageflags dump ----------------------------------------------------------------------
PM_PRESENT, PM_FILE, PM_EXCLUSIVE, PM_PFN = 1 << 63, 1 << 61, 1 << 56, (1 << 55) - 1


def pagemap_targets():
    """(pid, comm) of the sampled processes: this one, PID 1, `sleep infinity`, `vmstat`."""
    out = [(os.getpid(), "heapd"), (1, "init")]
    for d in sorted((d for d in os.listdir("/proc") if d.isdigit()), key=int):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        name = os.path.basename(argv[0]).decode(errors="replace")
        if (name == "sleep" and argv[1:2] == [b"infinity"]) or name == "vmstat":
            out.append((int(d), name))
    return out


def pagemap_sample(pid, per_process):
    """Up to per_process present pages of pid: first the first present page of each mapping, then
    pages spread evenly over all present ones. Records carry the VA, the PFN (bits 0-54 of a
    present entry; real PFNs, as we are root) and the mapping's name and permissions."""
    with open(f"/proc/{pid}/comm") as f:
        comm = f.read().strip()
    present, firsts = [], []
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    try:
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read().splitlines()
        for line in maps:
            parts = line.split(None, 5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            perms = parts[1]
            name = parts[5].strip() if len(parts) > 5 else ""
            if hi - lo > 1 << 30:  # nothing this large is mapped by these processes; skip reserved ranges
                continue
            try:
                raw = os.pread(fd, (hi - lo) // PAGE * 8, lo // PAGE * 8)
            except OSError:
                continue
            first = True
            for i, (e,) in enumerate(struct.iter_unpack("<Q", raw)):
                if e & PM_PRESENT:
                    rec = {"pid": pid, "comm": comm, "va": lo + i * PAGE, "pfn": e & PM_PFN, "mapping": name,
                           "perms": perms, "file": bool(e & PM_FILE), "exclusive": bool(e & PM_EXCLUSIVE)}
                    (firsts if first else present).append(rec)
                    first = False
    finally:
        os.close(fd)
    picked = firsts[:per_process]
    rest = per_process - len(picked)
    if rest > 0 and present:
        step = max(1, len(present) / rest)
        picked += [present[int(k * step)] for k in range(min(rest, len(present)))]
    picked.sort(key=lambda r: r["va"])
    return picked, {"pid": pid, "comm": comm, "mappings": len(maps), "presentPages": len(firsts) + len(present),
                    "sampled": len(picked)}


def pagemap_blob():
    t = time.time()
    records, procs = [], []
    for pid, _ in pagemap_targets():
        try:
            recs, info = pagemap_sample(pid, args.pagemap)
        except OSError as e:
            procs.append({"pid": pid, "error": str(e)})
            continue
        records += recs
        procs.append(info)
    blob = json.dumps({"version": 1, "pageSize": PAGE, "kernelRelease": os.uname().release,
                       "machine": os.uname().machine, "unixTime": t, "perProcess": args.pagemap,
                       "processes": procs, "records": records}, separators=(",", ":")).encode()
    if len(blob) > pm_cap:
        raise RuntimeError(f"pagemap sample of {len(blob)} bytes exceeds its {pm_cap}-byte buffer")
    pm_buf[:len(blob)] = blob
    return len(blob)


def kpf_dump():
    # The pagemap sample first, then kpageflags: both describe the state at the suspend, and
    # kpageflags (read last) also sees the few pages the sampling itself touched.
    pm_bytes = pagemap_blob() if pm_buf is not None else 0
    view = memoryview(kpf_buf)
    fd = os.open("/proc/kpageflags", os.O_RDONLY)
    off = PAGE
    try:
        while off < kpf_cap:
            n = os.readv(fd, [view[off:]])
            if n == 0:
                break
            off += n
        else:
            raise RuntimeError(f"kpageflags larger than the {kpf_cap}-byte buffer")
    finally:
        os.close(fd)
    nbytes = off - PAGE
    total = (off + PAGE - 1) // PAGE * PAGE
    pm_len = (pm_bytes + PAGE - 1) // PAGE * PAGE
    dev = os.open(args.kpf_dev, os.O_WRONLY | os.O_DIRECT | os.O_SYNC)
    try:
        size = os.lseek(dev, 0, os.SEEK_END)
        if size < total + pm_len:
            raise RuntimeError(f"{args.kpf_dev} has {size} bytes, need {total + pm_len}")
        pos = PAGE
        while pos < total:
            pos += os.pwrite(dev, view[pos:total], pos)
        if pm_len:
            pm_view = memoryview(pm_buf)
            pos = 0
            while pos < pm_len:
                pos += os.pwrite(dev, pm_view[pos:pm_len], total + pos)
        os.fsync(dev)
        struct.pack_into("<8sIIQQQ", kpf_buf, 0, MAGIC, 2 if pm_len else 1, PAGE, nbytes, PAGE, int(time.time()))
        if pm_len:
            struct.pack_into("<QQ", kpf_buf, 40, total, pm_bytes)
        struct.pack_into("64s", kpf_buf, 64, os.uname().release.encode()[:63])
        os.pwrite(dev, view[:PAGE], 0)
        os.fsync(dev)
    finally:
        os.close(dev)
    return nbytes


# ---- 2./4. heartbeat and light activity, forever -----------------------------------------------
def touch(n):
    if not records or not texts:
        return
    for _ in range(max(1, len(records) // 500)):
        r = records[rng.randrange(len(records))]
        r["score"] = rng.random() * 100
        r["visits"] += 1
        if rng.random() < 0.3:
            r["note"] = text()
    for _ in range(max(1, len(texts) // 1000)):
        texts[rng.randrange(len(texts))] = text()
    if blobs:
        b = blobs[rng.randrange(len(blobs))]
        o = rng.randrange(0, len(b) - 16384)
        b[o:o + 16384] = rng.randbytes(16384)
    if numbers and n % 3 == 0:
        lst = numbers[rng.randrange(len(numbers))]
        for _ in range(200):
            lst[rng.randrange(len(lst))] = rng.random()
    if n % 15 == 0:  # a short-lived allocation (~1 % of the heap), dropped at once
        tmp = [text() for _ in range(max(10, len(texts) // 100))]
        del tmp
    if n % 60 == 0 and fcopies and file_pool:
        fcopies[rng.randrange(len(fcopies))] = copy_file(rng.choice(file_pool), False)


n = 0
dumped = False
frozen = False
quiet_until = 0.0
next_beat = time.monotonic()
while True:
    now = time.monotonic()
    if dump_requested and not dumped:
        dumped = True
        # Ground truth of the paused state: no other process runs from the sample to the suspend
        # (the host suspends at MIG-KPF-DONE, well inside the quiet time); continued below.
        freeze(signal.SIGSTOP)
        frozen = True
        try:
            nbytes = kpf_dump()
            say(f"MIG-KPF-DONE bytes={nbytes} pfns={nbytes // 8}")
        except Exception as e:  # the host fails the build on this marker
            say(f"MIG-ERROR kpageflags dump failed: {e}")
        open("/run/mig-kpf-done", "w").close()
        quiet_until = time.monotonic() + args.quiet
    if now >= next_beat:
        n += 1
        say(f"MIG-HEARTBEAT {n}")
        next_beat += args.heartbeat
        if next_beat < now:  # the clock jumped (e.g. after a restore): no burst of beats
            next_beat = now + args.heartbeat
        if now >= quiet_until:
            if frozen:
                freeze(signal.SIGCONT)
                frozen = False
            touch(n)
    time.sleep(max(0.01, min(0.2, next_beat - time.monotonic())))
