import { describe, expect, it } from 'vitest';
import { withKernelWords } from '../../src/cli/run-command.js';

describe('withKernelWords', () => {
  it('appends when there are no init arguments', () => {
    expect(withKernelWords('console=ttyS0', 'virtio_mmio.device=4K@0xd0000000:5')).toBe('console=ttyS0 virtio_mmio.device=4K@0xd0000000:5');
  });
  it('inserts before -- so init does not get them', () => {
    expect(withKernelWords('console=ttyS0 -- /bin/sh -c "a -- b"', 'x=1')).toBe('console=ttyS0 x=1 -- /bin/sh -c "a -- b"');
    expect(withKernelWords('-- /init', 'x=1')).toBe('x=1 -- /init');
  });
  it('leaves the line alone when there is nothing to add', () => {
    expect(withKernelWords('a -- b', '')).toBe('a -- b');
  });
  it('does not mistake an option with dashes for --', () => {
    expect(withKernelWords('foo--bar', 'x=1')).toBe('foo--bar x=1');
  });
});
