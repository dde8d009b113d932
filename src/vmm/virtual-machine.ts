// Assembles a VM on the VMM's main thread: KVM objects, guest RAM, the boot
// state, and the vCPU worker that runs the exit loop. The main thread stays
// free for the event loop: console input, control requests, async devices.
import { Worker } from 'node:worker_threads';
import { getpid, tgkill, MAP_SHARED, PROT_READ, PROT_WRITE, mmapChecked, munmap } from '../../ffi/libc.js';
import { KVM_CAP } from '../../ffi/kvm-abi.js';
import type { BootCpuState } from '../boot/cpu-state.js';
import { cpuTemplate } from '../kvm/cpu-template.js';
import type { ExitStatsReport } from '../kvm/exit-stats.js';
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
import type { ForwardedRegion } from './forwarded-region.js';
import { VirtioDevices } from './virtio-devices.js';
import { CoalescedZoneRegistry } from './coalesced-zones.js';
import { kernelHasIoregionfd, registerKernelIoregion } from '../kvm/kernel-ioregion.js';
import { ramLayout } from './memory-layout.js';
import { COMMAND_NONE, COMMAND_PAUSE, COMMAND_STOP, CONTROL_COMMAND, CONTROL_GO, CONTROL_TID, type VcpuMessage, type VcpuWorkerData } from './vcpu-protocol.js';

const KICK_SIGNAL = 12; // SIGUSR2: has a (no-op) handler, so it interrupts KVM_RUN with EINTR

export interface VirtualMachineOptions {
  kvm: KvmSystem;
  machine: MachineDefinition;
  memorySize: number;
  cpuTemplate?: string;
  /** Where every device goes (the frontend's device plan); the VM applies it. */
  devices: PlannedDevice[];
  /** The descriptors the frontend passed for the plan's devices, by their plan names. */
  descriptors: Readonly<Record<string, number>>;
  /** Map guest RAM from this memfd (shared with device processes) instead of private memory. */
  sharedRamFd?: number;
  /** Register the coalesced zones devices declare (default true). */
  coalesced?: boolean;
  /** Loads the guest into RAM and returns the first vCPU's registers. */
  load(memory: GuestMemory): BootCpuState;
  consoleFd: number;
  log: Logger;
}

export interface VmResult extends VmExit {
  stats: ExitStatsReport;
}

export class VirtualMachine {
  private worker: Worker | undefined;
  private readonly control = new Int32Array(new SharedArrayBuffer(12));
  readonly input = InputRing.create();
  private ringWatch: CoalescedRingWatch | undefined;
  private finished = false;
  private result: Promise<VmResult> | undefined;
  private ready: Promise<void> | undefined;
  private isPaused = false;
  private zones: CoalescedZoneRegistry | undefined;
  private onPaused: (() => void) | undefined;

  private constructor(
    readonly vm: Vm,
    readonly memory: GuestMemory,
    private readonly vcpuFd: number,
    private readonly runView: KvmRunView,
    private readonly options: VirtualMachineOptions,
    private readonly coalescedRingPage: number,
    private readonly forwardedRegions: ForwardedRegion[],
    readonly virtio: VirtioDevices,
  ) {}

  static create(options: VirtualMachineOptions): VirtualMachine {
    const { kvm, machine, log } = options;
    const layout = ramLayout(machine, options.memorySize);
    const memory = GuestMemory.allocate(layout, options.sharedRamFd === undefined ? undefined : { memfd: options.sharedRamFd });
    const vm = Vm.create(kvm);
    const cleanup: (() => void)[] = [];
    try {
      vm.addMemory(memory);
      const boot = options.load(memory);
      const vcpuFd = vm.createVcpuFd(0);
      const runSize = kvm.vcpuMmapSize();
      const run = new KvmRunView(mmapChecked(runSize, PROT_READ | PROT_WRITE, MAP_SHARED, vcpuFd, 0), runSize);
      const template = cpuTemplate(options.cpuTemplate ?? machine.cpu.template);
      const cpuid = kvm.supportedCpuid();
      template.apply(cpuid);
      setCpuid(vcpuFd, cpuid);
      setBootMsrs(vcpuFd, log);
      setupLapic(vcpuFd);
      setupFpu(vcpuFd);
      applyBootState(vcpuFd, boot);
      const forwarded = forwardOrHandToKernel(vm, deviceProcessRegions(options), log);
      const virtio = VirtioDevices.attach(vm, memory, options.devices, options.descriptors, log);
      cleanup.push(() => virtio.close());
      forwarded.push(...virtio.regions);
      const ringPage = kvm.checkExtension(KVM_CAP.COALESCED_MMIO);
      log.debug({ cpuTemplate: template.name, ringPage, memory: memory.describe().map((r) => `${r.gpa.toString(16)}+${r.size.toString(16)}`) }, 'VM created');
      return new VirtualMachine(vm, memory, vcpuFd, run, options, ringPage > 0 && ringPage * 4096 < runSize ? ringPage : 0, forwarded, virtio);
    } catch (e) {
      cleanup.reverse().forEach((f) => f());
      vm.close();
      memory.release();
      throw e;
    }
  }

