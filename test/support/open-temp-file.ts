// A file with `content` in a fresh temporary directory, opened with `flags`;
// `cleanup` gets what closes it and removes the directory.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function openTempFile(content: string | Uint8Array, flags: string, cleanup: (() => void)[]): number {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-file-'));
  writeFileSync(join(dir, 'f'), content);
  const fd = openSync(join(dir, 'f'), flags);
  cleanup.push(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true });
  });
  return fd;
}
