// The vCPU exit loop: KVM_RUN, then dispatch the exit to a device model.
// Runs in a worker thread (a blocking KVM_RUN would freeze an event loop), or
// in slices on the helper's main thread when the VM has one vCPU
// (main-thread-vcpu.ts): an interruption then hands the thread back.
// Hot path: no allocation per exit, one fixed-prototype ioctl per entry.
import { koffi } from '../../ffi/koffi.js';
import { EAGAIN, EINTR, errnoName, ioctlValue } from '../../ffi/libc.js';
import { KVM_EXIT, KVM_EXIT_IO_OUT, KVM_INTERNAL_ERROR, KVM_IOCTL, KVM_SYSTEM_EVENT, exitReasonName } from '../../ffi/kvm-abi.js';
import type { IoBus } from '../bus/io-bus.js';
import type { CoalescedRing } from '../bus/coalesced-ring.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { readVirtual } from '../memory/page-walker.js';
import type { KvmRunView } from './kvm-run.js';
import type { ExitStats } from './exit-stats.js';
import { EXIT_STATUS, type VmExit } from './vm-exit.js';
import { snapshotRegisters } from './vcpu-setup.js';

const SUBERROR_NAMES: Record<number, string> = {
  [KVM_INTERNAL_ERROR.EMULATION]: 'emulation failure',
  [KVM_INTERNAL_ERROR.SIMUL_EX]: 'simultaneous exceptions',
  [KVM_INTERNAL_ERROR.DELIVERY_EV]: 'event delivery failed',
  [KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON]: 'unexpected exit reason',
};

/** What onInterrupt answers to end a slice (runSlice) without ending the VM. */
export const YIELD = 'yield';

export interface ExitLoopHooks {
  /**
   * Called when KVM_RUN was interrupted (a kick, a timer, a descriptor's
   * wake-up): handle input, control requests. A VmExit ends the VM; YIELD
   * ends the slice (runSlice only); undefined goes back into the guest.
   */
  onInterrupt(): VmExit | typeof YIELD | undefined;
  /** Called before each KVM_RUN (flush console output, feed input). */
  beforeRun(): void;
}

export class ExitLoop {
  /** Set by device callbacks (exit device, reset) to end the loop after the current exit. */
  private pendingExit: VmExit | undefined;

  constructor(
    private readonly vcpuFd: number,
    private readonly run: KvmRunView,
    private readonly pio: IoBus,
    private readonly mmio: IoBus,
    private readonly memory: GuestMemory,
    private readonly stats: ExitStats,
    private readonly hooks: ExitLoopHooks,
    private readonly coalesced: CoalescedRing | undefined,
  ) {}

  /** Ends the VM once the exit being handled is done. */
  requestExit(exit: VmExit): void {
    this.pendingExit ??= exit;
  }

  /** Runs the vCPU until the VM ends (on a thread of its own: its hooks never yield). */
  runUntilExit(): VmExit {
    this.stats.startedAt = performance.now();
    try {
      const exit = this.loop();
      if (exit === undefined) throw new Error('the exit loop yielded where it runs to the end');
      return exit;
    } finally {
      this.stats.endedAt = performance.now();
    }
  }

  /**
   * Runs the vCPU until the VM ends (its VmExit) or onInterrupt yields
   * (undefined): a thread that has other work calls it again later.
   */
  runSlice(): VmExit | undefined {
    if (this.stats.startedAt === 0) this.stats.startedAt = performance.now();
    const exit = this.loop();
    if (exit) this.stats.endedAt = performance.now();
    return exit;
  }

