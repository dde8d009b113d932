import { describe, expect, it } from 'vitest';
import * as aml from '../../../src/boot/acpi/aml.js';
import { byteSum, checksumOf, setChecksum } from '../../../src/boot/acpi/checksum.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

/** Decodes a PkgLength (ACPI 6.5 §20.2.4) independently of the encoder: [value, bytes used]. */
function decodePkgLength(b: Uint8Array): [number, number] {
  const follow = b[0] >> 6;
  if (follow === 0) return [b[0] & 0x3f, 1];
  let value = b[0] & 0x0f;
  for (let i = 1; i <= follow; i++) value |= b[i] << (4 + 8 * (i - 1));
  return [value, 1 + follow];
}

describe('AML PkgLength', () => {
  it.each([
    [0, [0x00]],
    [63, [0x3f]],
    [64, [0x40, 0x04]],
    [4095, [0x4f, 0xff]],
    [4096, [0x80, 0x00, 0x01]],
    [0xfffff, [0x8f, 0xff, 0xff]],
    [0x100000, [0xc0, 0x00, 0x00, 0x01]],
    [0xfffffff, [0xcf, 0xff, 0xff, 0xff]],
  ])('encodes %i as %j', (value, expected) => {
    expect(Array.from(aml.pkgLength(value))).toEqual(expected);
    expect(decodePkgLength(aml.pkgLength(value))).toEqual([value, expected.length]);
  });

  it('round-trips values across every form', () => {
    for (let v = 0; v <= 0xfffffff; v = v * 3 + 7) expect(decodePkgLength(aml.pkgLength(v))[0]).toBe(v);
  });

  it('refuses what 28 bits cannot hold', () => {
    expect(() => aml.pkgLength(0x10000000)).toThrow(/PkgLength/);
    expect(() => aml.pkgLength(-1)).toThrow(/PkgLength/);
    expect(() => aml.pkgLength(1.5)).toThrow(/PkgLength/);
  });

  // The value counts the PkgLength bytes too, so the form switches a little before the value's boundary.
  it.each([
    [62, 1],
    [63, 2],
    [4093, 2],
    [4094, 3],
    [0xfffff - 3, 3],
    [0xfffff - 2, 4],
  ])('covers a body of %i bytes with a %i-byte PkgLength that counts itself', (bodyLength, size) => {
    const out = aml.withPkgLength(new Uint8Array(bodyLength));
    expect(decodePkgLength(out)).toEqual([bodyLength + size, size]);
    expect(out.length).toBe(bodyLength + size);
  });
});

describe('AML names', () => {
  it('pads NameSegs with underscores', () => {
    expect(Array.from(aml.nameSeg('A'))).toEqual(ascii('A___'));
    expect(Array.from(aml.nameSeg('_SB'))).toEqual(ascii('_SB_'));
    expect(Array.from(aml.nameSeg('COM1'))).toEqual(ascii('COM1'));
    expect(Array.from(aml.nameSeg('_S5'))).toEqual(ascii('_S5_'));
  });

  it.each(['', 'ABCDE', '1ABC', 'abc', 'A-B'])('refuses the NameSeg %j', (seg) => {
    expect(() => aml.nameSeg(seg)).toThrow(/NameSeg/);
  });

  it('encodes root, parent, dual and multi-segment paths', () => {
    expect(Array.from(aml.namePath('_HID'))).toEqual(ascii('_HID'));
    expect(Array.from(aml.namePath('\\_SB'))).toEqual([0x5c, ...ascii('_SB_')]);
    expect(Array.from(aml.namePath('\\_SB.COM1'))).toEqual([0x5c, 0x2e, ...ascii('_SB_COM1')]);
    expect(Array.from(aml.namePath('\\_SB.PCI0.S08'))).toEqual([0x5c, 0x2f, 3, ...ascii('_SB_PCI0S08_')]);
    expect(Array.from(aml.namePath('^^X'))).toEqual([0x5e, 0x5e, ...ascii('X___')]);
    expect(Array.from(aml.namePath('\\'))).toEqual([0x5c, 0x00]);
  });
});

