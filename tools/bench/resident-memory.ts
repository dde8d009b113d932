// A VMM's resident memory without its guest's RAM: /proc/PID/smaps summed
// over every mapping except the guest RAM mapping(s), recognised by size.
import { readFileSync } from 'node:fs';

/**
 * RSS in bytes of `pid` without its guest RAM: anonymous mappings of
 * `guestBytes`. tsvmm's (MADV_DONTFORK: VmFlags "dc") may have merged with an
 * adjacent anonymous mapping of the same flags (seen: 256 MiB + 8 KiB, the
 * whole of it then counted); those are recognised up to 1 MiB larger.
 * Undefined when the process is gone.
 */
export function rssExcludingGuest(pid: number, guestBytes: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  let total = 0;
  let mapping: { size: number; anonymous: boolean; rss: number } | undefined;
  const isGuestRam = (m: { size: number; anonymous: boolean }, flags: string) =>
    m.anonymous && (m.size === guestBytes || (flags.split(' ').includes('dc') && m.size > guestBytes && m.size < guestBytes + 2 ** 20));
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (header) {
      mapping = { size: parseInt(header[2], 16) - parseInt(header[1], 16), anonymous: header[4] === '' && header[3] === '0', rss: 0 };
    } else if (mapping && line.startsWith('Rss:')) {
      mapping.rss = Number(line.split(/\s+/)[1]) * 1024;
    } else if (mapping && line.startsWith('VmFlags:')) {
      // The last line of a mapping's entry.
      if (!isGuestRam(mapping, line.slice(8).trim())) total += mapping.rss;
      mapping = undefined;
    }
  }
  return total;
}

/**
 * Samples rssExcludingGuest until stopped; reports the peak. Every 20 ms for
 * the first `startupMs` after the process appears (a VMM's start-up peaks are
 * short: tsvmm's helper is at its highest for a few tens of ms, between
 * importing its modules and giving back node's start-up pages), then every
 * `intervalMs` (one smaps read of the helper costs ~2 ms of CPU).
 */
export class RssSampler {
  private peak = 0;
  private timer: NodeJS.Timeout;
  private firstSeen: number | undefined;
  private slow = false;
  private known: number | undefined;

  constructor(private readonly pid: () => number | undefined, private readonly guestBytes: number, private readonly intervalMs = 100, private readonly startupMs = 5000) {
    this.timer = setInterval(() => this.sample(), 20);
  }

  private sample(): void {
    // Looking the process up may spawn pgrep: once per process, not per sample.
    const p = (this.known ??= this.pid());
    if (p === undefined) return;
    const rss = rssExcludingGuest(p, this.guestBytes);
    if (rss === undefined) {
      this.known = undefined;
      return;
    }
    this.peak = Math.max(this.peak, rss);
    this.firstSeen ??= performance.now();
    if (!this.slow && performance.now() - this.firstSeen > this.startupMs) {
      this.slow = true;
      clearInterval(this.timer);
      this.timer = setInterval(() => this.sample(), this.intervalMs);
    }
  }

  stop(): number {
    clearInterval(this.timer);
    return this.peak;
  }
}
