/**
 * Checksums as S3 uses them: streaming calculators for Content-MD5 and the flexible checksums
 * (`x-amz-checksum-crc32`, `-crc32c`, `-crc64nvme`, `-md5`, `-sha1`, `-sha256`, `-sha512`, base64
 * of the big-endian digest), parsing and validation of the checksum request headers, a pass-through stream that
 * verifies a body against them (→ `BadDigest`), and the multipart ETag and checksum rules (the
 * composite and full-object values, which types an algorithm allows, the errors of parts and of
 * completions that break them).
 *
 * The CRCs are table-driven here (slice-by-8 for the 32-bit ones): the per-byte iterator of the
 * `@aws-crypto` packages is too slow to run on every request body.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32, crc32c, CRC32_POLY, CRC32C_POLY } from '../../../wire/index.ts';
import { S3Error } from './errors.ts';
import { getHeader as header, type HeaderMap } from './headers.ts';

export { crc32, crc32c, crc32Portable } from '../../../wire/index.ts';

/**
 * The flexible checksum algorithms accepted here: those of the S3 API's ChecksumAlgorithm that
 * this module computes. The API also names XXHASH64, XXHASH3 and XXHASH128, which are not
 * computed here and so are not accepted (an `x-amz-sdk-checksum-algorithm` or
 * `x-amz-checksum-algorithm` naming one is refused as any unknown algorithm is).
 */
export type ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'MD5' | 'SHA1' | 'SHA256' | 'SHA512';
/** Any digest this module computes: a checksum algorithm, MD5 also that of Content-MD5 / ETags. */
export type DigestAlgorithm = ChecksumAlgorithm;
/** The CRC algorithms: the ones whose values combine, so the only ones a FULL_OBJECT multipart checksum can use. */
export type CrcAlgorithm = 'CRC32' | 'CRC32C' | 'CRC64NVME';

/** All checksum algorithms, in the order AWS lists them (the S3 API's ChecksumAlgorithm). */
export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'MD5', 'SHA1', 'SHA256', 'SHA512'];

/** Whether `algorithm` is a CRC (see {@link CrcAlgorithm}). */
export function isCrcAlgorithm(algorithm: ChecksumAlgorithm): algorithm is CrcAlgorithm {
  return algorithm === 'CRC32' || algorithm === 'CRC32C' || algorithm === 'CRC64NVME';
}

const DIGEST_BYTES: Record<DigestAlgorithm, number> = {
  CRC32: 4,
  CRC32C: 4,
  CRC64NVME: 8,
  SHA1: 20,
  SHA256: 32,
  SHA512: 64,
  MD5: 16,
};

/** Length in bytes of a digest of `algorithm`. */
export function digestLength(algorithm: DigestAlgorithm): number {
  return DIGEST_BYTES[algorithm];
}

