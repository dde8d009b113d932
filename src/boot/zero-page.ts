// The zero page (struct boot_params, arch/x86/include/uapi/asm/bootparam.h)
// handed to the kernel's 64-bit entry in RSI: the setup header copied from
// the bzImage (or synthesized for a bare vmlinux) with the loader's fields
// filled in, and the e820 memory map.
import { BootError } from './boot-error.js';
import type { E820Entry } from './e820.js';
import { E820_MAX_ENTRIES } from './e820.js';
import type { GuestRange } from './guest-range.js';
import {
  BOOT_FLAG_MAGIC,
  HDRS_MAGIC,
  KASLR_FLAG,
  LOADED_HIGH,
  LOADER_TYPE_UNDEFINED,
  SETUP_HEADER_END,
  SETUP_HEADER_START,
  SetupHeaderField as H,
  SYNTHESIZED_PROTOCOL_VERSION,
  XLF_KERNEL_64,
} from './setup-header.js';

export const ZERO_PAGE_BYTES = 4096;

/** struct boot_params fields outside the setup header that the loader writes. */
export const BootParamsField = {
  acpi_rsdp_addr: 0x070,
  ext_ramdisk_image: 0x0c0,
  ext_ramdisk_size: 0x0c4,
  ext_cmd_line_ptr: 0x0c8,
  e820_entries: 0x1e8,
  sentinel: 0x1ef,
  hdr: 0x1f1,
  e820_table: 0x2d0,
} as const;
export const E820_ENTRY_BYTES = 20;

/** x86's COMMAND_LINE_SIZE is 2048: 2047 characters and the NUL. */
export const DEFAULT_CMDLINE_SIZE = 2047;
/** The initrd_addr_max x86-64 kernels declare. */
export const VMLINUX_INITRD_ADDR_MAX = 0x7fffffff;
const VMLINUX_KERNEL_ALIGNMENT = 0x200000;

/**
 * A setup header for a kernel that came without one (an ELF vmlinux),
 * as the bytes from 0x1f1 to the end of the header.
 */
export function synthesizeSetupHeader(): Uint8Array {
  const page = new Uint8Array(SETUP_HEADER_END);
  const dv = new DataView(page.buffer);
  dv.setUint16(H.boot_flag.offset, BOOT_FLAG_MAGIC, true);
  dv.setUint8(0x201, SETUP_HEADER_END - 0x202); // jump offset announces where the header ends
  dv.setUint32(H.header.offset, HDRS_MAGIC, true);
  dv.setUint16(H.version.offset, SYNTHESIZED_PROTOCOL_VERSION, true);
  dv.setUint8(H.type_of_loader.offset, LOADER_TYPE_UNDEFINED);
  dv.setUint8(H.loadflags.offset, LOADED_HIGH);
  dv.setUint16(H.vid_mode.offset, 0xffff, true); // "normal"
  dv.setUint32(H.initrd_addr_max.offset, VMLINUX_INITRD_ADDR_MAX, true);
  dv.setUint32(H.kernel_alignment.offset, VMLINUX_KERNEL_ALIGNMENT, true);
  dv.setUint16(H.xloadflags.offset, XLF_KERNEL_64, true);
  dv.setUint32(H.cmdline_size.offset, DEFAULT_CMDLINE_SIZE, true);
  return page.slice(SETUP_HEADER_START);
}

export interface ZeroPageOptions {
  /** Setup header bytes starting at 0x1f1 (from the bzImage, or synthesizeSetupHeader()). */
  setupHeader: Uint8Array;
  cmdlineAddr: number;
  initrd?: GuestRange;
  e820: readonly E820Entry[];
}

export function buildZeroPage(o: ZeroPageOptions): Uint8Array {
  if (o.setupHeader.length > SETUP_HEADER_END - SETUP_HEADER_START)
    throw new BootError(`setup header of ${o.setupHeader.length} bytes is larger than struct setup_header`);
  if (o.e820.length > E820_MAX_ENTRIES) throw new BootError(`${o.e820.length} e820 entries do not fit the zero page`);
  const page = new Uint8Array(ZERO_PAGE_BYTES);
  const dv = new DataView(page.buffer);
  page.set(o.setupHeader, BootParamsField.hdr);

  dv.setUint8(H.type_of_loader.offset, LOADER_TYPE_UNDEFINED);
  // We place the kernel where it was linked: no KASLR was applied.
  dv.setUint8(H.loadflags.offset, (dv.getUint8(H.loadflags.offset) | LOADED_HIGH) & ~KASLR_FLAG);
  // Nothing else is passed: no setup_data chain, whatever the image said.
  dv.setBigUint64(H.setup_data.offset, 0n, true);
  dv.setUint32(H.hardware_subarch.offset, 0, true);
  dv.setBigUint64(H.hardware_subarch_data.offset, 0n, true);

  writeSplit(dv, H.cmd_line_ptr.offset, BootParamsField.ext_cmd_line_ptr, o.cmdlineAddr);
  writeSplit(dv, H.ramdisk_image.offset, BootParamsField.ext_ramdisk_image, o.initrd?.gpa ?? 0);
  writeSplit(dv, H.ramdisk_size.offset, BootParamsField.ext_ramdisk_size, o.initrd?.size ?? 0);

  dv.setUint8(BootParamsField.e820_entries, o.e820.length);
  o.e820.forEach((e, i) => {
    const at = BootParamsField.e820_table + i * E820_ENTRY_BYTES;
    dv.setBigUint64(at, BigInt(e.addr), true);
    dv.setBigUint64(at + 8, BigInt(e.size), true);
    dv.setUint32(at + 16, e.type, true);
  });
  return page;
}

/** A 64-bit value split into a header u32 (low half) and its ext_ u32 (high half). */
function writeSplit(dv: DataView, lowOffset: number, highOffset: number, value: number): void {
  dv.setUint32(lowOffset, value % 2 ** 32, true);
  dv.setUint32(highOffset, Math.floor(value / 2 ** 32), true);
}
