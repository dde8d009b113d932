// Opening files and moving their data: Tlopen, Tlcreate, Tread, Twrite,
// Treaddir, Tfsync. An open fid holds its host descriptor; every open adds
// O_NOFOLLOW (a symlink is never opened through, ELOOP) and O_NONBLOCK (a FIFO
// in the share must not stall the server, which serves one request at a time).
import fs from 'node:fs';
import os from 'node:os';
import type { P9Writer } from './p9-codec.js';
import * as c from './p9-constants.js';
import { type P9Context, checkReadCount, checkWritable, checkWriteCount, iounit } from './p9-context.js';
import { checkEntryName } from './p9-confined-root.js';
import type { P9DataPath } from './p9-data-path.js';
import { takeListing, writeEntries } from './p9-directory-listing.js';
import { refuse } from './p9-errno.js';
import type { Fid, OpenFile } from './p9-fid-table.js';
import { isDirectoryQid, qidOf } from './p9-qid.js';
import type { RequestOf } from './p9-requests.js';

const { EBADF, EINVAL, ENOTDIR } = os.constants.errno;
const { O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** The guest's open flags the server passes on (creation is decided per operation, O_DIRECT is never honoured: guest buffers are not aligned for it). */
const PASSED_FLAGS = c.P9_DOTL_ACCMODE | c.P9_DOTL_TRUNC | c.P9_DOTL_APPEND | c.P9_DOTL_SYNC | c.P9_DOTL_DSYNC | c.P9_DOTL_DIRECTORY;

/** Host flags for a guest's Tlopen/Tlcreate flags; EROFS for a write on a read-only share. */
function hostOpenFlags(ctx: P9Context, guestFlags: number): { flags: number; readable: boolean; writable: boolean } {
  const access = guestFlags & c.P9_DOTL_ACCMODE;
  if (access === 3) refuse(EINVAL, 'open flags with no access mode');
  const writable = access !== c.P9_DOTL_RDONLY;
  if (writable || guestFlags & c.P9_DOTL_TRUNC) checkWritable(ctx);
  return { flags: (guestFlags & PASSED_FLAGS) | O_NOFOLLOW | O_NONBLOCK, readable: access !== c.P9_DOTL_WRONLY, writable };
}

/** Makes `fid` the open file `fd` (its qid from the descriptor itself); closes `fd` if that fails. */
function adoptOpenFile(fid: Fid, fd: number, readable: boolean, writable: boolean): void {
  try {
    fid.qid = qidOf(fs.fstatSync(fd, { bigint: true }));
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  const open: OpenFile = { fd, readable, writable, listing: undefined };
  fid.open = open;
}

function checkNotOpen(fid: Fid): void {
  if (fid.open !== undefined) refuse(EINVAL, 'fid is already open');
}

export function lopen(ctx: P9Context, request: RequestOf<typeof c.P9_TLOPEN>, reply: P9Writer): void {
  const fid = ctx.fids.get(request.fid);
  checkNotOpen(fid);
  const { flags, readable, writable } = hostOpenFlags(ctx, request.flags);
  const fd = fs.openSync(ctx.root.resolve(fid.path), flags);
  adoptOpenFile(fid, fd, readable, writable);
  reply.qid(fid.qid).u32(iounit(ctx));
}

/** Opens `hostPath`, creating it with exactly `mode` unless it exists (then EEXIST only when `exclusive`). */
function openOrCreate(hostPath: string, flags: number, mode: number, exclusive: boolean): number {
  let fd: number;
  try {
    fd = fs.openSync(hostPath, flags | O_CREAT | O_EXCL, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || exclusive) throw error;
    return fs.openSync(hostPath, flags);
  }
  try {
    // The guest already applied its umask; the server's own must not strip more.
    fs.fchmodSync(fd, mode);
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  return fd;
}

export function lcreate(ctx: P9Context, request: RequestOf<typeof c.P9_TLCREATE>, reply: P9Writer): void {
  const fid = ctx.fids.get(request.fid);
  checkNotOpen(fid);
  checkWritable(ctx);
  checkEntryName(request.name);
  const { flags, readable, writable } = hostOpenFlags(ctx, request.flags);
  const hostPath = ctx.root.resolveEntry(fid.path, request.name);
  const fd = openOrCreate(hostPath, flags, request.mode & 0o7777, (request.flags & c.P9_DOTL_EXCL) !== 0);
  adoptOpenFile(fid, fd, readable, writable);
  fid.path = [...fid.path, request.name];
  reply.qid(fid.qid).u32(iounit(ctx));
}

export function read(ctx: P9Context, request: RequestOf<typeof c.P9_TREAD>, reply: P9Writer, dataPath: P9DataPath | undefined): void {
  const open = ctx.fids.get(request.fid).opened;
  if (!open.readable) refuse(EBADF, 'fid is not open for reading');
  checkReadCount(ctx, request.count);
  if (dataPath !== undefined) {
    const moved = dataPath.readInto(open.fd, request.offset, request.count);
    if (moved < 0) refuse(-moved);
    reply.u32(moved).dataApart(moved);
    return;
  }
  const countAt = reply.position;
  reply.u32(0);
  const moved = fs.readSync(open.fd, reply.buffer, reply.position, request.count, request.offset);
  reply.skip(moved).patchU32(countAt, moved);
}

export function write(ctx: P9Context, request: RequestOf<typeof c.P9_TWRITE>, reply: P9Writer, dataPath: P9DataPath | undefined): void {
  const open = ctx.fids.get(request.fid).opened;
  if (!open.writable) refuse(EBADF, 'fid is not open for writing');
  checkWritable(ctx);
  checkWriteCount(ctx, request.count);
  let moved: number;
  if (request.data !== undefined) {
    moved = fs.writeSync(open.fd, request.data, 0, request.count, request.offset);
  } else {
    // decodeRequest leaves the data apart only when the transport passed a data path.
    moved = dataPath === undefined ? -EINVAL : dataPath.writeFrom(open.fd, request.offset, request.count);
    if (moved < 0) refuse(-moved);
  }
  reply.u32(moved);
}

export function readdir(ctx: P9Context, request: RequestOf<typeof c.P9_TREADDIR>, reply: P9Writer): void {
  const fid = ctx.fids.get(request.fid);
  const open = fid.opened;
  if (!isDirectoryQid(fid.qid)) refuse(ENOTDIR);
  checkReadCount(ctx, request.count);
  if (request.offset === 0 || open.listing === undefined) open.listing = takeListing(open.fd, fid.path.length === 0);
  const countAt = reply.position;
  reply.u32(0);
  reply.patchU32(countAt, writeEntries(open.listing, request.offset, request.count, reply));
}

export function fsync(ctx: P9Context, request: RequestOf<typeof c.P9_TFSYNC>): void {
  const open = ctx.fids.get(request.fid).opened;
  if (request.datasync) fs.fdatasyncSync(open.fd);
  else fs.fsyncSync(open.fd);
}
