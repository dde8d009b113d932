// Every way a guest could try to reach the host files next to the share:
// '..' above the root, symlinks out of the tree (absolute and relative, to
// files and to directories, dangling), names that are paths, renames out, and
// a directory swapped for a symlink after a fid went through it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as c from '../../src/p9/p9-constants.js';
import { type Share, makeShare } from './p9-fixture.js';
import { errnoFrom } from './p9-test-client.js';

const E = os.constants.errno;
const { O_RDONLY, O_RDWR, O_WRONLY, O_CREAT, O_TRUNC, O_DIRECTORY, S_IFIFO } = fs.constants;

let share: Share;
afterEach(() => share?.cleanup());

/** The host files outside the share, with contents, to check nothing there changed. */
function outsideSnapshot(s: Share): Record<string, string> {
  const snapshot: Record<string, string> = {};
  const visit = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (full === s.root) continue;
      const st = fs.lstatSync(full);
      snapshot[path.relative(s.outside, full)] = entry.isDirectory() ? 'dir' : `${st.mode.toString(8)}:${st.mtimeMs}:${entry.isFile() ? fs.readFileSync(full, 'utf8') : ''}`;
      if (entry.isDirectory()) visit(full);
    }
  };
  visit(s.outside);
  return snapshot;
}

/** A share with symlinks pointing out of it, and a directory 'hostdir' outside holding 'inner'. */
function makeHostileShare(options = {}): Share {
  const s = makeShare({ 'inside/file': 'inside' }, options);
  fs.mkdirSync(path.join(s.outside, 'hostdir'));
  fs.writeFileSync(path.join(s.outside, 'hostdir/inner'), 'host inner');
  fs.symlinkSync(path.join(s.outside, 'secret'), path.join(s.root, 'abs-file'));
  fs.symlinkSync('../secret', path.join(s.root, 'rel-file'));
  fs.symlinkSync(path.join(s.outside, 'hostdir'), path.join(s.root, 'abs-dir'));
  fs.symlinkSync('../hostdir', path.join(s.root, 'rel-dir'));
  fs.symlinkSync(path.join(s.outside, 'created-outside'), path.join(s.root, 'dangling'));
  return s;
}

