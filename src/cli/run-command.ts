// `tsvmm run`: boot a guest and exit with its status.
import { accessSync, constants, fstatSync, openSync, statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { parseDiskSpec } from '../block/disk-spec.js';
import type { DeviceDefinition } from '../devices/catalog.js';
import { randomHex } from '../host-random.js';
import { diskDevice } from '../devices/kinds/virtio-blk-kind.js';
import { netDevice } from '../devices/kinds/virtio-net-kind.js';
import { shareDevice, type Virtio9pDefinition } from '../devices/kinds/virtio-9p-kind.js';
import { checkShareDirectory, parseShareSpec } from '../p9/share-spec.js';
import { parseNetSpec } from '../net/net-spec.js';
import { createLogger } from '../log.js';
import { cpuTemplate, type CpuTemplate } from '../kvm/cpu-template.js';
import { detectHostKvm, hostCpuinfo, type HostKvmKind } from '../kvm/host-kvm.js';
import { hostCpuBrand } from '../kvm/cpu-brand.js';
import { EXIT_STATUS } from '../kvm/vm-exit.js';
import { planDevices } from '../machine/device-plan.js';
import { DEFAULT_MACHINE, loadMachine, vcpuCountOr } from '../machine/machine-definition.js';
import { formatSize, parseSize } from '../machine/size.js';
import { ramLayout } from '../vmm/memory-layout.js';
import { shellQuote } from '../shell-quote.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { acpiPlatformFor } from '../vmm/acpi-platform.js';
import { ConsoleOutputs } from './console-outputs.js';
import { openControlSocket } from './control-socket.js';
import { defaultGuestManifestPath, readDefaultGuest } from './default-guest.js';
import { openDeviceHandover, plannedFiles } from './device-handover.js';
import { launchDeviceProcesses, startDeviceProcesses, type DeviceProcessSet } from './device-processes.js';
import { earlyStartReport, takeEarlyDeviceProcesses, takeEarlyHelper } from './early-start.js';
import { HelperProcess, type HelperOutcome } from './helper-process.js';
import { launchHelper } from './process-launch.js';
import { markInheritedFdsCloseOnExec } from '../sandbox/close-on-exec.js';
import { markStartup, startupMarks } from '../startup-marks.js';
import { openLogFileStream } from './log-file-stream.js';
import { ConsoleTerminal } from './terminal.js';

export interface RunArgs {
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  mem?: string;
  machine: string;
  cpus?: string;
  cpuTemplate?: string;
  rawPayload?: string;
  disk?: string[];
  net?: string[];
  share?: string[];
  /** Words after `--`: the command the guest's init runs. */
  '--'?: string[];
  stats: boolean;
  coalesced: boolean;
  acpi: boolean;
  sandbox: boolean;
  seccomp: 'enforce' | 'log' | 'off';
  logLevel: string;
  logFile?: string;
  controlSocket?: string;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/** What another command built on `run` changes (`tsvmm exec`: exec-command.ts). */
export interface RunProfile {
  /** Devices besides the machine's and the options' (shares, console ports). */
  devices: DeviceDefinition[];
  /** Device-process devices served together, each list by one process (device-plan.ts). */
  sharedProcesses?: string[][];
  /** Kernel parameters for the guest's init, before its command. */
  kernelWords: string;
  /** Where the guest's serial console goes instead of tsvmm's stdout. */
  console: NodeJS.WritableStream;
  /** Turns how the VM ended into tsvmm's exit status, saying why where needed. */
  status(result: HelperOutcome): number;
}

export function runOptions(y: Argv): Argv<RunArgs> {
  return y
    .option('kernel', { type: 'string', describe: 'Linux kernel: bzImage or uncompressed ELF vmlinux (default: the guest built by `npm run guest`)' })
    .option('initrd', { type: 'string', describe: 'initial ramdisk (cpio, optionally compressed)' })
    .option('cmdline', { type: 'string', describe: 'kernel command line (default: the default guest\'s, or "console=ttyS0")' })
    .option('net', {
      type: 'string',
      array: true,
      describe: 'attach a virtio-net NIC: user[,hostfwd=tcp|udp:HOSTPORT-:GUESTPORT]... (passt), tap=IFNAME, or stream=SOCKETPATH (QEMU stream framing); [,mac=MAC][,process=separate] (repeatable)',
    })
    .option('share', {
      type: 'string',
      array: true,
      describe: 'share a host directory with the guest over virtio-9p: HOSTDIR[,tag=NAME][,ro][,process=separate] (tag default share0, share1, ...; the guest mounts it with mount -t 9p -o trans=virtio,version=9p2000.L NAME DIR) (repeatable)',
    })
    .option('disk', { type: 'string', array: true, describe: 'attach a raw disk image as virtio-blk: PATH[,ro][,cache=none|writeback][,engine=sync|async|io_uring|aio][,serial=ID][,process=separate] (repeatable)' })
    .option('mem', { type: 'string', describe: 'guest RAM, e.g. 256M or 1G (default: the machine\'s)' })
    .option('machine', { type: 'string', default: DEFAULT_MACHINE, describe: 'machine name (machines/NAME.json) or path to a machine file' })
    .option('cpus', { type: 'string', describe: 'vCPUs (default: the machine\'s cpu.count, 1)' })
    .option('cpu-template', { type: 'string', describe: 'CPUID template: auto (default: host on hardware KVM, nested-safe on kvm_pvm), host or nested-safe' })
    .option('raw-payload', { type: 'string', describe: 'a flat 16-bit real-mode binary to run instead of a kernel (test payloads)', hidden: true })
    .option('coalesced', { type: 'boolean', default: true, describe: 'use the coalesced MMIO/PIO zones devices declare (--no-coalesced: none)' })
    .option('acpi', { type: 'boolean', default: true, describe: 'give a Linux guest ACPI tables (interrupt controllers, virtio-mmio devices, power-off) when the machine has an acpi-sleep device; --no-acpi: only the MP table and command-line devices' })
    .option('sandbox', { type: 'boolean', default: true, describe: 'jail the helper (namespaces, empty root, seccomp); --no-sandbox is for debugging only' })
    .option('seccomp', { type: 'string', default: 'enforce', choices: ['enforce', 'log', 'off'], describe: 'seccomp filter: enforce (kill on violation), log (allow and log violations), off' })
    .option('stats', { type: 'boolean', default: false, describe: 'print exit statistics (by reason, by device) when the VM ends' })
    .option('control-socket', { type: 'string', describe: 'serve a unix socket at PATH taking JSON lines {"command":"status|pause|resume|stop"}' })
    .option('log-level', { type: 'string', default: 'info', choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] })
    .option('log-file', { type: 'string', describe: 'write logs (JSON lines) to this file instead of stderr' }) as unknown as Argv<RunArgs>;
}

interface BootPlan {
  describe: string;
  kind: 'linux' | 'real-mode';
  kernel: string;
  initrd?: string;
  cmdline: string;
  /** Whether the helper writes ACPI tables: asked for (--acpi) and a kernel that reads them. */
  acpi: boolean;
}

/**
 * On a hardware-reduced ACPI platform without EFI, Linux's default reboot is
 * through the BIOS (arch/x86/kernel/reboot.c reboot_init: "force EFI reboot",
 * which falls back to a real-mode jump to the reset vector); there is no
 * BIOS here, so the guest would hang. With a reset register in the FADT the
 * guest is told to use it, unless its command line chose a method itself.
 */
export const ACPI_REBOOT_WORD = 'reboot=acpi';

/**
 * The reboot word tsvmm adds to a kernel command line made of `cmdlines`
 * (the user's or the default guest's, the machine's words): ACPI_REBOOT_WORD
 * or nothing. Words after a `--` are init's.
 */
export function rebootWords(cmdlines: readonly string[], acpiReset: boolean): string {
  const chosen = cmdlines.some((c) => /(^|\s)reboot=/.test(c.split(/(?:^|\s)--(?:\s|$)/)[0]));
  return acpiReset && !chosen ? ACPI_REBOOT_WORD : '';
}

function planBoot(args: RunArgs, machineCmdline: string, memorySize: number, acpiReset: boolean): BootPlan {
  const command = args['--'] ?? [];
  if (args.rawPayload) {
    if (command.length) throw new UsageError('a real-mode payload takes no command after --');
    checkImageFile(args.rawPayload, 'payload');
    return { describe: `real-mode payload ${args.rawPayload}`, kind: 'real-mode', kernel: args.rawPayload, cmdline: '', acpi: false };
  }
  let kernel = args.kernel;
  let initrd = args.initrd;
  let cmdline = args.cmdline;
  const guest = readDefaultGuest();
  if (!kernel) {
    if (!guest)
      throw new UsageError(`no --kernel given and the default guest is not built (${defaultGuestManifestPath()} is missing): run \`npm run guest\` first`);
    kernel = guest.vmlinux;
    initrd ??= guest.initrd;
    cmdline ??= guest.cmdline;
  }
  checkImageFile(kernel, 'kernel');
  // The helper reads the initrd whole into memory; one larger than guest RAM can never be loaded.
  if (initrd) checkImageFile(initrd, 'initrd', { bytes: memorySize, of: `the guest's ${formatSize(memorySize)} of RAM` });
  // The default guest's kernel takes a boot seed from the command line
  // (tools/guest patch 0005): without one, every exec waits on emulated
  // entropy extraction here (~8 s more boot). Only that kernel gets it.
  const defaultKernel = guest !== undefined && resolve(kernel) === resolve(guest.vmlinux);
  if (defaultKernel) machineCmdline = [machineCmdline, `tsvmm.seed=${randomHex(32)}`].filter(Boolean).join(' ');
  // Tables for a kernel built without ACPI (the default guest's) would only
  // cost the helper their making, on the way to the guest's first instruction.
  const acpi = args.acpi !== false && !(defaultKernel && guest.acpi === false);
  machineCmdline = [machineCmdline, rebootWords([cmdline ?? '', machineCmdline], acpiReset && acpi)].filter(Boolean).join(' ');
  return {
    describe: `kernel ${kernel}${initrd ? `, initrd ${initrd}` : ''}`,
    kind: 'linux',
    kernel,
    initrd,
    cmdline: withKernelWords(withInitCommand(cmdline ?? 'console=ttyS0', command), machineCmdline),
    acpi,
  };
}

/**
 * `tsvmm run -- CMD ARGS...`: the words go after ` -- ` on the kernel command
 * line, each quoted for the shell, the whole in double quotes: the kernel
 * passes at most 32 words to init (more panics it), and a double-quoted run
 * is one. The kernel has no escape inside quotes, so a double quote, a
 * backslash or a newline in the command travels as printf's octal escape
 * (\0042, ...). The default guest's /init takes the quotes off, undoes the
 * escapes (only when there are any: it costs a fork) and runs the text as a
 * shell command line.
 */
export function withInitCommand(cmdline: string, words: readonly string[]): string {
  if (words.length === 0) return cmdline;
  if (/(^|\s)--(\s|$)/.test(cmdline)) throw new UsageError('the guest command is given twice: after -- and in --cmdline');
  const text = words.map(shellQuote).join(' ').replace(/["\\\n]/g, (c) => `\\0${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return `${cmdline} -- "${text}"`;
}

/**
 * Adds the VMM's own kernel parameters (machine, virtio-mmio devices) to the
 * user's command line — before any `--`, after which words belong to init.
 */
export function withKernelWords(cmdline: string, words: string): string {
  if (!words) return cmdline;
  const initArgs = /(^|\s)--(\s|$)/.exec(cmdline);
  if (!initArgs) return `${cmdline} ${words}`;
  const at = initArgs.index + initArgs[1].length;
  return `${cmdline.slice(0, at).trimEnd()} ${words} ${cmdline.slice(at)}`.trim();
}

function cpuTemplateOrUsageError(name: string, host: HostKvmKind): CpuTemplate {
  try {
    return cpuTemplate(name, host);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * Refuses anything but a readable regular file for --kernel, --initrd and
 * --raw-payload, by stat and before anything opens it: a FIFO blocks the open
 * forever and a device (/dev/zero) is read without end. The helper re-checks
 * the descriptor it gets (helper-process.ts), which a swap cannot fool.
 */
function checkImageFile(path: string, what: string, maxSize?: { bytes: number; of: string }): void {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw Object.assign(new Error(), { code: 'EISDIR' });
    if (!st.isFile()) throw Object.assign(new Error(), { code: 'ENOTREG' });
    accessSync(path, constants.R_OK);
    size = st.size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file'
      : code === 'EACCES' ? 'permission denied'
      : code === 'EISDIR' ? 'it is a directory'
      : code === 'ENOTREG' ? 'not a regular file'
      : (e as Error).message;
    throw new UsageError(`cannot read the ${what} ${path}: ${why}`);
  }
  if (maxSize && size > maxSize.bytes) throw new UsageError(`the ${what} ${path} is ${size} bytes, more than ${maxSize.of}`);
}

/**
 * Refuses a disk that is neither a regular file nor a block device, by stat
 * before DiskImage.open: opening a FIFO blocks forever. A path stat cannot
 * reach is left to DiskImage.open, which names the problem.
 */
function checkDiskFile(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  if (!st.isFile() && !st.isBlockDevice()) throw new UsageError(`cannot use the disk ${path}: not a regular file or block device`);
}

/** Runs the VM in a helper process; returns the process exit status. */
export async function runCommand(args: RunArgs, profile?: RunProfile): Promise<number> {
  markStartup('commandParsed');
  const log = createLogger({ level: args.logLevel as never, file: args.logFile });
  log.debug({ ...earlyStartReport() }, 'early start');
  const machine = loadMachine(args.machine);
  const memorySize = args.mem === undefined ? machine.memory.defaultSize : parseSize(args.mem);
  if (memorySize === undefined) throw new UsageError(`--mem ${args.mem}: expected a size such as 256M or 1G`);
  const ram = ramLayout(machine, memorySize); // rejects an impossible size before anything starts
  // Every device's place (slot, IRQ, window, process, descriptors), decided here once.
  const diskSpecs = [...machine.disks, ...(args.disk ?? []).map(parseDiskSpec)];
  const machineNics = machine.devices.filter((d) => d.type === 'virtio-net').length;
  const netSpecs = (args.net ?? []).map(parseNetSpec);
  const machineShares = machine.devices.filter((d): d is Virtio9pDefinition => d.type === 'virtio-9p');
  const shares = (args.share ?? []).map((s, i) => shareDevice(parseShareSpec(s), machineShares.length + i));
  const extra = profile?.devices ?? [];
  for (const share of [...machineShares, ...shares, ...extra.filter((d): d is Virtio9pDefinition => d.type === 'virtio-9p')]) checkShareDirectory(share.spec);
  const devicePlan = planDevices(machine, [...diskSpecs.map(diskDevice), ...netSpecs.map((spec, i) => netDevice(spec, machineNics + i)), ...shares, ...extra], { sharedProcesses: profile?.sharedProcesses });
  markStartup('devicesPlanned');
  // The helper (unless the early start has it) and the device processes
  // start now, Node start-ups that need nothing of the VM yet; an error
  // before they are given their work ends them (process-launch.ts).
  const helperLaunch = takeEarlyHelper(args.sandbox) ?? launchHelper(args.sandbox, markInheritedFdsCloseOnExec());
  const deviceLaunches = launchDeviceProcesses(devicePlan, args.sandbox, log, takeEarlyDeviceProcesses(args.sandbox));
  // Made now, taken when the descriptors are opened: for an ordinary user the
  // huge-page tmpfs takes a child process (memory/user-namespace-tmpfs.ts).
  const sharedRamFile = devicePlan.sharedRam ? GuestMemory.createSharedRamForAnyUser(ram) : undefined;
  const cpuinfo = hostCpuinfo();
  const hostKvm = detectHostKvm(cpuinfo);
  const cpus = args.cpus === undefined ? machine.cpu.count : vcpuCountOr(args.cpus, (why) => { throw new UsageError(`--cpus ${args.cpus}: ${why}`); });
  const template = cpuTemplateOrUsageError(args.cpuTemplate ?? machine.cpu.template, hostKvm);
  const acpiReset = args.acpi !== false && acpiPlatformFor(devicePlan, cpus)?.resetPort !== undefined;
  const plan = planBoot(args, [machine.cmdline, devicePlan.kernelWords, ...template.cmdline, profile?.kernelWords].filter(Boolean).join(' '), memorySize, acpiReset);
  markStartup('bootPlanned');
  if (!args.sandbox) log.warn('--no-sandbox: the helper runs UNJAILED, with your full rights and every system call; use it for debugging only');
  else if (args.seccomp !== 'enforce') log.warn(`--seccomp=${args.seccomp}: the helper's system calls are not restricted`);
  const output = {
    // The UART console goes to tsvmm's stdout: the helper writes a pipe, a
    // socket or a terminal itself; this process copies to a file.
    console: profile?.console ?? stdoutForTheHelper() ?? process.stdout,
    log: args.logFile ? openLogFileStream(args.logFile) : process.stderr,
    prettyLogs: !args.logFile && Boolean(process.stderr.isTTY),
  };
  // Listening now refuses a bad --control-socket before anything starts.
  const control = args.controlSocket ? await openControlSocket(args.controlSocket) : undefined;
  let devices: DeviceProcessSet | undefined;
  let outputs: ConsoleOutputs | undefined;
  let helper: HelperProcess | undefined;
  try {
    // Create every descriptor the plan names (images opened and locked with
    // the user's rights); the helper and the device processes get them.
    plannedFiles(devicePlan).forEach((f) => f.kind === 'disk-image' && checkDiskFile(f.path));
    const handover = openDeviceHandover(devicePlan, log, await sharedRamFile);
    markStartup('descriptorsOpened');
    // A reader of a console port's output that went away ends the VM, as
    // SIGPIPE would end a local program (the helper sees to the UART's).
    // Streams are looked up only when a port uses them: Node makes a pipe or
    // socket it opens as process.stdout non-blocking, for the helper too.
    const streams = {
      get stdout() {
        return process.stdout;
      },
      get stderr() {
        return process.stderr;
      },
    };
    outputs = new ConsoleOutputs(handover.outputs, streams, log, () => helper?.stop());
    try {
      // The helper starts (Node, the kernel load, the jail) while the device
      // processes start, and runs the guest once it is jailed: a vCPU's first
      // access to a region whose process is not serving yet waits for it in
      // the region's socket (bus/ioregion-client.ts), which is long after the
      // guest's first instruction (a Linux guest probes its devices late in
      // its boot). A device process that fails to start ends the VM (below).
      helper = new HelperProcess(
        {
          machine,
          memorySize,
          cpus,
          cpuTemplate: template.name,
          cpuBrand: hostCpuBrand(cpuinfo),
          coalesced: args.coalesced,
          bootKind: plan.kind,
          cmdline: plan.cmdline,
          hasInitrd: plan.initrd !== undefined,
          acpi: plan.acpi,
          plan: devicePlan,
          sharedRamOnHugePages: handover.sharedRamOnHugePages,
          logLevel: args.logLevel,
          sandbox: args.sandbox,
          seccomp: args.seccomp,
        },
        { kernel: plan.kernel, initrd: plan.initrd, extraFds: handover.helper },
        output,
        log,
        helperLaunch,
      );
      try {
        devices = await startDeviceProcesses(
          devicePlan,
          handover,
          ram,
          { sandbox: args.sandbox, seccomp: args.seccomp, logLevel: args.logLevel, log: output.log, prettyLogs: output.prettyLogs },
          log,
          deviceLaunches,
        );
      } catch (e) {
        helper.kill();
        helper.done.catch(() => {}); // the device's error is the one to report
        throw e;
      }
    } finally {
      // The helper the launcher started takes the descriptors lent to it once it has connected.
      await helper?.handedOver.catch(() => {}); // its failure is helper.done's to report
      handover.release();
    }
  } catch (e) {
    // Started device processes would otherwise keep tsvmm running after the error.
    devices?.killAll();
    outputs?.close();
    control?.close();
    throw e;
  }
  control?.attach(helper);
  markStartup('devicesServing');
  log.debug({ msSinceStart: { helperSpawned: Math.round(helper.spawnedAt - performance.timeOrigin), ...startupMarks() } }, "the frontend's start");
  log.info({ machine: machine.name, memory: args.mem ?? 'default', hostKvm, cpus, cpuTemplate: template.name, helper: helper.pid }, `booting ${plan.describe}`);

  // Asked to stop (a signal, Ctrl-A x): the VM stops; asked again, a VM
  // that did not stop at the first (its helper stuck, say) is killed.
  let askedToStop = false;
  const stopTheVm = (why: string) => {
    if (askedToStop) {
      log.warn(`${why} again: killing the VM`);
      helper.forceStop();
      return;
    }
    askedToStop = true;
    log.info(`${why}: stopping the VM`);
    helper.stop();
  };
  // Under `exec` the command's stdin is not the console's: no terminal input.
  const terminal = profile ? undefined : new ConsoleTerminal(process.stdin, (bytes) => helper.sendInput(bytes), () => stopTheVm('Ctrl-A x'));
  const onSignal = (signal: NodeJS.Signals) => stopTheVm(`received ${signal}`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  terminal?.start();
  let result: HelperOutcome;
  try {
    result = await helper.done;
    await outputs.finished(); // every byte the guest's console ports took is out
  } finally {
    outputs.close();
    terminal?.stop();
    control?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    devices.killAll();
  }
  const level = result.kind === 'error' ? 'error' : 'info';
  log[level]({ kind: result.kind, status: result.status }, result.message);
  if (result.kind === 'error') process.stderr.write(`tsvmm: ${result.message}\n`);
  if (args.stats && result.stats) process.stderr.write(`tsvmm exit statistics: ${JSON.stringify(result.stats, null, 2)}\n`);
  // A console port's reader went away: the status of a program killed by SIGPIPE, as for the UART's.
  if (outputs.broken) return EXIT_STATUS.outputClosed;
  return profile ? profile.status(result) : result.status;
}

/**
 * fd 1 for the helper to write the console to, /dev/null when tsvmm was
 * started without a stdout, or undefined for a file: the jailed helper may
 * write no file beyond its writable disks' size (RLIMIT_FSIZE: jail.ts).
 */
function stdoutForTheHelper(): number | undefined {
  let stdout: Stats;
  try {
    stdout = fstatSync(1);
  } catch {
    return openSync('/dev/null', 'w');
  }
  return stdout.isFIFO() || stdout.isSocket() || stdout.isCharacterDevice() ? 1 : undefined;
}
