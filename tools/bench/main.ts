// `npm run bench`: every benchmark measures its reference in the same run
// and prints ratios, as a Markdown report (BENCHMARKS.md records results).
// Run on an otherwise idle machine: two VMs at once livelock on 2 cores.
// Without /dev/kvm the KVM sections run inside the nested L1 (tools/nested),
// QEMU too; `decompress` needs no KVM and always runs here.
//   npm run bench [-- --only pio,boot,decompress] [--rounds N] [--disk-phases randread-qd1,randread,randread-qd32,read,write] [--net-mib N] [--net-pings N] [--smp-loops N] [--exec-mib N] [--exec-files N] [--blk-requests N]
//   (sections: pio, startup, coalescing, sandbox, ioregion, disk, blk-guest, net, boot, smp, exec; decompress, blk-path, p9-path, net-path)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { measurePioRoundTrip } from './pio-roundtrip.js';
import { measureDeviceExits } from './device-exit.js';
import { measureCoalescing } from './coalescing.js';
import { detectHostKvm, kvmDeviceProblem } from '../../src/kvm/host-kvm.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { IN_L1_ENV, consoleEnding, nestedKvmProblem, runInL1 } from '../nested/l1.js';
import { compareBoot, summarize, tsvmmBoot, type BootSample } from './boot-vs-qemu.js';
import { measureParallelJob } from './smp-scaling.js';
import { compareExec, defaultExecSizes, summarizeExec, type ExecSample } from './exec-vs-qemu.js';
import { qemuAvailable } from './qemu-reference.js';
import { measureSandboxOverhead } from './sandbox-overhead.js';
import { measureStartup } from './startup.js';
import { measureAccessCosts } from './ioregion-access.js';
import { TINY_BLK_PHASES, TINY_BLK_WARMUP, phaseName, qemuTinyBlk, tsvmmTinyBlk, type TinyBlkRun } from './blk-tiny-guest.js';
import { medianPhase } from './marked-phases.js';
import { DISK_MIB, PHASE_NAMES, PHASES, qemuDisk, diskBenchImage, tsvmmDisk, type DiskRun, type PhaseName } from './disk-throughput.js';
import { median } from './process-timing.js';
import { readDefaultGuest } from '../../src/cli/default-guest.js';
import { measureDecompression } from './decompression.js';
import { compareBlkDataPath, summarizeBlkPath } from './blk-path-comparison.js';
import type { BlkPathResult } from './blk-data-path.js';
import { WARMUP_REQUESTS } from './blk-path-fixture.js';
import { compareP9DataPath, summarizeP9Path } from './p9-path-comparison.js';
import type { P9PathResult } from './p9-data-path.js';
import { compareNetDataPath, summarizeNetPath, summarizePingFloor } from './net-path-comparison.js';
import { tapProblem } from './bench-tap.js';
import type { NetPathResult } from './net-data-path.js';
import { P9_REQUESTS, P9_WARMUP } from './p9-path-fixture.js';
import { QEMU_STORAGE_DAEMON } from './qemu-storage-daemon.js';
import { NET_MAX_MIB, NET_PHASES, NET_PHASE_ABOUT, allowPingSocketsInL1, netBenchAvailable, qemuNet, tsvmmNet, withTap, type NetBackendName, type NetRun } from './net-throughput.js';
import { sectionProgress } from './progress.js';
import { TargetLedger } from './target-ledger.js';
import { TARGETS, bound, type Target } from './targets.js';

const bootable = () => readDefaultGuest() !== undefined;
/** Userspace console output goes through the UART's transmit interrupt, printk's through polling. */
const PRINT_FROM_USERSPACE = 'busybox seq 1 4000';

const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : undefined;
const rounds = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 3;
const wanted = (name: string) => !only || only.includes(name);
const f = (n: number, digits = 2) => n.toFixed(digits);
/** The targets this run measured: a table of them ends its report. */
const targets = new TargetLedger();

/** Sections that need KVM (nested where the host has none). */
const KVM_SECTIONS = ['pio', 'startup', 'coalescing', 'sandbox', 'ioregion', 'disk', 'blk-guest', 'net', 'boot', 'smp', 'exec'];
/** Sections that need no KVM: they run on this host, never nested. */
const HOST_SECTIONS = ['decompress', 'blk-path', 'p9-path', 'net-path'];

/** A group of sections runs again in a fresh L1 when its L1 froze (QEMU's nested SVM sometimes does: docs/host-kvm.md), at most this often. */
const NESTED_ATTEMPTS = 3;

/** Runs the KVM sections inside the L1: exit-heavy sections (pio) with one L1 vCPU, which two lock up. */
async function mainNested(): Promise<void> {
  const sections = KVM_SECTIONS.filter(wanted);
  if (sections.length === 0) return;
  const problem = nestedKvmProblem();
  if (problem) throw new Error(`${kvmDeviceProblem()}, and no nested KVM either: ${problem}`);
  const rest = args.filter((_, i) => args[i] !== '--only' && args[i - 1] !== '--only');
  for (const [group, cpus] of [[sections.filter((s) => s === 'pio'), 1], [sections.filter((s) => s !== 'pio'), 2]] as const) {
    if (group.length === 0) continue;
    for (let attempt = 1; ; attempt++) {
      const r = await runInL1({ command: [process.execPath, fileURLToPath(import.meta.url), ...rest, '--only', group.join(',')], cpus, cwd: PROJECT_ROOT });
      if (r.status === 0) break;
      if (!r.froze || attempt === NESTED_ATTEMPTS)
        throw new Error(`the nested benchmark (${group.join(',')}) failed: ${r.problem ?? `status ${r.status}`}\n${consoleEnding(r)}`);
      // What the frozen run printed stays above: its sections start again below.
      console.log(`\n**The L1 froze (${r.problem}); ${group.join(', ')} again in a fresh L1, attempt ${attempt + 1} of ${NESTED_ATTEMPTS}.**\n`);
    }
  }
}

async function main(): Promise<void> {
  const unknown = (only ?? []).filter((s) => !KVM_SECTIONS.includes(s) && !HOST_SECTIONS.includes(s));
  if (unknown.length) throw new Error(`--only: unknown ${unknown.join(', ')} (sections: ${[...KVM_SECTIONS, ...HOST_SECTIONS].join(', ')})`);
  await sections();
  // Nested, the L1's run prints its own table (above) and this one has the sections without KVM.
  const report = targets.report();
  if (report) console.log(report);
}

