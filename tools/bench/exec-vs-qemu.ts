// `tsvmm exec` against QEMU doing the same (issue 15): the default guest's
// init in exec mode (tools/guest/init) runs a command in the host's tree,
// shared read-only over virtio-9p, with a scratch directory shared writable
// as the working directory and the command's output on virtio-console ports.
// QEMU gets the same kernel, initrd and command line, its own virtio-9p
// (`-fsdev local`) and virtio-serial ports with the same names; only the VMM
// differs. Measured, per round and VMM:
//  * boot to command: wall time of `exec -- true`, from the VMM's start to its exit;
//  * 9p data: `cat` of a 100 MiB file in the working directory to /dev/null;
//  * 9p metadata: `find` stat-ing a tree of 10,000 files;
//  * the same `cat` again, once the share's server has served the two
//    above: tsvmm's device process is then past most of V8's warm-up,
//    which in the nested L1 is much of the first `cat`'s time
//    (docs/host-kvm.md); the targets are the first `cat`'s;
// the last three timed inside the guest (`date +%s%N` around each). In the
// nested L1 every 9p request costs milliseconds under either VMM, so the
// sizes there are smaller (ExecSizes; the report names them).
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernelParamValue } from '../../src/cli/exec-command.js';
import { readDefaultGuest, type GuestManifest } from '../../src/cli/default-guest.js';
import { withInitCommand, withKernelWords } from '../../src/cli/run-command.js';
import { median, timedRun } from './process-timing.js';
import { QEMU, QEMU_MICROVM, qemuGuestArgs, qemuKernelWords, qemuVirtioWords } from './qemu-reference.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';
import { sectionProgress } from './progress.js';

/** Prints the nanoseconds `cat`, `find` and `cat` again took, one line each (host binaries, GNU date). */
const DATA_COMMAND =
  's=$(date +%s%N); cat big.bin >/dev/null; m=$(date +%s%N); find tree -printf "%s\\n" >/dev/null; e=$(date +%s%N); cat big.bin >/dev/null; a=$(date +%s%N); echo "cat $((m - s))"; echo "find $((e - m))"; echo "again $((a - e))"';

export interface ExecSizes {
  bigFileMiB: number;
  treeFiles: number;
}

/** The sizes; `nested`: what the L1 gets through in minutes. */
export function defaultExecSizes(nested: boolean): ExecSizes {
  return nested ? { bigFileMiB: 32, treeFiles: 1000 } : { bigFileMiB: 100, treeFiles: 10_000 };
}

export interface ExecSample {
  /** Seconds from start to exit of `exec -- true`. */
  bootToExit: number;
  /** MiB/s of cat over 9p. */
  catMiBps: number;
  /** MiB/s of the same cat once `cat` and `find` have been served. */
  catAgainMiBps: number;
  /** Files per second stat-ed by find over 9p. */
  findFilesPerSecond: number;
}

export interface ExecComparison {
  tsvmm: ExecSample[];
  qemu: ExecSample[];
}

/** The scratch working directory: the big file and the tree of small files (100 directories). */
function makeScratch(sizes: ExecSizes): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-exec-'));
  chmodSync(dir, 0o777); // served as nobody when the benchmark runs as root
  const chunk = Buffer.alloc(1 << 20, 0x5a);
  writeFileSync(join(dir, 'big.bin'), Buffer.concat(Array.from({ length: sizes.bigFileMiB }, () => chunk)));
  for (let d = 0; d < 100; d++) {
    const sub = join(dir, 'tree', String(d));
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < sizes.treeFiles / 100; f++) writeFileSync(join(sub, String(f)), 'x');
  }
  return dir;
}

function parseTimes(out: string, vmm: string, sizes: ExecSizes): { catMiBps: number; findFilesPerSecond: number; catAgainMiBps: number } {
  const cat = /cat (\d+)/.exec(out);
  const find = /find (\d+)/.exec(out);
  const again = /again (\d+)/.exec(out);
  if (!cat || !find || !again) throw new Error(`${vmm}: the guest printed no timings:\n${out.slice(-1500)}`);
  const mibps = (ns: string) => sizes.bigFileMiB / (Number(ns) / 1e9);
  return { catMiBps: mibps(cat[1]), findFilesPerSecond: sizes.treeFiles / (Number(find[1]) / 1e9), catAgainMiBps: mibps(again[1]) };
}

