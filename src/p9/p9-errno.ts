// How a failed operation becomes the errno of an Rlerror. Handlers throw
// P9Errno for the refusals they decide themselves; Node's fs errors carry a
// `code` ("ENOENT") that maps through os.constants.errno. Anything else is a
// server bug and answers EIO rather than escaping the server.
import os from 'node:os';
import { P9ProtocolError } from './p9-codec.js';

const errnos = os.constants.errno as Record<string, number>;
const { EIO, EINVAL } = os.constants.errno;

/**
 * A refusal decided by the server: the reply is Rlerror(errno). Refusals are
 * answers (a name that does not exist, an xattr the server never shares), not
 * bugs: they carry no stack trace, whose capture cost ~5 µs natively and
 * ~150 µs in a nested L1 per refused request.
 */
export class P9Errno extends Error {
  constructor(
    readonly errno: number,
    reason = '',
  ) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(reason || `errno ${errno}`);
    Error.stackTraceLimit = limit;
    this.name = 'P9Errno';
  }
}

/** Throws P9Errno: for handlers, `if (bad) refuse(EBADF)`. */
export function refuse(errno: number, reason = ''): never {
  throw new P9Errno(errno, reason);
}

/** The Linux errno for anything a handler threw. */
export function errnoOf(error: unknown): number {
  if (error instanceof P9Errno || error instanceof P9ProtocolError) return error.errno;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const errno = errnos[code];
    if (errno !== undefined) return errno;
    // Node refuses some arguments before any system call (a NUL byte in a path, a value out of range).
    if (code.startsWith('ERR_INVALID_ARG') || code === 'ERR_OUT_OF_RANGE') return EINVAL;
  }
  return EIO;
}
