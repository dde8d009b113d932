// Byte sizes as users write them: 256M, 1G, 4096, 0x1000.

const UNITS: Record<string, number> = { '': 1, K: 1 << 10, M: 1 << 20, G: 1 << 30, T: 2 ** 40 };

/** Parses "256M", "1G", "512K", "4096" or "0x1000"; undefined when malformed. */
export function parseSize(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isSafeInteger(text) && text >= 0 ? text : undefined;
  const m = /^\s*(0x[0-9a-f]+|\d+)\s*([KMGT]?)(i?B)?\s*$/i.exec(text);
  if (!m) return undefined;
  const value = Number(m[1]) * UNITS[m[2].toUpperCase()];
  return Number.isSafeInteger(value) ? value : undefined;
}

export function formatSize(bytes: number): string {
  for (const [unit, scale] of [['T', 2 ** 40], ['G', 1 << 30], ['M', 1 << 20], ['K', 1 << 10]] as const)
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}`;
  return String(bytes);
}
