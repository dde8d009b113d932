import { describe, expect, it } from 'vitest';
import { KVM_IOCTL } from '../../ffi/kvm-abi.js';
import { TUNSETIFF } from '../../ffi/tun.js';
import { BPF_JA, BPF_JMP, encodeProgram, decodeProgram, validateSeccompProgram } from '../../src/sandbox/bpf.js';
import { deviceProcessPolicy } from '../../src/sandbox/device-process-policy.js';
import { HELPER_DENIED_KVM_IOCTLS, HELPER_FILE_IOCTLS, HELPER_KVM_IOCTLS, HELPER_TTY_IOCTLS, helperPolicy } from '../../src/sandbox/helper-policy.js';
import { baseEntries } from '../../src/sandbox/policy-base.js';
import { policyConstants } from '../../src/sandbox/policy-constants.js';
import {
  AUDIT_ARCH_X86_64,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_LOG,
  compilePolicy,
  compileSeccompFilter,
  type SeccompMode,
} from '../../src/sandbox/seccomp-compiler.js';
import { resolvePolicy, type ResolvedPolicy, type ResolvedCondition, type SeccompPolicy } from '../../src/sandbox/seccomp-policy.js';
import { SYSCALLS, syscallNumber } from '../../src/sandbox/syscall-table.js';
import { runSeccompProgram, traceSeccompProgram, type SeccompData } from './support/bpf-interpreter.js';

const constants = policyConstants();
const AUDIT_ARCH_I386 = 0x40000003;
const U64 = (1n << 64n) - 1n;

/** The verdict the policy means, computed straight from the resolved rules (the oracle). */
function expectedVerdict(policy: ResolvedPolicy, d: SeccompData, mode: SeccompMode): number {
  if ((d.arch ?? AUDIT_ARCH_X86_64) !== AUDIT_ARCH_X86_64) return SECCOMP_RET_KILL_PROCESS;
  if (d.nr >>> 0 >= 0x40000000) return SECCOMP_RET_KILL_PROCESS;
  const fallback = mode === 'kill' ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_LOG;
  const sc = policy.syscalls.find((s) => s.nr === d.nr);
  if (!sc) return fallback;
  for (const rule of sc.rules) {
    if (rule.conditions.every((c) => holds(c, d.args?.[c.arg] ?? 0n))) {
      return rule.action.kind === 'allow' ? SECCOMP_RET_ALLOW : (SECCOMP_RET_ERRNO | rule.action.errno) >>> 0;
    }
  }
  return fallback;
}

function holds(c: ResolvedCondition, raw: bigint): boolean {
  const arg = BigInt.asUintN(c.width, raw);
  return c.op === 'in' ? c.values.includes(arg) : (arg & c.mask) === c.value;
}

/** Arguments that satisfy every condition of a rule. */
function satisfying(conditions: readonly ResolvedCondition[], pick = 0): bigint[] {
  const args = [0n, 0n, 0n, 0n, 0n, 0n];
  for (const c of conditions) args[c.arg] = c.op === 'in' ? c.values[pick % c.values.length] : c.value;
  return args;
}

/** Copies of `args` where exactly one condition no longer holds (Firecracker-style perturbation). */
function perturbations(conditions: readonly ResolvedCondition[], args: bigint[]): bigint[][] {
  const out: bigint[][] = [];
  for (const c of conditions) {
    if (c.op === 'in') {
      let v = c.values[0] + 1n;
      while (c.values.includes(BigInt.asUintN(c.width, v))) v++;
      out.push(args.map((a, i) => (i === c.arg ? v : a)));
      if (c.width === 64) out.push(args.map((a, i) => (i === c.arg ? a | (1n << 40n) : a)));
    } else {
      // flip the lowest bit inside the mask
      let bit = 1n;
      while ((c.mask & bit) === 0n) bit <<= 1n;
      out.push(args.map((a, i) => (i === c.arg ? a ^ bit : a)));
    }
  }
  return out;
}

const KINDS = [
  ['helper', helperPolicy],
  ['device process', deviceProcessPolicy],
] as const;

