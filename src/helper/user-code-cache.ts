// The helper's side of the user's code cache (tools/build/run-bundle.cjs
// says why there is one and why writing it before the jail is safe):
// which cache its bundle was compiled with, and the write of the user's.
interface BundleCodeCache {
  /** `user`, `build`, `rejected` (by V8) or `none`. */
  readonly took: string;
  /** Writes the user's cache if the process did not start from it; what happened, for the log. */
  keep(): { written: string; bytes: number } | { error: string } | undefined;
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
 * helper compiled building its VM, where it did not start from one. Call
 * just before the jail, never once the guest has run.
 */
export function keepUserCodeCache(): ReturnType<BundleCodeCache['keep']> {
  return bundleCodeCache()?.keep();
}
