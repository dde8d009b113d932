// The exit loop's dispatch without KVM: KVM_RUN is replaced by a script that
// writes each exit into a fake kvm_run mapping (anonymous memory, laid out as
// ffi/kvm-abi.ts says), so decoding exit reasons and routing PIO/MMIO to the
// buses run exactly as they do under KVM.
import koffi from 'koffi';
import { constants } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KVM_EXIT, KVM_EXIT_IO_IN, KVM_EXIT_IO_OUT, KVM_INTERNAL_ERROR, KVM_IOCTL, KVM_SYSTEM_EVENT, KvmRun } from '../../ffi/kvm-abi.js';
import { EAGAIN, EINTR, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, mmapChecked, munmap } from '../../ffi/libc.js';
import type { CoalescedRing } from '../../src/bus/coalesced-ring.js';
import type { BusDevice } from '../../src/bus/device.js';
import { IoBus } from '../../src/bus/io-bus.js';
import { ExitLoop, YIELD, type ExitLoopHooks } from '../../src/kvm/exit-loop.js';
import { ExitStats } from '../../src/kvm/exit-stats.js';
import { KvmRunView } from '../../src/kvm/kvm-run.js';
import type { GuestMemory } from '../../src/memory/guest-memory.js';

/** Each KVM_RUN takes the next step: it fills the page and returns what the ioctl would. */
const kvmRun = vi.hoisted(() => ({ steps: [] as (() => number)[], calls: 0 }));

vi.mock('../../ffi/libc.js', async (importOriginal) => {
  const libc = await importOriginal<typeof import('../../ffi/libc.js')>();
  const { KVM_IOCTL: ioctls } = await import('../../ffi/kvm-abi.js');
  return {
    ...libc,
    ioctlValue: (fd: number, request: number, arg: number) => {
      if (request !== ioctls.KVM_RUN) return libc.ioctlValue(fd, request, arg);
      kvmRun.calls++;
      const step = kvmRun.steps.shift();
      if (!step) throw new Error('KVM_RUN called after the script ended');
      return step();
    },
  };
});

const o = KvmRun.offsets;
const PAGE = 4096;
const RUN_SIZE = 2 * PAGE; // the run page, then the PIO data page (as KVM lays it out)
const PIO_DATA = PAGE;
const mappings: number[] = [];

afterEach(() => {
  mappings.splice(0).forEach((addr) => munmap(addr, RUN_SIZE));
  kvmRun.steps.length = 0;
  kvmRun.calls = 0;
});

/** A device that records accesses; reads answer 0x10, 0x11, ... */
function recorder(name: string) {
  const log: string[] = [];
  const device: BusDevice = {
    name,
    read(offset, data) {
      for (let i = 0; i < data.length; i++) data[i] = 0x10 + i;
      log.push(`r ${offset.toString(16)}/${data.length}`);
    },
    write(offset, data) {
      log.push(`w ${offset.toString(16)} ${Array.from(data, (b) => b.toString(16)).join(' ')}`);
    },
  };
  return { device, log };
}

