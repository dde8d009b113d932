// `tsvmm exec -- CMD ARGS...`: run one command in a VM as if it ran here. The
// default guest boots with the host's tree shared read-only as its root
// (under a tmpfs overlay, so the command may write anywhere and nothing
// reaches the host) and the working directory shared writable at the same
// path; the command runs there with the caller's uid and gid, its stdout and
// stderr come back on tsvmm's own, separately (virtio-console ports), and
// tsvmm exits with its status. The guest's init does the guest side
// (tools/guest/init, `run_exec`). The kernel's messages go to the log.
// The two shares are served by jailed device processes of their own, one for
// both where it can reach the working directory (docs/security.md says why):
// the helper, which holds KVM, never sees the host's tree.
import { realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Argv } from 'yargs';
import { consoleDevice } from '../devices/kinds/virtio-console-kind.js';
import type { Virtio9pDefinition } from '../devices/kinds/virtio-9p-kind.js';
import { EXIT_STATUS } from '../kvm/vm-exit.js';
import { createLogger } from '../log.js';
import { GuestConsoleLog } from './guest-console-log.js';
import type { HelperOutcome } from './helper-process.js';
import { UsageError, runCommand, type RunArgs } from './run-command.js';
import { DEFAULT_MACHINE } from '../machine/machine-definition.js';

/** tsvmm's status when the VM failed before the command could report one (as `docker run` does). */
export const EXEC_VM_FAILED = 125;

export interface ExecArgs {
  kernel?: string;
  initrd?: string;
  mem?: string;
  cpus?: string;
  net?: string[];
  share?: string[];
  rootfs?: string;
  '--'?: string[];
  stats: boolean;
  sandbox: boolean;
  seccomp: 'enforce' | 'log' | 'off';
  logLevel: string;
  logFile?: string;
}

export function execOptions(y: Argv): Argv<ExecArgs> {
  return y
    .usage('$0 exec [options] -- CMD [ARGS...]')
    .option('rootfs', { type: 'string', describe: 'the directory the command sees as / (read-only, under a tmpfs overlay; default: the host\'s /)' })
    .option('kernel', { type: 'string', describe: 'Linux kernel (default: the default guest\'s; another kernel needs its init to follow tools/guest/README.md)' })
    .option('initrd', { type: 'string', describe: 'initial ramdisk (default: the default guest\'s)' })
    .option('mem', { type: 'string', describe: 'guest RAM, e.g. 512M (default: the machine\'s)' })
    .option('cpus', { type: 'string', describe: 'vCPUs (default 1)' })
    .option('net', { type: 'string', array: true, describe: 'a NIC, as for `tsvmm run --net` (user[,hostfwd=...], tap=IFNAME, ...)' })
    .option('share', { type: 'string', array: true, describe: 'another host directory, as for `tsvmm run --share`' })
    .option('sandbox', { type: 'boolean', default: true, describe: 'jail the helper (--no-sandbox is for debugging only)' })
    .option('seccomp', { type: 'string', default: 'enforce', choices: ['enforce', 'log', 'off'], describe: 'seccomp filter: enforce, log or off' })
    .option('stats', { type: 'boolean', default: false, describe: 'print exit statistics to stderr when the VM ends' })
    .option('log-level', { type: 'string', default: 'warn', choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], describe: 'tsvmm\'s log (stderr, or --log-file); the guest kernel\'s messages are logged at debug' })
    .option('log-file', { type: 'string', describe: 'write logs (JSON lines) to this file instead of stderr' }) as unknown as Argv<ExecArgs>;
}

/**
 * A kernel parameter value for /init: bytes outside a plain path's set travel
 * as printf's octal escapes (\0040 for a space), which /init undoes. The
 * kernel would split the value at a space and strip double quotes.
 */
export function kernelParamValue(text: string): string {
  return Buffer.from(text, 'utf8').reduce((out, byte) => {
    const c = String.fromCharCode(byte);
    return out + (/[A-Za-z0-9_@%+=:,./-]/.test(c) ? c : `\\0${byte.toString(8).padStart(3, '0')}`);
  }, '');
}