async function sections(): Promise<void> {
  if (!process.env[IN_L1_ENV]) await hostSections();
  if (kvmDeviceProblem() && !process.env[IN_L1_ENV]) return mainNested();
  if (!KVM_SECTIONS.some(wanted)) return;
  const kvm = detectHostKvm();
  const where = process.env[IN_L1_ENV] ? `${kvm}, nested: an L1 under QEMU TCG (tools/nested)` : kvm;
  console.log(`# tsvmm benchmarks (${new Date().toISOString()}, ${rounds} rounds, medians, KVM: ${where})\n`);
  if (wanted('pio')) {
    const r = await measurePioRoundTrip(rounds * 3); // cheap: more rounds, steadier medians
    console.log('## PIO exit round trip (real-mode guest, 100k OUTs)\n');
    console.log('| loop | µs per exit |\n|---|---|');
    console.log(`| C (tools/bench/pio-loop.c) | ${f(r.cMicros)} |\n| tsvmm (TypeScript, worker thread) | ${f(r.tsMicros)} |`);
    console.log(`\n**ratio tsvmm / C: ${f(r.ratio, 3)}** (target ${bound(TARGETS.pioRoundTrip)})\n`);
    targets.check(TARGETS.pioRoundTrip, 'PIO exit round trip, tsvmm / C loop', r.ratio);
    const d = await measureDeviceExits(rounds * 3);
    console.log('## A device exit with one vCPU and with two (real-mode guest: 100k OUTs to COM1\'s scratch register, 100k INs from its line status register)\n');
    console.log('| access | vCPUs | where it is served | µs per exit |\n|---|---|---|---|');
    console.log(`| scratch write | 1 | the UART, in the vCPU thread | ${f(d.scratchWrite.oneVcpu)} |`);
    console.log(`| scratch write | 2 | the UART on the main thread, the exit forwarded (socket + region lock) | ${f(d.scratchWrite.twoVcpus)} |`);
    console.log(`| line status read | 1 | the UART, in the vCPU thread | ${f(d.statusRead.oneVcpu)} |`);
    console.log(`| line status read | 2 | the UART's register mirror, in the vCPU thread | ${f(d.statusRead.twoVcpus)} |`);
    console.log(`\n**forwarding costs ${f(d.scratchWrite.twoVcpus - d.scratchWrite.oneVcpu)} µs per device exit (×${f(d.scratchWrite.twoVcpus / d.scratchWrite.oneVcpu, 2)}); a mirrored status read ×${f(d.statusRead.twoVcpus / d.statusRead.oneVcpu, 2)} of one served in the vCPU thread**\n`);
  }
  if (wanted('startup')) {
    const r = await measureStartup(rounds * 3); // cheap: more rounds, steadier medians
    console.log('## Start-up: a tiny real-mode guest that exits at once (sandbox on)\n');
    console.log('| measure | ms |\n|---|---|');
    console.log(`| \`node -e 0\`, start to exit (reference) | ${f(r.nodeMs, 0)} |`);
    console.log(`| tsvmm run: command start → first KVM_RUN | ${f(r.default.toFirstRunMs, 0)} |`);
    console.log(`| tsvmm run: command start → exit | ${f(r.default.toExitMs, 0)} |`);
    console.log(`| the same with the helper started after parsing (TSVMM_EARLY_HELPER=0): → first KVM_RUN | ${f(r.lateHelper.toFirstRunMs, 0)} |`);
    console.log(`| … → exit | ${f(r.lateHelper.toExitMs, 0)} |`);
    console.log(`| the same without the code caches (TSVMM_NO_CODE_CACHE=1): → first KVM_RUN | ${f(r.noCodeCache.toFirstRunMs, 0)} |`);
    console.log(`| … → exit | ${f(r.noCodeCache.toExitMs, 0)} |`);
    console.log(`\n**command start → first KVM_RUN: ${f(r.default.toFirstRunMs, 0)} ms, ${f(r.default.toFirstRunMs / r.nodeMs, 2)}× Node's own start** (target ${bound(TARGETS.firstKvmRunMs)} ms natively)\n`);
    if (!process.env[IN_L1_ENV]) targets.check(TARGETS.firstKvmRunMs, 'command start → first KVM_RUN (ms)', r.default.toFirstRunMs);
  }
  if (wanted('coalescing')) {
    const r = await measureCoalescing(rounds);
    console.log('## Coalesced zones (test device: 2048 MMIO byte writes + console bytes)\n');
    console.log('| zones | exits | run time (ms) |\n|---|---|---|');
    console.log(`| off | ${r.off.exits} | ${f(r.off.ms, 1)} |\n| on | ${r.on.exits} | ${f(r.on.ms, 1)} |`);
    console.log(`\n**exits off / on: ${f(r.off.exits / r.on.exits, 1)}×**, time off / on: ${f(r.off.ms / r.on.ms, 2)}× (target ${bound(TARGETS.coalescedExits)}× fewer exits)\n`);
    targets.check(TARGETS.coalescedExits, 'exits without / with coalesced zones (test device)', r.off.exits / r.on.exits);
  }
  if (wanted('coalescing') && bootable()) {
    const runs = { on: [] as BootSample[], off: [] as BootSample[] };
    for (let i = 0; i < rounds; i++) {
      runs.on.push(await tsvmmBoot(['--stats'], PRINT_FROM_USERSPACE));
      runs.off.push(await tsvmmBoot(['--stats', '--no-coalesced'], PRINT_FROM_USERSPACE));
    }
    const pick = (xs: BootSample[]) => ({ exits: median(xs.map((x) => x.exits!)), coalesced: median(xs.map((x) => x.coalesced!)), toInit: median(xs.map((x) => x.toInit)), toExit: median(xs.map((x) => x.toExit)) });
    const on = pick(runs.on);
    const off = pick(runs.off);
    console.log(`## Coalesced zones: the default Linux guest booting with console output, then printing 20 kB from userspace (\`-- ${PRINT_FROM_USERSPACE}\`)\n`);
    console.log('| zones | exits | console writes coalesced | to "Run /init" (s) | to exit (s) |\n|---|---|---|---|---|');
    console.log(`| on | ${on.exits} | ${on.coalesced} | ${f(on.toInit)} | ${f(on.toExit)} |\n| off | ${off.exits} | ${off.coalesced} | ${f(off.toInit)} | ${f(off.toExit)} |`);
    console.log(`\n**exits off / on: ${f(off.exits! / on.exits!, 1)}×**\n`);
  }
  if (wanted('sandbox')) {
    const r = await measureSandboxOverhead(rounds);
    console.log('## Sandbox cost (jailed helper vs --no-sandbox)\n');
    console.log('| measure | sandbox on | sandbox off | on / off |\n|---|---|---|---|');
    console.log(`| helper start-up, spawn → first KVM_RUN (ms) | ${f(r.startupOnMs, 0)} | ${f(r.startupOffMs, 0)} | ${f(r.startupOnMs / r.startupOffMs, 3)} |`);
    console.log(`| PIO exit round trip (µs) | ${f(r.pioOnMicros)} | ${f(r.pioOffMicros)} | ${f(r.pioOnMicros / r.pioOffMicros, 3)} |`);
    if (bootable()) {
      const bootOn: number[] = [];
      const bootOff: number[] = [];
      for (let i = 0; i < rounds; i++) {
        bootOn.push((await tsvmmBoot([])).toInit);
        bootOff.push((await tsvmmBoot(['--no-sandbox'])).toInit);
      }
      console.log(`| default guest to "Run /init" (s) | ${f(median(bootOn))} | ${f(median(bootOff))} | ${f(median(bootOn) / median(bootOff), 3)} |`);
      targets.check(TARGETS.sandboxOverhead, 'default guest to init, jailed / unjailed', median(bootOn) / median(bootOff));
    } else targets.check(TARGETS.sandboxOverhead, 'PIO exit round trip, jailed / unjailed', r.pioOnMicros / r.pioOffMicros);
    console.log(`\n(target: jailed / unjailed ${bound(TARGETS.sandboxOverhead)})\n`);
  }
  if (wanted('ioregion')) {
    const r = await measureAccessCosts(rounds);
    console.log('## ioregionfd: one MMIO access to the test device (µs, including the exit)\n');
    console.log('| device served by | read | write |\n|---|---|---|');
    console.log(`| the VMM (vCPU thread) | ${f(r.inline.read)} | ${f(r.inline.write)} |`);
    console.log(`| its own process (ioregionfd protocol over a socket; writes posted) | ${f(r.separate.read)} | ${f(r.separate.write)} |`);
    console.log(`\nseparate / in the VMM: read ${f(r.separate.read / r.inline.read, 2)}×, write ${f(r.separate.write / r.inline.write, 2)}×\n`);
  }
  if (wanted('disk')) await diskSection();
  if (wanted('blk-guest')) await blkGuestSection();
  if (wanted('net')) await netSection();
  if (wanted('boot')) {
    if (!qemuAvailable()) console.log('## Boot vs QEMU\n\nskipped: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)\n');
    else {
      const r = await compareBoot(rounds);
      const t = summarize(r.tsvmm);
      const q = summarize(r.qemu);
      console.log(`## Boot of the default guest (256 MiB, \`-- ${r.command}\`)\n`);
      console.log('| VMM | to the kernel\'s first line (s) | first line → "Run /init" (s) | to "Run /init" (s) | to exit status (s) | RSS without guest RAM (MiB) |\n|---|---|---|---|---|---|');
      for (const [name, v] of [['tsvmm', t], ['QEMU microvm', q]] as const) console.log(`| ${name} | ${f(v.toFirstLine)} | ${f(v.guestBoot)} | ${f(v.toInit)} | ${f(v.toExit)} | ${f(v.rssMiB, 1)} |`);
      console.log('\nBefore the first line: the VMM\'s own start (and the kernel\'s earliest setup); after it, the guest\'s boot, its console exits included.');
      const bootTarget = process.env[IN_L1_ENV] ? TARGETS.bootNested : TARGETS.boot;
      console.log(`\n**ratio tsvmm / QEMU: to init ${f(t.toInit / q.toInit, 3)}, to exit ${f(t.toExit / q.toExit, 3)}** (target ${bound(bootTarget)}); tsvmm RSS ${f(t.rssMiB, 1)} MiB (target ${bound(TARGETS.helperRssMiB)}), ${f(t.rssMiB / q.rssMiB, 2)}× QEMU's (target ${bound(TARGETS.helperRssVsQemu)})\n`);
      targets.check(bootTarget, 'default guest to init, tsvmm / QEMU', t.toInit / q.toInit);
      targets.check(bootTarget, 'default guest to exit, tsvmm / QEMU', t.toExit / q.toExit);
      targets.check(TARGETS.helperRssMiB, 'helper RSS without guest RAM (MiB)', t.rssMiB);
      targets.check(TARGETS.helperRssVsQemu, "helper RSS, tsvmm / QEMU's", t.rssMiB / q.rssMiB);
    }
  }
  if (wanted('smp')) await smpSection();
  if (wanted('exec')) await execSection();
}

