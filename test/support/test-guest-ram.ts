// Guest RAM for a test file: one region at guest-physical 0, allocated when
// the file loads and released after its tests.
import { afterAll } from 'vitest';
import { GuestMemory } from '../../src/memory/guest-memory.js';

export function testGuestRam(size: number): { mem: GuestMemory; ram: Uint8Array } {
  const mem = GuestMemory.allocate([{ gpa: 0, size }]);
  afterAll(() => mem.release());
  return { mem, ram: mem.regions[0].bytes };
}
