// All of a microVM's ACPI tables as one blob for guest memory, laid out
// from `baseGpa`:
//   RSDP (16-byte aligned) → XSDT → FADT → MADT → DSDT (each 8-byte aligned)
// The RSDP points at the XSDT, the XSDT at the FADT and the MADT, the
// FADT's X_DSDT at the DSDT. Table sizes depend only on the platform, so
// the layout is fixed first and each table is built with its pointers in
// place. Pure and deterministic: the same platform and base give the same
// bytes. The caller copies `bytes` to `baseGpa`, keeps that range out of
// the guest's usable RAM (e820 ACPI or reserved) and hands `rsdpGpa` to the
// guest (boot_params.acpi_rsdp_addr).
import { buildDsdt } from './dsdt.js';
import { buildFadt, FADT_BYTES } from './fadt.js';
import { buildMadt } from './madt.js';
import type { AcpiPlatform } from './platform.js';
import { validateAcpiPlatform } from './platform.js';
import { buildRsdp, RSDP_ALIGNMENT, RSDP_BYTES } from './rsdp.js';
import { buildXsdt, xsdtBytes } from './xsdt.js';

export type { AcpiInterruptOverride, AcpiIoApic, AcpiPlatform, AcpiSerial, AcpiVirtioMmio, Polarity, Trigger } from './platform.js';

/** Alignment of every table after the RSDP. */
export const TABLE_ALIGNMENT = 8;
/** The XSDT lists the FADT and the MADT (the DSDT hangs off the FADT). */
const XSDT_ENTRIES = 2;

export interface AcpiTableLocation {
  /** Guest-physical address. */
  gpa: number;
  /** Offset in `bytes`. */
  offset: number;
  length: number;
}

export interface AcpiTables {
  /** Where the RSDP is: `baseGpa`. */
  rsdpGpa: number;
  /** Everything from `baseGpa`, padding included (zeros). */
  bytes: Uint8Array;
  tables: { rsdp: AcpiTableLocation; xsdt: AcpiTableLocation; fadt: AcpiTableLocation; madt: AcpiTableLocation; dsdt: AcpiTableLocation };
}

const alignUp = (n: number, to: number) => Math.ceil(n / to) * to;

/** Builds the tables describing `platform`, to be copied to `baseGpa`. Throws an Error naming the bad field. */
export function buildAcpiTables(platform: AcpiPlatform, baseGpa: number): AcpiTables {
  if (!Number.isSafeInteger(baseGpa) || baseGpa < 0 || baseGpa % RSDP_ALIGNMENT !== 0) {
    throw new Error(`ACPI tables: baseGpa: ${baseGpa} is not a ${RSDP_ALIGNMENT}-byte aligned guest-physical address`);
  }
  const p = validateAcpiPlatform(platform);
  const dsdt = buildDsdt(p);
  const madt = buildMadt(p);

  let end = 0;
  const place = (length: number, alignment: number) => {
    const offset = alignUp(end, alignment);
    end = offset + length;
    return { gpa: baseGpa + offset, offset, length };
  };
  const tables = {
    rsdp: place(RSDP_BYTES, RSDP_ALIGNMENT),
    xsdt: place(xsdtBytes(XSDT_ENTRIES), TABLE_ALIGNMENT),
    fadt: place(FADT_BYTES, TABLE_ALIGNMENT),
    madt: place(madt.length, TABLE_ALIGNMENT),
    dsdt: place(dsdt.length, TABLE_ALIGNMENT),
  };
  if (!Number.isSafeInteger(baseGpa + end)) throw new Error(`ACPI tables: baseGpa: 0x${baseGpa.toString(16)} + ${end} bytes is past 2^53`);

  const bytes = new Uint8Array(end);
  bytes.set(buildRsdp(p.oemId, tables.xsdt.gpa), tables.rsdp.offset);
  bytes.set(buildXsdt(p.oemId, [tables.fadt.gpa, tables.madt.gpa]), tables.xsdt.offset);
  bytes.set(buildFadt(p, tables.dsdt.gpa), tables.fadt.offset);
  bytes.set(madt, tables.madt.offset);
  bytes.set(dsdt, tables.dsdt.offset);
  return { rsdpGpa: tables.rsdp.gpa, bytes, tables };
}
