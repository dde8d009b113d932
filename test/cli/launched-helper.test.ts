// The helper bin/tsvmm starts before the frontend's Node
// (src/cli/launched-helper.ts, src/helper/frontend-connection.ts), with the
// function the build generated (dist/bundle/helper-launch.sh) and the real
// helper: a small frontend of the test's, which the shell becomes as
// bin/tsvmm does, takes it over the socket and talks to it on its IPC
// channel. No KVM: a helper that has not been given a VM answers `status`.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HELPER_LAUNCH_SCRIPT, TSVMM_CLI, entryPointArgs } from '../../src/entry-points.js';
import { PROJECT_ROOT } from '../../src/project-root.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-launched-helper-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const runtimeDir = join(dir, 'run');
mkdirSync(runtimeDir, { mode: 0o700 });
const NOBODY = 65534;
const launchedHelper = join(PROJECT_ROOT, 'dist', 'src', 'cli', 'launched-helper.js');

// The test's frontend: one scenario per argument, its findings as JSON on stdout.
const frontend = join(dir, 'frontend.mjs');
writeFileSync(
  frontend,
  `import { mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { LaunchedHelper, discardLaunchedHelper, parseLaunchedHelper } from ${JSON.stringify(launchedHelper)};
const spec = parseLaunchedHelper(process.env.TSVMM_LAUNCHED_HELPER);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const scenario = process.argv[2];
if (scenario === 'talk' || scenario === 'hostile') {
  const helper = new LaunchedHelper(spec);
  const connected = await helper.connection();
  if (!connected) throw new Error('not connected: ' + helper.whyNot);
  const child = helper.adopt();
  // Read as the frontend reads them (helper-process.ts): a stream nobody reads never ends.
  child.stdout.resume();
  child.stderr.resume();
  const messages = [];
  child.on('message', (m) => messages.push(m));
  const disconnected = new Promise((resolve) => child.on('disconnect', resolve));
  if (scenario === 'talk') {
    child.send({ type: 'status' });
    while (messages.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    child.kill('SIGKILL');
  }
  await disconnected;
  const ended = await helper.ended;
  out({ connected, messages, ended, socketDirectoryLeft: readdirSync(dirname(dirname(spec.socket))) });
} else if (scenario === 'died') {
  process.kill(spec.pid, 'SIGKILL');
  const helper = new LaunchedHelper(spec);
  out({ connected: await helper.connection(), whyNot: helper.whyNot });
} else if (scenario === 'stuck') {
  process.kill(spec.pid, 'SIGSTOP'); // before the socket's directory exists: it cannot have connected
  const helper = new LaunchedHelper(spec, 300);
  const connected = await helper.connection();
  const end = await helper.ended;
  out({ connected, whyNot: helper.whyNot, signal: end.signal, socketDirectoryLeft: readdirSync(dirname(dirname(spec.socket))) });
} else if (scenario === 'refused') {
  const refusals = [];
  try { new LaunchedHelper({ ...spec, pid: 1 }); } catch (e) { refusals.push(e.message); }
  mkdirSync(dirname(spec.socket));
  try { new LaunchedHelper(spec); } catch (e) { refusals.push(e.code); }
  rmdirSync(dirname(spec.socket));
  discardLaunchedHelper({ ...spec, pid: 1 }); // not this process's child: left alone
  discardLaunchedHelper(spec);
  await new Promise((resolve) => setTimeout(resolve, 300));
  out({ refusals });
}
`,
);

// A hostile helper's side of the channel (what a jailed helper taken over could
// send): not JSON, Node's own traffic, one real message, then a line without
// end. Connected as the real helper connects, in the same order.
const hostileHelper = join(dir, 'hostile-helper.mjs');
writeFileSync(
  hostileHelper,
  `import { connect } from 'node:net';
const sockets = [];
for (let i = 0; i < 5; i++) {
  for (;;) {
    const s = connect(process.env.TSVMM_FRONTEND_SOCKET);
    const ok = await new Promise((resolve) => { s.once('connect', () => resolve(true)); s.once('error', () => resolve(false)); });
    if (ok) { sockets.push(s); break; }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
const channel = sockets[4];
channel.write('not json\\n{"cmd":"NODE_HANDLE","type":"exit"}\\n{"type":"state","state":"running"}\\n');
channel.write(Buffer.alloc(17 << 20, 0x20));
channel.on('close', () => process.exit(0));
channel.on('error', () => process.exit(0));
`,
);

