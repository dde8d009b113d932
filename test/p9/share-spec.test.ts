// --share HOSTDIR[,tag=NAME][,ro] (and a machine file's virtio-9p "share" field).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { shareDevice } from '../../src/devices/kinds/virtio-9p-kind.js';
import { ShareSpecError, checkShareDirectory, parseShareSpec } from '../../src/p9/share-spec.js';

describe('--share', () => {
  it('takes a directory, a tag and ro; the directory is made absolute', () => {
    expect(parseShareSpec('/srv/data')).toEqual({ hostDir: '/srv/data', readOnly: false });
    expect(parseShareSpec('/srv/data,tag=data,ro')).toEqual({ hostDir: '/srv/data', tag: 'data', readOnly: true });
    expect(parseShareSpec('/srv/data,ro,tag=x.y-z_1')).toEqual({ hostDir: '/srv/data', tag: 'x.y-z_1', readOnly: true });
    expect(parseShareSpec('rel/dir').hostDir).toBe(path.resolve('rel/dir'));
    expect(parseShareSpec('/srv/data,process=separate')).toEqual({ hostDir: '/srv/data', readOnly: false, separateProcess: true });
    expect(parseShareSpec('/srv/data,process=inline')).toEqual({ hostDir: '/srv/data', readOnly: false });
  });

  it('names the share share0, share1, ... and uses that as the tag unless one is given', () => {
    expect(shareDevice(parseShareSpec('/a'), 0)).toMatchObject({ type: 'virtio-9p', name: 'share0', tag: 'share0' });
    expect(shareDevice(parseShareSpec('/b,tag=code'), 1)).toMatchObject({ name: 'share1', tag: 'code' });
  });

  it('says what is wrong, quoting the option', () => {
    const cases: [string, RegExp][] = [
      ['', /--share "": no directory; expected HOSTDIR\[,tag=NAME\]\[,ro\]/],
      [',ro', /no directory/],
      ['/d,tag=', /tag must be 1 to 64 letters/],
      ['/d,tag', /tag must be/],
      ['/d,tag=a b', /tag must be .*"a b"/],
      [`/d,tag=${'x'.repeat(65)}`, /tag must be/],
      ['/d,ro=yes', /ro takes no value/],
      ['/d,ro,ro', /option ro given twice/],
      ['/d,rw', /unknown option "rw"; expected HOSTDIR/],
      ['/d,process=elsewhere', /process must be inline or separate, not "elsewhere"/],
    ];
    for (const [text, why] of cases) {
      expect(() => parseShareSpec(text)).toThrow(ShareSpecError);
      expect(() => parseShareSpec(text)).toThrow(why);
    }
  });

  it('refuses a directory that does not exist or is a file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-share-spec-'));
    try {
      fs.writeFileSync(path.join(dir, 'file'), '');
      expect(() => checkShareDirectory(parseShareSpec(dir))).not.toThrow();
      expect(() => checkShareDirectory(parseShareSpec(path.join(dir, 'nope')))).toThrow(/cannot share .*nope: no such directory/);
      expect(() => checkShareDirectory(parseShareSpec(path.join(dir, 'file')))).toThrow(/cannot share .*file: not a directory/);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});
