/** Every fuzz target, by name, in the order `make fuzz` runs them. */
import type { Target } from '../target.js';
import { contextTarget } from './context.js';
import { introspectTarget } from './introspect.js';
import { migDecodeRefTarget, migDecodeTarget } from './mig.js';
import { pagemapTarget } from './pagemap.js';
import { elfDumpTarget, libvirtSaveTarget, qemuStreamTarget, rawTarget } from './readers.js';
import { selftestTarget } from './selftest.js';

export const TARGETS: readonly Target[] = [
  libvirtSaveTarget, qemuStreamTarget, elfDumpTarget, rawTarget, migDecodeTarget, migDecodeRefTarget, pagemapTarget, contextTarget, introspectTarget,
];

/** Internal targets: found by name, never run by default. */
const INTERNAL: readonly Target[] = [selftestTarget];

export function targetByName(name: string): Target {
  const t = TARGETS.find((x) => x.name === name) ?? INTERNAL.find((x) => x.name === name);
  if (!t) throw new Error(`unknown fuzz target "${name}" (one of ${TARGETS.map((x) => x.name).join(', ')})`);
  return t;
}
