// Fuzz target: the seccomp compiler (src/sandbox/seccomp-compiler.ts) and the
// helper's policy (helper-policy.ts). Each input is a policy (one of the four
// helper variants, or a random one: random syscalls, 32/64-bit conditions,
// masks, value sets, errno actions, hot entries) and a batch of seccomp_data
// records (syscall numbers from the policy and around it, x32 and foreign
// architectures, negative numbers; arguments equal to, near, and far from the
// rules' values, with garbage in the upper halves). The compiled program runs
// in the BPF interpreter the tests use (test/sandbox/support/bpf-interpreter.ts)
// and its verdict must equal a direct evaluation of the resolved rules.
// resolvePolicy/compile may refuse a random policy with a plain Error (their
// documented way); any other exception, an invalid program, or a different
// verdict is a failure.
import { helperPolicy } from '../../src/sandbox/helper-policy.js';
import { policyConstants } from '../../src/sandbox/policy-constants.js';
import {
  AUDIT_ARCH_X86_64,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_LOG,
  compileSeccompFilter,
  type SeccompMode,
} from '../../src/sandbox/seccomp-compiler.js';
import { resolvePolicy, resolveValue, type ArgCondition, type PolicyEntry, type ResolvedCondition, type ResolvedPolicy, type SeccompPolicy } from '../../src/sandbox/seccomp-policy.js';
import { SYSCALLS } from '../../src/sandbox/syscall-table.js';
import type { SockFilter } from '../../src/sandbox/bpf.js';
import { runSeccompProgram, type SeccompData } from '../../test/sandbox/support/bpf-interpreter.js';
import { InvariantViolation, Outcomes, Prng, show, type FuzzTarget } from './harness.js';

const constants = policyConstants();
const CONSTANT_NAMES = [...constants.keys()];
const SYSCALL_NAMES = Object.keys(SYSCALLS);
const AUDIT_ARCH_I386 = 0x40000003;
const U64 = (1n << 64n) - 1n;

type PolicyChoice = { kind: 'helper'; jit: boolean; ioUring: boolean } | { kind: 'random'; policy: SeccompPolicy };

interface SeccompInput {
  choice: PolicyChoice;
  mode: SeccompMode;
  /** Seeds the seccomp_data batch once the policy is resolved (the records depend on its values). */
  dataSeed: number;
  records: number;
}

/** The verdict the resolved policy means for `d`, straight from its rules. */
export function policyVerdict(policy: ResolvedPolicy, d: SeccompData, mode: SeccompMode): number {
  if ((d.arch ?? AUDIT_ARCH_X86_64) !== AUDIT_ARCH_X86_64) return SECCOMP_RET_KILL_PROCESS;
  const nr = d.nr >>> 0;
  if (nr >= 0x40000000) return SECCOMP_RET_KILL_PROCESS; // x32, and negative numbers read as u32
  const fallback = mode === 'kill' ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_LOG;
  const sc = policy.syscalls.find((s) => s.nr === nr);
  if (!sc) return fallback;
  for (const rule of sc.rules) {
    if (rule.conditions.every((c) => holds(c, d.args?.[c.arg] ?? 0n)))
      return rule.action.kind === 'allow' ? SECCOMP_RET_ALLOW : (SECCOMP_RET_ERRNO | rule.action.errno) >>> 0;
  }
  return fallback;
}

function holds(c: ResolvedCondition, raw: bigint): boolean {
  const arg = BigInt.asUintN(c.width, raw);
  return c.op === 'in' ? c.values.includes(arg) : (arg & c.mask) === c.value;
}

function randomValue(rng: Prng, width: 32 | 64): string | number | bigint {
  switch (rng.below(6)) {
    case 0:
      return rng.pick(CONSTANT_NAMES);
    case 1:
      return `${rng.pick(CONSTANT_NAMES)}|${rng.pick(CONSTANT_NAMES)}`;
    case 2:
      return rng.below(4096);
    case 3:
      return -rng.range(1, 200);
    case 4:
      return width === 32 ? `0x${rng.u32().toString(16)}` : (BigInt(rng.u32()) << 32n) | BigInt(rng.u32());
    default:
      return `0x${(1n << BigInt(rng.below(width))).toString(16)}`;
  }
}

