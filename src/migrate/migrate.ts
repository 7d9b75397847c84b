/**
 * `mig migrate <domain> <[user@]host[:port]>`: the source end. Preflight on the destination (disks,
 * mig, contexts, baselines), then save the domain, encode it in a child process straight into an ssh
 * exec channel running `mig receive` (encode, transfer and decode overlap), and commit only once the
 * destination has decoded and verified the image. Until the destination confirms a running domain,
 * any failure restores the source domain from the save image: never left stopped, never running twice.
 */
import type { ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Client, ClientChannel } from 'ssh2';
import { HEADER_SIZE } from '../codec/container.js';
import type { EncodeSummary } from '../codec/encode.js';
import { readContextHeader } from '../context/open.js';
import { saveImageXml } from '../image/libvirt-save.js';
import { Libvirt, diskPaths } from '../libvirt/domain.js';
import { autoContextFor, type AutoContext } from '../state/auto-context.js';
import { BaselineStore } from '../state/baselines.js';
import { acquireLock, checkDomainName, stateSubdir } from '../state/dir.js';
import { connectSsh, exec, parseDestination, TransportError } from '../transport/ssh.js';
import { RateLimiter } from '../transport/throttle.js';
import { faultPoint } from '../util/fault.js';
import type { EncodeChildArgs } from './encode-child.js';
import { startEncoder } from './encoder.js';
import { LevelController, START_LEVEL, TICK_MS } from './adapt.js';
import { MigrateError } from './errors.js';
import { readPending, writePending as writePendingFile, type PendingMigration } from './pending.js';
import { encodeMessage, type PreflightReply, type ReceiveRequest } from './protocol.js';
import { askDestinationState, preflightOnChannel, receiveCommand, runPreflight } from './remote.js';
import { ReceiverEvents } from './receiver-events.js';
import { sendSpool, Spool } from './spool.js';
import { zeroPages } from './zero-pages.js';

export interface MigrateOptions {
  domain: string;
  destination: string;
  connect: string;
  destConnect?: string;
  /** A context file; false: none; absent: <state>/contexts/<domain>.ctx if the destination holds it too. */
  context?: string | false;
  /** Megabits per second on the channel. */
  bandwidth?: number;
  /**
   * Let the destination restore the domain (paused) while it decodes, and resume it at the commit
   * (default true; never with `resume`: a resumable transfer restores from the decoded file).
   */
  streamRestore?: boolean;
  /** Entropy level of the encoder (zstd 1..19), or 'auto' (default): the level follows the link (adapt.ts). */
  level?: number | 'auto';
  identity?: string;
  knownHosts?: string;
  remoteMig: string;
  keepSource?: boolean;
  /** Reconnect after a lost link and go on from the last frame the destination acknowledged. */
  resume?: boolean;
  /** 'drop' (default): free pages (by introspection of the saved image) are not sent; 'keep': every page is. */
  freePages?: 'drop' | 'keep';
  /** How long to keep trying to reconnect (s, default 120); the source domain stays saved meanwhile. */
  resumeWindowSeconds?: number;
  stateDir: string;
  threads?: number;
  onProgress?: (p: MigrateProgress) => void;
  /** How long to wait for the destination's confirmation after the commit (ms). */
  confirmTimeoutMs?: number;
}

export interface MigrateProgress {
  stage: 'preflight' | 'save' | 'transfer' | 'resume' | 'restore' | 'done';
  bytesSent: number;
  /** Encoder input read / image bytes, 0..1. */
  encoded: number;
  /** Size of the .mig: exact once the encoder is done, else estimated from what it wrote so far (0: unknown yet). */
  streamBytes: number;
  /** Whether streamBytes is exact. */
  streamKnown: boolean;
  seconds: number;
}

