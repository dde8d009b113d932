// Copies into guest RAM made by the kernel's io_uring workers while the
// helper builds the VM (src/boot/guest-copies.ts): once finish() returns,
// guest RAM holds what a synchronous load puts there, whatever the kernel left
// is copied then, and a file that ended early is reported the same way.
import { ftruncateSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { fileSource } from '../../src/boot/byte-source.js';
import { GuestCopies } from '../../src/boot/guest-copies.js';
import { loadLinux } from '../../src/boot/linux-loader.js';
import { MiB, withGuestRam } from './support/guest-ram.js';
import { patterned, typicalVmlinux } from './support/synthetic-kernel.js';
import { openTempFile } from '../support/open-temp-file.js';

const RAM = [{ gpa: 0, size: 64 * MiB }];

const started = () => new GuestCopies();

describe('GuestCopies', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => cleanup.splice(0).forEach((f) => f()));
  const file = (bytes: Uint8Array): number => openTempFile(bytes, 'r+', cleanup);

  it("puts a vmlinux's segments and the initrd where a synchronous load does, copied by the kernel's workers", () => {
    const vmlinux = typicalVmlinux();
    const initrd = patterned(5 * MiB + 4096 + 17, 7);
    const expected = withGuestRam(RAM, (m) => ({ boot: loadLinux(m, { kernel: vmlinux, initrd, cmdline: 'x' }), ram: m.read(0, 64 * MiB) }));
    const copies = started();
    const loaded = withGuestRam(RAM, (m) => {
      const boot = loadLinux(m, { kernel: fileSource(file(vmlinux), 'the kernel', copies), initrd: fileSource(file(initrd), 'the initrd', copies), cmdline: 'x' });
      copies.submit();
      const report = copies.finish();
      return { boot, report, ram: m.read(0, 64 * MiB) };
    });
    expect(loaded.boot.initrdRange).toEqual(expected.boot.initrdRange);
    expect(Buffer.compare(loaded.ram, expected.ram)).toBe(0);
    // Every segment with file contents, and the initrd: all of it by the workers.
    expect(loaded.report.reads).toBeGreaterThanOrEqual(2);
    expect(loaded.report.afterwards).toBe(0);
    expect(loaded.report.byWorkers).toBeGreaterThan(initrd.length);
  });

  it('says so when a file ends early, as a synchronous load does', () => {
    const vmlinux = typicalVmlinux();
    const fd = file(vmlinux);
    const copies = started();
    withGuestRam(RAM, (m) => {
      loadLinux(m, { kernel: fileSource(fd, 'the kernel', copies), cmdline: '' });
      ftruncateSync(fd, 256); // before the reads are submitted: they find the end of the file
      expect(() => copies.finish()).toThrow(/the kernel shrank while it was being loaded/);
    });
  });

  it('takes more reads than its ring holds, in several chains', () => {
    const bytes = patterned(3 * MiB, 5);
    const fd = file(bytes);
    const copies = started();
    withGuestRam([{ gpa: 0, size: 4 * MiB }], (m) => {
      const piece = 64 * 1024 + 3;
      let at = 0;
      for (; at + piece <= bytes.length; at += piece) copies.read(fd, at, m.hostAddress(at, piece)!, piece, () => expect.fail('the kernel left a read'));
      const report = copies.finish();
      expect(report.reads).toBe(Math.floor(bytes.length / piece));
      expect(report.byWorkers).toBe(at);
      expect(Buffer.compare(m.read(0, at), bytes.subarray(0, at))).toBe(0);
    });
  });

  it('has nothing to wait for when nothing was queued', () => {
    expect(started().finish()).toEqual({ reads: 0, byWorkers: 0, afterwards: 0 });
  });

  it('leaves a shared memfd to sendfile: nothing of it goes through the ring', () => {
    const copies = started();
    withGuestRam(
      RAM,
      (m) => {
        loadLinux(m, { kernel: fileSource(file(typicalVmlinux()), 'the kernel', copies), initrd: fileSource(file(patterned(8192, 1)), 'the initrd', copies), cmdline: '' });
        expect(copies.finish()).toEqual({ reads: 0, byWorkers: 0, afterwards: 0 });
      },
      'shared',
    );
  });
});
