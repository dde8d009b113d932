// The ACPI checksum rule (ACPI 6.5 §5.2.5.3 RSDP, §5.2.6 System Description
// Table Header, §6.4.2.9 End Tag): all bytes a checksum covers, the checksum
// byte included, sum to zero modulo 256. Every table builder here uses it.

/** The sum of `bytes` modulo 256. */
export function byteSum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return sum;
}

/** The byte that makes `bytes` (with that byte still 0 in it) sum to zero. */
export function checksumOf(bytes: Uint8Array): number {
  return (0x100 - byteSum(bytes)) & 0xff;
}

/**
 * Sets `bytes[at]` so that `bytes[start, end)` sums to zero; `at` must lie in
 * that range. The old value of `bytes[at]` does not matter.
 */
export function setChecksum(bytes: Uint8Array, at: number, start = 0, end = bytes.length): void {
  if (at < start || at >= end) throw new RangeError(`checksum byte ${at} is outside [${start}, ${end})`);
  bytes[at] = 0;
  bytes[at] = checksumOf(bytes.subarray(start, end));
}
