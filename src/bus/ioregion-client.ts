// The VMM's end of a region served by someone else (another thread or another
// process) over an ioregionfd-protocol socket. Used from the vCPU thread:
// reads block for the response, writes are posted. A peer that dies, answers
// garbage or does not answer in time turns the region dead: reads return all
// ones, writes are dropped, and `onDead` reports it once. The VM never hangs.
// "In time" applies to device processes only: a server on a thread of this
// process (the main thread's local disks) cannot die apart from us, and a slow
// answer there (a long fdatasync, a drain on reset, a blocked log write) is a
// stall to wait out, not a death that fails the disk for good. A device
// process's first answer gets longer: the guest starts while the device
// processes may still be starting (their requests wait in the socket), and
// one that fails to start ends the VM through the frontend.
import { koffi } from '../../ffi/koffi.js';
import { ECONNRESET, EINTR, EPIPE, POLLIN, errnoName, poll, read, write } from '../../ffi/libc.js';
import type { BusDevice } from './device.js';
import type { RegionLock } from './region-lock.js';
import { IOREGION_MESSAGE_SIZE, bytesToData, dataToBytes, encodeCommand } from './ioregion-wire.js';

/** How long a device process may take to answer: its first answer (it may still be starting), and each later one. */
export interface ResponseTimeouts {
  firstMs: number;
  laterMs: number;
}

export const IOREGION_RESPONSE_TIMEOUTS: ResponseTimeouts = { firstMs: 60_000, laterMs: 5000 };

/** Who serves the region: a device process (may die: timed out), or a thread of this process (waited for). */
export type IoregionPeer = 'process' | 'thread';

export class IoregionClient implements BusDevice {
  private readonly command = new Uint8Array(IOREGION_MESSAGE_SIZE);
  private readonly commandView = new DataView(this.command.buffer);
  /** One byte more than a message, so an over-long datagram is detectable. */
  private readonly response = new Uint8Array(IOREGION_MESSAGE_SIZE + 1);
  private readonly responseView = new DataView(this.response.buffer);
  private readonly pollfd = new Uint8Array(8);
  private dead = false;
  private posted = false;
  private answered = false;

  constructor(
    readonly name: string,
    private readonly fd: number,
    private readonly onDead: (why: string) => void,
    private readonly postedWrites = true,
    private readonly timeouts = IOREGION_RESPONSE_TIMEOUTS,
    private readonly peer: IoregionPeer = 'process',
    /** Shared with the other vCPUs' clients of the same socket (several vCPUs); none with one vCPU. */
    private readonly lock?: RegionLock,
  ) {
    new DataView(this.pollfd.buffer).setInt32(0, fd, true);
    new DataView(this.pollfd.buffer).setInt16(4, POLLIN, true);
  }

  get isDead(): boolean {
    return this.dead || this.lock?.isDead === true;
  }

  /**
   * Whether this client posted a write the device may not have served yet:
   * a read through the socket waits for the device, which serves in order,
   * so until then state the device keeps elsewhere may not show that write.
   */
  get writesInFlight(): boolean {
    return this.posted;
  }

  read(offset: number, data: Uint8Array): void {
    this.lock?.acquire();
    try {
      if (this.isDead || !this.send(false, offset, data, true) || !this.receive()) {
        data.fill(0xff);
        return;
      }
      dataToBytes(this.responseView.getBigUint64(0, true), data);
      this.posted = false;
    } finally {
      this.lock?.release();
    }
  }

  write(offset: number, data: Uint8Array): void {
    if (this.isDead) return;
    this.lock?.acquire();
    try {
      if (!this.isDead && this.send(true, offset, data, !this.postedWrites)) {
        if (this.postedWrites) this.posted = true;
        else if (this.receive()) this.posted = false;
      }
    } finally {
      this.lock?.release();
    }
  }

  private send(isWrite: boolean, offset: number, data: Uint8Array, wantsResponse: boolean): boolean {
    const size = data.length === 1 || data.length === 2 || data.length === 4 || data.length === 8 ? data.length : 0;
    if (!size) return false; // not an access size the protocol can express
    encodeCommand(this.commandView, { write: isWrite, size, wantsResponse, userData: 0n, offset, data: isWrite ? bytesToData(data) : 0n });
    const n = write(this.fd, this.command, IOREGION_MESSAGE_SIZE) as number;
    if (n === IOREGION_MESSAGE_SIZE) return true;
    if (n >= 0) return this.die('short send');
    // A peer that is gone reads as gone whichever way we notice it first.
    const errno = koffi.errno();
    return this.die(errno === EPIPE || errno === ECONNRESET ? `the device end closed its socket (${errnoName(errno)})` : `sending failed: ${errnoName(errno)}`);
  }

  private receive(): boolean {
    // With several vCPUs the region's first answer may have gone to another's client.
    const answered = this.answered || this.lock?.answered === true;
    const timeout = this.peer === 'thread' ? -1 : answered ? this.timeouts.laterMs : this.timeouts.firstMs;
    for (;;) {
      const ready = poll(this.pollfd, 1, timeout) as number;
      if (ready < 0 && koffi.errno() === EINTR) continue;
      if (ready === 0) return this.die(`no ${answered ? '' : 'first '}response within ${timeout} ms`);
      break;
    }
    const n = read(this.fd, this.response, this.response.length) as number;
    if (n === 0) return this.die('the device end closed its socket');
    if (n < 0) {
      const errno = koffi.errno();
      return this.die(errno === ECONNRESET ? 'the device end closed its socket (ECONNRESET)' : `receiving failed: ${errnoName(errno)}`);
    }
    if (n !== IOREGION_MESSAGE_SIZE) return this.die(`malformed response of ${n} bytes`);
    if (!this.answered) {
      this.answered = true;
      this.lock?.markAnswered();
    }
    return true;
  }

  private die(why: string): false {
    if (!this.dead) {
      this.dead = true;
      // Reported once per region, by the vCPU that found it dead.
      if (this.lock?.markDead() !== false) this.onDead(why);
    }
    return false;
  }
}
