// A virtio-mmio transport's InterruptStatus word (interrupt-status.ts) and
// register snapshot (register-snapshot.ts) for a device in its own process:
// a one-page memfd the frontend creates and hands to the helper and to the
// device process, each of which maps it. The device process fills the
// snapshot and raises reasons in the word; the helper's vCPU threads answer
// the driver from both (VirtioRegisterShortcut) instead of a round trip to
// that process.
import { SHARED_REGISTERS_BYTES } from './register-snapshot.js';
import { MAP_SHARED, MFD_CLOEXEC, PROT_READ, PROT_WRITE, check, ftruncate, memfdCreate, mmapChecked, munmap, viewAt } from '../../../ffi/libc.js';

const PAGE_BYTES = 4096;

/** The page's memfd (close-on-exec; passed on by name like every handed-over descriptor). */
export function createInterruptStatusPage(): number {
  const fd = check(memfdCreate('tsvmm-interrupt-status', MFD_CLOEXEC) as number, 'memfd_create');
  check(ftruncate(fd, PAGE_BYTES) as number, 'ftruncate');
  return fd;
}

export interface MappedInterruptStatus {
  /** Host address of the word, for another thread of this process (koffi views are per thread). */
  readonly address: number;
  /** The word and the snapshot, for this thread. */
  readonly buffer: ArrayBuffer;
  unmap(): void;
}

export function mapInterruptStatusPage(fd: number): MappedInterruptStatus {
  const address = mmapChecked(PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return { address, buffer: viewAt(address, SHARED_REGISTERS_BYTES), unmap: () => munmap(address, PAGE_BYTES) };
}
