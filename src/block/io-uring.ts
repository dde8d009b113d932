// A minimal io_uring driven through raw system calls: io_uring_setup, mmap of
// the submission/completion rings and the SQE array, io_uring_enter to submit.
// Completions are reaped straight from the shared completion ring in user
// space (no io_getevents-style system call), the io_uring counterpart of the
// Linux AIO trick in shared/seeds/003.
//
// Memory ordering. The rings are shared with the kernel, which may run on
// another CPU. Ring indices are read and written with Atomics on an
// Uint32Array over the mapping: Atomics operations are sequentially consistent
// (V8 emits a locked/xchg store or an mfence-free load on x86, and never moves
// ordinary loads/stores across them). So:
//   * SQE fields (plain stores) are written before Atomics.store(sq.tail):
//     the kernel's smp_load_acquire(tail) sees complete SQEs (release/acquire);
//   * Atomics.load(cq.tail) happens before the CQE reads (acquire), and
//     Atomics.store(cq.head) after them (release): the kernel does not reuse a
//     CQE slot we are still reading.
// x86-64 is TSO, so the hardware adds no reordering the above does not cover.
//
// Restriction. Requests in a ring are not seen by seccomp, so a ring that
// accepted any opcode would let a compromised process open files or sockets
// the filter forbids as system calls. A ring made with `disabled` starts
// IORING_SETUP_R_DISABLED; `restrict()` then registers
// IORING_REGISTER_RESTRICTIONS (the only SQE opcodes and io_uring_register
// operations the ring will ever accept) and enables it. This happens before
// the jail; afterwards the filter allows io_uring_enter only (no
// io_uring_setup, no io_uring_register), so no unrestricted ring can be made
// and no restriction lifted.
import {
  IORING_CQ_EVENTFD_DISABLED,
  IORING_ENTER_GETEVENTS,
  IORING_FEAT_SINGLE_MMAP,
  IORING_OFF_CQ_RING,
  IORING_OFF_SQES,
  IORING_OFF_SQ_RING,
  IORING_REGISTER_EVENTFD,
  IORING_REGISTER_ENABLE_RINGS,
  IORING_REGISTER_EVENTFD_ASYNC,
  IORING_REGISTER_PROBE,
  IORING_REGISTER_RESTRICTIONS,
  IORING_RESTRICTION_REGISTER_OP,
  IORING_RESTRICTION_SQE_OP,
  IORING_SETUP_CLAMP,
  IORING_SETUP_R_DISABLED,
  IORING_OP_SPLICE,
  IORING_UNREGISTER_EVENTFD,
  MAP_POPULATE,
  ioUringEnter,
  ioUringParamsLayout,
  ioUringRestrictionLayout,
  ioUringRegister,
  ioUringSetup,
  lastErrno,
} from '../../ffi/block-io.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE, close, mmap, munmap, viewAt } from '../../ffi/libc.js';
import { HostBuffer } from '../memory/dma-host-buffer.js';

const TWO32 = 0x1_0000_0000;
const MMAP_FAILED_MIN = 2 ** 64 - 4096;

/** Receives completions from IoUring.reap (an object, so reaping allocates nothing). */
export interface CqeHandler {
  cqe(userData: number, res: number, flags: number): void;
}

export class IoUring {
  readonly fd: number;
  readonly sqEntries: number;
  readonly cqEntries: number;
  readonly features: number;

  private readonly sqRingAddr: number;
  private readonly sqRingSize: number;
  private readonly cqRingAddr: number;
  private readonly cqRingSize: number;
  private readonly sqesAddr: number;
  private readonly sqesSize: number;

