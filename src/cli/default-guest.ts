// The default guest built by tools/guest/build.sh: its manifest lives in the
// cache, outside the work tree.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tsvmmCacheDir } from '../cache-dir.js';

export interface GuestManifest {
  vmlinux: string;
  bzImage: string;
  initrd: string;
  /** The same initramfs uncompressed: unpacking needs no in-guest decompression. */
  initrdUncompressed?: string;
  cmdline: string;
  /** Whether its kernel reads ACPI tables; undefined when the build did not say. */
  acpi?: boolean;
}

export function guestCacheDir(): string {
  return join(tsvmmCacheDir(), 'guest');
}

export function defaultGuestManifestPath(): string {
  return join(guestCacheDir(), 'guest.json');
}

/** The default guest's manifest, or undefined when it has not been built. */
export function readDefaultGuest(): GuestManifest | undefined {
  const path = defaultGuestManifestPath();
  if (!existsSync(path)) return undefined;
  const m = JSON.parse(readFileSync(path, 'utf8')) as GuestManifest;
  if (!existsSync(m.vmlinux) || !existsSync(m.initrd)) return undefined;
  // In-guest gunzip of the initramfs took 56 s of a 75 s boot on software-nested
  // KVM; the uncompressed archive unpacks in under a second (docs/host-kvm.md).
  if (m.initrdUncompressed && existsSync(m.initrdUncompressed)) m.initrd = m.initrdUncompressed;
  m.acpi ??= kernelConfigHasAcpi(join(guestCacheDir(), 'kernel.config.full'));
  return m;
}

/** What the build's kernel configuration (tools/guest/build.sh keeps it) says of CONFIG_ACPI; undefined without one. */
function kernelConfigHasAcpi(configPath: string): boolean | undefined {
  if (!existsSync(configPath)) return undefined;
  const config = readFileSync(configPath, 'utf8');
  return /^CONFIG_ACPI=y$/m.test(config);
}
