// Entry point of a vCPU worker thread: given its vCPU, builds the exit-serviced device models
// the device plan gives it (through the catalog; with several vCPUs there are
// none: shared-platform-devices.ts) and runs the exit loop until the VM ends.
import { parentPort } from 'node:worker_threads';
import { gettid, setThreadName, viewAt } from '../../ffi/libc.js';
import { IoBus } from '../bus/io-bus.js';
import { IOREGION_RESPONSE_TIMEOUT_MS, IoregionClient } from '../bus/ioregion-client.js';
import { EventfdCounter } from '../bus/eventfd-signals.js';
import { MirroredReads } from '../bus/mirrored-reads.js';
import { VirtioRegisterShortcut } from '../devices/virtio/virtio-register-shortcut.js';
import { SHARED_REGISTERS_BYTES } from '../devices/virtio/register-snapshot.js';
import { CoalescedRing } from '../bus/coalesced-ring.js';
import { RegionLock } from '../bus/region-lock.js';
import { platformKind } from '../devices/platform-catalog.js';
import type { ConsoleReceiver, VcpuEnvironment } from '../devices/device-kind.js';
import { ExitLoop } from '../kvm/exit-loop.js';
import { ExitStats } from '../kvm/exit-stats.js';
import { VcpuSignal } from '../kvm/vcpu-signal.js';
import { VcpuTimer } from '../kvm/vcpu-timer.js';
import { KvmIrqLine } from '../kvm/irq-line.js';
import { KvmRunView } from '../kvm/kvm-run.js';
import { EXIT_STATUS, type VmExit } from '../kvm/vm-exit.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { CONSOLE_READER_GONE, ConsoleOutput } from './console-output.js';
import { InputRing } from './input-ring.js';
import { RingSweep } from './ring-sweep.js';
import { epochNow } from '../startup-marks.js';
import { COMMAND_PAUSE, COMMAND_STOP, CONTROL_COMMAND, CONTROL_GO, CONTROL_TID, VCPU_THREAD_NAME, type VcpuMessage, type VcpuStart, type VcpuWorkerData } from './vcpu-protocol.js';

const PAGE_SIZE = 4096;

function post(message: VcpuMessage): void {
  parentPort!.postMessage(message);
}

