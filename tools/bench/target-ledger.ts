// The targets a benchmark run measured, and whether each held. Sections
// record what they compared; the report ends with one table of them, so a
// run says plainly which targets it met (BENCHMARKS.md, "Where each target
// stands", is the same table kept by hand across runs and hosts).

export interface TargetCheck {
  /** The issue that set the target, e.g. '17'. */
  readonly issue: string;
  /** What was measured, e.g. 'boot to init, tsvmm / QEMU'. */
  readonly measure: string;
  readonly value: number;
  readonly limit: number;
  /** The value must be at most the limit (a cost), or at least it (a rate). */
  readonly bound: 'at most' | 'at least';
}

export const targetMet = (c: TargetCheck): boolean => (c.bound === 'at most' ? c.value <= c.limit : c.value >= c.limit);

export class TargetLedger {
  private readonly checks: TargetCheck[] = [];

  atMost(issue: string, measure: string, value: number, limit: number): void {
    this.checks.push({ issue, measure, value, limit, bound: 'at most' });
  }

  atLeast(issue: string, measure: string, value: number, limit: number): void {
    this.checks.push({ issue, measure, value, limit, bound: 'at least' });
  }

  get recorded(): readonly TargetCheck[] {
    return this.checks;
  }

  /** A Markdown section: every target in the order measured, then how many held; empty when none was measured. */
  report(): string {
    if (this.checks.length === 0) return '';
    const sign = { 'at most': '≤', 'at least': '≥' };
    const rows = this.checks.map((c) => `| ${c.issue} | ${c.measure} | ${formatValue(c.value)} | ${sign[c.bound]} ${formatValue(c.limit)} | ${targetMet(c) ? 'yes' : '**no**'} |`);
    const met = this.checks.filter(targetMet).length;
    return ['## Targets in this run', '', '| issue | measure | value | target | met |', '|---|---|---|---|---|', ...rows, '', `**${met} of ${this.checks.length} met.**`, ''].join('\n');
  }
}

/** Three significant digits at most: 0.923, 1.05, 172 (NaN, from a run that measured nothing, reads as such). */
function formatValue(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Number(n.toPrecision(3)).toString();
}
