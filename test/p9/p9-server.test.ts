import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as c from '../../src/p9/p9-constants.js';
import { P9Server } from '../../src/p9/p9-server.js';
import { type Share, makeShare } from './p9-fixture.js';
import { P9TestClient, errnoFrom } from './p9-test-client.js';

const E = os.constants.errno;
const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_DIRECTORY } = fs.constants;
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

let share: Share;
afterEach(() => share?.cleanup());

describe('P9Server session', () => {
  it('negotiates msize and speaks only 9P2000.L', () => {
    share = makeShare();
    const client = new P9TestClient(new P9Server({ root: share.root, maxMessageSize: 65536 }));
    expect(client.version(1 << 20)).toEqual({ msize: 65536, version: '9P2000.L' });
    expect(client.version(8192)).toEqual({ msize: 8192, version: '9P2000.L' });
    expect(client.version(8192, '9P2000.u').version).toBe('unknown');
    expect(client.version(8192, '9P2000').version).toBe('unknown');
    expect(errnoFrom(() => client.version(512))).toBe(E.EMSGSIZE);
  });

  it('Tversion ends the session: fids are gone', () => {
    share = makeShare({ f: 'x' });
    const { client } = share;
    client.walk(0, 1, ['f']);
    client.version(65536);
    expect(errnoFrom(() => client.walk(1, 2, []))).toBe(E.EBADF);
    expect(share.server.fidCount).toBe(0);
  });

  it('attach records the user, refuses a fid in use', () => {
    share = makeShare();
    const { client } = share;
    const rootQid = client.attach(5, 'alice', '/anything', 1000);
    expect(rootQid.type).toBe(c.P9_QTDIR);
    expect(rootQid.path).toBe(fs.statSync(share.root, { bigint: true }).ino);
    expect(errnoFrom(() => client.attach(5))).toBe(E.EINVAL);
    expect(errnoFrom(() => client.attach(c.P9_NOFID))).toBe(E.EINVAL);
  });

  it('flush answers Rflush; clunk frees the fid; unknown fids are EBADF', () => {
    share = makeShare();
    const { client } = share;
    client.flush(3);
    client.walk(0, 1, []);
    client.clunk(1);
    expect(errnoFrom(() => client.clunk(1))).toBe(E.EBADF);
    expect(errnoFrom(() => client.getattr(99))).toBe(E.EBADF);
    expect(errnoFrom(() => client.read(99, 0, 10))).toBe(E.EBADF);
  });
});

describe('Twalk', () => {
  it('walks names one by one, returning one qid each', () => {
    share = makeShare({ 'a/b/c.txt': 'hello' });
    const qids = share.client.walk(0, 1, ['a', 'b', 'c.txt']);
    expect(qids.map((q) => q.type)).toEqual([c.P9_QTDIR, c.P9_QTDIR, c.P9_QTFILE]);
    expect(qids[2].path).toBe(fs.statSync(path.join(share.root, 'a/b/c.txt'), { bigint: true }).ino);
    expect(share.client.getattr(1).size).toBe(5n);
  });

  it('zero names clones the fid; newfid == fid moves the fid', () => {
    share = makeShare({ 'a/f': 'x' });
    const { client } = share;
    expect(client.walk(0, 1, [])).toEqual([]);
    expect(client.getattr(1).qid.type).toBe(c.P9_QTDIR);
    client.walk(1, 1, ['a']);
    client.walk(1, 1, ['f']);
    expect(client.getattr(1).size).toBe(1n);
  });

  it('a failing first name is Rlerror; a later failure is a partial Rwalk without newfid', () => {
    share = makeShare({ 'a/b/': '' });
    const { client } = share;
    expect(errnoFrom(() => client.walk(0, 1, ['missing']))).toBe(E.ENOENT);
    const qids = client.walk(0, 1, ['a', 'b', 'missing', 'x']);
    expect(qids).toHaveLength(2);
    expect(errnoFrom(() => client.getattr(1))).toBe(E.EBADF);
  });

  it('refuses more than 16 names, a newfid in use, walking from a file', () => {
    share = makeShare({ f: 'x' });
    const { client } = share;
    expect(errnoFrom(() => client.walk(0, 1, Array(17).fill('..')))).toBe(E.EINVAL);
    expect(client.walk(0, 1, Array(16).fill('..'))).toHaveLength(16);
    expect(errnoFrom(() => client.walk(0, 1, ['f']))).toBe(E.EINVAL);
    client.walk(0, 2, ['f']);
    expect(errnoFrom(() => client.walk(2, 3, ['x']))).toBe(E.ENOTDIR);
    expect(client.walk(0, 3, ['f', 'x'])).toHaveLength(1);
  });

  it('walks ".." to the parent and "." to the same directory', () => {
    share = makeShare({ 'a/b/': '' });
    const { client } = share;
    const [a] = client.walk(0, 1, ['a']);
    const qids = client.walk(0, 2, ['a', 'b', '..', '.']);
    expect(qids[2]).toEqual(a);
    expect(qids[3]).toEqual(a);
  });
});

