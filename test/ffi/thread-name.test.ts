// setThreadName names the calling thread: what ps -L shows, and what the
// benchmarks tell a vCPU thread by (vcpu-protocol.ts VCPU_THREAD_NAME).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gettid, setThreadName } from '../../ffi/libc.js';

const comm = (tid: number) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();

describe('setThreadName', () => {
  it('names the calling thread, at most 15 bytes of it', () => {
    const tid = gettid() as number;
    const before = comm(tid);
    try {
      expect(setThreadName('vcpu7')).toBe(0);
      expect(comm(tid)).toBe('vcpu7');
      expect(setThreadName('a-name-longer-than-fifteen')).toBe(0);
      expect(comm(tid)).toBe('a-name-longer-t');
    } finally {
      setThreadName(before);
    }
    expect(comm(tid)).toBe(before);
  });
});
