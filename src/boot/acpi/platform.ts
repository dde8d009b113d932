// What the ACPI tables describe: one plain-data description of the microVM
// (CPUs, the IOAPIC, COM1, the virtio-mmio slots, the sleep and reset
// registers), and its validation. A platform that passes `validateAcpiPlatform` can be
// expressed by the tables exactly; anything else is an Error naming the
// field, e.g. "ACPI platform: virtioMmio[2].irq: GSI 30 is not on the IOAPIC
// (GSIs 0..23)".
import { DEFAULT_OEM_ID, OEM_ID_BYTES } from './sdt-header.js';

export type Trigger = 'edge' | 'level';
export type Polarity = 'high' | 'low';

export interface AcpiIoApic {
  /** IOAPIC ID (0..255). */
  id: number;
  /** MMIO base of its register window (32-bit). */
  address: number;
  /** The first GSI its pins serve. */
  gsiBase: number;
  /** Number of pins (KVM's in-kernel IOAPIC has 24, the default). */
  pins?: number;
}

export interface AcpiSerial {
  /** First of the 8 I/O ports of the 16550 (COM1: 0x3f8). */
  port: number;
  /** ISA IRQ (0..15; COM1: 4), edge-triggered active high as on ISA. */
  irq: number;
}

export interface AcpiVirtioMmio {
  /** Base of the transport's register window (below 4 GiB). */
  base: number;
  /** Window size in bytes. */
  size: number;
  /** The GSI (IOAPIC input) the transport raises. */
  irq: number;
  /** 'edge' (the default: tsvmm raises it through a KVM irqfd) or 'level'. Polarity is active high. */
  trigger?: Trigger;
}

/** An ISA IRQ delivered to another GSI, or with non-ISA polarity or trigger (MADT type 2). */
export interface AcpiInterruptOverride {
  isaIrq: number;
  gsi: number;
  /** Default 'conforming' (as the ISA bus: edge). */
  trigger?: 'conforming' | Trigger;
  /** Default 'conforming' (as the ISA bus: active high). */
  polarity?: 'conforming' | Polarity;
}

export interface AcpiPlatform {
  /** vCPUs 1..255: local APIC IDs 0..cpus-1, all enabled. */
  cpus: number;
  ioapic: AcpiIoApic;
  /** COM1, described as a PNP0501 device. */
  serial?: AcpiSerial;
  /** virtio-mmio transports in slot order; the index is the device's _UID. */
  virtioMmio: AcpiVirtioMmio[];
  /**
   * I/O port of the sleep control register, which is also the sleep status
   * register (a hardware-reduced platform's only way to power off, ACPI 6.5
   * §4.8.3.7): the guest writes WAK_STS (0x80) to clear it, then
   * SLP_TYP << 2 | SLP_EN, i.e. 0x34 for S5 (see `sleepControlValue`).
   */
  sleepControlPort: number;
  /**
   * I/O port of the reset register (ACPI 6.5 §4.8.3.6), written with
   * ACPI_RESET_VALUE to reset the machine. Without one the FADT has no
   * RESET_REG, and a Linux guest reboots only if told how (`reboot=k`: the
   * i8042); its own choice on a hardware-reduced platform is a BIOS.
   */
  resetPort?: number;
  /**
   * Interrupt source overrides. By default ISA IRQ 0 (the PIT) goes to GSI 2,
   * the PC convention; an entry for ISA IRQ 0 here replaces that default.
   * QEMU makes the convention true with KVM_SET_GSI_ROUTING; KVM's default
   * routing (arch/x86/kvm/irq_comm.c) sends the in-kernel PIT's GSI 0 to
   * IOAPIC pin 0, so a VMM keeping it should pass { isaIrq: 0, gsi: 0 }.
   * A hardware-reduced Linux guest never sets up the PIT, so for it the two
   * are alike.
   */
  interruptOverrides?: AcpiInterruptOverride[];
  /**
   * The machine has the PC-AT dual 8259 PICs (MADT PCAT_COMPAT). Default
   * true: KVM_CREATE_IRQCHIP emulates them next to the IOAPIC.
   */
  dualPic?: boolean;
  /** OEM ID in every table header: up to 6 printable ASCII characters (default "TSVMM"). */
  oemId?: string;
}

/** KVM_IOAPIC_NUM_PINS. */
export const KVM_IOAPIC_PINS = 24;
/** The local APIC's MMIO window, the architectural default base. */
export const LAPIC_ADDRESS = 0xfee00000;
/** Each of the APICs' register windows (the Intel SDM's and Linux's reservation). */
export const APIC_WINDOW_BYTES = 0x1000;
/** ISA IRQ 0, the PIT. */
export const ISA_TIMER_IRQ = 0;
/** Where a PC delivers the PIT: IOAPIC input 2 (QEMU's and real boards' routing). */
export const DEFAULT_TIMER_GSI = 2;
export const MAX_CPUS = 255; // xAPIC IDs 0..254; 255 is the broadcast ID
export const MAX_VIRTIO_MMIO = 256; // device names VR00..VRFF
export const SERIAL_PORTS = 8;
const ISA_IRQS = 16;
const U8_MAX = 0xff;
const U16_MAX = 0xffff;
const U32_LIMIT = 0x1_0000_0000;

