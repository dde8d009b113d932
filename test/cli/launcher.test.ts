// bin/tsvmm.cjs run as a program: Node starts without NODE_EXTRA_CA_CERTS
// (the launcher says why). Node warns on stderr when that variable names a
// file it cannot read, so a missing file shows whether Node was given it.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TSVMM_CLI, TSVMM_CLI_SCRIPT } from '../../src/entry-points.js';
import { PROJECT_ROOT } from '../../src/project-root.js';

const VERSION = `${JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')).version}\n`;
const env = { ...process.env, NODE_EXTRA_CA_CERTS: join(PROJECT_ROOT, 'no-such-ca-bundle.pem') };
const WARNING = /Ignoring extra certs/;

describe('the launcher', () => {
  it('starts Node without NODE_EXTRA_CA_CERTS when run as a program', () => {
    const r = spawnSync(TSVMM_CLI, ['--version'], { encoding: 'utf8', env, timeout: 60_000 });
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: VERSION, stderr: '' });
  });

  it('is what drops it: Node itself reads it (the check above can fail)', () => {
    const r = spawnSync(process.execPath, [TSVMM_CLI_SCRIPT, '--version'], { encoding: 'utf8', env, timeout: 60_000 });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 0, stdout: VERSION });
    expect(r.stderr).toMatch(WARNING);
  });
});
