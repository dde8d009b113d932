// virtio-9p's warm-up (data-path-warm-up.ts): a private virtio-9p device
// (its own 2 MiB of memory, queue and transport, a read-only server over the
// same directory), driven through what a Linux client sends at mount, for
// `find` and for `cat`: walks, getattr, clunk, statfs, a directory opened and
// listed, and a zero-copy Tread into 124 scattered pages. It reads nothing
// but the share's root directory: its attributes, its listing, statfs, and
// the attributes of one of its entries (lstat: a walk follows no link); the
// Tread goes to the directory itself, which the server refuses (EISDIR) once
// the device has mapped the pages and the preadv has been made. Nothing
// reaches the guest: no interrupt line, no memory of the guest's.
import { close } from '../../../ffi/libc.js';
import type { InterruptLine } from '../../bus/device.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { P9ProtocolError, P9Reader, P9Writer, QID_SIZE } from '../../p9/p9-codec.js';
import * as p9 from '../../p9/p9-constants.js';
import { P9_DEFAULT_MAX_MESSAGE_SIZE } from '../../p9/p9-server.js';
import type { DataPathWarmUp } from '../data-path-warm-up.js';
import { VIRTIO_9P_FEATURES, Virtio9p } from './virtio-9p.js';
import { Virtio9pClient } from './virtio-9p-client.js';
import { initialiseVirtioMmio, inProcessRegisters, ringLayout } from './virtio-mmio-driver-setup.js';
import { VirtioMmioTransport } from './virtio-mmio.js';

/**
 * Requests served in all: ~20 ms of CPU natively. In a nested L1 the first
 * ~200 requests of a fresh process cost most of its warm-up (~2 s there,
 * ~1.5 ms a request after it); with 1,000 the warm-up competed with the
 * guest's boot for the L1's two CPUs (docs/host-kvm.md).
 */
export const WARM_UP_REQUESTS = 200;
const RAM_BYTES = 2 << 20;
const QUEUE = ringLayout(0, 16);
const INDIRECT_TABLE = 0x3000;
const REQUEST = 0x4000;
const REPLY = 0x6000;
const REPLY_BYTES = 8192;
const DATA = 0x10000;
/** A Tread as `cat` makes them with Linux's largest msize: 124 pages. */
const READ_PAGES = 124;
/** Where the cycle lists the root, and where it walks a name. */
const READDIR_AT = 3;
const NAME_WALK_AT = 6;
const ROOT_FID = 0;
const OPENED_FID = 1;
const WALKED_FID = 2;
/** Silences the private device: its interrupts go nowhere. */
const NO_INTERRUPT: InterruptLine = { trigger: () => {}, setLevel: () => {} };

export class Virtio9pWarmUp implements DataPathWarmUp {
  private readonly memory: GuestMemory;
  private readonly device: Virtio9p;
  private readonly transport: VirtioMmioTransport;
  private readonly client: Virtio9pClient;
  private readonly writer = new P9Writer(REPLY_BYTES);
  private readonly cycle: { message: Uint8Array; dataPages: number }[];
  private tag = 0;
  private served = 0;
  /** The cycle's next request. */
  private next = 0;
  /** Requests answered with Rlerror (one per cycle is expected: the Tread of a directory). */
  private refused = 0;
  private failed = false;
  /** Whether the cycle walks an entry of the root yet (`..` until the first listing). */
  private walksAnEntry = false;

