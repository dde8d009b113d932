// Fuzz target: the boot image parsers (src/boot/). Inputs are mutations (the
// hostile-image tests' byte mutator, aimed at headers) of well-formed
// synthetic kernels: an ELF vmlinux, bzImages with gzip/xz/lz4/zstd payloads
// (the formats whose compressor is installed), and the compressed sample
// streams straight into the decoders; plus random bytes with planted magics.
// Invariants: loadLinux and the decoders (Debian's libraries through koffi)
// throw nothing but BootError (a decoder's own RangeError or TypeError counts
// as a failure even though decompress() would wrap it), and the process
// survives (a crash in a library kills the run); all writes go through GuestMemory, so a write
// outside guest RAM would surface as a GuestMemoryError and fail; a kernel
// that loads lies in RAM above 1 MiB, its entry inside it, the initrd inside
// RAM and clear of the kernel and the loader's first megabyte; a decoder that
// succeeds returns exactly the declared size.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BootError } from '../../src/boot/boot-error.js';
import { Deadline, decodeGzip, decodeLz4Legacy, decodeXz, decodeZstd } from '../../src/boot/library-decoders.js';
import { loadLinux } from '../../src/boot/linux-loader.js';
import { DECOMPRESS_TIME_BUDGET_MS } from '../../src/boot/payload-decompressor.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { mutate } from '../../test/boot/support/mutations.js';
import { buildBzImage, cliProblem, KERNEL_COMPRESSOR_ARGS, kernelPayload, typicalVmlinux, type CliFormat } from '../../test/boot/support/synthetic-kernel.js';
import { Outcomes, check, hexPrefix, repoFile, unitInterval, type FuzzTarget, type Prng } from './harness.js';

const MiB = 1 << 20;
/** 0..48 MiB, a hole, 64..72 MiB: kernels and initrds can fall off the end or into the hole. */
const RAM = [
  { gpa: 0, size: 48 * MiB },
  { gpa: 64 * MiB, size: 8 * MiB },
];
/** The decoders called directly (decompress() would wrap anything but a BootError). */
const DECODERS: Record<string, typeof decodeXz> = { gzip: decodeGzip, xz: decodeXz, lz4: decodeLz4Legacy, zstd: decodeZstd };

type Kind = 'vmlinux' | 'bzImage' | 'stream' | 'garbage';

interface BootInput {
  kind: Kind;
  /** The seed image's name. */
  from: string;
  image: Uint8Array;
  entry: 'linux64' | 'pvh';
  initrd: number;
  /** For streams: the decoder and the size it must produce. */
  format?: string;
  size?: number;
}

interface Seed {
  name: string;
  kind: Kind;
  bytes: Uint8Array;
  hot: [number, number][];
  format?: string;
  size?: number;
}

export class BootTarget implements FuzzTarget<BootInput> {
  readonly name = 'boot';
  readonly description = 'boot image parsers: bzImage setup header, ELF vmlinux, payload decompression';
  readonly outcomes = new Outcomes();
  private readonly memory = GuestMemory.allocate(RAM);
  private readonly seeds: Seed[] = [];

  constructor() {
    const vmlinux = typicalVmlinux();
    this.seeds.push({ name: 'vmlinux', kind: 'vmlinux', bytes: vmlinux, hot: [[0, 64], [64, 64 + 3 * 56], [64 + 3 * 56, 0x300]] });
    for (const format of ['gzip', 'xz', 'lz4', 'zstd'] as const) {
      if (format !== 'gzip' && cliProblem(KERNEL_COMPRESSOR_ARGS[format as CliFormat][0]) !== undefined) continue;
      const payload = kernelPayload(format, vmlinux);
      const image = buildBzImage({ payload, initSize: 8 * MiB });
      const p = 5 * 512 + 0x200;
      this.seeds.push({ name: `bzImage/${format}`, kind: 'bzImage', bytes: image, hot: [[0x1f0, 0x270], [p, p + 64], [p, p + payload.length], [p + payload.length - 16, p + payload.length]] });
    }
    const fixtures = repoFile('test/boot/fixtures');
    const size = readFileSync(join(fixtures, 'sample.bin')).length;
    for (const [file, format] of [['sample.gz', 'gzip'], ['sample.kernel.xz', 'xz'], ['sample.crc64.xz', 'xz'], ['sample.sha256-blocks.xz', 'xz'], ['sample.nocheck.xz', 'xz'], ['sample.lz4', 'lz4'], ['sample.zst', 'zstd']] as const) {
      const bytes = new Uint8Array(readFileSync(join(fixtures, file)));
      this.seeds.push({ name: file, kind: 'stream', bytes, hot: [[0, 64], [0, bytes.length], [bytes.length - 32, bytes.length]], format, size });
    }
  }

