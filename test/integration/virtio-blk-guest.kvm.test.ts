// virtio-blk driven directly by a tiny guest (test/guests/src/long-virtio-blk.c),
// no Linux: transport set-up and feature negotiation, multi-segment reads,
// write + flush + read-back, GET_ID, a read-only disk refusing writes,
// malformed requests answered with an error status, DEVICE_NEEDS_RESET and
// recovery, a reset with requests in flight. Each run takes about a second, so every CI run does all of it
// with each block engine / cache mode below.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeKvm } from '../support/host-requirements.js';
import { GUEST_BIN, runTsvmm } from '../support/run-tsvmm.js';
import { diskScratchDir } from '../support/disk-scratch.js';
import { deadline } from '../support/deadline.js';
import { exitStats } from '../support/exit-stats.js';

const SECTOR = 512;
const DISK0_SECTORS = 2048; // 1 MiB
const DISK1_SECTORS = 128; // 64 KiB, read-only
const GUEST = join(GUEST_BIN, 'long-virtio-blk.elf');

/** Disk 0 as the guest expects it: byte i of sector s = (s*31 + i) & 0xff. */
function disk0Image(): Buffer {
  const b = Buffer.alloc(DISK0_SECTORS * SECTOR);
  for (let s = 0; s < DISK0_SECTORS; s++) for (let i = 0; i < SECTOR; i++) b[s * SECTOR + i] = (s * 31 + i) & 0xff;
  return b;
}

/** Disk 1: byte i of sector s = (s*7 + i*3 + 1) & 0xff. */
function disk1Image(): Buffer {
  const b = Buffer.alloc(DISK1_SECTORS * SECTOR);
  for (let s = 0; s < DISK1_SECTORS; s++) for (let i = 0; i < SECTOR; i++) b[s * SECTOR + i] = (s * 7 + i * 3 + 1) & 0xff;
  return b;
}

/** What the guest writes: sector 2 in one piece, sector 3 from a 100 + 412-byte split. */
function expectedAfterRun(): Buffer {
  const b = disk0Image();
  for (let i = 0; i < SECTOR; i++) b[2 * SECTOR + i] = ((i * 13) ^ 0xa5) & 0xff;
  for (let i = 0; i < SECTOR; i++) b[3 * SECTOR + i] = (255 - i * 3) & 0xff;
  return b;
}

const OUTPUT_HEAD = ['virtio-blk guest', `disk 0: virtio-blk, capacity ${DISK0_SECTORS} sectors`];
const OUTPUT_DISK1 = [`disk 1: virtio-blk, capacity ${DISK1_SECTORS} sectors, read-only`];
const OUTPUT_DISK0_CHECKS = [
  'read sectors 0-1: pattern ok',
  'write, flush, read-back of sector 2: ok',
  'serial: TINY123',
  'four requests in flight: ok',
  'malformed requests refused, device still works',
];
const OUTPUT_RO = ['read-only disk refuses writes'];
const OUTPUT_TAIL = [
  'DEVICE_NEEDS_RESET on a chain without status, reset recovers',
  'reset with requests in flight: ok',
  'virtio-blk ok',
];
const lines = (...groups: string[][]) => groups.flat().join('\n') + '\n';

interface Stats {
  exitsByReason: Record<string, number>;
  accessesByDevice: Record<string, number>;
  acksWithoutExitByDevice: Record<string, number>;
  readsAnsweredByVcpuByDevice: Record<string, number>;
  disks?: Record<string, { reads: number; writes: number; flushes: number; getIds: number; ioErrors: number; unsupported: number }>;
}

const parseStats = (stderr: string) => exitStats<Stats>(stderr);

