// File owners as the guest should see them. tsvmm started by an ordinary user
// serves a share from a user namespace that maps only that user, as root
// (`unshare --map-root-user`, sandbox/jail-launch.ts). From inside it the
// user's own files look root's and everyone else's the overflow id (65534).
// The guest's command runs as the user's own uid, so it must see their uid
// and gid on their files, or it is locked out of its own working directory.
// Unmapped owners (someone other than the user, most often root) are shown
// as root: the guest then grants what the host would, nothing of the owner's.
import fs from 'node:fs';
import { parseIdMap, type IdExtent } from '../sandbox/namespace-id-map.js';

export interface P9IdMap {
  /** The uid and gid the guest sees for what the server's stat returned. */
  uidToGuest(id: number): number;
  gidToGuest(id: number): number;
  /** The server's id for a uid or gid the guest asks for (chown); undefined when this namespace has none. */
  uidToHost(id: number): number | undefined;
  gidToHost(id: number): number | undefined;
}

function translate(extents: readonly IdExtent[], id: number, from: 'inside' | 'outside', to: 'inside' | 'outside'): number | undefined {
  for (const e of extents) if (id >= e[from] && id - e[from] < e.count) return e[to] + (id - e[from]);
  return undefined;
}

/** The map of a namespace with these uid_map and gid_map contents. */
export function idMapOf(uidMap: string, gidMap: string): P9IdMap {
  const uids = parseIdMap(uidMap);
  const gids = parseIdMap(gidMap);
  return {
    uidToGuest: (id) => translate(uids, id, 'inside', 'outside') ?? 0,
    gidToGuest: (id) => translate(gids, id, 'inside', 'outside') ?? 0,
    uidToHost: (id) => translate(uids, id, 'outside', 'inside'),
    gidToHost: (id) => translate(gids, id, 'outside', 'inside'),
  };
}

/** The initial namespace: every id is itself. */
export const IDENTITY_ID_MAP = idMapOf('0 0 4294967295', '0 0 4294967295');

/** This process's map, read while /proc is reachable (before the jail); without /proc, the identity. */
export function readOwnIdMap(): P9IdMap {
  try {
    return idMapOf(fs.readFileSync('/proc/self/uid_map', 'utf8'), fs.readFileSync('/proc/self/gid_map', 'utf8'));
  } catch {
    return IDENTITY_ID_MAP;
  }
}
