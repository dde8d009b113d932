// Loads a Linux x86-64 kernel (bzImage or ELF vmlinux) into guest memory and
// returns the vCPU state to start it with. The one entry point of src/boot.
//
// A bzImage's payload is decompressed here, on the host, and the resulting
// vmlinux is entered directly (64-bit boot protocol, or PVH): the kernel's own
// decompressor never runs. See boot-layout.ts for where everything goes.
import type { GuestMemory } from '../memory/guest-memory.js';
import { BootError, hex } from './boot-error.js';
import {
  BOOT_AREA,
  CMDLINE_ADDR,
  CMDLINE_MAX,
  GDT_ADDR,
  LOADER_STRUCTURES,
  PVH_MEMMAP_ADDR,
  PVH_MODLIST_ADDR,
  PVH_START_INFO_ADDR,
  ZERO_PAGE_ADDR,
} from './boot-layout.js';
import type { BootCpuState } from './cpu-state.js';
import { buildE820Map, LEGACY_BIOS_AREA, type E820Entry } from './e820.js';
import { asByteSource, wholeImage, type ByteSource } from './byte-source.js';
import { isElf, parseElfImage, type ElfImage } from './elf-image.js';
import { describeRam, loadElfSegments } from './elf-loader.js';
import { longModeEntryState, pvhEntryState } from './entry-state.js';
import { buildGdt } from './gdt.js';
import { describeRange, rangesOverlap, subtractRanges, type GuestRange } from './guest-range.js';
import { placeInitrd } from './initrd-placement.js';
import { buildIdentityPageTables } from './page-tables.js';
import { decompressPayload } from './payload-decompressor.js';
import type { PayloadFormat } from './payload-format.js';
import { buildPvhStartInfo } from './pvh-start-info.js';
import { parseBzImageHeader, SYNTHESIZED_PROTOCOL_VERSION, type BzImageHeader } from './setup-header.js';
import { BootParamsField, buildZeroPage, DEFAULT_CMDLINE_SIZE, synthesizeSetupHeader, VMLINUX_INITRD_ADDR_MAX } from './zero-page.js';

export type LinuxEntry = 'linux64' | 'pvh';

/** A bzImage is read whole: distributions' are ~10-15 MiB, and the 32-bit setup fields cannot describe more than 4 GiB. */
export const MAX_BZIMAGE_SIZE = 512 * 2 ** 20;

export interface LinuxBootOptions {
  /** A bzImage or an uncompressed ELF vmlinux (a file: its segments are read straight into guest RAM). */
  kernel: Uint8Array | ByteSource;
  initrd?: Uint8Array | ByteSource;
  cmdline: string;
  /** Which kernel entry to start at; the 64-bit boot protocol by default. */
  entry?: LinuxEntry;
  /** Guest-physical ranges to mark reserved in the memory map (and keep the kernel and initrd out of). */
  reserved?: readonly GuestRange[];
  /** Physical address of an ACPI RSDP to pass to the kernel, if the machine has one. */
  rsdpAddr?: number;
}

export interface LoadedLinux {
  cpu: BootCpuState;
  kind: 'bzImage' | 'vmlinux';
  entry: LinuxEntry;
  /** The bzImage payload's compression ('elf' for an uncompressed payload); absent for a vmlinux. */
  compression?: PayloadFormat;
  /** Boot protocol version of the bzImage, or the one synthesized for a vmlinux. */
  protocolVersion: number;
  /** Guest-physical 64-bit entry (startup_64) and PVH entry, if the kernel has one. */
  entryPoint: number;
  pvhEntryPoint?: number;
  /** Where the kernel's segments were loaded, lowest p_paddr to highest end. */
  kernelRange: GuestRange;
  initrdRange?: GuestRange;
  /** The command line in guest memory, NUL excluded. */
  cmdlineRange: GuestRange;
  /** The zero page (64-bit entry) or hvm_start_info (PVH entry). */
  bootParamsAddr: number;
  e820: E820Entry[];
}