for (const [kind, makePolicy] of KINDS) describe(`seccomp compiler on the ${kind} policy`, () => {
  for (const mode of ['kill', 'log'] as const) {
    const policy = makePolicy();
    const resolved = resolvePolicy(policy, constants);
    const program = compileSeccompFilter(resolved, mode);
    const fallback = mode === 'kill' ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_LOG;

    it(`[${mode}] is a valid program under the kernel's limits`, () => {
      expect(() => validateSeccompProgram(program)).not.toThrow();
      expect(program.length).toBeLessThan(4096);
      expect(decodeProgram(encodeProgram(program))).toEqual(program);
    });

    it(`[${mode}] allows each rule's arguments and refuses each perturbed argument`, () => {
      for (const sc of resolved.syscalls) {
        for (const rule of sc.rules) {
          const want = rule.action.kind === 'allow' ? SECCOMP_RET_ALLOW : (SECCOMP_RET_ERRNO | rule.action.errno) >>> 0;
          const n = Math.max(1, ...rule.conditions.map((c) => (c.op === 'in' ? c.values.length : 1)));
          for (let pick = 0; pick < n; pick++) {
            const args = satisfying(rule.conditions, pick);
            expect(runSeccompProgram(program, { nr: sc.nr, args }), `${sc.name} ${args}`).toBe(want);
          }
          for (const bad of perturbations(rule.conditions, satisfying(rule.conditions))) {
            expect(runSeccompProgram(program, { nr: sc.nr, args: bad }), `${sc.name} perturbed ${bad}`).toBe(fallback);
          }
        }
      }
    });

    it(`[${mode}] kills other architectures and x32 even for allowed syscalls`, () => {
      for (const nr of [SYSCALLS.read, SYSCALLS.write, SYSCALLS.ioctl, SYSCALLS.execve]) {
        expect(runSeccompProgram(program, { nr, arch: AUDIT_ARCH_I386 })).toBe(SECCOMP_RET_KILL_PROCESS);
        expect(runSeccompProgram(program, { nr: nr | 0x40000000 })).toBe(SECCOMP_RET_KILL_PROCESS);
      }
      expect(runSeccompProgram(program, { nr: -1 })).toBe(SECCOMP_RET_KILL_PROCESS);
    });

    it(`[${mode}] agrees with the policy for every syscall number on random and boundary arguments`, () => {
      let seed = 12345;
      const rand32 = () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return BigInt(seed);
      };
      const interesting = [...constants.values()].filter((v) => v <= U64);
      for (let nr = 0; nr < 520; nr++) {
        for (let t = 0; t < 24; t++) {
          const args = Array.from({ length: 6 }, () => {
            const r = Number(rand32() % 4n);
            if (r === 0) return interesting[Number(rand32()) % interesting.length];
            if (r === 1) return (rand32() << 32n) | interesting[Number(rand32()) % interesting.length];
            if (r === 2) return 0n;
            return (rand32() << 32n) | rand32();
          });
          const d = { nr, args };
          expect(runSeccompProgram(program, d), `nr ${nr} args ${args}`).toBe(expectedVerdict(resolved, d, mode));
        }
      }
    });
  }

  it('kills io_uring_setup and io_uring_register after the jail (rings are made and restricted before it); io_uring_enter only with ioUring', () => {
    for (const ioUring of [false, true]) {
      const program = compilePolicy(makePolicy({ ioUring }));
      for (const name of ['io_uring_setup', 'io_uring_register']) {
        expect(runSeccompProgram(program, { nr: syscallNumber(name), args: [8n, 0n] }), `${name} ioUring=${ioUring}`).toBe(SECCOMP_RET_KILL_PROCESS);
      }
      expect(runSeccompProgram(program, { nr: SYSCALLS.io_uring_enter, args: [8n, 1n, 0n, 0n] })).toBe(ioUring ? SECCOMP_RET_ALLOW : SECCOMP_RET_KILL_PROCESS);
    }
  });

  it('allows ioctl(TUNSETOFFLOAD) only with tapOffload (a NIC on a tap), and no other tap ioctl', () => {
    for (const tapOffload of [false, true]) {
      const program = compilePolicy(makePolicy({ tapOffload }));
      expect(runSeccompProgram(program, { nr: SYSCALLS.ioctl, args: [9n, constants.get('TUNSETOFFLOAD')!, 0n] }), `tapOffload=${tapOffload}`).toBe(tapOffload ? SECCOMP_RET_ALLOW : SECCOMP_RET_KILL_PROCESS);
      expect(runSeccompProgram(program, { nr: SYSCALLS.ioctl, args: [9n, BigInt(TUNSETIFF), 0n] })).toBe(SECCOMP_RET_KILL_PROCESS);
    }
  });

  it('contains the base every jailed process gets', () => {
    const names = new Set(makePolicy().entries.map((e) => e.syscall));
    for (const e of baseEntries()) expect(names.has(e.syscall), e.syscall).toBe(true);
  });
});

