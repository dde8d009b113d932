// Kernel payload decompression: decompress() from src/boot against the Debian
// CLI tools on the same stream, in the same run. Needs no KVM.
//
// The input is a real distro kernel: the payload of Debian's cloud kernel
// (linux-image-cloud-amd64, LZ4 as Debian ships it), and the same vmlinux
// recompressed with the kernel build's own command lines for gzip, xz and
// zstd (Ubuntu ships zstd). Fetched with apt-get and made once, then cached in
// ~/.cache/tsvmm/bench/kernel-payload (TSVMM_CACHE moves it; delete the
// folder to take a newer kernel).
//
// tsvmm's time is one decompress() call on the bare stream (in this process,
// the output buffer allocated inside); the CLI's is `TOOL -dc < stream >
// /dev/null`, process start included, which favours the CLI a little (its
// output goes nowhere and it reuses one small buffer).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { decompress } from '../../src/boot/payload-decompressor.js';
import { detectPayloadFormat, type PayloadFormat } from '../../src/boot/payload-format.js';
import { parseBzImageHeader } from '../../src/boot/setup-header.js';
import { median } from './process-timing.js';

export const DECOMPRESSION_FORMATS = ['lz4', 'gzip', 'xz', 'zstd'] as const;
type Format = (typeof DECOMPRESSION_FORMATS)[number];

/** The CLI that decompresses each format, and the kernel build's command line that compressed it (scripts/Makefile.lib, scripts/xz_wrap.sh). */
const TOOLS: Record<Format, { cli: string; compress: string[] }> = {
  lz4: { cli: 'lz4', compress: ['-l', '-9', '-c'] },
  gzip: { cli: 'gzip', compress: ['-n', '-9', '-c'] },
  xz: { cli: 'xz', compress: ['--check=crc32', '--x86', '--lzma2=,dict=32MiB', '-c'] },
  zstd: { cli: 'zstd', compress: ['-22', '--ultra', '-c', '-q'] },
};
/** Bumped when what the cache holds changes. */
const CACHE_SCHEMA = 1;
const META_FILE = 'payload.json';
const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';

interface PayloadSet {
  kernelPackage: string;
  version: string;
  /** Format the distro shipped the payload in. */
  shipped: PayloadFormat;
  /** Decompressed size (the vmlinux), bytes. */
  size: number;
  sha256: string;
  streams: Record<Format, { file: string; bytes: number }>;
  schema: number;
}

export interface DecompressionRow {
  format: Format;
  streamBytes: number;
  /** decompress(), ms (median). */
  tsvmmMs: number;
  /** The first decompress() of the format in this process (the library opened, code not yet warm): what a VM start pays. */
  firstMs: number;
  /** The CLI, ms (median), process start included. */
  cliMs: number;
  ratio: number;
  samples: { tsvmm: number[]; cli: number[] };
}

export interface DecompressionResult {
  kernel: string;
  shipped: PayloadFormat;
  size: number;
  rows: DecompressionRow[];
}

function cacheDir(): string {
  return join(process.env.TSVMM_CACHE ?? join(homedir(), '.cache', 'tsvmm'), 'bench', 'kernel-payload');
}

