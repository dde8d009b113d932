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

  it('kicks a vCPU out when it holds the same batch of console bytes a whole interval, never while it writes them out itself', () => {
    const indices = new Int32Array(2);
    const held = new Int32Array(1);
    let kicks = 0;
    const watch = new CoalescedRingWatch(publishedPositions(indices), () => ((kicks += 1), (held[0] = 0)), { heldOutput: () => held[0] });
    watch.start();
    // A booting guest: a new batch held at every look (it writes the last one out itself every few ms).
    for (let ms = 1; ms <= 100; ms++) {
      held[0] = ms;
      vi.advanceTimersByTime(1);
    }
    expect(kicks).toBe(0);
    expect(watch.currentIntervalMs).toBe(1);
    // A prompt printed, then the guest idles in its kernel: one batch stays held.
    held[0] = 1000;
    vi.advanceTimersByTime(1);
    expect(kicks).toBe(0);
    vi.advanceTimersByTime(1);
    expect(kicks).toBe(1);
    expect(held[0]).toBe(0);
    watch.stop();
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
