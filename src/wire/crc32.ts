/**
 * CRC32 (ISO-HDLC, as zlib) and CRC32C (Castagnoli), shared by the S3 checksums, the chunk read
 * checks and the DHT's record checksums. Large buffers go to `@node-rs/crc32` (carry-less
 * multiply: about 12 GiB/s for CRC32 here, against 4.4 for zlib's), small ones and strings to
 * Node's own zlib.crc32 (less call overhead), and slice-by-8 tables serve when neither loads.
 */
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';

function reflectedTables32(poly: number): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    t0[i] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1]!;
    const next = new Uint32Array(256);
    for (let i = 0; i < 256; i++) next[i] = ((prev[i]! >>> 8) ^ t0[prev[i]! & 0xff]!) >>> 0;
    tables.push(next);
  }
  return tables;
}

/** Reflected CRC32 (ISO-HDLC) polynomial. */
export const CRC32_POLY = 0xedb88320;
/** Reflected CRC32C (Castagnoli) polynomial. */
export const CRC32C_POLY = 0x82f63b78;
let crc32Tables: Uint32Array[] | undefined;
let crc32cTables: Uint32Array[] | undefined;

/** Continues a reflected 32-bit CRC over `data`; `crc` is the running (pre-inverted) register. */
function crc32Update(tables: Uint32Array[], crc: number, data: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = tables as [
    Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  ];
  let c = crc;
  let i = 0;
  const n = data.length;
  const end8 = n - (n % 8);
  while (i < end8) {
    c ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    c =
      t7[c & 0xff]! ^
      t6[(c >>> 8) & 0xff]! ^
      t5[(c >>> 16) & 0xff]! ^
      t4[c >>> 24]! ^
      t3[data[i + 4]!]! ^
      t2[data[i + 5]!]! ^
      t1[data[i + 6]!]! ^
      t0[data[i + 7]!]!;
    i += 8;
  }
  while (i < n) c = t0[(c ^ data[i++]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

type ZlibCrc32 = (data: Uint8Array | string, value?: number) => number;
interface FastCrc {
  crc32(input: Uint8Array, initialState?: number): number;
  crc32c(input: Uint8Array, initialState?: number): number;
}

/** Node's own CRC32 (zlib.crc32, Node ≥ 20.15 / 22.2), when present. */
const nativeCrc32: ZlibCrc32 | undefined = (zlib as unknown as { crc32?: ZlibCrc32 }).crc32;

/** `@node-rs/crc32`, unless its binary is missing for this platform. */
const fast: FastCrc | undefined = (() => {
  try {
    return createRequire(import.meta.url)('@node-rs/crc32') as FastCrc;
  } catch {
    return undefined;
  }
})();

/** Below this many bytes zlib's binding is as fast or faster (measured: even at 300 B, 2× at 4.5 KiB). */
const FAST_MIN_BYTES = 1024;

/**
 * Whether {@link crc32} runs on native code (several GB/s) rather than the table-driven
 * fallback (a few hundred MB/s, slower than SHA-256 with CPU support).
 */
export const nativeCrc32Available = fast !== undefined || typeof nativeCrc32 === 'function';

/** CRC32 (ISO-HDLC, as zlib) of `data`, continuing from a previous result `previous`. */
export function crc32(data: Uint8Array, previous = 0): number {
  // zlib answers 0 for an empty buffer without backing store (its `buf == NULL` case).
  if (data.length === 0) return previous >>> 0;
  if (fast !== undefined && (data.length >= FAST_MIN_BYTES || typeof nativeCrc32 !== 'function')) return fast.crc32(data, previous) >>> 0;
  if (typeof nativeCrc32 === 'function') return nativeCrc32(data, previous) >>> 0;
  crc32Tables ??= reflectedTables32(CRC32_POLY);
  return (crc32Update(crc32Tables, ~previous >>> 0, data) ^ 0xffffffff) >>> 0;
}

/** CRC32 of the UTF-8 bytes of `text` (without copying them out when zlib.crc32 exists). */
export function crc32String(text: string, previous = 0): number {
  if (text.length === 0) return previous >>> 0;
  if (typeof nativeCrc32 === 'function') return nativeCrc32(text, previous) >>> 0;
  return crc32(Buffer.from(text, 'utf8'), previous);
}

/** Table-driven CRC32, ignoring zlib (exposed for tests of the fallback). */
export function crc32Portable(data: Uint8Array, previous = 0): number {
  crc32Tables ??= reflectedTables32(CRC32_POLY);
  return (crc32Update(crc32Tables, ~previous >>> 0, data) ^ 0xffffffff) >>> 0;
}

/** CRC32C (Castagnoli) of `data`, continuing from a previous result `previous`. */
export function crc32c(data: Uint8Array, previous = 0): number {
  if (data.length === 0) return previous >>> 0;
  if (fast !== undefined) return fast.crc32c(data, previous) >>> 0;
  return crc32cPortable(data, previous);
}

/** Table-driven CRC32C (exposed for tests of the fallback). */
export function crc32cPortable(data: Uint8Array, previous = 0): number {
  crc32cTables ??= reflectedTables32(CRC32C_POLY);
  return (crc32Update(crc32cTables, ~previous >>> 0, data) ^ 0xffffffff) >>> 0;
}
