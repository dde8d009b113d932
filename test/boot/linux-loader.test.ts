import { describe, expect, test } from 'vitest';
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { BootError } from '../../src/boot/boot-error.js';
import { BOOT_STACK_POINTER, CMDLINE_ADDR, GDT_ADDR, PML4_ADDR, PVH_MEMMAP_ADDR, PVH_START_INFO_ADDR, ZERO_PAGE_ADDR } from '../../src/boot/boot-layout.js';
import { segmentFromDescriptor } from '../../src/boot/gdt.js';
import { loadLinux, type LoadedLinux } from '../../src/boot/linux-loader.js';
import { HvmStartInfoField, XEN_HVM_START_MAGIC_VALUE } from '../../src/boot/pvh-start-info.js';
import { SetupHeaderField as H } from '../../src/boot/setup-header.js';
import { BootParamsField } from '../../src/boot/zero-page.js';
import { MiB, translate, withGuestRam } from './support/guest-ram.js';
import { buildBzImage, type CliFormat, cliProblem, KERNEL_COMPRESSOR_ARGS, kernelPayload, patterned, typicalVmlinux } from './support/synthetic-kernel.js';
import { itNeeding } from '../support/host-requirements.js';

const RAM = [{ gpa: 0, size: 64 * MiB }];

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BootError);
    return (e as Error).message;
  }
  throw new Error('expected a BootError');
}

function u32(memory: GuestMemory, gpa: number): number {
  return new DataView(memory.read(gpa, 4).buffer).getUint32(0, true);
}
function u64(memory: GuestMemory, gpa: number): bigint {
  return new DataView(memory.read(gpa, 8).buffer).getBigUint64(0, true);
}

/** The checks every 64-bit boot must pass, made against guest memory. */
function checkLongModeBoot(memory: GuestMemory, boot: LoadedLinux, cmdline: string): void {
  const { regs, sregs } = boot.cpu;
  expect(regs.rip).toBe(BigInt(boot.entryPoint));
  expect(regs.rsi).toBe(BigInt(ZERO_PAGE_ADDR));
  expect(regs.rsp).toBe(BigInt(BOOT_STACK_POINTER));
  expect(regs.rflags).toBe(2n);
  expect(sregs.cr0 & 0x80000001n).toBe(0x80000001n); // PG | PE
  expect(sregs.cr4 & 0x20n).toBe(0x20n); // PAE
  expect(sregs.efer & 0x500n).toBe(0x500n); // LME | LMA
  expect(sregs.cr3).toBe(BigInt(PML4_ADDR));
  expect(sregs.cs.l).toBe(1);
  expect(sregs.cs.selector).toBe(0x10);
  expect(sregs.ds.selector).toBe(0x18);

  // The segment registers are what the GDT in guest memory says.
  const gdt = memory.read(Number(sregs.gdt.base), sregs.gdt.limit + 1);
  for (const seg of [sregs.cs, sregs.ds, sregs.es, sregs.ss, sregs.fs, sregs.gs, sregs.tr]) expect(segmentFromDescriptor(gdt, seg.selector)).toEqual(seg);
  expect(Number(sregs.gdt.base)).toBe(GDT_ADDR);

  // The identity map covers the entry, the zero page, the command line, the stack, the kernel end and 4 GiB - 1.
  for (const va of [boot.entryPoint, ZERO_PAGE_ADDR, CMDLINE_ADDR + 5, BOOT_STACK_POINTER - 8, boot.kernelRange.gpa + boot.kernelRange.size - 1, 2 ** 32 - 1, 0x12345678])
    expect(translate(memory, sregs.cr3, BigInt(va))).toBe(BigInt(va));
  expect(translate(memory, sregs.cr3, 2n ** 32n)).toBeUndefined();

  // Zero page.
  expect(u32(memory, ZERO_PAGE_ADDR + H.header.offset)).toBe(0x53726448);
  expect(memory.read(ZERO_PAGE_ADDR + H.type_of_loader.offset, 1)[0]).toBe(0xff);
  expect(u32(memory, ZERO_PAGE_ADDR + H.cmd_line_ptr.offset)).toBe(CMDLINE_ADDR);
  const e820Count = memory.read(ZERO_PAGE_ADDR + BootParamsField.e820_entries, 1)[0];
  expect(e820Count).toBe(boot.e820.length);
  expect(u64(memory, ZERO_PAGE_ADDR + BootParamsField.e820_table + 20 * (e820Count - 1) + 8)).toBe(BigInt(boot.e820[e820Count - 1].size));
  if (boot.initrdRange) {
    expect(u32(memory, ZERO_PAGE_ADDR + H.ramdisk_image.offset)).toBe(boot.initrdRange.gpa);
    expect(u32(memory, ZERO_PAGE_ADDR + H.ramdisk_size.offset)).toBe(boot.initrdRange.size);
  }

  // Command line, NUL-terminated.
  const bytes = new TextEncoder().encode(cmdline);
  expect(Buffer.from(memory.read(CMDLINE_ADDR, bytes.length + 1)).equals(Buffer.from([...bytes, 0]))).toBe(true);
}

