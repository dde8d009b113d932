// The helper's gc() without --expose-gc (src/helper/collect-garbage.ts): it
// collects, and a Worker started afterwards (a vCPU thread) still takes
// node's built-in code cache. Runs the built module from dist/ in a child
// node, which says on stderr which of node's caches V8 rejected.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root.js';

const MODULE = join(PROJECT_ROOT, 'dist', 'src', 'helper', 'collect-garbage.js');

const CHILD = `
import { takeGcFunction } from ${JSON.stringify(MODULE)};
import { Worker } from 'node:worker_threads';
const gc = takeGcFunction();
let garbage = { big: new Array(1000).fill('x') };
const ref = new WeakRef(garbage);
garbage = undefined;
// A WeakRef's target lives at least to the end of the turn that made it.
setTimeout(() => {
  gc();
  console.log(ref.deref() === undefined ? 'collected' : 'kept');
  console.log(typeof globalThis.gc);
  new Worker('require("node:worker_threads").parentPort.postMessage("worker up")', { eval: true, execArgv: [] }).on('message', (m) => console.log(m));
});
`;

describe('takeGcFunction', () => {
  it("collects, exposes nothing, and leaves node's own code cache usable", () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD], { env: { ...process.env, NODE_DEBUG_NATIVE: 'CODE_CACHE' }, encoding: 'utf8', timeout: 60_000 });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 0, stdout: 'collected\nundefined\nworker up\n' });
    expect(r.stderr).toMatch(/with code cache/);
    expect(r.stderr).not.toMatch(/rejected/);
  });
});