async function execSection(): Promise<void> {
  if (!qemuAvailable() || !bootable()) {
    console.log('## tsvmm exec vs QEMU\n\nskipped: needs qemu-system-x86_64 and the default guest\n');
    return;
  }
  const defaults = defaultExecSizes(Boolean(process.env[IN_L1_ENV]));
  const sizes = {
    bigFileMiB: args.includes('--exec-mib') ? Number(args[args.indexOf('--exec-mib') + 1]) : defaults.bigFileMiB,
    treeFiles: args.includes('--exec-files') ? Number(args[args.indexOf('--exec-files') + 1]) : defaults.treeFiles,
  };
  const r = await compareExec(rounds, sizes);
  const t = summarizeExec(r.tsvmm);
  const q = summarizeExec(r.qemu);
  console.log('## `tsvmm exec` vs QEMU (default guest in exec mode, 256 MiB, host / and a working directory over virtio-9p)\n');
  console.log(`| VMM | \`exec -- true\`, start to exit (s) | \`cat\` ${sizes.bigFileMiB} MiB (MiB/s) | \`find\` stat-ing ${sizes.treeFiles} files (files/s) | the same \`cat\` again (MiB/s) |\n|---|---|---|---|---|`);
  console.log(`| tsvmm exec (shares in jailed device processes) | ${f(t.bootToExit)} | ${f(t.catMiBps, 1)} | ${f(t.findFilesPerSecond, 0)} | ${f(t.catAgainMiBps, 1)} |`);
  console.log(`| QEMU microvm (virtio-9p, virtio-serial) | ${f(q.bootToExit)} | ${f(q.catMiBps, 1)} | ${f(q.findFilesPerSecond, 0)} | ${f(q.catAgainMiBps, 1)} |`);
  console.log(`\n**tsvmm / QEMU: boot to command ${f(t.bootToExit / q.bootToExit, 3)} (target ${bound(TARGETS.execBoot)}), cat throughput ${f(t.catMiBps / q.catMiBps, 3)}, find rate ${f(t.findFilesPerSecond / q.findFilesPerSecond, 3)} (targets ${bound(TARGETS.p9Throughput)})**; the same cat again ${f(t.catAgainMiBps / q.catAgainMiBps, 3)}`);
  targets.check(TARGETS.execBoot, '`exec -- true`, start to exit, tsvmm / QEMU', t.bootToExit / q.bootToExit);
  targets.check(TARGETS.p9Throughput, '`cat` over 9p, tsvmm / QEMU', t.catMiBps / q.catMiBps);
  targets.check(TARGETS.p9Throughput, '`find` over 9p, tsvmm / QEMU', t.findFilesPerSecond / q.findFilesPerSecond);
  const samples = (key: keyof ExecSample, digits: number) => `${r.tsvmm.map((s) => f(s[key], digits)).join(',')} / ${r.qemu.map((s) => f(s[key], digits)).join(',')}`;
  console.log(`Samples (tsvmm / QEMU): boot ${samples('bootToExit', 2)}; cat ${samples('catMiBps', 1)}; find ${samples('findFilesPerSecond', 0)}; cat again ${samples('catAgainMiBps', 1)}\n`);
}

