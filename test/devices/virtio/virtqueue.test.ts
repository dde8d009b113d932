import { describe, expect, it } from 'vitest';
import { testGuestRam } from '../../support/test-guest-ram.js';
import { VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_USED_F_NO_NOTIFY } from '../../../src/devices/virtio/virtio-constants.js';
import { ChainError, DescriptorChain, PopResult, VirtQueue, isFatal } from '../../../src/devices/virtio/virtqueue.js';
import { GuestMemory } from '../../../src/memory/guest-memory.js';
import { Prng } from '../../memory/dma-test-support.js';
import { DriverQueue, layoutAt } from './virtio-driver.js';

const MiB = 1024 * 1024;
const RAM = 4 * MiB;
const { mem } = testGuestRam(RAM);

function setup(size: number, opts: { indirect?: boolean; eventIdx?: boolean } = {}) {
  const layout = layoutAt(0x10000, size);
  const drv = new DriverQueue(mem, size, layout);
  const q = new VirtQueue(0, size, mem);
  q.size = size;
  q.descAddr = layout.desc;
  q.driverAddr = layout.avail;
  q.deviceAddr = layout.used;
  q.indirect = opts.indirect ?? true;
  q.eventIdx = opts.eventIdx ?? false;
  expect(q.activate()).toBeNull();
  return { q, drv, chain: new DescriptorChain() };
}

describe('VirtQueue basics', () => {
  it('pops a direct chain and returns it through the used ring', () => {
    const { q, drv, chain } = setup(8);
    const head = drv.add([
      { gpa: 0x100000, len: 16, writable: false },
      { gpa: 0x101000, len: 4096, writable: true },
      { gpa: 0x102000, len: 1, writable: true },
    ]);
    expect(q.available).toBe(1);
    expect(q.pop(chain)).toBe(PopResult.Chain);
    expect(chain.head).toBe(head);
    expect(chain.error).toBe(ChainError.None);
    expect(chain.count).toBe(3);
    expect(Array.from(chain.addr.subarray(0, 3))).toEqual([0x100000, 0x101000, 0x102000]);
    expect(Array.from(chain.len.subarray(0, 3))).toEqual([16, 4096, 1]);
    expect(chain.firstWritable).toBe(1);
    expect(chain.readableBytes).toBe(16);
    expect(chain.writableBytes).toBe(4097);
    expect(q.pop(chain)).toBe(PopResult.Empty);
    q.pushUsed(head, 4097);
    expect(drv.usedIdx).toBe(0); // not visible before publish
    q.publishUsed();
    expect(drv.takeUsed()).toEqual([{ id: head, len: 4097 }]);
  });

  it('indirect tables, alone and after direct descriptors', () => {
    const { q, drv, chain } = setup(8);
    const head = drv.add(
      [
        { gpa: 0x100000, len: 16, writable: false },
        { gpa: 0x101000, len: 512, writable: true },
        { gpa: 0x102000, len: 1, writable: true },
      ],
      { indirect: true },
    );
    expect(q.pop(chain)).toBe(PopResult.Chain);
    expect(chain.head).toBe(head);
    expect(chain.count).toBe(3);
    expect(chain.firstWritable).toBe(1);
    // "zero or more normal chained descriptors followed by a single indirect one" (§2.7.5.3.2)
    const table = 0x200000;
    drv.writeDesc(0, 0x103000, 100, VIRTQ_DESC_F_WRITE, 0, table);
    drv.writeDesc(5, 0x104000, 16, VIRTQ_DESC_F_NEXT, 6);
    drv.writeDesc(6, table, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0); // WRITE on the indirect desc is ignored
    drv.putAvail(5);
    expect(q.pop(chain)).toBe(PopResult.Chain);
    expect(chain.count).toBe(2);
    expect(Array.from(chain.writable.subarray(0, 2))).toEqual([0, 1]);
  });

  it('activation rejects bad setups without throwing', () => {
    const q = new VirtQueue(0, 256, mem);
    const layout = layoutAt(0x10000, 256);
    const tryIt = (size: number, desc: number, avail: number, used: number) => {
      q.reset();
      q.size = size;
      q.descAddr = desc;
      q.driverAddr = avail;
      q.deviceAddr = used;
      return q.activate();
    };
    expect(tryIt(256, layout.desc, layout.avail, layout.used)).toBeNull();
    expect(tryIt(0, layout.desc, layout.avail, layout.used)).toMatch(/power of two/);
    expect(tryIt(100, layout.desc, layout.avail, layout.used)).toMatch(/power of two/);
    expect(tryIt(512, layout.desc, layout.avail, layout.used)).toMatch(/power of two/);
    expect(tryIt(256, layout.desc + 8, layout.avail, layout.used)).toMatch(/aligned/);
    expect(tryIt(256, layout.desc, layout.avail + 1, layout.used)).toMatch(/aligned/);
    expect(tryIt(256, layout.desc, layout.avail, layout.used + 2)).toMatch(/aligned/);
    expect(tryIt(256, RAM - 16, layout.avail, layout.used)).toMatch(/not inside guest RAM/);
    expect(tryIt(256, layout.desc, 2 ** 60, layout.used)).toMatch(/not inside guest RAM/);
    expect(tryIt(256, layout.desc, layout.avail, RAM - 64)).toMatch(/not inside guest RAM/);
    expect(tryIt(256, NaN, layout.avail, layout.used)).not.toBeNull();
    expect(q.ready).toBe(false);
    const c = new DescriptorChain();
    expect(q.pop(c)).toBe(PopResult.Empty);
  });

  it('ring indices wrap at 65536 (70000 chains through a 4-entry queue)', () => {
    const { q, drv, chain } = setup(4);
    for (let i = 0; i < 70000; i++) {
      const head = drv.add([{ gpa: 0x100000 + (i % 16) * 512, len: 512, writable: (i & 1) === 1 }]);
      expect(head).toBeGreaterThanOrEqual(0);
      if (q.pop(chain) !== PopResult.Chain || chain.head !== head) throw new Error(`pop ${i} failed`);
      q.pushUsed(head, 0);
      q.publishUsed();
      const used = drv.takeUsed();
      if (used.length !== 1 || used[0].id !== head) throw new Error(`used ${i} wrong`);
    }
    expect(q.lastAvailIndex).toBe(70000 & 0xffff);
    expect(q.usedIndex).toBe(70000 & 0xffff);
  });
});

