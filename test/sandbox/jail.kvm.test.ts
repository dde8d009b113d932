// Real-kernel tests: a node child is launched through jail-launch (unshare),
// jails itself with enterJail() and runs a scenario from fixtures/jailed-child.mjs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildJailLaunch, checkJailSupport, childPids } from '../../src/sandbox/jail-launch.js';
import { readSeccompAuditRecords, explainSeccompDeath } from '../../src/sandbox/seccomp-audit.js';
import { buildSandboxForTests, sandboxTreeOthersCanRead } from './support/build-sandbox.js';
import { describeNeeding, itNeeding, KVM_PROBLEM } from '../support/host-requirements.js';
import { deadline } from '../support/deadline.js';

const isRoot = process.getuid?.() === 0;
const support = checkJailSupport();
const jailProblem = KVM_PROBLEM ?? (support.ok ? undefined : support.reason);
/** Scenarios run from here: the checkout, or a copy others can read (the unprivileged runs need that). */
let tree = { root: '', build: '', remove: () => {} };
const fixture = () => path.join(tree.root, 'test', 'sandbox', 'fixtures', 'jailed-child.mjs');
const nodeModules = () => path.join(tree.root, 'node_modules');

interface RunOptions {
  jail?: Record<string, unknown>;
  /** More arguments for the scenario. */
  args?: string[];
  policyOptions?: Record<string, unknown>;
  nodeArgs?: string[];
  /** Run the launcher as uid/gid 65534 (so the helper gets a user namespace). */
  unprivileged?: boolean;
  /** Called with each event; may write to the child's stdin. */
  onEvent?: (e: ChildEvent, child: { write: (s: string) => void; killLauncher: () => void }) => void | Promise<void>;
  stdin?: string;
  /** Give the child a Node IPC channel; called with each message it sends. */
  onMessage?: (m: unknown, send: (m: unknown) => void) => void;
  /** Kill the child and fail after this long (default RUN_DEADLINE_MS); a hung child never reaches vitest's timeout. */
  deadlineMs?: number;
}

/** Every scenario exits in under 2 s here; a stuck one is killed long before vitest's 60 s. */
const RUN_DEADLINE_MS = deadline(10_000);

interface ChildEvent {
  event: string;
  [k: string]: any;
}

interface RunResult {
  events: ChildEvent[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  find: (name: string) => ChildEvent | undefined;
}

let kvmFd = -1;
let imageFd = -1;
let imagePath = '';

beforeAll(() => {
  if (jailProblem) return;
  tree = sandboxTreeOthersCanRead(buildSandboxForTests());
  kvmFd = fs.openSync('/dev/kvm', 'r+');
  imagePath = path.join(os.tmpdir(), `tsvmm-jail-test-${process.pid}.img`);
  imageFd = fs.openSync(imagePath, 'w+');
  fs.ftruncateSync(imageFd, 1 << 20);
});

afterAll(() => {
  if (kvmFd >= 0) fs.closeSync(kvmFd);
  if (imageFd >= 0) fs.closeSync(imageFd);
  if (imagePath) fs.rmSync(imagePath, { force: true });
  tree.remove();
});

function runJailed(scenario: string, opts: RunOptions = {}): Promise<RunResult> {
  const launch = buildJailLaunch({
    script: fixture(),
    scriptArgs: [scenario, ...(opts.args ?? [])],
    nodeArgs: opts.nodeArgs,
    userNamespace: opts.unprivileged ? true : undefined,
    fds: { kvm: kvmFd, image: imageFd },
    stdio: ['pipe', 'pipe', 'pipe'],
    extraStdio: opts.onMessage ? ['ipc'] : [],
    env: {
      ...process.env,
      TSVMM_SANDBOX_BUILD: tree.build,
      TSVMM_JAIL_OPTIONS: JSON.stringify({ ...opts.jail, policyOptions: opts.policyOptions }),
    },
  });
  const [command, args] = opts.unprivileged
    ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', launch.command, ...launch.args]]
    : [launch.command, launch.args];
  // setpriv execs unshare: child.pid is unshare's, and killing it kills the helper (--kill-child).
  const child = spawn(command, args, { stdio: launch.stdio, env: launch.env });
  const events: ChildEvent[] = [];
  let stderr = '';
  let pending = '';
  let failure: string | undefined;
  let helperPid: number | undefined; // host pid, from the 'jailed' event
  /**
   * Ends the run with an error: records why (first reason wins) and kills the
   * launcher and the helper itself (which may have outlived the launcher); the
   * 'close' that follows rejects.
   */
  const abort = (why: string) => {
    if (failure !== undefined) return;
    helperPid ??= child.pid === undefined ? undefined : childPids(child.pid)[0];
    failure = `${why}\n  helper threads: ${describeHelperThreads(helperPid)}`;
    child.kill('SIGKILL');
    if (helperPid !== undefined) {
      try {
        process.kill(helperPid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  const deadlineMs = opts.deadlineMs ?? RUN_DEADLINE_MS;
  const timer = setTimeout(() => abort(`scenario '${scenario}' did not exit within ${deadlineMs} ms`), deadlineMs);
  const write = (s: string) => child.stdin!.write(s);
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    pending += d;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line) as ChildEvent;
      events.push(e);
      if (e.event === 'jailed') helperPid = e.report.hostPid;
      // A throwing handler would otherwise leave the child waiting for an answer forever.
      Promise.resolve()
        .then(() => opts.onEvent?.(e, { write, killLauncher: () => child.kill('SIGKILL') }))
        .catch((err: unknown) => abort(`onEvent('${e.event}') threw: ${err instanceof Error ? err.stack : String(err)}`));
    }
  });
  if (opts.stdin) write(opts.stdin);
  if (opts.onMessage) child.on('message', (m) => opts.onMessage!(m, (r) => child.send(r as never)));
  return new Promise((resolve, reject) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure !== undefined) {
        reject(new Error(`${failure}\n  events: ${JSON.stringify(events)}\n  stderr: ${stderr.trim() || '(empty)'}`));
        return;
      }
      resolve({ events, code, signal, stderr, find: (name) => events.find((e) => e.event === name) });
    });
  });
}

