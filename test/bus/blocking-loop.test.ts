// The device loop (src/bus/blocking-loop.ts) on real descriptors: it calls
// back for ready fds and drains microtasks between turns, and it leaves Node's
// own loop working (timers, immediates, libuv's descriptors, process lifetime).
import { execFileSync, spawn } from 'node:child_process';
import { createServer, connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EFD_CLOEXEC, EFD_NONBLOCK, F_GETFL, O_NONBLOCK, close, eventfd, fcntl, poll, read, write } from '../../ffi/libc.js';
import { BlockingLoop, type GuestSlices } from '../../src/bus/blocking-loop.js';
import { PROJECT_ROOT } from '../../src/project-root.js';

const opened: number[] = [];
let loop: BlockingLoop | undefined;

afterEach(() => {
  loop?.close();
  loop = undefined;
  for (const fd of opened.splice(0)) close(fd);
});

function newEventfd(): number {
  const fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number;
  expect(fd).toBeGreaterThanOrEqual(0);
  opened.push(fd);
  return fd;
}

const one = new Uint8Array(new BigUint64Array([1n]).buffer);
const signal = (fd: number) => expect(write(fd, one, 8)).toBe(8);
/** Reads the counter: 0 if the eventfd was not signalled. */
function consume(fd: number): number {
  const counter = new BigUint64Array(1);
  return (read(fd, new Uint8Array(counter.buffer), 8) as number) === 8 ? Number(counter[0]) : 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A child Node's script: `body` with the built loop from dist/ as `loop` and an eventfd `fd` at hand. */
function childScript(body: string): string {
  return (
    `import { BlockingLoop } from ${JSON.stringify(join(PROJECT_ROOT, 'dist', 'src', 'bus', 'blocking-loop.js'))};\n` +
    `import { eventfd, read, write } from ${JSON.stringify(join(PROJECT_ROOT, 'dist', 'ffi', 'libc.js'))};\n` +
    `const loop = new BlockingLoop(); const fd = eventfd(0, 0o4000);\n${body}`
  );
}

/** Runs childScript(body) to its end; its output. */
function run(body: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', childScript(body)], { encoding: 'utf8', timeout: 20_000 });
}

describe('the blocking device loop', () => {
  it('calls back when a descriptor is ready, and not while stopped', async () => {
    loop = new BlockingLoop();
    const fd = newEventfd();
    let calls = 0;
    let woken: () => void = () => {};
    const watch = loop.watch(fd, { readable: true }, (ready) => {
      expect(ready.readable).toBe(true);
      calls += consume(fd);
      woken();
    });
    const first = new Promise<void>((r) => (woken = r));
    signal(fd);
    await first;
    expect(calls).toBe(1);

    watch.stop();
    signal(fd);
    await sleep(30);
    expect(calls).toBe(1);
    const second = new Promise<void>((r) => (woken = r));
    watch.start({ readable: true }, (ready) => {
      expect(ready.readable).toBe(true);
      calls += consume(fd);
      woken();
    });
    await second; // level-triggered: the write made while stopped is still there
    expect(calls).toBe(2);
    watch.close();
  });

  it('makes a watched descriptor non-blocking, as libuv does', () => {
    loop = new BlockingLoop();
    const fd = eventfd(0, EFD_CLOEXEC) as number;
    opened.push(fd);
    expect((fcntl(fd, F_GETFL, 0) as number) & O_NONBLOCK).toBe(0);
    loop.watch(fd, { readable: true }, () => {}).close();
    expect((fcntl(fd, F_GETFL, 0) as number) & O_NONBLOCK).toBe(O_NONBLOCK);
  });

  it('reports each write to an edge-triggered eventfd once, with nothing read', async () => {
    loop = new BlockingLoop();
    const fd = newEventfd();
    let calls = 0;
    let woken: () => void = () => {};
    const watch = loop.watch(fd, { readable: true, edgeTriggered: true }, () => {
      calls++;
      woken();
    });
    expect(watch.edgeTriggered).toBe(true);
    for (let i = 1; i <= 3; i++) {
      const reported = new Promise<void>((r) => (woken = r));
      signal(fd);
      await reported;
      expect(calls).toBe(i);
    }
    await sleep(30);
    expect(calls).toBe(3); // still readable, but reported only per write
    expect(consume(fd)).toBe(3);
  });

  it('serves many turns in a row, draining microtasks before it waits again', async () => {
    loop = new BlockingLoop();
    const ping = newEventfd();
    const pong = newEventfd();
    const rounds = 2000;
    let n = 0;
    const done = new Promise<void>((resolve) => {
      // Each side answers from a microtask: if the loop waited before running it, nothing would move.
      loop!.watch(ping, { readable: true }, () => {
        consume(ping);
        queueMicrotask(() => signal(pong));
      });
      loop!.watch(pong, { readable: true }, () => {
        consume(pong);
        if (++n === rounds) resolve();
        else Promise.resolve().then(() => signal(ping));
      });
    });
    signal(ping);
    await done;
    expect(n).toBe(rounds);
    // Most turns happen inside the loop, without a round trip through libuv.
    expect(loop.stats.turns).toBeGreaterThanOrEqual(rounds);
    expect(loop.stats.sessions).toBeLessThan(rounds / 2);
  });

  it("hands control back to Node for timers, immediates and libuv's own descriptors", async () => {
    loop = new BlockingLoop();
    const idle = newEventfd();
    loop.watch(idle, { readable: true }, () => consume(idle));

    const started = Date.now();
    await sleep(50);
    expect(Date.now() - started).toBeLessThan(5000);

    const busy = newEventfd();
    const immediateRan = new Promise<void>((resolve) =>
      loop!.watch(busy, { readable: true }, () => {
        consume(busy);
        setImmediate(resolve);
      }),
    );
    signal(busy);
    await immediateRan;

    // A TCP echo through Node's own sockets, while the loop waits on its eventfd.
    const server = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const echoed = await new Promise<string>((resolve, reject) => {
        const c = connect((server.address() as AddressInfo).port, '127.0.0.1', () => c.write('through libuv'));
        c.on('data', (d) => (resolve(d.toString()), c.destroy()));
        c.on('error', reject);
      });
      expect(echoed).toBe('through libuv');
    } finally {
      server.close();
    }
  });

  it('stops quietly a watch whose descriptor is gone, or whose loop is', () => {
    loop = new BlockingLoop();
    const fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number;
    const orphan = loop.watch(fd, { readable: true }, () => {});
    close(fd);
    expect(() => orphan.close()).not.toThrow();

    const kept = loop.watch(newEventfd(), { readable: true }, () => {});
    loop.close();
    expect(() => kept.stop()).not.toThrow();
    expect(() => kept.start({ readable: true }, () => {})).not.toThrow();
    expect(() => kept.close()).not.toThrow();
  });

  it('keeps the process alive only while a referenced watch is started', () => {
    // Unreferenced: Node ends as soon as its own work is done.
    expect(run(`loop.watch(fd, { readable: true }, () => {}).unref(); console.log('end');`).trim()).toBe('end');
    // Referenced: the process lives until the watch's event has come and the watch is closed.
    const out = run(`const w = loop.watch(fd, { readable: true }, () => { console.log('event'); w.close(); });
setTimeout(() => write(fd, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]), 8), 100);`);
    expect(out.trim()).toBe('event');
  });

  it('hands control back for a timer a callback set, with nothing else to wake it', () => {
    // No timer is pending when the loop takes over, so it waits without a
    // deadline; the one the callback sets must end that wait, or the child
    // hangs until execFileSync's timeout.
    const out = run(`loop.watch(fd, { readable: true }, () => { read(fd, new Uint8Array(8), 8); setTimeout(() => { console.log('timer'); process.exit(0); }, 20); });
setTimeout(() => write(fd, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]), 8), 100);`);
    expect(out.trim()).toBe('timer');
  });

  it('serves its descriptors between immediates: a chain of them starves nothing', () => {
    // Each turn has an immediate queued, so libuv never waits; the ready
    // eventfd must still be served within a few turns (a share answering
    // more than a turn's requests queues such a chain, while another
    // device of its process may have a doorbell ringing).
    const out = run(`loop.watch(fd, { readable: true }, () => { read(fd, new Uint8Array(8), 8); console.log('served after ' + turns + ' turns'); process.exit(0); });
let turns = 0;
const chain = () => { if (++turns > 2000) { console.log('starved'); process.exit(0); } setImmediate(chain); };
setImmediate(() => { write(fd, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]), 8); chain(); });`);
    expect(out.trim()).toMatch(/^served after [1-3] turns$/);
  });

  it('hands control back when a callback starts a libuv watcher, with nothing else to wake it', async () => {
    // The callback starts reading the child's stdin: libuv adds that pipe to
    // its epoll set only when it next polls, so the loop must let it poll, or
    // the line written after 'reading' never arrives.
    const child = spawn(process.execPath, ['--input-type=module', '-e', childScript(`loop.watch(fd, { readable: true }, () => {
  read(fd, new Uint8Array(8), 8);
  process.stdin.once('data', (d) => { console.log('got ' + d.toString().trim()); process.exit(0); });
  console.log('reading');
});
setTimeout(() => write(fd, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]), 8), 100);`)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('reading\n')) setTimeout(() => child.stdin.write('hello\n'), 100);
    });
    await new Promise((r) => child.on('close', r));
    clearTimeout(killer);
    expect(out).toBe('reading\ngot hello\n');
  });

  describe('with a guest run where it would wait (main-thread-vcpu.ts)', () => {
    /**
     * A stand-in for a vCPU on this thread: its "KVM_RUN" ends when the
     * loop's descriptor is readable or the timeout passes, as the real one's
     * wake and timer end it (kvm-run-wake.ts). It records each slice's timeout.
     */
    function guest(target: BlockingLoop): GuestSlices & { slices: number[]; runnable: boolean } {
      const pollfd = new Uint8Array(8);
      const view = new DataView(pollfd.buffer);
      return {
        slices: [],
        runnable: true,
        runUntilWoken(timeoutMs: number) {
          this.slices.push(timeoutMs);
          view.setInt32(0, target.descriptor, true);
          view.setInt16(4, 1, true); // POLLIN
          poll(pollfd, 1, timeoutMs);
        },
      };
    }

    it('gives the guest the thread instead of waiting, bounded by timers, and serves descriptors between slices', async () => {
      loop = new BlockingLoop();
      const g = guest(loop);
      loop.setGuest(g);
      const fd = newEventfd();
      let calls = 0;
      loop.watch(fd, { readable: true }, () => (calls += consume(fd)));
      // A timer due in 50 ms: every slice meanwhile ends by then, and the timer fires.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(g.slices.length).toBeGreaterThan(0);
      expect(loop.stats.guestSlices).toBe(g.slices.length);
      for (const t of g.slices) expect(t).toBeGreaterThanOrEqual(0);
      // A descriptor made ready by a timer's callback ends the slice and is served.
      setTimeout(() => signal(fd), 10);
      await sleep(60);
      expect(calls).toBe(1);
    });

    it('waits in epoll again once the guest cannot run (paused or ended)', async () => {
      loop = new BlockingLoop();
      const g = guest(loop);
      g.runnable = false;
      loop.setGuest(g);
      const fd = newEventfd();
      let calls = 0;
      loop.watch(fd, { readable: true }, () => (calls += consume(fd)));
      setTimeout(() => signal(fd), 10);
      await sleep(50);
      expect(calls).toBe(1);
      expect(g.slices).toEqual([]);
      g.runnable = true;
      setTimeout(() => signal(fd), 10);
      await sleep(50);
      expect(calls).toBe(2);
      expect(g.slices.length).toBeGreaterThan(0);
    });
  });

  it('refuses to run off the main thread', async () => {
    const { Worker } = await import('node:worker_threads');
    const module = join(PROJECT_ROOT, 'dist', 'src', 'bus', 'blocking-loop.js');
    const worker = new Worker(`import(${JSON.stringify(module)}).then((m) => { try { new m.BlockingLoop(); process.exit(0); } catch (e) { require('node:worker_threads').parentPort.postMessage(e.message); } });`, { eval: true });
    const message = await new Promise((resolve) => worker.once('message', resolve));
    await worker.terminate();
    expect(message).toMatch(/main thread/);
  });
});
