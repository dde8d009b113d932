// A user namespace's id map as /proc/PID/uid_map and gid_map show it: lines
// of "inside outside count". The jail asks whether it runs in the initial
// namespace; the 9p server translates file owners through it (p9/p9-id-map.ts).

export interface IdExtent {
  inside: number;
  outside: number;
  count: number;
}

/** The extents of a uid_map or gid_map; malformed lines are left out. */
export function parseIdMap(text: string): IdExtent[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every((n) => Number.isSafeInteger(n) && n >= 0))
    .map(([inside, outside, count]) => ({ inside, outside, count }));
}

/** The initial namespace's map: every id of the 32-bit range is itself. */
export function isInitialNamespaceMap(extents: readonly IdExtent[]): boolean {
  return extents.length === 1 && extents[0].inside === 0 && extents[0].outside === 0 && extents[0].count === 4294967295;
}
