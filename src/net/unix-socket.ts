// `--net stream=PATH`: the frontend connects to a Unix stream socket someone
// else listens on (QEMU's `-netdev stream,addr.type=unix`): a passt started
// by hand (`passt -s PATH`), another program speaking the same framing
// (src/net/stream-backend.ts), a test's peer. The connected descriptor then
// travels like passt's socketpair end.
import { AF_UNIX, ECONNREFUSED, ENOENT, SOCK_CLOEXEC, SOCK_STREAM, check, close, connect, errnoName, koffi, setNonBlocking, socket } from '../../ffi/libc.js';
import { UNIX_PATH_MAX } from './net-spec.js';

export class UnixSocketError extends Error {
  override name = 'UnixSocketError';
  constructor(
    message: string,
    /** The connect's errno, when that was what failed. */
    readonly errno?: number,
  ) {
    super(message);
  }
}

/** struct sockaddr_un: sa_family_t (2 bytes), then sun_path[108]. */
const SOCKADDR_UN_SIZE = 110;

/** Connects to the Unix stream socket at `path`; the descriptor is close-on-exec, and non-blocking unless `blocking`. */
export function connectUnixStream(path: string, { blocking = false } = {}): number {
  const name = Buffer.from(path);
  if (name.length === 0 || name.length > UNIX_PATH_MAX) throw new UnixSocketError(`socket path ${JSON.stringify(path)} must have 1 to ${UNIX_PATH_MAX} bytes`);
  const address = new Uint8Array(SOCKADDR_UN_SIZE);
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(name, 2);
  const fd = check(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) as number, 'socket');
  try {
    // Blocking connect: a listening Unix socket answers at once (or refuses).
    if ((connect(fd, address, 2 + name.length + 1) as number) < 0) {
      const errno = koffi.errno();
      const why = errno === ENOENT ? 'no such socket' : errno === ECONNREFUSED ? 'nobody is listening on it' : errnoName(errno);
      throw new UnixSocketError(`cannot connect to ${path}: ${why}`, errno);
    }
    if (!blocking) setNonBlocking(fd);
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}
