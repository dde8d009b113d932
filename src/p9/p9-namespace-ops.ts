// Operations on names: Tmkdir, Tmknod, Tsymlink, Tlink, Treadlink, Trename,
// Trenameat, Tunlinkat, Tremove. Every name the guest gives is one entry of a
// directory fid (checkEntryName: never '/', '.' or '..'), so none of them can
// reach outside the share. A symlink's target is only stored, never followed.
import fs from 'node:fs';
import os from 'node:os';
import type { P9Writer } from './p9-codec.js';
import * as c from './p9-constants.js';
import { type P9Context, checkWritable } from './p9-context.js';
import { type P9Path, checkEntryName } from './p9-confined-root.js';
import { refuse } from './p9-errno.js';
import { mknod as mknodCall } from './p9-libc.js';
import { qidOf } from './p9-qid.js';
import type { RequestOf } from './p9-requests.js';

const { EBUSY, EINVAL, ENOENT, EPERM } = os.constants.errno;
const { S_IFMT, S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK } = fs.constants;

function replyQidOf(hostPath: string, reply: P9Writer): void {
  reply.qid(qidOf(fs.lstatSync(hostPath, { bigint: true })));
}

export function mkdir(ctx: P9Context, request: RequestOf<typeof c.P9_TMKDIR>, reply: P9Writer): void {
  checkWritable(ctx);
  const hostPath = ctx.root.resolveEntry(ctx.fids.get(request.dfid).path, request.name);
  const mode = request.mode & 0o7777;
  fs.mkdirSync(hostPath, mode);
  // The guest already applied its umask; the server's own must not strip more.
  fs.chmodSync(hostPath, mode);
  replyQidOf(hostPath, reply);
}

const MKNOD_TYPES = new Set([S_IFREG, S_IFIFO, S_IFSOCK]);
/** Device nodes: a guest-made node for a host disk would open the host disk, should the server ever run privileged. */
const DEVICE_TYPES = new Set([S_IFCHR, S_IFBLK]);

export function mknod(ctx: P9Context, request: RequestOf<typeof c.P9_TMKNOD>, reply: P9Writer): void {
  checkWritable(ctx);
  const type = request.mode & S_IFMT;
  if (DEVICE_TYPES.has(type)) refuse(EPERM, 'device nodes are not created in a share');
  if (!MKNOD_TYPES.has(type)) refuse(EINVAL, `mknod of type 0o${type.toString(8)}`);
  const hostPath = ctx.root.resolveEntry(ctx.fids.get(request.dfid).path, request.name);
  mknodCall(hostPath, request.mode & (S_IFMT | 0o7777), request.major, request.minor);
  fs.chmodSync(hostPath, request.mode & 0o7777);
  replyQidOf(hostPath, reply);
}

export function symlink(ctx: P9Context, request: RequestOf<typeof c.P9_TSYMLINK>, reply: P9Writer): void {
  checkWritable(ctx);
  const hostPath = ctx.root.resolveEntry(ctx.fids.get(request.fid).path, request.name);
  if (request.target === '') refuse(ENOENT, 'empty symlink target');
  fs.symlinkSync(request.target, hostPath);
  replyQidOf(hostPath, reply);
}

/** link(2) does not follow a symlink it links: a hard link to a symlink is another symlink. */
export function link(ctx: P9Context, request: RequestOf<typeof c.P9_TLINK>): void {
  checkWritable(ctx);
  const target = ctx.fids.get(request.fid);
  const newPath = ctx.root.resolveEntry(ctx.fids.get(request.dfid).path, request.name);
  fs.linkSync(ctx.root.resolve(target.path), newPath);
}

export function readlink(ctx: P9Context, request: RequestOf<typeof c.P9_TREADLINK>, reply: P9Writer): void {
  const fid = ctx.fids.get(request.fid);
  reply.string(fs.readlinkSync(ctx.root.resolve(fid.path)));
}

/** Renames, then moves every fid at or below the old name, as the guest's dentries move. */
function renameAndMoveFids(ctx: P9Context, from: P9Path, toDir: P9Path, toName: string): void {
  if (from.length === 0) refuse(EBUSY, 'the root cannot move');
  const fromHost = ctx.root.resolveEntry(from.slice(0, -1), from[from.length - 1]);
  const toHost = ctx.root.resolveEntry(toDir, toName);
  fs.renameSync(fromHost, toHost);
  ctx.fids.moved(from, [...toDir, toName]);
}

export function rename(ctx: P9Context, request: RequestOf<typeof c.P9_TRENAME>): void {
  checkWritable(ctx);
  const fid = ctx.fids.get(request.fid);
  renameAndMoveFids(ctx, fid.path, ctx.fids.get(request.dfid).path, request.name);
}

export function renameat(ctx: P9Context, request: RequestOf<typeof c.P9_TRENAMEAT>): void {
  checkWritable(ctx);
  checkEntryName(request.oldName);
  const oldDir = ctx.fids.get(request.oldDirFid).path;
  renameAndMoveFids(ctx, [...oldDir, request.oldName], ctx.fids.get(request.newDirFid).path, request.newName);
}

export function unlinkat(ctx: P9Context, request: RequestOf<typeof c.P9_TUNLINKAT>): void {
  checkWritable(ctx);
  if (request.flags & ~c.P9_DOTL_AT_REMOVEDIR) refuse(EINVAL, `unlinkat flags 0x${request.flags.toString(16)}`);
  const hostPath = ctx.root.resolveEntry(ctx.fids.get(request.dfid).path, request.name);
  if (request.flags & c.P9_DOTL_AT_REMOVEDIR) fs.rmdirSync(hostPath);
  else fs.unlinkSync(hostPath);
}

/** Tremove: unlink what the fid names; the fid is clunked whatever happens. */
export function remove(ctx: P9Context, request: RequestOf<typeof c.P9_TREMOVE>): void {
  const fid = ctx.fids.get(request.fid);
  try {
    checkWritable(ctx);
    if (fid.path.length === 0) refuse(EBUSY, 'the root cannot be removed');
    const hostPath = ctx.root.resolve(fid.path);
    if (fs.lstatSync(hostPath).isDirectory()) fs.rmdirSync(hostPath);
    else fs.unlinkSync(hostPath);
  } finally {
    ctx.fids.clunk(request.fid);
  }
}
