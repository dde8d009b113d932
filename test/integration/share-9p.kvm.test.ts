// Host directory sharing (`--share`: virtio-9p + the 9P2000.L server) with the
// default guest's own v9fs client: it mounts the share, checksums a host file
// (read through the zero-copy Tread path), writes files the test then reads on
// the host, and a read-only share refuses a write.
// The helper is jailed: its root holds the shares (bound in) and nothing
// else. Run as root, it serves them as nobody, so the directories are open to all.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { defaultGuestOrMissing } from '../support/default-guest.js';
import { describeKvm } from '../support/host-requirements.js';
import { runTsvmm } from '../support/run-tsvmm.js';

const BOOT_TIMEOUT_MS = 300_000;
const dir = mkdtempSync(join(tmpdir(), 'tsvmm-share-9p-'));
const roDir = mkdtempSync(join(tmpdir(), 'tsvmm-share-9p-ro-'));
chmodSync(dir, 0o777);
chmodSync(roDir, 0o755);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(roDir, { recursive: true, force: true });
});

describeKvm('host directory sharing (virtio-9p)', () => {
  const guest = defaultGuestOrMissing();
  if (!guest) return;
  it(
    'the guest mounts a share, reads a host file exactly, writes files the host sees; a read-only share refuses writes',
    async () => {
      const data = randomBytes(3 * 1024 * 1024 + 123);
      writeFileSync(join(dir, 'data.bin'), data);
      writeFileSync(join(roDir, 'keep.txt'), 'keep');
      const note = `note-${randomBytes(6).toString('hex')}`;
      const script = [
        'mkdir -p /mnt/rw /mnt/ro',
        'mount -t 9p -o trans=virtio,version=9p2000.L share0 /mnt/rw && echo mounted-rw',
        'mount -t 9p -o trans=virtio,version=9p2000.L ro0 /mnt/ro && echo mounted-ro',
        'echo "sum: $(sha256sum /mnt/rw/data.bin)"',
        'cp /mnt/rw/data.bin /mnt/rw/copy.bin && echo copied',
        `echo ${note} > /mnt/rw/note.txt`,
        'mkdir /mnt/rw/sub && echo made-dir',
        'ls -la /mnt/rw; cat /proc/mounts | grep 9p; id',
        'sync',
        'echo "ro-read: $(cat /mnt/ro/keep.txt)"',
        '(echo x > /mnt/ro/new.txt) 2>/dev/null && echo ro-wrote || echo ro-refused',
        'umount /mnt/rw; umount /mnt/ro',
      ].join('; ');
      const r = await runTsvmm(['run', '--share', dir, '--share', `${roDir},tag=ro0,ro`, '--log-level', 'warn', '--', 'sh', '-c', script], { timeoutMs: BOOT_TIMEOUT_MS });
      const log = r.stdout.slice(-3000) + r.stderr.slice(-2000);
      expect(r.timedOut, log).toBe(false);
      expect(r.stdout, log).toContain('mounted-rw');
      expect(r.stdout, log).toContain('mounted-ro');
      expect(r.stdout, log).toContain(`sum: ${createHash('sha256').update(data).digest('hex')}`);
      expect(r.stdout, log).toContain('copied');
      expect(existsSync(join(dir, 'copy.bin')), log).toBe(true);
      expect(readFileSync(join(dir, 'copy.bin')).equals(data)).toBe(true);
      expect(readFileSync(join(dir, 'note.txt'), 'utf8')).toBe(`${note}\n`);
      expect(existsSync(join(dir, 'sub'))).toBe(true);
      expect(r.stdout, log).toContain('ro-read: keep');
      expect(r.stdout, log).toContain('ro-refused');
      expect(existsSync(join(roDir, 'new.txt'))).toBe(false);
      expect(r.status, r.stderr.slice(-2000)).toBe(0);
    },
    BOOT_TIMEOUT_MS + 10_000,
  );
});
