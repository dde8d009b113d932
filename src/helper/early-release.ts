// The helper's first act, before its own bundle is even compiled: its stub
// runs this small bundle first (entry-points.ts `BUNDLES_RUN_FIRST`).
//
// Node's start has touched ~34 MiB of its binary by now (startup-pages.ts).
// Compiling the helper's bundle from its code cache and running its modules'
// top levels touch ~12 MiB more, of node's code and of new heap. Released only
// after that (at `codeLoaded`, main.ts), both were resident at once, and their
// sum was the helper's peak RSS for the whole run: natively 55.7 MiB, where
// `node -e 0` peaks at 40. Released here, the load faults back in only what it
// uses: the peak is 45.5 (docs/helper-memory.md, "Before the bundle loads").
import { releaseStartupPages } from './startup-pages.js';

// TSVMM_EARLY_PAGE_RELEASE=0 skips it, for A/B runs.
if (process.env.TSVMM_EARLY_PAGE_RELEASE !== '0') releaseStartupPages();