describe('AML data', () => {
  it.each<[number | bigint, number[]]>([
    [0, [0x00]],
    [1, [0x01]],
    [2, [0x0a, 0x02]],
    [0xff, [0x0a, 0xff]],
    [0x100, [0x0b, 0x00, 0x01]],
    [0xffff, [0x0b, 0xff, 0xff]],
    [0x10000, [0x0c, 0x00, 0x00, 0x01, 0x00]],
    [0xfee00000, [0x0c, 0x00, 0x00, 0xe0, 0xfe]],
    [0xffffffff, [0x0c, 0xff, 0xff, 0xff, 0xff]],
    [0x100000000, [0x0e, 0, 0, 0, 0, 1, 0, 0, 0]],
    [(1n << 64n) - 1n, [0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  ])('encodes the integer %s in its shortest form', (value, expected) => {
    expect(Array.from(aml.integer(value))).toEqual(expected);
  });

  it('refuses integers AML cannot hold', () => {
    expect(() => aml.integer(-1)).toThrow(/outside/);
    expect(() => aml.integer(1n << 64n)).toThrow(/outside/);
    expect(() => aml.integer(0.5)).toThrow(/safe integer/);
    expect(() => aml.integer(2 ** 53)).toThrow(/safe integer/);
  });

  it('encodes NUL-terminated ASCII strings', () => {
    expect(Array.from(aml.string('LNRO0005'))).toEqual([0x0d, ...ascii('LNRO0005'), 0]);
    expect(Array.from(aml.string(''))).toEqual([0x0d, 0]);
    expect(() => aml.string('é')).toThrow(/ASCII/);
    expect(() => aml.string('a\0b')).toThrow(/ASCII/);
  });

  it('encodes Buffer and Package', () => {
    expect(Array.from(aml.buffer(bytes(1, 2, 3)))).toEqual([0x11, 0x06, 0x0a, 0x03, 1, 2, 3]);
    expect(Array.from(aml.packageOf([aml.integer(5), aml.integer(0)]))).toEqual([0x12, 0x05, 0x02, 0x0a, 0x05, 0x00]);
    expect(() => aml.packageOf(new Array(256).fill(aml.integer(0)))).toThrow(/255/);
  });

  it('compresses EISA IDs', () => {
    expect(aml.eisaId('PNP0501')).toBe(0x0105d041);
    expect(aml.eisaId('PNP0C0C')).toBe(0x0c0cd041);
    expect(Array.from(aml.integer(aml.eisaId('PNP0501')))).toEqual([0x0c, 0x41, 0xd0, 0x05, 0x01]);
    expect(() => aml.eisaId('PNP501')).toThrow(/EISA/);
    expect(() => aml.eisaId('pnp0501')).toThrow(/EISA/);
  });
});

describe('AML named objects', () => {
  it('encodes Name, Scope, Device, Method and Return', () => {
    expect(Array.from(aml.name('_UID', aml.integer(1)))).toEqual([0x08, ...ascii('_UID'), 0x01]);
    expect(Array.from(aml.scope('\\_SB', []))).toEqual([0x10, 0x06, 0x5c, ...ascii('_SB_')]);
    expect(Array.from(aml.device('VR00', [aml.name('_UID', aml.integer(0))]))).toEqual([0x5b, 0x82, 0x0b, ...ascii('VR00'), 0x08, ...ascii('_UID'), 0x00]);
    expect(Array.from(aml.method('_STA', 0, false, [aml.returnValue(aml.integer(0x0f))]))).toEqual([0x14, 0x09, ...ascii('_STA'), 0x00, 0xa4, 0x0a, 0x0f]);
    expect(aml.method('M', 3, true, [])[6]).toBe(0x0b); // 3 arguments | Serialized
    expect(() => aml.method('M', 8, false, [])).toThrow(/arguments/);
  });
});

describe('AML resource descriptors', () => {
  it('encode as ACPI 6.5 §6.4 lays them out', () => {
    expect(Array.from(aml.ioPort(0x3f8, 0x3f8, 1, 8))).toEqual([0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08]);
    expect(Array.from(aml.irqNoFlags(4))).toEqual([0x22, 0x10, 0x00]);
    expect(Array.from(aml.irqNoFlags(12))).toEqual([0x22, 0x00, 0x10]);
    expect(Array.from(aml.memory32Fixed(0xd0000000, 0x1000))).toEqual([0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00]);
    expect(aml.memory32Fixed(0xd0000000, 0x1000, false)[3]).toBe(0);
    expect(Array.from(aml.extendedInterrupt(5, { trigger: 'edge', polarity: 'high' }))).toEqual([0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00]);
    expect(aml.extendedInterrupt(5, { trigger: 'level', polarity: 'high' })[3]).toBe(0x01);
    expect(aml.extendedInterrupt(5, { trigger: 'level', polarity: 'low', shared: true })[3]).toBe(0x0d);
  });

  it('refuses what the descriptors cannot hold', () => {
    expect(() => aml.irqNoFlags(16)).toThrow(/IRQNoFlags/);
    expect(() => aml.memory32Fixed(0xfffff000, 0x2000)).toThrow(/4 GiB/);
    expect(() => aml.ioPort(0x10000, 0x10000, 1, 8)).toThrow(/min/);
    expect(() => aml.ioPort(0x3f8, 0x3f8, 1, 256)).toThrow(/length/);
  });

  it('end a ResourceTemplate with an End Tag whose checksum zeroes the template', () => {
    const descriptors = [aml.memory32Fixed(0xd0000000, 0x1000), aml.extendedInterrupt(5, { trigger: 'edge', polarity: 'high' })];
    const template = aml.resourceTemplate(descriptors);
    const body = aml.concat(descriptors);
    // Buffer op, 1-byte PkgLength, ByteConst size, the descriptors, the End Tag.
    expect(Array.from(template.subarray(0, 4))).toEqual([0x11, template.length - 1, 0x0a, body.length + 2]);
    expect(Array.from(template.subarray(4, 4 + body.length))).toEqual(Array.from(body));
    expect(template[template.length - 2]).toBe(0x79);
    expect(byteSum(template.subarray(4))).toBe(0);
    expect(byteSum(aml.resourceTemplate([]).subarray(4))).toBe(0); // just the End Tag: 0x79 0x87
  });
});

describe('ACPI checksums', () => {
  it('make the covered bytes sum to zero', () => {
    const b = bytes(1, 2, 3, 0xaa, 0, 9);
    setChecksum(b, 4);
    expect(byteSum(b)).toBe(0);
    const part = bytes(0xff, 0xff, 0, 7, 7);
    setChecksum(part, 2, 0, 3);
    expect(byteSum(part.subarray(0, 3))).toBe(0);
    expect(Array.from(part.subarray(3))).toEqual([7, 7]);
    expect(checksumOf(bytes())).toBe(0);
    expect(() => setChecksum(part, 4, 0, 3)).toThrow(/outside/);
  });
});
