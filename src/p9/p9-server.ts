// A 9P2000.L file server over one host directory: the protocol Linux's v9fs
// client speaks over virtio-9p (`mount -t 9p -o trans=virtio,version=9p2000.L`).
//
// API. A transport (the virtio-9p device) owns the queues; the server owns
// the file system state of one connection:
//
//   const server = new P9Server({ root: '/', readOnly: false });
//   const reply = server.handle(requestBytes);          // plain path
//   const reply = server.handle(requestBytes, dataPath); // zero-copy file data
//
// handle() takes one whole T-message and returns one whole R-message (a view
// into the server's reply buffer, valid until the next call). It never throws
// for anything the guest sends: malformed messages, unknown fids, misuse and
// host errors all come back as Rlerror(errno). Requests are served one at a
// time, to completion, in the order given, so Tflush has nothing to cancel.
//
// Zero-copy (see p9-data-path.ts): with a P9DataPath, Tread data goes from the
// file straight into guest buffers (readInto) and the reply is the 11-byte
// Rread header to put in front of it; a Twrite may come as its 23-byte header
// alone, its data written from guest buffers (writeFrom). IoVecDataPath does
// both with one preadv / pwritev over iovec lists of guest addresses.
//
// Confinement (see p9-confined-root.ts): files are name lists below `root`,
// '..' stops at the root, walks and opens never follow symlinks, guest names
// are single entries. In production `root` is "/" inside the device jail,
// whose root is the shared directory; this is defence in depth.
import fs from 'node:fs';
import os from 'node:os';
import * as attributeOps from './p9-attribute-ops.js';
import { P9Writer } from './p9-codec.js';
import * as c from './p9-constants.js';
import { ConfinedRoot, walkStep } from './p9-confined-root.js';
import { type P9IdMap, readOwnIdMap } from './p9-id-map.js';
import type { P9Context } from './p9-context.js';
import type { P9DataPath } from './p9-data-path.js';
import { errnoOf, refuse } from './p9-errno.js';
import { Fid, FidTable } from './p9-fid-table.js';
import * as fileOps from './p9-file-ops.js';
import * as namespaceOps from './p9-namespace-ops.js';
import { isDirectoryQid, qidOf } from './p9-qid.js';
import { statPathOrErrno } from './p9-host-stat.js';
import { type P9Request, type RequestOf, decodeRequest } from './p9-requests.js';

const { EINVAL, ENOTDIR, EOPNOTSUPP, EMSGSIZE } = os.constants.errno;

export interface P9ServerOptions {
  /** The directory the guest sees as "/" ("/" inside the device jail). */
  root: string;
  /** Refuse every change with EROFS (`--share DIR,ro`). */
  readOnly?: boolean;
  /** The largest msize the server accepts (Tversion may agree on less). */
  maxMessageSize?: number;
  /** Owners as the guest sees them (default: this process's user namespace, read now). */
  ids?: P9IdMap;
}

/** Room for 512 KiB of file data per message; a client asking for more is offered this. */
export const P9_DEFAULT_MAX_MESSAGE_SIZE = 512 * 1024 + c.P9_TWRITE_HEADER_SIZE;

/** Something the server tells about a request it refused (for a rate-limited log). */
export interface P9Refusal {
  type: number;
  errno: number;
  reason: string;
}

export class P9Server {
  private readonly ctx: P9Context;
  private readonly reply: P9Writer;
  private readonly maxMessageSize: number;
  /** The last refused request, kept for a caller that wants to log why. */
  lastRefusal: P9Refusal | undefined;

  constructor(options: P9ServerOptions) {
    this.maxMessageSize = options.maxMessageSize ?? P9_DEFAULT_MAX_MESSAGE_SIZE;
    if (this.maxMessageSize < c.P9_MIN_MSIZE) throw new RangeError(`9p maxMessageSize ${this.maxMessageSize} below ${c.P9_MIN_MSIZE}`);
    this.ctx = {
      root: new ConfinedRoot(options.root),
      fids: new FidTable(),
      readOnly: options.readOnly ?? false,
      msize: this.maxMessageSize,
      ids: options.ids ?? readOwnIdMap(),
    };
    this.reply = new P9Writer(this.maxMessageSize);
  }

