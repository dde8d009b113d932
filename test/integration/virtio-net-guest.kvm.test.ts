// virtio-net driven by a tiny guest (test/guests/src/long-virtio-net.c), no
// Linux, against a real peer: the test listens on a Unix socket, tsvmm
// connects to it with --net stream=PATH (4-byte big-endian length before each
// frame), and the test plays the other end, answering the guest's "cmd:"
// frames. Covered: frames that wait for receive buffers, a zero-length
// frame, TX in one and in several descriptors, malformed TX chains returned
// unsent, a frame too big for a buffer without MRG_RXBUF, a descriptor loop
// (DEVICE_NEEDS_RESET), MRG_RXBUF, a reset with frames in flight both ways,
// and a peer that breaks the framing (the link goes down, the VMM lives on).
// Each frame the peer gets is checked byte for byte. Run with the device on
// the VMM's main thread and in its own jailed process (about 15 s each in
// the nested L1).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { deadline } from '../support/deadline.js';
import { exitStats } from '../support/exit-stats.js';
import { describeKvm } from '../support/host-requirements.js';
import { GUEST_BIN, runTsvmm } from '../support/run-tsvmm.js';

const GUEST = join(GUEST_BIN, 'long-virtio-net.elf');
const GUEST_MAC = '52:54:00:12:34:56';
const PEER_MAC = '02:00:00:00:00:02';
const ETHERTYPE = 0x88b5;
const BURST = 50;
/** What the peer sends for cmd:oversize: a length word past the stream's largest frame (65550). */
const OVERSIZED_LENGTH = 100_000;

const macBuffer = (mac: string) => Buffer.from(mac.split(':').map((b) => parseInt(b, 16)));

/** An Ethernet frame of ours: dst, src, ethertype 0x88b5, payload. */
function frame(dst: string, src: string, payload: Buffer): Buffer {
  const type = Buffer.alloc(2);
  type.writeUInt16BE(ETHERTYPE);
  return Buffer.concat([macBuffer(dst), macBuffer(src), type, payload]);
}
const toGuest = (text: string) => frame(GUEST_MAC, PEER_MAC, Buffer.from(text, 'latin1'));
const fromGuest = (text: string) => frame(PEER_MAC, GUEST_MAC, Buffer.from(text, 'latin1'));

/** A `length`-byte frame to the guest whose byte i (past the Ethernet header) is f(i), as the guest checks. */
function patterned(length: number, f: (i: number) => number): Buffer {
  const b = frame(GUEST_MAC, PEER_MAC, Buffer.alloc(length - 14));
  for (let i = 14; i < length; i++) b[i] = f(i) & 0xff;
  return b;
}

function lengthWord(n: number): Buffer {
  const w = Buffer.alloc(4);
  w.writeUInt32BE(n);
  return w;
}
const framed = (...frames: Buffer[]) => Buffer.concat(frames.flatMap((f) => [lengthWord(f.length), f]));

/** The peer's answer to each of the guest's commands. */
const ANSWERS: Record<string, Buffer> = {
  // Asked for once the driver is up, before it posts receive buffers: the
  // frames must wait in the socket.
  'cmd:early': framed(toGuest('early-1'), toGuest('early-2'), toGuest('early-3'), Buffer.alloc(0), toGuest('early-4')),
  'cmd:big': framed(patterned(1514, (i) => i * 7 + 3), patterned(3000, () => 0x5a), toGuest('small-after-big')),
  'cmd:mrg': framed(patterned(3000, (i) => i * 13 + 5)),
  'cmd:burst': framed(...Array.from({ length: BURST }, (_, n) => toGuest(`burst-${n}`))),
  'cmd:ping': framed(toGuest('pong')),
  'cmd:oversize': lengthWord(OVERSIZED_LENGTH),
};

/** The other end of the NIC: records every frame it gets, answers commands. */
class Peer {
  readonly frames: Buffer[] = [];
  readonly problems: string[] = [];
  connections = 0;
  private readonly server: Server;
  private closedResolve: () => void = () => {};
  /** Settles when the VMM's connection has ended (everything it sent has been read). */
  readonly closed = new Promise<void>((resolve) => (this.closedResolve = resolve));

  constructor(readonly path: string) {
    this.server = createServer((socket) => this.serve(socket));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => resolve());
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: Socket): void {
    if (++this.connections > 1) {
      this.problems.push('a second connection');
      socket.destroy();
      return;
    }
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') this.problems.push(`socket error: ${e.message}`);
    });
    socket.on('close', () => this.closedResolve());
    let pending = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 4) {
        const n = pending.readUInt32BE(0);
        if (pending.length < 4 + n) break;
        const f = Buffer.from(pending.subarray(4, 4 + n));
        pending = pending.subarray(4 + n);
        this.frames.push(f);
        this.answer(socket, f);
      }
    });
  }

  private answer(socket: Socket, f: Buffer): void {
    const text = f.subarray(14).toString('latin1');
    if (!text.startsWith('cmd:')) return;
    const answer = ANSWERS[text];
    if (answer === undefined) this.problems.push(`unknown command ${JSON.stringify(text)}`);
    else socket.write(answer);
  }
}

