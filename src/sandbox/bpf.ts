// Classic BPF (the instruction set seccomp filters are written in): opcodes,
// the `struct sock_filter` encoding, an assembler with symbolic labels that
// lays out long jumps, and the structural checks the kernel applies to a
// seccomp program (so a bad program fails here with a message, not EINVAL).
//
//   struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; };  // 8 bytes

// Instruction classes, sizes, modes, operations and sources (<linux/bpf_common.h>).
export const BPF_LD = 0x00;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_W = 0x00;
export const BPF_ABS = 0x20;
export const BPF_AND = 0x50;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_K = 0x00;

/** The kernel's limit on instructions in one classic BPF program (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;
/** sizeof(struct seccomp_data): nr, arch, instruction_pointer, args[6]. */
export const SECCOMP_DATA_SIZE = 64;

export interface SockFilter {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

export function stmt(code: number, k: number): SockFilter {
  return { code, jt: 0, jf: 0, k: k >>> 0 };
}

export function jump(code: number, k: number, jt: number, jf: number): SockFilter {
  return { code, jt, jf, k: k >>> 0 };
}

/** The program as the kernel reads it: 8 little-endian bytes per instruction. */
export function encodeProgram(program: readonly SockFilter[]): Buffer {
  const buf = Buffer.alloc(program.length * 8);
  program.forEach((insn, i) => {
    buf.writeUInt16LE(insn.code, i * 8);
    buf.writeUInt8(insn.jt, i * 8 + 2);
    buf.writeUInt8(insn.jf, i * 8 + 3);
    buf.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return buf;
}

export function decodeProgram(buf: Uint8Array): SockFilter[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: SockFilter[] = [];
  for (let off = 0; off + 8 <= buf.byteLength; off += 8) {
    out.push({
      code: view.getUint16(off, true),
      jt: view.getUint8(off + 2),
      jf: view.getUint8(off + 3),
      k: view.getUint32(off + 4, true),
    });
  }
  return out;
}

const ALLOWED_CODES = new Set([
  BPF_LD | BPF_W | BPF_ABS,
  BPF_ALU | BPF_AND | BPF_K,
  BPF_JMP | BPF_JA,
  BPF_JMP | BPF_JEQ | BPF_K,
  BPF_JMP | BPF_JGT | BPF_K,
  BPF_JMP | BPF_JGE | BPF_K,
  BPF_JMP | BPF_JSET | BPF_K,
  BPF_RET | BPF_K,
]);

/**
 * Throws unless `program` passes the checks the kernel makes before accepting
 * a seccomp filter (bpf_check_classic + seccomp_check_filter), restricted to
 * the subset this project emits: length 1..4096, every jump lands inside the
 * program (forward only, by construction of classic BPF), loads are aligned
 * 32-bit reads inside struct seccomp_data, and the last instruction returns.
 */
export function validateSeccompProgram(program: readonly SockFilter[]): void {
  if (program.length === 0 || program.length > BPF_MAXINSNS) {
    throw new Error(`BPF program has ${program.length} instructions; the kernel accepts 1..${BPF_MAXINSNS}`);
  }
  program.forEach((insn, pc) => {
    if (!ALLOWED_CODES.has(insn.code)) throw new Error(`BPF pc ${pc}: opcode 0x${insn.code.toString(16)} not emitted by this compiler`);
    if (insn.code === (BPF_LD | BPF_W | BPF_ABS) && (insn.k % 4 !== 0 || insn.k + 4 > SECCOMP_DATA_SIZE)) {
      throw new Error(`BPF pc ${pc}: load at offset ${insn.k} is outside struct seccomp_data or unaligned`);
    }
    if (insn.code === (BPF_JMP | BPF_JA)) {
      if (pc + 1 + insn.k >= program.length) throw new Error(`BPF pc ${pc}: ja +${insn.k} leaves the program`);
    } else if ((insn.code & 0x07) === BPF_JMP) {
      if (insn.jt > 255 || insn.jf > 255) throw new Error(`BPF pc ${pc}: jump offset does not fit in 8 bits`);
      if (pc + 1 + Math.max(insn.jt, insn.jf) >= program.length) throw new Error(`BPF pc ${pc}: conditional jump leaves the program`);
    }
  });
  if (program[program.length - 1].code !== (BPF_RET | BPF_K)) throw new Error('BPF program does not end with a return');
}

/** A position in a program being assembled; placed exactly once. */
export class Label {
  position = -1;
  constructor(readonly name: string) {}
}

type Item =
  | { kind: 'stmt'; insn: SockFilter }
  | { kind: 'cond'; code: number; k: number; whenTrue: Label; whenFalse: Label; long: boolean }
  | { kind: 'goto'; target: Label }
  | { kind: 'label'; label: Label };

/**
 * Builds a program from statements and jumps to labels. Conditional jumps in
 * classic BPF reach at most 255 instructions ahead; `assemble()` lays out every
 * conditional jump short when both targets are within reach and otherwise as
 * `jcond k, 0, 1; ja whenTrue; ja whenFalse` (BPF_JA has a 32-bit offset). It
 * starts with all jumps short and widens the ones out of range until none is
 * (widening only ever moves targets further away, so this terminates).
 */
export class BpfAssembler {
  private readonly items: Item[] = [];
  private readonly placed = new Set<Label>();
  private labelCount = 0;

  label(name = 'L'): Label {
    return new Label(`${name}${this.labelCount++}`);
  }

  place(label: Label): void {
    if (this.placed.has(label)) throw new Error(`BPF label ${label.name} placed twice`);
    this.placed.add(label);
    this.items.push({ kind: 'label', label });
  }

  /** A label placed here and now. */
  here(name = 'L'): Label {
    const l = this.label(name);
    this.place(l);
    return l;
  }

  loadWord(offset: number): void {
    this.items.push({ kind: 'stmt', insn: stmt(BPF_LD | BPF_W | BPF_ABS, offset) });
  }

  and(k: number): void {
    this.items.push({ kind: 'stmt', insn: stmt(BPF_ALU | BPF_AND | BPF_K, k) });
  }

  ret(k: number): void {
    this.items.push({ kind: 'stmt', insn: stmt(BPF_RET | BPF_K, k) });
  }

  /** `if (A <op> k) goto whenTrue; else goto whenFalse;` with op one of BPF_JEQ/JGT/JGE/JSET. */
  branch(op: number, k: number, whenTrue: Label, whenFalse: Label): void {
    this.items.push({ kind: 'cond', code: BPF_JMP | op | BPF_K, k: k >>> 0, whenTrue, whenFalse, long: false });
  }

  goto(target: Label): void {
    this.items.push({ kind: 'goto', target });
  }

  assemble(): SockFilter[] {
    for (;;) {
      const positions = this.layout();
      let widened = false;
      this.items.forEach((item, i) => {
        if (item.kind !== 'cond' || item.long) return;
        // Distances measured on this layout; widening takes effect on the next one.
        const pc = positions[i];
        if (this.offset(item.whenTrue, pc) > 255 || this.offset(item.whenFalse, pc) > 255) {
          item.long = true;
          widened = true;
        }
      });
      if (!widened) break;
    }
    const out: SockFilter[] = [];
    for (const item of this.items) {
      const pc = out.length;
      switch (item.kind) {
        case 'label':
          break;
        case 'stmt':
          out.push(item.insn);
          break;
        case 'goto':
          out.push(stmt(BPF_JMP | BPF_JA, this.offset(item.target, pc)));
          break;
        case 'cond':
          if (!item.long) {
            out.push(jump(item.code, item.k, this.offset(item.whenTrue, pc), this.offset(item.whenFalse, pc)));
          } else {
            out.push(jump(item.code, item.k, 0, 1));
            out.push(stmt(BPF_JMP | BPF_JA, this.offset(item.whenTrue, pc + 1)));
            out.push(stmt(BPF_JMP | BPF_JA, this.offset(item.whenFalse, pc + 2)));
          }
          break;
      }
    }
    return out;
  }

  /** Places every label for the current jump sizes; returns each item's pc. */
  private layout(): number[] {
    let pc = 0;
    return this.items.map((item) => {
      if (item.kind === 'label') item.label.position = pc;
      const at = pc;
      pc += size(item);
      return at;
    });
  }

  /** Jump distance from the instruction at `pc` to `label` (BPF counts from pc + 1). */
  private offset(label: Label, pc: number): number {
    if (label.position < 0) throw new Error(`BPF label ${label.name} was never placed`);
    const d = label.position - (pc + 1);
    if (d < 0) throw new Error(`BPF label ${label.name} is behind the jump at pc ${pc}; classic BPF only jumps forward`);
    return d;
  }
}

function size(item: Item): number {
  if (item.kind === 'label') return 0;
  if (item.kind === 'cond') return item.long ? 3 : 1;
  return 1;
}
