// The x86 boot protocol's setup header (Documentation/x86/boot.rst,
// struct setup_header in arch/x86/include/uapi/asm/bootparam.h): where it sits
// in a bzImage (and, at the same offsets, in struct boot_params), and the
// validation a loader that decompresses the payload itself needs.
import { BootError, hex } from './boot-error.js';
import { ImageReader } from './image-reader.js';

/**
 * Field offsets, absolute: the same in the bzImage file and in the zero page
 * (struct boot_params embeds struct setup_header at 0x1f1). Checked against
 * bootparam.h by test/boot/setup-header-offsets.test.ts.
 */
export const SetupHeaderField = {
  setup_sects: { offset: 0x1f1, size: 1 },
  root_flags: { offset: 0x1f2, size: 2 },
  syssize: { offset: 0x1f4, size: 4 },
  ram_size: { offset: 0x1f8, size: 2 },
  vid_mode: { offset: 0x1fa, size: 2 },
  root_dev: { offset: 0x1fc, size: 2 },
  boot_flag: { offset: 0x1fe, size: 2 },
  jump: { offset: 0x200, size: 2 },
  header: { offset: 0x202, size: 4 },
  version: { offset: 0x206, size: 2 },
  realmode_swtch: { offset: 0x208, size: 4 },
  start_sys_seg: { offset: 0x20c, size: 2 },
  kernel_version: { offset: 0x20e, size: 2 },
  type_of_loader: { offset: 0x210, size: 1 },
  loadflags: { offset: 0x211, size: 1 },
  setup_move_size: { offset: 0x212, size: 2 },
  code32_start: { offset: 0x214, size: 4 },
  ramdisk_image: { offset: 0x218, size: 4 },
  ramdisk_size: { offset: 0x21c, size: 4 },
  bootsect_kludge: { offset: 0x220, size: 4 },
  heap_end_ptr: { offset: 0x224, size: 2 },
  ext_loader_ver: { offset: 0x226, size: 1 },
  ext_loader_type: { offset: 0x227, size: 1 },
  cmd_line_ptr: { offset: 0x228, size: 4 },
  initrd_addr_max: { offset: 0x22c, size: 4 },
  kernel_alignment: { offset: 0x230, size: 4 },
  relocatable_kernel: { offset: 0x234, size: 1 },
  min_alignment: { offset: 0x235, size: 1 },
  xloadflags: { offset: 0x236, size: 2 },
  cmdline_size: { offset: 0x238, size: 4 },
  hardware_subarch: { offset: 0x23c, size: 4 },
  hardware_subarch_data: { offset: 0x240, size: 8 },
  payload_offset: { offset: 0x248, size: 4 },
  payload_length: { offset: 0x24c, size: 4 },
  setup_data: { offset: 0x250, size: 8 },
  pref_address: { offset: 0x258, size: 8 },
  init_size: { offset: 0x260, size: 4 },
  handover_offset: { offset: 0x264, size: 4 },
  kernel_info_offset: { offset: 0x268, size: 4 },
} as const;

export type SetupHeaderFieldName = keyof typeof SetupHeaderField;

/** First byte of struct setup_header. */
export const SETUP_HEADER_START = 0x1f1;
/** One past the last field this loader knows (kernel_info_offset, protocol 2.15). */
export const SETUP_HEADER_END = 0x26c;

export const BOOT_FLAG_MAGIC = 0xaa55;
/** "HdrS" read as a little-endian u32. */
export const HDRS_MAGIC = 0x53726448;
export const MIN_PROTOCOL_VERSION = 0x0206;
/** The protocol version this loader writes into a synthesized header (Linux 6.1 declares 2.15). */
export const SYNTHESIZED_PROTOCOL_VERSION = 0x020f;

// loadflags
export const LOADED_HIGH = 1 << 0;
export const KASLR_FLAG = 1 << 1;
export const QUIET_FLAG = 1 << 5;
export const KEEP_SEGMENTS = 1 << 6;
export const CAN_USE_HEAP = 1 << 7;

// xloadflags
export const XLF_KERNEL_64 = 1 << 0;
export const XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1;
export const XLF_EFI_HANDOVER_32 = 1 << 2;
export const XLF_EFI_HANDOVER_64 = 1 << 3;
export const XLF_EFI_KEXEC = 1 << 4;
export const XLF_5LEVEL = 1 << 5;
export const XLF_5LEVEL_ENABLED = 1 << 6;

/** type_of_loader for a boot loader without an assigned ID. */
export const LOADER_TYPE_UNDEFINED = 0xff;

/** The initrd_addr_max a loader assumes for protocols before 2.03. */
export const DEFAULT_INITRD_ADDR_MAX = 0x37ffffff;

/** "2.15" from 0x020f. */
export function formatProtocolVersion(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
}

export interface BzImageHeader {
  /** Protocol version, e.g. 0x020f. */
  version: number;
  setupSects: number;
  /** Bytes of real-mode setup code (boot sector included) before the protected-mode kernel. */
  setupSize: number;
  loadflags: number;
  xloadflags: number;
  /** Max length of the command line, excluding the terminating NUL. */
  cmdlineSize: number;
  /** Highest address the initrd may occupy (inclusive). */
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatable: boolean;
  prefAddress: number;
  /** Linear memory the kernel needs from its load address during boot (2.10+), 0 if not declared. */
  initSize: number;
  /** Offset and length of the compressed payload inside the bzImage file. */
  payloadFileOffset: number;
  payloadLength: number;
  /**
   * The setup header bytes a loader copies into boot_params: image bytes
   * [0x1f1, 0x202 + image[0x201]), clamped to what this loader knows.
   */
  rawHeader: Uint8Array;
}

