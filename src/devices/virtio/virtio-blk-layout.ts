// virtio-blk's guest-visible structures (virtio v1.2 §5.2.4, §5.2.6), as
// <linux/virtio_blk.h> has them. Only the fields tsvmm offers or reads.
import { guestStruct, u16, u32, u64, u8 } from './guest-struct.js';

/** The configuration space; tsvmm's ends after write_zeroes_may_unmap and its padding. */
export const VirtioBlkConfig = guestStruct('virtio_blk_config', 60, {
  capacity: u64(0),
  size_max: u32(8),
  seg_max: u32(12),
  blk_size: u32(20),
  num_queues: u16(34),
  max_discard_sectors: u32(36),
  max_discard_seg: u32(40),
  discard_sector_alignment: u32(44),
  max_write_zeroes_sectors: u32(48),
  max_write_zeroes_seg: u32(52),
  write_zeroes_may_unmap: u8(56),
});

/** The header that starts every request's device-readable bytes. */
export const VirtioBlkOutHdr = guestStruct('virtio_blk_outhdr', 16, {
  type: u32(0),
  ioprio: u32(4),
  sector: u64(8),
});

/** One range of a DISCARD or WRITE_ZEROES request. */
export const VirtioBlkDiscardWriteZeroes = guestStruct('virtio_blk_discard_write_zeroes', 16, {
  sector: u64(0),
  num_sectors: u32(8),
  flags: u32(12),
});
/** flags bit 0 of a WRITE_ZEROES range: the device may deallocate. */
export const VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;
