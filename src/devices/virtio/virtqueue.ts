// A virtio 1.x split virtqueue over guest memory (virtio v1.1 §2.6 / v1.2
// §2.7): descriptor table, available ring (driver area), used ring (device
// area), with VIRTIO_F_RING_INDIRECT_DESC and VIRTIO_F_RING_EVENT_IDX.
//
// Everything here is written by a guest that may be hostile. pop() walks one
// descriptor chain with a visit limit (queue size for the table, the table's
// length for an indirect table: a loop can never run longer), checks every
// index, flag combination and direction, and reports problems as values:
//   * structural errors (bad index, loop, nested or malformed indirect table,
//     readable after writable, too many segments) → PopResult.Broken: the
//     device cannot trust the chain and should be marked DEVICE_NEEDS_RESET;
//   * buffers outside guest memory or absurdly long → PopResult.Chain with
//     chain.error set: the chain is well formed, the device can still write
//     its status and return it with an error.
// Each descriptor is read exactly once into locals, and an indirect table is
// copied before it is walked, so a guest rewriting them concurrently cannot
// make the device see two different values (no double fetch).
//
// Memory ordering (guest memory is shared with vCPU threads): ring indices
// are accessed with Atomics on Uint16Array views. Atomics are sequentially
// consistent; V8 never reorders ordinary accesses across them, and on x86-64
// an Atomics.store is a locked instruction (a full barrier). The ordering
// points are:
//   * Atomics.load(avail.idx) before reading ring entries and descriptors
//     (acquire; pairs with the driver's write barrier before its idx store);
//   * used elements written before Atomics.store(used.idx) (release);
//   * Atomics.store(used.idx) before Atomics.load(used_event / avail.flags)
//     when deciding whether to interrupt (store→load needs the full barrier);
//   * Atomics.store(avail_event / used.flags) before re-reading avail.idx when
//     re-enabling notifications (same store→load pattern).
import { DmaAccess, DmaSpan, GuestMemoryTranslator, SpanKind, type DmaTranslator } from '../../memory/dma-translator.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import {
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VIRTQ_MAX_SIZE,
  VIRTQ_USED_F_NO_NOTIFY,
} from './virtio-constants.js';

const TWO32 = 0x1_0000_0000;
/** High 32-bit halves at or above this put an address at or beyond 2^53. */
const HIGH_LIMIT = 0x20_0000;
/** Most segments one chain may have (QEMU's VIRTQUEUE_MAX_SIZE). */
export const MAX_CHAIN_SEGMENTS = 1024;

export enum PopResult {
  Empty = 0,
  /** `chain` holds a well-formed chain (check chain.error for bad buffers). */
  Chain = 1,
  /** The ring or the chain is malformed; chain.error says how. */
  Broken = 2,
}

export enum ChainError {
  None = 0,
  // non-fatal: the chain is well formed, its buffers are not usable
  /** A buffer is not (entirely) guest memory the device may access. */
  BadAddress = 1,
  /** More than 2^32 bytes in total (used.len cannot describe it). */
  TooLarge = 2,
  // fatal
  /** avail.idx moved by more than the queue size. */
  AvailIndex = 10,
  HeadIndex = 11,
  NextIndex = 12,
  /** More descriptors than the table holds: a loop. */
  Loop = 13,
  IndirectNotNegotiated = 14,
  /** An indirect table inside an indirect table. */
  NestedIndirect = 15,
  /** INDIRECT together with NEXT. */
  IndirectWithNext = 16,
  /** Indirect table length 0 or not a multiple of 16. */
  IndirectLength = 17,
  IndirectTooLarge = 18,
  /** The indirect table itself is not in guest RAM. */
  IndirectAddress = 19,
  /** A device-readable descriptor after a device-writable one. */
  Order = 20,
  TooManySegments = 21,
  NotReady = 22,
}

export function isFatal(e: ChainError): boolean {
  return e >= 10;
}

/** One popped chain: preallocated, reused for every pop. */
export class DescriptorChain {
  head = 0;
  count = 0;
  error = ChainError.None;
  readableBytes = 0;
  writableBytes = 0;
  /** Index of the first writable segment (= count when none). */
  firstWritable = 0;
  readonly addr: Float64Array;
  readonly len: Float64Array;
  readonly writable: Uint8Array;

