// Builders for small, well-formed kernel images the boot tests load and then
// mutate: an x86-64 ELF "vmlinux" and a bzImage wrapping a compressed one.
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';

export interface SyntheticSegment {
  paddr: number;
  vaddr?: bigint;
  data: Uint8Array;
  /** Defaults to data.length; larger means bss. */
  memSize?: number;
}

export interface SyntheticVmlinuxOptions {
  segments: SyntheticSegment[];
  entry: bigint | number;
  /** Adds a Xen PHYS32_ENTRY note with this value. */
  pvhEntry?: number;
  /** Size of the note's value: 8 on x86-64 (.quad), 4 on 32-bit kernels. */
  pvhNoteSize?: 4 | 8;
  /** An extra note before the PVH one, to exercise the note walk. */
  extraNote?: boolean;
}

const KERNEL_VBASE = 0xffffffff80000000n;

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function note(name: string, type: number, desc: Uint8Array): Uint8Array {
  const nameBytes = new TextEncoder().encode(name + '\0');
  const out = new Uint8Array(12 + align(nameBytes.length, 4) + align(desc.length, 4));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, nameBytes.length, true);
  dv.setUint32(4, desc.length, true);
  dv.setUint32(8, type, true);
  out.set(nameBytes, 12);
  out.set(desc, 12 + align(nameBytes.length, 4));
  return out;
}

export function buildVmlinux(o: SyntheticVmlinuxOptions): Uint8Array {
  const notes: Uint8Array[] = [];
  if (o.extraNote) notes.push(note('GNU', 3, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])));
  if (o.pvhEntry !== undefined) {
    const size = o.pvhNoteSize ?? 8;
    const desc = new Uint8Array(size);
    const dv = new DataView(desc.buffer);
    if (size === 8) dv.setBigUint64(0, BigInt(o.pvhEntry), true);
    else dv.setUint32(0, o.pvhEntry, true);
    notes.push(note('Xen', 18, desc));
  }
  const noteBytes = concat(notes);
  const phnum = o.segments.length + (noteBytes.length ? 1 : 0);
  let offset = align(64 + phnum * 56, 16);
  const noteOffset = offset;
  offset = align(offset + noteBytes.length, 4096);
  const placed = o.segments.map((s) => {
    const at = offset;
    offset = align(offset + s.data.length, 4096);
    return { s, at };
  });
  const file = new Uint8Array(offset);
  const dv = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, 62, true); // EM_X86_64
  dv.setUint32(20, 1, true);
  dv.setBigUint64(24, BigInt(o.entry), true);
  dv.setBigUint64(32, 64n, true); // e_phoff
  dv.setUint16(52, 64, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, phnum, true);
  let ph = 64;
  for (const { s, at } of placed) {
    dv.setUint32(ph, 1, true); // PT_LOAD
    dv.setUint32(ph + 4, 7, true);
    dv.setBigUint64(ph + 8, BigInt(at), true);
    dv.setBigUint64(ph + 16, s.vaddr ?? KERNEL_VBASE + BigInt(s.paddr), true);
    dv.setBigUint64(ph + 24, BigInt(s.paddr), true);
    dv.setBigUint64(ph + 32, BigInt(s.data.length), true);
    dv.setBigUint64(ph + 40, BigInt(s.memSize ?? s.data.length), true);
    dv.setBigUint64(ph + 48, 0x200000n, true);
    file.set(s.data, at);
    ph += 56;
  }
  if (noteBytes.length) {
    dv.setUint32(ph, 4, true); // PT_NOTE
    dv.setBigUint64(ph + 8, BigInt(noteOffset), true);
    dv.setBigUint64(ph + 32, BigInt(noteBytes.length), true);
    dv.setBigUint64(ph + 40, BigInt(noteBytes.length), true);
    file.set(noteBytes, noteOffset);
  }
  return file;
}

/** A typical small kernel: text at 16 MiB with the entry at its start, data + bss after, PVH note. */
export function typicalVmlinux(pvh = true): Uint8Array {
  const text = patterned(0x3000, 0x90);
  const data = patterned(0x1800, 0x42);
  return buildVmlinux({
    segments: [
      { paddr: 0x1000000, data: text },
      { paddr: 0x1200000, data, memSize: 0x10000 },
    ],
    entry: 0x1000000,
    pvhEntry: pvh ? 0x1000040 : undefined,
    extraNote: true,
  });
}

