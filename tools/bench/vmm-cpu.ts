// Host CPU time a VMM spends outside its vCPU thread: device emulation, the
// block backend, event loops — the VMM's own cost, apart from running the
// guest. Summed over the VMM's whole process tree (tsvmm: frontend, helper,
// device processes; QEMU: one process), sampled from /proc.
import { readdirSync } from 'node:fs';
import { processTree, readProc } from './process-tree.js';

const TICKS_PER_SECOND = 100; // USER_HZ, fixed at 100 on x86 Linux

/** CPU seconds per thread ("pid/tid") at one instant. */
export type CpuSnapshot = Map<string, number>;

/** Fields of /proc/.../stat after the command name (which may contain spaces). */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** `skipCommands`: processes in the tree that are not the VMM's (a network backend it started, such as passt). */
export function snapshotCpu(root: number, skipCommands: readonly string[] = []): CpuSnapshot {
  const snapshot: CpuSnapshot = new Map();
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
      const f = statFields(stat); // utime, stime are fields 14 and 15 (index 11, 12 here)
      snapshot.set(`${pid}/${tid}`, (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND);
    }
  }
  return snapshot;
}

/**
 * CPU seconds between two snapshots, split into the vCPU thread's and the
 * rest's. The vCPU thread is the busiest one: on this host it carries the
 * whole guest (KVM's emulator runs in it), a thousand times the VMM's work.
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): { vcpu: number; rest: number } {
  const deltas = [...after].map(([thread, seconds]) => seconds - (before.get(thread) ?? 0));
  const vcpu = Math.max(0, ...deltas);
  return { vcpu, rest: deltas.reduce((a, b) => a + b, 0) - vcpu };
}
