// Named constants a seccomp policy may use in argument rules ("KVM_RUN",
// "CLONE_VM|CLONE_THREAD", "ENOSYS"). KVM ioctl numbers come from
// ffi/kvm-abi.ts so the policy and the VMM can never disagree on a value.
import os from 'node:os';
import { KVM_IOCTL } from '../../ffi/kvm-abi.js';
import { TUNSETOFFLOAD } from '../../ffi/tun.js';

/** Terminal and generic file ioctls (<asm-generic/ioctls.h>, x86-64 values). */
export const TERMINAL_IOCTL = {
  TCGETS: 0x5401,
  TCSETS: 0x5402,
  TCSETSW: 0x5403,
  TCSETSF: 0x5404,
  TIOCGWINSZ: 0x5413,
  TIOCSWINSZ: 0x5414,
  FIONREAD: 0x541b,
  FIONBIO: 0x5421,
  FIONCLEX: 0x5450,
  FIOCLEX: 0x5451,
} as const;

/** <linux/sched.h> clone flags. */
export const CLONE = {
  CLONE_VM: 0x100,
  CLONE_FS: 0x200,
  CLONE_FILES: 0x400,
  CLONE_SIGHAND: 0x800,
  CLONE_PIDFD: 0x1000,
  CLONE_PTRACE: 0x2000,
  CLONE_VFORK: 0x4000,
  CLONE_PARENT: 0x8000,
  CLONE_THREAD: 0x10000,
  CLONE_NEWNS: 0x20000,
  CLONE_SYSVSEM: 0x40000,
  CLONE_SETTLS: 0x80000,
  CLONE_PARENT_SETTID: 0x100000,
  CLONE_CHILD_CLEARTID: 0x200000,
  CLONE_UNTRACED: 0x800000,
  CLONE_CHILD_SETTID: 0x1000000,
  CLONE_NEWCGROUP: 0x2000000,
  CLONE_NEWUTS: 0x4000000,
  CLONE_NEWIPC: 0x8000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
  CLONE_IO: 0x80000000,
} as const;

/** open(2) flags (x86-64). */
export const OPEN_FLAGS = {
  O_RDONLY: 0,
  O_WRONLY: 0o1,
  O_RDWR: 0o2,
  O_ACCMODE: 0o3,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_NOCTTY: 0o400,
  O_TRUNC: 0o1000,
  O_APPEND: 0o2000,
  O_NONBLOCK: 0o4000,
  O_DIRECTORY: 0o200000,
  O_CLOEXEC: 0o2000000,
  O_PATH: 0o10000000,
  __O_TMPFILE: 0o20000000,
} as const;

/** fcntl(2) commands. */
export const FCNTL = {
  F_DUPFD: 0,
  F_GETFD: 1,
  F_SETFD: 2,
  F_GETFL: 3,
  F_SETFL: 4,
  F_DUPFD_CLOEXEC: 1030,
} as const;

export const PROT = {
  PROT_NONE: 0,
  PROT_READ: 1,
  PROT_WRITE: 2,
  PROT_EXEC: 4,
} as const;

/** Every name a policy may use, with its value. errno names (ENOSYS, ...) come from Node. */
export function policyConstants(): ReadonlyMap<string, bigint> {
  const table = new Map<string, bigint>();
  const add = (group: Record<string, number>) => {
    for (const [name, value] of Object.entries(group)) {
      if (table.has(name) && table.get(name) !== BigInt(value)) throw new Error(`policy constant ${name} defined twice`);
      table.set(name, BigInt(value));
    }
  };
  add(KVM_IOCTL);
  add(TERMINAL_IOCTL);
  add({ TUNSETOFFLOAD });
  add(CLONE);
  add(OPEN_FLAGS);
  add(FCNTL);
  add(PROT);
  add(os.constants.errno as Record<string, number>);
  return table;
}
