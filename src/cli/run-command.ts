// `tsvmm run`: boot a guest and exit with its status.
import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { loadRealModePayload } from '../boot/real-mode-payload.js';
import type { BootCpuState } from '../boot/cpu-state.js';
import { KvmSystem } from '../kvm/kvm-system.js';
import { createLogger, type Logger } from '../log.js';
import { loadMachine } from '../machine/machine-definition.js';
import { parseSize } from '../machine/size.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { VirtualMachine, type VmResult } from '../vmm/virtual-machine.js';
import { defaultGuestManifestPath, readDefaultGuest } from './default-guest.js';
import { ConsoleTerminal } from './terminal.js';
import { loadKernel } from './kernel-loading.js';

export interface RunArgs {
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  mem?: string;
  machine: string;
  cpuTemplate?: string;
  rawPayload?: string;
  stats: boolean;
  coalesced: boolean;
  logLevel: string;
  logFile?: string;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function runOptions(y: Argv): Argv<RunArgs> {
  return y
    .option('kernel', { type: 'string', describe: 'Linux kernel: bzImage or uncompressed ELF vmlinux (default: the guest built by `npm run guest`)' })
    .option('initrd', { type: 'string', describe: 'initial ramdisk (cpio, optionally compressed)' })
    .option('cmdline', { type: 'string', describe: 'kernel command line (default: the default guest\'s, or "console=ttyS0")' })
    .option('mem', { type: 'string', describe: 'guest RAM, e.g. 256M or 1G (default: the machine\'s)' })
    .option('machine', { type: 'string', default: 'microvm', describe: 'machine name (machines/NAME.json) or path to a machine file' })
    .option('cpu-template', { type: 'string', describe: 'CPUID template: nested-safe (default) or host' })
    .option('raw-payload', { type: 'string', describe: 'a flat 16-bit real-mode binary to run instead of a kernel (test payloads)', hidden: true })
    .option('coalesced', { type: 'boolean', default: true, describe: 'use the coalesced MMIO/PIO zones devices declare (--no-coalesced: none)' })
    .option('stats', { type: 'boolean', default: false, describe: 'print exit statistics (by reason, by device) when the VM ends' })
    .option('log-level', { type: 'string', default: 'info', choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] })
    .option('log-file', { type: 'string', describe: 'write logs (JSON lines) to this file instead of stderr' }) as unknown as Argv<RunArgs>;
}

interface BootPlan {
  describe: string;
  load(memory: GuestMemory): BootCpuState;
}

function planBoot(args: RunArgs, machineCmdline: string, log: Logger): BootPlan {
  if (args.rawPayload) {
    const image = readInput(args.rawPayload, 'payload');
    return { describe: `real-mode payload ${args.rawPayload}`, load: (m) => loadRealModePayload(m, image) };
  }
  let kernelPath = args.kernel;
  let initrdPath = args.initrd;
  let cmdline = args.cmdline;
  if (!kernelPath) {
    const guest = readDefaultGuest();
    if (!guest)
      throw new UsageError(`no --kernel given and the default guest is not built (${defaultGuestManifestPath()} is missing): run \`npm run guest\` first`);
    kernelPath = guest.vmlinux;
    initrdPath ??= guest.initrd;
    cmdline ??= guest.cmdline;
  }
  const kernel = readInput(kernelPath, 'kernel');
  const initrd = initrdPath ? readInput(initrdPath, 'initrd') : undefined;
  const fullCmdline = [cmdline ?? 'console=ttyS0', machineCmdline].filter(Boolean).join(' ');
  return {
    describe: `kernel ${kernelPath}${initrdPath ? `, initrd ${initrdPath}` : ''}`,
    load: (memory) => loadKernel(memory, { kernel, initrd, cmdline: fullCmdline, log }),
  };
}

function readInput(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message;
    throw new UsageError(`cannot read the ${what} ${path}: ${why}`);
  }
}

/** Runs the VM; returns the process exit status. */
export async function runCommand(args: RunArgs): Promise<number> {
  const log = createLogger({ level: args.logLevel as never, file: args.logFile });
  const machine = loadMachine(args.machine);
  const memorySize = args.mem === undefined ? machine.memory.defaultSize : parseSize(args.mem);
  if (memorySize === undefined) throw new UsageError(`--mem ${args.mem}: expected a size such as 256M or 1G`);
  const plan = planBoot(args, machine.cmdline, log);
  const kvm = KvmSystem.open();
  const vm = VirtualMachine.create({
    kvm,
    machine,
    memorySize,
    cpuTemplate: args.cpuTemplate,
    coalesced: args.coalesced,
    load: plan.load,
    consoleFd: 1,
    log,
  });
  log.info({ machine: machine.name, memory: args.mem ?? 'default' }, `booting ${plan.describe}`);

  const pendingInput: Uint8Array[] = [];
  const pumpInput = () => {
    while (pendingInput.length) {
      const chunk = pendingInput[0];
      const n = vm.sendInput(chunk);
      if (n === chunk.length) pendingInput.shift();
      else {
        pendingInput[0] = chunk.subarray(n);
        break;
      }
    }
  };
  const inputTimer = setInterval(pumpInput, 5);
  const terminal = new ConsoleTerminal(
    process.stdin,
    (bytes) => {
      pendingInput.push(bytes);
      pumpInput();
    },
    () => vm.stop(),
  );
  const onSignal = (signal: NodeJS.Signals) => {
    log.info(`received ${signal}: stopping the VM`);
    vm.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  terminal.start();
  let result: VmResult;
  try {
    result = await vm.run();
  } finally {
    terminal.stop();
    clearInterval(inputTimer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const level = result.kind === 'error' ? 'error' : 'info';
  log[level]({ kind: result.kind, status: result.status }, result.message);
  if (args.stats) process.stderr.write(`tsvmm exit statistics: ${JSON.stringify(result.stats, null, 2)}\n`);
  await vm.destroy();
  kvm.close();
  return result.status;
}