const dir = diskScratchDir('tsvmm-virtio-blk-guest-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeKvm('virtio-blk driven by a tiny guest', () => {
  const cases: { name: string; disk0Options: string; twoDisks: boolean; stats: boolean; env?: NodeJS.ProcessEnv }[] = [
    { name: 'default engine, with --stats', disk0Options: '', twoDisks: true, stats: true },
    // Disks keep the vCPU on a worker thread (virtual-machine.ts runsVcpuOnMainThread); the same guest with it on the main thread.
    { name: 'the vCPU on the helper\'s main thread (TSVMM_VCPU_THREAD=main), with --stats', disk0Options: '', twoDisks: true, stats: true, env: { TSVMM_VCPU_THREAD: 'main' } },
    { name: 'engine=sync', disk0Options: ',engine=sync', twoDisks: true, stats: false },
    { name: 'cache=none (O_DIRECT)', disk0Options: ',cache=none', twoDisks: true, stats: false },
    { name: 'engine=aio, one disk (slot 1 empty)', disk0Options: ',engine=aio', twoDisks: false, stats: false },
  ];

  for (const c of cases) {
    it(`${c.name}: every guest check passes and the writes reach the image file`, async () => {
      const caseDir = mkdtempSync(join(dir, 'case-'));
      const disk0 = join(caseDir, 'disk0.img');
      const disk1 = join(caseDir, 'disk1.img');
      writeFileSync(disk0, disk0Image());
      writeFileSync(disk1, disk1Image());
      const args = ['run', '--kernel', GUEST, '--disk', `${disk0},serial=TINY123${c.disk0Options}`, '--log-level', 'warn'];
      if (c.twoDisks) args.push('--disk', `${disk1},ro`);
      if (c.stats) args.push('--stats');

      const r = await runTsvmm(args, { timeoutMs: deadline(30_000), env: c.env });
      expect(r.timedOut, r.stderr).toBe(false);
      expect(r.stdout, r.stderr).toBe(
        c.twoDisks
          ? lines(OUTPUT_HEAD, OUTPUT_DISK1, OUTPUT_DISK0_CHECKS, OUTPUT_RO, OUTPUT_TAIL)
          : lines(OUTPUT_HEAD, OUTPUT_DISK0_CHECKS, OUTPUT_TAIL),
      );
      expect(r.status, r.stderr).toBe(0);
      // warnings are expected (the guest provokes them); errors and crashes are not
      expect(r.stderr).not.toMatch(/"level":(50|60)|Error:|panic/);

      // The written sectors are in the file, and nothing else changed.
      const after = readFileSync(disk0);
      const want = expectedAfterRun();
      expect(after.subarray(2 * SECTOR, 4 * SECTOR).equals(want.subarray(2 * SECTOR, 4 * SECTOR))).toBe(true);
      expect(after.equals(want)).toBe(true);
      expect(readFileSync(disk1).equals(disk1Image())).toBe(true);

      if (c.stats) {
        const s = parseStats(r.stderr);
        // Register accesses exit to the VMM (notifications do not: ioeventfd).
        expect(s.exitsByReason.KVM_EXIT_MMIO).toBeGreaterThan(0);
        expect(s.accessesByDevice.vda).toBeGreaterThan(0);
        expect(s.accessesByDevice.vdb).toBeGreaterThan(0);
        // The guest acknowledges the used-buffer interrupt after each batch:
        // KVM counts those writes without an exit, and the guest's next read
        // of InterruptStatus still finds the bit cleared (its own check).
        expect(s.acksWithoutExitByDevice.vda).toBeGreaterThan(5);
        expect(s.acksWithoutExitByDevice.vdb).toBeGreaterThan(0);
        // Its InterruptStatus reads, and the registers fixed for the disk's life
        // (IDs, features, queue size, config), the vCPU thread answers itself.
        expect(s.readsAnsweredByVcpuByDevice.vda).toBeGreaterThan(10);
        expect(s.readsAnsweredByVcpuByDevice.vda).toBeLessThan(s.accessesByDevice.vda);
        expect(s.exitsByReason.KVM_EXIT_INTERNAL_ERROR ?? 0).toBe(0);
        expect(s.exitsByReason.KVM_EXIT_SHUTDOWN ?? 0).toBe(0);
        if (s.disks) {
          // GET_ID once; writes to sectors 2 and 3 plus one refused past the
          // end; two flushes (a third if the reset test's flush was taken
          // before the reset); IOERR for the malformed requests.
          expect(s.disks.vda).toMatchObject({ getIds: 1, writes: 3, unsupported: 1 });
          expect(s.disks.vda.flushes).toBeGreaterThanOrEqual(2);
          expect(s.disks.vda.ioErrors).toBe(6); // bad length, 2 past the end, 2 straddling the end, 1 buffer not in RAM
          expect(s.disks.vdb).toMatchObject({ writes: 1, ioErrors: 1, flushes: 1 });
        }
      }
    });
  }

  // The benchmark's guest (tools/bench/blk-tiny-guest.ts): no interrupts
  // wanted (avail's NO_INTERRUPT), completions polled, a doorbell only when
  // the device has not said it is looking (used's NO_NOTIFY), requests
  // replaced as they complete. Every read must come back, none twice.
  it('a driver that polls with interrupts suppressed keeps 1 and then 32 reads in flight to the end (the benchmark\'s guest)', async () => {
    const disk = join(mkdtempSync(join(dir, 'load-')), 'disk.img');
    writeFileSync(disk, Buffer.alloc(4 << 20, 0x5a));
    const phases = { warmup: 500, qd1: 300, qd32: 3000 };
    const r = await runTsvmm(
      ['run', '--kernel', join(GUEST_BIN, 'pvh-blk-load.elf'), '--disk', disk, '--stats', '--log-level', 'warn', '--cmdline', `blkload.warmup=${phases.warmup} blkload.depths=1:${phases.qd1},32:${phases.qd32}`],
      { timeoutMs: deadline(60_000) },
    );
    expect(r.timedOut, r.stderr).toBe(false);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    for (const [name, ops] of Object.entries(phases)) expect(r.stdout).toContain(`blkload-end ${name} ops=${ops} bytes=${ops * 4096} `);
    expect(r.stdout).toMatch(/blkload device 0x[0-9a-f]+ capacity 8192 queue 128\n/);
    expect(r.stdout).toContain('blkload done\n');
    expect(r.stdout).not.toContain('FAIL');
    const s = parseStats(r.stderr);
    expect(s.disks?.vda).toMatchObject({ reads: phases.warmup + phases.qd1 + phases.qd32, writes: 0, ioErrors: 0 });
  });
});