  constructor(readonly capacity = MAX_CHAIN_SEGMENTS) {
    this.addr = new Float64Array(capacity);
    this.len = new Float64Array(capacity);
    this.writable = new Uint8Array(capacity);
  }

  reset(head: number): void {
    this.head = head;
    this.count = 0;
    this.error = ChainError.None;
    this.readableBytes = 0;
    this.writableBytes = 0;
    this.firstWritable = 0;
  }
}

export class VirtQueue {
  // configuration written by the transport while the queue is not ready
  size: number;
  descAddr = 0;
  driverAddr = 0;
  deviceAddr = 0;
  /** Negotiated features (set by the transport at FEATURES_OK). */
  eventIdx = false;
  indirect = false;

  private readyFlag = false;
  private desc32: Uint32Array = EMPTY32;
  private desc16: Uint16Array = EMPTY16;
  private avail16: Uint16Array = EMPTY16;
  private used16: Uint16Array = EMPTY16;
  private used32: Uint32Array = EMPTY32;
  private mask = 0;
  private lastAvail = 0;
  private usedIdx = 0;
  private signalledUsed = 0;
  private pendingUsed = 0;
  private notificationsOff = false;

  private readonly translator: DmaTranslator;
  private readonly span = new DmaSpan();
  private readonly indirectBytes = new Uint8Array(MAX_CHAIN_SEGMENTS * 16);
  private readonly indirect32 = new Uint32Array(this.indirectBytes.buffer);
  private readonly indirect16 = new Uint16Array(this.indirectBytes.buffer);

  constructor(
    readonly index: number,
    readonly maxSize: number,
    private readonly memory: GuestMemory,
    translator?: DmaTranslator,
  ) {
    if (!(maxSize >= 1 && maxSize <= VIRTQ_MAX_SIZE && (maxSize & (maxSize - 1)) === 0))
      throw new RangeError(`queue max size ${maxSize} is not a power of two in 1..32768`);
    this.size = maxSize;
    this.translator = translator ?? new GuestMemoryTranslator(memory);
  }

  get ready(): boolean {
    return this.readyFlag;
  }

  /** Driver-visible counters (tests, debugging). */
  get lastAvailIndex(): number {
    return this.lastAvail;
  }
  get usedIndex(): number {
    return this.usedIdx;
  }

  /**
   * Validates the configuration and makes the queue live (QueueReady = 1).
   * Returns null, or why the driver's setup is unusable.
   */
  activate(): string | null {
    const n = this.size;
    if (!(n >= 1 && n <= this.maxSize && (n & (n - 1)) === 0)) return `queue size ${n} is not a power of two in 1..${this.maxSize}`;
    if (this.descAddr % 16 !== 0) return 'descriptor table not 16-byte aligned';
    if (this.driverAddr % 2 !== 0) return 'available ring not 2-byte aligned';
    if (this.deviceAddr % 4 !== 0) return 'used ring not 4-byte aligned';
    const desc = this.ramView(this.descAddr, 16 * n);
    const avail = this.ramView(this.driverAddr, 6 + 2 * n);
    const used = this.ramView(this.deviceAddr, 6 + 8 * n);
    if (!desc) return 'descriptor table is not inside guest RAM';
    if (!avail) return 'available ring is not inside guest RAM';
    if (!used) return 'used ring is not inside guest RAM';
    this.desc32 = new Uint32Array(desc.buffer, desc.byteOffset, 4 * n);
    this.desc16 = new Uint16Array(desc.buffer, desc.byteOffset, 8 * n);
    this.avail16 = new Uint16Array(avail.buffer, avail.byteOffset, 3 + n);
    // the used ring is 6 + 8n bytes; views stop at a 4-byte multiple below its end
    this.used16 = new Uint16Array(used.buffer, used.byteOffset, 3 + 4 * n);
    this.used32 = new Uint32Array(used.buffer, used.byteOffset, 1 + 2 * n);
    this.mask = n - 1;
    // A fresh queue starts at index 0 on both sides (the driver zeroed the rings).
    this.lastAvail = 0;
    this.usedIdx = 0;
    Atomics.store(this.used16, 1, 0);
    this.signalledUsed = 0;
    this.pendingUsed = 0;
    this.notificationsOff = false;
    this.readyFlag = true;
    return null;
  }

  /** QueueReady = 0: stop using the rings, keep the configuration. */
  deactivate(): void {
    this.readyFlag = false;
    this.pendingUsed = 0;
  }

