// Host CPU time a VMM spends outside its vCPU thread: device emulation, the
// block backend, event loops — the VMM's own cost, apart from running the
// guest. Summed over the VMM's whole process tree (tsvmm: frontend, helper,
// device processes; QEMU: one process), sampled from /proc.
//
// A thread that runs a vCPU and serves devices too (tsvmm's main thread with
// a lone vCPU: src/vmm/main-thread-vcpu.ts) is split by the kernel's own
// account of it: its guest time (/proc's guest_time, the time in guest mode)
// is the guest's, the rest the VMM's. A thread named as a vCPU thread counts
// whole as the guest's, as before, in either VMM.
import { readdirSync } from 'node:fs';
import { processTree, readProc } from './process-tree.js';

const TICKS_PER_SECOND = 100; // USER_HZ, fixed at 100 on x86 Linux

/**
 * A vCPU thread, by its name: tsvmm names its own (vcpu-protocol.ts
 * VCPU_THREAD_NAME), QEMU names its "CPU 0/KVM" when started with
 * `-name debug-threads=on` (qemu-reference.ts). Not the busiest thread: in
 * the nested L1 tsvmm's main thread can be busier than its vCPU's.
 */
export const VCPU_THREAD = /^vcpu\d+$|^CPU \d+\/KVM$/;

/** CPU seconds per thread ("pid/tid") at one instant, all and in the kernel, and which threads are vCPUs. */
export interface CpuSnapshot {
  seconds: Map<string, number>;
  systemSeconds: Map<string, number>;
  /** Time in guest mode (part of the thread's user time). */
  guestSeconds: Map<string, number>;
  vcpus: Set<string>;
}

/** Fields of /proc/.../stat after the command name (which may contain spaces). */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** `skipCommands`: processes in the tree that are not the VMM's (a network backend it started, such as passt). */
export function snapshotCpu(root: number, skipCommands: readonly string[] = []): CpuSnapshot {
  const snapshot: CpuSnapshot = { seconds: new Map(), systemSeconds: new Map(), guestSeconds: new Map(), vcpus: new Set() };
  for (const pid of processTree(root)) {
    if (skipCommands.length > 0 && skipCommands.includes(readProc(`/proc/${pid}/comm`)?.trim() ?? '')) continue;
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const stat = readProc(`/proc/${pid}/task/${tid}/stat`);
      if (!stat) continue;
      const f = statFields(stat); // utime, stime, guest_time are fields 14, 15 and 43 (index 11, 12, 40 here)
      const thread = `${pid}/${tid}`;
      snapshot.seconds.set(thread, (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND);
      snapshot.systemSeconds.set(thread, Number(f[12]) / TICKS_PER_SECOND);
      snapshot.guestSeconds.set(thread, Number(f[40] ?? 0) / TICKS_PER_SECOND);
      if (VCPU_THREAD.test(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')))) snapshot.vcpus.add(thread);
    }
  }
  return snapshot;
}

/**
 * CPU seconds between two snapshots, split into the vCPU threads' (the
 * guest's) and the rest's (the VMM's own), and how much of the rest was
 * spent in the kernel (system calls, the copies they make, interrupts):
 * what is left of it is the VMM's own code.
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): { vcpu: number; rest: number; restInKernel: number } {
  let vcpu = 0;
  let rest = 0;
  let restInKernel = 0;
  for (const [thread, seconds] of after.seconds) {
    const delta = seconds - (before.seconds.get(thread) ?? 0);
    if (after.vcpus.has(thread) || before.vcpus.has(thread)) vcpu += delta;
    else {
      const guest = Math.min(delta, (after.guestSeconds.get(thread) ?? 0) - (before.guestSeconds.get(thread) ?? 0));
      vcpu += guest;
      rest += delta - guest;
      restInKernel += (after.systemSeconds.get(thread) ?? 0) - (before.systemSeconds.get(thread) ?? 0);
    }
  }
  return { vcpu, rest, restInKernel };
}

/** The share of the VMM's own CPU (cpuBetween's rest) spent in the kernel, in %; 0 when it had none. */
export function kernelPercent(cpu: { rest: number; restInKernel: number }): number {
  return cpu.rest > 0 ? (cpu.restInKernel / cpu.rest) * 100 : 0;
}