  private readonly sq: Uint32Array;
  private readonly sqHeadIdx: number;
  private readonly sqTailIdx: number;
  private readonly sqMask: number;
  private readonly sqFlagsIdx: number;
  private readonly cq: Uint32Array;
  private readonly cqI32: Int32Array;
  private readonly cqHeadIdx: number;
  private readonly cqTailIdx: number;
  private readonly cqMask: number;
  private readonly cqesIdx: number;
  /** Index of cq_ring->flags, or -1 before Linux 5.8 (no such field). */
  private readonly cqFlagsIdx: number;
  private readonly sqes: Uint32Array;

  /** Our copy of the SQ tail (published with Atomics.store). */
  private sqTail = 0;
  /** SQEs published but not yet passed to io_uring_enter. */
  private toSubmit = 0;
  private closed = false;
  /** io_uring_enter calls made (statistics). */
  enterCalls = 0;

  /** Restrictions registered and the ring enabled (`restrict()`). */
  private restricted = false;

  /**
   * Sets up a ring with `entries` SQEs; returns -errno when io_uring is
   * unavailable. `disabled`: the ring accepts no submission until `restrict()`
   * (EINVAL before Linux 5.10, which has no restrictions).
   */
  static create(entries: number, options: { disabled?: boolean } = {}): IoUring | number {
    const params = new HostBuffer(4096);
    try {
      const p = new Uint32Array(params.bytes.buffer, 0, ioUringParamsLayout.size / 4);
      p[ioUringParamsLayout.offsets.flags / 4] = IORING_SETUP_CLAMP | (options.disabled ? IORING_SETUP_R_DISABLED : 0);
      const fd = ioUringSetup(entries, params.address);
      if (fd < 0) return -lastErrno();
      try {
        return new IoUring(fd, p.slice());
      } catch (e) {
        close(fd);
        if (e instanceof IoUringMapError) return -e.errno;
        throw e;
      }
    } finally {
      params.release();
    }
  }

  private constructor(fd: number, p: Uint32Array) {
    const L = ioUringParamsLayout;
    this.fd = fd;
    this.sqEntries = p[L.offsets.sq_entries / 4];
    this.cqEntries = p[L.offsets.cq_entries / 4];
    this.features = p[L.offsets.features / 4];
    const sqOff = (k: keyof typeof L.sqOff) => p[(L.offsets.sq_off + L.sqOff[k]) / 4];
    const cqOff = (k: keyof typeof L.cqOff) => p[(L.offsets.cq_off + L.cqOff[k]) / 4];
    const sqSize = sqOff('array') + this.sqEntries * 4;
    const cqSize = cqOff('cqes') + this.cqEntries * 16;
    const prot = PROT_READ | PROT_WRITE;
    const flags = MAP_SHARED | MAP_POPULATE;
    const mapOrThrow = (len: number, off: number): number => {
      const a = mmap(0, len, prot, flags, fd, off) as number;
      if (a >= MMAP_FAILED_MIN) throw new IoUringMapError(lastErrno());
      return a;
    };
    if (this.features & IORING_FEAT_SINGLE_MMAP) {
      const size = Math.max(sqSize, cqSize);
      this.sqRingAddr = mapOrThrow(size, IORING_OFF_SQ_RING);
      this.sqRingSize = size;
      this.cqRingAddr = this.sqRingAddr;
      this.cqRingSize = 0; // shared with the SQ mapping
    } else {
      this.sqRingAddr = mapOrThrow(sqSize, IORING_OFF_SQ_RING);
      this.sqRingSize = sqSize;
      try {
        this.cqRingAddr = mapOrThrow(cqSize, IORING_OFF_CQ_RING);
      } catch (e) {
        munmap(this.sqRingAddr, sqSize);
        throw e;
      }
      this.cqRingSize = cqSize;
    }
    this.sqesSize = this.sqEntries * 64;
    try {
      this.sqesAddr = mapOrThrow(this.sqesSize, IORING_OFF_SQES);
    } catch (e) {
      munmap(this.sqRingAddr, this.sqRingSize);
      if (this.cqRingSize) munmap(this.cqRingAddr, this.cqRingSize);
      throw e;
    }
    this.sq = new Uint32Array(viewAt(this.sqRingAddr, sqSize));
    this.cq = new Uint32Array(viewAt(this.cqRingAddr, cqSize));
    this.cqI32 = new Int32Array(this.cq.buffer, this.cq.byteOffset, this.cq.length);
    this.sqes = new Uint32Array(viewAt(this.sqesAddr, this.sqesSize));
    this.sqHeadIdx = sqOff('head') / 4;
    this.sqTailIdx = sqOff('tail') / 4;
    this.sqFlagsIdx = sqOff('flags') / 4;
    this.sqMask = this.sq[sqOff('ring_mask') / 4];
    this.cqHeadIdx = cqOff('head') / 4;
    this.cqTailIdx = cqOff('tail') / 4;
    this.cqMask = this.cq[cqOff('ring_mask') / 4];
    this.cqesIdx = cqOff('cqes') / 4;
    this.cqFlagsIdx = cqOff('flags') === 0 ? -1 : cqOff('flags') / 4;
    // SQE i always sits in ring slot i: fill the indirection array once.
    const arrayIdx = sqOff('array') / 4;
    for (let i = 0; i < this.sqEntries; i++) this.sq[arrayIdx + i] = i;
    this.sqTail = Atomics.load(this.sq, this.sqTailIdx);
  }

