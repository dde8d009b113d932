// Fuzz target: virtio-9p (src/devices/virtio/virtio-9p.ts and the 9P2000.L
// server under it, src/p9) behind its virtio-mmio transport, serving a real
// temporary directory rebuilt for every input: a few files, a subdirectory,
// and symlinks pointing out of it at a directory "outside" next to the share
// that holds a secret. A guest driver runs version and attach, then posts a
// mix of well-formed and hostile 9P messages (walks with names like '..',
// '/' and '../outside/secret', opens, creates, reads and writes in one
// buffer and zero-copy as Linux's trans_virtio lays them out, readdir,
// getattr, setattr, mkdir, mknod, symlink, link, renames, unlinks, clunk,
// flush, fsync, statfs, locks; random fids, huge counts and offsets, size
// fields that lie, truncated messages, trailing junk), whose descriptors are
// then mutated; garbage avail indices, random register writes, QueueReady=0
// and resets. Some shares are read-only.
// Invariants: nothing throws; no guest byte changes outside the
// device-writable buffers of the chains it took and the used ring; each
// used element names the chain the avail ring offered next (so a head inside
// the queue) and a used length no larger than that chain's writable bytes;
// nothing outside the share is created, removed or changed (the directory
// holding the share, the outside directory, the secret's mode, owner and
// content); a read-only share is left as it was, and an Rread from it
// carries the bytes at its offset of one of the share's files; and a driver
// that posts only well-formed messages in buffers that hold them gets a
// reply to every one from a device that is not broken, each with size field
// = used length, its request's tag, and type = request type + 1 or Rlerror.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_MMIO, VirtioMmioTransport } from '../../src/devices/virtio/virtio-mmio.js';
import { VIRTIO_9P_FEATURES, VIRTIO_9P_QUEUE_SIZE, Virtio9p } from '../../src/devices/virtio/virtio-9p.js';
import { MAX_CHAIN_SEGMENTS, type VirtQueue } from '../../src/devices/virtio/virtqueue.js';
import { P9Writer } from '../../src/p9/p9-codec.js';
import * as c from '../../src/p9/p9-constants.js';
import { P9_DEFAULT_MAX_MESSAGE_SIZE } from '../../src/p9/p9-server.js';
import { GuestRam, type Range } from './guest-ram.js';
import { INTERESTING_U32, Outcomes, Prng, check, show, type FuzzTarget } from './harness.js';
import { BufferArea, QueueSet, applyMutations, hostileMutations, randomRingStep, write32, type DescriptorMutation, type FuzzDescriptor, type QueueRings, type RingStep } from './mmio-fuzz-driver.js';

const USED_RING_BYTES = 6 + 8 * VIRTIO_9P_QUEUE_SIZE;
const RINGS: readonly QueueRings[] = [{ desc: 0x10000, avail: 0x11000, used: 0x12000, indirect: 0x13000 }];
const DATA_START = 0x20000;
const MUTATIONS = { lengths: [0, 6, 7, 10, 11, 12, 22, 23, 24], queueSize: VIRTIO_9P_QUEUE_SIZE, buffers: DATA_START };
/** A clean driver's queue, and at most this many chains per post: 4 chains of at most 8 descriptors fill it. */
const CLEAN_QUEUE_SIZE = 32;
const CLEAN_CHAINS = 4;
const SECRET = 'host secret';
const FILE_CONTENT = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 13) & 0xff));
const SMALL_CONTENT = Buffer.from('hello');
const NESTED_CONTENT = Buffer.from('nested');
/** The contents of the files a share holds when built: a read-only one's for good. */
const READ_ONLY_FILES = [FILE_CONTENT, SMALL_CONTENT, NESTED_CONTENT];
/** Rread's and Rwrite's header (size type tag count): all Linux gives a zero-copy reply besides the pages. */
const REPLY_HEADER = c.P9_RREAD_HEADER_SIZE;
const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, S_IFIFO, S_IFREG, S_IFSOCK, S_IFCHR } = fs.constants;

/** Names a guest may send: the share's entries, new ones, and ones that try to leave the share. */
const NAMES = ['file', 'file', 'small', 'dir', 'dir', 'nested', 'out-abs', 'out-rel', 'out-dir', 'dangling', 'new', 'newdir', 'fifo', '..', '.', '', '/', '../outside/secret', '../outside', 'a/b', 'outside', 'secret', 'hostdir', 'nul\0byte', 'x'.repeat(256)];
const SYMLINK_TARGETS = ['/', '..', '../outside/secret', '../../outside', '/etc/passwd', 'file', '', 'x'.repeat(300)];
/** Where a file's life starts: the share's files, through its subdirectory, onto its symlinks, up and back. */
const PATHS = [['file'], ['file'], ['file'], ['small'], ['small'], ['dir', 'nested'], ['out-abs'], ['out-rel'], ['out-dir'], ['dangling'], ['..', 'file'], ['new']];
/** What is done to an open file, and to an open directory. */
const FILE_OPS: readonly Op[] = ['read', 'read', 'read', 'write', 'write', 'write', 'readdir', 'getattr', 'setattr', 'fsync', 'statfs', 'lock', 'rename'];
const DIRECTORY_OPS: readonly Op[] = ['readdir', 'readdir', 'getattr', 'statfs', 'fsync', 'mkdir', 'symlink', 'unlinkat'];
const FILE_OPEN_FLAGS = [O_RDWR, O_RDWR, O_RDWR, O_RDONLY, O_RDONLY, O_WRONLY | O_APPEND, O_RDWR | O_TRUNC];
const OPEN_FLAGS = [O_RDONLY, O_RDWR, O_WRONLY, O_RDONLY | O_DIRECTORY, O_RDWR | O_TRUNC, O_WRONLY | O_APPEND];
const MODES = [0o644, 0o755, 0o600, 0, 0o7777];
const SETATTR_VALID = [c.P9_ATTR_MODE, c.P9_ATTR_SIZE, c.P9_ATTR_MTIME | c.P9_ATTR_MTIME_SET, c.P9_ATTR_ATIME | c.P9_ATTR_MTIME, c.P9_ATTR_MODE | c.P9_ATTR_SIZE, c.P9_ATTR_UID | c.P9_ATTR_GID];