describe('files', () => {
  it('lopen, read, write, with offsets', () => {
    share = makeShare({ f: 'hello world' });
    const { client } = share;
    client.open(1, 'f', O_RDWR);
    expect(text(client.read(1, 6, 100))).toBe('world');
    expect(client.read(1, 100, 10)).toHaveLength(0);
    expect(client.write(1, 6, bytes('there'))).toBe(5);
    expect(fs.readFileSync(path.join(share.root, 'f'), 'utf8')).toBe('hello there');
  });

  it('opening twice is EINVAL; I/O needs the right open mode', () => {
    share = makeShare({ f: 'data' });
    const { client } = share;
    client.walk(0, 1, ['f']);
    expect(errnoFrom(() => client.read(1, 0, 4))).toBe(E.EBADF);
    client.lopen(1, O_RDONLY);
    expect(errnoFrom(() => client.lopen(1, O_RDONLY))).toBe(E.EINVAL);
    expect(errnoFrom(() => client.write(1, 0, bytes('x')))).toBe(E.EBADF);
    client.open(2, 'f', O_WRONLY);
    expect(errnoFrom(() => client.read(2, 0, 4))).toBe(E.EBADF);
    expect(errnoFrom(() => client.lopen(0, 3))).toBe(E.EINVAL);
  });

  it('O_TRUNC truncates; a directory opens O_DIRECTORY but not for writing', () => {
    share = makeShare({ f: 'data', 'd/': '' });
    const { client } = share;
    client.open(1, 'f', O_WRONLY | O_TRUNC);
    expect(fs.statSync(path.join(share.root, 'f')).size).toBe(0);
    expect(client.open(2, 'd', O_RDONLY | O_DIRECTORY).type).toBe(c.P9_QTDIR);
    client.walk(0, 3, ['d']);
    expect(errnoFrom(() => client.lopen(3, O_WRONLY))).toBe(E.EISDIR);
    client.walk(0, 4, ['f']);
    expect(errnoFrom(() => client.lopen(4, O_RDONLY | O_DIRECTORY))).toBe(E.ENOTDIR);
  });

  it('counts above msize - header are EINVAL', () => {
    share = makeShare({ f: 'data' });
    const { client, server } = share;
    client.open(1, 'f', O_RDWR);
    expect(errnoFrom(() => client.read(1, 0, server.msize - 10))).toBe(E.EINVAL);
    expect(client.read(1, 0, server.msize - 11)).toHaveLength(4);
    expect(errnoFrom(() => client.read(1, 0, 0xffffffff))).toBe(E.EINVAL);
    client.open(2, '', O_RDONLY);
    expect(errnoFrom(() => client.readdir(2, 0, 0xffffffff))).toBe(E.EINVAL);
  });

  it('lcreate makes and opens a file with the exact mode; O_EXCL refuses an existing one', () => {
    share = makeShare({ 'd/': '', old: 'old' });
    const { client } = share;
    client.walk(0, 1, ['d']);
    const { qid, iounit } = client.lcreate(1, 'new', O_RDWR | O_CREAT, 0o664);
    expect(qid.type).toBe(c.P9_QTFILE);
    expect(iounit).toBeGreaterThan(0);
    expect(client.write(1, 0, bytes('created'))).toBe(7);
    expect(text(client.read(1, 0, 100))).toBe('created');
    expect(fs.statSync(path.join(share.root, 'd/new')).mode & 0o7777).toBe(0o664);
    expect(client.getattr(1).qid.path).toBe(qid.path);
    client.walk(0, 2, []);
    expect(errnoFrom(() => client.lcreate(2, 'old', O_RDWR | O_CREAT | O_EXCL, 0o600))).toBe(E.EEXIST);
    client.lcreate(2, 'old', O_RDWR | O_CREAT, 0o600);
    expect(text(client.read(2, 0, 10))).toBe('old');
  });

  it('fsync and fdatasync on an open fid; EBADF when not open', () => {
    share = makeShare({ f: 'x' });
    const { client } = share;
    client.walk(0, 1, ['f']);
    expect(errnoFrom(() => client.fsync(1))).toBe(E.EBADF);
    client.lopen(1, O_RDWR);
    client.fsync(1, 0);
    client.fsync(1, 1);
  });

  it('open-unlink-fstat: an unlinked open file keeps answering getattr, read, write, setattr', () => {
    share = makeShare({ f: 'still here' });
    const { client } = share;
    client.open(1, 'f', O_RDWR);
    client.unlinkat(0, 'f');
    expect(fs.existsSync(path.join(share.root, 'f'))).toBe(false);
    const attr = client.getattr(1);
    expect(attr.size).toBe(10n);
    expect(attr.nlink).toBe(0n);
    expect(text(client.read(1, 0, 100))).toBe('still here');
    expect(client.write(1, 10, bytes('!'))).toBe(1);
    expect(client.getattr(1).size).toBe(11n);
    client.setattr(1, { valid: c.P9_ATTR_SIZE, size: 5 });
    expect(text(client.read(1, 0, 100))).toBe('still');
    client.fsync(1);
    client.clunk(1);
  });
});

