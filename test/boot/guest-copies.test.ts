// Copies into guest RAM made by the kernel's io_uring workers while the
// helper builds the VM (src/boot/guest-copies.ts): once finish() returns,
// guest RAM holds what a synchronous load puts there, in anonymous RAM and
// shared RAM on huge pages (reads) and in a shared memfd (splices through a
// pipe); whatever the kernel left is copied then, and a file that ended early
// is reported the same way. On huge pages the image lands in 2 MiB pages.
import { closeSync, ftruncateSync, readSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { fileSource } from '../../src/boot/byte-source.js';
import { GuestCopies } from '../../src/boot/guest-copies.js';
import { loadLinux } from '../../src/boot/linux-loader.js';
import { MiB, withGuestRam } from './support/guest-ram.js';
import { patterned, typicalVmlinux } from './support/synthetic-kernel.js';
import { openTempFile } from '../support/open-temp-file.js';
import { hostHasShmemThp, pmdMappedKb } from '../support/smaps.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';

const RAM = [{ gpa: 0, size: 64 * MiB }];

describe('GuestCopies', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => cleanup.splice(0).forEach((f) => f()));
  const file = (bytes: Uint8Array): number => openTempFile(bytes, 'r+', cleanup);

  for (const kind of ['anonymous', 'shared', 'shared-huge'] as const) {
    it(`puts a vmlinux's segments and the initrd where a synchronous load does, copied by the kernel's workers (${kind} RAM)`, () => {
      const vmlinux = typicalVmlinux();
      const initrd = patterned(5 * MiB + 4096 + 17, 7); // several of the pipe's chunks, the last one short
      const expected = withGuestRam(RAM, (m) => ({ boot: loadLinux(m, { kernel: vmlinux, initrd, cmdline: 'x' }), ram: m.read(0, 64 * MiB) }));
      const copies = new GuestCopies();
      const loaded = withGuestRam(
        RAM,
        (m) => {
          const boot = loadLinux(m, { kernel: fileSource(file(vmlinux), 'the kernel', copies), initrd: fileSource(file(initrd), 'the initrd', copies), cmdline: 'x' });
          copies.submit();
          const report = copies.finish();
          return { boot, report, ram: m.read(0, 64 * MiB) };
        },
        kind,
      );
      expect(loaded.boot.initrdRange).toEqual(expected.boot.initrdRange);
      expect(Buffer.compare(loaded.ram, expected.ram)).toBe(0);
      // Every segment with file contents and the initrd, all of it by the workers.
      expect(loaded.report.requests).toBeGreaterThanOrEqual(2);
      expect(loaded.report.afterwards).toBe(0);
      expect(loaded.report.byWorkers).toBeGreaterThan(initrd.length);
    });

    it(`says so when a file ends early, as a synchronous load does (${kind} RAM)`, () => {
      const vmlinux = typicalVmlinux();
      const fd = file(vmlinux);
      const copies = new GuestCopies();
      withGuestRam(
        RAM,
        (m) => {
          loadLinux(m, { kernel: fileSource(fd, 'the kernel', copies), cmdline: '' });
          ftruncateSync(fd, 256); // before the requests are submitted: they find the end of the file
          expect(() => copies.finish()).toThrow(/the kernel shrank while it was being loaded/);
        },
        kind,
      );
    });
  }

  it('reads into shared RAM on huge pages, which leaves the image in 2 MiB pages where splices would leave 4 KiB ones', () => {
    const vmlinux = typicalVmlinux();
    const initrd = patterned(5 * MiB + 17, 9);
    /** The kB of the RAM's mapping in 2 MiB pages once the image is loaded and read back through it. */
    const loadedPmdKb = (hugePages: boolean) => {
      const ram = GuestMemory.createSharedRam(RAM);
      cleanup.push(() => closeSync(ram.fd));
      const m = GuestMemory.allocate(RAM, { memfd: ram.fd, hugePages: hugePages && ram.backing.kind === 'huge-tmpfs' });
      cleanup.push(() => m.release());
      const copies = new GuestCopies();
      const boot = loadLinux(m, { kernel: fileSource(file(vmlinux), 'the kernel', copies), initrd: fileSource(file(initrd), 'the initrd', copies), cmdline: 'x' });
      copies.submit();
      expect(copies.finish().afterwards).toBe(0);
      const { gpa, size } = boot.initrdRange!;
      expect(Buffer.compare(m.read(gpa, size), initrd)).toBe(0);
      return { kb: pmdMappedKb(m.regions[0].hostAddress), backing: ram.backing.kind };
    };
    const read = loadedPmdKb(true);
    const spliced = loadedPmdKb(false);
    if (read.backing === 'huge-tmpfs' && hostHasShmemThp()) {
      // The initrd alone covers two whole 2 MiB pages; spliced, it is in 4 KiB ones.
      expect(read.kb - spliced.kb).toBeGreaterThanOrEqual(4096);
    } else {
      expect(process.geteuid!() === 0 && hostHasShmemThp()).toBe(false); // no tmpfs of its own to be had: a memfd, 4 KiB pages either way
      expect(read.kb).toBe(0);
    }
  });

  it('leaves to finish() what comes once its ring is full, so that its requests stay one chain', () => {
    const piece = 16 * 1024 + 3;
    const count = 100; // more than the ring's 64 entries
    const bytes = patterned(piece * count, 5);
    const fd = file(bytes);
    const copies = new GuestCopies();
    withGuestRam([{ gpa: 0, size: 4 * MiB }], (m) => {
      for (let i = 0; i < count; i++) {
        const at = i * piece;
        copies.read(fd, at, m.hostAddress(at, piece)!, piece, (done) => {
          const n = readSync(fd, m.view(at + done, piece - done)!, 0, piece - done, at + done);
          expect(n).toBe(piece - done);
        });
      }
      const report = copies.finish();
      expect(report.requests).toBe(count);
      expect(report.byWorkers).toBeGreaterThan(0);
      expect(report.afterwards).toBeGreaterThan(0);
      expect(report.byWorkers + report.afterwards).toBe(bytes.length);
      expect(Buffer.compare(m.read(0, bytes.length), bytes)).toBe(0);
    });
  });

  it('has nothing to wait for when nothing was queued', () => {
    expect(new GuestCopies().finish()).toEqual({ requests: 0, byWorkers: 0, afterwards: 0 });
  });
});
