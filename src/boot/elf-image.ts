// Parsing of an x86-64 ELF `vmlinux`: the header, its PT_LOAD segments and the
// Xen PVH entry note. Pure: nothing here touches guest memory. Every offset
// and size read from the file is checked against the file and against 2^53.
import { BootError, hex } from './boot-error.js';
import { asByteSource, type ByteSource } from './byte-source.js';
import { ImageReader } from './image-reader.js';

const ELF_MAGIC = 0x464c457f; // "\x7fELF" little-endian
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EV_CURRENT = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const EM_X86_64 = 62;
const PT_LOAD = 1;
const PT_NOTE = 4;
const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
/** No sane vmlinux has more program headers than this. */
const MAX_PHNUM = 256;

/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit physical PVH entry point. */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

export interface ElfLoadSegment {
  /** File offset and size of the bytes to copy. */
  fileOffset: number;
  fileSize: number;
  /** Guest-physical load address (p_paddr) and in-memory size (bss included). */
  paddr: number;
  memSize: number;
  /** Virtual address (p_vaddr), kept exact: kernel text sits near 2^64. */
  vaddr: bigint;
}

export interface ElfImage {
  /** e_entry as written (physical for an x86-64 vmlinux, virtual for some other images). */
  rawEntry: bigint;
  /** Guest-physical 64-bit entry point. */
  entry: number;
  /** Guest-physical 32-bit PVH entry from XEN_ELFNOTE_PHYS32_ENTRY, when the kernel has one. */
  pvhEntry?: number;
  segments: ElfLoadSegment[];
  /** Lowest p_paddr and highest p_paddr + p_memsz over the PT_LOAD segments. */
  start: number;
  end: number;
}

export function isElf(image: Uint8Array | ByteSource): boolean {
  if (image.length < 4) return false;
  const head = asByteSource(image).bytes(0, 4);
  return new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === ELF_MAGIC;
}

export function parseElfImage(image: Uint8Array | ByteSource, what = 'vmlinux ELF'): ElfImage {
  const r = new ImageReader(image, what);
  if (image.length < EHDR_SIZE) throw new BootError(`${what} is truncated: ${image.length} bytes cannot hold an ELF header`);
  if (r.u32(0, 'e_ident') !== ELF_MAGIC) throw new BootError(`${what}: no ELF magic`);
  if (r.u8(4, 'EI_CLASS') !== ELFCLASS64) throw new BootError(`${what}: not a 64-bit ELF (EI_CLASS ${r.u8(4, 'EI_CLASS')})`);
  if (r.u8(5, 'EI_DATA') !== ELFDATA2LSB) throw new BootError(`${what}: not little-endian`);
  if (r.u8(6, 'EI_VERSION') !== EV_CURRENT) throw new BootError(`${what}: unknown ELF version`);
  const type = r.u16(16, 'e_type');
  if (type !== ET_EXEC && type !== ET_DYN) throw new BootError(`${what}: not an executable (e_type ${type})`);
  const machine = r.u16(18, 'e_machine');
  if (machine !== EM_X86_64) throw new BootError(`${what}: not an x86-64 kernel (e_machine ${machine})`);
  const rawEntry = r.u64Big(24, 'e_entry');
  const phoff = r.u64(32, 'e_phoff');
  const phentsize = r.u16(54, 'e_phentsize');
  const phnum = r.u16(56, 'e_phnum');
  if (phentsize !== PHDR_SIZE) throw new BootError(`${what}: e_phentsize ${phentsize}, expected ${PHDR_SIZE}`);
  if (phnum === 0 || phnum > MAX_PHNUM) throw new BootError(`${what}: ${phnum} program headers`);
  r.check(phoff, phnum * PHDR_SIZE, 'program header table');

  const segments: ElfLoadSegment[] = [];
  let pvhEntry: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * PHDR_SIZE;
    const ptype = r.u32(ph, `program header ${i} p_type`);
    const offset = r.u64(ph + 8, `program header ${i} p_offset`);
    const vaddr = r.u64Big(ph + 16, `program header ${i} p_vaddr`);
    const paddr = r.u64(ph + 24, `program header ${i} p_paddr`);
    const filesz = r.u64(ph + 32, `program header ${i} p_filesz`);
    const memsz = r.u64(ph + 40, `program header ${i} p_memsz`);
    if (ptype === PT_LOAD) {
      if (filesz > memsz) throw new BootError(`${what}: segment ${i} has p_filesz ${hex(filesz)} > p_memsz ${hex(memsz)}`);
      r.check(offset, filesz, `segment ${i} contents`);
      if (!Number.isSafeInteger(paddr + memsz)) throw new BootError(`${what}: segment ${i} end overflows`);
      if (memsz === 0) continue;
      segments.push({ fileOffset: offset, fileSize: filesz, paddr, memSize: memsz, vaddr });
    } else if (ptype === PT_NOTE) {
      r.check(offset, filesz, `note segment ${i}`);
      const found = findPvhEntry(r, offset, filesz);
      if (found !== undefined) pvhEntry = found;
    }
  }
  if (segments.length === 0) throw new BootError(`${what}: no loadable segments`);
  const start = Math.min(...segments.map((s) => s.paddr));
  const end = Math.max(...segments.map((s) => s.paddr + s.memSize));
  const entry = entryToPhysical(rawEntry, segments, what);
  return { rawEntry, entry, pvhEntry, segments, start, end };
}

/** e_entry of an x86-64 vmlinux is physical (phys_startup_64); accept a virtual one inside a segment too. */
function entryToPhysical(rawEntry: bigint, segments: ElfLoadSegment[], what: string): number {
  for (const s of segments) {
    if (rawEntry >= BigInt(s.paddr) && rawEntry < BigInt(s.paddr + s.memSize)) return Number(rawEntry);
  }
  for (const s of segments) {
    if (rawEntry >= s.vaddr && rawEntry < s.vaddr + BigInt(s.memSize)) return s.paddr + Number(rawEntry - s.vaddr);
  }
  throw new BootError(`${what}: entry point ${hex(rawEntry)} is not inside any loadable segment`);
}

/** Walks the notes in [offset, offset+size) for Xen's PHYS32_ENTRY. */
function findPvhEntry(r: ImageReader, offset: number, size: number): number | undefined {
  const end = offset + size;
  let p = offset;
  const align4 = (n: number): number => n + ((4 - (n % 4)) % 4);
  while (end - p >= 12) {
    const namesz = r.u32(p, 'note namesz');
    const descsz = r.u32(p + 4, 'note descsz');
    const type = r.u32(p + 8, 'note type');
    const nameAt = p + 12;
    const descAt = nameAt + align4(namesz);
    const next = descAt + align4(descsz);
    if (next > end || next <= p) throw new BootError(`${r.what}: ELF note at ${hex(p)} runs past its segment`);
    const name = r.slice(nameAt, namesz, 'note name');
    if (type === XEN_ELFNOTE_PHYS32_ENTRY && namesz === 4 && name[0] === 0x58 && name[1] === 0x65 && name[2] === 0x6e && name[3] === 0) {
      let value: bigint;
      if (descsz === 4) value = BigInt(r.u32(descAt, 'PVH entry note'));
      else if (descsz === 8) value = r.u64Big(descAt, 'PVH entry note');
      else throw new BootError(`${r.what}: XEN_ELFNOTE_PHYS32_ENTRY has a ${descsz}-byte value`);
      if (value >= 1n << 32n) throw new BootError(`${r.what}: PVH entry ${hex(value)} is not a 32-bit address`);
      return Number(value);
    }
    p = next;
  }
  return undefined;
}
