// The helper: the VMM proper. It opens nothing by path; everything arrives as
// a file descriptor from the frontend (see helper-protocol.ts), which may
// start it before it knows the VM (src/cli/process-launch.ts). It builds the
// VM, jails itself (src/sandbox), then runs the guest and reports how it ended.
// Every module it needs is imported here, before the jail removes the files.
import { closeSync } from 'node:fs';
import { fileSource, wholeImage } from '../boot/byte-source.js';
import { GuestCopies } from '../boot/guest-copies.js';
import { loadRealModePayload, REAL_MODE_MAX_PAYLOAD } from '../boot/real-mode-payload.js';
import { writeResetVector } from '../boot/reset-vector.js';
import { BlockingLoop } from '../bus/blocking-loop.js';
import { useFdWatcher } from '../bus/fd-watch.js';
import { KvmSystem } from '../kvm/kvm-system.js';
import { EXIT_STATUS } from '../kvm/vm-exit.js';
import { createLogger, type Logger } from '../log.js';
import { markStartup, startupMarks } from '../startup-marks.js';
import { endProcess } from '../process-end.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { enterJail, sharedDirectoryRoot } from '../sandbox/jail.js';
import { helperPolicy } from '../sandbox/helper-policy.js';
import { closeStrayFds } from '../sandbox/close-stray-fds.js';
import { VirtualMachine, runsVcpuOnMainThread, type VcpuThreadChoice } from '../vmm/virtual-machine.js';
import { acpiPlatformFor } from '../vmm/acpi-platform.js';
import { loadKernel } from '../vmm/kernel-loading.js';
import { isElf } from '../boot/elf-image.js';
import { runTestHook } from './test-hooks.js';
import { ConsoleInput } from './console-input.js';
import { GuestLog } from '../log-rate-limit.js';
import { releaseStartupPages } from './startup-pages.js';
import { takeGcFunction } from './collect-garbage.js';
import { codeCacheTaken, keepUserCodeCache, vmKinds } from './user-code-cache.js';
import { vcpuThreads } from './early-vcpu-thread.js';
import { DESCRIPTOR_SOCKET_FD } from '../sandbox/descriptor-socket.js';
import { connectToFrontend, FRONTEND_SOCKET_ENV } from './frontend-connection.js';
import { receiveNamedDescriptors } from '../sandbox/received-descriptors.js';
import { CONSOLE_OUT_FD, HELPER_FILE, type FrontendMessage, type HelperConfig, type HelperMessage } from './helper-protocol.js';

function send(message: HelperMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) resolve();
    else process.send!(message, undefined, {}, () => resolve());
  });
}

/** Buffers (off V8's heap) the kernel load may leave for the collector: a bzImage's run to tens of MiB. */
const LOAD_BUFFERS_WORTH_COLLECTING = 4 << 20;

function fd(fds: Record<string, number>, name: string): number {
  const n = fds[name];
  if (n === undefined) throw new Error(`the frontend passed no "${name}" descriptor`);
  return n;
}

class Helper {
  private vm: VirtualMachine | undefined;
  private stopRequested = false;
  private input: ConsoleInput | undefined;
  private deviceLoop: BlockingLoop | undefined;

