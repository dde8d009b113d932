// The launcher, bin/tsvmm: Node starts without NODE_EXTRA_CA_CERTS (the
// launcher says why; Node warns on stderr when that variable names a file it
// cannot read, so a missing file shows whether Node was given it), and from
// the CLI's startup snapshot only where, and with the node, the build made it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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

describe('the launcher and the startup snapshot', () => {
  // A checkout of the launcher alone: a stand-in CLI script, a blob, and a node of our own that says how it was run.
  function checkout(recorded: (root: string, fakeNode: string) => string[]) {
    const root = realpathSync(mkdtempSync(join(tmpdir(), 'tsvmm-launcher-')));
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'dist', 'bundle'), { recursive: true });
    copyFileSync(TSVMM_CLI, join(root, 'bin', 'tsvmm'));
    writeFileSync(join(root, 'bin', 'tsvmm.cjs'), "process.stdout.write('script ' + process.argv.slice(2).join(' '))\n");
    writeFileSync(join(root, 'dist', 'bundle', 'tsvmm.snapshot.blob'), '');
    const fakeNode = join(root, 'node');
    writeFileSync(fakeNode, '#!/bin/sh\necho "snapshot $*"\n', { mode: 0o755 });
    // Made before the record: not newer than it.
    utimesSync(fakeNode, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    writeFileSync(join(root, 'dist', 'bundle', 'snapshot-root'), recorded(root, fakeNode).join('\n') + '\n');
    return { root, fakeNode, run: () => spawnSync(join(root, 'bin', 'tsvmm'), ['--version'], { encoding: 'utf8', timeout: 60_000 }).stdout.trim() };
  }
  const made: string[] = [];
  afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('starts the node that made the snapshot, from it, where the build ran', () => {
    const c = checkout((root, node) => [root, node]);
    made.push(c.root);
    expect(c.run()).toBe(`snapshot --snapshot-blob ${c.root}/dist/bundle/tsvmm.snapshot.blob tsvmm --version`);
  });

  it('runs the script instead from elsewhere, with that node gone, or replaced since', () => {
    const moved = checkout((_root, node) => ['/somewhere/else', node]);
    const gone = checkout((root) => [root, '/no/such/node']);
    const replaced = checkout((root, node) => [root, node]);
    made.push(moved.root, gone.root, replaced.root);
    utimesSync(replaced.fakeNode, new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
    for (const c of [moved, gone, replaced]) expect(c.run()).toBe('script --version');
  });
});