describe('the helper policy', () => {
  const program = compilePolicy(helperPolicy());
  const run = (name: string, args: bigint[] = []) => runSeccompProgram(program, { nr: syscallNumber(name), args });
  const K = (name: string) => BigInt(constants.get(name)!);

  it('refuses what the helper must never do', () => {
    for (const name of ['execve', 'execveat', 'ptrace', 'mount', 'umount2', 'pivot_root', 'chroot', 'unshare', 'setns', 'socket', 'socketpair', 'connect', 'bind', 'open', 'kill', 'fork', 'vfork', 'process_vm_writev', 'bpf', 'perf_event_open', 'init_module', 'kexec_load', 'reboot', 'setuid', 'seccomp', 'prctl', 'keyctl', 'userfaultfd', 'io_uring_enter']) {
      expect(run(name), name).toBe(SECCOMP_RET_KILL_PROCESS);
    }
  });

  it('allows KVM_RUN cheaply and refuses ioctls outside the list', () => {
    const steps = traceSeccompProgram(program, { nr: SYSCALLS.ioctl, args: [5n, K('KVM_RUN')] }).steps;
    expect(steps).toBeLessThanOrEqual(8);
    expect(run('ioctl', [5n, K('KVM_RUN')])).toBe(SECCOMP_RET_ALLOW);
    // the kernel reads the request as unsigned int: garbage above bit 31 is ignored by both
    expect(run('ioctl', [5n, K('KVM_RUN') | (0xdeadn << 32n)])).toBe(SECCOMP_RET_ALLOW);
    const TIOCSTI = 0x5412n;
    const KVM_SET_GUEST_DEBUG = 0x4048ae9bn;
    expect(run('ioctl', [0n, TIOCSTI])).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(run('ioctl', [5n, KVM_SET_GUEST_DEBUG])).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it('lets threads be created but not processes or namespaces', () => {
    const threadFlags = K('CLONE_VM') | K('CLONE_FS') | K('CLONE_FILES') | K('CLONE_SIGHAND') | K('CLONE_THREAD') | K('CLONE_SYSVSEM') | K('CLONE_SETTLS') | K('CLONE_PARENT_SETTID') | K('CLONE_CHILD_CLEARTID');
    expect(threadFlags).toBe(0x3d0f00n);
    expect(run('clone', [threadFlags])).toBe(SECCOMP_RET_ALLOW);
    expect(run('clone', [threadFlags | K('CLONE_NEWUSER')])).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(run('clone', [17n /* SIGCHLD: fork() */])).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(run('clone3', [0n, 88n])).toBe((SECCOMP_RET_ERRNO | 38) >>> 0); // ENOSYS
  });

  it('allows read-only openat only', () => {
    const AT_FDCWD = BigInt.asUintN(64, -100n);
    expect(run('openat', [AT_FDCWD, 0x1000n, K('O_CLOEXEC')])).toBe(SECCOMP_RET_ALLOW);
    expect(run('openat', [AT_FDCWD, 0x1000n, K('O_RDWR')])).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(run('openat', [AT_FDCWD, 0x1000n, K('O_WRONLY') | K('O_CREAT')])).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(run('openat', [AT_FDCWD, 0x1000n, K('__O_TMPFILE') | K('O_DIRECTORY')])).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it('refuses PROT_EXEC in the jitless variant only', () => {
    const jitless = compilePolicy(helperPolicy({ jit: false }));
    const rwx = [0n, 4096n, 7n];
    expect(run('mprotect', rwx)).toBe(SECCOMP_RET_ALLOW);
    expect(runSeccompProgram(jitless, { nr: SYSCALLS.mprotect, args: rwx })).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(runSeccompProgram(jitless, { nr: SYSCALLS.mmap, args: [0n, 4096n, 5n] })).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(runSeccompProgram(jitless, { nr: SYSCALLS.mmap, args: [0n, 4096n, 3n] })).toBe(SECCOMP_RET_ALLOW);
  });

  it('covers every KVM ioctl in ffi/kvm-abi.ts (allowed or explicitly denied)', () => {
    const listed = new Set<string>([...HELPER_KVM_IOCTLS, ...Object.keys(HELPER_DENIED_KVM_IOCTLS)]);
    const missing = Object.keys(KVM_IOCTL).filter((n) => !listed.has(n));
    expect(missing, 'add these to HELPER_KVM_IOCTLS or HELPER_DENIED_KVM_IOCTLS in src/sandbox/helper-policy.ts').toEqual([]);
    for (const name of HELPER_KVM_IOCTLS) expect(run('ioctl', [3n, K(name)]), name).toBe(SECCOMP_RET_ALLOW);
  });
});

describe('the device process policy', () => {
  const program = compilePolicy(deviceProcessPolicy());
  const run = (name: string, args: bigint[] = []) => runSeccompProgram(program, { nr: syscallNumber(name), args });
  const K = (name: string) => BigInt(constants.get(name)!);
  const ENOTTY = (SECCOMP_RET_ERRNO | Number(constants.get('ENOTTY')!)) >>> 0;

  it('kills every KVM ioctl, KVM_RUN first: it holds no KVM descriptor', () => {
    expect(run('ioctl', [5n, K('KVM_RUN')])).toBe(SECCOMP_RET_KILL_PROCESS);
    for (const name of Object.keys(KVM_IOCTL)) expect(run('ioctl', [5n, K(name)]), name).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it('kills tty ioctls (it has no terminal); isatty() gets ENOTTY', () => {
    for (const name of ['TCSETS', 'TCSETSW', 'TIOCGWINSZ']) expect(run('ioctl', [2n, K(name)]), name).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(run('ioctl', [0n, 0x5412n /* TIOCSTI */])).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(run('ioctl', [2n, K('TCGETS')])).toBe(ENOTTY);
    expect(HELPER_FILE_IOCTLS).toEqual(expect.arrayContaining([...HELPER_TTY_IOCTLS]));
  });

  it('refuses what the helper alone does: poll for device answers, shutdown of the control socket', () => {
    expect(run('poll')).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(run('shutdown')).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it('refuses what no jailed process may do', () => {
    for (const name of ['execve', 'execveat', 'ptrace', 'mount', 'pivot_root', 'unshare', 'setns', 'socket', 'connect', 'open', 'kill', 'fork', 'bpf', 'prctl', 'seccomp', 'io_uring_enter']) {
      expect(run(name), name).toBe(SECCOMP_RET_KILL_PROCESS);
    }
    expect(run('clone', [17n])).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(run('openat', [0n, 0x1000n, K('O_RDWR')])).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it("allows its data path: the region socket, eventfds, guest RAM, the disk's engines, IPC and the event loop", () => {
    const threadFlags = 0x3d0f00n;
    const allowed: [string, bigint[]][] = [
      ['read', []], ['write', []], ['epoll_ctl', []], ['epoll_pwait', []], ['eventfd2', []],
      ['fcntl', [9n, K('F_GETFL')]], ['fcntl', [9n, K('F_SETFL')]], ['ioctl', [9n, K('FIONBIO')]], ['ioctl', [9n, K('FIOCLEX')]],
      ['mmap', [0n, 4096n, 3n]], ['munmap', []], ['madvise', []],
      ['pread64', []], ['pwrite64', []], ['preadv', []], ['pwritev', []], ['fdatasync', []], ['fsync', []], ['fallocate', []], ['fstat', []],
      ['io_setup', []], ['io_submit', []], ['io_getevents', []], ['io_destroy', []],
      ['sendmsg', []], ['recvmsg', []], ['clone', [threadFlags]], ['futex', []], ['exit_group', []],
    ];
    for (const [name, args] of allowed) expect(run(name, args), `${name} ${args}`).toBe(SECCOMP_RET_ALLOW);
  });
});

describe('seccomp compiler mechanics', () => {
  const syscalls = Object.keys(SYSCALLS).filter((s) => s !== 'ioctl' && s !== 'fcntl').slice(0, 300);

  it('lays out long jumps when a syscall has hundreds of argument values', () => {
    const big = Array.from({ length: 700 }, (_, i) => 0x1000 + 3 * i);
    const policy: SeccompPolicy = {
      name: 'long-jumps',
      entries: [
        ...syscalls.slice(0, 40).map((s) => ({ syscall: s, reason: 'test' })),
        { syscall: 'ioctl', reason: 'test', when: [{ arg: 1, width: 32, in: big }] } as const,
        { syscall: 'fcntl', reason: 'test', when: [{ arg: 2, in: big.map((v) => BigInt(v) | (BigInt(v % 3) << 32n)) }] } as const,
        ...syscalls.slice(100, 300).map((s) => ({ syscall: s, reason: 'test' })),
      ],
    };
    const resolved = resolvePolicy(policy, constants);
    const program = compileSeccompFilter(resolved, 'kill');
    validateSeccompProgram(program);
    expect(program.some((i) => i.code === (BPF_JMP | BPF_JA))).toBe(true);
    for (const v of big) {
      expect(runSeccompProgram(program, { nr: SYSCALLS.ioctl, args: [0n, BigInt(v)] })).toBe(SECCOMP_RET_ALLOW);
      expect(runSeccompProgram(program, { nr: SYSCALLS.ioctl, args: [0n, BigInt(v + 1)] })).toBe(SECCOMP_RET_KILL_PROCESS);
      const v64 = BigInt(v) | (BigInt(v % 3) << 32n);
      expect(runSeccompProgram(program, { nr: SYSCALLS.fcntl, args: [0n, 0n, v64] })).toBe(SECCOMP_RET_ALLOW);
      expect(runSeccompProgram(program, { nr: SYSCALLS.fcntl, args: [0n, 0n, v64 ^ (1n << 32n)] })).toBe(SECCOMP_RET_KILL_PROCESS);
    }
    for (let nr = 0; nr < 460; nr++) {
      if (nr === SYSCALLS.ioctl || nr === SYSCALLS.fcntl) continue;
      expect(runSeccompProgram(program, { nr }), `nr ${nr}`).toBe(expectedVerdict(resolved, { nr }, 'kill'));
    }
  });

  it('refuses a policy that does not fit in 4096 instructions', () => {
    const policy: SeccompPolicy = {
      name: 'too-big',
      entries: [{ syscall: 'ioctl', reason: 'test', when: [{ arg: 1, width: 32, in: Array.from({ length: 5000 }, (_, i) => i) }] }],
    };
    expect(() => compilePolicy(policy)).toThrow(/4096/);
  });

  it('checks 64-bit equality on both halves and masked equality on the masked bits only', () => {
    const policy: SeccompPolicy = {
      name: 'args',
      entries: [
        { syscall: 'read', reason: 'test', when: [{ arg: 0, eq: '0x123456789' }] },
        { syscall: 'write', reason: 'test', when: [{ arg: 3, mask: '0xff000000000000f0', eq: '0x1200000000000030' }] },
        { syscall: 'close', reason: 'test', when: [{ arg: 0, width: 32, eq: -100 }] },
        { syscall: 'dup', reason: 'first', when: [{ arg: 0, eq: 1 }] },
        { syscall: 'dup', reason: 'second', action: 'errno:EPERM' },
      ],
    };
    const p = compilePolicy(policy);
    const r = (nr: number, args: bigint[]) => runSeccompProgram(p, { nr, args });
    expect(r(SYSCALLS.read, [0x123456789n])).toBe(SECCOMP_RET_ALLOW);
    expect(r(SYSCALLS.read, [0x23456789n])).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(r(SYSCALLS.read, [0x123456788n])).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(r(SYSCALLS.write, [0n, 0n, 0n, 0x12abcdef12345637n])).toBe(SECCOMP_RET_ALLOW);
    expect(r(SYSCALLS.write, [0n, 0n, 0n, 0x13abcdef12345637n])).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(r(SYSCALLS.write, [0n, 0n, 0n, 0x12abcdef12345647n])).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(r(SYSCALLS.close, [0xffffff9cn])).toBe(SECCOMP_RET_ALLOW);
    expect(r(SYSCALLS.close, [BigInt.asUintN(64, -100n)])).toBe(SECCOMP_RET_ALLOW);
    expect(r(SYSCALLS.dup, [1n])).toBe(SECCOMP_RET_ALLOW);
    expect(r(SYSCALLS.dup, [2n])).toBe((SECCOMP_RET_ERRNO | 1) >>> 0);
  });

  it('reports policy mistakes with the entry at fault', () => {
    const bad = (entries: SeccompPolicy['entries']) => () => compilePolicy({ name: 'bad', entries });
    expect(bad([{ syscall: 'frobnicate', reason: 'x y z' }])).toThrow(/entry 0 \(frobnicate\).*unknown x86-64 syscall/);
    expect(bad([{ syscall: 'ioctl', reason: 'x y z', when: [{ arg: 1, in: ['KVM_FROB'] }] }])).toThrow(/unknown constant "KVM_FROB"/);
    expect(bad([{ syscall: 'read', reason: '' }])).toThrow(/needs a reason/);
    expect(bad([{ syscall: 'read', reason: 'all' }, { syscall: 'read', reason: 'again' }])).toThrow(/unreachable/);
    expect(bad([{ syscall: 'read', reason: 'x y z', when: [{ arg: 0, width: 32, eq: '0x100000000' }] }])).toThrow(/32 bits/);
    expect(bad([{ syscall: 'read', reason: 'x y z', when: [{ arg: 0, mask: 1, eq: 2 }] }])).toThrow(/outside the mask/);
    expect(bad([{ syscall: 'read', reason: 'x y z', action: 'errno:EFROB' as 'errno:x' }])).toThrow(/names no errno/);
  });
});

describe('the helper policy with a shared directory (virtio-9p)', () => {
  const calls = ['getdents64', 'mkdir', 'unlinkat', 'rmdir', 'rename', 'renameat2', 'symlink', 'link', 'fchmod', 'fchown', 'ftruncate', 'utimensat', 'mknodat', 'statfs'];
  it('allows the 9P server its file-system calls only with fileServer', () => {
    for (const fileServer of [false, true]) {
      const program = compilePolicy(helperPolicy({ fileServer }));
      for (const name of calls) expect(runSeccompProgram(program, { nr: syscallNumber(name), args: [] }), `${name} fileServer=${fileServer}`).toBe(fileServer ? SECCOMP_RET_ALLOW : SECCOMP_RET_KILL_PROCESS);
      const create = BigInt(constants.get('O_WRONLY')! | constants.get('O_CREAT')!);
      expect(runSeccompProgram(program, { nr: SYSCALLS.openat, args: [0n, 0n, create, 0o644n] }), `openat O_CREAT fileServer=${fileServer}`).toBe(fileServer ? SECCOMP_RET_ALLOW : SECCOMP_RET_KILL_PROCESS);
    }
  });

  it('still kills what escapes a jail or makes devices of its own', () => {
    const program = compilePolicy(helperPolicy({ fileServer: true }));
    for (const name of ['mount', 'umount2', 'pivot_root', 'chroot', 'unshare', 'setns', 'execve', 'ptrace']) {
      expect(runSeccompProgram(program, { nr: syscallNumber(name), args: [] }), name).toBe(SECCOMP_RET_KILL_PROCESS);
    }
  });
});
