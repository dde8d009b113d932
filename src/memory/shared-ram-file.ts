// The file behind guest RAM that the helper and device processes map
// together (`exec`'s shares, a disk in its own process).
//
// A memfd lives on the kernel's internal tmpfs, whose huge pages follow
// /sys/kernel/mm/transparent_hugepage/shmem_enabled: `never` by default on
// Debian and most distributions. Guest RAM then has 4 KiB pages only: the
// host faults 512 times per 2 MiB the guest touches, and KVM maps the guest
// with 4 KiB pages, one nested page fault each (an `exec` in the nested L1:
// ~6,200 of them against QEMU's ~2,050 with anonymous THP; docs/host-kvm.md
// "KVM's own count of a boot's exits"). A tmpfs mounted with `huge=advise`
// gives huge pages to what asks (GuestMemory madvises MADV_HUGEPAGE) whatever
// that setting says, bar `deny`. It is made with the new mount API and never
// attached: no path reaches it, and it goes when its last file closes.
// Making one needs CAP_SYS_ADMIN over the caller's mount namespace (root, or
// a process in a user namespace of its own). An ordinary user's frontend
// has it made in a user namespace of a short-lived child
// (user-namespace-tmpfs.ts: createSharedRamFileForAnyUser); where neither
// can be, a memfd.
import { MFD_CLOEXEC, O_CLOEXEC, O_RDWR, check, close, errnoName, ftruncate, memfdCreate } from '../../ffi/libc.js';
import { koffi } from '../../ffi/koffi.js';
import {
  FSCONFIG_CMD_CREATE,
  FSMOUNT_CLOEXEC,
  FSOPEN_CLOEXEC,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NOEXEC,
  MOUNT_ATTR_NOSUID,
  O_TMPFILE,
  fsconfigCreate,
  fsconfigString,
  fsmount,
  fsopen,
  openat,
} from '../../ffi/mount-api.js';
import { userNamespaceTmpfsFile } from './user-namespace-tmpfs.js';

const HUGE_PAGE = 2 * 1024 * 1024;

export interface SharedRamFile {
  /** The file, `bytes` long, close-on-exec. */
  readonly fd: number;
  /** Where it lives: a tmpfs of its own with huge pages (made in a user namespace for an ordinary user), or a memfd (and why). */
  readonly backing: { kind: 'huge-tmpfs'; inUserNamespace?: true } | { kind: 'memfd'; why: string };
}

/**
 * A file of `bytes` for guest RAM: on a huge-page tmpfs of its own where the
 * caller may make one (unless `hugePages` is false), else a memfd.
 */
export function createSharedRamFile(bytes: number, hugePages = true): SharedRamFile {
  const tmpfs = hugePages ? hugeTmpfsFile(bytes) : 'not asked for';
  return sized(tmpfs, { kind: 'huge-tmpfs' }, bytes);
}

/**
 * The same, where an ordinary user may have the tmpfs too: made here where
 * this process may mount one, else in a user namespace of a child's
 * (user-namespace-tmpfs.ts), else a memfd.
 */
export async function createSharedRamFileForAnyUser(bytes: number): Promise<SharedRamFile> {
  const here = hugeTmpfsFile(bytes);
  if (typeof here === 'number') return sized(here, { kind: 'huge-tmpfs' }, bytes);
  const inNamespace = await userNamespaceTmpfsFile(tmpfsOptions(bytes));
  return sized(typeof inNamespace === 'number' ? inNamespace : `${here}; in a user namespace: ${inNamespace}`, { kind: 'huge-tmpfs', inUserNamespace: true }, bytes);
}

/** `tmpfs` (a file there, or why there is none: then a memfd) made `bytes` long. */
function sized(tmpfs: number | string, onTmpfs: SharedRamFile['backing'], bytes: number): SharedRamFile {
  let fd: number;
  let backing: SharedRamFile['backing'];
  if (typeof tmpfs === 'number') {
    fd = tmpfs;
    backing = onTmpfs;
  } else {
    fd = check(memfdCreate('tsvmm-guest-ram', MFD_CLOEXEC) as number, 'memfd_create');
    backing = { kind: 'memfd', why: tmpfs };
  }
  try {
    check(ftruncate(fd, bytes) as number, 'ftruncate');
  } catch (e) {
    close(fd);
    throw e;
  }
  return { fd, backing };
}

/** The mount options of a tmpfs for `bytes` of guest RAM in one file: huge pages for what asks, room for the file and no more. */
function tmpfsOptions(bytes: number): [string, string][] {
  return [
    ['huge', 'advise'],
    ['size', String(Math.ceil(bytes / HUGE_PAGE) * HUGE_PAGE)],
    ['nr_inodes', '2'],
    ['mode', '0700'],
  ];
}

/** An unnamed file on a fresh detached tmpfs with huge=advise, or why there is none. */
function hugeTmpfsFile(bytes: number): number | string {
  const fsFd = fsopen('tmpfs', FSOPEN_CLOEXEC);
  if (fsFd < 0) return `fsopen(tmpfs): ${errnoName(koffi.errno())}`;
  let mountFd = -1;
  try {
    for (const [key, value] of tmpfsOptions(bytes)) if (fsconfigString(fsFd, key, value) < 0) return `tmpfs ${key}=${value}: ${errnoName(koffi.errno())}`;
    if (fsconfigCreate(fsFd) < 0) return `creating the tmpfs: ${errnoName(koffi.errno())}`;
    mountFd = fsmount(fsFd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (mountFd < 0) return `fsmount: ${errnoName(koffi.errno())}`;
    const fd = openat(mountFd, '.', O_TMPFILE | O_RDWR | O_CLOEXEC, 0o600) as number;
    return fd >= 0 ? fd : `a file on the tmpfs: ${errnoName(koffi.errno())}`;
  } finally {
    if (mountFd >= 0) close(mountFd);
    close(fsFd);
  }
}
