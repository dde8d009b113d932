// File attributes: Tgetattr, Tsetattr, Tstatfs. An open fid is served through
// its descriptor (statx of it, ftruncate, fchmod, futimens), so a file
// unlinked while open keeps answering; a fid that is not open is served by
// path, never following a symlink in its last name (statx
// AT_SYMLINK_NOFOLLOW, lchown, utimensat NOFOLLOW).
import fs from 'node:fs';
import os from 'node:os';
import type { P9Writer } from './p9-codec.js';
import * as c from './p9-constants.js';
import { type P9Context, checkWritable, iounit } from './p9-context.js';
import { refuse } from './p9-errno.js';
import type { Fid } from './p9-fid-table.js';
import { type HostStat, STATX_BTIME, type Timestamp, statFd, statPath } from './p9-host-stat.js';
import { type TimeSpec, UTIME_NOW, UTIME_OMIT, makedev, setTimesNoFollow, setTimesOfFd } from './p9-libc.js';
import { qidOf } from './p9-qid.js';
import type { P9SetAttr, RequestOf } from './p9-requests.js';

const { EOPNOTSUPP, EPERM } = os.constants.errno;
const { O_WRONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** Most names Linux file systems allow: statfs has no such field in Node. */
const NAME_MAX = 255;

function statOf(ctx: P9Context, fid: Fid): HostStat {
  if (fid.open !== undefined) return statFd(fid.open.fd);
  return statPath(ctx.root.resolve(fid.path));
}

/**
 * The st_blksize a guest is told: the iounit in whole host blocks, as QEMU's
 * server says (stat_to_iounit). Programs size their reads and writes by it
 * (GNU cat and cp: max(128 KiB, st_blksize) at a time), and over 9p each one
 * is a round trip to this server: told the host's 4 KiB, they asked up to
 * four times as often as one message allows.
 */
function preferredIoSize(ctx: P9Context, hostBlockSize: number): number {
  const unit = iounit(ctx);
  return hostBlockSize > 0 && hostBlockSize <= unit ? unit - (unit % hostBlockSize) : unit;
}

function writeTime(reply: P9Writer, time: Timestamp): void {
  reply.u64(time.sec).u64(time.nsec);
}

/** Every basic field is returned whatever request_mask asks (the mask allows more than asked). */
export function getattr(ctx: P9Context, request: RequestOf<typeof c.P9_TGETATTR>, reply: P9Writer): void {
  const fid = ctx.fids.get(request.fid);
  const stats = statOf(ctx, fid);
  fid.qid = qidOf(stats);
  const hasBirthTime = (stats.mask & STATX_BTIME) !== 0;
  reply
    .u64(c.P9_STATS_BASIC | (hasBirthTime ? c.P9_STATS_BTIME : 0n))
    .qid(fid.qid)
    .u32(stats.mode)
    .u32(ctx.ids.uidToGuest(stats.uid))
    .u32(ctx.ids.gidToGuest(stats.gid))
    .u64(stats.nlink)
    .u64(makedev(stats.rdevMajor, stats.rdevMinor))
    .u64(stats.size)
    .u64(preferredIoSize(ctx, stats.blksize))
    .u64(stats.blocks);
  writeTime(reply, stats.time('stx_atime'));
  writeTime(reply, stats.time('stx_mtime'));
  writeTime(reply, stats.time('stx_ctime'));
  writeTime(reply, hasBirthTime ? stats.time('stx_btime') : { sec: 0n, nsec: 0 });
  reply.u64(0).u64(0); // st_gen, st_data_version: not tracked
}

/** A time Tsetattr asks for: given, now, or left alone. */
function requestedTime(attr: P9SetAttr, change: number, setGiven: number, sec: bigint, nsec: bigint): TimeSpec {
  if (!(attr.valid & change)) return { sec: 0n, nsec: UTIME_OMIT };
  if (attr.valid & setGiven) return { sec, nsec };
  return { sec: 0n, nsec: UTIME_NOW };
}

/**
 * Applies the changes in the order that keeps each one: size first (a
 * truncate sets mtime), owner before mode (chown clears set-id bits), times
 * last. ctime is the kernel's to set.
 */
export function setattr(ctx: P9Context, request: RequestOf<typeof c.P9_TSETATTR>): void {
  checkWritable(ctx);
  const fid = ctx.fids.get(request.fid);
  const { attr } = request;
  const fd = fid.open?.fd;
  const hostPath = (): string => ctx.root.resolve(fid.path);

  if (attr.valid & c.P9_ATTR_SIZE) {
    if (fid.open?.writable) fs.ftruncateSync(fid.open.fd, attr.size);
    else truncateNoFollow(hostPath(), attr.size);
  }
  if (attr.valid & (c.P9_ATTR_UID | c.P9_ATTR_GID)) {
    const uid = attr.valid & c.P9_ATTR_UID ? (ctx.ids.uidToHost(attr.uid) ?? refuse(EPERM, `uid ${attr.uid} has no id here`)) : -1;
    const gid = attr.valid & c.P9_ATTR_GID ? (ctx.ids.gidToHost(attr.gid) ?? refuse(EPERM, `gid ${attr.gid} has no id here`)) : -1;
    if (fd !== undefined) fs.fchownSync(fd, uid, gid);
    else fs.lchownSync(hostPath(), uid, gid);
  }
  if (attr.valid & c.P9_ATTR_MODE) {
    const mode = attr.mode & 0o7777;
    if (fd !== undefined) fs.fchmodSync(fd, mode);
    else {
      // chmod follows symlinks, and a symlink has no mode of its own on Linux.
      const path = hostPath();
      if (fs.lstatSync(path).isSymbolicLink()) refuse(EOPNOTSUPP, 'mode of a symlink');
      fs.chmodSync(path, mode);
    }
  }
  if (attr.valid & (c.P9_ATTR_ATIME | c.P9_ATTR_MTIME)) {
    const atime = requestedTime(attr, c.P9_ATTR_ATIME, c.P9_ATTR_ATIME_SET, attr.atimeSec, attr.atimeNsec);
    const mtime = requestedTime(attr, c.P9_ATTR_MTIME, c.P9_ATTR_MTIME_SET, attr.mtimeSec, attr.mtimeNsec);
    if (fd !== undefined) setTimesOfFd(fd, atime, mtime);
    else setTimesNoFollow(hostPath(), atime, mtime);
  }
}

/** truncate(2) follows symlinks; an O_NOFOLLOW open does not. */
function truncateNoFollow(hostPath: string, size: number): void {
  const fd = fs.openSync(hostPath, O_WRONLY | O_NOFOLLOW | O_NONBLOCK);
  try {
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}

/** Rstatfs: type[4] bsize[4] blocks[8] bfree[8] bavail[8] files[8] ffree[8] fsid[8] namelen[4]. */
export function statfs(ctx: P9Context, request: RequestOf<typeof c.P9_TSTATFS>, reply: P9Writer): void {
  const fid = ctx.fids.get(request.fid);
  // statfs follows symlinks: ask the directory holding the file (the same file system, a mount point aside).
  const stats = fs.statfsSync(ctx.root.resolveDirectory(fid.path.slice(0, -1)), { bigint: true });
  reply
    .u32(Number(BigInt.asUintN(32, stats.type)))
    .u32(Number(stats.bsize))
    .u64(stats.blocks)
    .u64(stats.bfree)
    .u64(stats.bavail)
    .u64(stats.files)
    .u64(stats.ffree)
    .u64(0) // fsid: the guest has no use for the host's
    .u32(NAME_MAX);
}