export interface MigrateResult {
  domain: string;
  destination: string;
  destinationHost: string;
  bytesSent: number;
  imageBytes: number;
  ratio: number;
  baseline: { digest: string; kind: 'domain' | 'blank' } | null;
  /**
   * The context used, and where it came from: --context (option), <state>/contexts/<domain>.ctx held by
   * both ends (stored), built from the domain's disks by both ends with equal digests (disks: with its
   * disk, size, the seconds this end and the destination spent building or reusing it), or the one an
   * interrupted run used (resumed); null without one.
   */
  context: {
    source: 'option' | 'stored' | 'disks' | 'resumed'; digest: string; path: string;
    disk?: string; files?: number; bytes?: number; seconds?: number; reused?: boolean; destinationSeconds?: number;
  } | null;
  stages: { preflight: number; save: number; transfer: number; restore: number; store: number; total: number };
  /**
   * When each stage ran, in seconds since mig migrate started ({start, end}); today they follow one
   * another (encode, transfer and decode overlap inside `transfer`).
   */
  timeline: Record<'preflight' | 'save' | 'transfer' | 'restore' | 'store', { start: number; end: number }>;
  /**
   * Seconds the domain did not run: from the start of the save (libvirt pauses it first) until the
   * destination reported it running (its `running` event; null when it never did, e.g. a recovered run).
   */
  downtime: number | null;
  /** From the encoder's summary: pages and bytes per technique. */
  techniques: EncodeSummary['techniques'];
  /** How the destination restored: from the stream while decoding (paused, resumed at the commit), or from the decoded file after the commit. */
  restore: 'while-decoding' | 'after-decode';
  /** The level asked for ('auto' or a number) and the frames coded at each level. */
  level: { mode: 'auto' | number; frames: Record<number, number> };
  /** Where the page map came from (introspection of the saved image), or why there was none; null with --free-pages keep. */
  pageMap: { source: string; os?: string; osRelease?: string; error?: string } | null;
  /** Non-zero free pages not sent (zeros on the destination, and in the image both ends keep as baseline). */
  freePagesDropped: number;
  sourceBaseline: string;
  destinationBaseline: string | null;
  undefinedOnSource: boolean;
  /** Each time the link was lost and the transfer went on (--resume): the .mig offset and frame it went on from. */
  resumes: { offset: number; frame: number | null; afterSeconds: number; bytesSentBefore: number }[];
  /** Size of the .mig stream (bytesSent is larger by what a resume sent twice, or smaller when it did not finish). */
  streamBytes: number;
  warnings: string[];
  /** Set when this run only settled an earlier, interrupted one (killed after its commit): nothing was sent. */
  recovered?: 'committed';
}

const secs = (t: number) => (performance.now() - t) / 1000;

/** The best baseline both ends hold: this domain's newest first, then its older ones, then blank baselines. */
export function chooseBaseline(store: BaselineStore, domain: string, remote: PreflightReply): { digest: string; kind: 'domain' | 'blank' } | null {
  const theirs = new Set(remote.baselines.map((b) => b.digest));
  for (const e of store.history(domain)) if (theirs.has(e.digest) && store.has(e.digest)) return { digest: e.digest, kind: 'domain' };
  for (const b of store.blanks()) if (theirs.has(b.digest) && store.has(b.digest)) return { digest: b.digest, kind: 'blank' };
  return null;
}

