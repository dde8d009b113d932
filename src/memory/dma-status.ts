// Outcomes of DMA mapping and copying. Guest-controlled input never throws:
// every failure is one of these values, returned to the device model, which
// turns it into a device-level error (an I/O error status, a broken device).

export enum DmaStatus {
  Ok = 0,
  /** No more pieces: the whole transfer has been handed out. */
  Done = 1,
  /** An address is not an integer, negative, or beyond 2^53 (no RAM lives there). */
  BadAddress = 2,
  /** A length is not an integer or negative. */
  BadLength = 3,
  /** addr + length runs past the end of the address space (2^64, or 2^53 here). */
  Wrap = 4,
  /** The total length is above the mapper's maxTransfer. */
  TooLarge = 5,
  /** More scatter/gather elements than the mapper accepts. */
  TooManySegments = 6,
  /** Some range is neither RAM nor served by a slow path. */
  Fault = 7,
  /** An element's direction differs from the mapping's. */
  Direction = 8,
  /** Bouncing is needed and every bounce buffer is in use: retry after onBounceAvailable. */
  BounceBusy = 9,
  /** A slow-path copy (device memory) failed. */
  SlowPathFailed = 10,
  /** API misuse: piece calls out of order, mapping not mapped. */
  InvalidState = 11,
  /** One aligned block of the transfer needs more iovecs than a mapping holds. */
  TooFragmented = 12,
}

const messages: Record<DmaStatus, string> = {
  [DmaStatus.Ok]: 'ok',
  [DmaStatus.Done]: 'done',
  [DmaStatus.BadAddress]: 'address is not a valid guest address',
  [DmaStatus.BadLength]: 'length is not a valid byte count',
  [DmaStatus.Wrap]: 'address + length wraps past the end of the address space',
  [DmaStatus.TooLarge]: 'transfer is larger than the DMA limit',
  [DmaStatus.TooManySegments]: 'too many scatter/gather elements',
  [DmaStatus.Fault]: 'range is not guest RAM',
  [DmaStatus.Direction]: 'element direction does not match the transfer',
  [DmaStatus.BounceBusy]: 'all bounce buffers are busy',
  [DmaStatus.SlowPathFailed]: 'slow-path copy failed',
  [DmaStatus.InvalidState]: 'DMA mapping used out of order',
  [DmaStatus.TooFragmented]: 'too many pieces of memory within one aligned block',
};

export function describeDmaStatus(s: DmaStatus): string {
  return messages[s] ?? `DMA status ${s}`;
}
