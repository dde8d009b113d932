// The virtio structures and numbers tsvmm's devices use, checked against the
// kernel's uapi headers (linux-libc-dev) with a compiled probe.
import { describe, expect, it } from 'vitest';
import type { GuestStruct } from '../../../src/devices/virtio/guest-struct.js';
import { VIRTIO_BLK_F, VIRTIO_BLK_ID_BYTES, VIRTIO_BLK_S, VIRTIO_BLK_T } from '../../../src/devices/virtio/virtio-blk.js';
import {
  VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
  VirtioBlkConfig,
  VirtioBlkDiscardWriteZeroes,
  VirtioBlkOutHdr,
} from '../../../src/devices/virtio/virtio-blk-layout.js';
import * as consoleLayout from '../../../src/devices/virtio/virtio-console-layout.js';
import { VIRTIO_F, VIRTIO_ID, VIRTIO_STATUS, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_MMIO, VIRTIO_MMIO_INT_CONFIG, VIRTIO_MMIO_INT_VRING } from '../../../src/devices/virtio/virtio-mmio.js';
import * as net from '../../../src/devices/virtio/virtio-net-layout.js';
import { VIRTIO_9P_F } from '../../../src/devices/virtio/virtio-9p-layout.js';
import { findCCompiler } from '../../support/c-compiler.js';
import { probeC, type CCheck } from '../../support/c-probe.js';
import { describeNeeding } from '../../support/host-requirements.js';

/** offsetof and sizeof of every field; sizeof the struct when `whole` (tsvmm may use a prefix of a growing one). */
function structChecks(s: GuestStruct<string>, whole: boolean): CCheck[] {
  const checks: CCheck[] = [];
  for (const [field, { offset, size }] of Object.entries(s.fields) as [string, { offset: number; size: number }][]) {
    checks.push([`${s.name}.${field} offset`, `offsetof(struct ${s.name}, ${field})`, offset]);
    checks.push([`${s.name}.${field} size`, `sizeof(((struct ${s.name} *)0)->${field})`, size]);
  }
  if (whole) checks.push([`sizeof(struct ${s.name})`, `sizeof(struct ${s.name})`, s.size]);
  return checks;
}

/** `NAME_` + key for each entry of a constants object. */
function defines(prefix: string, values: Record<string, number>): CCheck[] {
  return Object.entries(values).map(([k, v]) => [`${prefix}${k}`, `${prefix}${k}`, v]);
}

// The header's names where they differ; QUEUE_RESET (virtio 1.2) is newer than Debian 12's header.
const mmioRegisterNames: Record<string, string> = { QUEUE_DRIVER_LOW: 'QUEUE_AVAIL_LOW', QUEUE_DRIVER_HIGH: 'QUEUE_AVAIL_HIGH', QUEUE_DEVICE_LOW: 'QUEUE_USED_LOW', QUEUE_DEVICE_HIGH: 'QUEUE_USED_HIGH' };

// The header's names of the two events the spec calls DEVICE_ADD and DEVICE_REMOVE.
const consoleEventNames: Record<string, string> = { DEVICE_ADD: 'PORT_ADD', DEVICE_REMOVE: 'PORT_REMOVE' };

