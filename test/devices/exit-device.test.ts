// The exit device turns one guest byte into tsvmm's exit status: the status
// must be exactly the low byte written, whatever the access looks like.
import { describe, expect, it } from 'vitest';
import { IoBus } from '../../src/bus/io-bus.js';
import { EXIT_DEVICE_PORT, ExitDevice } from '../../src/devices/exit-device.js';

function exitDevice() {
  const statuses: number[] = [];
  return { dev: new ExitDevice((s) => statuses.push(s)), statuses };
}

describe('ExitDevice', () => {
  it('reports the byte written as the exit status', () => {
    const { dev, statuses } = exitDevice();
    for (const b of [0, 1, 42, 0x7f, 0x80, 0xff]) dev.write(0, Uint8Array.of(b));
    expect(statuses).toEqual([0, 1, 42, 0x7f, 0x80, 0xff]);
  });

  it('takes the low byte of a wide write (outw/outl to 0x501)', () => {
    const { dev, statuses } = exitDevice();
    dev.write(0, Uint8Array.of(0x34, 0x12));
    dev.write(0, Uint8Array.of(0x78, 0x56, 0x34, 0x12));
    dev.write(0, new Uint8Array(8).fill(0xff).fill(3, 0, 1));
    expect(statuses).toEqual([0x34, 0x78, 3]);
  });

  it('is write-only: reads of any size return all ones and report nothing', () => {
    const { dev, statuses } = exitDevice();
    for (const size of [1, 2, 4, 8]) {
      const d = new Uint8Array(size);
      dev.read(0, d);
      expect(Array.from(d)).toEqual(new Array(size).fill(0xff));
    }
    expect(statuses).toEqual([]);
  });

  it('is reached through the port bus at 0x501 only', () => {
    const { dev, statuses } = exitDevice();
    const pio = new IoBus('pio');
    pio.add(EXIT_DEVICE_PORT, 1, dev);
    expect(pio.write(0x500, Uint8Array.of(7))).toBeUndefined();
    expect(pio.write(0x502, Uint8Array.of(7))).toBeUndefined();
    expect(statuses).toEqual([]);
    expect(pio.write(0x501, Uint8Array.of(9))).toBe(dev);
    expect(statuses).toEqual([9]);
  });
});
