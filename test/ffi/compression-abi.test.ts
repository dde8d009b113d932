// Checks ffi/compression.ts against <lzma.h>, <zlib.h>, <zstd.h> and <lz4.h>
// (Debian's liblzma-dev, zlib1g-dev, libzstd-dev, liblz4-dev; .ci/run
// installs them) by compiling a probe that prints every struct layout and
// constant the bindings declare; and that each library loads and answers.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as c from '../../ffi/compression.js';
import { findCCompiler } from '../support/c-compiler.js';
import { describeNeeding } from '../support/host-requirements.js';

const HEADERS = ['lzma.h', 'zlib.h', 'zstd.h', 'zstd_errors.h', 'lz4.h'];
const cc = findCCompiler();
const missing = HEADERS.filter((h) => !existsSync(join('/usr/include', h)));
const problem = !cc ? 'no C compiler on PATH' : missing.length ? `missing ${missing.join(', ')} (apt-get install liblzma-dev zlib1g-dev libzstd-dev liblz4-dev)` : undefined;

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-compression-abi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** C expressions, each printed under its name. */
function facts(): Record<string, string> {
  const f: Record<string, string> = {};
  for (const [type, layout] of [
    ['lzma_stream', c.LZMA_STREAM],
    ['lzma_allocator', c.LZMA_ALLOCATOR],
    ['z_stream', c.Z_STREAM],
  ] as const) {
    f[`${type} sizeof`] = `sizeof(${type})`;
    for (const field of Object.keys(layout.offsets)) f[`${type} ${field}`] = `offsetof(${type}, ${field})`;
  }
  for (const name of [...Object.keys(c.LZMA_RET), 'LZMA_RUN', 'LZMA_FINISH', 'LZMA_CONCATENATED']) f[name] = name;
  for (const name of [...Object.keys(c.Z_RET), 'Z_NO_FLUSH']) f[name] = name;
  for (const name of ['ZSTD_d_windowLogMax', 'ZSTD_d_stableOutBuffer', 'ZSTD_WINDOWLOG_MAX_64', 'ZSTD_error_dstSize_tooSmall', 'ZSTD_error_maxCode', 'LZ4_MAX_INPUT_SIZE']) f[name] = name;
  f['LZ4_COMPRESSBOUND(8 MiB)'] = 'LZ4_COMPRESSBOUND(8 << 20)';
  return f;
}

function probe(): Map<string, number> {
  const exprs = facts();
  const lines = ['#define ZSTD_STATIC_LINKING_ONLY', '#include <stdio.h>', '#include <stddef.h>', ...HEADERS.map((h) => `#include <${h}>`), 'int main(void) {'];
  for (const [name, expr] of Object.entries(exprs)) lines.push(`printf("%s=%lld\\n", "${name}", (long long)(${expr}));`);
  lines.push('return 0; }');
  writeFileSync(join(dir, 'probe.c'), lines.join('\n'));
  execFileSync(cc!, ['-o', join(dir, 'probe'), join(dir, 'probe.c')]);
  const out = execFileSync(join(dir, 'probe'), { encoding: 'utf8' });
  return new Map(out.trim().split('\n').map((line) => [line.slice(0, line.lastIndexOf('=')), Number(line.slice(line.lastIndexOf('=') + 1))]));
}

describeNeeding(problem, 'compression bindings match the C headers', () => {
  const found = problem ? new Map<string, number>() : probe();
  const check = (name: string, value: number) => expect([name, found.get(name)]).toEqual([name, value]);

  it('struct layouts', () => {
    for (const [type, layout] of [
      ['lzma_stream', c.LZMA_STREAM],
      ['lzma_allocator', c.LZMA_ALLOCATOR],
      ['z_stream', c.Z_STREAM],
    ] as const) {
      check(`${type} sizeof`, layout.size);
      for (const [field, offset] of Object.entries(layout.offsets)) check(`${type} ${field}`, offset);
    }
  });

  it('constants', () => {
    for (const [name, value] of Object.entries(c.LZMA_RET)) check(name, value);
    for (const [name, value] of Object.entries(c.Z_RET)) check(name, value);
    check('LZMA_RUN', c.LZMA_RUN);
    check('LZMA_FINISH', c.LZMA_FINISH);
    check('LZMA_CONCATENATED', c.LZMA_CONCATENATED);
    check('Z_NO_FLUSH', c.Z_NO_FLUSH);
    check('ZSTD_d_windowLogMax', c.ZSTD_d_windowLogMax);
    check('ZSTD_d_stableOutBuffer', c.ZSTD_d_stableOutBuffer);
    check('ZSTD_WINDOWLOG_MAX_64', c.ZSTD_WINDOWLOG_MAX_64);
    check('ZSTD_error_dstSize_tooSmall', c.ZSTD_error_dstSize_tooSmall);
    check('ZSTD_error_maxCode', c.ZSTD_error_maxCode);
    check('LZ4_MAX_INPUT_SIZE', c.LZ4_MAX_INPUT_SIZE);
    check('LZ4_COMPRESSBOUND(8 MiB)', c.lz4CompressBound(8 << 20));
  });
});

describe('compression libraries load', () => {
  it('liblz4, libzstd, liblzma and zlib answer with their versions', () => {
    expect(c.lz4().versionNumber()).toBeGreaterThanOrEqual(10904); // 1.9.4, Debian 12
    expect(c.zstd().versionNumber()).toBeGreaterThanOrEqual(10500); // stable-output streaming needs 1.4.4+; Debian 12 has 1.5.4
    expect(c.lzma().versionNumber()).toBeGreaterThanOrEqual(50020002); // 5.2.x
    expect(c.zlib().zlibVersion()).toMatch(/^1\./);
  });
});
