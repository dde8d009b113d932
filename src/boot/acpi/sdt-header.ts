// The 36-byte header every ACPI system description table starts with (ACPI
// 6.5 §5.2.6, Table 5.4): signature, length, revision, checksum over the
// whole table, and the OEM / creator identification. Shared by the XSDT,
// FADT, MADT and DSDT builders.
import { setChecksum } from './checksum.js';

/** Byte offsets in the header (ACPI 6.5 Table 5.4). */
export const SdtHeaderField = {
  signature: 0, // 4 ASCII bytes
  length: 4, // u32, the whole table, header included
  revision: 8, // u8, per table type
  checksum: 9, // u8, the whole table sums to 0
  oemId: 10, // 6 bytes
  oemTableId: 16, // 8 bytes
  oemRevision: 24, // u32
  creatorId: 28, // 4 bytes: the vendor of the tool that made the table
  creatorRevision: 32, // u32
} as const;
export const SDT_HEADER_BYTES = 36;

export const OEM_ID_BYTES = 6;
export const OEM_TABLE_ID_BYTES = 8;
/** The OEM ID when the platform names none. */
export const DEFAULT_OEM_ID = 'TSVMM';
/** The first four bytes of every OEM table ID; the table's own name follows. */
const OEM_TABLE_ID_PREFIX = 'TSVM';
const OEM_REVISION = 1;
/** Creator: this generator. */
const CREATOR_ID = 'TSVM';
const CREATOR_REVISION = 1;

/** Writes `text` as ASCII into `out` at `at`, padded with spaces to `width` bytes. */
export function writeAsciiPadded(out: Uint8Array, at: number, text: string, width: number): void {
  if (text.length > width) throw new RangeError(`'${text}' is longer than ${width} bytes`);
  for (let i = 0; i < width; i++) {
    const code = i < text.length ? text.charCodeAt(i) : 0x20;
    if (code < 0x20 || code > 0x7e) throw new RangeError(`'${text}' is not printable ASCII`);
    out[at + i] = code;
  }
}

export interface SdtIdentity {
  /** Four-character table signature ("FACP", "APIC", ...). */
  signature: string;
  revision: number;
  /** Up to 6 printable ASCII characters. */
  oemId: string;
  /** The table's part of the OEM table ID: up to 4 characters after "TSVM". */
  tableName: string;
}

/**
 * A zeroed table of `length` bytes with its header filled in, checksum 0.
 * Call `finishSdt` once the body is written.
 */
export function newSdt(id: SdtIdentity, length: number): { bytes: Uint8Array; view: DataView } {
  if (id.signature.length !== 4) throw new RangeError(`table signature '${id.signature}' is not 4 characters`);
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  writeAsciiPadded(bytes, SdtHeaderField.signature, id.signature, 4);
  view.setUint32(SdtHeaderField.length, length, true);
  bytes[SdtHeaderField.revision] = id.revision;
  writeAsciiPadded(bytes, SdtHeaderField.oemId, id.oemId, OEM_ID_BYTES);
  writeAsciiPadded(bytes, SdtHeaderField.oemTableId, OEM_TABLE_ID_PREFIX + id.tableName, OEM_TABLE_ID_BYTES);
  view.setUint32(SdtHeaderField.oemRevision, OEM_REVISION, true);
  writeAsciiPadded(bytes, SdtHeaderField.creatorId, CREATOR_ID, 4);
  view.setUint32(SdtHeaderField.creatorRevision, CREATOR_REVISION, true);
  return { bytes, view };
}

/** Sets the header checksum so the whole table sums to zero; returns the table. */
export function finishSdt(bytes: Uint8Array): Uint8Array {
  setChecksum(bytes, SdtHeaderField.checksum);
  return bytes;
}
