// The frontend's end of the guest's console ports (virtio-console): each port
// writes into a pipe the helper holds the write end of; this copies the read
// end to tsvmm's stdout or stderr, with the stream's back-pressure (a slow
// reader of tsvmm's output slows the guest's writes, never loses them). When
// the reader goes away (`tsvmm exec -- yes | head -1`, `tsvmm run | head`
// for the UART console), a local program would die of SIGPIPE:
// `onBrokenOutput` lets the caller end the VM the same way.
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { OutputStream } from '../devices/device-kind.js';
import type { Logger } from '../log.js';

/**
 * After the VM has ended, how long the pipes may take to run dry. The helper's
 * exit closes every write end, so this bounds only a stuck destination.
 */
const DRAIN_TIMEOUT_MS = 10_000;

export class ConsoleOutputs {
  private readonly pipes: Socket[] = [];
  private readonly ended: Promise<void>[] = [];
  /** A stream whose reader went away (EPIPE), if any. */
  broken: OutputStream | undefined;

  constructor(
    outputs: readonly { stream: OutputStream; fd: number }[],
    streams: Record<OutputStream, NodeJS.WritableStream>,
    private readonly log: Logger,
    onBrokenOutput: (stream: OutputStream) => void = () => {},
  ) {
    for (const stream of new Set(outputs.map((o) => o.stream))) {
      streams[stream].on('error', (e: NodeJS.ErrnoException) => {
        if (this.broken !== undefined) return;
        this.broken = stream;
        log.debug({ stream, err: e.message }, `tsvmm's ${stream} is closed (${e.code}): ending the VM`);
        // The helper's next write into the port's pipe fails: the port drops the rest.
        this.close();
        onBrokenOutput(stream);
      });
    }
    for (const { stream, fd } of outputs) {
      let pipe: Socket;
      try {
        pipe = new Socket({ fd, readable: true, writable: false });
      } catch (e) {
        closeSync(fd);
        throw e;
      }
      this.pipes.push(pipe);
      this.ended.push(new Promise((resolve) => pipe.once('close', () => resolve())));
      pipe.on('error', (e) => log.warn({ stream, err: e.message }, `a console port's pipe to ${stream} failed: ${e.message}`));
      pipe.pipe(streams[stream], { end: false });
    }
  }

  /** Resolves when every port's pipe has run dry (all writers gone), or after a bounded wait. */
  async finished(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), DRAIN_TIMEOUT_MS)));
    const how = await Promise.race([Promise.all(this.ended), late]);
    clearTimeout(timer);
    if (how === 'late') this.log.warn(`the console ports' output was still flowing ${DRAIN_TIMEOUT_MS / 1000} s after the VM ended: cut short`);
  }

  close(): void {
    for (const pipe of this.pipes) pipe.destroy();
  }
}