/** The T-messages the driver sends, by name (unknown: types no 9P2000.L server serves). */
const OPS = {
  walk: c.P9_TWALK,
  lopen: c.P9_TLOPEN,
  lcreate: c.P9_TLCREATE,
  read: c.P9_TREAD,
  write: c.P9_TWRITE,
  readdir: c.P9_TREADDIR,
  getattr: c.P9_TGETATTR,
  setattr: c.P9_TSETATTR,
  mkdir: c.P9_TMKDIR,
  mknod: c.P9_TMKNOD,
  symlink: c.P9_TSYMLINK,
  link: c.P9_TLINK,
  readlink: c.P9_TREADLINK,
  rename: c.P9_TRENAME,
  renameat: c.P9_TRENAMEAT,
  unlinkat: c.P9_TUNLINKAT,
  remove: c.P9_TREMOVE,
  clunk: c.P9_TCLUNK,
  flush: c.P9_TFLUSH,
  fsync: c.P9_TFSYNC,
  statfs: c.P9_TSTATFS,
  lock: c.P9_TLOCK,
  getlock: c.P9_TGETLOCK,
  xattrwalk: c.P9_TXATTRWALK,
  version: c.P9_TVERSION,
  attach: c.P9_TATTACH,
  unknown: 0,
} as const;
type Op = keyof typeof OPS;
/** A clean driver's requests: well-formed, and a new session (Tversion) only at the start. */
const CLEAN_OPS = (Object.keys(OPS) as Op[]).filter((op) => op !== 'version' && op !== 'unknown');
const OP_NAMES = new Map<number, string>(Object.entries(OPS).map(([name, type]) => [type, name]));
const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

/** One field of a message, in the letters of Linux's p9_client_rpc formats (b w d q s); x: that many data bytes; raw: bytes as they are (a string that lies). */
type Field = ['b' | 'w' | 'd', number] | ['q', bigint] | ['s', string] | ['x', number] | ['raw', number[]];

interface Message {
  op: Op;
  type: number;
  tag: number;
  fields: Field[];
}

/** What a hostile driver does to a message once built. */
type Tamper =
  | { lie: 'size'; value: number; relative: boolean }
  /** The message ends at `at` bytes; its size field says so, or still counts the whole. */
  | { lie: 'cut'; at: number; resize: boolean }
  /** Bytes after the last field, counted in the size field. */
  | { lie: 'junk'; bytes: number[] }
  | { lie: 'field'; index: number; field: Field };

interface ChainSpec {
  message: Message;
  tamper?: Tamper;
  /** The message in two readable buffers, cut here (0: one buffer). */
  split: number;
  /** Readable buffers after the message: a zero-copy Twrite's data (its size field counts them). */
  pages: number[];
  /** Writable buffers: the reply room (a zero-copy Tread: 11 bytes for the Rread header, then the pages). */
  room: number[];
  indirect: boolean;
  mutations: DescriptorMutation[];
}

type Step = { step: 'post'; chains: ChainSpec[]; notify: boolean } | RingStep;

interface NinepInput {
  readOnly: boolean;
  /** The device's largest msize. */
  maxMessageSize: number;
  features: bigint;
  size: number;
  /** Well-formed messages in buffers that hold them and their replies, no hostile steps: every request gets a well-formed reply. */
  clean: boolean;
  steps: Step[];
}

/** A chain the avail ring offers, as the device's pop() will walk it (or why pop() refuses it), with its request's header. */
interface Offered {
  head: number;
  chain: WalkedChain | string;
  requestType: number;
  requestTag: number;
}

interface WalkedChain {
  readable: Range[];
  writable: Range[];
  writableBytes: number;
}

const d = (v: number): Field => ['d', v];
const q = (v: bigint): Field => ['q', v];
const w = (v: number): Field => ['w', v];
const b = (v: number): Field => ['b', v];
const s = (v: string): Field => ['s', v];

/** A driver's requests, generated: well-formed ones (clean), or a mix of plausible and hostile ones. */
class RequestMaker {
  private tag = 1;
  private nextFid = 0;

  constructor(
    private readonly rng: Prng,
    private readonly clean: boolean,
    /** The msize the driver believes was agreed. */
    private readonly msize: number,
    /** The share is read-only: files are mostly opened for reading, as a client of a read-only mount does. */
    private readonly readOnly = false,
  ) {}

