/**
 * `mig receive`: the destination end of a migration (run by `mig migrate` through ssh). Writes only
 * under its state dir: the image is decoded to incoming/<domain>.img (atomically, digest-checked),
 * restored through libvirt only after the source's commit line, then kept as the domain's baseline.
 */
import * as fs from 'node:fs';
import { fileIdentity, sameIdentity } from '../util/file.js';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { decodeImage } from '../codec/decode.js';
import { Libvirt, domainNameOf } from '../libvirt/domain.js';
import { saveImageXml } from '../image/libvirt-save.js';
import { BaselineStore } from '../state/baselines.js';
import { findContext, listContexts } from '../state/contexts.js';
import { autoContextFor } from '../state/auto-context.js';
import { acquireLock, checkDomainName, processAlive, stateSubdir } from '../state/dir.js';
import { MigError } from '../util/errors.js';
import { faultPoint, faultPointSync } from '../util/fault.js';
import { loadCheckpoint, type DecodeCheckpoint } from '../codec/checkpoint.js';
import {
  MIGRATION_ID, parseMessage, PROTOCOL_VERSION, type AutoContextReply, type PreflightReply, type PreflightRequest, type ReceiveRequest,
} from './protocol.js';
import { readLineSync, writeMessage } from './control-fd.js';
import { StreamRestore } from './restore-stream.js';
import { defaultTempPath } from '../util/sink.js';

const IN = 0;
const OUT = 1;

export interface ReceiveOptions {
  stateDir: string;
  connect: string;
  migVersion: string;
  threads?: number;
}

export async function preflight(o: ReceiveOptions): Promise<PreflightReply> {
  return answerPreflight(o, parseMessage<PreflightRequest>(readLineSync(IN), 'preflight request'));
}

/** The preflight reply to `req` (`mig receive --preflight`, or the first line of a receive channel). */
async function answerPreflight(o: ReceiveOptions, req: PreflightRequest): Promise<PreflightReply> {
  if (typeof req !== 'object' || req === null) throw new MigError('PROTOCOL', 'a preflight request that is not an object');
  const domain = checkDomainName(req.domain);
  const disks = Array.isArray(req.disks) ? req.disks.filter((d): d is string => typeof d === 'string') : [];
  const store = new BaselineStore(o.stateDir);
  let domainState = 'unknown';
  const lv = await Libvirt.open(o.connect);
  try {
    domainState = await lv.state(domain);
  } finally {
    await lv.close();
  }
  // The domain's context from its disks here (built, or reused while the disk is unchanged).
  let autoContext: AutoContextReply | undefined;
  if (req.autoContext === true) {
    try {
      const a = await autoContextFor(o.stateDir, domain, disks.filter((d) => fs.existsSync(d)));
      autoContext = { digest: a.digest, files: a.files, bytes: a.bytes, seconds: a.seconds, reused: a.reused, disk: a.disk };
    } catch (e) {
      autoContext = { error: (e as Error).message };
    }
  }
  const reply: PreflightReply = {
    protocol: PROTOCOL_VERSION, migVersion: o.migVersion, hostname: os.hostname(), stateDir: o.stateDir,
    contexts: listContexts(o.stateDir).contexts.map((c) => c.digest),
    baselines: store.list().map((b) => ({ digest: b.digest, latestFor: b.latestFor, blankFor: b.blankFor })),
    disksMissing: disks.filter((d) => !fs.existsSync(d)),
    domainState,
    autoContext,
  };
  await faultPoint('receive-preflight');
  writeMessage(OUT, reply);
  return reply;
}

export async function status(o: ReceiveOptions): Promise<void> {
  const req = parseMessage<{ domain: string }>(readLineSync(IN), 'status request');
  const lv = await Libvirt.open(o.connect);
  try {
    const domain = checkDomainName(req.domain);
    // A domain a killed receive left restored paused: destroyed if it never got its commit, else resumed.
    await settleOrphan(lv, stateSubdir(o.stateDir, 'incoming'), domain);
    // A restore still under way (its receive killed after the commit) shows the domain paused: the
    // answer waits for its outcome (running, or gone if it failed), lest the source take it as there.
    await lv.waitNoJob(domain, 300_000);
    let state = await lv.state(domain);
    // libvirt may not list the restore as a job: a domain paused now is given 30 s to start running.
    for (let i = 0; state === 'paused' && i < 150; i++) {
      await new Promise((r) => setTimeout(r, 200));
      state = await lv.state(domain);
    }
    writeMessage(OUT, { domain: req.domain, state });
  } finally {
    await lv.close();
  }
}

