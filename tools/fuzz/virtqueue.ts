// Fuzz target: the split virtqueue (src/devices/virtio/virtqueue.ts) alone,
// under a hostile driver. Random descriptor tables (direct and indirect),
// available rings with garbage heads and indices, and a random sequence of
// the device-side calls (pop, pushUsed, publishUsed, notification control).
// Invariants: nothing throws; each pop's result agrees with the ring (Empty
// only when nothing is pending, AvailIndex when the index jumped past the
// queue size); a returned chain is self-consistent (readable before writable,
// byte counts add up) and, when it reports no error, every non-empty buffer
// lies in guest RAM; Broken chains carry fatal errors; and the queue writes
// no guest byte outside its used ring.
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../src/devices/virtio/virtio-constants.js';
import { ChainError, DescriptorChain, MAX_CHAIN_SEGMENTS, PopResult, VirtQueue, isFatal } from '../../src/devices/virtio/virtqueue.js';
import { check, show, type FuzzTarget, type Prng } from './harness.js';
import { GuestRam, RAM_LAYOUT } from './guest-ram.js';

interface Desc {
  addr: bigint;
  len: number;
  flags: number;
  next: number;
}

type Op =
  | { op: 'pop' }
  | { op: 'push'; head: number; len: number }
  | { op: 'publish' }
  | { op: 'notify?' }
  | { op: 'disable' }
  | { op: 'enable' }
  | { op: 'availIdx'; value: number }
  | { op: 'deactivate' }
  | { op: 'reset' };

interface VqInput {
  size: number;
  maxSize: number;
  desc: number;
  avail: number;
  used: number;
  indirect: boolean;
  eventIdx: boolean;
  table: Desc[];
  /** Indirect tables at INDIRECT_AREA + 0x1000 * k. */
  indirectTables: Desc[][];
  availFlags: number;
  heads: number[];
  availIdx: number;
  usedEvent: number;
  ops: Op[];
}

const INDIRECT_AREA = 0x30000;

export function randomAddress(rng: Prng, ram: readonly { gpa: number; size: number }[]): bigint {
  const r = rng.pick(ram);
  switch (rng.below(9)) {
    case 0:
    case 1:
    case 2:
      return BigInt(r.gpa + rng.below(r.size));
    case 3:
      return BigInt(r.gpa + r.size - rng.below(64)); // at the end of a region (into the next, or a hole)
    case 4:
      return BigInt(INDIRECT_AREA + 0x1000 * rng.below(4) + 16 * rng.below(8));
    case 5:
      return BigInt(rng.below(2 ** 33));
    case 6:
      return (1n << 64n) - 1n - BigInt(rng.below(8192)); // wraps past 2^64
    case 7:
      return BigInt(2 ** 53 - rng.below(8192));
    default:
      return BigInt.asUintN(64, (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()));
  }
}

export function randomLength(rng: Prng): number {
  switch (rng.below(7)) {
    case 0:
      return 0;
    case 1:
      return 16 * rng.range(1, 12);
    case 2:
      return 0xffffffff - rng.below(16);
    case 3:
      return rng.u32();
    case 4:
      return 0x80000000 + rng.below(4);
    default:
      return rng.below(5000);
  }
}

function randomDesc(rng: Prng, tableSize: number): Desc {
  return {
    addr: randomAddress(rng, RAM_LAYOUT),
    len: randomLength(rng),
    flags: (rng.chance(0.6) ? VIRTQ_DESC_F_NEXT : 0) | (rng.chance(0.5) ? VIRTQ_DESC_F_WRITE : 0) | (rng.chance(0.1) ? VIRTQ_DESC_F_INDIRECT : 0) | (rng.chance(0.03) ? rng.below(0x10000) : 0),
    next: rng.chance(0.85) ? rng.below(Math.max(1, tableSize)) : rng.below(0x10000),
  };
}

export function writeDesc(ram: GuestRam, at: number, d: Desc): void {
  ram.setU64(at, d.addr);
  ram.setU32(at + 8, d.len);
  ram.setU16(at + 12, d.flags);
  ram.setU16(at + 14, d.next);
}

export class VirtqueueTarget implements FuzzTarget<VqInput> {
  readonly name = 'virtqueue';
  readonly description = 'split virtqueue: hostile descriptor tables, indirect tables, ring indices';
  private readonly ram = new GuestRam();
  private readonly chain = new DescriptorChain();

