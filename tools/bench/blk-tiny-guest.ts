// The block data path driven by a tiny guest instead of Linux
// (test/guests/src/pvh-blk-load.c): random 4 KiB reads kept at a queue
// depth, completions found by polling, so the guest's side costs next to
// nothing and what bounds the rate is the VMM. The device interrupts as it
// would for Linux's driver (the guest's CPU keeps them masked): that path is
// part of a VMM's cost per request, and a dear part of QEMU's in the nested
// L1 (BENCHMARKS.md "From a tiny guest"). The same binary runs under tsvmm
// and QEMU's microvm, on the same image, in the same run: tsvmm enters it
// through the Linux 64-bit boot protocol, QEMU through its PVH note, and
// both name its virtio-mmio window on its command line. Each phase's time is
// the host's, from the arrival of its two console marks; the VMM's CPU
// outside its vCPU threads is sampled at each (marked-phases.ts).
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';
import { phaseResult, runMarkedPhases, type PhaseMarks, type PhaseResult } from './marked-phases.js';
import { QEMU, QEMU_MICROVM, qemuVmArgs } from './qemu-reference.js';

export const TINY_BLK_GUEST = join(PROJECT_ROOT, 'test', 'guests', 'bin', 'pvh-blk-load.elf');

/** A phase of the guest's load: its queue depth and how many requests complete in it. */
export interface TinyBlkPhase {
  depth: number;
  requests: number;
}

/** First, unmeasured as a target (tsvmm's first requests run before V8 has compiled its data path), then the measured ones. */
export const TINY_BLK_WARMUP: TinyBlkPhase = { depth: 16, requests: 10_000 };
export const TINY_BLK_PHASES: readonly TinyBlkPhase[] = [
  { depth: 1, requests: 5_000 },
  { depth: 32, requests: 50_000 },
];

export const phaseName = (p: TinyBlkPhase) => `qd${p.depth}`;

/** The guest's words: the measured phases in order (pvh-blk-load.c parses them). */
function guestWords(phases: readonly TinyBlkPhase[]): string {
  return [
    'blkload.interrupts=1',
    `blkload.warmup=${TINY_BLK_WARMUP.requests}`,
    `blkload.depths=${phases.map((p) => `${p.depth}:${p.requests}`).join(',')}`,
  ].join(' ');
}

export interface TinyBlkRun {
  phases: Record<string, PhaseResult>;
}

const END_LINE = /blkload-end (\w+) ops=(\d+) bytes=(\d+)/g;

async function runGuest(command: string, args: string[], phases: readonly TinyBlkPhase[], okStatus: number): Promise<TinyBlkRun> {
  const names = ['warmup', ...phases.map(phaseName)];
  const marks = Object.fromEntries(names.map((n) => [n, { start: `blkload-start ${n}.`, end: `blkload-end ${n} ` }])) as Record<string, PhaseMarks>;
  const { run, samples } = await runMarkedPhases(command, args, marks, 900_000);
  const fail = (why: string) => new Error(`${command}: ${why} (status ${run.status}${run.signal ? `, ${run.signal}` : ''}):\n${(run.stdout + run.stderr).slice(-3000)}`);
  if (run.status !== okStatus) throw fail('the tiny guest did not finish its load');
  const done = new Map([...run.stdout.matchAll(END_LINE)].map((m) => [m[1], { ops: Number(m[2]), bytes: Number(m[3]) }]));
  const results: Record<string, PhaseResult> = {};
  for (const n of names) {
    const sample = samples[n];
    const work = done.get(n);
    if (!sample || !work) throw fail(`no result for phase ${n}`);
    results[n] = phaseResult(work.ops, work.bytes, sample.hostSeconds, sample.cpu);
  }
  return { phases: results };
}

/** tsvmm, the disk in the VMM or (`,process=separate`) in a device process of its own. */
export function tsvmmTinyBlk(image: string, diskOptions = '', phases = TINY_BLK_PHASES): Promise<TinyBlkRun> {
  const args = ['run', '--kernel', TINY_BLK_GUEST, '--mem', '256M', '--log-level', 'warn', '--disk', `${image}${diskOptions}`, '--cmdline', guestWords(phases)];
  return runGuest(TSVMM, args, phases, 0);
}

/** QEMU microvm, virtio-blk-device with aio=io_uring as in the disk section; modern virtio-mmio, which the guest drives. */
export function qemuTinyBlk(image: string, phases = TINY_BLK_PHASES): Promise<TinyBlkRun> {
  const args = [
    '-M', `${QEMU_MICROVM},acpi=off,auto-kernel-cmdline=on`, ...qemuVmArgs(),
    '-global', 'virtio-mmio.force-legacy=false',
    '-drive', `file=${image},format=raw,if=none,id=d0,cache=writeback,aio=io_uring`, '-device', 'virtio-blk-device,drive=d0',
    '-kernel', TINY_BLK_GUEST, '-append', guestWords(phases),
  ];
  // isa-debug-exit ends QEMU with (status << 1) | 1.
  return runGuest(QEMU, args, phases, 1);
}