  async start(config: HelperConfig): Promise<void> {
    const log = createLogger({ level: config.logLevel as never, pretty: config.prettyLogs });
    let vm: VirtualMachine;
    let kvm: KvmSystem;
    let sandbox = 'off (--no-sandbox)';
    let hostPid = process.pid;
    try {
      markStartup('configured');
      log.debug({ ...startupRelease, msSinceStart: startupMarks() }, 'start-up pages released (node started)');
      // Doorbells, completions and backends wait in a loop of our own, not a libuv turn each.
      if (process.env.TSVMM_DEVICE_LOOP !== 'libuv') useFdWatcher((this.deviceLoop = new BlockingLoop()));
      const fds = receiveNamedDescriptors(DESCRIPTOR_SOCKET_FD, config.descriptors);
      // Only the descriptors the frontend sent stay open (jail-launch.ts: a
      // descriptor the frontend inherited, e.g. its shell's, would else reach the jail).
      const stray = closeStrayFds(Object.values(fds));
      if (stray.length) log.warn({ fds: stray }, 'closed descriptors the helper was not meant to get');
      // Read in place while loading: a vmlinux's segments and the initrd go
      // straight from the files into guest RAM (byte-source.ts), copied by the
      // kernel's io_uring workers while the VM is built (guest-copies.ts).
      const copies = new GuestCopies();
      const kernel = fileSource(fd(fds, HELPER_FILE.kernel), 'the kernel', copies);
      // Only a bzImage's load leaves buffers worth a full collection (below);
      // gc() must be taken before any vCPU thread starts (collect-garbage.ts).
      if (config.bootKind !== 'real-mode' && !isElf(kernel)) collectGarbage ??= takeGcFunction();
      // vCPU threads this VM needs load their code while it is built (one taken early, below, is one fewer).
      if (!runsVcpuOnMainThread({ deviceLoop: this.deviceLoop, vcpuThread: VCPU_THREAD, devices: config.plan.devices }, config.cpus))
        vcpuThreads.prestart(config.cpus - vcpuThreads.waitingCount);
      kvm = KvmSystem.open(fd(fds, HELPER_FILE.kvm));
      const initrd = config.hasInitrd ? fileSource(fd(fds, HELPER_FILE.initrd), 'the initrd', copies) : undefined;
      const loadGuest =
        config.bootKind === 'real-mode'
          ? (m: GuestMemory) => loadRealModePayload(m, wholeImage(kernel, REAL_MODE_MAX_PAYLOAD, 'the real-mode payload'))
          : (m: GuestMemory) => loadKernel(m, { kernel, initrd, cmdline: config.cmdline, cpus: config.cpus, acpi: config.acpi ? acpiPlatformFor(config.plan, config.cpus) : undefined, log });
      const load = (m: GuestMemory) => {
        writeResetVector(m);
        const boot = loadGuest(m);
        copies.submit();
        return boot;
      };
      vm = VirtualMachine.create({
        kvm,
        machine: config.machine,
        memorySize: config.memorySize,
        cpus: config.cpus,
        cpuTemplate: config.cpuTemplate,
        cpuBrand: config.cpuBrand,
        coalesced: config.coalesced,
        devices: config.plan.devices,
        descriptors: fds,
        sharedRam: config.plan.sharedRam ? { fd: fd(fds, config.plan.sharedRam.name), hugePages: config.sharedRamOnHugePages } : undefined,
        load,
        consoleFd: fds[HELPER_FILE.console] ?? CONSOLE_OUT_FD,
        log,
        vcpuThreads,
        deviceLoop: this.deviceLoop,
        vcpuThread: VCPU_THREAD,
      });
      markStartup('vmBuilt');
      // Give back what the load allocated (a bzImage and its decompressed
      // payload: tens of MiB) now: the helper allocates little afterwards, so
      // V8 would keep it. A vmlinux and an initrd read in place leave nothing
      // worth a full collection, which costs 10-20 ms natively on the way to
      // the guest's first instruction.
      const loadBuffers = process.memoryUsage().arrayBuffers;
      const gc = collectGarbage;
      const collected = loadBuffers > LOAD_BUFFERS_WORTH_COLLECTING && gc !== undefined;
      if (collected) gc();
      log.debug({ loadBuffers, collected }, 'buffers left by the kernel load');
      // The vCPU threads start (and load their code) before the jail, but wait
      // for run() before the guest's first instruction; a vCPU on this thread
      // is built now and runs from run() on.
      await vm.prepare();
      markStartup('vcpuThreadReady');
      log.debug(copies.finish(), "guest image copied by the kernel's workers");
      markStartup('guestCopied');
      // The kernel and initrd are loaded: their descriptors must not reach the jail.
      closeSync(fd(fds, HELPER_FILE.kernel));
      if (config.hasInitrd) closeSync(fd(fds, HELPER_FILE.initrd));
      vcpuThreads.discardWaiting();
      // Again once the vCPU thread has started: what the load and its
      // isolate's start-up touched and the guest's run does not use.
      log.debug(releaseStartupPages(), 'start-up pages released (vCPU thread ready)');
      // Before the jail (which takes the path away) and the guest's first instruction.
      const kept = keepUserCodeCache(vmKinds(config.bootKind, config.plan.devices.filter((d) => d.virtio), config.cpus));
      if (kept) {
        markStartup('codeCacheKept');
        log.debug({ codeCache: codeCacheTaken(), ...kept }, "the user's code cache of the helper written");
      }
      if (config.sandbox) {
        const shares = vm.virtio.sharedDirectories;
        const report = enterJail({
          seccomp: config.seccomp === 'enforce' ? 'kill' : config.seccomp,
          policy: helperPolicy({ jit: true, ioUring: vm.virtio.usesIoUring || vm.vcpuOnMainThread, tapOffload: vm.virtio.setsTapOffloads, fileServer: shares.length > 0 }),
          root: sharedDirectoryRoot(shares),
          // Writes may reach the end of the largest writable disk, and no further.
          limits: { maxFileSize: vm.virtio.largestWritableImage },
        });
        hostPid = report.hostPid;
        sandbox = `jailed (pid ${report.hostPid}, uid ${report.uid}, seccomp ${report.seccomp}${report.filterInstructions ? `, ${report.filterInstructions} BPF instructions` : ''})`;
        log.debug({ ...report }, 'helper jailed');
      }
      markStartup('jailed');
      runTestHook(process.env.TSVMM_TEST_HOOK, fd(fds, HELPER_FILE.kvm), hostPid, log);
    } catch (e) {
      const err = e as Error;
      await send({ type: 'failed', error: { name: err.name, message: err.name === 'Error' ? (err.stack ?? err.message) : err.message } });
      process.exit(1);
    }
    this.vm = vm;
    if (this.stopRequested) vm.stop();
    this.relayInput(vm, log);
    log.debug({ msSinceStart: startupMarks(), codeCache: codeCacheTaken() }, "the helper's start");
    await send({ type: 'running', hostPid, sandbox });
    const runStart = performance.now();
    const result = await vm.run();
    // What woke this thread while the guest ran: read beside per-thread CPU figures.
    log.debug({ runMs: Math.round(performance.now() - runStart), deviceLoop: this.deviceLoop?.stats }, "the helper's main thread during the run");
    this.input?.close();
    const consoleInput = this.input?.stats;
    const stats = { ...result.stats, ...vm.virtio.statistics(), ...(consoleInput ? { consoleInput } : {}) };
    await send({ type: 'exit', exit: { kind: result.kind, status: result.status, message: result.message }, stats });
    // What the devices still have in flight finishes (a disk's queued writes
    // reach its image); the rest (vCPU threads, guest RAM, the VM and every
    // descriptor) the kernel releases as the process ends. Torn down one by
    // one first, it cost ~40 ms in the nested L1, on the way to tsvmm's exit.
    vm.virtio.close();
    endProcess(0);
  }

