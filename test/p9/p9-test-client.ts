// A tiny 9P2000.L client for the tests: builds T-messages the way Linux's
// net/9p/client.c does, hands them to a P9Server and decodes the replies.
// An Rlerror becomes a thrown P9ClientError carrying the errno.
import { P9Reader, P9Writer, type Qid } from '../../src/p9/p9-codec.js';
import * as c from '../../src/p9/p9-constants.js';
import type { P9DataPath } from '../../src/p9/p9-data-path.js';
import type { P9Server } from '../../src/p9/p9-server.js';

export class P9ClientError extends Error {
  constructor(readonly errno: number) {
    super(`Rlerror ${errno}`);
  }
}

export interface DirEntry {
  qid: Qid;
  offset: bigint;
  type: number;
  name: string;
}

export interface Attr {
  valid: bigint;
  qid: Qid;
  mode: number;
  uid: number;
  gid: number;
  nlink: bigint;
  rdev: bigint;
  size: bigint;
  blksize: bigint;
  blocks: bigint;
  atime: [bigint, bigint];
  mtime: [bigint, bigint];
  ctime: [bigint, bigint];
}

export interface SetAttr {
  valid: number;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: [bigint, bigint];
  mtime?: [bigint, bigint];
}

const O_RDONLY = 0;

export class P9TestClient {
  private tag = 1;
  private readonly writer = new P9Writer(1 << 21);

  constructor(readonly server: P9Server) {}

  /** Sends one request built by `body`; returns a reader over the reply body. */
  rpc(type: number, body: (w: P9Writer) => void, dataPath?: P9DataPath): P9Reader {
    const tag = this.tag++ & 0x7fff;
    this.writer.begin(type, tag);
    body(this.writer);
    return this.exchange(this.writer.finish(), type, tag, dataPath);
  }

  /** Sends `bytes` as is; returns a reader over the body of the expected reply. */
  exchange(bytes: Uint8Array, type: number, tag: number, dataPath?: P9DataPath): P9Reader {
    const reply = this.server.handle(bytes, dataPath);
    const r = new P9Reader(reply, 0, reply.byteLength);
    const size = r.u32();
    const replyType = r.u8();
    const replyTag = r.u16();
    if (replyTag !== tag) throw new Error(`reply tag ${replyTag}, expected ${tag}`);
    if (replyType === c.P9_RLERROR) throw new P9ClientError(r.u32());
    if (replyType !== type + 1) throw new Error(`reply type ${replyType} to request ${type}`);
    if (dataPath === undefined && size !== reply.byteLength) throw new Error(`reply size ${size} but ${reply.byteLength} bytes`);
    return r;
  }

  version(msize: number, version = c.P9_VERSION_L): { msize: number; version: string } {
    const r = this.rpc(c.P9_TVERSION, (w) => w.u32(msize).string(version));
    return { msize: r.u32(), version: r.string() };
  }

  attach(fid: number, uname = 'root', aname = '', nUname = 0): Qid {
    return qid(this.rpc(c.P9_TATTACH, (w) => w.u32(fid).u32(c.P9_NOFID).string(uname).string(aname).u32(nUname)));
  }

  /** version + attach fid 0: a session ready to use. */
  start(msize = 65536): this {
    this.version(msize);
    this.attach(0);
    return this;
  }

  walk(fid: number, newfid: number, names: string[]): Qid[] {
    const r = this.rpc(c.P9_TWALK, (w) => {
      w.u32(fid).u32(newfid).u16(names.length);
      for (const name of names) w.string(name);
    });
    const count = r.u16();
    return Array.from({ length: count }, () => qid(r));
  }

  lopen(fid: number, flags = O_RDONLY): { qid: Qid; iounit: number } {
    const r = this.rpc(c.P9_TLOPEN, (w) => w.u32(fid).u32(flags));
    return { qid: qid(r), iounit: r.u32() };
  }

  lcreate(fid: number, name: string, flags: number, mode: number, gid = 0): { qid: Qid; iounit: number } {
    const r = this.rpc(c.P9_TLCREATE, (w) => w.u32(fid).string(name).u32(flags).u32(mode).u32(gid));
    return { qid: qid(r), iounit: r.u32() };
  }

  read(fid: number, offset: number, count: number): Uint8Array {
    const r = this.rpc(c.P9_TREAD, (w) => w.u32(fid).u64(offset).u32(count));
    return r.data(r.u32()).slice();
  }

  write(fid: number, offset: number, data: Uint8Array): number {
    return this.rpc(c.P9_TWRITE, (w) => w.u32(fid).u64(offset).u32(data.byteLength).bytes(data)).u32();
  }

  readdir(fid: number, offset: number, count: number): DirEntry[] {
    const r = this.rpc(c.P9_TREADDIR, (w) => w.u32(fid).u64(offset).u32(count));
    const data = r.data(r.u32());
    return parseEntries(new P9Reader(data, 0, data.byteLength));
  }

  /** Every entry of an open directory fid, `count` bytes per Treaddir. */
  readdirAll(fid: number, count: number): DirEntry[] {
    const all: DirEntry[] = [];
    let offset = 0;
    for (;;) {
      const batch = this.readdir(fid, offset, count);
      if (batch.length === 0) return all;
      all.push(...batch);
      offset = Number(batch[batch.length - 1].offset);
    }
  }