function sh(cmd: string, args: string[], options: { cwd?: string; input?: Uint8Array } = {}): Buffer {
  return execFileSync(cmd, args, { cwd: options.cwd, input: options.input, maxBuffer: 1 << 30, stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
}

/** The cached payloads, made on first use (apt-get download of Debian's cloud kernel, a minute of compressing). */
export function kernelPayloads(log: (line: string) => void): PayloadSet & { dir: string } {
  const dir = cacheDir();
  const metaPath = join(dir, META_FILE);
  if (existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as PayloadSet;
    if (meta.schema === CACHE_SCHEMA && DECOMPRESSION_FORMATS.every((f) => existsSync(join(dir, meta.streams[f].file)))) return { ...meta, dir };
  }
  for (const { cli } of Object.values(TOOLS))
    if (spawnSync(cli, ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error(`the ${cli} CLI is missing (apt-get install lz4 gzip xz-utils zstd)`);
  mkdirSync(dir, { recursive: true });
  const depends = sh('apt-cache', ['depends', KERNEL_META_PACKAGE]).toString();
  const kernelPackage = /Depends: (linux-image-[0-9][^\s]*)/.exec(depends)?.[1];
  if (!kernelPackage) throw new Error(`apt-cache knows no ${KERNEL_META_PACKAGE} (a Debian with its main archive; apt-get update?)`);
  const version = /Candidate: (\S+)/.exec(sh('apt-cache', ['policy', kernelPackage]).toString())?.[1] ?? '?';
  const work = mkdtempSync(join(dir, 'make-'));
  try {
    log(`[decompress bench] apt-get download ${kernelPackage} (${version})`);
    sh('apt-get', ['download', `${kernelPackage}=${version}`], { cwd: work });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${kernelPackage} left no .deb`);
    sh('dpkg-deb', ['-x', deb, 'root'], { cwd: work });
    const vmlinuz = readdirSync(join(work, 'root', 'boot')).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error(`${deb} has no /boot/vmlinuz-*`);
    const image = new Uint8Array(readFileSync(join(work, 'root', 'boot', vmlinuz)));
    const header = parseBzImageHeader(image);
    const payload = image.subarray(header.payloadFileOffset, header.payloadFileOffset + header.payloadLength);
    const shipped = detectPayloadFormat(payload);
    if (!(DECOMPRESSION_FORMATS as readonly PayloadFormat[]).includes(shipped)) throw new Error(`${vmlinuz}: payload is ${shipped}`);
    const size = new DataView(payload.buffer, payload.byteOffset + payload.length - 4).getUint32(0, true);
    // The bare stream: the kernel build appends the size (gzip's ISIZE is its own).
    const shippedStream = shipped === 'gzip' ? payload : payload.subarray(0, payload.length - 4);
    // The reference vmlinux comes from the distro's own tool, not from the code under test.
    const vmlinux = sh(TOOLS[shipped as Format].cli, ['-dc'], { input: shippedStream });
    if (vmlinux.length !== size) throw new Error(`${TOOLS[shipped as Format].cli} -dc gave ${vmlinux.length} bytes, the trailer says ${size}`);
    const streams = {} as PayloadSet['streams'];
    for (const format of DECOMPRESSION_FORMATS) {
      const file = `vmlinux.${format}`;
      log(`[decompress bench] ${format === shipped ? 'keeping the shipped' : 'compressing'} ${format} stream`);
      const stream = format === shipped ? shippedStream : sh(TOOLS[format].cli, TOOLS[format].compress, { input: vmlinux });
      writeFileSync(join(dir, file), stream);
      streams[format] = { file, bytes: stream.length };
    }
    const meta: PayloadSet = { kernelPackage, version, shipped, size, sha256: sha256(vmlinux), streams, schema: CACHE_SCHEMA };
    writeFileSync(`${metaPath}.tmp`, JSON.stringify(meta, null, 2));
    renameSync(`${metaPath}.tmp`, metaPath);
    return { ...meta, dir };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function timeCli(cli: string, path: string): number {
  const input = openSync(path, 'r');
  const output = openSync('/dev/null', 'w');
  try {
    const started = performance.now();
    const r = spawnSync(cli, ['-dc'], { stdio: [input, output, 'pipe'] });
    const ms = performance.now() - started;
    if (r.status !== 0) throw new Error(`${cli} -dc ${path} failed: ${r.stderr.toString().trim()}`);
    return ms;
  } finally {
    closeSync(input);
    closeSync(output);
  }
}

/** Times decompress() and each CLI on the same streams, alternating, `rounds` times each after one warm-up (reported apart). */
export function measureDecompression(rounds: number, log: (line: string) => void = (l) => console.error(l)): DecompressionResult {
  const set = kernelPayloads(log);
  const rows: DecompressionRow[] = [];
  for (const format of DECOMPRESSION_FORMATS) {
    const path = join(set.dir, set.streams[format].file);
    const stream = new Uint8Array(readFileSync(path));
    const first = performance.now();
    const out = decompress(format, stream, set.size); // warm-up, and the check that it is right
    const firstMs = performance.now() - first;
    if (sha256(out) !== set.sha256) throw new Error(`decompress(${format}) did not give the kernel's vmlinux`);
    timeCli(TOOLS[format].cli, path);
    const samples = { tsvmm: [] as number[], cli: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      const started = performance.now();
      decompress(format, stream, set.size);
      samples.tsvmm.push(performance.now() - started);
      samples.cli.push(timeCli(TOOLS[format].cli, path));
    }
    const tsvmmMs = median(samples.tsvmm);
    const cliMs = median(samples.cli);
    rows.push({ format, streamBytes: stream.length, tsvmmMs, firstMs, cliMs, ratio: tsvmmMs / cliMs, samples });
  }
  return { kernel: `${set.kernelPackage} ${set.version}`, shipped: set.shipped, size: set.size, rows };
}
