// koffi bindings for the calls the sandbox makes: mounts and pivot_root,
// rlimits, credentials, capabilities, prctl and seccomp. No policy here.
//
// Fixed prototypes only. glibc's prctl() and syscall() are variadic in C, but
// with integer/pointer arguments only the x86-64 calling convention is the same
// (the callee never reads %al), so declaring them fixed is safe.
//
// Credentials: glibc's setgroups/setresgid/setresuid wrappers change the ids of
// EVERY thread of the process (nptl's SIGSETXID broadcast) — the raw syscalls
// would change only the calling thread, leaving V8's and libuv's threads root.
// capset() and prctl(PR_CAPBSET_DROP) are per-thread in the kernel and glibc
// does not broadcast them.
import { koffi, libc } from './libc.js';

export const mount = libc.func(
  'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
);
export const umount2 = libc.func('int umount2(const char *target, int flags)');
export const chdir = libc.func('int chdir(const char *path)');
export const mkdir = libc.func('int mkdir(const char *path, uint32_t mode)');
export const rmdir = libc.func('int rmdir(const char *path)');

/** setrlimit(resource, struct rlimit *): a 16-byte { rlim_cur, rlim_max } buffer. */
export const setrlimit = libc.func('int setrlimit(int resource, const uint8_t *rlim)');
export const getrlimit = libc.func('int getrlimit(int resource, _Out_ uint8_t *rlim)');

export const prctl = libc.func(
  'int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)',
);

export const setgroups = libc.func('int setgroups(size_t size, const uint32_t *list)');
export const setresgid = libc.func('int setresgid(uint32_t rgid, uint32_t egid, uint32_t sgid)');
export const setresuid = libc.func('int setresuid(uint32_t ruid, uint32_t euid, uint32_t suid)');

/** capset(cap_user_header_t, cap_user_data_t): an 8-byte header and 2 × 12-byte data (version 3). */
export const capset = libc.func('int capset(const uint8_t *header, const uint8_t *data)');
export const capget = libc.func('int capget(uint8_t *header, _Out_ uint8_t *data)');

const SYS_pivot_root = 155;
const SYS_seccomp = 317;
const rawPivotRoot = libc.func('syscall', 'long', ['long', 'const char *', 'const char *']);
/** struct sock_fprog { unsigned short len; struct sock_filter *filter; } */
const SockFprog = koffi.struct('tsvmm_sock_fprog', { len: 'uint16_t', filter: koffi.pointer('uint8_t') });
const rawSeccompFilter = libc.func('syscall', 'long', ['long', 'uint32_t', 'uint32_t', koffi.pointer(SockFprog)]);

/** pivot_root(2) has no glibc wrapper. */
export function pivotRoot(newRoot: string, putOld: string): number {
  return Number(rawPivotRoot(SYS_pivot_root, newRoot, putOld));
}

/**
 * seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog): `program` is the encoded
 * struct sock_filter array (8 bytes per instruction). Returns the raw result:
 * 0, -1 (errno set), or with TSYNC the id of a thread that could not be synced.
 */
export function seccompSetModeFilter(flags: number, program: Uint8Array): number {
  return Number(rawSeccompFilter(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, { len: program.length / 8, filter: program }));
}

// <sys/mount.h>
export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;
export const MNT_DETACH = 0x2;

// <sys/resource.h>
export const RLIMIT_FSIZE = 1;
export const RLIMIT_CORE = 4;
export const RLIMIT_NPROC = 6;
export const RLIMIT_NOFILE = 7;
export const RLIMIT_MEMLOCK = 8;
export const RLIM_INFINITY = 0xffffffffffffffffn;

// <linux/prctl.h>
export const PR_SET_DUMPABLE = 4;
export const PR_GET_DUMPABLE = 3;
export const PR_SET_KEEPCAPS = 8;
export const PR_CAPBSET_READ = 23;
export const PR_CAPBSET_DROP = 24;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_GET_NO_NEW_PRIVS = 39;
export const PR_GET_SECCOMP = 21;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;

// <linux/capability.h>
export const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

// <linux/seccomp.h>
export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_FILTER_FLAG_TSYNC = 1;
export const SECCOMP_FILTER_FLAG_LOG = 2;
