// The shared directory as the server sees it: every file is a list of names
// below the root, never a path string from the guest. Guest names are checked
// once (no '/', no NUL, not '.' or '..'), '..' is applied to the list (so it
// stops at the root), and the server never follows a symlink on the way:
// a walk onto a symlink stops there, and before any use a path is checked to
// have only real directories above its last name, because a guest can turn a
// directory a fid went through into a symlink afterwards (rename it away,
// symlink its old name to "/"). The jail the server runs in (the root IS the
// shared directory) is the outer wall; this is the inner one.
//
// That check is one openat2 of the directories below the root with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: one call, however deep the path. It
// was realpath, which reads every component from "/" down: a third of the
// server's time per request (BENCHMARKS.md, `tsvmm exec`). Kernels before 5.6
// have no openat2; there the realpath check remains.
import fs from 'node:fs';
import os from 'node:os';
import { refuse } from './p9-errno.js';
import { directoryBeneathErrno } from './p9-libc.js';

const { EINVAL, ELOOP, ENOSYS, EXDEV } = os.constants.errno;

export type P9Path = readonly string[];

/** EINVAL unless `name` names one entry of a directory. */
export function checkEntryName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) refuse(EINVAL, `bad name ${JSON.stringify(name)}`);
}

/** The path `name` leads to from directory `dir`: '..' at the root stays at the root. */
export function walkStep(dir: P9Path, name: string): P9Path {
  if (name === '..') return dir.slice(0, -1);
  if (name === '.') return dir;
  checkEntryName(name);
  return [...dir, name];
}

export function isSameOrBelow(candidate: P9Path, ancestor: P9Path): boolean {
  return candidate.length >= ancestor.length && ancestor.every((name, i) => candidate[i] === name);
}

export class ConfinedRoot {
  /** The root as the kernel names it (symlinks above it resolved once, at start). */
  readonly hostRoot: string;
  /** What a path below the root starts with: the root and a slash ('/' alone for the host's root). */
  private readonly prefix: string;
  /** The root, opened at the first check (inside the jail, where the server runs); -1 until then. */
  private rootFd = -1;
  /** False once openat2 said ENOSYS: the realpath check from then on. */
  private hasOpenat2 = true;

  constructor(root: string) {
    this.hostRoot = fs.realpathSync.native(root);
    if (!fs.statSync(this.hostRoot).isDirectory()) throw new Error(`9p root ${root} is not a directory`);
    this.prefix = this.hostRoot === '/' ? '/' : `${this.hostRoot}/`;
  }

  /**
   * The host path of `p`, without any check. Its names are entries (never
   * empty, '.', '..' or holding a '/': walkStep), so they are joined as they
   * are; path.join would normalize them again, on every request.
   */
  hostPath(p: P9Path): string {
    return p.length === 0 ? this.hostRoot : this.prefix + p.join('/');
  }

  /**
   * The host path of `p` once every directory above its last name is known to
   * be a real directory (ELOOP when one became a symlink). The last name is
   * not followed by the caller either: lstat, O_NOFOLLOW, l* calls.
   */
  resolve(p: P9Path): string {
    if (p.length > 1) this.checkRealDirectories(p.slice(0, -1));
    return this.hostPath(p);
  }

  /** The host path of directory `p`, itself not a symlink either (ELOOP). */
  resolveDirectory(p: P9Path): string {
    this.checkRealDirectories(p);
    return this.hostPath(p);
  }

  /** resolve() of entry `name` of directory `dir`, the directory itself checked too. */
  resolveEntry(dir: P9Path, name: string): string {
    checkEntryName(name);
    this.checkRealDirectories(dir);
    return this.hostPath([...dir, name]);
  }

  close(): void {
    if (this.rootFd >= 0) fs.closeSync(this.rootFd);
    this.rootFd = -1;
  }

  /** Refuses (ELOOP, ENOENT, ENOTDIR...) unless every name of `dirs` is a directory, not a symlink. */
  private checkRealDirectories(dirs: P9Path): void {
    if (dirs.length === 0) return; // the root itself
    if (this.hasOpenat2) {
      if (this.rootFd < 0) this.rootFd = fs.openSync(this.hostRoot, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      const errno = directoryBeneathErrno(this.rootFd, dirs.join('/'));
      if (errno === 0) return;
      if (errno !== ENOSYS) refuse(errno === EXDEV ? ELOOP : errno, `${dirs.join('/')}: not a real directory below the root`);
      this.hasOpenat2 = false;
    }
    const hostPath = this.hostPath(dirs);
    let real: string;
    try {
      real = fs.realpathSync.native(hostPath);
    } catch (error) {
      // A dangling symlink is still a symlink: say so, rather than that its target is missing.
      if (fs.lstatSync(hostPath, { throwIfNoEntry: false })?.isSymbolicLink()) refuse(ELOOP, `${hostPath} is a symlink`);
      throw error;
    }
    if (real !== hostPath) refuse(ELOOP, `${hostPath} is reached through a symlink`);
  }
}
