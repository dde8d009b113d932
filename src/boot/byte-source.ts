// An image the loader reads from (kernel, initrd): bytes in memory, or an
// open file read in place. A file lets a vmlinux's segments and the initrd go
// straight into guest RAM, by the kernel's io_uring workers while the VM is
// built (guest-copies.ts), or else at once (sendfile into a shared memfd,
// pread into anonymous RAM), instead of through a buffer the size of the file
// (17 MiB for the default guest's vmlinux: it used to be most of the
// helper's peak memory, docs/helper-memory.md).
import { fstatSync, readSync } from 'node:fs';
import type { GuestMemory } from '../memory/guest-memory.js';
import { BootError } from './boot-error.js';
import type { GuestCopies } from './guest-copies.js';

export interface ByteSource {
  readonly length: number;
  /** `len` bytes at `offset` (the caller checked the range): a view for bytes in memory, a copy for a file. */
  bytes(offset: number, len: number): Uint8Array;
  /** Fills `target` with the bytes at `offset` (the caller checked the range). */
  copyTo(target: Uint8Array, offset: number): void;
  /**
   * Copies `length` bytes at `offset` to guest-physical `gpa` (the caller
   * checked that both ranges exist and the guest's is in one region).
   */
  copyToGuest(memory: GuestMemory, gpa: number, offset: number, length: number): void;
}

export function bufferSource(bytes: Uint8Array): ByteSource {
  const copyTo = (target: Uint8Array, offset: number) => target.set(bytes.subarray(offset, offset + target.length));
  return {
    length: bytes.length,
    bytes: (offset, len) => bytes.subarray(offset, offset + len),
    copyTo,
    copyToGuest: (memory, gpa, offset, length) => copyTo(guestView(memory, gpa, length), offset),
  };
}

/**
 * The file open at `fd` (a regular file: its size is taken once); `what`
 * names it in errors. With `copies`, copies into guest RAM go there, and are
 * in place once its finish() has returned.
 */
export function fileSource(fd: number, what: string, copies?: GuestCopies): ByteSource {
  const length = fstatSync(fd).size;
  const shrank = (at: number) => new BootError(`${what} shrank while it was being loaded (end of file at ${at})`);
  const copyTo = (target: Uint8Array, offset: number) => {
    for (let done = 0; done < target.length; ) {
      const n = readSync(fd, target, done, target.length - done, offset + done);
      if (n === 0) throw shrank(offset + done);
      done += n;
    }
  };
  // File to memfd inside the kernel where guest RAM is one on 4 KiB pages (GuestMemory.spliceTarget), else through a view.
  const copyNow = (memory: GuestMemory, gpa: number, offset: number, len: number) => {
    const copied = memory.fillFromFile(gpa, fd, offset, len);
    if (copied === undefined) copyTo(guestView(memory, gpa, len), offset);
    else if (copied < len) throw shrank(offset + copied);
  };
  return {
    length,
    bytes: (offset, len) => {
      const out = new Uint8Array(len);
      copyTo(out, offset);
      return out;
    },
    copyTo,
    copyToGuest: (memory, gpa, offset, len) => {
      if (copies === undefined) return copyNow(memory, gpa, offset, len);
      const rest = (done: number) => copyNow(memory, gpa + done, offset + done, len - done);
      const shared = memory.spliceTarget(gpa, len);
      if (shared !== undefined) return copies.splice(fd, offset, shared.fd, shared.offset, len, rest);
      const address = memory.hostAddress(gpa, len);
      if (address !== undefined) copies.read(fd, offset, address, len, rest);
      else copyNow(memory, gpa, offset, len);
    },
  };
}

export function asByteSource(image: Uint8Array | ByteSource): ByteSource {
  return image instanceof Uint8Array ? bufferSource(image) : image;
}

/**
 * The whole image in memory (what a bzImage's decoder needs); at most
 * `maxBytes` of it, so a huge file is a BootError naming `what`, not a
 * failed allocation.
 */
export function wholeImage(image: Uint8Array | ByteSource, maxBytes: number, what: string): Uint8Array {
  if (image.length > maxBytes) throw new BootError(`${what} is ${image.length} bytes: more than the ${maxBytes} that can be read whole`);
  return image instanceof Uint8Array ? image : image.bytes(0, image.length);
}

/** [gpa, gpa+length) of guest RAM, which the caller checked. */
function guestView(memory: GuestMemory, gpa: number, length: number): Uint8Array {
  const view = memory.view(gpa, length);
  if (!view) throw new BootError(`${length} bytes at 0x${gpa.toString(16)} are not inside guest RAM`);
  return view;
}
