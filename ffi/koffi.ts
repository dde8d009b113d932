// koffi, loaded without koffi's own loader. koffi/index.cjs finds its native
// module by trying one package and path after another (a require that
// fails and throws, package.json reads, file checks): ~10 ms of a ~100 ms
// Node start natively, in every tsvmm process and thread. tsvmm runs on
// x86-64 Linux, where npm installs koffi's glibc build as an optional
// dependency of the same version; that native module is the whole API koffi
// exports (its wrapper only adds deprecation warnings to it), so it is
// loaded straight away. Where it does not load (musl), koffi's loader.
//
// While a startup snapshot is written, koffi is not loaded: declarations
// are recorded and made real as each process starts from it
// (deferred-koffi.ts, src/startup-snapshot.ts).
import { createRequire } from 'node:module';
import type KoffiApi from 'koffi';
import { atProcessStart, isBuildingSnapshot } from '../src/startup-snapshot.js';
import { deferredKoffi } from './deferred-koffi.js';

type Koffi = typeof KoffiApi;

/** Where npm puts the native module for x86-64 glibc (test/ffi/koffi-loader.test.ts checks it is koffi's own version). */
export const KOFFI_X64_GLIBC = '@koromix/koffi-linux-x64/linux_x64/koffi.node';

const require = createRequire(import.meta.url);

function load(): Koffi {
  if (process.arch === 'x64' && process.platform === 'linux') {
    try {
      return require(KOFFI_X64_GLIBC) as Koffi;
    } catch {
      // not installed, or not loadable here: koffi's loader finds another
    }
  }
  return require('koffi') as Koffi;
}

function koffiForThisStart(): Koffi {
  if (!isBuildingSnapshot()) return load();
  const deferred = deferredKoffi(load, () => !isBuildingSnapshot());
  atProcessStart(deferred.bind);
  return deferred.koffi;
}

export const koffi: Koffi = koffiForThisStart();
