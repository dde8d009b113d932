// A guest decides how often its mistakes happen: the log must stay bounded
// however many it makes, and --stats must still count every one (audit #11).
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EFD_CLOEXEC, EFD_NONBLOCK, close, eventfd } from '../../ffi/libc.js';
import { GuestLog } from '../../src/log-rate-limit.js';
import { VirtioBlkDevice } from '../../src/devices/virtio/virtio-blk-device.js';
import { VIRTIO_BLK_T } from '../../src/devices/virtio/virtio-blk.js';
import { VIRTIO_MMIO } from '../../src/devices/virtio/virtio-mmio.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { CountingIrq, MmioDriver, until } from './virtio/mmio-driver.js';

function capture(): { log: pino.Logger; lines: { msg: string; kind?: string; count?: number; total?: number }[] } {
  const lines: { msg: string }[] = [];
  const log = pino({ base: undefined, level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

describe('GuestLog', () => {
  it('logs the first occurrences in full, then one summary per interval, and counts every one', () => {
    const { log, lines } = capture();
    let now = 0;
    const g = new GuestLog(log, { burst: 3, intervalMs: 1000, now: () => now });
    const a = g.kind('ignored writes');
    const b = g.kind('failed requests');
    for (let i = 0; i < 100_000; i++) a.report(`bad write ${i}`);
    expect(lines.map((l) => l.msg)).toEqual(['bad write 0', 'bad write 1', 'bad write 2 (further ignored writes are summarised)']);
    now = 999;
    a.report('bad write 100000');
    expect(lines.length).toBe(3);
    now = 1000;
    a.report('bad write 100001');
    expect(lines[3]).toMatchObject({ kind: 'ignored writes', count: 99_999, total: 100_002, msg: expect.stringMatching(/latest: bad write 100001$/) });
    // Kinds are limited apart: another kind still gets its first lines.
    b.report('request 7 failed');
    expect(lines[4]).toMatchObject({ kind: 'failed requests', msg: 'request 7 failed' });
    // A rare event after a quiet interval is logged at once, as a summary of one.
    now = 5000;
    a.report('late');
    expect(lines[5]).toMatchObject({ count: 1, total: 100_003 });
    a.report('unlogged tail');
    g.flush();
    expect(lines[6]).toMatchObject({ kind: 'ignored writes', count: 1, total: 100_004 });
    g.flush();
    expect(lines.length).toBe(7);
    expect(g.counts()).toEqual({ 'ignored writes': 100_004, 'failed requests': 1 });
  });
});

describe('virtio-blk disk flooded with bad accesses', () => {
  let dir: string;
  let mem: GuestMemory;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsvmm-guestlog-'));
    mem = GuestMemory.allocate([{ gpa: 0, size: 16 * 1024 * 1024 }]);
  });
  afterAll(() => {
    mem.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it('bad register writes and failed requests: a bounded number of log lines, exact counts in the statistics', async () => {
    const path = join(dir, 'disk.img');
    writeFileSync(path, new Uint8Array(1024 * 1024));
    const notifyFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number;
    const { log, lines } = capture();
    const disk = new VirtioBlkDevice('vda', { path, readOnly: false, cache: 'writeback', engine: 'sync' }, openSync(path, 'r+'), mem, new CountingIrq(), notifyFd, log);
    let closed = false;
    try {
      const infoLines = lines.length; // the "disk vda: ..." line
      const d = new MmioDriver(disk.transport, mem);
      expect(d.init()).not.toBeNull();
      const q = d.queue!;

      const BAD_WRITES = 20_000;
      for (let i = 0; i < BAD_WRITES; i++) d.write32(VIRTIO_MMIO.MAGIC_VALUE, i);

      // 128 requests with a header shorter than 16 bytes per notify, as in the audit.
      const ROUNDS = 20;
      const PER_NOTIFY = 128; // two descriptors each: the whole 256-entry queue
      const hdr = 0x200000;
      new DataView(mem.regions[0].bytes.buffer).setUint32(hdr, VIRTIO_BLK_T.IN, true);
      let failed = 0;
      for (let r = 0; r < ROUNDS; r++) {
        for (let i = 0; i < PER_NOTIFY; i++)
          expect(q.add([{ gpa: hdr, len: 8, writable: false }, { gpa: 0x300000 + i, len: 1, writable: true }])).toBeGreaterThanOrEqual(0);
        const before = q.usedIdx;
        d.notify(0);
        await until(() => ((q.usedIdx - before) & 0xffff) >= PER_NOTIFY);
        failed += q.takeUsed().length;
      }
      expect(failed).toBe(ROUNDS * PER_NOTIFY);

      // The first few of each kind, plus at most a summary per kind (the test runs well within one interval).
      const guestLines = lines.length - infoLines;
      expect(guestLines).toBeGreaterThanOrEqual(2 * 10);
      expect(guestLines).toBeLessThanOrEqual(2 * 10 + 2);
      const stats = disk.statistics() as { guestErrors: Record<string, number>; ioErrors: number };
      expect(stats.guestErrors).toEqual({ 'failed requests': ROUNDS * PER_NOTIFY, 'ignored writes': BAD_WRITES, 'needs-reset reports': 0 });
      expect(stats.ioErrors).toBe(ROUNDS * PER_NOTIFY);
      expect(lines.slice(infoLines, infoLines + 10).every((l) => /ignored: write of 0x[0-9a-f]+ to read-only or unknown register 0x0/.test(l.msg))).toBe(true);

      disk.close(); // the unlogged tail is summarised once at close
      closed = true;
      const tail = lines.slice(infoLines + guestLines);
      expect(tail.map((l) => [l.kind, l.total])).toEqual([
        ['failed requests', ROUNDS * PER_NOTIFY],
        ['ignored writes', BAD_WRITES],
      ]);
    } finally {
      if (!closed) disk.close();
      close(notifyFd);
    }
  });
});
