// Networking inside the default guest: tsvmm vs QEMU 7.2 microvm
// (virtio-net-device) over the same backend, in one run.
//   passt: tsvmm `--net user,hostfwd=...` (passt --fd, started by tsvmm);
//          QEMU `-netdev stream` to a passt this bench starts on a Unix
//          socket, same binary, same options.
//   tap:   a tap device this bench makes (root only), each VMM in turn.
// Three phases, each timed here on the host: guest→host TCP (`dd | nc` to a
// sink in this process), host→guest TCP (to `nc -l` in the guest, through a
// port forward for passt), and `ping -A` (one echo in flight: packets per
// second at the round-trip limit). The guest prints its eth0 packet counters
// as each phase starts and ends; the VMM's host CPU outside its vCPU thread
// (vmm-cpu.ts, passt not counted) over the phase, divided by those packets,
// is its CPU per packet.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDefaultGuest } from '../../src/cli/default-guest.js';
import { withInitCommand, withKernelWords } from '../../src/cli/run-command.js';
import { findPasst } from '../../src/net/passt.js';
import { IN_L1_ENV } from '../nested/l1.js';
import { ip, withTapDevice } from './bench-tap.js';
import { parseExitStats, timedRun, type TimedRun } from './process-timing.js';
import { QEMU, QEMU_MICROVM, qemuGuestArgs, qemuKernelWords, qemuVirtioWords } from './qemu-reference.js';
import { cpuBetween, kernelPercent, snapshotCpu, type CpuSnapshot } from './vmm-cpu.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';
import type { Progress } from './progress.js';

export const NET_PHASES = ['send', 'recv', 'ping'] as const;
export type NetPhase = (typeof NET_PHASES)[number];
export type NetBackendName = 'passt' | 'tap';

export const NET_PHASE_ABOUT: Record<NetPhase, string> = {
  send: 'guest → host TCP: `nc` sends a file in the guest\'s RAM to a sink on the host',
  recv: 'host → guest TCP: the host writes to `nc -l >/dev/null` in the guest',
  ping: '`ping -A` (the next echo as soon as the reply is in) to the gateway / the tap\'s host address',
};

/** The guest's port the host sends to. */
const GUEST_PORT = 5001;
const TAP = { name: 'tsvbench0', host: '10.98.0.1', guest: '10.98.0.2' };
const GUEST_MAC = '52:54:00:12:34:56';

/** The guest holds the stream it sends in its RAM (256 MiB). */
export const NET_MAX_MIB = 64;

export interface NetOptions {
  /** MiB each TCP phase moves (at most NET_MAX_MIB). */
  mib: number;
  pings: number;
  /** Told as each phase starts and ends in the guest (a guest that stalls shows where). */
  progress?: Progress;
}

export interface NetPhaseResult {
  seconds: number;
  bytes: number;
  /** eth0 packets in + out over the phase, as the guest counted them. */
  packets: number;
  MBps: number;
  pps: number;
  /** Host CPU of the VMM outside its vCPU thread per packet (µs), and as a share of one core (%). */
  vmmCpuMicrosPerPacket: number;
  vmmCpuPercent: number;
  /** The share of that CPU spent in the kernel (%): the rest is the VMM's own code. */
  vmmKernelPercent: number;
}

export interface NetRun {
  phases: Record<NetPhase, NetPhaseResult>;
  /** tsvmm only (--stats): frame bytes the DMA API mapped straight from/into guest RAM vs bounced. */
  dma?: { directBytes: number; bouncedBytes: number };
  /** tsvmm only (--stats): bytes of received frames copied into their mapped buffers, not read straight in (a stream's read-ahead). */
  rxCopiedBytes?: number;
}

/**
 * passt answers the guest's pings through ICMP "ping sockets", which the
 * kernel gives only to groups in net.ipv4.ping_group_range (passt runs as
 * nobody when started as root). Opened to every group inside the nested L1
 * only: a benchmark does not change a host's settings.
 */
export function allowPingSocketsInL1(): void {
  if (process.env[IN_L1_ENV] && process.getuid?.() === 0) writeFileSync('/proc/sys/net/ipv4/ping_group_range', '0 2147483647');
}

/** A tap with an address on the host's side, for the duration of `body`. */
export function withTap<T>(body: () => Promise<T>): Promise<T> {
  const configure = () => {
    ip('addr', 'add', `${TAP.host}/24`, 'dev', TAP.name);
    ip('link', 'set', TAP.name, 'up');
  };
  return withTapDevice(TAP.name, configure, body);
}

/**
 * The guest listens for the host's stream in the background, once nc
 * listens: the host connects on the next marker. nc's stdin is a FIFO it
 * never sees the end of: at the end of its stdin it would half-close the
 * connection, and passt (2025-05-03) then cut the host's stream short (2 and
 * 11 of 16 MiB delivered in two runs).
 */
