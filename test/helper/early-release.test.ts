// The helper's stub gives back node's start-up pages before the helper's
// bundle loads (src/helper/early-release.ts): its peak RSS at start-up is
// then node's own start, not that plus the bundle's load. Compared in the
// same run with the release switched off, by the kernel's own high-water
// mark (VmHWM). Reads dist/ (npm test builds it first).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { bundleFile } from '../../src/entry-points.js';

/** The helper's start alone (without a frontend it ends once its code has loaded): its VmHWM in KiB. */
function startPeakKiB(earlyRelease: '0' | '1'): number {
  const script = `process.on('exit', () => process.stderr.write(require('node:fs').readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\\s+(\\d+)/)[1] + '\\n'));
    require(${JSON.stringify(bundleFile('helper'))});`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, TSVMM_EARLY_PAGE_RELEASE: earlyRelease }, encoding: 'utf8', timeout: 60_000 });
  const kib = Number(r.stderr.trim().split('\n').at(-1));
  expect(Number.isInteger(kib), r.stderr).toBe(true);
  return kib;
}

describe("the helper's early page release", () => {
  it('keeps the start-up peak several MiB below what it is without the release', () => {
    const peaks = { with: [] as number[], without: [] as number[] };
    for (let i = 0; i < 3; i++) {
      peaks.with.push(startPeakKiB('1'));
      peaks.without.push(startPeakKiB('0'));
    }
    // Natively ~45 against ~55 MiB (docs/helper-memory.md): the bundle's load no longer adds to node's own start.
    expect(Math.max(...peaks.with) + 4096, JSON.stringify(peaks)).toBeLessThan(Math.min(...peaks.without));
  });
});