  /** Back to the reset state (QueueReady = 0, addresses cleared). */
  reset(): void {
    this.readyFlag = false;
    this.size = this.maxSize;
    this.descAddr = 0;
    this.driverAddr = 0;
    this.deviceAddr = 0;
    this.eventIdx = false;
    this.indirect = false;
    this.desc32 = EMPTY32;
    this.desc16 = EMPTY16;
    this.avail16 = EMPTY16;
    this.used16 = EMPTY16;
    this.used32 = EMPTY32;
    this.lastAvail = 0;
    this.usedIdx = 0;
    this.signalledUsed = 0;
    this.pendingUsed = 0;
  }

  /** Chains the driver has made available and the device has not popped. */
  get available(): number {
    if (!this.readyFlag) return 0;
    return (Atomics.load(this.avail16, 1) - this.lastAvail) & 0xffff;
  }

  /** Pops the next available chain into `chain`. */
  pop(chain: DescriptorChain): PopResult {
    if (!this.readyFlag) return PopResult.Empty;
    const availIdx = Atomics.load(this.avail16, 1); // acquire
    const pending = (availIdx - this.lastAvail) & 0xffff;
    if (pending === 0) return PopResult.Empty;
    if (pending > this.size) {
      chain.reset(0);
      chain.error = ChainError.AvailIndex;
      return PopResult.Broken;
    }
    const head = this.avail16[2 + (this.lastAvail & this.mask)];
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    return this.walk(head, chain);
  }

