// virtio-blk with a real Linux guest, in one boot: read a file of known
// SHA-256 from an ext4 disk, write and sync a file the host then sees, have
// a read-only disk refuse writes, read it at queue depth 16 (blkbench), and
// kill -9 the VMM (the helper, or tsvmm itself) right after a sync — the
// synced data must be on the host's disk, and no process of the VM is left.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readDefaultGuest } from '../../src/cli/default-guest.js';
import { deadline } from '../support/deadline.js';
import { describeKvm } from '../support/host-requirements.js';
import { runTsvmm } from '../support/run-tsvmm.js';

const guest = readDefaultGuest();
const BOOT_TIMEOUT_MS = 300_000;
const dir = mkdtempSync(join(tmpdir(), 'tsvmm-disk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The guest-side script, run from the disk itself (the kernel limits init's argument count). */
const GUEST_SCRIPT = `
sha256sum /mnt/known.bin
echo written-by-guest > /mnt/new.txt
sync
mkdir -p /ro && mount -o ro /dev/vdb /ro
echo x > /ro/f 2>/dev/null || echo ro-refused
echo "ro-flag=$(cat /sys/block/vdb/ro)"
blkbench /dev/vdb randread 4096 16 64K
echo survives-kill-9 > /mnt/killtest.txt
sync
echo SYNCED-MARKER
sleep 600
`;

function ext4Image(path: string, sizeMiB: number, content?: string): void {
  execFileSync('truncate', ['-s', `${sizeMiB}M`, path]);
  execFileSync('mkfs.ext4', ['-q', '-F', ...(content ? ['-d', content] : []), path]);
}

/** A file's content in an ext4 image, after replaying its journal (as a mount would) on a copy. */
function readFromImage(image: string, file: string): string {
  const copy = `${image}.fsck`;
  copyFileSync(image, copy);
  try {
    execFileSync('e2fsck', ['-fy', copy], { stdio: 'ignore' });
  } catch (e) {
    if ((e as { status?: number }).status! > 1) throw e; // 1 = errors corrected (journal replayed)
  }
  return execFileSync('debugfs', ['-R', `cat ${file}`, copy], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

/** Waits until none of the processes exists (each is killed when the deadline passes, so none outlives the test). */
async function expectGone(pids: number[]): Promise<void> {
  const alive = () => pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  const until = Date.now() + deadline(15_000);
  while (alive().length > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 200));
  const left = alive();
  for (const pid of left) process.kill(pid, 'SIGKILL');
  expect(left, 'processes of the VM still running after tsvmm was killed').toEqual([]);
}

describeKvm('Linux guest with virtio-blk disks', () => {
  it.each([
    ['served by the VMM', 'the helper', ''],
    ['served by its own jailed device process (ioregionfd)', 'tsvmm itself', ',process=separate'],
  ])(
    'reads, writes, refuses writes to a read-only disk, and keeps flushed data through kill -9 (disk %s; killed: %s)',
    async (_how, victim, diskOptions) => {
      const killFrontend = victim === 'tsvmm itself';
      if (!guest) {
        if (process.env.TSVMM_REQUIRE_GUEST === '1') throw new Error('the default guest is not built (npm run guest)');
        return;
      }
      const work = mkdtempSync(join(dir, 'run-'));
      const root = join(work, 'root');
      mkdirSync(root);
      const known = randomBytes(300_000);
      writeFileSync(join(root, 'known.bin'), known);
      writeFileSync(join(root, 'test.sh'), GUEST_SCRIPT);
      const disk = join(work, 'disk.img');
      const ro = join(work, 'ro.img');
      ext4Image(disk, 64, root);
      ext4Image(ro, 8);

      let killed = false;
      let frontendPid: number | undefined;
      let helperPid: number | undefined;
      let devicePid: number | undefined;
      const r = await runTsvmm(
        [
          'run', '--kernel', guest.vmlinux, '--initrd', guest.initrd, '--disk', `${disk}${diskOptions}`, '--disk', `${ro},ro`,
          '--cmdline', `${guest.cmdline} -- /bin/sh -c "mount /dev/vda /mnt && . /mnt/test.sh"`, '--log-level', 'debug',
        ],
        {
          timeoutMs: BOOT_TIMEOUT_MS,
          onSpawn: (pid) => (frontendPid = pid),
          onStderrLine: (line) => {
            if (line.includes('helper is running the guest')) helperPid = JSON.parse(line).pid;
            if (line.includes('device model runs in its own process')) devicePid = JSON.parse(line).pid;
          },
          onStdout: (out) => {
            if (killed || !out.includes('SYNCED-MARKER') || !helperPid) return;
            killed = true;
            // Mid-run: the VMM proper, or the frontend that started it.
            process.kill(killFrontend ? frontendPid! : helperPid, 'SIGKILL');
          },
        },
      );
      expect(r.timedOut, r.stdout.slice(-3000)).toBe(false);
      expect(killed).toBe(true);
      expect(r.stdout).toContain(`${createHash('sha256').update(known).digest('hex')}  /mnt/known.bin`);
      expect(r.stdout).toContain('ro-refused');
      expect(r.stdout).toContain('ro-flag=1');
      // The benchmark's guest tool: 16 requests in flight at once (O_DIRECT, Linux AIO).
      expect(r.stdout).toMatch(/blkbench mode=randread bs=4096 qd=16 ops=16 bytes=65536 ns=\d+/);
      if (killFrontend) {
        expect(r.signal).toBe('SIGKILL');
        // Orphaned, the helper and the device process see their IPC channel close and exit.
        expect(devicePid).toBeDefined();
        await expectGone([helperPid!, devicePid!]);
      } else {
        expect(r.status).not.toBe(0);
        // Through unshare(1) the frontend sees "exited with code 1" rather than the signal.
        expect(r.stderr).toMatch(/the helper (was killed by SIGKILL|exited with code \d+ without reporting)/);
      }
      expect(readFromImage(disk, '/new.txt')).toBe('written-by-guest\n');
      expect(readFromImage(disk, '/killtest.txt')).toBe('survives-kill-9\n');
    },
    BOOT_TIMEOUT_MS + 30_000,
  );
});
