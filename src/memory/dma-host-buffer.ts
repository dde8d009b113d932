// Host memory the kernel may read or write asynchronously (iovec arrays, bounce
// buffers, io_uring/AIO structures). It comes from mmap, so its address never
// changes; JS typed arrays can move (small ones live on the V8 heap), which
// makes them unfit for anything the kernel keeps a pointer to.
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, mmapChecked, munmap, viewAt } from '../../ffi/libc.js';

const PAGE = 4096;

export class HostBuffer {
  /** Host virtual address of the first byte (page aligned). */
  readonly address: number;
  readonly size: number;
  /** Zero-copy view of the whole buffer. */
  readonly bytes: Uint8Array;
  private mapped = true;

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`HostBuffer size ${size} is not a positive integer`);
    this.size = Math.ceil(size / PAGE) * PAGE;
    this.address = mmapChecked(this.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    this.bytes = new Uint8Array(viewAt(this.address, this.size));
  }

  get released(): boolean {
    return !this.mapped;
  }

  release(): void {
    if (!this.mapped) return;
    this.mapped = false;
    munmap(this.address, this.size);
  }
}