  /** Free SQ slots. */
  get sqSpace(): number {
    return this.sqEntries - ((this.sqTail - Atomics.load(this.sq, this.sqHeadIdx)) >>> 0);
  }

  /** SQEs published and not yet handed to the kernel. */
  get unsubmitted(): number {
    return this.toSubmit;
  }

  /** SQ ring flags (IORING_SQ_CQ_OVERFLOW, ...). */
  get sqFlags(): number {
    return Atomics.load(this.sq, this.sqFlagsIdx);
  }

  /**
   * Queues one SQE; false when the submission ring is full. `addr`, `off`:
   * numbers < 2^53; `userData`: a 32-bit tag; `sqeFlags`: IOSQE_*.
   */
  prep(opcode: number, fd: number, off: number, addr: number, len: number, opFlags: number, userData: number, sqeFlags = 0): boolean {
    const w = this.nextSqe();
    if (w < 0) return false;
    this.writeSqe(w, opcode, fd, off, addr, len, opFlags, userData, sqeFlags);
    this.publish();
    return true;
  }

  /**
   * Queues one IORING_OP_SPLICE: `len` bytes from `fdIn` at `offIn` to
   * `fdOut` at `offOut`, an offset of -1 standing for a pipe's (which has
   * none). False when the submission ring is full.
   */
  prepSplice(fdIn: number, offIn: number, fdOut: number, offOut: number, len: number, userData: number, sqeFlags = 0): boolean {
    const w = this.nextSqe();
    if (w < 0) return false;
    this.writeSqe(w, IORING_OP_SPLICE, fdOut, Math.max(offOut, 0), Math.max(offIn, 0), len, 0, userData, sqeFlags);
    const s = this.sqes;
    if (offOut < 0) s[w + 2] = s[w + 3] = 0xffffffff; // off: -1
    if (offIn < 0) s[w + 4] = s[w + 5] = 0xffffffff; // splice_off_in: -1
    s[w + 11] = fdIn >>> 0; // splice_fd_in
    this.publish();
    return true;
  }

  /** The free SQE's index in `sqes` (in 32-bit words), or -1 when the ring is full. */
  private nextSqe(): number {
    const tail = this.sqTail;
    if (((tail - Atomics.load(this.sq, this.sqHeadIdx)) >>> 0) >= this.sqEntries) return -1;
    return ((tail & this.sqMask) * 16) | 0;
  }

