// How the exit loop enters the guest: ioctl(vcpu, KVM_RUN, 0).
//
// On the project's CI hosts every KVM_RUN saves and restores the calling
// thread's extended FPU state, and costs ~4.5 µs more when the AVX upper
// halves are dirty (docs/host-kvm.md) — which V8 and glibc leave them. The
// `vzeroupper` entry clears them right before the system call: 11 bytes of
// machine code (vzeroupper; mov eax, SYS_ioctl; syscall; ret) in a page of our
// own, returning -errno instead of setting errno. TSVMM_KVM_RUN=libc selects
// the plain libc ioctl for comparison.
import { readFileSync } from 'node:fs';
import koffi from 'koffi';
import { ioctlValue, libc } from '../../ffi/libc.js';

export type KvmRunEntry = (fd: number, request: number, arg: number) => number;

const SYS_IOCTL = 16;
const PROT_READ = 1;
const PROT_WRITE = 2;
const PROT_EXEC = 4;

function hostHasAvx(): boolean {
  try {
    return /^flags\s*:.*\bavx\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

function vzeroupperEntry(): KvmRunEntry {
  const mmap = libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t offset)');
  const mprotect = libc.func('int mprotect(void *addr, size_t len, int prot)');
  const page = mmap(null, 4096, PROT_READ | PROT_WRITE, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
  if (koffi.address(page) === 0xffffffffffffffffn) throw new Error('mmap for the KVM_RUN entry failed');
  const code = new Uint8Array(koffi.view(page, 16));
  code.set([0xc5, 0xf8, 0x77, 0xb8, SYS_IOCTL, 0, 0, 0, 0x0f, 0x05, 0xc3]);
  if ((mprotect(page, 4096, PROT_READ | PROT_EXEC) as number) !== 0) throw new Error('mprotect for the KVM_RUN entry failed');
  const call = koffi.decode(page, koffi.proto('long tsvmm_kvm_run(int fd, unsigned long request, unsigned long arg)')) as (fd: number, r: number, a: number) => number;
  return call;
}

/** Returns the entry and how it enters: raw results are -errno for the vzeroupper entry, -1 + errno for libc. */
export function kvmRunEntry(): { enter: KvmRunEntry; kind: 'vzeroupper' | 'libc' } {
  if (process.env.TSVMM_KVM_RUN !== 'libc' && hostHasAvx()) {
    try {
      return { enter: vzeroupperEntry(), kind: 'vzeroupper' };
    } catch {
      // fall through to libc
    }
  }
  return { enter: (fd, r, a) => ioctlValue(fd, r, a) as number, kind: 'libc' };
}
