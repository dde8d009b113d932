// The far end of a tap for the virtio-net data-path benchmark: a tap device
// made for the run and a raw packet socket on its host side, which sends and
// receives whole frames where the host's network stack would. The tap has no
// address and no IPv6, so that the host sends nothing of its own into it
// (router solicitations, MLD reports) to be counted as the benchmark's.
import { writeFileSync } from 'node:fs';
import { SOCK_CLOEXEC, SOCK_NONBLOCK, close, koffi, socket } from '../../ffi/libc.js';
import {
  AF_PACKET, ETH_P_ALL, PACKET_IGNORE_OUTGOING, SLL_IFINDEX_OFFSET, SLL_PROTOCOL_OFFSET, SOCKADDR_LL_SIZE, SOCK_RAW, SOL_PACKET, bind, ifNameToIndex, setsockopt,
} from '../../ffi/packet-socket.js';
import { ip, withTapDevice } from './bench-tap.js';

/** The tap the benchmark makes, and removes after each run. */
export const BENCH_TAP = 'tsvnetpath0';
/** Its MTU: room for the benchmark's largest frame (65520 bytes with the Ethernet header). */
const TAP_MTU = 65_521;

/** The benchmark's tap (up, no address, no IPv6) for the duration of `body`; whoever attaches to it does so inside. */
export function withBenchTap<T>(body: () => Promise<T>): Promise<T> {
  const configure = () => {
    writeFileSync(`/proc/sys/net/ipv6/conf/${BENCH_TAP}/disable_ipv6`, '1');
    ip('link', 'set', BENCH_TAP, 'mtu', String(TAP_MTU), 'up');
  };
  return withTapDevice(BENCH_TAP, configure, body);
}

/** The benchmark's tap, with `body` given a non-blocking packet socket bound to its host side (closed after). */
export function withTapFarEnd<T>(body: (peerFd: number) => Promise<T>): Promise<T> {
  return withBenchTap(async () => {
    const fd = openPacketSocket(BENCH_TAP);
    try {
      return await body(fd);
    } finally {
      close(fd);
    }
  });
}

/** A raw packet socket on `ifname`, leaving out the frames this host sends on it. */
function openPacketSocket(ifname: string): number {
  const index = ifNameToIndex(ifname) as number;
  if (index === 0) throw new Error(`tap ${ifname}: no interface index`);
  const protocol = ((ETH_P_ALL & 0xff) << 8) | (ETH_P_ALL >> 8); // htons
  const fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol) as number;
  if (fd < 0) throw new Error(`packet socket: errno ${koffi.errno()}`);
  try {
    const on = new Uint8Array(new Int32Array([1]).buffer);
    if ((setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, on, on.length) as number) < 0) throw new Error(`PACKET_IGNORE_OUTGOING: errno ${koffi.errno()}`);
    const address = new DataView(new ArrayBuffer(SOCKADDR_LL_SIZE));
    address.setUint16(0, AF_PACKET, true);
    address.setUint16(SLL_PROTOCOL_OFFSET, ETH_P_ALL); // big-endian
    address.setInt32(SLL_IFINDEX_OFFSET, index, true);
    if ((bind(fd, new Uint8Array(address.buffer), SOCKADDR_LL_SIZE) as number) < 0) throw new Error(`binding the packet socket to ${ifname}: errno ${koffi.errno()}`);
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}