  private writeSqe(w: number, opcode: number, fd: number, off: number, addr: number, len: number, opFlags: number, userData: number, sqeFlags: number): void {
    const s = this.sqes;
    s[w] = (opcode & 0xff) | ((sqeFlags & 0xff) << 8); // opcode, flags, ioprio = 0
    s[w + 1] = fd >>> 0;
    s[w + 2] = off % TWO32;
    s[w + 3] = Math.floor(off / TWO32);
    s[w + 4] = addr % TWO32;
    s[w + 5] = Math.floor(addr / TWO32);
    s[w + 6] = len >>> 0;
    s[w + 7] = opFlags >>> 0;
    s[w + 8] = userData >>> 0;
    s[w + 9] = 0;
    s[w + 10] = 0; // buf_index, personality
    s[w + 11] = 0; // splice_fd_in / file_index
    s[w + 12] = 0;
    s[w + 13] = 0;
    s[w + 14] = 0;
    s[w + 15] = 0;
  }

  private publish(): void {
    this.sqTail = (this.sqTail + 1) >>> 0;
    Atomics.store(this.sq, this.sqTailIdx, this.sqTail); // release: SQE complete before the tail moves
    this.toSubmit++;
  }

  /**
   * Hands queued SQEs to the kernel (one system call for the whole batch).
   * With `waitFor` > 0 also waits for that many completions. Returns the number
   * of SQEs consumed or -errno.
   */
  enter(waitFor = 0): number {
    if (this.toSubmit === 0 && waitFor === 0) return 0;
    this.enterCalls++;
    const r = ioUringEnter(this.fd, this.toSubmit, waitFor, waitFor > 0 ? IORING_ENTER_GETEVENTS : 0);
    if (r < 0) return -lastErrno();
    this.toSubmit -= Math.min(r, this.toSubmit);
    return r;
  }

  /**
   * Submits like enter(0) with the registered eventfd quiet: a request the
   * kernel completes during the call (a read from the page cache) would
   * otherwise signal it, and the caller, which reaps right after, would wake
   * once more for nothing. The flag is cleared before returning, so the
   * caller's reap, which follows (Atomics: the clear is ordered before the
   * tail is read), sees every completion the eventfd did not announce.
   * Without cq_ring->flags (before 5.8) it is enter(0).
   */
  submitQuietly(): number {
    if (this.cqFlagsIdx < 0) return this.enter(0);
    const flags = this.cq[this.cqFlagsIdx];
    Atomics.store(this.cq, this.cqFlagsIdx, flags | IORING_CQ_EVENTFD_DISABLED);
    try {
      return this.enter(0);
    } finally {
      Atomics.store(this.cq, this.cqFlagsIdx, flags & ~IORING_CQ_EVENTFD_DISABLED);
    }
  }

  /** Completions waiting in the CQ ring (no system call). */
  get ready(): number {
    return (Atomics.load(this.cq, this.cqTailIdx) - this.cq[this.cqHeadIdx]) >>> 0;
  }

  /** Consumes every CQE in the ring, in user space; returns how many. */
  reap(handler: CqeHandler): number {
    const cq = this.cq;
    let head = cq[this.cqHeadIdx];
    let n = 0;
    for (;;) {
      const tail = Atomics.load(cq, this.cqTailIdx); // acquire
      if (head === tail) break;
      while (head !== tail) {
        const i = this.cqesIdx + (head & this.cqMask) * 4;
        const userData = cq[i]; // low 32 bits; the high half is always 0 here
        const res = this.cqI32[i + 2];
        const flags = cq[i + 3];
        head = (head + 1) >>> 0;
        n++;
        handler.cqe(userData, res, flags);
      }
      Atomics.store(cq, this.cqHeadIdx, head); // release the slots
    }
    return n;
  }

  /** Unpublishes SQEs the kernel has not consumed (after a fatal enter error); calls back with their user data. */
  cancelUnsubmitted(each: (userData: number) => void): void {
    const head = Atomics.load(this.sq, this.sqHeadIdx);
    for (let t = head; t !== this.sqTail; t = (t + 1) >>> 0) each(this.sqes[(t & this.sqMask) * 16 + 8]);
    this.sqTail = head;
    Atomics.store(this.sq, this.sqTailIdx, head);
    this.toSubmit = 0;
  }

