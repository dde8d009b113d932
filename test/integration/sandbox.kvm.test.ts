// The jailed helper, probed from inside a real run (test hooks in
// src/helper/test-hooks.ts), and the frontend's reports of how it died.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeKvm } from '../support/host-requirements.js';
import { GUEST_BIN, runTsvmm } from '../support/run-tsvmm.js';

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

  it('--no-sandbox runs unjailed, loudly', async () => {
    const r = await runTsvmm([...hello, '--no-sandbox'], hook('probe'));
    expect(r.status).toBe(42);
    expect(r.stderr).toMatch(/--no-sandbox: the helper runs UNJAILED/);
    expect(r.stderr).toMatch(/"openHostFile":"opened"/);
  });
});
