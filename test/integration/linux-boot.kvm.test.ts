// A few real Linux boots of the default guest (tools/guest): only what tiny
// guests cannot prove. Slow on software-nested KVM (docs/host-kvm.md). Its
// kernel has no ACPI: it finds its interrupt controllers in the MP table
// whether or not the ACPI tables are there (the panic boot leaves them out).
import { expect, it } from 'vitest';
import type { GuestManifest } from '../../src/cli/default-guest.js';
import { defaultGuestOrMissing } from '../support/default-guest.js';
import { describeKvm } from '../support/host-requirements.js';
import { runTsvmm } from '../support/run-tsvmm.js';

const BOOT_TIMEOUT_MS = 300_000;

function bootArgs(guest: GuestManifest, command: string): string[] {
  return ['run', '--kernel', guest.vmlinux, '--initrd', guest.initrd, '--cmdline', `${guest.cmdline} -- ${command}`, '--log-level', 'warn'];
}

describeKvm('Linux guest', () => {
  const guest = defaultGuestOrMissing();
  if (!guest) return;

  it(
    'boots to userspace, runs a command and exits with its status',
    async () => {
      const r = await runTsvmm(bootArgs(guest, "/bin/sh -c 'echo hello from guest userspace; exit 3'"), { timeoutMs: BOOT_TIMEOUT_MS });
      expect(r.timedOut, r.stdout.slice(-3000)).toBe(false);
      expect(r.stdout).toContain('Run /init as init process');
      expect(r.stdout).toContain('hello from guest userspace');
      expect(r.status).toBe(3);
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
