// Choosing and building the block engine for an open disk image. 'async'
// probes io_uring first, then Linux AIO, then settles for the synchronous
// engine, recording why each one was passed over. cache=none images get the
// alignment wrapper (bouncing only misaligned requests).
import { AlignedBlockBackend } from './aligned-backend.js';
import type { BlockBackend } from './block-backend.js';
import type { BlockEngine, DiskSpec } from './disk-spec.js';
import { DiskImage } from './disk-image.js';
import { IoUringBlockBackend } from './io-uring-backend.js';
import { LinuxAioBlockBackend } from './linux-aio-backend.js';
import { SyncBlockBackend } from './sync-backend.js';

export interface BackendOptions {
  /** Queue depth of the asynchronous engines. Default 256 (io_uring), 128 (AIO). */
  depth?: number;
  /** Watch completions on the Node event loop (default true). */
  eventLoop?: boolean;
  /** Engines 'async' must pass over (known-bad hosts; tests of the fallback chain). */
  skip?: readonly ('io_uring' | 'aio')[];
}

export class BlockEngineError extends Error {
  override name = 'BlockEngineError';
}

export interface BlockBackendChoice {
  backend: BlockBackend;
  /** Why faster engines were not used (empty when the first choice worked). */
  fallbacks: string[];
}

export function createBlockBackend(image: DiskImage, engine: BlockEngine = 'async', options: BackendOptions = {}): BlockBackendChoice {
  const fallbacks: string[] = [];
  let backend: BlockBackend | undefined;
  const eventLoop = options.eventLoop ?? true;
  const skip = engine === 'async' ? (options.skip ?? []) : [];
  if (engine === 'async' && skip.includes('io_uring')) fallbacks.push('io_uring: skipped by request');
  else if (engine === 'io_uring' || engine === 'async') {
    const r = IoUringBlockBackend.create(image, { entries: options.depth, eventLoop });
    if (typeof r === 'string') {
      if (engine === 'io_uring') throw new BlockEngineError(`disk ${image.path}: engine=io_uring unavailable: ${r}`);
      fallbacks.push(`io_uring: ${r}`);
    } else backend = r;
  }
  if (!backend && engine === 'async' && skip.includes('aio')) fallbacks.push('aio: skipped by request');
  else if (!backend && (engine === 'aio' || engine === 'async')) {
    const r = LinuxAioBlockBackend.create(image, { depth: options.depth, eventLoop });
    if (typeof r === 'string') {
      if (engine === 'aio') throw new BlockEngineError(`disk ${image.path}: engine=aio unavailable: ${r}`);
      fallbacks.push(`aio: ${r}`);
    } else backend = r;
  }
  backend ??= new SyncBlockBackend(image);
  if (image.direct) backend = new AlignedBlockBackend(backend, { memoryAlignment: image.memoryAlignment, blockSize: image.logicalBlockSize });
  return { backend, fallbacks };
}

/** Opens, locks and wraps the image a --disk spec names. Throws DiskImageError / BlockEngineError. */
export function openDisk(spec: DiskSpec, options: BackendOptions = {}): BlockBackendChoice & { image: DiskImage } {
  const image = DiskImage.open(spec.path, { readOnly: spec.readOnly, cache: spec.cache });
  try {
    return { image, ...createBlockBackend(image, spec.engine, options) };
  } catch (e) {
    image.close();
    throw e;
  }
}
