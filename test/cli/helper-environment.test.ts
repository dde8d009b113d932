// The helper's environment is an allow-list (security audit, issue 11): none
// of the user's variables but the test-hook selector, the data-path loop
// selector and malloc's threshold; and where the user's code cache is.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deviceProcessNodeArgs, helperEnvironment, helperNodeArgs } from '../../src/cli/process-launch.js';

describe('helperEnvironment', () => {
  it("keeps the user's secrets, PATH and NODE_OPTIONS out", () => {
    const env = helperEnvironment({ AWS_SECRET_ACCESS_KEY: 'x', PATH: '/bin', NODE_OPTIONS: '--require=/tmp/evil.js', HOME: '/root' });
    expect(env).toEqual({ MALLOC_TRIM_THRESHOLD_: String(128 * 1024), TSVMM_CODE_CACHE_DIR: join(homedir(), '.cache', 'tsvmm', 'code-cache') });
  });

  it('passes the test hook, the loop selector and a malloc threshold the user set', () => {
    expect(helperEnvironment({ TSVMM_TEST_HOOK: 'probe', TSVMM_DEVICE_LOOP: 'libuv', MALLOC_TRIM_THRESHOLD_: '4096', TSVMM_CACHE: '/c' })).toEqual({
      TSVMM_TEST_HOOK: 'probe',
      TSVMM_DEVICE_LOOP: 'libuv',
      MALLOC_TRIM_THRESHOLD_: '4096',
      TSVMM_CODE_CACHE_DIR: '/c/code-cache',
    });
  });
});

describe('helperNodeArgs and deviceProcessNodeArgs', () => {
  it("gives the helper TSVMM_HELPER_NODE_ARGS's profiling flags, and no flag of its own", () => {
    expect(helperNodeArgs({ TSVMM_HELPER_NODE_ARGS: ' --cpu-prof  --cpu-prof-dir=/tmp/p --perf-basic-prof ' })).toEqual(['--cpu-prof', '--cpu-prof-dir=/tmp/p', '--perf-basic-prof']);
    expect(helperNodeArgs({})).toEqual([]);
  });

  it("adds TSVMM_DEVICE_NODE_ARGS's flags to a device process's, not the helper's", () => {
    const env = { TSVMM_DEVICE_NODE_ARGS: '--cpu-prof --cpu-prof-dir=/tmp/d' };
    expect(deviceProcessNodeArgs(env)).toEqual(['--cpu-prof', '--cpu-prof-dir=/tmp/d']);
    expect(helperNodeArgs(env)).toEqual([]);
    expect(() => deviceProcessNodeArgs({ TSVMM_DEVICE_NODE_ARGS: '--import=x' })).toThrow(/TSVMM_DEVICE_NODE_ARGS: --import=x is not a flag/);
  });

  it('refuses flags that would load code into the helper', () => {
    for (const flag of ['--require=/tmp/evil.js', '-r', '--import=x', '--experimental-loader=x', 'script.js'])
      expect(() => helperNodeArgs({ TSVMM_HELPER_NODE_ARGS: `--cpu-prof ${flag}` })).toThrow(/TSVMM_HELPER_NODE_ARGS: .* is not a flag tsvmm's processes take/);
  });
});
