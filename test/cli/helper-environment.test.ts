// The helper's environment is an allow-list (security audit, issue 11): none
// of the user's variables but the test-hook selector and malloc's threshold.
import { describe, expect, it } from 'vitest';
import { helperEnvironment } from '../../src/cli/helper-launch.js';

describe('helperEnvironment', () => {
  it("keeps the user's secrets, PATH and NODE_OPTIONS out", () => {
    const env = helperEnvironment({ AWS_SECRET_ACCESS_KEY: 'x', PATH: '/bin', NODE_OPTIONS: '--require=/tmp/evil.js', HOME: '/root' });
    expect(env).toEqual({ MALLOC_TRIM_THRESHOLD_: String(128 * 1024) });
  });

  it('passes the test hook and a malloc threshold the user set', () => {
    expect(helperEnvironment({ TSVMM_TEST_HOOK: 'probe', MALLOC_TRIM_THRESHOLD_: '4096' })).toEqual({
      TSVMM_TEST_HOOK: 'probe',
      MALLOC_TRIM_THRESHOLD_: '4096',
    });
  });
});
