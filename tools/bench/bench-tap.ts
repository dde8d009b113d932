// A tap device a benchmark makes for its run and removes after it: as root
// (tap devices), with a virtio-net header, as tsvmm's and QEMU's tap
// backends open it. The guest network benchmark (net-throughput.ts) gives
// it an address; the data-path benchmark (tap-far-end.ts) none.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Why this host cannot run a benchmark's tap rows, if it cannot. */
export function tapProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (it makes a tap device)';
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun (the tun module)';
  return undefined;
}

/** Makes tap `name`, lets `configure` set it up (and bring it up), runs `body`, then removes the tap. */
export async function withTapDevice<T>(name: string, configure: () => void, body: () => Promise<T>): Promise<T> {
  ip('tuntap', 'add', 'dev', name, 'mode', 'tap', 'vnet_hdr');
  try {
    configure();
    return await body();
  } finally {
    ip('link', 'delete', name);
  }
}
