// QEMU's own virtio devices outside a guest, for the data-path benchmarks:
// a `qemu-system-x86_64 -M microvm` with no KVM, its guest RAM a memfd this
// process maps too, one virtio-mmio device (modern), and its qtest server (a
// unix socket) as the way to the device's registers. QEMU has no other way
// to run its 9p or net device models apart from a guest. The machine runs
// (virtio-net serves its queues only then, -S would stop it) but its one
// CPU halts at once: the firmware is nothing but HLT instructions, and with
// interrupts off from reset nothing wakes it (Debian's QEMU has no qtest
// accelerator, which would run no CPU at all).
//
// qtest's text protocol is work a guest would not give QEMU: there a
// doorbell is an ioeventfd. So `calibrate` measures QEMU's CPU and the
// round trip's wall time per qtest command (a register read: a main-loop
// wake-up, a parse, a reply), for the benchmark to take one such command's
// cost out per doorbell it rang through qtest. An ioeventfd would still
// have cost QEMU a wake-up: the figures left are, if anything, better than
// QEMU's in a guest. The commands are timed the way the driver takes its
// replies: a reply written to a client blocked in `read` costs QEMU that
// client's wake-up too (on this host ~14 µs of its ~32 µs a command), one
// written to a client that spins does not.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { check, close, F_GETFL, F_SETFL, fcntl, O_NONBLOCK } from '../../ffi/libc.js';
import { VIRTIO_MMIO } from '../../src/devices/virtio/virtio-mmio-registers.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { connectUnixStream } from '../../src/net/unix-socket.js';
import { startListeningProcess, type ListeningProcess } from './listening-process.js';
import { QEMU } from './qemu-reference.js';
import { runDriverThread } from './driver-thread.js';
import { QtestChannel } from './qtest-channel.js';
import type { MmioRegisters } from '../../src/devices/virtio/virtio-mmio-driver-setup.js';
import { cpuBetween, snapshotCpu } from './vmm-cpu.js';

/** microvm's virtio-mmio slots: 512 bytes apart from here, 24 of them (QEMU's hw/i386/microvm.c). */
const MICROVM_VIRTIO_MMIO_BASE = 0xfeb0_0000;
const MICROVM_VIRTIO_MMIO_SLOTS = 24;
/** The firmware: 64 KiB (a size QEMU takes) of HLT, the reset vector among them. */
const HALTING_FIRMWARE = Buffer.alloc(64 * 1024, 0xf4);
/** qtest commands timed to learn what one costs QEMU. */
const CALIBRATION_COMMANDS = 20_000;

export interface QtestQemu {
  readonly process: ListeningProcess;
  /** Guest RAM, mapped here too. */
  readonly memory: GuestMemory;
  /** The qtest socket, blocking. */
  readonly socketFd: number;
  readonly channel: QtestChannel;
  /** The device's virtio-mmio window. */
  readonly mmioBase: number;
  readonly registers: MmioRegisters;
  /** What one qtest command costs, its reply taken as `replies` says: QEMU's CPU seconds, and its round trip's wall time. */
  calibrate(replies: QtestReplies): { cpuSeconds: number; wallSeconds: number };
  /** Ends QEMU and frees what was made for it. */
  stop(): Promise<void>;
}

/**
 * How a driver takes QEMU's replies to its qtest commands: it waits for
 * each in a blocking read (`QtestChannel.command`), or it posts its
 * commands and collects the replies while it spins (`post`, `collect`).
 */
export type QtestReplies = 'waited' | 'collected';

/** A driver's run against QEMU: its figures as measured, and with qtest's cost taken out. */
export interface QtestDriverRun<Done> {
  done: Done;
  measuredCpuSeconds: number;
  measuredSeconds: number;
  /** QEMU's CPU and the run's wall time with one qtest command's cost and round trip taken out per command the driver sent. */
  cpuSeconds: number;
  seconds: number;
  qtestCpuSeconds: number;
}

/**
 * Times what a qtest command costs QEMU, its reply taken as the driver takes
 * them (`replies`), then runs the driver thread in `workerFile` against the
 * device (set up and initialised), its CPU measured over QEMU's threads; the
 * driver reports how many commands it sent.
 */
export async function runDriverAgainstQemu<Done extends { type: 'done'; elapsedNs: number; qtestCommands: number }>(
  qemu: QtestQemu,
  workerFile: URL,
  setup: unknown,
  timeoutMs: number,
  replies: QtestReplies,
): Promise<QtestDriverRun<Done>> {
  const command = qemu.calibrate(replies);
  const running = qemu.process;
  const { done, deviceCpuSeconds } = await runDriverThread<Done>(workerFile, setup, {
    deviceCpu: () => snapshotCpu(running.pid),
    timeoutMs,
    deviceFailure: running.exited(),
    // A driver blocked reading the qtest socket returns once QEMU is gone.
    unblock: () => process.kill(running.pid, 'SIGKILL'),
  });
  const measuredSeconds = done.elapsedNs / 1e9;
  const qtestCpuSeconds = done.qtestCommands * command.cpuSeconds;
  return {
    done,
    measuredCpuSeconds: deviceCpuSeconds,
    measuredSeconds,
    cpuSeconds: deviceCpuSeconds - qtestCpuSeconds,
    seconds: measuredSeconds - done.qtestCommands * command.wallSeconds,
    qtestCpuSeconds,
  };
}