/** One line per helper thread (tid, state, wchan) for a failure message: where a stuck child waits. */
function describeHelperThreads(helper: number | undefined): string {
  if (helper === undefined) return '(helper process not found)';
  try {
    return fs
      .readdirSync(`/proc/${helper}/task`)
      .map((tid) => {
        const read = (f: string) => {
          try {
            return fs.readFileSync(`/proc/${helper}/task/${tid}/${f}`, 'utf8').trim();
          } catch {
            return '?';
          }
        };
        return `${tid} ${read('stat').replace(/^.*\) /, '').split(' ')[0]} ${read('wchan')}`;
      })
      .join(', ');
  } catch {
    return `(pid ${helper} gone)`;
  }
}

/** Fields of /proc/<pid>/task/<tid>/status for each thread; a thread that exits while being read is left out. */
function threadStatus(pid: number): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') continue;
      throw e;
    }
    const fields: Record<string, string> = { tid };
    for (const line of text.split('\n')) {
      const m = /^([A-Za-z_]+):\s*(.*)$/.exec(line);
      if (m) fields[m[1]] = m[2];
    }
    out.push(fields);
  }
  return out;
}

interface ThreadsRun {
  result: RunResult;
  hostPid: number;
  /** Every thread of the helper while its Worker (created after the jail) is alive. */
  statuses: Array<Record<string, string>>;
  /** Threads that appeared after the jail: the Worker's among them. */
  newThreads: Array<Record<string, string>>;
}

/**
 * The 'threads' scenario: lists the helper's threads after the jail, lets it
 * start a Worker, reads every thread's status while the Worker is alive, then
 * lets it finish.
 */
async function runThreads(unprivileged: boolean): Promise<ThreadsRun> {
  let hostPid = 0;
  let before = new Set<string>();
  let statuses: Array<Record<string, string>> = [];
  const result = await runJailed('threads', {
    unprivileged,
    onEvent: (e, child) => {
      if (e.event === 'jailed') hostPid = e.report.hostPid;
      if (e.event === 'pre-worker') {
        before = new Set(threadStatus(hostPid).map((s) => s.tid));
        child.write('next\n');
      }
      if (e.event === 'ready') {
        statuses = threadStatus(hostPid);
        child.write('go\n');
      }
    },
  });
  return { result, hostPid, statuses, newThreads: statuses.filter((s) => !before.has(s.tid)) };
}