async function smpSection(): Promise<void> {
  if (!qemuAvailable() || !bootable()) {
    console.log('## Several vCPUs\n\nskipped: needs qemu-system-x86_64 and the default guest\n');
    return;
  }
  const loops = args.includes('--smp-loops') ? Number(args[args.indexOf('--smp-loops') + 1]) : 20_000;
  console.log('## Several vCPUs (default guest, 256 MiB)\n');
  // A reference that cannot boot is reported, not fatal: the tsvmm rows still say something.
  const boot = await compareBoot(rounds, '/bin/true', 2).catch((e: Error) => e);
  if (boot instanceof Error) console.log(`Boot with 2 vCPUs: not compared, ${boot.message.split('\n')[0]}\n`);
  else {
    const t = summarize(boot.tsvmm);
    const q = summarize(boot.qemu);
    console.log('| VMM, 2 vCPUs | to "Run /init" (s) | to exit status (s) |\n|---|---|---|');
    console.log(`| tsvmm \`--cpus 2\` | ${f(t.toInit)} | ${f(t.toExit)} |\n| QEMU microvm \`-smp 2\` | ${f(q.toInit)} | ${f(q.toExit)} |`);
    console.log(`\n**boot with 2 vCPUs, tsvmm / QEMU: to init ${f(t.toInit / q.toInit, 3)}, to exit ${f(t.toExit / q.toExit, 3)}**\n`);
  }
  const job = await measureParallelJob(rounds, loops);
  console.log(`Two busy shell loops (${loops} iterations each) in parallel, seconds between the guest's markers:\n`);
  console.log('| VMM | 1 vCPU (s) | 2 vCPUs (s) | 2 vCPUs / 1 |\n|---|---|---|---|');
  for (const [name, times] of [['tsvmm', job.tsvmm], ['QEMU microvm', job.qemu]] as const) console.log(`| ${name} | ${f(times[1])} | ${f(times[2])} | ${f(times[2] / times[1], 3)} |`);
  for (const p of new Set(job.problems)) console.log(`\n(not measured: ${p})`);
  console.log('');
}

/** The sections that need no KVM, on this host. */
async function hostSections(): Promise<void> {
  if (!HOST_SECTIONS.some(wanted)) return;
  console.log(`# tsvmm benchmarks without KVM (${new Date().toISOString()}, ${rounds} rounds, medians, Node ${process.version})\n`);
  if (wanted('decompress')) {
    const r = measureDecompression(rounds);
    console.log(`## Kernel payload decompression (${r.kernel}: ${f(r.size / 2 ** 20, 1)} MiB vmlinux; ${r.shipped} as shipped, the other formats recompressed with the kernel build's command lines)\n`);
    console.log('| format | stream (MiB) | tsvmm decompress() (ms) | its first call in the process (ms) | CLI `-dc` to /dev/null, process start included (ms) | tsvmm / CLI |\n|---|---|---|---|---|---|');
    for (const row of r.rows) console.log(`| ${row.format} | ${f(row.streamBytes / 2 ** 20, 1)} | ${f(row.tsvmmMs, 0)} | ${f(row.firstMs, 0)} | ${f(row.cliMs, 0)} | ${f(row.ratio, 2)} |`);
    const worst = r.rows.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    console.log(`\n**worst ratio tsvmm / CLI: ${f(worst.ratio, 2)} (${worst.format})** (target ${bound(TARGETS.decompression)} for every format)`);
    targets.check(TARGETS.decompression, `decompression, tsvmm / CLI, the worst format (${worst.format})`, worst.ratio);
    console.log(`Samples (ms, tsvmm / CLI): ${r.rows.map((row) => `${row.format} ${row.samples.tsvmm.map((x) => f(x, 0)).join(',')} / ${row.samples.cli.map((x) => f(x, 0)).join(',')}`).join('; ')}\n`);
  }
  if (wanted('blk-path')) await blkPathSection();
  if (wanted('p9-path')) await p9PathSection();
  if (wanted('net-path')) await netPathSection();
}

