// Imported first by the helper's main.ts, so this runs before the rest of
// the helper's code is evaluated: the first vCPU thread starts loading its
// own code now, alongside the helper's start-up, its wait for the frontend's
// configuration, the kernel load and the VM's creation (vcpu-threads.ts).
import { VcpuThreads } from '../vmm/vcpu-threads.js';

export const vcpuThreads = new VcpuThreads();
vcpuThreads.prestart(1);
