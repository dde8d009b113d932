// `npm run bench`: every benchmark measures its reference in the same run
// and prints ratios, as a Markdown report (BENCHMARKS.md records results).
// Run on an otherwise idle machine: two VMs at once livelock on 2 cores.
//   npm run bench [-- --only pio,boot] [--rounds N]
import { measurePioRoundTrip } from './pio-roundtrip.js';
import { compareBoot, qemuAvailable, summarize, tsvmmBoot, type BootSample } from './boot-vs-qemu.js';
import { measureSandboxOverhead } from './sandbox-overhead.js';
import { measureAccessCosts } from './ioregion-access.js';
import { DISK_MIB, PHASES, qemuDisk, scratchImage, tsvmmDisk, type DiskRun, type PhaseName } from './disk-throughput.js';
import { median } from './process-timing.js';
import { readDefaultGuest } from '../../src/cli/default-guest.js';

const bootable = () => readDefaultGuest() !== undefined;
/** Userspace console output goes through the UART's transmit interrupt, printk's through polling. */
const PRINT_FROM_USERSPACE = 'busybox seq 1 4000';
import { measureCoalescing } from './coalescing.js';

const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : undefined;
const rounds = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 3;
const wanted = (name: string) => !only || only.includes(name);
const f = (n: number, digits = 2) => n.toFixed(digits);

async function main(): Promise<void> {
  console.log(`# tsvmm benchmarks (${new Date().toISOString()}, ${rounds} rounds, medians)\n`);
  if (wanted('pio')) {
    const r = await measurePioRoundTrip(rounds * 3); // cheap: more rounds, steadier medians
    console.log('## PIO exit round trip (real-mode guest, 100k OUTs)\n');
    console.log('| loop | µs per exit |\n|---|---|');
    console.log(`| C (tools/bench/pio-loop.c) | ${f(r.cMicros)} |\n| tsvmm (TypeScript, worker thread) | ${f(r.tsMicros)} |`);
    console.log(`\n**ratio tsvmm / C: ${f(r.ratio, 3)}** (target ≤ 1.10)\n`);
  }
  if (wanted('coalescing')) {
    const r = await measureCoalescing(rounds);
    console.log('## Coalesced zones (test device: 2048 MMIO byte writes + console bytes)\n');
    console.log('| zones | exits | run time (ms) |\n|---|---|---|');
    console.log(`| off | ${r.off.exits} | ${f(r.off.ms, 1)} |\n| on | ${r.on.exits} | ${f(r.on.ms, 1)} |`);
    console.log(`\n**exits off / on: ${f(r.off.exits / r.on.exits, 1)}×**, time off / on: ${f(r.off.ms / r.on.ms, 2)}× (target ≥ 3× fewer exits)\n`);
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
    }
    console.log('\n(target: overhead ≤ 5 %)\n');
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
  if (wanted('boot')) {
    if (!qemuAvailable()) console.log('## Boot vs QEMU\n\nskipped: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)\n');
    else {
      const r = await compareBoot(rounds);
      const t = summarize(r.tsvmm);
      const q = summarize(r.qemu);
      console.log(`## Boot of the default guest (256 MiB, \`-- ${r.command}\`)\n`);
      console.log('| VMM | to "Run /init" (s) | to exit status (s) | RSS without guest RAM (MiB) |\n|---|---|---|---|');
      console.log(`| tsvmm | ${f(t.toInit)} | ${f(t.toExit)} | ${f(t.rssMiB, 1)} |\n| QEMU microvm | ${f(q.toInit)} | ${f(q.toExit)} | ${f(q.rssMiB, 1)} |`);
      console.log(`\n**ratio tsvmm / QEMU: to init ${f(t.toInit / q.toInit, 3)}, to exit ${f(t.toExit / q.toExit, 3)}** (target ≤ 1.0); tsvmm RSS ${f(t.rssMiB, 1)} MiB (target ≤ 60)\n`);
    }
  }
}

