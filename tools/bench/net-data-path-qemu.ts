// The reference for net-data-path.ts: the same driver thread and far end,
// but QEMU's virtio-net with `-netdev stream` (the backend QEMU reaches
// passt through) or `-netdev tap` (on the tap tap-far-end.ts makes) as the
// NIC, in a QEMU driven through qtest (qtest-qemu.ts), with one qtest
// command's cost taken out per doorbell.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { close } from '../../ffi/libc.js';
import { VIRTIO_ID } from '../../src/devices/virtio/virtio-constants.js';
import { connectUnixStream } from '../../src/net/unix-socket.js';
import type { NetDriverDone } from './net-driver-worker.js';
import { netDriverTimeoutMs, netPathResult, type NetPathResult } from './net-data-path.js';
import { NET_PATH_FEATURES, NET_QUEUES, NET_RAM_BYTES, netDriverSetup, type NetPathLoad } from './net-path-fixture.js';
import { BENCH_TAP, withTapFarEnd } from './tap-far-end.js';
import { runDriverAgainstQemu, startQtestQemu, type QtestQemu } from './qtest-qemu.js';
import { initialiseVirtioMmio } from '../../src/devices/virtio/virtio-mmio-driver-setup.js';

const STREAM_SOCKET = 'net.sock';

export async function measureQemuNetDataPath(load: NetPathLoad): Promise<NetPathResult> {
  if (load.backend === 'tap') return withTapFarEnd((peerFd) => measureQemu(load, ['-netdev', `tap,id=net0,ifname=${BENCH_TAP},script=no,downscript=no,vhost=off`], () => peerFd));
  let peerFd = -1;
  try {
    return await measureQemu(load, (dir) => ['-netdev', `stream,id=net0,server=on,addr.type=unix,addr.path=${join(dir, STREAM_SOCKET)}`], async (qemu) => {
      const streamPath = join(dirname(qemu.process.socketPath), STREAM_SOCKET);
      for (let tries = 0; !existsSync(streamPath); tries++) {
        if (tries === 500) throw new Error(`QEMU did not create ${streamPath}`);
        await sleep(10);
      }
      return (peerFd = connectUnixStream(streamPath)); // non-blocking, as the driver wants it
    });
  } finally {
    if (peerFd >= 0) close(peerFd);
  }
}

/** QEMU with `netdev` (its arguments, given QEMU's directory) as the NIC's backend, the driver holding `peer`'s descriptor. */
async function measureQemu(load: NetPathLoad, netdev: string[] | ((dir: string) => string[]), peer: (qemu: QtestQemu) => number | Promise<number>): Promise<NetPathResult> {
  const { frames } = load;
  let qemu: QtestQemu | undefined;
  try {
    qemu = await startQtestQemu({
      ramBytes: NET_RAM_BYTES,
      deviceId: VIRTIO_ID.NET,
      deviceArgs: (dir) => [...(typeof netdev === 'function' ? netdev(dir) : netdev), '-device', 'virtio-net-device,netdev=net0,mac=52:54:00:12:34:56'],
    });
    const peerFd = await peer(qemu);
    initialiseVirtioMmio(qemu.registers, NET_PATH_FEATURES, NET_QUEUES, "QEMU's virtio-net");
    const setup = netDriverSetup({ hostAddress: qemu.memory.regions[0].hostAddress, size: NET_RAM_BYTES }, load, { kind: 'qtest', socketFd: qemu.socketFd, mmioBase: qemu.mmioBase }, peerFd);
    const run = await runDriverAgainstQemu<NetDriverDone>(qemu, new URL('./net-driver-worker.js', import.meta.url), setup, netDriverTimeoutMs(setup.warmup + frames), 'collected');
    if (run.done.errors > 0) throw new Error(`${run.done.errors} of ${frames} frames arrived wrong`);
    return {
      ...netPathResult(load, run.done, run.cpuSeconds, run.seconds),
      measuredCpuUsPerFrame: (run.measuredCpuSeconds * 1e6) / frames,
      measuredFramesPerSecond: frames / run.measuredSeconds,
      qtestCpuUsPerFrame: (run.qtestCpuSeconds * 1e6) / frames,
    };
  } catch (e) {
    throw qemu ? qemu.process.withLog(e) : e;
  } finally {
    await qemu?.stop();
  }
}
