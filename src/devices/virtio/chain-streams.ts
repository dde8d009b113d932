// A descriptor chain seen as the two byte streams the virtio spec promises
// (§2.7.4, "Message Framing": a device must not assume where the driver cut
// its buffers): the device-readable bytes, then the device-writable ones.
// A ChainReader walks the first, a ChainWriter the second, each with a
// cursor. Small things (headers, status bytes, IDs) are copied through the
// DMA API; bulk data is handed on as scatter/gather entries (takeSegments),
// which the DmaMapper turns into iovecs into guest RAM: zero copy.
//
// One reader and one writer per device, reset for each chain: nothing here
// allocates.
import type { DmaSgList } from '../../memory/dma-sg-list.js';
import { DmaStatus } from '../../memory/dma-status.js';
import type { DmaAccess } from '../../memory/dma-translator.js';
import type { StructView } from './guest-struct.js';
import { DescriptorChain } from './virtqueue.js';

/** Copies between guest memory and host buffers (DmaMapper does). */
export interface GuestCopier {
  copyFromGuest(addr: number, dst: Uint8Array, offset?: number, length?: number): DmaStatus;
  copyToGuest(addr: number, src: Uint8Array, offset?: number, length?: number): DmaStatus;
}

abstract class ChainStream {
  protected chain = new DescriptorChain(0);
  /** Segment the cursor is in, and how far into it. */
  protected segment = 0;
  protected offsetInSegment = 0;
  protected end = 0;
  private left = 0;

  constructor(protected readonly copier: GuestCopier) {}

  /** Bytes between the cursor and the end of this stream. */
  get remaining(): number {
    return this.left;
  }

  /** Moves the cursor `n` bytes on; false (cursor unmoved) when fewer remain. */
  skip(n: number): boolean {
    if (n > this.left) return false;
    this.advance(n);
    return true;
  }

  /**
   * Appends the next `n` bytes to `sg` as guest address ranges and moves past
   * them; false when fewer remain or `sg` is full (then `sg` holds a part).
   */
  takeSegments(n: number, sg: DmaSgList, access: DmaAccess): boolean {
    if (n > this.left) return false;
    const { addr, len } = this.chain;
    while (n > 0) {
      const k = Math.min(len[this.segment] - this.offsetInSegment, n);
      if (k > 0 && !sg.push(addr[this.segment] + this.offsetInSegment, k, access)) return false;
      this.consume(k);
      n -= k;
    }
    return true;
  }

  protected start(chain: DescriptorChain, from: number, to: number, bytes: number): void {
    this.chain = chain;
    this.segment = from;
    this.offsetInSegment = 0;
    this.end = to;
    this.left = bytes;
  }

  /** Copies the next `n` bytes between the guest and buf[at...], in the stream's direction. */
  protected copy(buf: Uint8Array, at: number, n: number, toGuest: boolean): DmaStatus {
    if (n > this.left) return DmaStatus.BadLength;
    const { addr, len } = this.chain;
    let done = 0;
    while (done < n) {
      const k = Math.min(len[this.segment] - this.offsetInSegment, n - done);
      if (k > 0) {
        const guest = addr[this.segment] + this.offsetInSegment;
        const s = toGuest ? this.copier.copyToGuest(guest, buf, at + done, k) : this.copier.copyFromGuest(guest, buf, at + done, k);
        if (s !== DmaStatus.Ok) return s;
      }
      this.consume(k);
      done += k;
    }
    return DmaStatus.Ok;
  }

  private advance(n: number): void {
    const { len } = this.chain;
    while (n > 0) {
      const k = Math.min(len[this.segment] - this.offsetInSegment, n);
      this.consume(k);
      n -= k;
    }
  }

  /** Moves `k` bytes on (k ≤ what is left of the segment), stepping past finished segments. */
  private consume(k: number): void {
    this.offsetInSegment += k;
    this.left -= k;
    while (this.segment < this.end && this.offsetInSegment === this.chain.len[this.segment]) {
      this.segment++;
      this.offsetInSegment = 0;
    }
  }
}

/** The chain's device-readable bytes: what the driver sent. */
export class ChainReader extends ChainStream {
  reset(chain: DescriptorChain): this {
    this.start(chain, 0, chain.firstWritable, chain.readableBytes);
    return this;
  }

  /** Copies the next `n` bytes into dst[at...]. */
  read(dst: Uint8Array, n = dst.length, at = 0): DmaStatus {
    return this.copy(dst, at, n, false);
  }

  /** Fills a structure from the next bytes. */
  readStruct(view: StructView<string>): DmaStatus {
    return this.read(view.bytes, view.struct.size);
  }
}

/** The chain's device-writable bytes: where the device answers. */
export class ChainWriter extends ChainStream {
  /** Bytes written so far (the used ring's `len`). */
  written = 0;

  reset(chain: DescriptorChain): this {
    this.start(chain, chain.firstWritable, chain.count, chain.writableBytes);
    this.written = 0;
    return this;
  }

  /** Copies src[at, at+n) to the guest at the cursor. */
  write(src: Uint8Array, n = src.length, at = 0): DmaStatus {
    const s = this.copy(src, at, n, true);
    if (s === DmaStatus.Ok) this.written += n;
    return s;
  }

  /** Guest address of the stream's last byte (virtio-blk's status byte), or -1 when it is empty. */
  lastByteAddress(): number {
    const { addr, len } = this.chain;
    for (let i = this.end - 1; i >= this.chain.firstWritable; i--) if (len[i] > 0) return addr[i] + len[i] - 1;
    return -1;
  }
}
