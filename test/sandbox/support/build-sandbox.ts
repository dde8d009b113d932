// Compiles the sandbox modules (and the ffi files they import) to JavaScript so
// that a spawned `node` (which cannot import .ts) can load them. The output goes
// under node_modules/.cache so the compiled files still resolve `koffi`.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function buildSandboxForTests(): string {
  const outDir = path.join(REPO, 'node_modules', '.cache', 'tsvmm-sandbox-test');
  const entries = ['jail.ts', 'jail-launch.ts', 'seccomp-audit.ts', 'helper-policy.ts', 'seccomp-compiler.ts'].map((f) =>
    path.join(REPO, 'src', 'sandbox', f),
  );
  execFileSync(
    path.join(REPO, 'node_modules', '.bin', 'tsc'),
    [
      '--ignoreConfig', '--outDir', outDir, '--rootDir', REPO, '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--target', 'es2022', '--strict', '--esModuleInterop', '--skipLibCheck', '--types', 'node', ...entries,
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return path.join(outDir, 'src', 'sandbox');
}