  generate(rng: Prng): VqInput {
    const maxSize = rng.pick([1, 2, 4, 8, 16, 32, 256]);
    let size = rng.chance(0.9) ? 1 << rng.below(Math.log2(maxSize) + 1) : rng.below(1000);
    if (size === 0) size = 1;
    const valid = rng.chance(0.9);
    const desc = valid ? 0x10000 : rng.pick([0x10008, 0x3fff0, 0x7fff0, 2 ** 40, 0x10fff0, -16]);
    const avail = valid ? 0x11000 : rng.pick([0x11001, 0x3fffe, 0x7fffe, 0x10fffa]);
    const used = valid ? 0x20000 : rng.pick([0x20002, 0x3fffc, 0x7fff8, 0x10fff8, 0x11000]);
    const tableSize = Math.min(size, 256);
    const table = Array.from({ length: tableSize }, () => randomDesc(rng, tableSize));
    const indirectTables = Array.from({ length: 4 }, () => {
      const n = rng.range(1, 12);
      return Array.from({ length: n }, () => {
        const d = randomDesc(rng, n);
        if (rng.chance(0.9)) d.flags &= ~VIRTQ_DESC_F_INDIRECT;
        return d;
      });
    });
    // make some descriptors well-formed indirect ones
    for (const d of table) {
      if (rng.chance(0.15)) {
        const k = rng.below(4);
        d.addr = BigInt(INDIRECT_AREA + 0x1000 * k);
        d.len = rng.chance(0.85) ? 16 * indirectTables[k].length : randomLength(rng);
        d.flags = VIRTQ_DESC_F_INDIRECT | (rng.chance(0.05) ? VIRTQ_DESC_F_NEXT : 0);
      }
    }
    const nHeads = rng.range(0, tableSize + 2);
    const heads = Array.from({ length: nHeads }, () => (rng.chance(0.9) ? rng.below(tableSize) : rng.below(0x10000)));
    const ops: Op[] = [];
    for (let n = rng.range(1, 3 * tableSize + 8); n > 0; n--) {
      const k = rng.below(100);
      if (k < 55) ops.push({ op: 'pop' });
      else if (k < 70) ops.push({ op: 'push', head: rng.chance(0.9) ? rng.below(tableSize) : rng.u32(), len: rng.chance(0.8) ? rng.below(5000) : rng.u32() * 3 });
      else if (k < 78) ops.push({ op: 'publish' });
      else if (k < 84) ops.push({ op: 'notify?' });
      else if (k < 89) ops.push({ op: 'disable' });
      else if (k < 94) ops.push({ op: 'enable' });
      else if (k < 98) ops.push({ op: 'availIdx', value: rng.chance(0.5) ? rng.below(nHeads + 3) : rng.below(0x10000) });
      else ops.push(rng.chance(0.5) ? { op: 'deactivate' } : { op: 'reset' });
    }
    return {
      size,
      maxSize,
      desc,
      avail,
      used,
      indirect: rng.chance(0.7),
      eventIdx: rng.chance(0.5),
      table,
      indirectTables,
      availFlags: rng.chance(0.8) ? rng.below(2) : rng.below(0x10000),
      heads,
      availIdx: rng.chance(0.9) ? nHeads : rng.below(0x10000),
      usedEvent: rng.below(0x10000),
      ops,
    };
  }

  describe(input: VqInput): string {
    return show(input);
  }