  /** `root`: the share's directory; `guestStarted`: true once the guest's own device has had a request. */
  constructor(
    readonly name: string,
    root: string,
    private readonly guestStarted: () => boolean,
    private readonly budget = WARM_UP_REQUESTS,
  ) {
    // Memory of the guest's kind in a device process (a shared memfd, its
    // pages populated before DMA): the code compiled here is the code the
    // guest's requests take, with the same shapes.
    const ram = [{ gpa: 0, size: RAM_BYTES }];
    // A memfd: huge pages would give the few pages it touches 2 MiB each.
    const memfd = GuestMemory.createSharedRam(ram, false).fd;
    try {
      this.memory = GuestMemory.allocate(ram, { memfd, populateBeforeDma: true });
    } finally {
      close(memfd); // the mapping keeps the pages
    }
    this.device = new Virtio9p(`${name} (warm-up)`, this.memory, { root, tag: 'warm-up', readOnly: true });
    this.transport = new VirtioMmioTransport(this.device, this.memory, NO_INTERRUPT, { interruptMode: 'edge' });
    const transport = this.transport;
    this.client = new Virtio9pClient(this.memory.regions[0].bytes.buffer as ArrayBuffer, { queue: QUEUE, indirectTable: INDIRECT_TABLE, request: REQUEST, reply: REPLY, replyBytes: REPLY_BYTES, data: DATA }, () =>
      transport.notifyQueue(0),
    );
    const m = (type: number, body: (w: P9Writer) => void, dataPages = 0) => this.prepared(type, body, dataPages);
    this.cycle = [
      m(p9.P9_TWALK, (w) => w.u32(ROOT_FID).u32(OPENED_FID).u16(0)),
      m(p9.P9_TGETATTR, (w) => w.u32(OPENED_FID).u64(p9.P9_STATS_BASIC)),
      m(p9.P9_TLOPEN, (w) => w.u32(OPENED_FID).u32(p9.P9_DOTL_RDONLY)),
      m(p9.P9_TREADDIR, (w) => w.u32(OPENED_FID).u64(0).u32(REPLY_BYTES - p9.P9_RREAD_HEADER_SIZE)), // READDIR_AT
      m(p9.P9_TREAD, (w) => w.u32(OPENED_FID).u64(0).u32(READ_PAGES * 4096), READ_PAGES),
      m(p9.P9_TCLUNK, (w) => w.u32(OPENED_FID)),
      this.nameWalk('..'), // NAME_WALK_AT: an entry of the root once the listing has named one (`find`'s walk)
      m(p9.P9_TGETATTR, (w) => w.u32(WALKED_FID).u64(p9.P9_STATS_BASIC)),
      m(p9.P9_TCLUNK, (w) => w.u32(WALKED_FID)),
      m(p9.P9_TSTATFS, (w) => w.u32(ROOT_FID)),
    ];
  }

  /** One request (the session's set-up first); false once the budget is spent, the guest has started, or the device failed. */
  step(): boolean {
    if (this.failed || this.served >= this.budget || this.guestStarted()) return false;
    if (this.served === 0) {
      initialiseVirtioMmio(inProcessRegisters(this.transport), VIRTIO_9P_FEATURES, [QUEUE], this.name);
      this.send(this.message(p9.P9_TVERSION, (w) => w.u32(P9_DEFAULT_MAX_MESSAGE_SIZE).string(p9.P9_VERSION_L)), 0);
      this.send(this.message(p9.P9_TATTACH, (w) => w.u32(ROOT_FID).u32(p9.P9_NOFID).string('root').string('').u32(0)), 0);
      return !this.failed;
    }
    const at = this.next;
    const { message, dataPages } = this.cycle[at];
    this.next = (at + 1) % this.cycle.length;
    if (!this.send(message, dataPages)) return false;
    if (at === READDIR_AT && !this.walksAnEntry) this.walkAnEntryOfTheListing();
    return this.served < this.budget;
  }

  close(): { requests: number; refused: number } {
    this.transport.reset();
    this.device.close();
    this.memory.release();
    return { requests: this.served, refused: this.refused };
  }

  /** Sends one request; false (and the warm-up over) if the device did not answer it at once. */
  private send(message: Uint8Array, dataPages: number): boolean {
    this.client.submit(message, dataPages);
    if (!this.client.answered() || this.device.stats.requests !== this.served + 1) return !(this.failed = true);
    this.served++;
    if (this.client.replyType === p9.P9_RLERROR) this.refused++;
    return true;
  }

  /** The root's first entry but `.` and `..`, from the Rreaddir just answered, becomes the cycle's walk. */
  private walkAnEntryOfTheListing(): void {
    this.walksAnEntry = true;
    if (this.client.replyType !== p9.P9_TREADDIR + 1) return;
    const reply = this.client.reply();
    try {
      const r = new P9Reader(reply, p9.P9_HEADER_SIZE, reply.length);
      const end = p9.P9_HEADER_SIZE + 4 + r.u32();
      while (r.remaining > 0 && reply.length - r.remaining < end) {
        r.data(QID_SIZE + 8 + 1); // qid[13] offset[8] type[1], then name[s]
        const name = r.string();
        if (name !== '.' && name !== '..') {
          this.cycle[NAME_WALK_AT] = this.nameWalk(name);
          return;
        }
      }
    } catch (e) {
      if (!(e instanceof P9ProtocolError)) throw e; // a listing it cannot read: `..` it stays
    }
  }

  private nameWalk(name: string): { message: Uint8Array; dataPages: number } {
    return this.prepared(p9.P9_TWALK, (w) => w.u32(ROOT_FID).u32(WALKED_FID).u16(1).string(name), 0);
  }

  /** A request built once (it is copied into the ring as it is sent). */
  private prepared(type: number, body: (w: P9Writer) => void, dataPages: number): { message: Uint8Array; dataPages: number } {
    return { message: this.message(type, body).slice(), dataPages };
  }

  private message(type: number, body: (w: P9Writer) => void): Uint8Array {
    this.writer.begin(type, (this.tag = (this.tag + 1) & 0x7fff));
    body(this.writer);
    return this.writer.finish();
  }
}
