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

/** True when every folder from `dir` up lets other users through (a clone under a `mktemp -d` folder, mode 0700, does not). */
export function othersCanReach(dir: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    if ((fs.statSync(d).mode & 0o001) === 0) return false;
    if (path.dirname(d) === d) return true;
  }
}

/**
 * What a jailed child loads — the fixtures, the compiled sandbox (`build`) and
 * koffi — in a tree that the unprivileged user (65534) can read: the checkout
 * itself where others can reach it, else a copy in a world-readable temporary
 * folder, laid out the same way so that `koffi` resolves from both.
 */
export function sandboxTreeOthersCanRead(build: string): { root: string; build: string; remove: () => void } {
  if (othersCanReach(REPO)) return { root: REPO, build, remove: () => {} };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-jail-tree-'));
  fs.chmodSync(root, 0o755);
  for (const part of [path.join('test', 'sandbox', 'fixtures'), path.join('node_modules', 'koffi'), path.relative(REPO, path.join(build, '..', '..'))]) {
    fs.cpSync(path.join(REPO, part), path.join(root, part), { recursive: true });
  }
  for (let d = path.join(root, 'node_modules', '.cache'); d !== root; d = path.dirname(d)) fs.chmodSync(d, 0o755);
  return { root, build: path.join(root, path.relative(REPO, build)), remove: () => fs.rmSync(root, { recursive: true, force: true }) };
}
