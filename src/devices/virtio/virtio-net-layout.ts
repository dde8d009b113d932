// virtio-net's guest-visible structures and numbers (virtio v1.2 §5.1), as
// <linux/virtio_net.h> has them.
import { guestStruct, u16, u8 } from './guest-struct.js';

export const VIRTIO_NET_F = {
  CSUM: 0,
  GUEST_CSUM: 1,
  MTU: 3,
  MAC: 5,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  GUEST_ECN: 9,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  MRG_RXBUF: 15,
  STATUS: 16,
} as const;

export const VIRTIO_NET_S_LINK_UP = 1;

/** The configuration space tsvmm offers: MAC, status, and the MTU it advises. */
export const VirtioNetConfig = guestStruct('virtio_net_config', 12, {
  'mac[0]': u8(0),
  'mac[1]': u8(1),
  'mac[2]': u8(2),
  'mac[3]': u8(3),
  'mac[4]': u8(4),
  'mac[5]': u8(5),
  status: u16(6),
  max_virtqueue_pairs: u16(8),
  mtu: u16(10),
});

/** The header before every frame in both directions (VERSION_1: always with num_buffers). */
export const VirtioNetHdr = guestStruct('virtio_net_hdr_v1', 12, {
  flags: u8(0),
  gso_type: u8(1),
  hdr_len: u16(2),
  gso_size: u16(4),
  csum_start: u16(6),
  csum_offset: u16(8),
  num_buffers: u16(10),
});

export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;
/** virtio_net_hdr.flags: the checksum from csum_start is still to be done. */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
