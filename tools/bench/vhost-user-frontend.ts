// The frontend of the vhost-user protocol (QEMU's side of it; QEMU's
// docs/interop/vhost-user.rst): enough to hand a backend guest memory and
// split virtqueues, with their kick and call eventfds, over its unix socket.
// Every message is a 12-byte header (request, flags, payload size) and its
// payload; descriptors ride along as SCM_RIGHTS on the message's bytes. The
// backend answers only the requests that ask something (GET_*), so a wait
// for a reply is bounded and names the request it waited on.
import { sendWithDescriptors } from '../../ffi/descriptor-passing.js';
import { AF_UNIX, check, close, connect, koffi, POLLIN, poll, read, SOCK_CLOEXEC, SOCK_STREAM, socket, write } from '../../ffi/libc.js';

const REQUEST = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  SET_MEM_TABLE: 5,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
} as const;
type Request = keyof typeof REQUEST;

const HEADER_BYTES = 12;
const FLAG_VERSION_1 = 0x1;
const FLAG_REPLY = 0x4;
/** struct vhost_user_memory_region: guest_phys_addr, memory_size, userspace_addr, mmap_offset. */
const MEMORY_REGION_BYTES = 32;
/** struct vhost_vring_addr: index, flags, desc, used, avail, log addresses. */
const VRING_ADDR_BYTES = 40;
const SUN_PATH_BYTES = 108;

/** A slice of the frontend's memory the backend maps from `fd` at `mmapOffset`. */
export interface VhostUserRegion {
  guestPhysAddr: number;
  size: number;
  /** Where the frontend has it mapped: the address space ring addresses are given in. */
  userspaceAddr: number;
  mmapOffset: number;
  fd: number;
}

/** A split virtqueue's rings, as addresses in the frontend's own address space. */
export interface VhostUserRing {
  desc: number;
  avail: number;
  used: number;
}

export class VhostUserFrontend {
  private constructor(
    private readonly fd: number,
    private readonly replyTimeoutMs: number,
  ) {}

