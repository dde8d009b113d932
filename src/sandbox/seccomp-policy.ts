// The shape of a seccomp policy as people write it (see helper-policy.ts) and
// its resolution into numbers the compiler can use. A policy is a list of
// entries; each entry allows one syscall, optionally only when all of its
// argument conditions hold, and says why. Several entries for the same
// syscall are alternatives, tried in order (first match decides).
import { syscallNumber } from './syscall-table.js';

/** A number, a bigint, or a string: "0x1f", "KVM_RUN", "CLONE_VM|CLONE_THREAD". */
export type PolicyValue = number | bigint | string;

/**
 * One condition on one syscall argument. The kernel hands seccomp every
 * argument as 64 bits (split into two 32-bit words in struct seccomp_data);
 * `width: 32` compares only the low word, which is right for arguments the
 * kernel itself reads as `int`/`unsigned int` (ioctl's request, fcntl's cmd,
 * open flags) and avoids false kills when a caller leaves garbage in the upper
 * half of the register. Exactly one of `eq` or `in` must be given; `mask`
 * applies to `eq`: the condition is `(arg & mask) == eq`.
 */
export interface ArgCondition {
  readonly arg: 0 | 1 | 2 | 3 | 4 | 5;
  readonly width?: 32 | 64;
  readonly eq?: PolicyValue;
  readonly mask?: PolicyValue;
  readonly in?: readonly PolicyValue[];
}

/** What the filter returns for a matching call: allow it, or fail it with an errno. */
export type EntryAction = 'allow' | `errno:${string}`;

export interface PolicyEntry {
  readonly syscall: string;
  readonly reason: string;
  /** All must hold; omitted or empty: any arguments. */
  readonly when?: readonly ArgCondition[];
  readonly action?: EntryAction;
  /** Checked before the binary search (for the exit loop's ioctl). */
  readonly hot?: boolean;
}

export interface SeccompPolicy {
  readonly name: string;
  readonly entries: readonly PolicyEntry[];
  /**
   * The variant's name in the programs compiled ahead (seccomp-programs.ts),
   * for the policies of tsvmm's own processes (policy-base.ts composePolicy).
   */
  readonly precompiledAs?: string;
}

// ---- resolved form -------------------------------------------------------

export type ResolvedAction = { readonly kind: 'allow' } | { readonly kind: 'errno'; readonly errno: number };

export type ResolvedCondition =
  | { readonly arg: number; readonly width: 32 | 64; readonly op: 'masked-eq'; readonly mask: bigint; readonly value: bigint }
  | { readonly arg: number; readonly width: 32 | 64; readonly op: 'in'; readonly values: readonly bigint[] };

export interface ResolvedRule {
  readonly conditions: readonly ResolvedCondition[];
  readonly action: ResolvedAction;
}

export interface ResolvedSyscall {
  readonly name: string;
  readonly nr: number;
  readonly hot: boolean;
  /** Tried in order; when none matches, the policy's default action applies. */
  readonly rules: readonly ResolvedRule[];
}

export interface ResolvedPolicy {
  readonly name: string;
  /** Sorted by syscall number. */
  readonly syscalls: readonly ResolvedSyscall[];
}

const U64 = (1n << 64n) - 1n;

/** Parses one policy value into an unsigned integer of `width` bits (negative numbers wrap, as in C). */
export function resolveValue(value: PolicyValue, width: 32 | 64, constants: ReadonlyMap<string, bigint>): bigint {
  const parts: bigint[] = [];
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`policy value ${value} is not a safe integer; write it as a string or bigint`);
    parts.push(BigInt(value));
  } else if (typeof value === 'bigint') {
    parts.push(value);
  } else {
    for (const part of value.split('|').map((s) => s.trim())) {
      if (/^(-?\d+|0x[0-9a-f]+|0o[0-7]+)$/i.test(part)) parts.push(BigInt(part));
      else if (constants.has(part)) parts.push(constants.get(part)!);
      else throw new Error(`unknown constant "${part}" in policy value "${value}"`);
    }
  }
  let v = 0n;
  for (const p of parts) {
    if (p < -(1n << BigInt(width - 1))) throw new Error(`policy value ${value} does not fit in ${width} bits`);
    v |= p < 0n ? BigInt.asUintN(width, p) : p;
  }
  if (v >> BigInt(width) !== 0n) throw new Error(`policy value ${value} (0x${v.toString(16)}) does not fit in ${width} bits`);
  return v;
}

