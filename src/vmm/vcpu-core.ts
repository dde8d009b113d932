// One vCPU's exit loop with what surrounds it wherever it runs (its worker
// thread, vcpu-worker.ts, or the helper's main thread, main-thread-vcpu.ts):
// its buses and devices (vcpu-buses.ts), console output held in batches,
// console input fed to the UART, the coalesced ring drained on the way out
// of the guest and swept on the vCPU's own timer, and the signal that ends
// KVM_RUN (vcpu-signal.ts). Where it runs decides the rest: what an
// interruption means (pause, stop, a descriptor to serve) and how long a
// run lasts.
import type { ConsoleReceiver, VcpuEnvironment } from '../devices/device-kind.js';
import { CoalescedRing } from '../bus/coalesced-ring.js';
import { ExitLoop, type YIELD } from '../kvm/exit-loop.js';
import { ExitStats, type ExitStatsReport } from '../kvm/exit-stats.js';
import { KvmIrqLine } from '../kvm/irq-line.js';
import type { KvmRunView } from '../kvm/kvm-run.js';
import { VcpuSignal } from '../kvm/vcpu-signal.js';
import { VcpuTimer } from '../kvm/vcpu-timer.js';
import { EXIT_STATUS, type VmExit } from '../kvm/vm-exit.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { CONSOLE_READER_GONE, ConsoleOutput } from './console-output.js';
import type { InputRing } from './input-ring.js';
import { RingSweep } from './ring-sweep.js';
import { buildVcpuBuses, countShortcuts, type VcpuBusPlan, type VcpuBuses } from './vcpu-buses.js';

export interface VcpuCoreOptions {
  vcpuFd: number;
  vmFd: number;
  run: KvmRunView;
  memory: GuestMemory;
  buses: VcpuBusPlan;
  consoleFd: number;
  /** Console bytes wait for the vCPU's next interruption (console-output.ts), which its timer bounds; false: written at every exit. */
  consoleHeld: boolean;
  input: InputRing;
  /** The coalesced ring's address when this vCPU drains it; 0 otherwise. */
  ringAddress: number;
  /** Keep the vCPU's timer running even without a ring to sweep (the main thread's vCPU: vcpu-timer.ts bounds its waits). */
  timerAlways?: boolean;
  /** Before each KVM_RUN, after the core's own work. */
  beforeRun?(): void;
  /** At an interruption, after the core's own work: a VmExit ends the VM, YIELD the slice (runSlice). */
  onInterrupt(): VmExit | typeof YIELD | undefined;
}

export class VcpuCore {
  readonly stats = new ExitStats();
  readonly loop: ExitLoop;
  private readonly ring: CoalescedRing | undefined;
  private readonly timer: VcpuTimer | undefined;
  private readonly sweep = new RingSweep();
  private readonly buses: VcpuBuses;
  private readonly console: ConsoleOutput;
  private readonly signal: VcpuSignal;
  private readonly input: InputRing;
  private consoleInput: ConsoleReceiver | undefined;
  private readonly inputChunk = new Uint8Array(64);

  /** On the thread that will run the vCPU (its signal mask and timer are that thread's). */
  constructor(options: VcpuCoreOptions) {
    const { run, memory } = options;
    this.input = options.input;
    const end = (exit: VmExit) => this.loop.requestExit(exit);
    // The vCPU's own timer: it sweeps the ring, and it is what writes out held console bytes.
    const timed = options.ringAddress > 0 || options.timerAlways === true;
    this.console = new ConsoleOutput(options.consoleFd, options.consoleHeld && timed, () => end(CONSOLE_READER_GONE));
    const env: VcpuEnvironment = {
      irqLine: (gsi) => new KvmIrqLine(options.vmFd, gsi),
      consoleOutput: (byte) => this.console.put(byte),
      attachConsoleInput: (receiver) => (this.consoleInput ??= receiver),
      guestExited: (status) => end({ kind: 'guest-status', status, message: `guest exited with status ${status}` }),
      guestPoweredOff: () => end({ kind: 'guest-status', status: 0, message: 'guest powered off (ACPI S5)' }),
      guestReset: (why) => end({ kind: 'reset', status: EXIT_STATUS.reset, message: why }),
    };
    this.buses = buildVcpuBuses(options.buses, env);
    const { pio, mmio } = this.buses;
    this.ring = options.ringAddress > 0 ? new CoalescedRing(options.ringAddress, pio, mmio, this.stats) : undefined;
    // Kicks and the vCPU's own timer end KVM_RUN with a signal no handler sees.
    this.signal = new VcpuSignal(options.vcpuFd);
    this.timer = timed ? new VcpuTimer() : undefined;
    this.loop = new ExitLoop(options.vcpuFd, run, pio, mmio, memory, this.stats, {
      beforeRun: () => {
        this.console.flushIfDue();
        this.feedInput();
        options.beforeRun?.();
      },
      onInterrupt: () => {
        this.signal.take();
        // A sweep or a kick: what the guest wrote is drained, what the console holds goes out.
        this.console.flush();
        if (this.timer) {
          const period = this.sweep.next({ guestExits: this.stats.guestExits(), waiting: this.ring?.lastDrained ?? 0, inputWaiting: this.input.available > 0 });
          if (period !== this.timer.periodMs) this.timer.setPeriod(period);
        }
        return options.onInterrupt();
      },
    }, this.ring);
  }

  /**
   * The timer fires within `limitMs` (at least 1 ms; -1: at the sweep's
   * period); the next interruption sets the sweep's period again.
   */
  interruptWithin(limitMs: number): void {
    if (!this.timer) return;
    const period = limitMs < 0 ? this.sweep.periodMs : Math.max(1, Math.min(this.sweep.periodMs, limitMs));
    if (period !== this.timer.periodMs) this.timer.setPeriod(period);
  }

  /** Before the guest's first instruction. */
  startTimer(): void {
    this.timer?.setPeriod(this.sweep.periodMs);
  }

  /** Everything the guest wrote delivered: the ring drained, held console bytes written (a pause, the end). */
  deliverOutput(): void {
    this.ring?.drain();
    this.console.flush();
  }

  /** At the VM's end, whatever ended it: output delivered, the timer gone; its statistics. */
  finish(): ExitStatsReport {
    // Ended between two slices (a stop): the run lasted until now.
    if (this.stats.endedAt < this.stats.startedAt) this.stats.endedAt = performance.now();
    try {
      this.ring?.drain();
    } finally {
      this.timer?.delete();
      // Held bytes are written even when the loop failed.
      this.console.flush();
    }
    countShortcuts(this.buses, this.stats);
    return this.stats.report();
  }

  private feedInput(): void {
    if (!this.consoleInput || this.input.available === 0) return;
    const n = this.input.take(this.inputChunk, this.consoleInput.rxSpace);
    if (n > 0) this.consoleInput.receive(this.inputChunk.subarray(0, n));
  }
}