  /** The msize agreed with the client. */
  get msize(): number {
    return this.ctx.msize;
  }

  /** How many fids the client holds (tests check clunks leave none). */
  get fidCount(): number {
    return this.ctx.fids.size;
  }

  /** Serves one T-message; returns the R-message (see the file header). */
  handle(request: Uint8Array, dataPath?: P9DataPath): Uint8Array {
    const decoded = decodeRequest(request, this.ctx.msize, dataPath !== undefined);
    if (!decoded.ok) return this.refusal(request.byteLength > 4 ? request[4] : 0, decoded.tag, decoded.errno, decoded.reason);
    const { tag, request: message } = decoded;
    try {
      this.reply.begin(message.type + 1, tag);
      this.serve(message, dataPath);
      return this.reply.finish();
    } catch (error) {
      return this.refusal(message.type, tag, errnoOf(error), error instanceof Error ? error.message : String(error));
    }
  }

  /** Closes every open file (the transport went away). */
  close(): void {
    this.ctx.fids.clear();
    this.ctx.root.close();
  }

  private refusal(type: number, tag: number, errno: number, reason: string): Uint8Array {
    this.lastRefusal = { type, errno, reason };
    return this.reply.begin(c.P9_RLERROR, tag).u32(errno).finish();
  }

  private serve(request: P9Request, dataPath: P9DataPath | undefined): void {
    const { ctx, reply } = this;
    switch (request.type) {
      case c.P9_TVERSION:
        return this.version(request);
      case c.P9_TATTACH:
        return this.attach(request);
      case c.P9_TFLUSH:
        return; // every request already finished: nothing to cancel
      case c.P9_TWALK:
        return this.walk(request);
      case c.P9_TCLUNK:
        return ctx.fids.clunk(request.fid);
      case c.P9_TREMOVE:
        return namespaceOps.remove(ctx, request);
      case c.P9_TLOPEN:
        return fileOps.lopen(ctx, request, reply);
      case c.P9_TLCREATE:
        return fileOps.lcreate(ctx, request, reply);
      case c.P9_TREAD:
        return fileOps.read(ctx, request, reply, dataPath);
      case c.P9_TWRITE:
        return fileOps.write(ctx, request, reply, dataPath);
      case c.P9_TREADDIR:
        return fileOps.readdir(ctx, request, reply);
      case c.P9_TFSYNC:
        return fileOps.fsync(ctx, request);
      case c.P9_TGETATTR:
        return attributeOps.getattr(ctx, request, reply);
      case c.P9_TSETATTR:
        return attributeOps.setattr(ctx, request);
      case c.P9_TSTATFS:
        return attributeOps.statfs(ctx, request, reply);
      case c.P9_TMKDIR:
        return namespaceOps.mkdir(ctx, request, reply);
      case c.P9_TMKNOD:
        return namespaceOps.mknod(ctx, request, reply);
      case c.P9_TSYMLINK:
        return namespaceOps.symlink(ctx, request, reply);
      case c.P9_TLINK:
        return namespaceOps.link(ctx, request);
      case c.P9_TREADLINK:
        return namespaceOps.readlink(ctx, request, reply);
      case c.P9_TRENAME:
        return namespaceOps.rename(ctx, request);
      case c.P9_TRENAMEAT:
        return namespaceOps.renameat(ctx, request);
      case c.P9_TUNLINKAT:
        return namespaceOps.unlinkat(ctx, request);
      case c.P9_TLOCK:
        return this.lock(request);
      case c.P9_TGETLOCK:
        return this.getlock(request);
      case c.P9_TXATTRWALK:
      case c.P9_TXATTRCREATE:
        return refuse(EOPNOTSUPP, 'extended attributes are not shared');
    }
  }

