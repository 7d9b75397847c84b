/**
 * The page map `mig encode` uses when none is given: built by guest introspection, or none with the
 * reason (callers print `mig: no page map (<reason>); encoding generically`: see noPageMapLine) —
 * encoding never fails for it.
 */
import { openImage } from '../image/probe.js';
import type { OpenedImage } from '../image/types.js';
import { introspect, pageMapFailureReason } from '../introspect/index.js';
import type { PageMap } from '../introspect/pagemap.js';

export type PageMapSource =
  | { source: 'none'; error?: string }
  | { source: 'file'; file?: string }
  | { source: 'introspection'; os: string; osRelease: string; seconds: number };

/**
 * Introspect `image`. The opened image is returned (`opened`, the caller closes it) so that the
 * encoder reuses it instead of parsing the file a second time; when it cannot be opened, `opened` is
 * undefined and the encoder opens it itself and reports what is wrong with it.
 */
export function introspectPageMap(image: string): { map?: PageMap; info: PageMapSource; opened?: OpenedImage } {
  let img: OpenedImage;
  try {
    img = openImage(image);
  } catch {
    return { info: { source: 'none', error: 'image could not be opened' } };
  }
  try {
    // The encoder finds zero pages itself: skip reading the untyped pages for that.
    const b = introspect(img, { zero: false });
    return { map: b.map, info: { source: 'introspection', os: b.os, osRelease: b.osRelease, seconds: Math.round(b.seconds * 1000) / 1000 }, opened: img };
  } catch (e) {
    return { info: { source: 'none', error: pageMapFailureReason(e) }, opened: img };
  }
}

/** The line callers print when introspection gave no page map (undefined when it did, or was not asked). */
export function noPageMapLine(info: PageMapSource): string | undefined {
  return info.source === 'none' && info.error !== undefined && info.error !== 'image could not be opened' ? `mig: no page map (${info.error}); encoding generically\n` : undefined;
}
