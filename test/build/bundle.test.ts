// The bundles npm run build makes (tools/build): every bundled module exports
// what Node's own loader says it does, and a bundle behaves as the modules
// it was made from. Reads dist/ (npm test builds it first).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFERRED_MODULES, bundle, bundledModules } from '../../tools/build/bundle.js';
import { COMPILED_ENTRY_POINTS, TSVMM_CLI_SCRIPT, bundleFile, entryPointScript } from '../../src/entry-points.js';
import { PROJECT_ROOT } from '../../src/project-root.js';

const entries = Object.values(COMPILED_ENTRY_POINTS).map((e) => join(PROJECT_ROOT, e));

/** Each module's export names as Node's ES module loader sees them, loaded in a process of their own. */
function namespaceKeys(paths: string[]): Record<string, string[]> {
  const script = `
    const out = {};
    for (const p of JSON.parse(process.argv[1])) out[p] = Object.keys(await import(p)).sort();
    process.stdout.write(JSON.stringify(out));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(paths)], { encoding: 'utf8', timeout: 60_000 }));
}

describe('bundles', () => {
  it("export from each module exactly the names Node's loader finds in it", () => {
    const statically = new Map<string, string[] | undefined>();
    for (const entry of entries) for (const m of bundledModules(entry)) statically.set(m.path, m.exports);
    // Entry points run when imported: their exports (none) are not compared.
    const compared = [...statically.keys()].filter((p) => !entries.includes(p) && statically.get(p) !== undefined);
    expect(compared.length).toBeGreaterThan(150);
    const actual = namespaceKeys(compared);
    for (const path of compared) expect({ path, exports: statically.get(path) }).toEqual({ path, exports: actual[path] });
  }, 120_000);

  it('hold the ES modules of node_modules (yargs) and the CommonJS ones they import (pino)', () => {
    // koffi's own JavaScript is not among them: ffi/koffi.ts loads its native module at run time.
    const paths = bundledModules(entries[0]).map((m) => m.path);
    expect(paths.some((p) => p.includes('/node_modules/yargs/'))).toBe(true);
    expect(paths.some((p) => p.includes('/node_modules/pino/lib/'))).toBe(true);
  });

  it('run ES and CommonJS modules as Node does: order, defaults, cycles, module.exports, sloppy mode, paths', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bundle-'));
    try {
      const files: Record<string, string> = {
        'package.json': '{ "type": "module" }',
        'main.js': [
          `import { log } from './log.js';`,
          `import counter, { count, bump } from './counter.js';`,
          `import * as cjs from './lib/thing.cjs';`,
          `import thing from './lib/thing.cjs';`,
          `log('main');`,
          `bump(); bump();`,
          `log('count ' + count() + ' ' + counter());`,
          `log('thing ' + thing.name + ' ' + thing() + ' ' + cjs.default.name + ' ' + thing.other.cycle);`,
          `log('meta ' + new URL('./x', import.meta.url).pathname.endsWith('/x'));`,
          `log('this ' + (this === undefined));`,
        ].join('\n'),
        'log.js': `export const lines = [];\nexport function log(s) { process.stdout.write(s + '\\n'); }\nlog('log');`,
        'counter.js': `import { log } from './log.js';\nlet n = 0;\nexport function count() { return n; }\nexport function bump() { n++; }\nexport default function () { return n * 10; }\nlog('counter');`,
        'lib/thing.cjs': [
          `const other = require('./other.cjs');`,
          `const path = require('node:path');`,
          `function thing() { return 'called ' + path.basename(__filename) + ' ' + path.basename(__dirname); }`,
          `thing.other = other;`,
          `module.exports = thing;`,
          `require('./other.cjs').done = true;`,
        ].join('\n'),
        'lib/other.cjs': `sloppy = 1; // no strict mode here\nexports.cycle = typeof require('./thing.cjs');\nexports.sloppy = sloppy;`,
      };
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, name)), { recursive: true });
        writeFileSync(join(dir, name), text);
      }
      const out = join(dir, 'out', 'bundle.cjs');
      mkdirSync(dirname(out));
      writeFileSync(out, bundle(join(dir, 'main.js'), out).text);
      const bundled = execFileSync(process.execPath, [out], { encoding: 'utf8' });
      const native = execFileSync(process.execPath, [join(dir, 'main.js')], { encoding: 'utf8' });
      expect(bundled).toBe(native);
      expect(bundled.split('\n')).toContain('thing thing called thing.cjs lib thing object');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('defer only modules whose every export is a function, and run them when first called', () => {
    const deferred = [...new Set(entries.flatMap((e) => bundledModules(e).map((m) => m.path)))].filter((p) => DEFERRED_MODULES.some((d) => d.test(p)));
    expect(deferred.length).toBeGreaterThanOrEqual(1); // the patterns still find string-width
    const script = `
      for (const p of JSON.parse(process.argv[1])) {
        const ns = await import(p);
        for (const [name, value] of Object.entries(ns)) if (typeof value !== 'function') process.stdout.write(p + ' ' + name + '\\n');
      }`;
    expect(execFileSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(deferred)], { encoding: 'utf8', timeout: 60_000 })).toBe('');
    // string-width builds an Intl.Segmenter as it loads: counted by a preloaded spy.
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-deferred-'));
    try {
      const spy = join(dir, 'spy.cjs');
      writeFileSync(spy, `const Real = Intl.Segmenter; let made = 0;\nIntl.Segmenter = function (...a) { made++; return new Real(...a); };\nprocess.on('exit', () => process.stderr.write('segmenters ' + made + '\\n'));\n`);
      const made = (...args: string[]) => /segmenters (\d+)/.exec(spawnSync(process.execPath, ['-r', spy, TSVMM_CLI_SCRIPT, ...args], { encoding: 'utf8', timeout: 60_000 }).stderr)?.[1];
      expect(made('--version')).toBe('0');
      expect(Number(made('run', '--help'))).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('run the CLI as the unbundled modules do', () => {
    const cli = TSVMM_CLI_SCRIPT;
    const run = (env: NodeJS.ProcessEnv, ...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
    for (const args of [['--help'], ['run', '--help'], ['run', '--memory', 'lots']]) {
      const bundled = run({}, ...args);
      const unbundled = run({ TSVMM_NO_BUNDLE: '1' }, ...args);
      expect({ args, status: bundled.status, stdout: bundled.stdout, stderr: bundled.stderr }).toEqual({ args, status: unbundled.status, stdout: unbundled.stdout, stderr: unbundled.stderr });
    }
  });

  it("keep a vCPU thread's load to what its exits need: no virtio devices, backends or 9p server", () => {
    const paths = bundledModules(join(PROJECT_ROOT, COMPILED_ENTRY_POINTS['vcpu-worker'])).map((m) => m.path);
    expect(paths.filter((p) => /devices\/virtio\/virtio-(mmio|blk|net|console|9p|rng)\.js$|\/block\/|\/net\/|\/p9\//.test(p))).toEqual([]);
  });

  it('are what the CLI, the helper, the vCPU thread and device processes run', () => {
    for (const name of ['tsvmm', 'helper', 'vcpu-worker', 'device-process'] as const) {
      expect(entryPointScript(name)).toBe(bundleFile(name));
    }
  });
});