  stop(): void {
    this.stopRequested = true;
    this.vm?.stop();
  }

  async control(command: 'pause' | 'resume' | 'status'): Promise<void> {
    const vm = this.vm;
    if (vm && command === 'pause') await vm.pause();
    if (vm && command === 'resume') vm.resume();
    await send({ type: 'state', state: vm ? vm.state : 'starting' });
  }

  private relayInput(vm: VirtualMachine, log: Logger): void {
    const input = new ConsoleInput((bytes) => vm.sendInput(bytes), new GuestLog(log).kind('console input drops'));
    this.input = input;
    process.stdin.on('data', (chunk: Buffer) => input.push(chunk));
    process.stdin.on('error', (e) => log.debug({ err: e.message }, 'console input closed'));
  }
}

/**
 * Where a lone vCPU runs (virtual-machine.ts `runsVcpuOnMainThread`): on
 * this thread unless the helper serves a disk, NIC or share.
 * TSVMM_VCPU_THREAD=worker gives it a worker thread, started early, as every
 * vCPU had until 2026-12-07; `main` keeps it here whatever the devices (both
 * for A/B runs).
 */
const VCPU_THREAD: VcpuThreadChoice = process.env.TSVMM_VCPU_THREAD === 'worker' || process.env.TSVMM_VCPU_THREAD === 'main' ? process.env.TSVMM_VCPU_THREAD : 'auto';

// Our modules have loaded: give back the pages of node's binary that only
// their load used (node's own start-up pages went before it: early-release.ts);
// then a vCPU worker, if one is wanted, starts loading while the frontend is
// still getting the VM ready.
markStartup('codeLoaded');
const startupRelease = releaseStartupPages();
// V8's gc(), taken only where a VM's kernel load may need it (Helper.start):
// making it costs a fresh V8 context (~3 ms natively), and it must be taken
// before any vCPU thread starts, so before the worker TSVMM_VCPU_THREAD=worker starts now.
let collectGarbage: (() => void) | undefined;
if (VCPU_THREAD === 'worker') {
  collectGarbage = takeGcFunction();
  vcpuThreads.prestart(1);
}

// Started by the launcher rather than by the frontend: its streams and
// channel come now, over the socket the frontend listens on, before anything
// listens to them (frontend-connection.ts).
const frontendSocket = process.env[FRONTEND_SOCKET_ENV];
if (frontendSocket !== undefined) {
  delete process.env[FRONTEND_SOCKET_ENV];
  connectToFrontend(frontendSocket);
  markStartup('frontendConnected');
}

const helper = new Helper();
process.on('message', (m: FrontendMessage) => {
  if (m.type === 'start') void helper.start(m.config);
  else if (m.type === 'stop') helper.stop();
  else void helper.control(m.type);
});
// The frontend is gone: nobody can see the guest or collect its status. Stop.
process.on('disconnect', () => {
  helper.stop();
  setTimeout(() => process.exit(EXIT_STATUS.stopped), 2000).unref();
});
// As pid 1 of its PID namespace the helper ignores signals it has no handler for.
process.on('SIGINT', () => helper.stop());
process.on('SIGTERM', () => helper.stop());
process.on('SIGHUP', () => helper.stop());
