// The fuzzing harness: a target turns a seeded PRNG into one input, runs the
// code under test on it and checks invariants; the runner feeds it inputs for
// a number of iterations (tests: deterministic, never wall time) or for a
// number of seconds (the CLI, on demand), and reports the rate and every
// failure with the case seed that regenerates its input exactly.
//
// Every input is derived from its own case seed (a hash of the run's seed and
// the iteration number), and targets reset whatever state they keep before
// each input, so one case replays alone: `npm run fuzz -- --target T --case C`.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { Prng } from '../../test/memory/dma-test-support.js';

export { Prng };

/** An invariant the code under test broke (as opposed to an error it threw). */
export class InvariantViolation extends Error {
  override name = 'InvariantViolation';
}

export function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new InvariantViolation(what);
}

export interface FuzzTarget<I = unknown> {
  readonly name: string;
  readonly description: string;
  /** Builds one input from the PRNG (pure: the same seed gives the same input). */
  generate(rng: Prng): I;
  /** Runs the code under test on `input`; throws InvariantViolation (or anything else) on failure. */
  execute(input: I): void;
  /** A printable form of the input, for failure reports. */
  describe(input: I): string;
  /** How inputs ended (accepted, refused with which error, ...): shows the generator reaches every path. */
  readonly outcomes?: Outcomes;
  /** Releases what the target allocated (guest memory, mappers). */
  close?(): void;
}

/** Counts of named outcomes. */
export class Outcomes {
  readonly counts = new Map<string, number>();
  add(what: string): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
  }
  toString(): string {
    return [...this.counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  }
}

export interface FuzzFailure {
  target: string;
  caseSeed: number;
  iteration: number;
  input: string;
  error: string;
}

export interface FuzzRunResult {
  target: string;
  iterations: number;
  seconds: number;
  failures: FuzzFailure[];
}

export interface FuzzRunOptions {
  seed: number;
  /** Stop after this many inputs... */
  iterations?: number;
  /** ...or after this many seconds (CLI only). */
  seconds?: number;
  /** Stop at the first failure (default: collect up to maxFailures). */
  maxFailures?: number;
  /** Called after each failure (the CLI prints it at once). */
  onFailure?: (f: FuzzFailure) => void;
}

/** The case seed of iteration `i` of a run seeded `seed` (splitmix-style mixing, 32 bits). */
export function caseSeed(seed: number, i: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca77)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Runs one case; returns the failure or null. */
export function runCase<I>(target: FuzzTarget<I>, seed: number, iteration = -1): FuzzFailure | null {
  let input: I | undefined;
  try {
    input = target.generate(new Prng(seed));
    target.execute(input);
    return null;
  } catch (e) {
    let shown = '(input generation failed)';
    if (input !== undefined) {
      try {
        shown = target.describe(input);
      } catch (d) {
        shown = `(describe failed: ${String(d)})`;
      }
    }
    return { target: target.name, caseSeed: seed, iteration, input: shown, error: describeError(e) };
  }
}

export function runTarget<I>(target: FuzzTarget<I>, o: FuzzRunOptions): FuzzRunResult {
  const failures: FuzzFailure[] = [];
  const maxFailures = o.maxFailures ?? 10;
  const start = process.hrtime.bigint();
  const deadline = o.seconds === undefined ? undefined : start + BigInt(Math.round(o.seconds * 1e9));
  let i = 0;
  for (;;) {
    if (o.iterations !== undefined && i >= o.iterations) break;
    // the clock is read every 16 inputs: cheap, and only the CLI uses it
    if (deadline !== undefined && (i & 15) === 0 && process.hrtime.bigint() >= deadline) break;
    const f = runCase(target, caseSeed(o.seed, i), i);
    i++;
    if (f !== null) {
      failures.push(f);
      o.onFailure?.(f);
      if (failures.length >= maxFailures) break;
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { target: target.name, iterations: i, seconds, failures };
}

export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const stack = (e.stack ?? `${e.name}: ${e.message}`).split('\n').slice(0, 8).join('\n');
    return e.cause === undefined ? stack : `${stack}\n  caused by: ${describeError(e.cause)}`;
  }
  return `non-Error thrown: ${String(e)}`;
}

export function formatFailure(f: FuzzFailure): string {
  return [
    `FAILURE in ${f.target} (iteration ${f.iteration}, case seed ${f.caseSeed})`,
    `  reproduce: npm run fuzz -- --target ${f.target} --case ${f.caseSeed}`,
    `  input: ${f.input}`,
    `  ${f.error.replace(/\n/g, '\n  ')}`,
  ].join('\n');
}

/** JSON with bigints and typed arrays, cut to `max` characters. */
export function show(value: unknown, max = 4000): string {
  const s = JSON.stringify(value, (_k, v) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v instanceof Uint8Array) return `<${v.length} bytes: ${hexPrefix(v, 48)}>`;
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    return v;
  });
  return s.length > max ? `${s.slice(0, max)}… (${s.length} characters)` : s;
}

export function hexPrefix(b: Uint8Array, n: number): string {
  const head = Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, '0')).join('');
  return b.length > n ? `${head}…` : head;
}

/** Values at the edges of integer ranges, where parsers tend to break. */
export const INTERESTING_U32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x1ff, 0x200, 0xfff, 0x1000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffff0, 0xfffffffe, 0xffffffff];

/** The same byte-level mutator the hostile-image tests use, driven by `rng`. */
export function unitInterval(rng: Prng): () => number {
  return () => rng.u32() / 0x1_0000_0000;
}

/** A file of the checkout (seed inputs), also when the harness was compiled to a folder outside it. */
export function repoFile(relative: string): string {
  for (const root of [PROJECT_ROOT, process.cwd()]) {
    const p = join(root, relative);
    if (existsSync(p)) return p;
  }
  throw new Error(`fuzz: cannot find ${relative} (run from the checkout)`);
}
