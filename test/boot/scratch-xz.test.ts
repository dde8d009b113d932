import { test, expect } from 'vitest';
import fs from 'node:fs';
import { decompress } from '../../src/boot/payload-decompressor.js';
test('xz big', () => {
  const ref = fs.readFileSync('/tmp/kpkg/ref.elf');
  const t = Date.now();
  const out = decompress('xz', fs.readFileSync('/tmp/kpkg/ref.xz'), ref.length);
  console.log('xz ms', Date.now() - t);
  expect(Buffer.compare(Buffer.from(out), ref)).toBe(0);
}, 300000);
