// A directory's entries as the kernel gives them: names, inode numbers and
// types from getdents64(2) on the open directory, a few calls for the whole
// directory. Node's readdir gives names and types only, so Treaddir used to
// lstat every entry for its inode: one system call and a Stats object per
// entry, most of a `find`'s work in the server (QEMU's stats none either).
// A file system that leaves the type out (DT_UNKNOWN) is asked per
// entry, with statx relative to the directory, never through a path.
import os from 'node:os';
import { libc, lseek } from '../../ffi/libc.js';
import { P9Errno } from './p9-errno.js';
import { statAt } from './p9-host-stat.js';
import { checked } from './p9-libc.js';

/** struct linux_dirent64 (glibc's struct dirent64 on x86_64): test/p9/p9-directory-entries.test.ts checks it. */
export const DIRENT64 = { d_ino: 0, d_off: 8, d_reclen: 16, d_type: 18, d_name: 19 } as const;
export const DT_UNKNOWN = 0;
export const DT_DIR = 4;
export const DT_LNK = 10;
const SEEK_SET = 0;
const { EIO } = os.constants.errno;

const getdents64Call = libc.func('intptr_t getdents64(int fd, _Out_ uint8_t *buf, size_t count)');

const buffer = Buffer.alloc(32 * 1024);

export interface RawEntry {
  readonly name: string;
  readonly ino: bigint;
  /** DT_* as the file system says it; DT_UNKNOWN when it does not. */
  readonly type: number;
}

/** Every entry of the directory open at `fd`, '.' and '..' included, read from its start. */
export function readDirectory(fd: number): RawEntry[] {
  checked(Number(lseek(fd, 0, SEEK_SET)));
  const entries: RawEntry[] = [];
  for (;;) {
    const n = checked(Number(getdents64Call(fd, buffer, buffer.length)));
    if (n === 0) return entries;
    for (let at = 0; at < n; ) {
      const length = buffer.readUInt16LE(at + DIRENT64.d_reclen);
      if (length <= DIRENT64.d_name || at + length > n) throw new P9Errno(EIO, `getdents64 gave a record of ${length} bytes at ${at} of ${n}`);
      const nameAt = at + DIRENT64.d_name;
      const nameEnd = buffer.indexOf(0, nameAt);
      entries.push({
        name: buffer.toString('utf8', nameAt, nameEnd < 0 || nameEnd > at + length ? at + length : nameEnd),
        ino: buffer.readBigUInt64LE(at + DIRENT64.d_ino),
        type: buffer[at + DIRENT64.d_type],
      });
      at += length;
    }
  }
}

/** The type (DT_*) and inode of entry `name` of the directory open at `dirfd`, not following a symlink. */
export function entryTypeAndInode(dirfd: number, name: string): { type: number; ino: bigint } {
  const stat = statAt(dirfd, name);
  return { type: stat.mode >> 12, ino: stat.ino };
}
