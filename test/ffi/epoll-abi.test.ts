// The epoll ABI the device loop uses (ffi/epoll.ts), checked against
// <sys/epoll.h> with a compiled probe.
import { expect, it } from 'vitest';
import * as epoll from '../../ffi/epoll.js';
import { findCCompiler } from '../support/c-compiler.js';
import { probeC, type CCheck } from '../support/c-probe.js';
import { describeNeeding } from '../support/host-requirements.js';

const names = ['EPOLL_CLOEXEC', 'EPOLL_CTL_ADD', 'EPOLL_CTL_DEL', 'EPOLL_CTL_MOD', 'EPOLLIN', 'EPOLLOUT', 'EPOLLERR', 'EPOLLHUP', 'EPOLLRDHUP', 'EPOLLET'] as const;
const checks: CCheck[] = [
  ...names.map((name): CCheck => [name, name, epoll[name]]),
  ['EPOLL_EVENT_SIZE', 'sizeof(struct epoll_event)', epoll.EPOLL_EVENT_SIZE],
  ['EPOLL_EVENT_DATA_OFFSET', 'offsetof(struct epoll_event, data)', epoll.EPOLL_EVENT_DATA_OFFSET],
];

const cc = findCCompiler();
describeNeeding(cc ? undefined : 'no C compiler on PATH', 'the epoll ABI matches the C headers', () => {
  const values = cc ? probeC(cc, ['sys/epoll.h'], checks) : new Map<string, number>();
  for (const [name, , expected] of checks) it(name, () => expect(values.get(name)).toBe(expected));
});
