// Guest RAM shared between processes (shared-ram-file.ts): a file on a
// huge-page tmpfs of its own where this process may make one (root here, or
// root in a user namespace with a mount namespace of its own), a memfd
// otherwise. Either is the guest's RAM in full, and two mappings of it are
// the same memory; on the tmpfs, touched RAM comes in 2 MiB pages. An
// ordinary user's frontend has the tmpfs made in a user namespace of a
// child's (user-namespace-tmpfs.ts).
import { spawnSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { createSharedRamFile } from '../../src/memory/shared-ram-file.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { hostHasShmemThp, pmdMappedKb } from '../support/smaps.js';

const MiB = 1 << 20;
const RAM = [{ gpa: 0, size: 8 * MiB }];

const opened: { memories: GuestMemory[]; fds: number[] } = { memories: [], fds: [] };
afterEach(() => {
  opened.memories.splice(0).forEach((m) => m.release());
  opened.fds.splice(0).forEach((fd) => closeSync(fd));
});

function mapped(fd: number): GuestMemory {
  const memory = GuestMemory.allocate(RAM, { memfd: fd });
  opened.memories.push(memory);
  return memory;
}

describe('guest RAM shared between processes', () => {
  it('is a file of the RAM size; two mappings of it are one memory', () => {
    const file = createSharedRamFile(8 * MiB);
    opened.fds.push(file.fd);
    const a = mapped(file.fd);
    const b = mapped(file.fd);
    a.write(5 * MiB + 3, Uint8Array.of(1, 2, 3));
    expect([...b.view(5 * MiB + 3, 3)!]).toEqual([1, 2, 3]);
    expect(a.view(8 * MiB - 1, 1)).toBeDefined();
  });

  it('lives on a huge-page tmpfs when this process may mount one, else in a memfd that says why', () => {
    const file = createSharedRamFile(8 * MiB);
    opened.fds.push(file.fd);
    if (process.geteuid!() === 0) expect(file.backing).toEqual({ kind: 'huge-tmpfs' });
    else expect(file.backing).toEqual({ kind: 'memfd', why: expect.stringMatching(/EPERM/) });
  });

  it('gives touched RAM 2 MiB pages on the tmpfs, 4 KiB in a memfd', () => {
    const huge = createSharedRamFile(8 * MiB);
    const small = createSharedRamFile(8 * MiB, false);
    opened.fds.push(huge.fd, small.fd);
    expect(small.backing).toEqual({ kind: 'memfd', why: 'not asked for' });
    const [onTmpfs, inMemfd] = [mapped(huge.fd), mapped(small.fd)];
    for (const m of [onTmpfs, inMemfd]) for (let at = 0; at < 8 * MiB; at += 4096) m.write(at, Uint8Array.of(1));
    expect(pmdMappedKb(inMemfd.regions[0].hostAddress)).toBe(0);
    if (huge.backing.kind === 'huge-tmpfs' && hostHasShmemThp()) expect(pmdMappedKb(onTmpfs.regions[0].hostAddress)).toBe(8 * 1024);
  });

  it('is on the tmpfs in a user namespace with a mount namespace of its own, as the sandboxed processes are', () => {
    const built = JSON.stringify(join(PROJECT_ROOT, 'dist', 'src', 'memory', 'shared-ram-file.js'));
    const probe = `import { createSharedRamFile } from ${built}; process.stdout.write(JSON.stringify(createSharedRamFile(4 << 20).backing));`;
    const r = spawnSync('unshare', ['--user', '--map-root-user', '--mount', '--', process.execPath, '--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ kind: 'huge-tmpfs' });
  });

  it("is on a tmpfs made in a user namespace of a child's for an ordinary user, and its touched RAM in 2 MiB pages", () => {
    // As an ordinary user (nobody, where the tests run as root): what the frontend of one gets.
    const built = (file: string) => JSON.stringify(join(PROJECT_ROOT, 'dist', 'src', 'memory', file));
    const probe = `
      import { createSharedRamFileForAnyUser } from ${built('shared-ram-file.js')};
      import { GuestMemory } from ${built('guest-memory.js')};
      import { readFileSync } from 'node:fs';
      const file = await createSharedRamFileForAnyUser(${8 * MiB});
      const memory = GuestMemory.allocate(${JSON.stringify(RAM)}, { memfd: file.fd, hugePages: true });
      for (let at = 0; at < ${8 * MiB}; at += 4096) memory.write(at, Uint8Array.of(1));
      const start = memory.regions[0].hostAddress.toString(16).padStart(8, '0');
      const smaps = readFileSync('/proc/self/smaps', 'utf8');
      const pmdKb = Number(/^ShmemPmdMapped:\\s+(\\d+) kB/m.exec(smaps.slice(smaps.search(new RegExp('^' + start + '-', 'm'))))[1]);
      process.stdout.write(JSON.stringify({ backing: file.backing, uid: process.getuid(), pmdKb }));`;
    const asUser = process.geteuid!() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : [];
    const [command, ...args] = [...asUser, process.execPath, '--input-type=module', '-e', probe];
    const r = spawnSync(command, args, { encoding: 'utf8', timeout: 30_000, cwd: '/' });
    expect(r.stderr).toBe('');
    const seen = JSON.parse(r.stdout) as { backing: unknown; uid: number; pmdKb: number };
    expect(seen.uid).not.toBe(0);
    expect(seen.backing).toEqual({ kind: 'huge-tmpfs', inUserNamespace: true });
    if (hostHasShmemThp()) expect(seen.pmdKb).toBe(8 * 1024);
  });
});
