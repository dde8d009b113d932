// The Differentiated System Description Table (ACPI 6.5 §5.2.11.1): the
// AML definition block the guest's ACPI interpreter loads into its
// namespace. On a microVM it names the devices the guest cannot discover
// by itself, with the resources each one decodes (_CRS):
//   \_SB.COM1   the 16550 UART, PNP0501 (Linux: 8250_pnp)
//   \_SB.VRnn   each virtio-mmio transport, LNRO0005 (Linux: virtio_mmio's
//               ACPI match), nn its slot index in hex, _UID the index
//   \_S5_       the S5 sleep type, read by the guest before it writes the
//               FADT's sleep control register to power off (§7.4.2)
// In ASL:
//   DefinitionBlock ("", "DSDT", 2, "TSVMM", "TSVMDSDT", 1) {
//     Scope (\_SB) {
//       Device (COM1) { Name (_HID, EisaId ("PNP0501")) Name (_UID, One)
//         Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags () {4} }) }
//       Device (VR00) { Name (_HID, "LNRO0005") Name (_UID, Zero) Name (_CCA, One)
//         Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, base, size)
//                                           Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {irq} }) }
//     }
//     Name (_S5, Package () { 5, 0, 0, 0 })
//   }
import * as aml from './aml.js';
import { S5_SLEEP_TYPE } from './fadt.js';
import type { ResolvedAcpiPlatform } from './platform.js';
import { SERIAL_PORTS } from './platform.js';
import { finishSdt, newSdt, SDT_HEADER_BYTES } from './sdt-header.js';

/** Revision 2: AML integers are 64-bit. */
export const DSDT_REVISION = 2;
export const PNP_16550A = 'PNP0501';
/** The ACPI ID Linux's virtio_mmio driver matches ("LNRO" is Linaro's vendor ID). */
export const VIRTIO_MMIO_HID = 'LNRO0005';
const COM1_UID = 1;
/** IO descriptor alignment for a fixed range (min == max): any nonzero value; 1 is the usual. */
const FIXED_IO_ALIGNMENT = 1;
/** _CCA: DMA is cache-coherent (what x86 assumes anyway; said for completeness, as QEMU does). */
const CACHE_COHERENT = 1;
/** \_S5_ is SLP_TYPa, SLP_TYPb, then two reserved values (Table 7.9); hardware-reduced uses only SLP_TYPa. */
const S5_PACKAGE = [S5_SLEEP_TYPE, 0, 0, 0];

/** The AML name of virtio-mmio slot `index` (0..255): VR00..VRFF. */
export function virtioDeviceName(index: number): string {
  return `VR${index.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** The definition block's body: every term after the header. */
export function dsdtBody(platform: ResolvedAcpiPlatform): Uint8Array {
  const devices: Uint8Array[] = [];
  if (platform.serial) {
    const { port, irq } = platform.serial;
    devices.push(
      aml.device('COM1', [
        aml.name('_HID', aml.integer(aml.eisaId(PNP_16550A))),
        aml.name('_UID', aml.integer(COM1_UID)),
        aml.name('_CRS', aml.resourceTemplate([aml.ioPort(port, port, FIXED_IO_ALIGNMENT, SERIAL_PORTS), aml.irqNoFlags(irq)])),
      ]),
    );
  }
  platform.virtioMmio.forEach((d, index) => {
    devices.push(
      aml.device(virtioDeviceName(index), [
        aml.name('_HID', aml.string(VIRTIO_MMIO_HID)),
        aml.name('_UID', aml.integer(index)),
        aml.name('_CCA', aml.integer(CACHE_COHERENT)),
        aml.name(
          '_CRS',
          aml.resourceTemplate([aml.memory32Fixed(d.base, d.size, true), aml.extendedInterrupt(d.irq, { trigger: d.trigger, polarity: 'high' })]),
        ),
      ]),
    );
  });
  return aml.concat([aml.scope('\\_SB', devices), aml.name('_S5', aml.packageOf(S5_PACKAGE.map((v) => aml.integer(v))))]);
}

/** The DSDT for `platform`. */
export function buildDsdt(platform: ResolvedAcpiPlatform): Uint8Array {
  return buildDefinitionBlock('DSDT', platform.oemId, dsdtBody(platform));
}

/** A definition block (DSDT or SSDT) around `body`: the header, then the AML. */
export function buildDefinitionBlock(signature: 'DSDT' | 'SSDT', oemId: string, body: Uint8Array): Uint8Array {
  const { bytes } = newSdt({ signature, revision: DSDT_REVISION, oemId, tableName: signature }, SDT_HEADER_BYTES + body.length);
  bytes.set(body, SDT_HEADER_BYTES);
  return finishSdt(bytes);
}