  getattr(fid: number, mask = c.P9_STATS_BASIC): Attr {
    const r = this.rpc(c.P9_TGETATTR, (w) => w.u32(fid).u64(mask));
    const attr: Attr = {
      valid: r.u64(),
      qid: qid(r),
      mode: r.u32(),
      uid: r.u32(),
      gid: r.u32(),
      nlink: r.u64(),
      rdev: r.u64(),
      size: r.u64(),
      blksize: r.u64(),
      blocks: r.u64(),
      atime: [r.u64(), r.u64()],
      mtime: [r.u64(), r.u64()],
      ctime: [r.u64(), r.u64()],
    };
    for (let i = 0; i < 4; i++) r.u64(); // btime, gen, data_version
    r.expectEnd();
    return attr;
  }

  setattr(fid: number, attr: SetAttr): void {
    this.rpc(c.P9_TSETATTR, (w) =>
      w
        .u32(fid)
        .u32(attr.valid)
        .u32(attr.mode ?? 0)
        .u32(attr.uid ?? 0)
        .u32(attr.gid ?? 0)
        .u64(attr.size ?? 0)
        .u64(attr.atime?.[0] ?? 0n)
        .u64(attr.atime?.[1] ?? 0n)
        .u64(attr.mtime?.[0] ?? 0n)
        .u64(attr.mtime?.[1] ?? 0n),
    );
  }

  statfs(fid: number): { type: number; bsize: number; blocks: bigint; bfree: bigint; bavail: bigint; files: bigint; ffree: bigint; fsid: bigint; namelen: number } {
    const r = this.rpc(c.P9_TSTATFS, (w) => w.u32(fid));
    return { type: r.u32(), bsize: r.u32(), blocks: r.u64(), bfree: r.u64(), bavail: r.u64(), files: r.u64(), ffree: r.u64(), fsid: r.u64(), namelen: r.u32() };
  }

  fsync(fid: number, datasync = 0): void {
    this.rpc(c.P9_TFSYNC, (w) => w.u32(fid).u32(datasync));
  }

  mkdir(dfid: number, name: string, mode = 0o755, gid = 0): Qid {
    return qid(this.rpc(c.P9_TMKDIR, (w) => w.u32(dfid).string(name).u32(mode).u32(gid)));
  }

  mknod(dfid: number, name: string, mode: number, major = 0, minor = 0, gid = 0): Qid {
    return qid(this.rpc(c.P9_TMKNOD, (w) => w.u32(dfid).string(name).u32(mode).u32(major).u32(minor).u32(gid)));
  }

  symlink(fid: number, name: string, target: string, gid = 0): Qid {
    return qid(this.rpc(c.P9_TSYMLINK, (w) => w.u32(fid).string(name).string(target).u32(gid)));
  }

  link(dfid: number, fid: number, name: string): void {
    this.rpc(c.P9_TLINK, (w) => w.u32(dfid).u32(fid).string(name));
  }

  readlink(fid: number): string {
    return this.rpc(c.P9_TREADLINK, (w) => w.u32(fid)).string();
  }

  rename(fid: number, dfid: number, name: string): void {
    this.rpc(c.P9_TRENAME, (w) => w.u32(fid).u32(dfid).string(name));
  }

  renameat(oldDirFid: number, oldName: string, newDirFid: number, newName: string): void {
    this.rpc(c.P9_TRENAMEAT, (w) => w.u32(oldDirFid).string(oldName).u32(newDirFid).string(newName));
  }

  unlinkat(dfid: number, name: string, flags = 0): void {
    this.rpc(c.P9_TUNLINKAT, (w) => w.u32(dfid).string(name).u32(flags));
  }

  remove(fid: number): void {
    this.rpc(c.P9_TREMOVE, (w) => w.u32(fid));
  }

  clunk(fid: number): void {
    this.rpc(c.P9_TCLUNK, (w) => w.u32(fid));
  }

  flush(oldtag: number): void {
    this.rpc(c.P9_TFLUSH, (w) => w.u16(oldtag));
  }

  lock(fid: number, type: number, start = 0n, length = 0n): number {
    return this.rpc(c.P9_TLOCK, (w) => w.u32(fid).u8(type).u32(0).u64(start).u64(length).u32(42).string('guest')).u8();
  }

  getlock(fid: number, type: number, start = 0n, length = 0n): { type: number; start: bigint; length: bigint; procId: number; clientId: string } {
    const r = this.rpc(c.P9_TGETLOCK, (w) => w.u32(fid).u8(type).u64(start).u64(length).u32(42).string('guest'));
    return { type: r.u8(), start: r.u64(), length: r.u64(), procId: r.u32(), clientId: r.string() };
  }

  xattrwalk(fid: number, newfid: number, name: string): bigint {
    return this.rpc(c.P9_TXATTRWALK, (w) => w.u32(fid).u32(newfid).string(name)).u64();
  }

  xattrcreate(fid: number, name: string, size: bigint, flags = 0): void {
    this.rpc(c.P9_TXATTRCREATE, (w) => w.u32(fid).string(name).u64(size).u32(flags));
  }

  /** Walks from the root fid 0 to `path` ("a/b") into `newfid`. */
  open(newfid: number, path: string, flags = O_RDONLY): Qid {
    this.walk(0, newfid, path === '' ? [] : path.split('/'));
    return this.lopen(newfid, flags).qid;
  }
}

function qid(r: P9Reader): Qid {
  return { type: r.u8(), version: r.u32(), path: r.u64() };
}

function parseEntries(r: P9Reader): DirEntry[] {
  const entries: DirEntry[] = [];
  while (r.remaining > 0) entries.push({ qid: qid(r), offset: r.u64(), type: r.u8(), name: r.string() });
  return entries;
}

/** The errno `fn` failed with; throws when it succeeded. */
export function errnoFrom(fn: () => unknown): number {
  try {
    fn();
  } catch (error) {
    if (error instanceof P9ClientError) return error.errno;
    throw error;
  }
  throw new Error('expected an Rlerror, got a reply');
}
