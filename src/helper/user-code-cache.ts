// The helper's side of the user's code cache (tools/build/run-bundle.cjs
// says why there is one and why writing it before the jail is safe):
// which cache its bundle was compiled with, and the write of the user's.
interface BundleCodeCache {
  /** `user`, `build`, `rejected` (by V8) or `none`. */
  readonly took: string;
  /** Writes the user's cache unless the process started from one made by `kinds` of VM among others; what happened, for the log. */
  keep(kinds: readonly string[]): { written: string; bytes: number; kinds: string } | { error: string } | undefined;
}

/** What run-bundle.cjs left; undefined when the helper runs from tsc's output, without a bundle. */
function bundleCodeCache(): BundleCodeCache | undefined {
  return (globalThis as Record<symbol, unknown>)[Symbol.for('tsvmm.codeCache')] as BundleCodeCache | undefined;
}

/** Which code cache the helper's bundle was compiled with. */
export function codeCacheTaken(): string {
  return bundleCodeCache()?.took ?? 'no bundle';
}

/**
 * Writes the user's code cache of the helper's bundle, holding what this
 * helper compiled building its VM (and what it took from the cache), where
 * it did not start from one made by a VM of its kinds. Call just before the
 * jail, never once the guest has run.
 */
export function keepUserCodeCache(kinds: readonly string[]): ReturnType<BundleCodeCache['keep']> {
  return bundleCodeCache()?.keep(kinds);
}

/**
 * The kinds of a VM, as far as the code that builds it goes: its boot, each
 * kind of device and where it is served, one vCPU or several.
 */
export function vmKinds(bootKind: string, devices: readonly { type: string; host: string }[], cpus: number): string[] {
  const kinds = new Set([`boot-${bootKind}`, ...devices.map((d) => `${d.type.replace(/^virtio-/, '')}${d.host === 'device-process' ? '@process' : ''}`)]);
  if (cpus > 1) kinds.add('smp');
  return [...kinds].sort();
}
