// A VM's only vCPU, run on the helper's main thread between the turns of its
// device loop (src/bus/blocking-loop.ts), instead of on a worker thread of its
// own. A worker is a second V8 isolate: in a nested L1 its start took
// ~0.7-0.85 s of CPU on the way to the guest's first instruction, and its
// heap, stacks and arenas ~10 MiB of the helper's resident memory while the
// guest ran (docs/helper-memory.md, "Without the vCPU isolate").
//
// The thread runs the guest where the loop would otherwise wait in
// epoll_pwait: KVM_RUN ends when one of the loop's descriptors becomes ready
// (an io_uring poll on its epoll descriptor: src/kvm/kvm-run-wake.ts), when
// libuv's next timer is due (the vCPU's own timer), or at a pause or stop;
// then the loop serves what is ready and runs the guest again. Exits are
// handled on the spot: the virtio transports served here are called
// directly, where a worker forwarded each access over a socket to this
// thread and waited for its answer. Several vCPUs keep their worker threads
// (vcpu-worker.ts): they must run at once.
import { YIELD } from '../kvm/exit-loop.js';
import type { ExitStatsReport } from '../kvm/exit-stats.js';
import type { KvmRunWake } from '../kvm/kvm-run-wake.js';
import { EXIT_STATUS, type VmExit } from '../kvm/vm-exit.js';
import type { GuestSlices } from '../bus/blocking-loop.js';
import { VcpuCore, type VcpuCoreOptions } from './vcpu-core.js';

const STOPPED: VmExit = { kind: 'stopped', status: EXIT_STATUS.stopped, message: 'the VMM was asked to stop' };

export interface MainThreadVcpuOptions extends Omit<VcpuCoreOptions, 'onInterrupt' | 'beforeRun' | 'timerAlways'> {
  /** Watches the device loop's epoll descriptor: KVM_RUN ends when it is readable. Closed at the end. */
  wake: KvmRunWake;
  /** The VM ended, however (an exit status, a reset, a failure, a stop). */
  onEnd(exit: VmExit, stats: ExitStatsReport): void;
}

export class MainThreadVcpu implements GuestSlices {
  private readonly core: VcpuCore;
  private readonly wake: KvmRunWake;
  private state: 'waiting' | 'running' | 'paused' | 'ended' = 'waiting';
  private stopAsked = false;
  /** When the current slice must hand the thread back (performance.now() time). */
  private deadline = Infinity;

  /** Before the jail (it sets the thread's signal mask and makes its timer). */
  constructor(private readonly options: MainThreadVcpuOptions) {
    this.wake = options.wake;
    try {
      this.core = new VcpuCore({
        ...options,
        // It bounds every slice, and covers the wake's window (kvm-run-wake.ts).
        timerAlways: true,
        beforeRun: () => {
          // A descriptor became ready while the thread handled an exit: KVM_RUN ends at once.
          if (this.wake.fired) options.run.immediateExit = true;
        },
        onInterrupt: () => {
          if (this.stopAsked) return STOPPED;
          if (this.state !== 'running' || this.wake.fired || performance.now() >= this.deadline) return YIELD;
          return undefined;
        },
      });
    } catch (e) {
      this.wake.close();
      throw e;
    }
  }

  get runnable(): boolean {
    return this.state === 'running';
  }

  /** The guest may run from now on (the device loop gives it the thread). */
  go(): void {
    if (this.state !== 'waiting') return;
    this.state = 'running';
    this.core.startTimer();
  }

  /** Out of the guest until resume(), everything it wrote delivered. On this thread, so never inside KVM_RUN. */
  pause(): void {
    if (this.state !== 'running') return;
    this.core.deliverOutput();
    this.state = 'paused';
  }

  resume(): void {
    if (this.state === 'paused') this.state = 'running';
  }

  /** Ends the VM at the next slice ('stopped'), paused or not. */
  stop(): void {
    this.stopAsked = true;
    if (this.state === 'paused' || this.state === 'waiting') this.state = 'running';
  }

  runUntilWoken(timeoutMs: number): void {
    if (this.state !== 'running') return;
    if (this.stopAsked) return this.end(STOPPED);
    // A descriptor ready already: served first.
    if (this.wake.arm()) return;
    this.deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
    this.core.interruptWithin(timeoutMs);
    let exit: VmExit | undefined;
    try {
      exit = this.core.loop.runSlice();
    } catch (e) {
      exit = { kind: 'error', status: EXIT_STATUS.error, message: `vCPU 0 failed: ${(e as Error).stack ?? e}` };
    }
    if (exit) this.end(exit);
  }

  private end(exit: VmExit): void {
    this.state = 'ended';
    let stats: ExitStatsReport;
    try {
      stats = this.core.finish();
    } finally {
      this.wake.close();
    }
    this.options.onEnd(exit, stats);
  }
}
