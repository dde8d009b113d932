// koffi as a startup snapshot sees it (src/startup-snapshot.ts). A native
// module cannot be in a snapshot: its handles would point into a process
// that is gone. tsvmm declares its native functions as its FFI modules
// load, so while a snapshot is written those declarations are recorded
// instead: each function is a stand-in that calls the real one, and each
// type a token; every process that starts from the snapshot loads koffi
// and makes them real as it starts, or at its first native call if that
// comes sooner. Ordinary starts never see this file's objects (ffi/koffi.ts).
//
// Only what tsvmm uses is here. A type's size or offset cannot be known
// without koffi: asking while the snapshot is written fails the build.
import type KoffiApi from 'koffi';

type Koffi = typeof KoffiApi;
type NativeFunction = (...args: unknown[]) => unknown;

/** A type declared while the snapshot was written, made when the process starts. */
class DeferredType {
  private made: unknown;
  constructor(private readonly make: (koffi: Koffi) => unknown) {}
  real(koffi: Koffi): unknown {
    return (this.made ??= this.make(koffi));
  }
}

/** Whether `value` holds a deferred type (itself, in an array, as a struct member). */
function holdsDeferred(value: unknown): boolean {
  if (value instanceof DeferredType) return true;
  if (Array.isArray(value)) return value.some(holdsDeferred);
  return value !== null && typeof value === 'object' && Object.values(value).some(holdsDeferred);
}

/**
 * `value` with every deferred type in it (arrays, struct members) made real.
 * Anything without one is passed as it is: a real koffi type is an object
 * too, which a copy would turn into a plain one koffi refuses.
 */
function realTypes(value: unknown, koffi: Koffi): unknown {
  if (!holdsDeferred(value)) return value;
  if (value instanceof DeferredType) return value.real(koffi);
  if (Array.isArray(value)) return value.map((v) => realTypes(v, koffi));
  return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, realTypes(v, koffi)]));
}

/**
 * koffi for a snapshot being written. `bind()` is to be called as each
 * process starts from it; `load` gives the real koffi. Native code that runs
 * in such a process before that call (an earlier deserialize callback: the
 * CLI's early start marking an inherited descriptor close-on-exec) binds it
 * there and then. `loadable()` says whether it may: not while the snapshot
 * is being written, where a native call is a mistake.
 */
export function deferredKoffi(load: () => Koffi, loadable: () => boolean): { koffi: Koffi; bind(): void } {
  let real: Koffi | undefined;
  const bindings: ((koffi: Koffi) => void)[] = [];
  const bind = (): Koffi => {
    if (real) return real;
    if (!loadable()) unbound();
    real = load();
    for (const binding of bindings) binding(real);
    return real;
  };
  const realKoffi = (): Koffi => real ?? bind();
  const forward =
    <K extends keyof Koffi>(name: K): NativeFunction =>
    (...args) =>
      (realKoffi()[name] as NativeFunction)(...args);
  const type =
    <K extends keyof Koffi>(name: K) =>
    (...args: unknown[]): unknown =>
      real ? (real[name] as NativeFunction)(...(realTypes(args, real) as unknown[])) : new DeferredType((k) => (k[name] as NativeFunction)(...realTypes(args, k) as unknown[]));

  const facade = {
    load(...args: unknown[]) {
      if (real) return (real.load as NativeFunction)(...args);
      let library: ReturnType<Koffi['load']> | undefined;
      bindings.push((k) => (library = (k.load as NativeFunction)(...args) as ReturnType<Koffi['load']>));
      return {
        func(...declaration: unknown[]): NativeFunction {
          // Declared as the process runs (in a function), after the binding: straight away.
          if (library) return (library.func as NativeFunction)(...(realTypes(declaration, realKoffi()) as unknown[])) as NativeFunction;
          let fn: NativeFunction | undefined;
          bindings.push((k) => (fn = (library!.func as NativeFunction)(...(realTypes(declaration, k) as unknown[])) as NativeFunction));
          return (...callArgs) => (fn ?? (bind(), fn!))(...callArgs);
        },
      };
    },
    struct: type('struct'),
    pointer: type('pointer'),
    proto: type('proto'),
    array: type('array'),
    errno: forward('errno'),
    address: forward('address'),
    view: forward('view'),
    decode: forward('decode'),
    alloc: forward('alloc'),
    free: forward('free'),
    register: forward('register'),
    unregister: forward('unregister'),
    sizeof: (...args: unknown[]) => (loadable() ? (realKoffi().sizeof as NativeFunction)(...(realTypes(args, realKoffi()) as unknown[])) : notWhileWriting('koffi.sizeof')),
    node: { poll: (...args: unknown[]) => ((realKoffi() as unknown as { node: { poll: NativeFunction } }).node.poll)(...args) },
  };
  return {
    koffi: facade as unknown as Koffi,
    bind: () => void bind(),
  };
}

function unbound(): never {
  throw new Error('a native function was called while a startup snapshot is written: koffi is not loaded then (call it as the process runs)');
}

function notWhileWriting(what: string): never {
  throw new Error(`${what} while a startup snapshot is written: koffi is not loaded then (declare it where it is used)`);
}
