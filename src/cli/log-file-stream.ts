// The log file's stream for what the helper and the device processes write
// to their stderr (their log lines): each chunk appended before write()
// returns, as pino writes the frontend's own lines. An fs.WriteStream queues
// its writes, and tsvmm ends with _exit once the command is done
// (process-end.ts): lines still queued then would be lost.
import { closeSync, openSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';

export function openLogFileStream(path: string): Writable {
  const fd = openSync(path, 'a');
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at);
      } catch (e) {
        return done(e as Error);
      }
      done();
    },
    destroy(error, done) {
      closeSync(fd);
      done(error);
    },
  });
}