  /** Only "9P2000.L" is spoken; any other version is answered "unknown". A new version ends the old session. */
  private version(request: RequestOf<typeof c.P9_TVERSION>): void {
    this.ctx.fids.clear();
    if (request.version !== c.P9_VERSION_L) {
      this.reply.u32(Math.min(request.msize, this.maxMessageSize)).string(c.P9_VERSION_UNKNOWN);
      return;
    }
    if (request.msize < c.P9_MIN_MSIZE) refuse(EMSGSIZE, `msize ${request.msize} below ${c.P9_MIN_MSIZE}`);
    this.ctx.msize = Math.min(request.msize, this.maxMessageSize);
    this.reply.u32(this.ctx.msize).string(c.P9_VERSION_L);
  }

  /** Every attach gets the root; there is no authentication (afid is ignored) and aname selects nothing. */
  private attach(request: RequestOf<typeof c.P9_TATTACH>): void {
    this.ctx.fids.checkFree(request.fid);
    const qid = qidOf(fs.lstatSync(this.ctx.root.hostRoot, { bigint: true }));
    this.ctx.fids.add(request.fid, new Fid([], qid, request.uname, request.nUname));
    this.reply.qid(qid);
  }

  /**
   * Walks up to 16 names from fid. If the first name fails, the reply is
   * Rlerror; if a later one fails, Rwalk carries the qids of the names that
   * worked and newfid is not made. Only a full walk makes newfid (which may
   * be fid itself). A symlink is a leaf: its own qid, nothing walks through it.
   * Walking from an open fid is allowed (only the new fid matters, and it is
   * never open); with newfid == fid the open file is closed.
   */
  private walk(request: RequestOf<typeof c.P9_TWALK>): void {
    const { fids, root } = this.ctx;
    const from = fids.get(request.fid);
    if (request.names.length > c.P9_MAXWELEM) refuse(EINVAL, `Twalk of ${request.names.length} names`);
    if (request.newfid !== request.fid) fids.checkFree(request.newfid);

    let path = from.path;
    let qid = from.qid;
    const qids = [];
    if (request.names.length > 0) root.resolveDirectory(path); // nor fid nor anything above it became a symlink
    for (const name of request.names) {
      try {
        if (!isDirectoryQid(qid)) refuse(ENOTDIR);
        const next = walkStep(path, name);
        // A missing name is common (a search along PATH): no Node error to build for it.
        const stats = statPathOrErrno(root.hostPath(next));
        if (typeof stats === 'number') refuse(-stats);
        qid = qidOf(stats);
        path = next;
        qids.push(qid);
      } catch (error) {
        if (qids.length === 0) throw error;
        break;
      }
    }
    this.reply.u16(qids.length);
    for (const q of qids) this.reply.qid(q);
    if (qids.length < request.names.length) return;

    const walked = new Fid(path, qid, from.uname, from.nUname);
    if (request.newfid === request.fid) fids.replace(request.fid, walked);
    else fids.add(request.newfid, walked);
  }

  /**
   * Advisory no-op: every lock is granted. The guest kernel still enforces
   * POSIX locks among its own processes (v9fs takes the local lock first);
   * only host processes or another guest sharing the directory would not see them.
   */
  private lock(request: RequestOf<typeof c.P9_TLOCK>): void {
    this.ctx.fids.get(request.fid);
    this.reply.u8(c.P9_LOCK_SUCCESS);
  }

  /** Reports the range unlocked (nothing is ever held on the host). */
  private getlock(request: RequestOf<typeof c.P9_TGETLOCK>): void {
    this.ctx.fids.get(request.fid);
    const { lock } = request;
    this.reply.u8(c.P9_LOCK_TYPE_UNLCK).u64(lock.start).u64(lock.length).u32(lock.procId).string(lock.clientId);
  }
}