describe('Treaddir', () => {
  it('lists . and .. and every entry with qid, type and resumable offsets', () => {
    share = makeShare({ 'd/file': 'x', 'd/sub/': '' });
    fs.symlinkSync('file', path.join(share.root, 'd/link'));
    const { client } = share;
    client.open(1, 'd', O_RDONLY | O_DIRECTORY);
    const entries = client.readdirAll(1, 4096);
    const byName = new Map(entries.map((e) => [e.name, e]));
    expect([...byName.keys()].sort()).toEqual(['.', '..', 'file', 'link', 'sub']);
    expect(byName.get('file')!.type).toBe(8); // DT_REG
    expect(byName.get('sub')!.type).toBe(4); // DT_DIR
    expect(byName.get('link')!.type).toBe(10); // DT_LNK
    expect(byName.get('link')!.qid.type).toBe(c.P9_QTSYMLINK);
    expect(byName.get('file')!.qid.path).toBe(fs.lstatSync(path.join(share.root, 'd/file'), { bigint: true }).ino);
    expect(byName.get('..')!.qid.path).toBe(fs.statSync(share.root, { bigint: true }).ino);
  });

  it("the share's root lists itself as its own '..', as the jail's root does", () => {
    share = makeShare({ f: '' });
    const { client } = share;
    client.lopen(0, O_RDONLY | O_DIRECTORY);
    const byName = new Map(client.readdirAll(0, 4096).map((e) => [e.name, e]));
    const rootIno = fs.statSync(share.root, { bigint: true }).ino;
    expect(byName.get('.')!.qid.path).toBe(rootIno);
    expect(byName.get('..')!.qid.path).toBe(rootIno);
    expect(byName.get('..')!.qid.type).toBe(c.P9_QTDIR);
  });

  it('1,000 entries over many small reads: none lost, none doubled, stable while the directory changes', () => {
    share = makeShare({ 'big/': '' });
    const names = Array.from({ length: 1000 }, (_, i) => `entry-${String(i).padStart(4, '0')}-${'x'.repeat(i % 40)}`);
    for (const name of names) fs.writeFileSync(path.join(share.root, 'big', name), '');
    const { client } = share;
    client.open(1, 'big', O_RDONLY | O_DIRECTORY);
    const seen: string[] = [];
    let offset = 0;
    let calls = 0;
    for (;;) {
      const batch = client.readdir(1, offset, 200);
      if (batch.length === 0) break;
      calls++;
      seen.push(...batch.map((e) => e.name));
      offset = Number(batch[batch.length - 1].offset);
      if (calls === 5) {
        // Changes in the middle of a listing do not shift the offsets already handed out.
        fs.unlinkSync(path.join(share.root, 'big', names[999]));
        fs.writeFileSync(path.join(share.root, 'big', 'added-late'), '');
      }
    }
    expect(calls).toBeGreaterThan(100);
    expect(seen).toHaveLength(1002);
    expect(new Set(seen).size).toBe(1002);
    expect([...seen].sort()).toEqual(['.', '..', ...names].sort());
    // A rewind (offset 0) sees the directory as it is now.
    const again = client.readdirAll(1, 8192).map((e) => e.name);
    expect(again).toContain('added-late');
    expect(again).not.toContain(names[999]);
  });

  it('a count too small for one entry is EINVAL; readdir needs an open directory', () => {
    share = makeShare({ 'd/': '', f: '' });
    const { client } = share;
    client.walk(0, 1, ['d']);
    expect(errnoFrom(() => client.readdir(1, 0, 4096))).toBe(E.EBADF);
    client.lopen(1, O_RDONLY | O_DIRECTORY);
    expect(errnoFrom(() => client.readdir(1, 0, 10))).toBe(E.EINVAL);
    client.open(2, 'f', O_RDONLY);
    expect(errnoFrom(() => client.readdir(2, 0, 4096))).toBe(E.ENOTDIR);
  });
});

