// Where tsvmm's built artefacts live, outside the work tree: the default
// guest (tools/guest), passt (tools/passt), the L1 (tools/nested), the
// helper's code cache (tools/build/run-bundle.cjs).
import { homedir } from 'node:os';
import { join } from 'node:path';

export function tsvmmCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TSVMM_CACHE ?? join(homedir(), '.cache', 'tsvmm');
}
