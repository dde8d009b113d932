// Disk I/O inside the default guest, on a 256 MiB raw image: tsvmm (disk
// served by the VMM, and by a device process) vs QEMU microvm with
// virtio-blk-device, same kernel, initrd and image, in one run. The guest runs
// tools/guest/blkbench (O_DIRECT, Linux AIO), which times itself and prints
// one line per phase; around each phase the bench samples the VMM's host CPU
// time outside its vCPU thread (vmm-cpu.ts).
import { readDefaultGuest, type GuestManifest } from '../../src/cli/default-guest.js';
import { withInitCommand, withKernelWords } from '../../src/cli/run-command.js';
import { parseExitStats, type TimedRun } from './process-timing.js';
import { phaseResult, runMarkedPhases, type PhaseMarks, type PhaseResult } from './marked-phases.js';
import { QEMU, QEMU_MICROVM, qemuGuestArgs, qemuKernelWords, qemuVirtioWords } from './qemu-reference.js';
import { scratchImage } from './scratch-image.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';

export const DISK_MIB = 256;

export const PHASES = {
  // Always first (main.ts): what follows measures a VMM in its steady state.
  // The first requests cost tsvmm several times more (V8 compiles its data
  // path as it warms up: ~0.1 s of CPU natively, seconds in the nested L1),
  // so this phase shows that cost apart instead of hiding it in the next one.
  warmup: { blkbench: 'randread 4096 16 8M', about: '4 KiB random reads, queue depth 16, 2048 requests, before any other: the warm-up (not a target)' },
  'randread-qd1': { blkbench: 'randread 4096 1 4M', about: '4 KiB random reads, queue depth 1, 1024 requests' },
  randread: { blkbench: 'randread 4096 16 8M', about: '4 KiB random reads, queue depth 16, 2048 requests' },
  'randread-qd32': { blkbench: 'randread 4096 32 16M', about: '4 KiB random reads, queue depth 32, 4096 requests' },
  read: { blkbench: `read 1M 4 ${DISK_MIB}M`, about: `sequential 1 MiB reads, queue depth 4, the whole ${DISK_MIB} MiB` },
  write: { blkbench: `write 1M 4 ${DISK_MIB}M`, about: `sequential 1 MiB writes, queue depth 4, the whole ${DISK_MIB} MiB, then fdatasync` },
} as const;
export type PhaseName = keyof typeof PHASES;
export const PHASE_NAMES = Object.keys(PHASES) as PhaseName[];

/**
 * One shell command line for the guest (withInitCommand: the kernel passes
 * init at most 32 words). Each phase between two console lines of its own,
 * `bench-phase-start NAME.` and `bench-phase-end NAME.` (spelt through a
 * shell variable: the kernel echoes its command line at boot, and the
 * markers must not match there).
 */
const PHASE_MARK = 'bench-phase';
const guestCommand = (phases: PhaseName[]) =>
  `m=${PHASE_MARK}; ` + phases.map((p) => `echo "$m-start ${p}."; blkbench /dev/vda ${PHASES[p].blkbench}; echo "$m-end ${p}."`).join('; ');
const startMarker = (p: PhaseName) => `${PHASE_MARK}-start ${p}.`;
const endMarker = (p: PhaseName) => `${PHASE_MARK}-end ${p}.`;

export interface DiskRun {
  /** The phases that were run. */
  phases: Partial<Record<PhaseName, PhaseResult>>;
  /** tsvmm only (--stats): bytes the DMA API mapped straight into guest RAM vs bounced. */
  dma?: { directBytes: number; bouncedBytes: number };
  engine?: string;
}

const BLKBENCH_LINE = /blkbench mode=(\w+) bs=\d+ qd=\d+ ops=(\d+) bytes=(\d+) ns=(\d+)/g;

/** Runs the guest command under a VMM, sampling its CPU at each phase's start and end. */
async function runPhases(command: string, args: string[], names: PhaseName[]): Promise<{ run: TimedRun; phases: DiskRun['phases'] }> {
  const marks = Object.fromEntries(names.map((p) => [p, { start: startMarker(p), end: endMarker(p) }])) as Record<PhaseName, PhaseMarks>;
  const { run, samples } = await runMarkedPhases(command, args, marks, 1_800_000);
  const output = run.stdout + run.stderr;
  const phases: DiskRun['phases'] = {};
  for (const p of names) {
    const from = run.stdout.indexOf(startMarker(p));
    const to = run.stdout.indexOf(endMarker(p), from);
    const m = from < 0 || to < 0 ? undefined : [...run.stdout.slice(from, to).matchAll(BLKBENCH_LINE)][0];
    const sample = samples[p];
    if (!m || !sample) throw new Error(`${command}: no blkbench result for ${p} (status ${run.status}):\n${output.slice(-3000)}`);
    // The guest's own clock times the phase: blkbench's ns, not the marks' arrival.
    phases[p] = phaseResult(Number(m[2]), Number(m[3]), Number(m[4]) / 1e9, sample.cpu);
  }
  return { run, phases };
}

export async function tsvmmDisk(image: string, diskOptions = '', names = PHASE_NAMES): Promise<DiskRun> {
  const guest = readDefaultGuest()!;
  const { run, phases } = await runPhases(TSVMM, [
    'run', '--kernel', guest.vmlinux, '--initrd', guest.initrd, '--mem', '256M', '--stats', '--log-level', 'warn',
    '--disk', `${image}${diskOptions}`, '--cmdline', withInitCommand(guest.cmdline, ['sh', '-c', guestCommand(names)]),
  ], names);
  const disk = parseExitStats<{ disks?: Record<string, { engine: string; dma: { directBytes: number; bouncedBytes: number } }> }>(run.stderr).disks?.vda;
  return { phases, dma: disk?.dma, engine: disk?.engine };
}

function qemuArgs(guest: GuestManifest, image: string): string[] {
  return [...qemuGuestArgs(guest), '-drive', `file=${image},format=raw,if=none,id=d0,cache=writeback,aio=io_uring`, '-device', 'virtio-blk-device,drive=d0'];
}

export async function qemuDisk(image: string, names = PHASE_NAMES): Promise<DiskRun> {
  const guest = readDefaultGuest()!;
  const words = await qemuVirtioWords(guest, qemuArgs(guest, image));
  // The same words, placed before `--` (QEMU would append them after it, to init's command).
  const { phases } = await runPhases(QEMU, [
    '-M', `${QEMU_MICROVM},acpi=off,auto-kernel-cmdline=off`,
    ...qemuArgs(guest, image),
    '-append', withKernelWords(withInitCommand(guest.cmdline, ['sh', '-c', guestCommand(names)]), `${words} ${qemuKernelWords()}`),
  ], names);
  return { phases };
}

/** The image every disk phase reads: DISK_MIB of data. */
export function diskBenchImage(): { path: string; remove(): void } {
  return scratchImage(DISK_MIB, 'tsvmm-bench-disk-');
}
