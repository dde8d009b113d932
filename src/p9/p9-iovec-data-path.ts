// A P9DataPath over iovec lists of host addresses (guest memory mapped into
// the device process): Tread data lands with one preadv, Twrite data leaves
// with one pwritev, never passing through a JS buffer. The transport sets the
// lists for each request from the descriptor chain it popped.
import os from 'node:os';
import { IOVEC_SIZE, IOV_MAX, lastErrno, preadv, pwritev } from '../../ffi/block-io.js';
import { HostBuffer } from '../memory/dma-host-buffer.js';
import { IoVecArray, type IoVecList } from '../memory/dma-iovec.js';
import type { P9DataPath } from './p9-data-path.js';

const { EINVAL } = os.constants.errno;

export class IoVecDataPath implements P9DataPath {
  /** Where Tread data goes: the guest's reply buffers after the 11-byte Rread header. */
  destination: IoVecList | undefined;
  /** Where Twrite data is: the guest's request buffers after the 23-byte Twrite header. */
  source: IoVecList | undefined;

  private readonly memory: HostBuffer;
  /** The list cut to exactly the bytes of one request (guest buffers may be larger). */
  private readonly cut: IoVecArray;

  constructor(capacity = IOV_MAX) {
    this.memory = new HostBuffer(capacity * IOVEC_SIZE);
    this.cut = new IoVecArray(this.memory.bytes, this.memory.address, capacity);
  }

  readInto(fd: number, offset: number, count: number): number {
    const iov = this.cutTo(this.destination, count, false);
    if (iov === undefined) return -EINVAL;
    const ret = preadv(fd, iov.address, iov.count, offset) as number;
    return ret < 0 ? -lastErrno() : ret;
  }

  writeFrom(fd: number, offset: number, count: number): number {
    const iov = this.cutTo(this.source, count, true);
    if (iov === undefined) return -EINVAL;
    const ret = pwritev(fd, iov.address, iov.count, offset) as number;
    return ret < 0 ? -lastErrno() : ret;
  }

  release(): void {
    this.memory.release();
  }

  /**
   * `list` limited to `count` bytes: itself when it holds no more, else a
   * copy cut short. Undefined when it has too few bytes and `exact`, or when
   * the copy would need more entries than fit (a list used as it is has its
   * entry count checked by the kernel: preadv and pwritev refuse more than
   * IOV_MAX with EINVAL, what this path answers then too).
   */
  private cutTo(list: IoVecList | undefined, count: number, exact: boolean): IoVecList | undefined {
    if (list === undefined) return undefined;
    if (list.length < count && exact) return undefined;
    // The usual case: the guest's buffers are the request's size (Linux sizes
    // a read by its buffer), so the list is used as it is, not copied entry
    // by entry (a zero-copy Tread of ~500 KiB has ~125 pages).
    if (list.length <= count) return list;
    this.cut.reset();
    if (!this.cut.appendFrom(list)) return undefined;
    this.cut.trimEnd(this.cut.length - count);
    return this.cut;
  }
}