export async function migrate(o: MigrateOptions): Promise<MigrateResult> {
  const T0 = performance.now();
  /** A stage's start and end (performance.now() values) as seconds since T0. */
  const span = (a: number, b: number) => ({ start: Number(((a - T0) / 1000).toFixed(3)), end: Number(((b - T0) / 1000).toFixed(3)) });
  const domain = checkDomainName(o.domain);
  const dest = parseDestination(o.destination);
  const where = `${dest.host}${dest.port === 22 ? '' : `:${dest.port}`}`;
  const warnings: string[] = [];
  const progress = (stage: MigrateProgress['stage'], bytesSent = 0, encoded = 0, streamBytes = 0, streamKnown = false) =>
    o.onProgress?.({ stage, bytesSent, encoded, streamBytes, streamKnown, seconds: secs(T0) });
  const store = new BaselineStore(o.stateDir);
  const lv = await Libvirt.open(o.connect);
  let client: Client | undefined;
  let releaseSave: (() => void) | undefined;
  let saveFile: string | undefined;
  let saved = false;
  let committed = false;
  let child: ChildProcess | undefined;
  let spool: Spool | undefined;
  let freeListFile: string | undefined;
  let levelFile: string | undefined;
  let levelTicker: NodeJS.Timeout | undefined;
  let levelFd: number | undefined;
  let pendingFile = '';
  let record: PendingMigration | undefined;
  /** The pending record stays when the outcome is left to the user (the save image kept). */
  const writePending = (p: PendingMigration) => writePendingFile(pendingFile, p);
  let ch: ClientChannel | undefined;
  /** The receive channel opened ahead (during the preflight), until the first open() takes it. */
  let early: Promise<ClientChannel> | undefined;
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  let onSignal: (() => void) | undefined;
  const interrupted = new Promise<never>((_, reject) => {
    onSignal = () => reject(new MigrateError('INTERRUPTED', 'interrupted by a signal'));
    for (const s of signals) process.on(s, onSignal);
  });
  interrupted.catch(() => undefined);
  const orInterrupt = <T>(p: Promise<T>) => Promise.race([p, interrupted]);
  try {
    // 1. Preflight: nothing is stopped until the destination says it can take the domain.
    progress('preflight');
    const t0 = performance.now();
    const saves = stateSubdir(o.stateDir, 'saves');
    // A migration whose process died after the save (SIGKILL, a crash) left the domain saved here.
    let pending = readPending(saves, domain);
    // It died during the save: libvirtd goes on with it (the domain paused meanwhile). Wait for the
    // outcome before anything else, lest the image it is writing be removed or a second save started.
    if (pending?.phase === 'saving') await lv.waitNoJob(domain, 600_000);
    let st = await lv.state(domain);
    if (pending?.phase === 'committed') {
      if (st === 'running' || st === 'paused') pending = undefined; // settled some other way (restored by hand): a stale record
      else {
        const r = await finishCommitted(pending, st);
        if (r) return r;
        st = await lv.state(domain);
        pending = undefined;
      }
    }
    let resuming: PendingMigration | undefined;
    if (st !== 'running' && st !== 'paused') {
      if (pending && o.resume) {
        if (pending.destination !== o.destination) throw new MigrateError('USAGE', `the interrupted migration of ${domain} was to ${pending.destination}, not ${o.destination}; resume it with that destination, or restore it here: virsh -c ${o.connect} restore ${pending.image}`);
        resuming = pending;
      } else if (pending) {
        throw new MigrateError('DOMAIN_STATE', `domain ${domain} is ${st}: an earlier mig migrate to ${pending.destination} stopped after saving it to ${pending.image}. Finish it with mig migrate --resume ${domain} ${pending.destination}, or restore it here: virsh -c ${o.connect} restore ${pending.image}`, { state: st, image: pending.image });
      } else {
        throw new MigrateError('DOMAIN_STATE', `domain ${domain} at ${o.connect} is ${st}; only a running or paused domain can be migrated`, { state: st });
      }
    }
    const xml = resuming ? saveImageXml(resuming.image) : await lv.xml(domain);
    const disks = diskPaths(xml);
    // Saved, a persistent domain is shut off here and a transient one is gone.
    const persistent = resuming ? st === 'shutoff' : lv.persistent(domain);
    const persistentXml = persistent ? await lv.inactiveXml(domain) : undefined;
    let contextPath = resuming ? resuming.context ?? undefined : o.context || undefined;
    let ctxDigest = contextPath ? readContextHeader(contextPath).digest.toString('hex') : null;
    let contextInfo: MigrateResult['context'] = contextPath && ctxDigest ? { source: resuming ? 'resumed' : 'option', digest: ctxDigest, path: contextPath } : null;
    // Neither --context nor --no-context: both ends build (or reuse) a context from the domain's own
    // disks, this end while the destination does the same in its preflight.
    const wantAuto = !contextPath && o.context !== false && !resuming;
    const autoHere: Promise<AutoContext | Error> | undefined = wantAuto ? autoContextFor(o.stateDir, domain, disks).then((a) => a, (e: Error) => e) : undefined;
    client = await orInterrupt(connectSsh(dest, { identity: o.identity, knownHosts: o.knownHosts }));
    client.on('error', () => undefined);
    // The receive channel: its first line is the preflight, answered by the same remote mig, which then
    // waits for the receive request (sent once the preflight settled): one ssh session and one Node start.
    early = exec(client, receiveCommand(o, ''));
    early.catch(() => undefined);
    const preReq = { domain, disks, autoContext: wantAuto };
    let remote = await orInterrupt(early.then((c) => preflightOnChannel(c, preReq, o, where)));
    if (!remote) {
      // An older mig there (or its preflight failed): the separate `mig receive --preflight`, and a fresh receive channel later.
      const stale = early;
      early = undefined;
      void stale.then((c) => c.close(), () => undefined);
      remote = await orInterrupt(runPreflight(client, o, domain, disks, where, wantAuto));
    }
    if (remote.disksMissing.length) {
      throw new MigrateError('DISKS_MISSING', `${where} lacks disk(s) of ${domain}: ${remote.disksMissing.join(', ')}. mig does not move disks: put them there at the same paths (shared storage or a copy) first`, { disks: remote.disksMissing });
    }
    if (ctxDigest && !remote.contexts.includes(ctxDigest)) {
      throw new MigrateError('CONTEXT_MISSING', `${where} has no context with digest ${ctxDigest} (the one in ${o.context}); build it there from the guest's disk: mig context build <guest disk> -o ${path.join(remote.stateDir, 'contexts', `${domain}.ctx`)}`, { context: ctxDigest });
    }
    // No --context: this domain's own context (<state>/contexts/<domain>.ctx), when the destination holds the same.
    if (!contextPath && o.context !== false && !resuming) {
      const own = path.join(o.stateDir, 'contexts', `${domain}.ctx`);
      if (fs.existsSync(own)) {
        const digest = readContextHeader(own).digest.toString('hex');
        if (remote.contexts.includes(digest)) {
          contextPath = own;
          ctxDigest = digest;
          contextInfo = { source: 'stored', digest, path: own };
        } else {
          warnings.push(`${where} does not hold ${own} (digest ${digest.slice(0, 16)}…); build it there with mig context build <guest disk> -o ${path.join(remote.stateDir, 'contexts', `${domain}.ctx`)}`);
        }
      }
    }
    // Else the context from the domain's disks, when both ends built the same one.
    if (!contextPath && autoHere) {
      const mine = await orInterrupt(autoHere);
      const theirs = remote.autoContext;
      if (mine instanceof Error) warnings.push(`no context from the domain's disks here: ${mine.message}; migrating without a context`);
      else if (!theirs || 'error' in theirs) warnings.push(`no context from the domain's disks on ${where}: ${theirs ? theirs.error : 'it did not build one'}; migrating without a context`);
      else if (theirs.digest !== mine.digest) warnings.push(`the domain's disks give different contexts here (${mine.digest.slice(0, 16)}… from ${mine.disk}) and on ${where} (${theirs.digest.slice(0, 16)}… from ${theirs.disk}): migrating without a context`);
      else {
        contextPath = mine.path;
        ctxDigest = mine.digest;
        contextInfo = { source: 'disks', digest: mine.digest, path: mine.path, disk: mine.disk, files: mine.files, bytes: mine.bytes, seconds: Number(mine.seconds.toFixed(2)), reused: mine.reused, destinationSeconds: Number(theirs.seconds.toFixed(2)) };
      }
    } else if (autoHere) {
      autoHere.catch(() => undefined);
    }
    if (!contextPath) contextInfo = null;
    // The same libvirtd at both ends (tests, or a move within one host): same host name and URI, and it
    // sees this very domain in the state we see. Another libvirtd on this host would not know it.
    const sameHost = remote.hostname === os.hostname() && (o.destConnect ?? o.connect) === o.connect && remote.domainState === st;
    if (!sameHost && remote.domainState !== 'absent' && remote.domainState !== 'shutoff') {
      throw new MigrateError('DOMAIN_EXISTS', `a domain named ${domain} is ${remote.domainState} on ${where} already; not migrating over it`, { state: remote.domainState });
    }
    // Resuming: the same encoding as before (the encoder is deterministic), so the same baseline.
    let baseline = chooseBaseline(store, domain, remote);
    if (resuming) {
      const b = resuming.baseline;
      if (b && !(store.has(b.digest) && remote.baselines.some((x) => x.digest === b.digest))) {
        throw new MigrateError('BASELINE_MISSING', `the interrupted migration of ${domain} was encoded against baseline ${b.digest}, which is no longer held on both ends; restore the domain here (virsh -c ${o.connect} restore ${resuming.image}) and migrate it again`);
      }
      baseline = b;
    }

    // 2. Before anything stops: the encoder child opens and indexes the baseline and context (it
    //    starts on the image once it is saved), and the destination accepts the receive request.
    releaseSave = acquireLock(path.join(saves, `${domain}.lock`), 1000);
    saveFile = path.join(saves, `${domain}.img`);
    if (!resuming) fs.rmSync(saveFile, { force: true });
    else saved = true;
    const id = resuming?.id ?? crypto.randomBytes(16).toString('hex');
    pendingFile = path.join(saves, `${domain}.json`);
    spool = new Spool(path.join(saves, `${domain}.mig`));
    const basePath = baseline ? store.pathOf(baseline.digest) : undefined;
    const freeList = o.freePages === 'keep' ? undefined : path.join(saves, `${domain}.free`);
    freeListFile = freeList;
    // A resumable transfer may be finished by another run that encodes the image again and sends
    // from the destination's checkpoint on: its stream must be the same bytes, so a fixed level.
    const auto = (o.level ?? 'auto') === 'auto' && !o.resume;
    const control = auto ? new LevelController() : undefined;
    if (control) {
      levelFile = path.join(saves, `${domain}.level`);
      fs.writeFileSync(levelFile, `${control.level}\n`);
    }
    const args: EncodeChildArgs = {
      level: control ? control.level : typeof o.level === 'number' ? o.level : START_LEVEL, levelFile,
      image: saveFile, baseline: basePath, baselineDigest: baseline ? store.trustedDigest(baseline.digest)?.toString('hex') : undefined,
      context: contextPath, threads: o.threads, waitForGo: true, freeList,
      expectedBytes: basePath ? fs.statSync(basePath).size : 0,
    };
    const enc = startEncoder(args, spool);
    child = enc.child;
    let bytesSent = 0;
    const sp = spool;
    const limiter = o.bandwidth ? new RateLimiter(o.bandwidth) : undefined;
    const onSent = (n: number) => {
      bytesSent += n;
      const known = sp.done && !sp.error;
      progress('transfer', bytesSent, known ? 1 : enc.encoded, known ? sp.size : enc.encoded > 0.02 ? sp.size / enc.encoded : 0, known);
    };
    if (control) {
      // --level auto: each tick, the encoder's progress, the backlog (encoded, not yet sent) and what
      // the link moved say whether the encoder may spend more CPU for fewer bytes (adapt.ts); the
      // child reads the level file before each frame.
      const fd = (levelFd = fs.openSync(levelFile!, 'r+'));
      let lastSent = 0;
      let lastAt = performance.now();
      let lastLevel = control.level;
      levelTicker = setInterval(() => {
        const now = performance.now();
        const level = control.tick({ backlog: Math.max(0, sp.size - bytesSent), sent: bytesSent - lastSent, dt: (now - lastAt) / 1000, encoded: enc.encoded, output: sp.size, encoderDone: sp.done });
        lastSent = bytesSent;
        lastAt = now;
        if (level !== lastLevel) fs.writeSync(fd, `${String(level).padStart(2)}\n`, 0);
        lastLevel = level;
        if (sp.done) clearInterval(levelTicker);
      }, TICK_MS);
    }
    const resumes: MigrateResult['resumes'] = [];
    /** The destination restored the domain (paused) while it decoded: the commit only resumes it. */
    let restoredWhileDecoding = false;
    let t2 = performance.now();
    /** When the current outage began (the resume window counts from there), 0 while the link works. */
    let lostAt = 0;
    /** A receive channel: the request, until the destination is ready (and says where to resume). */
    const open = async (resume: boolean): Promise<{ events: ReceiverEvents; from: number }> => {
      const pre = early;
      early = undefined;
      ch = await orInterrupt(pre && !resume ? pre : exec(client!, receiveCommand(o, '')));
      const events = new ReceiverEvents(ch);
      ch.on('error', () => undefined);
      const req: ReceiveRequest = { domain, baseline: baseline?.digest ?? null, context: ctxDigest, id, resumable: !!o.resume, resume, persistentXml: sameHost ? undefined : persistentXml, streamRestore: o.streamRestore !== false && !o.resume };
      ch.write(encodeMessage(req));
      const ready = await orInterrupt(events.wait('ready', 90_000));
      lostAt = 0;
      const from = Number.isSafeInteger(ready.resumeFrom) && ready.resumeFrom > 0 ? ready.resumeFrom : 0;
      if (resume) resumes.push({ offset: from, frame: from > 0 ? ready.frame ?? null : 0, afterSeconds: secs(t2), bytesSentBefore: bytesSent });
      return { events, from };
    };
    /** The spool from where the destination wants it, until it has decoded all. */
    const transfer = async ({ events, from }: { events: ReceiverEvents; from: number }): Promise<ReceiverEvents> => {
      const ranges: [number, number][] = from > 0 ? [[0, HEADER_SIZE], [from, Infinity]] : [[0, Infinity]];
      const sending = sendSpool(sp, ch!, ranges, events, limiter, onSent);
      sending.catch(() => undefined);
      try {
        const [, dec] = await orInterrupt(Promise.all([sending, events.wait('decoded', 24 * 3600_000)]));
        restoredWhileDecoding = dec.restored === 'paused';
      } catch (e) {
        // The destination's own error, when it said one, is the cause (not the channel it then closed).
        throw events.destinationError() ?? e;
      }
      return events;
    };
    const first = await open(!!resuming);
    const tPre = secs(t0);
    await faultPoint('preflight');

    // 3. Save (pause + write the image) into our state dir; then the encoder starts on it. What a
    //    later `mig migrate --resume` needs, should this process die, is written next to the image.
    progress('save');
    const t1 = performance.now();
    if (!resuming) {
      // The record goes first: should this process die during the save, libvirtd still finishes it, and
      // the next run must find the image (phase "saving": it waits for libvirtd's job, then resumes).
      record = { id, destination: o.destination, image: saveFile, baseline, context: contextPath ?? null, freeList: freeList ?? null, phase: 'saving', pid: process.pid, savedAt: new Date().toISOString() };
      writePending(record);
      const saving = lv.save(domain, saveFile);
      saving.catch(() => undefined);
      await faultPoint('save');
      await saving;
      saved = true;
      writePending({ ...record, phase: 'saved', savedAt: new Date().toISOString() });
    } else {
      record = { ...resuming!, freeList: freeList ?? null, phase: 'saved', pid: process.pid };
      writePending(record);
    }
    const imageBytes = fs.statSync(saveFile).size;
    const tSave = secs(t1);
    enc.go();

    // 4. The encoder writes a spool file; a sender streams the spool into the receive channel as it
    //    grows (encode, transfer and decode overlap). With --resume a lost link is reconnected and the
    //    destination, which kept what it decoded, says from which offset to go on.
    t2 = performance.now();
    let events: ReceiverEvents;
    for (let n = 0; ; n++) {
      try {
        events = await transfer(n === 0 ? first : await open(true));
        break;
      } catch (e) {
        if (!o.resume || !(e instanceof TransportError) || committed) throw e;
        // The link is lost: reconnect within the resume window, the domain stays saved meanwhile.
        lostAt ||= performance.now();
        const window = (o.resumeWindowSeconds ?? 120) * 1000;
        warnings.push(`link lost after ${bytesSent} bytes (${e.message}); resuming`);
        ch?.close();
        client?.end();
        client = await reconnect(e, lostAt + window);
      }
    }
    const summary = await orInterrupt(enc.done);
    const tTransfer = secs(t2);

    // 5. Commit: from here the destination may run the domain, so the source is not restored blindly.
    progress('restore', bytesSent, 1);
    const t3 = performance.now();
    // Past the commit a resume must not send the domain again (it could run twice): the record says
    // "committed", and a later run asks the destination whether it runs there before anything else.
    writePending({ ...record!, phase: 'committed' });
    ch!.write(encodeMessage({ commit: true }));
    ch!.end();
    committed = true;
    await faultPoint('commit');
    let definedThere: boolean | undefined;
    let runningSeen = false;
    try {
      const running = await events.wait('running', o.confirmTimeoutMs ?? 300_000);
      definedThere = running.defined;
      runningSeen = true;
      if (running.defineError) warnings.push(`${domain} runs on ${where} but is not defined there persistently (${running.defineError}); its definition is kept here`);
    } catch (e) {
      await resolveAmbiguous(e as Error);
    }
    const tRestore = secs(t3);
    const runningAt = performance.now();

    // 6. Both ends keep this image as the domain's baseline for next time.
    const t4 = performance.now();
    let destinationBaseline: string | null = null;
    try {
      destinationBaseline = (await events.wait('stored', 120_000)).digest;
    } catch (e) {
      warnings.push(`the destination did not store the image as a baseline: ${(e as Error).message}`);
    }
    // Free pages went as zeros: the image kept here as the next baseline must be the one the destination decoded.
    await faultPoint('store');
    if (freeList) zeroPages(saveFile, freeList);
    // The encoder hashed the image the destination decodes (free pages as zeros): that is this file now.
    const sourceBaseline = store.addForDomain(domain, saveFile, { origin: 'migrate', move: !o.keepSource, digest: summary.sha256 });
    if (destinationBaseline && destinationBaseline !== sourceBaseline) warnings.push(`baseline digests differ: here ${sourceBaseline}, there ${destinationBaseline}`);
    let undefinedOnSource = false;
    // The definition moves only once the destination holds it: a persistent domain is never left undefined everywhere.
    if (persistent && !o.keepSource && !sameHost && definedThere === true) {
      lv.undefine(domain);
      undefinedOnSource = true;
    }
    progress('done', bytesSent, 1);
    return {
      domain, destination: o.destination, destinationHost: remote.hostname, bytesSent, imageBytes, ratio: bytesSent / imageBytes, streamBytes: sp.size,
      baseline, context: contextInfo,
      stages: { preflight: tPre, save: tSave, transfer: tTransfer, restore: tRestore, store: secs(t4), total: secs(T0) },
      timeline: {
        preflight: span(t0, t0 + tPre * 1000), save: span(t1, t1 + tSave * 1000), transfer: span(t2, t2 + tTransfer * 1000),
        restore: span(t3, t3 + tRestore * 1000), store: span(t4, performance.now()),
      },
      downtime: runningSeen ? Number(((runningAt - t1) / 1000).toFixed(3)) : null,
      restore: restoredWhileDecoding ? 'while-decoding' : 'after-decode',
      techniques: summary.techniques, level: { mode: control ? 'auto' : typeof o.level === 'number' ? o.level : START_LEVEL, frames: summary.levels }, pageMap: (summary as EncodeSummary & { pageMap?: MigrateResult['pageMap'] }).pageMap ?? null,
      freePagesDropped: summary.freePagesDropped, sourceBaseline, destinationBaseline, undefinedOnSource, resumes, warnings,
    };
  } catch (e) {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    ch?.close();
    if (saved && !committed) await restoreSource(e as Error);
    throw e;
  } finally {
    for (const s of signals) process.off(s, onSignal!);
    early?.then((c) => c.close(), () => undefined);
    spool?.remove();
    // An image kept for the user (saveFile cleared) keeps its record: the next run says how to finish.
    if (pendingFile && saveFile !== undefined) fs.rmSync(pendingFile, { force: true });
    if (freeListFile && saveFile !== undefined) fs.rmSync(freeListFile, { force: true });
    clearInterval(levelTicker);
    if (levelFd !== undefined) fs.closeSync(levelFd);
    // Also one a killed run left (this run may not have made one: a resume, a recovered commit).
    fs.rmSync(levelFile ?? path.join(o.stateDir, 'saves', `${domain}.level`), { force: true });
    releaseSave?.();
    if (saveFile && o.keepSource !== true) fs.rmSync(saveFile, { force: true });
    client?.end();
    await lv.close();
  }

  /** Any failure before the commit: the destination never restores, so the source gets its domain back. */
  async function restoreSource(cause: Error): Promise<void> {
    try {
      await lv.restore(saveFile!, domain);
    } catch (e) {
      // Keep the image: it is the only copy of the VM's memory now.
      const kept = saveFile;
      saveFile = undefined;
      throw new MigrateError('RESTORE_FAILED', `${cause.message}; and restoring ${domain} on the source failed too (${(e as Error).message}). Its saved state is kept in ${kept}: restore it with virsh -c ${o.connect} restore ${kept}`, { image: kept });
    }
    fs.rmSync(saveFile!, { force: true });
  }

  /** Connect again until `deadline` (backing off 1, 2, 4, 5, 5 … s); past it, the link failure stands. */
  async function reconnect(cause: Error, deadline: number): Promise<Client> {
    let wait = 1000;
    let last: Error = cause;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new TransportError('LINK', `${cause.message}; no working link to ${where} within the resume window (${o.resumeWindowSeconds ?? 120} s; last: ${last.message})`);
      }
      await orInterrupt(new Promise((r) => setTimeout(r, Math.min(wait, left))));
      wait = Math.min(wait * 2, 5000);
      progress('resume');
      try {
        const c = await orInterrupt(connectSsh(dest, { identity: o.identity, knownHosts: o.knownHosts, readyTimeout: Math.max(5000, Math.min(20_000, left)) }));
        c.on('error', () => undefined);
        return c;
      } catch (e) {
        // A host key that changed in the meantime is not a link problem.
        if (!(e instanceof TransportError) || e.code.startsWith('SSH_HOST_KEY') || e.code === 'SSH_AUTH') throw e;
        last = e;
      }
    }
  }

  /** The domain's state on the destination, 'unknown' when it cannot be asked. */
  function destinationState(): Promise<string> {
    return askDestinationState(dest, o, domain);
  }

  /**
   * A run killed after its commit line (saves/<domain>.json phase "committed", the domain saved here):
   * whether the destination runs it decides. Running there: the source's part is finished (the image
   * becomes this domain's baseline, as after a whole run) and the result returned. Not there: it is
   * restored here and undefined is returned (the caller migrates it again). Unknown: nothing is
   * touched and the error says how to finish by hand.
   */
  async function finishCommitted(p: PendingMigration, st: string): Promise<MigrateResult | undefined> {
    const saves = path.dirname(p.image);
    const done = () => {
      for (const f of [o.keepSource ? undefined : p.image, path.join(saves, `${domain}.json`), path.join(saves, `${domain}.mig`), p.freeList]) if (f) fs.rmSync(f, { force: true });
    };
    if (p.destination !== o.destination) {
      throw new MigrateError('USAGE', `the interrupted migration of ${domain} to ${p.destination} had sent its commit; run mig migrate ${domain} ${p.destination} to settle it (it asks there whether ${domain} runs)`, { image: p.image });
    }
    const release = acquireLock(path.join(saves, `${domain}.lock`), 1000);
    try {
      const state = await orInterrupt(destinationState());
      if (state === 'running' || state === 'paused') {
        let sourceBaseline = '';
        // Free pages went as zeros: the baseline kept here must be the image the destination decoded.
        if (p.freeList && !fs.existsSync(p.freeList)) {
          warnings.push(`the list of free pages sent as zeros (${p.freeList}) is gone: ${p.image} is not kept as a baseline`);
        } else {
          if (p.freeList) zeroPages(p.image, p.freeList);
          sourceBaseline = store.addForDomain(domain, p.image, { origin: 'migrate', move: !o.keepSource });
        }
        if (st === 'shutoff') warnings.push(`${domain} is still defined here (persistent); once it is defined on ${where}, undefine it here: virsh -c ${o.connect} undefine ${domain}`);
        warnings.push(`the earlier mig migrate of ${domain} to ${where} was interrupted after its commit: ${domain} is ${state} there; finished the source's part`);
        done();
        progress('done');
        return {
          domain, destination: o.destination, destinationHost: dest.host, bytesSent: 0, imageBytes: 0, ratio: 0, streamBytes: 0,
          baseline: p.baseline, context: null, stages: { preflight: 0, save: 0, transfer: 0, restore: 0, store: 0, total: secs(T0) },
          timeline: { preflight: span(T0, T0), save: span(T0, T0), transfer: span(T0, T0), restore: span(T0, T0), store: span(T0, T0) }, downtime: null,
          restore: 'after-decode', techniques: {} as EncodeSummary['techniques'], level: { mode: o.level ?? 'auto', frames: {} }, pageMap: null, freePagesDropped: 0, sourceBaseline, destinationBaseline: null,
          undefinedOnSource: false, resumes: [], warnings, recovered: 'committed',
        };
      }
      if (state === 'absent' || state === 'shutoff') {
        try {
          await lv.restore(p.image, domain);
        } catch (e) {
          throw new MigrateError('RESTORE_FAILED', `${domain} does not run on ${where} after the interrupted migration's commit, and restoring it here failed (${(e as Error).message}). Its saved state is kept in ${p.image}: restore it with virsh -c ${o.connect} restore ${p.image}`, { image: p.image });
        }
        warnings.push(`the earlier mig migrate of ${domain} to ${where} was interrupted after its commit, but ${domain} did not run there: restored here from ${p.image}, and migrated again`);
        done();
        return undefined;
      }
      throw new MigrateError('UNCONFIRMED', `an earlier mig migrate of ${domain} to ${where} was interrupted after its commit, and whether ${domain} runs there is unknown (no answer from ${where}); nothing is changed. Run this again once ${where} answers, or check there (virsh domstate ${domain}) and, if it does not run, restore it here: virsh -c ${o.connect} restore ${p.image}`, { image: p.image });
    } finally {
      release();
    }
  }

  /** After the commit the link failed: ask the destination (new connection) whether the domain runs there. */
  async function resolveAmbiguous(cause: Error): Promise<void> {
    const state = await destinationState();
    if (state === 'running' || state === 'paused') {
      warnings.push(`the confirmation was lost (${cause.message}), but ${domain} is ${state} on ${where}`);
      return;
    }
    if (state === 'absent' || state === 'shutoff') {
      committed = false;
      throw cause;
    }
    const kept = saveFile;
    saveFile = undefined;
    throw new MigrateError('UNCONFIRMED', `${cause.message}; whether ${domain} runs on ${where} is unknown, so it is not restored here. Check there (virsh domstate ${domain}); if it does not run, restore it here: virsh -c ${o.connect} restore ${kept}`, { image: kept });
  }
}

