// Assembles a VM on the VMM's main thread: KVM objects, guest RAM, the boot
// state, and the vCPUs' exit loops. A lone vCPU runs on the main thread
// itself, between the turns of its device loop (main-thread-vcpu.ts); with
// several, each has a worker thread, and the main thread stays free for the
// event loop: console input, control requests, virtio devices, and the
// platform devices (shared-platform-devices.ts). One vCPU out of the guest
// for good (an exit status, a reset, a failure) ends the VM: the others are
// stopped.
import type { Worker } from 'node:worker_threads';
import { getpid, tgkill, MAP_SHARED, PROT_READ, PROT_WRITE, mmapChecked, munmap } from '../../ffi/libc.js';
import { KVM_CAP } from '../../ffi/kvm-abi.js';
import type { BootCpuState } from '../boot/cpu-state.js';
import { cpuTemplate } from '../kvm/cpu-template.js';
import { setCpuBrand } from '../kvm/cpu-brand.js';
import { ExitStats, mergeExitStats, type ExitStatsReport } from '../kvm/exit-stats.js';
import { applyTopology } from '../kvm/cpu-topology.js';
import { KvmIrqLine } from '../kvm/irq-line.js';
import { RegionLock } from '../bus/region-lock.js';
import type { ConsoleReceiver, VcpuEnvironment } from '../devices/device-kind.js';
import { CONSOLE_READER_GONE, ConsoleOutput } from './console-output.js';
import { VcpuThreads } from './vcpu-threads.js';
import { SharedPlatformDevices } from './shared-platform-devices.js';
import type { KvmSystem } from '../kvm/kvm-system.js';
import { KvmRunView } from '../kvm/kvm-run.js';
import { applyBootState, setBootMsrs, setCpuid, setupFpu, setupLapic } from '../kvm/vcpu-setup.js';
import { Vm } from '../kvm/vm.js';
import { EXIT_STATUS, type VmExit } from '../kvm/vm-exit.js';
import type { Logger } from '../log.js';
import { plannedDescriptor, type PlannedDevice } from '../machine/device-plan.js';
import type { MachineDefinition } from '../machine/machine-definition.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { InputRing } from './input-ring.js';
import { CoalescedRingWatch } from './coalesced-ring-watch.js';
import { VCPU_SIGNAL, ignoreVcpuSignalElsewhere } from '../kvm/vcpu-signal.js';
import type { ForwardedRegion } from './forwarded-region.js';
import { VirtioDevices } from './virtio-devices.js';
import { virtioKind } from '../devices/catalog.js';
import { CoalescedZoneRegistry } from './coalesced-zones.js';
import { kernelHasIoregionfd, registerKernelIoregion } from '../kvm/kernel-ioregion.js';
import { ramLayout } from './memory-layout.js';
import { COMMAND_NONE, COMMAND_PAUSE, COMMAND_STOP, CONTROL_BYTES, CONTROL_COMMAND, CONTROL_GO, CONTROL_TID, type VcpuMessage, type VcpuWorkerData } from './vcpu-protocol.js';
import { markStartup, markStartupAt } from '../startup-marks.js';
import type { BlockingLoop } from '../bus/blocking-loop.js';
import { MainThreadVcpu } from './main-thread-vcpu.js';
import { KvmRunWake } from '../kvm/kvm-run-wake.js';

export interface VirtualMachineOptions {
  kvm: KvmSystem;
  machine: MachineDefinition;
  memorySize: number;
  /** vCPUs (default: the machine's cpu.count). */
  cpus?: number;
  cpuTemplate?: string;
  /** The processor's name the guest's CPUID gives (cpu-brand.ts); KVM's own leaves are empty. */
  cpuBrand?: string;
  /** Where every device goes (the frontend's device plan); the VM applies it. */
  devices: PlannedDevice[];
  /** The descriptors the frontend passed for the plan's devices, by their plan names. */
  descriptors: Readonly<Record<string, number>>;
  /** Map guest RAM from this file (shared with device processes) instead of private memory; `hugePages`: it gets 2 MiB pages (GuestMemory.allocate). */
  sharedRam?: { fd: number; hugePages: boolean };
  /** Register the coalesced zones devices declare (default true). */
  coalesced?: boolean;
  /** Loads the guest into RAM and returns the first vCPU's registers. */
  load(memory: GuestMemory): BootCpuState;
  consoleFd: number;
  log: Logger;
  /** Where the vCPU threads come from (the helper may start one early); default: started when needed. */
  vcpuThreads?: VcpuThreads;
  /** The main thread's device loop: a lone vCPU may run there (main-thread-vcpu.ts). */
  deviceLoop?: BlockingLoop;
  /** Where a lone vCPU runs: 'auto' (default: runsVcpuOnMainThread), or always on the 'main' thread, or a 'worker' of its own. */
  vcpuThread?: VcpuThreadChoice;
}

