import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockBackend, BlockCompletion } from '../../../src/block/block-backend.js';
import { DiskImage } from '../../../src/block/disk-image.js';
import { createBlockBackend } from '../../../src/block/open-block-backend.js';
import { VIRTIO_F, VIRTIO_STATUS, VIRTQ_DESC_F_NEXT, featureBit } from '../../../src/devices/virtio/virtio-constants.js';
import { CHAINS_PER_TURN, VIRTIO_BLK_F, VIRTIO_BLK_ID_BYTES, VIRTIO_BLK_S, VIRTIO_BLK_T, VirtioBlk } from '../../../src/devices/virtio/virtio-blk.js';
import { VIRTIO_MMIO, VirtioMmioTransport } from '../../../src/devices/virtio/virtio-mmio.js';
import type { IoVecList } from '../../../src/memory/dma-iovec.js';
import { DmaAccess, GuestMemoryTranslator, type DmaSpan, type SpanKind } from '../../../src/memory/dma-translator.js';
import { GuestMemory } from '../../../src/memory/guest-memory.js';
import { Prng } from '../../memory/dma-test-support.js';
import { CountingIrq, MmioDriver, until } from './mmio-driver.js';
import { DriverQueue, layoutAt, type Buf } from './virtio-driver.js';
import { diskScratchDir } from '../../support/disk-scratch.js';

const MiB = 1024 * 1024;
const RAM = 64 * MiB;
const DISK = 8 * MiB;
const HDR_AREA = 0x100000; // request headers
const STATUS_AREA = 0x180000; // status bytes
const DATA_AREA = 0x400000; // data buffers
let mem: GuestMemory;
let ram: Uint8Array;
let dir: string;

beforeAll(() => {
  mem = GuestMemory.allocate([{ gpa: 0, size: RAM }]);
  ram = mem.regions[0].bytes;
  dir = diskScratchDir('tsvmm-vblk-');
});
afterAll(() => {
  mem.release();
  rmSync(dir, { recursive: true, force: true });
});

let imageNo = 0;
interface Rig {
  blk: VirtioBlk;
  t: VirtioMmioTransport;
  d: MmioDriver;
  q: DriverQueue;
  irq: CountingIrq;
  backend: BlockBackend;
  image: DiskImage;
  path: string;
  errors: string[];
  close(): void;
}

function rig(
  opts: {
    engine?: 'sync' | 'io_uring' | 'aio';
    cache?: 'none' | 'writeback';
    readOnly?: boolean;
    content?: Uint8Array;
    accept?: (f: bigint) => bigint;
    queueSize?: number;
    serial?: string;
    wrap?: (b: BlockBackend) => BlockBackend;
    /** Called before the device writes a byte of guest memory through its DMA mapper. */
    onDeviceWrite?: (addr: number) => void;
  } = {},
): Rig {
  const path = join(dir, `disk${imageNo++}.img`);
  writeFileSync(path, opts.content ?? new Uint8Array(DISK));
  const image = DiskImage.open(path, { readOnly: opts.readOnly, cache: opts.cache });
  let backend = createBlockBackend(image, opts.engine === 'aio' ? 'aio' : (opts.engine ?? 'sync')).backend;
  if (opts.wrap) backend = opts.wrap(backend);
  const errors: string[] = [];
  const translator = opts.onDeviceWrite ? new WatchedTranslator(opts.onDeviceWrite) : undefined;
  const blk = new VirtioBlk(backend, mem, { serial: opts.serial ?? 'tsvmm-disk-0', onError: (m) => errors.push(m), queueSize: opts.queueSize, translator });
  const irq = new CountingIrq();
  const t = new VirtioMmioTransport(blk, mem, irq, { onError: (m) => errors.push(m) });
  const d = new MmioDriver(t, mem);
  const f = d.init({ accept: opts.accept });
  if (f === null) throw new Error('feature negotiation failed');
  return {
    blk,
    t,
    d,
    q: d.queue!,
    irq,
    backend,
    image,
    path,
    errors,
    close() {
      d.write32(VIRTIO_MMIO.STATUS, 0);
      backend.close();
      image.close();
    },
  };
}

