// The fuzz targets, by name (tools/fuzz/main.ts and test/fuzz/fuzz.test.ts).
import type { FuzzTarget } from './harness.js';
import { BootTarget } from './boot.js';
import { DmaMapperTarget } from './dma-mapper.js';
import { MachineTarget } from './machine.js';
import { SeccompTarget } from './seccomp.js';
import { Virtio9pTarget } from './virtio-9p.js';
import { VirtioBlkTarget } from './virtio-blk.js';
import { VirtioConsoleTarget } from './virtio-console.js';
import { VirtioNetTarget } from './virtio-net.js';
import { VirtioRngTarget } from './virtio-rng.js';
import { VirtqueueTarget } from './virtqueue.js';

// Each factory's input type is private to its target; the runner only passes inputs back.
const FACTORIES: Record<string, () => unknown> = {
  virtqueue: () => new VirtqueueTarget(),
  'virtio-blk': () => new VirtioBlkTarget(),
  'virtio-net': () => new VirtioNetTarget(),
  'virtio-console': () => new VirtioConsoleTarget(),
  'virtio-rng': () => new VirtioRngTarget(),
  'virtio-9p': () => new Virtio9pTarget(),
  'dma-mapper': () => new DmaMapperTarget(),
  boot: () => new BootTarget(),
  machine: () => new MachineTarget(),
  seccomp: () => new SeccompTarget(),
};

export const TARGET_NAMES = Object.keys(FACTORIES);

export function createTarget(name: string): FuzzTarget<unknown> {
  const make = FACTORIES[name];
  if (!make) throw new Error(`unknown fuzz target ${name}`);
  return make() as FuzzTarget<unknown>;
}