const checks: CCheck[] = [
  ...structChecks(VirtioBlkConfig, false),
  ...structChecks(VirtioBlkOutHdr, true),
  ...structChecks(VirtioBlkDiscardWriteZeroes, true),
  ['VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP', 'VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP', VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP],
  ['VIRTIO_BLK_ID_BYTES', 'VIRTIO_BLK_ID_BYTES', VIRTIO_BLK_ID_BYTES],
  ...defines('VIRTIO_BLK_F_', VIRTIO_BLK_F),
  ...defines('VIRTIO_BLK_T_', VIRTIO_BLK_T),
  ...defines('VIRTIO_BLK_S_', VIRTIO_BLK_S),
  ...structChecks(net.VirtioNetConfig, false),
  ...structChecks(net.VirtioNetHdr, true),
  ...defines('VIRTIO_NET_F_', net.VIRTIO_NET_F),
  ...(['VIRTIO_NET_S_LINK_UP', 'VIRTIO_NET_HDR_GSO_NONE', 'VIRTIO_NET_HDR_GSO_TCPV4', 'VIRTIO_NET_HDR_GSO_TCPV6', 'VIRTIO_NET_HDR_GSO_ECN', 'VIRTIO_NET_HDR_F_NEEDS_CSUM'] as const).map(
    (name): CCheck => [name, name, net[name]],
  ),
  ...structChecks(consoleLayout.VirtioConsoleConfig, true),
  ...structChecks(consoleLayout.VirtioConsoleControl, true),
  ...defines('VIRTIO_CONSOLE_F_', consoleLayout.VIRTIO_CONSOLE_F),
  ...Object.entries(consoleLayout.VIRTIO_CONSOLE_EVENT).map(([k, v]): CCheck => [`VIRTIO_CONSOLE_${k}`, `VIRTIO_CONSOLE_${consoleEventNames[k] ?? k}`, v]),
  ['VIRTIO_CONSOLE_BAD_ID', 'VIRTIO_CONSOLE_BAD_ID', consoleLayout.VIRTIO_CONSOLE_BAD_ID],
  ...Object.entries(VIRTIO_MMIO)
    .filter(([k]) => k !== 'QUEUE_RESET')
    .map(([k, v]): CCheck => [`VIRTIO_MMIO_${k}`, `VIRTIO_MMIO_${mmioRegisterNames[k] ?? k}`, v]),
  ['VIRTIO_MMIO_INT_VRING', 'VIRTIO_MMIO_INT_VRING', VIRTIO_MMIO_INT_VRING],
  ['VIRTIO_MMIO_INT_CONFIG', 'VIRTIO_MMIO_INT_CONFIG', VIRTIO_MMIO_INT_CONFIG],
  ...Object.entries(VIRTIO_STATUS).map(([k, v]): CCheck => [`VIRTIO_CONFIG_S_${k}`, `VIRTIO_CONFIG_S_${k.replace('DEVICE_NEEDS_RESET', 'NEEDS_RESET')}`, v]),
  // <linux/virtio_ring.h> spells the two ring features VIRTIO_RING_F_*; Debian 12's headers lack NOTIFICATION_DATA.
  ...Object.entries(VIRTIO_F)
    .filter(([k]) => k !== 'NOTIFICATION_DATA')
    .map(([k, v]): CCheck => [`VIRTIO_F_${k}`, k === 'RING_INDIRECT_DESC' || k === 'RING_EVENT_IDX' ? `VIRTIO_RING_F_${k.slice(5)}` : `VIRTIO_F_${k}`, v]),
  // The header spells 9P's ID VIRTIO_ID_9P (not an identifier's start in TypeScript).
  ...Object.entries(VIRTIO_ID).map(([k, v]): CCheck => [`VIRTIO_ID_${k}`, `VIRTIO_ID_${k === 'NINEP' ? '9P' : k}`, v]),
  ['VIRTIO_9P_MOUNT_TAG', 'VIRTIO_9P_MOUNT_TAG', VIRTIO_9P_F.MOUNT_TAG],
  ['VRING_DESC_F_NEXT', 'VRING_DESC_F_NEXT', VIRTQ_DESC_F_NEXT],
  ['VRING_DESC_F_WRITE', 'VRING_DESC_F_WRITE', VIRTQ_DESC_F_WRITE],
  ['VRING_DESC_F_INDIRECT', 'VRING_DESC_F_INDIRECT', VIRTQ_DESC_F_INDIRECT],
];

const cc = findCCompiler();
describeNeeding(cc ? undefined : 'no C compiler on PATH', 'virtio layouts match the kernel headers', () => {
  const headers = ['linux/virtio_blk.h', 'linux/virtio_net.h', 'linux/virtio_mmio.h', 'linux/virtio_config.h', 'linux/virtio_ids.h', 'linux/virtio_ring.h', 'linux/virtio_9p.h', 'linux/virtio_console.h'];
  const values = cc ? probeC(cc, headers, checks) : new Map<string, number>();
  for (const [name, , expected] of checks) it(name, () => expect(values.get(name)).toBe(expected));
});