/** Guest RAM, telling a guest model each time the device writes to it. */
class WatchedTranslator extends GuestMemoryTranslator {
  constructor(private readonly onWrite: (addr: number) => void) {
    super(mem);
  }
  override translate(addr: number, length: number, access: DmaAccess, out: DmaSpan): SpanKind {
    if (access === DmaAccess.Write) this.onWrite(addr);
    return super.translate(addr, length, access, out);
  }
}

let slot = 0;
function header(type: number, sector: number | bigint): number {
  const gpa = HDR_AREA + (slot++ % 2048) * 32;
  const dv = new DataView(ram.buffer, ram.byteOffset);
  dv.setUint32(gpa, type, true);
  dv.setUint32(gpa + 4, 0, true);
  dv.setBigUint64(gpa + 8, BigInt.asUintN(64, BigInt(sector)), true);
  return gpa;
}
function statusGpa(): number {
  const g = STATUS_AREA + (slot++ % 4096);
  ram[g] = 0xff;
  return g;
}

/** Builds a virtio-blk request chain; returns the head and where its status byte is. */
function request(
  r: Rig,
  type: number,
  sector: number | bigint,
  data: Buf[],
  o: { indirect?: boolean; split?: boolean } = {},
): { head: number; status: number } {
  const hdr = header(type, sector);
  const status = statusGpa();
  let bufs: Buf[];
  if (o.split) {
    // header split in two descriptors: framing must not matter
    bufs = [{ gpa: hdr, len: 7, writable: false }, { gpa: hdr + 7, len: 9, writable: false }, ...data, { gpa: status, len: 1, writable: true }];
  } else bufs = [{ gpa: hdr, len: 16, writable: false }, ...data, { gpa: status, len: 1, writable: true }];
  const head = r.q.add(bufs, { indirect: o.indirect });
  if (head < 0) throw new Error('queue full');
  return { head, status };
}

async function run(r: Rig, n = 1): Promise<{ id: number; len: number }[]> {
  const before = r.q.usedIdx;
  r.d.notify(0);
  await until(() => ((r.q.usedIdx - before) & 0xffff) >= n || r.t.broken);
  return r.q.takeUsed();
}

function fill(gpa: number, len: number, seed: number): Uint8Array {
  const data = new Prng(seed).fill(new Uint8Array(len));
  ram.set(data, gpa);
  return data;
}

