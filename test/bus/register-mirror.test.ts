import { describe, expect, it } from 'vitest';
import type { BusDevice } from '../../src/bus/device.js';
import { MirroredReads } from '../../src/bus/mirrored-reads.js';
import { NOT_MIRRORED, RegisterMirror, mirrorsRegisters } from '../../src/bus/register-mirror.js';

/** A device that records what reached it and answers 0xee. */
function recordingDevice() {
  const seen: string[] = [];
  const device: BusDevice = {
    name: 'dev',
    read: (offset, data) => {
      seen.push(`r${offset}/${data.length}`);
      data.fill(0xee);
    },
    write: (offset, data) => void seen.push(`w${offset}=${data[0]}`),
  };
  return { device, seen };
}

describe('RegisterMirror', () => {
  it('mirrors nothing until the device publishes, then what it published, one byte each', () => {
    const mirror = RegisterMirror.create(8);
    expect([...Array(8).keys()].map((o) => mirror.lookup(o))).toEqual(Array(8).fill(NOT_MIRRORED));
    mirror.publish(5, 0x160);
    expect(mirror.lookup(5)).toBe(0x60);
    mirror.publish(5, NOT_MIRRORED);
    expect(mirror.lookup(5)).toBe(NOT_MIRRORED);
    expect(mirror.lookup(-1)).toBe(NOT_MIRRORED);
    expect(mirror.lookup(8)).toBe(NOT_MIRRORED);
  });

  it('is one memory: another view of its buffer sees what was published', () => {
    const mirror = RegisterMirror.create(8);
    const seenElsewhere = new RegisterMirror(mirror.shared);
    mirror.publish(6, 0xb0);
    expect(seenElsewhere.lookup(6)).toBe(0xb0);
    expect(seenElsewhere.size).toBe(8);
  });

  it('knows a device that keeps one', () => {
    expect(mirrorsRegisters(recordingDevice().device)).toBe(false);
    const keeper: BusDevice & { mirrorRegisters(): void } = { ...recordingDevice().device, mirrorRegisters: () => {} };
    expect(mirrorsRegisters(keeper)).toBe(true);
  });
});

describe('MirroredReads', () => {
  it('answers one-byte reads of mirrored registers itself and sends everything else to the device', () => {
    const { device, seen } = recordingDevice();
    const mirror = RegisterMirror.create(8);
    mirror.publish(5, 0x60);
    const reads = new MirroredReads(device, mirror.shared);
    const one = new Uint8Array(1);
    reads.read(5, one);
    expect(one[0]).toBe(0x60);
    reads.read(4, one); // not mirrored
    expect(one[0]).toBe(0xee);
    const two = new Uint8Array(2);
    reads.read(5, two); // mirrored, but not a one-byte read
    reads.write(5, Uint8Array.of(1)); // writes always reach the device
    expect(seen).toEqual(['r4/1', 'r5/2', 'w5=1']);
    expect(reads.readsAnswered).toBe(1);
    expect(reads.name).toBe('dev');
  });
});