  generate(rng: Prng): BootInput {
    const entry = rng.chance(0.3) ? 'pvh' : 'linux64';
    const initrd = rng.chance(0.3) ? rng.pick([1, 4096, 3 * MiB, 20 * MiB]) : 0;
    if (rng.chance(0.05)) {
      const image = rng.fill(new Uint8Array(rng.below(9000)));
      const plant = rng.below(3);
      if (plant === 0 && image.length > 0x210) {
        image[0x1fe] = 0x55;
        image[0x1ff] = 0xaa;
        image.set([0x48, 0x64, 0x72, 0x53], 0x202);
      } else if (plant === 1 && image.length > 64) image.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
      return { kind: 'garbage', from: 'random bytes', image, entry, initrd };
    }
    const seed = rng.pick(this.seeds);
    const rnd = unitInterval(rng);
    let image = seed.bytes;
    for (let n = rng.chance(0.8) ? 1 : rng.range(2, 4); n > 0; n--) image = mutate(image, rnd, seed.hot);
    return { kind: seed.kind, from: seed.name, image, entry, initrd, format: seed.format, size: seed.size };
  }

  describe(input: BootInput): string {
    const { image, ...rest } = input;
    return `${JSON.stringify(rest)}, image of ${image.length} bytes starting ${hexPrefix(image, 64)} (the whole image: regenerate it with --case)`;
  }

  execute(input: BootInput): void {
    if (input.kind === 'stream') return this.decode(input);
    let loaded;
    try {
      loaded = loadLinux(this.memory, { kernel: input.image, cmdline: 'console=ttyS0', entry: input.entry, initrd: input.initrd ? new Uint8Array(input.initrd) : undefined });
    } catch (e) {
      if (e instanceof BootError) {
        this.outcomes.add(`${input.kind}: refused`);
        return;
      }
      throw e;
    }
    this.outcomes.add(`${input.kind}: loaded`);
    const inRam = (gpa: number, size: number) => this.memory.view(gpa, size) !== undefined;
    const k = loaded.kernelRange;
    check(k.gpa >= MiB && inRam(k.gpa, k.size), `kernel at ${k.gpa}+${k.size} is not in RAM above 1 MiB`);
    if (loaded.entry === 'linux64') check(loaded.entryPoint >= k.gpa && loaded.entryPoint < k.gpa + k.size, `entry ${loaded.entryPoint} outside the kernel ${k.gpa}+${k.size}`);
    else check(loaded.pvhEntryPoint !== undefined && loaded.pvhEntryPoint >= k.gpa && loaded.pvhEntryPoint < k.gpa + k.size, `PVH entry ${loaded.pvhEntryPoint} outside the kernel`);
    const i = loaded.initrdRange;
    if (input.initrd) {
      check(i !== undefined && i.size === input.initrd, 'initrd not placed');
      check(inRam(i.gpa, i.size) && i.gpa >= MiB, `initrd at ${i.gpa}+${i.size} is not in RAM above 1 MiB`);
      check(i.gpa >= k.gpa + k.size || i.gpa + i.size <= k.gpa, 'initrd overlaps the kernel');
    }
  }

  private decode(input: BootInput): void {
    const size = input.size!;
    let out: Uint8Array;
    try {
      out = DECODERS[input.format!](input.image, size, new Deadline(input.format!, DECOMPRESS_TIME_BUDGET_MS));
    } catch (e) {
      if (e instanceof BootError) {
        this.outcomes.add(`${input.format}: refused`);
        return;
      }
      throw e;
    }
    this.outcomes.add(`${input.format}: decoded`);
    check(out.length === size, `${input.format} decoded ${out.length} bytes, ${size} declared`);
  }

  close(): void {
    this.memory.release();
  }
}
