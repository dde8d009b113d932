// Writes the bundle of each entry point to dist/bundle/ (bundle.ts says why).
// Usage (npm run build does it): node dist/tools/build/main.js

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BUNDLE_DIR, COMPILED_ENTRY_POINTS, bundleFile, type EntryPoint } from '../../src/entry-points.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { BundleError, bundle } from './bundle.js';

try {
  mkdirSync(BUNDLE_DIR, { recursive: true });
  for (const [name, entry] of Object.entries(COMPILED_ENTRY_POINTS)) {
    const file = bundleFile(name as EntryPoint);
    const result = bundle(join(PROJECT_ROOT, entry), file);
    writeFileSync(file, result.text);
    process.stdout.write(`bundle ${relative(PROJECT_ROOT, file)}: ${result.modules} modules, ${result.externals} external imports, ${(result.text.length / 1024).toFixed(0)} KiB\n`);
  }
} catch (e) {
  process.stderr.write(`bundle: ${e instanceof BundleError ? e.message : ((e as Error).stack ?? e)}\n`);
  process.exit(1);
}
