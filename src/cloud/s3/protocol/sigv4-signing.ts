/**
 * The cryptographic primitives of AWS Signature Version 4: signing-key derivation, the request,
 * chunk and trailer strings to sign, and constant-time comparison of hex signatures.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The only request signing algorithm accepted. */
export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** Algorithm line of a chunk's string to sign. */
export const CHUNK_ALGORITHM = 'AWS4-HMAC-SHA256-PAYLOAD';
/** Algorithm line of a trailer's string to sign. */
export const TRAILER_ALGORITHM = 'AWS4-HMAC-SHA256-TRAILER';
/** Last component of every credential scope. */
export const SCOPE_TERMINATOR = 'aws4_request';
/** Hex SHA-256 of the empty string. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** HMAC-SHA256 of `data` under `key`. */
export function hmacSha256(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** Hex SHA-256 of `data`. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The SigV4 signing key: HMAC chain over date, region, service and `aws4_request`. */
export function deriveSigningKey(secretKey: string, date: string, region: string, service: string): Buffer {
  const kDate = hmacSha256(`AWS4${secretKey}`, date);
  const kRegion = hmacSha256(kDate, region);
  const kService = hmacSha256(kRegion, service);
  return hmacSha256(kService, SCOPE_TERMINATOR);
}

/** Hex HMAC-SHA256 signature of `stringToSign`. */
export function signHex(signingKey: Buffer, stringToSign: string): string {
  return createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
}

/** The request string to sign: algorithm, timestamp, scope and hash of the canonical request. */
export function requestStringToSign(amzDate: string, scope: string, canonicalRequest: string): string {
  return `${SIGV4_ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
}

/** String to sign of one aws-chunked chunk, chained on the previous signature. */
export function chunkStringToSign(amzDate: string, scope: string, previousSignature: string, chunkSha256Hex: string): string {
  return `${CHUNK_ALGORITHM}\n${amzDate}\n${scope}\n${previousSignature}\n${EMPTY_SHA256}\n${chunkSha256Hex}`;
}

/** String to sign of the trailer, chained on the final chunk's signature. */
export function trailerStringToSign(amzDate: string, scope: string, previousSignature: string, canonicalTrailer: string): string {
  return `${TRAILER_ALGORITHM}\n${amzDate}\n${scope}\n${previousSignature}\n${sha256Hex(canonicalTrailer)}`;
}

/**
 * Canonical form of trailing headers for their signature: `name:value\n` per header, names
 * lower-cased and sorted, values trimmed.
 */
export function canonicalTrailer(trailers: Readonly<Record<string, string>>): string {
  return Object.entries(trailers)
    .map(([name, value]): [string, string] => [name.toLowerCase(), value.trim()])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([name, value]) => `${name}:${value}\n`)
    .join('');
}

/** Constant-time comparison of two hex signatures (case-sensitive; different lengths differ). */
export function signaturesEqual(expected: string, provided: string): boolean {
  if (expected.length !== provided.length) return false;
  return timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(provided, 'latin1'));
}
