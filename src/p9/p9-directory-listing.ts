// What Treaddir serves: a snapshot of a directory, taken when the client reads
// from offset 0, whose entry i carries offset i + 1 (where the next read
// resumes). Offsets index the snapshot, so they stay valid across calls while
// the directory changes underneath: no entry is lost or doubled, and a new
// entry appears at the next rewind, as with a local getdents.
import os from 'node:os';
import type { P9Writer, Qid } from './p9-codec.js';
import { QID_SIZE, stringSize } from './p9-codec.js';
import { DT_DIR, DT_UNKNOWN, entryTypeAndInode, readDirectory } from './p9-directory-entries.js';
import { qidOfEntry } from './p9-qid.js';
import { refuse } from './p9-errno.js';

const { EINVAL } = os.constants.errno;

export interface DirectoryEntry {
  readonly name: string;
  readonly qid: Qid;
  readonly type: number;
}

export type DirectoryListing = readonly DirectoryEntry[];

/** qid[13] offset[8] type[1] name[s] */
function entrySize(entry: DirectoryEntry): number {
  return QID_SIZE + 8 + 1 + stringSize(entry.name);
}

/**
 * The entries of the directory open at `dirfd` (the fid's own descriptor:
 * the directory it opened, wherever it has moved since), with '.' and '..'
 * first (Linux expects them from the file system); '..' of the share's root
 * is the root. Entries that vanish while being listed are left out.
 */
export function takeListing(dirfd: number, isShareRoot: boolean): DirectoryListing {
  const entries: DirectoryEntry[] = [];
  const add = (name: string, ino: bigint, type: number): void => {
    entries.push({ name, qid: qidOfEntry(ino, type), type });
  };
  const raw = readDirectory(dirfd);
  const self = raw.find((e) => e.name === '.') ?? { ...entryTypeAndInode(dirfd, '.'), name: '.' };
  const parent = isShareRoot ? self : (raw.find((e) => e.name === '..') ?? { ...entryTypeAndInode(dirfd, '..'), name: '..' });
  add('.', self.ino, DT_DIR);
  add('..', parent.ino, DT_DIR);
  for (const entry of raw) {
    if (entry.name === '.' || entry.name === '..') continue;
    let { ino, type } = entry;
    if (type === DT_UNKNOWN) {
      try {
        ({ ino, type } = entryTypeAndInode(dirfd, entry.name));
      } catch {
        continue;
      }
    }
    add(entry.name, ino, type);
  }
  return entries;
}

/**
 * Writes the entries from `offset` on that fit in `count` bytes; returns how
 * many bytes they took (0 at the end). EINVAL when not even the next entry
 * fits: a silent 0 would read as the end of the directory.
 */
export function writeEntries(listing: DirectoryListing, offset: number, count: number, writer: P9Writer): number {
  let used = 0;
  for (let i = offset; i < listing.length; i++) {
    const entry = listing[i];
    const size = entrySize(entry);
    if (used + size > count) {
      if (used === 0) refuse(EINVAL, `Treaddir count ${count} too small for one entry`);
      break;
    }
    writer.qid(entry.qid).u64(i + 1).u8(entry.type).string(entry.name);
    used += size;
  }
  return used;
}
