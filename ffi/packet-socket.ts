// Raw packet sockets (<sys/socket.h>, <linux/if_packet.h>, <linux/if_ether.h>,
// <net/if.h>): a socket that sends and receives whole Ethernet frames on one
// interface. The virtio-net benchmark's far end of a tap (the host's side of
// the link). Checked against the headers by test/ffi/packet-socket-abi.test.ts.
import { libc } from './libc.js';

export const AF_PACKET = 17;
export const SOCK_RAW = 3;
/** Every protocol (host byte order; the socket and its address take it big-endian). */
export const ETH_P_ALL = 0x0003;
export const SOL_PACKET = 263;
/** Leave out the frames this host sends on the interface (Linux 4.20). */
export const PACKET_IGNORE_OUTGOING = 23;
/** struct sockaddr_ll: family, protocol (big-endian), interface index, then what binding leaves at 0. */
export const SOCKADDR_LL_SIZE = 20;
export const SLL_PROTOCOL_OFFSET = 2;
export const SLL_IFINDEX_OFFSET = 4;

export const bind = libc.func('int bind(int fd, const uint8_t *addr, unsigned int len)');
export const setsockopt = libc.func('int setsockopt(int fd, int level, int name, const uint8_t *value, unsigned int len)');
/** The interface's index, 0 when there is none by that name. */
export const ifNameToIndex = libc.func('unsigned int if_nametoindex(const char *name)');
