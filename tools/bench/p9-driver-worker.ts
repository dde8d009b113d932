// The guest side of the 9p data-path benchmark (p9-data-path.ts), in a
// thread of its own so that its work is not counted as the VMM's: Linux's
// 9P2000.L client reduced to what `find` and `cat` make it send, one request
// at a time as a single-threaded program's are, over one split virtqueue
// with indirect descriptors and EVENT_IDX (what Linux negotiates).
//
// - walk: per file, Twalk from its directory's fid, Tgetattr, Tclunk (what
//   `find -printf %s` asks of each entry);
// - read: Treads of a page-cached file with Linux's zero-copy layout, the
//   reply header in one buffer and the data in scattered user pages.
//
// The doorbell is an eventfd (tsvmm: KVM's ioeventfd stand-in) or a
// `writel` to QueueNotify through QEMU's qtest socket; the driver counts the
// qtest commands for p9-data-path-qemu.ts to take their cost out. The
// driver takes no interrupts from either: it watches the used ring,
// spinning, for each reply. Interrupts through qtest (the line's messages,
// and the read and acknowledgement of InterruptStatus) would have cost QEMU
// several times the request itself on the project's machine kind, and neither
// device sends another while the first is unanswered.
import { parentPort, workerData } from 'node:worker_threads';
import { koffi } from '../../ffi/koffi.js';
import { gettid, write } from '../../ffi/libc.js';
import { Virtio9pClient } from '../../src/devices/virtio/virtio-9p-client.js';
import { VIRTIO_MMIO } from '../../src/devices/virtio/virtio-mmio-registers.js';
import { P9Writer } from '../../src/p9/p9-codec.js';
import * as p9 from '../../src/p9/p9-constants.js';
import { QtestChannel } from './qtest-channel.js';
import type { QueueLayout } from '../../src/devices/virtio/virtio-mmio-driver-setup.js';

export type P9Workload = 'walk' | 'read';

export type P9DriverSignals =
  | { kind: 'eventfd'; doorbellFd: number }
  | { kind: 'qtest'; socketFd: number; mmioBase: number };

export interface P9DriverSetup {
  ram: { hostAddress: number; size: number };
  queue: QueueLayout;
  signals: P9DriverSignals;
  workload: P9Workload;
  msize: number;
  /** walk: directories d0.. each holding files f0.. */
  dirs: number;
  filesPerDir: number;
  /** read: the file, and bytes per Tread (a multiple of the page size). */
  file: string;
  fileBytes: number;
  readBytes: number;
  warmup: number;
  requests: number;
}

export type P9DriverDone = {
  type: 'done';
  elapsedNs: number;
  kicks: number;
  /** qtest only: commands sent (the doorbells). */
  qtestCommands: number;
  errors: number;
};
export type P9DriverMessage = { type: 'measuring'; tid: number } | P9DriverDone;

const PAGE = 4096;
/** Guest-physical scratch: the indirect table, the request, the reply, the data pages (every other page, as a user buffer's are scattered). */
const INDIRECT_TABLE = 0x20000;
const REQUEST = 0x30000;
const REPLY = 0x40000;
const REPLY_BYTES = 8192;
const DATA = 0x100000;
const ROOT_FID = 0;
const FILE_FID = 1;
const WALKED_FID = 2;
const DIR_FID = 100;

/** The doorbell, whichever way the device takes it. */
interface Doorbell {
  ring(): void;
  /** qtest commands sent so far (none over an eventfd). */
  qtestCommands(): number;
}

function eventfdDoorbell(s: Extract<P9DriverSignals, { kind: 'eventfd' }>): Doorbell {
  const one = new Uint8Array(new BigUint64Array([1n]).buffer);
  return { ring: () => write(s.doorbellFd, one, 8), qtestCommands: () => 0 };
}

function qtestDoorbell(s: Extract<P9DriverSignals, { kind: 'qtest' }>): Doorbell {
  const channel = new QtestChannel(s.socketFd);
  const notify = `writel 0x${(s.mmioBase + VIRTIO_MMIO.QUEUE_NOTIFY).toString(16)} 0x0`;
  return { ring: () => void channel.command(notify), qtestCommands: () => channel.commands };
}