/** The receive proper. Errors are reported to the source as an error event by the caller. */
export async function receive(o: ReceiveOptions): Promise<void> {
  // The channel may open with the preflight ({preflight: PreflightRequest}): answered here, so that
  // one remote mig serves both (the source opened this channel before it knew what to ask).
  const first = parseMessage<ReceiveRequest & { preflight?: PreflightRequest }>(readLineSync(IN), 'receive request');
  let req: ReceiveRequest = first;
  if (first.preflight !== undefined) {
    await answerPreflight(o, first.preflight);
    const line = readLineSync(IN);
    if (line === undefined) return; // the source went no further (its preflight failed, or it was stopped)
    req = parseMessage<ReceiveRequest>(line, 'receive request');
  }
  const domain = checkDomainName(req.domain);
  const store = new BaselineStore(o.stateDir);
  let baseline: string | undefined;
  let baselineDigest: Buffer | undefined;
  if (req.baseline) {
    if (!store.has(req.baseline)) throw new MigError('MIG_WRONG_BASELINE', `this host has no baseline ${req.baseline} (in ${store.imagesDir})`, { baseline: req.baseline });
    baseline = store.pathOf(req.baseline);
    baselineDigest = store.trustedDigest(req.baseline);
  }
  let context: string | undefined;
  if (req.context) {
    const c = findContext(o.stateDir, req.context);
    if (!c) throw new MigError('MIG_WRONG_CONTEXT', `this host has no context with digest ${req.context} in ${path.join(o.stateDir, 'contexts')}; build it with \`mig context build <guest disk> -o ${path.join(o.stateDir, 'contexts', `${domain}.ctx`)}\``, { context: req.context });
    context = c.path;
  }
  if (typeof req.id !== 'string' || !MIGRATION_ID.test(req.id)) throw new MigError('PROTOCOL', `bad migration id ${JSON.stringify(req.id)}`);
  const incoming = stateSubdir(o.stateDir, 'incoming');
  dropStalePartials(incoming);
  // A resume may arrive while the receive it continues is still noticing that its link died: wait for it.
  const release = acquireLock(path.join(incoming, `${domain}.lock`), req.resume ? 30_000 : 1000);
  const image = path.join(incoming, `${domain}.img`);
  const partial = path.join(incoming, `${domain}.partial`);
  try {
    if (fs.existsSync(path.join(incoming, `${domain}.paused`))) {
      const lv = await Libvirt.open(o.connect);
      try {
        await settleOrphan(lv, incoming, domain);
      } finally {
        await lv.close();
      }
    }
    dropLeftovers(incoming, domain);
    const cp = req.resume ? loadCheckpoint(partial) : undefined;
    const resume = !!cp && cp.id === req.id;
    if (!req.resumable && !resume) fs.rmSync(partial, { recursive: true, force: true });
    writeMessage(OUT, resume ? { event: 'ready', resumeFrom: cp!.pos, frame: cp!.frame } : { event: 'ready', resumeFrom: 0 });
    await faultPoint('receive-ready');
    const t0 = performance.now();
    const ack = (c: DecodeCheckpoint) => {
      try {
        writeMessage(OUT, { event: 'ack', frame: c.frame, offset: c.pos });
      } catch { /* the link is gone: the next read sees the end of the input */ }
      faultPointSync('receive-frame');
    };
    // Restore while decoding (the source asked, and the transfer is not resumable): libvirt restores
    // the domain paused from a FIFO fed from the image as it is decoded (restore-stream.ts).
    const streaming = req.streamRestore === true && !req.resumable && !resume;
    const marker = path.join(incoming, `${domain}.paused`);
    const stream = streaming ? new StreamRestore({ file: defaultTempPath(image), fifo: path.join(incoming, `${domain}.fifo`), domain, connect: o.connect }) : undefined;
    let restoredPaused = false;
    let committed = false;
    let s: ReturnType<typeof decodeImage>;
    try {
      s = decodeImage('-', image, {
        baseline, baselineDigest, context, threads: o.threads, trailing: true,
        resumable: req.resumable || resume ? { dir: partial, id: req.id, resume, onCheckpoint: ack } : undefined,
      });
    } catch (e) {
      await stream?.abort();
      throw e;
    }
    // The file as decoded (and hashed): if restoring changes it, the store hashes it again.
    const decoded = fileIdentity(image);
    // Only a libvirt save image of this very domain is restored.
    let xml: string;
    try {
      xml = saveImageXml(image);
    } catch (e) {
      await stream?.abort();
      throw new MigError('NOT_A_SAVE_IMAGE', `the received image is not a libvirt save image (${(e as Error).message}); nothing restored`);
    }
    if (domainNameOf(xml) !== domain) {
      await stream?.abort();
      throw new MigError('BAD_DOMAIN_NAME', `the received image is of domain ${JSON.stringify(domainNameOf(xml))}, not ${domain}; nothing restored`);
    }
    let lv: Libvirt | undefined;
    let defined: boolean | undefined;
    let defineError: string | undefined;
    let t1 = performance.now();
    try {
      if (stream) {
        // Should this process die from here until the domain runs, the next status or receive settles
        // the paused domain it leaves: destroyed before the commit, resumed after (settleOrphan).
        fs.writeFileSync(marker, JSON.stringify({ pid: process.pid, committed: false }));
        await stream.finish(s.imageBytes);
        restoredPaused = true;
      }
      writeMessage(OUT, { event: 'decoded', imageBytes: s.imageBytes, seconds: (performance.now() - t0) / 1000, restored: restoredPaused ? 'paused' : undefined });
      await faultPoint('receive-decoded');
      const commit = parseMessage<{ commit?: boolean }>(readLineSync(IN), 'waiting for the commit');
      if (commit.commit !== true) throw new MigError('PROTOCOL', 'expected the commit line');
      committed = true;
      t1 = performance.now();
      if (restoredPaused) fs.writeFileSync(marker, JSON.stringify({ pid: process.pid, committed: true }));
      // Connected only now: a libvirtd restarted while this waited for the commit is no matter.
      lv = await Libvirt.open(o.connect);
      const restoring = restoredPaused ? lv.resume(domain) : lv.restore(image, domain);
      restoring.catch(() => undefined);
      await faultPoint('receive-restore');
      await restoring;
      fs.rmSync(marker, { force: true });
      const st = await lv.state(domain);
      if (st !== 'running') throw new MigError('LIBVIRT', `${domain} restored but ${st}, not running`);
      // A persistent domain stays persistent: define it here (the running domain takes the definition).
      if (typeof req.persistentXml === 'string') {
        defined = false;
        if (domainNameOf(req.persistentXml) !== domain) defineError = `the definition sent is of domain ${JSON.stringify(domainNameOf(req.persistentXml))}, not ${domain}`;
        else {
          try {
            await lv.define(req.persistentXml);
            defined = true;
          } catch (e) {
            defineError = (e as Error).message;
          }
        }
      }
    } catch (e) {
      // No commit (the source or the link died, or it failed): the domain restored paused here must
      // not run; the source restores its own.
      if (stream && !committed) {
        await stream.abort();
        if (restoredPaused) await destroyPaused(o.connect, domain);
        fs.rmSync(marker, { force: true });
      }
      throw e;
    } finally {
      await lv?.close();
    }
    // From here the domain runs here: a source that is gone (killed after its commit) does not stop
    // the rest, so these two lines may go nowhere.
    const tell = (m: object) => {
      try {
        writeMessage(OUT, m);
      } catch { /* the source is gone */ }
    };
    tell({ event: 'running', seconds: (performance.now() - t1) / 1000, defined, defineError });
    await faultPoint('receive-store');
    // The image just restored becomes this domain's baseline for the next migration.
    // The decoder verified the image's SHA-256 as it wrote it: unless the restore rewrote the file,
    // the store need not hash it again.
    const digest = store.addForDomain(domain, image, { origin: 'receive', move: true, digest: sameIdentity(fileIdentity(image), decoded) ? s.sha256 : undefined });
    tell({ event: 'stored', digest });
  } finally {
    fs.rmSync(image, { force: true });
    release();
  }
}

