// What every jailed tsvmm process needs, whatever its kind: the system calls
// of Node itself (V8, libuv, glibc) once it has started, plus the block-I/O
// calls of a process that serves disks. Each process kind's policy is this
// base plus a short list of its own (helper-policy.ts, device-process-policy.ts),
// as crosvm builds each device's policy from common_device.policy plus one
// short file per device.
//
// Derived by measurement (src/sandbox/measure-syscalls.md): "measured" means
// seen after the jail point in the helper's representative workload; entries
// marked "not measured" are there for a stated, specific reason.
import type { ArgCondition, PolicyEntry, SeccompPolicy } from './seccomp-policy.js';

export interface PolicyOptions {
  /**
   * Allow executable memory (default true). V8's JIT needs it: measured, its
   * code space is mprotect()ed PROT_READ|PROT_WRITE|PROT_EXEC and each new
   * isolate (Worker) maps the embedded builtins PROT_READ|PROT_EXEC. Under
   * `node --jitless` no PROT_EXEC mapping happens after start-up (measured), so
   * `false` refuses PROT_EXEC in mmap/mprotect — only use it with --jitless.
   */
  jit?: boolean;
  /**
   * Allow io_uring_enter on the rings made before the jail (default false).
   * Requests in a ring are not seen by seccomp (IORING_OP_OPENAT, _SOCKET,
   * _CONNECT would run without any filter), so every ring tsvmm makes is
   * created disabled, restricted with IORING_REGISTER_RESTRICTIONS to the
   * opcodes its backend issues, then enabled, all before the jail
   * (src/block/io-uring.ts). After the jail io_uring_setup and
   * io_uring_register kill the process whatever this says: no new ring, no
   * change to a ring's restrictions.
   */
  ioUring?: boolean;
  /**
   * Allow ioctl(TUNSETOFFLOAD) (default false): a NIC on a tap tells the tap
   * which offloads its guest takes whenever the driver starts (the tap was
   * opened, and its other settings made, by the frontend).
   */
  tapOffload?: boolean;
  /**
   * Allow the file-system calls of the 9P server (default false): a process
   * serving a virtio-9p share opens, lists, creates, renames and removes files
   * by path. Its jail's root holds only the shared directories (and the node
   * binary, read-only), so paths reach nothing else.
   */
  fileServer?: boolean;
}

/**
 * The ioctls libuv makes on any fd it adopts, whatever the process kind:
 * harmless on every file (they change only the fd's own flags).
 */
export const BASE_FILE_IOCTLS = [
  'FIONBIO', // libuv uv__nonblock(): every fd it watches (measured)
  'FIOCLEX', // libuv uv__cloexec() (not measured; libuv's cloexec path on fds it adopts)
  'FIONCLEX', // the inverse of FIOCLEX
] as const;

/** The flags glibc 2.36 passes to clone() for pthread_create (the only clone a jailed process does). */
const THREAD_CLONE_FLAGS =
  'CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID';

/** A kind's own part of its policy. */
export interface PolicyPart {
  /** ioctl requests it may make, hottest first; merged with BASE_FILE_IOCTLS into one hot rule. */
  readonly ioctls: readonly string[];
  /** Why these ioctls (the reason of the merged rule). */
  readonly ioctlReason: string;
  /** Further entries (other syscalls, or ioctl alternatives tried after the allowed list, e.g. an errno). */
  readonly entries: readonly PolicyEntry[];
}

/**
 * A policy: the kind's ioctls (first, so KVM_RUN stays the cheapest check),
 * the base, then the kind's own entries.
 */
export function composePolicy(name: string, part: PolicyPart, options: PolicyOptions = {}): SeccompPolicy {
  const ioctl: PolicyEntry = {
    syscall: 'ioctl',
    hot: true,
    reason: `${part.ioctlReason}; and libuv's fd-flag ioctls (FIONBIO, FIOCLEX, FIONCLEX); request compared as the kernel reads it (unsigned int)`,
    when: [{ arg: 1, width: 32, in: [...part.ioctls, ...(options.tapOffload ? ['TUNSETOFFLOAD'] : []), ...BASE_FILE_IOCTLS] }],
  };
  return { name, entries: [ioctl, ...baseEntries(options), ...part.entries], precompiledAs: variantName(name, options) };
}

