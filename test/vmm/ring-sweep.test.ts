// When a lone vCPU's own timer sweeps it out of the guest (src/vmm/ring-sweep.ts).
import { describe, expect, it } from 'vitest';
import { DEFAULT_SWEEP, RingSweep } from '../../src/vmm/ring-sweep.js';

describe('RingSweep', () => {
  const { minMs, maxMs } = DEFAULT_SWEEP;
  const backingOff = [2 * minMs, 4 * minMs, maxMs, maxMs];

  it('starts at the longest period: nothing is written yet', () => {
    expect(new RingSweep().periodMs).toBe(maxMs);
  });

  it('sweeps every minMs while the guest writes without exiting, then backs off once it stops', () => {
    const sweep = new RingSweep();
    for (let i = 0; i < 5; i++) expect(sweep.next({ guestExits: 0, waiting: 3, inputWaiting: false })).toBe(minMs);
    expect(backingOff.map(() => sweep.next({ guestExits: 0, waiting: 0, inputWaiting: false }))).toEqual(backingOff);
  });

  it('backs off while the guest exits before each write, leaving one queued at most (Linux printing its boot log)', () => {
    const sweep = new RingSweep();
    sweep.next({ guestExits: 0, waiting: 3, inputWaiting: false });
    expect(sweep.periodMs).toBe(minMs);
    let exits = 0;
    expect(backingOff.map(() => sweep.next({ guestExits: (exits += 50), waiting: 1, inputWaiting: false }))).toEqual(backingOff);
  });

  it('sweeps every minMs while the guest fills the transmit FIFO and waits for its interrupt (Linux writing a tty)', () => {
    const sweep = new RingSweep();
    let exits = 0;
    // Each sweep: the transmit interrupt handled (IIR and LSR read: exits), then 16 bytes queued.
    for (let i = 0; i < 5; i++) expect(sweep.next({ guestExits: (exits += 3), waiting: 16, inputWaiting: false })).toBe(minMs);
  });

  it('sweeps soon after a single write when the guest has not exited since: it may not for long', () => {
    const sweep = new RingSweep();
    sweep.next({ guestExits: 5, waiting: 0, inputWaiting: false });
    expect(sweep.next({ guestExits: 5, waiting: 1, inputWaiting: false })).toBe(minMs);
  });

  it('comes down to minMs while console input waits: its echo is coming', () => {
    const sweep = new RingSweep();
    expect(sweep.next({ guestExits: 7, waiting: 0, inputWaiting: true })).toBe(minMs);
    expect(sweep.next({ guestExits: 9, waiting: 0, inputWaiting: false })).toBe(2 * minMs);
  });
});
