// A few real Linux boots of the default guest (tools/guest): only what tiny
// guests cannot prove. Slow on software-nested KVM (docs/host-kvm.md). Its
// kernel has no ACPI, so tsvmm writes it no tables (run-command.ts planBoot):
// it finds its interrupt controllers in the MP table.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { GuestManifest } from '../../src/cli/default-guest.js';
import { defaultGuestOrMissing } from '../support/default-guest.js';
import { describeKvm } from '../support/host-requirements.js';
import { runTsvmm } from '../support/run-tsvmm.js';
import { hostCpuBrand } from '../../src/kvm/cpu-brand.js';
import { hostCpuinfo } from '../../src/kvm/host-kvm.js';

const BOOT_TIMEOUT_MS = 300_000;

function bootArgs(guest: GuestManifest, command: string): string[] {
  return ['run', '--kernel', guest.vmlinux, '--initrd', guest.initrd, '--cmdline', `${guest.cmdline} -- ${command}`, '--log-level', 'warn'];
}

describeKvm('Linux guest', () => {
  const guest = defaultGuestOrMissing();
  if (!guest) return;

  it(
    "boots to userspace, runs a command and exits with its status; the guest's processor has the host's name",
    async () => {
      const r = await runTsvmm(bootArgs(guest, "/bin/sh -c 'echo hello from guest userspace; grep \"model name\" /proc/cpuinfo; exit 3'"), { timeoutMs: BOOT_TIMEOUT_MS });
      expect(r.timedOut, r.stdout.slice(-3000)).toBe(false);
      expect(r.stdout).toContain('Run /init as init process');
      expect(r.stdout).toContain('hello from guest userspace');
      expect(r.status).toBe(3);
      const brand = hostCpuBrand(hostCpuinfo());
      expect(brand).toBeDefined();
      expect(r.stdout).toMatch(new RegExp(`model name\\s*: ${brand!.replace(/[^A-Za-z0-9 ]/g, '.')}\\r?\\n`));
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    'with --cpus 2: both vCPUs up, and two readers on them share one virtio queue without a request lost or doubled',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tsvmm-smp-disk-'));
      try {
        const image = join(dir, 'random.img');
        const data = randomBytes(4 << 20);
        writeFileSync(image, data);
        const sha = createHash('sha256').update(data).digest('hex');
        // Each reader: O_DIRECT, so every block is a request to the device, not the page cache.
        const reader = '(dd if=/dev/vda iflag=direct bs=16k 2>/dev/null | sha256sum)';
        const r = await runTsvmm(
          [...bootArgs(guest, `/bin/sh -c 'echo nproc=$(nproc); ${reader} & ${reader} & wait'`), '--cpus', '2', '--disk', `${image},ro`],
          { timeoutMs: BOOT_TIMEOUT_MS },
        );
        const tail = `status ${r.status}\n--- console, last lines:\n${r.stdout.slice(-3000)}\n--- stderr:\n${r.stderr.slice(-3000)}`;
        expect(r.timedOut, tail).toBe(false);
        expect(r.stdout, tail).toMatch(/smp: Brought up 1 node, 2 CPUs/);
        expect(r.stdout, tail).toContain('nproc=2');
        expect(r.stdout.split(`${sha}  -`).length - 1, tail).toBe(2);
        expect(r.status, tail).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    'a guest that panics (panic=-1) ends the VM with a non-zero status (booted with --no-acpi: the MP table alone)',
    async () => {
      const r = await runTsvmm(
        ['run', '--kernel', guest.vmlinux, '--no-acpi', '--cmdline', `${guest.cmdline.replace(/panic=\S+/, '')} panic=-1 rdinit=/no/such/init init=/no/such/init`, '--log-level', 'info'],
        { timeoutMs: BOOT_TIMEOUT_MS },
      );
      const tail = `status ${r.status}\n--- console, last lines:\n${r.stdout.slice(-3000)}\n--- stderr:\n${r.stderr.slice(-3000)}`;
      expect(r.timedOut, tail).toBe(false);
      expect(r.stdout, tail).toMatch(/Kernel panic/);
      expect(r.status, tail).toBe(1);
      expect(r.stderr, tail).toMatch(/reset/);
    },
    BOOT_TIMEOUT_MS + 10_000,
  );
});