/** Destroy `domain` if it is paused here (restored by a receive that never got its commit). */
async function destroyPaused(connect: string, domain: string): Promise<void> {
  try {
    const lv = await Libvirt.open(connect);
    try {
      if ((await lv.state(domain)) === 'paused') await lv.destroy(domain);
    } finally {
      await lv.close();
    }
  } catch { /* libvirtd unreachable: settleOrphan does it on the next status or receive */ }
}

/**
 * A domain a receive killed outright left restored paused (incoming/<domain>.paused names that
 * receive): before its commit it must not run (destroyed; the source restores its own), after the
 * commit it is the domain's only copy (resumed). Nothing while that receive still runs.
 */
export async function settleOrphan(lv: Libvirt, incoming: string, domain: string): Promise<void> {
  const marker = path.join(incoming, `${domain}.paused`);
  let m: { pid?: unknown; committed?: unknown };
  try {
    m = JSON.parse(fs.readFileSync(marker, 'utf8')) as typeof m;
  } catch {
    return;
  }
  if (Number.isInteger(m.pid) && processAlive(m.pid as number)) return;
  if ((await lv.state(domain)) === 'paused') {
    if (m.committed === true) await lv.resume(domain);
    else await lv.destroy(domain);
  }
  fs.rmSync(marker, { force: true });
}

/**
 * What a receive of `domain` killed outright (SIGKILL, a crash) left in incoming/: its decoded image
 * (killed between the decode and the end) and the decoder's temp file. Called with the domain's lock
 * held, so no live receive of this domain owns them; temp files of live processes are left alone.
 */
function dropLeftovers(incoming: string, domain: string): void {
  fs.rmSync(path.join(incoming, `${domain}.img`), { force: true });
  fs.rmSync(path.join(incoming, `${domain}.fifo`), { force: true });
  const tmp = `.${domain}.img.tmp-`;
  for (const f of fs.readdirSync(incoming)) {
    if (!f.startsWith(tmp)) continue;
    const pid = Number(f.slice(tmp.length));
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) fs.rmSync(path.join(incoming, f), { force: true });
  }
}

/** Partial receives nobody resumed within a day are dropped (they hold guest memory). */
const PARTIAL_MAX_AGE_MS = 24 * 3600_000;

function dropStalePartials(incoming: string): void {
  for (const f of fs.readdirSync(incoming)) {
    if (!f.endsWith('.partial')) continue;
    const p = path.join(incoming, f);
    try {
      if (Date.now() - fs.statSync(p).mtimeMs > PARTIAL_MAX_AGE_MS) fs.rmSync(p, { recursive: true, force: true });
    } catch { /* raced with its owner */ }
  }
}
