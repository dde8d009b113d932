// virtio-9p's data-path warm-up against a real temporary directory: it
// serves its whole budget (every request answered, only the Tread of the
// directory refused), leaves the directory as it was, and stops as soon as
// the guest's own device is in use; a share gone from under it refuses it. warmUpWhileIdle runs warm-ups a step per
// event-loop turn and survives one that throws.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { warmUpWhileIdle, type DataPathWarmUp } from '../../../src/devices/data-path-warm-up.js';
import { Virtio9pWarmUp } from '../../../src/devices/virtio/virtio-9p-warm-up.js';

/** The warm-up's cycle: walk, getattr, lopen, readdir, Tread, clunk, walk .., getattr, clunk, statfs. */
const CYCLE = 10;
/** Tversion and Tattach, the first step. */
const SET_UP = 2;

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function tree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-warm-up-'));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'file'), 'contents');
  fs.mkdirSync(path.join(dir, 'sub'));
  return dir;
}

/** What the warm-up could change: every entry's name, mode, size and times but atime. */
function snapshot(dir: string): string[] {
  return [dir, ...fs.readdirSync(dir).map((n) => path.join(dir, n))].map((p) => {
    const s = fs.lstatSync(p);
    return `${path.relative(dir, p)} ${s.mode} ${s.size} ${s.mtimeMs} ${s.ctimeMs}`;
  });
}

function runToEnd(w: Virtio9pWarmUp): void {
  while (w.step());
}

describe('virtio-9p warm-up', () => {
  it('serves its whole budget, a request a step, each answered, only the Treads of the directory refused', () => {
    const dir = tree();
    const w = new Virtio9pWarmUp('share0', dir, () => false, 100);
    let steps = 1;
    while (w.step()) steps++;
    // Tversion and Tattach in the first step; the cycle's fifth request is the Tread.
    expect(steps).toBe(100 - SET_UP + 1);
    expect(w.close()).toEqual({ requests: 100, refused: Math.ceil((100 - SET_UP - 4) / CYCLE) });
  });

  it('leaves the shared directory as it was', () => {
    const dir = tree();
    const before = snapshot(dir);
    const w = new Virtio9pWarmUp('share0', dir, () => false, 50);
    runToEnd(w);
    w.close();
    expect(snapshot(dir)).toEqual(before);
  });

  it("walks an entry of the root, as find does, without opening it: a FIFO there is only looked at", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-warm-up-'));
    dirs.push(dir);
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    const before = snapshot(dir);
    const w = new Virtio9pWarmUp('share0', dir, () => false, 40);
    runToEnd(w);
    // Only the Treads (of the directory) refused: the walk to the FIFO and its getattr succeeded.
    expect(w.close()).toEqual({ requests: 40, refused: 4 });
    expect(snapshot(dir)).toEqual(before);
  });

  it('walks the entry the listing named: gone after the listing, its walk, getattr and clunk are refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-warm-up-'));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'only'), '');
    const w = new Virtio9pWarmUp('share0', dir, () => false, SET_UP + 4 * CYCLE);
    for (let step = 0; step < 5; step++) w.step(); // set-up, walk, getattr, lopen, readdir
    fs.rmSync(path.join(dir, 'only'));
    runToEnd(w);
    // Per cycle: the Tread of the directory, and the walk to the entry with the getattr and clunk of its fid.
    expect(w.close()).toEqual({ requests: SET_UP + 4 * CYCLE, refused: 4 * 4 });
  });

  it('does nothing once the guest has used its device, and stops when it starts to', () => {
    const dir = tree();
    const idle = new Virtio9pWarmUp('share0', dir, () => true);
    expect(idle.step()).toBe(false);
    expect(idle.close()).toEqual({ requests: 0, refused: 0 });

    let guestStarted = false;
    const w = new Virtio9pWarmUp('share0', dir, () => guestStarted);
    expect(w.step()).toBe(true);
    expect(w.step()).toBe(true);
    guestStarted = true;
    expect(w.step()).toBe(false);
    expect(w.close().requests).toBe(SET_UP + 1);
  });

  it('serves a share whose directory has gone: every request but Tversion refused, none dropped', () => {
    const dir = tree();
    const w = new Virtio9pWarmUp('share0', dir, () => false, 30);
    fs.rmSync(dir, { recursive: true });
    runToEnd(w);
    expect(w.close()).toEqual({ requests: 30, refused: 29 });
  });
});

describe('warmUpWhileIdle', () => {
  /** A warm-up of `steps` steps that records the event-loop turns it ran in. */
  function counting(name: string, steps: number, fail = false): DataPathWarmUp & { turns: number[] } {
    let turn = 0;
    const w = {
      name,
      turns: [] as number[],
      step() {
        if (fail) throw new Error('broken');
        w.turns.push(turn);
        return w.turns.length < steps;
      },
      close: () => ({ requests: w.turns.length, refused: 0 }),
    };
    const tick = () => {
      turn++;
      if (turn < 50) setImmediate(tick);
    };
    setImmediate(tick);
    return w;
  }

  it('runs each warm-up to its end, a step per turn, one after the other, and reports each', async () => {
    const a = counting('a', 3);
    const b = counting('b', 2);
    const done: string[] = [];
    await new Promise<void>((resolve) =>
      warmUpWhileIdle([a, b], (w, outcome) => {
        done.push(`${w.name} ${outcome.requests}`);
        if (done.length === 2) resolve();
      }),
    );
    expect(done).toEqual(['a 3', 'b 2']);
    expect(new Set(a.turns).size).toBe(3);
    expect(new Set(b.turns).size).toBe(2);
  });

  it('ends a warm-up that throws, and goes on with the next', async () => {
    const broken = counting('broken', 5, true);
    const next = counting('next', 1);
    const done: string[] = [];
    await new Promise<void>((resolve) =>
      warmUpWhileIdle([broken, next], (w) => {
        done.push(w.name);
        if (done.length === 2) resolve();
      }),
    );
    expect(done).toEqual(['broken', 'next']);
  });
});
