// A VMM's resident memory without its guest's RAM: /proc/PID/smaps summed
// over every mapping except the guest RAM mapping(s), recognised by size.
import { readFileSync } from 'node:fs';

/** RSS in bytes of `pid` excluding anonymous mappings of exactly `guestBytes`; undefined when gone. */
export function rssExcludingGuest(pid: number, guestBytes: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  let total = 0;
  let skip = false;
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (header) {
      const size = parseInt(header[2], 16) - parseInt(header[1], 16);
      skip = size === guestBytes && header[4] === '' && header[3] === '0';
      continue;
    }
    if (!skip && line.startsWith('Rss:')) total += Number(line.split(/\s+/)[1]) * 1024;
  }
  return total;
}

/** Samples rssExcludingGuest every `intervalMs` until stopped; reports the peak. */
export class RssSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: () => number | undefined, guestBytes: number, intervalMs = 100) {
    this.timer = setInterval(() => {
      const p = this.pid();
      if (p === undefined) return;
      const rss = rssExcludingGuest(p, guestBytes);
      if (rss !== undefined) this.peak = Math.max(this.peak, rss);
    }, intervalMs);
  }

  stop(): number {
    clearInterval(this.timer);
    return this.peak;
  }
}
