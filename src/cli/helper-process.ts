// The frontend's side of the helper: open the VM's files with the user's
// rights, start the helper with them, relay console input, forward stop
// requests, and turn however the helper ends into one clear result.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { ExitStatsReport } from '../kvm/exit-stats.js';
import { EXIT_STATUS, type VmExit } from '../kvm/vm-exit.js';
import type { Logger } from '../log.js';
import { PROJECT_ROOT } from '../project-root.js';
import { HELPER_FD, type FrontendMessage, type HelperConfig, type HelperMessage } from '../helper/helper-protocol.js';

export const HELPER_MAIN = join(PROJECT_ROOT, 'dist', 'src', 'helper', 'main.js');

export interface HelperFiles {
  kernel: string;
  initrd?: string;
  kvm?: string;
}

export interface HelperOutcome extends VmExit {
  stats?: ExitStatsReport;
}

/** An error the helper reported before the guest ran (bad kernel, KVM refused, ...). */
export class HelperStartError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export class HelperProcess {
  private readonly child: ChildProcess;
  private outcome: HelperOutcome | undefined;
  private startError: HelperStartError | undefined;
  readonly done: Promise<HelperOutcome>;

  constructor(config: HelperConfig, files: HelperFiles, log: Logger) {
    const fds: number[] = [];
    const openRead = (path: string, what: string) => {
      try {
        const fd = openSync(path, 'r');
        fds.push(fd);
        return fd;
      } catch (e) {
        fds.forEach((fd) => closeSync(fd));
        throw new HelperStartError('UsageError', `cannot open the ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    };
    const kernel = openRead(files.kernel, 'kernel');
    const initrd = files.initrd ? openRead(files.initrd, 'initrd') : undefined;
    let kvm: number;
    try {
      kvm = openSync(files.kvm ?? '/dev/kvm', 'r+');
    } catch (e) {
      fds.forEach((fd) => closeSync(fd));
      const code = (e as NodeJS.ErrnoException).code;
      throw new HelperStartError(
        'KvmError',
        code === 'ENOENT'
          ? '/dev/kvm does not exist: this machine has no KVM (load the kvm module, or enable nested virtualization)'
          : code === 'EACCES'
            ? '/dev/kvm: permission denied (add yourself to the kvm group)'
            : `cannot open /dev/kvm: ${code}`,
      );
    }
    fds.push(kvm);

    const stdio: StdioOptions = ['pipe', 'inherit', 'inherit', 'ipc', kvm, kernel, initrd ?? 'ignore'];
    if (stdio.length !== HELPER_FD.initrd + 1) throw new Error('helper fd layout out of sync with helper-protocol.ts');
    this.child = spawn(process.execPath, [HELPER_MAIN], { stdio, env: process.env });
    // The helper holds its own copies now.
    fds.forEach((fd) => closeSync(fd));

    this.child.stdin!.on('error', () => {}); // the helper may exit with input still queued
    this.child.on('message', (m: HelperMessage) => {
      if (m.type === 'exit') this.outcome = { ...m.exit, stats: m.stats };
      else if (m.type === 'failed') this.startError = new HelperStartError(m.error.name, m.error.message);
      else if (m.type === 'running') log.debug({ pid: this.child.pid }, 'helper is running the guest');
    });
    this.done = new Promise((resolve, reject) => {
      this.child.on('error', (e) => reject(new HelperStartError('HelperError', `cannot start the helper: ${e.message}`)));
      this.child.on('exit', (code, signal) => {
        if (this.startError) reject(this.startError);
        else if (this.outcome) resolve(this.outcome);
        else resolve(describeHelperDeath(code, signal));
      });
    });
    this.send({ type: 'start', config });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  sendInput(bytes: Uint8Array): void {
    this.child.stdin?.write(bytes);
  }

  stop(): void {
    this.send({ type: 'stop' });
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  private send(m: FrontendMessage): void {
    if (this.child.connected) this.child.send(m);
  }
}

/** One line on how the helper died without reporting an exit. */
export function describeHelperDeath(code: number | null, signal: NodeJS.Signals | null): HelperOutcome {
  const message =
    signal === 'SIGSYS'
      ? 'the helper was killed by its seccomp filter (SIGSYS): it made a system call its policy does not allow. Rerun with --seccomp=log to see which, then add it to src/sandbox/helper-policy.json if it is legitimate'
      : signal
        ? `the helper was killed by ${signal}`
        : `the helper exited with code ${code} without reporting how the VM ended`;
  return { kind: 'error', status: EXIT_STATUS.error, message };
}