async function blkPathSection(): Promise<void> {
  if (spawnSync(QEMU_STORAGE_DAEMON, ['--version']).status !== 0) {
    console.log(`## The virtio-blk data path without KVM\n\nskipped: needs ${QEMU_STORAGE_DAEMON} (Debian's qemu-system-common) for the reference\n`);
    return;
  }
  const requests = args.includes('--blk-requests') ? Number(args[args.indexOf('--blk-requests') + 1]) : 40_000;
  const rows = await compareBlkDataPath(rounds, requests);
  console.log(`## The virtio-blk data path without KVM (${requests} 4 KiB random reads from a page-cached 64 MiB image, measured after ${WARMUP_REQUESTS} unmeasured ones; a driver thread plays the guest through shared memory, a doorbell and an interrupt eventfd)\n`);
  console.log('| queue depth | device | IOPS | VMM host CPU per request (µs) | share of a core | interrupts per request |\n|---|---|---|---|---|---|');
  for (const row of rows) {
    for (const [name, runs] of [['tsvmm', row.tsvmm], ['tsvmm, before', row.tsvmmOnLibuv], ['QEMU', row.qemu]] as const) {
      const m = summarizeBlkPath(runs);
      console.log(`| ${row.depth} | ${name} (${m.engine}) | ${f(m.iops, 0)} | ${f(m.cpuUs, 1)} | ${f(m.share, 2)} | ${f(m.interrupts, 3)} |`);
    }
  }
  const ratio = (row: (typeof rows)[number]) => {
    const [t, q] = [summarizeBlkPath(row.tsvmm), summarizeBlkPath(row.qemu)];
    const before = summarizeBlkPath(row.tsvmmOnLibuv);
    return `QD ${row.depth}: IOPS ${f(t.iops / q.iops, 2)} (${f(before.iops / q.iops, 2)} on Node's loop), CPU per request ${f(t.cpuUs / q.cpuUs, 2)} (${f(before.cpuUs / q.cpuUs, 2)})`;
  };
  console.log(`\n**tsvmm / QEMU: ${rows.map(ratio).join('; ')}** (issue 17 targets: CPU per request ${bound(TARGETS.blkCpu)} at both depths, IOPS ${bound(TARGETS.blkIopsQd32)} at QD 32)`);
  for (const row of rows) {
    const [t, q] = [summarizeBlkPath(row.tsvmm), summarizeBlkPath(row.qemu)];
    targets.check(TARGETS.blkCpu, `virtio-blk without KVM, QD ${row.depth}: CPU per request, tsvmm / QEMU`, t.cpuUs / q.cpuUs);
    if (row.depth >= 32) targets.check(TARGETS.blkIopsQd32, `virtio-blk without KVM, QD ${row.depth}: IOPS, tsvmm / QEMU`, t.iops / q.iops);
  }
  const iops = (runs: readonly BlkPathResult[]) => runs.map((r) => f(r.iops, 0)).join(',');
  console.log(`Samples (IOPS, tsvmm / on Node's loop / QEMU): ${rows.map((row) => `QD ${row.depth} ${iops(row.tsvmm)} / ${iops(row.tsvmmOnLibuv)} / ${iops(row.qemu)}`).join('; ')}\n`);
}

async function p9PathSection(): Promise<void> {
  if (!qemuAvailable()) {
    console.log('## The virtio-9p data path without KVM\n\nskipped: needs qemu-system-x86_64 for the reference\n');
    return;
  }
  const rows = await compareP9DataPath(rounds, sectionProgress('p9-path'));
  const about = { walk: `\`find\`: Twalk, Tgetattr, Tclunk per file over 1,000 files in 10 directories; ${P9_REQUESTS.walk} requests after ${P9_WARMUP.walk}`, read: `\`cat\`: 496 KiB Treads of a page-cached 64 MiB file into 124 scattered pages (zero copy); ${P9_REQUESTS.read} after ${P9_WARMUP.read}` };
  console.log(`## The virtio-9p data path without KVM (one request in flight; a driver thread plays Linux's 9p client through shared memory, indirect descriptors and EVENT_IDX; QEMU 7.2's virtio-9p with its \`local\` backend, reached through qtest: one qtest command's CPU and round trip, measured in the same run, taken out per request)\n`);
  console.log('| workload | server | requests/s | VMM host CPU per request (µs) | share of a core | QEMU as measured: requests/s, CPU per request, of it qtest (µs) |\n|---|---|---|---|---|---|');
  for (const row of rows) {
    const [t, q] = [summarizeP9Path(row.tsvmm), summarizeP9Path(row.qemu)];
    console.log(`| ${about[row.workload]} | tsvmm | ${f(t.rate, 0)} | ${f(t.cpuUs, 1)} | ${f(t.share, 2)} | |`);
    console.log(`| | QEMU | ${f(q.rate, 0)} | ${f(q.cpuUs, 1)} | ${f(q.share, 2)} | ${f(q.measured!.rate, 0)}, ${f(q.measured!.cpuUs, 1)}, ${f(q.measured!.qtestCpuUs, 1)} |`);
  }
  const ratio = (row: (typeof rows)[number]) => {
    const [t, q] = [summarizeP9Path(row.tsvmm), summarizeP9Path(row.qemu)];
    return `${row.workload}: requests/s ${f(t.rate / q.rate, 2)}, CPU per request ${f(t.cpuUs / q.cpuUs, 2)}`;
  };
  console.log(`\n**tsvmm / QEMU: ${rows.map(ratio).join('; ')}** (issue 15: throughput ${bound(TARGETS.p9Throughput)}; issue 17: CPU per request ${bound(TARGETS.p9Cpu)})`);
  for (const row of rows) {
    const [t, q] = [summarizeP9Path(row.tsvmm), summarizeP9Path(row.qemu)];
    targets.check(TARGETS.p9Throughput, `virtio-9p without KVM, ${row.workload}: requests/s, tsvmm / QEMU`, t.rate / q.rate);
    targets.check(TARGETS.p9Cpu, `virtio-9p without KVM, ${row.workload}: CPU per request, tsvmm / QEMU`, t.cpuUs / q.cpuUs);
  }
  const samples = (runs: readonly P9PathResult[]) => runs.map((r) => `${f(r.requestsPerSecond, 0)}/${f(r.vmmCpuUsPerRequest, 1)}`).join(', ');
  console.log(`Samples (requests/s / CPU µs per request, tsvmm; QEMU): ${rows.map((row) => `${row.workload} ${samples(row.tsvmm)}; ${samples(row.qemu)}`).join(' — ')}\n`);
}

