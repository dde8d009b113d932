// Gives back the page mappings of code and read-only data the helper touched
// while starting and does not need any more.
//
// Starting node touches ~40 MiB of its own binary: the dynamic linker walks
// its symbol tables (7 MiB), V8 deserializes its snapshot and node compiles
// its bootstrap and our modules from the embedded sources, OpenSSL and ICU
// initialise. Those pages are clean, shared with every other node process
// (the frontend first of all) and stay in the page cache; but while they are
// mapped they count in the helper's RSS for the whole run.
//
// MADV_DONTNEED on a private file mapping drops the mapping of its pages
// only: the next access faults the same page back in from the page cache. It
// is safe exactly where the mapping holds no private (copied-on-write) page,
// whose contents it would discard; so only read-only, private file mappings
// whose smaps entry says `Anonymous: 0 kB` are released. Whatever the helper
// keeps using (the exit loop, V8's compiler and GC, libc) comes back at once
// and counts again: what stays resident is the working set.
//
// Needs /proc/self/smaps: call it before the jail.
import { readFileSync } from 'node:fs';
import { madvise } from '../../ffi/libc.js';

const MADV_DONTNEED = 4;

export interface CleanFileMapping {
  start: number;
  end: number;
  path: string;
  /** Resident bytes when read. */
  rss: number;
}

/** The read-only, private, file-backed mappings of an smaps text that hold no anonymous page. */
export function cleanFileMappings(smaps: string): CleanFileMapping[] {
  const found: CleanFileMapping[] = [];
  let current: (CleanFileMapping & { eligible: boolean; anonymous?: number }) | undefined;
  const finish = () => {
    if (current?.eligible && current.anonymous === 0 && current.rss > 0) found.push({ start: current.start, end: current.end, path: current.path, rss: current.rss });
  };
  for (const line of smaps.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) [0-9a-f]+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      finish();
      const path = header[4];
      current = {
        start: parseInt(header[1], 16),
        end: parseInt(header[2], 16),
        path,
        rss: 0,
        // r-xp or r--p: never written through this mapping; a path, not [vdso] or anon_inode:...
        eligible: (header[3] === 'r-xp' || header[3] === 'r--p') && path.startsWith('/'),
      };
      continue;
    }
    if (!current) continue;
    const field = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (!field) continue;
    if (field[1] === 'Rss') current.rss = Number(field[2]) * 1024;
    else if (field[1] === 'Anonymous') current.anonymous = Number(field[2]);
    else if (field[1] === 'Locked' && field[2] !== '0') current.eligible = false;
  }
  finish();
  return found;
}

export interface ReleasedPages {
  mappings: number;
  /** Resident bytes of the released mappings before the release. */
  bytes: number;
}

/** Drops this process's mapping of the pages of its clean, read-only file mappings (see above). */
export function releaseStartupPages(): ReleasedPages {
  let smaps: string;
  try {
    smaps = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return { mappings: 0, bytes: 0 }; // no /proc: nothing known, nothing released
  }
  let mappings = 0;
  let bytes = 0;
  for (const m of cleanFileMappings(smaps)) {
    if (madvise(m.start, m.end - m.start, MADV_DONTNEED) !== 0) continue;
    mappings++;
    bytes += m.rss;
  }
  return { mappings, bytes };
}
