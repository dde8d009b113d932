// The tap backend on a real tap device, made in a network namespace of a
// child's own (unshare -n: needs root, as tap devices do): the descriptor
// openTap gives is non-blocking, so reading an idle tap returns at once.
// (A blocking one hung the device loop in readv: Node's own poll handles had
// made it non-blocking behind our back.)
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { describeNeeding } from '../support/host-requirements.js';

const rootProblem = process.getuid?.() !== 0 ? 'needs root (a network namespace and a tap device)' : undefined;

describeNeeding(rootProblem, 'a tap device opened by openTap', () => {
  it('is non-blocking: reading an idle tap says so instead of waiting', () => {
    const dist = (...p: string[]) => JSON.stringify(join(PROJECT_ROOT, 'dist', ...p));
    const script = `import { openTap, TapBackend } from ${dist('src', 'net', 'tap-backend.js')};
import { F_GETFL, O_NONBLOCK, fcntl } from ${dist('ffi', 'libc.js')};
import { HostBuffer } from ${dist('src', 'memory', 'dma-host-buffer.js')};
import { IoVecArray } from ${dist('src', 'memory', 'dma-iovec.js')};
const fd = openTap('tsvtest0');
const nonBlocking = (fcntl(fd, F_GETFL, 0) & O_NONBLOCK) !== 0;
const buffer = new HostBuffer(4096 + 64);
const iov = new IoVecArray(buffer.bytes.subarray(4096), buffer.address + 4096, 4);
iov.push(buffer.address, 4096);
const tap = new TapBackend(fd, 'tsvtest0');
const got = tap.receive(iov);
tap.close();
console.log(JSON.stringify({ nonBlocking, got }));`;
    const out = execFileSync('unshare', ['--net', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(JSON.parse(out)).toEqual({ nonBlocking: true, got: -1 });
  });
});