  version(asked: number): ChainSpec {
    const r = this.rng;
    if (this.clean || r.chance(0.7)) return this.plain('version', [d(asked), s(c.P9_VERSION_L)]);
    return this.plain('version', [d(r.pick([asked, 0, 4096, c.P9_MIN_MSIZE, 0xffffffff])), s(r.pick(['9P2000', '9P2000.u', '', 'x']))]);
  }

  attach(): ChainSpec {
    return this.plain('attach', [d(this.clean ? 0 : this.fid()), d(c.P9_NOFID), s('root'), s(''), d(0)]);
  }

  /**
   * A few requests: one of any kind, or a file's life (walk to it and open
   * it, or create it; read, write, list, sync, change it; clunk it) on the
   * next of fids 1..7, so that reads and writes meet open files.
   */
  requests(): ChainSpec[] {
    const r = this.rng;
    if (r.chance(0.4)) return [this.request()];
    const fid = 1 + (this.nextFid++ % 7);
    const clunk = r.chance(0.8) ? [this.request('clunk', fid)] : [];
    const where = this.walk(0, fid, r.pick([[], ['dir']]));
    const times = (op: () => Op) => Array.from({ length: r.range(1, 3) }, () => this.request(op(), fid));
    switch (r.below(4)) {
      case 0:
        return [where, this.plain('lopen', [d(fid), d(O_RDONLY | O_DIRECTORY)]), ...times(() => r.pick(DIRECTORY_OPS)), ...clunk];
      case 1: {
        const name = r.chance(0.7) ? 'new' : this.name();
        return [where, this.plain('lcreate', [d(fid), s(name), d(r.pick(FILE_OPEN_FLAGS) | O_CREAT), d(0o644), d(0)]), ...times(() => r.pick(FILE_OPS)), ...clunk];
      }
      default:
        return [this.walk(0, fid, r.pick(PATHS)), this.plain('lopen', [d(fid), d(this.readOnly && r.chance(0.8) ? O_RDONLY : r.pick(FILE_OPEN_FLAGS))]), ...times(() => r.pick(FILE_OPS)), ...clunk];
    }
  }

  request(op: Op = this.rng.pick(this.clean ? CLEAN_OPS : (Object.keys(OPS) as Op[])), fid = this.fid()): ChainSpec {
    const r = this.rng;
    switch (op) {
      case 'walk':
        return this.walk(r.chance(0.6) ? 0 : fid, this.fid(), Array.from({ length: r.chance(0.9) ? r.range(0, 3) : r.range(4, this.clean ? c.P9_MAXWELEM : 20) }, () => this.name()));
      case 'lopen':
        return this.plain(op, [d(fid), d(this.openFlags())]);
      case 'lcreate':
        return this.plain(op, [d(fid), s(this.name()), d(this.openFlags() | O_CREAT | (r.chance(0.2) ? O_EXCL : 0)), d(r.pick(MODES)), d(0)]);
      case 'read':
        return this.read(fid);
      case 'write':
        return this.write(fid);
      case 'readdir':
        return this.plain(op, [d(fid), q(r.pick([0n, 0n, 1n, 2n, 3n, 1n << 40n])), d(this.count(this.msize - c.P9_RREAD_HEADER_SIZE))]);
      case 'getattr':
        return this.plain(op, [d(fid), q(r.pick([c.P9_STATS_BASIC, c.P9_STATS_BASIC | c.P9_STATS_BTIME, 0n, (1n << 64n) - 1n]))]);
      case 'setattr': {
        const valid = this.clean || r.chance(0.5) ? r.pick(SETATTR_VALID) : r.chance(0.5) ? r.below(0x200) : r.u32();
        const time = () => q(BigInt(r.pick([0, 1, 1700000000, 0xffffffff])));
        return this.plain(op, [d(fid), d(valid), d(r.pick(MODES)), d(r.pick([0, 0, 1000, 65534])), d(r.pick([0, 0, 1000])), q(this.offset()), time(), time(), time(), time()]);
      }
      case 'mkdir':
        return this.plain(op, [d(fid), s(this.name()), d(r.pick(MODES)), d(0)]);
      case 'mknod':
        return this.plain(op, [d(fid), s(this.name()), d(r.pick([S_IFIFO, S_IFREG, S_IFSOCK, S_IFCHR]) | 0o644), d(r.pick([0, 1, 8])), d(r.pick([0, 3])), d(0)]);
      case 'symlink':
        return this.plain(op, [d(fid), s(this.name()), s(r.pick(SYMLINK_TARGETS)), d(0)]);
      case 'link':
      case 'rename':
        return this.plain(op, [d(fid), d(this.fid()), s(this.name())]);
      case 'renameat':
        return this.plain(op, [d(fid), s(this.name()), d(this.fid()), s(this.name())]);
      case 'unlinkat':
        return this.plain(op, [d(fid), s(this.name()), d(this.clean || r.chance(0.8) ? r.pick([0, c.P9_DOTL_AT_REMOVEDIR]) : r.u32())]);
      case 'readlink':
      case 'remove':
      case 'clunk':
      case 'statfs':
        return this.plain(op, [d(fid)]);
      case 'fsync':
        return this.plain(op, [d(fid), d(r.below(2))]);
      case 'flush':
        return this.plain(op, [w(r.chance(0.5) ? this.tag - 1 : r.below(0x10000))]);
      case 'lock':
        return this.plain(op, [d(fid), b(r.below(3)), d(r.below(2)), q(0n), q(this.offset()), d(1), s('fuzz')]);
      case 'getlock':
        return this.plain(op, [d(fid), b(r.below(3)), q(0n), q(this.offset()), d(1), s('fuzz')]);
      case 'xattrwalk':
        return this.plain(op, [d(fid), d(this.fid()), s(r.pick(['', 'user.x', 'security.selinux']))]);
      case 'version':
        return this.version(this.msize);
      case 'attach':
        return this.attach();
      case 'unknown': {
        const type = r.pick([0, 1, 7, 101, 102, 112, 255, r.below(256)]);
        return this.chain({ op, type, tag: this.nextTag(), fields: Array.from({ length: r.below(4) }, () => d(r.u32())) }, [], this.room());
      }
    }
  }

