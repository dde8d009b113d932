// The helper's first vCPU thread, started before the helper knows its VM:
// it loads its own code while the helper waits for the frontend's
// configuration, loads the kernel and creates the VM (vcpu-threads.ts).
// main.ts starts it once its own code has loaded and it has given back its
// start-up pages (startup-pages.ts), not as its first act: then the two
// start-ups would overlap, at the helper's memory peak. (The 68 MiB measured
// that way came from a faulty sampler, docs/helper-memory.md; the choice
// was not measured again.)
import { VcpuThreads } from '../vmm/vcpu-threads.js';

export const vcpuThreads = new VcpuThreads();
