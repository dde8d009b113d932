// The epoll ABI the device loop uses (ffi/epoll.ts), checked against
// <sys/epoll.h> with a compiled probe, and the one field of libuv's loop it
// reads, against the headers of the Node running the tests.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

// Node installs its headers (libuv's among them) beside its binary: <prefix>/include/node.
const nodeInclude = join(dirname(dirname(process.execPath)), 'include', 'node');
const uvHeader = join(nodeInclude, 'uv.h');
describeNeeding(!cc ? 'no C compiler on PATH' : !existsSync(uvHeader) ? `no libuv header at ${uvHeader}` : undefined, "libuv's loop layout matches this Node's headers", () => {
  const uv: CCheck[] = [
    ['UV_VERSION_MAJOR', 'UV_VERSION_MAJOR', Number(process.versions.uv.split('.')[0])],
    ['UV_VERSION_MINOR', 'UV_VERSION_MINOR', Number(process.versions.uv.split('.')[1])],
    ['UV_LOOP_WATCHER_QUEUE_OFFSET', 'offsetof(uv_loop_t, watcher_queue)', epoll.UV_LOOP_WATCHER_QUEUE_OFFSET],
  ];
  const values = cc && existsSync(uvHeader) ? probeC(cc, ['uv.h'], uv, [], [nodeInclude]) : new Map<string, number>();
  for (const [name, , expected] of uv) it(name, () => expect(values.get(name)).toBe(expected));

  it('reads an empty watcher queue as empty, and a watcher started since as queued', async () => {
    const loop = epoll.nodeLibuvLoop();
    // In a timer callback libuv has just polled: whatever was queued is registered.
    await new Promise((r) => setTimeout(r, 1));
    expect(loop.hasQueuedWatchers()).toBe(false);
    const { createServer } = await import('node:net');
    const server = createServer().listen(0, '127.0.0.1');
    try {
      // Listening, before libuv polls again: the listening socket waits in the queue.
      await new Promise((r) => server.once('listening', r));
      expect(loop.hasQueuedWatchers()).toBe(true);
    } finally {
      server.close();
    }
  });
});
