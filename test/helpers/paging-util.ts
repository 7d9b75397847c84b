/** Small helpers the per-mode paging tests share. */
import { PageTableWalker } from '../../src/introspect/x86/paging.js';

/**
 * First mapped vpn in [vpn, end), or -1, jumping over unmapped regions by the walker's
 * lastSkipPages (how a scanning caller is meant to use it). `steps` counts the walks.
 */
export function nextMappedVpn(w: PageTableWalker, vpn: number, end: number): { vpn: number; steps: number } {
  let steps = 0;
  while (vpn < end) {
    steps++;
    if (w.translateVpn(vpn) >= 0) return { vpn, steps };
    const skip = w.lastSkipPages;
    vpn = vpn - (vpn % skip) + skip;
  }
  return { vpn: -1, steps };
}

/** Every leaf as [vpn, pfn, pages]. */
export function leaves(w: PageTableWalker, start: number, end: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  w.forEachLeaf(start, end, (vpn, pfn, pages) => out.push([vpn, pfn, pages]));
  return out;
}
