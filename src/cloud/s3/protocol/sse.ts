/**
 * Server-side encryption with customer-provided keys (SSE-C): the request headers that carry a
 * key, checked as S3 checks them, and the headers a response echoes. The cryptography itself is
 * the storage side's (encryption.ts); this module only reads and validates what the client sent.
 */
import { createHash } from 'node:crypto';
import { S3Error } from './errors.ts';
import { getHeader } from './headers.ts';
import type { HeaderMap } from './headers.ts';

/** A customer key as a request gave it: 32 bytes, and the base64 MD5 the client computed of it. */
export interface CustomerKey {
  key: Buffer;
  /** Base64 MD5 of `key` (what responses echo in `…-customer-key-MD5`). */
  keyMd5: string;
}

/** The only algorithm SSE-C has. */
export const SSE_C_ALGORITHM = 'AES256';

const KEY_BYTES = 32;

/** Header names of the object's own key, and of a copy source's key. */
const OWN = {
  algorithm: 'x-amz-server-side-encryption-customer-algorithm',
  key: 'x-amz-server-side-encryption-customer-key',
  md5: 'x-amz-server-side-encryption-customer-key-md5',
} as const;
const SOURCE = {
  algorithm: 'x-amz-copy-source-server-side-encryption-customer-algorithm',
  key: 'x-amz-copy-source-server-side-encryption-customer-key',
  md5: 'x-amz-copy-source-server-side-encryption-customer-key-md5',
} as const;

/**
 * Request headers asking for server-side encryption with keys the server would manage (SSE-S3,
 * SSE-KMS, DSSE-KMS). Those are refused (`NotImplemented`): there is no key service here, and
 * storing plaintext as if encrypted would be a silent lie.
 */
export const MANAGED_SSE_HEADERS = [
  'x-amz-server-side-encryption',
  'x-amz-server-side-encryption-aws-kms-key-id',
  'x-amz-server-side-encryption-context',
  'x-amz-server-side-encryption-bucket-key-enabled',
] as const;

/** Refuses a request that asks for server-managed encryption (see {@link MANAGED_SSE_HEADERS}). */
export function refuseManagedEncryption(has: (name: string) => boolean): void {
  for (const name of MANAGED_SSE_HEADERS) {
    if (has(name)) throw new S3Error('NotImplemented', `Server-side encryption with server-managed keys is not supported (${name}); customer-provided keys (SSE-C) are.`, { fields: { Header: name } });
  }
}

/** The object's SSE-C key of a request (PutObject, GetObject, UploadPart, …), if it gives one. */
export function requestCustomerKey(headers: HeaderMap): CustomerKey | undefined {
  return parseKeyHeaders(headers, OWN);
}

/** The copy source's SSE-C key of a CopyObject / UploadPartCopy, if it gives one. */
export function copySourceCustomerKey(headers: HeaderMap): CustomerKey | undefined {
  return parseKeyHeaders(headers, SOURCE);
}

/** Whether a request carries any SSE-C header of the object's own key. */
export function hasCustomerKeyHeaders(headers: HeaderMap): boolean {
  return getHeader(headers, OWN.algorithm) !== undefined || getHeader(headers, OWN.key) !== undefined || getHeader(headers, OWN.md5) !== undefined;
}

/** Response headers that confirm an SSE-C key (PutObject, GetObject, HeadObject, UploadPart, …). */
export function customerKeyHeaders(keyMd5: string): Record<string, string> {
  return { [OWN.algorithm]: SSE_C_ALGORITHM, [OWN.md5]: keyMd5 };
}

function parseKeyHeaders(headers: HeaderMap, names: { algorithm: string; key: string; md5: string }): CustomerKey | undefined {
  const algorithm = getHeader(headers, names.algorithm);
  const key = getHeader(headers, names.key);
  const md5 = getHeader(headers, names.md5);
  if (algorithm === undefined && key === undefined && md5 === undefined) return undefined;
  if (algorithm === undefined) {
    throw new S3Error('InvalidArgument', 'Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.', { fields: { ArgumentName: names.algorithm, ArgumentValue: 'null' } });
  }
  if (algorithm !== SSE_C_ALGORITHM) {
    throw new S3Error('InvalidEncryptionAlgorithmError', undefined, { fields: { ArgumentName: names.algorithm, ArgumentValue: algorithm } });
  }
  if (key === undefined) {
    throw new S3Error('InvalidArgument', 'Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.', { fields: { ArgumentName: names.key, ArgumentValue: 'null' } });
  }
  const bytes = decodeBase64Strict(key);
  if (bytes === undefined || bytes.length !== KEY_BYTES) {
    throw new S3Error('InvalidArgument', 'The secret key was invalid for the specified algorithm.', { fields: { ArgumentName: names.key, ArgumentValue: 'null' } });
  }
  if (md5 === undefined) {
    throw new S3Error('InvalidArgument', 'Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.', { fields: { ArgumentName: names.md5, ArgumentValue: 'null' } });
  }
  const computed = createHash('md5').update(bytes).digest('base64');
  if (md5 !== computed) {
    throw new S3Error('InvalidArgument', 'The calculated MD5 hash of the key did not match the hash that was provided.', { fields: { ArgumentName: names.md5, ArgumentValue: md5 } });
  }
  return { key: bytes, keyMd5: computed };
}

/** Base64 that round-trips exactly (Node's decoder skips what it does not understand). */
function decodeBase64Strict(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}