function resolveAction(action: EntryAction | undefined, constants: ReadonlyMap<string, bigint>): ResolvedAction {
  if (action === undefined || action === 'allow') return { kind: 'allow' };
  const name = action.slice('errno:'.length);
  const errno = /^\d+$/.test(name) ? Number(name) : Number(constants.get(name) ?? -1);
  if (!(errno > 0 && errno <= 4095)) throw new Error(`policy action "${action}" names no errno`);
  return { kind: 'errno', errno };
}

function resolveCondition(c: ArgCondition, where: string, constants: ReadonlyMap<string, bigint>): ResolvedCondition {
  if (!Number.isInteger(c.arg) || c.arg < 0 || c.arg > 5) throw new Error(`${where}: argument index ${c.arg} is not 0..5`);
  const width = c.width ?? 64;
  if (width !== 32 && width !== 64) throw new Error(`${where}: width must be 32 or 64`);
  if ((c.eq === undefined) === (c.in === undefined)) throw new Error(`${where}: give exactly one of "eq" or "in"`);
  if (c.in !== undefined) {
    if (c.mask !== undefined) throw new Error(`${where}: "mask" only applies to "eq"`);
    if (c.in.length === 0) throw new Error(`${where}: empty "in" set would never match`);
    const values = c.in.map((v) => resolveValue(v, width, constants));
    const unique = [...new Set(values)];
    if (unique.length !== values.length) throw new Error(`${where}: duplicate value in "in" set`);
    return { arg: c.arg, width, op: 'in', values };
  }
  const full = width === 32 ? 0xffffffffn : U64;
  const mask = c.mask === undefined ? full : resolveValue(c.mask, width, constants);
  const value = resolveValue(c.eq!, width, constants);
  if (mask === 0n) throw new Error(`${where}: mask 0 makes the condition always true`);
  if ((value & ~mask & full) !== 0n) throw new Error(`${where}: value has bits outside the mask, the condition could never hold`);
  return { arg: c.arg, width, op: 'masked-eq', mask, value };
}

/** Resolves names to numbers and checks the policy; throws with the entry at fault. */
export function resolvePolicy(policy: SeccompPolicy, constants: ReadonlyMap<string, bigint>): ResolvedPolicy {
  const bySyscall = new Map<string, { nr: number; hot: boolean; rules: ResolvedRule[]; unconditional: boolean }>();
  policy.entries.forEach((entry, i) => {
    const where = `${policy.name} entry ${i} (${entry.syscall})`;
    if (!entry.reason || entry.reason.trim().length < 3) throw new Error(`${where}: every entry needs a reason`);
    let nr: number;
    try {
      nr = syscallNumber(entry.syscall);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
    const conditions = (entry.when ?? []).map((c, j) => resolveCondition(c, `${where} condition ${j}`, constants));
    const seenArgs = new Set<number>();
    for (const c of conditions) {
      if (seenArgs.has(c.arg)) throw new Error(`${where}: two conditions on argument ${c.arg}; combine them`);
      seenArgs.add(c.arg);
    }
    const rule: ResolvedRule = { conditions, action: resolveAction(entry.action, constants) };
    const group = bySyscall.get(entry.syscall) ?? { nr, hot: false, rules: [], unconditional: false };
    if (group.unconditional) throw new Error(`${where}: an earlier entry already matches every call, this one is unreachable`);
    group.rules.push(rule);
    group.hot ||= entry.hot === true;
    group.unconditional = conditions.length === 0;
    bySyscall.set(entry.syscall, group);
  });
  const syscalls = [...bySyscall.entries()]
    .map(([name, g]) => ({ name, nr: g.nr, hot: g.hot, rules: g.rules }))
    .sort((a, b) => a.nr - b.nr);
  return { name: policy.name, syscalls };
}
