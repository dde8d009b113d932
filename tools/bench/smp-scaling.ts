// Several vCPUs in the default guest: the boot with 2 vCPUs against QEMU's
// with 2 (boot-vs-qemu.ts), and a CPU-bound job of two busy shell loops run
// in parallel, timed on the host between two markers the guest prints, with
// 1 and with 2 vCPUs, under tsvmm and under QEMU (-smp).
import { withKernelWords } from '../../src/cli/run-command.js';
import { readDefaultGuest } from '../../src/cli/default-guest.js';
import { median, timedRun } from './process-timing.js';
import { QEMU, QEMU_MICROVM, qemuGuestArgs, qemuKernelWords } from './qemu-reference.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';

const START = 'smpjob start';
const END = 'smpjob end';

/** Seconds the two-loop job took, by VMM and vCPU count (medians; NaN where the VMM could not run it, with why in `problems`). */
export interface ParallelJobTimes {
  tsvmm: Record<1 | 2, number>;
  qemu: Record<1 | 2, number>;
  loops: number;
  problems: string[];
}

/** The guest's command: the markers spelt through $t (the kernel echoes its command line at boot). */
function jobCommand(loops: number): string {
  const loop = `(i=0; while [ $i -lt ${loops} ]; do i=$((i+1)); done)`;
  return `/bin/sh -c 't=smpjob; echo "$t start"; ${loop} & ${loop} & wait; echo "$t end"'`;
}

export async function measureParallelJob(rounds: number, loops: number): Promise<ParallelJobTimes> {
  const guest = readDefaultGuest();
  if (!guest) throw new Error('the default guest is not built: run `npm run guest`');
  const cmdline = `${guest.cmdline} -- ${jobCommand(loops)}`;
  const samples = { tsvmm: { 1: [] as number[], 2: [] as number[] }, qemu: { 1: [] as number[], 2: [] as number[] } };
  const time = async (vmm: 'tsvmm' | 'qemu', cpus: 1 | 2) => {
    const [command, args] =
      vmm === 'tsvmm'
        ? [TSVMM, ['run', '--kernel', guest.vmlinux, '--initrd', guest.initrd, '--cmdline', cmdline, '--mem', '256M', '--cpus', String(cpus), '--log-level', 'warn']]
        : [QEMU, ['-M', QEMU_MICROVM, ...qemuGuestArgs(guest, cpus), '-append', withKernelWords(cmdline, qemuKernelWords())]];
    const r = await timedRun(command, args, { markers: [START, END], timeoutMs: 1_200_000 });
    if (r.markers[START] === undefined || r.markers[END] === undefined) throw new Error(`${vmm} with ${cpus} vCPUs: the job did not run (status ${r.status}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
    samples[vmm][cpus].push(r.markers[END] - r.markers[START]);
  };
  const problems: string[] = [];
  for (let i = 0; i < rounds; i++)
    for (const cpus of [1, 2] as const)
      for (const vmm of ['tsvmm', 'qemu'] as const) await time(vmm, cpus).catch((e: Error) => problems.push(e.message.split('\n')[0]));
  const m = (xs: number[]) => (xs.length ? median(xs) : NaN);
  return { tsvmm: { 1: m(samples.tsvmm[1]), 2: m(samples.tsvmm[2]) }, qemu: { 1: m(samples.qemu[1]), 2: m(samples.qemu[2]) }, loops, problems };
}