async function netPathSection(): Promise<void> {
  if (!qemuAvailable()) {
    console.log('## The virtio-net data path without KVM\n\nskipped: needs qemu-system-x86_64 for the reference\n');
    return;
  }
  const noTap = tapProblem();
  const rows = await compareNetDataPath(rounds, noTap ? ['stream'] : ['stream', 'tap'], sectionProgress('net-path'));
  console.log(`## The virtio-net data path without KVM (a driver thread plays Linux's driver, MRG_RXBUF and EVENT_IDX, and holds the far end, which in ping echoes each frame: the stream's other socket, where passt would be, against QEMU 7.2's \`-netdev stream\`; a raw packet socket on a tap's host side, against \`-netdev tap\`; QEMU's NIC reached through qtest: one qtest command's CPU and round trip, measured in the same run, taken out per doorbell)\n`);
  console.log('| backend | direction | frame (bytes) | NIC | frames/s (ping: round trips/s) | MB/s | VMM host CPU per frame (ping: per round trip, µs) | share of a core |\n|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    for (const [name, runs] of [['tsvmm', row.tsvmm], ['QEMU', row.qemu]] as const) {
      const m = summarizeNetPath(runs);
      console.log(`| ${row.backend} | ${row.workload} | ${row.frameBytes} | ${name} | ${f(m.rate, 0)} | ${f((m.rate * row.frameBytes) / 1e6, 0)} | ${f(m.cpuUs, 2)} | ${f(m.share, 2)} |`);
    }
  }
  if (noTap) console.log(`\n(tap rows skipped: ${noTap})`);
  const ratio = (row: (typeof rows)[number]) => {
    const [t, q] = [summarizeNetPath(row.tsvmm), summarizeNetPath(row.qemu)];
    return `${row.backend} ${row.workload} ${row.frameBytes}: throughput ${f(t.rate / q.rate, 2)}, CPU per frame ${f(t.cpuUs / q.cpuUs, 2)}`;
  };
  console.log(`\n**tsvmm / QEMU: ${rows.map(ratio).join('; ')}** (issue 14 targets: throughput ${bound(TARGETS.netThroughput)}, CPU per packet ${bound(TARGETS.netCpu)})`);
  for (const row of rows) {
    const [t, q] = [summarizeNetPath(row.tsvmm), summarizeNetPath(row.qemu)];
    const what = `virtio-net without KVM over ${row.backend}, ${row.workload} ${row.frameBytes}-byte frames${row.workload === 'ping' ? " (QEMU's figures corrected for qtest)" : ''}`;
    targets.check(TARGETS.netThroughput, `${what}: throughput, tsvmm / QEMU`, t.rate / q.rate);
    targets.check(TARGETS.netCpu, `${what}: CPU per frame, tsvmm / QEMU`, t.cpuUs / q.cpuUs);
  }
  for (const row of rows.filter((r) => r.floor.length > 0)) {
    const [t, q, c] = [summarizeNetPath(row.tsvmm), summarizeNetPath(row.qemu), summarizePingFloor(row.floor)];
    // The other bound: QEMU with all of qtest's cost left in (its corrected figures have a doorbell's wake-up taken out too).
    const asMeasured = { rate: median(row.qemu.map((r) => r.measuredFramesPerSecond ?? NaN)), cpuUs: median(row.qemu.map((r) => r.measuredCpuUsPerFrame ?? NaN)) };
    console.log(
      `The floor under ping over ${row.backend} (net-ping-floor.c: the device thread's system calls from C, the same far end): ${f(c.rate, 0)} round trips/s at ${f(c.cpuUs, 2)} µs of CPU each. ` +
        `**tsvmm / floor: rate ${f(t.rate / c.rate, 2)}, CPU ${f(t.cpuUs / c.cpuUs, 2)}; QEMU / floor: rate ${f(q.rate / c.rate, 2)}, CPU ${f(q.cpuUs / c.cpuUs, 2)}** (QEMU's corrected figures beyond the floor mean the correction took out more than qtest cost it). ` +
        `QEMU as measured, qtest's cost left in: ${f(asMeasured.rate, 0)} round trips/s at ${f(asMeasured.cpuUs, 2)} µs; tsvmm against that: rate ${f(t.rate / asMeasured.rate, 2)}, CPU ${f(t.cpuUs / asMeasured.cpuUs, 2)} (QEMU's own figures lie between the two readings)`,
    );
  }
  const samples = (runs: readonly NetPathResult[]) => runs.map((r) => `${f(r.framesPerSecond / 1000, 0)}k/${f(r.vmmCpuUsPerFrame, 1)}`).join(', ');
  console.log(`Samples (frames/s / CPU µs per frame, tsvmm; QEMU): ${rows.map((row) => `${row.backend} ${row.workload} ${row.frameBytes} ${samples(row.tsvmm)}; ${samples(row.qemu)}`).join(' — ')}\n`);
}