/** A policy's name with the options that change it, e.g. `device-process+9p`. */
function variantName(name: string, options: PolicyOptions): string {
  return `${name}${options.ioUring ? '+io_uring' : ''}${options.tapOffload ? '+tap' : ''}${options.fileServer ? '+9p' : ''}`;
}

/** What any jailed Node process needs after its start-up: memory, threads, signals, the event loop, stdio and IPC. */
export function baseEntries(options: PolicyOptions = {}): PolicyEntry[] {
  const jit = options.jit ?? true;
  const noExec: ArgCondition[] | undefined = jit ? undefined : [{ arg: 2, width: 32, mask: 'PROT_EXEC', eq: 0 }];
  return [
    // ---- memory --------------------------------------------------------------------------
    { syscall: 'mmap', reason: 'V8 heap, shared guest memory mappings, thread stacks (measured)' + (jit ? '; PROT_EXEC for JIT code (measured)' : ''), when: noExec },
    { syscall: 'mprotect', reason: 'V8 heap and code-space permission flips, thread stack guards (measured)', when: noExec },
    { syscall: 'munmap', reason: 'V8 heap shrinking, thread stacks, unmapping guest memory (measured)' },
    { syscall: 'madvise', reason: 'V8 and glibc return memory (MADV_DONTNEED/FREE), guest memory hints (measured)' },
    { syscall: 'mremap', reason: 'glibc realloc() of large blocks (not measured; one large Buffer resize away)' },
    { syscall: 'brk', reason: 'glibc malloc heap (measured)' },

    // ---- threads and synchronisation -----------------------------------------------------
    { syscall: 'futex', reason: 'mutexes/condvars of V8, libuv and workers; Atomics.wait (measured)' },
    {
      syscall: 'clone',
      reason: 'new threads only (workers, libuv pool): glibc falls back to clone() when clone3 fails with ENOSYS; no new processes or namespaces',
      when: [{ arg: 0, width: 32, eq: THREAD_CLONE_FLAGS }],
    },
    {
      syscall: 'clone3',
      action: 'errno:ENOSYS',
      reason: 'clone3 takes its flags in memory where seccomp cannot check them; ENOSYS makes glibc use clone(), whose flags are checked (measured: pthread_create uses clone3 first)',
    },
    { syscall: 'set_robust_list', reason: 'glibc at thread start (measured)' },
    { syscall: 'rseq', reason: 'glibc registers restartable sequences at thread start (measured)' },
    { syscall: 'exit', reason: 'thread exit (measured)' },
    { syscall: 'exit_group', reason: 'process exit (measured)' },
    { syscall: 'gettid', reason: 'thread ids: glibc raise()/abort(), the helper\'s vCPU kicks (measured)' },
    { syscall: 'getpid', reason: 'libuv/Node, tgkill(getpid(), tid) (measured)' },
    { syscall: 'tgkill', reason: 'abort()/raise() signal their own thread; the helper kicks vCPU threads out of KVM_RUN with it (measured). Only its own pid namespace is reachable' },
    { syscall: 'sysinfo', reason: "libuv's uv_get_total_memory() falls back to sysinfo() when /proc/meminfo is unreadable, as in the jail, at each Worker start (measured in log mode inside the jail)" },
    { syscall: 'sched_getaffinity', reason: 'libuv uv_available_parallelism() at worker start (measured)' },
    { syscall: 'sched_yield', reason: 'V8 and glibc spin-then-yield locks (not measured; appears under contention)' },
    { syscall: 'restart_syscall', reason: 'kernel restart of a futex/nanosleep interrupted by a signal (not measured; needed whenever a timed wait is interrupted)' },

    // ---- signals -------------------------------------------------------------------------
    { syscall: 'rt_sigaction', reason: 'process.on(signal) installs libuv handlers (measured)' },
    { syscall: 'rt_sigprocmask', reason: 'libuv and glibc block signals around thread creation and handlers (measured)' },
    { syscall: 'rt_sigreturn', reason: 'return from every signal handler (measured)' },

    // ---- the event loop ------------------------------------------------------------------
    { syscall: 'epoll_create1', reason: 'one libuv loop per worker thread (measured)' },
    { syscall: 'epoll_ctl', reason: 'libuv watching fds; the data-path loop (bus/blocking-loop.ts) watching eventfds and sockets (measured)' },
    { syscall: 'epoll_pwait', reason: "libuv event loop wait, and the data-path loop's (measured)" },
    { syscall: 'epoll_wait', reason: 'libuv event loop wait on builds that do not pass a sigmask (not measured; same semantics as epoll_pwait)' },
    { syscall: 'eventfd2', reason: 'libuv async handles (measured)' },
    { syscall: 'pipe2', reason: 'libuv signal pipe of each loop (measured)' },

    // ---- I/O on inherited descriptors ----------------------------------------------------
    { syscall: 'read', reason: 'eventfds, pipes, sockets (measured)' },
    { syscall: 'write', reason: 'stdout/stderr, eventfds, libuv wakeups (measured)' },
    { syscall: 'readv', reason: 'fs.readv / uv_fs_read with several buffers (not measured)' },
    { syscall: 'writev', reason: 'libuv stream writes of several buffers, e.g. pino logs (not measured; uv__write with >1 buffer); a console port\'s guest buffers to its pipe (src/devices/virtio/virtio-console.ts)' },
    { syscall: 'pread64', reason: 'fs.readSync at a position, block backends (measured)' },
    { syscall: 'pwrite64', reason: 'fs.writeSync at a position, block backends (measured)' },
    { syscall: 'fsync', reason: 'flush of stdout/stderr at exit, of images (measured)' },
    { syscall: 'close', reason: 'closing fds (measured)' },
    { syscall: 'fstat', reason: 'libuv/Node fd type checks, image sizes (measured)' },
    {
      syscall: 'fcntl',
      reason: 'libuv reads and sets fd flags (measured F_GETFL); no F_DUPFD, locks or leases',
      when: [{ arg: 1, width: 32, in: ['F_GETFD', 'F_SETFD', 'F_GETFL', 'F_SETFL'] }],
    },
    { syscall: 'getsockname', reason: 'libuv uv_guess_handle() on a socket fd (measured, stdin as AF_UNIX socketpair)' },
    { syscall: 'getsockopt', reason: 'libuv uv_guess_handle() reads SO_TYPE (measured)' },
    { syscall: 'recvmsg', reason: 'Node IPC (process.on("message")) reads on the inherited AF_UNIX socket (not measured here; libuv IPC pipes use recvmsg)' },
    { syscall: 'sendmsg', reason: 'Node IPC (process.send) writes on the inherited AF_UNIX socket (not measured here; libuv IPC pipes use sendmsg)' },

    // ---- path lookups that find nothing (the root is an empty read-only tmpfs) ----------
    {
      syscall: 'openat',
      reason: 'Node/V8 probe /proc/self/cgroup, /proc/meminfo, /proc/self/maps, the node binary at each Worker start and libuv /dev/null; all ENOENT in the jail and all handled (measured). Read-only opens only.',
      when: [{ arg: 2, width: 32, mask: 'O_ACCMODE|O_CREAT|O_TRUNC|__O_TMPFILE', eq: 0 }],
    },
    { syscall: 'statx', reason: 'module resolution in workers and fd sizes via AT_EMPTY_PATH (measured)' },
    { syscall: 'newfstatat', reason: 'glibc fstat() and fstatat(fd, "", AT_EMPTY_PATH) (measured)' },
    { syscall: 'readlink', reason: 'V8 reads /proc/self/exe when starting an isolate (measured; ENOENT in the jail)' },
    { syscall: 'getcwd', reason: 'module resolution in workers (measured)' },

    // ---- identity, time, randomness -------------------------------------------------------
    { syscall: 'getuid', reason: "Node's secure getenv checks at each Worker start (measured)" },
    { syscall: 'geteuid', reason: "Node's secure getenv checks (measured)" },
    { syscall: 'getgid', reason: "Node's secure getenv checks (measured)" },
    { syscall: 'getegid', reason: "Node's secure getenv checks (measured)" },
    { syscall: 'capget', reason: "Node's secure getenv checks capabilities at each Worker start (measured)" },
    { syscall: 'clock_gettime', reason: 'vDSO fallback when the clocksource has no vDSO support (e.g. some nested-virt hosts); measured 0 here' },
    { syscall: 'gettimeofday', reason: 'vDSO fallback, as clock_gettime' },
    { syscall: 'clock_getres', reason: 'vDSO fallback, as clock_gettime' },
    { syscall: 'clock_nanosleep', reason: 'sleeps in native code (glibc nanosleep) (not measured)' },
    { syscall: 'getrandom', reason: 'crypto and per-isolate Math.random seeding (not measured in this workload; any crypto.* call makes it)' },
  ];
}