  /** Tread: the data after an 11-byte header buffer in pages of its own (Linux's zero-copy read), or all in one reply buffer. */
  private read(fid: number): ChainSpec {
    const r = this.rng;
    const limit = this.msize - c.P9_RREAD_HEADER_SIZE;
    const head = (count: number): Field[] => [d(fid), q(this.offset()), d(count)];
    if (r.chance(0.5)) {
      const pages = this.pages(limit);
      const count = this.clean ? sum(pages) : r.pick([sum(pages), sum(pages) + 1, 0, limit + 1, 0xffffffff]);
      const header = this.clean || r.chance(0.8) ? [REPLY_HEADER] : [5, 6];
      return this.chain(this.message('read', head(count)), [], [...header, ...pages]);
    }
    return this.chain(this.message('read', head(this.count(limit))), [], this.room());
  }

  /** Twrite: its 23-byte header then the data in pages of their own (Linux's zero-copy write), or header and data in one buffer. */
  private write(fid: number): ChainSpec {
    const r = this.rng;
    const limit = this.msize - c.P9_TWRITE_HEADER_SIZE;
    const head = (count: number): Field[] => [d(fid), q(this.offset()), d(count)];
    if (r.chance(0.5)) {
      const pages = this.pages(limit);
      const count = this.clean ? sum(pages) : r.pick([sum(pages), sum(pages), sum(pages) + 1, Math.max(0, sum(pages) - 1), 0xffffffff]);
      return this.chain(this.message('write', head(count)), pages, this.clean && r.chance(0.5) ? [REPLY_HEADER] : this.room());
    }
    const n = Math.min(r.pick([0, 1, 100, 1000, 4096]), limit);
    const count = this.clean || r.chance(0.7) ? n : r.pick([n + 1, n - 1, 0xffffffff]);
    return this.chain(this.message('write', [...head(count), ['x', n]]), [], this.room());
  }

  private walk(from: number, to: number, names: readonly string[]): ChainSpec {
    return this.plain('walk', [d(from), d(to), w(names.length), ...names.map(s)]);
  }

  private plain(op: Op, fields: Field[]): ChainSpec {
    return this.chain(this.message(op, fields), [], this.room());
  }

  private message(op: Op, fields: Field[]): Message {
    return { op, type: OPS[op], tag: this.nextTag(), fields };
  }

  private nextTag(): number {
    if (this.clean || this.rng.chance(0.9)) return this.tag++ & 0x7fff;
    return c.P9_NOTAG;
  }

  /** The chain around a message: buffers split or not, a hostile driver's pages, lies and descriptor mutations. */
  private chain(message: Message, pages: number[], room: number[]): ChainSpec {
    const r = this.rng;
    const hostile = !this.clean;
    return {
      message,
      tamper: hostile && r.chance(0.3) ? this.tamper(message.fields) : undefined,
      split: r.chance(0.2) ? r.range(1, 30) : 0,
      pages: hostile && pages.length === 0 && r.chance(0.05) ? this.pages(0x10000) : pages,
      room,
      indirect: r.chance(0.3),
      mutations: hostile && r.chance(0.3) ? hostileMutations(r, MUTATIONS) : [],
    };
  }

  private tamper(fields: Field[]): Tamper {
    const r = this.rng;
    switch (r.below(4)) {
      case 0:
        return r.chance(0.5) ? { lie: 'size', value: r.pick([-1, 1, -7, 4096]), relative: true } : { lie: 'size', value: r.pick([0, 7, 0xffffffff, this.msize + 1, r.u32()]), relative: false };
      case 1:
        return { lie: 'cut', at: r.below(40), resize: r.chance(0.5) };
      case 2:
        return { lie: 'junk', bytes: Array.from({ length: r.range(1, 8) }, () => r.below(256)) };
      default: {
        if (fields.length === 0) return { lie: 'junk', bytes: [0] };
        const index = r.below(fields.length);
        const kind = fields[index][0];
        const field: Field =
          kind === 'q' ? ['q', r.pick([(1n << 64n) - 1n, 1n << 53n, (1n << 53n) - 1n])]
          : kind === 's' || kind === 'raw' ? ['raw', r.pick([[0xf4, 0x01, 0x61, 0x62], [2, 0, 0xff, 0xfe], [0xff, 0xff], [1]])] // a length past the end, not UTF-8, truncated
          : kind === 'x' ? ['x', r.below(100)]
          : [kind, r.pick(INTERESTING_U32) & (kind === 'b' ? 0xff : kind === 'w' ? 0xffff : 0xffffffff)];
        return { lie: 'field', index, field };
      }
    }
  }

