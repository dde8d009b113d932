import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { BootError } from '../../src/boot/boot-error.js';
import { formatProtocolVersion, looksLikeBzImage, parseBzImageHeader } from '../../src/boot/setup-header.js';
import { buildBzImage, typicalVmlinux } from './support/synthetic-kernel.js';

const payload = new Uint8Array(gzipSync(typicalVmlinux()));

function expectBootError(fn: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(BootError);
  expect((caught as Error).message).toMatch(message);
}

describe('bzImage setup header', () => {
  test('parses the fields of a well-formed image', () => {
    const image = buildBzImage({ payload, setupSects: 3, initSize: 0x500000, cmdlineSize: 1023, initrdAddrMax: 0x37ffffff });
    expect(looksLikeBzImage(image)).toBe(true);
    const h = parseBzImageHeader(image);
    expect(h.version).toBe(0x020f);
    expect(h.setupSects).toBe(3);
    expect(h.setupSize).toBe(4 * 512);
    expect(h.payloadFileOffset).toBe(4 * 512 + 0x200);
    expect(h.payloadLength).toBe(payload.length);
    expect(h.initSize).toBe(0x500000);
    expect(h.cmdlineSize).toBe(1023);
    expect(h.initrdAddrMax).toBe(0x37ffffff);
    expect(h.kernelAlignment).toBe(0x200000);
    expect(h.relocatable).toBe(true);
    expect(h.prefAddress).toBe(0x1000000);
    expect(h.rawHeader.length).toBe(0x26c - 0x1f1);
    expect(Array.from(image.subarray(h.payloadFileOffset, h.payloadFileOffset + 2))).toEqual([0x1f, 0x8b]);
  });

  test('setup_sects 0 means 4', () => {
    const h = parseBzImageHeader(buildBzImage({ payload, setupSects: 0 }));
    expect(h.setupSects).toBe(4);
    expect(h.setupSize).toBe(5 * 512);
  });

  test('copies only as much header as the jump at 0x200 announces', () => {
    const image = buildBzImage({ payload });
    image[0x201] = 0x5e; // header ends at 0x260 (protocol 2.09-style length)
    expect(parseBzImageHeader(image).rawHeader.length).toBe(0x260 - 0x1f1);
  });

  test('not a kernel: no HdrS / 0xAA55', () => {
    expectBootError(() => parseBzImageHeader(new Uint8Array(4096)), /not a Linux kernel image/);
    expectBootError(() => parseBzImageHeader(new Uint8Array(16)), /not a Linux kernel image.*too short/);
    const noFlag = buildBzImage({ payload });
    noFlag[0x1fe] = 0;
    expectBootError(() => parseBzImageHeader(noFlag), /not a Linux kernel image/);
    expect(looksLikeBzImage(noFlag)).toBe(false);
  });

  test('protocol too old names the version', () => {
    expectBootError(() => parseBzImageHeader(buildBzImage({ payload, version: 0x0205 })), /boot protocol 2\.05 is too old.*2\.06/);
    expectBootError(() => parseBzImageHeader(buildBzImage({ payload, version: 0x0200 })), /2\.00 is too old/);
    expect(formatProtocolVersion(0x020f)).toBe('2.15');
  });

  test('truncated image', () => {
    const image = buildBzImage({ payload, setupSects: 30 }).subarray(0, 2048);
    expectBootError(() => parseBzImageHeader(image), /truncated: 30 setup sectors need 15872 bytes/);
    const full = buildBzImage({ payload });
    expectBootError(() => parseBzImageHeader(full.subarray(0, full.length - 200)), /payload out of range/);
  });

  test('not 64-bit capable', () => {
    expectBootError(() => parseBzImageHeader(buildBzImage({ payload, xloadflags: 0 })), /not 64-bit capable: XLF_KERNEL_64 is clear/);
    expectBootError(() => parseBzImageHeader(buildBzImage({ payload, version: 0x020a })), /not 64-bit capable: boot protocol 2\.10 has no xloadflags/);
  });

  test('payload offset/length out of range', () => {
    const image = buildBzImage({ payload });
    const dv = new DataView(image.buffer);
    dv.setUint32(0x24c, 0xffffffff, true);
    expectBootError(() => parseBzImageHeader(image), /payload out of range/);
    dv.setUint32(0x24c, 16, true);
    dv.setUint32(0x248, 0xfffffff0, true);
    expectBootError(() => parseBzImageHeader(image), /payload out of range/);
    dv.setUint32(0x248, 0, true);
    dv.setUint32(0x24c, 0, true);
    expectBootError(() => parseBzImageHeader(image), /payload_length is 0/);
  });

  test('zImage (not LOADED_HIGH) is refused', () => {
    expectBootError(() => parseBzImageHeader(buildBzImage({ payload, loadflags: 0 })), /zImage/);
  });
});
