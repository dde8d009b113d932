// What /proc/self/smaps says of this process's mappings.
import { existsSync, readFileSync } from 'node:fs';

/** The ShmemPmdMapped kB of this process's mapping that starts at `hostAddress`: its shared memory mapped in 2 MiB pages. */
export function pmdMappedKb(hostAddress: number): number {
  const start = hostAddress.toString(16).padStart(8, '0');
  const smaps = readFileSync('/proc/self/smaps', 'utf8');
  const at = smaps.search(new RegExp(`^${start}-`, 'm'));
  if (at < 0) throw new Error(`no mapping starts at 0x${start}`);
  const field = /^ShmemPmdMapped:\s+(\d+) kB/m.exec(smaps.slice(at));
  return Number(field?.[1]);
}

/** Whether this host gives a tmpfs mounted with huge=advise huge pages (THP built in, shmem not `deny`). */
export function hostHasShmemThp(): boolean {
  const setting = '/sys/kernel/mm/transparent_hugepage/shmem_enabled';
  return existsSync(setting) && !readFileSync(setting, 'utf8').includes('[deny]');
}