describe('virtio-blk basics', () => {
  it('config space and offered features', () => {
    const r = rig();
    expect(r.d.configRead(0, 8)).toBe(BigInt(DISK / 512));
    expect(r.d.configRead(8, 4)).toBe(BigInt(MiB)); // size_max
    expect(r.d.configRead(12, 4)).toBe(254n); // seg_max
    expect(r.d.configRead(20, 4)).toBe(512n); // blk_size
    const f = r.t.features;
    for (const bit of [VIRTIO_BLK_F.SIZE_MAX, VIRTIO_BLK_F.SEG_MAX, VIRTIO_BLK_F.BLK_SIZE, VIRTIO_BLK_F.FLUSH, VIRTIO_BLK_F.DISCARD, VIRTIO_BLK_F.WRITE_ZEROES])
      expect(f & featureBit(bit)).not.toBe(0n);
    expect(f & featureBit(VIRTIO_BLK_F.RO)).toBe(0n);
    expect(f & featureBit(VIRTIO_F.VERSION_1)).not.toBe(0n);
    r.close();
    const ro = rig({ readOnly: true });
    expect(ro.t.features & featureBit(VIRTIO_BLK_F.RO)).not.toBe(0n);
    expect(ro.t.features & featureBit(VIRTIO_BLK_F.DISCARD)).toBe(0n);
    ro.close();
  });

  for (const engine of ['sync', 'io_uring', 'aio'] as const) {
    for (const cache of ['writeback', 'none'] as const) {
      it(`${engine}/${cache}: write, read back, flush, get_id; the image file holds the data`, async () => {
        const r = rig({ engine, cache });
        const a = fill(DATA_AREA, 4096, 1);
        const b = fill(DATA_AREA + 0x10000, 512, 2);
        const w = request(r, VIRTIO_BLK_T.OUT, 8, [
          { gpa: DATA_AREA, len: 4096, writable: false },
          { gpa: DATA_AREA + 0x10000, len: 512, writable: false },
        ]);
        const used = await run(r);
        expect(used).toEqual([{ id: w.head, len: 1 }]);
        expect(ram[w.status]).toBe(VIRTIO_BLK_S.OK);
        ram.fill(0, DATA_AREA + 0x20000, DATA_AREA + 0x30000);
        const rd = request(
          r,
          VIRTIO_BLK_T.IN,
          8,
          [
            { gpa: DATA_AREA + 0x20000, len: 1024, writable: true },
            { gpa: DATA_AREA + 0x28000, len: 3584, writable: true },
          ],
          { indirect: true, split: true },
        );
        expect(await run(r)).toEqual([{ id: rd.head, len: 4609 }]);
        expect(ram[rd.status]).toBe(VIRTIO_BLK_S.OK);
        expect(ram.subarray(DATA_AREA + 0x20000, DATA_AREA + 0x20000 + 1024)).toEqual(a.subarray(0, 1024));
        expect(ram.subarray(DATA_AREA + 0x28000, DATA_AREA + 0x28000 + 3072)).toEqual(a.subarray(1024));
        expect(ram.subarray(DATA_AREA + 0x28000 + 3072, DATA_AREA + 0x28000 + 3584)).toEqual(b);
        const fl = request(r, VIRTIO_BLK_T.FLUSH, 0, []);
        await run(r);
        expect(ram[fl.status]).toBe(VIRTIO_BLK_S.OK);
        const idGpa = DATA_AREA + 0x40000;
        ram.fill(0xee, idGpa, idGpa + 20);
        const id = request(r, VIRTIO_BLK_T.GET_ID, 0, [{ gpa: idGpa, len: 20, writable: true }]);
        await run(r);
        expect(ram[id.status]).toBe(VIRTIO_BLK_S.OK);
        expect(Buffer.from(ram.subarray(idGpa, idGpa + 20)).toString('latin1')).toBe('tsvmm-disk-0' + '\0'.repeat(8));
        expect(r.irq.edges).toBeGreaterThan(0);
        r.close();
        const file = readFileSync(r.path);
        expect(file.subarray(8 * 512, 8 * 512 + 4096)).toEqual(Buffer.from(a));
        expect(file.subarray(8 * 512 + 4096, 8 * 512 + 4608)).toEqual(Buffer.from(b));
      });
    }
  }

  it('FLUSH completes only after the backend flush succeeded (and fails with IOERR when it fails)', async () => {
    let held: (() => void) | null = null;
    let flushResult = 0;
    const wrap = (inner: BlockBackend): BlockBackend =>
      new Proxy(inner, {
        get(target, prop, recv) {
          if (prop === 'flush')
            return (done: BlockCompletion, tag: number) => {
              held = () => {
                done.blockComplete(tag, flushResult);
                done.blockBatchEnd?.();
              };
            };
          return Reflect.get(target, prop, recv);
        },
      });
    const r = rig({ wrap });
    const fl = request(r, VIRTIO_BLK_T.FLUSH, 0, []);
    r.d.notify(0);
    await new Promise((res) => setTimeout(res, 20));
    expect(ram[fl.status]).toBe(0xff); // not answered yet
    expect(r.q.usedIdx).toBe(0);
    expect(held).not.toBeNull();
    held!();
    expect(ram[fl.status]).toBe(VIRTIO_BLK_S.OK);
    expect(r.q.takeUsed().length).toBe(1);
    flushResult = -5;
    const fl2 = request(r, VIRTIO_BLK_T.FLUSH, 0, []);
    r.d.notify(0);
    await until(() => held !== null);
    held!();
    expect(ram[fl2.status]).toBe(VIRTIO_BLK_S.IOERR);
    r.close();
  });

  it('a read-only disk refuses writes with IOERR and leaves the image alone', async () => {
    const content = new Prng(9).fill(new Uint8Array(DISK));
    const r = rig({ readOnly: true, content });
    fill(DATA_AREA, 512, 3);
    const w = request(r, VIRTIO_BLK_T.OUT, 0, [{ gpa: DATA_AREA, len: 512, writable: false }]);
    await run(r);
    expect(ram[w.status]).toBe(VIRTIO_BLK_S.IOERR);
    const d = request(r, VIRTIO_BLK_T.DISCARD, 0, []);
    await run(r);
    expect(ram[d.status]).toBe(VIRTIO_BLK_S.UNSUPP); // not offered
    const rd = request(r, VIRTIO_BLK_T.IN, 0, [{ gpa: DATA_AREA, len: 512, writable: true }]);
    await run(r);
    expect(ram[rd.status]).toBe(VIRTIO_BLK_S.OK);
    expect(ram.subarray(DATA_AREA, DATA_AREA + 512)).toEqual(content.subarray(0, 512));
    r.close();
    expect(Buffer.compare(readFileSync(r.path), content)).toBe(0);
  });

  it('discard and write-zeroes', async () => {
    const content = new Prng(4).fill(new Uint8Array(DISK));
    const r = rig({ content });
    const seg = (sector: number, n: number, flags: number) => {
      const g = DATA_AREA + 0x80000 + (slot++ % 64) * 16;
      const dv = new DataView(ram.buffer, ram.byteOffset);
      dv.setBigUint64(g, BigInt(sector), true);
      dv.setUint32(g + 8, n, true);
      dv.setUint32(g + 12, flags, true);
      return { gpa: g, len: 16, writable: false };
    };
    const wz = request(r, VIRTIO_BLK_T.WRITE_ZEROES, 0, [seg(16, 8, 1)]);
    await run(r);
    expect(ram[wz.status]).toBe(VIRTIO_BLK_S.OK);
    const dunmap = request(r, VIRTIO_BLK_T.DISCARD, 0, [seg(0, 8, 1)]);
    await run(r);
    expect(ram[dunmap.status]).toBe(VIRTIO_BLK_S.UNSUPP); // unmap flag on discard
    const dflags = request(r, VIRTIO_BLK_T.WRITE_ZEROES, 0, [seg(0, 8, 4)]);
    await run(r);
    expect(ram[dflags.status]).toBe(VIRTIO_BLK_S.UNSUPP); // unknown flag
    const dok = request(r, VIRTIO_BLK_T.DISCARD, 0, [seg(32, 8, 0)]);
    await run(r);
    expect(ram[dok.status]).toBe(VIRTIO_BLK_S.OK);
    const dpast = request(r, VIRTIO_BLK_T.DISCARD, 0, [seg(DISK / 512 - 4, 8, 0)]);
    await run(r);
    expect(ram[dpast.status]).toBe(VIRTIO_BLK_S.IOERR);
    const two = request(r, VIRTIO_BLK_T.DISCARD, 0, [seg(0, 1, 0), seg(8, 1, 0)]);
    await run(r);
    expect(ram[two.status]).toBe(VIRTIO_BLK_S.IOERR); // more than max_discard_seg
    r.close();
    const file = readFileSync(r.path);
    expect(file.subarray(16 * 512, 24 * 512).every((x) => x === 0)).toBe(true);
    expect(file.subarray(24 * 512, 25 * 512)).toEqual(Buffer.from(content.subarray(24 * 512, 25 * 512)));
  });

  it('discard is UNSUPP when the driver did not negotiate it', async () => {
    const r = rig({ accept: (f) => f & ~featureBit(VIRTIO_BLK_F.DISCARD) & ~featureBit(VIRTIO_BLK_F.WRITE_ZEROES) });
    const d = request(r, VIRTIO_BLK_T.DISCARD, 0, [{ gpa: DATA_AREA, len: 16, writable: false }]);
    await run(r);
    expect(ram[d.status]).toBe(VIRTIO_BLK_S.UNSUPP);
    r.close();
  });
});