/**
 * Whether one device process may serve both shares. Its jail shows the host's
 * own directories above the working directory (a share's process of its own
 * had them made afresh, open to all), and whoever serves the shares must get
 * through them: as root that is nobody, for whom a 0700 /root is a wall. So
 * as root every directory above must let others through; `modeOf` gives a
 * directory's mode.
 */
export function oneShareProcess(cwd: string, uid: number, modeOf: (dir: string) => number = (dir) => statSync(dir).mode): boolean {
  if (uid !== 0) return true;
  for (let dir = cwd; dir !== '/'; ) {
    dir = dirname(dir);
    if ((modeOf(dir) & 0o001) === 0) return false;
  }
  return true;
}

function directory(path: string, what: string): string {
  try {
    return realpathSync(path);
  } catch (e) {
    throw new UsageError(`cannot share ${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (e as Error).message}`);
  }
}

export async function execCommand(args: ExecArgs): Promise<number> {
  const command = args['--'] ?? [];
  if (command.length === 0) throw new UsageError('name the command to run after --, e.g. `tsvmm exec -- uname -a`');
  const log = createLogger({ level: args.logLevel as never, file: args.logFile });
  const root = directory(args.rootfs ?? '/', 'the root');
  const cwd = directory(process.cwd(), 'the working directory');
  const share = (name: string, hostDir: string, readOnly: boolean): Virtio9pDefinition => ({
    type: 'virtio-9p',
    name,
    tag: `tsvmm-${name}`,
    spec: { hostDir, readOnly, separateProcess: true },
  });
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const guestConsole = new GuestConsoleLog(log);
  const run: RunArgs = {
    kernel: args.kernel,
    initrd: args.initrd,
    mem: args.mem,
    cpus: args.cpus,
    net: args.net,
    share: args.share,
    '--': command,
    machine: DEFAULT_MACHINE,
    stats: args.stats,
    coalesced: true,
    acpi: true,
    sandbox: args.sandbox,
    seccomp: args.seccomp,
    logLevel: args.logLevel,
    logFile: args.logFile,
  };
  return runCommand(run, {
    // One Node process fewer to start: in a nested L1 each is seconds of CPU (BENCHMARKS.md, "Start-up").
    sharedProcesses: oneShareProcess(cwd, uid) ? [['root', 'cwd']] : undefined,
    devices: [
      share('root', root, true),
      share('cwd', cwd, false),
      consoleDevice([
        { name: 'stdout', output: 'stdout' },
        { name: 'stderr', output: 'stderr' },
      ]),
    ],
    kernelWords: `quiet tsvmm.exec=1 tsvmm.uid=${uid} tsvmm.gid=${gid} tsvmm.cwd=${kernelParamValue(cwd)}`,
    console: guestConsole,
    status: (result) => execStatus(result, guestConsole),
  });
}

/** The command's status, or EXEC_VM_FAILED with the reason on stderr when the VM ended without one. */
function execStatus(result: HelperOutcome, guestConsole: GuestConsoleLog): number {
  guestConsole.end();
  if (result.kind === 'guest-status') return result.status;
  if (result.kind === 'stopped') return EXIT_STATUS.stopped;
  if (result.kind === 'reset') {
    // panic=-1 on the default guest's command line: a panic resets at once.
    const panic = guestConsole.lastLines.find((l) => l.includes('Kernel panic'));
    const why = guestConsole.lastLines.filter((l) => l.startsWith('tsvmm exec: ')).pop();
    process.stderr.write(
      `tsvmm: the guest ${panic ? 'kernel panicked' : 'reset'} before the command finished${why ? ` (${why})` : ''}; its last console lines:\n` +
        guestConsole.lastLines.map((l) => `  | ${l}\n`).join(''),
    );
  }
  // 'error' was already reported by runCommand; 'poweroff' means the command never reported.
  if (result.kind === 'poweroff') process.stderr.write('tsvmm: the guest powered off before the command reported its status\n');
  return EXEC_VM_FAILED;
}
