// Device processes as the frontend starts them (device-processes.ts): each
// may have been started before the device plan was known (early-start.ts),
// gets its descriptors over its descriptor socket and its configuration over
// IPC, then serves its region. No KVM: the test reads a test device's
// registers through the helper's end of the region socket, as a vCPU would,
// and reads a share process's log for its data-path warm-up.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { IoregionClient } from '../../src/bus/ioregion-client.js';
import { openDeviceHandover, type DeviceHandover } from '../../src/cli/device-handover.js';
import { launchDeviceProcesses, startDeviceProcesses, type DeviceProcessOptions, type DeviceProcessSet } from '../../src/cli/device-processes.js';
import { launchDeviceProcess, type ProcessLaunch } from '../../src/cli/process-launch.js';
import { TEST_RESULT, TEST_DOORBELL, TEST_SCRATCH_SIZE_REG } from '../../src/devices/test-device.js';
import { silentLogger } from '../../src/log.js';
import { planDevices, plannedDescriptor, type DevicePlan } from '../../src/machine/device-plan.js';
import { parseMachine } from '../../src/machine/machine-definition.js';
import { shareDevice } from '../../src/devices/kinds/virtio-9p-kind.js';
import { parseShareSpec } from '../../src/p9/share-spec.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';

/** A machine whose test device lives in a process of its own. */
const plan: DevicePlan = planDevices(
  parseMachine(
    {
      name: 't',
      memory: { defaultSize: '16M', mmioGap: { start: '0xc0000000', end: '0x100000000' } },
      devices: [{ type: 'test-device', name: 'testdev', base: '0xd1000000', process: 'separate' }],
    },
    't.json',
  ),
  [],
);
const testdev = plan.devices.find((d) => d.name === 'testdev')!;
const options = { sandbox: false, seccomp: 'off' as const, logLevel: 'warn', log: new PassThrough(), prettyLogs: false };

let handover: DeviceHandover | undefined;
let started: DeviceProcessSet | undefined;
afterEach(() => {
  started?.killAll();
  handover?.release();
  started = handover = undefined;
});

function start(early: ProcessLaunch[], started = plan, ram: { gpa: number; size: number }[] = [], withOptions: DeviceProcessOptions = options): Promise<DeviceProcessSet> {
  handover = openDeviceHandover(started, silentLogger, started.sharedRam ? GuestMemory.createSharedRam(ram) : undefined);
  return startDeviceProcesses(started, handover, ram, withOptions, silentLogger, launchDeviceProcesses(started, withOptions.sandbox, silentLogger, early));
}

/** A machine with a share of `dir` served by its own process. */
function sharePlan(dir: string): DevicePlan {
  return planDevices(
    parseMachine(
      {
        name: 't',
        memory: { defaultSize: '16M', mmioGap: { start: '0xc0000000', end: '0x100000000' } },
        devices: [{ type: 'virtio-mmio', name: 'virtio', base: '0xd0000000', slotSize: '0x1000', irqs: [5] }],
      },
      't.json',
    ),
    [shareDevice(parseShareSpec(`${dir},process=separate`), 0)],
  );
}

