import { describe, expect, it } from 'vitest';
import { BusError, IoBus } from '../../src/bus/io-bus.js';
import type { BusDevice } from '../../src/bus/device.js';

function device(name: string, log: string[]): BusDevice {
  return {
    name,
    read: (off, data) => {
      log.push(`${name} r ${off}`);
      data.fill(0x11);
    },
    write: (off) => log.push(`${name} w ${off}`),
  };
}

describe('IoBus', () => {
  it('dispatches to the device whose range holds the address, with offsets', () => {
    const log: string[] = [];
    const bus = new IoBus('pio');
    bus.add(0x3f8, 8, device('com1', log));
    bus.add(0x60, 5, device('kbd', log));
    bus.add(0x501, 1, device('exit', log));
    bus.write(0x3fd, Uint8Array.of(1));
    bus.read(0x64, new Uint8Array(1));
    bus.write(0x501, Uint8Array.of(1));
    expect(log).toEqual(['com1 w 5', 'kbd r 4', 'exit w 0']);
  });

  it('reads all ones and counts accesses no device claims', () => {
    const bus = new IoBus('mmio');
    const d = new Uint8Array(4);
    expect(bus.read(0x1234, d)).toBeUndefined();
    expect(Array.from(d)).toEqual([0xff, 0xff, 0xff, 0xff]);
    bus.write(0x1234, d);
    expect(bus.unclaimedAccesses).toBe(2);
  });

  it('refuses overlapping ranges', () => {
    const bus = new IoBus('pio');
    bus.add(0x100, 0x10, device('a', []));
    expect(() => bus.add(0x10f, 1, device('b', []))).toThrow(BusError);
    expect(() => bus.add(0xf0, 0x11, device('c', []))).toThrow(/overlaps a/);
    bus.add(0x110, 1, device('d', []));
  });

  it('finds the right range among many (binary search edges)', () => {
    const bus = new IoBus('mmio');
    for (let i = 0; i < 100; i++) bus.add(i * 0x1000, 0x800, device(`d${i}`, []));
    for (let i = 0; i < 100; i++) {
      expect(bus.find(i * 0x1000)?.device.name).toBe(`d${i}`);
      expect(bus.find(i * 0x1000 + 0x7ff)?.device.name).toBe(`d${i}`);
      expect(bus.find(i * 0x1000 + 0x800)).toBeUndefined();
    }
  });
});