async function diskSection(): Promise<void> {
  if (!bootable() || !qemuAvailable()) {
    console.log('## Disk I/O\n\nskipped: needs the default guest (npm run guest) and qemu-system-x86_64\n');
    return;
  }
  const { image, remove } = scratchImage();
  const runs = { inline: [] as DiskRun[], separate: [] as DiskRun[], qemu: [] as DiskRun[] };
  try {
    for (let i = 0; i < rounds; i++) {
      runs.inline.push(await tsvmmDisk(image));
      runs.separate.push(await tsvmmDisk(image, ',process=separate'));
      runs.qemu.push(await qemuDisk(image));
    }
  } finally {
    remove();
  }
  const at = (rs: DiskRun[], p: PhaseName) => ({
    iops: median(rs.map((r) => r.phases[p].iops)),
    MBps: median(rs.map((r) => r.phases[p].MBps)),
    cpu: median(rs.map((r) => r.phases[p].vmmCpuMicrosPerOp)),
    cpuPercent: median(rs.map((r) => r.phases[p].vmmCpuPercent)),
  });
  const rows: [string, DiskRun[]][] = [
    [`tsvmm, disk in the VMM (${runs.inline[0].engine})`, runs.inline],
    [`tsvmm, disk in its own process (${runs.separate[0].engine})`, runs.separate],
    ['QEMU microvm virtio-blk-device (aio=io_uring)', runs.qemu],
  ];
  console.log(`## Disk I/O in the default guest (${DISK_MIB} MiB raw image, cache=writeback, tools/guest/blkbench: O_DIRECT + Linux AIO)\n`);
  for (const p of Object.keys(PHASES) as PhaseName[]) console.log(`- **${p}**: ${PHASES[p].about}`);
  console.log('\n| VMM | randread IOPS | read MB/s | write MB/s | VMM host CPU outside the vCPU thread, µs per request (% of a core): randread / read / write |\n|---|---|---|---|---|');
  for (const [name, rs] of rows) {
    const [r, s, w] = (['randread', 'read', 'write'] as const).map((p) => at(rs, p));
    console.log(`| ${name} | ${f(r.iops, 1)} | ${f(s.MBps, 2)} | ${f(w.MBps, 2)} | ${[r, s, w].map((x) => `${f(x.cpu, 0)} (${f(x.cpuPercent, 1)} %)`).join(' / ')} |`);
  }
  const [t, q, sep] = [runs.inline, runs.qemu, runs.separate];
  const ratio = (a: DiskRun[], b: DiskRun[], p: PhaseName, k: 'iops' | 'MBps') => f(at(a, p)[k] / at(b, p)[k], 3);
  console.log(`\n**tsvmm / QEMU: randread IOPS ${ratio(t, q, 'randread', 'iops')} (target ≥ 0.9), read ${ratio(t, q, 'read', 'MBps')}, write ${ratio(t, q, 'write', 'MBps')} (target ≥ 1.0)**; separate process / in the VMM: randread ${ratio(sep, t, 'randread', 'iops')}, read ${ratio(sep, t, 'read', 'MBps')}, write ${ratio(sep, t, 'write', 'MBps')}`);
  const dma = [...runs.inline, ...runs.separate].map((r) => r.dma).filter((d) => d !== undefined);
  const sum = (k: 'directBytes' | 'bouncedBytes') => dma.reduce((a, d) => a + d![k], 0);
  console.log(`\nZero copy (tsvmm --stats, all tsvmm runs): ${f(sum('directBytes') / 2 ** 20, 1)} MiB mapped straight into guest RAM, ${f(sum('bouncedBytes') / 2 ** 20, 1)} MiB bounced.`);
  console.log(`Per-run samples (IOPS / MB/s / MB/s): ${rows.map(([n, rs]) => `${n.split(' (')[0]}: ${rs.map((r) => `${f(r.phases.randread.iops, 1)}/${f(r.phases.read.MBps, 2)}/${f(r.phases.write.MBps, 2)}`).join(', ')}`).join('; ')}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
