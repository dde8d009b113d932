// The nested-virt runner: runs a command inside the "L1", a Linux under
// QEMU's TCG emulation with an SVM CPU whose kvm-amd gives a real /dev/kvm,
// on hosts that have no /dev/kvm of their own (tools/nested/README.md).
//
// The L1 sees the host's whole file system read-only (9p) with an overlay on
// a fresh ext4 scratch disk (also TMPDIR: O_DIRECT works there), so the
// checkout, node_modules and the guest cache are where they are on the host.
// Folders named in `writable` are mounted read-write at their own paths, so a
// command inside can leave results for the host. The command runs as root in
// the caller's directory and environment; its stdout and stderr come back
// separately (two virtio console ports), its exit status through the control
// folder. The L1's own console (kernel messages) is kept for diagnosis.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { shellQuote } from '../../src/shell-quote.js';

export const QEMU = 'qemu-system-x86_64';
const CACHE_ROOT = process.env.TSVMM_CACHE ?? join(process.env.HOME ?? '/root', '.cache', 'tsvmm');
export const L1_DIR = join(CACHE_ROOT, 'l1');
const BUILD_SCRIPT = join(PROJECT_ROOT, 'tools', 'nested', 'build-l1.sh');
const QEMU_BUILD_SCRIPT = join(PROJECT_ROOT, 'tools', 'nested', 'build-qemu.sh');
const L1_QEMU_MANIFEST = join(CACHE_ROOT, 'l1-qemu', 'qemu.json');
/** `host`: run the L1 under the host's own QEMU, not the one build-qemu.sh fetches (for comparisons). */
const L1_QEMU_ENV = 'TSVMM_L1_QEMU';
/** Set inside the L1, so that code there knows it is nested (and does not nest again). */
export const IN_L1_ENV = 'TSVMM_IN_L1';

export interface L1Options {
  /** argv of the command, run in `cwd`. */
  command: string[];
  cwd?: string;
  /** Variables for the command; default: this process's environment, less what belongs to this process. */
  env?: NodeJS.ProcessEnv;
  /** Host folders mounted read-write at the same path inside. */
  writable?: string[];
  /** The L1 is killed after this long (default 60 min). */
  timeoutMs?: number;
  /** The L1 is taken for frozen, and killed, when its heartbeat stops for this long (default 4 min). */
  frozenAfterMs?: number;
  cpus?: number;
  /** QEMU -m value (default 8G; guest RAM is allocated as touched). */
  memory?: string;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Progress and diagnosis (default: stderr). */
  log?: (line: string) => void;
}

export interface L1Result {
  /** The command's exit status; undefined when it never finished. */
  status?: number;
  timedOut: boolean;
  /** The L1 stopped its heartbeat (a lock-up of the L1 kernel or of QEMU's emulation) and was killed. */
  froze: boolean;
  /** How often a silent L1 was woken by a key press and its heartbeat came back (see REVIVE_AFTER_MS). */
  revived: number;
  /** Why the command did not run or finish, in one line. */
  problem?: string;
  /** The last lines of the L1's console. */
  consoleTail: string[];
  wallMs: number;
}

/** The end of the L1's console, for a message about a run that went wrong. */
export function consoleEnding(result: L1Result): string {
  return `the L1's console ended with:\n  ${result.consoleTail.slice(-20).join('\n  ')}`;
}

/** Why commands cannot run nested on this host, or undefined when they can. */
export function nestedKvmProblem(): string | undefined {
  const qemu = spawnSync(QEMU, ['--version'], { stdio: 'ignore' });
  if (qemu.error || qemu.status !== 0) return `${QEMU} is not installed (Debian package qemu-system-x86)`;
  if (!existsSync(BUILD_SCRIPT)) return `${BUILD_SCRIPT} is missing`;
  return undefined;
}

/**
 * Builds the L1 kernel and initramfs and fetches its emulator, or finds them
 * in the cache. Throws with the build's own message; an emulator that cannot
 * be fetched leaves the host's QEMU in its place, with a warning.
 */