function listen(): string {
  const listening = `:${GUEST_PORT.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`; // its socket in /proc/net/tcp, state LISTEN
  return `(exec 3<>/nc.in; nc -l -p ${GUEST_PORT} <&3 >/dev/null) & until grep -q "${listening}" /proc/net/tcp; do sleep 0.1; done`;
}

/** The guest's side: each phase between two marker lines carrying eth0's packet counters. */
function guestScript(backend: NetBackendName, opts: NetOptions, sinkPort: number, warmUpPort: number): string {
  const peer = backend === 'tap' ? TAP.host : '$gw';
  const counter = (name: string) => `$(cat /sys/class/net/eth0/statistics/${name})`;
  const counters = `${counter('rx_packets')} ${counter('tx_packets')}`;
  // The kernel prints its command line, which holds this script: the markers
  // are spelt through $t so that the host sees them only when the guest echoes them.
  const mark = (what: string) => `echo "$t ${what} ${counters}"`;
  return [
    't=netbench',
    backend === 'tap' ? `ip addr add ${TAP.guest}/24 dev eth0; ip link set eth0 up` : 'set -- $(ip route | grep default); gw=$3',
    // The TCP phases move data from RAM to nc and from nc to /dev/null, no
    // pipe on the way: in a nested L1 a pipe through `wc -c` bounded the
    // guest's receiving at ~10 MB/s under either VMM, and the data path
    // could not show.
    `dd if=/dev/zero of=/net.bin bs=64k count=${opts.mib * 16} 2>/dev/null; mkfifo /nc.in`,
    // A warm-up first, not measured, as long as the measured phases: pings,
    // and a stream each way. The VMM's first packets carry tsvmm's JIT
    // compiling its data path (BENCHMARKS.md, "The data path"): V8
    // optimizes what runs per buffer within a few MiB, what runs per frame
    // later (in a nested L1, after a 6 MiB stream in, seven of the receive
    // path's functions were still being optimized in the 16 MiB after it),
    // and a stream in takes another path than the acknowledgements of a
    // stream out.
    `ping -A -q -c ${opts.pings} -w 120 ${peer} >/dev/null 2>&1; nc ${peer} ${warmUpPort} </net.bin`,
    listen(),
    `echo "$t ${WARM_UP_IN}"; wait`,
    mark('start send'),
    `nc ${peer} ${sinkPort} </net.bin`,
    mark('end send'),
    `rm /net.bin; ${listen()}; b=${counter('rx_bytes')}`,
    mark('start recv'),
    'wait',
    mark('end recv'),
    // What eth0 received, headers included: at least the stream's bytes.
    `echo "$t got $(( ${counter('rx_bytes')} - b ))"`,
    mark('start ping'),
    // -w: without replies (passt without ping sockets) -A falls back to one a second.
    `ping -A -q -c ${opts.pings} -w 120 ${peer} | grep -E "transmitted|round-trip"`,
    mark('end ping'),
  ].join('; ');
}

/** What the host side saw of the TCP phases. */
interface HostSide {
  send?: { seconds: number; bytes: number };
  recv?: { seconds: number; bytes: number };
  problem?: string;
}

/** Receives the guest's stream: bytes and the time from the first to the end. */
async function startSink(address: string): Promise<{ server: Server; port: number; done: Promise<{ seconds: number; bytes: number }> }> {
  let resolveDone!: (r: { seconds: number; bytes: number }) => void;
  const done = new Promise<{ seconds: number; bytes: number }>((resolve) => (resolveDone = resolve));
  const server = createServer((socket) => {
    let first = 0;
    let bytes = 0;
    socket.on('data', (d) => {
      if (bytes === 0) first = performance.now();
      bytes += d.length;
    });
    socket.on('end', () => {
      resolveDone({ seconds: (performance.now() - first) / 1000, bytes });
      socket.end();
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  return { server, port: (server.address() as AddressInfo).port, done };
}

/** Sends `bytes` to the guest: the time from connecting until the guest closed its end. */
function sendToGuest(host: string, port: number, bytes: number): Promise<{ seconds: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1 << 16, 0x5a);
    const started = performance.now();
    // Half open: should the guest's end shut its sending side down, ours goes on sending.
    const c = createConnection({ host, port, allowHalfOpen: true });
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!c.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void c.once('drain', pump);
      }
      c.end();
    };
    c.on('connect', pump);
    c.on('close', () => resolve({ seconds: (performance.now() - started) / 1000, bytes }));
    c.on('error', reject);
    c.resume();
  });
}

