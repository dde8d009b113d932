// ffi/koffi.ts loads koffi's native module without koffi's own loader: it
// must be the very module that loader finds, of koffi's own version.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KOFFI_X64_GLIBC, koffi } from '../../ffi/koffi.js';
import { COMPILED_BUNDLES } from '../../src/entry-points.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { bundledModules } from '../../tools/build/bundle.js';

const require = createRequire(import.meta.url);

describe("koffi's native module, loaded directly", () => {
  it("is the module koffi's loader gives, of koffi's version", () => {
    const throughKoffi = require('koffi') as typeof koffi;
    const { version } = require(join(PROJECT_ROOT, 'node_modules', 'koffi', 'package.json')) as { version: string };
    expect(koffi.version).toBe(version);
    expect(koffi.struct).toBe(throughKoffi.struct); // one native module, not two copies
    expect(koffi).toBe(require(KOFFI_X64_GLIBC)); // loaded directly on this x86-64 glibc host, not through the fallback
    const getpid = koffi.load('libc.so.6').func('int getpid(void)');
    expect(getpid()).toBe(process.pid);
  });

  it("keeps koffi's loader out of every bundle", () => {
    for (const [name, entry] of Object.entries(COMPILED_BUNDLES)) {
      const koffiModules = bundledModules(join(PROJECT_ROOT, entry)).filter((m) => /\/node_modules\/koffi\//.test(m.path));
      expect({ name, koffiModules }).toEqual({ name, koffiModules: [] });
    }
  });
});
