/**
 * Encryption at rest: object data encrypted with the customer's key (SSE-C), which is never
 * stored, or with a random per-object data key wrapped by the operator's master key (SSE-S3).
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
 * - SSE-S3: each object (each multipart upload) gets a random 256-bit data key, used as a
 *   customer key would be; the entry keeps it wrapped with AES-256-GCM under the master key
 *   (which every node of the ring loads from a file, `s3.sseMasterKeyFile`) and the master key's
 *   id. Reads unwrap it; the data is unreadable without the master key. ETags stay MD5s, as S3's
 *   SSE-S3 ETags are.
 * - SSE-KMS: the same per-object data key and cipher, wrapped under a KMS key of the ring with
 *   the encryption context as AAD (kms.ts); ETags stay MD5s here too.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Decipher } from 'node:crypto';
import { S3Error, SSE_KMS_ALGORITHM, SSE_S3_ALGORITHM, customerKeyHeaders, decodeBase64Exact } from './protocol/index.ts';
import type { CustomerKey } from './protocol/index.ts';

const CIPHER = 'aes-256-ctr';
const BLOCK = 16;
/** Bytes of an IV (one AES block: the initial counter). */
export const IV_BYTES = 16;
const SALT_BYTES = 16;

/** What an entry keeps of an SSE-C key: enough to recognise it, nothing to recover it. */
export interface CustomerSealedKey {
  /** Base64 MD5 of the key, as the client computed it (responses echo it). */
  md5: string;
  /** Base64 random salt of `mac`. */
  salt: string;
  /** Base64 HMAC-SHA256 of the key under `salt`. */
  mac: string;
  /** Base64 IV of an inline body (small objects); absent when the data is in chunks. */
  iv?: string;
}

/** What an entry keeps of an SSE-S3 data key: the key wrapped under the master key. */
export interface ManagedSealedKey {
  /** Id of the master key that wrapped it ({@link MasterKey.id}). */
  kid: string;
  /** Base64 of the GCM nonce (12 bytes), the wrapped key (32) and the tag (16). */
  wk: string;
  /** Base64 IV of an inline body (small objects); absent when the data is in chunks. */
  iv?: string;
}

/** What an entry keeps of an SSE-KMS data key: the key wrapped under a KMS key of the ring (kms.ts). */
export interface KmsSealedKey {
  /** ARN of the KMS key. */
  kms: string;
  /** Base64 of the GCM nonce (12 bytes), the wrapped data key (32) and the tag (16). */
  kwk: string;
  /** Base64 of the whole encryption context's canonical JSON (the AAD of `kwk`). */
  ctx: string;
  /** An S3 Bucket Key was asked for (the context names the bucket). */
  bk?: true;
  /** Base64 IV of an inline body (small objects); absent when the data is in chunks. */
  iv?: string;
}

/**
 * How an entry's data is encrypted: with a customer's key (SSE-C), or a data key wrapped under
 * the master key (SSE-S3) or under a KMS key (SSE-KMS).
 */
export type SealedKey = CustomerSealedKey | ManagedSealedKey | KmsSealedKey;

/** Whether `sealed` is an SSE-S3 data key. */
export function isManaged(sealed: SealedKey): sealed is ManagedSealedKey {
  return 'wk' in sealed;
}

/** Whether `sealed` is an SSE-KMS data key. */
export function isKms(sealed: SealedKey): sealed is KmsSealedKey {
  return 'kms' in sealed;
}

/** Whether `sealed` is an SSE-C key check. */
export function isCustomer(sealed: SealedKey): sealed is CustomerSealedKey {
  return 'mac' in sealed;
}

const MASTER_KEY_BYTES = 32;
const GCM_NONCE_BYTES = 12;
const GCM_TAG_BYTES = 16;

/**
 * The operator's SSE-S3 master key: wraps and unwraps per-object data keys. Every node serving
 * S3 must load the same one.
 */