/** A free TCP port on the loopback (for a forward). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

const MARKER = /netbench (start|end) (send|recv|ping) (\d+) (\d+)/g;
/** The guest listens for the warm-up's stream in (as long as the measured one, not measured). */
const WARM_UP_IN = 'warm-up in';
/** Boots of one guest, at most: a guest the L1 reset before its warm-up gets another. */
const GUEST_ATTEMPTS = 3;

/** Boots the guest under a VMM (`launch(cmdline)`), plays the host's side of each phase, and measures. */
async function measure(
  vmm: 'tsvmm' | 'qemu',
  backend: NetBackendName,
  opts: NetOptions,
  launch: (cmdline: string, forwardPort: number) => Promise<{ command: string; args: string[] }>,
): Promise<{ run: NetRun; stderr: string }> {
  const guest = readDefaultGuest()!;
  const sink = await startSink(backend === 'tap' ? TAP.host : '127.0.0.1');
  const warmUpSink = await startSink(backend === 'tap' ? TAP.host : '127.0.0.1');
  const forward = await freePort();
  const host: HostSide = {};
  const snapshots = new Map<string, CpuSnapshot>();
  let recv: Promise<{ seconds: number; bytes: number }> | undefined;
  try {
    const cmdline = withInitCommand(guest.cmdline, ['sh', '-c', guestScript(backend, opts, sink.port, warmUpSink.port)]);
    const markers = [`netbench ${WARM_UP_IN}`, ...NET_PHASES.flatMap((p) => [`netbench start ${p}`, `netbench end ${p}`])];
    const toGuest = (bytes: number) => sendToGuest(backend === 'tap' ? TAP.guest : '127.0.0.1', backend === 'tap' ? GUEST_PORT : forward, bytes);
    const onMarker = (m: string, pid: number) => {
      snapshots.set(m, snapshotCpu(pid, ['passt']));
      opts.progress?.(`${vmm} over ${backend}: ${m.replace('netbench ', '')}`);
      if (m === `netbench ${WARM_UP_IN}`) toGuest(opts.mib << 20).catch(() => {}); // a warm-up cut short shows in the phases after it
      if (m === 'netbench start recv') {
        recv = toGuest(opts.mib << 20);
        recv.catch(() => {}); // awaited after the run
      }
    };
    let r: TimedRun;
    for (let attempt = 1; ; attempt++) {
      const { command, args } = await launch(cmdline, forward);
      r = await timedRun(command, args, { markers, timeoutMs: Number(process.env.TSVMM_NET_BENCH_TIMEOUT_MS ?? 1_800_000), onMarker });
      // A guest that stopped before its first marker has measured nothing:
      // in a nested L1 an early reset hits either VMM now and then
      // (docs/host-kvm.md), so it boots again, as the boot section's do.
      if (r.markers[markers[0]] !== undefined || attempt === GUEST_ATTEMPTS) break;
      opts.progress?.(`${vmm} over ${backend}: the guest stopped before its warm-up (exit status ${r.status ?? r.signal}); booting it again (attempt ${attempt + 1} of ${GUEST_ATTEMPTS})`);
    }
    // The guest's last lines, then tsvmm's (its exit statistics alone are ~3 KB).
    const output = `${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`;
    host.send = await Promise.race([sink.done, new Promise<undefined>((resolve) => setTimeout(resolve, 1000))]);
    host.recv = recv ? await recv.catch((e: Error) => ((host.problem = e.message), undefined)) : undefined;
    const counts = new Map([...r.stdout.matchAll(MARKER)].map((m) => [`${m[1]} ${m[2]}`, Number(m[3]) + Number(m[4])]));
    const got = /netbench got (\d+)/.exec(r.stdout);
    const pings = /(\d+) packets transmitted, (\d+) packets received/.exec(r.stdout);
    // A guest that stopped (or was reset) part way says so first: its missing pings would mislead.
    const missing = markers.find((m) => r.markers[m] === undefined);
    if (missing !== undefined) throw new Error(`${vmm} over ${backend}: the guest never printed "${missing}" (exit status ${r.status ?? r.signal}):\n${output}`);
    if (Number(pings?.[2]) !== opts.pings)
      throw new Error(`${vmm} over ${backend}: ${pings?.[2] ?? 'no'} of ${opts.pings} pings answered (passt answers ICMP through ping sockets: net.ipv4.ping_group_range must include its group):\n${output}`);
    if (!(Number(got?.[1]) >= opts.mib << 20)) throw new Error(`${vmm} over ${backend}: the guest received ${got?.[1]} bytes, fewer than the ${opts.mib << 20} sent:\n${output}`);
    if (host.send?.bytes !== opts.mib << 20) throw new Error(`${vmm} over ${backend}: the host received ${host.send?.bytes} bytes, not ${opts.mib << 20}:\n${output}`);
    const phases = {} as Record<NetPhase, NetPhaseResult>;
    for (const p of NET_PHASES) {
      const before = snapshots.get(`netbench start ${p}`);
      const after = snapshots.get(`netbench end ${p}`);
      const packets = (counts.get(`end ${p}`) ?? NaN) - (counts.get(`start ${p}`) ?? NaN);
      if (!before || !after || !(packets > 0)) throw new Error(`${vmm} over ${backend}: no ${p} phase (status ${r.status}):\n${output}`);
      const timed = p === 'ping' ? { seconds: r.markers[`netbench end ${p}`] - r.markers[`netbench start ${p}`], bytes: 0 } : host[p]!;
      const cpu = cpuBetween(before, after);
      const { rest } = cpu;
      phases[p] = {
        seconds: timed.seconds,
        bytes: timed.bytes,
        packets,
        MBps: timed.bytes / 1e6 / timed.seconds,
        pps: packets / timed.seconds,
        vmmCpuMicrosPerPacket: (rest / packets) * 1e6,
        vmmCpuPercent: (rest / timed.seconds) * 100,
        vmmKernelPercent: kernelPercent(cpu),
      };
    }
    return { run: { phases }, stderr: r.stderr };
  } finally {
    sink.server.close();
    warmUpSink.server.close();
  }
}

