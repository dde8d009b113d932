// zstd decompression for kernel payloads: fzstd does the decoding into a
// buffer of exactly the expected size (so a hostile window size allocates
// nothing); this wrapper reads the frame header itself to check what fzstd
// cannot report — the frame content size when declared, and the XXH64
// content checksum (on by default in the zstd CLI the kernel build uses),
// which also proves the stream filled the whole buffer.
import { decompress as fzstdDecompress } from 'fzstd';
import { BootError, asBootError } from './boot-error.js';
import { xxhash64 } from './xxhash64.js';

const ZSTD_MAGIC = 0xfd2fb528;

export function decodeZstd(input: Uint8Array, outputSize: number): Uint8Array {
  if (input.length < 6) throw new BootError('zstd: stream too short for a frame header');
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (dv.getUint32(0, true) !== ZSTD_MAGIC) throw new BootError('zstd: missing frame magic');
  const fhd = input[4];
  const singleSegment = (fhd >>> 5) & 1;
  const hasChecksum = (fhd >>> 2) & 1;
  const dictIdFlag = fhd & 3;
  const fcsFlag = fhd >>> 6;
  if (fhd & 0x08) throw new BootError('zstd: reserved frame header bit set');
  if (dictIdFlag !== 0) throw new BootError('zstd: frames that need a dictionary are not supported');
  const fcsSize = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
  const fcsAt = 5 + (singleSegment ? 0 : 1);
  if (fcsAt + fcsSize > input.length) throw new BootError('zstd: truncated frame header');
  if (fcsSize > 0) {
    let fcs = 0;
    for (let i = fcsSize - 1; i >= 0; i--) fcs = fcs * 256 + input[fcsAt + i];
    if (fcsSize === 2) fcs += 256;
    if (fcs !== outputSize) throw new BootError(`zstd: frame declares ${fcs} bytes of content, expected ${outputSize}`);
  }
  const out = asBootError('zstd', () => fzstdDecompress(input, new Uint8Array(outputSize)));
  if (out.length !== outputSize) throw new BootError(`zstd: stream decompressed to ${out.length} bytes, expected ${outputSize}`);
  if (hasChecksum) {
    if (input.length < 4) throw new BootError('zstd: missing content checksum');
    const stored = dv.getUint32(input.length - 4, true);
    const actual = Number(xxhash64(out) & 0xffffffffn);
    if (stored !== actual)
      throw new BootError(`zstd: content checksum mismatch (corrupt stream, or it does not decompress to the expected ${outputSize} bytes)`);
  }
  return out;
}
