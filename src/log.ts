// pino logging. Logs go to stderr (human-readable when stderr is a terminal)
// or to a file; never to stdout, which carries the guest console.
import { Writable } from 'node:stream';
import { openSync } from 'node:fs';
import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: LevelWithSilent;
  /** Write JSON lines to this file instead of stderr. */
  file?: string;
  /** Force pretty (true) or JSON (false) output on stderr; default: pretty on a TTY. */
  pretty?: boolean;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Formats pino's JSON lines as "LEVEL message key=value" for a terminal. */
class PrettyStderr extends Writable {
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error) => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      try {
        const { level, msg, time: _t, pid: _p, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const extra = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        process.stderr.write(`tsvmm ${(LEVEL_NAMES[level as number] ?? String(level)).padEnd(5)} ${msg ?? ''}${extra ? ' ' + extra : ''}\n`);
      } catch {
        process.stderr.write(line + '\n');
      }
    }
    done();
  }
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? 'info';
  const base = { base: undefined as undefined, level };
  if (options.file) return pino(base, pino.destination({ fd: openSync(options.file, 'a'), sync: true }));
  const pretty = options.pretty ?? Boolean(process.stderr.isTTY);
  return pretty ? pino(base, new PrettyStderr()) : pino(base, pino.destination({ fd: 2, sync: true }));
}

/** A logger that drops everything (library default until the CLI sets one). */
export const silentLogger: Logger = pino({ level: 'silent' });