describe('loadLinux: ELF vmlinux', () => {
  test('64-bit entry with an initrd', () => {
    withGuestRam(RAM, (memory) => {
      const initrd = patterned(300_000, 7);
      const cmdline = 'console=ttyS0 reboot=k panic=1 root=/dev/vda';
      const boot = loadLinux(memory, { kernel: typicalVmlinux(), initrd, cmdline });
      expect(boot.kind).toBe('vmlinux');
      expect(boot.entry).toBe('linux64');
      expect(boot.compression).toBeUndefined();
      expect(boot.entryPoint).toBe(0x1000000);
      expect(boot.pvhEntryPoint).toBe(0x1000040);
      expect(boot.kernelRange).toEqual({ gpa: 0x1000000, size: 0x210000 });
      expect(boot.bootParamsAddr).toBe(ZERO_PAGE_ADDR);
      const r = boot.initrdRange!;
      expect(r.gpa % 4096).toBe(0);
      expect(r.gpa + r.size).toBeLessThanOrEqual(64 * MiB);
      expect(r.gpa).toBeGreaterThan(63 * MiB);
      expect(Buffer.from(memory.read(r.gpa, r.size)).equals(Buffer.from(initrd))).toBe(true);
      checkLongModeBoot(memory, boot, cmdline);
      expect(Buffer.from(memory.read(0x1000000, 16)).equals(Buffer.from(patterned(0x3000, 0x90).subarray(0, 16)))).toBe(true);
    });
  });

  test('PVH entry', () => {
    withGuestRam(RAM, (memory) => {
      const initrd = patterned(5000, 3);
      const boot = loadLinux(memory, { kernel: typicalVmlinux(), initrd, cmdline: 'console=hvc0', entry: 'pvh' });
      expect(boot.entry).toBe('pvh');
      expect(boot.bootParamsAddr).toBe(PVH_START_INFO_ADDR);
      const { regs, sregs } = boot.cpu;
      expect(regs.rip).toBe(0x1000040n);
      expect(regs.rbx).toBe(BigInt(PVH_START_INFO_ADDR));
      expect(regs.rflags).toBe(2n);
      expect(sregs.cr0 & 0x80000001n).toBe(1n); // PE, no paging
      expect(sregs.cr4).toBe(0n);
      expect(sregs.efer).toBe(0n);
      expect(sregs.cs).toMatchObject({ base: 0n, limit: 0xffffffff, db: 1, l: 0, type: 0xb, s: 1, present: 1 });
      expect(sregs.ds).toMatchObject({ base: 0n, limit: 0xffffffff, db: 1, type: 0x3 });
      expect(sregs.tr).toMatchObject({ limit: 0x67, type: 0xb, s: 0 });
      const gdt = memory.read(Number(sregs.gdt.base), sregs.gdt.limit + 1);
      expect(segmentFromDescriptor(gdt, sregs.cs.selector)).toEqual(sregs.cs);
      const si = PVH_START_INFO_ADDR;
      expect(u32(memory, si + HvmStartInfoField.magic)).toBe(XEN_HVM_START_MAGIC_VALUE);
      expect(u32(memory, si + HvmStartInfoField.nr_modules)).toBe(1);
      expect(u64(memory, si + HvmStartInfoField.cmdline_paddr)).toBe(BigInt(CMDLINE_ADDR));
      expect(u64(memory, si + HvmStartInfoField.memmap_paddr)).toBe(BigInt(PVH_MEMMAP_ADDR));
      expect(u32(memory, si + HvmStartInfoField.memmap_entries)).toBe(boot.e820.length);
      const modlist = Number(u64(memory, si + HvmStartInfoField.modlist_paddr));
      expect(u64(memory, modlist)).toBe(BigInt(boot.initrdRange!.gpa));
      expect(u64(memory, modlist + 8)).toBe(5000n);
      expect(u64(memory, PVH_MEMMAP_ADDR + 24 * 2 + 8)).toBe(BigInt(63 * MiB));
    });
  });

  test('PVH requested for a kernel without the note', () => {
    withGuestRam(RAM, (memory) => {
      expect(errorOf(() => loadLinux(memory, { kernel: typicalVmlinux(false), cmdline: '', entry: 'pvh' }))).toMatch(/no PVH entry.*CONFIG_PVH/);
    });
  });
});

