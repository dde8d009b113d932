// The helper's seccomp policy: every syscall the jailed VMM process may make,
// each with the reason it is needed. Anything else kills the process (SIGSYS),
// or with `--seccomp=log` is allowed and logged.
//
// Derived by measurement (src/sandbox/measure-syscalls.md): a representative
// workload (KVM VM + vCPU + KVM_RUN in a worker_thread, a signal kick, irqfd,
// ioeventfd + koffi.node.poll, timers, zlib, Atomics, GC churn, stdout/stdin
// on AF_UNIX sockets, positioned I/O on an image fd) traced with `strace -f`
// after the jail point, on Node 20.20 / glibc 2.36 / Linux 6.18; the kill-mode
// test in test/sandbox/jail.kvm.test.ts runs the same workload inside the jail.
// Entries marked "not measured" are there for a stated, specific reason.
//
// Written as TypeScript rather than JSON so it is loaded with the code (no file
// to find after pivot_root), and every name is checked when it is compiled.
import type { PolicyEntry, SeccompPolicy } from './seccomp-policy.js';

/** The KVM ioctls the VMM issues, hottest first (names from ffi/kvm-abi.ts KVM_IOCTL). */
export const HELPER_KVM_IOCTLS = [
  'KVM_RUN',
  'KVM_IRQ_LINE',
  'KVM_GET_REGS',
  'KVM_SET_REGS',
  'KVM_GET_SREGS',
  'KVM_SET_SREGS',
  'KVM_GET_MSRS',
  'KVM_SET_MSRS',
  'KVM_GET_FPU',
  'KVM_SET_FPU',
  'KVM_GET_LAPIC',
  'KVM_SET_LAPIC',
  'KVM_GET_MP_STATE',
  'KVM_SET_MP_STATE',
  'KVM_SET_CPUID2',
  'KVM_GET_SUPPORTED_CPUID',
  'KVM_GET_API_VERSION',
  'KVM_CHECK_EXTENSION',
  'KVM_GET_VCPU_MMAP_SIZE',
  'KVM_CREATE_VM',
  'KVM_CREATE_VCPU',
  'KVM_CREATE_IRQCHIP',
  'KVM_CREATE_PIT2',
  'KVM_SET_TSS_ADDR',
  'KVM_SET_IDENTITY_MAP_ADDR',
  'KVM_SET_USER_MEMORY_REGION',
  'KVM_IRQFD',
  'KVM_IOEVENTFD',
  'KVM_REGISTER_COALESCED_MMIO',
  'KVM_UNREGISTER_COALESCED_MMIO',
] as const;

/**
 * KVM_IOCTL names deliberately kept out of the policy (with the reason). The
 * policy test fails when ffi/kvm-abi.ts gains an ioctl that is in neither
 * list, so a new ioctl cannot reach production only to die with SIGSYS.
 */
export const HELPER_DENIED_KVM_IOCTLS: Readonly<Record<string, string>> = {};

/** Terminal/file ioctls libuv and Node make on stdio and inherited fds. */
export const HELPER_FILE_IOCTLS = [
  'FIONBIO', // libuv uv__nonblock(): every fd it watches (measured)
  'TCGETS', // isatty()/tty detection of stdio (measured)
  'FIOCLEX', // libuv uv__cloexec() (not measured; libuv's cloexec path on fds it adopts)
  'FIONCLEX', // the inverse of FIOCLEX
  'TIOCGWINSZ', // process.stdout.columns/getWindowSize on a tty
  'TCSETS', // setRawMode() on a tty console
  'TCSETSW', // libuv uv_tty_set_mode() uses tcsetattr(TCSADRAIN)
] as const;

/** The flags glibc 2.36 passes to clone() for pthread_create (the only clone the helper does). */
const THREAD_CLONE_FLAGS =
  'CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID';

