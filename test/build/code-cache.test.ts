// The code caches npm run build makes (tools/build/code-cache.ts, run-bundle.cjs):
// every entry point starts with its own, and a cache that is stale, damaged
// or made under other flags is never used wrongly: the bundle then runs as it
// would without one. Node's own built-in cache must be taken too: a V8 flag
// on a process would make V8 reject it (entry-points.ts). Reads dist/ (npm
// test builds it first).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLE_DIR, HELPER_EARLY_BUNDLE, bundleCodeFile, bundleFile, codeCacheFile, type EntryPoint } from '../../src/entry-points.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { stampBuildId } from '../../tools/build/code-cache.js';

const REPORT = { ...process.env, TSVMM_CODE_CACHE_REPORT: '1', TSVMM_NO_CODE_CACHE: '' };
/** The same, and node says on stderr which of its own modules' caches V8 rejected. */
const REPORT_WITH_NODES = { ...REPORT, NODE_DEBUG_NATIVE: 'CODE_CACHE' };

function runNode(args: readonly string[], env: NodeJS.ProcessEnv = REPORT): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** How each entry point is started for the check: as its launcher starts it, with nothing to do. */
function startAlone(name: EntryPoint, stub = bundleFile(name)): string[] {
  if (name !== 'vcpu-worker') return [stub, ...(name === 'tsvmm' ? ['--version'] : [])];
  // A vCPU thread is a Worker in the helper: started in a process which
  // ends once the thread has said which cache it took.
  const worker = `
    const w = new (require('node:worker_threads').Worker)(${JSON.stringify(stub)}, { stderr: true });
    w.stderr.on('data', (d) => { process.stderr.write(d); if (/code cache/.test(d)) process.exit(0); });`;
  return ['-e', worker];
}

