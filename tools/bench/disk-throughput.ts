// Sequential read and write throughput of a 256 MiB raw disk inside the
// default guest: tsvmm (disk served by the VMM, and by a device process) vs
// QEMU microvm with virtio-blk-device, same kernel, initrd and image, one
// run. Times come from console markers the guest prints around each dd.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDefaultGuest, type GuestManifest } from '../../src/cli/default-guest.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { timedRun } from './process-timing.js';
import { bootSeedWord } from './boot-vs-qemu.js';

const TSVMM = join(PROJECT_ROOT, 'bin', 'tsvmm.js');
export const DISK_MIB = 64;
const MARKS = ['START-R', 'END-R', 'START-W', 'END-W'];
// O_DIRECT on the guest side: through the guest's page cache, reclaim in a
// 256 MiB guest (emulated here) dominated everything. The write ends with
// fsync, so it includes the flush to the host.
const GUEST_COMMAND = `echo START-R; dd if=/dev/vda of=/dev/null bs=1M count=${DISK_MIB} iflag=direct 2>/dev/null; echo END-R; echo START-W; dd if=/dev/zero of=/dev/vda bs=1M count=${DISK_MIB} oflag=direct conv=fsync 2>/dev/null; echo END-W`;

export interface DiskThroughput {
  readMBps: number;
  writeMBps: number;
}

function throughput(markers: Record<string, number>, output: string): DiskThroughput {
  for (const m of MARKS) if (markers[m] === undefined) throw new Error(`the guest never printed ${m}:\n${output.slice(-2000)}`);
  const mb = (DISK_MIB * 2 ** 20) / 1e6;
  return { readMBps: mb / (markers['END-R'] - markers['START-R']), writeMBps: mb / (markers['END-W'] - markers['START-W']) };
}

export async function tsvmmDisk(image: string, diskOptions = ''): Promise<DiskThroughput> {
  const guest = readDefaultGuest()!;
  const r = await timedRun(
    process.execPath,
    [TSVMM, 'run', '--kernel', guest.vmlinux, '--initrd', guest.initrd, '--mem', '256M', '--disk', `${image}${diskOptions}`, '--cmdline', `${guest.cmdline} -- ${GUEST_COMMAND}`, '--log-level', 'warn'],
    { markers: MARKS, timeoutMs: 900_000 },
  );
  return throughput(r.markers, r.stdout + r.stderr);
}

/** QEMU's microvm announces its virtio-mmio slots on the kernel command line itself; learn where, once. */
async function qemuVirtioWords(guest: GuestManifest, image: string): Promise<string> {
  const r = await timedRun('qemu-system-x86_64', [...qemuArgs(guest, image), '-append', `${guest.cmdline} -- true`, '-M', 'microvm,x-option-roms=off,rtc=off,pit=on,pic=on,isa-serial=on,acpi=off,auto-kernel-cmdline=on'], {
    timeoutMs: 300_000,
  });
  const words = /Command line: .*/.exec(r.stdout)?.[0].match(/virtio_mmio\.device=\S+/g);
  if (!words) throw new Error(`QEMU announced no virtio-mmio device:\n${r.stdout.slice(0, 2000)}`);
  return words.join(' ');
}

function qemuArgs(guest: GuestManifest, image: string): string[] {
  return [
    '-enable-kvm', '-cpu', 'host,-arch-capabilities', '-m', '256M', '-smp', '1',
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot', '-serial', 'stdio',
    '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
    '-drive', `file=${image},format=raw,if=none,id=d0,cache=writeback,aio=io_uring`, '-device', 'virtio-blk-device,drive=d0',
    '-kernel', guest.vmlinux, '-initrd', guest.initrd,
  ];
}

export async function qemuDisk(image: string): Promise<DiskThroughput> {
  const guest = readDefaultGuest()!;
  const words = await qemuVirtioWords(guest, image);
  // The same words, placed before `--` (QEMU would append them after it, to init's command).
  const r = await timedRun('qemu-system-x86_64', [...qemuArgs(guest, image), '-M', 'microvm,x-option-roms=off,rtc=off,pit=on,pic=on,isa-serial=on,acpi=off,auto-kernel-cmdline=off', '-append', `${guest.cmdline} ${words} ${bootSeedWord()} -- ${GUEST_COMMAND}`], {
    markers: MARKS,
    timeoutMs: 900_000,
  });
  return throughput(r.markers, r.stdout + r.stderr);
}

export function scratchImage(): { image: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-disk-'));
  const image = join(dir, 'disk.img');
  // Sparse: both VMMs read it from the host's page cache alike; writes fill it.
  execFileSync('truncate', ['-s', `${DISK_MIB}M`, image]);
  return { image, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
