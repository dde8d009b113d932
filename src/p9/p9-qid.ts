// A qid from a host stat: the inode number is the qid path (the guest's inode
// identity), the type says directory / symlink / file, and the version changes
// when the file does (QEMU's mtime ^ size << 8), which is what Linux's cache
// modes compare.
import type { BigIntStats } from 'node:fs';
import type { Qid } from './p9-codec.js';
import { P9_QTDIR, P9_QTFILE, P9_QTSYMLINK } from './p9-constants.js';

const S_IFMT = 0o170000n;
const S_IFDIR = 0o040000n;
const S_IFLNK = 0o120000n;

export function qidOf(stats: BigIntStats): Qid {
  const format = stats.mode & S_IFMT;
  const type = format === S_IFDIR ? P9_QTDIR : format === S_IFLNK ? P9_QTSYMLINK : P9_QTFILE;
  const version = Number(BigInt.asUintN(32, stats.mtimeMs ^ (stats.size << 8n)));
  return { type, version, path: stats.ino };
}

export function isDirectoryQid(qid: Qid): boolean {
  return (qid.type & P9_QTDIR) !== 0;
}

/** The d_type of a directory entry (DT_* = S_IF* >> 12). */
export function direntType(stats: BigIntStats): number {
  return Number((stats.mode & S_IFMT) >> 12n);
}
