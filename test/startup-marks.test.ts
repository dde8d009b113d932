// The start-up marks (src/startup-marks.ts) for the debug log.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { epochNow, markStartup, markStartupAt, startupMarks } from '../src/startup-marks.js';

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

  it("take another thread's steps on the process's clock", async () => {
    // A worker's performance.now() starts at the worker's own start; epoch time does not.
    const worker = new Worker('setTimeout(() => require("node:worker_threads").parentPort.postMessage(performance.timeOrigin + performance.now()), 30)', { eval: true });
    const before = Math.round(performance.now());
    const workerEpoch = await new Promise<number>((resolve) => worker.once('message', resolve));
    const after = Math.round(performance.now());
    await worker.terminate();
    markStartupAt('inTheWorker', workerEpoch);
    expect(startupMarks().inTheWorker).toBeGreaterThanOrEqual(before);
    expect(startupMarks().inTheWorker).toBeLessThanOrEqual(after + 1);
    markStartupAt('justNow', epochNow());
    expect(Math.abs(startupMarks().justNow - performance.now())).toBeLessThan(5);
  });
});
