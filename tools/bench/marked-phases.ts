// A VMM run whose guest marks its phases on the console, one line at each
// phase's start and end: the VMM's host CPU outside its vCPU threads
// (vmm-cpu.ts) is sampled as each mark arrives, and the phase's figures are
// worked out from it and from the work the guest says it did.
import { median, timedRun, type TimedRun } from './process-timing.js';
import { cpuBetween, kernelPercent, snapshotCpu, type CpuSnapshot } from './vmm-cpu.js';

export interface PhaseMarks {
  start: string;
  end: string;
}

/** What the VMM spent over a phase, and how long the phase took as the host saw its marks arrive. */
export interface PhaseSample {
  cpu: ReturnType<typeof cpuBetween>;
  hostSeconds: number;
}

export interface PhaseResult {
  ops: number;
  bytes: number;
  seconds: number;
  iops: number;
  MBps: number;
  /** Host CPU of the VMM outside its vCPU thread: per request (µs), and as a share of one core over the phase (%). */
  vmmCpuMicrosPerOp: number;
  vmmCpuPercent: number;
  /** The share of that CPU spent in the kernel (%): the rest is the VMM's own code. */
  vmmKernelPercent: number;
}

/** Runs the VMM to its exit; a phase whose two marks did not both appear has no sample. */
export async function runMarkedPhases<Name extends string>(
  command: string,
  args: string[],
  phases: Record<Name, PhaseMarks>,
  timeoutMs: number,
): Promise<{ run: TimedRun; samples: Partial<Record<Name, PhaseSample>> }> {
  const names = Object.keys(phases) as Name[];
  const snapshots = new Map<string, CpuSnapshot>();
  const run = await timedRun(command, args, {
    markers: names.flatMap((p) => [phases[p].start, phases[p].end]),
    timeoutMs,
    onMarker: (m, pid) => snapshots.set(m, snapshotCpu(pid)),
  });
  const samples: Partial<Record<Name, PhaseSample>> = {};
  for (const p of names) {
    const { start, end } = phases[p];
    const before = snapshots.get(start);
    const after = snapshots.get(end);
    if (before && after) samples[p] = { cpu: cpuBetween(before, after), hostSeconds: run.markers[end] - run.markers[start] };
  }
  return { run, samples };
}

/** A phase's figures: `ops` requests moving `bytes` in `seconds`, the VMM's CPU from its sample. */
export function phaseResult(ops: number, bytes: number, seconds: number, cpu: PhaseSample['cpu']): PhaseResult {
  return {
    ops,
    bytes,
    seconds,
    iops: ops / seconds,
    MBps: bytes / 1e6 / seconds,
    vmmCpuMicrosPerOp: (cpu.rest / ops) * 1e6,
    vmmCpuPercent: (cpu.rest / seconds) * 100,
    vmmKernelPercent: kernelPercent(cpu),
  };
}

/** One phase over several rounds: the median of each figure a report prints. */
export function medianPhase(rounds: readonly PhaseResult[]): { iops: number; MBps: number; cpu: number; cpuPercent: number; kernelPercent: number } {
  const of = (figure: (r: PhaseResult) => number) => median(rounds.map(figure));
  return {
    iops: of((r) => r.iops),
    MBps: of((r) => r.MBps),
    cpu: of((r) => r.vmmCpuMicrosPerOp),
    cpuPercent: of((r) => r.vmmCpuPercent),
    kernelPercent: of((r) => r.vmmKernelPercent),
  };
}
