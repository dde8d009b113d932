// The default guest built by tools/guest/build.sh: its manifest lives in the
// cache, outside the work tree.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface GuestManifest {
  vmlinux: string;
  bzImage: string;
  initrd: string;
  cmdline: string;
}

export function guestCacheDir(): string {
  return join(process.env.TSVMM_CACHE ?? join(homedir(), '.cache', 'tsvmm'), 'guest');
}

export function defaultGuestManifestPath(): string {
  return join(guestCacheDir(), 'guest.json');
}

/** The default guest's manifest, or undefined when it has not been built. */
export function readDefaultGuest(): GuestManifest | undefined {
  const path = defaultGuestManifestPath();
  if (!existsSync(path)) return undefined;
  const m = JSON.parse(readFileSync(path, 'utf8')) as GuestManifest;
  return existsSync(m.vmlinux) && existsSync(m.initrd) ? m : undefined;
}
