/**
 * Parsers of option values for commander, shared by the commands. Each throws commander's
 * InvalidArgumentError, which the CLI reports with the option's name and exits 2 (usage).
 */
import { InvalidArgumentError } from 'commander';

/** A whole number in min..max, written in decimal digits ("1e3", "+5", "" and "1.0" are refused). */
export function intOption(name: string, min: number, max = Infinity): (v: string) => number {
  return (v) => {
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Infinity ? `${name} must be an integer ≥ ${min}` : `${name} must be an integer in ${min}..${max}`);
    }
    return n;
  };
}

/** A finite number > 0 (fractions allowed: megabits per second, seconds). */
export function positiveOption(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a positive number`);
    return n;
  };
}

/** Any parser that throws an Error with a message (parseAge, parseSize) as an option parser. */
export function parsedOption<T>(f: (s: string) => T): (s: string) => T {
  return (s) => {
    try {
      return f(s);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}