/** Header carrying a checksum of `algorithm`: `x-amz-checksum-crc32` etc. */
export function checksumHeaderName(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm.toLowerCase()}`;
}

/** XML element / field name of a checksum: `ChecksumCRC32` etc. */
export function checksumFieldName(algorithm: ChecksumAlgorithm): string {
  return `Checksum${algorithm}`;
}

/** The algorithm of a checksum header name (`x-amz-checksum-crc32` → `CRC32`), if it is one. */
export function checksumAlgorithmFromHeader(name: string): ChecksumAlgorithm | undefined {
  const lower = name.toLowerCase();
  if (!lower.startsWith('x-amz-checksum-')) return undefined;
  const upper = lower.slice('x-amz-checksum-'.length).toUpperCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(upper) ? (upper as ChecksumAlgorithm) : undefined;
}

/** Parses an algorithm name as S3 accepts it (case-insensitive), or `undefined`. */
export function parseChecksumAlgorithm(value: string): ChecksumAlgorithm | undefined {
  const upper = value.trim().toUpperCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(upper) ? (upper as ChecksumAlgorithm) : undefined;
}


// CRC-64/NVME: reflected polynomial 0x9a6c9329ac4bc9b5, init and xorout all ones. The 64-bit
// register is kept as two 32-bit halves; slice-by-8 tables, each as a (hi, lo) pair.
const CRC64_POLY_HI = 0x9a6c9329;
const CRC64_POLY_LO = 0xac4bc9b5;
let crc64Tables: { hi: Uint32Array[]; lo: Uint32Array[] } | undefined;

function buildCrc64Tables(): { hi: Uint32Array[]; lo: Uint32Array[] } {
  const hi0 = new Uint32Array(256);
  const lo0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let h = 0;
    let l = i;
    for (let k = 0; k < 8; k++) {
      const lsb = l & 1;
      l = ((l >>> 1) | ((h & 1) << 31)) >>> 0;
      h = h >>> 1;
      if (lsb) {
        h = (h ^ CRC64_POLY_HI) >>> 0;
        l = (l ^ CRC64_POLY_LO) >>> 0;
      }
    }
    hi0[i] = h;
    lo0[i] = l;
  }
  const hi = [hi0];
  const lo = [lo0];
  for (let t = 1; t < 8; t++) {
    const ph = hi[t - 1]!;
    const pl = lo[t - 1]!;
    const nh = new Uint32Array(256);
    const nl = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      const idx = pl[i]! & 0xff;
      nl[i] = (((pl[i]! >>> 8) | (ph[i]! << 24)) ^ lo0[idx]!) >>> 0;
      nh[i] = ((ph[i]! >>> 8) ^ hi0[idx]!) >>> 0;
    }
    hi.push(nh);
    lo.push(nl);
  }
  return { hi, lo };
}

/** Incremental CRC-64/NVME. */
class Crc64Nvme {
  private hi = 0xffffffff;
  private lo = 0xffffffff;

  update(data: Uint8Array): void {
    crc64Tables ??= buildCrc64Tables();
    const [h0, h1, h2, h3, h4, h5, h6, h7] = crc64Tables.hi as [
      Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
    ];
    const [l0, l1, l2, l3, l4, l5, l6, l7] = crc64Tables.lo as [
      Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
    ];
    let hi = this.hi;
    let lo = this.lo;
    let i = 0;
    const n = data.length;
    const end8 = n - (n % 8);
    while (i < end8) {
      lo ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
      hi ^= data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
      const b0 = lo & 0xff;
      const b1 = (lo >>> 8) & 0xff;
      const b2 = (lo >>> 16) & 0xff;
      const b3 = lo >>> 24;
      const b4 = hi & 0xff;
      const b5 = (hi >>> 8) & 0xff;
      const b6 = (hi >>> 16) & 0xff;
      const b7 = hi >>> 24;
      lo = l7[b0]! ^ l6[b1]! ^ l5[b2]! ^ l4[b3]! ^ l3[b4]! ^ l2[b5]! ^ l1[b6]! ^ l0[b7]!;
      hi = h7[b0]! ^ h6[b1]! ^ h5[b2]! ^ h4[b3]! ^ h3[b4]! ^ h2[b5]! ^ h1[b6]! ^ h0[b7]!;
      i += 8;
    }
    while (i < n) {
      const idx = (lo ^ data[i++]!) & 0xff;
      lo = l0[idx]! ^ ((lo >>> 8) | (hi << 24));
      hi = h0[idx]! ^ (hi >>> 8);
    }
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
  }

  digest(): Buffer {
    const out = Buffer.allocUnsafe(8);
    out.writeUInt32BE((this.hi ^ 0xffffffff) >>> 0, 0);
    out.writeUInt32BE((this.lo ^ 0xffffffff) >>> 0, 4);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Digesters

/** An incremental digest calculator. */
export interface Digester {
  readonly algorithm: DigestAlgorithm;
  update(data: Uint8Array): void;
  /** The raw digest (big-endian for CRCs). Call once. */
  digest(): Buffer;
}

class Crc32Digester implements Digester {
  private value = 0;
  constructor(
    readonly algorithm: 'CRC32' | 'CRC32C',
    private readonly fn: (data: Uint8Array, previous: number) => number,
  ) {}
  update(data: Uint8Array): void {
    this.value = this.fn(data, this.value);
  }
  digest(): Buffer {
    const out = Buffer.allocUnsafe(4);
    out.writeUInt32BE(this.value, 0);
    return out;
  }
}

class Crc64Digester implements Digester {
  readonly algorithm = 'CRC64NVME' as const;
  private readonly crc = new Crc64Nvme();
  update(data: Uint8Array): void {
    this.crc.update(data);
  }
  digest(): Buffer {
    return this.crc.digest();
  }
}

class HashDigester implements Digester {
  private readonly hash: Hash;
  constructor(readonly algorithm: 'MD5' | 'SHA1' | 'SHA256' | 'SHA512') {
    this.hash = createHash(algorithm.toLowerCase());
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  digest(): Buffer {
    return this.hash.digest();
  }
}

/** Creates an incremental calculator for `algorithm`. */
export function createDigester(algorithm: DigestAlgorithm): Digester {
  switch (algorithm) {
    case 'CRC32':
      return new Crc32Digester('CRC32', crc32);
    case 'CRC32C':
      return new Crc32Digester('CRC32C', crc32c);
    case 'CRC64NVME':
      return new Crc64Digester();
    case 'MD5':
    case 'SHA1':
    case 'SHA256':
    case 'SHA512':
      return new HashDigester(algorithm);
  }
}

/** One-shot digest of `data`, base64-encoded as the S3 headers carry it. */
export function computeChecksum(algorithm: DigestAlgorithm, data: Uint8Array): string {
  const digester = createDigester(algorithm);
  digester.update(data);
  return digester.digest().toString('base64');
}

// ---------------------------------------------------------------------------------------------
// Header parsing

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes strict base64 of exactly `length` bytes, or returns `undefined`. */
export function decodeBase64Exact(value: string, length: number): Buffer | undefined {
  const trimmed = value.trim();
  if (trimmed.length !== Math.ceil(length / 3) * 4 || !BASE64.test(trimmed)) return undefined;
  const bytes = Buffer.from(trimmed, 'base64');
  if (bytes.length !== length) return undefined;
  // Reject non-canonical encodings (stray bits in the padding).
  if (bytes.toString('base64') !== trimmed) return undefined;
  return bytes;
}

/**
 * Parses a `Content-MD5` header value: base64 of 16 bytes, else `InvalidDigest`.
 */
export function parseContentMd5(value: string): Buffer {
  const bytes = decodeBase64Exact(value, 16);
  if (bytes === undefined) throw new S3Error('InvalidDigest');
  return bytes;
}

/**
 * Decodes a checksum value (base64 of the digest) for `algorithm`; a value of the wrong form is
 * `InvalidRequest` "Value for x-amz-checksum-… header is invalid." as AWS answers.
 */
export function parseChecksumValue(algorithm: ChecksumAlgorithm, value: string): Buffer {
  const bytes = decodeBase64Exact(value, DIGEST_BYTES[algorithm]);
  if (bytes === undefined) {
    throw new S3Error('InvalidRequest', `Value for ${checksumHeaderName(algorithm)} header is invalid.`);
  }
  return bytes;
}

/** What a request says about the integrity of its body. */
export interface ExpectedDigests {
  /** Decoded `Content-MD5`, if sent. */
  contentMd5?: Buffer;
  /** The flexible checksum, if one was sent or announced. */
  checksum?: {
    algorithm: ChecksumAlgorithm;
    /** The decoded value from the header; absent when it comes in the trailer. */
    expected?: Buffer;
    /** True when the value comes in an aws-chunked trailer (`x-amz-trailer`). */
    inTrailer: boolean;
  };
}

/**
 * Reads `Content-MD5`, `x-amz-checksum-*`, `x-amz-sdk-checksum-algorithm` and `x-amz-trailer`
 * into {@link ExpectedDigests}, validating them as AWS does: a malformed Content-MD5 is
 * `InvalidDigest`; a malformed checksum value, more than one checksum header, an unknown
 * algorithm or an algorithm without its value is `InvalidRequest`.
 */
export function parseExpectedDigests(headers: HeaderMap): ExpectedDigests {
  const result: ExpectedDigests = {};
  const md5 = header(headers, 'content-md5');
  if (md5 !== undefined) result.contentMd5 = parseContentMd5(md5);

  const found: ChecksumAlgorithm[] = [];
  for (const name of Object.keys(headers)) {
    const algorithm = checksumAlgorithmFromHeader(name);
    if (algorithm !== undefined && headers[name] !== undefined) found.push(algorithm);
  }
  const trailerNames = (header(headers, 'x-amz-trailer') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  const trailerAlgorithms = trailerNames
    .map((name) => checksumAlgorithmFromHeader(name))
    .filter((a): a is ChecksumAlgorithm => a !== undefined);

  if (found.length + trailerAlgorithms.length > 1) {
    throw new S3Error(
      'InvalidRequest',
      'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.',
    );
  }

  const sdkValue = header(headers, 'x-amz-sdk-checksum-algorithm');
  let sdkAlgorithm: ChecksumAlgorithm | undefined;
  if (sdkValue !== undefined) {
    sdkAlgorithm = parseChecksumAlgorithm(sdkValue);
    if (sdkAlgorithm === undefined) {
      throw new S3Error('InvalidRequest', 'Value for x-amz-sdk-checksum-algorithm header is invalid.');
    }
  }

  const algorithm = found[0] ?? trailerAlgorithms[0];
  if (algorithm === undefined) {
    if (sdkAlgorithm === 'MD5' && result.contentMd5 !== undefined) {
      // The AWS SDKs' MD5 mode sends the digest as Content-MD5 alone: it is the MD5 checksum.
      result.checksum = { algorithm: 'MD5', expected: result.contentMd5, inTrailer: false };
      return result;
    }
    if (sdkAlgorithm !== undefined) {
      throw new S3Error(
        'InvalidRequest',
        'x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.',
      );
    }
    return result;
  }
  if (sdkAlgorithm !== undefined && sdkAlgorithm !== algorithm) {
    throw new S3Error('InvalidRequest', 'Value for x-amz-sdk-checksum-algorithm header is invalid.');
  }
  if (found[0] !== undefined) {
    const value = header(headers, checksumHeaderName(algorithm))!;
    result.checksum = { algorithm, expected: parseChecksumValue(algorithm, value), inTrailer: false };
  } else {
    result.checksum = { algorithm, inTrailer: true };
  }
  return result;
}

/** The error AWS returns when a flexible checksum does not match the body. */
export function checksumMismatch(algorithm: ChecksumAlgorithm): S3Error {
  return new S3Error('BadDigest', `The ${algorithm} you specified did not match the calculated checksum.`);
}

/** The error AWS returns when Content-MD5 does not match the body. */
export function contentMd5Mismatch(expected: Buffer, calculated: Buffer): S3Error {
  return new S3Error('BadDigest', undefined, {
    fields: { ExpectedDigest: expected.toString('base64'), CalculatedDigest: calculated.toString('base64') },
  });
}

// ---------------------------------------------------------------------------------------------
// Verification of a body

/** Several digests of one body, computed in a single pass. */
export class BodyDigests {
  private readonly digesters: Digester[];
  private results: Map<DigestAlgorithm, Buffer> | undefined;
  private bytes = 0;

  /** Computes every algorithm in `algorithms` (duplicates ignored). */
  constructor(algorithms: Iterable<DigestAlgorithm>) {
    this.digesters = [...new Set(algorithms)].map((a) => createDigester(a));
  }

  /** Feeds body bytes. */
  update(data: Uint8Array): void {
    this.bytes += data.length;
    for (const digester of this.digesters) digester.update(data);
  }

  /** Number of bytes fed so far. */
  get length(): number {
    return this.bytes;
  }

  /** Finishes (once) and returns the raw digests by algorithm. */
  finish(): Map<DigestAlgorithm, Buffer> {
    if (this.results === undefined) {
      this.results = new Map();
      for (const digester of this.digesters) this.results.set(digester.algorithm, digester.digest());
    }
    return this.results;
  }

  /** The base64 digest of `algorithm` after {@link finish}, if computed. */
  base64(algorithm: DigestAlgorithm): string | undefined {
    return this.finish().get(algorithm)?.toString('base64');
  }
}

/** Options of {@link DigestVerifier}. */
export interface DigestVerifierOptions {
  /** Expected digests (from {@link parseExpectedDigests}); checked at the end of the body. */
  expected?: ExpectedDigests;
  /** Further digests to compute without checking (e.g. `MD5` for the ETag). */
  compute?: Iterable<DigestAlgorithm>;
  /**
   * For a checksum that arrives in a trailer: called at the end to fetch the expected value
   * (base64). Returning `undefined` skips the check.
   */
  trailerValue?: () => string | undefined;
}

/**
 * A pass-through stream that computes the body's digests and, when the body ends, compares them
 * with the expected ones: a mismatch fails the stream with `BadDigest` before it ends, so a
 * consumer that commits only on a clean end never stores a corrupt body. The computed digests are
 * available from {@link DigestVerifier.digests} after the end.
 */
export class DigestVerifier extends Transform {
  /** The digests, complete once the stream has ended. */
  readonly digests: BodyDigests;
  private readonly expected: ExpectedDigests;
  private readonly trailerValue: (() => string | undefined) | undefined;

  constructor(options: DigestVerifierOptions = {}) {
    super();
    this.expected = options.expected ?? {};
    this.trailerValue = options.trailerValue;
    const algorithms: DigestAlgorithm[] = [...(options.compute ?? [])];
    if (this.expected.contentMd5 !== undefined) algorithms.push('MD5');
    if (this.expected.checksum !== undefined) algorithms.push(this.expected.checksum.algorithm);
    this.digests = new BodyDigests(algorithms);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.digests.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      verifyDigests(this.digests, this.expected, this.trailerValue?.());
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

/**
 * Checks finished `digests` against `expected` (and a trailer value for a trailing checksum);
 * throws `BadDigest` on a mismatch, `InvalidRequest` for a malformed trailer value.
 */
export function verifyDigests(digests: BodyDigests, expected: ExpectedDigests, trailerValue?: string): void {
  const results = digests.finish();
  if (expected.contentMd5 !== undefined) {
    const md5 = results.get('MD5')!;
    if (!md5.equals(expected.contentMd5)) throw contentMd5Mismatch(expected.contentMd5, md5);
  }
  const checksum = expected.checksum;
  if (checksum === undefined) return;
  let want = checksum.expected;
  if (want === undefined && trailerValue !== undefined) want = parseChecksumValue(checksum.algorithm, trailerValue);
  if (want === undefined) return;
  if (!results.get(checksum.algorithm)!.equals(want)) throw checksumMismatch(checksum.algorithm);
}

// ---------------------------------------------------------------------------------------------
// Multipart

function stripQuotes(etag: string): string {
  const t = etag.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

/**
 * The ETag of a completed multipart upload: hex MD5 of the concatenated binary MD5s of the parts,
 * then `-` and the number of parts (unquoted). Part ETags may be given quoted or not.
 */
export function multipartEtag(partEtags: readonly string[]): string {
  const hash = createHash('md5');
  for (const etag of partEtags) hash.update(Buffer.from(stripQuotes(etag), 'hex'));
  return `${hash.digest('hex')}-${partEtags.length}`;
}

/**
 * The COMPOSITE checksum of a multipart upload: base64 of the checksum of the concatenated
 * binary part checksums, then `-` and the number of parts.
 */
export function compositeChecksum(algorithm: ChecksumAlgorithm, partChecksums: readonly string[]): string {
  const digester = createDigester(algorithm);
  for (const value of partChecksums) digester.update(parseChecksumValue(algorithm, value));
  return `${digester.digest().toString('base64')}-${partChecksums.length}`;
}

// CRC combination (the zlib crc32_combine method, in GF(2) polynomial arithmetic): the CRC of
// A‖B from CRC(A), CRC(B) and |B|, used for FULL_OBJECT checksums of multipart uploads.

function multModP32(a: number, b: number, poly: number): number {
  let m = 0x80000000;
  let p = 0;
  while (m !== 0) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ poly : b >>> 1;
  }
  return p >>> 0;
}

function xPow8nModP32(n: number, poly: number): number {
  // x^(8n) mod p, by squaring x^(2^k).
  let p = 0x80000000; // x^0
  let power = 0x40000000; // x^1
  let bits = n * 8;
  while (bits > 0) {
    if (bits % 2 === 1) p = multModP32(power, p, poly);
    power = multModP32(power, power, poly);
    bits = Math.floor(bits / 2);
  }
  return p;
}

const POLY64 = 0x9a6c9329ac4bc9b5n;
const MASK64 = 0xffffffffffffffffn;

function multModP64(a: bigint, b: bigint): bigint {
  let m = 1n << 63n;
  let p = 0n;
  while (m !== 0n) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1n)) === 0n) break;
    }
    m >>= 1n;
    b = b & 1n ? (b >> 1n) ^ POLY64 : b >> 1n;
  }
  return p & MASK64;
}

function xPow8nModP64(n: number): bigint {
  let p = 1n << 63n;
  let power = 1n << 62n;
  let bits = BigInt(n) * 8n;
  while (bits > 0n) {
    if (bits & 1n) p = multModP64(power, p);
    power = multModP64(power, power);
    bits >>= 1n;
  }
  return p;
}

/**
 * Combines two CRCs (raw big-endian digests) into the CRC of the concatenation:
 * `crc(A‖B)` from `crc(A)`, `crc(B)` and the byte length of B. For CRC32, CRC32C and CRC64NVME.
 */
export function combineCrc(
  algorithm: CrcAlgorithm,
  first: Buffer,
  second: Buffer,
  secondLength: number,
): Buffer {
  if (algorithm === 'CRC64NVME') {
    const a = first.readBigUInt64BE(0);
    const b = second.readBigUInt64BE(0);
    const out = Buffer.allocUnsafe(8);
    out.writeBigUInt64BE((multModP64(xPow8nModP64(secondLength), a) ^ b) & MASK64, 0);
    return out;
  }
  const poly = algorithm === 'CRC32' ? CRC32_POLY : CRC32C_POLY;
  const a = first.readUInt32BE(0);
  const b = second.readUInt32BE(0);
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE((multModP32(xPow8nModP32(secondLength, poly), a, poly) ^ b) >>> 0, 0);
  return out;
}

/**
 * The FULL_OBJECT checksum of a multipart upload (CRC algorithms only): the CRC of the whole
 * object, combined from the parts' CRCs (base64) and sizes. No `-N` suffix.
 */
export function fullObjectChecksum(
  algorithm: CrcAlgorithm,
  parts: readonly { checksum: string; size: number }[],
): string {
  let acc: Buffer | undefined;
  for (const part of parts) {
    const crc = parseChecksumValue(algorithm, part.checksum);
    acc = acc === undefined ? crc : combineCrc(algorithm, acc, crc, part.size);
  }
  return (acc ?? createDigester(algorithm).digest()).toString('base64');
}

// ---------------------------------------------------------------------------------------------
// Multipart checksum rules (CreateMultipartUpload, UploadPart, CompleteMultipartUpload)

/** How a multipart upload's object checksum is made from its parts'. */
export type MultipartChecksumType = 'COMPOSITE' | 'FULL_OBJECT';

/**
 * The checksum type of a multipart upload from CreateMultipartUpload's algorithm (parsed from
 * `x-amz-checksum-algorithm`) and `x-amz-checksum-type` header, as AWS decides it: without a type,
 * CRC64NVME is FULL_OBJECT and the others COMPOSITE; FULL_OBJECT exists only for the CRCs ("only
 * available for CRC-based checksums … isn't available for other algorithms, such as SHA and MD5")
 * and CRC64NVME only as FULL_OBJECT (User Guide, "Checking object integrity"). Undefined without an
 * algorithm. A type that is neither, a type without an algorithm, or a combination AWS does not
 * support is `InvalidRequest` with the messages AWS is reported to answer (the code is not in the
 * API reference; InvalidRequest is what AWS uses for its other checksum header errors).
 */
export function multipartChecksumType(algorithm: ChecksumAlgorithm | undefined, typeHeader: string | undefined): MultipartChecksumType | undefined {
  let type: MultipartChecksumType | undefined;
  if (typeHeader !== undefined) {
    const upper = typeHeader.trim().toUpperCase();
    if (upper !== 'COMPOSITE' && upper !== 'FULL_OBJECT') throw new S3Error('InvalidRequest', 'Value for x-amz-checksum-type header is invalid.');
    if (algorithm === undefined) throw new S3Error('InvalidRequest', 'The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.');
    type = upper;
  }
  if (algorithm === undefined) return undefined;
  type ??= algorithm === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE';
  const supported = type === 'FULL_OBJECT' ? isCrcAlgorithm(algorithm) : algorithm !== 'CRC64NVME';
  if (!supported) throw new S3Error('InvalidRequest', `The ${type} checksum type cannot be used with the ${algorithm.toLowerCase()} checksum algorithm.`);
  return type;
}

/**
 * The error AWS answers an UploadPart whose checksum (`actual`, undefined when it sent none) is
 * not of the algorithm the upload was created with.
 */
export function partChecksumTypeMismatch(expected: ChecksumAlgorithm, actual: ChecksumAlgorithm | undefined): S3Error {
  return new S3Error('InvalidRequest', `Checksum Type mismatch occurred, expected checksum Type: ${expected.toLowerCase()}, actual checksum Type: ${actual?.toLowerCase() ?? 'null'}`);
}

/** The error AWS answers a CompleteMultipartUpload of a COMPOSITE upload that omits a part's checksum. */
export function missingPartChecksum(algorithm: ChecksumAlgorithm, partNumber: number): S3Error {
  return new S3Error(
    'InvalidRequest',
    `The upload was created using a ${algorithm.toLowerCase()} checksum. The complete request must include the checksum for each part. It was missing for part ${partNumber} in the request.`,
  );
}

/**
 * Checks the part list of a CompleteMultipartUpload of a COMPOSITE upload: its part numbers must
 * be 1, 2, 3, … with no gap, else `InvalidPartOrder` (400). The API reference (CompletedPart,
 * PartNumber) states this for general purpose buckets when a checksum is applied to each part;
 * the User Guide ("Checking object integrity") scopes it to composite checksums, so a FULL_OBJECT
 * upload, whose checksum is combined from the parts' CRCs and sizes whatever their numbers, is not
 * held to it. (The User Guide calls the failure a 500; the API reference's 400 InvalidPartOrder
 * is the one that names an error code, and bad input is not a server error.)
 */
export function checkConsecutivePartNumbers(partNumbers: readonly number[]): void {
  if (partNumbers.some((n, i) => n !== i + 1)) throw new S3Error('InvalidPartOrder');
}

/** The object checksum a CompleteMultipartUpload states in its `x-amz-checksum-<algorithm>` header. */
export interface ObjectChecksumClaim {
  algorithm: ChecksumAlgorithm;
  /** The base64 digest, without a `-N` suffix. */
  digest: string;
  /** The part count of a COMPOSITE value given as `<digest>-<N>`. */
  parts?: number;
}

/**
 * Reads the `x-amz-checksum-<algorithm>` header of a CompleteMultipartUpload: there it is the
 * checksum of the whole object (COMPOSITE `<base64>-<N>`, or the FULL_OBJECT value), not of the XML
 * body. Undefined without one; more than one header, or a value that is not a digest of the
 * algorithm (optionally with `-N`), is `InvalidRequest` as for other requests.
 */
export function parseObjectChecksumHeader(headers: HeaderMap): ObjectChecksumClaim | undefined {
  const found = Object.keys(headers)
    .filter((name) => headers[name] !== undefined)
    .map((name) => checksumAlgorithmFromHeader(name))
    .filter((a): a is ChecksumAlgorithm => a !== undefined);
  if (found.length > 1) throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  const algorithm = found[0];
  if (algorithm === undefined) return undefined;
  const value = header(headers, checksumHeaderName(algorithm))!.trim();
  const match = /^([^-]*)(?:-([1-9]\d{0,4}))?$/.exec(value);
  if (!match) throw new S3Error('InvalidRequest', `Value for ${checksumHeaderName(algorithm)} header is invalid.`);
  const digest = match[1]!;
  parseChecksumValue(algorithm, digest);
  return match[2] === undefined ? { algorithm, digest } : { algorithm, digest, parts: Number(match[2]) };
}

/**
 * Whether `claim` states the object checksum `stored` (`{a, v, ty}` as completion computed it): a
 * COMPOSITE value matches with or without its `-N` (with it, N must be the part count); a
 * FULL_OBJECT value has no suffix.
 */
export function objectChecksumMatches(claim: ObjectChecksumClaim, stored: { a: string; v: string; ty?: MultipartChecksumType }): boolean {
  if (claim.algorithm !== stored.a) return false;
  if (stored.ty !== 'COMPOSITE') return claim.parts === undefined && claim.digest === stored.v;
  const cut = stored.v.lastIndexOf('-');
  return claim.digest === stored.v.slice(0, cut) && (claim.parts === undefined || String(claim.parts) === stored.v.slice(cut + 1));
}

/**
 * `headers` without the `x-amz-checksum-<algorithm>` headers (and the SDK's
 * `x-amz-sdk-checksum-algorithm` that would name one): for reading a CompleteMultipartUpload body,
 * whose checksum headers describe the object, not the body. Trailers are left: a trailing
 * checksum is computed over the body it follows.
 */
export function withoutObjectChecksumHeaders(headers: HeaderMap): HeaderMap {
  const out: Record<string, string | readonly string[] | undefined> = {};
  let removed = false;
  for (const [name, value] of Object.entries(headers)) {
    if (checksumAlgorithmFromHeader(name) !== undefined) removed = true;
    else out[name] = value;
  }
  if (removed && header(headers, 'x-amz-trailer') === undefined) delete out['x-amz-sdk-checksum-algorithm'];
  return out;
}
