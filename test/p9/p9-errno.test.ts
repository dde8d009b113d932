// A refusal is an answer, not a bug: P9Errno carries its errno and reason
// but no stack trace, whose capture made every Rlerror several times dearer
// than a served request (BENCHMARKS.md, "Refusals without a stack trace").
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { P9Errno, errnoOf, refuse } from '../../src/p9/p9-errno.js';

const { ENOENT, EIO } = os.constants.errno;

describe('P9Errno', () => {
  it('carries the errno and the reason, and no stack frames', () => {
    const e = new P9Errno(ENOENT, 'no such name');
    expect(e).toBeInstanceOf(Error);
    expect(errnoOf(e)).toBe(ENOENT);
    expect(e.message).toBe('no such name');
    expect(e.stack).toBe('P9Errno: no such name');
  });

  it('leaves the stack trace limit as it found it, for every other error', () => {
    const before = Error.stackTraceLimit;
    expect(() => refuse(ENOENT)).toThrow(P9Errno);
    expect(Error.stackTraceLimit).toBe(before);
    expect(new Error('x').stack).toMatch(/\n\s+at /);
  });

  it('maps what else a handler may throw: Node errors by their code, anything unknown to EIO', () => {
    expect(errnoOf(Object.assign(new Error('gone'), { code: 'ENOENT' }))).toBe(ENOENT);
    expect(errnoOf(new Error('bug'))).toBe(EIO);
  });
});