function vm(options: { coalesced?: CoalescedRing; onInterrupt?: ExitLoopHooks['onInterrupt'] } = {}) {
  const addr = mmapChecked(RUN_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  mappings.push(addr);
  const run = new KvmRunView(addr, RUN_SIZE);
  const pio = new IoBus('pio');
  const mmio = new IoBus('mmio');
  const stats = new ExitStats();
  const hooks = { beforeRun: vi.fn(), onInterrupt: vi.fn(options.onInterrupt ?? (() => undefined)) };
  // vCPU fd -1: the register snapshot in error messages fails, as it must, without throwing.
  const loop = new ExitLoop(-1, run, pio, mmio, {} as GuestMemory, stats, hooks, options.coalesced);
  const v = run.view;
  const exit = (reason: number, fill: () => void = () => {}) => () => {
    v.setUint32(o.exit_reason, reason, true);
    fill();
    return 0;
  };
  const script = {
    pio(dir: number, port: number, size: number, bytes: number[] = [], count = 1, dataOffset = PIO_DATA) {
      kvmRun.steps.push(
        exit(KVM_EXIT.IO, () => {
          v.setUint8(o['io.direction'], dir);
          v.setUint8(o['io.size'], size);
          v.setUint16(o['io.port'], port, true);
          v.setUint32(o['io.count'], count, true);
          v.setBigUint64(o['io.data_offset'], BigInt(dataOffset), true);
          run.bytes.fill(0xee, PIO_DATA, RUN_SIZE);
          run.bytes.set(bytes, dataOffset);
        }),
      );
    },
    mmio(isWrite: boolean, address: bigint, len: number, bytes: number[] = []) {
      kvmRun.steps.push(
        exit(KVM_EXIT.MMIO, () => {
          v.setBigUint64(o['mmio.phys_addr'], address, true);
          v.setUint32(o['mmio.len'], len, true);
          v.setUint8(o['mmio.is_write'], isWrite ? 1 : 0);
          run.bytes.fill(0xee, o['mmio.data'], o['mmio.data'] + 8);
          run.bytes.set(bytes, o['mmio.data']);
        }),
      );
    },
    exit(reason: number, fill?: (view: DataView) => void) {
      kvmRun.steps.push(exit(reason, () => fill?.(v)));
    },
    fail(errno: number) {
      kvmRun.steps.push(() => {
        koffi.errno(errno);
        return -1;
      });
    },
    halt() {
      script.exit(KVM_EXIT.HLT);
    },
  };
  return { loop, run, pio, mmio, stats, hooks, script };
}

describe('ExitLoop: PIO', () => {
  it('routes an OUT to the device at its offset with the bytes of the data page', () => {
    const { loop, pio, stats, script } = vm();
    const uart = recorder('uart');
    pio.add(0x3f8, 8, uart.device);
    script.pio(KVM_EXIT_IO_OUT, 0x3fb, 1, [0x83]);
    script.pio(KVM_EXIT_IO_OUT, 0x3f8, 2, [0x34, 0x12]);
    script.halt();
    expect(loop.runUntilExit().kind).toBe('poweroff');
    expect(uart.log).toEqual(['w 3 83', 'w 0 34 12']);
    expect(stats.report().accessesByDevice).toEqual({ uart: 2 });
    expect(stats.report().exitsByReason).toEqual({ KVM_EXIT_IO: 2, KVM_EXIT_HLT: 1 });
  });

  it('answers an IN in the data page, at the offset KVM names', () => {
    const { loop, pio, run, script } = vm();
    const dev = recorder('dev');
    pio.add(0x60, 5, dev.device);
    const dataOffset = PIO_DATA + 0x80;
    script.pio(KVM_EXIT_IO_IN, 0x64, 4, [], 1, dataOffset);
    script.halt();
    loop.runUntilExit();
    expect(dev.log).toEqual(['r 4/4']);
    expect(Array.from(run.bytes.subarray(dataOffset, dataOffset + 5))).toEqual([0x10, 0x11, 0x12, 0x13, 0xee]);
  });

  it('serves each element of a rep OUTS/INS in order', () => {
    const { loop, pio, run, script } = vm();
    const dev = recorder('dev');
    pio.add(0x80, 1, dev.device);
    script.pio(KVM_EXIT_IO_OUT, 0x80, 2, [1, 0, 2, 0, 3, 0], 3);
    script.pio(KVM_EXIT_IO_IN, 0x80, 1, [], 3);
    script.halt();
    loop.runUntilExit();
    expect(dev.log).toEqual(['w 0 1 0', 'w 0 2 0', 'w 0 3 0', 'r 0/1', 'r 0/1', 'r 0/1']);
    expect(Array.from(run.bytes.subarray(PIO_DATA, PIO_DATA + 4))).toEqual([0x10, 0x10, 0x10, 0xee]);
  });

  it('reads all ones from a port no device claims, and drops writes there', () => {
    const { loop, pio, run, stats, script } = vm();
    pio.add(0x3f8, 8, recorder('uart').device);
    script.pio(KVM_EXIT_IO_OUT, 0xffff, 1, [0]);
    script.pio(KVM_EXIT_IO_IN, 0xcf8, 4);
    script.halt();
    loop.runUntilExit();
    expect(Array.from(run.bytes.subarray(PIO_DATA, PIO_DATA + 5))).toEqual([0xff, 0xff, 0xff, 0xff, 0xee]);
    expect(pio.unclaimedAccesses).toBe(2);
    expect(stats.report().accessesByDevice).toEqual({});
  });

  it('stops a rep access at the end of the mapping instead of spinning on empty windows', () => {
    const { loop, pio, script } = vm();
    const seen: number[][] = [];
    pio.add(0x80, 1, {
      name: 'dev',
      read: () => {},
      write: (_offset, data) => {
        if (seen.length === 10) throw new Error('still dispatching past the mapping');
        seen.push(Array.from(data));
      },
    });
    // Counts and sizes no real kernel gives: 2^32 - 1 elements from 2 bytes before the end, size 0.
    script.pio(KVM_EXIT_IO_OUT, 0x80, 1, [7, 8], 0xffff_ffff, RUN_SIZE - 2);
    script.pio(KVM_EXIT_IO_OUT, 0x80, 0, [], 0xffff_ffff);
    script.halt();
    expect(loop.runUntilExit().kind).toBe('poweroff');
    expect(seen).toEqual([[7], [8]]);
  });
});

describe('ExitLoop: MMIO', () => {
  it('routes writes and reads to the device at the address, above 4 GiB too', () => {
    const { loop, mmio, run, stats, script } = vm();
    const low = recorder('low');
    const high = recorder('high');
    mmio.add(0xd000_0000, 0x1000, low.device);
    mmio.add(0x1_0000_0000, 0x1000, high.device);
    script.mmio(true, 0xd000_0070n, 4, [1, 2, 3, 4]);
    script.mmio(false, 0x1_0000_0ff8n, 8);
    script.halt();
    loop.runUntilExit();
    expect(low.log).toEqual(['w 70 1 2 3 4']);
    expect(high.log).toEqual(['r ff8/8']);
    expect(Array.from(run.bytes.subarray(o['mmio.data'], o['mmio.data'] + 8))).toEqual([0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17]);
    expect(stats.report().accessesByDevice).toEqual({ low: 1, high: 1 });
  });

  it('never hands a device more than the 8 bytes of mmio.data', () => {
    const { loop, mmio, script } = vm();
    const dev = recorder('dev');
    mmio.add(0xd000_0000, 0x1000, dev.device);
    script.mmio(false, 0xd000_0000n, 0xffff_ffff);
    script.halt();
    loop.runUntilExit();
    expect(dev.log).toEqual(['r 0/8']);
  });

  it('reads all ones outside every device, at the top of the address space too', () => {
    const { loop, mmio, run, script } = vm();
    mmio.add(0xd000_0000, 0x1000, recorder('dev').device);
    script.mmio(false, 0xffff_ffff_ffff_f000n, 4);
    script.halt();
    loop.runUntilExit();
    expect(Array.from(run.bytes.subarray(o['mmio.data'], o['mmio.data'] + 5))).toEqual([0xff, 0xff, 0xff, 0xff, 0xee]);
    expect(mmio.unclaimedAccesses).toBe(1);
  });
});

describe('ExitLoop: endings', () => {
  it('ends after the exit whose device asked for it; the first request wins', () => {
    const { loop, pio, script } = vm();
    pio.add(0x501, 1, {
      name: 'exit',
      read: () => {},
      write: (_offset, data) => loop.requestExit({ kind: 'guest-status', status: data[0], message: `status ${data[0]}` }),
    });
    script.pio(KVM_EXIT_IO_OUT, 0x501, 1, [3]);
    script.pio(KVM_EXIT_IO_OUT, 0x501, 1, [4]);
    expect(loop.runUntilExit()).toEqual({ kind: 'guest-status', status: 3, message: 'status 3' });
    expect(kvmRun.calls).toBe(1);
  });

  it.each([
    ['HLT', KVM_EXIT.HLT, undefined, { kind: 'poweroff', status: 0 }],
    ['SHUTDOWN (triple fault)', KVM_EXIT.SHUTDOWN, undefined, { kind: 'reset', status: 1 }],
    ['SYSTEM_EVENT shutdown', KVM_EXIT.SYSTEM_EVENT, KVM_SYSTEM_EVENT.SHUTDOWN, { kind: 'poweroff', status: 0 }],
    ['SYSTEM_EVENT reset', KVM_EXIT.SYSTEM_EVENT, KVM_SYSTEM_EVENT.RESET, { kind: 'reset', status: 1 }],
    ['SYSTEM_EVENT crash', KVM_EXIT.SYSTEM_EVENT, KVM_SYSTEM_EVENT.CRASH, { kind: 'error', status: 2, message: expect.stringMatching(/^guest crashed .*registers unavailable/) }],
    ['SYSTEM_EVENT unknown', KVM_EXIT.SYSTEM_EVENT, 0xffff_ffff, { kind: 'error', status: 2, message: 'unknown KVM system event 4294967295' }],
  ])('decodes %s', (_name, reason, eventType, expected) => {
    const { loop, script } = vm();
    script.exit(reason, (v) => eventType !== undefined && v.setUint32(o['system_event.type'], eventType, true));
    expect(loop.runUntilExit()).toMatchObject(expected);
  });

  it('reports a failed entry with the hardware reason', () => {
    const { loop, script } = vm();
    script.exit(KVM_EXIT.FAIL_ENTRY, (v) => v.setBigUint64(o['fail_entry.hardware_entry_failure_reason'], 0x80000021n, true));
    expect(loop.runUntilExit()).toMatchObject({ kind: 'error', status: 2, message: expect.stringMatching(/^KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x80000021/) });
  });

  it('reports an internal error with its suberror and at most 16 data words', () => {
    const { loop, script } = vm();
    script.exit(KVM_EXIT.INTERNAL_ERROR, (v) => {
      v.setUint32(o['internal.suberror'], KVM_INTERNAL_ERROR.EMULATION, true);
      v.setUint32(o['internal.ndata'], 0xffff_ffff, true);
      for (let i = 0; i < 16; i++) v.setBigUint64(o['internal.data'] + 8 * i, BigInt(i), true);
    });
    const exit = loop.runUntilExit();
    expect(exit).toMatchObject({ kind: 'error', status: 2 });
    expect(exit.message).toMatch(/^KVM_EXIT_INTERNAL_ERROR, suberror 1 \(emulation failure\)/);
    expect(exit.message).toMatch(/; data: 0x0 0x1 .* 0xf$/);
    expect(exit.message.match(/0x[0-9a-f]+/g)?.length).toBe(16);
  });

  it.each([
    ['a known exit it does not handle', KVM_EXIT.DEBUG, /^unhandled exit KVM_EXIT_DEBUG/],
    ['an exit reason past every table', 0xffff_ffff, /^unhandled exit KVM_EXIT_4294967295/],
  ])('reports %s as an error', (_name, reason, message) => {
    const { loop, script } = vm();
    script.exit(reason);
    expect(loop.runUntilExit()).toMatchObject({ kind: 'error', status: 2, message: expect.stringMatching(message) });
  });
});

describe('ExitLoop: interruptions and failures', () => {
  it.each([
    ['EINTR', EINTR],
    ['EAGAIN', EAGAIN],
  ])('on %s clears immediate_exit, asks the VMM, and runs on', (_name, errno) => {
    const { loop, run, stats, hooks, script } = vm();
    script.fail(errno);
    script.halt();
    run.immediateExit = true;
    expect(loop.runUntilExit().kind).toBe('poweroff');
    expect(run.bytes[o.immediate_exit]).toBe(0);
    expect(hooks.onInterrupt).toHaveBeenCalledTimes(1);
    expect(hooks.beforeRun).toHaveBeenCalledTimes(2);
    expect(stats.report().exitsByReason).toEqual({ KVM_EXIT_INTR: 1, KVM_EXIT_HLT: 1 });
  });

  it('ends with what the interrupt hook returns (pause/stop requests)', () => {
    const stop = { kind: 'stopped', status: 130, message: 'stopped' } as const;
    const { loop, script } = vm({ onInterrupt: () => stop });
    script.exit(KVM_EXIT.INTR);
    expect(loop.runUntilExit()).toEqual(stop);
  });

  it('runs in slices: an interruption the hook yields on hands the thread back, the next slice goes on', () => {
    const { loop, mmio, stats, script } = vm({ onInterrupt: () => YIELD });
    const { device, log } = recorder('dev');
    mmio.add(0xd0000000, 0x100, device);
    script.mmio(true, 0xd0000000n, 4, [1, 2, 3, 4]);
    script.fail(EINTR);
    script.exit(KVM_EXIT.INTR); // immediate_exit as KVM reports it with a zero return
    script.halt();
    expect(loop.runSlice()).toBeUndefined();
    expect(log).toEqual(['w 0 1 2 3 4']);
    expect(loop.runSlice()).toBeUndefined();
    expect(loop.runSlice()?.kind).toBe('poweroff');
    expect(kvmRun.calls).toBe(4);
    const report = stats.report();
    expect(report.exitsByReason).toEqual({ KVM_EXIT_MMIO: 1, KVM_EXIT_INTR: 2, KVM_EXIT_HLT: 1 });
    expect(report.runSeconds).toBeGreaterThanOrEqual(0);
  });

  it('ends a slice before KVM_RUN when the VM was ended between slices, and with runUntilExit a hook may not yield', () => {
    const { loop, script } = vm({ onInterrupt: () => YIELD });
    const stop = { kind: 'stopped', status: 130, message: 'stopped' } as const;
    loop.requestExit(stop);
    expect(loop.runSlice()).toEqual(stop);
    expect(kvmRun.calls).toBe(0);
    script.fail(EINTR);
    expect(() => loop.runUntilExit()).toThrow(/yielded/);
  });

  it('ends with an error naming the errno when KVM_RUN fails otherwise', () => {
    const { loop, script } = vm();
    script.fail(constants.errno.EFAULT);
    expect(loop.runUntilExit()).toEqual({ kind: 'error', status: 2, message: 'KVM_RUN failed: EFAULT' });
  });

  it('replays the coalesced ring after every KVM_RUN, before the exit is handled', () => {
    const order: string[] = [];
    const ring = { drain: () => order.push('drain') } as unknown as CoalescedRing;
    const { loop, pio, script } = vm({ coalesced: ring });
    pio.add(0x3f8, 8, { name: 'uart', read: () => order.push('read'), write: () => order.push('write') });
    script.pio(KVM_EXIT_IO_IN, 0x3fd, 1);
    script.fail(EINTR);
    script.halt();
    loop.runUntilExit();
    expect(order).toEqual(['drain', 'read', 'drain', 'drain']);
  });
});
