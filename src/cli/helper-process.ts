// The frontend's side of the helper: open the VM's files with the user's
// rights, hand them to the helper (started by process-launch.ts), relay
// console input, forward stop requests, and turn however the helper ends
// into one clear result.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import type { ExitStatsReport } from '../kvm/exit-stats.js';
import { EXIT_STATUS, type VmExit } from '../kvm/vm-exit.js';
import type { Logger } from '../log.js';
import { HELPER_FILE, type VmState, type FrontendMessage, type HelperConfig, type HelperMessage } from '../helper/helper-protocol.js';
import { markInheritedFdsCloseOnExec } from '../sandbox/close-on-exec.js';
import { checkJailSupport } from '../sandbox/jail-launch.js';
import { explainSeccompDeath } from '../sandbox/seccomp-audit.js';
import { handDescriptors } from './hand-descriptors.js';
import { markStartup } from '../startup-marks.js';
import { launchHelper, type HelperChild, type HelperLaunch } from './process-launch.js';

export interface HelperFiles {
  kernel: string;
  initrd?: string;
  kvm?: string;
  /** Already-open descriptors to hand over by name (device region sockets). */
  extraFds?: Record<string, number>;
}

/** Where the helper's console and logs go. */
export interface HelperOutput {
  /**
   * A descriptor the helper writes the guest's console to itself (tsvmm's
   * stdout when a pipe, socket or terminal: no copy through the frontend,
   * whose wake-up per write cost the guest), or a stream the frontend copies
   * it to (a file: the jailed helper may not grow one).
   */
  console: number | NodeJS.WritableStream;
  log: NodeJS.WritableStream;
  prettyLogs: boolean;
}

export interface HelperOutcome extends VmExit {
  stats?: ExitStatsReport & {
    /** From spawning the helper to the guest's first instruction (KVM_RUN). */
    helperStartupMs?: number;
  };
}

/** An error the helper reported before the guest ran (bad kernel, KVM refused, ...). */
export class HelperStartError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export class HelperProcess {
  private child: HelperChild | undefined;
  private outcome: HelperOutcome | undefined;
  private hostPid: number | undefined;
  private readonly stateWaiters: ((state: VmState) => void)[] = [];
  private startError: HelperStartError | undefined;
  private launch: HelperLaunch;
  /** What was sent before the helper had connected (the launcher's helper connects when its code has loaded), in order, after 'start'. */
  private readonly queued: FrontendMessage[] = [];
  /** Killed before it had connected: it is not replaced. */
  private killed = false;
  /** Killed because the VM did not stop when asked (forceStop). */
  private forced = false;
  readonly done: Promise<HelperOutcome>;
  /** Resolves once the helper holds its descriptors (or never will): until then the caller keeps the ones it lent (HelperFiles.extraFds) open. */
  readonly handedOver: Promise<void>;

