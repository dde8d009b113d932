// Guest RAM: anonymous host mappings, one per region, each registered with KVM
// as a memory slot. Everything that touches guest memory goes through here so
// that every guest-physical address is range-checked in one place.
import {
  MADV_DONTFORK,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  EINVAL,
  ENOSYS,
  ErrnoError,
  check,
  koffi,
  lseek,
  mmapChecked,
  madvise,
  munmap,
  sendfile,
  viewAt,
} from '../../ffi/libc.js';
import { hex } from '../hex.js';
import { FirstTouchPopulator } from './first-touch-populator.js';
import { createSharedRamFile, createSharedRamFileForAnyUser, type SharedRamFile } from './shared-ram-file.js';

export interface RamRegion {
  /** Guest-physical start. */
  readonly gpa: number;
  readonly size: number;
  /** Host virtual address of the first byte. */
  readonly hostAddress: number;
  /** Zero-copy view over the whole region. */
  readonly bytes: Uint8Array;
  /** Where the region starts in the shared memfd, when guest RAM is one. */
  readonly fileOffset?: number;
  /** Maps pages ahead of their first DMA, in a process that is not KVM's (first-touch-populator.ts). */
  readonly firstTouch?: FirstTouchPopulator;
}

export interface RamLayout {
  readonly gpa: number;
  readonly size: number;
}

export class GuestMemoryError extends Error {
  override name = 'GuestMemoryError';
}

const HUGE_PAGE = 2 << 20;

/**
 * `size` bytes of RAM mapped at a 2 MiB-aligned address (an over-sized
 * reservation, trimmed): KVM maps a guest's 2 MiB page with one huge page
 * only when its host address is aligned like its guest-physical one, and
 * guest RAM starts at 2 MiB-aligned addresses.
 */
