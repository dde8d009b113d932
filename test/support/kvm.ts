// KVM availability for tests. Without a usable /dev/kvm, KVM tests skip with
// the reason — unless TSVMM_REQUIRE_KVM=1 (set by .ci/run) and /dev/kvm
// exists, in which case the skip becomes a failure: CI must never skip them.
import { accessSync, constants, existsSync } from 'node:fs';
import { describe } from 'vitest';

function kvmProblem(): string | undefined {
  if (!existsSync('/dev/kvm')) return '/dev/kvm does not exist on this machine';
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return undefined;
  } catch {
    return '/dev/kvm is not readable and writable by this user';
  }
}

export const KVM_PROBLEM = kvmProblem();
const REQUIRED = process.env.TSVMM_REQUIRE_KVM === '1';

/** describe() for tests that need KVM: skipped with a reason, or failing when CI requires KVM. */
export function describeKvm(name: string, body: () => void): void {
  if (!KVM_PROBLEM) {
    describe(name, body);
    return;
  }
  if (REQUIRED && existsSync('/dev/kvm')) {
    describe(name, () => {
      throw new Error(`TSVMM_REQUIRE_KVM=1 and /dev/kvm exists, but KVM tests cannot run: ${KVM_PROBLEM}`);
    });
    return;
  }
  describe.skip(`${name} (skipped: ${KVM_PROBLEM})`, body);
}
