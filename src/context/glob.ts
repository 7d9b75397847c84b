/**
 * Path globs for `mig context build --include`: patterns over paths relative to the guest's
 * file-system root ("usr/share/**", "etc/*.conf", "**\/*.py").
 *
 * Syntax (a deliberate subset; Node 20's `path.matchesGlob` exists but prints an
 * ExperimentalWarning on first use, so it is not used):
 *   `*`   any run of characters except `/` (may be empty)
 *   `?`   exactly one character except `/`
 *   `**`  as a whole path segment: zero or more whole segments ("a/**\/b" matches "a/b", "a/x/y/b";
 *         "a/**" matches everything below a; "**\/*.py" matches "x.py" and "a/b/x.py")
 *   anything else matches itself; there is no escaping and no `[...]` class.
 * Dot files are matched like any other name. A leading `/` is ignored ("/etc/**" = "etc/**").
 * Matching is on the UTF-8 decoding of the path bytes.
 */
import { UsageError } from '../util/errors.js';

export interface Glob {
  /** The pattern as given, normalised (leading `/` and `./` removed, `//` collapsed). */
  pattern: string;
  /** The directory below which every match lies ("" = the root): the segments before the first wildcard. */
  prefix: string;
  test(path: string): boolean;
}

function segmentSource(seg: string): string {
  let re = '';
  for (const ch of seg) {
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  }
  return re;
}

/** Compile one glob; throws UsageError on an empty pattern, `..` segments, or a NUL/newline. */
export function compileGlob(pattern: string): Glob {
  if (/[\0\n]/.test(pattern)) throw new UsageError(`--include ${JSON.stringify(pattern)}: NUL and newline are not allowed`);
  const segs = pattern.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.length === 0) throw new UsageError(`--include ${JSON.stringify(pattern)}: empty pattern`);
  if (segs.includes('..')) throw new UsageError(`--include ${JSON.stringify(pattern)}: ".." is not allowed (globs are relative to the file-system root)`);
  for (const s of segs) {
    if (s.includes('**') && s !== '**') throw new UsageError(`--include ${JSON.stringify(pattern)}: "**" must be a whole path segment`);
  }

  // Build the regex segment by segment. A `**` segment absorbs its own separator, so
  // "a/**/b" → ^a/(?:[^/]+/)*b$ and a trailing "a/**" → ^a(?:/.*)?$ — but "a/**" needs something
  // below a to be a *file* path, so it is ^a/.+$ (a itself is a directory, never listed).
  let src = '';
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    const last = i === segs.length - 1;
    if (s === '**') {
      src += last ? (i === 0 ? '.+' : '/.+') : (i === 0 ? '(?:[^/]+/)*' : '/(?:[^/]+/)*');
    } else {
      if (i > 0 && segs[i - 1] !== '**') src += '/';
      src += segmentSource(s);
    }
  }
  const re = new RegExp(`^${src}$`, 's');

  const firstWild = segs.findIndex((s) => /[*?]/.test(s));
  // Without wildcards the pattern names one file: walk its directory.
  const prefixSegs = firstWild < 0 ? segs.slice(0, -1) : segs.slice(0, firstWild);
  return { pattern: segs.join('/'), prefix: prefixSegs.join('/'), test: (p) => re.test(p) };
}

/** True when `path` equals `dir` or lies below it ("" is the root and contains everything). */
export function isUnder(path: string, dir: string): boolean {
  return dir === '' || path === dir || (path.startsWith(dir) && path.charCodeAt(dir.length) === 0x2f);
}

/** Drop every directory that lies below another one in the list; sorted, deduplicated. */
export function collapseDirs(dirs: string[]): string[] {
  const sorted = [...new Set(dirs)].sort();
  const out: string[] = [];
  for (const d of sorted) if (!out.some((o) => isUnder(d, o))) out.push(d);
  return out;
}
