// T-messages as typed values: framing (size[4] type[1] tag[2]) and the field
// list of every request a 9P2000.L server answers, as Linux's client writes
// them (net/9p/client.c, the p9_client_rpc format strings quoted below).
// Parsing is apart from serving: a request that comes out of here is
// well-formed; whether it makes sense (fids, names, modes) is the server's call.
import os from 'node:os';
import { P9Reader, P9ProtocolError } from './p9-codec.js';
import * as c from './p9-constants.js';

const { EPROTO, EMSGSIZE, EOPNOTSUPP } = os.constants.errno;

export type P9Request =
  | { type: typeof c.P9_TVERSION; msize: number; version: string }
  | { type: typeof c.P9_TATTACH; fid: number; afid: number; uname: string; aname: string; nUname: number }
  | { type: typeof c.P9_TFLUSH; oldtag: number }
  | { type: typeof c.P9_TWALK; fid: number; newfid: number; names: string[] }
  | { type: typeof c.P9_TCLUNK; fid: number }
  | { type: typeof c.P9_TREMOVE; fid: number }
  | { type: typeof c.P9_TLOPEN; fid: number; flags: number }
  | { type: typeof c.P9_TLCREATE; fid: number; name: string; flags: number; mode: number; gid: number }
  | { type: typeof c.P9_TREAD; fid: number; offset: number; count: number }
  /** data is undefined when the transport holds it (zero-copy write). */
  | { type: typeof c.P9_TWRITE; fid: number; offset: number; count: number; data: Uint8Array | undefined }
  | { type: typeof c.P9_TREADDIR; fid: number; offset: number; count: number }
  | { type: typeof c.P9_TGETATTR; fid: number; requestMask: bigint }
  | { type: typeof c.P9_TSETATTR; fid: number; attr: P9SetAttr }
  | { type: typeof c.P9_TSTATFS; fid: number }
  | { type: typeof c.P9_TFSYNC; fid: number; datasync: number }
  | { type: typeof c.P9_TMKDIR; dfid: number; name: string; mode: number; gid: number }
  | { type: typeof c.P9_TMKNOD; dfid: number; name: string; mode: number; major: number; minor: number; gid: number }
  | { type: typeof c.P9_TSYMLINK; fid: number; name: string; target: string; gid: number }
  | { type: typeof c.P9_TLINK; dfid: number; fid: number; name: string }
  | { type: typeof c.P9_TREADLINK; fid: number }
  | { type: typeof c.P9_TRENAME; fid: number; dfid: number; name: string }
  | { type: typeof c.P9_TRENAMEAT; oldDirFid: number; oldName: string; newDirFid: number; newName: string }
  | { type: typeof c.P9_TUNLINKAT; dfid: number; name: string; flags: number }
  | { type: typeof c.P9_TLOCK; fid: number; lock: P9Lock; flags: number }
  | { type: typeof c.P9_TGETLOCK; fid: number; lock: P9Lock }
  | { type: typeof c.P9_TXATTRWALK; fid: number; newfid: number; name: string }
  | { type: typeof c.P9_TXATTRCREATE; fid: number; name: string; size: bigint; flags: number };

/** The request of one type: RequestOf<typeof P9_TWALK>. */
export type RequestOf<T extends P9Request['type']> = Extract<P9Request, { type: T }>;

/** Tsetattr's p9_iattr_dotl ("ddugqqqqq"). */
export interface P9SetAttr {
  valid: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  atimeSec: bigint;
  atimeNsec: bigint;
  mtimeSec: bigint;
  mtimeNsec: bigint;
}

/** Tlock / Tgetlock's p9_flock fields (type start length proc_id client_id). */
export interface P9Lock {
  type: number;
  start: bigint;
  length: bigint;
  procId: number;
  clientId: string;
}

export interface P9Frame {
  type: number;
  tag: number;
}

/** A request, or the errno its Rlerror carries; `tag` is the best tag known (NOTAG for a header too short to hold one). */
export type DecodeResult =
  | { ok: true; tag: number; request: P9Request }
  | { ok: false; tag: number; errno: number; reason: string };

/**
 * Decodes one message of at most `msize` bytes. With `dataApart`, a Twrite may
 * come as its 23-byte header alone: its size field still counts the data, which
 * the transport keeps (zero-copy write).
 */
export function decodeRequest(bytes: Uint8Array, msize: number, dataApart = false): DecodeResult {
  if (bytes.byteLength < c.P9_HEADER_SIZE) return { ok: false, tag: c.P9_NOTAG, errno: EPROTO, reason: 'message shorter than its header' };
  const header = new P9Reader(bytes, 0, c.P9_HEADER_SIZE);
  const size = header.u32();
  const type = header.u8();
  const tag = header.u16();
  try {
    if (size > msize) throw new P9ProtocolError(EMSGSIZE, `message of ${size} bytes above msize ${msize}`);
    const headerOnlyWrite = dataApart && type === c.P9_TWRITE && bytes.byteLength === c.P9_TWRITE_HEADER_SIZE;
    if (size !== bytes.byteLength && !headerOnlyWrite) throw new P9ProtocolError(EPROTO, `size field ${size} but ${bytes.byteLength} bytes`);
    const body = new P9Reader(bytes, c.P9_HEADER_SIZE, bytes.byteLength);
    const request = decodeBody(type, body, headerOnlyWrite ? size - c.P9_TWRITE_HEADER_SIZE : undefined);
    body.expectEnd();
    return { ok: true, tag, request };
  } catch (error) {
    if (error instanceof P9ProtocolError) return { ok: false, tag, errno: error.errno, reason: error.message };
    throw error;
  }
}

