// What a test needs from the host. A test that needs KVM lives in a
// `*.kvm.test.ts` file (vitest project `kvm`): `npm test` runs those here when
// /dev/kvm is usable, and otherwise inside the nested L1 (tools/nested), so
// they never skip where KVM can be had. Run directly (`npx vitest run`) on a
// host without KVM, they skip with the reason. Under TSVMM_REQUIRE_KVM=1 (set
// by .ci/run) nothing may skip: a missing requirement, KVM or other, fails.
import { describe, it } from 'vitest';
import { kvmDeviceProblem } from '../../src/kvm/host-kvm.js';

const deviceProblem = kvmDeviceProblem();
export const KVM_PROBLEM = deviceProblem && `${deviceProblem} (\`npm test\` runs KVM tests nested)`;
/** CI's flag: every test must run. */
export const NOTHING_MAY_SKIP = process.env.TSVMM_REQUIRE_KVM === '1';

/** describe() for tests that need something the host may lack (`problem` says what). */
export function describeNeeding(problem: string | undefined, name: string, body: () => void): void {
  if (!problem) describe(name, body);
  else if (NOTHING_MAY_SKIP) {
    describe(name, () => {
      it('can run here', () => {
        throw new Error(`TSVMM_REQUIRE_KVM=1, but these tests cannot run: ${problem}`);
      });
    });
  } else describe.skip(`${name} (skipped: ${problem})`, body);
}

/** describe() for tests that need KVM. */
export function describeKvm(name: string, body: () => void): void {
  describeNeeding(KVM_PROBLEM, name, body);
}

/** it() for one test that needs something the host may lack. */
export function itNeeding(problem: string | undefined, name: string, fn: () => unknown, timeoutMs?: number): void {
  if (!problem) it(name, fn, timeoutMs);
  else if (NOTHING_MAY_SKIP) {
    it(name, () => {
      throw new Error(`TSVMM_REQUIRE_KVM=1, but this test cannot run: ${problem}`);
    });
  } else it.skip(`${name} (skipped: ${problem})`, fn);
}
