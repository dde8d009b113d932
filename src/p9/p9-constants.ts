// The numbers of 9P2000.L as Linux's v9fs client speaks them
// (include/net/9p/9p.h, fs/9p/vfs_inode_dotl.c). Names follow the header so a
// reader can grep the kernel for them.

/** Message types: T-messages are even, their R-replies are type + 1. */
export const P9_TLERROR = 6;
export const P9_RLERROR = 7;
export const P9_TSTATFS = 8;
export const P9_TLOPEN = 12;
export const P9_TLCREATE = 14;
export const P9_TSYMLINK = 16;
export const P9_TMKNOD = 18;
export const P9_TRENAME = 20;
export const P9_TREADLINK = 22;
export const P9_TGETATTR = 24;
export const P9_TSETATTR = 26;
export const P9_TXATTRWALK = 30;
export const P9_TXATTRCREATE = 32;
export const P9_TREADDIR = 40;
export const P9_TFSYNC = 50;
export const P9_TLOCK = 52;
export const P9_TGETLOCK = 54;
export const P9_TLINK = 70;
export const P9_TMKDIR = 72;
export const P9_TRENAMEAT = 74;
export const P9_TUNLINKAT = 76;
export const P9_TVERSION = 100;
export const P9_TAUTH = 102;
export const P9_TATTACH = 104;
export const P9_TFLUSH = 108;
export const P9_TWALK = 110;
export const P9_TREAD = 116;
export const P9_TWRITE = 118;
export const P9_TCLUNK = 120;
export const P9_TREMOVE = 122;

/** The 9P2000 / 9P2000.u requests a 9P2000.L server answers with EOPNOTSUPP. */
export const P9_LEGACY_REQUESTS: ReadonlySet<number> = new Set([
  102 /* Tauth */, 112 /* Topen */, 114 /* Tcreate */, 124 /* Tstat */, 126 /* Twstat */,
]);

export const P9_VERSION_L = '9P2000.L';
export const P9_VERSION_UNKNOWN = 'unknown';

export const P9_NOTAG = 0xffff;
export const P9_NOFID = 0xffff_ffff;
/** Most names one Twalk may carry. */
export const P9_MAXWELEM = 16;

/** size[4] type[1] tag[2] */
export const P9_HEADER_SIZE = 7;
/** Rread / Rreaddir: header + count[4] in front of the data. */
export const P9_RREAD_HEADER_SIZE = P9_HEADER_SIZE + 4;
/** Twrite: header + fid[4] offset[8] count[4] in front of the data. */
export const P9_TWRITE_HEADER_SIZE = P9_HEADER_SIZE + 4 + 8 + 4;
/** The smallest msize worth serving: a path (PATH_MAX) must fit in a reply. */
export const P9_MIN_MSIZE = 4096 + P9_TWRITE_HEADER_SIZE;

/** qid.type bits. */
export const P9_QTDIR = 0x80;
export const P9_QTSYMLINK = 0x02;
export const P9_QTFILE = 0x00;

/** Tgetattr request_mask / Rgetattr valid bits. */
export const P9_STATS_BASIC = 0x7ffn; // mode nlink uid gid rdev atime mtime ctime ino size blocks
export const P9_STATS_BTIME = 0x800n;

/** Tsetattr valid bits. */
export const P9_ATTR_MODE = 1 << 0;
export const P9_ATTR_UID = 1 << 1;
export const P9_ATTR_GID = 1 << 2;
export const P9_ATTR_SIZE = 1 << 3;
export const P9_ATTR_ATIME = 1 << 4;
export const P9_ATTR_MTIME = 1 << 5;
export const P9_ATTR_CTIME = 1 << 6;
export const P9_ATTR_ATIME_SET = 1 << 7;
export const P9_ATTR_MTIME_SET = 1 << 8;

/** Tlopen / Tlcreate flags: the generic Linux O_* values (x86-64 uses them too). */
export const P9_DOTL_ACCMODE = 0o3;
export const P9_DOTL_RDONLY = 0o0;
export const P9_DOTL_WRONLY = 0o1;
export const P9_DOTL_RDWR = 0o2;
export const P9_DOTL_EXCL = 0o200;
export const P9_DOTL_TRUNC = 0o1000;
export const P9_DOTL_APPEND = 0o2000;
export const P9_DOTL_DSYNC = 0o10000;
export const P9_DOTL_DIRECTORY = 0o200000;
export const P9_DOTL_SYNC = 0o4010000;

/** Tunlinkat flags. */
export const P9_DOTL_AT_REMOVEDIR = 0x200;

/** Tlock / Tgetlock. */
export const P9_LOCK_TYPE_UNLCK = 2;
export const P9_LOCK_SUCCESS = 0;
