// A range of guest-physical addresses, and the interval arithmetic the boot
// layout needs (overlap checks, subtraction, describing RAM for messages).
import { hex } from './boot-error.js';

export interface GuestRange {
  gpa: number;
  size: number;
}

export function rangeEnd(r: GuestRange): number {
  return r.gpa + r.size;
}

export function rangesOverlap(a: GuestRange, b: GuestRange): boolean {
  return a.size > 0 && b.size > 0 && a.gpa < b.gpa + b.size && b.gpa < a.gpa + a.size;
}

export function describeRange(r: GuestRange): string {
  return `[${hex(r.gpa)}, ${hex(r.gpa + r.size)})`;
}

/** `ranges` minus every range in `holes`, sorted by address, empty pieces dropped. */
export function subtractRanges(ranges: readonly GuestRange[], holes: readonly GuestRange[]): GuestRange[] {
  let pieces = [...ranges].filter((r) => r.size > 0);
  for (const h of holes) {
    if (h.size <= 0) continue;
    const hEnd = h.gpa + h.size;
    const next: GuestRange[] = [];
    for (const p of pieces) {
      const pEnd = p.gpa + p.size;
      if (hEnd <= p.gpa || h.gpa >= pEnd) {
        next.push(p);
        continue;
      }
      if (h.gpa > p.gpa) next.push({ gpa: p.gpa, size: h.gpa - p.gpa });
      if (hEnd < pEnd) next.push({ gpa: hEnd, size: pEnd - hEnd });
    }
    pieces = next;
  }
  return pieces.sort((a, b) => a.gpa - b.gpa);
}

/** Sorted union of `ranges` (overlapping or touching ranges merged). */
export function mergeRanges(ranges: readonly GuestRange[]): GuestRange[] {
  const sorted = [...ranges].filter((r) => r.size > 0).sort((a, b) => a.gpa - b.gpa);
  const out: GuestRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.gpa <= last.gpa + last.size) last.size = Math.max(last.size, r.gpa + r.size - last.gpa);
    else out.push({ ...r });
  }
  return out;
}
