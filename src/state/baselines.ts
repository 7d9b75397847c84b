/**
 * The baseline store: content-addressed image files under <state>/baselines/images/<sha256>, with a
 * per-domain history (newest first) and blank baselines per OS. The codec opens a baseline by path
 * (`pathOf(digest)`); both ends of a migration find it by the digest in the .mig header.
 * Every write happens under the state dir's lock; files are replaced by rename, never rewritten in place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileSha256 } from '../util/hash.js';
import { fileIdentity, sameIdentity, type FileIdentity } from '../util/file.js';
import { openImage } from '../image/probe.js';
import { checkDomainName, checkOsName, processAlive, stateSubdir, StateError, withLock, writeFileAtomic } from './dir.js';
import { planRetention, type RetentionPlan, type RetentionPolicy } from './retention.js';

export type BaselineOrigin = 'migrate' | 'receive' | 'hook' | 'add';

export interface HistoryEntry {
  digest: string;
  addedAt: string;
  origin: BaselineOrigin;
}

export interface ImageMeta {
  digest: string;
  bytes: number;
  format: string;
  addedAt: string;
  /** The stored file's identity when it was stored (a later open trusts the digest while it is unchanged). */
  file?: FileIdentity;
}

export type { FileIdentity } from '../util/file.js';

export interface BaselineListing {
  digest: string;
  bytes: number;
  format: string;
  addedAt: string;
  /** Domains whose latest baseline this is. */
  latestFor: string[];
  /** Domains whose history holds it. */
  domains: string[];
  /** OS names it is the blank baseline of. */
  blankFor: string[];
}

const DIGEST = /^[0-9a-f]{64}$/;

export class BaselineStore {
  readonly stateDir: string;
  readonly imagesDir: string;
  readonly domainsDir: string;
  readonly blankDir: string;
  readonly lockFile: string;

  constructor(stateDir: string) {
    this.stateDir = stateDir;
    this.imagesDir = stateSubdir(stateDir, 'baselines', 'images');
    this.domainsDir = stateSubdir(stateDir, 'baselines', 'domains');
    this.blankDir = stateSubdir(stateDir, 'baselines', 'blank');
    this.lockFile = path.join(stateDir, 'lock');
  }

  pathOf(digest: string): string {
    if (!DIGEST.test(digest)) throw new StateError(`not a SHA-256 digest: ${JSON.stringify(digest)}`);
    return path.join(this.imagesDir, digest);
  }

  /**
   * The digest of a stored baseline when its file is unchanged since it was stored (same size,
   * modification time and inode as recorded then, like git's index), so that opening it need not read
   * and hash the whole file again; undefined otherwise (the caller hashes it). Bit rot under an
   * unchanged stat is not seen here: the decoder's end-to-end SHA-256 of the image it writes is.
   */
  trustedDigest(digest: string): Buffer | undefined {
    if (!this.has(digest)) return undefined;
    const rec = this.imageMeta(digest)?.file;
    if (!rec) return undefined;
    let now: FileIdentity;
    try {
      now = fileIdentity(this.pathOf(digest));
    } catch {
      return undefined;
    }
    return sameIdentity(now, rec) ? Buffer.from(digest, 'hex') : undefined;
  }

  has(digest: string): boolean {
    return DIGEST.test(digest) && fs.existsSync(this.pathOf(digest)) && fs.existsSync(`${this.pathOf(digest)}.json`);
  }

  history(domain: string): HistoryEntry[] {
    const f = path.join(this.domainsDir, `${checkDomainName(domain)}.json`);
    if (!fs.existsSync(f)) return [];
    return (JSON.parse(fs.readFileSync(f, 'utf8')) as { entries: HistoryEntry[] }).entries;
  }

  /** The domain's newest baseline that is still in the store. */
  latest(domain: string): string | undefined {
    return this.history(domain).find((e) => this.has(e.digest))?.digest;
  }

