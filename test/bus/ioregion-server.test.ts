// The device side of the ioregionfd protocol serves commands from a peer it
// must not trust: a malformed command is counted and dropped (the device never
// sees it, nothing is answered), the next good one is still served, and a lost
// peer closes the server once, without a throw.
import { describe, expect, it } from 'vitest';
import { read, write } from '../../ffi/libc.js';
import type { BusDevice } from '../../src/bus/device.js';
import { IoregionServer } from '../../src/bus/ioregion-server.js';
import { IOREGION_MESSAGE_SIZE, encodeCommand, type IoregionCommand } from '../../src/bus/ioregion-wire.js';
import { regionSocketPairs } from '../support/region-sockets.js';

const REGION = 0x1000;
/** [VMM end, device end], both non-blocking: the server drains until EAGAIN. */
const { pair, closeNow } = regionSocketPairs({ nonBlocking: true });

interface Access {
  op: 'read' | 'write';
  offset: number;
  bytes: number[];
}

/** Records accesses; reads return 0xA0, 0xA1, ... */
function recordingDevice(): BusDevice & { accesses: Access[] } {
  const accesses: Access[] = [];
  return {
    name: 'rec',
    accesses,
    read(offset, data) {
      for (let i = 0; i < data.length; i++) data[i] = 0xa0 + i;
      accesses.push({ op: 'read', offset, bytes: Array.from(data) });
    },
    write(offset, data) {
      accesses.push({ op: 'write', offset, bytes: Array.from(data) });
    },
  };
}

function command(c: Partial<IoregionCommand>): Uint8Array {
  const b = new Uint8Array(IOREGION_MESSAGE_SIZE);
  encodeCommand(new DataView(b.buffer), { write: false, size: 4, wantsResponse: true, userData: 0n, offset: 0, data: 0n, ...c });
  return b;
}

/** encodeCommand takes a JS number; the wire field is a u64 the peer may fill freely. */
function withOffset(bytes: Uint8Array, offset: bigint): Uint8Array {
  new DataView(bytes.buffer).setBigUint64(16, offset, true);
  return bytes;
}

function send(fd: number, bytes: Uint8Array): void {
  expect(write(fd, bytes, bytes.length)).toBe(bytes.length);
}

/** The next response on `fd` as its data field, or undefined when none is queued. */
function response(fd: number): { data: bigint; padding: number[] } | undefined {
  const b = new Uint8Array(64);
  const n = read(fd, b, b.length) as number;
  if (n < 0) return undefined;
  expect(n).toBe(IOREGION_MESSAGE_SIZE);
  return { data: new DataView(b.buffer).getBigUint64(0, true), padding: Array.from(b.subarray(8, n)) };
}

function server(fd: number, device: BusDevice, closes: string[] = []) {
  return new IoregionServer(fd, device, REGION, (why) => closes.push(why));
}

