// /proc/PID/uid_map and gid_map as the jail and the 9p server read them.
import { describe, expect, it } from 'vitest';
import { isInitialNamespaceMap, parseIdMap } from '../../src/sandbox/namespace-id-map.js';

describe('namespace id maps', () => {
  it('reads /proc/PID/uid_map lines, leaving out malformed ones', () => {
    expect(parseIdMap('         0          0 4294967295\n')).toEqual([{ inside: 0, outside: 0, count: 4294967295 }]);
    expect(parseIdMap('0 1000 1\n1 100000 65536\n\n')).toEqual([
      { inside: 0, outside: 1000, count: 1 },
      { inside: 1, outside: 100000, count: 65536 },
    ]);
    expect(parseIdMap('0 1000\n-1 0 1\nx y z\n')).toEqual([]);
  });

  it('tells the initial namespace from a user namespace', () => {
    expect(isInitialNamespaceMap(parseIdMap('         0          0 4294967295\n'))).toBe(true);
    expect(isInitialNamespaceMap(parseIdMap('         0       1000          1\n'))).toBe(false);
    expect(isInitialNamespaceMap(parseIdMap('0 0 4294967295\n1 1 1\n'))).toBe(false);
    expect(isInitialNamespaceMap([])).toBe(false);
  });
});
