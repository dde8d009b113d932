import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as P from '../../src/block/block-promises.js';
import { DiskImage } from '../../src/block/disk-image.js';
import { DiskSpecError, parseDiskSpec } from '../../src/block/disk-spec.js';
import { createBlockBackend, openDisk } from '../../src/block/open-block-backend.js';
import { diskScratchDir } from '../support/disk-scratch.js';

const dir = diskScratchDir('tsvmm-spec-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--disk spec', () => {
  it('defaults and every option', () => {
    expect(parseDiskSpec('disk.img')).toEqual({ path: 'disk.img', readOnly: false, cache: 'writeback', engine: 'async' });
    expect(parseDiskSpec('/x/d.raw,ro,cache=none,engine=sync,serial=abc')).toEqual({
      path: '/x/d.raw',
      readOnly: true,
      cache: 'none',
      engine: 'sync',
      serial: 'abc',
    });
    expect(parseDiskSpec('a,engine=io_uring').engine).toBe('io_uring');
    expect(parseDiskSpec('a,engine=aio').engine).toBe('aio');
    expect(parseDiskSpec('a,ro=off').readOnly).toBe(false);
    expect(parseDiskSpec('we,,ird,,name.img,ro').path).toBe('we,ird,name.img');
  });

  it('mistakes are clear errors', () => {
    expect(() => parseDiskSpec('')).toThrow(DiskSpecError);
    expect(() => parseDiskSpec(',ro')).toThrow(/missing path/);
    expect(() => parseDiskSpec('a,cache=unsafe')).toThrow(/cache must be none or writeback/);
    expect(() => parseDiskSpec('a,engine=threads')).toThrow(/engine must be/);
    expect(() => parseDiskSpec('a,bogus')).toThrow(/unknown option "bogus"/);
    expect(() => parseDiskSpec('a,ro,ro')).toThrow(/given twice/);
    expect(() => parseDiskSpec('a,serial=' + 'x'.repeat(21))).toThrow(/1 to 20 bytes/);
  });
});

describe('engine probing and fallback', () => {
  it('async falls back io_uring → Linux AIO → sync, saying why', async () => {
    const p = join(dir, 'fb.img');
    writeFileSync(p, new Uint8Array(1 << 20));
    const image = DiskImage.open(p);
    const a = createBlockBackend(image, 'async', { skip: ['io_uring'] });
    expect(a.backend.kind).toBe('aio');
    expect(a.fallbacks).toEqual(['io_uring: skipped by request']);
    expect(await P.flush(a.backend)).toBe(0);
    a.backend.close();
    const s = createBlockBackend(image, 'async', { skip: ['io_uring', 'aio'] });
    expect(s.backend.kind).toBe('sync');
    expect(s.fallbacks).toEqual(['io_uring: skipped by request', 'aio: skipped by request']);
    s.backend.close();
    image.close();
  });

  it('openDisk opens, locks and builds the backend a spec asks for', async () => {
    const p = join(dir, 'open.img');
    writeFileSync(p, new Uint8Array(1 << 20));
    const d = openDisk(parseDiskSpec(`${p},cache=none,engine=io_uring`));
    expect(d.backend.kind).toBe('io_uring');
    expect(d.backend.direct).toBe(true);
    expect(() => openDisk(parseDiskSpec(p))).toThrow(/in use by another VM/);
    d.backend.close();
    d.image.close();
    const ro = openDisk(parseDiskSpec(`${p},ro,engine=sync`));
    expect(ro.backend.readOnly).toBe(true);
    ro.backend.close();
    ro.image.close();
  });
});
