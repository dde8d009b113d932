// Boot time of the default guest under tsvmm and under QEMU (microvm, the
// same vmlinux via PVH, same initrd and command line), in one run, plus each
// VMM's resident memory without guest RAM.
import { withKernelWords } from '../../src/cli/run-command.js';
import { readDefaultGuest, type GuestManifest } from '../../src/cli/default-guest.js';
import { median, parseExitStats, timedRun, type TimedRun } from './process-timing.js';
import { RssSampler } from './resident-memory.js';
import { helperBelow } from './process-tree.js';
import { QEMU, QEMU_MICROVM, qemuGuestArgs, qemuKernelWords } from './qemu-reference.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';

const INIT_MARKER = 'Run /init as init process';
/** The kernel's first console line: before it, the VMM's start (and the kernel's earliest setup); after it, the guest's own boot. */
const FIRST_LINE_MARKER = 'Linux version';
export const GUEST_MEMORY = 256 << 20;

export interface BootSample {
  /** To the kernel's first console line (s). */
  toFirstLine: number;
  toInit: number;
  toExit: number;
  status: number | null;
  rssBytes: number;
  /** tsvmm with --stats: exits of the whole run, and writes the coalesced ring absorbed. */
  exits?: number;
  coalesced?: number;
}

export interface BootComparison {
  tsvmm: BootSample[];
  qemu: BootSample[];
  command: string;
}

/**
 * A guest reset before init gets another try, at most this often: in a
 * nested L1 an early reset hits either VMM now and then (docs/host-kvm.md).
 */
const ATTEMPTS = 3;

async function sample(vmm: string, run: (onStart: (pid: number) => void) => Promise<TimedRun>, vmmPid: (pid: number) => number | undefined): Promise<BootSample> {
  for (let attempt = 1; ; attempt++) {
    let launcher: number | undefined;
    const sampler = new RssSampler(() => (launcher === undefined ? undefined : vmmPid(launcher)), GUEST_MEMORY);
    const r = await run((pid) => (launcher = pid));
    const rssBytes = sampler.stop();
    if (r.markers[INIT_MARKER] !== undefined) return measured(r, rssBytes);
    const why = `the guest never reached init under ${vmm} (status ${r.status})`;
    if (attempt === ATTEMPTS) throw new Error(`${why}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
    process.stderr.write(`${why}; its last line: ${JSON.stringify(r.stdout.trimEnd().split('\n').pop())}. Once more (attempt ${attempt + 1} of ${ATTEMPTS}).\n`);
  }
}

function measured(r: TimedRun, rssBytes: number): BootSample {
  const stats = r.stderr.includes('tsvmm exit statistics: ') ? parseExitStats<{ totalExits: number; coalescedDrained: number }>(r.stderr) : undefined;
  return { toFirstLine: r.markers[FIRST_LINE_MARKER], toInit: r.markers[INIT_MARKER], toExit: r.seconds, status: r.status, rssBytes, exits: stats?.totalExits, coalesced: stats?.coalescedDrained };
}

export async function compareBoot(rounds: number, guestCommand = '/bin/true', cpus = 1): Promise<BootComparison> {
  const guest = readDefaultGuest();
  if (!guest) throw new Error('the default guest is not built: run `npm run guest`');
  const cmdline = `${guest.cmdline} -- ${guestCommand}`;
  const result: BootComparison = { tsvmm: [], qemu: [], command: guestCommand };
  for (let i = 0; i < rounds; i++) {
    result.tsvmm.push(await sample(`tsvmm --cpus ${cpus}`, (onStart) => runTsvmm(guest, cmdline, onStart, ['--cpus', String(cpus)]), (p) => helperBelow(p)));
    result.qemu.push(await sample(`QEMU -smp ${cpus}`, (onStart) => runQemu(guest, cmdline, onStart, cpus), (p) => p));
  }
  return result;
}

/** Boots the default guest under tsvmm once (with extra CLI flags). */
export async function tsvmmBoot(extraArgs: string[], guestCommand = '/bin/true'): Promise<BootSample> {
  const guest = readDefaultGuest();
  if (!guest) throw new Error('the default guest is not built: run `npm run guest`');
  return sample('tsvmm', (onStart) => runTsvmm(guest, `${guest.cmdline} -- ${guestCommand}`, onStart, extraArgs), (p) => helperBelow(p));
}

function runTsvmm(guest: GuestManifest, cmdline: string, onStart: (pid: number) => void, extraArgs: string[] = []): Promise<TimedRun> {
  return timedRun(TSVMM, ['run', '--kernel', guest.vmlinux, '--initrd', guest.initrd, '--cmdline', cmdline, '--mem', '256M', '--log-level', 'warn', ...extraArgs], {
    markers: [FIRST_LINE_MARKER, INIT_MARKER],
    timeoutMs: 600_000,
    onStart,
  });
}

function runQemu(guest: GuestManifest, cmdline: string, onStart: (pid: number) => void, cpus = 1): Promise<TimedRun> {
  return timedRun(QEMU, ['-M', QEMU_MICROVM, ...qemuGuestArgs(guest, cpus), '-append', withKernelWords(cmdline, qemuKernelWords())], { markers: [FIRST_LINE_MARKER, INIT_MARKER], timeoutMs: 600_000, onStart });
}

export function summarize(samples: BootSample[]): { toFirstLine: number; guestBoot: number; toInit: number; toExit: number; rssMiB: number } {
  return {
    toFirstLine: median(samples.map((s) => s.toFirstLine)),
    guestBoot: median(samples.map((s) => s.toInit - s.toFirstLine)),
    toInit: median(samples.map((s) => s.toInit)),
    toExit: median(samples.map((s) => s.toExit)),
    rssMiB: median(samples.map((s) => s.rssBytes)) / 2 ** 20,
  };
}
