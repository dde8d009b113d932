// The --disk option: PATH[,ro][,cache=none|writeback][,engine=sync|async|io_uring|aio][,serial=ID]
// A comma inside the path is written as ",," (QEMU's convention).
import type { CacheMode } from './disk-image.js';

export type BlockEngine = 'sync' | 'async' | 'io_uring' | 'aio';

export interface DiskSpec {
  path: string;
  readOnly: boolean;
  cache: CacheMode;
  /** 'async': io_uring, else Linux AIO, else sync (probed at start-up). */
  engine: BlockEngine;
  /** Serial number the guest reads with VIRTIO_BLK_T_GET_ID (at most 20 bytes). */
  serial?: string;
  /** Serve the device from its own jailed process (ioregionfd protocol) instead of the VMM. */
  separateProcess?: boolean;
}

export class DiskSpecError extends Error {
  override name = 'DiskSpecError';
}

const USAGE = 'expected PATH[,ro][,cache=none|writeback][,engine=sync|async|io_uring|aio][,serial=ID][,process=inline|separate]';

export function parseDiskSpec(text: string): DiskSpec {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === ',' && text[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (c === ',') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  const path = parts[0];
  if (!path) throw new DiskSpecError(`--disk ${JSON.stringify(text)}: missing path; ${USAGE}`);
  const spec: DiskSpec = { path, readOnly: false, cache: 'writeback', engine: 'async' };
  const seen = new Set<string>();
  for (const opt of parts.slice(1)) {
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? undefined : opt.slice(eq + 1);
    if (seen.has(key)) throw new DiskSpecError(`--disk ${JSON.stringify(text)}: option ${key} given twice`);
    seen.add(key);
    switch (key) {
      case 'ro':
      case 'readonly':
        if (value !== undefined && value !== 'on' && value !== 'off')
          throw new DiskSpecError(`--disk ${JSON.stringify(text)}: ${key} takes no value (or on/off)`);
        spec.readOnly = value !== 'off';
        break;
      case 'cache':
        if (value !== 'none' && value !== 'writeback')
          throw new DiskSpecError(`--disk ${JSON.stringify(text)}: cache must be none or writeback, not ${JSON.stringify(value ?? '')}`);
        spec.cache = value;
        break;
      case 'engine':
      case 'aio':
        if (value !== 'sync' && value !== 'async' && value !== 'io_uring' && value !== 'aio')
          throw new DiskSpecError(
            `--disk ${JSON.stringify(text)}: engine must be sync, async, io_uring or aio, not ${JSON.stringify(value ?? '')}`,
          );
        spec.engine = value;
        break;
      case 'serial':
        if (value === undefined || Buffer.byteLength(value) > 20)
          throw new DiskSpecError(`--disk ${JSON.stringify(text)}: serial must be 1 to 20 bytes`);
        spec.serial = value;
        break;
      case 'process':
        if (value !== 'inline' && value !== 'separate')
          throw new DiskSpecError(`--disk ${JSON.stringify(text)}: process must be inline or separate, not ${JSON.stringify(value ?? '')}`);
        if (value === 'separate') spec.separateProcess = true;
        break;
      default:
        throw new DiskSpecError(`--disk ${JSON.stringify(text)}: unknown option ${JSON.stringify(key)}; ${USAGE}`);
    }
  }
  return spec;
}
