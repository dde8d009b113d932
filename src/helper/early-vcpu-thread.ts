// The helper's first vCPU thread, started before the helper knows its VM:
// it loads its own code while the helper waits for the frontend's
// configuration, loads the kernel and creates the VM (vcpu-threads.ts).
// main.ts starts it once its own code has loaded and it has given back its
// start-up pages (startup-pages.ts): started earlier, the two start-ups'
// pages added up to the helper's peak memory (68 MiB against 56 in the
// nested L1).
import { VcpuThreads } from '../vmm/vcpu-threads.js';

export const vcpuThreads = new VcpuThreads();
