// The client's handles: a fid names a file by its path below the root, and
// once opened holds the host file descriptor. I/O and getattr on an open fid
// go through that descriptor, so a file unlinked after open stays usable,
// exactly as it would be for a local process.
import fs from 'node:fs';
import os from 'node:os';
import type { Qid } from './p9-codec.js';
import { P9_NOFID } from './p9-constants.js';
import { type P9Path, isSameOrBelow } from './p9-confined-root.js';
import type { DirectoryListing } from './p9-directory-listing.js';
import { refuse } from './p9-errno.js';

const { EBADF, EINVAL } = os.constants.errno;

export interface OpenFile {
  readonly fd: number;
  readonly readable: boolean;
  readonly writable: boolean;
  /** The entries Treaddir serves, taken when the client reads from offset 0. */
  listing: DirectoryListing | undefined;
}

export class Fid {
  open: OpenFile | undefined;

  constructor(
    public path: P9Path,
    public qid: Qid,
    /** Who attached (recorded, not used: the server acts as its own uid). */
    readonly uname: string,
    readonly nUname: number,
  ) {}

  /** The open file, EBADF when the fid was never opened. */
  get opened(): OpenFile {
    return this.open ?? refuse(EBADF, 'fid is not open');
  }
}

export class FidTable {
  private readonly fids = new Map<number, Fid>();

  get size(): number {
    return this.fids.size;
  }

  /** The fid, EBADF when the client never made it. */
  get(id: number): Fid {
    return this.fids.get(id) ?? refuse(EBADF, `unknown fid ${id}`);
  }

  /** EINVAL when `id` is taken (or NOFID), so a client cannot overwrite a live fid by accident. */
  checkFree(id: number): void {
    if (id === P9_NOFID || this.fids.has(id)) refuse(EINVAL, `fid ${id} is in use`);
  }

  add(id: number, fid: Fid): void {
    this.checkFree(id);
    this.fids.set(id, fid);
  }

  /** Replaces `id`'s fid (a walk with newfid == fid). */
  replace(id: number, fid: Fid): void {
    this.closeFile(this.get(id));
    this.fids.set(id, fid);
  }

  clunk(id: number): void {
    this.closeFile(this.get(id));
    this.fids.delete(id);
  }

  clear(): void {
    for (const fid of this.fids.values()) this.closeFile(fid);
    this.fids.clear();
  }

  /** After a rename: every fid at or below `from` now lives below `to`. */
  moved(from: P9Path, to: P9Path): void {
    for (const fid of this.fids.values()) {
      if (isSameOrBelow(fid.path, from)) fid.path = [...to, ...fid.path.slice(from.length)];
    }
  }

  private closeFile(fid: Fid): void {
    if (fid.open === undefined) return;
    const { fd } = fid.open;
    fid.open = undefined;
    fs.closeSync(fd);
  }
}
