// The committed guest binaries are what their sources assemble to.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { describeNeeding } from '../support/host-requirements.js';

const GUESTS = join(PROJECT_ROOT, 'test', 'guests');
let binutils = true;
try {
  execFileSync('as', ['--version'], { stdio: 'ignore' });
} catch {
  binutils = false;
}

describeNeeding(binutils ? undefined : 'no binutils (as, ld)', 'test guest binaries', () => {
  it('match their sources (run test/guests/build.sh after editing one)', () => {
    const out = mkdtempSync(join(tmpdir(), 'tsvmm-guests-'));
    execFileSync('bash', [join(GUESTS, 'build.sh')], { env: { ...process.env, OUT: out }, stdio: 'ignore' });
    const built = readdirSync(out).sort();
    expect(built).toEqual(readdirSync(join(GUESTS, 'bin')).sort());
    try {
      for (const name of built) expect([name, readFileSync(join(out, name)).equals(readFileSync(join(GUESTS, 'bin', name)))]).toEqual([name, true]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