async function tsvmmExec(dir: string, command: string): Promise<{ seconds: number; stdout: string }> {
  const r = await timedRun(TSVMM, ['exec', '--mem', '256M', '--', 'sh', '-c', command], { cwd: dir, timeoutMs: 600_000 });
  if (r.status !== 0) throw new Error(`tsvmm exec ended with ${r.status}:\n${r.stderr.slice(-2000)}`);
  return { seconds: r.seconds, stdout: r.stdout };
}

function qemuArgs(guest: GuestManifest, dir: string, outFile: string): string[] {
  return [
    ...qemuGuestArgs(guest),
    '-fsdev', 'local,id=root,path=/,security_model=none,readonly=on',
    '-device', 'virtio-9p-device,fsdev=root,mount_tag=tsvmm-root',
    '-fsdev', `local,id=cwd,path=${dir},security_model=none`,
    '-device', 'virtio-9p-device,fsdev=cwd,mount_tag=tsvmm-cwd',
    '-device', 'virtio-serial-device',
    '-chardev', `file,id=out,path=${outFile}`,
    '-device', 'virtserialport,chardev=out,name=stdout',
    '-chardev', `file,id=err,path=${outFile}.err`,
    '-device', 'virtserialport,chardev=err,name=stderr',
  ];
}

async function qemuExec(guest: GuestManifest, dir: string, command: string): Promise<{ seconds: number; stdout: string }> {
  const outFile = join(dir, '.qemu-stdout');
  const args = qemuArgs(guest, dir, outFile);
  const words = `${qemuKernelWords()} ${await qemuVirtioWords(guest, args)} quiet tsvmm.exec=1 tsvmm.uid=0 tsvmm.gid=0 tsvmm.cwd=${kernelParamValue(dir)}`;
  const cmdline = withKernelWords(withInitCommand(guest.cmdline, ['sh', '-c', command]), words);
  // A guest that panics hangs QEMU's microvm (no reset it can take): a bounded wait.
  const r = await timedRun(QEMU, ['-M', `${QEMU_MICROVM},acpi=off,auto-kernel-cmdline=off`, ...args, '-append', cmdline], { timeoutMs: 300_000 });
  // isa-debug-exit: QEMU exits with (status << 1) | 1.
  if (r.status !== 1) throw new Error(`QEMU ended with ${r.status} (guest status ${((r.status ?? 0) - 1) / 2}):\n${r.stdout.slice(-2000)}${r.stderr.slice(-1000)}`);
  return { seconds: r.seconds, stdout: readFileSync(outFile, 'latin1') };
}

export async function compareExec(rounds: number, sizes: ExecSizes): Promise<ExecComparison> {
  const guest = readDefaultGuest();
  if (!guest) throw new Error('the default guest is not built: run `npm run guest`');
  if (process.getuid?.() !== 0) throw new Error('needs root: QEMU serves the host\'s / with security_model=none');
  const progress = sectionProgress('exec');
  progress(`making the scratch tree: ${sizes.bigFileMiB} MiB file, ${sizes.treeFiles} small files`);
  const dir = makeScratch(sizes);
  try {
    const result: ExecComparison = { tsvmm: [], qemu: [] };
    for (let i = 0; i < rounds; i++) {
      progress(`round ${i + 1}/${rounds}: tsvmm exec`);
      const t = await tsvmmExec(dir, 'true');
      const td = await tsvmmExec(dir, DATA_COMMAND);
      result.tsvmm.push({ bootToExit: t.seconds, ...parseTimes(td.stdout, 'tsvmm', sizes) });
      progress(`round ${i + 1}/${rounds}: QEMU`);
      const q = await qemuExec(guest, dir, 'true');
      const qd = await qemuExec(guest, dir, DATA_COMMAND);
      result.qemu.push({ bootToExit: q.seconds, ...parseTimes(qd.stdout, 'QEMU', sizes) });
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function summarizeExec(samples: ExecSample[]): ExecSample {
  return {
    bootToExit: median(samples.map((s) => s.bootToExit)),
    catMiBps: median(samples.map((s) => s.catMiBps)),
    catAgainMiBps: median(samples.map((s) => s.catAgainMiBps)),
    findFilesPerSecond: median(samples.map((s) => s.findFilesPerSecond)),
  };
}