  blanks(): { os: string; digest: string; addedAt: string }[] {
    return fs.readdirSync(this.blankDir).filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(fs.readFileSync(path.join(this.blankDir, f), 'utf8')) as { os: string; digest: string; addedAt: string })
      .sort((a, b) => b.addedAt.localeCompare(a.addedAt));
  }

  private imageMeta(digest: string): ImageMeta | undefined {
    try {
      return JSON.parse(fs.readFileSync(`${this.pathOf(digest)}.json`, 'utf8')) as ImageMeta;
    } catch {
      return undefined;
    }
  }

  private domainNames(): string[] {
    return fs.readdirSync(this.domainsDir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  }

  list(): BaselineListing[] {
    const out = new Map<string, BaselineListing>();
    for (const f of fs.readdirSync(this.imagesDir)) {
      if (!DIGEST.test(f)) continue;
      const m = this.imageMeta(f);
      if (!m) continue;
      out.set(f, { digest: f, bytes: m.bytes, format: m.format, addedAt: m.addedAt, latestFor: [], domains: [], blankFor: [] });
    }
    for (const d of this.domainNames()) {
      const h = this.history(d);
      h.forEach((e, i) => {
        const l = out.get(e.digest);
        if (!l) return;
        if (!l.domains.includes(d)) l.domains.push(d);
        if (i === 0) l.latestFor.push(d);
      });
    }
    for (const b of this.blanks()) out.get(b.digest)?.blankFor.push(b.os);
    return [...out.values()].sort((a, b) => b.addedAt.localeCompare(a.addedAt));
  }

  /**
   * Put an image into the store (by rename when `move`, else a reflink-or-copy) unless an image with
   * its digest is already there; returns its digest. The image must be one mig can read.
   */
  private ingest(image: string, move: boolean, knownDigest?: string): string {
    const format = probeImageFormat(image);
    const digest = knownDigest ?? fileSha256(image).toString('hex');
    const dest = this.pathOf(digest);
    if (this.has(digest)) {
      if (move) fs.rmSync(image, { force: true });
      return digest;
    }
    const tmp = path.join(this.imagesDir, `.${digest}.tmp-${process.pid}`);
    try {
      if (move) fs.renameSync(image, tmp);
      else fs.copyFileSync(image, tmp, fs.constants.COPYFILE_FICLONE);
      fs.chmodSync(tmp, 0o600);
      const bytes = fs.statSync(tmp).size;
      fs.renameSync(tmp, dest);
      writeFileAtomic(`${dest}.json`, JSON.stringify({ digest, bytes, format, addedAt: new Date().toISOString(), file: fileIdentity(dest) } satisfies ImageMeta) + '\n');
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      if (e instanceof StateError) throw e;
      throw new StateError(`cannot store ${image} as baseline ${digest}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { image, digest });
    }
    return digest;
  }

  /** Record `image` as the domain's newest baseline. With `move`, the file is renamed into the store (same filesystem). */
  addForDomain(domain: string, image: string, opts: { origin: BaselineOrigin; move?: boolean; digest?: string }): string {
    checkDomainName(domain);
    return withLock(this.lockFile, () => {
      const digest = this.ingest(image, opts.move ?? false, opts.digest);
      const entries = this.history(domain).filter((e) => e.digest !== digest);
      entries.unshift({ digest, addedAt: new Date().toISOString(), origin: opts.origin });
      writeFileAtomic(path.join(this.domainsDir, `${domain}.json`), JSON.stringify({ domain, entries }, null, 2) + '\n');
      return digest;
    });
  }

  /** Register a freshly booted VM's image as the blank baseline for an OS (replacing the previous one). */
  addBlank(os: string, image: string): string {
    checkOsName(os);
    return withLock(this.lockFile, () => {
      const digest = this.ingest(image, false);
      writeFileAtomic(path.join(this.blankDir, `${os}.json`), JSON.stringify({ os, digest, addedAt: new Date().toISOString() }) + '\n');
      return digest;
    });
  }

  /**
   * Remove by digest (every reference to it and the image), by domain (its history; images nothing
   * else refers to go too) or a blank baseline by OS. Returns the digests of deleted images.
   */
  remove(what: { digest?: string; domain?: string; os?: string }): string[] {
    return withLock(this.lockFile, () => {
      if (what.digest !== undefined) {
        if (!DIGEST.test(what.digest)) throw new StateError(`not a SHA-256 digest: ${JSON.stringify(what.digest)}`);
        if (!fs.existsSync(this.pathOf(what.digest))) throw new StateError(`no baseline ${what.digest} in ${this.imagesDir}`, { digest: what.digest });
        for (const d of this.domainNames()) {
          const h = this.history(d);
          const kept = h.filter((e) => e.digest !== what.digest);
          if (kept.length !== h.length) this.writeHistory(d, kept);
        }
        for (const b of this.blanks()) if (b.digest === what.digest) fs.rmSync(path.join(this.blankDir, `${b.os}.json`));
      } else if (what.domain !== undefined) {
        const f = path.join(this.domainsDir, `${checkDomainName(what.domain)}.json`);
        if (!fs.existsSync(f)) throw new StateError(`no baselines for domain ${what.domain}`, { domain: what.domain });
        fs.rmSync(f);
      } else if (what.os !== undefined) {
        const f = path.join(this.blankDir, `${checkOsName(what.os)}.json`);
        if (!fs.existsSync(f)) throw new StateError(`no blank baseline for OS ${what.os}`, { os: what.os });
        fs.rmSync(f);
      }
      return this.deleteUnreferenced();
    });
  }

  private writeHistory(domain: string, entries: HistoryEntry[]): void {
    const f = path.join(this.domainsDir, `${domain}.json`);
    if (entries.length === 0) fs.rmSync(f, { force: true });
    else writeFileAtomic(f, JSON.stringify({ domain, entries }, null, 2) + '\n');
  }

  private referenced(): Set<string> {
    const s = new Set<string>();
    for (const d of this.domainNames()) for (const e of this.history(d)) s.add(e.digest);
    for (const b of this.blanks()) s.add(b.digest);
    return s;
  }

  private deleteUnreferenced(): string[] {
    const refs = this.referenced();
    const gone: string[] = [];
    for (const f of fs.readdirSync(this.imagesDir)) {
      if (DIGEST.test(f) && !refs.has(f)) {
        fs.rmSync(path.join(this.imagesDir, f), { force: true });
        fs.rmSync(path.join(this.imagesDir, `${f}.json`), { force: true });
        gone.push(f);
      }
    }
    return gone;
  }

  /** Apply a retention policy; with dryRun, only report what would go. */
  gc(policy: RetentionPolicy, dryRun = false): RetentionPlan {
    return withLock(this.lockFile, () => {
      const entries: { domain?: string; digest: string; addedAt: number; origin?: string }[] = [];
      for (const d of this.domainNames()) for (const e of this.history(d)) entries.push({ domain: d, digest: e.digest, addedAt: Date.parse(e.addedAt) });
      for (const b of this.blanks()) entries.push({ digest: b.digest, addedAt: Date.parse(b.addedAt) });
      const bytes = new Map<string, number>();
      for (const f of fs.readdirSync(this.imagesDir)) if (DIGEST.test(f)) bytes.set(f, this.imageMeta(f)?.bytes ?? fs.statSync(path.join(this.imagesDir, f)).size);
      const plan = planRetention(entries, bytes, policy, Date.now());
      if (dryRun) return plan;
      for (const d of new Set(plan.drop.map((e) => e.domain!))) {
        const dropped = new Set(plan.drop.filter((e) => e.domain === d).map((e) => e.digest));
        this.writeHistory(d, this.history(d).filter((e) => !dropped.has(e.digest)));
      }
      // Stale temp files of interrupted ingests go too.
      for (const f of fs.readdirSync(this.imagesDir)) {
        const m = /\.tmp-(\d+)$/.exec(f);
        if (m && !processAlive(Number(m[1]))) fs.rmSync(path.join(this.imagesDir, f), { force: true });
      }
      this.deleteUnreferenced();
      return plan;
    });
  }
}

/** The format name of an image mig can read (checked before it enters the store). */
function probeImageFormat(image: string): string {
  const img = openImage(image);
  try {
    return img.format;
  } finally {
    img.close();
  }
}