function mapHugeAligned(size: number, flags: number, fd = -1, offset = 0): number {
  const reserved = mmapChecked(size + HUGE_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
  const reservedEnd = reserved + size + HUGE_PAGE;
  const start = Math.ceil(reserved / HUGE_PAGE) * HUGE_PAGE;
  const end = start + size;
  try {
    mmapChecked(size, PROT_READ | PROT_WRITE, flags | MAP_NORESERVE | MAP_FIXED, fd, offset, start);
  } catch (e) {
    munmap(reserved, reservedEnd - reserved);
    throw e;
  }
  if (start > reserved) munmap(reserved, start - reserved);
  munmap(end, reservedEnd - end); // at least 4 KiB: start is below reserved + HUGE_PAGE
  return start;
}

/** The bytes of RAM a layout holds. */
function ramBytes(layout: readonly RamLayout[]): number {
  return layout.reduce((n, r) => n + r.size, 0);
}

export class GuestMemory {
  readonly regions: readonly RamRegion[];
  private mapped = true;

  private constructor(
    regions: RamRegion[],
    /** The shared file behind the regions, if they are slices of one, and not on huge pages: copies into it are made inside the kernel (spliceTarget). */
    private readonly spliceFile?: number,
  ) {
    this.regions = regions;
  }

  /**
   * Maps memory for each region (sorted, non-overlapping): private anonymous
   * memory, or — when another process must reach guest RAM (a device process
   * doing DMA) — consecutive slices of a shared memfd (see createSharedRam).
   * `populateBeforeDma`: this process is not the one KVM maps the guest
   * through, so its page tables are filled ahead of each DMA span instead of
   * a fault per page (first-touch-populator.ts). `hugePages`: the file gets
   * 2 MiB pages (createSharedRam's tmpfs, not a memfd), so files are copied
   * into it through the mapping, as into private memory (spliceTarget).
   */
  static allocate(layout: readonly RamLayout[], shared?: { memfd: number; populateBeforeDma?: boolean; hugePages?: boolean }): GuestMemory {
    const sorted = [...layout].sort((a, b) => a.gpa - b.gpa);
    const regions: RamRegion[] = [];
    let end = 0;
    let fileOffset = 0;
    for (const { gpa, size } of sorted) {
      if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(size) || gpa < 0 || size <= 0 || size % 4096 || gpa % 4096)
        throw new GuestMemoryError(`RAM region at ${hex(gpa)} of ${size} bytes is not page aligned`);
      if (gpa < end) throw new GuestMemoryError(`RAM region at ${hex(gpa)} overlaps the one before it`);
      end = gpa + size;
      const regionOffset = fileOffset;
      const hostAddress = shared ? mapHugeAligned(size, MAP_SHARED, shared.memfd, regionOffset) : mapHugeAligned(size, MAP_PRIVATE | MAP_ANONYMOUS);
      fileOffset += size;
      madvise(hostAddress, size, MADV_DONTFORK);
      // As QEMU does: 2 MiB pages where the host has them (THP in `madvise`
      // mode, and for a memfd only if shmem allows): one fault per 2 MiB the
      // guest touches instead of 512, and KVM maps them with huge pages too.
      madvise(hostAddress, size, MADV_HUGEPAGE);
      regions.push({
        gpa,
        size,
        hostAddress,
        bytes: new Uint8Array(viewAt(hostAddress, size)),
        fileOffset: shared ? regionOffset : undefined,
        firstTouch: shared?.populateBeforeDma ? new FirstTouchPopulator(hostAddress, size) : undefined,
      });
    }
    return new GuestMemory(regions, shared?.hugePages ? undefined : shared?.memfd);
  }

  /** A file big enough for `layout`, for allocate(layout, { memfd }) in several processes (shared-ram-file.ts; `hugePages`: where it can). */
  static createSharedRam(layout: readonly RamLayout[], hugePages = true): SharedRamFile {
    return createSharedRamFile(ramBytes(layout), hugePages);
  }

  /** The same with huge pages for an ordinary user too, where the host lets a child make them (shared-ram-file.ts). */
  static createSharedRamForAnyUser(layout: readonly RamLayout[]): Promise<SharedRamFile> {
    return createSharedRamFileForAnyUser(ramBytes(layout));
  }

  /**
   * Views memory another thread of this process mapped (a vCPU worker gets the
   * regions' host addresses, not the mappings). The adopter never unmaps.
   */
  static adopt(layout: readonly { gpa: number; size: number; hostAddress: number }[]): GuestMemory {
    const regions = layout.map((r) => ({ ...r, bytes: new Uint8Array(viewAt(r.hostAddress, r.size)) }));
    const memory = new GuestMemory(regions);
    memory.mapped = false;
    return memory;
  }

  /** What another thread needs to adopt this memory. */
  describe(): { gpa: number; size: number; hostAddress: number }[] {
    return this.regions.map(({ gpa, size, hostAddress }) => ({ gpa, size, hostAddress }));
  }

  /** Total RAM in bytes. */
  get size(): number {
    return this.regions.reduce((sum, r) => sum + r.size, 0);
  }

  /** The region holding `gpa`, or undefined. Binary search: regions are sorted. */
  regionAt(gpa: number): RamRegion | undefined {
    const regions = this.regions;
    let lo = 0;
    let hi = regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = regions[mid];
      if (gpa < r.gpa) hi = mid - 1;
      else if (gpa >= r.gpa + r.size) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /**
   * A zero-copy view of [gpa, gpa+len) when it lies inside one RAM region,
   * otherwise undefined (never throws: the guest controls these numbers).
   */
  view(gpa: number, len: number): Uint8Array | undefined {
    if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(len) || gpa < 0 || len < 0) return undefined;
    const r = this.regionAt(gpa);
    if (!r) return undefined;
    const off = gpa - r.gpa;
    if (len > r.size - off) return undefined;
    return r.bytes.subarray(off, off + len);
  }

  /** Host address for [gpa, gpa+len) inside one region, or undefined. */
  hostAddress(gpa: number, len: number): number | undefined {
    if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(len) || gpa < 0 || len < 0) return undefined;
    const r = this.regionAt(gpa);
    if (!r || len > r.size - (gpa - r.gpa)) return undefined;
    return r.hostAddress + (gpa - r.gpa);
  }

  /** Copies `data` into guest memory; throws when the range is not RAM (loader use). */
  write(gpa: number, data: Uint8Array): void {
    const v = this.view(gpa, data.length);
    if (!v) throw new GuestMemoryError(`cannot write ${data.length} bytes at ${hex(gpa)}: not inside guest RAM`);
    v.set(data);
  }

  /** Copies guest memory out; throws when the range is not RAM (loader use). */
  read(gpa: number, len: number): Uint8Array {
    const v = this.view(gpa, len);
    if (!v) throw new GuestMemoryError(`cannot read ${len} bytes at ${hex(gpa)}: not inside guest RAM`);
    return v.slice();
  }

  /**
   * Where a copy from a file into [gpa, gpa+length) is made inside the
   * kernel (fillFromFile, the loader's splices: GuestCopies): that slice of
   * a shared memfd. Undefined where it is read through the mapping instead:
   * private RAM; shared RAM on huge pages, where a read faults in one 2 MiB
   * page per 2 MiB and splices would leave the range in 4 KiB pages, for the
   * guest to fault in one by one (docs/host-kvm.md, "The kernel's copy into
   * shared RAM"); a range across regions.
   */
  spliceTarget(gpa: number, length: number): { fd: number; offset: number } | undefined {
    const r = this.spliceFile === undefined ? undefined : this.regionAt(gpa);
    if (r?.fileOffset === undefined || gpa + length > r.gpa + r.size) return undefined;
    return { fd: this.spliceFile!, offset: r.fileOffset + (gpa - r.gpa) };
  }

  /**
   * Copies `length` bytes of the file `fd` at `offset` to [gpa, gpa+length),
   * which must lie inside one region (loader use), inside the kernel where
   * spliceTarget says so (a shared memfd). No page of it is then touched
   * through this process's mapping: a pread into the mapping faults on every
   * 4 KiB page of shmem (~40 ms for the default guest's 12 MiB natively on a
   * kvm-pvm machine, ~3 ms this way). Returns the bytes copied, fewer only
   * where the file ended; undefined, having done nothing, where spliceTarget
   * has none or for a file the kernel cannot splice from (the caller copies
   * through a view).
   */
  fillFromFile(gpa: number, fd: number, offset: number, length: number): number | undefined {
    const slice = this.spliceTarget(gpa, length);
    if (slice === undefined) return undefined;
    check(lseek(slice.fd, slice.offset, 0 /* SEEK_SET */) as number, 'lseek');
    const position = [BigInt(offset)]; // sendfile advances it
    let done = 0;
    while (done < length) {
      const n = Number(sendfile(slice.fd, fd, position, length - done));
      if (n < 0) {
        const errno = koffi.errno();
        // A file system that cannot splice its files: the caller copies through the mapping.
        if (done === 0 && (errno === EINVAL || errno === ENOSYS)) return undefined;
        throw new ErrnoError('sendfile', errno);
      }
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  /** Unmaps everything. Views handed out before this become invalid. */
  release(): void {
    if (!this.mapped) return;
    this.mapped = false;
    for (const r of this.regions) munmap(r.hostAddress, r.size);
  }
}