function run(s: P9DriverSetup): P9DriverDone {
  const memory = koffi.view(s.ram.hostAddress, s.ram.size) as ArrayBuffer;
  const doorbell = s.signals.kind === 'eventfd' ? eventfdDoorbell(s.signals) : qtestDoorbell(s.signals);
  const client = new Virtio9pClient(memory, { queue: s.queue, indirectTable: INDIRECT_TABLE, request: REQUEST, reply: REPLY, replyBytes: REPLY_BYTES, data: DATA }, () => doorbell.ring());
  const writer = new P9Writer(REPLY_BYTES);
  let kicks = 0;

  /** One request in flight at a time; returns the reply's message type. */
  const request = (message: Uint8Array, dataPages: number): number => {
    if (client.submit(message, dataPages)) kicks++;
    while (!client.answered());
    return client.replyType;
  };
  let tag = 0;
  const message = (type: number, body: (w: P9Writer) => void): Uint8Array => {
    writer.begin(type, (tag = (tag + 1) & 0x7fff));
    body(writer);
    return writer.finish();
  };
  const setUp = (type: number, body: (w: P9Writer) => void) => {
    const reply = request(message(type, body), 0);
    if (reply !== type + 1) throw new Error(`9p set-up: request ${type} answered ${reply === p9.P9_RLERROR ? `Rlerror ${client.replyErrno}` : reply}`);
  };

  setUp(p9.P9_TVERSION, (w) => w.u32(s.msize).string(p9.P9_VERSION_L));
  setUp(p9.P9_TATTACH, (w) => w.u32(ROOT_FID).u32(p9.P9_NOFID).string('root').string('').u32(0));
  if (s.workload === 'walk') for (let d = 0; d < s.dirs; d++) setUp(p9.P9_TWALK, (w) => w.u32(ROOT_FID).u32(DIR_FID + d).u16(1).string(`d${d}`));
  else {
    setUp(p9.P9_TWALK, (w) => w.u32(ROOT_FID).u32(FILE_FID).u16(1).string(s.file));
    setUp(p9.P9_TLOPEN, (w) => w.u32(FILE_FID).u32(0));
  }

  const pages = s.readBytes / PAGE;
  const offsets = Math.floor(s.fileBytes / s.readBytes);
  /** The k-th request of the workload: its message and its zero-copy data pages. */
  const next = (k: number): [Uint8Array, number] => {
    if (s.workload === 'read') return [message(p9.P9_TREAD, (w) => w.u32(FILE_FID).u64((k % offsets) * s.readBytes).u32(s.readBytes)), pages];
    const file = Math.floor(k / 3);
    switch (k % 3) {
      case 0:
        return [message(p9.P9_TWALK, (w) => w.u32(DIR_FID + (file % s.dirs)).u32(WALKED_FID).u16(1).string(`f${Math.floor(file / s.dirs) % s.filesPerDir}`)), 0];
      case 1:
        return [message(p9.P9_TGETATTR, (w) => w.u32(WALKED_FID).u64(p9.P9_STATS_BASIC)), 0];
      default:
        return [message(p9.P9_TCLUNK, (w) => w.u32(WALKED_FID)), 0];
    }
  };

  const total = s.warmup + s.requests;
  let start = 0n;
  let errors = 0;
  let qtestBefore = 0;
  for (let k = 0; k < total; k++) {
    if (k === s.warmup) {
      start = process.hrtime.bigint();
      kicks = errors = 0;
      qtestBefore = doorbell.qtestCommands();
      parentPort!.postMessage({ type: 'measuring', tid: gettid() as number } satisfies P9DriverMessage);
    }
    const [m, dataPages] = next(k);
    if (request(m, dataPages) === p9.P9_RLERROR) errors++;
  }
  return {
    type: 'done',
    elapsedNs: Number(process.hrtime.bigint() - start),
    kicks,
    qtestCommands: doorbell.qtestCommands() - qtestBefore,
    errors,
  };
}

parentPort!.postMessage(run(workerData as P9DriverSetup));