function main(data: VcpuWorkerData, codeLoaded: number, started: number): void {
  const control = new Int32Array(data.control);
  const tid = gettid() as number;
  Atomics.store(control, CONTROL_TID, tid);
  // Still before the jail (the helper waits for 'ready' first).
  setThreadName(VCPU_THREAD_NAME(data.index));

  const memory = GuestMemory.adopt(data.memory);
  const run = new KvmRunView(data.runAddress, data.runSize);
  const pio = new IoBus('pio');
  const mmio = new IoBus('mmio');
  const stats = new ExitStats();
  let loop: ExitLoop | undefined;
  const end = (exit: VmExit) => loop!.requestExit(exit);
  const consoleOut = new ConsoleOutput(data.consoleFd, data.consoleHoldMs > 0 ? { holdMs: data.consoleHoldMs } : undefined, () => end(CONSOLE_READER_GONE));
  const input = new InputRing(data.input);
  let consoleInput: ConsoleReceiver | undefined;

  // Devices served elsewhere: their accesses go over their region sockets
  // (shared by every vCPU thread under the region's lock, with several).
  const shortcuts: VirtioRegisterShortcut[] = [];
  const mirrored: MirroredReads[] = [];
  for (const r of data.forwardedRegions) {
    const onDead = (why: string) => post({ type: 'device-failed', device: r.name, why });
    const lock = r.lock && new RegionLock(r.lock);
    const client = new IoregionClient(r.name, r.fd, onDead, !r.writesWait, IOREGION_RESPONSE_TIMEOUT_MS, r.inProcess ? 'thread' : 'process', lock);
    const status = r.interruptStatus;
    const shared = status === undefined ? undefined : status instanceof SharedArrayBuffer ? status : viewAt(status.address, SHARED_REGISTERS_BYTES);
    const shortcut = shared && new VirtioRegisterShortcut(client, shared, r.countedAcks === undefined ? undefined : new EventfdCounter(r.countedAcks));
    if (shortcut) shortcuts.push(shortcut);
    const mirror = r.mirror && new MirroredReads(client, r.mirror);
    if (mirror) mirrored.push(mirror);
    (r.space === 'pio' ? pio : mmio).add(r.base, r.size, shortcut || mirror || client);
  }

  // Exit-serviced devices, as the plan places them; the catalog builds each.
  const env: VcpuEnvironment = {
    irqLine: (gsi) => new KvmIrqLine(data.vmFd, gsi),
    consoleOutput: (byte) => consoleOut.put(byte),
    attachConsoleInput: (receiver) => (consoleInput ??= receiver),
    guestExited: (status) => end({ kind: 'guest-status', status, message: `guest exited with status ${status}` }),
    guestPoweredOff: () => end({ kind: 'guest-status', status: 0, message: 'guest powered off (ACPI S5)' }),
    guestReset: (why) => end({ kind: 'reset', status: EXIT_STATUS.reset, message: why }),
  };
  for (const d of data.devices) {
    const device = platformKind(d.config).build(d.config, env);
    for (const w of d.windows) (w.space === 'pio' ? pio : mmio).add(w.base, w.size, device);
  }

  const ring = data.coalescedRingPage > 0 ? new CoalescedRing(data.runAddress + data.coalescedRingPage * PAGE_SIZE, pio, mmio, stats) : undefined;
  // Kicks and this thread's own timer end KVM_RUN with a signal no handler sees (vcpu-signal.ts).
  const signal = new VcpuSignal(data.vcpuFd);
  // The ring drained here (one vCPU) is swept on this thread's own timer.
  const sweep = ring && { ring, timer: new VcpuTimer(), schedule: new RingSweep() };
  const inputChunk = new Uint8Array(64);
  const feedInput = () => {
    if (!consoleInput || input.available === 0) return;
    const n = input.take(inputChunk, consoleInput.rxSpace);
    if (n > 0) consoleInput.receive(inputChunk.subarray(0, n));
  };

  loop = new ExitLoop(data.vcpuFd, run, pio, mmio, memory, stats, {
    beforeRun: () => {
      consoleOut.flushIfDue();
      feedInput();
    },
    onInterrupt: () => {
      signal.take();
      // A sweep or a kick: what the guest wrote is drained, what the console holds goes out.
      consoleOut.flush();
      if (sweep) {
        const period = sweep.schedule.next({ guestExits: stats.guestExits(), waiting: sweep.ring.lastDrained, inputWaiting: input.available > 0 });
        if (period !== sweep.timer.periodMs) sweep.timer.setPeriod(period);
      }
      if (Atomics.load(control, CONTROL_COMMAND) === COMMAND_PAUSE) {
        // Everything the guest wrote is delivered before we report "paused".
        ring?.drain();
        consoleOut.flush();
        post({ type: 'paused', paused: true });
        while (Atomics.load(control, CONTROL_COMMAND) === COMMAND_PAUSE) Atomics.wait(control, CONTROL_COMMAND, COMMAND_PAUSE);
        post({ type: 'paused', paused: false });
      }
      if (Atomics.load(control, CONTROL_COMMAND) === COMMAND_STOP)
        return { kind: 'stopped', status: EXIT_STATUS.stopped, message: 'the VMM was asked to stop' };
      return undefined;
    },
  }, ring);

  post({ type: 'ready', tid, startMarks: { codeLoaded, started, ready: epochNow() } });
  while (Atomics.load(control, CONTROL_GO) === 0) Atomics.wait(control, CONTROL_GO, 0);
  let exit: VmExit;
  try {
    sweep?.timer.setPeriod(sweep.schedule.periodMs);
    exit = loop.runUntilExit();
    ring?.drain();
  } finally {
    sweep?.timer.delete();
    // Held bytes are written even when the loop failed.
    consoleOut.flush();
  }
  for (const shortcut of shortcuts) {
    shortcut.takeUncountedAcks();
    stats.countShortcut(shortcut.name, shortcut.readsAnswered, shortcut.acksWithoutExit);
  }
  for (const m of mirrored) stats.countShortcut(m.name, m.readsAnswered, 0);
  post({ type: 'exit', exit, stats: stats.report() });
}

// The thread may start before its vCPU exists (vcpu-threads.ts): it waits for it.
const codeLoaded = epochNow();
parentPort!.once('message', (m: VcpuStart) => {
  try {
    main(m.data, codeLoaded, epochNow());
  } catch (e) {
    post({ type: 'fatal', message: (e as Error).stack ?? String(e) });
  }
});
