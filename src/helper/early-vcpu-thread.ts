// The helper's first vCPU thread, started before the helper knows its VM:
// it loads its own code while the helper waits for the frontend's
// configuration, loads the kernel and creates the VM (vcpu-threads.ts).
// main.ts starts it once its own code has loaded and it has given back its
// start-up pages (startup-pages.ts), not as its first act: then the two
// start-ups overlap, at the helper's memory peak. Measured again in a nested
// L1 (2026-12-04, docs/helper-memory.md): started first, the boot's peak RSS
// was 63.9 MiB instead of 59.6, and the time to init no shorter.
import { VcpuThreads } from '../vmm/vcpu-threads.js';

export const vcpuThreads = new VcpuThreads();
