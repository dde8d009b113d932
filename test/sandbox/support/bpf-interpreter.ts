// A classic BPF interpreter for the instructions seccomp programs use, so the
// compiler's output can be tested against many inputs without a kernel.
import {
  BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W,
  type SockFilter,
} from '../../../src/sandbox/bpf.js';
import { AUDIT_ARCH_X86_64 } from '../../../src/sandbox/seccomp-compiler.js';

export interface SeccompData {
  nr: number;
  arch?: number;
  instructionPointer?: bigint;
  args?: readonly bigint[];
}

export function seccompDataBytes(d: SeccompData): DataView {
  const view = new DataView(new ArrayBuffer(64));
  view.setInt32(0, d.nr, true);
  view.setUint32(4, d.arch ?? AUDIT_ARCH_X86_64, true);
  view.setBigUint64(8, d.instructionPointer ?? 0n, true);
  for (let i = 0; i < 6; i++) view.setBigUint64(16 + 8 * i, BigInt.asUintN(64, d.args?.[i] ?? 0n), true);
  return view;
}

/** Runs `program` on `data`: the filter's 32-bit verdict and how many instructions ran. */
export function traceSeccompProgram(program: readonly SockFilter[], data: SeccompData): { verdict: number; steps: number } {
  const mem = seccompDataBytes(data);
  let a = 0;
  let pc = 0;
  for (let steps = 1; steps < 100_000; steps++) {
    const insn = program[pc];
    if (!insn) throw new Error(`pc ${pc} ran off the program`);
    switch (insn.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        a = mem.getUint32(insn.k, true);
        pc++;
        break;
      case BPF_ALU | BPF_AND | BPF_K:
        a = (a & insn.k) >>> 0;
        pc++;
        break;
      case BPF_JMP | BPF_JA:
        pc += 1 + insn.k;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += 1 + (a === insn.k ? insn.jt : insn.jf);
        break;
      case BPF_JMP | BPF_JGT | BPF_K:
        pc += 1 + (a > insn.k ? insn.jt : insn.jf);
        break;
      case BPF_JMP | BPF_JGE | BPF_K:
        pc += 1 + (a >= insn.k ? insn.jt : insn.jf);
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        pc += 1 + ((a & insn.k) !== 0 ? insn.jt : insn.jf);
        break;
      case BPF_RET | BPF_K:
        return { verdict: insn.k >>> 0, steps };
      default:
        throw new Error(`pc ${pc}: unsupported opcode 0x${insn.code.toString(16)}`);
    }
  }
  throw new Error('program did not terminate');
}

export function runSeccompProgram(program: readonly SockFilter[], data: SeccompData): number {
  return traceSeccompProgram(program, data).verdict;
}