export function ensureL1(log: (line: string) => void = defaultLog): void {
  const problem = nestedKvmProblem();
  if (problem) throw new Error(`cannot run KVM nested: ${problem}`);
  const build = spawnSync('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  for (const line of build.stderr.split('\n')) if (/^\[l1 /.test(line)) log(line);
  if (build.status !== 0) {
    throw new Error(`building the L1 failed:\n${build.stderr.split('\n').slice(-15).join('\n')}`);
  }
  if (process.env[L1_QEMU_ENV] === 'host') return;
  const qemu = spawnSync('bash', [QEMU_BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  for (const line of qemu.stderr.split('\n')) if (/^\[l1-qemu /.test(line)) log(line);
  if (qemu.status !== 0) log(`warning: the L1 runs under the host's ${QEMU}, which can freeze it (docs/host-kvm.md): ${qemu.stderr.trim().split('\n').slice(-3).join(' / ')}`);
}

/** The QEMU the L1 runs under: build-qemu.sh's (QEMU 10), unless it is missing or TSVMM_L1_QEMU=host; then the host's (Debian 12's 7.2). */
export function l1Emulator(): { command: string; firmware: string[]; version: string } {
  if (process.env[L1_QEMU_ENV] !== 'host' && existsSync(L1_QEMU_MANIFEST)) {
    try {
      const manifest = JSON.parse(readFileSync(L1_QEMU_MANIFEST, 'utf8')) as { qemu: string; firmware: string[]; version: string };
      if (existsSync(manifest.qemu)) return { command: manifest.qemu, firmware: manifest.firmware, version: manifest.version };
    } catch {
      // a manifest cut short: build-qemu.sh --force remakes it; the host's QEMU meanwhile
    }
  }
  return { command: QEMU, firmware: [], version: `the host's ${QEMU}` };
}

export async function runInL1(options: L1Options): Promise<L1Result> {
  const log = options.log ?? defaultLog;
  const started = Date.now();
  ensureL1(log);
  const ctl = mkdtempSync(join(tmpdir(), 'tsvmm-l1-'));
  const ctlSockets = mkdtempSync(join(tmpdir(), 'tsvmm-l1-streams-'));
  // Sparse, on disk (tmpdir may be tmpfs, where a filling image costs RAM).
  const scratchRoot = join(L1_DIR, 'scratch');
  mkdirSync(scratchRoot, { recursive: true });
  removeOrphanedScratch(scratchRoot);
  const scratch = join(mkdtempSync(join(scratchRoot, `run-${process.pid}-`)), 'scratch.img');
  const consoleTail: string[] = [];
  const monitorPath = join(ctlSockets, 'monitor');
  const streams = {
    console: await listenForStream(join(ctlSockets, 'console')),
    stdout: await listenForStream(join(ctlSockets, 'stdout')),
    stderr: await listenForStream(join(ctlSockets, 'stderr')),
  };
  try {
    writeFileSync(scratch, '');
    execFileSync('truncate', ['-s', '64G', scratch]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=1,lazy_journal_init=1', scratch], { stdio: 'ignore' });
    writeControlFolder(ctl, options);

    const emulator = l1Emulator();
    const qemuArgs = [
      ...emulator.firmware.flatMap((dir) => ['-L', dir]),
      '-accel', 'tcg,thread=multi', '-M', 'q35', '-cpu', 'EPYC-Rome,+svm,+npt',
      '-smp', String(options.cpus ?? 2), '-m', options.memory ?? '8G',
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-kernel', join(L1_DIR, 'vmlinuz'), '-initrd', join(L1_DIR, 'initrd.gz'),
      // tsc=reliable: the L1's kernel distrusts TCG's TSC (the host's own) and
      // would read the clock from the emulated HPET, a system call and an MMIO
      // exit per read (docs/host-kvm.md, "The L1's clock").
      '-append', 'console=ttyS0 quiet panic=-1 mitigations=off tsc=reliable',
      // Each stream is a unix socket we listen on; QEMU connects as it starts.
      '-chardev', `socket,id=console,path=${streams.console.path}`, '-serial', 'chardev:console',
      '-device', 'virtio-serial-pci',
      '-chardev', `socket,id=stdout,path=${streams.stdout.path}`, '-device', 'virtserialport,chardev=stdout,name=l1.stdout',
      '-chardev', `socket,id=stderr,path=${streams.stderr.path}`, '-device', 'virtserialport,chardev=stderr,name=l1.stderr',
      '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
      '-virtfs', `local,path=${ctl},mount_tag=l1ctl,security_model=none`,
      ...(options.writable ?? []).flatMap((dir, i) => ['-virtfs', `local,path=${dir},mount_tag=rw${i},security_model=none`]),
      '-drive', `file=${scratch},format=raw,if=virtio,cache=unsafe,discard=unmap`,
      '-device', 'virtio-rng-pci',
      // For diagnosis: where the L1's CPUs are when it has to be killed.
      '-monitor', `unix:${monitorPath},server=on,wait=off`,
    ];
    log(`booting the L1 (${emulator.version.replace(/^QEMU emulator version /, 'QEMU ')}: TCG, SVM; ${options.cpus ?? 2} vCPUs) for: ${options.command.join(' ')}`);
    const qemu = spawn(emulator.command, qemuArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    const killQemu = () => qemu.kill('SIGKILL');
    // The L1 ends with us: at exit, and on a signal, which is then delivered again as if unhandled.
    const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    const onSignal = (signal: NodeJS.Signals) => {
      killQemu();
      for (const s of SIGNALS) process.off(s, onSignal);
      process.kill(process.pid, signal);
    };
    process.on('exit', killQemu);
    for (const s of SIGNALS) process.on(s, onSignal);
    let partial = '';
    const keepConsole = (chunk: Buffer) => {
      const lines = (partial + chunk.toString('latin1')).split(/\r?\n/);
      partial = lines.pop()!;
      consoleTail.push(...lines.filter((line) => !line.includes("TCG doesn't support requested feature")));
      consoleTail.splice(0, Math.max(0, consoleTail.length - 60));
    };
    qemu.stdout!.on('data', keepConsole);
    qemu.stderr!.on('data', keepConsole);
    streams.console.onData = keepConsole;
    streams.stdout.onData = options.onStdout ?? ((c: Buffer) => process.stdout.write(c));
    streams.stderr.onData = options.onStderr ?? ((c: Buffer) => process.stderr.write(c));

    let timedOut = false;
    let froze = false;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const frozenAfterMs = options.frozenAfterMs ?? DEFAULT_FROZEN_AFTER_MS;
    const stop = async (why: string) => {
      clearTimeout(timer);
      clearInterval(watchdog);
      log(why);
      // `info lapic`: frozen L1s have shown a halted CPU with IF=1 and the timer pending in IRR (docs/host-kvm.md).
      const cpus = await askMonitor(monitorPath, ['info cpus', 'info registers -a', 'info lapic']);
      if (cpus) log(`the L1's CPUs when it was killed:\n${cpus}`);
      killQemu();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      void stop(`the L1 is still running after ${Math.round(timeoutMs / 1000)} s: killing it`);
    }, timeoutMs);
    // The heartbeat starts once the command does (l1-init); its file's age on this host's clock.
    const alive = join(ctl, 'alive');
    let poked: number | undefined;
    let revived = 0;
    const watchdog = setInterval(() => {
      if (!existsSync(alive)) return;
      const beat = statSync(alive).mtimeMs;
      const silentMs = Date.now() - beat;
      if (poked !== undefined && beat > poked) {
        revived += 1;
        log(`the L1's heartbeat came back after the key press (${revived} so far)`);
        poked = undefined;
      }
      if (silentMs >= frozenAfterMs) {
        froze = true;
        void stop(`the L1 froze: no heartbeat for ${Math.round(silentMs / 1000)} s (its uptime then: ${readFileSync(alive, 'utf8').split(' ')[0]} s); killing it`);
      } else if (silentMs >= REVIVE_AFTER_MS && (poked === undefined || Date.now() - poked >= REVIVE_AFTER_MS)) {
        poked = Date.now();
        log(`the L1 has been silent for ${Math.round(silentMs / 1000)} s: pressing a key to wake it`);
        void askMonitor(monitorPath, ['info lapic', 'sendkey shift']).then((lapic) => log(`its local APIC then:\n${lapic}`));
      }
    }, 5_000);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      qemu.on('error', (error) => resolve({ code: null, signal: null, error }));
      qemu.on('close', (code, signal) => resolve({ code, signal }));
    });
    clearTimeout(timer);
    clearInterval(watchdog);
    process.off('exit', killQemu);
    for (const s of SIGNALS) process.off(s, onSignal);
    await Promise.all(Object.values(streams).map((s) => s.drained()));
    if (partial) consoleTail.push(partial);

    const read = (name: string) => (existsSync(join(ctl, name)) ? readFileSync(join(ctl, name), 'utf8').trim() : undefined);
    const statusText = read('status');
    const result: L1Result = { timedOut, froze, revived, consoleTail, wallMs: Date.now() - started };
    if (statusText !== undefined && /^\d+$/.test(statusText)) result.status = Number(statusText);
    else if (exit.error) result.problem = `cannot start ${emulator.command}: ${exit.error.message}`;
    else if (read('problem')) result.problem = `the L1 could not run the command: ${read('problem')}`;
    else if (froze) result.problem = `the L1 froze (no heartbeat for ${Math.round(frozenAfterMs / 1000)} s) and was killed`;
    else if (timedOut) result.problem = `timed out after ${Math.round(timeoutMs / 1000)} s`;
    else if (read('ready') === undefined) result.problem = `the L1 did not boot (QEMU ${exit.signal ?? `exit status ${exit.code}`})`;
    else result.problem = `the L1 stopped before the command finished (QEMU ${exit.signal ?? `exit status ${exit.code}`})`;
    return result;
  } finally {
    for (const stream of Object.values(streams)) stream.close();
    rmSync(ctlSockets, { recursive: true, force: true });
    rmSync(ctl, { recursive: true, force: true });
    rmSync(join(scratch, '..'), { recursive: true, force: true });
  }
}

const DEFAULT_TIMEOUT_MS = 60 * 60_000;

/** Scratch folders of runners that died without cleaning up (killed by a signal): their pid is gone. */
function removeOrphanedScratch(root: string): void {
  for (const name of readdirSync(root)) {
    const pid = Number(/^run-(\d+)-/.exec(name)?.[1]);
    if (!pid || !isAlive(pid)) rmSync(join(root, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
/**
 * QEMU 7.2 can lose the wake-up of a halted L1 CPU: the timer's vector stays
 * pending in the local APIC and nothing wakes the CPU to take it (docs/host-kvm.md,
 * "The L1 itself can freeze"). Any new interrupt from QEMU's main loop makes the
 * CPU look at its APIC again, so a silent L1 first gets a key press (the i8042
 * keyboard, IRQ 1), again every 10 s, before it is taken for frozen. The
 * heartbeat comes every 2 s.
 */
const REVIVE_AFTER_MS = 10_000;
/** Even a busy single-vCPU L1 keeps its heartbeat within a minute. */
const DEFAULT_FROZEN_AFTER_MS = 4 * 60_000;

/**
 * Runs commands on QEMU's human monitor and returns what it printed ('' when
 * it does not answer within 10 s). The session ends by closing the socket:
 * `quit` would end QEMU itself.
 */
async function askMonitor(path: string, commands: string[]): Promise<string> {
  return new Promise((resolve) => {
    let output = '';
    const socket = createConnection(path);
    const done = () => {
      socket.destroy();
      clearTimeout(timer);
      // Drop the banner, prompts, terminal escapes and the FPU/vector registers.
      const lines = output.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').split(/\r?\n/);
      resolve(lines.filter((l) => l.trim() && !/^(QEMU |\(qemu\)|FPR|XMM|YMM|ZMM|FCW|DR[0-7])/.test(l)).join('\n'));
    };
    const timer = setTimeout(done, 10_000);
    socket.on('connect', () => socket.write(commands.map((c) => `${c}\n`).join('')));
    socket.on('data', (chunk) => {
      output += chunk.toString('latin1');
      // A prompt after the banner, then one after each command's output.
      if ((output.match(/\(qemu\)/g)?.length ?? 0) > commands.length) done();
    });
    socket.on('close', done);
    socket.on('error', done);
  });
}

interface StreamSocket {
  path: string;
  onData: (chunk: Buffer) => void;
  /** Resolves once QEMU's connection has closed (or there was none). */
  drained(): Promise<void>;
  close(): void;
}

/** A unix socket for one of QEMU's character devices; whatever QEMU writes goes to onData. */
async function listenForStream(path: string): Promise<StreamSocket> {
  const server = createServer();
  let connection: Socket | undefined;
  let closed: Promise<void> = Promise.resolve();
  const stream: StreamSocket = {
    path,
    onData: () => {},
    drained: () => closed,
    close: () => {
      connection?.destroy();
      server.close();
    },
  };
  server.on('connection', (socket) => {
    connection = socket;
    closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (chunk) => stream.onData(chunk));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  return stream;
}

function defaultLog(line: string): void {
  process.stderr.write(`[nested] ${line}\n`);
}

/**
 * Variables that describe this process, not the command's world; and
 * NODE_EXTRA_CA_CERTS: the L1 has no network, and Node 20 parses that CA
 * bundle at every start (~0.65 s of each Node start there, bin/tsvmm.cjs).
 */
const NOT_PASSED = /^(PWD|OLDPWD|SHLVL|_|NODE_CHANNEL_FD|NODE_CHANNEL_SERIALIZATION_MODE|VITEST.*|NODE_EXTRA_CA_CERTS)$/;

/** The command's environment in the L1, as the lines of a shell script. */
export function l1EnvironmentScript(from: NodeJS.ProcessEnv): string {
  const env = { ...from, [IN_L1_ENV]: '1' };
  const exports = Object.entries(env)
    .filter(([name, value]) => value !== undefined && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !NOT_PASSED.test(name))
    .map(([name, value]) => `export ${name}=${shellQuote(value!)}`);
  return exports.join('\n') + '\n';
}

function writeControlFolder(ctl: string, options: L1Options): void {
  writeFileSync(join(ctl, 'env'), l1EnvironmentScript(options.env ?? process.env));
  const mounts = (options.writable ?? []).map(
    (dir, i) => `mkdir -p ${shellQuote(dir)} && mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 rw${i} ${shellQuote(dir)} || exit 125`,
  );
  const cwd = options.cwd ?? process.cwd();
  writeFileSync(join(ctl, 'command'), [...mounts, `cd ${shellQuote(cwd)} || exit 125`, `exec ${options.command.map(shellQuote).join(' ')}`].join('\n') + '\n');
}