  /** Reply room: a clean driver's is msize (Linux's), maybe split in two; a hostile one's anything. */
  private room(): number[] {
    const r = this.rng;
    if (this.clean) {
      const at = r.chance(0.2) ? r.range(1, this.msize - 1) : 0;
      return at === 0 ? [this.msize] : [at, this.msize - at];
    }
    if (r.chance(0.7)) return [this.msize];
    return r.pick([[REPLY_HEADER], [r.below(REPLY_HEADER)], [7, 4], [r.below(300)], [this.msize, 100], [0x10000], []]);
  }

  /** Data pages of a zero-copy read or write; a clean driver's add up to at most `limit`. */
  private pages(limit: number): number[] {
    const r = this.rng;
    const out: number[] = [];
    for (let n = r.range(1, 3); n > 0; n--) {
      const len = this.clean ? r.pick([1, 512, 4096, 4096, 8192, r.range(1, 9000)]) : r.pick([0, 1, 4096, 8192, r.below(70000)]);
      if (this.clean && sum(out) + len > limit) break;
      out.push(len);
    }
    return out.length > 0 || !this.clean ? out : [1];
  }

  private fid(): number {
    const r = this.rng;
    return this.clean || r.chance(0.9) ? r.below(8) : r.pick([c.P9_NOFID, 0x7fffffff, r.u32()]);
  }

  private name(): string {
    return this.rng.pick(NAMES);
  }

  private openFlags(): number {
    const r = this.rng;
    return this.clean || r.chance(0.9) ? r.pick(OPEN_FLAGS) : r.pick([3, r.u32()]);
  }

  private offset(): bigint {
    const r = this.rng;
    const plausible = [0n, 0n, 0n, 1n, 100n, 4999n, 5000n, 1n << 20n];
    return this.clean || r.chance(0.8) ? r.pick(plausible) : r.pick([(1n << 53n) - 1n, 1n << 53n, (1n << 64n) - 1n, 1n << 40n]);
  }

  /** A Tread / Treaddir count; a clean driver's fit msize. */
  private count(limit: number): number {
    const r = this.rng;
    const n = r.pick([0, 1, 100, 4096, limit]);
    return this.clean || r.chance(0.8) ? Math.min(n, limit) : r.pick([limit + 1, 0xffffffff, r.u32()]);
  }
}

function sum(ns: readonly number[]): number {
  return ns.reduce((a, n) => a + n, 0);
}

/** The transport, with a hook around every register write: the device serves synchronously, inside the write that notifies it (or sets DRIVER_OK). */
class WatchedTransport extends VirtioMmioTransport {
  around: (write: () => void) => void = (write) => write();

  override write(offset: number, data: Uint8Array): void {
    this.around(() => super.write(offset, data));
  }
}

export class Virtio9pTarget implements FuzzTarget<NinepInput> {
  readonly name = 'virtio-9p';
  readonly description = 'virtio-9p over virtio-mmio on a real directory: hostile 9P messages, chains and rings; escapes out of the share';
  readonly outcomes = new Outcomes();
  private readonly ram = new GuestRam();
  private readonly queues = new QueueSet(this.ram, RINGS, VIRTIO_9P_QUEUE_SIZE, DATA_START, USED_RING_BYTES);
  private readonly buffers = new BufferArea(DATA_START);
  private readonly writer = new P9Writer(1 << 20);
  /** Holds the share and the outside directory next to it, both rebuilt for every input. */
  private readonly base = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-fuzz-9p-'));
  private readonly share = path.join(this.base, 'share');
  private readonly outside = path.join(this.base, 'outside');
  /** Where the device may write: the writable buffers of the chains it took, and the used ring. */
  private writable: Range[] = [];

  generate(rng: Prng): NinepInput {
    const clean = rng.chance(0.25);
    const readOnly = rng.chance(0.25);
    const maxMessageSize = rng.pick([c.P9_MIN_MSIZE, 8192 + c.P9_TWRITE_HEADER_SIZE, 65536 + c.P9_TWRITE_HEADER_SIZE, P9_DEFAULT_MAX_MESSAGE_SIZE]);
    // At most 32 KiB: a clean post's messages and reply rooms then fit the buffer area without wrapping.
    const asked = rng.pick([c.P9_MIN_MSIZE, 8192 + c.P9_TWRITE_HEADER_SIZE, 32768 + c.P9_TWRITE_HEADER_SIZE]);
    const maker = new RequestMaker(rng, clean, Math.min(asked, maxMessageSize), readOnly);
    const features = clean || rng.chance(0.5) ? VIRTIO_9P_FEATURES : VIRTIO_9P_FEATURES & (BigInt(rng.u32()) | (BigInt(rng.u32()) << 32n));
    const size = clean ? CLEAN_QUEUE_SIZE : rng.chance(0.95) ? rng.pick([1, 2, 4, 8, 16, 32, 64, 128]) : rng.pick([0, 3, 256]);
    const steps: Step[] = [];
    if (clean || rng.chance(0.8)) steps.push({ step: 'post', chains: [maker.version(asked), maker.attach()], notify: true });
    const requests: ChainSpec[] = [];
    for (let n = rng.range(1, 6); n > 0; n--) requests.push(...maker.requests());
    // posted a few at a time; between posts a hostile driver plays with the registers and the rings
    while (requests.length > 0) {
      steps.push({ step: 'post', chains: requests.splice(0, rng.range(1, clean ? CLEAN_CHAINS : 8)), notify: clean || rng.chance(0.9) });
      if (!clean && rng.chance(0.3)) steps.push(randomRingStep(rng, 1));
    }
    return { readOnly, maxMessageSize, features, size, clean, steps };
  }

