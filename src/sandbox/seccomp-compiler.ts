// Compiles a resolved seccomp policy into a classic BPF program.
//
// Program shape:
//
//   ld  arch                 ; struct seccomp_data.arch
//   jeq AUDIT_ARCH_X86_64 ? next : kill        (other ABIs, e.g. int 0x80 i386, die)
//   ld  nr
//   jge 0x40000000 ? kill : next               (x32 ABI syscalls die)
//   jeq HOT_1 ? [rules of HOT_1] : next        ("hot" syscalls first: ioctl for KVM_RUN)
//   ...
//   binary search on nr over the other syscalls: jge splits down to runs of at
//   most LEAF_RUN numbers, each tested with jeq; a number not in the policy
//   falls to `ret default`. Each syscall's argument rules sit right after its
//   jeq and end in a `ret`, so nothing falls through into the next test.
//
// Why a binary search: a policy of ~80 syscalls costs a linear filter up to 80
// compares per syscall; the tree costs about log2(80/4)+4 ≈ 9. In practice the
// kernel (5.11+) caches the verdict for syscalls that are allowed whatever
// their arguments and skips the filter entirely for them, so the program only
// runs for syscalls with argument rules — above all ioctl(KVM_RUN) on every vCPU
// exit, which is why ioctl is tested first and KVM_RUN is the first value in
// its set. Long jumps (> 255 instructions) are laid out by BpfAssembler.
import { BPF_JEQ, BPF_JGE, BpfAssembler, BPF_MAXINSNS, type Label, type SockFilter, validateSeccompProgram } from './bpf.js';
import { policyConstants } from './policy-constants.js';
import {
  resolvePolicy,
  type ResolvedAction,
  type ResolvedCondition,
  type ResolvedPolicy,
  type ResolvedSyscall,
  type SeccompPolicy,
} from './seccomp-policy.js';

export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** Syscall numbers with this bit set are the x32 ABI. */
export const X32_SYSCALL_BIT = 0x40000000;

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

/** Offsets in struct seccomp_data. */
export const SECCOMP_DATA = {
  nr: 0,
  arch: 4,
  instructionPointer: 8,
  argLow: (i: number) => 16 + 8 * i,
  argHigh: (i: number) => 20 + 8 * i,
} as const;

/**
 * `kill`: anything outside the policy kills the whole process (SIGSYS).
 * `log`:  anything outside the policy is allowed and logged by the kernel
 *         (audit type=1326, visible in dmesg) — for `--seccomp=log` while
 *         growing a policy. Wrong-architecture and x32 calls are killed in both.
 */
export type SeccompMode = 'kill' | 'log';

const LEAF_RUN = 4;

export function actionValue(action: ResolvedAction): number {
  return action.kind === 'allow' ? SECCOMP_RET_ALLOW : (SECCOMP_RET_ERRNO | (action.errno & SECCOMP_RET_DATA)) >>> 0;
}

export function defaultActionValue(mode: SeccompMode): number {
  return mode === 'kill' ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_LOG;
}

export function compileSeccompFilter(policy: ResolvedPolicy, mode: SeccompMode = 'kill'): SockFilter[] {
  const asm = new BpfAssembler();
  const kill = asm.label('kill');
  const fallback = defaultActionValue(mode);

  const archOk = asm.label('arch_ok');
  asm.loadWord(SECCOMP_DATA.arch);
  asm.branch(BPF_JEQ, AUDIT_ARCH_X86_64, archOk, kill);
  asm.place(archOk);
  asm.loadWord(SECCOMP_DATA.nr);
  const native = asm.label('native');
  asm.branch(BPF_JGE, X32_SYSCALL_BIT, kill, native);
  asm.place(native);

  // A holds nr from here until a syscall's own rules run (they end in `ret`).
  for (const sc of policy.syscalls.filter((s) => s.hot)) {
    const body = asm.label(sc.name);
    const next = asm.label('next');
    asm.branch(BPF_JEQ, sc.nr, body, next);
    asm.place(body);
    emitSyscallRules(asm, sc, fallback);
    asm.place(next);
  }
  emitSearch(asm, policy.syscalls.filter((s) => !s.hot), fallback);

  asm.place(kill);
  asm.ret(SECCOMP_RET_KILL_PROCESS);

  const program = asm.assemble();
  if (program.length > BPF_MAXINSNS) {
    throw new Error(`seccomp policy ${policy.name} compiles to ${program.length} instructions; the kernel limit is ${BPF_MAXINSNS}`);
  }
  validateSeccompProgram(program);
  return program;
}

