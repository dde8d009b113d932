// Console input when the guest stops reading its UART: the helper keeps a
// bounded backlog, drops the rest with exact counts and a bounded log, and
// delivers what it kept in order once the guest reads again (audit #11).
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleInput } from '../../src/helper/console-input.js';
import { GuestLog } from '../../src/log-rate-limit.js';
import { InputRing } from '../../src/vmm/input-ring.js';

const opened: ConsoleInput[] = [];
afterEach(() => opened.splice(0).forEach((c) => c.close()));

function rig(limit: number) {
  const lines: { msg: string; total?: number }[] = [];
  const log = pino({ base: undefined, level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const ring = InputRing.create(64); // the vCPU thread's ring; nothing takes from it: the guest is not reading
  const input = new ConsoleInput((b) => ring.push(b), new GuestLog(log).kind('console input drops'), limit);
  opened.push(input);
  return { input, ring, lines };
}

/** `n` bytes counting up from `start`, mod 251 (a prime: a shifted or repeated chunk shows). */
const bytes = (start: number, n: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) % 251);

describe('ConsoleInput', () => {
  it('a guest that stops reading: the backlog stays bounded, drops are counted exactly, the log stays short', () => {
    const { input, ring, lines } = rig(4096);
    const CHUNK = 65536;
    const CHUNKS = 160; // 10 MiB: the old relay kept all of it
    for (let i = 0; i < CHUNKS; i++) input.push(bytes(i * CHUNK, CHUNK));
    expect(ring.available).toBe(64);
    expect(input.backlog).toBe(4096);
    expect(input.stats).toEqual({ deliveredBytes: 64, droppedBytes: CHUNKS * CHUNK - 64 - 4096 });
    expect(lines.length).toBeLessThanOrEqual(11); // the first 10, perhaps one summary
    input.close();
    expect(lines.at(-1)).toMatchObject({ total: CHUNKS });
  });

  it('what it kept reaches the guest in order once it reads again', () => {
    const { input, ring } = rig(1000);
    input.push(bytes(0, 600));
    input.push(bytes(600, 600)); // 64 to the ring, 1000 kept, 136 dropped
    expect(input.stats.droppedBytes).toBe(136);
    const got: number[] = [];
    const out = new Uint8Array(64);
    while (ring.available > 0 || input.backlog > 0) {
      const n = ring.take(out, 64);
      got.push(...out.subarray(0, n));
      input.pump();
    }
    expect(got).toEqual(Array.from(bytes(0, 1064)));
    // Reading again, new input goes straight through.
    input.push(bytes(7, 10));
    expect(ring.take(out, 64)).toBe(10);
    expect(input.stats).toEqual({ deliveredBytes: 1074, droppedBytes: 136 });
  });
});