  describe(input: NinepInput): string {
    return show(input, 6000);
  }

  execute(input: NinepInput): void {
    const ram = this.ram;
    ram.clear();
    this.buffers.reset();
    this.writable = [];
    this.buildShare();
    const outsideBefore = tree(this.base, 'share');
    const shareBefore = input.readOnly ? tree(this.share) : [];
    const dev = new Virtio9p('fuzz', ram.memory, { root: this.share, tag: 'fuzz', readOnly: input.readOnly, maxMessageSize: input.maxMessageSize });
    const t = new WatchedTransport(dev, ram.memory, { trigger() {}, setLevel() {} });
    t.around = (write) => this.served(t, input, write);
    const sizes = [input.size];
    try {
      ram.snapshot();
      this.queues.init(t, input.features, sizes);
      for (const s of input.steps) {
        if (s.step === 'post') this.post(t, s.chains, s.notify, input);
        else this.queues.ringStep(t, s, input.features, sizes);
      }
      ram.checkWritesOnlyIn(this.writable, 'virtio-9p');
      check(ram.memory.regions.every((r) => Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength).indexOf(SECRET) < 0), 'the secret outside the share reached guest memory');
      checkSame(outsideBefore, tree(this.base, 'share'), 'outside the share');
      if (input.readOnly) checkSame(shareBefore, tree(this.share), 'the read-only share');
      this.outcomes.add(t.broken ? 'device broken' : 'device fine');
      if (input.clean) check(!t.broken, `a clean driver broke the device: ${t.brokenBecause}`);
    } finally {
      dev.close();
    }
  }

  /** A fresh share and the outside directory: files, a subdirectory, symlinks out of the share (absolute, relative, to a directory, dangling). */
  private buildShare(): void {
    for (const entry of fs.readdirSync(this.base)) removeAll(path.join(this.base, entry));
    fs.mkdirSync(path.join(this.outside, 'hostdir'), { recursive: true });
    fs.writeFileSync(path.join(this.outside, 'secret'), SECRET);
    fs.writeFileSync(path.join(this.outside, 'hostdir', 'inner'), 'host inner');
    fs.mkdirSync(path.join(this.share, 'dir'), { recursive: true });
    fs.writeFileSync(path.join(this.share, 'file'), FILE_CONTENT);
    fs.writeFileSync(path.join(this.share, 'small'), SMALL_CONTENT);
    fs.writeFileSync(path.join(this.share, 'dir', 'nested'), NESTED_CONTENT);
    fs.symlinkSync(path.join(this.outside, 'secret'), path.join(this.share, 'out-abs'));
    fs.symlinkSync('../outside/secret', path.join(this.share, 'out-rel'));
    fs.symlinkSync('../outside/hostdir', path.join(this.share, 'out-dir'));
    fs.symlinkSync(path.join(this.outside, 'created'), path.join(this.share, 'dangling'));
  }

  private post(t: WatchedTransport, chains: readonly ChainSpec[], notify: boolean, input: NinepInput): void {
    // A clean driver's earlier chains were all served: their buffers are free again.
    if (input.clean) this.buffers.reset();
    this.ram.driverWrites = true;
    for (const cs of chains) this.postChain(cs, input.size);
    this.ram.driverWrites = false;
    const q = t.queues[0];
    const before = q.usedIndex;
    if (notify) write32(t, VIRTIO_MMIO.QUEUE_NOTIFY, 0);
    const replies = (q.usedIndex - before) & 0xffff;
    if (input.clean) check(replies === chains.length && !t.broken, `a clean driver posted ${chains.length} requests and got ${replies} replies${t.broken ? `; device broken: ${t.brokenBecause}` : ''}`);
  }

  /** Writes the message (and its tamper) into readable buffers, leaves the pages' bytes as they are, and posts the chain. */
  private postChain(cs: ChainSpec, qsize: number): void {
    const bytes = this.encode(cs);
    const descs: FuzzDescriptor[] = [];
    const add = (len: number, flags: number): number => {
      const addr = this.buffers.take(len);
      descs.push({ addr, len, flags, xor: 0 });
      return addr;
    };
    const pieces = cs.split > 0 && cs.split < bytes.length ? [bytes.subarray(0, cs.split), bytes.subarray(cs.split)] : [bytes];
    for (const piece of pieces) {
      const at = add(piece.length, 0);
      piece.forEach((v, i) => this.ram.setU8(at + i, v));
    }
    for (const len of cs.pages) add(len, 0);
    for (const len of cs.room) add(len, VIRTQ_DESC_F_WRITE);
    applyMutations(descs, cs.mutations);
    this.queues.posters[0].post(descs, cs.indirect, qsize);
  }

  /** The message's bytes; its size field counts the pages after it (a zero-copy Twrite's data), unless the driver lies. */
  private encode(cs: ChainSpec): Uint8Array {
    const { message, tamper } = cs;
    const fields = tamper?.lie === 'field' ? message.fields.map((f, i) => (i === tamper.index ? tamper.field : f)) : message.fields;
    const wr = this.writer.begin(message.type, message.tag);
    for (const f of fields) {
      if (f[0] === 'b') wr.u8(f[1]);
      else if (f[0] === 'w') wr.u16(f[1]);
      else if (f[0] === 'd') wr.u32(f[1]);
      else if (f[0] === 'q') wr.u64(f[1]);
      else if (f[0] === 's') wr.string(f[1]);
      else if (f[0] === 'x') for (let i = 0; i < f[1]; i++) wr.u8(i & 0xff);
      else if (f[0] === 'raw') for (const v of f[1]) wr.u8(v);
    }
    if (tamper?.lie === 'junk') for (const v of tamper.bytes) wr.u8(v);
    const bytes = wr.finish().slice();
    const size = bytes.length + sum(cs.pages);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, tamper?.lie === 'size' ? (tamper.relative ? size + tamper.value : tamper.value) >>> 0 : size, true);
    if (tamper?.lie !== 'cut') return bytes;
    const cut = bytes.subarray(0, Math.min(tamper.at, bytes.length));
    if (tamper.resize && cut.length >= 4) view.setUint32(0, cut.length, true);
    return cut;
  }

  /**
   * Runs one register write and checks what the device published in it:
   * each used element names the chain the avail ring offered next, with no
   * more bytes than that chain can take, and a clean driver's reply is
   * well-formed. The chains the device took become writable for it.
   */
  private served(t: VirtioMmioTransport, input: NinepInput, write: () => void): void {
    const q = t.queues[0];
    const wasReady = q.ready;
    const wasBroken = t.broken;
    const offered = wasReady && !wasBroken ? this.offered(q) : [];
    const before = q.usedIndex;
    write();
    if (!q.ready) return; // reset or disabled: nothing is published
    this.writable.push({ gpa: q.deviceAddr, size: 6 + 8 * q.size }); // where the used ring is now (a hostile driver may move it)
    if (!wasReady) return; // just made ready: serving waits for a notification
    const published = (q.usedIndex - before) & 0xffff;
    check(published <= offered.length, `${published} used elements published for ${offered.length} chains offered`);
    // A device that broke may have written into the chain it stopped at.
    const taken = Math.min(published + (t.broken && !wasBroken ? 1 : 0), offered.length);
    for (const o of offered.slice(0, taken)) if (typeof o.chain !== 'string') this.writable.push(...o.chain.writable);
    for (let i = 0; i < published; i++) {
      const slot = q.deviceAddr + 4 + 8 * ((before + i) & (q.size - 1));
      const head = this.ram.getU32(slot);
      const len = this.ram.getU32(slot + 4);
      const o = offered[i];
      const chain = o.chain;
      check(head === o.head, `used element ${(before + i) & 0xffff} names head ${head}, the avail ring offered ${o.head}`);
      check(typeof chain !== 'string', `head ${head} was served, but pop() refuses its chain (${chain})`);
      check(len <= chain.writableBytes, `head ${head}: used length ${len}, the chain has ${chain.writableBytes} writable bytes`);
      this.reply(o, chain, len, input);
    }
  }

  /** The chains the avail ring offers the device now, in order; none when it offers more than the queue holds (the device refuses the ring). */
  private offered(q: VirtQueue): Offered[] {
    const ram = this.ram;
    const last = q.lastAvailIndex;
    const pending = (ram.getU16(q.driverAddr + 2) - last) & 0xffff;
    if (pending > q.size) return [];
    return Array.from({ length: pending }, (_, k) => {
      const head = ram.getU16(q.driverAddr + 4 + 2 * ((last + k) & (q.size - 1)));
      const chain = walkChain(ram, q, head);
      const header = gather(ram, typeof chain === 'string' ? [] : chain.readable, c.P9_HEADER_SIZE);
      return { head, chain, requestType: header[4], requestTag: header[5] | (header[6] << 8) };
    });
  }

  /**
   * Counts the reply's kind; a clean driver's must be well-formed: size
   * field = used length, its request's tag, type = request type + 1 or
   * Rlerror. An Rread from a read-only share must carry the file's own bytes.
   */
  private reply(o: Offered, chain: WalkedChain, len: number, { clean, readOnly }: NinepInput): void {
    const r = gather(this.ram, chain.writable, REPLY_HEADER);
    const v = new DataView(r.buffer);
    const size = v.getUint32(0, true);
    const type = r[4];
    const tag = v.getUint16(5, true);
    const word = v.getUint32(c.P9_HEADER_SIZE, true); // Rlerror's errno, Rread's and Rwrite's count
    if (clean) {
      const what = `the reply to T${OP_NAMES.get(o.requestType)} (tag ${o.requestTag})`;
      check(size === len, `${what}: size field ${size}, used length ${len}`);
      check(tag === o.requestTag, `${what}: tag ${tag}`);
      check(type === o.requestType + 1 || (type === c.P9_RLERROR && len === REPLY_HEADER), `${what}: type ${type}, used length ${len}`);
    }
    if (type === c.P9_RLERROR) {
      this.outcomes.add(`Rlerror ${ERRNO_NAMES.get(word) ?? 'other'}`);
      return;
    }
    if (type !== o.requestType + 1) return;
    this.outcomes.add(`R${OP_NAMES.get(o.requestType)}`);
    // Zero-copy: the data went to (or came from) buffers past the one the header is in.
    if (type === c.P9_TREAD + 1 && word > 0 && size > chain.writable[0].size) this.outcomes.add('zero-copy read');
    if (type === c.P9_TREAD + 1 && word > 0 && readOnly) this.checkReadData(chain, word);
    if (type === c.P9_TWRITE + 1 && word > 0 && c.P9_TWRITE_HEADER_SIZE + word > chain.readable[0].size) this.outcomes.add('zero-copy write');
  }

  /**
   * The `count` bytes after an Rread's header, in the chain's writable
   * buffers wherever they were cut, are the bytes at the request's offset of
   * one of the files a read-only share holds (nothing changes them there):
   * the right data, in the right place, never more than the file has.
   */
  private checkReadData(chain: WalkedChain, count: number): void {
    const request = gather(this.ram, chain.readable, c.P9_HEADER_SIZE + 16);
    const offset = new DataView(request.buffer).getBigUint64(c.P9_HEADER_SIZE + 4, true);
    const data = gather(this.ram, chain.writable, REPLY_HEADER + count).subarray(REPLY_HEADER);
    const from = READ_ONLY_FILES.filter((content) => offset + BigInt(count) <= BigInt(content.length) && Buffer.compare(content.subarray(Number(offset), Number(offset) + count), data) === 0);
    check(from.length > 0, `an Rread of ${count} bytes at offset ${offset} from the read-only share carries bytes of none of its files`);
    this.outcomes.add('read data checked');
  }

  close(): void {
    this.ram.release();
    removeAll(this.base);
  }
}

