import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CoalescedRingWatch } from '../../src/vmm/coalesced-ring-watch.js';

describe('CoalescedRingWatch', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function setUp() {
    const indices = new Int32Array(2); // first, last: equal = empty
    let kicks = 0;
    const watch = new CoalescedRingWatch(indices, () => {
      kicks++;
      indices[0] = indices[1]; // the vCPU drains the ring once kicked
    });
    return { indices, watch, kicks: () => kicks };
  }

  it('kicks the vCPU within a millisecond while writes are flowing', () => {
    const { indices, watch, kicks } = setUp();
    watch.start();
    for (let i = 0; i < 50; i++) {
      indices[1]++;
      vi.advanceTimersByTime(1);
      expect(kicks()).toBe(i + 1);
    }
    watch.stop();
  });

  it('backs off to 16 ms with an empty ring, and snaps back to 1 ms when a write is queued', () => {
    const { indices, watch, kicks } = setUp();
    watch.start();
    vi.advanceTimersByTime(1000);
    expect(watch.currentIntervalMs).toBe(16);
    const looksInASecond = watch.looks;
    vi.advanceTimersByTime(1000);
    expect(watch.looks - looksInASecond).toBeLessThanOrEqual(63); // 1000 / 16, not 1000
    indices[1] = 5;
    let waitedMs = 0;
    while (kicks() === 0 && waitedMs < 100) {
      vi.advanceTimersByTime(1);
      waitedMs++;
    }
    expect(waitedMs).toBeLessThanOrEqual(16); // the longest a write waits after an idle spell
    expect(kicks()).toBe(1);
    expect(watch.currentIntervalMs).toBe(1);
    watch.stop();
  });

  it('stops looking when stopped', () => {
    const { indices, watch, kicks } = setUp();
    watch.start();
    watch.stop();
    indices[1] = 1;
    vi.advanceTimersByTime(100);
    expect(kicks()).toBe(0);
    expect(watch.looks).toBe(0);
  });
});