async function diskSection(): Promise<void> {
  if (!bootable() || !qemuAvailable()) {
    console.log('## Disk I/O\n\nskipped: needs the default guest (npm run guest) and qemu-system-x86_64\n');
    return;
  }
  const asked = args.includes('--disk-phases') ? (args[args.indexOf('--disk-phases') + 1].split(',') as PhaseName[]) : PHASE_NAMES;
  const unknown = asked.filter((p) => !PHASE_NAMES.includes(p));
  if (unknown.length) throw new Error(`--disk-phases: unknown ${unknown.join(', ')} (phases: ${PHASE_NAMES.join(', ')})`);
  const phases: PhaseName[] = ['warmup', ...asked.filter((p) => p !== 'warmup')];
  const { path: image, remove } = diskBenchImage();
  const runs = { inline: [] as DiskRun[], separate: [] as DiskRun[], qemu: [] as DiskRun[] };
  try {
    for (let i = 0; i < rounds; i++) {
      runs.inline.push(await tsvmmDisk(image, '', phases));
      runs.separate.push(await tsvmmDisk(image, ',process=separate', phases));
      runs.qemu.push(await qemuDisk(image, phases));
    }
  } finally {
    remove();
  }
  const figure = { warmup: 'iops', 'randread-qd1': 'iops', randread: 'iops', 'randread-qd32': 'iops', read: 'MBps', write: 'MBps' } as const;
  const unit = { iops: 'IOPS', MBps: 'MB/s' };
  const at = (rs: DiskRun[], p: PhaseName) => {
    const m = medianPhase(rs.map((r) => r.phases[p]!));
    return { ...m, value: m[figure[p]] };
  };
  const rows: [string, DiskRun[]][] = [
    [`tsvmm, disk in the VMM (${runs.inline[0].engine})`, runs.inline],
    ['tsvmm, disk in its own process', runs.separate],
    ['QEMU microvm virtio-blk-device (aio=io_uring)', runs.qemu],
  ];
  console.log(`## Disk I/O in the default guest (${DISK_MIB} MiB raw image, cache=writeback, tools/guest/blkbench: O_DIRECT + Linux AIO)\n`);
  for (const p of phases) console.log(`- **${p}**: ${PHASES[p].about}`);
  console.log(`\n| VMM | ${phases.map((p) => `${p} ${unit[figure[p]]}`).join(' | ')} | VMM host CPU outside the vCPU thread, µs per request (% of a core, % of it in the kernel): ${phases.join(' / ')} |`);
  console.log(`|---|${phases.map(() => '---|').join('')}---|`);
  for (const [name, rs] of rows) {
    const cells = phases.map((p) => at(rs, p));
    console.log(`| ${name} | ${cells.map((c) => f(c.value, 2)).join(' | ')} | ${cells.map((c) => `${f(c.cpu, 0)} (${f(c.cpuPercent, 1)} %, ${f(c.kernelPercent, 0)} %)`).join(' / ')} |`);
  }
  const ratioOf = (a: DiskRun[], b: DiskRun[], p: PhaseName) => at(a, p).value / at(b, p).value;
  const ratios = (a: DiskRun[], b: DiskRun[]) => phases.map((p) => `${p} ${f(ratioOf(a, b, p), 3)}`).join(', ');
  console.log(`\n**tsvmm / QEMU: ${ratios(runs.inline, runs.qemu)}** (targets: randread ${bound(TARGETS.diskRandomRead)}, read and write ${bound(TARGETS.diskSequential)}; issue 17: IOPS at QD 32 ${bound(TARGETS.blkIopsQd32)}, VMM CPU per request ${bound(TARGETS.blkCpu)}× QEMU's at QD 1 and 32); separate process / in the VMM: ${ratios(runs.separate, runs.inline)} (target ${bound(TARGETS.diskOwnProcess)})`);
  const phaseTargets: Partial<Record<PhaseName, Target>> = { randread: TARGETS.diskRandomRead, read: TARGETS.diskSequential, write: TARGETS.diskSequential };
  for (const p of phases) {
    const target = phaseTargets[p];
    if (target === undefined) continue;
    targets.check(target, `disk in the guest, ${p}: tsvmm / QEMU`, ratioOf(runs.inline, runs.qemu, p));
    targets.check(TARGETS.diskOwnProcess, `disk in the guest, ${p}: in its own process / in the VMM`, ratioOf(runs.separate, runs.inline, p));
  }
  if (phases.includes('randread-qd32')) targets.check(TARGETS.blkIopsQd32, 'disk in the guest, QD 32 IOPS: tsvmm / QEMU', ratioOf(runs.inline, runs.qemu, 'randread-qd32'));
  for (const p of ['randread-qd1', 'randread-qd32'] as const)
    if (phases.includes(p)) targets.check(TARGETS.blkCpu, `disk in the guest, ${p}: VMM CPU per request, tsvmm / QEMU`, at(runs.inline, p).cpu / at(runs.qemu, p).cpu);
  const dma = runs.inline.map((r) => r.dma).filter((d) => d !== undefined); // a device process keeps its own statistics
  const sum = (k: 'directBytes' | 'bouncedBytes') => dma.reduce((a, d) => a + d![k], 0);
  console.log(`\nZero copy (tsvmm --stats, the disk-in-the-VMM runs): ${f(sum('directBytes') / 2 ** 20, 1)} MiB mapped straight into guest RAM, ${f(sum('bouncedBytes') / 2 ** 20, 1)} MiB bounced.`);
  const samples = (rs: DiskRun[]) => rs.map((r) => phases.map((p) => f(r.phases[p]![figure[p]], 1)).join('/')).join(', ');
  console.log(`Per-run samples (${phases.join(' / ')}): ${rows.map(([n, rs]) => `${n.split(' (')[0]}: ${samples(rs)}`).join('; ')}\n`);
}

async function blkGuestSection(): Promise<void> {
  if (!qemuAvailable()) {
    console.log('## Disk I/O from a tiny guest\n\nskipped: needs qemu-system-x86_64\n');
    return;
  }
  const { path: image, remove } = diskBenchImage();
  const runs = { inline: [] as TinyBlkRun[], separate: [] as TinyBlkRun[], qemu: [] as TinyBlkRun[] };
  try {
    for (let i = 0; i < rounds; i++) {
      runs.inline.push(await tsvmmTinyBlk(image));
      runs.separate.push(await tsvmmTinyBlk(image, ',process=separate'));
      runs.qemu.push(await qemuTinyBlk(image));
    }
  } finally {
    remove();
  }
  const names = ['warmup', ...TINY_BLK_PHASES.map(phaseName)];
  const at = (rs: TinyBlkRun[], p: string) => medianPhase(rs.map((r) => r.phases[p]));
  const rows: [string, TinyBlkRun[]][] = [
    ['tsvmm, disk in the VMM', runs.inline],
    ['tsvmm, disk in its own process', runs.separate],
    ['QEMU microvm virtio-blk-device (aio=io_uring)', runs.qemu],
  ];
  console.log(`## Disk I/O from a tiny guest (test/guests/src/pvh-blk-load.c: no guest kernel; ${DISK_MIB} MiB raw image, cache=writeback)\n`);
  console.log(`4 KiB random reads kept at a queue depth, completions polled; the device interrupts as for Linux's driver, the guest's CPU keeps them masked: warmup is depth ${TINY_BLK_WARMUP.depth}, ${TINY_BLK_WARMUP.requests} requests (not a target); ${TINY_BLK_PHASES.map((p) => `${phaseName(p)} ${p.requests} requests`).join(', ')}. Times are the host's, from the guest's console marks.\n`);
  console.log(`| VMM | ${names.map((p) => `${p} IOPS`).join(' | ')} | VMM host CPU outside the vCPU thread, µs per request (% of a core, % of it in the kernel): ${names.join(' / ')} |`);
  console.log(`|---|${names.map(() => '---|').join('')}---|`);
  for (const [name, rs] of rows) {
    const cells = names.map((p) => at(rs, p));
    console.log(`| ${name} | ${cells.map((c) => f(c.iops, 0)).join(' | ')} | ${cells.map((c) => `${f(c.cpu, 1)} (${f(c.cpuPercent, 1)} %, ${f(c.kernelPercent, 0)} %)`).join(' / ')} |`);
  }
  const iops = (p: string) => at(runs.inline, p).iops / at(runs.qemu, p).iops;
  const cpu = (p: string) => at(runs.inline, p).cpu / at(runs.qemu, p).cpu;
  console.log(`\n**tsvmm / QEMU: ${names.map((p) => `${p} IOPS ${f(iops(p), 3)}, CPU per request ${f(cpu(p), 2)}`).join('; ')}** (issue 17: IOPS at QD 32 ${bound(TARGETS.blkIopsQd32)}, VMM CPU per request ${bound(TARGETS.blkCpu)}× QEMU's at QD 1 and 32)`);
  targets.check(TARGETS.blkIopsQd32, 'disk from a tiny guest, QD 32 IOPS: tsvmm / QEMU', iops('qd32'));
  for (const p of ['qd1', 'qd32']) targets.check(TARGETS.blkCpu, `disk from a tiny guest, ${p}: VMM CPU per request, tsvmm / QEMU`, cpu(p));
  const samples = (rs: TinyBlkRun[]) => rs.map((r) => names.map((p) => `${f(r.phases[p].iops, 0)}/${f(r.phases[p].vmmCpuMicrosPerOp, 1)}`).join(' ')).join(', ');
  console.log(`Per-run samples (IOPS/µs per request, ${names.join(' ')}): ${rows.map(([n, rs]) => `${n.split(' (')[0]}: ${samples(rs)}`).join('; ')}\n`);
}

