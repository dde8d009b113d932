// The far end of a tap for the virtio-net data-path benchmark: a tap device
// made for the run and a raw packet socket on its host side, which sends and
// receives whole frames where the host's network stack would. The tap has no
// address and no IPv6, so that the host sends nothing of its own into it
// (router solicitations, MLD reports) to be counted as the benchmark's.
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { SOCK_CLOEXEC, SOCK_NONBLOCK, close, koffi, socket } from '../../ffi/libc.js';
import {
  AF_PACKET, ETH_P_ALL, PACKET_IGNORE_OUTGOING, SLL_IFINDEX_OFFSET, SLL_PROTOCOL_OFFSET, SOCKADDR_LL_SIZE, SOCK_RAW, SOL_PACKET, bind, ifNameToIndex, setsockopt,
} from '../../ffi/packet-socket.js';

/** The tap the benchmark makes, and removes after each run. */
export const BENCH_TAP = 'tsvnetpath0';
/** Its MTU: room for the benchmark's largest frame (65520 bytes with the Ethernet header). */
const TAP_MTU = 65_521;

/** Why this host cannot run the tap rows, if it cannot. */
export function tapFarEndProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (it makes a tap device and a raw packet socket)';
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun (the tun module)';
  return undefined;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/**
 * Makes the tap (persistent, with a virtio-net header, up), runs `body` with
 * a non-blocking packet socket bound to it, then removes both. Whoever
 * attaches to the tap (tsvmm's NIC or QEMU's) does so inside `body`.
 */
export async function withTapFarEnd<T>(body: (peerFd: number) => Promise<T>): Promise<T> {
  ip('tuntap', 'add', 'dev', BENCH_TAP, 'mode', 'tap', 'vnet_hdr');
  let fd = -1;
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${BENCH_TAP}/disable_ipv6`, '1');
    ip('link', 'set', BENCH_TAP, 'mtu', String(TAP_MTU), 'up');
    const index = ifNameToIndex(BENCH_TAP) as number;
    if (index === 0) throw new Error(`tap ${BENCH_TAP}: no interface index`);
    const protocol = ((ETH_P_ALL & 0xff) << 8) | (ETH_P_ALL >> 8); // htons
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol) as number;
    if (fd < 0) throw new Error(`packet socket: errno ${koffi.errno()}`);
    const on = new Uint8Array(new Int32Array([1]).buffer);
    if ((setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, on, on.length) as number) < 0) throw new Error(`PACKET_IGNORE_OUTGOING: errno ${koffi.errno()}`);
    const address = new DataView(new ArrayBuffer(SOCKADDR_LL_SIZE));
    address.setUint16(0, AF_PACKET, true);
    address.setUint16(SLL_PROTOCOL_OFFSET, ETH_P_ALL); // big-endian
    address.setInt32(SLL_IFINDEX_OFFSET, index, true);
    if ((bind(fd, new Uint8Array(address.buffer), SOCKADDR_LL_SIZE) as number) < 0) throw new Error(`binding the packet socket to ${BENCH_TAP}: errno ${koffi.errno()}`);
    return await body(fd);
  } finally {
    if (fd >= 0) close(fd);
    ip('link', 'delete', BENCH_TAP);
  }
}
