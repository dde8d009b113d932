// koffi bindings for the kernel's new mount API (Linux 5.2): a file system
// made and mounted without a path (fsopen, fsconfig, fsmount), so that a
// process can have a tmpfs of its own choosing that no one else can reach.
// None has a glibc wrapper before 2.36: syscall(2), integer and pointer
// arguments only, declared fixed (ffi/sandbox.ts says why that is safe).
import { libc } from './libc.js';

const SYS_fsopen = 430;
const SYS_fsconfig = 431;
const SYS_fsmount = 432;

const rawFsopen = libc.func('syscall', 'long', ['long', 'const char *', 'uint32_t']);
const rawFsconfig = libc.func('syscall', 'long', ['long', 'int', 'uint32_t', 'const char *', 'const char *', 'int']);
const rawFsmount = libc.func('syscall', 'long', ['long', 'int', 'uint32_t', 'uint32_t']);

export const openat = libc.func('int openat(int dirfd, const char *path, int flags, int mode)');

// <linux/mount.h>
export const FSOPEN_CLOEXEC = 0x1;
export const FSCONFIG_SET_STRING = 1;
export const FSCONFIG_CMD_CREATE = 6;
export const FSMOUNT_CLOEXEC = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;
export const MOUNT_ATTR_NOEXEC = 0x8;
/** <fcntl.h> O_TMPFILE: __O_TMPFILE | O_DIRECTORY, an unnamed file in the directory given. */
export const O_TMPFILE = 0o20200000;

/** A file system context for `fsType`; -1 with errno set on failure. */
export function fsopen(fsType: string, flags: number): number {
  return Number(rawFsopen(SYS_fsopen, fsType, flags));
}

/** Sets a string option of a context from fsopen. */
export function fsconfigString(fsFd: number, key: string, value: string): number {
  return Number(rawFsconfig(SYS_fsconfig, fsFd, FSCONFIG_SET_STRING, key, value, 0));
}

/** Makes the file system of a configured context. */
export function fsconfigCreate(fsFd: number): number {
  return Number(rawFsconfig(SYS_fsconfig, fsFd, FSCONFIG_CMD_CREATE, null, null, 0));
}

/** A detached mount of a created context: a descriptor for its root, attached nowhere. */
export function fsmount(fsFd: number, flags: number, attributes: number): number {
  return Number(rawFsmount(SYS_fsmount, fsFd, flags, attributes));
}
