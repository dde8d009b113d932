// The helper the launcher started. Spawned by the frontend, the helper can
// start only once the frontend's own Node has (~0.35 s in a nested L1), and
// its code's load is then the path to the guest's first instruction while
// the frontend waits (docs/host-kvm.md, "Now the helper's own load is the
// floor"). So for `run` and `exec` bin/tsvmm starts it first, in the
// background, jailed as the frontend would have (the script `npm run build`
// generates from the same definitions: helper-launch-script.ts), and then
// becomes the frontend's Node: the helper is the frontend's child.
//
// A shell cannot make the socketpairs spawn gives a child, so the two meet
// over a socket instead: the frontend listens at a path the launcher chose
// in a directory the frontend makes its own (mode 0700; if that fails, the
// launched helper is killed and one spawned as before), and the helper,
// once its code has loaded, connects five times: its stdin, stdout, stderr,
// descriptor socket and IPC channel (helper/frontend-connection.ts).
// Connections are accepted in the order they were made. The channel speaks
// Node's own 'json' framing, one message a line, which the helper's Node
// serves as for a spawned child.
//
// If the frontend dies first, the helper dies too: the launcher starts it
// with a parent-death signal. A launched helper the command line does not
// want is killed; libuv reaps only what it spawned, so this reaps it
// (reap-child.ts, on SIGCHLD).
import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { FrontendMessage, HelperMessage } from '../helper/helper-protocol.js';
import { UNIX_PATH_MAX } from '../net/net-spec.js';
import { childPids } from '../sandbox/jail-launch.js';
import type { HelperChild, HelperLaunch, ProcessEnd } from './process-launch.js';
import { reapChild } from './reap-child.js';

/** `PID:SANDBOX:SOCKET` (SANDBOX 1 or 0), as the launcher exports it to the frontend. */
export const LAUNCHED_HELPER_ENV = 'TSVMM_LAUNCHED_HELPER';

export interface LaunchedHelperSpec {
  readonly pid: number;
  readonly sandbox: boolean;
  readonly socket: string;
}

/** The launcher's word on the helper it started, or undefined when it started none (or said something malformed). */
export function parseLaunchedHelper(value: string | undefined): LaunchedHelperSpec | undefined {
  const m = /^([1-9][0-9]*):([01]):(\/.+)$/.exec(value ?? '');
  if (!m) return undefined;
  return { pid: Number(m[1]), sandbox: m[2] === '1', socket: m[3] };
}

/** The helper's streams in the order it connects them (frontend-connection.ts). */
const STREAMS = ['stdin', 'stdout', 'stderr', 'descriptors', 'channel'] as const;

/** How often an ending helper is looked for (expectExit). */
const EXIT_POLL_MS = 10;

/** How long the frontend waits for the helper to connect once it needs it: seconds at most even in a nested L1, so one that has not is stuck. */
export const LAUNCHED_HELPER_CONNECT_TIMEOUT_MS = 60_000;

/** More than any message the helper sends, unfinished: the channel is cut (a jailed helper may be hostile). */
const MAX_PENDING_MESSAGE = 16 << 20;

export class LaunchedHelper implements HelperLaunch {
  readonly inheritedFds: readonly number[] = [];
  /** It was started just before the frontend's Node, by the same process. */
  readonly spawnedAt = performance.timeOrigin;
  readonly pid: number;
  readonly sandbox: boolean;
  readonly ended: Promise<ProcessEnd>;
  private readonly directory: string;
  private readonly server: Server;
  private readonly sockets: Socket[] = [];
  private readonly connected: Promise<boolean>;
  private onConnected!: (ok: boolean) => void;
  private exit: ProcessEnd | undefined;
  private onExit!: () => void;
  private adopted = false;
  /** Why it will not connect, for the debug log, once that is known. */
  whyNot: string | undefined;
  private readonly watchChild = () => this.reap();
  private untilReaped: NodeJS.Timeout | undefined;
  private connectDeadline: NodeJS.Timeout | undefined;
  private readonly killUnused = () => this.discard();

  /**
   * Listens for the helper `spec` names, which must be this process's child;
   * throws when it is not, or when its socket's directory cannot be made
   * (`discardLaunchedHelper` ends it then).
   */
  constructor(
    spec: LaunchedHelperSpec,
    private readonly connectTimeoutMs = LAUNCHED_HELPER_CONNECT_TIMEOUT_MS,
  ) {
    if (!isChildOfThisProcess(spec.pid)) throw new Error(`process ${spec.pid} is not this process's child`);
    if (Buffer.byteLength(spec.socket) > UNIX_PATH_MAX) throw new Error(`the launcher's socket path is longer than ${UNIX_PATH_MAX} bytes`);
    this.pid = spec.pid;
    this.sandbox = spec.sandbox;
    this.directory = dirname(spec.socket);
    // Not recursive: a directory that is there already is someone else's, or a dead frontend's.
    mkdirSync(this.directory, { mode: 0o700 });
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    this.server.on('error', (e) => {
      this.whyNot ??= `its socket failed: ${e.message}`;
      this.discard();
    });
    this.server.unref();
    this.server.listen(spec.socket);
    this.connected = new Promise((resolve) => (this.onConnected = resolve));
    const exited = new Promise<void>((resolve) => (this.onExit = resolve));
    this.ended = exited.then(async () => {
      // Its output drained, as for a spawned child's 'close'.
      await Promise.all(this.sockets.slice(1, 3).map((s) => (s.closed ? undefined : new Promise((resolve) => s.once('close', resolve)))));
      return this.exit!;
    });
    process.on('SIGCHLD', this.watchChild);
    process.once('exit', this.killUnused);
    this.reap(); // it may have died before the frontend listened
  }