async function netSection(): Promise<void> {
  const missing = netBenchAvailable() ?? (qemuAvailable() ? undefined : 'needs qemu-system-x86_64');
  if (missing) {
    console.log(`## Networking\n\nskipped: ${missing}\n`);
    return;
  }
  const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
  const progress = sectionProgress('net');
  const opts = { mib: option('--net-mib', 16), pings: option('--net-pings', 500), progress };
  if (!(opts.mib >= 1 && opts.mib <= NET_MAX_MIB)) throw new Error(`--net-mib: from 1 to ${NET_MAX_MIB} (the guest holds what it sends in its RAM)`);
  const runs = new Map<string, NetRun[]>();
  const measure = async (backend: NetBackendName) => {
    for (let i = 0; i < rounds; i++)
      for (const [vmm, run] of [['tsvmm', tsvmmNet], ['QEMU', qemuNet]] as const) {
        const key = `${vmm} ${backend}`;
        progress(`round ${i + 1}/${rounds}: ${key}`);
        runs.set(key, [...(runs.get(key) ?? []), await run(backend, opts)]);
      }
  };
  allowPingSocketsInL1();
  await measure('passt');
  const noTap = tapProblem();
  if (!noTap) await withTap(() => measure('tap'));
  const at = (key: string, pick: (r: NetRun) => number) => median(runs.get(key)!.map(pick));
  console.log(`## Networking in the default guest (virtio-net; ${opts.mib} MiB each way over TCP, ${opts.pings} pings)\n`);
  for (const p of NET_PHASES) console.log(`- **${p}**: ${NET_PHASE_ABOUT[p]}`);
  console.log('\n| VMM, backend | send MB/s | recv MB/s | ping packets/s | VMM host CPU outside the vCPU thread, µs per packet (% of a core, % of it in the kernel): send / recv / ping |\n|---|---|---|---|---|');
  for (const key of runs.keys()) {
    const cpu = NET_PHASES.map(
      (p) => `${f(at(key, (r) => r.phases[p].vmmCpuMicrosPerPacket), 1)} (${f(at(key, (r) => r.phases[p].vmmCpuPercent), 1)} %, ${f(at(key, (r) => r.phases[p].vmmKernelPercent), 0)} %)`,
    ).join(' / ');
    console.log(`| ${key} | ${f(at(key, (r) => r.phases.send.MBps))} | ${f(at(key, (r) => r.phases.recv.MBps))} | ${f(at(key, (r) => r.phases.ping.pps), 0)} | ${cpu} |`);
  }
  for (const backend of noTap ? ['passt'] : ['passt', 'tap']) {
    const of = (pick: (r: NetRun) => number) => at(`tsvmm ${backend}`, pick) / at(`QEMU ${backend}`, pick);
    const ratio = (pick: (r: NetRun) => number) => f(of(pick), 3);
    for (const p of NET_PHASES) {
      targets.check(TARGETS.netThroughput, `guest network over ${backend}, ${p}: ${p === 'ping' ? 'packets/s' : 'MB/s'}, tsvmm / QEMU`, of((r) => (p === 'ping' ? r.phases.ping.pps : r.phases[p].MBps)));
      targets.check(TARGETS.netCpu, `guest network over ${backend}, ${p}: VMM CPU per packet, tsvmm / QEMU`, of((r) => r.phases[p].vmmCpuMicrosPerPacket));
    }
    console.log(
      `\n**${backend}, tsvmm / QEMU: throughput send ${ratio((r) => r.phases.send.MBps)}, recv ${ratio((r) => r.phases.recv.MBps)}, ping rate ${ratio((r) => r.phases.ping.pps)}; ` +
        `CPU per packet send ${ratio((r) => r.phases.send.vmmCpuMicrosPerPacket)}, recv ${ratio((r) => r.phases.recv.vmmCpuMicrosPerPacket)}, ping ${ratio((r) => r.phases.ping.vmmCpuMicrosPerPacket)}** (targets: throughput ${bound(TARGETS.netThroughput)}, CPU per packet ${bound(TARGETS.netCpu)})`,
    );
  }
  if (noTap) console.log(`\ntap rows skipped: ${noTap}`);
  const tsvmmRuns = [...runs.entries()].filter(([k]) => k.startsWith('tsvmm')).flatMap(([, rs]) => rs);
  const dma = tsvmmRuns.map((r) => r.dma).filter((d) => d !== undefined);
  const sum = (k: 'directBytes' | 'bouncedBytes') => dma.reduce((a, d) => a + d![k], 0);
  const copied = tsvmmRuns.reduce((a, r) => a + (r.rxCopiedBytes ?? 0), 0);
  console.log(`\nZero copy (tsvmm --stats): ${f(sum('directBytes') / 2 ** 20, 1)} MiB of frames mapped straight from/into guest RAM (${f(copied / 2 ** 20, 1)} MiB of them received frames copied in from a stream's read-ahead), ${f(sum('bouncedBytes') / 2 ** 20, 1)} MiB bounced.`);
  const samples = (key: string) => runs.get(key)!.map((r) => `${f(r.phases.send.MBps, 1)}/${f(r.phases.recv.MBps, 1)}/${f(r.phases.ping.pps, 0)}`).join(', ');
  console.log(`Per-run samples (send MB/s / recv MB/s / ping packets/s): ${[...runs.keys()].map((k) => `${k}: ${samples(k)}`).join('; ')}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
