// A raw image for the disk benchmarks: fully allocated, non-zero contents
// (reads hit data, in the host's page cache, rather than holes), synced, in a
// temporary directory of its own.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function scratchImage(mib: number, prefix: string): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, 'disk.img');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < mib; i++) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  execFileSync('sync');
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