export type VcpuThreadChoice = 'auto' | 'main' | 'worker';

/**
 * Whether a VM runs its vCPU on the main thread: it has one, the main thread
 * has a device loop to run it from, and no device served there moves bulk
 * data. Such a device is served while the guest runs on (its used buffers
 * and interrupts in parallel with the guest's next requests); on one thread
 * each doorbell would stop the guest instead: a guest's 1 MiB over a tap
 * took 6-12 s instead of under 1 in a nested L1, its TCP sending ~1 KiB
 * frames where it had coalesced them (2026-12-07).
 */
export function runsVcpuOnMainThread(options: Pick<VirtualMachineOptions, 'deviceLoop' | 'vcpuThread' | 'devices'>, count: number): boolean {
  if (count !== 1 || options.deviceLoop === undefined || options.vcpuThread === 'worker') return false;
  return options.vcpuThread === 'main' || !options.devices.some((d) => d.virtio && d.host !== 'device-process' && virtioKind(d.config).bulkData);
}

/** A VM the host's KVM cannot make as asked (e.g. more vCPUs than it allows). */
export class VmConfigError extends Error {
  override name = 'VmConfigError';
}

export interface VmResult extends VmExit {
  stats: ExitStatsReport;
}

/** The main thread's handle on one vCPU: its KVM objects and the worker thread running it. */
interface Vcpu {
  index: number;
  fd: number;
  run: KvmRunView;
  /** [CONTROL_COMMAND, CONTROL_TID, CONTROL_GO] (vcpu-protocol.ts). */
  control: Int32Array;
  worker?: Worker;
  /** How its exit loop ended; undefined while it runs. */
  ended?: { exit: VmExit; stats: ExitStatsReport };
  ready: boolean;
  paused: boolean;
}

export class VirtualMachine {
  readonly input = InputRing.create();
  private ringWatch: CoalescedRingWatch | undefined;
  private finished = false;
  private result: Promise<VmResult> | undefined;
  private ready: Promise<void> | undefined;
  private isPaused = false;
  private zones: CoalescedZoneRegistry | undefined;
  private onPaused: (() => void) | undefined;
  /** With several vCPUs: the platform devices, served on this thread. */
  private shared: SharedPlatformDevices | undefined;
  private readonly sharedStats = new ExitStats();
  private sharedConsole: ConsoleOutput | undefined;
  private consoleReceiver: ConsoleReceiver | undefined;
  private inputRetry: NodeJS.Timeout | undefined;
  /** How a device on this thread ended the VM (guest exit, power-off, reset). */
  private requestedExit: VmExit | undefined;
  /** The lone vCPU, when it runs on this thread. */
  private mainThreadVcpu: MainThreadVcpu | undefined;

  private constructor(
    readonly vm: Vm,
    readonly memory: GuestMemory,
    private readonly vcpus: Vcpu[],
    private readonly options: VirtualMachineOptions,
    private readonly coalescedRingPage: number,
    private readonly forwardedRegions: ForwardedRegion[],
    readonly virtio: VirtioDevices,
    /** Set when the lone vCPU runs on this thread (main-thread-vcpu.ts). */
    private readonly wake: KvmRunWake | undefined,
  ) {}

