// The ioregionfd wire protocol, as proposed for KVM (v3 of the kernel series,
// the one QEMU's multiprocess RFC used): one 32-byte command per guest access,
// and a 32-byte response for accesses that want one (reads).
//
//   struct ioregionfd_cmd  { u32 info; u32 padding; u64 user_data; u64 offset; u64 data; }
//   struct ioregionfd_resp { u64 data; u8 pad[24]; }
//   info: bits 0-3 cmd (0 read, 1 write), bits 4-5 size (log2 bytes), bit 6 resp
//
// Both ends treat the other as untrusted: decoding validates every field.

export const IOREGION_MESSAGE_SIZE = 32;
export const IOREGIONFD_CMD_READ = 0;
export const IOREGIONFD_CMD_WRITE = 1;
const SIZE_SHIFT = 4;
const RESP_BIT = 1 << 6;
const CMD_MASK = 0xf;

export interface IoregionCommand {
  write: boolean;
  /** 1, 2, 4 or 8 */
  size: number;
  /** The sender waits for a response. */
  wantsResponse: boolean;
  userData: bigint;
  offset: number;
  data: bigint;
}

export function encodeCommand(view: DataView, c: IoregionCommand): void {
  const sizeExponent = Math.log2(c.size);
  const info = (c.write ? IOREGIONFD_CMD_WRITE : IOREGIONFD_CMD_READ) | (sizeExponent << SIZE_SHIFT) | (c.wantsResponse ? RESP_BIT : 0);
  view.setUint32(0, info, true);
  view.setUint32(4, 0, true);
  view.setBigUint64(8, c.userData, true);
  view.setBigUint64(16, BigInt(c.offset), true);
  view.setBigUint64(24, c.data, true);
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** Validates a command from an untrusted peer. `regionSize` bounds the offset. */
export function decodeCommand(bytes: Uint8Array, regionSize: number): DecodeResult<IoregionCommand> {
  if (bytes.length !== IOREGION_MESSAGE_SIZE) return { ok: false, error: `command of ${bytes.length} bytes, expected ${IOREGION_MESSAGE_SIZE}` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const info = view.getUint32(0, true);
  const cmd = info & CMD_MASK;
  if (cmd !== IOREGIONFD_CMD_READ && cmd !== IOREGIONFD_CMD_WRITE) return { ok: false, error: `unknown command ${cmd}` };
  if (info & ~(CMD_MASK | (3 << SIZE_SHIFT) | RESP_BIT)) return { ok: false, error: `reserved info bits set: 0x${info.toString(16)}` };
  const size = 1 << ((info >> SIZE_SHIFT) & 3);
  const offset = view.getBigUint64(16, true);
  if (offset + BigInt(size) > BigInt(regionSize)) return { ok: false, error: `access at offset 0x${offset.toString(16)} of ${size} bytes is outside the ${regionSize}-byte region` };
  return {
    ok: true,
    value: {
      write: cmd === IOREGIONFD_CMD_WRITE,
      size,
      wantsResponse: (info & RESP_BIT) !== 0,
      userData: view.getBigUint64(8, true),
      offset: Number(offset),
      data: view.getBigUint64(24, true),
    },
  };
}

export function encodeResponse(view: DataView, data: bigint): void {
  view.setBigUint64(0, data, true);
  for (let i = 8; i < IOREGION_MESSAGE_SIZE; i += 8) view.setBigUint64(i, 0n, true);
}

/** Little-endian bytes of an access ↔ the u64 `data` field. */
export function bytesToData(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

export function dataToBytes(data: bigint, out: Uint8Array): void {
  for (let i = 0; i < out.length; i++) out[i] = Number((data >> BigInt(8 * i)) & 0xffn);
}
