// Tests that boot the default guest (tools/guest): inside a describe, returns
// its manifest, or, when it is not built, registers the one test that says so
// and returns undefined. Under TSVMM_REQUIRE_GUEST=1 (.ci/run) that test fails.
import { it } from 'vitest';
import { readDefaultGuest, type GuestManifest } from '../../src/cli/default-guest.js';

export function defaultGuestOrMissing(): GuestManifest | undefined {
  const guest = readDefaultGuest();
  if (guest) return guest;
  const required = process.env.TSVMM_REQUIRE_GUEST === '1';
  it(required ? 'needs the default guest (TSVMM_REQUIRE_GUEST=1)' : 'skipped: the default guest is not built (npm run guest)', () => {
    if (required) throw new Error('the default guest is not built: `npm run guest` must run before the tests');
  });
  return undefined;
}
