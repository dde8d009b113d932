// Placeholder until src/boot's Linux loader lands (being written in parallel).
import type { BootCpuState } from '../boot/cpu-state.js';
import type { Logger } from '../log.js';
import type { GuestMemory } from '../memory/guest-memory.js';

export interface KernelInputs {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  log: Logger;
}

export function loadKernel(_memory: GuestMemory, _inputs: KernelInputs): BootCpuState {
  throw new Error('Linux loading is not wired yet');
}
