// The guest side of virtio-9p, reduced to one request in flight: each
// request an indirect chain as Linux's client lays it out (the T-message, room
// for the reply, and for a zero-copy Tread the 11-byte reply header apart
// from the data pages, every other page as a user buffer's are scattered),
// published with EVENT_IDX (virtio-driver-ring.ts). tsvmm drives its own
// device with it to warm up the data path (virtio-9p-warm-up.ts); the
// data-path benchmark drives tsvmm's and QEMU's (tools/bench/p9-driver-worker.ts).
import * as p9 from '../../p9/p9-constants.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from './virtio-constants.js';
import type { QueueLayout } from './virtio-mmio-driver-setup.js';
import { VirtioDriverRing } from './virtio-driver-ring.js';

const PAGE = 4096;

/** Where the client keeps its buffers in guest-physical memory, besides the queue. */
export interface Virtio9pClientLayout {
  queue: QueueLayout;
  /** Room for 16 bytes per descriptor of the longest chain (2 + data pages). */
  indirectTable: number;
  request: number;
  reply: number;
  replyBytes: number;
  /** The first of the zero-copy data pages (2 pages apart). */
  data: number;
}

export class Virtio9pClient {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly ringSide: VirtioDriverRing;
  private readonly ignore = (): void => {};

  /** `ram`: guest RAM from guest-physical 0; `ring`: the doorbell (QueueNotify of queue 0). */
  constructor(
    ram: ArrayBuffer,
    private readonly layout: Virtio9pClientLayout,
    ring: () => void,
  ) {
    this.bytes = new Uint8Array(ram);
    this.view = new DataView(ram);
    this.ringSide = new VirtioDriverRing(ram, layout.queue, ring);
  }

  /** Makes `message` available, its reply to come into `dataPages` pages past the header (0: a plain reply); true when the doorbell rang. */
  submit(message: Uint8Array, dataPages: number): boolean {
    const { indirectTable: table, request, reply, replyBytes, data } = this.layout;
    const q = this.ringSide;
    this.bytes.set(message, request);
    q.describe(0, request, message.length, VIRTQ_DESC_F_NEXT, 1, table);
    q.describe(1, reply, dataPages > 0 ? p9.P9_RREAD_HEADER_SIZE : replyBytes, VIRTQ_DESC_F_WRITE | (dataPages > 0 ? VIRTQ_DESC_F_NEXT : 0), 2, table);
    for (let p = 0; p < dataPages; p++) q.describe(2 + p, data + 2 * p * PAGE, PAGE, VIRTQ_DESC_F_WRITE | (p + 1 < dataPages ? VIRTQ_DESC_F_NEXT : 0), 3 + p, table);
    q.describe(0, table, 16 * (2 + dataPages), VIRTQ_DESC_F_INDIRECT);
    q.post(0);
    return q.publish();
  }

  /** Whether the device has answered the request submitted last (and if so, takes the answer). */
  answered(): boolean {
    return this.ringSide.takeUsed(this.ignore) > 0;
  }

  /** The last reply's message type (Rlerror: P9_RLERROR). */
  get replyType(): number {
    return this.bytes[this.layout.reply + 4];
  }

  /** The last reply, as long as its size field says (within the reply buffer). */
  reply(): Uint8Array {
    const { reply, replyBytes } = this.layout;
    return this.bytes.subarray(reply, reply + Math.min(this.view.getUint32(reply, true), replyBytes));
  }

  /** The last reply's errno, when it is an Rlerror. */
  get replyErrno(): number {
    return this.view.getUint32(this.layout.reply + p9.P9_HEADER_SIZE, true);
  }
}
