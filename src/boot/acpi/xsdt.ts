// The Extended System Description Table (ACPI 6.5 §5.2.8): the list of the
// other tables' 64-bit addresses, found through the RSDP. Here: the FADT
// (which in turn points at the DSDT) and the MADT. We give no 32-bit RSDT:
// an ACPI 2.0+ guest uses the XSDT whenever the RSDP has one.
import { finishSdt, newSdt, SDT_HEADER_BYTES } from './sdt-header.js';

export const XSDT_REVISION = 1;
export const XSDT_ENTRY_BYTES = 8;

/** The size of an XSDT listing `entries` tables. */
export function xsdtBytes(entries: number): number {
  return SDT_HEADER_BYTES + entries * XSDT_ENTRY_BYTES;
}

/** The XSDT listing the tables at `tableGpas`, in that order. */
export function buildXsdt(oemId: string, tableGpas: number[]): Uint8Array {
  const { bytes, view } = newSdt({ signature: 'XSDT', revision: XSDT_REVISION, oemId, tableName: 'XSDT' }, xsdtBytes(tableGpas.length));
  tableGpas.forEach((gpa, i) => view.setBigUint64(SDT_HEADER_BYTES + i * XSDT_ENTRY_BYTES, BigInt(gpa), true));
  return finishSdt(bytes);
}
