// The Fixed ACPI Description Table, signature "FACP" (ACPI 6.5 §5.2.9):
// points at the DSDT and says what fixed hardware the machine has. A
// microVM has none of the PC's power-management blocks, so it declares
// itself HW_REDUCED_ACPI (§4.1): no PM1/GPE blocks, no SCI, no SMI, no FACS
// (firmware waking vector: nothing here resumes). What remains is the
// sleep control/status register pair (§4.8.3.7), which is how the guest
// enters S5 (power off) after reading \_S5_ from the DSDT, the reset
// register (§4.8.3.6) when the machine has one, and the IA-PC boot flags
// that tell Linux not to look for VGA, MSI or a CMOS RTC.
import type { ResolvedAcpiPlatform } from './platform.js';
import { finishSdt, newSdt, SDT_HEADER_BYTES, writeAsciiPadded } from './sdt-header.js';

/** FADT revision 6, minor 5: ACPI 6.5 (the layout has been 276 bytes since 6.0). */
export const FADT_REVISION = 6;
export const FADT_MINOR_REVISION = 5;
export const FADT_BYTES = 276;

/** Field offsets (ACPI 6.5 Table 5.9); fields not listed stay 0. */
export const FadtField = {
  firmwareCtrl: SDT_HEADER_BYTES, // u32, 0: no FACS
  dsdt: SDT_HEADER_BYTES + 4, // u32, 0: X_DSDT is used
  preferredPmProfile: 45, // u8
  sciInt: 46, // u16, ignored when hardware-reduced
  iapcBootArch: 109, // u16
  flags: 112, // u32
  resetReg: 116, // GAS
  resetValue: 128, // u8
  armBootArch: 129, // u16
  fadtMinorVersion: 131, // u8
  xFirmwareCtrl: 132, // u64
  xDsdt: 140, // u64
  sleepControlReg: 244, // GAS
  sleepStatusReg: 256, // GAS
  hypervisorVendorIdentity: 268, // 8 bytes
} as const;

/** Fixed feature flags (Table 5.10). */
export const FadtFlag = {
  /** No fixed-feature power button: a power button, if any, is a device. */
  pwrButton: 1 << 4,
  /** No fixed-feature sleep button. */
  slpButton: 1 << 5,
  resetRegSup: 1 << 10,
  hwReducedAcpi: 1 << 20,
} as const;

/** IA-PC boot architecture flags (Table 5.11). */
export const IapcBootArch = {
  legacyDevices: 1 << 0,
  has8042: 1 << 1,
  vgaNotPresent: 1 << 2,
  msiNotSupported: 1 << 3,
  pcieAspmControls: 1 << 4,
  cmosRtcNotPresent: 1 << 5,
} as const;

/**
 * What we tell the guest about legacy hardware: no VGA, no MSI (there is no
 * PCI), no CMOS RTC (Linux then registers no RTC device). The 8042 flag is
 * clear: tsvmm's i8042 only implements the reset line, which Linux's reboot
 * path writes without asking the FADT; clear, Linux's i8042 driver leaves
 * it alone.
 */
const IAPC_BOOT_ARCH = IapcBootArch.vgaNotPresent | IapcBootArch.msiNotSupported | IapcBootArch.cmosRtcNotPresent;
const FLAGS = FadtFlag.hwReducedAcpi | FadtFlag.pwrButton | FadtFlag.slpButton;

/** Generic Address Structure (ACPI 6.5 §5.2.3.2, Table 5.1): 12 bytes. */
export const GasField = { addressSpaceId: 0, registerBitWidth: 1, registerBitOffset: 2, accessSize: 3, address: 4, size: 12 } as const;
export const AddressSpace = { systemMemory: 0, systemIo: 1 } as const;
export const AccessSize = { byte: 1, word: 2, dword: 3, qword: 4 } as const;
const BYTE_BITS = 8;

/**
 * Sleep control register bits (§4.8.3.7): SLP_TYP in bits 4-2, SLP_EN bit 5.
 * The sleep status register's WAK_STS is bit 7.
 */
export const SleepControl = { typeShift: 2, typeMask: 0b111 << 2, enable: 1 << 5 } as const;
export const SLEEP_STATUS_WAKE = 1 << 7;
/** The SLP_TYP the DSDT's \_S5_ package names: what the sleep register sees for power off. */
export const S5_SLEEP_TYPE = 5;

/** The byte the guest writes to the sleep control register to enter sleep type `type`. */
export function sleepControlValue(type: number): number {
  return ((type << SleepControl.typeShift) & SleepControl.typeMask) | SleepControl.enable;
}

/** What the guest writes to the reset register (RESET_VALUE); the register ignores anything else. */
export const ACPI_RESET_VALUE = 0x01;

/** The hypervisor vendor identity field (8 bytes, space-padded). */
export const HYPERVISOR_VENDOR_IDENTITY = 'TSVMM';
const HYPERVISOR_VENDOR_IDENTITY_BYTES = 8;

/** Writes a byte-wide System I/O register at `port` as a Generic Address Structure. */
function writeIoGas(bytes: Uint8Array, view: DataView, at: number, port: number): void {
  bytes[at + GasField.addressSpaceId] = AddressSpace.systemIo;
  bytes[at + GasField.registerBitWidth] = BYTE_BITS;
  bytes[at + GasField.registerBitOffset] = 0;
  bytes[at + GasField.accessSize] = AccessSize.byte;
  view.setBigUint64(at + GasField.address, BigInt(port), true);
}

/** The FADT for `platform`, its X_DSDT pointing at `dsdtGpa`. */
export function buildFadt(platform: ResolvedAcpiPlatform, dsdtGpa: number): Uint8Array {
  const { bytes, view } = newSdt({ signature: 'FACP', revision: FADT_REVISION, oemId: platform.oemId, tableName: 'FADT' }, FADT_BYTES);
  view.setUint16(FadtField.iapcBootArch, IAPC_BOOT_ARCH, true);
  view.setUint32(FadtField.flags, platform.resetPort === undefined ? FLAGS : FLAGS | FadtFlag.resetRegSup, true);
  bytes[FadtField.fadtMinorVersion] = FADT_MINOR_REVISION;
  view.setBigUint64(FadtField.xDsdt, BigInt(dsdtGpa), true);
  writeIoGas(bytes, view, FadtField.sleepControlReg, platform.sleepControlPort);
  writeIoGas(bytes, view, FadtField.sleepStatusReg, platform.sleepControlPort);
  if (platform.resetPort !== undefined) {
    writeIoGas(bytes, view, FadtField.resetReg, platform.resetPort);
    bytes[FadtField.resetValue] = ACPI_RESET_VALUE;
  }
  writeAsciiPadded(bytes, FadtField.hypervisorVendorIdentity, HYPERVISOR_VENDOR_IDENTITY, HYPERVISOR_VENDOR_IDENTITY_BYTES);
  return finishSdt(bytes);
}
