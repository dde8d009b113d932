// The --share option (and a machine file's virtio-9p entries, same syntax):
//   HOSTDIR[,tag=NAME][,ro][,process=separate]
// HOSTDIR is served to the guest as a virtio-9p device (src/devices/virtio/
// virtio-9p.ts) by the 9P2000.L server; the guest mounts it with
// `mount -t 9p -o trans=virtio,version=9p2000.L NAME /mnt`. Without a tag the
// shares are share0, share1, ... in the order given. `ro` refuses every change.
// `process=separate` serves the share from its own jailed device process, whose
// root holds the directory and nothing else (not the helper, which holds KVM).
import fs from 'node:fs';
import path from 'node:path';
import { isValidMountTag } from '../devices/virtio/virtio-9p.js';
import { VIRTIO_9P_MAX_TAG_LENGTH } from '../devices/virtio/virtio-9p-layout.js';

export interface ShareSpec {
  /** The host directory, absolute. */
  hostDir: string;
  /** The mount tag, when one was given. */
  tag?: string;
  readOnly: boolean;
  /** Served by its own device process. */
  separateProcess?: boolean;
}

export class ShareSpecError extends Error {
  override name = 'ShareSpecError';
}

const USAGE = 'expected HOSTDIR[,tag=NAME][,ro][,process=separate]';

export function parseShareSpec(text: string): ShareSpec {
  const fail = (why: string): never => {
    throw new ShareSpecError(`--share ${JSON.stringify(text)}: ${why}`);
  };
  const [dir, ...options] = text.split(',');
  if (dir === '') fail(`no directory; ${USAGE}`);
  const spec: ShareSpec = { hostDir: path.resolve(dir), readOnly: false };
  const seen = new Set<string>();
  for (const opt of options) {
    const at = opt.indexOf('=');
    const key = at < 0 ? opt : opt.slice(0, at);
    const value = at < 0 ? undefined : opt.slice(at + 1);
    if (seen.has(key)) fail(`option ${key} given twice`);
    seen.add(key);
    switch (key) {
      case 'tag':
        if (value === undefined || !isValidMountTag(value)) fail(`tag must be 1 to ${VIRTIO_9P_MAX_TAG_LENGTH} letters, digits, _ . or -, not ${JSON.stringify(value ?? '')}`);
        spec.tag = value;
        break;
      case 'ro':
        if (value !== undefined) fail('ro takes no value');
        spec.readOnly = true;
        break;
      case 'process':
        if (value !== 'inline' && value !== 'separate') fail(`process must be inline or separate, not ${JSON.stringify(value ?? '')}`);
        if (value === 'separate') spec.separateProcess = true;
        break;
      default:
        fail(`unknown option ${JSON.stringify(key)}; ${USAGE} (a directory name with a comma cannot be shared)`);
    }
  }
  return spec;
}

/** Refuses a share whose directory is missing or not a directory (before anything starts). */
export function checkShareDirectory(spec: ShareSpec): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(spec.hostDir);
  } catch (e) {
    throw new ShareSpecError(`cannot share ${spec.hostDir}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (e as Error).message}`);
  }
  if (!st.isDirectory()) throw new ShareSpecError(`cannot share ${spec.hostDir}: not a directory`);
}
