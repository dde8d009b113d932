// The default guest's manifest as the CLI reads it (src/cli/default-guest.ts):
// whether its kernel reads ACPI tables comes from the manifest, or from the
// kernel configuration the build keeps beside it (run-command.ts planBoot
// then leaves the tables out for that kernel).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readDefaultGuest } from '../../src/cli/default-guest.js';

const cache = mkdtempSync(join(tmpdir(), 'tsvmm-default-guest-'));
const guestDir = join(cache, 'guest');
mkdirSync(guestDir);
const saved = process.env.TSVMM_CACHE;
afterAll(() => rmSync(cache, { recursive: true, force: true }));
afterEach(() => {
  if (saved === undefined) delete process.env.TSVMM_CACHE;
  else process.env.TSVMM_CACHE = saved;
  rmSync(join(guestDir, 'kernel.config.full'), { force: true });
});

function writeGuest(extra: Record<string, unknown> = {}): void {
  for (const f of ['vmlinux', 'initramfs.cpio']) writeFileSync(join(guestDir, f), '');
  const manifest = { vmlinux: join(guestDir, 'vmlinux'), bzImage: join(guestDir, 'bzImage'), initrd: join(guestDir, 'initramfs.cpio'), cmdline: 'console=ttyS0', ...extra };
  writeFileSync(join(guestDir, 'guest.json'), JSON.stringify(manifest));
  process.env.TSVMM_CACHE = cache;
}

describe("the default guest's ACPI", () => {
  it('is off when the kept kernel configuration leaves CONFIG_ACPI out', () => {
    writeGuest();
    writeFileSync(join(guestDir, 'kernel.config.full'), 'CONFIG_X86_64=y\n# CONFIG_ACPI is not set\nCONFIG_PVH=y\n');
    expect(readDefaultGuest()?.acpi).toBe(false);
  });

  it('is on when the configuration has it', () => {
    writeGuest();
    writeFileSync(join(guestDir, 'kernel.config.full'), 'CONFIG_X86_64=y\nCONFIG_ACPI=y\n');
    expect(readDefaultGuest()?.acpi).toBe(true);
  });

  it('is unknown without a configuration, and the manifest has the last word', () => {
    writeGuest();
    expect(readDefaultGuest()?.acpi).toBeUndefined();
    writeGuest({ acpi: true });
    writeFileSync(join(guestDir, 'kernel.config.full'), '# CONFIG_ACPI is not set\n');
    expect(readDefaultGuest()?.acpi).toBe(true);
  });
});