describe('jail launch', () => {
  it('builds an unshare command line with the fds as 3, 4, ...', () => {
    const l = buildJailLaunch({ script: '/x/helper.js', scriptArgs: ['--a'], fds: { kvm: 17, disk0: 21 }, userNamespace: true, nodePath: '/n' });
    expect(l.args).toEqual([
      '--mount', '--pid', '--fork', '--kill-child', '--net', '--ipc', '--uts', '--cgroup', '--user', '--map-root-user',
      '--', '/n', '/x/helper.js', '--a',
    ]);
    expect(l.stdio).toEqual(['pipe', 'pipe', 'inherit', 17, 21]);
    expect(l.childFds).toEqual({ kvm: 3, disk0: 4 });
    expect(l.env.TSVMM_HELPER_FDS).toBe('kvm=3,disk0=4');
    expect(buildJailLaunch({ script: '/h', userNamespace: false }).args).not.toContain('--user');
  });

  it('says whether this host can create the namespaces', () => {
    // Informational on hosts that cannot; the kernel tests below are skipped there.
    if (!support.ok) console.warn(`jail tests skipped: ${support.reason}`);
    expect(typeof support.ok).toBe('boolean');
    const userns = checkJailSupport({ userNamespace: true });
    if (!userns.ok) expect(userns.reason).toMatch(/user namespace|unshare|permitted/i);
  });

  it('explains a launcher that cannot run in one line', () => {
    const r = checkJailSupport({ unsharePath: '/nonexistent/unshare', userNamespace: false });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(/ENOENT/);
      expect(r.reason).not.toContain('\n');
    }
  });
});