  static create(options: VirtualMachineOptions): VirtualMachine {
    const { kvm, machine, log } = options;
    const count = options.cpus ?? machine.cpu.count;
    const layout = ramLayout(machine, options.memorySize);
    const memory = GuestMemory.allocate(layout, options.sharedRam && { memfd: options.sharedRam.fd, hugePages: options.sharedRam.hugePages });
    markStartup('ramMapped');
    const vm = Vm.create(kvm);
    markStartup('vmCreated');
    const cleanup: (() => void)[] = [];
    try {
      const limit = kvm.checkExtension(KVM_CAP.MAX_VCPUS) || kvm.checkExtension(KVM_CAP.NR_VCPUS) || 4;
      if (count > limit) throw new VmConfigError(`${count} vCPUs: this host's KVM allows at most ${limit} per VM (KVM_CAP_MAX_VCPUS)`);
      vm.addMemory(memory);
      markStartup('ramAdded');
      const boot = options.load(memory);
      markStartup('guestLoaded');
      const runSize = kvm.vcpuMmapSize();
      const template = cpuTemplate(options.cpuTemplate ?? machine.cpu.template);
      const supported = kvm.supportedCpuid();
      if (options.cpuBrand) setCpuBrand(supported, options.cpuBrand);
      const vcpus: Vcpu[] = [];
      for (let index = 0; index < count; index++) {
        const fd = vm.createVcpuFd(index);
        const run = new KvmRunView(mmapChecked(runSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), runSize);
        cleanup.push(() => munmap(run.address, run.size));
        const cpuid = supported.clone();
        template.apply(cpuid);
        applyTopology(cpuid, { index, count });
        setCpuid(fd, cpuid);
        setBootMsrs(fd, log);
        setupLapic(fd);
        setupFpu(fd);
        // The others wait for the boot CPU's INIT and start-up IPIs (the in-kernel LAPIC holds them).
        if (index === 0) applyBootState(fd, boot);
        vcpus.push({ index, fd, run, control: new Int32Array(new SharedArrayBuffer(CONTROL_BYTES)), ready: false, paused: false });
      }
      markStartup('vcpusCreated');
      const forwarded = forwardOrHandToKernel(vm, deviceProcessRegions(options), log);
      const wake = runsVcpuOnMainThread(options, count) ? wakeOnDescriptors(options.deviceLoop!, log) : undefined;
      if (wake) cleanup.push(() => wake.close());
      const virtio = VirtioDevices.attach(vm, memory, options.devices, options.descriptors, log, wake !== undefined);
      cleanup.push(() => virtio.close());
      forwarded.push(...virtio.regions);
      const ringPage = kvm.checkExtension(KVM_CAP.COALESCED_MMIO);
      log.debug({ vcpus: count, cpuTemplate: template.name, ringPage, memory: memory.describe().map((r) => `${r.gpa.toString(16)}+${r.size.toString(16)}`) }, 'VM created');
      return new VirtualMachine(vm, memory, vcpus, options, ringPage > 0 && ringPage * 4096 < runSize ? ringPage : 0, forwarded, virtio, wake);
    } catch (e) {
      cleanup.reverse().forEach((f) => f());
      vm.close();
      memory.release();
      throw e;
    }
  }

  /**
   * Starts the vCPU threads: each loads its code and builds its devices, then
   * waits. Call before jailing the process; `run()` lets the guest start.
   */
  prepare(): Promise<void> {
    if (this.ready) return this.ready;
    const { options } = this;
    this.registerCoalescedZones();
    ignoreVcpuSignalElsewhere();
    const onVcpuThread = options.devices.filter((d) => d.host === 'vcpu-thread');
    if (this.wake) return (this.ready = this.prepareMainThreadVcpu(onVcpuThread, this.wake));
    let regions = this.forwardedRegions;
    if (this.vcpus.length > 1) {
      this.shared = new SharedPlatformDevices(onVcpuThread, this.sharedEnvironment(), this.sharedStats);
      if (this.coalescedRingPage) this.shared.consumeRing(this.vcpus[0].run.address + this.coalescedRingPage * 4096);
      // Several vCPU threads share each forwarded socket, one request at a time.
      regions = [...this.shared.regions, ...regions].map((r) => ({ ...r, lock: new RegionLock().buffer }));
    }
    let onReady!: () => void;
    this.ready = new Promise<void>((resolve) => (onReady = resolve));
    this.result = new Promise<VmResult>((resolve) => {
      const ended = (vcpu: Vcpu, exit: VmExit, stats: ExitStatsReport) => {
        if (vcpu.ended) return;
        vcpu.ended = { exit, stats };
        vcpu.ready = true; // a thread that died while starting is not going to be ready
        if (this.vcpus.every((v) => v.ready)) onReady();
        // One vCPU out ends the VM: the others are stopped, then the VM reports.
        if (!this.vcpus.every((v) => v.ended)) return this.stopAll();
        if (this.finished) return;
        this.finished = true;
        this.ringWatch?.stop();
        clearTimeout(this.inputRetry);
        this.shared?.drainRing();
        this.sharedConsole?.flush();
        resolve({ ...this.outcome(), stats: this.mergedStats() });
      };
      for (const vcpu of this.vcpus) {
        const data: VcpuWorkerData = {
          index: vcpu.index,
          vcpuFd: vcpu.fd,
          vmFd: this.vm.fd,
          runAddress: vcpu.run.address,
          runSize: vcpu.run.size,
          coalescedRingPage: this.shared ? 0 : this.coalescedRingPage,
          memory: this.memory.describe(),
          devices: this.shared ? [] : onVcpuThread,
          forwardedRegions: regions,
          consoleFd: options.consoleFd,
          // Held only where the vCPU's own ring sweep bounds the wait (one vCPU, coalesced zones).
          consoleHeld: !this.shared && this.coalescedRingPage !== 0,
          control: vcpu.control.buffer as SharedArrayBuffer,
          input: this.input.buffer,
        };
        const error = (message: string) => ended(vcpu, { kind: 'error', status: EXIT_STATUS.error, message }, emptyStats());
        const worker = (options.vcpuThreads ?? new VcpuThreads()).start(data);
        vcpu.worker = worker;
        worker.on('message', (m: VcpuMessage) => {
          if (m.type === 'device-failed') this.deviceFailed(m.device, m.why);
          else if (m.type === 'paused') this.vcpuPaused(vcpu, m.paused);
          else if (m.type === 'ready') {
            options.log.debug({ tid: m.tid }, `vCPU ${vcpu.index} thread ready`);
            if (vcpu.index === 0) {
              markStartupAt('vcpuCodeLoaded', m.startMarks.codeLoaded);
              markStartupAt('vcpuStarted', m.startMarks.started);
              markStartupAt('vcpuBuilt', m.startMarks.ready);
            }
            vcpu.ready = true;
            if (this.vcpus.every((v) => v.ready)) onReady();
          } else if (m.type === 'exit') ended(vcpu, m.exit, m.stats);
          else error(`vCPU ${vcpu.index} thread failed: ${m.message}`);
        });
        worker.on('error', (e) => error(`vCPU ${vcpu.index} thread crashed: ${e.stack ?? e}`));
        worker.on('exit', (code) => error(`vCPU ${vcpu.index} thread ended unexpectedly (code ${code})`));
      }
    });
    return this.ready;
  }

