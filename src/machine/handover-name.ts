// The one place names of descriptors that cross a process boundary are made.
// The frontend hands the helper and the device processes their descriptors
// by name (src/sandbox/received-descriptors.ts); the device plan records each name,
// and the receivers look names up in the plan, never build them.

/** What a descriptor is for: a device's region socket, a queue's doorbell, its interrupt, its interrupt status page, guest RAM, or a file its kind asked for ("image"). */
export type DescriptorRole = 'region' | `notify${number}` | 'irq' | 'interrupt-status' | 'ram' | (string & {});

/** A virtio device's InterruptStatus page (src/devices/virtio/interrupt-status-page.ts). */
export const INTERRUPT_STATUS_ROLE = 'interrupt-status';

/** The doorbell of virtqueue `queue` (an eventfd KVM writes when the guest notifies that queue). */
export function queueNotifyRole(queue: number): `notify${number}` {
  return `notify${queue}`;
}

/** The VM as a whole, for descriptors no single device owns (shared guest RAM). */
export const WHOLE_VM = 'vm';

/** `<role>.<owner>`, e.g. `region.testdev`, `image.vda`, `ram.vm`. Fixed names (kvm, kernel, initrd) have no dot. */
export function handoverName(owner: string, role: DescriptorRole): string {
  return `${role}.${owner}`;
}