describeNeeding(jailProblem, 'jailed helper on the real kernel', () => {
  it('runs the representative workload (KVM_RUN in a worker, kick, irqfd, poll, timers, I/O) under the kill policy', async () => {
    const r = await runJailed('workload', {
      jail: { root: { readOnlyBinds: [nodeModules()] }, limits: { maxFileSize: 1 << 20 } },
      stdin: 'ping\n',
    });
    const lines = r.events.filter((e) => e.event === 'log').map((e) => e.line);
    expect(r.signal, `${r.stderr}\n${lines.join('\n')}`).toBeNull();
    expect(lines).toContain('control pong ping');
    expect(lines).toContain('workload ok');
    expect(r.code).toBe(0);
    const jailed = r.find('jailed')!.report;
    expect(jailed.seccomp).toBe('kill');
    if (isRoot) expect(jailed.uid).toBe(65534);
    const before = r.find('before')!;
    expect(before.pid).toBe(1); // alone in its pid namespace
    expect(before.interfaces.every((n: string) => n === 'lo')).toBe(true);
  });

  it('sees no host files: / is an empty read-only tmpfs', async () => {
    const r = await runJailed('open-host-file');
    expect(r.find('open')).toMatchObject({ passwd: 'ENOENT', proc: 'ENOENT', kvm: 'ENOENT' });
    expect(r.code).toBe(0);
    const off = await runJailed('write-root', { jail: { seccomp: 'off' } });
    expect(off.find('root')!.entries).toEqual([]);
    expect(off.find('write')).toMatchObject({ result: 'EROFS' });
    // with the filter on, a write-mode open is itself a violation
    const on = await runJailed('write-root');
    expect(on.signal).toBe('SIGSYS');
  });

  it.each([
    ['', os.tmpdir()],
    // The jail stages its root on /tmp: a bind from under it must still be found.
    [', from under the staging directory', '/tmp'],
  ])("with the host's / shared (tsvmm exec): sees the host's files read-only, and a writable bind on them%s", async (_, parent) => {
    const writable = fs.mkdtempSync(path.join(parent, 'tsvmm-jail-rw-'));
    fs.chmodSync(writable, 0o777); // the jail drops root to nobody
    try {
      const jail = { seccomp: 'off', root: { readOnlyBinds: ['/'], writableBinds: [writable] }, limits: { maxFileSize: 1 << 20 } };
      const open = await runJailed('open-host-file', { jail });
      expect(open.find('open')).toMatchObject({ passwd: 'opened' });
      expect(open.code).toBe(0);
      const r = await runJailed('write-root', { jail });
      expect(r.find('root')!.entries).toContain('etc');
      expect(r.find('write')).toMatchObject({ result: 'EROFS' });
      const inBind = await runJailed('write-file', { jail, args: [path.join(writable, 'x')] });
      expect(inBind.find('write')).toMatchObject({ result: 'written' });
      expect(fs.readFileSync(path.join(writable, 'x'), 'utf8')).toBe('x');
    } finally {
      fs.rmSync(writable, { recursive: true, force: true });
    }
  });

  it('binds outer directories first: a read-only one inside a writable one stays read-only', async () => {
    const writable = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-jail-rw-'));
    const inner = path.join(writable, 'ro');
    fs.mkdirSync(inner);
    fs.chmodSync(writable, 0o777); // the jail drops root to nobody
    fs.chmodSync(inner, 0o777);
    try {
      // Listed inner first, as a read-only share given before a writable one would be.
      const jail = { seccomp: 'off', root: { readOnlyBinds: [inner], writableBinds: [writable] }, limits: { maxFileSize: 1 << 20 } };
      const outer = await runJailed('write-file', { jail, args: [path.join(writable, 'x')] });
      expect(outer.find('write')).toMatchObject({ result: 'written' });
      const inside = await runJailed('write-file', { jail, args: [path.join(inner, 'y')] });
      expect(inside.find('write')).toMatchObject({ result: 'EROFS' });
      expect(fs.existsSync(path.join(inner, 'y'))).toBe(false);
    } finally {
      fs.rmSync(writable, { recursive: true, force: true });
    }
  });

  it('has only a loopback interface (network namespace)', async () => {
    const r = await runJailed('idle');
    expect(r.find('before')!.interfaces.filter((n: string) => n !== 'lo')).toEqual([]);
    expect(r.code).toBe(0);
  });

  it('is killed with SIGSYS for a syscall outside the policy, and the kernel log names it', async () => {
    const r = await runJailed('socket');
    expect(r.find('about-to')).toBeDefined();
    expect(r.find('returned')).toBeUndefined();
    expect(r.signal).toBe('SIGSYS');
    const hostPid = r.find('jailed')!.report.hostPid;
    const records = readSeccompAuditRecords(hostPid);
    if (records !== undefined) {
      expect(records.some((x) => x.syscallName === 'socket' && x.action === 'kill-process')).toBe(true);
      expect(explainSeccompDeath(hostPid)).toMatch(/syscall 41 \(socket\)/);
    }
  });

  it('is killed with SIGSYS for an ioctl request outside the list', async () => {
    const r = await runJailed('forbidden-ioctl');
    expect(r.find('about-to')).toBeDefined();
    expect(r.find('returned')).toBeUndefined();
    expect(r.signal).toBe('SIGSYS');
  });

  it('still runs allowed KVM ioctls on the inherited /dev/kvm fd', async () => {
    const r = await runJailed('kvm-ioctl');
    expect(r.find('kvm')).toMatchObject({ api: 12 });
    expect(r.find('kvm')!.vm).toBeGreaterThan(2);
    expect(r.code).toBe(0);
  });

  it('in log mode lets the call through and the kernel logs it', async () => {
    const r = await runJailed('socket', { jail: { seccomp: 'log' } });
    expect(r.code).toBe(0);
    expect(r.find('returned')!.value).toBeGreaterThanOrEqual(0);
    const records = readSeccompAuditRecords(r.find('jailed')!.report.hostPid);
    if (records !== undefined) expect(records.some((x) => x.syscallName === 'socket' && x.action === 'log')).toBe(true);
  });

  it('covers every thread, including a Worker created after the jail (root: all ids dropped, no capabilities)', async () => {
    const { result: r, hostPid, statuses, newThreads } = await runThreads(false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.find('worker')!.answer).toBe(42);
    expect(statuses.length).toBeGreaterThanOrEqual(5); // main, V8 platform threads, the Worker, ...
    expect(newThreads.length, 'the Worker thread is among those read').toBeGreaterThanOrEqual(1);
    for (const s of statuses) {
      expect(s.Seccomp, `thread ${s.tid} ${s.Name}`).toBe('2');
      expect(s.NoNewPrivs).toBe('1');
      if (isRoot) {
        expect(s.Uid).toBe('65534\t65534\t65534\t65534');
        expect(s.Gid).toBe('65534\t65534\t65534\t65534');
        expect(s.Groups).toBe('');
        expect(s.CapEff).toBe('0000000000000000');
        expect(s.CapPrm).toBe('0000000000000000');
        expect(s.CapInh).toBe('0000000000000000');
        expect(s.CapAmb).toBe('0000000000000000');
      }
    }
    // The bounding set is per thread: threads that predate the jail keep theirs
    // (it only matters at execve, which seccomp and no_new_privs rule out).
    const main = statuses.find((s) => Number(s.tid) === hostPid)!;
    expect(main.CapBnd).toBe('0000000000000000');
  });

  itNeeding(isRoot ? undefined : 'only root can start the launcher as uid 65534', 'works unprivileged in a user namespace (every thread filtered, main thread without capabilities)', async () => {
    const { result: r, hostPid, statuses, newThreads } = await runThreads(true);
    expect(r.code, r.stderr + JSON.stringify(r.events)).toBe(0);
    expect(r.find('jailed')!.report.userNamespace).toBe(true);
    expect(newThreads.length, 'the Worker thread is among those read').toBeGreaterThanOrEqual(1);
    const main = statuses.find((s) => Number(s.tid) === hostPid)!;
    expect(main.CapEff).toBe('0000000000000000');
    expect(main.CapBnd).toBe('0000000000000000');
    for (const s of statuses) {
      expect(s.Seccomp, `thread ${s.tid}`).toBe('2');
      expect(s.NoNewPrivs).toBe('1');
      expect(s.Uid.split('\t')[0]).toBe('65534'); // the host sees the unprivileged user
    }
  });

  it('dies with its launcher: killing unshare kills the jailed helper (--kill-child outlives the uid drop)', async () => {
    for (const unprivileged of isRoot ? [false, true] : [false]) {
      let hostPid = 0;
      // 'close' comes only once the helper has closed its stdout, i.e. exited; a
      // helper that outlives unshare ends at the deadline instead, and is killed.
      const r = await runJailed('wait', {
        unprivileged,
        deadlineMs: deadline(5_000),
        onEvent: (e, child) => {
          if (e.event === 'jailed') hostPid = e.report.hostPid;
          if (e.event === 'waiting') child.killLauncher();
        },
      });
      expect(r.signal).toBe('SIGKILL');
      expect(hostPid).toBeGreaterThan(0);
    }
  });

  it('lets a Worker load modules after the jail only from read-only binds', async () => {
    const without = await runJailed('worker-loads-koffi');
    expect(String(without.find('worker')!.pid)).toMatch(/error .*Cannot find module/);
    const withBind = await runJailed('worker-loads-koffi', { jail: { root: { readOnlyBinds: [nodeModules()] } } });
    expect(withBind.find('worker')!.pid).toBe(1);
  });

  it('keeps Node IPC (process.send / "message") working through unshare and the filter', async () => {
    const got: unknown[] = [];
    const r = await runJailed('ipc', { onMessage: (m, send) => (got.push(m), send({ hello: 'from the frontend' })) });
    expect(r.code, r.stderr).toBe(0);
    expect(got).toEqual([{ hello: 'from the jail' }]);
    expect(r.find('ipc')!.reply).toEqual({ hello: 'from the frontend' });
  });

  it('under the device-process policy: KVM and tty ioctls die, isatty() says no, Node IPC works', async () => {
    const dev = { policyOptions: { kind: 'device-process' } };
    const kvm = await runJailed('kvm-ioctl', dev);
    expect(kvm.find('kvm')).toBeUndefined();
    expect(kvm.signal).toBe('SIGSYS');
    const tty = await runJailed('tty-ioctl', dev);
    expect(tty.find('about-to')).toBeDefined();
    expect(tty.find('returned')).toBeUndefined();
    expect(tty.signal).toBe('SIGSYS');
    const isatty = await runJailed('isatty', dev);
    expect(isatty.find('isatty')).toMatchObject({ value: -1, errno: os.constants.errno.ENOTTY });
    const got: unknown[] = [];
    const ipc = await runJailed('ipc', { ...dev, onMessage: (m, send) => (got.push(m), send({ hello: 'from the frontend' })) });
    expect(ipc.code, ipc.stderr).toBe(0);
    expect(got).toEqual([{ hello: 'from the jail' }]);
  });

  it('kills io_uring_setup after the jail, even in a policy that allows io_uring_enter (helper and device process)', async () => {
    for (const kind of ['helper', 'device-process']) {
      const r = await runJailed('io-uring-setup', { policyOptions: { kind, ioUring: true } });
      expect(r.find('about-to'), kind).toBeDefined();
      expect(r.find('returned'), kind).toBeUndefined();
      expect(r.signal, kind).toBe('SIGSYS');
    }
  });

  it('refuses writes past maxFileSize (RLIMIT_FSIZE) with EFBIG — SIGXFSZ is ignored by a pid-namespace init', async () => {
    const r = await runJailed('file-size', { jail: { limits: { maxFileSize: 1 << 20 } } });
    expect(r.find('wrote-inside-limit')).toBeDefined();
    expect(r.find('write-refused')).toMatchObject({ code: 'EFBIG' });
    expect(r.code).toBe(0);
  });

  it('with --jitless and the jitless policy refuses executable memory yet runs the workload', async () => {
    const jitless = { nodeArgs: ['--jitless'], policyOptions: { jit: false } };
    const exec = await runJailed('exec-memory', jitless);
    expect(exec.find('about-to')).toBeDefined();
    expect(exec.signal).toBe('SIGSYS');
    const r = await runJailed('workload', {
      ...jitless,
      jail: { root: { readOnlyBinds: [nodeModules()] }, limits: { maxFileSize: 1 << 20 } },
      stdin: 'ping\n',
    });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.events.filter((e) => e.event === 'log').map((e) => e.line)).toContain('workload ok');
  });
});