/** True when the image carries the 0xAA55 boot flag and the "HdrS" signature. */
export function looksLikeBzImage(image: Uint8Array): boolean {
  if (image.length < SetupHeaderField.header.offset + 4) return false;
  const r = new ImageReader(image, 'bzImage');
  return r.u16(SetupHeaderField.boot_flag.offset, 'boot_flag') === BOOT_FLAG_MAGIC && r.u32(SetupHeaderField.header.offset, 'header') === HDRS_MAGIC;
}

/**
 * Parses and validates the setup header of a bzImage for a loader that will
 * decompress the payload on the host and enter the kernel in 64-bit mode.
 */
export function parseBzImageHeader(image: Uint8Array): BzImageHeader {
  const r = new ImageReader(image, 'bzImage');
  const f = SetupHeaderField;
  if (image.length < f.header.offset + 4)
    throw new BootError(`not a Linux kernel image: ${image.length} bytes is too short to hold a boot sector and setup header`);
  const bootFlag = r.u16(f.boot_flag.offset, 'boot_flag');
  const magic = r.u32(f.header.offset, 'header');
  if (magic !== HDRS_MAGIC || bootFlag !== BOOT_FLAG_MAGIC)
    throw new BootError(
      `not a Linux kernel image: no "HdrS" signature at 0x202 and 0xAA55 boot flag at 0x1fe (found ${hex(magic)} and ${hex(bootFlag)})`,
    );
  const version = r.u16(f.version.offset, 'version');
  if (version < MIN_PROTOCOL_VERSION)
    throw new BootError(
      `boot protocol ${formatProtocolVersion(version)} is too old: this loader needs ${formatProtocolVersion(MIN_PROTOCOL_VERSION)} or later`,
    );

  let setupSects = r.u8(f.setup_sects.offset, 'setup_sects');
  if (setupSects === 0) setupSects = 4;
  const setupSize = (setupSects + 1) * 512;
  if (setupSize > image.length)
    throw new BootError(`bzImage is truncated: ${setupSects} setup sectors need ${setupSize} bytes, the image has ${image.length}`);

  // The header's real end is announced by the jump instruction at 0x200.
  const declaredEnd = 0x202 + r.u8(0x201, 'jump offset');
  const headerEnd = Math.min(declaredEnd, SETUP_HEADER_END);
  r.check(SETUP_HEADER_START, headerEnd - SETUP_HEADER_START, 'setup header');

  const loadflags = r.u8(f.loadflags.offset, 'loadflags');
  if (!(loadflags & LOADED_HIGH))
    throw new BootError('zImage kernels (loaded low, LOADED_HIGH clear in loadflags) are not supported; build a bzImage');

  // A field only exists when the header reaches it; the protocol version says which exist.
  const field = (name: SetupHeaderFieldName, since: number): number => {
    const { offset, size } = f[name];
    if (version < since || offset + size > headerEnd) return 0;
    return size === 1 ? r.u8(offset, name) : size === 2 ? r.u16(offset, name) : size === 4 ? r.u32(offset, name) : r.u64(offset, name);
  };

  const xloadflags = field('xloadflags', 0x020c);
  if (!(xloadflags & XLF_KERNEL_64))
    throw new BootError(
      version < 0x020c
        ? `kernel is not 64-bit capable: boot protocol ${formatProtocolVersion(version)} has no xloadflags (XLF_KERNEL_64 needs 2.12 or later)`
        : `kernel is not 64-bit capable: XLF_KERNEL_64 is clear in xloadflags (${hex(xloadflags)})`,
    );

  if (version < 0x0208)
    throw new BootError(
      `boot protocol ${formatProtocolVersion(version)} does not describe the compressed payload (payload_offset needs 2.08 or later)`,
    );
  const payloadOffset = field('payload_offset', 0x0208);
  const payloadLength = field('payload_length', 0x0208);
  const protectedModeSize = image.length - setupSize;
  if (payloadLength === 0) throw new BootError('bzImage payload_length is 0: no compressed kernel to load');
  if (payloadOffset > protectedModeSize || payloadLength > protectedModeSize - payloadOffset)
    throw new BootError(
      `bzImage payload out of range: payload_offset ${hex(payloadOffset)} + payload_length ${hex(payloadLength)} ` +
        `exceeds the ${protectedModeSize}-byte protected-mode kernel`,
    );

  const cmdlineSize = version >= 0x0206 ? field('cmdline_size', 0x0206) : 255;
  const initrdAddrMax = version >= 0x0203 ? field('initrd_addr_max', 0x0203) : DEFAULT_INITRD_ADDR_MAX;

  return {
    version,
    setupSects,
    setupSize,
    loadflags,
    xloadflags,
    cmdlineSize,
    initrdAddrMax: initrdAddrMax || DEFAULT_INITRD_ADDR_MAX,
    kernelAlignment: field('kernel_alignment', 0x0205),
    relocatable: field('relocatable_kernel', 0x0205) !== 0,
    prefAddress: field('pref_address', 0x020a),
    initSize: field('init_size', 0x020a),
    payloadFileOffset: setupSize + payloadOffset,
    payloadLength,
    rawHeader: image.slice(SETUP_HEADER_START, headerEnd),
  };
}