  /** The lone vCPU on this thread: built now (before the jail), run by the device loop from run() on. */
  private prepareMainThreadVcpu(devices: PlannedDevice[], wake: KvmRunWake): Promise<void> {
    const { options } = this;
    const [vcpu] = this.vcpus;
    let resolve!: (result: VmResult) => void;
    this.result = new Promise<VmResult>((r) => (resolve = r));
    // Thrown here (a device that cannot be built), the helper's start fails as a whole.
    this.mainThreadVcpu = new MainThreadVcpu({
      vcpuFd: vcpu.fd,
      vmFd: this.vm.fd,
      run: vcpu.run,
      memory: this.memory,
      buses: {
        devices,
        forwarded: this.forwardedRegions,
        local: this.virtio.localRegions,
        onDeviceDead: (device, why) => this.deviceFailed(device, why),
      },
      consoleFd: options.consoleFd,
      // The vCPU's timer, always running here, bounds the hold.
      consoleHeld: true,
      input: this.input,
      ringAddress: this.coalescedRingPage ? vcpu.run.address + this.coalescedRingPage * 4096 : 0,
      wake,
      onEnd: (exit, stats) => {
        this.finished = true;
        options.deviceLoop!.setGuest(undefined);
        resolve({ ...exit, stats });
      },
    });
    markStartup('vcpuBuilt');
    return Promise.resolve();
  }

  /** Runs the guest to its end. Resolves with how it ended; never rejects for guest behaviour. */
  async run(): Promise<VmResult> {
    await this.prepare();
    const mainThreadVcpu = this.mainThreadVcpu;
    if (mainThreadVcpu) {
      mainThreadVcpu.go();
      this.options.deviceLoop!.setGuest(mainThreadVcpu);
      return this.result!;
    }
    for (const vcpu of this.vcpus) {
      Atomics.store(vcpu.control, CONTROL_GO, 1);
      Atomics.notify(vcpu.control, CONTROL_GO);
    }
    // One vCPU drains the ring on its way out of the guest, and sweeps it on
    // its own timer (ring-sweep.ts); with several, this thread drains it.
    const devices = this.shared;
    const ring = devices?.ring;
    if (devices && ring && !this.ringWatch) {
      this.ringWatch = new CoalescedRingWatch(ring, () => ring.drain(), () => devices.drainAwaited);
      this.ringWatch.start();
    }
    return this.result!;
  }

