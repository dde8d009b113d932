// The main thread's watch over the coalesced ring with several vCPUs: it
// drains what is queued at each look, looks every millisecond while a device
// waits for the writes and every 4 while none does, and backs off while the
// ring is empty.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { COALESCED_RING_ENTRIES, type RingPositions } from '../../src/bus/coalesced-ring.js';
import { CoalescedRingWatch } from '../../src/vmm/coalesced-ring-watch.js';

describe('CoalescedRingWatch', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function setUp(awaited = { now: true }) {
    const indices = new Int32Array(2); // first, last: equal = empty
    const positions: RingPositions = {
      get first() {
        return indices[0];
      },
      get last() {
        return indices[1];
      },
    };
    const watch = new CoalescedRingWatch(positions, () => (indices[0] = indices[1]), () => awaited.now);
    return { indices, watch };
  }

  it('drains at every look, every millisecond, while writes flow and a device waits for them', () => {
    const { indices, watch } = setUp();
    watch.start();
    for (let ms = 1; ms <= 20; ms++) {
      indices[1] = (indices[1] + 1) % COALESCED_RING_ENTRIES;
      vi.advanceTimersByTime(1);
      expect(watch.drains).toBe(ms);
    }
    watch.stop();
  });

  it('backs off to 16 ms with an empty ring, and snaps back to 1 ms when a write is queued', () => {
    const { indices, watch } = setUp();
    watch.start();
    vi.advanceTimersByTime(1000);
    expect(watch.currentIntervalMs).toBe(16);
    const looksInASecond = watch.looks;
    vi.advanceTimersByTime(1000);
    expect(watch.looks - looksInASecond).toBeLessThanOrEqual(63); // 1000 / 16, not 1000
    indices[1] = 5;
    let waitedMs = 0;
    while (watch.drains === 0 && waitedMs < 100) {
      vi.advanceTimersByTime(1);
      waitedMs++;
    }
    expect(waitedMs).toBeLessThanOrEqual(16); // the longest a write waits after an idle spell
    expect(indices[0]).toBe(5);
    expect(watch.currentIntervalMs).toBe(1);
    watch.stop();
  });

  it('looks every 4 ms while writes flow and nothing waits for them, every 1 ms once something does', () => {
    const awaited = { now: false };
    const { indices, watch } = setUp(awaited);
    watch.start();
    const queueAWrite = () => (indices[1] = (indices[1] + 1) % COALESCED_RING_ENTRIES);
    queueAWrite();
    vi.advanceTimersByTime(1); // the first look comes at the shortest interval
    expect(watch.drains).toBe(1);
    for (let ms = 0; ms < 40; ms++) {
      queueAWrite();
      vi.advanceTimersByTime(1);
    }
    expect(watch.drains).toBe(11);
    expect(watch.currentIntervalMs).toBe(4);
    awaited.now = true; // the guest turned the transmit interrupt on
    for (let ms = 0; ms < 10; ms++) {
      queueAWrite();
      vi.advanceTimersByTime(1);
    }
    expect(watch.drains).toBe(11 + 1 + 6); // the look already due, then one a millisecond
    expect(watch.currentIntervalMs).toBe(1);
    watch.stop();
  });

  it('stops looking when stopped', () => {
    const { indices, watch } = setUp();
    watch.start();
    watch.stop();
    indices[1] = 1;
    vi.advanceTimersByTime(100);
    expect(watch.drains).toBe(0);
    expect(watch.looks).toBe(0);
  });
});