  private walk(head: number, chain: DescriptorChain): PopResult {
    chain.reset(head);
    if (head >= this.size) return this.broken(chain, ChainError.HeadIndex);
    let t32 = this.desc32;
    let t16 = this.desc16;
    let tableSize = this.size;
    let inIndirect = false;
    let idx = head;
    let visited = 0;
    let sawWritable = false;
    let total = 0;
    const cap = chain.capacity;
    for (;;) {
      if (++visited > tableSize) return this.broken(chain, ChainError.Loop);
      const w = idx * 4;
      const lo = t32[w];
      const hi = t32[w + 1];
      const len = t32[w + 2];
      const flags = t16[idx * 8 + 6];
      const next = t16[idx * 8 + 7];
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        if (!this.indirect) return this.broken(chain, ChainError.IndirectNotNegotiated);
        if (inIndirect) return this.broken(chain, ChainError.NestedIndirect);
        if (flags & VIRTQ_DESC_F_NEXT) return this.broken(chain, ChainError.IndirectWithNext);
        if (len === 0 || len % 16 !== 0) return this.broken(chain, ChainError.IndirectLength);
        const n = len / 16;
        if (n > MAX_CHAIN_SEGMENTS) return this.broken(chain, ChainError.IndirectTooLarge);
        if (hi >= HIGH_LIMIT || !this.copyIn(lo + hi * TWO32, len)) return this.broken(chain, ChainError.IndirectAddress);
        t32 = this.indirect32;
        t16 = this.indirect16;
        tableSize = n;
        inIndirect = true;
        idx = 0;
        visited = 0;
        continue;
      }
      const writable = (flags & VIRTQ_DESC_F_WRITE) !== 0;
      if (writable) {
        if (!sawWritable) {
          sawWritable = true;
          chain.firstWritable = chain.count;
        }
      } else if (sawWritable) return this.broken(chain, ChainError.Order);
      if (chain.count >= cap) return this.broken(chain, ChainError.TooManySegments);
      const i = chain.count++;
      let addr: number;
      if (hi >= HIGH_LIMIT) {
        addr = 2 ** 53; // beyond anything the DMA layer accepts
        if (len > 0 && chain.error === ChainError.None) chain.error = ChainError.BadAddress;
      } else {
        addr = lo + hi * TWO32;
        if (len > 0 && chain.error === ChainError.None && !this.accessible(addr, len, writable)) chain.error = ChainError.BadAddress;
      }
      chain.addr[i] = addr;
      chain.len[i] = len;
      chain.writable[i] = writable ? 1 : 0;
      if (writable) chain.writableBytes += len;
      else chain.readableBytes += len;
      total += len;
      if (!(flags & VIRTQ_DESC_F_NEXT)) break;
      if (next >= tableSize) return this.broken(chain, ChainError.NextIndex);
      idx = next;
    }
    if (!sawWritable) chain.firstWritable = chain.count;
    if (total > TWO32 && chain.error === ChainError.None) chain.error = ChainError.TooLarge;
    return PopResult.Chain;
  }

  private broken(chain: DescriptorChain, e: ChainError): PopResult {
    chain.error = e;
    return PopResult.Broken;
  }

  /** Whether [addr, addr+len) is all accessible through the translator. */
  private accessible(addr: number, len: number, writable: boolean): boolean {
    const access = writable ? DmaAccess.Write : DmaAccess.Read;
    let a = addr;
    let left = len;
    while (left > 0) {
      const k = this.translator.translate(a, left, access, this.span);
      const n = this.span.length;
      if (k === SpanKind.Fault || !(n > 0) || n > left) return false;
      a += n;
      left -= n;
    }
    return true;
  }

  /** Copies an indirect table into the private scratch buffer (RAM only, may span adjacent regions). */
  private copyIn(addr: number, len: number): boolean {
    let done = 0;
    while (done < len) {
      const r = this.memory.regionAt(addr + done);
      if (r === undefined) return false;
      const off = addr + done - r.gpa;
      const n = Math.min(len - done, r.size - off);
      this.indirectBytes.set(r.bytes.subarray(off, off + n), done);
      done += n;
    }
    return true;
  }

  /**
   * Gives back the last `count` popped chains, not yet used: the next pops
   * return them again (a device that took more buffers than a frame needed).
   */
  unpop(count: number): void {
    this.lastAvail = (this.lastAvail - count) & 0xffff;
  }

  /** Queues a used element (published by publishUsed). `len`: bytes written into the chain. */
  pushUsed(head: number, len: number): void {
    if (!this.readyFlag) return;
    const i = this.usedIdx & this.mask;
    this.used32[1 + 2 * i] = head;
    this.used32[2 + 2 * i] = len >>> 0;
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    this.pendingUsed++;
  }

  /** Makes queued used elements visible to the driver (release). */
  publishUsed(): void {
    if (this.pendingUsed === 0 || !this.readyFlag) return;
    this.pendingUsed = 0;
    Atomics.store(this.used16, 1, this.usedIdx);
  }

  /**
   * Before publishUsed(), without EVENT_IDX: whether what is about to be
   * published will need a notification (the driver's NO_INTERRUPT flag alone
   * decides). False with EVENT_IDX, where only the new index can tell.
   */
  notificationKnownBeforePublish(): boolean {
    if (!this.readyFlag || this.pendingUsed === 0 || this.eventIdx) return false;
    return (Atomics.load(this.avail16, 0) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /**
   * After publishUsed(): whether the driver wants a used-buffer notification
   * for what was published since the last time this returned (§2.7.7/2.7.10).
   */
  needsNotification(): boolean {
    if (!this.readyFlag) return false;
    const now = this.usedIdx;
    const old = this.signalledUsed;
    if (now === old) return false;
    this.signalledUsed = now;
    if (this.eventIdx) {
      const usedEvent = Atomics.load(this.avail16, 2 + this.size);
      // vring_need_event(): did idx pass used_event + 1 since the last notification?
      return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
    }
    return (Atomics.load(this.avail16, 0) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** Asks the driver not to notify while the device is busy processing. */
  disableNotifications(): void {
    if (!this.readyFlag || this.notificationsOff) return;
    this.notificationsOff = true;
    // With EVENT_IDX avail_event simply stays behind: the driver notifies at
    // most once more, when it passes it.
    if (!this.eventIdx) Atomics.store(this.used16, 0, VIRTQ_USED_F_NO_NOTIFY);
  }

  /**
   * Asks for notifications again; returns true when more chains arrived
   * meanwhile (the caller must keep processing: the driver may not notify).
   */
  enableNotifications(): boolean {
    if (!this.readyFlag) return false;
    this.notificationsOff = false;
    if (this.eventIdx) Atomics.store(this.used16, 2 + 4 * this.size, this.lastAvail);
    else Atomics.store(this.used16, 0, 0);
    return Atomics.load(this.avail16, 1) !== this.lastAvail;
  }

  /** A Uint8Array over [gpa, gpa+len) when it lies in one RAM region. */
  private ramView(gpa: number, len: number): Uint8Array | undefined {
    if (!Number.isSafeInteger(gpa) || gpa < 0) return undefined;
    return this.memory.view(gpa, len);
  }
}

const EMPTY32 = new Uint32Array(0);
const EMPTY16 = new Uint16Array(0);
