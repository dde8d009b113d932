// A small ACPI Machine Language (AML) encoder: just what a microVM's DSDT
// needs (ACPI 6.5 §20.2 "AML Grammar Definition" and §6.4 "Resource Data
// Types"). Every function returns the encoded bytes of one AML term, so a
// table body is a tree of nested calls, e.g.
//   device('COM1', [name('_HID', integer(eisaId('PNP0501'))), name('_CRS', resourceTemplate([...]))])
// Nothing here knows about a particular machine.
import { checksumOf } from './checksum.js';

/** Opcodes and prefixes (ACPI 6.5 §20.2.3 - §20.2.5, §20.3 opcode table). */
export const AmlOp = {
  Zero: 0x00,
  One: 0x01,
  Name: 0x08,
  BytePrefix: 0x0a,
  WordPrefix: 0x0b,
  DWordPrefix: 0x0c,
  StringPrefix: 0x0d,
  QWordPrefix: 0x0e,
  Scope: 0x10,
  Buffer: 0x11,
  Package: 0x12,
  Method: 0x14,
  DualNamePrefix: 0x2e,
  MultiNamePrefix: 0x2f,
  ExtOpPrefix: 0x5b,
  RootChar: 0x5c, // '\'
  ParentPrefixChar: 0x5e, // '^'
  Return: 0xa4,
  NullName: 0x00,
} as const;
/** Second bytes after ExtOpPrefix. */
export const AmlExtOp = {
  Device: 0x82,
} as const;

// ---------------------------------------------------------------- PkgLength

/** Largest value each PkgLength form can hold (§20.2.4): 6, 12, 20 and 28 bits. */
export const PKG_LENGTH_MAX = [0x3f, 0xfff, 0xfffff, 0xfffffff] as const;

/**
 * Encodes the PkgLength `value` (which counts the PkgLength bytes themselves
 * plus what follows them) in the fewest bytes: one byte up to 63, else a lead
 * byte whose bits 7-6 count the following bytes and whose bits 3-0 hold the
 * low nibble, then the rest of the value 8 bits at a time.
 */
export function pkgLength(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > PKG_LENGTH_MAX[3]) {
    throw new RangeError(`PkgLength ${value} is outside 0..${PKG_LENGTH_MAX[3]}`);
  }
  if (value <= PKG_LENGTH_MAX[0]) return Uint8Array.of(value);
  const follow = value <= PKG_LENGTH_MAX[1] ? 1 : value <= PKG_LENGTH_MAX[2] ? 2 : 3;
  const out = new Uint8Array(1 + follow);
  out[0] = (follow << 6) | (value & 0x0f);
  for (let i = 1; i <= follow; i++) out[i] = (value >>> (4 + 8 * (i - 1))) & 0xff;
  return out;
}

/** `body` preceded by the PkgLength that covers itself and `body`. */
export function withPkgLength(body: Uint8Array): Uint8Array {
  let size = 1;
  while (body.length + size > PKG_LENGTH_MAX[size - 1]) {
    size++;
    if (size > PKG_LENGTH_MAX.length) throw new RangeError(`AML package body of ${body.length} bytes is too long`);
  }
  return concat([pkgLength(body.length + size), body]);
}

// ---------------------------------------------------------------- names

const NAME_SEG_BYTES = 4;
const NAME_SEG = /^[A-Z_][A-Z0-9_]{0,3}$/;

/** A NameSeg (§20.2.2): 1-4 characters, a leading A-Z or '_', padded with '_' to 4. */
export function nameSeg(seg: string): Uint8Array {
  if (!NAME_SEG.test(seg)) throw new RangeError(`'${seg}' is not an ACPI NameSeg (A-Z or _, then up to 3 of A-Z, 0-9, _)`);
  const padded = seg.padEnd(NAME_SEG_BYTES, '_');
  return Uint8Array.from(padded, (c) => c.charCodeAt(0));
}

/**
 * A NameString (§20.2.2) from ASL spelling: an optional '\' (root) or '^'s
 * (parent), then NameSegs joined by '.': "_SB", "\\_SB.COM1", "^PCI0".
 * No segments (just "\\") is the NullName.
 */
