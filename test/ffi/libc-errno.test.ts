// ffi/libc.ts is the one table of errno values tsvmm compares against; Node
// knows the platform's, so every E* constant there must agree with it.
import { constants } from 'node:os';
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
