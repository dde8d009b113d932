// The benchmarks' qtest client: a driver that posts its commands counts
// the replies still to come, and takes those that came without waiting.
import { afterEach, describe, expect, it } from 'vitest';
import { AF_UNIX, check, close, read, SOCK_CLOEXEC, SOCK_STREAM, socketpair, write } from '../../ffi/libc.js';
import { QtestChannel } from '../../tools/bench/qtest-channel.js';

describe('QtestChannel', () => {
  const fds: number[] = [];
  afterEach(() => fds.splice(0).forEach((fd) => close(fd)));

  function pair(): { channel: QtestChannel; qemu: number } {
    const sockets = new Int32Array(2);
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) as number, 'socketpair');
    fds.push(sockets[0], sockets[1]);
    return { channel: new QtestChannel(sockets[0]), qemu: sockets[1] };
  }
  const answer = (fd: number, text: string) => write(fd, Buffer.from(text), Buffer.byteLength(text));

  it('counts posted commands until their replies are collected, and collects without waiting', () => {
    const { channel, qemu } = pair();
    channel.post('readl 0x1000');
    channel.post('writel 0x1050 0x1');
    expect(channel.awaiting).toBe(2);
    channel.collect(); // nothing has come: returns at once
    expect(channel.awaiting).toBe(2);
    answer(qemu, 'OK 0x74726976\n');
    channel.collect();
    expect(channel.awaiting).toBe(1);
    answer(qemu, 'OK\n');
    channel.collect();
    expect(channel.awaiting).toBe(0);
    expect(channel.commands).toBe(2);
    const sent = new Uint8Array(64);
    const n = read(qemu, sent, sent.length) as number;
    expect(Buffer.from(sent.subarray(0, n)).toString()).toBe('readl 0x1000\nwritel 0x1050 0x1\n');
  });

  it('fails on a reply that is not OK', () => {
    const { channel, qemu } = pair();
    channel.post('readl 0x1000');
    answer(qemu, 'FAIL unknown command\n');
    expect(() => channel.collect()).toThrow(/FAIL unknown command/);
  });
});