/** The JSON lines written to a log stream, collected as they come. */
function collectLog(log: PassThrough): { saying(msg: string): Record<string, unknown>[] } {
  let text = '';
  log.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { saying: (msg) => text.split('\n').filter((line) => line.includes(msg)).map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** Two test devices the plan serves from one process. */
const sharedPlan: DevicePlan = planDevices(
  parseMachine(
    {
      name: 't',
      memory: { defaultSize: '16M', mmioGap: { start: '0xc0000000', end: '0x100000000' } },
      devices: [
        { type: 'test-device', name: 'testdev', base: '0xd1000000', process: 'separate' },
        { type: 'test-device', name: 'testdev2', base: '0xd2000000', process: 'separate' },
      ],
    },
    't.json',
  ),
  [],
  { sharedProcesses: [['testdev', 'testdev2']] },
);

/** A test device's register at `offset`, read over the helper's end of its region socket. */
function readRegister(offset: number, device = testdev): number {
  const regionFd = handover!.helper[plannedDescriptor(device, 'region').name];
  let dead: string | undefined;
  const client = new IoregionClient(device.name, regionFd, (why) => (dead = why));
  client.write(TEST_DOORBELL, new Uint8Array(4));
  const data = new Uint8Array(4);
  client.read(offset, data);
  expect(dead).toBeUndefined();
  return new DataView(data.buffer).getUint32(0, true);
}

describe('device processes', () => {
  it('started early, get their descriptors and configuration later and serve', async () => {
    const early = launchDeviceProcess(false, []);
    started = await start([early]);
    expect(readRegister(TEST_SCRATCH_SIZE_REG)).toBe(0x800);
    expect(readRegister(TEST_RESULT)).toBe(0);
  });

  it('started when the plan is known, when none was started early', async () => {
    started = await start([]);
    expect(readRegister(TEST_SCRATCH_SIZE_REG)).toBe(0x800);
  });

  it('an early one the plan does not need is ended', async () => {
    const [used, unused] = [launchDeviceProcess(false, []), launchDeviceProcess(false, [])];
    started = await start([used, unused]);
    expect((await unused.ended).signal).toBe('SIGKILL');
    expect(readRegister(TEST_SCRATCH_SIZE_REG)).toBe(0x800);
  });

  it('serve several devices from one process when the plan says so', async () => {
    const [used, unused] = [launchDeviceProcess(false, []), launchDeviceProcess(false, [])];
    started = await start([used, unused], sharedPlan);
    expect((await unused.ended).signal).toBe('SIGKILL'); // one process for both
    const [one, two] = sharedPlan.devices;
    expect(readRegister(TEST_SCRATCH_SIZE_REG, one)).toBe(0x800);
    expect(readRegister(TEST_SCRATCH_SIZE_REG, two)).toBe(0x800);
    expect(readRegister(TEST_RESULT, two)).toBe(0);
  });

  it("a share's process warms its data path up once serving, and says so; the share unchanged", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-warm-up-'));
    const knob = process.env.TSVMM_NO_WARM_UP;
    delete process.env.TSVMM_NO_WARM_UP;
    try {
      fs.writeFileSync(path.join(dir, 'file'), 'contents');
      const listing = () => fs.readdirSync(dir).map((n) => `${n} ${fs.statSync(path.join(dir, n)).mtimeMs}`);
      const before = listing();
      const log = new PassThrough();
      const lines = collectLog(log);
      started = await start([], sharePlan(dir), [{ gpa: 0, size: 16 << 20 }], { ...options, logLevel: 'debug', log });
      const deadline = Date.now() + 30_000;
      while (lines.saying('data path warmed up').length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      // No guest used the share: the whole budget, every Tread (of the directory) refused.
      expect(lines.saying('data path warmed up')).toEqual([expect.objectContaining({ warmUp: 'share0', requests: 200, refused: 20 })]);
      expect(listing()).toEqual(before);
    } finally {
      if (knob !== undefined) process.env.TSVMM_NO_WARM_UP = knob;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('one that does not serve in time (stuck while starting) is a clear error and is ended, not waited for', async () => {
    const stuck = launchDeviceProcess(false, []);
    process.kill(stuck.child.pid!, 'SIGSTOP');
    await expect(start([stuck], plan, [], { ...options, startTimeoutMs: 500 })).rejects.toThrow(/the testdev device process did not serve within 0.5 s/);
    expect((await stuck.ended).signal).toBe('SIGKILL');
  });

  it('an early one that died before it was needed is a clear error, not a hang', async () => {
    const early = launchDeviceProcess(false, []);
    early.child.kill('SIGKILL');
    await early.ended;
    await expect(start([early])).rejects.toThrow(/the testdev device process (could not|exited while starting|.*already ended)/);
  });
});