  /**
   * Starts the vCPU thread: it loads its code and builds its devices, then
   * waits. Call before jailing the process; `run()` lets the guest start.
   */
  prepare(): Promise<void> {
    if (this.ready) return this.ready;
    const { options } = this;
    this.registerCoalescedZones();
    process.on('SIGUSR2', noop);
    const data: VcpuWorkerData = {
      vcpuFd: this.vcpuFd,
      vmFd: this.vm.fd,
      runAddress: this.runView.address,
      runSize: this.runView.size,
      coalescedRingPage: this.coalescedRingPage,
      memory: this.memory.describe(),
      devices: options.devices.filter((d) => d.host === 'vcpu-thread'),
      forwardedRegions: this.forwardedRegions,
      consoleFd: options.consoleFd,
      control: this.control.buffer as SharedArrayBuffer,
      input: this.input.buffer,
    };
    let onReady!: () => void;
    this.ready = new Promise<void>((resolve) => (onReady = resolve));
    this.result = new Promise<VmResult>((resolve) => {
      const finish = (result: VmResult) => {
        onReady(); // a thread that died while starting is not going to be ready
        if (this.finished) return;
        this.finished = true;
        this.ringWatch?.stop();
        process.off('SIGUSR2', noop);
        resolve(result);
      };
      const worker = new Worker(new URL('./vcpu-worker.js', import.meta.url), { workerData: data });
      this.worker = worker;
      worker.on('message', (m: VcpuMessage) => {
        if (m.type === 'device-failed') options.log.error({ device: m.device, why: m.why }, `device ${m.device} failed: ${m.why}; the guest sees its accesses fail (reads return all ones)`);
        else if (m.type === 'paused') {
          if (m.paused) {
            this.isPaused = true;
            this.onPaused?.();
          }
        } else if (m.type === 'ready') {
          options.log.debug({ tid: m.tid }, 'vCPU 0 thread ready');
          onReady();
        }
        else if (m.type === 'exit') finish({ ...m.exit, stats: m.stats });
        else finish({ kind: 'error', status: EXIT_STATUS.error, message: `vCPU thread failed: ${m.message}`, stats: emptyStats() });
      });
      worker.on('error', (e) => finish({ kind: 'error', status: EXIT_STATUS.error, message: `vCPU thread crashed: ${e.stack ?? e}`, stats: emptyStats() }));
      worker.on('exit', (code) => finish({ kind: 'error', status: EXIT_STATUS.error, message: `vCPU thread ended unexpectedly (code ${code})`, stats: emptyStats() }));
    });
    return this.ready;
  }

  /** Runs the guest to its end. Resolves with how it ended; never rejects for guest behaviour. */
  async run(): Promise<VmResult> {
    await this.prepare();
    Atomics.store(this.control, CONTROL_GO, 1);
    Atomics.notify(this.control, CONTROL_GO);
    if (this.coalescedRingPage && !this.ringWatch) {
      this.ringWatch = new CoalescedRingWatch(new Int32Array(this.runView.bytes.buffer, this.coalescedRingPage * 4096, 2), () => this.kick());
      this.ringWatch.start();
    }
    return this.result!;
  }

  /** Console input: queued for the UART; the vCPU is kicked so it sees it at once. */
  sendInput(bytes: Uint8Array): number {
    const n = this.input.push(bytes);
    if (n > 0) this.kick();
    return n;
  }

  /** Takes the vCPU out of the guest and keeps it out; resolves once it is (coalesced writes delivered). */
  pause(): Promise<void> {
    if (this.finished || Atomics.load(this.control, CONTROL_COMMAND) !== COMMAND_NONE) return Promise.resolve();
    const paused = new Promise<void>((resolve) => (this.onPaused = resolve));
    Atomics.store(this.control, CONTROL_COMMAND, COMMAND_PAUSE);
    this.kick();
    return paused;
  }

  resume(): void {
    if (Atomics.compareExchange(this.control, CONTROL_COMMAND, COMMAND_PAUSE, COMMAND_NONE) === COMMAND_PAUSE) {
      Atomics.notify(this.control, CONTROL_COMMAND);
      this.isPaused = false;
    }
  }

  get state(): 'running' | 'paused' | 'ended' {
    return this.finished ? 'ended' : this.isPaused ? 'paused' : 'running';
  }

  /** Asks the vCPU to stop; `run()` then resolves with kind 'stopped'. */
  stop(): void {
    Atomics.store(this.control, CONTROL_COMMAND, COMMAND_STOP);
    Atomics.notify(this.control, CONTROL_COMMAND); // wakes a paused vCPU
    this.kick();
    Atomics.store(this.control, CONTROL_GO, 1); // a vCPU still waiting to start sees the stop at once
    Atomics.notify(this.control, CONTROL_GO);
  }

  /** Gets the vCPU out of KVM_RUN: immediate_exit covers the race with entry, the signal the wait inside it. */
  private kick(): void {
    const tid = Atomics.load(this.control, CONTROL_TID);
    this.runView.immediateExit = true;
    if (tid > 0 && !this.finished) tgkill(getpid(), tid, KICK_SIGNAL);
  }

  private registerCoalescedZones(): void {
    if (!this.coalescedRingPage || this.options.coalesced === false) return;
    const { kvm, devices, log } = this.options;
    const pioCapable = kvm.checkExtension(KVM_CAP.COALESCED_PIO) > 0;
    if (!pioCapable) log.info("this host's KVM lacks KVM_CAP_COALESCED_PIO: port writes stay uncoalesced");
    this.zones = new CoalescedZoneRegistry(this.vm, pioCapable);
    for (const device of devices) for (const zone of this.zones.add(device.config)) log.debug(zone, 'coalesced zone registered');
  }

  async destroy(): Promise<void> {
    if (this.worker) await this.worker.terminate();
    this.virtio.close();
    munmap(this.runView.address, this.runView.size);
    this.vm.close();
    this.memory.release();
  }
}

function noop(): void {}

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
  return { exitsByReason: {}, accessesByDevice: {}, coalescedDrained: 0, coalescedByDevice: {}, totalExits: 0, runSeconds: 0, firstEntryEpochMs: 0 };
}
