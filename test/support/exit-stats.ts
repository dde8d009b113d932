// The JSON `tsvmm run --stats` prints on stderr, after any log lines.
import { expect } from 'vitest';

export function exitStats<T>(stderr: string): T {
  const marker = 'tsvmm exit statistics: ';
  const at = stderr.indexOf(marker);
  expect(at, stderr.slice(-3000)).toBeGreaterThanOrEqual(0);
  return JSON.parse(stderr.slice(at + marker.length)) as T;
}
