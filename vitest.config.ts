import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One test file at a time: two guests at once livelock a 2-core host (docs/host-kvm.md).
    fileParallelism: false,
  },
});
