// virtio-9p's guest-visible numbers (virtio device ID 9, as
// Linux's <linux/virtio_9p.h> has them). The configuration space has a
// variable length: le16 tag_len, then tag_len bytes of mount tag (no NUL).

export const VIRTIO_9P_F = {
  /** The configuration space holds a mount tag. */
  MOUNT_TAG: 0,
} as const;

/** Offset of le16 tag_len in the configuration space. */
export const VIRTIO_9P_CONFIG_TAG_LEN = 0;
/** Offset of the tag's first byte. */
export const VIRTIO_9P_CONFIG_TAG = 2;
/** The longest mount tag tsvmm gives (Linux reads any length; QEMU allows 255; short names are what people type). */
export const VIRTIO_9P_MAX_TAG_LENGTH = 64;
