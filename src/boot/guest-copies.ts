// Copies from the kernel's and the initrd's files into guest RAM that the
// kernel's io_uring workers make while the helper goes on building the VM
// (its vCPUs, devices and the vCPU's thread): the loader queues a vmlinux's
// segments and the initrd here instead of copying them on the way, and the
// helper waits for them only before it jails itself. In the nested L1 the
// default guest's 12 MB took 130-400 ms of the helper's path to the guest's
// first instruction, ~300 ms into a memfd (docs/host-kvm.md, "The kernel's
// copy off the helper's path").
//
// Into anonymous RAM, a read into the mapping; so too into shared RAM (that
// device processes map too) on huge pages, where the read faults in a 2 MiB
// page per 2 MiB. Into a shared memfd, what sendfile does, in two splices per
// chunk: the file's pages into a pipe, the pipe into the memfd. A read
// through the helper's mapping would instead fault each 4 KiB page of shmem
// in (GuestMemory.spliceTarget).
//
// The requests are linked (IOSQE_IO_LINK), so one worker does them in order,
// beside the helper's thread rather than against it, and the pipe holds one
// chunk at a time; IOSQE_ASYNC keeps io_uring_enter from doing page-cache
// reads inline, which would be no overlap at all. Whatever a request did not
// complete (an error, a short read or splice, which also cancels the rest of
// the chain) is copied again synchronously by finish(), which so reports a
// file that shrank exactly as a synchronous load does. A chain is never
// continued once the ring is full: the rest is copied by finish(), so no two
// chains share the pipe. Where the host has no io_uring for us (none, or
// refused), each copy is made at once.
import { EINTR, O_CLOEXEC, close, fcntl, pipe2 } from '../../ffi/libc.js';
import { F_SETPIPE_SZ, F_GETPIPE_SZ, IORING_OP_READ, IOSQE_ASYNC, IOSQE_IO_LINK } from '../../ffi/block-io.js';
import { IoUring, type CqeHandler } from '../block/io-uring.js';
import { BootError } from './boot-error.js';

/** The most one read asks for (an SQE's length is 32 bits). */
const MAX_READ = 1 << 30;
/** The pipe's capacity asked for (Linux's default limit for an unprivileged process, pipe-max-size). */
const PIPE_BYTES = 1 << 20;
/** SQEs in the ring: the default guest's image is 5 reads, or 13 chunks of two splices. */
const RING_ENTRIES = 64;
const LINKED = IOSQE_ASYNC | IOSQE_IO_LINK;
/** Marks the first splice of a chunk (file to pipe) in its tag: only the second one's result counts. */
const INTO_PIPE = 0x8000_0000;

interface Copy {
  readonly length: number;
  /** Bytes the kernel has copied. */
  done: number;
  /** Copies the bytes from `done` on, synchronously (and reports a file that ended early). */
  readonly rest: (done: number) => void;
}

/** What finish() found: for the debug log, and the tests. */
export interface GuestCopiesReport {
  /** Requests: reads, and chunks of two splices. */
  requests: number;
  /** Bytes the kernel's workers copied. */
  byWorkers: number;
  /** Bytes finish() copied itself, because a request left them. */
  afterwards: number;
}

export class GuestCopies implements CqeHandler {
  private readonly copies: Copy[] = [];
  /** SQEs queued or submitted and not yet completed. */
  private inFlight = 0;
  /** Made at the first copy (a real-mode payload has none); null where the host has none for us, or once finished. */
  private ring: IoUring | null | undefined;
  /** [read end, write end, capacity], made at the first splice; null where none could be. */
  private pipe: readonly [number, number, number] | null | undefined;
  /** The ring filled, or its chain went: what comes later waits for finish(), so that there is one chain. */
  private full = false;

  /**
   * Queues a copy of `length` bytes at `fileOffset` of `fd` to `address`
   * (anonymous guest RAM this process maps; the caller checked both ranges).
   * `rest` copies synchronously from a byte count on, for what the kernel
   * leaves.
   */
  read(fd: number, fileOffset: number, address: number, length: number, rest: (done: number) => void): void {
    const ring = this.openRing();
    if (!ring) return rest(0);
    for (let at = 0; at < length; at += MAX_READ) {
      const part = Math.min(MAX_READ, length - at);
      const tag = this.add(part, (done) => rest(at + done));
      if (!this.full && ring.prep(IORING_OP_READ, fd, fileOffset + at, address + at, part, 0, tag, LINKED)) this.inFlight++;
      else this.full = true;
    }
  }

