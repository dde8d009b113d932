// Loading from open files (src/boot/byte-source.ts): a vmlinux's segments
// and the initrd go from the file straight into guest RAM, and the result is
// the same as from bytes in memory.
import { ftruncateSync } from 'node:fs';
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

  it('puts the same bytes in guest RAM as loading from memory, and boots the same', () => {
    const vmlinux = typicalVmlinux();
    const initrd = patterned(3 * 4096 + 17, 7);
    const fromMemory = withGuestRam(RAM, (m) => ({ boot: loadLinux(m, { kernel: vmlinux, initrd, cmdline: 'x' }), ram: m.read(0, 32 * MiB) }));
    const fromFiles = withGuestRam(RAM, (m) => ({
      boot: loadLinux(m, { kernel: fileSource(file(vmlinux), 'the kernel'), initrd: fileSource(file(initrd), 'the initrd'), cmdline: 'x' }),
      ram: m.read(0, 32 * MiB),
    }));
    expect(fromFiles.boot.initrdRange).toEqual(fromMemory.boot.initrdRange);
    expect(fromFiles.boot.entryPoint).toBe(fromMemory.boot.entryPoint);
    expect(Buffer.compare(fromFiles.ram, fromMemory.ram)).toBe(0);
  });

  it('says so when a file shrinks while it is read', () => {
    const vmlinux = typicalVmlinux();
    const fd = file(vmlinux);
    const source = fileSource(fd, 'the kernel');
    ftruncateSync(fd, 256); // the headers are still there; the segments are not
    withGuestRam(RAM, (m) => {
      expect(() => loadLinux(m, { kernel: source, cmdline: '' })).toThrow(BootError);
    });
  });
});

describe('wholeImage', () => {
  it('refuses an image larger than what may be read whole, with a BootError', () => {
    const huge = { length: 2 ** 40, bytes: () => new Uint8Array(0), copyTo: () => {} };
    expect(() => wholeImage(huge, 2 ** 20, 'the kernel')).toThrow(/the kernel is 1099511627776 bytes/);
    expect(wholeImage(bufferSource(new Uint8Array(4)), 4, 'x')).toHaveLength(4);
  });
});