describe('attributes', () => {
  it('getattr reports the host stat with nanosecond times, and the iounit in host blocks as the block size', () => {
    share = makeShare({ f: 'twelve bytes' });
    const host = path.join(share.root, 'f');
    fs.chmodSync(host, 0o640);
    const st = fs.lstatSync(host, { bigint: true });
    const { client } = share;
    client.walk(0, 1, ['f']);
    const attr = client.getattr(1);
    expect(attr.valid & c.P9_STATS_BASIC).toBe(c.P9_STATS_BASIC);
    expect(attr.mode).toBe(Number(st.mode));
    expect(attr.uid).toBe(Number(st.uid));
    expect(attr.gid).toBe(Number(st.gid));
    expect(attr.nlink).toBe(1n);
    expect(attr.size).toBe(12n);
    // As QEMU's server: what one message carries, in whole host blocks (programs size their reads by it).
    const iounit = 65536 - c.P9_TWRITE_HEADER_SIZE;
    expect(attr.blksize).toBe(BigInt(iounit - (iounit % Number(st.blksize))));
    expect(attr.blocks).toBe(st.blocks);
    expect(attr.qid.path).toBe(st.ino);
    expect(attr.mtime[0] * 1_000_000_000n + attr.mtime[1]).toBe(st.mtimeNs);
    expect(attr.ctime[0] * 1_000_000_000n + attr.ctime[1]).toBe(st.ctimeNs);
    expect(attr.rdev).toBe(st.rdev);
    // statx's qid (walk, getattr) is the one an open file's fstat gives.
    expect(client.lopen(1).qid).toEqual(attr.qid);
  });

  it('setattr: mode, size, given times with nanoseconds, times now, uid/gid unchanged', () => {
    share = makeShare({ f: 'some content' });
    const host = path.join(share.root, 'f');
    const { client } = share;
    client.walk(0, 1, ['f']);
    client.setattr(1, { valid: c.P9_ATTR_MODE, mode: 0o100600 });
    expect(fs.statSync(host).mode & 0o7777).toBe(0o600);
    client.setattr(1, { valid: c.P9_ATTR_SIZE, size: 4 });
    expect(fs.readFileSync(host, 'utf8')).toBe('some');
    client.setattr(1, { valid: c.P9_ATTR_SIZE, size: 10 });
    expect(fs.statSync(host).size).toBe(10);
    client.setattr(1, {
      valid: c.P9_ATTR_ATIME | c.P9_ATTR_ATIME_SET | c.P9_ATTR_MTIME | c.P9_ATTR_MTIME_SET,
      atime: [1_000_000_000n, 123_456_789n],
      mtime: [1_500_000_000n, 987_654_321n],
    });
    const st = fs.statSync(host, { bigint: true });
    expect(st.atimeNs).toBe(1_000_000_000_123_456_789n);
    expect(st.mtimeNs).toBe(1_500_000_000_987_654_321n);
    // MTIME without MTIME_SET means now; atime is left alone.
    const before = BigInt(Date.now() - 5000) * 1_000_000n;
    client.setattr(1, { valid: c.P9_ATTR_MTIME });
    const after = fs.statSync(host, { bigint: true });
    expect(after.mtimeNs).toBeGreaterThan(before);
    expect(after.atimeNs).toBe(1_000_000_000_123_456_789n);
    // Setting the owner to who it already is always works.
    client.setattr(1, { valid: c.P9_ATTR_UID | c.P9_ATTR_GID, uid: Number(st.uid), gid: Number(st.gid) });
  });

  it('setattr on a symlink changes the link, never its target', () => {
    share = makeShare({ target: 'x' });
    const link = path.join(share.root, 'link');
    fs.symlinkSync('target', link);
    const { client } = share;
    client.walk(0, 1, ['link']);
    expect(errnoFrom(() => client.setattr(1, { valid: c.P9_ATTR_MODE, mode: 0o777 }))).toBe(E.EOPNOTSUPP);
    expect(errnoFrom(() => client.setattr(1, { valid: c.P9_ATTR_SIZE, size: 0 }))).toBe(E.ELOOP);
    expect(fs.readFileSync(path.join(share.root, 'target'), 'utf8')).toBe('x');
    client.setattr(1, { valid: c.P9_ATTR_MTIME | c.P9_ATTR_MTIME_SET, mtime: [1234n, 5n] });
    expect(fs.lstatSync(link, { bigint: true }).mtimeNs).toBe(1234_000_000_005n);
    expect(fs.statSync(path.join(share.root, 'target'), { bigint: true }).mtimeNs).not.toBe(1234_000_000_005n);
  });

  it('statfs reports the host file system', () => {
    share = makeShare();
    const st = share.client.statfs(0);
    const host = fs.statfsSync(share.root, { bigint: true });
    expect(BigInt(st.bsize)).toBe(host.bsize);
    expect(st.blocks).toBe(host.blocks);
    expect(st.namelen).toBe(255);
  });
});

