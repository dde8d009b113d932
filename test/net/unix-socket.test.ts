import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { F_GETFL, O_NONBLOCK, close, fcntl, read, write } from '../../ffi/libc.js';
import { connectUnixStream } from '../../src/net/unix-socket.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-unix-socket-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('connectUnixStream', () => {
  it('connects to a listening socket, non-blocking, and carries bytes both ways', async () => {
    const path = join(dir, 'peer.sock');
    let peer!: Socket;
    const server = createServer((s) => (peer = s));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const fd = connectUnixStream(path);
      try {
        expect((fcntl(fd, F_GETFL, 0) as number) & O_NONBLOCK).toBe(O_NONBLOCK);
        await expect.poll(() => peer).toBeDefined();
        const got = new Promise<Buffer>((resolve) => peer.once('data', resolve));
        expect(write(fd, Buffer.from('ping'), 4)).toBe(4);
        expect((await got).toString()).toBe('ping');
        peer.write('pong');
        const buf = new Uint8Array(8);
        await expect.poll(() => read(fd, buf, 8) as number).toBe(4);
        expect(Buffer.from(buf.subarray(0, 4)).toString()).toBe('pong');
      } finally {
        close(fd);
      }
    } finally {
      peer?.destroy();
      server.close();
    }
  });

  it('says why it cannot connect', () => {
    expect(() => connectUnixStream(join(dir, 'absent.sock'))).toThrow(/cannot connect to .*absent\.sock: no such socket/);
    const file = join(dir, 'plain-file');
    writeFileSync(file, '');
    expect(() => connectUnixStream(file)).toThrow(/cannot connect to .*plain-file: nobody is listening on it/);
    expect(() => connectUnixStream(`/${'x'.repeat(120)}`)).toThrow(/must have 1 to 107 bytes/);
  });
});
