import { defineConfig } from 'vitest/config';

/** Tests that need /dev/kvm: `npm test` runs them nested where the host has none (test/support/host-requirements.ts). */
export const KVM_TESTS = 'test/**/*.kvm.test.ts';
/** Inside the nested L1 everything runs ~25x slower: deadlines stretch (test/support/deadline.ts). */
const DEADLINE_SCALE = process.env.TSVMM_IN_L1 === '1' ? 4 : 1;

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One test file at a time: two guests at once livelock a 2-core host (docs/host-kvm.md).
    fileParallelism: false,
    projects: [
      { extends: true, test: { name: 'host', include: ['test/**/*.test.ts'], exclude: [KVM_TESTS] } },
      { extends: true, test: { name: 'kvm', include: [KVM_TESTS], testTimeout: 60_000 * DEADLINE_SCALE, hookTimeout: 60_000 * DEADLINE_SCALE } },
    ],
  },
});