export class MasterKey {
  /** First 8 bytes of the key's SHA-256, hex: names the key in entries without revealing it. */
  readonly id: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== MASTER_KEY_BYTES) throw new Error(`an SSE master key has ${MASTER_KEY_BYTES} bytes, got ${key.length}`);
    this.id = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  /**
   * Reads a master key file: 32 raw bytes, or 64 hex digits, or the base64 of 32 bytes (a
   * trailing newline allowed). Throws an error naming the file otherwise.
   */
  static fromFile(path: string): MasterKey {
    let raw: Buffer;
    try {
      raw = readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read the SSE master key file ${path}: ${(err as Error).message}`);
    }
    if (raw.length === MASTER_KEY_BYTES) return new MasterKey(raw);
    const text = raw.toString('latin1').trim();
    if (/^[0-9a-fA-F]{64}$/.test(text)) return new MasterKey(Buffer.from(text, 'hex'));
    const b64 = decodeBase64Exact(text, MASTER_KEY_BYTES);
    if (b64) return new MasterKey(b64);
    throw new Error(`the SSE master key file ${path} holds neither 32 bytes, nor 64 hex digits, nor the base64 of 32 bytes (generate one with: head -c 32 /dev/urandom > ${path})`);
  }

  /** Wraps a data key (`nonce`: 12 random bytes, never reused with this master key). */
  wrap(dataKey: Buffer, nonce: Uint8Array): ManagedSealedKey {
    if (nonce.length !== GCM_NONCE_BYTES) throw new Error(`a wrapping nonce has ${GCM_NONCE_BYTES} bytes`);
    const c = createCipheriv('aes-256-gcm', this.key, nonce);
    const wrapped = Buffer.concat([Buffer.from(nonce), c.update(dataKey), c.final(), c.getAuthTag()]);
    return { kid: this.id, wk: wrapped.toString('base64') };
  }

  /**
   * The data key of `sealed`. Throws `InternalError` (logged by the caller) when another master
   * key wrapped it or the wrapped key was altered: the data is then unreadable here.
   */
  unwrap(sealed: ManagedSealedKey): Buffer {
    if (sealed.kid !== this.id) throw masterKeyError(`the object's data key was wrapped by master key ${sealed.kid}; this node has ${this.id}`);
    const raw = Buffer.from(sealed.wk, 'base64');
    if (raw.length !== GCM_NONCE_BYTES + MASTER_KEY_BYTES + GCM_TAG_BYTES) throw masterKeyError('malformed wrapped data key');
    const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, GCM_NONCE_BYTES));
    d.setAuthTag(raw.subarray(GCM_NONCE_BYTES + MASTER_KEY_BYTES));
    try {
      return Buffer.concat([d.update(raw.subarray(GCM_NONCE_BYTES, GCM_NONCE_BYTES + MASTER_KEY_BYTES)), d.final()]);
    } catch {
      throw masterKeyError('the wrapped data key does not authenticate under the master key');
    }
  }
}

/**
 * The master keys a node holds: the current one wraps new data keys; previous ones (kept after a
 * rotation) only unwrap the data keys they wrapped.
 */
export class MasterKeys {
  private readonly byId = new Map<string, MasterKey>();

  constructor(
    readonly current: MasterKey,
    previous: readonly MasterKey[] = [],
  ) {
    for (const k of [current, ...previous]) this.byId.set(k.id, k);
  }

  /** Reads the current key's file and the previous keys' files ({@link MasterKey.fromFile}). */
  static fromFiles(current: string, previous: readonly string[] = []): MasterKeys {
    return new MasterKeys(MasterKey.fromFile(current), previous.map((p) => MasterKey.fromFile(p)));
  }

  /** The ids of every key held, the current one first. */
  get ids(): string[] {
    return [...this.byId.keys()];
  }

  /** Wraps a new data key under the current key. */
  wrap(dataKey: Buffer, nonce: Uint8Array): ManagedSealedKey {
    return this.current.wrap(dataKey, nonce);
  }

  /** The data key of `sealed`, whichever held key wrapped it (`InternalError` if none did). */
  unwrap(sealed: ManagedSealedKey): Buffer {
    const key = this.byId.get(sealed.kid);
    if (!key) throw masterKeyError(`the object's data key was wrapped by master key ${sealed.kid}; this node holds ${this.ids.join(', ')}`);
    return key.unwrap(sealed);
  }

