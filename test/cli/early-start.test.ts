// The early start of the helper and exec's share processes
// (src/cli/early-start.ts): from its own bundle, before the CLI's is read,
// and before any FFI declaration runs unless the frontend inherited a
// descriptor that must be marked close-on-exec first, which takes fcntl. A
// preloaded spy in the real CLI reports the process's state at each spawn
// of the first turn, then ends it (and with it the --no-sandbox children):
// no KVM needed. From the CLI's startup snapshot (bin/tsvmm), where no spy
// can run first, the command's debug log says what the early start did.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startsDeviceProcessesEarly } from '../../src/cli/early-start.js';
import { bundledModules, modulesRunOnImport } from '../../tools/build/bundle.js';
import { COMPILED_ENTRY_POINTS, TSVMM_CLI, TSVMM_CLI_SCRIPT, entryPointArgs } from '../../src/entry-points.js';
import { PROJECT_ROOT } from '../../src/project-root.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-early-start-'));
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
   const spawns = [];
   cp.spawn = function (command, args, ...rest) {
     const cliBundleRead = read.some((p) => p.endsWith('/tsvmm.code.cjs'));
     let fd200 = 'closed';
     try { fd200 = (parseInt(/^flags:\\s*([0-7]+)/m.exec(fs.readFileSync('/proc/self/fdinfo/200', 'latin1'))[1], 8) & 0o2000000) ? 'close-on-exec' : 'inheritable'; } catch {}
     const script = String(args[args.length - 1]).split('/').pop();
     if (spawns.push({ script, cliBundleRead, fd200 }) === 1)
       setImmediate(() => {
         process.stderr.write('spawns ' + JSON.stringify(spawns) + '\\n');
         process.exit(0);
       });
     return spawn.call(this, command, args, ...rest);
   };
   // What the CLI inherited from the test runner, but for fd 200, is not under test.
   for (const fd of fs.readdirSync('/proc/self/fd').map(Number)) {
     let flags; try { flags = parseInt(/^flags:\\s*([0-7]+)/m.exec(fs.readFileSync('/proc/self/fdinfo/' + fd, 'latin1'))[1], 8); } catch { continue; }
     if (fd > 2 && fd !== 200 && !(flags & 0o2000000)) fs.closeSync(fd);
   }
`,
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Spawn {
  script: string;
  cliBundleRead: boolean;
  fd200: string;
}

/** The spawns of `tsvmm ARGS`'s first turn, as the spy saw them (undefined: none). */
function firstSpawns(args: string[], inheritFd200: boolean, earlyDevices = '1'): Spawn[] | undefined {
  const node = [process.execPath, '-r', spy, TSVMM_CLI_SCRIPT, ...args];
  const options = { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TSVMM_EARLY_DEVICES: earlyDevices } } as const;
  // bash opens fd 200 without close-on-exec, as a shell does for `exec 200<file`.
  const r = inheritFd200
    ? spawnSync('bash', ['-c', 'exec 200<"$1"; shift; exec "$@"', 'bash', inherited, ...node], options)
    : spawnSync(node[0], node.slice(1), options);
  const line = /^spawns (.*)$/m.exec(r.stderr);
  return line ? JSON.parse(line[1]) : undefined;
}

/** What names the process last in its command line: its startup snapshot, or its script. */
const started = (name: 'helper' | 'device-process') => basename(entryPointArgs(name).at(-1)!);
const helper = { script: started('helper'), cliBundleRead: false, fd200: 'closed' };
const deviceProcess = { ...helper, script: started('device-process') };

describe('the early start', () => {
  it('runs before any FFI module in the bundle (close-on-exec.ts is deferred)', () => {
    const early = join(PROJECT_ROOT, COMPILED_ENTRY_POINTS.tsvmm, '..', 'early-start.js');
    const run = modulesRunOnImport(early);
    expect(run.some((p) => p.endsWith('/sandbox/close-on-exec.js'))).toBe(false);
    expect(run.filter((p) => /\/ffi\/|koffi/.test(p))).toEqual([]);
    expect(bundledModules(early).some((p) => p.path.endsWith('/ffi/libc.js'))).toBe(true); // through close-on-exec.ts
  });

  it("spawns the helper for run, and also exec's share process for exec, before the CLI's bundle is read", () => {
    expect(firstSpawns(['run', '--no-sandbox'], false)).toEqual([helper]);
    expect(firstSpawns(['exec', '--no-sandbox', '--', 'true'], false)).toEqual([helper, deviceProcess]);
    // Not early: once the plan is known (in the same first turn, but after the CLI's bundle).
    expect(firstSpawns(['exec', '--no-sandbox', '--', 'true'], false, '0')).toEqual([helper, { ...deviceProcess, cliBundleRead: true }]);
  });

  it("starts exec's share process early when the frontend, the helper and it have a CPU each", () => {
    expect([2, 3, 4, 8].map((cpus) => startsDeviceProcessesEarly({}, cpus))).toEqual([false, true, true, true]);
    expect(startsDeviceProcessesEarly({ TSVMM_EARLY_DEVICES: '1' }, 2)).toBe(true);
    expect(startsDeviceProcessesEarly({ TSVMM_EARLY_DEVICES: '0' }, 8)).toBe(false);
  });

  it('first marks close-on-exec a descriptor the frontend inherited', () => {
    const marked = { fd200: 'close-on-exec' };
    expect(firstSpawns(['exec', '--no-sandbox', '--', 'true'], true)).toEqual([{ ...helper, ...marked }, { ...deviceProcess, ...marked }]);
  });

  it("runs from the CLI's startup snapshot too, where fcntl's binding comes after it (ffi/deferred-koffi.ts)", () => {
    // The kernel is read after the early start and before the later one: a
    // helper started is one started early.
    const report = (inheritFd200: boolean) => {
      const log = join(dir, `snapshot-${inheritFd200}.log`);
      const args = ['run', '--no-sandbox', '--log-level', 'debug', '--log-file', log, '--kernel', join(dir, 'no-such-kernel'), '--', 'true'];
      const r = inheritFd200
        ? spawnSync('bash', ['-c', 'exec 200<"$1"; shift; exec "$@"', 'bash', inherited, TSVMM_CLI, ...args], { encoding: 'utf8', timeout: 60_000 })
        : spawnSync(TSVMM_CLI, args, { encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toContain('cannot read the kernel');
      const line = readFileSync(log, 'utf8').split('\n').find((l) => l.includes('"msg":"early start"'));
      return JSON.parse(line!) as { started?: { helper?: number }; markedCloseOnExec?: number[]; failed?: string };
    };
    const plain = report(false);
    expect(plain.started?.helper).toBeGreaterThan(0);
    expect(plain.markedCloseOnExec).not.toContain(200);
    const withInherited = report(true);
    expect(withInherited.failed).toBeUndefined();
    expect(withInherited.started?.helper).toBeGreaterThan(0);
    expect(withInherited.markedCloseOnExec).toContain(200);
  });

  it('spawns nothing for other commands', () => {
    expect(firstSpawns(['run', '--help'], false)).toBeUndefined();
    expect(firstSpawns(['--version'], false)).toBeUndefined();
  });
});
