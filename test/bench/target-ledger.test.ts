// The table of targets that ends a benchmark report.
import { describe, expect, it } from 'vitest';
import { TargetLedger, targetMet } from '../../tools/bench/target-ledger.js';

describe('the targets of a benchmark run', () => {
  it('judges a cost against its ceiling and a rate against its floor, the limits themselves included', () => {
    const ledger = new TargetLedger();
    ledger.atMost('17', 'cost at its limit', 1.2, 1.2);
    ledger.atMost('17', 'cost above', 1.21, 1.2);
    ledger.atLeast('14', 'rate at its limit', 1, 1);
    ledger.atLeast('14', 'rate below', 0.92, 1);
    expect(ledger.recorded.map(targetMet)).toEqual([true, false, true, false]);
  });

  it('never counts a figure that was not measured as met', () => {
    const ledger = new TargetLedger();
    ledger.atMost('17', 'nothing measured', NaN, 1.2);
    ledger.atLeast('14', 'nothing measured either', NaN, 1);
    expect(ledger.recorded.map(targetMet)).toEqual([false, false]);
    expect(ledger.report()).toContain('| NaN |');
  });

  it('prints one row per target in the order measured, and how many held', () => {
    const ledger = new TargetLedger();
    ledger.atLeast('15', '`cat` over 9p, tsvmm / QEMU', 1.39231, 1);
    ledger.atMost('2, 17', 'default guest to init, tsvmm / QEMU', 1.60412, 1.2);
    ledger.atMost('17', 'command start → first KVM_RUN (ms)', 172.46, 150);
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

  it('prints nothing when the run measured no target', () => {
    expect(new TargetLedger().report()).toBe('');
  });
});