describe('VirtQueue against hostile descriptors', () => {
  it('loops are detected: self, two-cycle, inside an indirect table', () => {
    const { q, drv, chain } = setup(8);
    drv.writeDesc(0, 0x100000, 16, VIRTQ_DESC_F_NEXT, 0);
    drv.putAvail(0);
    expect(q.pop(chain)).toBe(PopResult.Broken);
    expect(chain.error).toBe(ChainError.Loop);
    drv.writeDesc(1, 0x100000, 16, VIRTQ_DESC_F_NEXT, 2);
    drv.writeDesc(2, 0x100000, 16, VIRTQ_DESC_F_NEXT, 1);
    drv.putAvail(1);
    expect(q.pop(chain)).toBe(PopResult.Broken);
    expect(chain.error).toBe(ChainError.Loop);
    const table = 0x200000;
    drv.writeDesc(0, 0x100000, 16, VIRTQ_DESC_F_NEXT, 1, table);
    drv.writeDesc(1, 0x100000, 16, VIRTQ_DESC_F_NEXT, 0, table);
    drv.writeDesc(3, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    drv.putAvail(3);
    expect(q.pop(chain)).toBe(PopResult.Broken);
    expect(chain.error).toBe(ChainError.Loop);
  });

  it('each malformed shape has its own error', () => {
    const cases: [string, (d: DriverQueue) => void, PopResult, ChainError, { indirect?: boolean }?][] = [
      ['head index out of range', (d) => d.putAvail(8), PopResult.Broken, ChainError.HeadIndex],
      ['head index 65535', (d) => d.putAvail(65535), PopResult.Broken, ChainError.HeadIndex],
      ['next out of range', (d) => (d.writeDesc(0, 0x100000, 1, VIRTQ_DESC_F_NEXT, 9), d.putAvail(0)), PopResult.Broken, ChainError.NextIndex],
      ['indirect not negotiated', (d) => (d.writeDesc(0, 0x200000, 16, VIRTQ_DESC_F_INDIRECT, 0), d.putAvail(0)), PopResult.Broken, ChainError.IndirectNotNegotiated, { indirect: false }],
      ['indirect with next', (d) => (d.writeDesc(0, 0x200000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1), d.putAvail(0)), PopResult.Broken, ChainError.IndirectWithNext],
      ['indirect length 0', (d) => (d.writeDesc(0, 0x200000, 0, VIRTQ_DESC_F_INDIRECT, 0), d.putAvail(0)), PopResult.Broken, ChainError.IndirectLength],
      ['indirect length 17', (d) => (d.writeDesc(0, 0x200000, 17, VIRTQ_DESC_F_INDIRECT, 0), d.putAvail(0)), PopResult.Broken, ChainError.IndirectLength],
      ['indirect table of 4 GiB', (d) => (d.writeDesc(0, 0x200000, 0xfffffff0, VIRTQ_DESC_F_INDIRECT, 0), d.putAvail(0)), PopResult.Broken, ChainError.IndirectTooLarge],
      ['indirect table outside RAM', (d) => (d.writeDesc(0, RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0), d.putAvail(0)), PopResult.Broken, ChainError.IndirectAddress],
      ['indirect table at 2^64 - 16', (d) => (d.writeDesc(0, 2n ** 64n - 16n, 16, VIRTQ_DESC_F_INDIRECT, 0), d.putAvail(0)), PopResult.Broken, ChainError.IndirectAddress],
      [
        'nested indirect',
        (d) => {
          d.writeDesc(0, 0x200100, 16, VIRTQ_DESC_F_INDIRECT, 0, 0x200000);
          d.writeDesc(0, 0x200000, 16, VIRTQ_DESC_F_INDIRECT, 0);
          d.putAvail(0);
        },
        PopResult.Broken,
        ChainError.NestedIndirect,
      ],
      [
        'readable after writable',
        (d) => {
          d.writeDesc(0, 0x100000, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
          d.writeDesc(1, 0x100000, 16, 0, 0);
          d.putAvail(0);
        },
        PopResult.Broken,
        ChainError.Order,
      ],
      ['avail idx jumps past the queue size', (d) => d.setAvailIdx(9), PopResult.Broken, ChainError.AvailIndex],
      ['avail idx moves backwards', (d) => d.setAvailIdx(0xffff), PopResult.Broken, ChainError.AvailIndex],
      ['buffer beyond RAM', (d) => (d.writeDesc(0, RAM - 8, 16, 0, 0), d.putAvail(0)), PopResult.Chain, ChainError.BadAddress],
      ['buffer at 2^63', (d) => (d.writeDesc(0, 2 ** 63, 16, 0, 0), d.putAvail(0)), PopResult.Chain, ChainError.BadAddress],
      ['buffer wrapping past 2^64', (d) => (d.writeDesc(0, 2n ** 64n - 8n, 16, 0, 0), d.putAvail(0)), PopResult.Chain, ChainError.BadAddress],
      ['4 GiB - 1 buffer', (d) => (d.writeDesc(0, 0x100000, 0xffffffff, 0, 0), d.putAvail(0)), PopResult.Chain, ChainError.BadAddress],
      [
        'chain longer than 2^32 bytes',
        (d) => {
          // RAM is small, so the lengths also fail translation; TooLarge needs them in RAM: check the flag order instead
          d.writeDesc(0, 0x100000, 0x80000000, VIRTQ_DESC_F_NEXT, 1);
          d.writeDesc(1, 0x100000, 0x80000001, 0, 0);
          d.putAvail(0);
        },
        PopResult.Chain,
        ChainError.BadAddress,
      ],
    ];
    for (const [name, build, want, err, opts] of cases) {
      const { q, drv, chain } = setup(8, opts);
      build(drv);
      const r = q.pop(chain);
      expect({ name, r, e: chain.error }).toEqual({ name, r: want, e: err });
      expect(isFatal(chain.error)).toBe(want === PopResult.Broken);
    }
  });

  it('a chain longer than 2^32 bytes inside RAM is TooLarge', () => {
    const big = GuestMemory.allocate([{ gpa: 0, size: 64 * 1024 }, { gpa: 2 ** 33, size: 4096 }]);
    // one region cannot hold 4 GiB here; use a translator that accepts everything
    const everything = { translate: (_a: number, l: number, _x: number, out: { kind: number; length: number }) => ((out.length = l), (out.kind = 0)), readSlow: () => true, writeSlow: () => true };
    const q = new VirtQueue(0, 8, big, everything as never);
    const layout = layoutAt(0, 8);
    const drv = new DriverQueue(big, 8, layout, 0x8000);
    q.descAddr = layout.desc;
    q.driverAddr = layout.avail;
    q.deviceAddr = layout.used;
    expect(q.activate()).toBeNull();
    drv.writeDesc(0, 0x100000, 0xffffffff, VIRTQ_DESC_F_NEXT, 1);
    drv.writeDesc(1, 0x100000, 2, 0, 0);
    drv.putAvail(0);
    const chain = new DescriptorChain();
    expect(q.pop(chain)).toBe(PopResult.Chain);
    expect(chain.error).toBe(ChainError.TooLarge);
    big.release();
  });

  it('random descriptor tables: never throws, always terminates, agrees with a reference walker (20000 tables)', () => {
    const rng = new Prng(2024);
    const chain = new DescriptorChain();
    const counts = { empty: 0, ok: 0, bad: 0, broken: 0 };
    for (let c = 0; c < 20000; c++) {
      const size = rng.pick([1, 2, 4, 8, 16]);
      const indirect = rng.chance(0.7);
      const { q, drv } = setup(size, { indirect });
      const table = 0x200000;
      const randAddr = (): number | bigint =>
        rng.pick([() => rng.below(RAM), () => 0x100000 + rng.below(4096), () => RAM - rng.below(64), () => 2 ** 40 + rng.below(1000), () => 2n ** 64n - 1n - BigInt(rng.below(4096)), () => table])();
      const randLen = () => rng.pick([() => rng.below(5000), () => 0, () => 0xffffffff, () => 16 * rng.range(1, 10), () => rng.below(2 ** 32)])();
      const randFlags = () => rng.below(8) | (rng.chance(0.05) ? rng.below(0x10000) : 0);
      for (let i = 0; i < size; i++) drv.writeDesc(i, randAddr(), randLen(), randFlags(), rng.chance(0.8) ? rng.below(size) : rng.below(0x10000));
      for (let i = 0; i < 12; i++) drv.writeDesc(i, randAddr(), randLen(), randFlags(), rng.chance(0.8) ? rng.below(12) : rng.below(0x10000), table);
      const heads = rng.range(0, size + 1);
      for (let i = 0; i < heads; i++) drv.putAvail(rng.chance(0.9) ? rng.below(size) : rng.below(0x10000), false);
      drv.publish();
      if (rng.chance(0.05)) drv.setAvailIdx(rng.below(0x10000));
      const expectAvail = drv.availIdx;
      for (let n = 0; n < size + 3; n++) {
        const before = q.lastAvailIndex;
        const r = q.pop(chain);
        const ref = referenceWalk(drv, q, before, expectAvail, size, indirect, table);
        if (r === PopResult.Empty) {
          counts.empty++;
          expect(ref.kind).toBe('empty');
          break;
        }
        if (r === PopResult.Broken) {
          counts.broken++;
          expect(ref.kind).toBe('broken');
          expect(isFatal(chain.error)).toBe(true);
          if (chain.error === ChainError.AvailIndex) break;
          continue;
        }
        expect(ref.kind).toBe('chain');
        if (chain.error === ChainError.None) counts.ok++;
        else counts.bad++;
        expect(isFatal(chain.error)).toBe(false);
        const segs = ref.segs!;
        expect(chain.count).toBe(segs.length);
        for (let i = 0; i < segs.length; i++) {
          expect(chain.len[i]).toBe(segs[i].len);
          expect(chain.writable[i]).toBe(segs[i].w ? 1 : 0);
          if (segs[i].addr < 2 ** 53) expect(chain.addr[i]).toBe(segs[i].addr);
          else expect(chain.addr[i]).toBeGreaterThanOrEqual(2 ** 53);
        }
        // the reference's view of "bad buffer": any non-empty buffer not inside RAM
        const refBad = segs.some((s) => s.len > 0 && (s.addr >= 2 ** 53 || s.addr + s.len > RAM));
        const refTooLarge = segs.reduce((t, s) => t + s.len, 0) > 2 ** 32;
        expect(chain.error !== ChainError.None).toBe(refBad || refTooLarge);
      }
    }
    // the generator reaches every outcome
    expect(counts.ok).toBeGreaterThan(100);
    expect(counts.bad).toBeGreaterThan(100);
    expect(counts.broken).toBeGreaterThan(100);
    expect(counts.empty).toBeGreaterThan(100);
  });
});

/** An independent, deliberately simple walker over the same guest memory. */
function referenceWalk(
  drv: DriverQueue,
  q: VirtQueue,
  lastAvail: number,
  _availIdx: number,
  size: number,
  indirectOk: boolean,
  _table: number,
): { kind: 'empty' | 'broken' | 'chain'; segs?: { addr: number; len: number; w: boolean }[] } {
  const dv = drv.dv;
  const { desc, avail } = drv.layout;
  const idx = dv.getUint16(avail + 2, true);
  const pending = (idx - lastAvail) & 0xffff;
  if (pending === 0) return { kind: 'empty' };
  if (pending > size) return { kind: 'broken' };
  const head = dv.getUint16(avail + 4 + 2 * (lastAvail % size), true);
  if (head >= size) return { kind: 'broken' };
  const readDesc = (base: number, i: number) => ({
    addr: Number(dv.getBigUint64(base + 16 * i, true)),
    len: dv.getUint32(base + 16 * i + 8, true),
    flags: dv.getUint16(base + 16 * i + 12, true),
    next: dv.getUint16(base + 16 * i + 14, true),
  });
  const segs: { addr: number; len: number; w: boolean }[] = [];
  let base = desc;
  let n = size;
  let i = head;
  let seen = new Set<number>();
  let inIndirect = false;
  let sawW = false;
  for (;;) {
    if (seen.has(i)) return { kind: 'broken' };
    seen.add(i);
    const d = readDesc(base, i);
    if (d.flags & VIRTQ_DESC_F_INDIRECT) {
      if (!indirectOk || inIndirect || d.flags & VIRTQ_DESC_F_NEXT || d.len === 0 || d.len % 16) return { kind: 'broken' };
      if (d.len / 16 > 1024 || d.addr + d.len > RAM) return { kind: 'broken' };
      base = d.addr;
      n = d.len / 16;
      i = 0;
      seen = new Set();
      inIndirect = true;
      continue;
    }
    const w = (d.flags & VIRTQ_DESC_F_WRITE) !== 0;
    if (!w && sawW) return { kind: 'broken' };
    sawW ||= w;
    segs.push({ addr: d.addr, len: d.len, w });
    if (!(d.flags & VIRTQ_DESC_F_NEXT)) break;
    if (d.next >= n) return { kind: 'broken' };
    i = d.next;
  }
  void q;
  return { kind: 'chain', segs };
}

describe('notification suppression', () => {
  it('without EVENT_IDX: NO_INTERRUPT and NO_NOTIFY flags', () => {
    const { q, drv, chain } = setup(8, { eventIdx: false });
    drv.add([{ gpa: 0x100000, len: 1, writable: true }]);
    q.disableNotifications();
    expect(drv.usedFlags).toBe(VIRTQ_USED_F_NO_NOTIFY);
    expect(q.pop(chain)).toBe(PopResult.Chain);
    expect(q.enableNotifications()).toBe(false);
    expect(drv.usedFlags).toBe(0);
    expect(q.notificationKnownBeforePublish()).toBe(false); // nothing to publish
    q.pushUsed(chain.head, 1);
    expect(q.notificationKnownBeforePublish()).toBe(true); // decided before the index moves
    q.publishUsed();
    expect(q.needsNotification()).toBe(true);
    expect(q.needsNotification()).toBe(false); // nothing new
    drv.availFlags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    drv.add([{ gpa: 0x100000, len: 1, writable: true }]);
    expect(q.pop(chain)).toBe(PopResult.Chain);
    q.pushUsed(chain.head, 1);
    expect(q.notificationKnownBeforePublish()).toBe(false);
    q.publishUsed();
    expect(q.needsNotification()).toBe(false);
  });

  it('with EVENT_IDX only the published index decides, never before it', () => {
    const { q, drv, chain } = setup(8, { eventIdx: true });
    drv.add([{ gpa: 0x100000, len: 1, writable: true }]);
    expect(q.pop(chain)).toBe(PopResult.Chain);
    q.pushUsed(chain.head, 1);
    expect(q.notificationKnownBeforePublish()).toBe(false);
  });

  it('enableNotifications reports chains that arrived while disabled', () => {
    const { q, drv, chain } = setup(8, { eventIdx: true });
    q.disableNotifications();
    drv.add([{ gpa: 0x100000, len: 1, writable: true }]);
    expect(q.enableNotifications()).toBe(true);
    expect(drv.availEvent).toBe(0);
    expect(q.pop(chain)).toBe(PopResult.Chain);
    expect(q.enableNotifications()).toBe(false);
    expect(drv.availEvent).toBe(1); // notify me when you add entry #1
  });

  it('with EVENT_IDX: interrupt exactly when used.idx passes used_event (2000 random scenarios)', () => {
    const rng = new Prng(77);
    const chain = new DescriptorChain();
    for (let c = 0; c < 2000; c++) {
      const { q, drv } = setup(16, { eventIdx: true });
      let usedIdx = 0;
      let lastSignal = 0;
      for (let round = 0; round < 10; round++) {
        const k = rng.range(1, 6);
        for (let i = 0; i < k; i++) drv.add([{ gpa: 0x100000, len: 1, writable: true }]);
        for (let i = 0; i < k; i++) {
          expect(q.pop(chain)).toBe(PopResult.Chain);
          q.pushUsed(chain.head, 1);
        }
        const usedEvent = (usedIdx + rng.range(-3, 8)) & 0xffff;
        drv.usedEvent = usedEvent;
        q.publishUsed();
        const before = usedIdx;
        usedIdx = (usedIdx + k) & 0xffff;
        // the driver asked to hear when the entry at index used_event is used:
        // that happened in this batch iff used_event ∈ [lastSignal, usedIdx)
        const want = ((usedEvent - lastSignal) & 0xffff) < ((usedIdx - lastSignal) & 0xffff);
        expect(q.needsNotification()).toBe(want);
        lastSignal = usedIdx;
        void before;
        drv.takeUsed();
      }
    }
  });
});
