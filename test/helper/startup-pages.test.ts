import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cleanFileMappings, releaseStartupPages, stillMapped } from '../../src/helper/startup-pages.js';

function mapping(header: string, fields: Record<string, number>): string {
  return [header, ...Object.entries(fields).map(([k, v]) => `${k}:${' '.repeat(Math.max(1, 16 - k.length))}${v} kB`), 'VmFlags: rd ex mr mw me'].join('\n');
}

const SMAPS = [
  mapping('00400000-00b6f000 r--p 00000000 00:1e 123 /usr/bin/node', { Rss: 6776, Anonymous: 0, Locked: 0 }),
  mapping('00b72000-025fe000 r-xp 00772000 00:1e 123 /usr/bin/node', { Rss: 20724, Anonymous: 0, Locked: 0 }),
  // RELRO: relocated at start-up, private copies -- must be kept
  mapping('0563a000-0563e000 r--p 0523a000 00:1e 123 /usr/bin/node', { Rss: 16, Anonymous: 8, Locked: 0 }),
  mapping('0563e000-0565d000 rw-p 0523e000 00:1e 123 /usr/bin/node', { Rss: 124, Anonymous: 92, Locked: 0 }),
  mapping('7fa03c444000-7fa03c59a000 r-xp 00026000 00:1e 456 /usr/lib/x86_64-linux-gnu/libc.so.6', { Rss: 1048, Anonymous: 0, Locked: 0 }),
  mapping('7fa03c59a000-7fa03c5ed000 r--p 0017c000 00:1e 456 /usr/lib/x86_64-linux-gnu/libc.so.6', { Rss: 0, Anonymous: 0, Locked: 0 }),
  mapping('7fa03c600000-7fa03c699000 r--p 00000000 00:1e 789 /locked.so', { Rss: 612, Anonymous: 0, Locked: 612 }),
  mapping('7fa03c699000-7fa03c79a000 r--s 00000000 00:1e 790 /shared-file', { Rss: 12, Anonymous: 0, Locked: 0 }),
  mapping('7fa038221000-7fa038287000 rw-p 00000000 00:00 0 ', { Rss: 408, Anonymous: 408, Locked: 0 }),
  mapping('7fa038287000-7fa0382ed000 rw-s 00000000 00:0f 1 anon_inode:kvm-vcpu:0', { Rss: 8, Anonymous: 0, Locked: 0 }),
  mapping('7fa03ca0b000-7fa03ca0d000 r-xp 00000000 00:00 0 [vdso]', { Rss: 4, Anonymous: 0, Locked: 0 }),
].join('\n');

describe('cleanFileMappings', () => {
  it('keeps only resident, read-only, private file mappings without private (copied) pages', () => {
    const found = cleanFileMappings(SMAPS);
    expect(found.map((m) => [m.start.toString(16), m.path, m.rss / 1024])).toEqual([
      ['400000', '/usr/bin/node', 6776],
      ['b72000', '/usr/bin/node', 20724],
      ['7fa03c444000', '/usr/lib/x86_64-linux-gnu/libc.so.6', 1048],
    ]);
    expect(found[1].end - found[1].start).toBe(0x025fe000 - 0x00b72000);
  });

  it("recognises a mapping again by its line in /proc/PID/maps, and nothing that differs in any field", () => {
    const found = cleanFileMappings(SMAPS);
    const line = (m: { line: string }) => m.line;
    expect(found.map(line)).toEqual([
      '00400000-00b6f000 r--p 00000000 00:1e 123 /usr/bin/node',
      '00b72000-025fe000 r-xp 00772000 00:1e 123 /usr/bin/node',
      '7fa03c444000-7fa03c59a000 r-xp 00026000 00:1e 456 /usr/lib/x86_64-linux-gnu/libc.so.6',
    ]);
    const maps = [
      '00400000-00b6f000 r--p 00000000 00:1e 123 /usr/bin/node',
      // the same range made writable, and another file at libc's old place
      '00b72000-025fe000 rw-p 00772000 00:1e 123 /usr/bin/node',
      '7fa03c444000-7fa03c59a000 r-xp 00026000 00:1e 457 /usr/lib/x86_64-linux-gnu/libc.so.6',
      '',
    ].join('\n');
    expect(stillMapped(found, maps).map(line)).toEqual(['00400000-00b6f000 r--p 00000000 00:1e 123 /usr/bin/node']);
  });

  it('refuses a mapping whose Anonymous field is missing', () => {
    expect(cleanFileMappings('00400000-00401000 r-xp 00000000 00:1e 123 /usr/bin/node\nRss:               4 kB\n')).toEqual([]);
  });
});

describe('releaseStartupPages', () => {
  it('drops the clean file pages of this process, which fault back in on use', () => {
    const released = releaseStartupPages();
    expect(released.mappings).toBeGreaterThan(0);
    expect(released.bytes).toBeGreaterThan(0);
    // Still running node's and libc's code, now faulted back in.
    expect(JSON.parse(JSON.stringify({ a: [1, 2, 3] }))).toEqual({ a: [1, 2, 3] });
    expect(readFileSync('/proc/self/smaps', 'utf8').length).toBeGreaterThan(0);
    // Again: the same mappings, found in /proc/self/maps this time.
    expect(releaseStartupPages().mappings).toBe(released.mappings);
    expect(JSON.parse(JSON.stringify({ b: 'still running' }))).toEqual({ b: 'still running' });
  });
});