  /** Signals `eventfd` on completions; `asyncOnly`: not for those completed inline during submission. */
  registerEventfd(eventfd: number, asyncOnly: boolean): number {
    const b = new Int32Array([eventfd]);
    const hb = new HostBuffer(4096);
    try {
      new Int32Array(hb.bytes.buffer, 0, 1).set(b);
      const r = ioUringRegister(this.fd, asyncOnly ? IORING_REGISTER_EVENTFD_ASYNC : IORING_REGISTER_EVENTFD, hb.address, 1);
      return r < 0 ? -lastErrno() : 0;
    } finally {
      hb.release();
    }
  }

  unregisterEventfd(): void {
    ioUringRegister(this.fd, IORING_UNREGISTER_EVENTFD, 0, 0);
  }

  /**
   * On a ring created `disabled`: from now on it accepts only SQEs whose
   * opcode is in `sqeOps` (others complete with -EACCES), with no SQE flags,
   * and only the io_uring_register operations in `registerOps` (others fail
   * with EACCES); then enables it. Once only: the kernel refuses a second set
   * (EBUSY). Returns 0 or -errno.
   */
  restrict(sqeOps: readonly number[], registerOps: readonly number[] = []): number {
    const L = ioUringRestrictionLayout;
    const n = sqeOps.length + registerOps.length;
    const hb = new HostBuffer(Math.max(4096, n * L.size));
    try {
      const b = hb.bytes;
      b.fill(0, 0, n * L.size);
      let i = 0;
      const put = (kind: number, op: number) => {
        const at = i++ * L.size;
        b[at + L.offsets.opcode] = kind & 0xff;
        b[at + L.offsets.opcode + 1] = kind >> 8;
        b[at + L.offsets.sqe_op] = op;
      };
      for (const op of sqeOps) put(IORING_RESTRICTION_SQE_OP, op);
      for (const op of registerOps) put(IORING_RESTRICTION_REGISTER_OP, op);
      if (ioUringRegister(this.fd, IORING_REGISTER_RESTRICTIONS, hb.address, n) < 0) return -lastErrno();
      if (ioUringRegister(this.fd, IORING_REGISTER_ENABLE_RINGS, 0, 0) < 0) return -lastErrno();
      this.restricted = true;
      return 0;
    } finally {
      hb.release();
    }
  }

  /** Whether `restrict()` has locked the ring down. */
  get isRestricted(): boolean {
    return this.restricted;
  }

  /** Which opcodes the kernel supports (IORING_REGISTER_PROBE, 5.6+); null when the probe itself is unsupported. */
  supportedOps(): Set<number> | null {
    const hb = new HostBuffer(4096);
    try {
      const r = ioUringRegister(this.fd, IORING_REGISTER_PROBE, hb.address, 256);
      if (r < 0) return null;
      const lastOp = hb.bytes[0];
      const opsLen = hb.bytes[1];
      const ops = new Set<number>();
      for (let i = 0; i < opsLen && i <= lastOp; i++) {
        const base = 16 + i * 8;
        const flags = hb.bytes[base + 2] | (hb.bytes[base + 3] << 8);
        if (flags & 1) ops.add(hb.bytes[base]);
      }
      return ops;
    } finally {
      hb.release();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    munmap(this.sqesAddr, this.sqesSize);
    munmap(this.sqRingAddr, this.sqRingSize);
    if (this.cqRingSize) munmap(this.cqRingAddr, this.cqRingSize);
    close(this.fd);
  }
}

class IoUringMapError extends Error {
  constructor(readonly errno: number) {
    super(`io_uring mmap failed: errno ${errno}`);
  }
}
