#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
// Started without NODE_EXTRA_CA_CERTS: Node 20 reads and parses the CA file
// it names (and its own root certificates) as it starts, TLS or not,
// and tsvmm makes no TLS connection. On machines that set it, that was ~45 ms
// of a 110 ms `node -e 0` natively and ~0.65 s in a nested L1 (BENCHMARKS.md,
// "Start-up"). Only when run as a program (`tsvmm`, `npx tsvmm`, `npm start`):
// `node bin/tsvmm.cjs` keeps the caller's environment.
// Runs the CLI: its bundle (dist/bundle, one file: fast to load), or with
// TSVMM_NO_BUNDLE=1 tsc's output. npm run build makes both. CommonJS, so
// that Node does not start its ES module loader just for this file.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const bundles = join(__dirname, '..', 'dist', 'bundle');
const bundle = join(bundles, 'tsvmm.cjs');
const compiled = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (process.env.TSVMM_NO_BUNDLE !== '1' && existsSync(bundle)) {
  // First the early start of tsvmm's processes, a small bundle of its own
  // (tsvmm-early, src/cli/early-start.ts says why), then the CLI.
  const early = join(bundles, 'tsvmm-early.cjs');
  if (existsSync(early)) require(early);
  require(bundle);
} else if (existsSync(compiled)) import(require('node:url').pathToFileURL(compiled).href);
else {
  process.stderr.write('tsvmm: not built yet — run `npm run build` (or `npm ci`, which builds) first\n');
  process.exit(2);
}