describe('IoregionServer', () => {
  it('serves a posted write: the device gets the access-sized low bytes, nothing is answered', () => {
    const [vmm, dev] = pair();
    const device = recordingDevice();
    send(vmm, command({ write: true, size: 2, wantsResponse: false, offset: 0x10, data: 0xdead_beef_0000_1234n }));
    const s = server(dev, device);
    expect(s.serveAvailable()).toBe(1);
    expect(device.accesses).toEqual([{ op: 'write', offset: 0x10, bytes: [0x34, 0x12] }]);
    expect(response(vmm)).toBeUndefined();
    expect(s.served).toBe(1);
  });

  it.each([1, 2, 4, 8])('answers a %i-byte read with the device bytes and zero padding', (size) => {
    const [vmm, dev] = pair();
    const device = recordingDevice();
    send(vmm, command({ size, offset: REGION - size }));
    server(dev, device).serveAvailable();
    expect(device.accesses).toEqual([{ op: 'read', offset: REGION - size, bytes: Array.from({ length: size }, (_, i) => 0xa0 + i) }]);
    let expected = 0n;
    for (let i = size - 1; i >= 0; i--) expected = (expected << 8n) | BigInt(0xa0 + i);
    expect(response(vmm)).toEqual({ data: expected, padding: new Array(24).fill(0) });
  });

  it('answers a write that wants a response with 0', () => {
    const [vmm, dev] = pair();
    send(vmm, command({ write: true, size: 1, data: 0x41n }));
    server(dev, recordingDevice()).serveAvailable();
    expect(response(vmm)?.data).toBe(0n);
  });

  it('serves queued commands in order in one wake-up', () => {
    const [vmm, dev] = pair();
    const device = recordingDevice();
    for (let i = 0; i < 5; i++) send(vmm, command({ write: true, size: 1, wantsResponse: false, offset: i, data: BigInt(i) }));
    expect(server(dev, device).serveAvailable()).toBe(5);
    expect(device.accesses.map((a) => a.offset)).toEqual([0, 1, 2, 3, 4]);
  });

  const hostile: [string, Uint8Array][] = [
    ['a short command', command({}).subarray(0, 31)],
    ['an over-long command', new Uint8Array(IOREGION_MESSAGE_SIZE + 100)],
    ['an unknown command', Object.assign(command({}), { 0: 0x42 })],
    ['reserved info bits', Object.assign(command({}), { 3: 0x80 })],
    ['an offset past the region', command({ offset: REGION })],
    ['an access straddling the end', command({ size: 8, offset: REGION - 4 })],
    ['an offset of 2^64 - 1', withOffset(command({}), 2n ** 64n - 1n)],
  ];

  it.each(hostile)('drops %s: counted, the device untouched, nothing answered, the next command served', (_name, bad) => {
    const [vmm, dev] = pair();
    const device = recordingDevice();
    const closes: string[] = [];
    const s = server(dev, device, closes);
    send(vmm, bad);
    send(vmm, command({ write: true, size: 1, wantsResponse: false, offset: 7, data: 9n }));
    expect(s.serveAvailable()).toBe(2);
    expect(s.malformed).toBe(1);
    expect(device.accesses).toEqual([{ op: 'write', offset: 7, bytes: [9] }]);
    expect(response(vmm)).toBeUndefined();
    expect(closes).toEqual([]);
  });

  it('closes once when the VMM end goes away, then leaves the socket alone', () => {
    const [vmm, dev] = pair();
    const closes: string[] = [];
    const s = server(dev, recordingDevice(), closes);
    closeNow(vmm);
    expect(s.serveAvailable()).toBe(0);
    expect(closes).toEqual(['the VMM end closed the socket']);
    expect(s.serveAvailable()).toBe(0);
    expect(closes.length).toBe(1);
  });

  it('takes an empty datagram for the end of the peer (read() cannot tell them apart on SOCK_SEQPACKET)', () => {
    const [vmm, dev] = pair();
    const device = recordingDevice();
    const closes: string[] = [];
    const s = server(dev, device, closes);
    send(vmm, new Uint8Array(0));
    send(vmm, command({ write: true, size: 1, wantsResponse: false }));
    expect(s.serveAvailable()).toBe(0);
    expect(closes).toEqual(['the VMM end closed the socket']);
    expect(device.accesses).toEqual([]);
  });

  it('closes when a response cannot be sent, after serving the access', () => {
    const [vmm, dev] = pair();
    const device = recordingDevice();
    const closes: string[] = [];
    send(vmm, command({ size: 4 }));
    send(vmm, command({ size: 4, offset: 4 }));
    closeNow(vmm); // the queued commands stay readable; the answers have nowhere to go
    const s = server(dev, device, closes);
    expect(s.serveAvailable()).toBe(1);
    expect(device.accesses.length).toBe(1);
    expect(closes).toHaveLength(1);
    expect(closes[0]).toMatch(/^send failed/);
  });

  it('answers nothing to a socket that has nothing queued', () => {
    const [vmm, dev] = pair();
    const closes: string[] = [];
    expect(server(dev, recordingDevice(), closes).serveAvailable()).toBe(0);
    expect(closes).toEqual([]);
    expect(response(vmm)).toBeUndefined();
  });
});
