// koffi as a startup snapshot sees it (ffi/deferred-koffi.ts): declarations
// recorded while the snapshot is written become real when the process that
// starts from it binds them, or at its first native call if that comes
// first (the CLI's early start can make one before the binding's turn);
// while the snapshot is written, a native call is refused.
import { describe, expect, it } from 'vitest';
import { deferredKoffi } from '../../ffi/deferred-koffi.js';
import { koffi } from '../../ffi/koffi.js';

/** A deferred koffi with libc's getpid and a struct declared, and how often it loaded the real one. */
function declared(loadable: () => boolean) {
  let loads = 0;
  const deferred = deferredKoffi(() => (loads++, koffi), loadable);
  const getpid = deferred.koffi.load('libc.so.6').func('int getpid(void)') as () => number;
  const pair = deferred.koffi.struct({ a: 'uint32_t', b: 'uint64_t' });
  return { deferred, getpid, pair, loads: () => loads };
}

describe('deferred koffi', () => {
  it('makes its declarations real when bound, once', () => {
    const { deferred, getpid, pair, loads } = declared(() => true);
    deferred.bind();
    deferred.bind();
    expect(loads()).toBe(1);
    expect(getpid()).toBe(process.pid);
    expect(deferred.koffi.sizeof(pair)).toBe(16);
  });

  it('binds at the first native call that comes before its binding, and the binding is then a no-op', () => {
    const { deferred, getpid, pair, loads } = declared(() => true);
    expect(loads()).toBe(0);
    expect(getpid()).toBe(process.pid);
    expect(loads()).toBe(1);
    deferred.bind();
    expect(loads()).toBe(1);
    expect(deferred.koffi.sizeof(pair)).toBe(16);
    // Declared after the binding: straight away, and real koffi types pass through as they are.
    const getppid = deferred.koffi.load('libc.so.6').func('int getppid(void)') as () => number;
    expect(getppid()).toBe(process.ppid);
    const later = deferred.koffi.struct({ a: 'uint32_t' });
    expect(deferred.koffi.sizeof(later)).toBe(4);
    expect(deferred.koffi.sizeof(deferred.koffi.struct({ inner: pair, also: later }))).toBe(24);
  });

  it('refuses a native call while the snapshot is written', () => {
    const { deferred, getpid, pair, loads } = declared(() => false);
    expect(() => getpid()).toThrow(/while a startup snapshot is written/);
    expect(() => deferred.koffi.sizeof(pair)).toThrow(/while a startup snapshot is written/);
    expect(() => deferred.bind()).toThrow(/while a startup snapshot is written/);
    expect(loads()).toBe(0);
  });
});
