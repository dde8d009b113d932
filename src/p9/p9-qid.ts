// A qid from a host stat: the inode number is the qid path (the guest's inode
// identity), the type says directory / symlink / file, and the version changes
// when the file does (QEMU's mtime ^ size << 8), which is what Linux's cache
// modes compare.
import type { Qid } from './p9-codec.js';
import { P9_QTDIR, P9_QTFILE, P9_QTSYMLINK } from './p9-constants.js';
import { DT_DIR, DT_LNK } from './p9-directory-entries.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/** What a qid is made of: Node's BigIntStats, or statx's (p9-host-stat.ts). */
export interface QidSource {
  readonly mode: number | bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeMs: bigint;
}

export function qidOf(stats: QidSource): Qid {
  const format = Number(stats.mode) & S_IFMT;
  const type = format === S_IFDIR ? P9_QTDIR : format === S_IFLNK ? P9_QTSYMLINK : P9_QTFILE;
  const version = Number(BigInt.asUintN(32, stats.mtimeMs ^ (stats.size << 8n)));
  return { type, version, path: stats.ino };
}

export function isDirectoryQid(qid: Qid): boolean {
  return (qid.type & P9_QTDIR) !== 0;
}

/**
 * A directory entry's qid, from what getdents gives (p9-directory-entries.ts):
 * its inode and type, version 0. Linux's client takes only the inode (and
 * the entry's own type byte) from a Treaddir entry; QEMU's server fills in
 * only the path, for that reason.
 */
export function qidOfEntry(ino: bigint, direntType: number): Qid {
  const type = direntType === DT_DIR ? P9_QTDIR : direntType === DT_LNK ? P9_QTSYMLINK : P9_QTFILE;
  return { type, version: 0, path: ino };
}