describe('names', () => {
  it('mkdir, mknod (FIFO), symlink, readlink, link', () => {
    share = makeShare({ f: 'linked' });
    const { client } = share;
    expect(client.mkdir(0, 'dir', 0o750).type).toBe(c.P9_QTDIR);
    expect(fs.statSync(path.join(share.root, 'dir')).mode & 0o7777).toBe(0o750);
    client.mknod(0, 'fifo', fs.constants.S_IFIFO | 0o644);
    expect(fs.lstatSync(path.join(share.root, 'fifo')).isFIFO()).toBe(true);
    client.mknod(0, 'regular', fs.constants.S_IFREG | 0o600);
    expect(fs.lstatSync(path.join(share.root, 'regular')).isFile()).toBe(true);
    expect(errnoFrom(() => client.mknod(0, 'dir2', fs.constants.S_IFDIR | 0o755))).toBe(E.EINVAL);
    expect(errnoFrom(() => client.mknod(0, 'disk', fs.constants.S_IFBLK | 0o600, 8, 0))).toBe(E.EPERM);
    expect(errnoFrom(() => client.mknod(0, 'mem', fs.constants.S_IFCHR | 0o600, 1, 1))).toBe(E.EPERM);
    expect(client.symlink(0, 'sl', '../../anywhere').type).toBe(c.P9_QTSYMLINK);
    expect(fs.readlinkSync(path.join(share.root, 'sl'))).toBe('../../anywhere');
    client.walk(0, 1, ['sl']);
    expect(client.readlink(1)).toBe('../../anywhere');
    client.walk(0, 2, ['f']);
    client.link(0, 2, 'hard');
    expect(fs.readFileSync(path.join(share.root, 'hard'), 'utf8')).toBe('linked');
    expect(client.getattr(2).nlink).toBe(2n);
    expect(errnoFrom(() => client.readlink(2))).toBe(E.EINVAL);
    expect(errnoFrom(() => client.mkdir(0, 'dir'))).toBe(E.EEXIST);
  });

  it('a FIFO opens without blocking the server', () => {
    share = makeShare();
    const { client } = share;
    client.mknod(0, 'fifo', fs.constants.S_IFIFO | 0o644);
    client.open(1, 'fifo', O_RDONLY);
    expect(errnoFrom(() => client.read(1, 0, 10))).toBe(E.ESPIPE);
  });

  it('rename and renameat move the file and the fids below it', () => {
    share = makeShare({ 'a/sub/f': 'content', 'b/': '' });
    const { client } = share;
    client.walk(0, 1, ['a']);
    client.walk(0, 2, ['a', 'sub', 'f']);
    client.walk(0, 3, ['b']);
    client.rename(1, 3, 'moved');
    expect(fs.existsSync(path.join(share.root, 'b/moved/sub/f'))).toBe(true);
    expect(client.getattr(2).size).toBe(7n); // fid 2 followed its file
    client.walk(1, 4, ['sub']);
    client.renameat(4, 'f', 0, 'top');
    expect(fs.readFileSync(path.join(share.root, 'top'), 'utf8')).toBe('content');
    client.lopen(2, O_RDONLY);
    expect(text(client.read(2, 0, 100))).toBe('content');
    expect(errnoFrom(() => client.rename(0, 3, 'root'))).toBe(E.EBUSY);
  });

  it('unlinkat removes files, and directories only with AT_REMOVEDIR', () => {
    share = makeShare({ f: '', 'd/': '' });
    const { client } = share;
    expect(errnoFrom(() => client.unlinkat(0, 'd'))).toBe(E.EISDIR);
    expect(errnoFrom(() => client.unlinkat(0, 'f', c.P9_DOTL_AT_REMOVEDIR))).toBe(E.ENOTDIR);
    expect(errnoFrom(() => client.unlinkat(0, 'f', 0x1))).toBe(E.EINVAL);
    client.unlinkat(0, 'f');
    client.unlinkat(0, 'd', c.P9_DOTL_AT_REMOVEDIR);
    expect(fs.readdirSync(share.root)).toEqual([]);
  });

  it('remove unlinks and clunks, even when it fails', () => {
    share = makeShare({ f: '', 'd/x': '' });
    const { client } = share;
    client.walk(0, 1, ['f']);
    client.remove(1);
    expect(fs.existsSync(path.join(share.root, 'f'))).toBe(false);
    expect(errnoFrom(() => client.clunk(1))).toBe(E.EBADF);
    client.walk(0, 2, ['d']);
    expect(errnoFrom(() => client.remove(2))).toBe(E.ENOTEMPTY);
    expect(errnoFrom(() => client.clunk(2))).toBe(E.EBADF);
  });

  it('locks are granted and getlock reports unlocked; xattrs are not supported', () => {
    share = makeShare({ f: '' });
    const { client } = share;
    client.open(1, 'f', O_RDWR);
    expect(client.lock(1, 1, 0n, 10n)).toBe(c.P9_LOCK_SUCCESS);
    expect(client.getlock(1, 1, 5n, 10n)).toEqual({ type: c.P9_LOCK_TYPE_UNLCK, start: 5n, length: 10n, procId: 42, clientId: 'guest' });
    expect(errnoFrom(() => client.lock(77, 1))).toBe(E.EBADF);
    expect(errnoFrom(() => client.xattrwalk(1, 2, 'user.x'))).toBe(E.EOPNOTSUPP);
    expect(errnoFrom(() => client.xattrcreate(1, 'user.x', 3n))).toBe(E.EOPNOTSUPP);
  });
});