export function namePath(path: string): Uint8Array {
  const prefix: number[] = [];
  let rest = path;
  if (rest.startsWith('\\')) {
    prefix.push(AmlOp.RootChar);
    rest = rest.slice(1);
  } else {
    while (rest.startsWith('^')) {
      prefix.push(AmlOp.ParentPrefixChar);
      rest = rest.slice(1);
    }
  }
  const segs = rest === '' ? [] : rest.split('.').map(nameSeg);
  if (segs.length > 0xff) throw new RangeError(`name path '${path}' has more than 255 segments`);
  const lead =
    segs.length === 0 ? [AmlOp.NullName] : segs.length === 1 ? [] : segs.length === 2 ? [AmlOp.DualNamePrefix] : [AmlOp.MultiNamePrefix, segs.length];
  return concat([Uint8Array.from(prefix), Uint8Array.from(lead), ...segs]);
}

// ---------------------------------------------------------------- data

const U64_MAX = (1n << 64n) - 1n;

/**
 * An integer in its shortest form (§20.2.3): ZeroOp, OneOp, then Byte, Word,
 * DWord or QWord constants. (OnesOp is not used: its value depends on the
 * table revision.) QWords need a DSDT of revision 2 or more.
 */
export function integer(value: number | bigint): Uint8Array {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new RangeError(`AML integer ${value} is not a safe integer`);
  const v = BigInt(value);
  if (v < 0n || v > U64_MAX) throw new RangeError(`AML integer ${value} is outside 0..2^64-1`);
  if (v === 0n) return Uint8Array.of(AmlOp.Zero);
  if (v === 1n) return Uint8Array.of(AmlOp.One);
  const [prefix, bytes] =
    v <= 0xffn ? [AmlOp.BytePrefix, 1] : v <= 0xffffn ? [AmlOp.WordPrefix, 2] : v <= 0xffffffffn ? [AmlOp.DWordPrefix, 4] : [AmlOp.QWordPrefix, 8];
  const out = new Uint8Array(1 + bytes);
  out[0] = prefix;
  for (let i = 0; i < bytes; i++) out[1 + i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** A String constant (§20.2.3): ASCII 0x01-0x7F, NUL-terminated. */
export function string(text: string): Uint8Array {
  const out = new Uint8Array(text.length + 2);
  out[0] = AmlOp.StringPrefix;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x01 || c > 0x7f) throw new RangeError(`AML string '${text}' has a character outside ASCII 0x01-0x7F`);
    out[1 + i] = c;
  }
  return out; // the last byte stays 0
}

/** Buffer(n) { bytes } (§20.2.5.4 DefBuffer): the size as an integer term, then the bytes. */
export function buffer(bytes: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(AmlOp.Buffer), withPkgLength(concat([integer(bytes.length), bytes]))]);
}

/** Package(n) { elements } (§20.2.5.4 DefPackage): at most 255 elements, each a data term. */
export function packageOf(elements: Uint8Array[]): Uint8Array {
  if (elements.length > 0xff) throw new RangeError(`AML Package of ${elements.length} elements (at most 255)`);
  return concat([Uint8Array.of(AmlOp.Package), withPkgLength(concat([Uint8Array.of(elements.length), ...elements]))]);
}

/**
 * The 32-bit compressed EISA ID (§19.6.43 EISAID) of "PNP0501"-style IDs:
 * three letters of 5 bits each (A = 1), then four hex digits, stored so
 * that the bytes in memory read in that order (as an AML integer: little
 * endian, so the value looks byte-swapped).
 */
export function eisaId(id: string): number {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new RangeError(`'${id}' is not an EISA ID (3 capital letters, 4 hex digits)`);
  const letter = (i: number) => id.charCodeAt(i) - 0x40;
  const b0 = (letter(0) << 2) | (letter(1) >> 3);
  const b1 = ((letter(1) & 0x07) << 5) | letter(2);
  const b2 = parseInt(id.slice(3, 5), 16);
  const b3 = parseInt(id.slice(5, 7), 16);
  return (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0;
}

// ---------------------------------------------------------------- named objects

/** Name(path, value) (§20.2.5.1 DefName). */
export function name(path: string, value: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(AmlOp.Name), namePath(path), value]);
}

