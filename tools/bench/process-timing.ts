// Spawning a measured process: wall time to a marker in its output and to
// its exit, with a deadline so a benchmark never hangs.
import { spawn } from 'node:child_process';

export interface TimedRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Seconds from spawn to each marker's first appearance on stdout. */
  markers: Record<string, number>;
  /** When it was spawned (epoch ms, as performance.timeOrigin + now()). */
  spawnedAtEpochMs: number;
  seconds: number;
  pid: number;
}

export function timedRun(
  command: string,
  args: string[],
  opts: { markers?: string[]; timeoutMs?: number; onStart?: (pid: number) => void; onMarker?: (marker: string, pid: number) => void; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd, env: opts.env });
    const markers: Record<string, number> = {};
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    opts.onStart?.(child.pid!);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('latin1');
      for (const m of opts.markers ?? [])
        if (markers[m] === undefined && stdout.includes(m)) {
          markers[m] = (performance.now() - started) / 1000;
          opts.onMarker?.(m, child.pid!);
        }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, markers, seconds: (performance.now() - started) / 1000, pid: child.pid!, spawnedAtEpochMs: performance.timeOrigin + started });
    });
  });
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The JSON `tsvmm run --stats` prints on stderr (after any log lines). */
export function parseExitStats<T = Record<string, unknown>>(stderr: string): T {
  const marker = 'tsvmm exit statistics: ';
  const at = stderr.indexOf(marker);
  if (at < 0) throw new Error(`no exit statistics in the output:\n${stderr.slice(-2000)}`);
  return JSON.parse(stderr.slice(at + marker.length)) as T;
}
