#!/usr/bin/env node
// Runs the CLI: its bundle (dist/bundle, one file: fast to load), or with
// TSVMM_NO_BUNDLE=1 tsc's output. npm run build makes both. CommonJS, so
// that Node does not start its ES module loader just for this file.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const bundle = join(__dirname, '..', 'dist', 'bundle', 'tsvmm.cjs');
const compiled = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (process.env.TSVMM_NO_BUNDLE !== '1' && existsSync(bundle)) require(bundle);
else if (existsSync(compiled)) import(require('node:url').pathToFileURL(compiled).href);
else {
  process.stderr.write('tsvmm: not built yet — run `npm run build` (or `npm ci`, which builds) first\n');
  process.exit(2);
}
