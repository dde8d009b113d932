// ffi/libc.ts is the one table of errno values tsvmm compares against; Node
// knows the platform's, so every E* constant there must agree with it. And
// the one retry policy for calls that fail with EINTR.
import { constants } from 'node:os';
import koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import * as libc from '../../ffi/libc.js';

describe('ffi/libc errno constants', () => {
  const names = Object.keys(libc).filter((k) => /^E[A-Z0-9]+$/.test(k));

  it('exports the values the code compares against', () => {
    expect(names).toEqual(expect.arrayContaining(['EAGAIN', 'EINTR', 'EINVAL', 'ENOTTY', 'EBUSY', 'EEXIST', 'ENOSYS']));
  });

  it.each(names)('%s matches the host', (name) => {
    expect((libc as Record<string, unknown>)[name]).toBe((constants.errno as Record<string, number>)[name]);
  });
});

describe('checkRetryingEintr', () => {
  // A call that fails with `errno` for its first `failures` attempts (errno set through koffi, as libc would).
  const failing = (failures: number, errno: number) => {
    let calls = 0;
    const call = () => {
      calls++;
      if (calls > failures) return 7;
      koffi.errno(errno);
      return -1;
    };
    return { call, calls: () => calls };
  };

  it('makes the call again while it fails with EINTR', () => {
    const f = failing(3, libc.EINTR);
    expect(libc.checkRetryingEintr(f.call, 'KVM_CREATE_VM')).toBe(7);
    expect(f.calls()).toBe(4);
  });

  it('throws at once on any other error', () => {
    const f = failing(3, libc.EINVAL);
    expect(() => libc.checkRetryingEintr(f.call, 'KVM_CREATE_VM')).toThrow(/KVM_CREATE_VM: EINVAL/);
    expect(f.calls()).toBe(1);
  });

  it('gives up on a call that never stops failing with EINTR', () => {
    const f = failing(Infinity, libc.EINTR);
    expect(() => libc.checkRetryingEintr(f.call, 'KVM_CREATE_VM')).toThrow(/KVM_CREATE_VM: EINTR/);
    expect(f.calls()).toBe(1000);
  });
});
