// The tun/tap driver's ABI (<linux/if_tun.h>, <net/if.h>): what opening a tap
// device with a virtio-net header takes. Checked against the headers by
// test/net/tun-abi.test.ts.

/** _IOW('T', 202, int) */
export const TUNSETIFF = 0x400454ca;
/** _IOW('T', 208, unsigned int) */
export const TUNSETOFFLOAD = 0x400454d0;
/** _IOW('T', 216, int) */
export const TUNSETVNETHDRSZ = 0x400454d8;
/** TUNSETOFFLOAD flags: what the reader of the tap (the guest) can take. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
/** struct ifreq: the name (IFNAMSIZ bytes) then a union whose ifr_flags is a short. */
export const IFNAMSIZ = 16;
export const IFREQ_SIZE = 40;
export const IFREQ_FLAGS_OFFSET = 16;