const OUTPUT_HEAD = [
  'virtio-net guest',
  `net: slot 0, mac ${GUEST_MAC}, link up`,
  'rx: early-1..4 waited for buffers, arrived in order, zero-length frame dropped',
  'tx: tx-one, tx-split sent; 5 malformed chains returned unsent; tx-after-bad sent',
  'rx: 1514-byte frame ok, 3000-byte frame dropped (no MRG_RXBUF), small-after-big ok',
  'tx: descriptor loop sets DEVICE_NEEDS_RESET; reset, re-initialised with MRG_RXBUF',
  'mrg: 3000-byte frame in 3 buffers (1024 + 1024 + 964), num_buffers 3, pattern ok',
  'reset with frames in flight: no buffer written after it, the rest of the burst in order before pong',
];
/** How much of the burst the guest got before and after the reset (timing decides). */
const BURST_LINE = /^burst: (\d+) frames before the reset, (\d+) after$/;
const OUTPUT_TAIL = ['link down after an oversized length from the peer (config change interrupt)', 'virtio-net ok'];

const TX_BEFORE_RESET = ['cmd:early', 'tx-one', 'tx-split', 'tx-after-bad', 'cmd:big', 'cmd:mrg', 'cmd:burst'];
const IN_FLIGHT = Array.from({ length: 8 }, (_, k) => `inflight-${k}`);
const TX_AFTER_RESET = ['cmd:ping', 'cmd:oversize'];

interface NicStats {
  txFrames: number;
  rxFrames: number;
  txDropped: number;
  rxDropped: number;
  rxDrainedWhileDown: number;
  rxWaits: number;
  linkUp: boolean;
}
interface Stats {
  nics?: Record<string, NicStats | { servedBy: string }>;
}

const hex = (frames: Buffer[]) => frames.map((f) => f.toString('hex'));

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-net-guest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeKvm('virtio-net driven by a tiny guest against a stream peer', () => {
  for (const c of [
    { name: 'device on the main thread', option: '' },
    { name: 'device in its own process', option: ',process=separate' },
  ]) {
    it(`${c.name}: every guest check passes, the peer gets exactly the good frames`, async () => {
      const sock = join(mkdtempSync(join(dir, 'case-')), 'peer.sock');
      const peer = new Peer(sock);
      await peer.listen();
      try {
        const r = await runTsvmm(['run', '--kernel', GUEST, '--net', `stream=${sock},mac=${GUEST_MAC}${c.option}`, '--stats', '--log-level', 'warn'], {
          timeoutMs: deadline(45_000),
        });
        expect(r.timedOut, r.stderr).toBe(false);
        await Promise.race([peer.closed, new Promise((resolve) => setTimeout(resolve, deadline(5_000)))]);

        // stdout: fixed lines, and one saying how the burst split around the reset
        const lines = r.stdout.split('\n');
        const burstAt = lines.findIndex((l) => BURST_LINE.test(l));
        expect(burstAt, r.stdout + r.stderr).toBe(OUTPUT_HEAD.length);
        const [, before, after] = BURST_LINE.exec(lines[burstAt])!.map(Number);
        expect(lines.filter((_, i) => i !== burstAt).join('\n'), r.stderr).toBe([...OUTPUT_HEAD, ...OUTPUT_TAIL, ''].join('\n'));
        expect(r.status, r.stderr).toBe(0);
        expect(before).toBeLessThanOrEqual(7); // the receive buffers posted before the reset
        expect(before + after).toBeLessThanOrEqual(BURST);

        // The peer got the good frames, byte for byte, and none of the
        // malformed ones; of the frames in flight at the reset, those taken
        // before it go out whole and in order (a prefix), the rest never.
        expect(peer.problems).toEqual([]);
        expect(peer.connections).toBe(1);
        const inFlight = peer.frames.length - TX_BEFORE_RESET.length - TX_AFTER_RESET.length;
        expect(inFlight).toBeGreaterThanOrEqual(0);
        expect(inFlight).toBeLessThanOrEqual(IN_FLIGHT.length);
        expect(hex(peer.frames)).toEqual(hex([...TX_BEFORE_RESET, ...IN_FLIGHT.slice(0, inFlight), ...TX_AFTER_RESET].map(fromGuest)));

        // The broken framing is named; nothing else is an error.
        expect(r.stderr).toContain(`sent a frame of ${OVERSIZED_LENGTH} bytes (at most 65550)`);
        const errors = r.stderr.split('\n').filter((l) => /"level":(50|60)/.test(l));
        expect(errors.length, r.stderr).toBe(1);
        expect(errors[0]).toMatch(/link is down/);
        expect(r.stderr).not.toMatch(/Error:|panic|\n\s+at /);

        const nic = exitStats<Stats>(r.stderr).nics?.net0;
        if (c.option === '') {
          // dropped: 5 malformed TX chains; the zero-length frame and the
          // 3000-byte one without MRG_RXBUF. Drained: the burst frames that
          // arrived while the device was reset.
          expect((nic as NicStats).rxWaits).toBeGreaterThan(0); // the early frames waited for buffers
          expect(nic).toMatchObject({
            txDropped: 5,
            rxDropped: 2,
            rxDrainedWhileDown: BURST - before - after,
            txFrames: TX_BEFORE_RESET.length + inFlight + TX_AFTER_RESET.length,
            rxFrames: 4 + 2 + 1 + before + after + 1, // early, big + small, merged, burst, pong
            linkUp: false,
          });
        } else expect(nic).toEqual({ servedBy: 'device process' });
      } finally {
        await peer.close();
      }
    });
  }
});