/** The 9P server's file-system calls (src/p9; glibc 2.36 and libuv's choice of call for each fs function), when a share is served. */
export function fileServerEntries(options: PolicyOptions = {}): PolicyEntry[] {
  if (!(options.fileServer ?? false)) return [];
  const why = (call: string, use: string, measured = false): PolicyEntry => ({ syscall: call, reason: `9P server (--share): ${use}${measured ? '' : ' (not measured)'}` });
  return [
    why('openat', 'Tlopen / Tlcreate: opens for writing, creating, truncating (measured: the base allows read-only opens only)', true),
    why('getdents64', 'Treaddir (fs.readdirSync)'),
    why('lseek', 'Treaddir directory offsets'),
    why('mkdir', 'Tmkdir (fs.mkdirSync)'),
    why('mkdirat', 'Tmkdir'),
    why('unlink', 'Tunlinkat / Tremove (fs.unlinkSync)'),
    why('unlinkat', 'Tunlinkat / Tremove'),
    why('rmdir', 'Tunlinkat / Tremove of a directory (fs.rmdirSync)'),
    why('rename', 'Trename / Trenameat (fs.renameSync)'),
    why('renameat', 'Trenameat'),
    why('renameat2', 'Trenameat'),
    why('symlink', 'Tsymlink (fs.symlinkSync)'),
    why('symlinkat', 'Tsymlink'),
    why('link', 'Tlink (fs.linkSync)'),
    why('linkat', 'Tlink'),
    why('readlinkat', 'Treadlink, realpath'),
    why('openat2', 'the check that no directory above a name is a symlink (p9-confined-root.ts; no more than openat above allows)'),
    why('chmod', 'Tsetattr mode (fs.chmodSync)'),
    why('fchmod', 'Tsetattr mode on an open fid'),
    why('fchmodat', 'Tsetattr mode'),
    why('fchown', 'Tsetattr uid/gid on an open fid'),
    why('lchown', 'Tsetattr uid/gid (fs.lchownSync)'),
    why('fchownat', 'Tsetattr uid/gid'),
    why('ftruncate', 'Tsetattr size, Tlcreate with O_TRUNC'),
    why('utimensat', 'Tsetattr times (src/p9/p9-libc.ts)'),
    why('mknodat', 'Tmknod of FIFOs and sockets (src/p9/p9-libc.ts)'),
    why('mknod', 'Tmknod'),
    why('statfs', 'Tstatfs (fs.statfsSync)'),
    why('fstatfs', 'Tstatfs'),
  ];
}