describe('escapes', () => {
  it('".." at the root stays at the root', () => {
    share = makeShare();
    const { client } = share;
    const rootIno = fs.statSync(share.root, { bigint: true }).ino;
    const qids = client.walk(0, 1, ['..', '..', '..']);
    expect(qids.every((q) => q.path === rootIno)).toBe(true);
    expect(errnoFrom(() => client.walk(1, 2, ['secret']))).toBe(E.ENOENT);
    expect(client.walk(0, 2, ['..', 'share'])).toHaveLength(1);
    client.lopen(1, O_RDONLY | O_DIRECTORY);
    const names = client.readdirAll(1, 4096).map((e) => e.name);
    expect(names.sort()).toEqual(['.', '..']);
  });

  it('symlinks out of the tree: walk stops on the link, open and walk-through fail', () => {
    share = makeHostileShare();
    const before = outsideSnapshot(share);
    const { client } = share;
    let fid = 10;
    for (const name of ['abs-file', 'rel-file', 'abs-dir', 'rel-dir', 'dangling']) {
      const linkFid = fid++;
      const [qid] = client.walk(0, linkFid, [name]);
      expect(qid.type).toBe(c.P9_QTSYMLINK);
      expect(qid.path).toBe(fs.lstatSync(path.join(share.root, name), { bigint: true }).ino);
      expect(client.getattr(linkFid).mode & fs.constants.S_IFMT).toBe(fs.constants.S_IFLNK);
      expect(errnoFrom(() => client.lopen(linkFid, O_RDONLY))).toBe(E.ELOOP);
      expect(errnoFrom(() => client.lopen(linkFid, O_WRONLY | O_TRUNC))).toBe(E.ELOOP);
      expect([E.ELOOP, E.ENOTDIR]).toContain(errnoFrom(() => client.lopen(linkFid, O_RDONLY | O_DIRECTORY)));
      // Nothing walks through a symlink: the partial walk ends on the link itself.
      expect(client.walk(0, fid++, [name, 'inner'])).toHaveLength(1);
      expect(errnoFrom(() => client.walk(linkFid, fid++, ['inner']))).toBe(E.ELOOP);
      expect(errnoFrom(() => client.walk(linkFid, fid++, ['..']))).toBe(E.ELOOP);
      // Operations on the link never touch its target.
      expect(errnoFrom(() => client.setattr(linkFid, { valid: c.P9_ATTR_SIZE, size: 0 }))).toBe(E.ELOOP);
      expect(errnoFrom(() => client.setattr(linkFid, { valid: c.P9_ATTR_MODE, mode: 0o777 }))).toBe(E.EOPNOTSUPP);
      // A directory symlink is not a directory fid for the ops that take one.
      expect(errnoFrom(() => client.mkdir(linkFid, 'x'))).toBe(E.ELOOP);
      expect(errnoFrom(() => client.lcreate(linkFid, 'x', O_RDWR | O_CREAT, 0o644))).toBe(E.ELOOP);
      expect(errnoFrom(() => client.mknod(linkFid, 'x', S_IFIFO | 0o644))).toBe(E.ELOOP);
      expect(errnoFrom(() => client.symlink(linkFid, 'x', '/'))).toBe(E.ELOOP);
      expect(errnoFrom(() => client.unlinkat(linkFid, 'inner'))).toBe(E.ELOOP);
      expect(errnoFrom(() => client.renameat(linkFid, 'inner', 0, 'stolen'))).toBe(E.ELOOP);
      expect(errnoFrom(() => client.renameat(0, 'inside', linkFid, 'planted'))).toBe(E.ELOOP);
      client.walk(0, fid, ['inside', 'file']);
      expect(errnoFrom(() => client.link(linkFid, fid++, 'x'))).toBe(E.ELOOP);
    }
    // lcreate over a dangling link must not create its target.
    expect(errnoFrom(() => client.lcreate(0, 'dangling', O_RDWR | O_CREAT, 0o644))).toBe(E.ELOOP);
    expect(fs.existsSync(path.join(share.outside, 'created-outside'))).toBe(false);
    expect(outsideSnapshot(share)).toEqual(before);
  });

  it('a symlink the guest makes is stored, never followed', () => {
    share = makeShare();
    const before = outsideSnapshot(share);
    const { client } = share;
    client.symlink(0, 'etc', '/');
    client.symlink(0, 'up', '..');
    client.symlink(0, 'secret', path.join(share.outside, 'secret'));
    client.walk(0, 1, ['secret']);
    expect(client.readlink(1)).toBe(path.join(share.outside, 'secret'));
    expect(errnoFrom(() => client.lopen(1, O_RDONLY))).toBe(E.ELOOP);
    expect(client.walk(0, 2, ['up', 'secret'])).toHaveLength(1);
    expect(client.walk(0, 3, ['etc', 'passwd'])).toHaveLength(1);
    // A hard link to the symlink is another symlink, not a link to the host file.
    client.link(0, 1, 'hard');
    expect(fs.lstatSync(path.join(share.root, 'hard')).isSymbolicLink()).toBe(true);
    expect(outsideSnapshot(share)).toEqual(before);
  });

  it('names with "/", ".", "..", NUL or nothing are never paths', () => {
    share = makeShare({ f: 'file', 'd/': '' });
    const before = outsideSnapshot(share);
    const { client } = share;
    client.walk(0, 1, ['f']);
    const bad = ['../escaped', '..', '.', '', 'a/b', '/abs', `${share.outside}/x`, 'nul\0byte', '../secret'];
    for (const name of bad) {
      expect(errnoFrom(() => client.lcreate(0, name, O_RDWR | O_CREAT, 0o644))).toBe(E.EINVAL);
      expect(errnoFrom(() => client.mkdir(0, name))).toBe(E.EINVAL);
      expect(errnoFrom(() => client.mknod(0, name, S_IFIFO | 0o644))).toBe(E.EINVAL);
      expect(errnoFrom(() => client.symlink(0, name, 'f'))).toBe(E.EINVAL);
      expect(errnoFrom(() => client.link(0, 1, name))).toBe(E.EINVAL);
      expect(errnoFrom(() => client.unlinkat(0, name))).toBe(E.EINVAL);
      expect(errnoFrom(() => client.unlinkat(0, name, c.P9_DOTL_AT_REMOVEDIR))).toBe(E.EINVAL);
      expect(errnoFrom(() => client.rename(1, 0, name))).toBe(E.EINVAL);
      expect(errnoFrom(() => client.renameat(0, 'f', 0, name))).toBe(E.EINVAL);
      expect(errnoFrom(() => client.renameat(0, name, 0, 'g'))).toBe(E.EINVAL);
      if (name !== '..' && name !== '.') expect(errnoFrom(() => client.walk(0, 2, [name]))).toBe(E.EINVAL);
    }
    expect(outsideSnapshot(share)).toEqual(before);
    expect(fs.readdirSync(share.root).sort()).toEqual(['d', 'f']);
  });

  it('a directory swapped for a symlink after a fid went through it is not followed', () => {
    share = makeShare({ 'd/sub/file': 'inside' });
    fs.mkdirSync(path.join(share.outside, 'fake/sub'), { recursive: true });
    fs.writeFileSync(path.join(share.outside, 'fake/sub/file'), 'host file');
    const { client } = share;
    client.walk(0, 1, ['d', 'sub']);
    client.walk(0, 2, ['d', 'sub', 'file']);
    client.walk(0, 3, ['d']);
    // A host process (or another guest) swaps 'd' for a symlink out of the share.
    fs.renameSync(path.join(share.root, 'd'), path.join(share.root, 'd-real'));
    fs.symlinkSync(path.join(share.outside, 'fake'), path.join(share.root, 'd'));
    const before = outsideSnapshot(share);
    expect(errnoFrom(() => client.getattr(2))).toBe(E.ELOOP);
    expect(errnoFrom(() => client.lopen(2, O_RDONLY))).toBe(E.ELOOP);
    expect(errnoFrom(() => client.readlink(2))).toBe(E.ELOOP);
    expect(errnoFrom(() => client.setattr(2, { valid: c.P9_ATTR_SIZE, size: 0 }))).toBe(E.ELOOP);
    expect(errnoFrom(() => client.walk(1, 4, ['file']))).toBe(E.ELOOP);
    expect(errnoFrom(() => client.lopen(1, O_RDONLY | O_DIRECTORY))).toBe(E.ELOOP);
    expect(errnoFrom(() => client.lcreate(1, 'new', O_RDWR | O_CREAT, 0o644))).toBe(E.ELOOP);
    expect(errnoFrom(() => client.unlinkat(1, 'file'))).toBe(E.ELOOP);
    expect(errnoFrom(() => client.walk(3, 4, ['sub']))).toBe(E.ELOOP);
    expect(errnoFrom(() => client.statfs(2))).toBe(E.ELOOP);
    expect(errnoFrom(() => client.remove(2))).toBe(E.ELOOP);
    expect(outsideSnapshot(share)).toEqual(before);
  });

  it('an open directory swapped for a symlink lists nothing of the target', () => {
    share = makeShare({ 'd/file': 'inside' });
    fs.mkdirSync(path.join(share.outside, 'fake'));
    fs.writeFileSync(path.join(share.outside, 'fake/host-only'), '');
    const { client } = share;
    client.open(1, 'd', O_RDONLY | O_DIRECTORY);
    fs.renameSync(path.join(share.root, 'd'), path.join(share.root, 'd-real'));
    fs.symlinkSync(path.join(share.outside, 'fake'), path.join(share.root, 'd'));
    // The fid lists the directory it opened, where it is now, as an open directory does locally.
    expect(client.readdirAll(1, 4096).map((e) => e.name).sort()).toEqual(['.', '..', 'file']);
  });

  it('the guest cannot swap a directory under its own fids: they follow the rename', () => {
    share = makeShare({ 'd/sub/file': 'inside' });
    fs.mkdirSync(path.join(share.outside, 'fake/sub'), { recursive: true });
    const { client } = share;
    client.walk(0, 1, ['d', 'sub']);
    client.renameat(0, 'd', 0, 'moved');
    client.symlink(0, 'd', path.join(share.outside, 'fake'));
    client.walk(1, 2, ['file']);
    client.lopen(2, O_RDONLY);
    expect(Buffer.from(client.read(2, 0, 100)).toString()).toBe('inside');
    expect(client.walk(0, 3, ['d', 'sub'])).toHaveLength(1);
  });

  it('renames cannot move a file out of the share or over the root', () => {
    share = makeHostileShare();
    const before = outsideSnapshot(share);
    const { client } = share;
    client.walk(0, 1, ['inside', 'file']);
    client.walk(0, 2, ['..']);
    // '..' of the root is the root: the file moves up to the top of the share, no further.
    client.rename(1, 2, 'moved-up');
    expect(fs.existsSync(path.join(share.root, 'moved-up'))).toBe(true);
    expect(fs.existsSync(path.join(share.outside, 'moved-up'))).toBe(false);
    expect(errnoFrom(() => client.rename(0, 2, 'x'))).toBe(E.EBUSY);
    expect(errnoFrom(() => client.remove(2))).toBe(E.EBUSY);
    client.walk(0, 3, ['abs-dir']);
    expect(errnoFrom(() => client.rename(1, 3, 'file'))).toBe(E.ELOOP);
    // Moving a directory into itself is the kernel's EINVAL.
    client.walk(0, 4, ['inside']);
    expect(errnoFrom(() => client.rename(4, 4, 'self'))).toBe(E.EINVAL);
    expect(outsideSnapshot(share)).toEqual(before);
    expect(fs.readFileSync(path.join(share.root, 'moved-up'), 'utf8')).toBe('inside');
  });
});