/** Scope(path) { terms } (§20.2.5.1 DefScope). */
export function scope(path: string, terms: Uint8Array[]): Uint8Array {
  return concat([Uint8Array.of(AmlOp.Scope), withPkgLength(concat([namePath(path), ...terms]))]);
}

/** Device(path) { terms } (§20.2.5.2 DefDevice). */
export function device(path: string, terms: Uint8Array[]): Uint8Array {
  return concat([Uint8Array.of(AmlOp.ExtOpPrefix, AmlExtOp.Device), withPkgLength(concat([namePath(path), ...terms]))]);
}

const METHOD_MAX_ARGS = 7;
const METHOD_SERIALIZED = 1 << 3;

/**
 * Method(path, args, Serialized|NotSerialized) { terms } (§20.2.5.2
 * DefMethod; MethodFlags: bits 2-0 argument count, bit 3 serialized, bits
 * 7-4 sync level, here 0).
 */
export function method(path: string, args: number, serialized: boolean, terms: Uint8Array[]): Uint8Array {
  if (!Number.isInteger(args) || args < 0 || args > METHOD_MAX_ARGS) throw new RangeError(`Method ${path}: ${args} arguments (0..${METHOD_MAX_ARGS})`);
  const flags = args | (serialized ? METHOD_SERIALIZED : 0);
  return concat([Uint8Array.of(AmlOp.Method), withPkgLength(concat([namePath(path), Uint8Array.of(flags), ...terms]))]);
}

/** Return(value) (§20.2.5.3 DefReturn). */
export function returnValue(value: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(AmlOp.Return), value]);
}

// ---------------------------------------------------------------- resource descriptors (§6.4)

/** Tags of the descriptors used here: small ones are (type << 3) | length, large ones 0x80 | type. */
export const ResourceTag = {
  IrqNoFlags: (0x04 << 3) | 2, // §6.4.2.1, 2-byte mask
  IoPort: (0x08 << 3) | 7, // §6.4.2.5
  EndTag: (0x0f << 3) | 1, // §6.4.2.9, 1-byte checksum
  Memory32Fixed: 0x80 | 0x06, // §6.4.3.4
  ExtendedInterrupt: 0x80 | 0x09, // §6.4.3.6
} as const;

/** IO port descriptor (§6.4.2.5, Table 6.40). */
export const IoPortDescriptor = { tag: 0, information: 1, min: 2, max: 4, alignment: 6, length: 7, size: 8 } as const;
/** IRQ descriptor without the flags byte (§6.4.2.1, Table 6.36): a mask of ISA IRQs. */
export const IrqNoFlagsDescriptor = { tag: 0, mask: 1, size: 3 } as const;
/** Large descriptors start with the tag and a u16 length of what follows (§6.4.3). */
const LARGE_HEADER_BYTES = 3;
const LARGE_LENGTH_FIELD = 1;
/** 32-bit fixed memory range descriptor (§6.4.3.4, Table 6.50). */
export const Memory32FixedDescriptor = { tag: 0, length: 1, information: 3, base: 4, rangeLength: 8, size: 12 } as const;
/** Extended interrupt descriptor with one interrupt and no resource source (§6.4.3.6, Table 6.55). */
export const ExtendedInterruptDescriptor = { tag: 0, length: 1, flags: 3, count: 4, interrupt: 5, size: 9 } as const;

const MEMORY_READ_WRITE = 1 << 0;
const IO_DECODE_16 = 1 << 0;
const ISA_IRQS = 16;
const U8_MAX = 0xff;
const U16_MAX = 0xffff;
const U32_LIMIT = 0x1_0000_0000;

/** Extended interrupt flags (§6.4.3.6, byte 3). */
export const InterruptFlag = {
  consumer: 1 << 0,
  edge: 1 << 1,
  activeLow: 1 << 2,
  shared: 1 << 3,
  wakeCapable: 1 << 4,
} as const;