describe('read-only share', () => {
  it('refuses every change with EROFS and still reads', () => {
    share = makeShare({ f: 'read me', 'd/': '' }, { readOnly: true });
    const { client } = share;
    client.walk(0, 1, ['f']);
    client.walk(0, 2, ['d']);
    expect(errnoFrom(() => client.lopen(1, O_WRONLY))).toBe(E.EROFS);
    expect(errnoFrom(() => client.lopen(1, O_RDWR))).toBe(E.EROFS);
    expect(errnoFrom(() => client.lopen(1, O_RDONLY | O_TRUNC))).toBe(E.EROFS);
    expect(errnoFrom(() => client.lcreate(2, 'new', O_RDWR | O_CREAT, 0o644))).toBe(E.EROFS);
    expect(errnoFrom(() => client.setattr(1, { valid: c.P9_ATTR_MODE, mode: 0o777 }))).toBe(E.EROFS);
    expect(errnoFrom(() => client.mkdir(0, 'x'))).toBe(E.EROFS);
    expect(errnoFrom(() => client.mknod(0, 'x', fs.constants.S_IFIFO | 0o644))).toBe(E.EROFS);
    expect(errnoFrom(() => client.symlink(0, 'x', 'f'))).toBe(E.EROFS);
    expect(errnoFrom(() => client.link(0, 1, 'x'))).toBe(E.EROFS);
    expect(errnoFrom(() => client.rename(1, 0, 'x'))).toBe(E.EROFS);
    expect(errnoFrom(() => client.renameat(0, 'f', 0, 'x'))).toBe(E.EROFS);
    expect(errnoFrom(() => client.unlinkat(0, 'f'))).toBe(E.EROFS);
    client.walk(0, 3, ['f']);
    expect(errnoFrom(() => client.remove(3))).toBe(E.EROFS);
    client.lopen(1, O_RDONLY);
    expect(text(client.read(1, 0, 100))).toBe('read me');
    expect(errnoFrom(() => client.write(1, 0, bytes('x')))).toBe(E.EBADF);
    client.getattr(1);
    client.statfs(0);
    client.fsync(1);
    expect(fs.readdirSync(share.root).sort()).toEqual(['d', 'f']);
    expect(fs.readFileSync(path.join(share.root, 'f'), 'utf8')).toBe('read me');
  });
});
