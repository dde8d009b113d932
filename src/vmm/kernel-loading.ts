// Loads the guest kernel through src/boot and logs what was found.
import type { BootCpuState } from '../boot/cpu-state.js';
import { loadLinux, type LinuxEntry } from '../boot/linux-loader.js';
import { writeMpTable } from '../boot/mp-table.js';
import type { Logger } from '../log.js';
import type { GuestMemory } from '../memory/guest-memory.js';

export interface KernelInputs {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  entry?: LinuxEntry;
  log: Logger;
}

export function loadKernel(memory: GuestMemory, inputs: KernelInputs): BootCpuState {
  const started = performance.now();
  const loaded = loadLinux(memory, { kernel: inputs.kernel, initrd: inputs.initrd, cmdline: inputs.cmdline, entry: inputs.entry });
  // No ACPI here: the MP table tells Linux about the APICs (and spares it a slow scan).
  writeMpTable(memory);
  inputs.log.info(
    {
      kind: loaded.kind,
      compression: loaded.compression,
      protocol: `${loaded.protocolVersion >> 8}.${(loaded.protocolVersion & 0xff).toString().padStart(2, '0')}`,
      entry: loaded.entry,
      entryPoint: `0x${(loaded.entry === 'pvh' ? loaded.pvhEntryPoint! : loaded.entryPoint).toString(16)}`,
      initrd: loaded.initrdRange ? `0x${loaded.initrdRange.gpa.toString(16)}+${loaded.initrdRange.size}` : undefined,
      ms: Math.round(performance.now() - started),
    },
    'kernel loaded',
  );
  return loaded.cpu;
}
