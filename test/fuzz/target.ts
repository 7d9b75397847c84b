/**
 * What a fuzz target is. The parent thread builds seeds and mutates them (deterministically from the
 * run's seed and the case number); a worker thread runs `exec` on the mutated bytes. Everything a
 * target's exec needs besides its input (a baseline image, a context file) is a resource, rebuilt
 * byte for byte from code wherever it is needed (the runner, the corpus replay test).
 */
import type { Layout } from './mutate.js';
import type { Rng } from './rng.js';

/** Per-case parameters the input file does not carry (kept in a reproducer's .json). */
export type Params = Record<string, string | number | boolean>;

export interface Seed {
  name: string;
  bytes: Buffer;
  params?: Params;
  layout?: Layout;
  /** Relative chance of being picked (default 1). */
  weight?: number;
  /** Anything else the target's mutator wants (parsed structure). */
  extra?: unknown;
}

export interface FuzzCase {
  bytes: Buffer;
  params: Params;
  seed: string;
  desc: string[];
}

export interface ExecEnv {
  /** Scratch directory of this worker (tmpfs when available): inputs and outputs go here. */
  tmp: string;
  resources: Record<string, string>;
}

/** What exec reports besides success (counted in the figures). */
export interface ExecNote {
  /** The case hit a harness bound (output cap, a memory view read by sampling) rather than finishing. */
  capped?: string;
}

export interface Target {
  name: string;
  about: string;
  /** Name of the input file (some readers look at nothing but the bytes; the decoder wants a .mig). */
  fileName: string;
  /** Resources written under dir, by name (deterministic bytes). */
  resources?(dir: string): Promise<Record<string, string>> | Record<string, string>;
  seeds(resources: Record<string, string>): Promise<Seed[]> | Seed[];
  mutate(seed: Seed, rng: Rng, all: readonly Seed[]): FuzzCase;
  /**
   * Run mig on the input at `path`. Return normally when mig accepted it; throw whatever mig threw.
   * A thrown FuzzOracleError is a failure even though mig did not crash (an invariant broke).
   */
  exec(path: string, params: Params, env: ExecEnv): ExecNote | void;
  /** Bytes of memory the input justifies (the memory budget is this plus a fixed allowance). */
  budget(bytes: number, params: Params, head: Buffer): number;
}

/** An invariant the fuzz target checks (rebuild ≠ input, slots disagreeing with memory, …). */
export class FuzzOracleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FuzzOracleError';
  }
}

/** Pick a seed by weight. */
export function pickSeed(seeds: readonly Seed[], rng: Rng): Seed {
  return rng.weighted(seeds.map((s) => [s.weight ?? 1, s] as const));
}
