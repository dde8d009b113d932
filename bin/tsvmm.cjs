#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
// The CLI as a Node script. tsvmm's program is bin/tsvmm, which starts Node
// from the CLI's startup snapshot and comes here when there is none; run as a
// program itself, this file too starts Node without NODE_EXTRA_CA_CERTS
// (bin/tsvmm says why); `node bin/tsvmm.cjs` keeps the caller's environment.
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