  static connect(path: string, replyTimeoutMs = 5000): VhostUserFrontend {
    const address = Buffer.alloc(2 + SUN_PATH_BYTES);
    address.writeUInt16LE(AF_UNIX, 0);
    const name = Buffer.from(path);
    if (name.length >= SUN_PATH_BYTES) throw new Error(`vhost-user socket path too long for sockaddr_un: ${path}`);
    name.copy(address, 2);
    const fd = check(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) as number, 'socket');
    try {
      check(connect(fd, address, 2 + name.length + 1) as number, `connect ${path}`);
    } catch (e) {
      close(fd);
      throw e;
    }
    return new VhostUserFrontend(fd, replyTimeoutMs);
  }

  setOwner(): void {
    this.send('SET_OWNER', Buffer.alloc(0));
  }

  getFeatures(): bigint {
    this.send('GET_FEATURES', Buffer.alloc(0));
    return this.reply('GET_FEATURES', 8).readBigUInt64LE(0);
  }

  setFeatures(features: bigint): void {
    const payload = Buffer.alloc(8);
    payload.writeBigUInt64LE(features);
    this.send('SET_FEATURES', payload);
  }

  setMemTable(regions: readonly VhostUserRegion[]): void {
    const payload = Buffer.alloc(8 + MEMORY_REGION_BYTES * regions.length); // nregions, padding, regions
    payload.writeUInt32LE(regions.length, 0);
    regions.forEach((r, i) => {
      const at = 8 + MEMORY_REGION_BYTES * i;
      payload.writeBigUInt64LE(BigInt(r.guestPhysAddr), at);
      payload.writeBigUInt64LE(BigInt(r.size), at + 8);
      payload.writeBigUInt64LE(BigInt(r.userspaceAddr), at + 16);
      payload.writeBigUInt64LE(BigInt(r.mmapOffset), at + 24);
    });
    this.send('SET_MEM_TABLE', payload, regions.map((r) => r.fd));
  }

  setVringNum(index: number, size: number): void {
    this.send('SET_VRING_NUM', vringState(index, size));
  }

  /** The index the backend starts reading the avail ring at. */
  setVringBase(index: number, base: number): void {
    this.send('SET_VRING_BASE', vringState(index, base));
  }

  setVringAddr(index: number, ring: VhostUserRing): void {
    const payload = Buffer.alloc(VRING_ADDR_BYTES); // flags 0: no dirty logging; log address unused
    payload.writeUInt32LE(index, 0);
    payload.writeBigUInt64LE(BigInt(ring.desc), 8);
    payload.writeBigUInt64LE(BigInt(ring.used), 16);
    payload.writeBigUInt64LE(BigInt(ring.avail), 24);
    this.send('SET_VRING_ADDR', payload);
  }

  /** The eventfd the driver writes to when it has made buffers available. */
  setVringKick(index: number, eventfd: number): void {
    this.send('SET_VRING_KICK', vringFile(index), [eventfd]);
  }

  /** The eventfd the backend writes to when it has used buffers (the guest's interrupt). */
  setVringCall(index: number, eventfd: number): void {
    this.send('SET_VRING_CALL', vringFile(index), [eventfd]);
  }

  /**
   * Returns once the backend has handled every message sent before: without
   * REPLY_ACK it acknowledges none, but it handles them in order, so the
   * reply to a GET_FEATURES stands in for one.
   */
  settle(): void {
    this.getFeatures();
  }

  close(): void {
    close(this.fd);
  }

  private send(request: Request, payload: Buffer, fds: readonly number[] = []): void {
    const message = Buffer.alloc(HEADER_BYTES + payload.length);
    message.writeUInt32LE(REQUEST[request], 0);
    message.writeUInt32LE(FLAG_VERSION_1, 4);
    message.writeUInt32LE(payload.length, 8);
    payload.copy(message, HEADER_BYTES);
    if (fds.length > 0) {
      const r = sendWithDescriptors(this.fd, message, fds);
      if (r < 0) throw new Error(`vhost-user ${request}: sendmsg failed (errno ${-r})`);
      return;
    }
    for (let at = 0; at < message.length; ) {
      const n = Number(write(this.fd, message.subarray(at), message.length - at));
      if (n < 0) throw new Error(`vhost-user ${request}: write failed (errno ${koffi.errno()})`);
      at += n;
    }
  }

  private reply(request: Request, payloadBytes: number): Buffer {
    const deadline = Date.now() + this.replyTimeoutMs;
    const header = this.receive(request, HEADER_BYTES, deadline);
    const [got, flags, size] = [header.readUInt32LE(0), header.readUInt32LE(4), header.readUInt32LE(8)];
    if (got !== REQUEST[request] || !(flags & FLAG_REPLY) || size !== payloadBytes)
      throw new Error(`vhost-user ${request}: unexpected reply (request ${got}, flags ${flags}, ${size} bytes)`);
    return this.receive(request, payloadBytes, deadline);
  }

  private receive(request: Request, length: number, deadline: number): Buffer {
    const bytes = Buffer.alloc(length);
    const pollfd = Buffer.alloc(8); // struct pollfd: int fd, short events, short revents
    for (let at = 0; at < length; ) {
      pollfd.writeInt32LE(this.fd, 0);
      pollfd.writeInt16LE(POLLIN, 4);
      pollfd.writeInt16LE(0, 6);
      const wait = deadline - Date.now();
      const ready = wait > 0 ? (poll(pollfd, 1, wait) as number) : 0;
      if (ready < 0) throw new Error(`vhost-user ${request}: poll failed (errno ${koffi.errno()})`);
      if (ready === 0) throw new Error(`vhost-user ${request}: no reply from the backend within ${this.replyTimeoutMs} ms`);
      const chunk = Buffer.alloc(length - at);
      const n = Number(read(this.fd, chunk, chunk.length));
      if (n < 0) throw new Error(`vhost-user ${request}: read failed (errno ${koffi.errno()})`);
      if (n === 0) throw new Error(`vhost-user ${request}: the backend closed the connection`);
      chunk.copy(bytes, at, 0, n);
      at += n;
    }
    return bytes;
  }
}

/** struct vhost_vring_state: index, num. */
function vringState(index: number, num: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32LE(index, 0);
  payload.writeUInt32LE(num, 4);
  return payload;
}

/** The u64 of SET_VRING_KICK/CALL: the queue index, bit 8 clear (a descriptor comes with it). */
function vringFile(index: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeBigUInt64LE(BigInt(index));
  return payload;
}
