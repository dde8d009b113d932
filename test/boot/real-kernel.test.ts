// Loads real kernels when they are here: the default guest built by
// tools/guest/build.sh (its guest.json in the cache) and any bzImage/vmlinux
// listed in TSVMM_TEST_KERNELS (colon-separated). The bzImage's host-side
// decompression must produce the very bytes the vmlinux loads.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadLinux } from '../../src/boot/linux-loader.js';
import { MiB, translate, withGuestRam } from './support/guest-ram.js';
import { itNeeding } from '../support/host-requirements.js';

const manifestPath = join(process.env.TSVMM_CACHE ?? join(homedir(), '.cache', 'tsvmm'), 'guest', 'guest.json');
interface Manifest {
  vmlinux?: string;
  bzImage?: string;
  initrd?: string;
  cmdline?: string;
}
const manifest: Manifest | undefined = existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest) : undefined;
const present = (p?: string): p is string => typeof p === 'string' && existsSync(p);
const noGuest = !manifest ? `no ${manifestPath} (build it with npm run guest)` : undefined;
const RAM = [{ gpa: 0, size: 512 * MiB }];

describe('the default guest kernel', () => {
  itNeeding(noGuest ?? (present(manifest!.vmlinux) ? undefined : `${manifest!.vmlinux} is missing`), 'vmlinux, both entries', () => {
    const kernel = new Uint8Array(readFileSync(manifest!.vmlinux!));
    const initrd = present(manifest!.initrd) ? new Uint8Array(readFileSync(manifest!.initrd)) : undefined;
    const cmdline = manifest!.cmdline ?? 'console=ttyS0';
    withGuestRam(RAM, (memory) => {
      const boot = loadLinux(memory, { kernel, initrd, cmdline });
      expect(boot.kind).toBe('vmlinux');
      expect(boot.entryPoint).toBeGreaterThanOrEqual(boot.kernelRange.gpa);
      expect(boot.entryPoint).toBeLessThan(boot.kernelRange.gpa + boot.kernelRange.size);
      expect(translate(memory, boot.cpu.sregs.cr3, boot.cpu.regs.rip)).toBe(boot.cpu.regs.rip);
      if (initrd) expect(boot.initrdRange!.gpa).toBeGreaterThanOrEqual(boot.kernelRange.gpa + boot.kernelRange.size);
      if (boot.pvhEntryPoint !== undefined) {
        const pvh = loadLinux(memory, { kernel, initrd, cmdline, entry: 'pvh' });
        expect(pvh.cpu.regs.rip).toBe(BigInt(boot.pvhEntryPoint));
      }
    });
  });

  itNeeding(
    noGuest ?? (present(manifest!.bzImage) && present(manifest!.vmlinux) ? undefined : 'the default guest has no bzImage or vmlinux'),
    'bzImage decompressed on the host loads the same bytes as the vmlinux',
    () => {
      const bz = new Uint8Array(readFileSync(manifest!.bzImage!));
      const elf = new Uint8Array(readFileSync(manifest!.vmlinux!));
      withGuestRam(RAM, (a) =>
        withGuestRam(RAM, (b) => {
          const fromBz = loadLinux(a, { kernel: bz, cmdline: 'console=ttyS0' });
          const fromElf = loadLinux(b, { kernel: elf, cmdline: 'console=ttyS0' });
          expect(fromBz.kind).toBe('bzImage');
          expect(fromBz.compression).toBeDefined();
          expect(fromBz.kernelRange).toEqual(fromElf.kernelRange);
          expect(fromBz.entryPoint).toBe(fromElf.entryPoint);
          expect(fromBz.pvhEntryPoint).toBe(fromElf.pvhEntryPoint);
          const { gpa, size } = fromElf.kernelRange;
          expect(Buffer.from(a.view(gpa, size)!).equals(Buffer.from(b.view(gpa, size)!))).toBe(true);
        }),
      );
    },
  );
});

const extra = (process.env.TSVMM_TEST_KERNELS ?? '').split(':').filter((p) => p.length > 0);
// Opt-in: without the variable there is nothing to test (and nothing skips).
if (extra.length > 0) describe('kernels from TSVMM_TEST_KERNELS', () => {
  for (const path of extra) {
    test(path, () => {
      const kernel = new Uint8Array(readFileSync(path));
      withGuestRam(RAM, (memory) => {
        const boot = loadLinux(memory, { kernel, cmdline: 'console=ttyS0', initrd: new Uint8Array(MiB) });
        expect(boot.entryPoint).toBeGreaterThanOrEqual(boot.kernelRange.gpa);
        expect(boot.cpu.regs.rsi).toBe(BigInt(boot.bootParamsAddr));
      });
    });
  }
});
