// A periodic POSIX timer that sends VCPU_SIGNAL to the thread that made it:
// the kernel takes a vCPU out of the guest on time, where a timer on another
// thread would have to wake that thread first and then kick (in the nested
// L1 each such wake-up of the helper's main thread cost ~2 ms of CPU).
import { ErrnoError, check, gettid, koffi } from '../../ffi/libc.js';
import {
  CLOCK_MONOTONIC,
  ITIMERSPEC_SIZE,
  ITIMERSPEC_VALUE_OFFSET,
  SIGEVENT_NOTIFY_OFFSET,
  SIGEVENT_SIGNO_OFFSET,
  SIGEVENT_SIZE,
  SIGEVENT_THREAD_ID_OFFSET,
  SIGEV_THREAD_ID,
  timerCreate,
  timerDelete,
  timerSettime,
} from '../../ffi/signals.js';
import { VCPU_SIGNAL } from './vcpu-signal.js';

export class VcpuTimer {
  private readonly id: number;
  private readonly spec = new Uint8Array(ITIMERSPEC_SIZE);
  private readonly specView = new DataView(this.spec.buffer);
  private deleted = false;
  /** The period set last; 0 while disarmed. */
  periodMs = 0;

  /** On the vCPU's own thread (the signal goes to the caller). */
  constructor() {
    const event = new DataView(new ArrayBuffer(SIGEVENT_SIZE));
    event.setInt32(SIGEVENT_SIGNO_OFFSET, VCPU_SIGNAL, true);
    event.setInt32(SIGEVENT_NOTIFY_OFFSET, SIGEV_THREAD_ID, true);
    event.setInt32(SIGEVENT_THREAD_ID_OFFSET, gettid() as number, true);
    const id = new Uint8Array(8);
    check(timerCreate(CLOCK_MONOTONIC, new Uint8Array(event.buffer), id) as number, 'timer_create');
    this.id = Number(new DataView(id.buffer).getBigUint64(0, true));
  }

  /** Fires every `ms` from now on (0 disarms). */
  setPeriod(ms: number): void {
    const ns = BigInt(Math.round(ms * 1e6));
    // it_interval, then it_value (the first expiry): the same.
    for (const at of [0, ITIMERSPEC_VALUE_OFFSET]) {
      this.specView.setBigInt64(at, ns / 1_000_000_000n, true);
      this.specView.setBigInt64(at + 8, ns % 1_000_000_000n, true);
    }
    if ((timerSettime(this.id, 0, this.spec, null) as number) !== 0) throw new ErrnoError('timer_settime', koffi.errno());
    this.periodMs = ms;
  }

  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    timerDelete(this.id);
  }
}