export interface HelperPolicyOptions {
  /**
   * Allow executable memory (default true). V8's JIT needs it: measured, its
   * code space is mprotect()ed PROT_READ|PROT_WRITE|PROT_EXEC and each new
   * isolate (Worker) maps the embedded builtins PROT_READ|PROT_EXEC. Under
   * `node --jitless` no PROT_EXEC mapping happens after start-up (measured), so
   * `false` refuses PROT_EXEC in mmap/mprotect — only use it with --jitless.
   */
  jit?: boolean;
  /**
   * Allow io_uring (default false). Requests in an io_uring are not seen by
   * seccomp (IORING_OP_OPENAT, _SOCKET, _CONNECT run without any filter), and
   * io_uring is a large kernel attack surface. When false, io_uring_setup fails
   * with ENOSYS as on a kernel without io_uring, so the block layer falls back
   * to Linux AIO or synchronous I/O. A backend that enables it should also
   * register IORING_REGISTER_RESTRICTIONS on its ring.
   */
  ioUring?: boolean;
}

export function helperPolicy(options: HelperPolicyOptions = {}): SeccompPolicy {
  const jit = options.jit ?? true;
  const ioUring = options.ioUring ?? false;
  const noExec = jit ? undefined : [{ arg: 2, width: 32, mask: 'PROT_EXEC', eq: 0 } as const];
  const entries: PolicyEntry[] = [
    // ---- the exit loop -------------------------------------------------------------------
    {
      syscall: 'ioctl',
      hot: true,
      reason: 'KVM (every vCPU exit is an ioctl(KVM_RUN)) and the stdio/tty ioctls of libuv; request compared as the kernel reads it (unsigned int)',
      when: [{ arg: 1, width: 32, in: [...HELPER_KVM_IOCTLS, ...HELPER_FILE_IOCTLS] }],
    },

    // ---- memory --------------------------------------------------------------------------
    { syscall: 'mmap', reason: 'V8 heap, kvm_run and guest memory mappings, thread stacks (measured)' + (jit ? '; PROT_EXEC for JIT code (measured)' : ''), when: noExec },
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
    { syscall: 'gettid', reason: 'vCPU worker thread ids for kicks (measured)' },
    { syscall: 'getpid', reason: 'libuv/Node and tgkill(getpid(), tid) kicks (measured)' },
    { syscall: 'tgkill', reason: 'signal kick that makes KVM_RUN return EINTR in a vCPU thread; abort() (measured)' },
    { syscall: 'sysinfo', reason: "libuv's uv_get_total_memory() falls back to sysinfo() when /proc/meminfo is unreadable, as in the jail, at each Worker start (measured in log mode inside the jail)" },
    { syscall: 'sched_getaffinity', reason: 'libuv uv_available_parallelism() at worker start (measured)' },
    { syscall: 'sched_yield', reason: 'V8 and glibc spin-then-yield locks (not measured; appears under contention)' },
    { syscall: 'restart_syscall', reason: 'kernel restart of a futex/nanosleep interrupted by the kick signal (not measured; needed whenever a timed wait is interrupted)' },

    // ---- signals -------------------------------------------------------------------------
    { syscall: 'rt_sigaction', reason: 'process.on(signal) installs libuv handlers, e.g. the vCPU kick signal (measured)' },
    { syscall: 'rt_sigprocmask', reason: 'libuv and glibc block signals around thread creation and handlers (measured)' },
    { syscall: 'rt_sigreturn', reason: 'return from every signal handler (measured)' },

    // ---- the event loop ------------------------------------------------------------------
    { syscall: 'epoll_create1', reason: 'one libuv loop per worker thread (measured)' },
    { syscall: 'epoll_ctl', reason: 'libuv watching fds, koffi.node.poll on eventfds (measured)' },
    { syscall: 'epoll_pwait', reason: 'libuv event loop wait (measured)' },
    { syscall: 'epoll_wait', reason: 'libuv event loop wait on builds that do not pass a sigmask (not measured; same semantics as epoll_pwait)' },
    { syscall: 'eventfd2', reason: 'libuv async handles, irqfd/ioeventfd eventfds (measured)' },
    { syscall: 'pipe2', reason: 'libuv signal pipe of each loop (measured)' },

    // ---- I/O on inherited descriptors ----------------------------------------------------
    { syscall: 'read', reason: 'eventfds, pipes, the control socket (measured)' },
    { syscall: 'poll', reason: 'the vCPU thread waits, with a timeout, for a device process to answer a forwarded region read (src/bus/ioregion-client.ts)' },
    { syscall: 'write', reason: 'stdout/stderr, eventfds, libuv wakeups (measured)' },
    { syscall: 'readv', reason: 'fs.readv / uv_fs_read with several buffers (not measured)' },
    { syscall: 'writev', reason: 'libuv stream writes of several buffers, e.g. pino logs (not measured; uv__write with >1 buffer)' },
    { syscall: 'pread64', reason: 'block backends and fs.readSync at a position (measured)' },
    { syscall: 'pwrite64', reason: 'block backends and fs.writeSync at a position (measured)' },
    { syscall: 'preadv', reason: 'vectored block backend (ffi/block-io.ts preadv)' },
    { syscall: 'pwritev', reason: 'vectored block backend (ffi/block-io.ts pwritev)' },
    { syscall: 'fdatasync', reason: 'virtio-blk flush: data on stable storage (measured)' },
    { syscall: 'fsync', reason: 'flush of images and of stdout/stderr at exit (measured)' },
    { syscall: 'fallocate', reason: 'virtio-blk discard / write-zeroes on image files (ffi/block-io.ts)' },
    { syscall: 'flock', reason: 'block backends locking the image fds they were given (ffi/block-io.ts)' },
    { syscall: 'close', reason: 'closing fds (measured)' },
    { syscall: 'fstat', reason: 'libuv/Node fd type checks, image sizes (measured)' },
    {
      syscall: 'fcntl',
      reason: 'libuv reads and sets fd flags (measured F_GETFL); no F_DUPFD, locks or leases',
      when: [{ arg: 1, width: 32, in: ['F_GETFD', 'F_SETFD', 'F_GETFL', 'F_SETFL'] }],
    },
    { syscall: 'getsockname', reason: 'libuv uv_guess_handle() on a socket fd (measured, stdin as AF_UNIX socketpair)' },
    { syscall: 'getsockopt', reason: 'libuv uv_guess_handle() reads SO_TYPE (measured)' },
    { syscall: 'recvmsg', reason: 'control channel and Node IPC (process.on("message")) reads on the inherited AF_UNIX socket (not measured here; libuv IPC pipes use recvmsg)' },
    { syscall: 'sendmsg', reason: 'control channel and Node IPC (process.send) writes on the inherited AF_UNIX socket (not measured here; libuv IPC pipes use sendmsg)' },
    { syscall: 'shutdown', reason: 'libuv ends a stream (socket.end()) on the control socket (not measured)' },

    // ---- block I/O (Linux AIO) -------------------------------------------------------------
    { syscall: 'io_setup', reason: 'Linux AIO block backend (ffi/block-io.ts): works only on fds the helper holds' },
    { syscall: 'io_destroy', reason: 'Linux AIO block backend' },
    { syscall: 'io_submit', reason: 'Linux AIO block backend' },
    { syscall: 'io_getevents', reason: 'Linux AIO block backend' },

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
  entries.push(
    ioUring
      ? { syscall: 'io_uring_setup', reason: 'io_uring block backend (ffi/block-io.ts); see HelperPolicyOptions.ioUring' }
      : { syscall: 'io_uring_setup', action: 'errno:ENOSYS', reason: 'io_uring disabled: behave like a kernel without it so the block layer falls back' },
  );
  if (ioUring) {
    entries.push(
      { syscall: 'io_uring_enter', reason: 'io_uring block backend' },
      { syscall: 'io_uring_register', reason: 'io_uring block backend (buffers, restrictions)' },
    );
  }
  return { name: jit ? 'helper' : 'helper-jitless', entries };
}
