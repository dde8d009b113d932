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
// The first release reads smaps; the later ones release the same mappings,
// recognised in /proc/self/maps, which the kernel makes without walking
// every mapping's page tables (guest RAM's too, later on) and which is a
// tenth of the text to parse: in the nested L1 a release had cost 24-102 ms
// on the way to the guest's first instruction. A mapping that is still there
// with the same line (addresses, protection, offset, file) is the same clean
// mapping: nothing in the helper makes a read-only mapping of a file writable.
//
// Needs /proc/self: call it before the jail.
import { readFileSync } from 'node:fs';
import { madvise } from '../../ffi/libc.js';

const MADV_DONTNEED = 4;

/**
 * Smaller mappings are left: of ~100 clean ones, ~5 of node's hold nearly all
 * the bytes, and each call costs ~20 µs natively on the helper's start path.
 */
const WORTH_RELEASING = 256 << 10;

export interface CleanFileMapping {
  start: number;
  end: number;
  path: string;
  /** Resident bytes when read. */
  rss: number;
  /** Its first line in smaps, which is its line in /proc/self/maps. */
  line: string;
}

/**
 * The read-only, private, file-backed mappings of an smaps text that hold no
 * anonymous page. It runs on the helper's start-up path, as cold code (in the
 * nested L1 every cold line costs ~25x), so it looks only at the lines it
 * needs: two regular expressions on each of the ~3,000 lines took ~5 ms of a
 * cold run natively, this ~2.
 */
export function cleanFileMappings(smaps: string): CleanFileMapping[] {
  const found: CleanFileMapping[] = [];
  let current: CleanFileMapping | undefined;
  let eligible = false;
  let anonymous = -1;
  const finish = () => {
    if (current && eligible && anonymous === 0 && current.rss > 0) found.push(current);
  };
  for (let at = 0; at < smaps.length; ) {
    let end = smaps.indexOf('\n', at);
    if (end < 0) end = smaps.length;
    if (isMappingHeader(smaps, at)) {
      finish();
      // start-end perms offset dev inode [path]
      const line = smaps.slice(at, end);
      const fields = line.split(' ').filter((f) => f !== '');
      const [from, to] = fields[0].split('-');
      const path = fields.slice(5).join(' ');
      current = { start: parseInt(from, 16), end: parseInt(to, 16), path, rss: 0, line };
      anonymous = -1;
      // r-xp or r--p: never written through this mapping; a path, not [vdso] or anon_inode:...
      eligible = (fields[1] === 'r-xp' || fields[1] === 'r--p') && path.startsWith('/');
    } else if (eligible && current) {
      if (smaps.startsWith('Rss:', at)) current.rss = kilobytes(smaps, at, end) * 1024;
      else if (smaps.startsWith('Anonymous:', at)) anonymous = kilobytes(smaps, at, end);
      else if (smaps.startsWith('Locked:', at) && kilobytes(smaps, at, end) !== 0) eligible = false;
    }
    at = end + 1;
  }
  finish();
  return found;
}

/** A mapping's first line starts with its address (lower-case hex); its fields' lines with a capital. */
function isMappingHeader(text: string, at: number): boolean {
  const c = text.charCodeAt(at);
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}

/** The number in the line "Name:   123 kB" at `at`. */
function kilobytes(text: string, at: number, end: number): number {
  return parseInt(text.slice(text.indexOf(':', at) + 1, end), 10);
}

export interface ReleasedPages {
  mappings: number;
  /** Size of the released mappings. */
  bytes: number;
  /** What the release took (reading /proc, the madvise calls). */
  ms: number;
}

/**
 * The mappings the first release found, for the later ones. The helper's
 * stub runs two bundles (early-release.ts), each with its own copy of this
 * module: hence a global.
 */
const FOUND = Symbol.for('tsvmm.startupPages.found');
type WithFound = { [FOUND]?: readonly CleanFileMapping[] };

/** Those of `known` that `maps` (a /proc/PID/maps text) still shows, line for line. */
export function stillMapped(known: readonly CleanFileMapping[], maps: string): CleanFileMapping[] {
  const lines = new Set(maps.split('\n'));
  return known.filter((m) => lines.has(m.line));
}

/** Drops this process's mapping of the pages of its clean, read-only file mappings (see above). */
export function releaseStartupPages(): ReleasedPages {
  const started = performance.now();
  const global = globalThis as WithFound;
  let found = global[FOUND];
  try {
    if (found === undefined) found = global[FOUND] = cleanFileMappings(readFileSync('/proc/self/smaps', 'utf8')).filter((m) => m.rss >= WORTH_RELEASING);
    else found = stillMapped(found, readFileSync('/proc/self/maps', 'utf8'));
  } catch {
    return { mappings: 0, bytes: 0, ms: 0 }; // no /proc: nothing known, nothing released
  }
  let mappings = 0;
  let bytes = 0;
  for (const m of found) {
    if (madvise(m.start, m.end - m.start, MADV_DONTNEED) !== 0) continue;
    mappings++;
    bytes += m.end - m.start;
  }
  return { mappings, bytes, ms: Math.round(performance.now() - started) };
}