describe('virtio-blk against malformed requests', () => {
  const cases: [string, (r: Rig) => number, number | 'broken'][] = [
    ['unknown request type', (r) => request(r, 77, 0, []).status, VIRTIO_BLK_S.UNSUPP],
    ['legacy FLUSH_OUT', (r) => request(r, 5, 0, []).status, VIRTIO_BLK_S.UNSUPP],
    ['data not a multiple of 512', (r) => request(r, VIRTIO_BLK_T.IN, 0, [{ gpa: DATA_AREA, len: 513, writable: true }]).status, VIRTIO_BLK_S.IOERR],
    ['write not a multiple of 512', (r) => request(r, VIRTIO_BLK_T.OUT, 0, [{ gpa: DATA_AREA, len: 100, writable: false }]).status, VIRTIO_BLK_S.IOERR],
    ['sector past the end', (r) => request(r, VIRTIO_BLK_T.IN, DISK / 512, [{ gpa: DATA_AREA, len: 512, writable: true }]).status, VIRTIO_BLK_S.IOERR],
    ['sector range runs past the end', (r) => request(r, VIRTIO_BLK_T.IN, DISK / 512 - 1, [{ gpa: DATA_AREA, len: 1024, writable: true }]).status, VIRTIO_BLK_S.IOERR],
    ['sector 2^64 - 1', (r) => request(r, VIRTIO_BLK_T.OUT, 2n ** 64n - 1n, [{ gpa: DATA_AREA, len: 512, writable: false }]).status, VIRTIO_BLK_S.IOERR],
    ['sector 2^55', (r) => request(r, VIRTIO_BLK_T.IN, 2n ** 55n, [{ gpa: DATA_AREA, len: 512, writable: true }]).status, VIRTIO_BLK_S.IOERR],
    ['data outside guest RAM', (r) => request(r, VIRTIO_BLK_T.IN, 0, [{ gpa: RAM - 256, len: 512, writable: true }]).status, VIRTIO_BLK_S.IOERR],
    ['data at 2^63', (r) => request(r, VIRTIO_BLK_T.OUT, 0, [{ gpa: 2 ** 63, len: 512, writable: false }]).status, VIRTIO_BLK_S.IOERR],
    ['4 GiB - 512 of data', (r) => request(r, VIRTIO_BLK_T.IN, 0, [{ gpa: DATA_AREA, len: 2 ** 32 - 512, writable: true }]).status, VIRTIO_BLK_S.IOERR],
    [
      'read buffer given as device-readable',
      (r) => request(r, VIRTIO_BLK_T.IN, 0, [{ gpa: DATA_AREA, len: 512, writable: false }]).status,
      VIRTIO_BLK_S.IOERR,
    ],
    [
      'header shorter than 16 bytes',
      (r) => {
        const s = statusGpa();
        r.q.add([
          { gpa: header(VIRTIO_BLK_T.IN, 0), len: 8, writable: false },
          { gpa: s, len: 1, writable: true },
        ]);
        return s;
      },
      VIRTIO_BLK_S.IOERR,
    ],
    [
      'header outside RAM',
      (r) => {
        const s = statusGpa();
        r.q.add([
          { gpa: RAM - 8, len: 16, writable: false },
          { gpa: s, len: 1, writable: true },
        ]);
        return s;
      },
      VIRTIO_BLK_S.IOERR,
    ],
    [
      'more segments than seg_max',
      (r) =>
        request(
          r,
          VIRTIO_BLK_T.IN,
          0,
          Array.from({ length: 300 }, (_, i) => ({ gpa: DATA_AREA + i * 512, len: 512, writable: true })),
          { indirect: true },
        ).status,
      VIRTIO_BLK_S.IOERR,
    ],
    ['no status byte', (r) => (r.q.add([{ gpa: header(VIRTIO_BLK_T.IN, 0), len: 16, writable: false }]), -1), 'broken'],
    [
      'status byte outside RAM',
      (r) => (r.q.add([{ gpa: header(VIRTIO_BLK_T.FLUSH, 0), len: 16, writable: false }, { gpa: RAM + 100, len: 1, writable: true }]), -1),
      'broken',
    ],
    [
      'descriptor loop',
      (r) => {
        r.q.writeDesc(0, header(VIRTIO_BLK_T.IN, 0), 16, VIRTQ_DESC_F_NEXT, 1);
        r.q.writeDesc(1, DATA_AREA, 512, VIRTQ_DESC_F_NEXT, 0);
        r.q.putAvail(0);
        return -1;
      },
      'broken',
    ],
    ['avail index garbage', (r) => (r.q.setAvailIdx(0x8000), -1), 'broken'],
  ];
  for (const [name, build, want] of cases) {
    it(name, async () => {
      const r = rig();
      const status = build(r);
      await run(r);
      if (want === 'broken') {
        expect(r.t.broken).toBe(true);
        expect(r.d.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBe(VIRTIO_STATUS.DEVICE_NEEDS_RESET);
        // a reset brings the device back
        r.d.write32(VIRTIO_MMIO.STATUS, 0);
        expect(r.d.init()).not.toBeNull();
        const again = request(rig2(r), VIRTIO_BLK_T.FLUSH, 0, []);
        await run(rig2(r));
        expect(ram[again.status]).toBe(VIRTIO_BLK_S.OK);
      } else {
        expect(r.t.broken).toBe(false);
        expect(ram[status]).toBe(want);
      }
      r.close();
    });
  }
});

/** After a re-init the driver queue object is new. */
function rig2(r: Rig): Rig {
  r.q = r.d.queue!;
  return r;
}

describe('virtio-blk end to end, randomised', () => {
  for (const engine of ['sync', 'io_uring'] as const) {
    it(`${engine}: 2000 random requests (random layouts, indirect or not, EVENT_IDX or not) match a model disk`, async () => {
      const rng = new Prng(engine === 'sync' ? 100 : 200);
      const content = rng.fill(new Uint8Array(DISK));
      const model = content.slice();
      const eventIdx = rng.chance(0.5);
      const r = rig({ engine, content, accept: (f) => (eventIdx ? f : f & ~featureBit(VIRTIO_F.RING_EVENT_IDX)) });
      let done = 0;
      while (done < 2000) {
        // a batch of non-overlapping requests in flight together
        const batch: { status: number; check?: () => void }[] = [];
        const used: [number, number][] = [];
        const n = rng.range(1, 24);
        let area = DATA_AREA;
        for (let k = 0; k < n; k++) {
          const sectors = rng.range(0, 40);
          const sector = rng.below(DISK / 512 - sectors);
          if (used.some(([s, c]) => sector < s + c && s < sector + sectors)) continue;
          used.push([sector, sectors]);
          const len = sectors * 512;
          // random segmentation of the data
          const segs: Buf[] = [];
          let left = len;
          const write = rng.chance(0.5);
          while (left > 0) {
            const l = Math.min(left, rng.pick([512, 1024, 4096, rng.range(1, 3000)]));
            segs.push({ gpa: area + rng.below(64), len: l, writable: !write });
            area += l + 128;
            left -= l;
          }
          if (segs.length > 60) continue;
          const indirect = segs.length > 6 || rng.chance(0.3);
          if (!indirect && r.q.freeCount < segs.length + 2) continue;
          if (write) {
            const data = rng.fill(new Uint8Array(len));
            let p = 0;
            for (const s of segs) {
              ram.set(data.subarray(p, p + s.len), s.gpa);
              p += s.len;
            }
            model.set(data, sector * 512);
            const q = request(r, VIRTIO_BLK_T.OUT, sector, segs, { indirect, split: rng.chance(0.2) });
            batch.push({ status: q.status });
          } else {
            for (const s of segs) ram.fill(0xcc, s.gpa, s.gpa + s.len);
            const q = request(r, VIRTIO_BLK_T.IN, sector, segs, { indirect, split: rng.chance(0.2) });
            const want = model.slice(sector * 512, sector * 512 + len);
            batch.push({
              status: q.status,
              check: () => {
                let p = 0;
                for (const s of segs) {
                  if (Buffer.compare(ram.subarray(s.gpa, s.gpa + s.len), want.subarray(p, p + s.len)) !== 0) throw new Error(`read data mismatch at sector ${sector}`);
                  p += s.len;
                }
              },
            });
          }
        }
        if (batch.length === 0) continue;
        const got = await run(r, batch.length);
        expect(got.length).toBe(batch.length);
        for (const b of batch) {
          expect(ram[b.status]).toBe(VIRTIO_BLK_S.OK);
          b.check?.();
        }
        done += batch.length;
      }
      expect(r.t.broken).toBe(false);
      expect(r.errors).toEqual([]);
      expect(r.blk.mapper.stats.bouncedBytes).toBe(0); // all RAM: zero copy throughout
      expect(r.blk.mapper.stats.directBytes).toBeGreaterThan(0);
      r.close();
      expect(Buffer.compare(readFileSync(r.path), model)).toBe(0);
    });
  }

  it('random garbage chains: the VMM never throws; the device answers or asks for a reset (3000 chains)', async () => {
    const rng = new Prng(4242);
    const r = rig({ engine: 'sync' });
    let broken = 0;
    let answered = 0;
    for (let c = 0; c < 3000; c++) {
      const size = r.q.size;
      const head = rng.below(size);
      const n = rng.range(1, 5);
      let idx = head;
      for (let i = 0; i < n; i++) {
        const next = rng.chance(0.9) ? (idx + 1) % size : rng.below(size + 5);
        const kind = rng.below(4);
        const addr =
          kind === 0 ? header(rng.pick([0, 1, 4, 8, 11, 13, rng.below(100)]), rng.chance(0.8) ? rng.below(DISK / 512) : rng.below(2 ** 40)) : kind === 1 ? DATA_AREA + rng.below(MiB) : kind === 2 ? statusGpa() : rng.below(2 ** 40);
        const len = rng.pick([16, 512, 1, 0, 4096, rng.below(10000), 2 ** 32 - 1]);
        const flags = (i < n - 1 ? VIRTQ_DESC_F_NEXT : 0) | (rng.chance(0.5) ? 2 : 0) | (rng.chance(0.03) ? 4 : 0);
        r.q.writeDesc(idx, addr, len, flags, next);
        idx = next % size;
      }
      r.q.putAvail(head);
      const before = r.q.usedIdx;
      r.d.notify(0);
      await until(() => r.q.usedIdx !== before || r.t.broken || r.blk.inFlight === 0);
      await until(() => r.blk.inFlight === 0);
      if (r.t.broken) {
        broken++;
        r.d.write32(VIRTIO_MMIO.STATUS, 0);
        expect(r.d.init()).not.toBeNull();
        rig2(r);
      } else {
        answered++;
        r.q.takeUsed();
      }
    }
    expect(broken).toBeGreaterThan(100);
    expect(answered).toBeGreaterThan(100);
    r.close();
  });
});

describe('virtio-blk lifecycle', () => {
  it('reset with requests in flight: they finish inside the reset, nothing touches the rings afterwards', async () => {
    const r = rig({ engine: 'io_uring', cache: 'none' });
    for (let i = 0; i < 32; i++) request(r, VIRTIO_BLK_T.IN, i * 8, [{ gpa: DATA_AREA + i * 4096, len: 4096, writable: true }], { indirect: true });
    r.d.notify(0);
    expect(r.blk.inFlight).toBeGreaterThan(0);
    r.d.write32(VIRTIO_MMIO.STATUS, 0);
    expect(r.blk.inFlight).toBe(0);
    expect(r.backend.inFlight).toBe(0);
    r.q.reset(); // the driver zeroes its rings after the reset
    await new Promise((res) => setTimeout(res, 50));
    expect(r.q.usedIdx).toBe(0);
    expect(r.d.init()).not.toBeNull();
    rig2(r);
    const fl = request(r, VIRTIO_BLK_T.FLUSH, 0, []);
    await run(r);
    expect(ram[fl.status]).toBe(VIRTIO_BLK_S.OK);
    r.close();
  });

  for (const engine of ['sync', 'io_uring'] as const) {
    it(`${engine}: QueueReady=0 with requests in flight: none completes into the ring set up next`, async () => {
      const r = rig({ engine, cache: engine === 'io_uring' ? 'none' : 'writeback' });
      const statuses: number[] = [];
      for (let i = 0; i < 16; i++)
        statuses.push(request(r, VIRTIO_BLK_T.IN, i * 8, [{ gpa: DATA_AREA + i * 4096, len: 4096, writable: true }]).status);
      r.d.notify(0);
      expect(r.blk.inFlight).toBe(16); // submitted; no completion delivered yet
      r.d.write32(VIRTIO_MMIO.QUEUE_SEL, 0);
      r.d.write32(VIRTIO_MMIO.QUEUE_READY, 0);
      expect(r.blk.inFlight).toBe(0);
      expect(r.backend.inFlight).toBe(0);
      // the driver sets the queue up again elsewhere, at once
      const size = r.q.size;
      const layout = layoutAt(0x40000, size);
      r.d.queue = new DriverQueue(mem, size, layout);
      r.d.setupQueue(0, size, layout.desc, layout.avail, layout.used);
      rig2(r);
      await new Promise((res) => setTimeout(res, 50));
      expect(r.q.usedIdx).toBe(0); // was: 16 old completions in the new ring
      for (const s of statuses) expect(ram[s]).toBe(0xff);
      expect(r.t.broken).toBe(false);
      const fl = request(r, VIRTIO_BLK_T.FLUSH, 0, []);
      await run(r);
      expect(ram[fl.status]).toBe(VIRTIO_BLK_S.OK);
      r.close();
    });
  }

  /**
   * A guest whose vCPU (running beside the device) posts a GET_ID chain
   * again as soon as the device answers it, with a full ring, until `total`
   * have been posted.
   */
  function toppedUpGuest(total: number): Rig {
    let posted = 0;
    let head = -1;
    let status = -1;
    const r = rig({
      queueSize: 16,
      onDeviceWrite: (addr) => {
        if (addr !== status || posted >= total) return;
        r.q.putAvail(head);
        posted++;
      },
    });
    ({ head, status } = request(r, VIRTIO_BLK_T.GET_ID, 0, [{ gpa: DATA_AREA, len: VIRTIO_BLK_ID_BYTES, writable: true }]));
    for (posted = 1; posted < 16; posted++) r.q.putAvail(head, false);
    r.q.publish();
    return r;
  }

  it('a guest that keeps its ring topped up gets CHAINS_PER_TURN chains per event-loop turn, and every one served', async () => {
    const total = 10 * CHAINS_PER_TURN;
    const r = toppedUpGuest(total);
    let seenByOtherWork = -1;
    setImmediate(() => (seenByOtherWork = r.blk.stats.getIds));
    r.d.notify(0);
    expect(r.blk.stats.getIds).toBe(CHAINS_PER_TURN); // was: all of them, in this one call
    await until(() => r.blk.stats.getIds === total);
    expect(seenByOtherWork).toBe(CHAINS_PER_TURN); // other work ran between turns
    expect(r.q.usedIdx).toBe(total); // nothing lost
    expect(r.blk.stats.ioErrors).toBe(0);
    expect(r.t.broken).toBe(false);
    r.close();
  });

  it('a reset while yielded drops the rest of the turn', async () => {
    const r = toppedUpGuest(100 * CHAINS_PER_TURN);
    r.d.notify(0);
    expect(r.blk.stats.getIds).toBe(CHAINS_PER_TURN);
    r.d.write32(VIRTIO_MMIO.STATUS, 0);
    await new Promise((res) => setTimeout(res, 20));
    expect(r.blk.stats.getIds).toBe(CHAINS_PER_TURN);
    r.close();
  });

  it('more requests than slots (heads reused by a buggy driver) stall and resume', async () => {
    const r = rig({ queueSize: 4 });
    // make the same head available again and again: each pop takes a slot
    const hdr = header(VIRTIO_BLK_T.IN, 0);
    r.q.writeDesc(0, hdr, 16, VIRTQ_DESC_F_NEXT, 1);
    r.q.writeDesc(1, DATA_AREA, 512, VIRTQ_DESC_F_NEXT | 2, 2);
    r.q.writeDesc(2, statusGpa(), 1, 2, 0);
    for (let round = 0; round < 5; round++) {
      const before = r.q.usedIdx;
      // 4 chains, popped at once into all 4 slots; 4 more before any completes
      for (let i = 0; i < 4; i++) r.q.putAvail(0, false);
      r.q.publish();
      r.d.notify(0);
      expect(r.blk.inFlight).toBe(4);
      for (let i = 0; i < 4; i++) r.q.putAvail(0, false);
      r.q.publish();
      r.d.notify(0);
      await until(() => ((r.q.usedIdx - before) & 0xffff) === 8);
    }
    expect(r.blk.stats.stalls).toBeGreaterThan(0);
    expect(r.t.broken).toBe(false);
    r.close();
  });

  it('EVENT_IDX: no interrupt while used_event is far ahead', async () => {
    const r = rig();
    r.q.usedEvent = 100;
    const edges = r.irq.edges;
    for (let i = 0; i < 5; i++) {
      request(r, VIRTIO_BLK_T.FLUSH, 0, []);
      await run(r);
    }
    expect(r.irq.edges).toBe(edges);
    r.q.usedEvent = 5; // the next completion (used idx 5 → 6) must interrupt
    request(r, VIRTIO_BLK_T.FLUSH, 0, []);
    await run(r);
    expect(r.irq.edges).toBe(edges + 1);
    r.close();
  });

  it('ioeventfd path: notifyQueue() works like a QueueNotify write', async () => {
    const r = rig();
    const fl = request(r, VIRTIO_BLK_T.FLUSH, 0, []);
    r.t.notifyQueue(0);
    await until(() => r.q.usedIdx === 1);
    expect(ram[fl.status]).toBe(VIRTIO_BLK_S.OK);
    r.close();
  });
});

// keep the type import used
export type { IoVecList };