  /**
   * Opens the VM's files and hands them and `config` to the helper
   * `launch` (started by the launcher, the early start or run-command.ts);
   * a helper that cannot be given them is ended.
   */
  constructor(config: Omit<HelperConfig, 'descriptors' | 'prettyLogs'>, files: HelperFiles, output: HelperOutput, log: Logger, launch: HelperLaunch) {
    this.launch = launch;
    if (launch.inheritedFds.length) log.debug({ fds: launch.inheritedFds }, 'inherited descriptors kept from the helper');
    const fds: number[] = [];
    // O_NONBLOCK: a FIFO swapped in after run-command.ts checked the path must
    // not block the open; what was opened must be a regular file (the helper reads it whole).
    const openRead = (path: string, what: string) => {
      try {
        const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
        fds.push(fd);
        if (!fstatSync(fd).isFile()) throw Object.assign(new Error(), { code: 'not a regular file' });
        return fd;
      } catch (e) {
        fds.forEach((fd) => closeSync(fd));
        launch.discard();
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
      launch.discard();
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

    const named: Record<string, number> = { [HELPER_FILE.kvm]: kvm, [HELPER_FILE.kernel]: kernel };
    if (initrd !== undefined) named[HELPER_FILE.initrd] = initrd;
    Object.assign(named, files.extraFds);
    if (typeof output.console === 'number') named[HELPER_FILE.console] = output.console;
    const start: HelperConfig = { ...config, descriptors: Object.keys(named), prettyLogs: output.prettyLogs };
    const handOver = (connected: boolean) => {
      try {
        if (connected) this.handOver(Object.values(named), start, output, log);
      } finally {
        fds.forEach((fd) => closeSync(fd)); // the helper holds its own copies now (or will never need them)
      }
    };
    // A spawned helper takes its descriptors now, before the device processes are spawned; the launcher's once it has connected.
    const ready = launch.connection();
    this.handedOver = ready === true ? Promise.resolve(handOver(true)) : this.whenConnected(ready, config.sandbox, log).then(handOver);
    this.done = this.handedOver
      .then(() => this.launch.ended)
      .then(({ code, signal, spawnError }) => {
        if (spawnError) throw new HelperStartError('HelperError', `cannot start the helper: ${spawnError.message}`);
        if (this.startError) throw this.startError;
        return this.outcome ?? this.describeDeath(code, signal, config.sandbox);
      });
  }

  /** Waits until the helper has connected; one the launcher started that ended first is replaced by one spawned now. */
  private async whenConnected(ready: Promise<boolean>, sandbox: boolean, log: Logger): Promise<boolean> {
    if (await ready) return true;
    if (this.killed) return false;
    log.debug({ pid: this.launch.pid, why: this.launch.whyNot }, 'the helper the launcher started could not be used: starting another');
    this.launch = launchHelper(sandbox, markInheritedFdsCloseOnExec());
    return true;
  }

  private handOver(descriptors: number[], config: HelperConfig, output: HelperOutput, log: Logger): void {
    let handedOver = true;
    try {
      handDescriptors(this.launch, descriptors, 'the helper');
    } catch (e) {
      // It has died (while loading, say): how it ended is reported below, its stderr in the log.
      log.debug({ err: (e as Error).message }, 'the helper could not be handed its descriptors');
      handedOver = false;
    }
    const child = (this.child = this.launch.adopt());
    const helperStdout = child.stdout!;
    if (typeof output.console === 'number') {
      helperStdout.resume(); // nothing else is written there; a stray write must not block the helper
    } else {
      helperStdout.pipe(output.console);
      // A destination that fails (a full disk) ends the VM as a reader that
      // went away does: the helper's next console write fails (EPIPE).
      output.console.on('error', (e: Error) => {
        log.debug({ err: e.message }, "the guest console's destination failed");
        helperStdout.destroy();
      });
    }
    child.stderr!.pipe(output.log, { end: false });

    child.stdin!.on('error', () => {}); // the helper may exit with input still queued
    child.on('message', (m: HelperMessage) => {
      if (m.type === 'exit') this.outcome = { ...m.exit, stats: { ...m.stats, helperStartupMs: m.stats.firstEntryEpochMs - this.launch.spawnedAt } };
      else if (m.type === 'failed') this.startError = new HelperStartError(m.error.name, m.error.message);
      else if (m.type === 'state') this.stateWaiters.shift()?.(m.state);
      else if (m.type === 'running') {
        this.hostPid = m.hostPid;
        log.debug({ pid: m.hostPid, sandbox: m.sandbox }, 'helper is running the guest');
      }
    });
    if (!handedOver) return;
    child.send({ type: 'start', config });
    markStartup('helperHasItsVm');
    for (const m of this.queued.splice(0)) child.send(m);
  }

  get pid(): number | undefined {
    return this.launch.pid;
  }

  /** When its process was spawned (epoch ms). */
  get spawnedAt(): number {
    return this.launch.spawnedAt;
  }

  sendInput(bytes: Uint8Array): void {
    this.child?.stdin?.write(bytes);
  }

  stop(): void {
    this.send({ type: 'stop' });
  }

  /** pause / resume / status; resolves with the VM's state after the command. */
  control(command: 'pause' | 'resume' | 'status'): Promise<VmState> {
    if (this.child && !this.child.connected) return Promise.resolve('ended');
    return new Promise((resolve) => {
      this.stateWaiters.push(resolve);
      this.send({ type: command });
    });
  }

  /** Ends a VM that did not stop when asked (its helper stuck): killed at once, and the outcome a stop's. */
  forceStop(): void {
    this.forced = true;
    this.kill();
  }

  kill(): void {
    if (this.child) this.child.kill('SIGKILL');
    else {
      this.killed = true;
      this.launch.discard();
    }
  }

  /** One line on how the helper died without reporting an exit. */
  private describeDeath(code: number | null, signal: NodeJS.Signals | null, sandbox: boolean): HelperOutcome {
    if (this.forced) return { kind: 'stopped', status: EXIT_STATUS.stopped, message: 'the VM did not stop when asked, and was killed' };
    let message: string;
    if (signal === 'SIGSYS' || (sandbox && code === 128 + 31)) {
      // Through unshare --fork, the helper's SIGSYS shows up as exit code 159.
      message = this.hostPid ? explainSeccompDeath(this.hostPid) : 'the helper was killed by its seccomp filter (SIGSYS) while starting; rerun with --seccomp=log';
    } else if (signal) message = `the helper was killed by ${signal}`;
    else if (sandbox && this.hostPid === undefined && code !== 0) {
      const support = checkJailSupport();
      message = support.ok
        ? `the helper exited with code ${code} while starting, before it could report why`
        : `cannot start the jailed helper: ${support.reason} (--no-sandbox runs it unjailed, for debugging)`;
    } else message = `the helper exited with code ${code} without reporting how the VM ended`;
    return { kind: 'error', status: EXIT_STATUS.error, message };
  }

  private send(m: FrontendMessage): void {
    if (!this.child) this.queued.push(m);
    else if (this.child.connected) this.child.send(m);
  }
}