export function patterned(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < size; i++) {
    // Compressible but not trivial: runs of text-like bytes with some noise.
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = i % 64 < 48 ? 0x41 + (i % 26) : (x >>> 24) & 0xff;
  }
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The kernel's size_append: the decompressed size as a little-endian u32. */
export function sizeTrailer(size: number): Uint8Array {
  const t = new Uint8Array(4);
  new DataView(t.buffer).setUint32(0, size, true);
  return t;
}

export type CliFormat = 'xz' | 'lz4' | 'zstd' | 'bzip2' | 'lzma';

/** The command line the kernel build uses for each compressor (scripts/Makefile.lib, scripts/xz_wrap.sh). */
export const KERNEL_COMPRESSOR_ARGS: Record<CliFormat, [string, string[]]> = {
  xz: ['xz', ['--check=crc32', '--x86', '--lzma2=,dict=32MiB', '-c']],
  lz4: ['lz4', ['-l', '-9', '-c']],
  zstd: ['zstd', ['-22', '--ultra', '-c', '-q']],
  bzip2: ['bzip2', ['-9', '-c']],
  lzma: ['lzma', ['-9', '-c']],
};

/** Why the compressor `cmd` cannot run here (undefined: it can, or none is needed). .ci/run installs them all. */
export function cliProblem(cmd: string | undefined): string | undefined {
  if (cmd === undefined) return undefined;
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `the ${cmd} CLI is not installed`;
  }
}

/** Compresses with the CLI the kernel build would use, reading stdin as the build does. */
export function compressWithCli(format: CliFormat, data: Uint8Array): Uint8Array {
  const [cmd, args] = KERNEL_COMPRESSOR_ARGS[format];
  return new Uint8Array(execFileSync(cmd, args, { input: data, maxBuffer: 1 << 30 }));
}

/** A bzImage payload as the kernel build makes it: compressed stream + size trailer (gzip: ISIZE only). */
export function kernelPayload(format: 'gzip' | CliFormat, vmlinux: Uint8Array): Uint8Array {
  if (format === 'gzip') return new Uint8Array(gzipSync(vmlinux, { level: 9 }));
  return concat([compressWithCli(format, vmlinux), sizeTrailer(vmlinux.length)]);
}

export interface SyntheticBzImageOptions {
  payload: Uint8Array;
  version?: number;
  setupSects?: number;
  loadflags?: number;
  xloadflags?: number;
  initSize?: number;
  cmdlineSize?: number;
  initrdAddrMax?: number;
  /** Bytes of "decompressor" before the payload in the protected-mode part. */
  payloadOffset?: number;
}

export function buildBzImage(o: SyntheticBzImageOptions): Uint8Array {
  const setupSects = o.setupSects ?? 4;
  const setupSize = ((setupSects || 4) + 1) * 512; // 0 means 4
  const payloadOffset = o.payloadOffset ?? 0x200;
  const pmSize = align(payloadOffset + o.payload.length + 0x40, 16);
  const file = new Uint8Array(setupSize + pmSize);
  const dv = new DataView(file.buffer);
  dv.setUint8(0x1f1, setupSects);
  dv.setUint32(0x1f4, pmSize / 16, true); // syssize
  dv.setUint16(0x1fa, 0xffff, true);
  dv.setUint16(0x1fe, 0xaa55, true);
  dv.setUint8(0x200, 0xeb); // jmp short
  dv.setUint8(0x201, 0x6a); // header ends at 0x26c
  dv.setUint32(0x202, 0x53726448, true); // "HdrS"
  dv.setUint16(0x206, o.version ?? 0x020f, true);
  dv.setUint8(0x211, o.loadflags ?? 0x01);
  dv.setUint32(0x214, 0x100000, true);
  dv.setUint32(0x22c, o.initrdAddrMax ?? 0x7fffffff, true);
  dv.setUint32(0x230, 0x200000, true);
  dv.setUint8(0x234, 1);
  dv.setUint8(0x235, 21);
  dv.setUint16(0x236, o.xloadflags ?? 0x7f, true);
  dv.setUint32(0x238, o.cmdlineSize ?? 2047, true);
  dv.setUint32(0x248, payloadOffset, true);
  dv.setUint32(0x24c, o.payload.length, true);
  dv.setBigUint64(0x258, 0x1000000n, true);
  dv.setUint32(0x260, o.initSize ?? 0x400000, true);
  file.set(o.payload, setupSize + payloadOffset);
  return file;
}
