// The signal and POSIX-timer ABI a vCPU thread uses (ffi/signals.ts), checked
// against <signal.h> and <time.h> with a compiled probe; and, in a child
// process, that the vCPU's timer signals its own thread where the signal
// waits blocked, that a stray one is dropped, and that a period of 0 stops it.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as signals from '../../ffi/signals.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { findCCompiler } from '../support/c-compiler.js';
import { probeC, type CCheck } from '../support/c-probe.js';
import { describeNeeding } from '../support/host-requirements.js';

const checks: CCheck[] = [
  ['SIGSET_BYTES', 'sizeof(sigset_t)', signals.SIGSET_BYTES],
  ['SIG_BLOCK', 'SIG_BLOCK', signals.SIG_BLOCK],
  ['SIG_UNBLOCK', 'SIG_UNBLOCK', signals.SIG_UNBLOCK],
  // Printed as unsigned long: -1 comes back as 2^64 - 1, which a double rounds to 2^64.
  ['SIG_IGN', '(long)SIG_IGN', signals.SIG_IGN],
  ['SIG_ERR + 1', '(long)SIG_ERR + 1', signals.SIG_ERR + 1],
  ['CLOCK_MONOTONIC', 'CLOCK_MONOTONIC', signals.CLOCK_MONOTONIC],
  ['SIGEV_THREAD_ID', 'SIGEV_THREAD_ID', signals.SIGEV_THREAD_ID],
  ['SIGEVENT_SIZE', 'sizeof(struct sigevent)', signals.SIGEVENT_SIZE],
  ['SIGEVENT_SIGNO_OFFSET', 'offsetof(struct sigevent, sigev_signo)', signals.SIGEVENT_SIGNO_OFFSET],
  ['SIGEVENT_NOTIFY_OFFSET', 'offsetof(struct sigevent, sigev_notify)', signals.SIGEVENT_NOTIFY_OFFSET],
  // glibc 2.36 spells sigev_notify_thread_id only in the union it lives in.
  ['SIGEVENT_THREAD_ID_OFFSET', 'offsetof(struct sigevent, _sigev_un._tid)', signals.SIGEVENT_THREAD_ID_OFFSET],
  ['ITIMERSPEC_SIZE', 'sizeof(struct itimerspec)', signals.ITIMERSPEC_SIZE],
  ['ITIMERSPEC_VALUE_OFFSET', 'offsetof(struct itimerspec, it_value)', signals.ITIMERSPEC_VALUE_OFFSET],
  ['TIMESPEC_SIZE', 'sizeof(struct timespec)', signals.TIMESPEC_SIZE],
  ['SIGUSR2', 'SIGUSR2', 12],
];

const cc = findCCompiler();
describeNeeding(cc ? undefined : 'no C compiler on PATH', 'the signal and timer ABI matches the C headers', () => {
  const values = cc ? probeC(cc, ['signal.h', 'time.h'], checks, ['#define _GNU_SOURCE']) : new Map<string, number>();
  for (const [name, , expected] of checks) it(name, () => expect(values.get(name)).toBe(expected));
});

describe('sigset', () => {
  it('sets the bit of each signal, as sigaddset does (bit n-1)', () => {
    const set = signals.sigset(signals.KERNEL_SIGSET_BYTES, 1, 12, 64);
    expect([...set]).toEqual([0b1, 0b1000, 0, 0, 0, 0, 0, 0b1000_0000]);
  });
});

describe("a vCPU thread's timer", () => {
  it('signals the thread that made it, where the signal waits blocked; a stray one is dropped; period 0 stops it', () => {
    // Needs the compiled tree (npm test builds it first). A child process:
    // signal masks and dispositions are not for the test runner's threads.
    const dist = (path: string) => JSON.stringify(join(PROJECT_ROOT, 'dist', path));
    const script = `
      const s = await import(${dist('ffi/signals.js')});
      const { VCPU_SIGNAL, ignoreVcpuSignalElsewhere } = await import(${dist('src/kvm/vcpu-signal.js')});
      const { VcpuTimer } = await import(${dist('src/kvm/vcpu-timer.js')});
      const set = s.sigset(s.SIGSET_BYTES, VCPU_SIGNAL);
      if (s.pthreadSigmask(s.SIG_BLOCK, set, new Uint8Array(s.SIGSET_BYTES)) !== 0) throw new Error('pthread_sigmask');
      ignoreVcpuSignalElsewhere();
      const wait = (ms) => {
        const t = new DataView(new ArrayBuffer(s.TIMESPEC_SIZE));
        t.setBigInt64(0, BigInt(Math.floor(ms / 1000)), true);
        t.setBigInt64(8, BigInt(ms % 1000) * 1000000n, true);
        return s.sigtimedwait(set, null, new Uint8Array(t.buffer));
      };
      const timer = new VcpuTimer();
      timer.setPeriod(5);
      const got = [wait(2000), wait(2000), wait(2000)];
      timer.setPeriod(0);
      wait(0); // one may have fired since
      const afterStop = wait(200);
      timer.delete();
      // Sent to the process: no thread here blocks it but this one... so unblock it first.
      if (s.pthreadSigmask(s.SIG_UNBLOCK, set, new Uint8Array(s.SIGSET_BYTES)) !== 0) throw new Error('pthread_sigmask');
      process.kill(process.pid, 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 50));
      process.stdout.write(JSON.stringify({ got, afterStop, signal: VCPU_SIGNAL }));`;
    const env = { ...process.env, NODE_V8_COVERAGE: undefined, NODE_OPTIONS: undefined };
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0); // SIGUSR2 would have ended it, handled by nobody
    const out = JSON.parse(r.stdout) as { got: number[]; afterStop: number; signal: number };
    expect(out.signal).toBe(12);
    expect(out.got).toEqual([12, 12, 12]);
    expect(out.afterStop).toBe(-1); // EAGAIN: nothing came
  });
});
