// The reference for p9-data-path.ts: the same 9p client in a driver thread,
// the same RAM, ring and tree, but QEMU's virtio-9p and its `local` backend
// as the server, in a QEMU driven through qtest (qtest-qemu.ts), with one
// qtest command's cost taken out per doorbell.
import { VIRTIO_ID } from '../../src/devices/virtio/virtio-constants.js';
import type { P9DriverDone, P9Workload } from './p9-driver-worker.js';
import { p9DriverTimeoutMs, p9PathResult, type P9PathResult } from './p9-data-path.js';
import { P9_PATH_FEATURES, RAM_BYTES, p9DriverSetup, p9PathTree, p9QueueLayout } from './p9-path-fixture.js';
import { runDriverAgainstQemu, startQtestQemu, type QtestQemu } from './qtest-qemu.js';
import { initialiseVirtioMmio } from '../../src/devices/virtio/virtio-mmio-driver-setup.js';

export async function measureQemuP9DataPath(options: { workload: P9Workload; requests: number }): Promise<P9PathResult> {
  const { workload, requests } = options;
  const tree = p9PathTree();
  let qemu: QtestQemu | undefined;
  try {
    qemu = await startQtestQemu({
      ramBytes: RAM_BYTES,
      deviceId: VIRTIO_ID.NINEP,
      deviceArgs: () => ['-fsdev', `local,id=share,path=${tree.root},security_model=none`, '-device', 'virtio-9p-device,fsdev=share,mount_tag=bench'],
    });
    initialiseVirtioMmio(qemu.registers, P9_PATH_FEATURES, [p9QueueLayout()], "QEMU's virtio-9p");
    const setup = p9DriverSetup(tree, { hostAddress: qemu.memory.regions[0].hostAddress, size: RAM_BYTES }, workload, requests, {
      kind: 'qtest',
      socketFd: qemu.socketFd,
      mmioBase: qemu.mmioBase,
    });
    const run = await runDriverAgainstQemu<P9DriverDone>(qemu, new URL('./p9-driver-worker.js', import.meta.url), setup, p9DriverTimeoutMs(setup.warmup + requests), 'waited');
    if (run.done.errors > 0) throw new Error(`${run.done.errors} of ${requests} 9p requests failed`);
    return {
      ...p9PathResult(workload, requests, run.done, run.cpuSeconds, run.seconds),
      measuredCpuUsPerRequest: (run.measuredCpuSeconds * 1e6) / requests,
      measuredRequestsPerSecond: requests / run.measuredSeconds,
      qtestCpuUsPerRequest: (run.qtestCpuSeconds * 1e6) / requests,
    };
  } catch (e) {
    throw qemu ? qemu.process.withLog(e) : e;
  } finally {
    await qemu?.stop();
    tree.remove();
  }
}
