// The i8042 is only a reset line, but the guest owns its ports: whatever it
// writes, only command 0xFE on port 0x64 may end the VM.
import { describe, expect, it } from 'vitest';
import { IoBus } from '../../src/bus/io-bus.js';
import { I8042, I8042_COMMAND_PORT, I8042_DATA_PORT } from '../../src/devices/i8042.js';

const COMMAND = I8042_COMMAND_PORT - I8042_DATA_PORT;

function controller() {
  let resets = 0;
  const dev = new I8042(() => resets++);
  const rd = (offset: number, size = 1) => {
    const d = new Uint8Array(size).fill(0xaa);
    dev.read(offset, d);
    return Array.from(d);
  };
  const wr = (offset: number, ...bytes: number[]) => dev.write(offset, Uint8Array.from(bytes));
  return { dev, rd, wr, resets: () => resets };
}

describe('I8042', () => {
  it('pulses the reset line on command 0xFE at the command port', () => {
    const c = controller();
    c.wr(COMMAND, 0xfe);
    expect(c.resets()).toBe(1);
  });

  it('ignores 0xFE written to the data port and the ports in between', () => {
    const c = controller();
    for (const offset of [0, 1, 2, 3]) c.wr(offset, 0xfe);
    expect(c.resets()).toBe(0);
  });

  it('reads back the controller configuration after command 0x20, once', () => {
    const c = controller();
    expect(c.rd(COMMAND)).toEqual([0]); // output buffer empty
    c.wr(COMMAND, 0x20);
    expect(c.rd(COMMAND)).toEqual([0x01]); // output buffer full
    expect(c.rd(0)).toEqual([0]);
    expect(c.rd(COMMAND)).toEqual([0]); // consumed
  });

  it('ignores commands it does not implement', () => {
    const c = controller();
    for (const cmd of [0x00, 0x60, 0xa7, 0xad, 0xd1, 0xfd, 0xff]) c.wr(COMMAND, cmd);
    expect(c.resets()).toBe(0);
    expect(c.rd(COMMAND)).toEqual([0]);
  });

  it('fills every byte of a wide read, with no stale data', () => {
    const c = controller();
    c.wr(COMMAND, 0x20);
    expect(c.rd(COMMAND, 4)).toEqual([0x01, 0, 0, 0]);
    expect(c.rd(0, 2)).toEqual([0, 0]);
    expect(c.rd(2, 4)).toEqual([0, 0, 0, 0]);
  });

  it('takes the low byte of a wide write, as the port at 0x64 would', () => {
    const c = controller();
    c.wr(COMMAND, 0xfe, 0x00, 0x00, 0x00);
    expect(c.resets()).toBe(1);
    c.wr(COMMAND, 0x00, 0xfe);
    expect(c.resets()).toBe(1);
  });

  it('survives offsets outside its span and empty accesses', () => {
    const c = controller();
    for (const offset of [5, 0x10000, -1, 2 ** 53, Number.NaN]) {
      c.wr(offset, 0xfe);
      expect(c.rd(offset, 2)).toEqual([0, 0]);
    }
    c.dev.write(COMMAND, new Uint8Array(0));
    c.dev.read(COMMAND, new Uint8Array(0));
    expect(c.resets()).toBe(0);
  });

  it('is reached through the port bus at 0x60..0x64 only', () => {
    const c = controller();
    const pio = new IoBus('pio');
    pio.add(I8042_DATA_PORT, 5, c.dev);
    const ff = Uint8Array.of(0xfe);
    expect(pio.write(0x65, ff)).toBeUndefined();
    expect(pio.write(0x5f, ff)).toBeUndefined();
    expect(c.resets()).toBe(0);
    expect(pio.write(I8042_COMMAND_PORT, ff)).toBe(c.dev);
    expect(c.resets()).toBe(1);
  });
});
