// The shared directory as the server sees it: every file is a list of names
// below the root, never a path string from the guest. Guest names are checked
// once (no '/', no NUL, not '.' or '..'), '..' is applied to the list (so it
// stops at the root), and the server never follows a symlink on the way:
// a walk onto a symlink stops there, and before any use a path is checked to
// have only real directories above its last name, because a guest can turn a
// directory a fid went through into a symlink afterwards (rename it away,
// symlink its old name to "/"). The jail the server runs in (the root IS the
// shared directory) is the outer wall; this is the inner one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { refuse } from './p9-errno.js';

const { EINVAL, ELOOP } = os.constants.errno;

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

  constructor(root: string) {
    this.hostRoot = fs.realpathSync.native(root);
    if (!fs.statSync(this.hostRoot).isDirectory()) throw new Error(`9p root ${root} is not a directory`);
  }

  /** The host path of `p`, without any check. */
  hostPath(p: P9Path): string {
    return p.length === 0 ? this.hostRoot : path.join(this.hostRoot, ...p);
  }

  /**
   * The host path of `p` once every directory above its last name is known to
   * be a real directory (ELOOP when one became a symlink). The last name is
   * not followed by the caller either: lstat, O_NOFOLLOW, l* calls.
   */
  resolve(p: P9Path): string {
    if (p.length > 1) {
      const parent = this.hostPath(p.slice(0, -1));
      if (fs.realpathSync.native(parent) !== parent) refuse(ELOOP, `a directory above ${parent} is a symlink`);
    }
    return this.hostPath(p);
  }

  /** The host path of directory `p`, itself not a symlink either (ELOOP). */
  resolveDirectory(p: P9Path): string {
    const hostPath = this.hostPath(p);
    let real: string;
    try {
      real = fs.realpathSync.native(hostPath);
    } catch (error) {
      // A dangling symlink is still a symlink: say so, rather than that its target is missing.
      if (fs.lstatSync(hostPath, { throwIfNoEntry: false })?.isSymbolicLink()) refuse(ELOOP, `${hostPath} is a symlink`);
      throw error;
    }
    if (real !== hostPath) refuse(ELOOP, `${hostPath} is reached through a symlink`);
    return hostPath;
  }

  /** resolve() of entry `name` of directory `dir`, the directory itself checked too. */
  resolveEntry(dir: P9Path, name: string): string {
    checkEntryName(name);
    return path.join(this.resolveDirectory(dir), name);
  }
}
