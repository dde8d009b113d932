import { test } from 'vitest';
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { parseBzImageHeader } from '../../src/boot/setup-header.js';
import { decompressPayload } from '../../src/boot/payload-decompressor.js';
test('probe', () => {
  const k = fs.readFileSync(process.env.K!);
  const h = parseBzImageHeader(k);
  const d = decompressPayload(k.subarray(h.payloadFileOffset, h.payloadFileOffset + h.payloadLength), { maxSize: h.initSize });
  console.log(d.format, createHash('sha256').update(d.data).digest('hex').slice(0, 16));
}, 120000);