  execute(input: VqInput): void {
    const ram = this.ram;
    ram.clear();
    // the driver's side: tables and the available ring
    input.table.forEach((d, i) => writeDesc(ram, input.desc + 16 * i, d));
    input.indirectTables.forEach((t, k) => t.forEach((d, i) => writeDesc(ram, INDIRECT_AREA + 0x1000 * k + 16 * i, d)));
    const availRing = (i: number) => input.avail + 4 + 2 * i;
    ram.setU16(input.avail, input.availFlags);
    input.heads.forEach((h, i) => ram.setU16(availRing(i % Math.min(input.size, 256)), h));
    ram.setU16(input.avail + 2, input.availIdx);
    ram.setU16(availRing(Math.min(input.size, 256)), input.usedEvent);
    ram.snapshot();

    const q = new VirtQueue(0, input.maxSize, ram.memory);
    q.size = input.size;
    q.descAddr = input.desc;
    q.driverAddr = input.avail;
    q.deviceAddr = input.used;
    q.indirect = input.indirect;
    q.eventIdx = input.eventIdx;
    const err = q.activate();
    const sizeOk = input.size >= 1 && input.size <= input.maxSize && (input.size & (input.size - 1)) === 0;
    if (err !== null) {
      check(!q.ready, 'a queue that failed to activate is not ready');
    } else {
      check(sizeOk, `activate() accepted queue size ${input.size} with max ${input.maxSize}`);
      check(ram.inRamAcross(input.desc, 16 * input.size) && ram.inRamAcross(input.avail, 6 + 2 * input.size) && ram.inRamAcross(input.used, 6 + 8 * input.size), 'activate() accepted rings outside guest RAM');
    }
    const c = this.chain;
    for (const op of input.ops) {
      switch (op.op) {
        case 'pop': {
          const before = q.lastAvailIndex;
          const ready = q.ready;
          const r = q.pop(c);
          if (!ready) {
            check(r === PopResult.Empty, 'a queue that is not ready pops nothing');
            break;
          }
          const idx = ram.getU16(input.avail + 2);
          const pending = (idx - before) & 0xffff;
          if (r === PopResult.Empty) check(pending === 0, `Empty with ${pending} chains pending`);
          else check(pending !== 0, 'popped a chain with nothing pending');
          if (pending > input.size) check(r === PopResult.Broken && c.error === ChainError.AvailIndex, `avail.idx ${pending} ahead of a ${input.size}-entry queue is not AvailIndex`);
          if (r === PopResult.Broken) check(isFatal(c.error), `Broken with non-fatal error ${ChainError[c.error]}`);
          if (r === PopResult.Chain) this.checkChain(c, input.size);
          if (r !== PopResult.Empty && c.error !== ChainError.AvailIndex) check(q.lastAvailIndex === ((before + 1) & 0xffff), 'a pop consumes exactly one ring entry');
          break;
        }
        case 'push':
          q.pushUsed(op.head, op.len);
          break;
        case 'publish':
          q.publishUsed();
          break;
        case 'notify?':
          q.needsNotification();
          break;
        case 'disable':
          q.disableNotifications();
          break;
        case 'enable':
          q.enableNotifications();
          break;
        case 'availIdx':
          ram.driverSetU16(input.avail + 2, op.value);
          break;
        case 'deactivate':
          q.deactivate();
          break;
        case 'reset':
          q.reset();
          break;
      }
    }
    // the device side writes only the used ring (flags, idx, elements, avail_event)
    const allowed = err === null ? [{ gpa: input.used, size: 6 + 8 * input.size }] : [];
    ram.checkWritesOnlyIn(allowed, 'virtqueue');
  }

  private checkChain(c: DescriptorChain, size: number): void {
    check(c.head < size, `chain head ${c.head} outside a ${size}-entry table`);
    check(c.count >= 1 && c.count <= MAX_CHAIN_SEGMENTS, `chain of ${c.count} segments`);
    check(c.firstWritable <= c.count, 'firstWritable past the chain');
    let readable = 0;
    let writable = 0;
    let total = 0;
    let outside = false;
    for (let i = 0; i < c.count; i++) {
      check((c.writable[i] === 1) === i >= c.firstWritable, `segment ${i} direction disagrees with firstWritable ${c.firstWritable}`);
      if (c.writable[i]) writable += c.len[i];
      else readable += c.len[i];
      total += c.len[i];
      if (c.len[i] > 0 && !this.ram.inRamAcross(c.addr[i], c.len[i])) outside = true;
    }
    check(readable === c.readableBytes && writable === c.writableBytes, 'byte counts do not add up');
    check(!isFatal(c.error), `a returned chain has fatal error ${ChainError[c.error]}`);
    if (c.error === ChainError.None) check(!outside && total <= 2 ** 32, 'a chain without error has a buffer outside guest RAM (or > 4 GiB)');
    if (c.error === ChainError.BadAddress) check(outside, 'BadAddress but every buffer is in guest RAM');
    if (c.error === ChainError.TooLarge) check(total > 2 ** 32, 'TooLarge for a chain of at most 4 GiB');
  }

  close(): void {
    this.ram.release();
  }
}