  /**
   * `sealed` wrapped under the current key (the same data key, so the data needs no rewrite);
   * as it is when the current key already wrapped it.
   */
  rewrap(sealed: ManagedSealedKey, nonce: Uint8Array): ManagedSealedKey {
    if (sealed.kid === this.current.id) return { ...sealed };
    const out = this.wrap(this.unwrap(sealed), nonce);
    return sealed.iv !== undefined ? { ...out, iv: sealed.iv } : out;
  }
}

function masterKeyError(reason: string): S3Error {
  // A 500: the node logs the cause (its reason names the keys, never their bytes).
  return new S3Error('InternalError', "The object's encryption key cannot be unwrapped on this node.", { cause: Object.assign(new Error(reason), { code: 'SseMasterKeyMismatch' }) });
}

/** Seals `key` for storage, with `salt` (16 random bytes). */
export function sealKey(key: CustomerKey, salt: Uint8Array): CustomerSealedKey {
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
export function checkKey(sealed: CustomerSealedKey, given: CustomerKey | undefined, source = false): Buffer {
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
 * The key to read data stored under `sealed` with: the request's SSE-C key, checked
 * ({@link checkKey}); an SSE-S3 data key, unwrapped with `master`; for plaintext, none. An SSE-C
 * key given for data that is not SSE-C is refused, as S3 does. SSE-KMS data keys are the key
 * service's to unwrap (kms.ts): the caller does that first.
 */
export function keyForRead(sealed: SealedKey | undefined, given: CustomerKey | undefined, master: MasterKeys | undefined, source = false): Buffer | undefined {
  if (sealed && isCustomer(sealed)) return checkKey(sealed, given, source);
  refuseUnneededKey(given, source);
  if (!sealed) return undefined;
  if (isKms(sealed)) throw new Error('an SSE-KMS data key is unwrapped by the key service, not keyForRead');
  if (!master) throw masterKeyError(`the object is SSE-S3 (master key ${sealed.kid}) and this node has no s3.sseMasterKeyFile`);
  return master.unwrap(sealed);
}

/** The ETag of data of MD5 `md5Hex` stored under `sealed` with `key`: keyed for SSE-C, the MD5 otherwise. */
export function etagFor(sealed: SealedKey | undefined, key: Buffer | undefined, md5Hex: string): string {
  return sealed && isCustomer(sealed) && key ? sealedEtag(key, md5Hex) : md5Hex;
}

/** Response headers telling how data stored under `sealed` is encrypted (none for plaintext). */
export function sealedKeyHeaders(sealed: SealedKey | undefined): Record<string, string> {
  if (!sealed) return {};
  if (isKms(sealed)) {
    return { 'x-amz-server-side-encryption': SSE_KMS_ALGORITHM, 'x-amz-server-side-encryption-aws-kms-key-id': sealed.kms, ...(sealed.bk ? { 'x-amz-server-side-encryption-bucket-key-enabled': 'true' } : {}) };
  }
  return isManaged(sealed) ? { 'x-amz-server-side-encryption': SSE_S3_ALGORITHM } : customerKeyHeaders(sealed.md5);
}

/** `x-amz-server-side-encryption-context` of an SSE-KMS entry (PutObject, CopyObject, CreateMultipartUpload answer it). */
export function kmsContextHeader(sealed: SealedKey | undefined): Record<string, string> {
  return sealed && isKms(sealed) ? { 'x-amz-server-side-encryption-context': sealed.ctx } : {};
}

/** `sealed` without an inline body's IV (what an upload hands to its parts and its object). */
export function keyOnly(sealed: SealedKey): SealedKey {
  if (isKms(sealed)) return { kms: sealed.kms, kwk: sealed.kwk, ctx: sealed.ctx, ...(sealed.bk ? { bk: true as const } : {}) };
  return isManaged(sealed) ? { kid: sealed.kid, wk: sealed.wk } : { md5: sealed.md5, salt: sealed.salt, mac: sealed.mac };
}
