// Addresses and register values in messages: 0x-prefixed lower-case hex.
export function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}
