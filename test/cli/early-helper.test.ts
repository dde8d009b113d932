// The helper's early start (src/cli/early-helper.ts): from its own bundle,
// before the CLI's is read, and before any FFI declaration runs unless the
// frontend inherited a descriptor that must be marked close-on-exec first,
// which takes fcntl. A preloaded spy in the real CLI reports the process's
// state when it first spawns, then ends it (and with it the --no-sandbox
// helper): no KVM needed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundledModules, modulesRunOnImport } from '../../tools/build/bundle.js';
import { COMPILED_ENTRY_POINTS, TSVMM_CLI } from '../../src/entry-points.js';
import { PROJECT_ROOT } from '../../src/project-root.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-early-helper-'));
const inherited = join(dir, 'inherited');
writeFileSync(inherited, 'x\n');
const spy = join(dir, 'spy.cjs');
writeFileSync(
  spy,
  `const cp = require('node:child_process');
   const fs = require('node:fs');
   const read = [];
   const readFileSync = fs.readFileSync;
   fs.readFileSync = function (path, ...rest) { read.push(String(path)); return readFileSync.call(this, path, ...rest); };
   const spawn = cp.spawn;
   cp.spawn = function (...args) {
     const cliBundleRead = read.some((p) => p.endsWith('/tsvmm.code.cjs'));
     let fd200 = 'closed';
     try { fd200 = (parseInt(/^flags:\\s*([0-7]+)/m.exec(fs.readFileSync('/proc/self/fdinfo/200', 'latin1'))[1], 8) & 0o2000000) ? 'close-on-exec' : 'inheritable'; } catch {}
     process.stderr.write('spawn ' + JSON.stringify({ cliBundleRead, fd200 }) + '\\n');
     setImmediate(() => process.exit(0));
     return spawn.apply(this, args);
   };
   // What the CLI inherited from the test runner, but for fd 200, is not under test.
   for (const fd of fs.readdirSync('/proc/self/fd').map(Number)) {
     let flags; try { flags = parseInt(/^flags:\\s*([0-7]+)/m.exec(fs.readFileSync('/proc/self/fdinfo/' + fd, 'latin1'))[1], 8); } catch { continue; }
     if (fd > 2 && fd !== 200 && !(flags & 0o2000000)) fs.closeSync(fd);
   }
`,
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The first spawn of `tsvmm ARGS`, as the spy saw it (undefined: none). */
function firstSpawn(args: string[], inheritFd200: boolean): { cliBundleRead: boolean; fd200: string } | undefined {
  const node = [process.execPath, '-r', spy, TSVMM_CLI, ...args];
  // bash opens fd 200 without close-on-exec, as a shell does for `exec 200<file`.
  const r = inheritFd200
    ? spawnSync('bash', ['-c', 'exec 200<"$1"; shift; exec "$@"', 'bash', inherited, ...node], { encoding: 'utf8', timeout: 60_000 })
    : spawnSync(node[0], node.slice(1), { encoding: 'utf8', timeout: 60_000 });
  const line = /^spawn (.*)$/m.exec(r.stderr);
  return line ? JSON.parse(line[1]) : undefined;
}

describe('the early helper start', () => {
  it('runs before any FFI module in the bundle (close-on-exec.ts is deferred)', () => {
    const early = join(PROJECT_ROOT, COMPILED_ENTRY_POINTS.tsvmm, '..', 'early-helper.js');
    const run = modulesRunOnImport(early);
    expect(run.some((p) => p.endsWith('/sandbox/close-on-exec.js'))).toBe(false);
    expect(run.filter((p) => /\/ffi\/|koffi/.test(p))).toEqual([]);
    expect(bundledModules(early).some((p) => p.path.endsWith('/ffi/libc.js'))).toBe(true); // through close-on-exec.ts
  });

  it("spawns the helper for run and exec before the CLI's bundle is read", () => {
    expect(firstSpawn(['run', '--no-sandbox'], false)).toEqual({ cliBundleRead: false, fd200: 'closed' });
    expect(firstSpawn(['exec', '--no-sandbox', '--', 'true'], false)).toEqual({ cliBundleRead: false, fd200: 'closed' });
  });

  it('first marks close-on-exec a descriptor the frontend inherited', () => {
    expect(firstSpawn(['run', '--no-sandbox'], true)).toEqual({ cliBundleRead: false, fd200: 'close-on-exec' });
  });

  it('spawns nothing for other commands', () => {
    expect(firstSpawn(['run', '--help'], false)).toBeUndefined();
    expect(firstSpawn(['--version'], false)).toBeUndefined();
  });
});
