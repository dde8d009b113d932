// A kernel users already have: Debian's stock cloud kernel, unmodified (an
// LZ4 bzImage built without the MP table parser or command-line virtio-mmio
// devices: it finds its interrupt controllers and its disk only through ACPI),
// with its own virtio_mmio/virtio_blk modules in an initramfs
// (tools/distro-guest, built by `.ci/run`). It must find /dev/vda, read a
// file from it, and `poweroff -f` must end tsvmm with status 0 (ACPI S5);
// `reboot -f` must end it as a reset does, through the FADT's reset register,
// and with `reboot=b` through the BIOS path (the stub at the reset vector).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeKvm } from '../support/host-requirements.js';
import { runTsvmm } from '../support/run-tsvmm.js';

const GUEST_DIR = join(process.env.TSVMM_CACHE ?? join(homedir(), '.cache', 'tsvmm'), 'distro-guest');
const BOOT_TIMEOUT_MS = 300_000;
const built = existsSync(join(GUEST_DIR, 'guest.json'));
const dir = mkdtempSync(join(tmpdir(), 'tsvmm-distro-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether the distro guest is there to test; under TSVMM_REQUIRE_GUEST=1 (CI) it must be. */
function guestBuilt(): boolean {
  if (built) return true;
  if (process.env.TSVMM_REQUIRE_GUEST === '1') throw new Error('the distro guest is not built: `bash tools/distro-guest/build.sh` must run before the tests');
  return false;
}

/** `reboot -f` in the guest, with `kernelWords` on its command line, ends the VM as a reset (status 1), the log saying how. */
async function rebootsAsReset(kernelWords: string, how: RegExp): Promise<void> {
  if (!guestBuilt()) return;
  const cmdline = ['console=ttyS0 panic=-1', kernelWords, '-- reboot -f'].filter(Boolean).join(' ');
  const r = await runTsvmm(
    ['run', '--kernel', join(GUEST_DIR, 'vmlinuz'), '--initrd', join(GUEST_DIR, 'initrd.gz'), '--cmdline', cmdline, '--log-level', 'info'],
    { timeoutMs: BOOT_TIMEOUT_MS },
  );
  const tail = `status ${r.status}\n--- console, last lines:\n${r.stdout.slice(-3000)}\n--- stderr:\n${r.stderr.slice(-2000)}`;
  expect(r.timedOut, tail).toBe(false);
  expect(r.stderr, tail).toMatch(how);
  expect(r.status, tail).toBe(1);
}

describeKvm('a stock Debian cloud kernel', () => {
  it(
    'boots through ACPI, reads its virtio disk and powers off with status 0',
    async () => {
      if (!guestBuilt()) return;
      const manifest = JSON.parse(readFileSync(join(GUEST_DIR, 'guest.json'), 'utf8')) as { kernelPackage: string };
      const root = join(dir, 'root');
      mkdirSync(root);
      writeFileSync(join(root, 'hello.txt'), 'read from the disk through ACPI\n');
      const disk = join(dir, 'disk.img');
      execFileSync('truncate', ['-s', '16M', disk]);
      execFileSync('mkfs.ext4', ['-q', '-F', '-d', root, disk]);

      const r = await runTsvmm(
        [
          'run', '--kernel', join(GUEST_DIR, 'vmlinuz'), '--initrd', join(GUEST_DIR, 'initrd.gz'), '--disk', `${disk},ro`,
          '--cmdline', 'console=ttyS0 panic=-1 -- mount -o ro /dev/vda /mnt && cat /mnt/hello.txt',
          '--log-level', 'info',
        ],
        { timeoutMs: BOOT_TIMEOUT_MS },
      );
      const tail = `${manifest.kernelPackage}; status ${r.status}\n--- console, last lines:\n${r.stdout.slice(-4000)}\n--- stderr:\n${r.stderr.slice(-2000)}`;
      expect(r.timedOut, tail).toBe(false);
      expect(r.stderr, tail).toMatch(/"compression":"lz4"/);
      expect(r.stderr, tail).toMatch(/"acpi":"RSDP at 0xe0000/);
      expect(r.stdout, tail).toMatch(/ACPI: RSDP 0x00000000000E0000/);
      expect(r.stdout, tail).toContain('read from the disk through ACPI');
      expect(r.stdout, tail).toContain('init: command exit status 0');
      expect(r.stderr, tail).toMatch(/guest powered off \(ACPI S5\)/);
      expect(r.status, tail).toBe(0);
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    'reboots through the ACPI reset register: the VM ends as a reset (status 1)',
    () => rebootsAsReset('', /reset through the ACPI reset register/),
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    'reboots through the BIOS when told to (reboot=b): the stub at the reset vector ends the VM as a reset',
    () => rebootsAsReset('reboot=b', /KVM_EXIT_SHUTDOWN/),
    BOOT_TIMEOUT_MS + 10_000,
  );
});
