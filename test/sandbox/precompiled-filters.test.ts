// The seccomp programs compiled ahead (src/sandbox/seccomp-programs.ts) must
// be exactly what their policies compile to now: otherwise a process would
// jail itself with a stale filter. Regenerate with
// `npx tsc -p . && node dist/tools/gen-seccomp-programs.js`.
import { describe, expect, it } from 'vitest';
import { PRECOMPILED_MODE, precompiledPolicies, programKey } from '../../tools/gen-seccomp-programs.js';
import { helperPolicy } from '../../src/sandbox/helper-policy.js';
import { precompiledProgram } from '../../src/sandbox/precompiled-filters.js';
import { compilePolicy } from '../../src/sandbox/seccomp-compiler.js';
import { SECCOMP_PROGRAMS } from '../../src/sandbox/seccomp-programs.js';

describe('the seccomp programs compiled ahead', () => {
  it('are what each policy of the helper and the device processes compiles to now', () => {
    const policies = precompiledPolicies();
    expect(Object.keys(SECCOMP_PROGRAMS).sort()).toEqual(policies.map((p) => programKey(p, PRECOMPILED_MODE)).sort());
    for (const policy of policies) expect(precompiledProgram(policy, PRECOMPILED_MODE), policy.precompiledAs).toEqual(compilePolicy(policy, PRECOMPILED_MODE));
  });

  it('name every variant apart, so that no two policies share a program', () => {
    const names = precompiledPolicies().map((p) => p.precompiledAs);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('device-process+9p');
    expect(names).toContain('helper+io_uring+tap');
  });

  it('are not used for another mode, or for a policy that is not one of them', () => {
    expect(precompiledProgram(helperPolicy({ jit: true }), 'log')).toBeUndefined();
    expect(precompiledProgram(helperPolicy({ jit: false }), PRECOMPILED_MODE)).toBeUndefined();
    expect(precompiledProgram({ name: 'test', entries: [] }, PRECOMPILED_MODE)).toBeUndefined();
  });
});
