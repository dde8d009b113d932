// The table of targets that ends a benchmark report.
import { describe, expect, it } from 'vitest';
import { TargetLedger, checkMet } from '../../tools/bench/target-ledger.js';
import { TARGETS, atLeast, atMost, bound } from '../../tools/bench/targets.js';

describe('the targets of a benchmark run', () => {
  it('judges a cost against its ceiling and a rate against its floor, the limits themselves included', () => {
    const ledger = new TargetLedger();
    ledger.check(atMost('17', 1.2), 'cost at its limit', 1.2);
    ledger.check(atMost('17', 1.2), 'cost above', 1.21);
    ledger.check(atLeast('14', 1), 'rate at its limit', 1);
    ledger.check(atLeast('14', 1), 'rate below', 0.92);
    expect(ledger.recorded.map(checkMet)).toEqual([true, false, true, false]);
  });

  it('never counts a figure that was not measured as met', () => {
    const ledger = new TargetLedger();
    ledger.check(atMost('17', 1.2), 'nothing measured', NaN);
    ledger.check(atLeast('14', 1), 'nothing measured either', NaN);
    expect(ledger.recorded.map(checkMet)).toEqual([false, false]);
    expect(ledger.report()).toContain('| NaN |');
  });

  it('prints one row per target in the order measured, and how many held', () => {
    const ledger = new TargetLedger();
    ledger.check(atLeast('15', 1), '`cat` over 9p, tsvmm / QEMU', 1.39231);
    ledger.check(atMost('2, 17', 1.2), 'default guest to init, tsvmm / QEMU', 1.60412);
    ledger.check(atMost('17', 150), 'command start → first KVM_RUN (ms)', 172.46);
    expect(ledger.report().split('\n')).toEqual([
      '## Targets in this run',
      '',
      '| issue | measure | value | target | met |',
      '|---|---|---|---|---|',
      '| 15 | `cat` over 9p, tsvmm / QEMU | 1.39 | ≥ 1 | yes |',
      '| 2, 17 | default guest to init, tsvmm / QEMU | 1.6 | ≤ 1.2 | **no** |',
      '| 17 | command start → first KVM_RUN (ms) | 172 | ≤ 150 | **no** |',
      '',
      '**1 of 3 met.**',
      '',
    ]);
  });

  it('quotes each target as the report\'s text does', () => {
    expect(bound(TARGETS.pioRoundTrip)).toBe('≤ 1.1');
    expect(bound(TARGETS.netThroughput)).toBe('≥ 1');
    expect(bound(TARGETS.firstKvmRunMs)).toBe('≤ 150');
  });

  it('prints nothing when the run measured no target', () => {
    expect(new TargetLedger().report()).toBe('');
  });
});
