// Serves a device model's region over an ioregionfd-protocol socket, on an
// event loop (the VMM's main thread, or a device process). Commands come from
// an untrusted peer: malformed ones are counted and dropped, never thrown.
import { koffi } from '../../ffi/koffi.js';
import { EAGAIN, EINTR, F_GETFL, F_SETFL, O_NONBLOCK, fcntl, read, write } from '../../ffi/libc.js';
import type { BusDevice } from './device.js';
import { watchFd, type FdWatch } from './fd-watch.js';
import { IOREGION_MESSAGE_SIZE, bytesToData, dataToBytes, decodeCommand, encodeResponse } from './ioregion-wire.js';

export class IoregionServer {
  private readonly message = new Uint8Array(IOREGION_MESSAGE_SIZE + 1);
  private readonly response = new Uint8Array(IOREGION_MESSAGE_SIZE);
  private readonly responseView = new DataView(this.response.buffer);
  private readonly access = [new Uint8Array(0), new Uint8Array(1), new Uint8Array(2), new Uint8Array(0), new Uint8Array(4), ...Array(3).fill(new Uint8Array(0)), new Uint8Array(8)];
  private handle: FdWatch | undefined;
  /** Gave up on the socket: onClose may have closed the fd, so it is not touched again. */
  private closed = false;
  malformed = 0;
  served = 0;

  constructor(
    private readonly fd: number,
    private readonly device: BusDevice,
    private readonly regionSize: number,
    private readonly onClose: (why: string) => void = () => {},
  ) {}

  /** Serves commands as they arrive, on this thread's event loop. */
  start(): void {
    // Drained until EAGAIN on each wake-up: the socket must not block.
    fcntl(this.fd, F_SETFL, (fcntl(this.fd, F_GETFL, 0) as number) | O_NONBLOCK);
    this.handle = watchFd(this.fd, { readable: true, disconnect: true }, () => this.serveAvailable());
  }

  stop(): void {
    this.handle?.close();
    this.handle = undefined;
  }

  /** Handles every queued command; returns how many. */
  serveAvailable(): number {
    let n = 0;
    for (;;) {
      if (this.closed) return n;
      // One byte more than a message: a longer datagram is detectably malformed.
      const got = read(this.fd, this.message, this.message.length) as number;
      if (got < 0) {
        const errno = koffi.errno();
        if (errno === EINTR) continue;
        if (errno !== EAGAIN) this.close(`receive failed (errno ${errno})`);
        return n;
      }
      if (got === 0) {
        this.close('the VMM end closed the socket');
        return n;
      }
      n++;
      this.serveOne(this.message.subarray(0, got));
    }
  }

  private serveOne(bytes: Uint8Array): void {
    const decoded = decodeCommand(bytes, this.regionSize);
    if (!decoded.ok) {
      this.malformed++;
      return;
    }
    const c = decoded.value;
    const data = this.access[c.size];
    this.served++;
    if (c.write) {
      dataToBytes(c.data, data);
      this.device.write(c.offset, data);
    } else this.device.read(c.offset, data);
    if (!c.wantsResponse) return;
    encodeResponse(this.responseView, c.write ? 0n : bytesToData(data));
    if ((write(this.fd, this.response, IOREGION_MESSAGE_SIZE) as number) !== IOREGION_MESSAGE_SIZE) this.close(`send failed (errno ${koffi.errno()})`);
  }

  private close(why: string): void {
    this.closed = true;
    this.stop();
    this.onClose(why);
  }
}
