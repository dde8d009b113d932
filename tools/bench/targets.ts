// Every target a benchmark run checks, named once: the issue that set it,
// whether the figure must stay under or reach its limit, and the limit. The
// report's text quotes them (`bound`) and the ledger judges against them
// (target-ledger.ts), so the two cannot disagree.

export interface Target {
  /** The issue that set the target, e.g. '17'. */
  readonly issue: string;
  /** The figure must be at most the limit (a cost), or at least it (a rate). */
  readonly bound: 'at most' | 'at least';
  readonly limit: number;
}

export const atMost = (issue: string, limit: number): Target => ({ issue, bound: 'at most', limit });
export const atLeast = (issue: string, limit: number): Target => ({ issue, bound: 'at least', limit });

export const TARGETS = {
  /** tsvmm / the C loop. */
  pioRoundTrip: atMost('2, 17', 1.1),
  /** Milliseconds, natively (in the nested L1 it is reported, not judged). */
  firstKvmRunMs: atMost('17', 150),
  /** Exits without / with the zones. */
  coalescedExits: atLeast('4', 3),
  /** Jailed / unjailed. */
  sandboxOverhead: atMost('5', 1.05),
  /** Boot to init and to exit, tsvmm / QEMU, on kvm_pvm (and any KVM that is not the nested L1). */
  boot: atMost('2, 17', 1),
  /** The same on the nested L1. */
  bootNested: atMost('17', 1.2),
  /** MiB, without guest RAM. */
  helperRssMiB: atMost('2', 60),
  /** tsvmm / QEMU. */
  helperRssVsQemu: atMost('17', 1),
  /** `exec -- true` start to exit, tsvmm / QEMU. */
  execBoot: atMost('15', 1),
  /** `cat` and `find` over 9p, and the 9p server's requests/s, tsvmm / QEMU. */
  p9Throughput: atLeast('15', 1),
  /** The 9p server's CPU per request, tsvmm / QEMU. */
  p9Cpu: atMost('17', 1.2),
  /** tsvmm / the CLI, every format. */
  decompression: atMost('13', 1),
  /** VMM CPU per disk request, tsvmm / QEMU, at queue depth 1 and 32. */
  blkCpu: atMost('17', 1.2),
  /** IOPS at queue depth 32, tsvmm / QEMU. */
  blkIopsQd32: atLeast('17', 1),
  /** Random reads in the guest, tsvmm / QEMU. */
  diskRandomRead: atLeast('3', 0.9),
  /** Sequential reads and writes in the guest, tsvmm / QEMU. */
  diskSequential: atLeast('3', 1),
  /** A disk in its own process / in the VMM. */
  diskOwnProcess: atLeast('6', 0.8),
  /** Network throughput (frames, MB/s or packets a second), tsvmm / QEMU with the same backend. */
  netThroughput: atLeast('14', 1),
  /** VMM CPU per packet, tsvmm / QEMU. */
  netCpu: atMost('14', 1.5),
} as const satisfies Record<string, Target>;

export const targetMet = (t: Target, value: number): boolean => (t.bound === 'at most' ? value <= t.limit : value >= t.limit);

/** `≤ 1.2`, `≥ 1`: the target as the report's text quotes it (units are the text's). */
export function bound(t: Target): string {
  return `${t.bound === 'at most' ? '≤' : '≥'} ${formatFigure(t.limit)}`;
}

/** Three significant digits at most: 0.923, 1.05, 172 (NaN, from a run that measured nothing, reads as such). */
export function formatFigure(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Number(n.toPrecision(3)).toString();
}
