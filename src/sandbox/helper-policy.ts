// The helper's seccomp policy: every syscall the jailed VMM process may make,
// each with the reason it is needed. Anything else kills the process (SIGSYS),
// or with `--seccomp=log` is allowed and logged. It is the base every jailed
// process gets (policy-base.ts) plus the helper's own short list below.
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
import { BASE_FILE_IOCTLS, blockIoEntries, fileServerEntries, composePolicy, type PolicyOptions } from './policy-base.js';
import type { SeccompPolicy } from './seccomp-policy.js';

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
  'KVM_SET_SIGNAL_MASK',
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

/** Terminal ioctls of the helper's console (COM1 on stdin/stdout, possibly a tty). */
export const HELPER_TTY_IOCTLS = [
  'TCGETS', // isatty()/tty detection of stdio (measured)
  'TIOCGWINSZ', // process.stdout.columns/getWindowSize on a tty
  'TCSETS', // setRawMode() on a tty console
  'TCSETSW', // libuv uv_tty_set_mode() uses tcsetattr(TCSADRAIN)
] as const;

/** Every file ioctl the helper may make: libuv's fd-flag ioctls (policy-base.ts) and its console's tty ioctls. */
export const HELPER_FILE_IOCTLS = [...BASE_FILE_IOCTLS, ...HELPER_TTY_IOCTLS] as const;

/** The options of every policy kind (policy-base.ts), under the name the helper's callers use. */
export type HelperPolicyOptions = PolicyOptions;

/**
 * The helper: the base (any jailed Node process), block I/O for its inline
 * disks, and what only the VMM proper does: KVM, its console's tty, waiting
 * for device processes, the control socket.
 */
export function helperPolicy(options: PolicyOptions = {}): SeccompPolicy {
  const jit = options.jit ?? true;
  return composePolicy(
    jit ? 'helper' : 'helper-jitless',
    {
      ioctls: [...HELPER_KVM_IOCTLS, ...HELPER_TTY_IOCTLS],
      ioctlReason: 'KVM (every vCPU exit is an ioctl(KVM_RUN)) and the console tty ioctls of libuv',
      entries: [
        { syscall: 'poll', reason: 'the vCPU thread waits, with a timeout, for a device process to answer a forwarded region read (src/bus/ioregion-client.ts); a console port waits for its pipe at shutdown (src/devices/virtio/virtio-console.ts flush)' },
        { syscall: 'rt_sigtimedwait', reason: 'a vCPU thread takes its pending kick signal off after KVM_RUN ended with EINTR (src/kvm/vcpu-signal.ts)' },
        { syscall: 'timer_settime', reason: "a vCPU thread's own timer, made before the jail, changes its period (src/kvm/vcpu-timer.ts)" },
        { syscall: 'timer_delete', reason: 'a vCPU thread deletes its timer when its loop ends (src/kvm/vcpu-timer.ts)' },
        { syscall: 'shutdown', reason: 'libuv ends a stream (socket.end()) on the control socket (not measured)' },
        ...blockIoEntries(options),
        ...fileServerEntries(options),
      ],
    },
    options,
  );
}
