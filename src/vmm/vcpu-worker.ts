// Entry point of a vCPU worker thread: given its vCPU, builds the exit-serviced
// device models the device plan gives it (through the catalog; with several
// vCPUs there are none: shared-platform-devices.ts) and runs the exit loop
// until the VM ends (vcpu-core.ts). The main thread pauses and stops it
// through its control words, and kicks it out of KVM_RUN to look at them.
import { parentPort } from 'node:worker_threads';
import { gettid, setThreadName } from '../../ffi/libc.js';
import { KvmRunView } from '../kvm/kvm-run.js';
import { EXIT_STATUS, type VmExit } from '../kvm/vm-exit.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { InputRing } from './input-ring.js';
import { VcpuCore } from './vcpu-core.js';
import { epochNow } from '../startup-marks.js';
import { COMMAND_PAUSE, COMMAND_STOP, CONTROL_COMMAND, CONTROL_GO, CONTROL_TID, VCPU_THREAD_NAME, type VcpuMessage, type VcpuStart, type VcpuWorkerData } from './vcpu-protocol.js';

const PAGE_SIZE = 4096;

function post(message: VcpuMessage): void {
  parentPort!.postMessage(message);
}

function main(data: VcpuWorkerData, codeLoaded: number, started: number): void {
  const control = new Int32Array(data.control);
  const tid = gettid() as number;
  Atomics.store(control, CONTROL_TID, tid);
  // Still before the jail (the helper waits for 'ready' first).
  setThreadName(VCPU_THREAD_NAME(data.index));

  const core: VcpuCore = new VcpuCore({
    vcpuFd: data.vcpuFd,
    vmFd: data.vmFd,
    run: new KvmRunView(data.runAddress, data.runSize),
    memory: GuestMemory.adopt(data.memory),
    buses: {
      devices: data.devices,
      forwarded: data.forwardedRegions,
      onDeviceDead: (device, why) => post({ type: 'device-failed', device, why }),
    },
    consoleFd: data.consoleFd,
    consoleHeld: data.consoleHeld,
    input: new InputRing(data.input),
    ringAddress: data.coalescedRingPage > 0 ? data.runAddress + data.coalescedRingPage * PAGE_SIZE : 0,
    onInterrupt: (): VmExit | undefined => {
      if (Atomics.load(control, CONTROL_COMMAND) === COMMAND_PAUSE) {
        // Everything the guest wrote is delivered before we report "paused".
        core.deliverOutput();
        post({ type: 'paused', paused: true });
        while (Atomics.load(control, CONTROL_COMMAND) === COMMAND_PAUSE) Atomics.wait(control, CONTROL_COMMAND, COMMAND_PAUSE);
        post({ type: 'paused', paused: false });
      }
      if (Atomics.load(control, CONTROL_COMMAND) === COMMAND_STOP)
        return { kind: 'stopped', status: EXIT_STATUS.stopped, message: 'the VMM was asked to stop' };
      return undefined;
    },
  });

  post({ type: 'ready', tid, startMarks: { codeLoaded, started, ready: epochNow() } });
  while (Atomics.load(control, CONTROL_GO) === 0) Atomics.wait(control, CONTROL_GO, 0);
  let exit: VmExit;
  try {
    core.startTimer();
    exit = core.loop.runUntilExit();
  } catch (e) {
    core.finish(); // what the console holds is written even when the loop failed
    throw e;
  }
  post({ type: 'exit', exit, stats: core.finish() });
}

// The thread may start before its vCPU exists (vcpu-threads.ts): it waits for it.
const codeLoaded = epochNow();
parentPort!.once('message', (m: VcpuStart) => {
  try {
    main(m.data, codeLoaded, epochNow());
  } catch (e) {
    post({ type: 'fatal', message: (e as Error).stack ?? String(e) });
  }
});