function decodeBody(type: number, r: P9Reader, apartDataSize: number | undefined): P9Request {
  switch (type) {
    case c.P9_TVERSION: // "ds"
      return { type, msize: r.u32(), version: r.string() };
    case c.P9_TATTACH: // "ddss?u"
      return { type, fid: r.u32(), afid: r.u32(), uname: r.string(), aname: r.string(), nUname: r.u32() };
    case c.P9_TFLUSH: // "w"
      return { type, oldtag: r.u16() };
    case c.P9_TWALK: // "ddT": nwname[2] then nwname strings
      return { type, fid: r.u32(), newfid: r.u32(), names: walkNames(r) };
    case c.P9_TCLUNK:
    case c.P9_TREMOVE:
    case c.P9_TREADLINK:
    case c.P9_TSTATFS: // "d"
      return { type, fid: r.u32() };
    case c.P9_TLOPEN: // "dd"
      return { type, fid: r.u32(), flags: r.u32() };
    case c.P9_TLCREATE: // "dsddg"
      return { type, fid: r.u32(), name: r.string(), flags: r.u32(), mode: r.u32(), gid: r.u32() };
    case c.P9_TREAD:
    case c.P9_TREADDIR: // "dqd"
      return { type, fid: r.u32(), offset: r.u64AsNumber(), count: r.u32() };
    case c.P9_TWRITE: {
      // "dqV": count[4] then the data, unless the transport holds the data
      const fid = r.u32();
      const offset = r.u64AsNumber();
      const count = r.u32();
      if (apartDataSize !== undefined) {
        if (apartDataSize !== count) throw new P9ProtocolError(EPROTO, `Twrite count ${count} but ${apartDataSize} data bytes`);
        return { type, fid, offset, count, data: undefined };
      }
      return { type, fid, offset, count, data: r.data(count) };
    }
    case c.P9_TGETATTR: // "dq"
      return { type, fid: r.u32(), requestMask: r.u64() };
    case c.P9_TSETATTR: // "dI"
      return {
        type,
        fid: r.u32(),
        attr: {
          valid: r.u32(),
          mode: r.u32(),
          uid: r.u32(),
          gid: r.u32(),
          size: r.u64AsNumber(),
          atimeSec: r.u64(),
          atimeNsec: r.u64(),
          mtimeSec: r.u64(),
          mtimeNsec: r.u64(),
        },
      };
    case c.P9_TFSYNC: // "dd" (older clients send "d": datasync then defaults to 0)
      return { type, fid: r.u32(), datasync: r.remaining >= 4 ? r.u32() : 0 };
    case c.P9_TMKDIR: // "dsdg"
      return { type, dfid: r.u32(), name: r.string(), mode: r.u32(), gid: r.u32() };
    case c.P9_TMKNOD: // "dsdddg"
      return { type, dfid: r.u32(), name: r.string(), mode: r.u32(), major: r.u32(), minor: r.u32(), gid: r.u32() };
    case c.P9_TSYMLINK: // "dssg"
      return { type, fid: r.u32(), name: r.string(), target: r.string(), gid: r.u32() };
    case c.P9_TLINK: // "dds"
      return { type, dfid: r.u32(), fid: r.u32(), name: r.string() };
    case c.P9_TRENAME: // "dds"
      return { type, fid: r.u32(), dfid: r.u32(), name: r.string() };
    case c.P9_TRENAMEAT: // "dsds"
      return { type, oldDirFid: r.u32(), oldName: r.string(), newDirFid: r.u32(), newName: r.string() };
    case c.P9_TUNLINKAT: // "dsd"
      return { type, dfid: r.u32(), name: r.string(), flags: r.u32() };
    case c.P9_TLOCK: {
      // "dbdqqds": fid type flags start length proc_id client_id
      const fid = r.u32();
      const lockType = r.u8();
      const flags = r.u32();
      return { type, fid, flags, lock: { type: lockType, start: r.u64(), length: r.u64(), procId: r.u32(), clientId: r.string() } };
    }
    case c.P9_TGETLOCK: // "dbqqds"
      return { type, fid: r.u32(), lock: { type: r.u8(), start: r.u64(), length: r.u64(), procId: r.u32(), clientId: r.string() } };
    case c.P9_TXATTRWALK: // "dds"
      return { type, fid: r.u32(), newfid: r.u32(), name: r.string() };
    case c.P9_TXATTRCREATE: // "dsqd"
      return { type, fid: r.u32(), name: r.string(), size: r.u64(), flags: r.u32() };
    default:
      if (c.P9_LEGACY_REQUESTS.has(type)) throw new P9ProtocolError(EOPNOTSUPP, `9P2000 request ${type} is not part of 9P2000.L`);
      throw new P9ProtocolError(EPROTO, `unknown message type ${type}`);
  }
}

function walkNames(r: P9Reader): string[] {
  const count = r.u16();
  // Each name takes at least 2 bytes: a huge count in a short message fails here, before any allocation.
  if (count * 2 > r.remaining) throw new P9ProtocolError(EPROTO, `Twalk of ${count} names in ${r.remaining} bytes`);
  const names: string[] = [];
  for (let i = 0; i < count; i++) names.push(r.string());
  return names;
}
