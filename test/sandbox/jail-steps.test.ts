import { describe, expect, it } from 'vitest';
import { helperFds } from '../../src/sandbox/jail-launch.js';
import { assertOwnMountNamespace, inspectProcess, JailError } from '../../src/sandbox/jail.js';

describe('jail steps that are safe to run in the test process', () => {
  it('refuses to pivot the host: the test runner shares pid 1 mount namespace', () => {
    const facts = inspectProcess();
    expect(facts.hostPid).toBe(process.pid);
    if (facts.initMountNamespace === undefined) return; // /proc/1 unreadable: nothing to compare
    if (facts.initMountNamespace !== facts.mountNamespace) return; // the test itself runs in a container ns
    expect(() => assertOwnMountNamespace(facts)).toThrow(JailError);
    expect(() => assertOwnMountNamespace(facts)).toThrow(/^mount namespace check failed: .*refusing to pivot_root the host$/);
  });

  it('accepts a process in its own mount namespace', () => {
    const facts = { ...inspectProcess(), mountNamespace: 'mnt:[1]', initMountNamespace: 'mnt:[2]' };
    expect(() => assertOwnMountNamespace(facts)).not.toThrow();
  });

  it('reads the named fds the launcher passed', () => {
    expect(helperFds({ TSVMM_HELPER_FDS: 'kvm=3,disk0=4' })).toEqual({ kvm: 3, disk0: 4 });
    expect(helperFds({})).toEqual({});
    expect(() => helperFds({ TSVMM_HELPER_FDS: 'kvm' })).toThrow(/malformed/);
  });
});
