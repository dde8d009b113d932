// What reaches a helper or device process besides what the launch names
// (security audit, issue 11): descriptors the frontend inherited, and the
// user's environment. The pure pieces, and both fd fixes run for real in child
// processes (no KVM needed: the jail itself is tested in *.kvm.test.ts).
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { F_GETFD, F_SETFD, FD_CLOEXEC, fcntl } from '../../ffi/libc.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { markInheritedFdsCloseOnExec } from '../../src/sandbox/close-on-exec.js';
import { buildJailLaunch, openFds, pickEnvironment, strayFds } from '../../src/sandbox/jail-launch.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-stray-fds-'));
const secret = join(dir, 'secret');
writeFileSync(secret, 'not for the jail\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The fds of a child started as `bash -c 'exec 200<secret; exec ...'`, as it lists them itself. */
const LIST_FDS = `process.stdout.write(JSON.stringify(require('fs').readdirSync('/proc/self/fd').map(Number)))`;

describe('stray descriptors', () => {
  it('are the ones above stdio, not close-on-exec, and not kept', () => {
    const open = [
      { fd: 0, cloexec: false },
      { fd: 2, cloexec: false },
      { fd: 3, cloexec: false },
      { fd: 4, cloexec: true },
      { fd: 5, cloexec: false },
      { fd: 200, cloexec: false },
    ];
    expect(strayFds(open)).toEqual([3, 5, 200]);
    expect(strayFds(open, [3, 5])).toEqual([200]);
  });

  it('lists this process with its close-on-exec flags', () => {
    const fd = openSync(secret, 'r');
    try {
      expect(openFds().find((f) => f.fd === fd)).toEqual({ fd, cloexec: true }); // node opens with O_CLOEXEC
      fcntl(fd, F_SETFD, 0);
      expect(openFds().find((f) => f.fd === fd)).toEqual({ fd, cloexec: false });
    } finally {
      closeSync(fd);
    }
  });

  it('the frontend marks what it inherited close-on-exec, so a spawned child does not get it', () => {
    const fd = openSync(secret, 'r');
    try {
      fcntl(fd, F_SETFD, 0); // as if inherited from the shell
      const before = spawnSync(process.execPath, ['-e', LIST_FDS], { encoding: 'utf8' });
      expect(JSON.parse(before.stdout)).toContain(fd); // libuv's spawn closes nothing: the leak
      expect(markInheritedFdsCloseOnExec()).toContain(fd);
      expect((fcntl(fd, F_GETFD, 0) as number) & FD_CLOEXEC).toBe(FD_CLOEXEC);
      const after = spawnSync(process.execPath, ['-e', LIST_FDS], { encoding: 'utf8' });
      expect(JSON.parse(after.stdout)).not.toContain(fd);
    } finally {
      closeSync(fd);
    }
  });

  it("a child closes the descriptors that came through exec unnamed, and keeps node's own and the named ones", () => {
    // Needs the compiled tree (npm test builds it first), as the helper does.
    const module = join(PROJECT_ROOT, 'dist', 'src', 'sandbox', 'close-stray-fds.js');
    const script = `
      const { closeStrayFds } = await import(${JSON.stringify(module)});
      const fs = await import('node:fs');
      const closed = closeStrayFds([201]);
      const left = fs.readdirSync('/proc/self/fd').map(Number);
      // node still works after it: its event loop's descriptors are untouched
      await new Promise((r) => setTimeout(r, 10));
      process.stdout.write(JSON.stringify({ closed, left }));`;
    const r = spawnSync('bash', ['-c', `exec 200<"$1"; exec 201<"$1"; exec "$2" --input-type=module -e "$3"`, 'bash', secret, process.execPath, script], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    const { closed, left } = JSON.parse(r.stdout) as { closed: number[]; left: number[] };
    expect(closed).toContain(200);
    expect(left).not.toContain(200);
    expect(left).toContain(201);
  });

  it("keeps V8's perf map under --perf-basic-prof (TSVMM_HELPER_NODE_ARGS), which V8 opened without close-on-exec", () => {
    const module = join(PROJECT_ROOT, 'dist', 'src', 'sandbox', 'close-stray-fds.js');
    const script = `
      const { closeStrayFds } = await import(${JSON.stringify(module)});
      const fs = await import('node:fs');
      const perfMap = () => fs.readdirSync('/proc/self/fd').filter((fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd).endsWith('/perf-' + process.pid + '.map'); } catch { return false; } }).map(Number);
      const before = perfMap();
      const closed = closeStrayFds([]);
      process.stdout.write(JSON.stringify({ pid: process.pid, before, closed, after: perfMap() }));`;
    const r = spawnSync('bash', ['-c', `exec 200<"$1"; exec "$2" --perf-basic-prof --input-type=module -e "$3"`, 'bash', secret, process.execPath, script], { encoding: 'utf8' });
    const { pid, before, closed, after } = JSON.parse(r.stdout) as { pid: number; before: number[]; closed: number[]; after: number[] };
    rmSync(`/tmp/perf-${pid}.map`, { force: true }); // V8 writes it there, whatever TMPDIR says
    expect(r.stderr).toBe('');
    expect(before.length).toBeGreaterThan(0);
    expect(closed).toContain(200);
    expect(after).toEqual(before);
    for (const fd of before) expect(closed).not.toContain(fd);
  });
});

describe('the environment of a helper or device process', () => {
  it('is what the launch names plus TSVMM_HELPER_FDS when it passes descriptors, never process.env', () => {
    process.env.TSVMM_TEST_SECRET = 'hunter2';
    try {
      const launch = buildJailLaunch({ script: '/x.js', fds: { kvm: 9 }, env: { TSVMM_LOG_PRETTY: '0' } });
      expect(launch.env).toEqual({ TSVMM_LOG_PRETTY: '0', TSVMM_HELPER_FDS: 'kvm=3' });
      expect(buildJailLaunch({ script: '/x.js' }).env).toEqual({});
    } finally {
      delete process.env.TSVMM_TEST_SECRET;
    }
  });

  it('passes through only allow-listed variables that are set', () => {
    expect(pickEnvironment(['A', 'B'], { A: '1', C: '3' })).toEqual({ A: '1' });
  });
});