/** The chain at `head` as virtqueue.ts's pop() walks it, or why pop() refuses it. */
function walkChain(ram: GuestRam, q: VirtQueue, head: number): WalkedChain | string {
  const chain: WalkedChain = { readable: [], writable: [], writableBytes: 0 };
  let table = q.descAddr;
  let size = q.size;
  let idx = head;
  let inIndirect = false;
  if (head >= size) return 'head index';
  for (let visited = 1; ; visited++) {
    if (visited > size) return 'loop';
    const at = table + 16 * idx;
    const addr = ram.getU32(at) + ram.getU32(at + 4) * 2 ** 32;
    const len = ram.getU32(at + 8);
    const flags = ram.getU16(at + 12);
    if (flags & VIRTQ_DESC_F_INDIRECT) {
      if (!q.indirect || inIndirect || flags & VIRTQ_DESC_F_NEXT || len === 0 || len % 16 !== 0 || len / 16 > MAX_CHAIN_SEGMENTS || !ram.inRamAcross(addr, len)) return 'bad indirect descriptor';
      [table, size, idx, visited, inIndirect] = [addr, len / 16, 0, 0, true];
      continue;
    }
    if (flags & VIRTQ_DESC_F_WRITE) {
      chain.writable.push({ gpa: addr, size: len });
      chain.writableBytes += len;
    } else if (chain.writable.length > 0) return 'readable after writable';
    else chain.readable.push({ gpa: addr, size: len });
    if (!(flags & VIRTQ_DESC_F_NEXT)) return chain;
    idx = ram.getU16(at + 14);
    if (idx >= size) return 'next index';
  }
}

