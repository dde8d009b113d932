// The --net option (and a machine file's `nets` entries, same syntax):
//   user[,hostfwd=tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...[,mac=MAC][,process=inline|separate]
//   tap=IFNAME[,mac=MAC][,process=inline|separate]
//   stream=PATH[,mac=MAC][,process=inline|separate]
// `user` is rootless user-mode networking by passt (src/net/passt.ts);
// `tap` an existing tap device, or one the kernel creates by that name;
// `stream` a Unix stream socket someone else listens on, in QEMU's
// `-netdev stream` framing (a passt started by hand, a test's peer).

export interface PortForward {
  protocol: 'tcp' | 'udp';
  /** Host address to listen on (default: all). */
  hostAddress?: string;
  hostPort: number;
  guestPort: number;
}

export type NetBackendSpec = { kind: 'user'; forwards: PortForward[] } | { kind: 'tap'; ifname: string } | { kind: 'stream'; path: string };

/** sun_path has 108 bytes with the terminating NUL. */
export const UNIX_PATH_MAX = 107;

export interface NetSpec {
  backend: NetBackendSpec;
  /** The NIC's MAC address, aa:bb:cc:dd:ee:ff (default: 52:54:00 and three bytes from the NIC's name). */
  mac?: string;
  /** Serve the device from its own jailed process instead of the VMM. */
  separateProcess?: boolean;
}

export class NetSpecError extends Error {
  override name = 'NetSpecError';
}

const USAGE = 'expected user[,hostfwd=tcp:HOSTPORT-:GUESTPORT]...[,mac=MAC], tap=IFNAME[,mac=MAC] or stream=SOCKETPATH[,mac=MAC] (and [,process=inline|separate])';

export function parseNetSpec(text: string): NetSpec {
  const fail = (why: string): never => {
    throw new NetSpecError(`--net ${JSON.stringify(text)}: ${why}`);
  };
  const [first, ...options] = text.split(',');
  const eq = first.indexOf('=');
  const kind = eq < 0 ? first : first.slice(0, eq);
  let backend: NetBackendSpec;
  if (kind === 'user') {
    if (eq >= 0) fail('user takes no value');
    backend = { kind: 'user', forwards: [] };
  } else if (kind === 'tap') {
    const ifname = eq < 0 ? '' : first.slice(eq + 1);
    // IFNAMSIZ is 16 with the terminating NUL.
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ifname)) fail('tap needs an interface name of 1 to 15 letters, digits, _ . or -');
    backend = { kind: 'tap', ifname };
  } else if (kind === 'stream') {
    const path = eq < 0 ? '' : first.slice(eq + 1);
    if (path === '') fail('stream needs the path of a Unix socket (stream=PATH)');
    if (Buffer.byteLength(path) > UNIX_PATH_MAX) fail(`the socket path is longer than ${UNIX_PATH_MAX} bytes (a Unix socket's limit)`);
    backend = { kind: 'stream', path };
  } else return fail(`unknown network kind ${JSON.stringify(kind)}; ${USAGE}`);

  const spec: NetSpec = { backend };
  const seen = new Set<string>();
  for (const opt of options) {
    const at = opt.indexOf('=');
    const key = at < 0 ? opt : opt.slice(0, at);
    const value = at < 0 ? '' : opt.slice(at + 1);
    if (key !== 'hostfwd' && seen.has(key)) fail(`option ${key} given twice`);
    seen.add(key);
    switch (key) {
      case 'hostfwd':
        if (backend.kind !== 'user') fail('hostfwd is for user networking (the guest behind a tap or stream is reached directly)');
        (backend as { forwards: PortForward[] }).forwards.push(parseForward(value, fail));
        break;
      case 'mac':
        spec.mac = parseMac(value, fail);
        break;
      case 'process':
        if (value !== 'inline' && value !== 'separate') fail(`process must be inline or separate, not ${JSON.stringify(value)}`);
        if (value === 'separate') spec.separateProcess = true;
        break;
      default:
        fail(`unknown option ${JSON.stringify(key)}; ${USAGE}`);
    }
  }
  return spec;
}

/** QEMU's hostfwd: tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT (the guest address is the guest's own). */
function parseForward(text: string, fail: (why: string) => never): PortForward {
  const m = /^(tcp|udp):(?:([0-9.]*):)?(\d+)-(?:[0-9.]*:)?(\d+)$/.exec(text);
  if (!m) return fail(`hostfwd ${JSON.stringify(text)}: expected tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT`);
  const port = (p: string) => {
    const n = Number(p);
    return n >= 1 && n <= 65535 ? n : fail(`hostfwd ${JSON.stringify(text)}: port ${p} is not in 1..65535`);
  };
  if (m[2] && !isIpv4(m[2])) fail(`hostfwd ${JSON.stringify(text)}: ${m[2]} is not an IPv4 address`);
  return { protocol: m[1] as 'tcp' | 'udp', ...(m[2] ? { hostAddress: m[2] } : {}), hostPort: port(m[3]), guestPort: port(m[4]) };
}

function isIpv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** A unicast MAC address, normalised to lower case. */
function parseMac(text: string, fail: (why: string) => never): string {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) return fail(`mac ${JSON.stringify(text)}: expected six hex bytes, like 52:54:00:12:34:56`);
  if (parseInt(text.slice(0, 2), 16) & 1) fail(`mac ${text} is a multicast address (its first byte is odd)`);
  return text.toLowerCase();
}

export function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((b) => parseInt(b, 16)));
}
