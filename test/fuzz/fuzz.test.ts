// Every fuzz target (tools/fuzz/) for a fixed number of inputs from a fixed
// seed, so CI fuzzes on every run and a failure replays exactly
// (`npm run fuzz -- --target NAME --case SEED`). Counts, not seconds: tests
// never depend on wall time. Longer runs: docs/fuzzing.md.
import { describe, expect, it } from 'vitest';
import { formatFailure, runTarget } from '../../tools/fuzz/harness.js';
import { TARGET_NAMES, createTarget } from '../../tools/fuzz/targets.js';

const SEED = 20251211;
/** Inputs per target: about 2 s each on the project's 2-core machines. */
const ITERATIONS: Record<string, number> = {
  virtqueue: 8000,
  'virtio-blk': 6000,
  'virtio-net': 2000,
  'virtio-console': 1000,
  'virtio-rng': 4000,
  'virtio-9p': 500,
  'dma-mapper': 6000,
  boot: 800,
  machine: 20000,
  seccomp: 300,
};

describe('fuzz targets (fixed seed, bounded inputs)', () => {
  it('every target has an input count here', () => {
    expect(Object.keys(ITERATIONS).sort()).toEqual([...TARGET_NAMES].sort());
  });

  for (const name of TARGET_NAMES) {
    it(`${name}: ${ITERATIONS[name]} inputs from seed ${SEED}`, { timeout: 120_000 }, () => {
      const target = createTarget(name);
      try {
        const r = runTarget(target, { seed: SEED, iterations: ITERATIONS[name] ?? 100, maxFailures: 3 });
        expect(r.failures.map(formatFailure)).toEqual([]);
        expect(r.iterations).toBe(ITERATIONS[name]);
      } finally {
        target.close?.();
      }
    });
  }
});
