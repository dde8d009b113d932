import { defineConfig } from 'vitest/config';

/** Tests that need /dev/kvm: `npm test` runs them nested where the host has none (test/support/kvm.ts). */
export const KVM_TESTS = 'test/**/*.kvm.test.ts';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One test file at a time: two guests at once livelock a 2-core host (docs/host-kvm.md).
    fileParallelism: false,
    projects: [
      { extends: true, test: { name: 'host', include: ['test/**/*.test.ts'], exclude: [KVM_TESTS] } },
      { extends: true, test: { name: 'kvm', include: [KVM_TESTS] } },
    ],
  },
});