/**
 * Starts QEMU with `deviceArgs` (its -device and backend options) and finds
 * the virtio-mmio device with `deviceId`. `workDir`: the process's
 * temporary directory, for backends' sockets.
 */
export async function startQtestQemu(options: { ramBytes: number; deviceId: number; deviceArgs: (workDir: string) => string[] }): Promise<QtestQemu> {
  const layout = [{ gpa: 0, size: options.ramBytes }];
  const memfd = GuestMemory.createSharedRam(layout, false).fd; // a memfd, as QEMU is given elsewhere
  const memory = GuestMemory.allocate(layout, { memfd });
  const mib = options.ramBytes >> 20;
  let qemu: ListeningProcess | undefined;
  let socketFd = -1;
  const stop = async () => {
    if (socketFd >= 0) close(socketFd);
    socketFd = -1;
    await qemu?.stop();
    memory.release();
    close(memfd);
  };
  try {
    qemu = await startListeningProcess({
      program: QEMU,
      label: `${QEMU} (qtest)`,
      socketName: 'qtest.sock',
      passFds: [memfd], // its descriptor 3
      args: (socketPath) => {
        const firmware = join(dirname(socketPath), 'halt.bin');
        writeFileSync(firmware, HALTING_FIRMWARE);
        return [
        '-M', 'microvm,x-option-roms=off,rtc=off,pit=off,pic=off,isa-serial=off,ioapic2=off',
        '-bios', firmware, '-accel', 'tcg', '-display', 'none', '-nodefaults', '-no-user-config',
        '-m', `${mib}M`,
        '-object', `memory-backend-file,id=ram,size=${mib}M,mem-path=/proc/self/fd/3,share=on`,
        '-machine', 'memory-backend=ram',
        '-global', 'virtio-mmio.force-legacy=false',
        ...options.deviceArgs(dirname(socketPath)),
        '-qtest', `unix:${socketPath},server=on,wait=off`,
        '-qtest-log', '/dev/null',
        ];
      },
      timeoutMs: 10_000,
    });
    socketFd = connectUnixStream(qemu.socketPath);
    // The driver waits for QEMU's replies in blocking reads.
    check(fcntl(socketFd, F_SETFL, check(fcntl(socketFd, F_GETFL, 0) as number, 'fcntl') & ~O_NONBLOCK) as number, 'fcntl');
    const channel = new QtestChannel(socketFd);
    const mmioBase = findDevice(channel, options.deviceId);
    const registers = qtestRegisters(channel, mmioBase);
    const pid = qemu.pid;
    return {
      process: qemu,
      memory,
      socketFd,
      channel,
      mmioBase,
      registers,
      calibrate: (replies) => calibrate(channel, mmioBase, replies, pid),
      stop,
    };
  } catch (e) {
    const error = qemu ? qemu.withLog(e) : e; // whatever failed once QEMU ran, its stderr may say why
    await stop();
    throw error;
  }
}

function qtestRegisters(channel: QtestChannel, base: number): MmioRegisters {
  const at = (offset: number) => `0x${(base + offset).toString(16)}`;
  return {
    read32: (offset) => Number(channel.command(`readl ${at(offset)}`)),
    write32: (offset, value) => void channel.command(`writel ${at(offset)} 0x${value.toString(16)}`),
  };
}

/** The virtio-mmio window of the first device with this ID. */
function findDevice(channel: QtestChannel, deviceId: number): number {
  for (let slot = 0; slot < MICROVM_VIRTIO_MMIO_SLOTS; slot++) {
    const base = MICROVM_VIRTIO_MMIO_BASE + 512 * slot;
    if (qtestRegisters(channel, base).read32(VIRTIO_MMIO.DEVICE_ID) === deviceId) return base;
  }
  throw new Error(`no virtio-mmio device with ID ${deviceId} on QEMU's microvm`);
}

/** Reads of a register that does nothing, timed, each reply taken as `replies` says. */
function calibrate(channel: QtestChannel, mmioBase: number, replies: QtestReplies, pid: number): { cpuSeconds: number; wallSeconds: number } {
  const read = `readl 0x${(mmioBase + VIRTIO_MMIO.MAGIC_VALUE).toString(16)}`;
  const before = snapshotCpu(pid);
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALIBRATION_COMMANDS; i++) {
    if (replies === 'waited') {
      channel.command(read);
      continue;
    }
    channel.post(read);
    while (channel.awaiting > 0) channel.collect();
  }
  const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9 / CALIBRATION_COMMANDS;
  const { vcpu, rest } = cpuBetween(before, snapshotCpu(pid));
  return { cpuSeconds: (vcpu + rest) / CALIBRATION_COMMANDS, wallSeconds };
}