  private loop(): VmExit | undefined {
    const run = this.run;
    const fd = this.vcpuFd;
    const kvmRun = KVM_IOCTL.KVM_RUN;
    const byReason = this.stats.byReason;
    // Asked for between two slices (by a device served on the same thread).
    const asked = this.takePendingExit();
    if (asked) return asked;
    for (;;) {
      this.hooks.beforeRun();
      const ret = ioctlValue(fd, kvmRun, 0) as number;
      // Writes KVM queued in the coalesced ring happened before this exit: replay them first.
      if (this.coalesced) this.coalesced.drain();
      if (ret < 0) {
        const errno = koffi.errno();
        if (errno === EINTR || errno === EAGAIN) {
          byReason[KVM_EXIT.INTR]++;
          run.immediateExit = false;
          const exit = this.hooks.onInterrupt() ?? this.takePendingExit();
          if (exit === YIELD) return this.takePendingExit();
          if (exit) return exit;
          continue;
        }
        return this.fail(`KVM_RUN failed: ${errnoName(errno)}`);
      }
      const reason = run.exitReason;
      byReason[reason]++;
      switch (reason) {
        case KVM_EXIT.IO:
          this.handleIo();
          break;
        case KVM_EXIT.MMIO:
          this.handleMmio();
          break;
        case KVM_EXIT.INTR:
          run.immediateExit = false;
          {
            const exit = this.hooks.onInterrupt();
            if (exit === YIELD) return this.takePendingExit();
            if (exit) return exit;
          }
          break;
        case KVM_EXIT.HLT:
          return { kind: 'poweroff', status: EXIT_STATUS.poweroff, message: 'guest halted' };
        case KVM_EXIT.SHUTDOWN:
          return { kind: 'reset', status: EXIT_STATUS.reset, message: 'guest triple-faulted or requested a reset (KVM_EXIT_SHUTDOWN)' };
        case KVM_EXIT.SYSTEM_EVENT:
          return this.systemEvent(run.systemEventType);
        case KVM_EXIT.FAIL_ENTRY:
          return this.fail(`KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x${run.failEntryReason.toString(16)}${this.where()}`);
        case KVM_EXIT.INTERNAL_ERROR:
          return this.internalError();
        default:
          return this.fail(`unhandled exit ${exitReasonName(reason)}${this.where()}`);
      }
      const exit = this.takePendingExit();
      if (exit) return exit;
    }
  }

  private takePendingExit(): VmExit | undefined {
    const exit = this.pendingExit;
    this.pendingExit = undefined;
    return exit;
  }

  private handleIo(): void {
    const run = this.run;
    const port = run.ioPort;
    const size = run.ioSize;
    const count = run.ioCount;
    const out = run.ioDirection === KVM_EXIT_IO_OUT;
    for (let i = 0; i < count; i++) {
      const data = run.ioDataWindow(i, size);
      // The kernel fills kvm_run, but a count or size that ran past the mapping
      // would otherwise spin through ~2^32 empty accesses.
      if (data.length !== size || size === 0) return;
      const device = out ? this.pio.write(port, data) : this.pio.read(port, data);
      if (device) this.stats.countDevice(device.name);
    }
  }

  private handleMmio(): void {
    const run = this.run;
    const data = run.mmioDataWindow();
    const device = run.mmioIsWrite ? this.mmio.write(run.mmioAddress, data) : this.mmio.read(run.mmioAddress, data);
    if (device) this.stats.countDevice(device.name);
  }

  private systemEvent(type: number): VmExit {
    switch (type) {
      case KVM_SYSTEM_EVENT.SHUTDOWN:
        return { kind: 'poweroff', status: EXIT_STATUS.poweroff, message: 'guest powered off' };
      case KVM_SYSTEM_EVENT.RESET:
        return { kind: 'reset', status: EXIT_STATUS.reset, message: 'guest requested a reset' };
      case KVM_SYSTEM_EVENT.CRASH:
        return this.fail(`guest crashed (KVM_SYSTEM_EVENT_CRASH)${this.where()}`);
      default:
        return this.fail(`unknown KVM system event ${type}`);
    }
  }

  private internalError(): VmExit {
    const sub = this.run.internalSuberror;
    const data = this.run.internalData().map((d) => `0x${d.toString(16)}`);
    const name = SUBERROR_NAMES[sub] ?? 'unknown';
    return this.fail(
      `KVM_EXIT_INTERNAL_ERROR, suberror ${sub} (${name})${this.where()}${data.length ? `; data: ${data.join(' ')}` : ''}`,
    );
  }

  /** ", at RIP 0x… (64-bit mode), instruction bytes: …" — best effort, never throws. */
  private where(): string {
    try {
      const r = snapshotRegisters(this.vcpuFd);
      const linear = r.mode === 64 ? r.rip : r.csBase + r.rip;
      const bytes = readVirtual(this.memory, r, linear, 15);
      const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
      return `, at RIP 0x${r.rip.toString(16)} (${r.mode}-bit mode, CS 0x${r.csSelector.toString(16)}), instruction bytes: ${hex || 'unreadable'}`;
    } catch (e) {
      return ` (registers unavailable: ${(e as Error).message})`;
    }
  }

  private fail(message: string): VmExit {
    return { kind: 'error', status: EXIT_STATUS.error, message };
  }
}