/** The first `n` bytes of a chain's buffers, in order (zeros past their end). */
function gather(ram: GuestRam, ranges: readonly Range[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let i = 0;
  for (const r of ranges) for (let k = 0; k < r.size && i < n; k++) out[i++] = ram.getU8(r.gpa + k);
  return out;
}

/** Every entry below `dir` ('.' for itself, `skip` left out) with what a change alters: type and mode, owner, size, mtime, a file's content (hashed), a symlink's target. */
function tree(dir: string, skip?: string): string[] {
  const out: string[] = [];
  const visit = (rel: string): void => {
    const full = path.join(dir, rel);
    const st = fs.lstatSync(full);
    const content = st.isFile() ? createHash('sha256').update(fs.readFileSync(full)).digest('hex').slice(0, 16) : st.isSymbolicLink() ? `-> ${fs.readlinkSync(full)}` : '';
    out.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${content}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(full).sort()) if (path.join(rel, name) !== skip) visit(path.join(rel, name));
  };
  visit('.');
  return out;
}

function checkSame(before: readonly string[], after: readonly string[], what: string): void {
  const gone = before.filter((l) => !after.includes(l)).map((l) => `- ${l}`);
  const added = after.filter((l) => !before.includes(l)).map((l) => `+ ${l}`);
  check(gone.length + added.length === 0, `${what} changed: ${[...gone, ...added].join('; ')}`);
}

/** Removes `p`, giving back the permissions a guest's setattr may have taken (without them an owner other than root cannot empty a directory). */
function removeAll(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    grantAll(p);
    fs.rmSync(p, { recursive: true, force: true });
  }
}

function grantAll(p: string): void {
  if (!fs.lstatSync(p).isDirectory()) return;
  fs.chmodSync(p, 0o700);
  for (const name of fs.readdirSync(p)) grantAll(path.join(p, name));
}
