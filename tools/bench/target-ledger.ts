// The targets a benchmark run measured, and whether each held. Sections
// record what they compared against a target of targets.ts; the report ends
// with one table of them, so a run says plainly which targets it met
// (BENCHMARKS.md, "Where each target stands", is the same table kept by hand
// across runs and hosts).
import { bound, formatFigure, targetMet, type Target } from './targets.js';

export interface TargetCheck {
  readonly target: Target;
  /** What was measured, e.g. 'boot to init, tsvmm / QEMU'. */
  readonly measure: string;
  readonly value: number;
}

export const checkMet = (c: TargetCheck): boolean => targetMet(c.target, c.value);

export class TargetLedger {
  private readonly checks: TargetCheck[] = [];

  check(target: Target, measure: string, value: number): void {
    this.checks.push({ target, measure, value });
  }

  get recorded(): readonly TargetCheck[] {
    return this.checks;
  }

  /** A Markdown section: every target in the order measured, then how many held; empty when none was measured. */
  report(): string {
    if (this.checks.length === 0) return '';
    const rows = this.checks.map((c) => `| ${c.target.issue} | ${c.measure} | ${formatFigure(c.value)} | ${bound(c.target)} | ${checkMet(c) ? 'yes' : '**no**'} |`);
    const met = this.checks.filter(checkMet).length;
    return ['## Targets in this run', '', '| issue | measure | value | target | met |', '|---|---|---|---|---|', ...rows, '', `**${met} of ${this.checks.length} met.**`, ''].join('\n');
  }
}