  /** Console input: queued for the UART; the vCPU is kicked so it sees it at once (with several, it is fed from here). */
  sendInput(bytes: Uint8Array): number {
    const n = this.input.push(bytes);
    if (n === 0) return 0;
    // On this thread the vCPU is not in KVM_RUN now: it feeds the UART before it enters again.
    if (this.mainThreadVcpu) return n;
    if (this.shared) this.feedSharedInput();
    else this.kick(this.vcpus[0]);
    return n;
  }

  /** Takes every vCPU out of the guest and keeps it out; resolves once all are (coalesced writes delivered). */
  pause(): Promise<void> {
    if (this.mainThreadVcpu) {
      if (!this.finished) this.mainThreadVcpu.pause();
      this.isPaused = !this.finished;
      return Promise.resolve();
    }
    if (this.finished || this.vcpus.some((v) => Atomics.load(v.control, CONTROL_COMMAND) !== COMMAND_NONE)) return Promise.resolve();
    const paused = new Promise<void>((resolve) => (this.onPaused = resolve));
    for (const vcpu of this.vcpus) {
      Atomics.store(vcpu.control, CONTROL_COMMAND, COMMAND_PAUSE);
      this.kick(vcpu);
    }
    return paused;
  }

  resume(): void {
    if (this.mainThreadVcpu) {
      this.mainThreadVcpu.resume();
      this.isPaused = false;
      return;
    }
    let resumed = false;
    for (const vcpu of this.vcpus)
      if (Atomics.compareExchange(vcpu.control, CONTROL_COMMAND, COMMAND_PAUSE, COMMAND_NONE) === COMMAND_PAUSE) {
        Atomics.notify(vcpu.control, CONTROL_COMMAND);
        resumed = true;
      }
    if (resumed) this.isPaused = false;
  }

  /** The lone vCPU runs on this thread (its wake polls through io_uring: the jail must allow io_uring_enter). */
  get vcpuOnMainThread(): boolean {
    return this.mainThreadVcpu !== undefined;
  }

  get state(): 'running' | 'paused' | 'ended' {
    return this.finished ? 'ended' : this.isPaused ? 'paused' : 'running';
  }

  /** Asks every vCPU to stop; `run()` then resolves with kind 'stopped'. */
  stop(): void {
    this.stopAll();
  }

  private stopAll(): void {
    if (this.mainThreadVcpu) return this.mainThreadVcpu.stop();
    for (const vcpu of this.vcpus) {
      if (vcpu.ended) continue;
      Atomics.store(vcpu.control, CONTROL_COMMAND, COMMAND_STOP);
      Atomics.notify(vcpu.control, CONTROL_COMMAND); // wakes a paused vCPU
      this.kick(vcpu);
      Atomics.store(vcpu.control, CONTROL_GO, 1); // a vCPU still waiting to start sees the stop at once
      Atomics.notify(vcpu.control, CONTROL_GO);
    }
  }

  /** Gets a vCPU out of KVM_RUN: immediate_exit covers the race with entry, the signal the wait inside it. */
  private kick(vcpu: Vcpu): void {
    const tid = Atomics.load(vcpu.control, CONTROL_TID);
    vcpu.run.immediateExit = true;
    if (tid > 0 && !vcpu.ended) tgkill(getpid(), tid, VCPU_SIGNAL);
  }

  /** A device served elsewhere stopped answering; its region now fails. */
  private deviceFailed(device: string, why: string): void {
    this.options.log.error({ device, why }, `device ${device} failed: ${why}; the guest sees its accesses fail (reads return all ones)`);
  }

  private vcpuPaused(vcpu: Vcpu, paused: boolean): void {
    vcpu.paused = paused;
    if (!paused || !this.vcpus.every((v) => v.paused || v.ended)) return;
    // Everything the guest wrote is delivered before we report "paused".
    this.shared?.drainRing();
    this.sharedConsole?.flush();
    this.isPaused = true;
    this.onPaused?.();
  }

  /** How the VM ended: a device here that ended it, else the first vCPU that did not just obey a stop. */
  private outcome(): VmExit {
    if (this.requestedExit) return this.requestedExit;
    const exits = this.vcpus.map((v) => v.ended!.exit);
    return exits.find((e) => e.kind !== 'stopped') ?? exits[0];
  }

  private mergedStats(): ExitStatsReport {
    const reports = this.vcpus.map((v) => v.ended!.stats);
    if (this.shared) reports.push(this.sharedStats.report());
    return mergeExitStats(reports);
  }

