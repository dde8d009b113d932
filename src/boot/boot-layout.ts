// Where the boot loader puts things in guest-physical memory.
//
//   0x00000 - 0x004ff  left alone (real-mode IVT and BIOS data area)
//   0x00500 - 0x0052f  GDT: 0x00 null, 0x08 flat 32-bit code (PVH entry),
//                      0x10 __BOOT_CS 64-bit code, 0x18 __BOOT_DS flat data,
//                      0x20 64-bit TSS descriptor (16 bytes)
//   0x00540 - 0x00547  IDT: one empty (not present) gate; interrupts are off
//   0x00580 - 0x005e7  TSS (104 zero bytes) that TR points at
//   0x01000 - 0x01fff  PML4
//   0x02000 - 0x02fff  PDPT (4 entries)
//   0x03000 - 0x06fff  4 page directories: 2 MiB pages identity-mapping 0-4 GiB
//   0x07000 - 0x07fff  zero page (struct boot_params), RSI at the 64-bit entry
//   0x08000 - 0x08037  hvm_start_info (PVH entry only), EBX at the PVH entry
//   0x08040 - 0x0805f  PVH module list (the initrd)
//   0x08100 - 0x08cff  PVH memory map (up to 128 entries of 24 bytes)
//   0x0a000 - 0x0ffff  boot stack, RSP = 0xfff0
//   0x20000 - 0x2ffff  kernel command line (NUL-terminated, ≤ the kernel's cmdline_size)
//   0x9fc00 - 0xfffff  reserved in e820 (EBDA, VGA hole, BIOS): the MP table at
//                      0x9fc00, the ACPI tables from 0xe0000 (RSDP first, where
//                      a kernel that scans the BIOS area also finds it), a
//                      16-byte stub at the reset vector 0xffff0 (reset-vector.ts)
//   0x100000 -         RAM for the kernel. The kernel goes at its ELF physical
//                      address (p_paddr, 16 MiB for a default x86-64 build);
//                      the initrd as high as it can below min(initrd_addr_max,
//                      4 GiB, top of RAM), clear of the kernel.
//
// Everything the loader writes sits below the EBDA (0x9fc00), in RAM the
// kernel reserves for itself early (it keeps the first 1 MiB out of use).

export const GDT_ADDR = 0x500;
export const IDT_ADDR = 0x540;
export const TSS_ADDR = 0x580;
export const TSS_LIMIT = 0x67;
export const PML4_ADDR = 0x1000;
export const PDPT_ADDR = 0x2000;
export const PD_ADDR = 0x3000;
/** How many page directories (1 GiB of 2 MiB pages each) follow PD_ADDR. */
export const PD_COUNT = 4;
export const ZERO_PAGE_ADDR = 0x7000;
export const ZERO_PAGE_SIZE = 0x1000;
export const PVH_START_INFO_ADDR = 0x8000;
export const PVH_MODLIST_ADDR = 0x8040;
export const PVH_MEMMAP_ADDR = 0x8100;
export const BOOT_STACK_BOTTOM = 0xa000;
export const BOOT_STACK_POINTER = 0xfff0;
export const CMDLINE_ADDR = 0x20000;
export const CMDLINE_MAX = 0x10000;

/** The ACPI tables (src/boot/acpi), RSDP first; they must end below RESET_VECTOR_ADDR. */
export const ACPI_TABLES_ADDR = 0xe0000;

/** Where a CPU leaving reset (or a guest jumping to F000:FFF0) fetches; the last 16 bytes below 1 MiB. */
export const RESET_VECTOR_ADDR = 0xffff0;

/** Start of the EBDA; conventional RAM ends here. */
export const EBDA_START = 0x9fc00;
/** First byte above the legacy BIOS area (the "high memory" start). */
export const HIGH_MEMORY_START = 0x100000;

/** The structures above, from the GDT to the end of the command line buffer; zeroed before each load. */
export const LOADER_STRUCTURES = { gpa: GDT_ADDR, size: CMDLINE_ADDR + CMDLINE_MAX - GDT_ADDR } as const;

/** The low memory the loader owns; no kernel segment or initrd may touch it. */
export const BOOT_AREA = { gpa: 0, size: HIGH_MEMORY_START } as const;

// GDT selectors (Documentation/x86/boot.rst: __BOOT_CS = 0x10, __BOOT_DS = 0x18)
export const SELECTOR_CODE32 = 0x08;
export const SELECTOR_BOOT_CS = 0x10;
export const SELECTOR_BOOT_DS = 0x18;
export const SELECTOR_TSS = 0x20;
export const GDT_ENTRIES = 6; // the TSS descriptor takes two slots
export const GDT_SIZE = GDT_ENTRIES * 8;
