// The helper's vCPU worker threads, started before the VM is built: each
// loads its own code while the helper loads the kernel and creates the VM
// (vcpu-threads.ts). main.ts starts them once the configuration says the VM
// needs them (a lone vCPU mostly runs on the main thread instead:
// main-thread-vcpu.ts); under TSVMM_VCPU_THREAD=worker, one as soon as the
// helper's own code has loaded and it has given back its start-up pages
// (startup-pages.ts), not as its first act: then the two start-ups overlap,
// at the helper's memory peak. Measured again in a nested L1 (2026-12-04,
// docs/helper-memory.md): started first, the boot's peak RSS was 63.9 MiB
// instead of 59.6, and the time to init no shorter.
import { VcpuThreads } from '../vmm/vcpu-threads.js';

export const vcpuThreads = new VcpuThreads();
