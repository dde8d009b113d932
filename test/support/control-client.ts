// Talking to a running tsvmm's control socket, and waiting on what it prints.
import { connect } from 'node:net';
import { deadline } from './deadline.js';

/** Sends one JSON line and resolves with the answer's JSON. */
export function ask(path: string, line: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => s.write(line + '\n'));
    let got = '';
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\n')) {
        s.end();
        resolve(JSON.parse(got));
      }
    });
    s.on('error', reject);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it holds (at most 10 s, stretched in the L1). */
export async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < deadline(10_000) / 50 && !check(); i++) await sleep(50);
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}
