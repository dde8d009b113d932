// The ring's consumer against KVM's producer rule, on a ring page of our own:
// the producer below is coalesced_mmio_write()'s room check, as Linux 6.1
// has it and as 6.11 fixed it, interleaved with drains that stop anywhere (a
// main thread that drains while vCPUs write can be preempted at any entry).
// test/kvm/coalesced-ring.kvm.test.ts runs the same hazard on the host's KVM.
import { afterEach, describe, expect, it } from 'vitest';
import { KvmCoalescedMmio, KvmCoalescedMmioRing } from '../../ffi/kvm-abi.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, mmapChecked, munmap, viewAt } from '../../ffi/libc.js';
import { COALESCED_RING_ENTRIES, CoalescedRing } from '../../src/bus/coalesced-ring.js';
import { IoBus } from '../../src/bus/io-bus.js';
import { prng } from '../support/prng.js';

const PAGE = 4096;
const PORT = 0x3f8;
const pages: number[] = [];
afterEach(() => pages.splice(0).forEach((p) => munmap(p, PAGE)));

type RoomCheck = (first: number, last: number) => boolean;
/** Linux ≤ 6.10: `(first - last - 1) % KVM_COALESCED_MMIO_MAX` on a u32, compared with 0. */
const linux61: RoomCheck = (first, last) => ((first - last - 1) >>> 0) % COALESCED_RING_ENTRIES !== 0;
/** Linux ≥ 6.11: full when the slot after `last` is `first`. */
const linux611: RoomCheck = (first, last) => (last + 1) % COALESCED_RING_ENTRIES !== first;

/** A ring page and KVM's side of it: `write` queues a byte for one of four ports when the room check allows, else "exits". */
function ringPage(room: RoomCheck, producerRunsConcurrently: boolean) {
  const address = mmapChecked(PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  pages.push(address);
  const page = new DataView(viewAt(address, PAGE));
  /** What each port received, in order. */
  const received: number[][] = [[], [], [], []];
  const pio = new IoBus('pio');
  pio.add(PORT, 4, { name: 'ports', read: () => {}, write: (offset, d) => received[offset].push(d[0]) });
  const ring = new CoalescedRing(address, pio, new IoBus('mmio'), { countCoalesced() {} }, { producerRunsConcurrently });
  const write = (byte: number, port = 0): boolean => {
    const first = page.getUint32(0, true);
    const last = page.getUint32(4, true);
    if (!room(first, last)) return false;
    const entry = KvmCoalescedMmioRing.offsets.coalesced_mmio + last * KvmCoalescedMmio.size;
    page.setBigUint64(entry + KvmCoalescedMmio.offsets.phys_addr, BigInt(PORT + port), true);
    page.setUint32(entry + KvmCoalescedMmio.offsets.len, 1, true);
    page.setUint32(entry + KvmCoalescedMmio.offsets.pio, 1, true);
    page.setUint8(entry + KvmCoalescedMmio.offsets.data, byte);
    page.setUint32(4, (last + 1) % COALESCED_RING_ENTRIES, true);
    return true;
  };
  return { ring, write, received, replayed: received[0], published: () => page.getUint32(0, true) };
}

/**
 * Writes `total` counting bytes in bursts; a write that finds no room is an
 * exit (the whole ring is drained, then the byte is delivered). Between bursts
 * the consumer drains `drainBetween()` entries. Returns what reached the device.
 */
function stream(room: RoomCheck, concurrent: boolean, total: number, burst: () => number, drainBetween: (ring: CoalescedRing) => number): number[] {
  const { ring, write, replayed } = ringPage(room, concurrent);
  let sent = 0;
  while (sent < total) {
    for (let n = burst(); n > 0 && sent < total; n--, sent++)
      if (!write(sent & 0xff)) {
        ring.drain();
        replayed.push(sent & 0xff);
      }
    ring.drain(drainBetween(ring));
  }
  ring.drain();
  return replayed;
}

const counting = (total: number) => Array.from({ length: total }, (_, i) => i & 0xff);
/** Drains to the end of the ring and stops there: the cursor wraps to slot 0 with the rest still queued. */
const toTheWrap = (ring: CoalescedRing) => COALESCED_RING_ENTRIES - ring.first;

describe('CoalescedRing', () => {
  it('replays every write once and in order when its cursor wraps with the ring more than half full', () => {
    for (const room of [linux61, linux611]) expect(stream(room, true, 3400, () => 100, toTheWrap)).toEqual(counting(3400));
  });

  it("(the hazard) publishing `first` = 0 then lets Linux 6.1 overwrite a whole ring's worth", () => {
    const lost = stream(linux61, false, 3400, () => 100, toTheWrap);
    expect(lost.length).toBeLessThan(3400);
    expect(lost.length % COALESCED_RING_ENTRIES).toBe(0);
    expect(stream(linux611, false, 3400, () => 100, toTheWrap)).toEqual(counting(3400));
  });

  it('loses and reorders nothing under either kernel, whatever the bursts and wherever a drain stops', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const random = prng(seed);
      const pick = (n: number) => Math.floor(random() * n);
      const drains = [() => COALESCED_RING_ENTRIES, toTheWrap, () => pick(COALESCED_RING_ENTRIES)];
      for (const room of [linux61, linux611]) {
        const got = stream(room, true, 2000, () => 1 + pick(200), (ring) => drains[pick(3)](ring));
        expect(got, `seed ${seed}`).toEqual(counting(2000));
      }
    }
  });

  it("several vCPUs writing while the drain is preempted between any two entries: each one's writes arrive once and in order", () => {
    for (let seed = 1; seed <= 100; seed++) {
      const random = prng(seed);
      const { ring, write, received } = ringPage(linux61, true);
      const sent = [0, 0, 0, 0];
      const perVcpu = 1000;
      while (sent.some((n) => n < perVcpu)) {
        if (random() < 0.4) {
          ring.drain(1);
          continue;
        }
        const vcpu = Math.floor(random() * 4);
        if (sent[vcpu] === perVcpu) continue;
        const byte = sent[vcpu]++ & 0xff;
        // No room: the vCPU exits, and the main thread drains the ring before it serves the write.
        if (!write(byte, vcpu)) {
          ring.drain();
          received[vcpu].push(byte);
        }
      }
      ring.drain();
      for (let vcpu = 0; vcpu < 4; vcpu++) expect(received[vcpu], `seed ${seed}, vCPU ${vcpu}`).toEqual(counting(perVcpu));
    }
  });

  it('keeps `first` on the last slot until it has replayed slot 0 as well', () => {
    const { ring, write, published } = ringPage(linux611, true);
    for (let i = 0; i < COALESCED_RING_ENTRIES - 1; i++) expect(write(i)).toBe(true);
    ring.drain();
    expect([ring.first, published()]).toEqual([COALESCED_RING_ENTRIES - 1, COALESCED_RING_ENTRIES - 1]);
    write(1);
    write(2);
    expect(ring.drain(1)).toBe(1);
    expect([ring.first, published(), ring.pending]).toEqual([0, COALESCED_RING_ENTRIES - 1, true]);
    expect(ring.drain()).toBe(1);
    expect([ring.first, published(), ring.pending]).toEqual([1, 1, false]);
  });

  it('with one vCPU (no concurrent producer) publishes exactly where it is', () => {
    const { ring, write, published } = ringPage(linux611, false);
    for (let i = 0; i < COALESCED_RING_ENTRIES - 1; i++) write(i);
    ring.drain();
    write(1);
    ring.drain();
    expect([ring.first, published()]).toEqual([0, 0]);
  });
});