describe('loadLinux: bzImage', () => {
  const vmlinux = typicalVmlinux();
  const formats: ('gzip' | CliFormat)[] = ['gzip', 'xz', 'lz4', 'zstd'];
  for (const format of formats) {
    const cli = format === 'gzip' ? undefined : KERNEL_COMPRESSOR_ARGS[format][0];
    itNeeding(cliProblem(cli), `${format} payload decompressed on the host`, () => {
      withGuestRam(RAM, (memory) => {
        const image = buildBzImage({ payload: kernelPayload(format, vmlinux), cmdlineSize: 255 });
        const cmdline = 'console=ttyS0 quiet';
        const boot = loadLinux(memory, { kernel: image, cmdline, initrd: patterned(4096 * 3 + 1, 9) });
        expect(boot.kind).toBe('bzImage');
        expect(boot.compression).toBe(format);
        expect(boot.protocolVersion).toBe(0x020f);
        expect(boot.entryPoint).toBe(0x1000000);
        checkLongModeBoot(memory, boot, cmdline);
        // The zero page carries the bzImage's own header (cmdline_size, pref_address), loader fields filled in.
        expect(u32(memory, ZERO_PAGE_ADDR + H.cmdline_size.offset)).toBe(255);
        expect(u64(memory, ZERO_PAGE_ADDR + H.pref_address.offset)).toBe(0x1000000n);
        expect(Buffer.from(memory.read(0x1200000, 0x1800)).equals(Buffer.from(patterned(0x1800, 0x42)))).toBe(true);
        expect(memory.read(0x1201800, 0xe800).every((b) => b === 0)).toBe(true);
      });
    });
  }

  test('the initrd stays clear of the kernel span declared by init_size', () => {
    withGuestRam([{ gpa: 0, size: 40 * MiB }], (memory) => {
      // The ELF ends near 18 MiB, init_size claims up to 36 MiB: an 8 MiB initrd must go below the kernel.
      const image = buildBzImage({ payload: kernelPayload('gzip', vmlinux), initSize: 20 * MiB });
      const boot = loadLinux(memory, { kernel: image, cmdline: '', initrd: new Uint8Array(8 * MiB) });
      expect(boot.initrdRange!.gpa + boot.initrdRange!.size).toBeLessThanOrEqual(16 * MiB);
    });
  });

  test('in a VM too small to keep the initrd clear of init_size, it goes right above the kernel image', () => {
    withGuestRam([{ gpa: 0, size: 40 * MiB }], (memory) => {
      // Below the kernel: 15 MiB. init_size claims 16..46 MiB, past the end of RAM; the ELF ends near 18.1 MiB.
      const image = buildBzImage({ payload: kernelPayload('gzip', vmlinux), initSize: 30 * MiB });
      const boot = loadLinux(memory, { kernel: image, cmdline: '', initrd: new Uint8Array(16 * MiB) });
      expect(boot.initrdRange).toEqual({ gpa: 24 * MiB, size: 16 * MiB });
      expect(() => loadLinux(memory, { kernel: image, cmdline: '', initrd: new Uint8Array(22 * MiB) })).toThrow(/does not fit/);
    });
  });

  test('the command line is held to the header cmdline_size', () => {
    withGuestRam(RAM, (memory) => {
      const image = buildBzImage({ payload: kernelPayload('gzip', vmlinux), cmdlineSize: 10 });
      expect(loadLinux(memory, { kernel: image, cmdline: '0123456789' }).cmdlineRange.size).toBe(10);
      expect(errorOf(() => loadLinux(memory, { kernel: image, cmdline: '0123456789A' }))).toMatch(/11 bytes; this kernel accepts at most 10/);
    });
  });

  test('a payload that is not an ELF', () => {
    withGuestRam(RAM, (memory) => {
      const image = buildBzImage({ payload: kernelPayload('gzip', new Uint8Array(1000)) });
      expect(errorOf(() => loadLinux(memory, { kernel: image, cmdline: '' }))).toMatch(/did not decompress to an ELF/);
    });
  });

  test('a payload that claims more than guest RAM is refused before it is decoded', () => {
    withGuestRam([{ gpa: 0, size: 16 * MiB }], (memory) => {
      // 32 MiB of zeros in a few KiB; init_size allows it, the VM's 16 MiB do not.
      const image = buildBzImage({ payload: kernelPayload('gzip', new Uint8Array(32 * MiB)), initSize: 64 * MiB });
      expect(errorOf(() => loadLinux(memory, { kernel: image, cmdline: '' }))).toMatch(/declares a decompressed size of 33554432 bytes, more than the 16777216 the guest's RAM holds/);
    });
  });
});

describe('loadLinux: refusals', () => {
  test('not a kernel at all', () => {
    withGuestRam(RAM, (memory) => {
      expect(errorOf(() => loadLinux(memory, { kernel: new Uint8Array(8192), cmdline: '' }))).toMatch(/not a Linux kernel image/);
      expect(errorOf(() => loadLinux(memory, { kernel: new Uint8Array(0), cmdline: '' }))).toMatch(/not a Linux kernel image/);
    });
  });

  test('command line with a NUL or longer than 2047 bytes for a vmlinux', () => {
    withGuestRam(RAM, (memory) => {
      expect(errorOf(() => loadLinux(memory, { kernel: typicalVmlinux(), cmdline: 'a\0b' }))).toMatch(/NUL/);
      expect(errorOf(() => loadLinux(memory, { kernel: typicalVmlinux(), cmdline: 'x'.repeat(2048) }))).toMatch(/at most 2047/);
      expect(loadLinux(memory, { kernel: typicalVmlinux(), cmdline: 'x'.repeat(2047) }).cmdlineRange.size).toBe(2047);
    });
  });

  test('RAM too small for the kernel, or not covering low memory', () => {
    withGuestRam([{ gpa: 0, size: 16 * MiB }], (memory) => {
      expect(errorOf(() => loadLinux(memory, { kernel: typicalVmlinux(), cmdline: '' }))).toMatch(/not inside guest RAM/);
    });
    withGuestRam([{ gpa: MiB, size: 64 * MiB }], (memory) => {
      expect(errorOf(() => loadLinux(memory, { kernel: typicalVmlinux(), cmdline: '' }))).toMatch(/must cover the first/);
    });
  });

  test('initrd that does not fit', () => {
    withGuestRam([{ gpa: 0, size: 20 * MiB }], (memory) => {
      expect(errorOf(() => loadLinux(memory, { kernel: typicalVmlinux(), cmdline: '', initrd: new Uint8Array(16 * MiB) }))).toMatch(/initrd of 16777216 bytes does not fit/);
    });
  });

  test('the initrd never straddles two RAM regions, even adjacent ones', () => {
    withGuestRam([{ gpa: 0, size: 32 * MiB }, { gpa: 32 * MiB, size: 32 * MiB }], (memory) => {
      const boot = loadLinux(memory, { kernel: typicalVmlinux(), cmdline: '', initrd: new Uint8Array(20 * MiB) });
      expect(boot.initrdRange).toEqual({ gpa: 44 * MiB, size: 20 * MiB });
      expect(boot.e820[boot.e820.length - 1]).toEqual({ addr: MiB, size: 63 * MiB, type: 1 });
      expect(errorOf(() => loadLinux(memory, { kernel: typicalVmlinux(), cmdline: '', initrd: new Uint8Array(33 * MiB) }))).toMatch(/does not fit/);
    });
  });

  test('reserved ranges: marked in e820, refused over the loader structures or the kernel', () => {
    withGuestRam(RAM, (memory) => {
      const boot = loadLinux(memory, { kernel: typicalVmlinux(), cmdline: '', reserved: [{ gpa: 40 * MiB, size: MiB }] });
      expect(boot.e820).toContainEqual({ addr: 40 * MiB, size: MiB, type: 2 });
      expect(errorOf(() => loadLinux(memory, { kernel: typicalVmlinux(), cmdline: '', reserved: [{ gpa: 0x7000, size: 0x100 }] }))).toMatch(/boot loader's structures/);
      expect(errorOf(() => loadLinux(memory, { kernel: typicalVmlinux(), cmdline: '', reserved: [{ gpa: 0x1001000, size: 0x100 }] }))).toMatch(/overlaps the reserved range/);
    });
  });
});
