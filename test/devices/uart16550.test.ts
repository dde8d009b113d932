import { describe, expect, it } from 'vitest';
import { NOT_MIRRORED, RegisterMirror } from '../../src/bus/register-mirror.js';
import { Uart16550, UART_RX_FIFO_SIZE } from '../../src/devices/uart16550.js';

function uart() {
  const levels: boolean[] = [];
  const out: number[] = [];
  const u = new Uart16550('com1', { setLevel: (l) => levels.push(l), trigger: () => {} }, (b) => out.push(b));
  const rd = (off: number) => {
    const d = new Uint8Array(1);
    u.read(off, d);
    return d[0];
  };
  const wr = (off: number, v: number) => u.write(off, Uint8Array.of(v));
  return { u, levels, out, rd, wr };
}

describe('Uart16550', () => {
  it('transmits THR writes and reports THR empty', () => {
    const { out, rd, wr } = uart();
    wr(0, 0x41);
    wr(0, 0x42);
    expect(out).toEqual([0x41, 0x42]);
    expect(rd(5) & 0x60).toBe(0x60);
  });

  it('uses DLL/DLM instead of THR/IER while DLAB is set', () => {
    const { out, rd, wr } = uart();
    wr(3, 0x80);
    wr(0, 0x01);
    wr(1, 0x02);
    expect([rd(0), rd(1)]).toEqual([1, 2]);
    expect(out).toEqual([]);
    wr(3, 0x03);
    expect(rd(1)).toBe(0);
  });

  it('raises the THRE interrupt when enabled, clears it on IIR read', () => {
    const { levels, rd, wr } = uart();
    wr(1, 0x02);
    expect(levels).toEqual([true]);
    expect(rd(2) & 0x0f).toBe(0x02);
    expect(levels).toEqual([true, false]);
    expect(rd(2) & 0x0f).toBe(0x01);
  });

  it('receive data has priority over THRE and drives LSR.DR', () => {
    const { u, rd, wr } = uart();
    wr(1, 0x03);
    expect(u.receive(Uint8Array.of(0x61, 0x62))).toBe(2);
    expect(rd(5) & 1).toBe(1);
    expect(rd(2) & 0x0f).toBe(0x04);
    expect([rd(0), rd(0)]).toEqual([0x61, 0x62]);
    expect(rd(5) & 1).toBe(0);
  });

  it('waits for its queued transmit bytes while the transmit interrupt is on', () => {
    const { u, wr } = uart();
    expect(u.awaitsQueuedWrites).toBe(false);
    wr(1, 0x02);
    expect(u.awaitsQueuedWrites).toBe(true);
    wr(1, 0x01);
    expect(u.awaitsQueuedWrites).toBe(false);
  });

  it('accepts no more input than the FIFO holds', () => {
    const { u } = uart();
    expect(u.receive(new Uint8Array(UART_RX_FIFO_SIZE + 10))).toBe(UART_RX_FIFO_SIZE);
    expect(u.receive(Uint8Array.of(1))).toBe(0);
  });

  it('loops transmitted bytes back to the receiver in loopback mode', () => {
    const { out, rd, wr } = uart();
    wr(4, 0x10);
    wr(0, 0x55);
    expect(out).toEqual([]);
    expect(rd(0)).toBe(0x55);
  });

  it('survives arbitrary register abuse', () => {
    const { u } = uart();
    let seed = 1;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
    for (let i = 0; i < 20000; i++) {
      const off = rand() % 12;
      const data = new Uint8Array(1 + (rand() % 8)).map(() => rand() & 0xff);
      if (rand() & 1) u.write(off, data);
      else u.read(off, data);
    }
  });
});

describe('Uart16550 with a register mirror (several vCPUs)', () => {
  const LSR = 5;
  const MSR = 6;

  it('publishes LSR and MSR as a read would return them, after every access', () => {
    const { u, rd, wr } = uart();
    const mirror = RegisterMirror.create(8);
    u.mirrorRegisters(mirror);
    expect([mirror.lookup(LSR), mirror.lookup(MSR)]).toEqual([0x60, 0xb0]);
    u.receive(Uint8Array.of(0x61));
    expect(mirror.lookup(LSR)).toBe(0x61);
    rd(0);
    expect(mirror.lookup(LSR)).toBe(0x60);
    wr(4, 0x0b); // DTR, RTS, OUT2: MSR stays what a line with a peer says
    expect(mirror.lookup(MSR)).toBe(0xb0);
    // Every other register goes to the UART.
    for (const offset of [0, 1, 2, 3, 4, 7]) expect(mirror.lookup(offset)).toBe(NOT_MIRRORED);
    expect([rd(LSR), rd(MSR)]).toEqual([mirror.lookup(LSR), mirror.lookup(MSR)]);
  });

  it('mirrors no LSR in loopback, where queued transmit bytes still become input', () => {
    const { u, rd, wr } = uart();
    const mirror = RegisterMirror.create(8);
    u.mirrorRegisters(mirror);
    wr(4, 0x18); // LOOP | OUT2
    expect(mirror.lookup(LSR)).toBe(NOT_MIRRORED);
    expect(mirror.lookup(MSR)).toBe(rd(MSR)); // loopback's MSR follows MCR, which is never queued
    wr(0, 0x78);
    expect(rd(LSR) & 1).toBe(1);
    expect(rd(0)).toBe(0x78);
    wr(4, 0x08);
    expect(mirror.lookup(LSR)).toBe(0x60);
  });

  it('mirrors no LSR while an overrun is pending: reading it clears the overrun', () => {
    const { u, rd, wr } = uart();
    const mirror = RegisterMirror.create(8);
    u.mirrorRegisters(mirror);
    wr(4, 0x18);
    for (let i = 0; i <= UART_RX_FIFO_SIZE; i++) wr(0, i); // one byte more than the FIFO holds
    wr(4, 0x08);
    expect(mirror.lookup(LSR)).toBe(NOT_MIRRORED);
    expect(rd(LSR) & 0x02).toBe(0x02);
    expect(mirror.lookup(LSR)).toBe(0x61);
    expect(rd(LSR)).toBe(0x61);
  });

  it('agrees with the UART after any sequence of accesses', () => {
    const { u, rd, wr } = uart();
    const mirror = RegisterMirror.create(8);
    u.mirrorRegisters(mirror);
    let seed = 7;
    const next = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    for (let i = 0; i < 20_000; i++) {
      const op = next(4);
      if (op === 0) wr(next(8), next(256));
      else if (op === 1) rd(next(8));
      else if (op === 2) u.receive(new Uint8Array(next(5)).fill(next(256)));
      else wr(4, next(2) ? 0x18 : 0x08);
      for (const offset of [LSR, MSR]) {
        const mirrored = mirror.lookup(offset);
        if (mirrored === NOT_MIRRORED) continue;
        // A mirrored read returns what the UART returns, and changes nothing the mirror shows.
        expect(rd(offset)).toBe(mirrored);
        expect(mirror.lookup(offset)).toBe(mirrored);
      }
    }
  });
});
