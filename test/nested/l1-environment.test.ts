// What of the caller's environment a command in the nested L1 gets.
import { describe, expect, it } from 'vitest';
import { IN_L1_ENV, l1EnvironmentScript } from '../../tools/nested/l1.js';

describe('the L1 command environment', () => {
  it("passes the caller's variables, quoted, and says it is in the L1", () => {
    expect(l1EnvironmentScript({ CI: 'true', TSVMM_CACHE: "/a b/it's" })).toBe(`export CI=true\nexport TSVMM_CACHE='/a b/it'\\''s'\nexport ${IN_L1_ENV}=1\n`);
  });

  it("leaves out this process's own variables and NODE_EXTRA_CA_CERTS", () => {
    const script = l1EnvironmentScript({ PWD: '/x', SHLVL: '2', VITEST_WORKER_ID: '3', NODE_CHANNEL_FD: '4', NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt', HOME: '/root' });
    expect(script).toBe(`export HOME=/root\nexport ${IN_L1_ENV}=1\n`);
  });
});
