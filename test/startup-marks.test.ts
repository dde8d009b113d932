// The start-up marks (src/startup-marks.ts) for the debug log.
import { describe, expect, it } from 'vitest';
import { markStartup, startupMarks } from '../src/startup-marks.js';

describe('startup marks', () => {
  it('keep when each step was reached, in ms since the process started', async () => {
    markStartup('first');
    await new Promise((resolve) => setTimeout(resolve, 20));
    markStartup('second');
    const marks = startupMarks();
    expect(marks.first).toBeGreaterThan(0);
    expect(marks.second).toBeGreaterThanOrEqual(marks.first + 15);
    expect(marks.second).toBeLessThanOrEqual(Math.round(performance.now()));
  });

  it('hand out a copy', () => {
    markStartup('kept');
    const marks = startupMarks() as Record<string, number>;
    marks.kept = -1;
    expect(startupMarks().kept).toBeGreaterThan(0);
  });
});