/** A platform with its defaults filled in, as the table builders take it. */
export interface ResolvedAcpiPlatform {
  cpus: number;
  ioapic: Required<AcpiIoApic>;
  serial?: AcpiSerial;
  virtioMmio: Required<AcpiVirtioMmio>[];
  sleepControlPort: number;
  resetPort?: number;
  /** Sorted by ISA IRQ, the timer's first. */
  interruptOverrides: Required<AcpiInterruptOverride>[];
  dualPic: boolean;
  oemId: string;
}

class PlatformError extends Error {
  constructor(field: string, problem: string) {
    super(`ACPI platform: ${field}: ${problem}`);
    this.name = 'AcpiPlatformError';
  }
}

const hex = (n: number) => `0x${n.toString(16)}`;

function integerIn(field: string, value: unknown, min: number, max: number, show: (n: number) => string = String): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new PlatformError(field, `${String(value)} is not an integer`);
  if (value < min || value > max) throw new PlatformError(field, `${show(value)} is outside ${show(min)}..${show(max)}`);
  return value;
}

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw new PlatformError(field, `'${String(value)}' is not one of ${allowed.join(', ')}`);
  return value as T;
}

/** Checks `p` against what the tables can express; returns it with defaults filled in, or throws naming the field. */
export function validateAcpiPlatform(p: AcpiPlatform): ResolvedAcpiPlatform {
  const cpus = integerIn('cpus', p.cpus, 1, MAX_CPUS);

  const ioapic: Required<AcpiIoApic> = {
    id: integerIn('ioapic.id', p.ioapic?.id, 0, U8_MAX),
    address: integerIn('ioapic.address', p.ioapic?.address, 0, U32_LIMIT - APIC_WINDOW_BYTES, hex),
    gsiBase: integerIn('ioapic.gsiBase', p.ioapic?.gsiBase, 0, U32_LIMIT - 1),
    pins: integerIn('ioapic.pins', p.ioapic?.pins ?? KVM_IOAPIC_PINS, 1, U8_MAX + 1),
  };
  if (ioapic.gsiBase + ioapic.pins > U32_LIMIT) throw new PlatformError('ioapic.gsiBase', 'its GSIs run past 2^32');
  if (overlaps(ioapic.address, APIC_WINDOW_BYTES, LAPIC_ADDRESS, APIC_WINDOW_BYTES)) {
    throw new PlatformError('ioapic.address', `${hex(ioapic.address)} overlaps the local APIC at ${hex(LAPIC_ADDRESS)}`);
  }
  const lastGsi = ioapic.gsiBase + ioapic.pins - 1;
  const onIoapic = (field: string, gsi: number) => {
    if (gsi < ioapic.gsiBase || gsi > lastGsi) throw new PlatformError(field, `GSI ${gsi} is not on the IOAPIC (GSIs ${ioapic.gsiBase}..${lastGsi})`);
  };

  // Interrupt source overrides: the timer's default, then the platform's.
  const overrides = new Map<number, Required<AcpiInterruptOverride>>();
  /** Where each override came from, for messages: the GSI field that set it, the owner's name. */
  const overrideSource = new Map<number, { field: string; owner: string }>();
  overrides.set(ISA_TIMER_IRQ, { isaIrq: ISA_TIMER_IRQ, gsi: DEFAULT_TIMER_GSI, trigger: 'conforming', polarity: 'conforming' });
  overrideSource.set(ISA_TIMER_IRQ, { field: 'interruptOverrides', owner: `ISA IRQ ${ISA_TIMER_IRQ} (the timer's default override)` });
  const given = new Set<number>();
  (p.interruptOverrides ?? []).forEach((o, i) => {
    const field = `interruptOverrides[${i}]`;
    const isaIrq = integerIn(`${field}.isaIrq`, o.isaIrq, 0, ISA_IRQS - 1);
    if (given.has(isaIrq)) throw new PlatformError(`${field}.isaIrq`, `ISA IRQ ${isaIrq} is overridden twice`);
    given.add(isaIrq);
    const gsi = integerIn(`${field}.gsi`, o.gsi, 0, U32_LIMIT - 1);
    onIoapic(`${field}.gsi`, gsi);
    overrideSource.set(isaIrq, { field: `${field}.gsi`, owner: `ISA IRQ ${isaIrq} (${field})` });
    overrides.set(isaIrq, {
      isaIrq,
      gsi,
      trigger: oneOf(`${field}.trigger`, o.trigger, ['conforming', 'edge', 'level'], 'conforming'),
      polarity: oneOf(`${field}.polarity`, o.polarity, ['conforming', 'high', 'low'], 'conforming'),
    });
  });
  const interruptOverrides = [...overrides.values()].sort((a, b) => a.isaIrq - b.isaIrq);
  const isaGsi = (irq: number) => overrides.get(irq)?.gsi ?? ioapic.gsiBase + irq;

  // Who owns each GSI: an overridden ISA IRQ, COM1, a virtio transport. Two owners cannot be expressed (the interrupts are exclusive).
  const gsiOwner = new Map<number, string>();
  const claim = (field: string, gsi: number, owner = field) => {
    const current = gsiOwner.get(gsi);
    if (current !== undefined) throw new PlatformError(field, `GSI ${gsi} is taken by ${current}`);
    gsiOwner.set(gsi, owner);
  };
  for (const o of interruptOverrides) {
    const source = overrideSource.get(o.isaIrq)!;
    claim(source.field, o.gsi, source.owner);
  }

  let serial: AcpiSerial | undefined;
  if (p.serial !== undefined) {
    serial = {
      port: integerIn('serial.port', p.serial.port, 0, U16_MAX + 1 - SERIAL_PORTS, hex),
      irq: integerIn('serial.irq', p.serial.irq, 0, ISA_IRQS - 1),
    };
    if (serial.irq === ISA_TIMER_IRQ) throw new PlatformError('serial.irq', `ISA IRQ ${ISA_TIMER_IRQ} is the timer's`);
    onIoapic('serial.irq', isaGsi(serial.irq));
    // An overridden IRQ's GSI is already claimed, by this same ISA IRQ.
    if (!overrides.has(serial.irq)) claim('serial.irq', isaGsi(serial.irq));
  }

  if (!Array.isArray(p.virtioMmio)) throw new PlatformError('virtioMmio', 'is not an array');
  if (p.virtioMmio.length > MAX_VIRTIO_MMIO) throw new PlatformError('virtioMmio', `${p.virtioMmio.length} devices (at most ${MAX_VIRTIO_MMIO})`);
  const windows: { field: string; base: number; size: number }[] = [
    { field: 'the local APIC', base: LAPIC_ADDRESS, size: APIC_WINDOW_BYTES },
    { field: 'the IOAPIC', base: ioapic.address, size: APIC_WINDOW_BYTES },
  ];
  const virtioMmio = p.virtioMmio.map((d, i): Required<AcpiVirtioMmio> => {
    const field = `virtioMmio[${i}]`;
    const base = integerIn(`${field}.base`, d.base, 0, U32_LIMIT - 1, hex);
    const size = integerIn(`${field}.size`, d.size, 1, U32_LIMIT - base, hex);
    for (const w of windows) {
      if (overlaps(base, size, w.base, w.size)) {
        throw new PlatformError(`${field}.base`, `${hex(base)}+${hex(size)} overlaps ${w.field} at ${hex(w.base)}+${hex(w.size)}`);
      }
    }
    windows.push({ field, base, size });
    const irq = integerIn(`${field}.irq`, d.irq, 0, U32_LIMIT - 1);
    onIoapic(`${field}.irq`, irq);
    claim(`${field}.irq`, irq);
    return { base, size, irq, trigger: oneOf(`${field}.trigger`, d.trigger, ['edge', 'level'], 'edge') };
  });

  // ACPICA refuses a register at address 0 (the sleep registers then "do not exist").
  const sleepControlPort = integerIn('sleepControlPort', p.sleepControlPort, 1, U16_MAX, hex);
  const notSerial = (field: string, port: number) => {
    if (serial && port >= serial.port && port < serial.port + SERIAL_PORTS) {
      throw new PlatformError(field, `${hex(port)} is one of the serial port's ${hex(serial.port)}..${hex(serial.port + SERIAL_PORTS - 1)}`);
    }
  };
  notSerial('sleepControlPort', sleepControlPort);
  const resetPort = p.resetPort === undefined ? undefined : integerIn('resetPort', p.resetPort, 1, U16_MAX, hex);
  if (resetPort !== undefined) {
    notSerial('resetPort', resetPort);
    if (resetPort === sleepControlPort) throw new PlatformError('resetPort', `${hex(resetPort)} is the sleep control register's port`);
  }

  if (p.dualPic !== undefined && typeof p.dualPic !== 'boolean') throw new PlatformError('dualPic', `${String(p.dualPic)} is not a boolean`);
  const oemId = p.oemId ?? DEFAULT_OEM_ID;
  if (typeof oemId !== 'string' || oemId.length === 0 || oemId.length > OEM_ID_BYTES || !/^[\x20-\x7e]+$/.test(oemId)) {
    throw new PlatformError('oemId', `'${String(oemId)}' is not 1..${OEM_ID_BYTES} printable ASCII characters`);
  }

  return { cpus, ioapic, serial, virtioMmio, sleepControlPort, ...(resetPort === undefined ? {} : { resetPort }), interruptOverrides, dualPic: p.dualPic ?? true, oemId };
}

function overlaps(a: number, aSize: number, b: number, bSize: number): boolean {
  return a < b + bSize && b < a + aSize;
}
