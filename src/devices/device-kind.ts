// What a device kind declares in the catalog (src/devices/catalog.ts): how its
// machine-file entry is read, what it occupies in the guest's address spaces,
// which of its windows KVM may coalesce, where its model may run, how the
// model is built there, and, for virtio kinds, what the transport needs to
// know (device ID, queues) and which descriptors the frontend must open for
// it. Everything else (the machine parser, the device plan, the VM assembly,
// the device processes) reads these entries instead of switching on types.
//
// Kinds never see KVM: whoever builds a model hands it an environment
// (interrupt lines, console, the VM's end) made of plain callbacks and fds.
import type { DataPathWarmUp } from './data-path-warm-up.js';
import type { CacheMode } from '../block/disk-image.js';
import type { BusDevice, InterruptLine } from '../bus/device.js';
import type { Logger } from '../log.js';
import type { FieldReader, Json } from '../machine/field-reader.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { PortForward } from '../net/net-spec.js';
import type { VirtioMmioTransport } from './virtio/virtio-mmio.js';

/** Where a device model runs: the vCPU thread (exit-serviced), the helper's main thread, or its own jailed process. */
export type DeviceHost = 'vcpu-thread' | 'main-thread' | 'device-process';

/** What every parsed device entry has; each kind adds its own fields. */
export interface DeviceConfig {
  readonly type: string;
  readonly name: string;
}

/** A range of I/O ports or guest-physical addresses a device answers. */
export interface RegisterWindow {
  space: 'pio' | 'mmio';
  base: number;
  size: number;
  /** The machine-file field that placed it (for error messages), relative to the entry. */
  field: string;
}

/** A part of a device's window (offset from its base) where a delayed write changes nothing the guest can observe before its next exit. */
export interface CoalescableWindow {
  offset: number;
  size: number;
}

/** A device that takes console input (the console UART). */
export interface ConsoleReceiver {
  /** Free space for input bytes now. */
  readonly rxSpace: number;
  receive(bytes: Uint8Array): void;
}

/** What the vCPU thread offers the exit-serviced models it builds. */
export interface VcpuEnvironment {
  /** A guest interrupt line (KVM_IRQ_LINE) on GSI `gsi`. */
  irqLine(gsi: number): InterruptLine;
  /** The console's output (tsvmm's stdout). */
  consoleOutput(byte: number): void;
  /** Feeds console input to `receiver`; the first one attached gets it. */
  attachConsoleInput(receiver: ConsoleReceiver): void;
  /** The guest reported its exit status: the VM ends with it. */
  guestExited(status: number): void;
  /** The guest powered the machine off (ACPI S5): the VM ends with status 0. */
  guestPoweredOff(): void;
  /** The guest reset the machine: the VM ends (tsvmm has no firmware to reboot into). */
  guestReset(why: string): void;
}

/** Fields every kind shares. `C` is the kind's parsed entry: plain data, it crosses threads and processes. */
interface KindBase<C extends DeviceConfig> {
  readonly type: C['type'];
  /** Where its model may run. */
  readonly hosts: readonly DeviceHost[];
  /**
   * The machine file's `devices[]` entry: its fields besides `type` and
   * `name`, and how they are read (unknown fields are refused by the parser).
   * Absent for kinds the machine file does not list there (virtio-blk: `disks`, `--disk`).
   */
  readonly entry?: {
    readonly fields: readonly string[];
    parse(json: Json, r: FieldReader, path: string): Omit<C, 'type' | 'name'>;
  };
}

/** A device at fixed addresses the machine file gives (ports or an MMIO window). */
export interface PlatformDeviceKind<C extends DeviceConfig = DeviceConfig> extends KindBase<C> {
  readonly family: 'platform';
  /** Where this entry's model runs (one of `hosts`). */
  host(config: C): DeviceHost;
  windows(config: C): RegisterWindow[];
  /** Windows KVM may coalesce when the entry allows it (`coalesced`), relative to the first window. */
  readonly coalescable: readonly CoalescableWindow[];
  coalesced(config: C): boolean;
  /** Builds the model; every window of the entry is served by it. */
  build(config: C, env: VcpuEnvironment): BusDevice;
}

/** Slots for virtio devices (the virtio-mmio transport windows): the slot allocator hands them out. */
export interface VirtioSlotsKind<C extends DeviceConfig = DeviceConfig> extends KindBase<C> {
  readonly family: 'virtio-slots';
  windows(config: C): RegisterWindow[];
  /** Each slot's window base and GSI, in order. */
  slots(config: C): { base: number; irq: number }[];
}