/** Starts the helper as bin/tsvmm would for `words`, then runs the test's frontend for `scenario`; its findings. */
function scenario(name: string, words: string[]): Record<string, unknown> {
  const r = spawnSync('sh', ['-c', '. "$0"; tsvmm_launch_helper "$@"; exec "$NODE" "$FRONTEND" "$SCENARIO"', HELPER_LAUNCH_SCRIPT, ...words], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir, NODE: process.execPath, FRONTEND: frontend, SCENARIO: name },
    timeout: 60_000,
  });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

/** Whether `pid` has ended (gone, or a zombie nobody reaps in this container). */
function ended(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitUntil(done: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 20_000; !done(); await new Promise((resolve) => setTimeout(resolve, 50)))
    if (Date.now() > end) throw new Error(`never: ${what}`);
}

describe('the helper the launcher starts', () => {
  it.each([
    ['jailed', ['run']],
    ['unjailed', ['run', '--no-sandbox']],
  ])("connects its streams to the frontend and answers on its IPC channel (%s)", (_kind, words) => {
    const found = scenario('talk', words);
    expect(found).toEqual({
      connected: true,
      messages: [{ type: 'state', state: 'starting' }],
      // Through unshare, the helper's death by signal comes back as unshare's.
      ended: { code: null, signal: 'SIGKILL' },
      socketDirectoryLeft: [],
    });
  });

  it('drops what is not a message on its channel, and cuts a channel that never ends its line', () => {
    const socket = join(runtimeDir, 'tsvmm-helper-hostile', 'socket');
    const r = spawnSync('sh', ['-c', '"$NODE" "$HOSTILE" & TSVMM_LAUNCHED_HELPER="$!:0:$TSVMM_FRONTEND_SOCKET" exec "$NODE" "$FRONTEND" hostile'], {
      encoding: 'utf8',
      env: { ...process.env, NODE: process.execPath, HOSTILE: hostileHelper, FRONTEND: frontend, TSVMM_FRONTEND_SOCKET: socket },
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ connected: true, messages: [{ type: 'state', state: 'running' }], ended: { code: 0, signal: null }, socketDirectoryLeft: [] });
  });

  it('connects for an ordinary user too, jailed in a user namespace of its own', () => {
    if (process.getuid!() !== 0) throw new Error('this test runs the helper as another user, which needs root');
    // As in exec.kvm.test.ts: the checkout (maybe in a private directory) bind-mounted where nobody reaches it.
    const reachable = mkdtempSync(join(tmpdir(), 'tsvmm-launched-helper-checkout-'));
    const userDir = mkdtempSync(join(tmpdir(), 'tsvmm-launched-helper-user-'));
    try {
      chmodSync(reachable, 0o755);
      chmodSync(userDir, 0o755);
      const userRuntimeDir = join(userDir, 'run');
      mkdirSync(userRuntimeDir, { mode: 0o700 });
      chownSync(userRuntimeDir, NOBODY, NOBODY);
      const moved = (text: string) => text.replaceAll(PROJECT_ROOT, reachable);
      const script = join(userDir, 'helper-launch.sh');
      writeFileSync(script, moved(readFileSync(HELPER_LAUNCH_SCRIPT, 'utf8')), { mode: 0o644 });
      const userFrontend = join(userDir, 'frontend.mjs');
      writeFileSync(userFrontend, moved(readFileSync(frontend, 'utf8')), { mode: 0o644 });
      const r = spawnSync(
        'unshare',
        ['--mount', '--', 'sh', '-c', `mount --bind "$0" "$1" && exec setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups -- sh -c '. "$0"; tsvmm_launch_helper run; exec "$1" "$2" talk' "$2" "$3" "$4"`, PROJECT_ROOT, reachable, script, process.execPath, userFrontend],
        { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: userDir, XDG_RUNTIME_DIR: userRuntimeDir }, timeout: 60_000 },
      );
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({ connected: true, messages: [{ type: 'state', state: 'starting' }], ended: { code: null, signal: 'SIGKILL' }, socketDirectoryLeft: [] });
    } finally {
      rmSync(reachable, { recursive: true, force: true });
      rmSync(userDir, { recursive: true, force: true });
    }
  });

  it('is replaced when it ended before it connected, and says why', () => {
    expect(scenario('died', ['run'])).toEqual({ connected: false, whyNot: 'it ended (SIGKILL)' });
  });

  it('is ended, not waited for, when it does not connect in time (stuck), and says why', () => {
    // Unjailed, the launcher's pid is the helper's own (jailed, it is unshare's, whose child the helper is).
    expect(scenario('stuck', ['run', '--no-sandbox'])).toEqual({ connected: false, whyNot: 'it did not connect within 0.3 s', signal: 'SIGKILL', socketDirectoryLeft: [] });
  });

  it("is not taken where the frontend cannot make its socket's directory its own, nor a process that is not the frontend's child", () => {
    expect(scenario('refused', ['run'])).toEqual({ refusals: ["process 1 is not this process's child", 'EEXIST'] });
  });

  it('dies with a frontend that dies before it connected', async () => {
    // A "frontend" that never listens: `sleep`, killed.
    const shell = spawn('sh', ['-c', '. "$0"; tsvmm_launch_helper run; echo "$TSVMM_LAUNCHED_HELPER"; exec sleep 60', HELPER_LAUNCH_SCRIPT], {
      env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const told = await new Promise<string>((resolve) => shell.stdout.once('data', (d: Buffer) => resolve(d.toString())));
      const pid = Number(told.split(':')[0]);
      // unshare's child, the helper's node, once it is there.
      let helperPid = 0;
      await waitUntil(() => (helperPid = Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0] || 0)) > 0, 'the helper started');
      shell.kill('SIGKILL');
      await waitUntil(() => ended(pid) && ended(helperPid), 'the helper ended with its frontend');
    } finally {
      shell.kill('SIGKILL');
    }
  });

  it('is ended, and its socket directory removed, when the command line turns out to need no helper', () => {
    const log = join(dir, 'bad-kernel.log');
    const r = spawnSync(TSVMM_CLI, ['run', '--log-level', 'debug', '--log-file', log, '--kernel', join(dir, 'no-such-kernel'), '--', 'true'], {
      encoding: 'utf8',
      env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir },
      timeout: 60_000,
    });
    expect(r.stderr).toContain('cannot read the kernel');
    const report = JSON.parse(readFileSync(log, 'utf8').split('\n').find((l) => l.includes('"msg":"early start"'))!);
    expect(report.launcherHelper).toBe('taken');
    expect(ended(report.started.helper)).toBe(true);
    expect(readdirSync(runtimeDir)).toEqual([]);
  });

  it("does not connect through a socket directory others may enter, nor over descriptors that are not the launcher's /dev/null", async () => {
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o755);
    let connections = 0;
    const server = createServer(() => connections++).listen(join(open, 'socket'));
    await once(server, 'listening');
    const devNull = openSync('/dev/null', 'r+');
    try {
      const helper = spawn(process.execPath, entryPointArgs('helper'), { env: { TSVMM_FRONTEND_SOCKET: join(open, 'socket') }, stdio: [devNull, devNull, devNull, devNull, devNull] });
      const [status] = await once(helper, 'exit');
      expect({ status, connections }).toEqual({ status: 1, connections: 0 });
    } finally {
      closeSync(devNull);
      server.close();
    }
    const closed = join(dir, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    const withPipe = spawnSync(process.execPath, entryPointArgs('helper'), { encoding: 'utf8', env: { TSVMM_FRONTEND_SOCKET: join(closed, 'socket') }, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    expect(withPipe.status).not.toBe(0);
    expect(withPipe.stderr).toContain("fd 2 is not the launcher's /dev/null");
  });
});
