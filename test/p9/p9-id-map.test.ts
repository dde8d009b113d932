// Owners between a share server's user namespace and the guest: what tsvmm
// started by an ordinary user (a namespace mapping only them, as root) must
// show, and what a chown may ask. The whole path as an ordinary user is
// test/integration/exec.kvm.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as c from '../../src/p9/p9-constants.js';
import { IDENTITY_ID_MAP, idMapOf, readOwnIdMap } from '../../src/p9/p9-id-map.js';
import { type Share, makeShare } from './p9-fixture.js';
import { errnoFrom } from './p9-test-client.js';

const E = os.constants.errno;
/** `unshare --map-root-user` run by uid 1000, gid 100. */
const USER_NAMESPACE = idMapOf('         0       1000          1\n', '         0        100          1\n');

let share: Share | undefined;
afterEach(() => share?.cleanup());

describe('P9IdMap', () => {
  it("shows the user's own files as theirs, and anyone else's as root's", () => {
    expect([USER_NAMESPACE.uidToGuest(0), USER_NAMESPACE.gidToGuest(0)]).toEqual([1000, 100]);
    expect([USER_NAMESPACE.uidToGuest(65534), USER_NAMESPACE.gidToGuest(65534)]).toEqual([0, 0]); // the overflow id: not the user
    expect([USER_NAMESPACE.uidToHost(1000), USER_NAMESPACE.gidToHost(100)]).toEqual([0, 0]);
    expect([USER_NAMESPACE.uidToHost(0), USER_NAMESPACE.uidToHost(1001)]).toEqual([undefined, undefined]);
  });

  it('changes nothing in the initial namespace, which is where this test runs as root', () => {
    for (const id of [0, 1000, 65534, 4294967294]) {
      expect([IDENTITY_ID_MAP.uidToGuest(id), IDENTITY_ID_MAP.uidToHost(id), IDENTITY_ID_MAP.gidToGuest(id)]).toEqual([id, id, id]);
    }
    if (process.getuid!() === 0 && fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/).join(' ') === '0 0 4294967295')
      expect(readOwnIdMap().uidToGuest(1234)).toBe(1234);
  });
});

describe('a share served from such a namespace', () => {
  it('getattr reports the translated owners, and chown takes only the ids the namespace has', () => {
    share = makeShare({ mine: 'a', theirs: 'b' }, { ids: USER_NAMESPACE });
    // From the server's side: "mine" is its own (inside uid 0), "theirs" someone unmapped.
    const own = fs.statSync(path.join(share.root, 'mine'));
    const theirs = path.join(share.root, 'theirs');
    const client = share.client;
    client.walk(0, 1, ['mine']);
    client.walk(0, 2, ['theirs']);
    const ownAttr = client.getattr(1);
    expect([ownAttr.uid, ownAttr.gid]).toEqual([USER_NAMESPACE.uidToGuest(own.uid), USER_NAMESPACE.gidToGuest(own.gid)]);
    if (process.getuid!() === 0) {
      fs.chownSync(theirs, 4321, 4321);
      expect([client.getattr(2).uid, client.getattr(2).gid]).toEqual([0, 0]);
    }
    expect(errnoFrom(() => client.setattr(1, { valid: c.P9_ATTR_UID, uid: 4321 }))).toBe(E.EPERM);
    expect(errnoFrom(() => client.setattr(1, { valid: c.P9_ATTR_GID, gid: 4321 }))).toBe(E.EPERM);
  });
});