export function loadLinux(memory: GuestMemory, options: LinuxBootOptions): LoadedLinux {
  const entryKind = options.entry ?? 'linux64';
  if (entryKind !== 'linux64' && entryKind !== 'pvh') throw new BootError(`unknown kernel entry "${String(entryKind)}"`);
  const reserved = (options.reserved ?? []).map((r) => ({ gpa: r.gpa, size: r.size }));

  // 1. The kernel: an ELF vmlinux, or a bzImage whose payload we decompress.
  let header: BzImageHeader | undefined;
  let compression: PayloadFormat | undefined;
  let vmlinux: Uint8Array | ByteSource;
  if (isElf(options.kernel)) {
    vmlinux = options.kernel;
  } else {
    const bzImage = wholeImage(options.kernel, MAX_BZIMAGE_SIZE, 'the kernel (not an ELF vmlinux, so a bzImage)');
    header = parseBzImageHeader(bzImage);
    const payload = bzImage.subarray(header.payloadFileOffset, header.payloadFileOffset + header.payloadLength);
    const ramSize = memory.regions.reduce((sum, r) => sum + r.size, 0);
    const decompressed = decompressPayload(payload, { maxSize: header.initSize || undefined, ramSize });
    compression = decompressed.format;
    vmlinux = decompressed.data;
    if (!isElf(vmlinux)) throw new BootError(`bzImage payload (${compression}) did not decompress to an ELF vmlinux`);
  }
  const elf = parseElfImage(vmlinux, header ? 'decompressed vmlinux' : 'vmlinux ELF');

  // 2. Guest RAM and the memory map.
  if (!memory.view(0, BOOT_AREA.size))
    throw new BootError(`guest RAM must cover the first ${BOOT_AREA.size} bytes for the boot structures (${describeRam(memory)})`);
  for (const r of reserved) {
    if (rangesOverlap(r, LOADER_STRUCTURES))
      throw new BootError(`reserved range ${describeRange(r)} overlaps the boot loader's structures at ${describeRange(LOADER_STRUCTURES)}`);
  }
  const e820 = buildE820Map(memory.regions, reserved);

  // 3. Kernel segments at their physical addresses.
  const forbidden = [
    { range: BOOT_AREA, what: 'boot loader area (first 1 MiB)' },
    ...reserved.map((range) => ({ range, what: 'reserved range' })),
  ];
  const kernelRange = loadElfSegments(memory, elf, vmlinux, forbidden);
  const kernelFootprint = { gpa: kernelRange.gpa, size: Math.max(kernelRange.size, header?.initSize ?? 0) };
  checkEntryReachable(elf, entryKind, kernelRange);

  // 4. Loader structures: start from zero, then GDT/IDT/TSS, page tables, command line.
  memory.view(LOADER_STRUCTURES.gpa, LOADER_STRUCTURES.size)!.fill(0);
  const gdt = buildGdt();
  memory.write(GDT_ADDR, gdt);
  const pageTables = buildIdentityPageTables();
  memory.write(pageTables.gpa, pageTables.bytes);
  const cmdlineRange = writeCommandLine(memory, options.cmdline, header?.cmdlineSize ?? DEFAULT_CMDLINE_SIZE);

  // 5. The initrd, as high as it may go.
  let initrdRange: GuestRange | undefined;
  if (options.initrd && options.initrd.length > 0) {
    // Usable RAM region by region (the e820 map merges adjacent regions; the initrd must sit in one).
    const usable = subtractRanges(
      memory.regions.map((r) => ({ gpa: r.gpa, size: r.size })),
      [LEGACY_BIOS_AREA, ...reserved],
    );
    const request = { size: options.initrd.length, usable, initrdAddrMax: header?.initrdAddrMax ?? VMLINUX_INITRD_ADDR_MAX };
    try {
      // Keep clear of all the memory the bzImage says the kernel needs (init_size)...
      initrdRange = placeInitrd({ ...request, avoid: [kernelFootprint] });
    } catch (err) {
      // ...but entered directly, the kernel uses no memory past its image (_end, bss and brk
      // included), so a small VM may still fit the initrd just above it.
      if (kernelFootprint.size === kernelRange.size) throw err;
      initrdRange = placeInitrd({ ...request, avoid: [kernelRange] });
    }
    if (!memory.view(initrdRange.gpa, initrdRange.size)) throw new BootError(`the initrd's place ${describeRange(initrdRange)} is not in guest RAM`);
    asByteSource(options.initrd).copyToGuest(memory, initrdRange.gpa, 0, initrdRange.size);
  }

  // 6. The boot parameters for the chosen entry, and the vCPU state.
  let cpu: BootCpuState;
  let bootParamsAddr: number;
  if (entryKind === 'linux64') {
    if (kernelRange.gpa + kernelRange.size > pageTables.mappedBytes)
      throw new BootError(`kernel at ${describeRange(kernelRange)} lies beyond the ${hex(pageTables.mappedBytes)} bytes the boot page tables map`);
    const zeroPage = buildZeroPage({
      setupHeader: header?.rawHeader ?? synthesizeSetupHeader(),
      cmdlineAddr: cmdlineRange.gpa,
      initrd: initrdRange,
      e820,
    });
    if (options.rsdpAddr) new DataView(zeroPage.buffer).setBigUint64(BootParamsField.acpi_rsdp_addr, BigInt(options.rsdpAddr), true);
    memory.write(ZERO_PAGE_ADDR, zeroPage);
    bootParamsAddr = ZERO_PAGE_ADDR;
    cpu = longModeEntryState(gdt, elf.entry, ZERO_PAGE_ADDR);
  } else {
    const pvh = buildPvhStartInfo({
      cmdlineAddr: cmdlineRange.gpa,
      modlistAddr: PVH_MODLIST_ADDR,
      memmapAddr: PVH_MEMMAP_ADDR,
      initrd: initrdRange,
      memoryMap: e820,
      rsdpAddr: options.rsdpAddr,
    });
    memory.write(PVH_START_INFO_ADDR, pvh.startInfo);
    memory.write(PVH_MODLIST_ADDR, pvh.modlist);
    memory.write(PVH_MEMMAP_ADDR, pvh.memmap);
    bootParamsAddr = PVH_START_INFO_ADDR;
    cpu = pvhEntryState(gdt, elf.pvhEntry!, PVH_START_INFO_ADDR);
  }

  return {
    cpu,
    kind: header ? 'bzImage' : 'vmlinux',
    entry: entryKind,
    compression,
    protocolVersion: header?.version ?? SYNTHESIZED_PROTOCOL_VERSION,
    entryPoint: elf.entry,
    pvhEntryPoint: elf.pvhEntry,
    kernelRange,
    initrdRange,
    cmdlineRange,
    bootParamsAddr,
    e820,
  };
}

