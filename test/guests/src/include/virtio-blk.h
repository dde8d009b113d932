/*
 * virtio-blk as the C test guests drive it (virtio v1.2 §5.2): the device
 * ID, request types, status values and the request header
 * (struct virtio_blk_outhdr).
 */
#ifndef VIRTIO_BLK_H
#define VIRTIO_BLK_H

#include "virtio-mmio.h"

enum { VIRTIO_ID_BLOCK = 2 };
enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8 };
enum { BLK_OK = 0, BLK_IOERR = 1, BLK_UNSUPP = 2 };

struct hdr {
  u32 type;
  u32 reserved;
  u64 sector;
};

#endif