function randomCondition(rng: Prng, arg: number): ArgCondition {
  const width = rng.chance(0.5) ? 32 : 64;
  const a = arg as ArgCondition['arg'];
  if (rng.chance(0.5)) {
    const values = Array.from({ length: rng.chance(0.9) ? rng.range(1, 8) : rng.range(100, 400) }, () => randomValue(rng, width));
    // mostly distinct (a duplicate is refused, which the generator reaches now and then)
    const key = (v: string | number | bigint): string => {
      try {
        return String(resolveValue(v, width, constants));
      } catch {
        return `unresolvable ${String(v)}`;
      }
    };
    const distinct = rng.chance(0.95) ? [...new Map(values.map((v) => [key(v), v])).values()] : values;
    return { arg: a, width, in: distinct };
  }
  if (rng.chance(0.5)) return { arg: a, width, eq: randomValue(rng, width) };
  const mask = randomValue(rng, width);
  return { arg: a, width, mask, eq: rng.chance(0.5) ? 0 : mask };
}

function randomPolicy(rng: Prng): SeccompPolicy {
  const entries: PolicyEntry[] = [];
  const used = new Set<string>();
  const noReason = rng.chance(0.02) ? rng.below(60) : -1;
  for (let n = rng.range(1, 60); n > 0; n--) {
    let syscall = rng.chance(0.997) ? rng.pick(SYSCALL_NAMES) : 'frobnicate';
    if (used.has(syscall) && rng.chance(0.9)) syscall = rng.pick(SYSCALL_NAMES);
    used.add(syscall);
    const args = [0, 1, 2, 3, 4, 5].filter(() => rng.chance(0.25)).slice(0, 3);
    const when = rng.chance(0.4) ? undefined : args.map((a) => randomCondition(rng, a));
    const action = rng.chance(0.8) ? undefined : rng.chance(0.5) ? (`errno:${rng.range(1, 4095)}` as const) : (`errno:${rng.pick(['EPERM', 'ENOSYS', 'EACCES', 'EBADF', rng.chance(0.1) ? 'NOPE' : 'EIO'])}` as const);
    entries.push({ syscall, reason: n === noReason ? '' : 'fuzz', when, action, hot: rng.chance(0.1) });
    // alternatives for the same syscall, tried in order
    if (when !== undefined && when.length > 0 && rng.chance(0.2)) entries.push({ syscall, reason: 'fuzz again', when: [randomCondition(rng, rng.below(6))], hot: rng.chance(0.1) });
  }
  return { name: 'fuzz', entries };
}

export class SeccompTarget implements FuzzTarget<SeccompInput> {
  readonly name = 'seccomp';
  readonly description = 'seccomp BPF compiler: compiled program vs. direct evaluation of the policy rules';
  readonly outcomes = new Outcomes();
  private readonly helperPrograms = new Map<string, { resolved: ResolvedPolicy; program: SockFilter[] }>();

  generate(rng: Prng): SeccompInput {
    const choice: PolicyChoice = rng.chance(0.5) ? { kind: 'helper', jit: rng.chance(0.5), ioUring: rng.chance(0.5) } : { kind: 'random', policy: randomPolicy(rng) };
    return { choice, mode: rng.chance(0.5) ? 'kill' : 'log', dataSeed: rng.u32(), records: 200 };
  }

  describe(input: SeccompInput): string {
    return show(input, 6000);
  }