/** What a process that serves disks adds (src/block: every engine, ffi/block-io.ts). */
export function blockIoEntries(options: PolicyOptions = {}): PolicyEntry[] {
  const entries: PolicyEntry[] = [
    { syscall: 'preadv', reason: 'vectored block backend (ffi/block-io.ts preadv)' },
    { syscall: 'pwritev', reason: 'vectored block backend (ffi/block-io.ts pwritev)' },
    { syscall: 'fdatasync', reason: 'virtio-blk flush: data on stable storage (measured)' },
    { syscall: 'fallocate', reason: 'virtio-blk discard / write-zeroes on image files (ffi/block-io.ts)' },
    { syscall: 'flock', reason: 'block backends locking the image fds they were given (ffi/block-io.ts)' },
    { syscall: 'io_setup', reason: 'Linux AIO block backend (ffi/block-io.ts): works only on fds the process holds' },
    { syscall: 'io_destroy', reason: 'Linux AIO block backend' },
    { syscall: 'io_submit', reason: 'Linux AIO block backend' },
    { syscall: 'io_getevents', reason: 'Linux AIO block backend' },
  ];
  if (options.ioUring ?? false) {
    entries.push({
      syscall: 'io_uring_enter',
      reason: 'io_uring: the block backend submits to and waits on its rings, restricted to READV/WRITEV/FSYNC (src/block/io-uring-backend.ts); a vCPU on the main thread arms its wake, restricted to POLL_ADD (src/kvm/kvm-run-wake.ts); every ring made before the jail',
    });
  }
  // io_uring_setup and io_uring_register are deliberately absent (kill): a new
  // ring would have no restrictions, and register could add buffers, files or
  // an eventfd to an existing one (the rings refuse it too).
  return entries;
}
