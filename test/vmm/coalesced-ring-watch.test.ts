import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { COALESCED_RING_ENTRIES, publishedPositions } from '../../src/bus/coalesced-ring.js';
import { CoalescedRingWatch } from '../../src/vmm/coalesced-ring-watch.js';

describe('CoalescedRingWatch', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function setUp() {
    const indices = new Int32Array(2); // first, last: equal = empty
    let kicks = 0;
    const watch = new CoalescedRingWatch(publishedPositions(indices), () => {
      kicks++;
      indices[0] = indices[1]; // the vCPU drains the ring once kicked
    });
    return { indices, watch, kicks: () => kicks };
  }

  it('kicks a vCPU that does not exit by itself every other millisecond while writes are flowing', () => {
    const { indices, watch, kicks } = setUp();
    watch.start();
    for (let ms = 1; ms <= 50; ms++) {
      indices[1]++;
      vi.advanceTimersByTime(1);
      // A write waits one look, and is kicked out at the next.
      expect(kicks()).toBe(Math.floor(ms / 2));
    }
    watch.stop();
  });

  it('never kicks a vCPU that drains the ring by itself between looks', () => {
    const { indices, watch, kicks } = setUp();
    watch.start();
    for (let ms = 0; ms < 200; ms++) {
      // Each millisecond the vCPU exits (draining what was queued), then queues a write
      // that is still in the ring when the watch looks, as a booting Linux guest's console does.
      indices[0] = indices[1];
      indices[1] = (indices[1] + 1) % COALESCED_RING_ENTRIES;
      vi.advanceTimersByTime(1);
    }
    expect(kicks()).toBe(0);
    expect(watch.currentIntervalMs).toBe(1);
    watch.stop();
  });

  it('drains at every look when the kick is a drain on its own thread (several vCPUs)', () => {
    const indices = new Int32Array(2);
    let drains = 0;
    const watch = new CoalescedRingWatch(publishedPositions(indices), () => ((drains += 1), (indices[0] = indices[1])), { kickCostsAnExit: false });
    watch.start();
    for (let ms = 1; ms <= 20; ms++) {
      indices[1]++;
      vi.advanceTimersByTime(1);
      expect(drains).toBe(ms);
    }
    watch.stop();
  });

  describe('with console output held by the vCPU', () => {
    const HOLD_MS = 5;
    function setUpHolding() {
      const indices = new Int32Array(2);
      const held = new Int32Array(1);
      let kicks = 0;
      const watch = new CoalescedRingWatch(
        publishedPositions(indices),
        () => {
          kicks++;
          held[0] = 0; // a kicked vCPU writes out what it holds
          indices[0] = indices[1];
        },
        { heldOutput: { batch: () => held[0], holdMs: HOLD_MS } },
      );
      return { indices, held, watch, kicks: () => kicks };
    }

    it('never kicks a booting guest that writes its batches out itself, and looks once per hold time meanwhile', () => {
      const { indices, held, watch, kicks } = setUpHolding();
      watch.start();
      // Linux printing its boot log: an exit every 0.25 ms drains the ring
      // and queues the next byte; a batch is written out once HOLD_MS old.
      let batch = 0;
      let batchStarted = 0;
      for (let quarterMs = 0; quarterMs < 4 * 1000; quarterMs++) {
        const now = quarterMs / 4;
        if (held[0] === 0 || now - batchStarted >= HOLD_MS) {
          held[0] = ++batch;
          batchStarted = now;
        }
        indices[0] = indices[1];
        indices[1] = (indices[1] + 1) % COALESCED_RING_ENTRIES;
        vi.advanceTimersByTime(0.25);
      }
      expect(kicks()).toBe(0);
      expect(watch.looks).toBeLessThanOrEqual(1000 / HOLD_MS + 1);
      watch.stop();
    });

    it('kicks out a batch held a whole hold time by a guest that stopped exiting', () => {
      const { held, watch, kicks } = setUpHolding();
      watch.start();
      vi.advanceTimersByTime(1000); // idle: the watch has backed off
      expect(watch.currentIntervalMs).toBe(16);
      // A prompt printed, then the guest idles in its kernel.
      held[0] = 7;
      let waitedMs = 0;
      while (kicks() === 0 && waitedMs < 100) {
        vi.advanceTimersByTime(1);
        waitedMs++;
      }
      expect(kicks()).toBe(1);
      expect(held[0]).toBe(0);
      expect(waitedMs).toBeGreaterThanOrEqual(HOLD_MS);
      expect(waitedMs).toBeLessThanOrEqual(16 + HOLD_MS); // one idle interval to see it, one hold to be sure
      vi.advanceTimersByTime(1000);
      expect(kicks()).toBe(1); // nothing held, nothing queued: no more kicks
      watch.stop();
    });

    it('still kicks every other millisecond when writes queue up and the guest does not exit', () => {
      const { indices, watch, kicks } = setUpHolding();
      watch.start();
      indices[1] = 1;
      vi.advanceTimersByTime(HOLD_MS + 1); // seen queued, then seen stale
      const before = kicks();
      expect(before).toBe(1);
      for (let ms = 1; ms <= 20; ms++) {
        indices[1]++;
        vi.advanceTimersByTime(1);
      }
      expect(kicks() - before).toBe(10);
      watch.stop();
    });
  });

  it('counts across the end of the ring', () => {
    const { indices, watch, kicks } = setUp();
    indices[0] = indices[1] = COALESCED_RING_ENTRIES - 2;
    watch.start();
    indices[1] = 3; // five writes, wrapping
    vi.advanceTimersByTime(1);
    expect(kicks()).toBe(0); // queued since the last look
    indices[0] = COALESCED_RING_ENTRIES - 1; // one drained by an exit, four still waiting
    vi.advanceTimersByTime(1);
    expect(kicks()).toBe(1);
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
    expect(waitedMs).toBeLessThanOrEqual(16 + 1); // the longest a write waits after an idle spell
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
