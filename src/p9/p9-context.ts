// What every 9P operation works with: the confined root, the fid table, the
// negotiated msize and whether the share is read-only. One per connection.
import os from 'node:os';
import type { P9IdMap } from './p9-id-map.js';
import type { ConfinedRoot } from './p9-confined-root.js';
import type { FidTable } from './p9-fid-table.js';
import { refuse } from './p9-errno.js';
import { P9_RREAD_HEADER_SIZE, P9_TWRITE_HEADER_SIZE } from './p9-constants.js';

const { EROFS, EINVAL } = os.constants.errno;

export interface P9Context {
  readonly root: ConfinedRoot;
  readonly fids: FidTable;
  readonly readOnly: boolean;
  /** The message size agreed by Tversion (the server's largest until then). */
  msize: number;
  /** Owners between the server's user namespace and the guest (p9-id-map.ts). */
  readonly ids: P9IdMap;
}

/** EROFS on a read-only share: the first line of every modifying operation. */
export function checkWritable(ctx: P9Context): void {
  if (ctx.readOnly) refuse(EROFS);
}

/** EINVAL when a Tread / Treaddir reply of `count` data bytes would not fit in msize. */
export function checkReadCount(ctx: P9Context, count: number): void {
  if (count > ctx.msize - P9_RREAD_HEADER_SIZE) refuse(EINVAL, `count ${count} above msize ${ctx.msize}`);
}

/** The most file data one Tread or Twrite carries (Rlopen's and Rlcreate's iounit). */
export function iounit(ctx: P9Context): number {
  return ctx.msize - P9_TWRITE_HEADER_SIZE;
}

/** EINVAL when a Twrite of `count` bytes could not have fit in msize. */
export function checkWriteCount(ctx: P9Context, count: number): void {
  if (count > ctx.msize - P9_TWRITE_HEADER_SIZE) refuse(EINVAL, `count ${count} above msize ${ctx.msize}`);
}
