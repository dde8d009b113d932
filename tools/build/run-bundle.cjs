// Runs one of tsvmm's bundles with the V8 code cache `npm run build` made
// for it (tools/build/code-cache.ts). The build copies this file into
// dist/bundle/; each entry point's file there is a two-line stub that calls it.
//
// A code cache holds the bytecode V8 compiled while a build-time run loaded
// the bundle, so a process that has one skips most of its compilation: in a
// nested L1 that is about a second per process (BENCHMARKS.md, "Start-up").
// V8 checks the cache's V8 version and flags, but of the source only its
// length, so the build stamps the bundle and its cache with one build id and
// a cache from another build is never offered. A cache V8 refuses (another
// Node, other flags) costs nothing: the bundle compiles as it would have.
//
// Only the build writes caches (TSVMM_WRITE_CODE_CACHE, set by it): they are
// code, read before the jail, so no jailed process may make the next one's.
//
// But for one more, the user's own (TSVMM_CODE_CACHE_DIR, which the frontend
// sets for the helper: ~/.cache/tsvmm/code-cache). The build's run of the
// helper only loads it: what a helper compiles building a VM (the loader,
// KVM's set-up, the devices, the jail) needs KVM, which the build may lack,
// and compiling it lazily costs a nested L1 0.1-0.3 s per start
// (BENCHMARKS.md, "Start-up"). So a helper that found no cache of the user's
// takes the build's, and writes one of its own just before its jail
// (keepCodeCache, called by src/helper/user-code-cache.ts): later helpers
// start from it. That is before the guest's first instruction, in a process
// that has run only tsvmm's code with the user's rights, so the file holds
// nothing a guest could have shaped; an attacker of the process before its
// jail would have the user's rights anyway. A helper names the kinds of VM
// it built (its boot, its devices: `kinds`); the cache lists those it was
// made by, and a helper whose kind is not among them writes it again, with
// what it took from the cache and what it compiled: so it grows to the
// union of the kinds of VM the user runs, then stays (a cache V8 refuses,
// e.g. after a Node upgrade, is written again too).
'use strict';
const { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { Script } = require('node:vm');
const { isMainThread } = require('node:worker_threads');

/** The last line of a bundle (and the first of its cache): `//# tsvmm-build-id=` and a hash of the rest. */
const BUILD_ID_PREFIX = '\n//# tsvmm-build-id=';

function buildIdOf(source) {
  const at = source.lastIndexOf(BUILD_ID_PREFIX);
  return at < 0 ? undefined : source.slice(at + BUILD_ID_PREFIX.length).trim();
}

/**
 * A cache file: a header line, `BUILD-ID LENGTH CRC32-OF-DATA [KINDS]` padded
 * to 256 bytes (so that V8 finds its data aligned and need not copy it), then V8's
 * data. The checksum is against damage, not attack (whoever can write the
 * cache can write the bundle): V8 checks no checksum of its own, and
 * deserializing damaged data aborts the process (measured: a flipped byte,
 * V8_Fatal).
 */
const HEADER_BYTES = 256;

/** The header; a user's cache adds the kinds of VM it was made by (comma-separated, `*`: any). */
function cacheHeader(buildId, data, kinds = '') {
  return `${buildId} ${data.length} ${crc32(data).toString(16)}${kinds ? ` ${kinds}` : ''}`.padEnd(HEADER_BYTES - 1) + '\n';
}

/** The kinds a header lists ('' for the build's caches). */
function headerKinds(header) {
  return header.trim().split(' ')[3] ?? '';
}

/**
 * CRC-32 by the system's zlib, through koffi, which every bundle loads
 * anyway. (A hash from node:crypto cost each process, and each vCPU thread,
 * ~5 ms natively and ~0.1 s in the nested L1 just to load that module.)
 * koffi's native module is loaded as ffi/koffi.ts loads it, without koffi's
 * own loader; the bundles' code then gets the same module from Node.
 */
let zlibCrc32;
function crc32(data) {
  zlibCrc32 ??= loadKoffi().load('libz.so.1').func('unsigned long crc32(unsigned long crc, const uint8_t *buf, unsigned int len)');
  return zlibCrc32(0, data, data.length);
}

function loadKoffi() {
  if (process.arch === 'x64' && process.platform === 'linux') {
    try {
      return require('@koromix/koffi-linux-x64/linux_x64/koffi.node');
    } catch {
      // as in ffi/koffi.ts: koffi's loader finds another
    }
  }
  return require('koffi');
}

/** The cache's data and kinds if it was made from this very bundle and is whole, else undefined. */
function cacheFor(cacheFile, buildId) {
  let cache;
  try {
    cache = readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  if (buildId === undefined || cache.length <= HEADER_BYTES) return undefined;
  const data = cache.subarray(HEADER_BYTES);
  const header = cache.toString('latin1', 0, HEADER_BYTES);
  const kinds = headerKinds(header);
  return header === cacheHeader(buildId, data, kinds) ? { data, kinds } : undefined;
}

/**
 * The bundle compiled with the user's cache if there is a good one, else the
 * build's, and which it took: `user`, `build`, `rejected` (by V8) or `none`
 * (the cache's buffer is garbage once this returns).
 */
function compile(name, file, caches, source, buildId) {
  // TSVMM_NO_CODE_CACHE=1 compiles as if there were none (for A/B runs).
  const off = process.env.TSVMM_NO_CODE_CACHE === '1';
  const user = caches.user === undefined ? undefined : cacheFor(caches.user, buildId); // none when off (runBundle)
  const cachedData = off ? undefined : (user ?? cacheFor(caches.build, buildId))?.data;
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const took = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : user !== undefined ? 'user' : 'build';
  if (process.env.TSVMM_CODE_CACHE_REPORT === '1') {
    process.stderr.write(`code cache ${name}: ${took === 'none' || took === 'rejected' ? took : took === 'user' ? "used (the user's)" : 'used'}\n`);
  }
  return { script, took, userKinds: took === 'user' ? user.kinds.split(',').filter(Boolean) : [] };
}

/** Writes `script`'s cache as the user's, made by `kinds` (atomically: a rename); returns what happened, for the caller's log. */
function writeUserCache(script, userCache, buildId, kinds) {
  const partial = `${userCache}.${process.pid}.partial`;
  let fd;
  try {
    // The file first: where it cannot be written (a read-only home), the cache is not made at all.
    mkdirSync(join(userCache, '..'), { recursive: true, mode: 0o700 });
    fd = openSync(partial, 'wx', 0o600);
    const data = script.createCachedData();
    let header = cacheHeader(buildId, data, kinds.join(','));
    // Too many to list: a cache for any kind, never written again.
    if (header.length > HEADER_BYTES) header = cacheHeader(buildId, data, '*');
    writeFileSync(fd, Buffer.concat([Buffer.from(header, 'latin1'), data]));
    closeSync(fd);
    fd = undefined;
    renameSync(partial, userCache);
    return { written: userCache, bytes: data.length, kinds: headerKinds(header) };
  } catch (e) {
    if (fd !== undefined) {
      closeSync(fd);
      rmSync(partial, { force: true });
    }
    return { error: e.message };
  }
}

/** Runs dist/bundle/NAME.code.cjs as a CommonJS module would run. */
function runBundle(name) {
  const file = join(__dirname, `${name}.code.cjs`);
  const cacheFile = join(__dirname, `${name}.v8-cache`);
  const userDir = isMainThread && process.env.TSVMM_NO_CODE_CACHE !== '1' ? process.env.TSVMM_CODE_CACHE_DIR : undefined;
  const userCache = userDir ? join(userDir, `${name}.v8-cache`) : undefined;
  const source = readFileSync(file, 'latin1'); // the bundles are ASCII (tools/build/ascii-source.ts)
  const buildId = buildIdOf(source);
  const { script, took, userKinds } = compile(name, file, { user: userCache, build: cacheFile }, source, buildId);
  globalThis[Symbol.for('tsvmm.codeCache')] = {
    took,
    // Where the user's cache was not taken, or was made by other kinds of VM than `kinds`.
    keep: (kinds) => {
      if (userCache === undefined || buildId === undefined) return undefined;
      if (userKinds.includes('*') || kinds.every((k) => userKinds.includes(k))) return undefined;
      return writeUserCache(script, userCache, buildId, [...new Set([...userKinds, ...kinds])].sort());
    },
  };
  if (process.env.TSVMM_WRITE_CODE_CACHE === name) {
    // Made as a process ends, so that it holds what the run compiled (made
    // earlier, it would hold little more than each module's top level). A
    // worker thread waits for work that never comes: its cache is made once
    // its top level has run, and the thread ends.
    const write = () => {
      const data = script.createCachedData();
      writeFileSync(cacheFile, Buffer.concat([Buffer.from(cacheHeader(buildId, data), 'latin1'), data]));
    };
    if (isMainThread) process.on('exit', write);
    else
      queueMicrotask(() => {
        write();
        process.exit(0);
      });
  }
  const module = { exports: {}, filename: file };
  script.runInThisContext()(module.exports, createRequire(file), module, file, __dirname);
}

module.exports = runBundle;
// For the build, which stamps the bundles (tools/build/code-cache.ts).
module.exports.BUILD_ID_PREFIX = BUILD_ID_PREFIX;
