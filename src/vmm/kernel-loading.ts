// Loads the guest kernel through src/boot, writes the tables that describe
// the machine to it (the MP table always; ACPI tables when asked), and logs
// what was found.
import type { ByteSource } from '../boot/byte-source.js';
import { buildAcpiTables, type AcpiPlatform } from '../boot/acpi/acpi-tables.js';
import { BootError } from '../boot/boot-error.js';
import { ACPI_TABLES_ADDR, RESET_VECTOR_ADDR } from '../boot/boot-layout.js';
import type { BootCpuState } from '../boot/cpu-state.js';
import { loadLinux, type LinuxEntry } from '../boot/linux-loader.js';
import { writeMpTable } from '../boot/mp-table.js';
import type { Logger } from '../log.js';
import type { GuestMemory } from '../memory/guest-memory.js';

export interface KernelInputs {
  kernel: Uint8Array | ByteSource;
  initrd?: Uint8Array | ByteSource;
  cmdline: string;
  entry?: LinuxEntry;
  /** vCPUs the MP table lists. */
  cpus: number;
  /** What the ACPI tables describe; none without. */
  acpi?: AcpiPlatform;
  log: Logger;
}

export function loadKernel(memory: GuestMemory, inputs: KernelInputs): BootCpuState {
  const started = performance.now();
  const acpi = inputs.acpi && acpiTables(inputs.acpi);
  if (acpi && ACPI_TABLES_ADDR + acpi.bytes.length > RESET_VECTOR_ADDR)
    throw new BootError(`the ACPI tables (${acpi.bytes.length} bytes) do not fit below the reset vector (0x${RESET_VECTOR_ADDR.toString(16)})`);
  const loaded = loadLinux(memory, { kernel: inputs.kernel, initrd: inputs.initrd, cmdline: inputs.cmdline, entry: inputs.entry, rsdpAddr: acpi?.rsdpGpa });
  // Kernels built without ACPI learn about the APICs from the MP table (and
  // are spared a slow scan); with ACPI, Linux prefers the MADT.
  writeMpTable(memory, inputs.cpus);
  if (acpi) memory.write(ACPI_TABLES_ADDR, acpi.bytes);
  inputs.log.info(
    {
      kind: loaded.kind,
      compression: loaded.compression,
      protocol: `${loaded.protocolVersion >> 8}.${(loaded.protocolVersion & 0xff).toString().padStart(2, '0')}`,
      entry: loaded.entry,
      entryPoint: `0x${(loaded.entry === 'pvh' ? loaded.pvhEntryPoint! : loaded.entryPoint).toString(16)}`,
      initrd: loaded.initrdRange ? `0x${loaded.initrdRange.gpa.toString(16)}+${loaded.initrdRange.size}` : undefined,
      acpi: acpi ? `RSDP at 0x${acpi.rsdpGpa.toString(16)}, ${acpi.bytes.length} bytes` : 'none',
      ms: Math.round(performance.now() - started),
    },
    'kernel loaded',
  );
  return loaded.cpu;
}

/** The machine's ACPI tables; a machine they cannot describe (e.g. a UART on the timer's IRQ) is a clear BootError, not a crash. */
function acpiTables(platform: AcpiPlatform): ReturnType<typeof buildAcpiTables> {
  try {
    return buildAcpiTables(platform, ACPI_TABLES_ADDR);
  } catch (e) {
    throw new BootError(`${(e as Error).message} (tsvmm run --no-acpi leaves the ACPI tables out)`);
  }
}
