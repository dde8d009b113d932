// The reference for p9-data-path.ts: the same 9p client in a driver thread,
// the same RAM, ring and tree, but QEMU's virtio-9p and its `local` backend
// as the server. QEMU runs with no CPU (-S) and no KVM: its qtest server
// (a unix socket) is how the driver reaches the device's registers and
// hears its interrupt line, and guest RAM is a memfd both map.
//
// qtest's text protocol is work a real guest would not give QEMU: there the
// doorbell is an ioeventfd. So the run also measures QEMU's CPU and the
// driver's wall time per qtest command (a register read: a main-loop
// wake-up, a parse, a reply) and takes one such command's cost per doorbell
// out of QEMU's CPU and out of the run's time, the wake-up included, which
// an ioeventfd would still have cost: the figures left are, if anything,
// better than QEMU's in a guest. Neither device's interrupts are
// taken (p9-driver-worker.ts).
import { check, close, F_GETFL, F_SETFL, fcntl, O_NONBLOCK } from '../../ffi/libc.js';
import { VIRTIO_ID } from '../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_MMIO } from '../../src/devices/virtio/virtio-mmio-registers.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { connectUnixStream } from '../../src/net/unix-socket.js';
import { runDriverThread } from './driver-thread.js';
import { startListeningProcess, type ListeningProcess } from './listening-process.js';
import type { P9DriverDone, P9Workload } from './p9-driver-worker.js';
import { p9DriverTimeoutMs, p9PathResult, type P9PathResult } from './p9-data-path.js';
import { P9_PATH_FEATURES, RAM_BYTES, p9DriverSetup, p9PathTree, p9QueueLayout } from './p9-path-fixture.js';
import { QEMU } from './qemu-reference.js';
import { QtestChannel } from './qtest-channel.js';
import { initialiseVirtioMmio, type MmioRegisters } from './virtio-mmio-setup.js';
import { cpuBetween, snapshotCpu } from './vmm-cpu.js';

/** microvm's virtio-mmio slots: 512 bytes apart from here, 24 of them (QEMU's hw/i386/microvm.c). */
const MICROVM_VIRTIO_MMIO_BASE = 0xfeb0_0000;
const MICROVM_VIRTIO_MMIO_SLOTS = 24;
/** qtest commands timed to learn what one costs QEMU. */
const CALIBRATION_COMMANDS = 20_000;

export async function measureQemuP9DataPath(options: { workload: P9Workload; requests: number }): Promise<P9PathResult> {
  const { workload, requests } = options;
  const tree = p9PathTree();
  const layout = [{ gpa: 0, size: RAM_BYTES }];
  const memfd = GuestMemory.createSharedRam(layout);
  const memory = GuestMemory.allocate(layout, { memfd });
  let qemu: ListeningProcess | undefined;
  let socketFd = -1;
  try {
    qemu = await startListeningProcess({
      program: QEMU,
      label: `${QEMU} (qtest)`,
      socketName: 'qtest.sock',
      passFds: [memfd], // its descriptor 3
      args: (socketPath) => [
        '-M', 'microvm,x-option-roms=off,rtc=off,pit=off,pic=off,isa-serial=off,ioapic2=off',
        '-S', '-accel', 'tcg', '-display', 'none', '-nodefaults', '-no-user-config',
        '-m', `${RAM_BYTES >> 20}M`,
        '-object', `memory-backend-file,id=ram,size=${RAM_BYTES >> 20}M,mem-path=/proc/self/fd/3,share=on`,
        '-machine', 'memory-backend=ram',
        '-global', 'virtio-mmio.force-legacy=false',
        '-fsdev', `local,id=share,path=${tree.root},security_model=none`,
        '-device', 'virtio-9p-device,fsdev=share,mount_tag=bench',
        '-qtest', `unix:${socketPath},server=on,wait=off`,
        '-qtest-log', '/dev/null',
      ],
      timeoutMs: 10_000,
    });
    socketFd = connectUnixStream(qemu.socketPath);
    // The driver waits for QEMU's lines in blocking reads.
    check(fcntl(socketFd, F_SETFL, check(fcntl(socketFd, F_GETFL, 0) as number, 'fcntl') & ~O_NONBLOCK) as number, 'fcntl');
    const channel = new QtestChannel(socketFd);
    const mmioBase = findDevice(channel, VIRTIO_ID.NINEP);
    initialiseVirtioMmio(qtestRegisters(channel, mmioBase), P9_PATH_FEATURES, p9QueueLayout(), "QEMU's virtio-9p");
    const command = calibrate(channel, mmioBase, qemu.pid);
    const setup = p9DriverSetup(tree, { hostAddress: memory.regions[0].hostAddress, size: RAM_BYTES }, workload, requests, { kind: 'qtest', socketFd, mmioBase });
    const running = qemu;
    const { done, deviceCpuSeconds } = await runDriverThread<P9DriverDone>(new URL('./p9-driver-worker.js', import.meta.url), setup, {
      deviceCpu: () => snapshotCpu(running.pid),
      timeoutMs: p9DriverTimeoutMs(setup.warmup + requests),
      deviceFailure: running.exited(),
      // A driver blocked reading the socket returns once QEMU is gone.
      unblock: () => process.kill(running.pid, 'SIGKILL'),
    });
    if (done.errors > 0) throw new Error(`${done.errors} of ${requests} 9p requests failed`);
    const qtestSeconds = done.qtestCommands * command.cpuSeconds;
    const measuredSeconds = done.elapsedNs / 1e9;
    return {
      ...p9PathResult(workload, requests, done, deviceCpuSeconds - qtestSeconds, measuredSeconds - done.qtestCommands * command.wallSeconds),
      measuredCpuUsPerRequest: (deviceCpuSeconds * 1e6) / requests,
      measuredRequestsPerSecond: requests / measuredSeconds,
      qtestCpuUsPerRequest: (qtestSeconds * 1e6) / requests,
    };
  } catch (e) {
    throw qemu ? qemu.withLog(e) : e; // whatever failed once QEMU ran, its stderr may say why
  } finally {
    if (socketFd >= 0) close(socketFd);
    await qemu?.stop();
    memory.release();
    close(memfd);
    tree.remove();
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

/** What one qtest command costs: QEMU's CPU seconds, and the round trip's wall time as the driver sees it (reads of a register that does nothing). */
function calibrate(channel: QtestChannel, base: number, pid: number): { cpuSeconds: number; wallSeconds: number } {
  const regs = qtestRegisters(channel, base);
  const before = snapshotCpu(pid);
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALIBRATION_COMMANDS; i++) regs.read32(VIRTIO_MMIO.MAGIC_VALUE);
  const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9 / CALIBRATION_COMMANDS;
  const { vcpu, rest } = cpuBetween(before, snapshotCpu(pid));
  return { cpuSeconds: (vcpu + rest) / CALIBRATION_COMMANDS, wallSeconds };
}
