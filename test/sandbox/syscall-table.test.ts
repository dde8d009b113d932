import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SYSCALLS, syscallName, syscallNumber } from '../../src/sandbox/syscall-table.js';
import { findUnistdHeader, parseUnistdHeader } from '../../tools/gen-syscall-table.js';
import { itNeeding } from '../support/host-requirements.js';

describe('x86-64 syscall table', () => {
  const header = findUnistdHeader();

  itNeeding(header ? undefined : 'no <asm/unistd_64.h> (linux-libc-dev)', 'matches the kernel header on this host', () => {
    const fromHeader = parseUnistdHeader(fs.readFileSync(header!, 'utf8'));
    expect(fromHeader.length).toBeGreaterThan(300);
    expect(Object.entries(SYSCALLS)).toEqual(fromHeader);
  });

  it('knows the numbers the sandbox depends on', () => {
    expect(syscallNumber('read')).toBe(0);
    expect(syscallNumber('ioctl')).toBe(16);
    expect(syscallNumber('clone')).toBe(56);
    expect(syscallNumber('execve')).toBe(59);
    expect(syscallNumber('pivot_root')).toBe(155);
    expect(syscallNumber('seccomp')).toBe(317);
    expect(syscallNumber('clone3')).toBe(435);
    expect(syscallName(16)).toBe('ioctl');
    expect(syscallName(9999)).toBe('syscall_9999');
    expect(() => syscallNumber('frobnicate')).toThrow(/unknown/);
  });
});
