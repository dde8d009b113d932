// Folders for test disk images that the tests open with O_DIRECT (cache=none).
// os.tmpdir() may be tmpfs, which has no O_DIRECT: then the images go under
// the checkout's .cache/ (git-ignored), which is on a disk.
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';

function supportsDirectIo(dir: string): boolean {
  const probe = mkdtempSync(join(dir, 'tsvmm-odirect-'));
  try {
    closeSync(openSync(join(probe, 'probe'), constants.O_RDWR | constants.O_CREAT | constants.O_DIRECT));
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

let base: string | undefined;

/** A new, empty folder on a file system where O_DIRECT works. */
export function diskScratchDir(prefix: string): string {
  if (base === undefined) {
    base = supportsDirectIo(tmpdir()) ? tmpdir() : join(PROJECT_ROOT, '.cache', 'test-disks');
    mkdirSync(base, { recursive: true });
  }
  return mkdtempSync(join(base, prefix));
}
