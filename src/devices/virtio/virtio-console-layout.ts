// virtio-console's guest-visible structures and numbers (virtio v1.2 §5.3),
// as <linux/virtio_console.h> has them.
import { guestStruct, u16, u32 } from './guest-struct.js';

export const VIRTIO_CONSOLE_F = {
  SIZE: 0,
  MULTIPORT: 1,
  EMERG_WRITE: 2,
} as const;

/**
 * The configuration space. The spec's listing (v1.2 §5.3.4) puts rows before
 * cols; the Linux header, which drivers and devices follow, has cols first.
 */
export const VirtioConsoleConfig = guestStruct('virtio_console_config', 12, {
  cols: u16(0),
  rows: u16(2),
  max_nr_ports: u32(4),
  emerg_wr: u32(8),
});

/** A control message, either way; PORT_NAME's name bytes follow it in the same buffer. */
export const VirtioConsoleControl = guestStruct('virtio_console_control', 8, {
  id: u32(0),
  event: u16(4),
  value: u16(6),
});

/**
 * Control events, by the spec's names; the Linux header calls DEVICE_ADD and
 * DEVICE_REMOVE VIRTIO_CONSOLE_PORT_ADD and VIRTIO_CONSOLE_PORT_REMOVE.
 */
export const VIRTIO_CONSOLE_EVENT = {
  DEVICE_READY: 0,
  DEVICE_ADD: 1,
  DEVICE_REMOVE: 2,
  PORT_READY: 3,
  CONSOLE_PORT: 4,
  RESIZE: 5,
  PORT_OPEN: 6,
  PORT_NAME: 7,
} as const;

/** The `id` of messages about the whole device (DEVICE_READY), ~(u32)0. */
export const VIRTIO_CONSOLE_BAD_ID = 0xffff_ffff;