/** One of tsvmm's own output streams. */
export type OutputStream = 'stdout' | 'stderr';

/**
 * A descriptor the frontend opens with the user's rights for a virtio device:
 * a disk image; a socket to a passt it starts (user networking); a tap
 * device; a connection to a Unix stream socket someone else listens on; the
 * write end of a non-blocking pipe whose bytes the frontend copies to its own
 * stdout or stderr (a console port).
 */
export type OpenedFile =
  | { kind: 'disk-image'; path: string; readOnly: boolean; cache: CacheMode }
  | { kind: 'passt'; nic: string; forwards: PortForward[] }
  | { kind: 'tap'; ifname: string }
  | { kind: 'unix-stream'; path: string }
  | { kind: 'output-pipe'; stream: OutputStream };

/** What an opened file is, in a few words (logs, errors). */
export function describeOpenedFile(file: OpenedFile): string {
  switch (file.kind) {
    case 'disk-image':
      return file.path;
    case 'passt':
      return 'passt (user networking)';
    case 'tap':
      return `tap device ${file.ifname}`;
    case 'unix-stream':
      return `socket ${file.path}`;
    case 'output-pipe':
      return `tsvmm's ${file.stream}`;
  }
}

/** What a virtio model gets wherever it runs (the helper's main thread or a device process). */
export interface VirtioEnvironment {
  memory: GuestMemory;
  /** The device's interrupt (an irqfd on the KVM side). */
  interrupt: InterruptLine;
  /** Each virtqueue's doorbell, by queue index (eventfds KVM writes as ioeventfds). */
  notifyFds: readonly number[];
  /** The descriptor the kind asked for under `role` (see VirtioDeviceKind.files). */
  file(role: string): number;
  log: Logger;
}

/** What a device asks of the jail of the process that serves it (the seccomp policy, the file-size limit). */
export interface DeviceNeeds {
  /** The largest file it writes (RLIMIT_FSIZE). */
  readonly maxFileSize: number;
  /** io_uring_enter on rings it made before the jail. */
  readonly ioUring: boolean;
  /** ioctl(TUNSETOFFLOAD) on its tap, at each driver start. */
  readonly tapOffload: boolean;
  /**
   * A host directory it serves by path (a virtio-9p share): bound into the
   * jail's root (read-only when `readOnly`), and the file-system system calls
   * of the 9P server allowed.
   */
  readonly sharedDirectory?: { readonly path: string; readonly readOnly: boolean };
}

/** A built virtio device: its virtio-mmio transport and what its host needs to know of it. */
export interface VirtioInstance {
  /** The register window's model. */
  readonly transport: VirtioMmioTransport;
  /** What the jail must allow it: file size for writes, io_uring. */
  readonly needs: DeviceNeeds;
  statistics(): Record<string, unknown>;
  /** A warm-up of its data path for its process to run while the guest boots (data-path-warm-up.ts); made before the jail. */
  warmUp?(): DataPathWarmUp;
  /** Finishes work in flight (guest memory still mapped), then closes its files. */
  close(): void;
}

/** A virtio device: it occupies whichever virtio-mmio slot the allocator gives it. */
export interface VirtioDeviceKind<C extends DeviceConfig = DeviceConfig> extends KindBase<C> {
  readonly family: 'virtio';
  /** Where this entry's model runs (one of `hosts`). */
  host(config: C): DeviceHost;
  readonly virtio: {
    /** virtio device ID (§5). */
    readonly deviceId: number;
    /** Feature bits the kind may offer (a model offers a subset, e.g. RO for a read-only disk). */
    readonly features: bigint;
  };
  /** How many virtqueues this entry's device has: one doorbell (ioeventfd) each. */
  queueCount(config: C): number;
  /** What it is called in logs ("disk vda: ..."). */
  readonly label: string;
  /** Where `run --stats` groups its statistics ("disks"). */
  readonly statisticsGroup: string;
  /**
   * It moves bulk data (blocks, frames, files). Served in the helper, it
   * keeps a lone vCPU on a thread of its own, so that the guest runs on while
   * the helper moves its data (virtual-machine.ts `runsVcpuOnMainThread`).
   */
  readonly bulkData: boolean;
  /** Files the frontend opens for it, by role. */
  files(config: C): { role: string; file: OpenedFile }[];
  build(config: C, env: VirtioEnvironment): VirtioInstance;
}

export type DeviceKind = PlatformDeviceKind<any> | VirtioSlotsKind<any> | VirtioDeviceKind<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The parsed entry type of a kind. */
export type ConfigOf<K> = K extends KindBase<infer C> ? C : never;
