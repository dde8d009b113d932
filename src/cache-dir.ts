// Where tsvmm's built artefacts live, outside the work tree: the default
// guest (tools/guest), passt (tools/passt), the L1 (tools/nested).
import { homedir } from 'node:os';
import { join } from 'node:path';

export function tsvmmCacheDir(): string {
  return process.env.TSVMM_CACHE ?? join(homedir(), '.cache', 'tsvmm');
}