  /**
   * Queues a copy of `length` bytes at `fileOffset` of `fd` into the memfd
   * `memfd` at `memfdOffset` (guest RAM shared with device processes), as
   * sendfile would make it. `rest` as for read().
   */
  splice(fd: number, fileOffset: number, memfd: number, memfdOffset: number, length: number, rest: (done: number) => void): void {
    const ring = this.openRing();
    const pipe = ring ? this.openPipe() : null;
    if (!ring || !pipe) return rest(0);
    const [pipeOut, pipeIn, chunk] = pipe;
    for (let at = 0; at < length; at += chunk) {
      const part = Math.min(chunk, length - at);
      const tag = this.add(part, (done) => rest(at + done));
      if (this.full || ring.sqSpace < 2) {
        this.full = true;
        continue;
      }
      ring.prepSplice(fd, fileOffset + at, pipeIn, -1, part, tag | INTO_PIPE, LINKED);
      ring.prepSplice(pipeOut, -1, memfd, memfdOffset + at, part, tag, LINKED);
      this.inFlight += 2;
    }
  }

  /**
   * Hands the queued requests to the kernel's workers, as one chain. The
   * load calls it once it has queued everything; copies queued later wait
   * for finish(), as would a second chain.
   */
  submit(): void {
    const ring = this.ring;
    if (!ring || ring.unsubmitted === 0) return;
    this.full = true;
    // What the kernel did not take never reaches memory: finish() copies it.
    if (ring.enter(0) < 0 || ring.unsubmitted > 0) ring.cancelUnsubmitted(() => this.inFlight--);
  }

  /** Waits for every request, copies what they left, and closes the ring and pipe. Throws a BootError for a file that ended early. */
  finish(): GuestCopiesReport {
    const ring = this.ring;
    try {
      if (ring) {
        this.submit();
        while (this.inFlight > 0) {
          const r = ring.enter(this.inFlight);
          if (r < 0 && r !== -EINTR) throw new BootError(`waiting for the kernel's copy of the guest's image failed (errno ${-r})`);
          ring.reap(this);
        }
      }
    } finally {
      ring?.close();
      this.ring = null;
      if (this.pipe) this.pipe.slice(0, 2).forEach((fd) => close(fd));
      this.pipe = null;
    }
    const report: GuestCopiesReport = { requests: this.copies.length, byWorkers: 0, afterwards: 0 };
    for (const copy of this.copies.splice(0)) {
      report.byWorkers += copy.done;
      if (copy.done === copy.length) continue;
      copy.rest(copy.done);
      report.afterwards += copy.length - copy.done;
    }
    return report;
  }

  cqe(tag: number, res: number): void {
    this.inFlight--;
    if (tag & INTO_PIPE) return;
    // res: bytes copied, or -errno (-ECANCELED for a link an earlier request broke).
    const copy = this.copies[tag];
    if (copy !== undefined && res > 0) copy.done = Math.min(res, copy.length);
  }

  private add(length: number, rest: (done: number) => void): number {
    return this.copies.push({ length, done: 0, rest }) - 1;
  }

  private openRing(): IoUring | null {
    if (this.ring === undefined) {
      const ring = IoUring.create(RING_ENTRIES);
      this.ring = typeof ring === 'number' ? null : ring;
    }
    return this.ring;
  }

  private openPipe(): readonly [number, number, number] | null {
    if (this.pipe === undefined) {
      const fds = [0, 0];
      if (pipe2(fds, O_CLOEXEC) !== 0) this.pipe = null;
      else {
        fcntl(fds[0], F_SETPIPE_SZ, PIPE_BYTES); // refused: the default size, chunks just smaller
        const size = fcntl(fds[0], F_GETPIPE_SZ, 0) as number;
        this.pipe = size > 0 ? [fds[0], fds[1], size] : null;
        if (this.pipe === null) fds.forEach((fd) => close(fd));
      }
    }
    return this.pipe;
  }
}
