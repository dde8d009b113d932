// The Root System Description Pointer (ACPI 6.5 §5.2.5.3): where the guest
// starts. Linux gets its address from boot_params.acpi_rsdp_addr (or scans
// the BIOS areas below 1 MiB for the "RSD PTR " signature on a 16-byte
// boundary). Revision 2 (ACPI 2.0+) carries the 64-bit XSDT address; the
// 32-bit RSDT address stays 0. Two checksums: the first 20 bytes (the
// ACPI 1.0 structure) and the whole 36-byte structure.
import { setChecksum } from './checksum.js';
import { OEM_ID_BYTES, writeAsciiPadded } from './sdt-header.js';

export const RSDP_SIGNATURE = 'RSD PTR ';
export const RSDP_REVISION = 2;
export const RSDP_BYTES = 36;
/** The ACPI 1.0 part the first checksum covers. */
export const RSDP_V1_BYTES = 20;
/** An RSDP must sit on a 16-byte boundary. */
export const RSDP_ALIGNMENT = 16;

/** Field offsets (ACPI 6.5 Table 5.3). */
export const RsdpField = {
  signature: 0, // 8 bytes
  checksum: 8, // u8, first 20 bytes
  oemId: 9, // 6 bytes
  revision: 15, // u8
  rsdtAddress: 16, // u32
  length: 20, // u32, the whole structure
  xsdtAddress: 24, // u64
  extendedChecksum: 32, // u8, the whole structure
  reserved: 33, // 3 bytes
} as const;

/** The RSDP pointing at the XSDT at `xsdtGpa`. */
export function buildRsdp(oemId: string, xsdtGpa: number): Uint8Array {
  const bytes = new Uint8Array(RSDP_BYTES);
  const view = new DataView(bytes.buffer);
  writeAsciiPadded(bytes, RsdpField.signature, RSDP_SIGNATURE, RSDP_SIGNATURE.length);
  writeAsciiPadded(bytes, RsdpField.oemId, oemId, OEM_ID_BYTES);
  bytes[RsdpField.revision] = RSDP_REVISION;
  view.setUint32(RsdpField.length, RSDP_BYTES, true);
  view.setBigUint64(RsdpField.xsdtAddress, BigInt(xsdtGpa), true);
  setChecksum(bytes, RsdpField.checksum, 0, RSDP_V1_BYTES);
  setChecksum(bytes, RsdpField.extendedChecksum, 0, RSDP_BYTES);
  return bytes;
}
