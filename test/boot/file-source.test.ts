// Loading from open files (src/boot/byte-source.ts): a vmlinux's segments
// and the initrd go from the file straight into guest RAM, and the result is
// the same as from bytes in memory.
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { BootError } from '../../src/boot/boot-error.js';
import { bufferSource, fileSource, wholeImage } from '../../src/boot/byte-source.js';
import { loadLinux } from '../../src/boot/linux-loader.js';
import { MiB, withGuestRam } from './support/guest-ram.js';
import { patterned, typicalVmlinux } from './support/synthetic-kernel.js';
import { openTempFile } from '../support/open-temp-file.js';

const RAM = [{ gpa: 0, size: 64 * MiB }];

describe('loading from files', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => cleanup.splice(0).forEach((f) => f()));
  const file = (bytes: Uint8Array): number => openTempFile(bytes, 'r+', cleanup);

  // Anonymous RAM and shared RAM on huge pages are filled through a view (pread); a shared memfd inside the kernel (sendfile).
  for (const kind of ['anonymous', 'shared', 'shared-huge'] as const) {
    it(`puts the same bytes in ${kind} guest RAM as loading from memory, and boots the same`, () => {
      const vmlinux = typicalVmlinux();
      const initrd = patterned(3 * 4096 + 17, 7);
      const fromMemory = withGuestRam(RAM, (m) => ({ boot: loadLinux(m, { kernel: vmlinux, initrd, cmdline: 'x' }), ram: m.read(0, 32 * MiB) }));
      const fromFiles = withGuestRam(
        RAM,
        (m) => ({
          boot: loadLinux(m, { kernel: fileSource(file(vmlinux), 'the kernel'), initrd: fileSource(file(initrd), 'the initrd'), cmdline: 'x' }),
          ram: m.read(0, 32 * MiB),
        }),
        kind,
      );
      expect(fromFiles.boot.initrdRange).toEqual(fromMemory.boot.initrdRange);
      expect(fromFiles.boot.entryPoint).toBe(fromMemory.boot.entryPoint);
      expect(Buffer.compare(fromFiles.ram, fromMemory.ram)).toBe(0);
    });

    it(`says so when a file shrinks while it is read (${kind} RAM)`, () => {
      const vmlinux = typicalVmlinux();
      const fd = file(vmlinux);
      const source = fileSource(fd, 'the kernel');
      ftruncateSync(fd, 256); // the headers are still there; the segments are not
      withGuestRam(RAM, (m) => expect(() => loadLinux(m, { kernel: source, cmdline: '' })).toThrow(/the kernel shrank while it was being loaded/), kind);
    });
  }

  it('fills a shared region at its offset in the memfd, as the mapping then shows', () => {
    const layout = [{ gpa: 0, size: 2 * MiB }, { gpa: 16 * MiB, size: 4 * MiB }];
    const bytes = patterned(3 * 4096 + 5, 3);
    withGuestRam(layout, (m) => {
      expect(m.fillFromFile(16 * MiB + 4096 + 1, file(bytes), 7, bytes.length - 7)).toBe(bytes.length - 7);
      expect(Buffer.compare(m.read(16 * MiB + 4096 + 1, bytes.length - 7), bytes.subarray(7))).toBe(0);
      expect(m.read(16 * MiB + 4096, 1)[0]).toBe(0);
      // Past the end of a region: not done here, the caller copies (and refuses).
      expect(m.fillFromFile(2 * MiB - 4096, file(bytes), 0, bytes.length)).toBeUndefined();
    }, 'shared');
    withGuestRam(layout, (m) => expect(m.fillFromFile(0, file(bytes), 0, 16)).toBeUndefined());
  });

  it('leaves shared RAM on huge pages to the caller, who reads through the mapping', () => {
    const bytes = patterned(4096, 5);
    withGuestRam([{ gpa: 0, size: 2 * MiB }], (m) => {
      const copied = m.fillFromFile(0, file(bytes), 0, bytes.length);
      // Root may make the tmpfs for them; another user gets a memfd, spliced into.
      expect(copied).toBe(process.geteuid!() === 0 ? undefined : bytes.length);
    }, 'shared-huge');
  });

  it('leaves a file the kernel cannot splice from to the caller, without an error', () => {
    // seq_file files such as this one refuse sendfile with EINVAL on the kernels
    // measured (6.18); where a kernel splices them, the bytes simply arrive.
    const fd = openSync('/proc/self/status', 'r');
    cleanup.push(() => closeSync(fd));
    withGuestRam([{ gpa: 0, size: 2 * MiB }], (m) => expect([undefined, 16]).toContain(m.fillFromFile(0, fd, 0, 16)), 'shared');
  });
});

describe('wholeImage', () => {
  it('refuses an image larger than what may be read whole, with a BootError', () => {
    const huge = { length: 2 ** 40, bytes: () => new Uint8Array(0), copyTo: () => {}, copyToGuest: () => {} };
    expect(() => wholeImage(huge, 2 ** 20, 'the kernel')).toThrow(/the kernel is 1099511627776 bytes/);
    expect(wholeImage(bufferSource(new Uint8Array(4)), 4, 'x')).toHaveLength(4);
  });
});