/** IO(Decode16, min, max, alignment, length) (§6.4.2.5). */
export function ioPort(min: number, max: number, alignment: number, length: number): Uint8Array {
  for (const [what, v, limit] of [['min', min, U16_MAX], ['max', max, U16_MAX], ['alignment', alignment, U8_MAX], ['length', length, U8_MAX]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > limit) throw new RangeError(`IO descriptor ${what} ${v} is outside 0..${limit}`);
  }
  const d = IoPortDescriptor;
  const out = new Uint8Array(d.size);
  const view = new DataView(out.buffer);
  out[d.tag] = ResourceTag.IoPort;
  out[d.information] = IO_DECODE_16;
  view.setUint16(d.min, min, true);
  view.setUint16(d.max, max, true);
  out[d.alignment] = alignment;
  out[d.length] = length;
  return out;
}

/** IRQNoFlags() { irq } (§6.4.2.1, the 2-byte form: edge, active high, exclusive ISA IRQ 0-15). */
export function irqNoFlags(irq: number): Uint8Array {
  if (!Number.isInteger(irq) || irq < 0 || irq >= ISA_IRQS) throw new RangeError(`IRQNoFlags IRQ ${irq} is outside 0..${ISA_IRQS - 1}`);
  const out = new Uint8Array(IrqNoFlagsDescriptor.size);
  out[IrqNoFlagsDescriptor.tag] = ResourceTag.IrqNoFlags;
  new DataView(out.buffer).setUint16(IrqNoFlagsDescriptor.mask, 1 << irq, true);
  return out;
}

/** Memory32Fixed(ReadWrite|ReadOnly, base, length) (§6.4.3.4). */
export function memory32Fixed(base: number, length: number, writable = true): Uint8Array {
  if (!Number.isInteger(base) || base < 0 || !Number.isInteger(length) || length < 0 || base + length > U32_LIMIT) {
    throw new RangeError(`Memory32Fixed 0x${base.toString(16)}+0x${length.toString(16)} does not fit below 4 GiB`);
  }
  const d = Memory32FixedDescriptor;
  const out = new Uint8Array(d.size);
  const view = new DataView(out.buffer);
  out[d.tag] = ResourceTag.Memory32Fixed;
  view.setUint16(LARGE_LENGTH_FIELD, d.size - LARGE_HEADER_BYTES, true);
  out[d.information] = writable ? MEMORY_READ_WRITE : 0;
  view.setUint32(d.base, base, true);
  view.setUint32(d.rangeLength, length, true);
  return out;
}

export interface InterruptOptions {
  trigger: 'edge' | 'level';
  polarity: 'high' | 'low';
  shared?: boolean;
}

/** Interrupt(ResourceConsumer, trigger, polarity, Exclusive|Shared) { gsi } (§6.4.3.6, one interrupt, no resource source). */
export function extendedInterrupt(gsi: number, options: InterruptOptions): Uint8Array {
  if (!Number.isInteger(gsi) || gsi < 0 || gsi >= U32_LIMIT) throw new RangeError(`Interrupt ${gsi} is not a 32-bit number`);
  const d = ExtendedInterruptDescriptor;
  const out = new Uint8Array(d.size);
  const view = new DataView(out.buffer);
  out[d.tag] = ResourceTag.ExtendedInterrupt;
  view.setUint16(LARGE_LENGTH_FIELD, d.size - LARGE_HEADER_BYTES, true);
  out[d.flags] =
    InterruptFlag.consumer |
    (options.trigger === 'edge' ? InterruptFlag.edge : 0) |
    (options.polarity === 'low' ? InterruptFlag.activeLow : 0) |
    (options.shared ? InterruptFlag.shared : 0);
  out[d.count] = 1;
  view.setUint32(d.interrupt, gsi, true);
  return out;
}

/**
 * The End Tag (§6.4.2.9) after `descriptors`: its checksum byte makes the
 * descriptors and the tag sum to zero (0 would also do: "assumed valid").
 */
export function endTag(descriptors: Uint8Array): Uint8Array {
  return Uint8Array.of(ResourceTag.EndTag, checksumOf(concat([descriptors, Uint8Array.of(ResourceTag.EndTag)])));
}

/** ResourceTemplate() { descriptors }: a Buffer holding the descriptors and their End Tag. */
export function resourceTemplate(descriptors: Uint8Array[]): Uint8Array {
  const body = concat(descriptors);
  return buffer(concat([body, endTag(body)]));
}

// ---------------------------------------------------------------- bytes

/** The parts one after another. */
export function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