  private compiled(input: SeccompInput): { resolved: ResolvedPolicy; program: SockFilter[] } | null {
    const c = input.choice;
    if (c.kind === 'helper') {
      const key = `${c.jit}/${c.ioUring}/${input.mode}`;
      let p = this.helperPrograms.get(key);
      if (!p) {
        const resolved = resolvePolicy(helperPolicy({ jit: c.jit, ioUring: c.ioUring }), constants);
        p = { resolved, program: compileSeccompFilter(resolved, input.mode) };
        this.helperPrograms.set(key, p);
      }
      return p;
    }
    let resolved: ResolvedPolicy;
    try {
      resolved = resolvePolicy(c.policy, constants);
    } catch (e) {
      if (e instanceof Error && e.constructor === Error) {
        this.outcomes.add(`refused: ${e.message.replace(/^fuzz entry \d+ \([^)]*\)(?: condition \d+)?: /, '').replace(/".*"|\d+|0x[0-9a-f]+/g, '…')}`.slice(0, 60));
        return null; // refused, with the entry at fault
      }
      throw e;
    }
    try {
      return { resolved, program: compileSeccompFilter(resolved, input.mode) };
    } catch (e) {
      if (e instanceof Error && e.constructor === Error && /kernel limit is 4096/.test(e.message)) {
        this.outcomes.add('refused: too large');
        return null;
      }
      throw e; // includes validateSeccompProgram refusing what the compiler emitted
    }
  }

  execute(input: SeccompInput): void {
    const p = this.compiled(input);
    if (p === null) return;
    this.outcomes.add(input.choice.kind === 'helper' ? 'helper policy' : 'random policy compiled');
    const rng = new Prng(input.dataSeed);
    for (let i = 0; i < input.records; i++) {
      const d = randomData(rng, p.resolved);
      let got: number;
      try {
        got = runSeccompProgram(p.program, d);
      } catch (e) {
        throw new InvariantViolation(`the compiled program fails in the interpreter on ${show(d)}: ${(e as Error).message}`);
      }
      const want = policyVerdict(p.resolved, d, input.mode);
      if (got !== want) throw new InvariantViolation(`verdict 0x${got.toString(16)} for ${show(d)}, the rules say 0x${want.toString(16)}`);
    }
  }
}

function randomData(rng: Prng, policy: ResolvedPolicy): SeccompData {
  const sc = policy.syscalls.length > 0 && rng.chance(0.8) ? rng.pick(policy.syscalls) : undefined;
  let nr: number;
  if (sc) nr = sc.nr;
  else nr = rng.pick([() => rng.below(600), () => -rng.range(1, 5), () => 0x40000000 | rng.below(600), () => rng.u32() | 0, () => (policy.syscalls[0]?.nr ?? 0) + rng.range(-2, 2)])();
  const arch = rng.chance(0.97) ? AUDIT_ARCH_X86_64 : rng.pick([AUDIT_ARCH_I386, rng.u32(), AUDIT_ARCH_X86_64 ^ 1]);
  const args: bigint[] = Array.from({ length: 6 }, () => randomArg(rng));
  if (sc && sc.rules.length > 0) {
    // aim at one rule: satisfy its conditions, then maybe perturb one
    const rule = rng.pick(sc.rules);
    for (const c of rule.conditions) {
      let v = c.op === 'in' ? rng.pick(c.values) : c.value | (BigInt.asUintN(c.width, randomArg(rng)) & ~c.mask & (c.width === 32 ? 0xffffffffn : U64));
      if (c.width === 32 && rng.chance(0.5)) v |= BigInt(rng.u32()) << 32n; // the kernel ignores the upper half
      if (rng.chance(0.25)) v ^= 1n << BigInt(rng.below(64));
      if (rng.chance(0.05)) v = v + BigInt(rng.range(-1, 1));
      args[c.arg] = BigInt.asUintN(64, v);
    }
  }
  return { nr, arch, args };
}

function randomArg(rng: Prng): bigint {
  switch (rng.below(5)) {
    case 0:
      return 0n;
    case 1:
      return constants.get(CONSTANT_NAMES[rng.below(CONSTANT_NAMES.length)])! & U64;
    case 2:
      return BigInt(rng.u32());
    case 3:
      return U64 - BigInt(rng.below(256));
    default:
      return (BigInt(rng.u32()) << 32n) | BigInt(rng.u32());
  }
}
