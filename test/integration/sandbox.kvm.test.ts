// The jailed helper, probed from inside a real run (test hooks in
// src/helper/test-hooks.ts), and the frontend's reports of how it died.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { deadline } from '../support/deadline.js';
import { describeKvm } from '../support/host-requirements.js';
import { GUEST_BIN, TSVMM_BIN, runTsvmm } from '../support/run-tsvmm.js';

const hello = ['run', '--raw-payload', join(GUEST_BIN, 'real-hello.bin')];
const hook = (name: string) => ({ env: { TSVMM_TEST_HOOK: name } });

describeKvm('the jailed helper', () => {
  it('cannot open host files and has no network but loopback', async () => {
    let interfaces: string[] = [];
    const r = await runTsvmm([...hello, '--log-level', 'warn'], {
      ...hook('probe'),
      onStderrLine: (line) => {
        if (!line.includes('"probe":"jail"')) return;
        // The helper waits inside the hook: look at its network namespace from outside.
        const { hostPid } = JSON.parse(line);
        interfaces = readFileSync(`/proc/${hostPid}/net/dev`, 'utf8').split('\n').slice(2).filter(Boolean).map((l) => l.split(':')[0].trim());
      },
    });
    expect(r.status).toBe(42);
    const probe = JSON.parse(r.stderr.split('\n').find((l) => l.includes('"probe":"jail"'))!);
    expect(probe.openHostFile).toBe('ENOENT');
    expect(interfaces).toEqual(['lo']);
  });

  it('is killed by its filter for a syscall outside the policy, and the frontend says which', async () => {
    const r = await runTsvmm([...hello, '--log-level', 'warn'], hook('forbidden-syscall'));
    expect(r.timedOut).toBe(false);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    // The kernel's audit record names the syscall where the log is readable (root here).
    expect(r.stderr).toMatch(/seccomp filter refused syscall 41 \(socket\)|killed by its seccomp filter \(SIGSYS\)/);
  });

  it('refuses an ioctl number outside the list', async () => {
    const r = await runTsvmm([...hello, '--log-level', 'warn'], hook('forbidden-ioctl'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/seccomp filter refused syscall 16 \(ioctl\)|killed by its seccomp filter/);
  });

  it('--seccomp=log lets the same call through (for maintaining the policy)', async () => {
    const r = await runTsvmm([...hello, '--log-level', 'warn', '--seccomp', 'log'], hook('forbidden-ioctl'));
    expect(r.status).toBe(42);
    expect(r.stderr).toMatch(/test hook: forbidden ioctl returned/);
  });

  it("writes the user's code cache before its jail once per build, and later helpers start from it", async () => {
    const cache = mkdtempSync(join(tmpdir(), 'tsvmm-code-cache-'));
    try {
      const run = async () => {
        const r = await runTsvmm([...hello, '--log-level', 'debug'], { env: { TSVMM_CACHE: cache } });
        expect(r.status).toBe(42); // the payload's own status
        const lines = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
        return { written: lines.find((l) => l.msg === "the user's code cache of the helper written"), start: lines.find((l) => l.msg === "the helper's start") };
      };
      const first = await run();
      expect(first.written).toMatchObject({ codeCache: 'build', written: join(cache, 'code-cache', 'helper.v8-cache') });
      // Written before the jail: the helper's marks put it there.
      expect(first.start!.msSinceStart.codeCacheKept).toBeLessThanOrEqual(first.start!.msSinceStart.jailed);
      expect(statSync(join(cache, 'code-cache', 'helper.v8-cache')).size).toBeGreaterThan(first.written!.bytes);
      const second = await run();
      expect(second.written).toBeUndefined();
      expect(second.start).toMatchObject({ codeCache: 'user' });
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('--no-sandbox runs unjailed, loudly', async () => {
    const r = await runTsvmm([...hello, '--no-sandbox'], hook('probe'));
    expect(r.status).toBe(42);
    expect(r.stderr).toMatch(/--no-sandbox: the helper runs UNJAILED/);
    expect(r.stderr).toMatch(/"openHostFile":"opened"/);
  });

  // Audit issue 11: a descriptor tsvmm inherited (fd 200 of its shell), the
  // user's environment, and the kernel image's descriptor must not reach the
  // jailed helper or a jailed device process.
  it('holds no inherited descriptor, no kernel descriptor and none of the user\'s environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-leak-'));
    try {
      const secret = join(dir, 'secret');
      writeFileSync(secret, 'not for the jail\n');
      const disk = join(dir, 'disk.img');
      writeFileSync(disk, Buffer.alloc(1 << 20));
      const payload = join(GUEST_BIN, 'real-hello.bin');
      const identity = (p: string) => {
        const st = statSync(p);
        return `${st.dev}:${st.ino}`;
      };
      const forbidden = new Map([
        [identity(secret), 'the inherited fd 200'],
        [identity(payload), 'the kernel image'],
      ]);
      /** What a process holds that it must not: the forbidden files among its fds, and the secret variable. */
      const leaks = (pid: number) => {
        const out: string[] = [];
        for (const fd of readdirSync(`/proc/${pid}/fd`)) {
          let id: string;
          try {
            id = identity(`/proc/${pid}/fd/${fd}`);
          } catch {
            continue; // closed meanwhile, or not a file
          }
          const what = forbidden.get(id);
          if (what) out.push(`fd ${fd}: ${what}`);
        }
        const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
        out.push(...environ.filter((v) => v.startsWith('TSVMM_AUDIT_SECRET=') || v.startsWith('PATH=')).map((v) => `environment: ${v.split('=')[0]}`));
        return out;
      };
      const seen: Record<string, string[]> = {};
      let stderr = '';
      const args = [TSVMM_BIN, 'run', '--raw-payload', payload, '--disk', `${disk},process=separate`, '--log-level', 'info'];
      const status = await new Promise<number | null>((resolve, reject) => {
        const child = spawn('bash', ['-c', 'exec 200<"$1"; shift; exec "$@"', 'bash', secret, ...args], {
          stdio: ['pipe', 'pipe', 'pipe'],
          env: { ...process.env, TSVMM_TEST_HOOK: 'probe', TSVMM_AUDIT_SECRET: 'hunter2' },
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), deadline(60_000));
        let partial = '';
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          const lines = (partial + d.toString()).split('\n');
          partial = lines.pop()!;
          for (const line of lines) {
            // The device process says so once it is jailed and serving; the
            // helper waits inside the hook, jailed (in either order).
            if (line.includes('device model runs in its own process')) seen.device = leaks(JSON.parse(line).pid);
            if (line.includes('"probe":"jail"')) seen.helper = leaks(JSON.parse(line).hostPid);
          }
        });
        child.stdin.end();
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve(code);
        });
      });
      expect(status, stderr).toBe(42);
      expect(seen).toEqual({ helper: [], device: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
