/**
 * SSE-C at rest: object data encrypted with the customer's key, which is never stored.
 *
 * - Cipher: AES-256 in CTR mode, so that any byte range can be decrypted without reading what
 *   precedes it (Range requests, GetObject by part). Every stored piece — each chunk, and an
 *   inline body — gets its own random 16-byte IV, kept next to its reference (chunk list) or in
 *   the object's entry. A re-upload never reuses a (key, IV) pair, so CTR's keystream is never
 *   used twice.
 * - Key check: what is stored is a randomly salted HMAC-SHA256 of the key (as S3 does), and the
 *   key's MD5 that responses echo. A request with another key is refused before any byte is
 *   decrypted.
 * - ETag: not the MD5 of the plaintext (which would let anyone confirm a guess of the content),
 *   but a keyed digest of it: stable for the same key and content, meaningless without the key.
 *   S3's SSE-C ETags are not MD5s of the data either.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import type { Decipher } from 'node:crypto';
import { S3Error, customerKeyHeaders } from './protocol/index.ts';
import type { CustomerKey } from './protocol/index.ts';

const CIPHER = 'aes-256-ctr';
const BLOCK = 16;
/** Bytes of an IV (one AES block: the initial counter). */
export const IV_BYTES = 16;
const SALT_BYTES = 16;

/** What an entry keeps of an SSE-C key: enough to recognise it, nothing to recover it. */
export interface SealedKey {
  /** Base64 MD5 of the key, as the client computed it (responses echo it). */
  md5: string;
  /** Base64 random salt of `mac`. */
  salt: string;
  /** Base64 HMAC-SHA256 of the key under `salt`. */
  mac: string;
  /** Base64 IV of an inline body (small objects); absent when the data is in chunks. */
  iv?: string;
}

/** Seals `key` for storage, with `salt` (16 random bytes). */
export function sealKey(key: CustomerKey, salt: Uint8Array): SealedKey {
  if (salt.length !== SALT_BYTES) throw new Error(`an SSE-C salt has ${SALT_BYTES} bytes`);
  return { md5: key.keyMd5, salt: Buffer.from(salt).toString('base64'), mac: keyMac(key.key, salt) };
}

function keyMac(key: Buffer, salt: Uint8Array): string {
  return createHmac('sha256', salt).update(key).digest('base64');
}

/**
 * Checks the key a request gave for data stored under `sealed`: none is `InvalidRequest` (400),
 * another key `AccessDenied` (403), as S3 answers. `source`: the data is a copy source.
 */
export function checkKey(sealed: SealedKey, given: CustomerKey | undefined, source = false): Buffer {
  if (!given) {
    throw new S3Error(
      'InvalidRequest',
      source
        ? 'The source object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.'
        : 'The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.',
    );
  }
  const expected = Buffer.from(sealed.mac, 'base64');
  const actual = Buffer.from(keyMac(given.key, Buffer.from(sealed.salt, 'base64')), 'base64');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new S3Error('AccessDenied', source ? 'The provided copy source encryption key does not match the key the object was stored with.' : 'The provided encryption key does not match the key the object was stored with.');
  }
  return given.key;
}

/** Refuses a key given for data that is not encrypted (S3: `InvalidRequest`). */
export function refuseUnneededKey(given: CustomerKey | undefined, source = false): void {
  if (given) throw new S3Error('InvalidRequest', source ? 'The encryption parameters are not applicable to the copy source object.' : 'The encryption parameters are not applicable to this object.');
}

/** Encrypts (or, CTR being symmetric, decrypts) a whole piece that starts at counter `iv`. */
export function cryptPiece(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = createCipheriv(CIPHER, key, iv);
  const out = c.update(data);
  c.final();
  return out;
}

/**
 * A decipher for a piece encrypted from counter `iv`, positioned at byte `offset` of it: feed it
 * the ciphertext from `offset` on, in order, and it returns the plaintext.
 */
export function decipherAt(key: Buffer, iv: Buffer, offset: number): Decipher {
  const d = createDecipheriv(CIPHER, key, addToCounter(iv, Math.floor(offset / BLOCK)));
  const skip = offset % BLOCK;
  if (skip > 0) d.update(Buffer.alloc(skip));
  return d;
}

/** `iv` + `blocks` as a 128-bit big-endian counter (how CTR advances it, carries included). */
export function addToCounter(iv: Buffer, blocks: number): Buffer {
  const out = Buffer.from(iv);
  let carry = blocks;
  for (let i = IV_BYTES - 1; i >= 0 && carry > 0; i--) {
    const sum = out[i]! + (carry % 256);
    out[i] = sum & 0xff;
    carry = Math.floor(carry / 256) + (sum >> 8);
  }
  return out;
}

/** The ETag of data of MD5 `md5Hex` stored under `key` (see the module comment). */
export function sealedEtag(key: Buffer, md5Hex: string): string {
  return createHmac('sha256', key).update(`etag:${md5Hex}`).digest('hex').slice(0, 32);
}

/**
 * The key to read data stored under `sealed` with: the request's, checked ({@link checkKey}); for
 * plaintext data, none (a key given anyway is refused, as S3 does).
 */
export function keyForRead(sealed: SealedKey | undefined, given: CustomerKey | undefined, source = false): Buffer | undefined {
  if (sealed) return checkKey(sealed, given, source);
  refuseUnneededKey(given, source);
  return undefined;
}

/** Response headers confirming the SSE-C key of data stored under `sealed` (none for plaintext). */
export function sealedKeyHeaders(sealed: SealedKey | undefined): Record<string, string> {
  return sealed ? customerKeyHeaders(sealed.md5) : {};
}

/** `sealed` without an inline body's IV (what an upload hands to its parts and its object). */
export function keyOnly(sealed: SealedKey): SealedKey {
  return { md5: sealed.md5, salt: sealed.salt, mac: sealed.mac };
}
