// What the 9p server reads from the kernel itself: directory entries
// (src/p9/p9-directory-entries.ts) and statx attributes (p9-host-stat.ts).
// The struct layouts, checked against the C headers with a compiled probe,
// and what is read, checked against Node's own view of the same files.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { DIRENT64, entryTypeAndInode, readDirectory } from '../../src/p9/p9-directory-entries.js';
import { STATX, TV_NSEC } from '../../src/p9/p9-host-stat.js';
import { findCCompiler } from '../support/c-compiler.js';
import { probeC, type CCheck } from '../support/c-probe.js';
import { describeNeeding } from '../support/host-requirements.js';

const checks: CCheck[] = [
  ...Object.entries(DIRENT64).map(([field, offset]): CCheck => [`dirent64.${field}`, `offsetof(struct dirent64, ${field})`, offset]),
  ...Object.entries(STATX).map(([field, offset]): CCheck => [`statx.${field}`, field === 'size' ? 'sizeof(struct statx)' : `offsetof(struct statx, ${field})`, offset]),
  ['statx_timestamp.tv_nsec', 'offsetof(struct statx_timestamp, tv_nsec)', TV_NSEC],
];

const cc = findCCompiler();
describeNeeding(cc ? undefined : 'no C compiler on PATH', 'the getdents64 and statx layouts match the C headers', () => {
  const values = cc ? probeC(cc, ['dirent.h', 'sys/stat.h'], checks, ['#define _GNU_SOURCE']) : new Map<string, number>();
  for (const [name, , expected] of checks) it(name, () => expect(values.get(name)).toBe(expected));
});

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-dirents-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('reads every entry with its inode and type, as lstat sees them, and again from the start', () => {
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.writeFileSync(path.join(dir, 'file'), 'x');
  fs.symlinkSync('file', path.join(dir, 'link'));
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  const names = Array.from({ length: 600 }, (_, i) => `long-name-${i}-${'y'.repeat(i % 50)}-é`);
  for (const name of names) fs.writeFileSync(path.join(dir, name), '');
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    for (let pass = 0; pass < 2; pass++) {
      const entries = readDirectory(fd);
      expect(entries.map((e) => e.name).sort()).toEqual(['.', '..', ...fs.readdirSync(dir)].sort());
      for (const e of entries) {
        const stats = fs.lstatSync(path.join(dir, e.name), { bigint: true });
        expect(e.ino, e.name).toBe(stats.ino);
        if (e.type !== 0) expect(e.type, e.name).toBe(Number(stats.mode >> 12n) & 0o17);
        expect(entryTypeAndInode(fd, e.name), e.name).toEqual({ type: Number(stats.mode >> 12n) & 0o17, ino: stats.ino });
      }
    }
    expect(() => entryTypeAndInode(fd, 'missing')).toThrow(expect.objectContaining({ errno: os.constants.errno.ENOENT }));
  } finally {
    fs.closeSync(fd);
  }
});