describe('code caches', () => {
  it("are used by every entry point, and node's own with them", () => {
    for (const name of ['tsvmm', 'helper', 'vcpu-worker', 'device-process'] as const) {
      const { stderr } = runNode(startAlone(name), REPORT_WITH_NODES);
      // The helper's stub runs a small bundle first, which has no cache (entry-points.ts).
      const first = name === 'helper' ? [`code cache ${HELPER_EARLY_BUNDLE}: none`] : [];
      expect({ name, rejected: stderr.match(/.* is rejected/g), report: stderr.match(/^code cache .*/gm) }).toEqual({ name, rejected: null, report: [...first, `code cache ${name}: used`] });
    }
  });

  // A copy of the CLI's bundle beside dist/bundle (its relative paths to node_modules hold).
  const copy = mkdtempSync(join(PROJECT_ROOT, 'dist', 'code-cache-test-'));
  afterAll(() => rmSync(copy, { recursive: true, force: true }));
  for (const file of [join(BUNDLE_DIR, 'run-bundle.cjs'), bundleFile('tsvmm'), bundleCodeFile('tsvmm')]) copyFileSync(file, join(copy, basename(file)));
  const cache = join(copy, basename(codeCacheFile('tsvmm')));
  const good = readFileSync(codeCacheFile('tsvmm'));
  const runCopy = (nodeArgs: string[] = []) => runNode([...nodeArgs, join(copy, 'tsvmm.cjs'), '--version']);
  const expected = { status: 0, stdout: `${JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')).version}\n` };

  it('is taken only by the build it was made with, whole and under the same flags', () => {
    const cases: [string, Buffer, string[], string][] = [
      ['as built', good, [], 'used'],
      ['from another build', Buffer.concat([Buffer.from('0'.repeat(64)), good.subarray(64)]), [], 'none'],
      // V8 does not check its data: a damaged cache would abort the process.
      ['damaged', Buffer.from(good.map((b, i) => (i > good.length / 2 && i < good.length / 2 + 64 ? b ^ 0x5a : b))), [], 'none'],
      ['cut short', good.subarray(0, good.length >> 1), [], 'none'],
      ['under other V8 flags', good, ['--max-semi-space-size=1'], 'rejected'],
    ];
    for (const [what, contents, nodeArgs, verdict] of cases) {
      writeFileSync(cache, contents);
      const r = runCopy(nodeArgs);
      expect({ what, status: r.status, stdout: r.stdout, report: r.stderr.trim() }).toEqual({ what, ...expected, report: `code cache tsvmm: ${verdict}` });
    }
    rmSync(cache);
    expect(runCopy()).toEqual({ ...expected, stderr: 'code cache tsvmm: none\n' });
  });

  // The user's cache (run-bundle.cjs, TSVMM_CODE_CACHE_DIR): a bundle of
  // the test's own, beside a copy of the loader, that says which cache it
  // took and, with KEEP=1, asks for the user's to be written.
  it("is the user's too: written where the process did not start from it, then taken", () => {
    const dir = mkdtempSync(join(PROJECT_ROOT, 'dist', 'user-cache-test-'));
    try {
      copyFileSync(join(BUNDLE_DIR, 'run-bundle.cjs'), join(dir, 'run-bundle.cjs'));
      writeFileSync(join(dir, 'probe.cjs'), "require('./run-bundle.cjs')('probe');\n");
      const body = `function work(n) { let s = 0; for (let i = 0; i < n; i++) s += i; return s; }
const cache = globalThis[Symbol.for('tsvmm.codeCache')];
process.stdout.write(JSON.stringify({ took: cache.took, work: work(10), kept: process.env.KEEP ? cache.keep(process.env.KEEP.split(',')) : undefined }));
`;
      writeFileSync(join(dir, 'probe.code.cjs'), stampBuildId(body));
      const userDir = join(dir, 'user');
      const run = (env: Record<string, string> = {}) => {
        const r = runNode([join(dir, 'probe.cjs')], { ...process.env, TSVMM_NO_CODE_CACHE: '', ...env });
        expect(r.stderr).toBe('');
        return JSON.parse(r.stdout) as { took: string; kept?: { written?: string; bytes?: number; error?: string } };
      };
      // The build's cache, made as the build makes it.
      expect(run({ TSVMM_WRITE_CODE_CACHE: 'probe' }).took).toBe('none');
      expect(run({ KEEP: 'a' })).toEqual({ took: 'build', work: 45 });
      const userCache = join(userDir, 'probe.v8-cache');
      const written = { written: userCache, bytes: expect.any(Number) };
      expect(run({ TSVMM_CODE_CACHE_DIR: userDir, KEEP: 'b,a' })).toEqual({ took: 'build', work: 45, kept: { ...written, kinds: 'a,b' } });
      expect(statSync(userCache).mode & 0o777).toBe(0o600);
      // Taken by a process of the kinds it was made by, and kept as it is.
      expect(run({ TSVMM_CODE_CACHE_DIR: userDir, KEEP: 'a' })).toEqual({ took: 'user', work: 45 });
      // Taken by another kind too, which writes it again for all three.
      expect(run({ TSVMM_CODE_CACHE_DIR: userDir, KEEP: 'c' })).toEqual({ took: 'user', work: 45, kept: { ...written, kinds: 'a,b,c' } });
      expect(run({ TSVMM_CODE_CACHE_DIR: userDir, KEEP: 'c,b' })).toEqual({ took: 'user', work: 45 });
      // One from another build is not taken, and is written again.
      const cache = readFileSync(userCache);
      writeFileSync(userCache, Buffer.concat([Buffer.from('0'.repeat(64)), cache.subarray(64)]));
      expect(run({ TSVMM_CODE_CACHE_DIR: userDir, KEEP: 'a' })).toEqual({ took: 'build', work: 45, kept: { ...written, kinds: 'a' } });
      expect(run({ TSVMM_CODE_CACHE_DIR: userDir })).toEqual({ took: 'user', work: 45 });
      expect(run({ TSVMM_CODE_CACHE_DIR: userDir, KEEP: 'b', TSVMM_NO_CODE_CACHE: '1' })).toEqual({ took: 'none', work: 45 });
      // More kinds than the header can list: a cache for any kind.
      const many = Array.from({ length: 40 }, (_, i) => `kind-${i}`).join(',');
      expect(run({ TSVMM_CODE_CACHE_DIR: userDir, KEEP: many })).toMatchObject({ kept: { kinds: '*' } });
      expect(run({ TSVMM_CODE_CACHE_DIR: userDir, KEEP: 'z' })).toEqual({ took: 'user', work: 45 });
      // A directory it cannot make: the run goes on, and says why.
      writeFileSync(join(dir, 'a-file'), '');
      expect(run({ TSVMM_CODE_CACHE_DIR: join(dir, 'a-file', 'sub'), KEEP: 'a' })).toMatchObject({ took: 'build', kept: { error: expect.stringMatching(/ENOTDIR/) } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
