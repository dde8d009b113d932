// Page tables for guest RAM in a process that is not KVM's: a device process
// maps the guest-RAM memfd for DMA, and the first time its DMA touches a
// guest page the kernel takes a page fault to map it, once per 4 KiB page
// (shmem has no huge pages by default, and a write fault maps no
// neighbours). The VMM that KVM runs on has most of them mapped already:
// KVM maps in its page tables each page the guest touches.
//
// A fault is dear where the host kernel itself runs virtualized: natively on
// a kvm-pvm machine ~10 µs a page. madvise(MADV_POPULATE_WRITE) does the
// guest kernel's part of that for a whole run of pages in one call (~0.35 µs
// a page); the hypervisor's shadow entry, ~4.5 µs a page on first access,
// remains. Through the DMA path, scattered single pages: 14.1–14.7 → 11.1–11.8
// µs each; in the nested L1 no change (docs/host-kvm.md, "A process's first
// touch of a page is dear"). So before a DMA span is handed out, the pages of it this
// process has not touched are populated in one call per run, and remembered
// (one bit a page). Populating writes nothing: a page the guest never
// touched is allocated zero-filled, as the fault would have.
import { EINVAL, koffi, madvise } from '../../ffi/libc.js';

/** MADV_POPULATE_WRITE (linux/mman.h, Linux 5.14). */
const MADV_POPULATE_WRITE = 23;
const PAGE_SHIFT = 12;
const PAGE_SIZE = 1 << PAGE_SHIFT;

export interface FirstTouchStats {
  /** madvise calls made. */
  calls: number;
  /** Pages they mapped. */
  pages: number;
}

/** Populates the pages of one region of guest RAM mapped at `hostAddress`, each the first time a DMA span covers it. */
export class FirstTouchPopulator {
  readonly stats: FirstTouchStats = { calls: 0, pages: 0 };
  /** One bit per page: populated (or left to the faults) already. */
  private readonly touched: Uint32Array;
  /** The kernel cannot (before 5.14): leave every page to its fault. */
  private unsupported = false;

  constructor(
    private readonly hostAddress: number,
    size: number,
  ) {
    this.touched = new Uint32Array(Math.ceil(Math.ceil(size / PAGE_SIZE) / 32));
  }

  /** Maps the pages of [offset, offset+length) of the region not mapped yet (the caller checked the range). */
  prepare(offset: number, length: number): void {
    if (this.unsupported || length <= 0) return;
    const last = Math.floor((offset + length - 1) / PAGE_SIZE);
    let page = Math.floor(offset / PAGE_SIZE);
    while (page <= last) {
      if (this.isTouched(page)) {
        page++;
        continue;
      }
      const runStart = page;
      while (page <= last && !this.isTouched(page)) this.markTouched(page++);
      this.populate(runStart, page - runStart);
    }
  }

  private populate(firstPage: number, pages: number): void {
    // A failure (no memory, a truncated memfd) leaves the pages to their
    // faults, which report it as they always did.
    if (madvise(this.hostAddress + firstPage * PAGE_SIZE, pages * PAGE_SIZE, MADV_POPULATE_WRITE) !== 0) {
      if (koffi.errno() === EINVAL) this.unsupported = true;
      return;
    }
    this.stats.calls++;
    this.stats.pages += pages;
  }

  private isTouched(page: number): boolean {
    return (this.touched[page >>> 5] & (1 << (page & 31))) !== 0;
  }

  private markTouched(page: number): void {
    this.touched[page >>> 5] |= 1 << (page & 31);
  }
}