export async function tsvmmNet(backend: NetBackendName, opts: NetOptions): Promise<NetRun> {
  const guest = readDefaultGuest()!;
  const { run, stderr } = await measure('tsvmm', backend, opts, async (cmdline, forward) => ({
    command: TSVMM,
    args: [
      'run', '--kernel', guest.vmlinux, '--initrd', guest.initrd, '--mem', '256M', '--stats', '--log-level', 'warn',
      '--net', backend === 'tap' ? `tap=${TAP.name},mac=${GUEST_MAC}` : `user,hostfwd=tcp:127.0.0.1:${forward}-:${GUEST_PORT},mac=${GUEST_MAC}`,
      '--cmdline', cmdline,
    ],
  }));
  const nic = parseExitStats<{ nics?: Record<string, { dma: { directBytes: number; bouncedBytes: number }; rxCopiedBytes: number }> }>(stderr).nics?.net0;
  return { ...run, dma: nic?.dma, rxCopiedBytes: nic?.rxCopiedBytes };
}

export async function qemuNet(backend: NetBackendName, opts: NetOptions): Promise<NetRun> {
  const guest = readDefaultGuest()!;
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-net-'));
  let passt: ChildProcess | undefined;
  try {
    const socket = join(dir, 'passt.socket');
    const netdev = backend === 'tap' ? `tap,id=n0,ifname=${TAP.name},script=no,downscript=no` : `stream,id=n0,server=off,addr.type=unix,addr.path=${socket}`;
    const args = [...qemuGuestArgs(guest), '-netdev', netdev, '-device', `virtio-net-device,netdev=n0,mac=${GUEST_MAC}`];
    if (backend === 'passt') passt = await startPasstOn(socket, []);
    const words = await qemuVirtioWords(guest, args);
    passt?.kill();
    const { run } = await measure('qemu', backend, opts, async (cmdline, forward) => {
      if (backend === 'passt') passt = await startPasstOn(socket, ['-t', `127.0.0.1/${forward}:${GUEST_PORT}`]);
      return { command: QEMU, args: ['-M', `${QEMU_MICROVM},acpi=off,auto-kernel-cmdline=off`, ...args, '-append', withKernelWords(cmdline, `${words} ${qemuKernelWords()}`)] };
    });
    return run;
  } finally {
    passt?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** passt on a Unix socket for QEMU (`-1`: it quits when QEMU does), as tsvmm starts it otherwise: foreground, quiet. */
async function startPasstOn(socket: string, options: string[]): Promise<ChildProcess> {
  const passt = findPasst();
  if (!passt) throw new Error('the net benchmark needs passt: npm run passt');
  rmSync(socket, { force: true });
  const child = spawn(passt.path, ['-f', '-q', '-1', '-s', socket, ...options], { stdio: 'ignore' });
  // QEMU connects as it starts: the socket must exist first (passt makes it within milliseconds).
  for (const until = Date.now() + 10_000; !existsSync(socket); await new Promise((resolve) => setTimeout(resolve, 10)))
    if (Date.now() > until || child.exitCode !== null) throw new Error(`passt did not create ${socket}`);
  return child;
}

export function netBenchAvailable(): string | undefined {
  if (!readDefaultGuest()) return 'needs the default guest (npm run guest)';
  if (!findPasst()) return 'needs passt (npm run passt)';
  return undefined;
}
