/*
 * The virtio-mmio transport (version 2) and split virtqueue layout as the C
 * test guests drive them (virtio v1.2 §4.2.2, §2.7): register offsets,
 * device status bits, the transport feature, ring flags and the two ring
 * structures whose size does not depend on the queue's. Each guest lays out
 * its own avail and used rings, sized for its queues.
 */
#ifndef VIRTIO_MMIO_H
#define VIRTIO_MMIO_H

#include "tiny-guest.h"

#define MAGIC 0x74726976u /* "virt" */

enum {
  R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR_ID = 0x00c,
  R_DEV_FEAT = 0x010, R_DEV_FEAT_SEL = 0x014, R_DRV_FEAT = 0x020, R_DRV_FEAT_SEL = 0x024,
  R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038, R_QUEUE_READY = 0x044,
  R_QUEUE_NOTIFY = 0x050, R_INT_STATUS = 0x060, R_INT_ACK = 0x064, R_STATUS = 0x070,
  R_DESC_LO = 0x080, R_DESC_HI = 0x084, R_DRIVER_LO = 0x090, R_DRIVER_HI = 0x094,
  R_DEVICE_LO = 0x0a0, R_DEVICE_HI = 0x0a4, R_CONFIG_GEN = 0x0fc, R_CONFIG = 0x100,
};
enum { S_ACK = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8, S_NEEDS_RESET = 64 };
enum { INT_USED = 1, INT_CONFIG = 2 };
enum { F_VERSION_1 = 32 };
enum { DESC_NEXT = 1, DESC_WRITE = 2 };
enum { AVAIL_F_NO_INTERRUPT = 1, USED_F_NO_NOTIFY = 1 };

static inline u8 rd8(u64 base, u32 off) { return *(volatile u8 *)(base + off); }
static inline u16 rd16(u64 base, u32 off) { return *(volatile u16 *)(base + off); }
static inline u32 rd32(u64 base, u32 off) { return *(volatile u32 *)(base + off); }
static inline u64 rd64(u64 base, u32 off) { return *(volatile u64 *)(base + off); }
static inline void wr32(u64 base, u32 off, u32 v) { *(volatile u32 *)(base + off) = v; }

struct desc {
  u64 addr;
  u32 len;
  u16 flags;
  u16 next;
};
struct used_elem {
  u32 id;
  u32 len;
};

#endif