/** Binary search on the syscall number (A = nr) over `syscalls`, sorted by nr. */
function emitSearch(asm: BpfAssembler, syscalls: readonly ResolvedSyscall[], fallback: number): void {
  if (syscalls.length <= LEAF_RUN) {
    for (const sc of syscalls) {
      const body = asm.label(sc.name);
      const next = asm.label('next');
      asm.branch(BPF_JEQ, sc.nr, body, next);
      asm.place(body);
      emitSyscallRules(asm, sc, fallback);
      asm.place(next);
    }
    asm.ret(fallback);
    return;
  }
  const mid = syscalls.length >> 1;
  const upper = asm.label('upper');
  const lower = asm.label('lower');
  asm.branch(BPF_JGE, syscalls[mid].nr, upper, lower);
  asm.place(lower);
  emitSearch(asm, syscalls.slice(0, mid), fallback);
  asm.place(upper);
  emitSearch(asm, syscalls.slice(mid), fallback);
}

/** The rules of one syscall, each `conditions → ret action`, then `ret fallback`. */
function emitSyscallRules(asm: BpfAssembler, sc: ResolvedSyscall, fallback: number): void {
  for (const rule of sc.rules) {
    const nextRule = asm.label('next_rule');
    for (const cond of rule.conditions) {
      const pass = asm.label('pass');
      emitCondition(asm, cond, pass, nextRule);
      asm.place(pass);
    }
    asm.ret(actionValue(rule.action));
    asm.place(nextRule);
  }
  // After an unconditional last rule nothing can reach this point.
  if (sc.rules.length === 0 || sc.rules[sc.rules.length - 1].conditions.length > 0) asm.ret(fallback);
}

const LOW = 0xffffffffn;

function emitCondition(asm: BpfAssembler, c: ResolvedCondition, pass: Label, fail: Label): void {
  const lo = SECCOMP_DATA.argLow(c.arg);
  const hi = SECCOMP_DATA.argHigh(c.arg);
  if (c.op === 'masked-eq') {
    const halves: Array<{ offset: number; mask: number; value: number }> = [
      { offset: lo, mask: Number(c.mask & LOW), value: Number(c.value & LOW) },
    ];
    if (c.width === 64) halves.push({ offset: hi, mask: Number(c.mask >> 32n), value: Number(c.value >> 32n) });
    const checked = halves.filter((h) => h.mask !== 0); // a zero mask half always matches (value half is 0 too)
    checked.forEach((h, i) => {
      asm.loadWord(h.offset);
      if (h.mask !== 0xffffffff) asm.and(h.mask);
      const onMatch = i === checked.length - 1 ? pass : asm.label('half');
      asm.branch(BPF_JEQ, h.value, onMatch, fail);
      if (onMatch !== pass) asm.place(onMatch);
    });
    return;
  }
  if (c.width === 32) {
    asm.loadWord(lo);
    emitJeqChain(asm, c.values.map((v) => Number(v)), pass, fail);
    return;
  }
  // 64-bit set: group values by their high word (in first-seen order, so hot
  // values stay first); a high-word match settles which group can match.
  const groups = new Map<number, number[]>();
  for (const v of c.values) {
    const h = Number(v >> 32n);
    groups.set(h, [...(groups.get(h) ?? []), Number(v & LOW)]);
  }
  const entries = [...groups.entries()];
  entries.forEach(([high, lows], i) => {
    const body = asm.label('group');
    const nextGroup = i === entries.length - 1 ? fail : asm.label('next_group');
    asm.loadWord(hi);
    asm.branch(BPF_JEQ, high, body, nextGroup);
    asm.place(body);
    asm.loadWord(lo);
    emitJeqChain(asm, lows, pass, fail);
    if (nextGroup !== fail) asm.place(nextGroup);
  });
}

/** A already loaded: `if (A == v1 || A == v2 || ...) pass else fail`. */
function emitJeqChain(asm: BpfAssembler, values: readonly number[], pass: Label, fail: Label): void {
  values.forEach((v, i) => {
    const next = i === values.length - 1 ? fail : asm.label('next_value');
    asm.branch(BPF_JEQ, v, pass, next);
    if (next !== fail) asm.place(next);
  });
}

/** Resolves a policy's names (syscalls, constants) and compiles it. */
export function compilePolicy(policy: SeccompPolicy, mode: SeccompMode = 'kill'): SockFilter[] {
  return compileSeccompFilter(resolvePolicy(policy, policyConstants()), mode);
}
