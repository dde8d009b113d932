// Compiles the sandbox modules (and the ffi files they import) to JavaScript so
// that a spawned `node` (which cannot import .ts) can load them. The output goes
// under node_modules/.cache so the compiled files still resolve `koffi`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function buildSandboxForTests(): string {
  const outDir = path.join(REPO, 'node_modules', '.cache', 'tsvmm-sandbox-test');
  const entries = ['jail.ts', 'jail-launch.ts', 'seccomp-audit.ts', 'helper-policy.ts', 'device-process-policy.ts', 'seccomp-compiler.ts'].map((f) =>
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

/**
 * What a jailed child loads — the fixtures, the compiled sandbox (`build`) and
 * koffi with its native package — copied to a world-readable temporary
 * folder, laid out as in the checkout so that `koffi` resolves the same way.
 * The unprivileged runs (uid 65534) need that: a checkout under a `mktemp -d`
 * folder (mode 0700), as CI's is, cannot be reached by other users. Every run
 * uses the copy, so the path CI takes is the one tested everywhere.
 */
export function sandboxTreeOthersCanRead(build: string): { root: string; build: string; remove: () => void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-jail-tree-'));
  fs.chmodSync(root, 0o755);
  // koffi's native module comes in a package of its own (@koromix/koffi-linux-x64).
  const koffi = ['koffi', '@koromix'].map((name) => path.join('node_modules', name)).filter((p) => fs.existsSync(path.join(REPO, p)));
  for (const part of [path.join('test', 'sandbox', 'fixtures'), ...koffi, path.relative(REPO, path.join(build, '..', '..'))]) {
    fs.cpSync(path.join(REPO, part), path.join(root, part), { recursive: true });
  }
  for (let d = path.join(root, 'node_modules', '.cache'); d !== root; d = path.dirname(d)) fs.chmodSync(d, 0o755);
  return { root, build: path.join(root, path.relative(REPO, build)), remove: () => fs.rmSync(root, { recursive: true, force: true }) };
}
