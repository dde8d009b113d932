// Counters the exit loop keeps: exits by reason, accesses by device,
// coalesced writes drained, and what the virtio-mmio shortcut spared (reads
// answered on the vCPU thread, interrupt ACKs KVM only counted). Shared as
// plain numbers; printed by `run --stats`.
import { KVM_EXIT, exitReasonName } from '../../ffi/kvm-abi.js';

export interface ExitStatsReport {
  exitsByReason: Record<string, number>;
  accessesByDevice: Record<string, number>;
  coalescedDrained: number;
  coalescedByDevice: Record<string, number>;
  /** virtio-mmio InterruptACK writes KVM counted in an eventfd instead of exiting (VirtioRegisterShortcut). */
  acksWithoutExitByDevice: Record<string, number>;
  /** Of accessesByDevice, the reads a vCPU thread answered itself, without the device's thread or process. */
  readsAnsweredByVcpuByDevice: Record<string, number>;
  totalExits: number;
  /** Wall time the exit loop ran, first KVM_RUN to the end. */
  runSeconds: number;
  /** Wall-clock time (ms since the epoch) of the first KVM_RUN; 0 for a loop that never ran (e.g. a ring consumer's counters). */
  firstEntryEpochMs: number;
  /** Per-disk request and DMA counters (added by the VMM's main thread). */
  disks?: Record<string, unknown>;
}

export class ExitStats {
  readonly byReason = new Float64Array(64);
  readonly byDevice = new Map<string, number>();
  readonly coalescedByDevice = new Map<string, number>();
  readonly acksWithoutExitByDevice = new Map<string, number>();
  readonly readsAnsweredByVcpuByDevice = new Map<string, number>();
  coalescedDrained = 0;
  startedAt = 0;
  endedAt = 0;

  /** Exits the guest made itself: all but KVM_EXIT_INTR (a signal's, or a request to leave). */
  guestExits(): number {
    let n = 0;
    for (let reason = 0; reason < this.byReason.length; reason++) if (reason !== KVM_EXIT.INTR) n += this.byReason[reason];
    return n;
  }

  countDevice(name: string): void {
    this.byDevice.set(name, (this.byDevice.get(name) ?? 0) + 1);
  }

  countCoalesced(name: string): void {
    this.coalescedDrained++;
    this.coalescedByDevice.set(name, (this.coalescedByDevice.get(name) ?? 0) + 1);
  }

  /** What a virtio-mmio window's shortcut (VirtioRegisterShortcut) spared the device and the exit loop. */
  countShortcut(name: string, readsAnswered: number, acksWithoutExit: number): void {
    const add = (map: Map<string, number>, n: number) => n > 0 && map.set(name, (map.get(name) ?? 0) + n);
    add(this.readsAnsweredByVcpuByDevice, readsAnswered);
    add(this.acksWithoutExitByDevice, acksWithoutExit);
  }

  report(): ExitStatsReport {
    const exitsByReason: Record<string, number> = {};
    let totalExits = 0;
    this.byReason.forEach((n, reason) => {
      if (n) exitsByReason[exitReasonName(reason)] = n;
      totalExits += n;
    });
    return {
      exitsByReason,
      accessesByDevice: Object.fromEntries(this.byDevice),
      coalescedDrained: this.coalescedDrained,
      coalescedByDevice: Object.fromEntries(this.coalescedByDevice),
      acksWithoutExitByDevice: Object.fromEntries(this.acksWithoutExitByDevice),
      readsAnsweredByVcpuByDevice: Object.fromEntries(this.readsAnsweredByVcpuByDevice),
      totalExits,
      runSeconds: (this.endedAt - this.startedAt) / 1000,
      firstEntryEpochMs: this.startedAt > 0 ? performance.timeOrigin + this.startedAt : 0,
    };
  }
}

/** One report for the whole VM from each vCPU thread's (and the ring consumer's): counts add up, the run spans them all. */
export function mergeExitStats(reports: readonly ExitStatsReport[]): ExitStatsReport {
  const add = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
  };
  const merged: ExitStatsReport = { exitsByReason: {}, accessesByDevice: {}, coalescedDrained: 0, coalescedByDevice: {}, acksWithoutExitByDevice: {}, readsAnsweredByVcpuByDevice: {}, totalExits: 0, runSeconds: 0, firstEntryEpochMs: 0 };
  for (const r of reports) {
    add(merged.exitsByReason, r.exitsByReason);
    add(merged.accessesByDevice, r.accessesByDevice);
    add(merged.coalescedByDevice, r.coalescedByDevice);
    add(merged.acksWithoutExitByDevice, r.acksWithoutExitByDevice);
    add(merged.readsAnsweredByVcpuByDevice, r.readsAnsweredByVcpuByDevice);
    merged.coalescedDrained += r.coalescedDrained;
    merged.totalExits += r.totalExits;
    merged.runSeconds = Math.max(merged.runSeconds, r.runSeconds);
    if (r.firstEntryEpochMs > 0 && (merged.firstEntryEpochMs === 0 || r.firstEntryEpochMs < merged.firstEntryEpochMs)) merged.firstEntryEpochMs = r.firstEntryEpochMs;
  }
  return merged;
}
