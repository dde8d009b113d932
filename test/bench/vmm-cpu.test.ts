// The benchmarks' split of a VMM's CPU time into its vCPU threads' (the
// guest) and the rest (the VMM's own cost): by thread name, read from /proc.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gettid, setThreadName } from '../../ffi/libc.js';
import { VCPU_THREAD_NAME } from '../../src/vmm/vcpu-protocol.js';
import { cpuBetween, kernelPercent, snapshotCpu, VCPU_THREAD } from '../../tools/bench/vmm-cpu.js';

describe('vCPU threads, by name', () => {
  it("knows tsvmm's and QEMU's (with debug-threads=on), and nothing else", () => {
    for (const name of [VCPU_THREAD_NAME(0), VCPU_THREAD_NAME(15), 'CPU 0/KVM', 'CPU 3/KVM']) expect(name).toMatch(VCPU_THREAD);
    for (const name of ['node', 'qemu-system-x86', 'CPU 0/TCG', 'IO iothread0', 'vcpu', 'libuv-worker']) expect(name).not.toMatch(VCPU_THREAD);
  });

  it('finds a thread so named in /proc, and keeps its time out of the rest', () => {
    const tid = gettid() as number;
    const thread = `${process.pid}/${tid}`;
    const before = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    setThreadName(VCPU_THREAD_NAME(2));
    try {
      const a = snapshotCpu(process.pid);
      const spinUntil = performance.now() + 60; // burn a few ticks on this thread
      while (performance.now() < spinUntil);
      const b = snapshotCpu(process.pid);
      expect(b.vcpus.has(thread)).toBe(true);
      expect(b.vcpus.size).toBe(1);
      const { vcpu, rest } = cpuBetween(a, b);
      const own = b.seconds.get(thread)! - a.seconds.get(thread)!;
      expect(vcpu).toBeCloseTo(own, 5);
      expect(rest).toBeGreaterThanOrEqual(0);
    } finally {
      setThreadName(before);
    }
  });

  it("reads every thread's guest time, and counts a thread's time in guest mode as the guest's wherever it runs", () => {
    const a = snapshotCpu(process.pid);
    // No thread here runs a guest: all of them read, all 0.
    expect(a.guestSeconds.size).toBe(a.seconds.size);
    for (const seconds of a.guestSeconds.values()) expect(seconds).toBe(0);
    // A main thread that ran a guest for 0.3 s of its 0.5 (main-thread-vcpu.ts), and a vCPU thread.
    const snapshot = (main: number, mainGuest: number, vcpu: number) => ({
      seconds: new Map([['1/1', main], ['1/2', vcpu]]),
      systemSeconds: new Map([['1/1', 0.05], ['1/2', 0]]),
      guestSeconds: new Map([['1/1', mainGuest], ['1/2', vcpu]]),
      vcpus: new Set(['1/2']),
    });
    const cpu = cpuBetween(snapshot(1, 0.5, 2), snapshot(1.5, 0.8, 2.25));
    expect(cpu.vcpu).toBeCloseTo(0.3 + 0.25, 9);
    expect(cpu.rest).toBeCloseTo(0.2, 9);
  });

  it("says how much of the rest's time was spent in the kernel", () => {
    const zero = openSync('/dev/zero', 'r');
    const buffer = Buffer.alloc(1 << 20);
    try {
      const a = snapshotCpu(process.pid);
      const until = performance.now() + 200; // system calls that clear a MiB each: mostly kernel time
      while (performance.now() < until) readSync(zero, buffer);
      const b = snapshotCpu(process.pid);
      const cpu = cpuBetween(a, b);
      const { rest, restInKernel } = cpu;
      expect(restInKernel).toBeGreaterThan(0);
      expect(restInKernel).toBeLessThanOrEqual(rest + 1e-9);
      expect(kernelPercent(cpu)).toBeGreaterThan(0);
      expect(kernelPercent(cpu)).toBeLessThanOrEqual(100 + 1e-6);
      expect(kernelPercent({ rest: 0, restInKernel: 0 })).toBe(0);
    } finally {
      closeSync(zero);
    }
  });
});