function checkEntryReachable(elf: ElfImage, entry: LinuxEntry, kernel: GuestRange): void {
  if (entry !== 'pvh') return;
  if (elf.pvhEntry === undefined)
    throw new BootError('kernel has no PVH entry (no XEN_ELFNOTE_PHYS32_ENTRY note; build it with CONFIG_PVH=y) — use the 64-bit entry');
  const inside = elf.segments.some((s) => elf.pvhEntry! >= s.paddr && elf.pvhEntry! < s.paddr + s.memSize);
  if (!inside) throw new BootError(`PVH entry ${hex(elf.pvhEntry)} is not inside the kernel's loaded segments ${describeRange(kernel)}`);
}

function writeCommandLine(memory: GuestMemory, cmdline: string, maxLength: number): GuestRange {
  const bytes = new TextEncoder().encode(cmdline);
  if (bytes.includes(0)) throw new BootError('kernel command line contains a NUL byte');
  const limit = Math.min(maxLength, CMDLINE_MAX - 1);
  if (bytes.length > limit) throw new BootError(`kernel command line is ${bytes.length} bytes; this kernel accepts at most ${limit}`);
  memory.write(CMDLINE_ADDR, bytes);
  memory.write(CMDLINE_ADDR + bytes.length, new Uint8Array(1));
  return { gpa: CMDLINE_ADDR, size: bytes.length };
}
