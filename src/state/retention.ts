/**
 * Baseline retention (`mig baseline gc`), as a pure function over the store's entries so it can be
 * tested on its own: which per-domain history entries to drop, then which images nothing refers to.
 * Blank baselines are never dropped by gc (only `mig baseline rm` removes them).
 */
export interface RetentionEntry {
  /** The domain whose history holds it, or undefined for a blank baseline. */
  domain?: string;
  digest: string;
  /** ms since the epoch. */
  addedAt: number;
}

export interface RetentionPolicy {
  /** Keep at most this many entries per domain (newest first). */
  keep?: number;
  /** Drop domain entries older than this (ms). */
  maxAgeMs?: number;
  /** Drop the oldest domain entries until the images still referred to take at most this many bytes. */
  maxBytes?: number;
}

export interface RetentionPlan {
  drop: RetentionEntry[];
  /** Images no kept entry refers to any more. */
  deleteImages: string[];
  /** Bytes of the images kept. */
  keptBytes: number;
}

export function planRetention(entries: RetentionEntry[], imageBytes: Map<string, number>, policy: RetentionPolicy, now: number): RetentionPlan {
  const drop = new Set<RetentionEntry>();
  const byDomain = new Map<string, RetentionEntry[]>();
  for (const e of entries) {
    if (e.domain === undefined) continue;
    let list = byDomain.get(e.domain);
    if (!list) byDomain.set(e.domain, (list = []));
    list.push(e);
  }
  for (const list of byDomain.values()) {
    list.sort((a, b) => b.addedAt - a.addedAt);
    list.forEach((e, i) => {
      if (policy.keep !== undefined && i >= policy.keep) drop.add(e);
      if (policy.maxAgeMs !== undefined && now - e.addedAt > policy.maxAgeMs) drop.add(e);
    });
  }
  const keptBytes = () => {
    const seen = new Set<string>();
    for (const e of entries) if (!drop.has(e)) seen.add(e.digest);
    let n = 0;
    for (const d of seen) n += imageBytes.get(d) ?? 0;
    return n;
  };
  if (policy.maxBytes !== undefined) {
    const oldestFirst = entries.filter((e) => e.domain !== undefined && !drop.has(e)).sort((a, b) => a.addedAt - b.addedAt);
    for (const e of oldestFirst) {
      if (keptBytes() <= policy.maxBytes) break;
      drop.add(e);
    }
  }
  const referenced = new Set(entries.filter((e) => !drop.has(e)).map((e) => e.digest));
  const deleteImages = [...imageBytes.keys()].filter((d) => !referenced.has(d)).sort();
  return { drop: entries.filter((e) => drop.has(e)), deleteImages, keptBytes: keptBytes() };
}

/** "30d", "12h", "90m", "45s" or a plain number of days → ms. */
export function parseAge(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(s.trim());
  if (!m) throw new Error(`bad age ${JSON.stringify(s)} (use e.g. 30d, 12h, 90m)`);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, '': 86400e3 }[m[2] as 's' | 'm' | 'h' | 'd' | ''];
  return Number(m[1]) * unit;
}

/** "10G", "512M", "1.5T", "4096" (bytes) → bytes (binary units). */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)(?:i?B)?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${JSON.stringify(s)} (use e.g. 10G, 512M)`);
  const unit = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.floor(Number(m[1]) * unit);
}