  /** What the platform devices get when they are served on this thread (several vCPUs). */
  private sharedEnvironment(): VcpuEnvironment {
    const end = (exit: VmExit) => {
      this.requestedExit ??= exit;
      this.stopAll();
    };
    const output = (this.sharedConsole = new ConsoleOutput(this.options.consoleFd, false, () => end(CONSOLE_READER_GONE)));
    let flushQueued = false;
    return {
      irqLine: (gsi) => new KvmIrqLine(this.vm.fd, gsi),
      consoleOutput: (byte) => {
        output.put(byte);
        if (flushQueued) return;
        flushQueued = true;
        setImmediate(() => ((flushQueued = false), output.flush()));
      },
      attachConsoleInput: (receiver) => (this.consoleReceiver ??= receiver),
      guestExited: (status) => end({ kind: 'guest-status', status, message: `guest exited with status ${status}` }),
      guestPoweredOff: () => end({ kind: 'guest-status', status: 0, message: 'guest powered off (ACPI S5)' }),
      guestReset: (why) => end({ kind: 'reset', status: EXIT_STATUS.reset, message: why }),
    };
  }

  /** Hands queued console input to the UART served here, as fast as its receive buffer drains. */
  private feedSharedInput(): void {
    const receiver = this.consoleReceiver;
    if (!receiver || this.finished) return;
    clearTimeout(this.inputRetry);
    this.inputRetry = undefined;
    const chunk = new Uint8Array(64);
    while (this.input.available > 0) {
      const n = this.input.take(chunk, receiver.rxSpace);
      if (n === 0) break;
      receiver.receive(chunk.subarray(0, n));
    }
    if (this.input.available > 0) this.inputRetry = setTimeout(() => this.feedSharedInput(), 5);
  }

  private registerCoalescedZones(): void {
    if (!this.coalescedRingPage || this.options.coalesced === false) return;
    const { kvm, devices, log } = this.options;
    const pioCapable = kvm.checkExtension(KVM_CAP.COALESCED_PIO) > 0;
    if (!pioCapable) log.info("this host's KVM lacks KVM_CAP_COALESCED_PIO: port writes stay uncoalesced");
    this.zones = new CoalescedZoneRegistry(this.vm, pioCapable);
    for (const device of devices) for (const zone of this.zones.add(device.config)) log.debug(zone, 'coalesced zone registered');
  }
}

/** What ends a main-thread vCPU's KVM_RUN when the device loop has work; undefined (a worker then) where the host has no io_uring for it. */
function wakeOnDescriptors(loop: BlockingLoop, log: Logger): KvmRunWake | undefined {
  const wake = KvmRunWake.create(loop.descriptor);
  if (typeof wake !== 'number') return wake;
  log.info({ errno: -wake }, 'no restricted io_uring on this host: the vCPU runs on a thread of its own');
  return undefined;
}

/** The register windows of platform devices served by device processes, with the VMM's ends of their sockets. */
function deviceProcessRegions(options: VirtualMachineOptions): ForwardedRegion[] {
  return options.devices.flatMap((d) => {
    if (d.host !== 'device-process' || d.virtio) return [];
    const name = plannedDescriptor(d, 'region').name;
    const fd = options.descriptors[name];
    if (fd === undefined) throw new Error(`the frontend passed no "${name}" descriptor`);
    return d.windows.map((w) => ({ name: d.name, base: w.base, size: w.size, fd }));
  });
}

/**
 * Hands device-process regions to the kernel where it implements ioregionfd;
 * returns the ones the exit loop must forward itself.
 */
function forwardOrHandToKernel(vm: Vm, regions: readonly ForwardedRegion[], log: Logger): ForwardedRegion[] {
  if (regions.length === 0) return [];
  const inKernel = kernelHasIoregionfd(vm.fd);
  return regions.filter((r) => {
    const kernel = inKernel && registerKernelIoregion(vm.fd, r.base, r.size, r.fd, { pio: false, postedWrites: true });
    log.info({ device: r.name, path: kernel ? 'kernel' : 'userspace' }, kernel
      ? 'ioregionfd: the kernel serves this region (KVM_SET_IOREGION)'
      : "ioregionfd: this kernel has no KVM_SET_IOREGION; the exit loop forwards the region's exits over the same socket");
    return !kernel;
  });
}

function emptyStats(): ExitStatsReport {
  return { exitsByReason: {}, accessesByDevice: {}, coalescedDrained: 0, coalescedByDevice: {}, acksWithoutExitByDevice: {}, readsAnsweredByVcpuByDevice: {}, totalExits: 0, runSeconds: 0, firstEntryEpochMs: 0 };
}
