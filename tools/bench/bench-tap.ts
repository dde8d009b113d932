// A tap device a benchmark makes for its run and removes after it: as root
// (tap devices), with a virtio-net header, as tsvmm's and QEMU's tap
// backends open it. The guest network benchmark (net-throughput.ts) gives
// it an address; the data-path benchmark (tap-far-end.ts) none.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Why this host cannot run a benchmark's tap rows, if it cannot. */
export function tapProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (it makes a tap device)';
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun (the tun module)';
  return undefined;
}

/** Makes tap `name`, lets `configure` set it up (and bring it up), runs `body`, then removes the tap. */
export async function withTapDevice<T>(name: string, configure: () => void, body: () => Promise<T>): Promise<T> {
  removeLeftoverTap(name);
  ip('tuntap', 'add', 'dev', name, 'mode', 'tap', 'vnet_hdr');
  try {
    configure();
    return await body();
  } finally {
    ip('link', 'delete', name);
  }
}

/**
 * A run that was killed leaves its tap behind (a persistent one), and the
 * next could not make it again. Such a tap has nobody attached: no carrier.
 * One that is attached belongs to a run still going (or to someone else).
 */
function removeLeftoverTap(name: string): void {
  const device = `/sys/class/net/${name}`;
  if (!existsSync(device)) return;
  const isTap = existsSync(`${device}/tun_flags`);
  // A device that is down has no carrier to read: up, it says.
  if (isTap && carrierOf(device) === undefined) ip('link', 'set', name, 'up');
  if (isTap && carrierOf(device) === '0') {
    ip('link', 'delete', name);
    return;
  }
  throw new Error(`network device ${name} already exists and may be in use (another benchmark running?): stop that, or remove it with \`ip link delete ${name}\``);
}

function carrierOf(device: string): string | undefined {
  try {
    return readFileSync(`${device}/carrier`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