  /**
   * Resolves true once the helper has connected all its streams, false if it
   * ended (or was discarded) first. The caller waits for it now: until then
   * the listener did not keep tsvmm running (a bad command line ends it at once).
   */
  connection(): Promise<boolean> {
    this.server.ref();
    // One alive but silent (stuck loading, say) is not waited for: it is
    // ended, and the caller starts another (helper-process.ts).
    if (this.whyNot === undefined && this.sockets.length < STREAMS.length)
      this.connectDeadline ??= setTimeout(() => {
        this.whyNot ??= `it did not connect within ${this.connectTimeoutMs / 1000} s`;
        this.discard();
      }, this.connectTimeoutMs).unref(); // the listener keeps tsvmm waiting, not this
    return this.connected;
  }

  descriptorSocketFd(): number | undefined {
    const fd = (this.sockets[STREAMS.indexOf('descriptors')] as (Socket & { _handle?: { fd?: number } }) | undefined)?._handle?.fd;
    return this.exit || fd === undefined || fd < 0 ? undefined : fd;
  }

  adopt(): HelperChild {
    const [stdin, stdout, stderr, descriptors, channel] = this.sockets;
    if (!channel) throw new Error('the launched helper has not connected');
    this.adopted = true;
    process.off('exit', this.killUnused);
    descriptors.destroy();
    for (const s of [stdin, stdout, stderr, channel]) s.ref();
    return new LaunchedHelperChild(this, stdin, stdout, stderr, channel);
  }

  discard(): void {
    if (this.adopted) return;
    this.whyNot ??= 'discarded';
    process.off('exit', this.killUnused);
    this.signal('SIGKILL');
    this.stopListening();
    this.sockets.forEach((s) => s.destroy());
    this.onConnected(false);
  }

  /** Sends it `signal` while it is there to receive it (its pid stays its own until reaped). */
  signal(signal: NodeJS.Signals): boolean {
    if (this.exit) return false;
    process.kill(this.pid, signal);
    if (signal === 'SIGKILL') this.expectExit();
    return true;
  }

  /**
   * Its end is near (killed, or its channel closed): until it is reaped a
   * timer keeps tsvmm waiting for it, which the SIGCHLD listener does not
   * (the listener may still be first).
   */
  expectExit(): void {
    if (this.exit || this.untilReaped) return;
    this.untilReaped = setInterval(() => this.reap(), EXIT_POLL_MS);
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {}); // a helper that dies closes them; how it ended is reported
    socket.unref();
    this.sockets.push(socket);
    if (this.sockets.length < STREAMS.length) return;
    this.stopListening();
    this.onConnected(this.exit === undefined);
  }

  private stopListening(): void {
    clearTimeout(this.connectDeadline);
    // Closing unlinks the socket (libuv does for a path it bound).
    if (this.server.listening) this.server.close();
    rmSync(this.directory, { recursive: true, force: true });
  }

  private reap(): void {
    if (this.exit) return;
    const exit = reapChild(this.pid);
    if (!exit) return;
    this.exit = exit;
    clearInterval(this.untilReaped);
    this.whyNot ??= `it ended (${exit.signal ?? `status ${exit.code}`})`;
    process.off('SIGCHLD', this.watchChild);
    if (!this.adopted) this.discard();
    this.onExit();
  }
}

/** Ends a launched helper that cannot be taken (LaunchedHelper's constructor refused it), if it is this process's child. */
export function discardLaunchedHelper(spec: LaunchedHelperSpec): void {
  if (!isChildOfThisProcess(spec.pid)) return;
  process.kill(spec.pid, 'SIGKILL');
  // Reaped at once, or left to init when the frontend exits: it is gone either way.
  setTimeout(() => reapChild(spec.pid), 100).unref();
}

/** Whether `pid` is this process's child. */
function isChildOfThisProcess(pid: number): boolean {
  return childPids(process.pid).includes(pid);
}

/** The launched helper as the frontend's HelperProcess uses it, like a spawned ChildProcess. */
class LaunchedHelperChild extends EventEmitter implements HelperChild {
  connected = true;
  readonly pid: number;

  constructor(
    private readonly launch: LaunchedHelper,
    readonly stdin: Socket,
    readonly stdout: Socket,
    readonly stderr: Socket,
    private readonly channel: Socket,
  ) {
    super();
    this.pid = launch.pid;
    let pending = '';
    channel.setEncoding('utf8');
    channel.on('data', (chunk: string) => {
      let from = 0;
      for (let end; (end = chunk.indexOf('\n', from)) >= 0; from = end + 1) {
        this.receive(pending + chunk.slice(from, end));
        pending = '';
      }
      pending += chunk.slice(from);
      if (pending.length > MAX_PENDING_MESSAGE) channel.destroy();
    });
    channel.resume(); // accepted paused, as every stream of the helper's is until its reader is there
    channel.on('close', () => {
      this.connected = false;
      launch.expectExit();
      this.emit('disconnect');
    });
  }

  send(message: FrontendMessage): boolean {
    return this.connected && this.channel.write(JSON.stringify(message) + '\n');
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    return this.launch.signal(signal);
  }

  private receive(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      return; // not from Node's channel: a hostile helper's, and nothing to act on
    }
    // Node's own traffic on the channel (NODE_HANDLE and the like), none of which tsvmm uses.
    if (typeof (message as { cmd?: unknown } | null)?.cmd === 'string' && (message as { cmd: string }).cmd.startsWith('NODE_')) return;
    this.emit('message', message as HelperMessage);
  }
}
