// When this process (the frontend, the helper, a device process) reached
// each step of its start, in ms since it started (performance.now()), for
// the debug log: where a slow start goes
// (BENCHMARKS.md, "Start-up"), without a profiler, whose flags make V8
// refuse the code caches and change what they measure.
const marks: Record<string, number> = {};

export function markStartup(step: string): void {
  marks[step] = Math.round(performance.now());
}

/** A step another thread timed: `epochMs` is its `performance.timeOrigin + performance.now()`. */
export function markStartupAt(step: string, epochMs: number): void {
  marks[step] = Math.round(epochMs - performance.timeOrigin);
}

/** Now, on a clock every thread of the process shares (for markStartupAt). */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Every step marked so far, by name. */
export function startupMarks(): Readonly<Record<string, number>> {
  return { ...marks };
}
