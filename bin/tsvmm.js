#!/usr/bin/env node
// Runs the compiled CLI (npm run build puts it in dist/).
import('../dist/src/cli/main.js').catch((e) => {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('tsvmm: not built yet — run `npm run build` (or `npm ci`, which builds) first\n');
    process.exit(2);
  }
  throw e;
});
