/**
 * Server-side encryption requests: customer-provided keys (SSE-C) in their headers, checked as
 * S3 checks them, and the headers a response echoes; `x-amz-server-side-encryption` (SSE-S3 and
 * SSE-KMS, whose own headers sse-kms.ts reads; DSSE-KMS is not offered); the
 * ServerSideEncryptionConfiguration document of a bucket's default encryption. The cryptography itself is the storage side's (encryption.ts); this module only
 * reads and validates what the client sent.
 */
import { createHash } from 'node:crypto';
import { decodeBase64Exact } from './checksums.ts';
import { S3Error } from './errors.ts';
import { getHeader } from './headers.ts';
import type { HeaderMap } from './headers.ts';
import { KMS_HEADERS, SSE_DSSE_KMS_ALGORITHM, SSE_KMS_ALGORITHM, parseKmsKeyRef, parseKmsRequest, refuseKmsHeadersWithout } from './sse-kms.ts';
import type { KmsRequest } from './sse-kms.ts';
import { emptyDocumentXml } from './xml.ts';
import { escapeXml } from './xml-escape.ts';
import { childElements, parseXmlDocument } from './xml-parse.ts';

/** A customer key as a request gave it: 32 bytes, and the base64 MD5 the client computed of it. */
export interface CustomerKey {
  key: Buffer;
  /** Base64 MD5 of `key` (what responses echo in `…-customer-key-MD5`). */
  keyMd5: string;
}

/** The only algorithm SSE-C has. */
export const SSE_C_ALGORITHM = 'AES256';
/** `x-amz-server-side-encryption` of SSE-S3. */
export const SSE_S3_ALGORITHM = 'AES256';

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

/** Request headers of KMS encryption. */
const KMS_REQUEST_HEADERS = [KMS_HEADERS.keyId, KMS_HEADERS.context, KMS_HEADERS.bucketKey] as const;

/** The server-managed encryption a write asks for: SSE-S3, or SSE-KMS with its parameters. */
export type ManagedEncryptionRequest = { kind: 'sse-s3' } | ({ kind: 'kms' } & KmsRequest);

/**
 * The server-managed encryption a write asks for with `x-amz-server-side-encryption`: SSE-S3
 * (`AES256`), SSE-KMS (`aws:kms`, with sse-kms.ts's headers), or none. DSSE-KMS
 * (`aws:kms:dsse`) is `NotImplemented`; another value `InvalidArgument`; KMS headers without
 * `aws:kms`, or either kind together with an SSE-C key, `InvalidArgument`, as S3 answers.
 */
export function requestManagedEncryption(headers: HeaderMap): ManagedEncryptionRequest | undefined {
  const value = getHeader(headers, 'x-amz-server-side-encryption');
  if (value === SSE_DSSE_KMS_ALGORITHM) throw new S3Error('NotImplemented', `DSSE-KMS is not supported (${value}): SSE-KMS, SSE-S3 and SSE-C are.`, { fields: { Header: 'x-amz-server-side-encryption' } });
  if (value !== SSE_KMS_ALGORITHM) refuseKmsHeadersWithout(headers);
  if (value === undefined) return undefined;
  if (value !== SSE_S3_ALGORITHM && value !== SSE_KMS_ALGORITHM) throw new S3Error('InvalidArgument', 'The encryption method specified is not supported', { fields: { ArgumentName: 'x-amz-server-side-encryption', ArgumentValue: value } });
  if (hasCustomerKeyHeaders(headers)) {
    throw new S3Error('InvalidArgument', 'Server Side Encryption with Customer provided key is incompatible with the encryption method specified', { fields: { ArgumentName: 'x-amz-server-side-encryption', ArgumentValue: value } });
  }
  if (value === SSE_KMS_ALGORITHM) return { kind: 'kms', ...parseKmsRequest(headers) };
  return { kind: 'sse-s3' };
}

/**
 * Refuses `x-amz-server-side-encryption` (and the KMS headers) on an operation that does not
 * write object data (S3: `InvalidArgument`).
 */
export function refuseEncryptionHeaders(headers: HeaderMap): void {
  for (const name of ['x-amz-server-side-encryption', ...KMS_REQUEST_HEADERS]) {
    const value = getHeader(headers, name);
    if (value !== undefined) throw new S3Error('InvalidArgument', `${name} header is not supported for this operation.`, { fields: { ArgumentName: name, ArgumentValue: value } });
  }
}

/**
 * A bucket's default encryption (ServerSideEncryptionConfiguration): the algorithm, the KMS key
 * as given (`aws:kms` only; none: the `aws/s3` key), and BucketKeyEnabled as given.
 */
export interface BucketEncryption {
  algorithm: typeof SSE_S3_ALGORITHM | typeof SSE_KMS_ALGORITHM;
  kmsKeyId?: string;
  bucketKey?: boolean;
}

/**
 * Parses a ServerSideEncryptionConfiguration document: one Rule with
 * ApplyServerSideEncryptionByDefault / SSEAlgorithm and an optional BucketKeyEnabled
 * (`MalformedXML` otherwise). `aws:kms` may name a KMSMasterKeyID (a key id, ARN or alias;
 * `InvalidArgument` with another algorithm); `aws:kms:dsse` is `NotImplemented`, another
 * algorithm `MalformedXML`.
 */
export function parseBucketEncryption(body: string | Uint8Array): BucketEncryption {
  const doc = parseXmlDocument(body, 'ServerSideEncryptionConfiguration');
  const rules = childElements(doc, 'Rule');
  if (rules.length !== 1 || doc.children.length !== 1) throw new S3Error('MalformedXML');
  const rule = rules[0]!;
  let algorithm: string | undefined;
  let bucketKey: boolean | undefined;
  let kmsKeyId: string | undefined;
  for (const c of rule.children) {
    if (c.name === 'ApplyServerSideEncryptionByDefault') {
      if (algorithm !== undefined) throw new S3Error('MalformedXML');
      for (const d of c.children) {
        if (d.name === 'SSEAlgorithm' && algorithm === undefined) algorithm = d.text.trim();
        else if (d.name === 'KMSMasterKeyID' && kmsKeyId === undefined) kmsKeyId = d.text.trim();
        else throw new S3Error('MalformedXML');
      }
      if (algorithm === undefined) throw new S3Error('MalformedXML');
    } else if (c.name === 'BucketKeyEnabled' && bucketKey === undefined) {
      const v = c.text.trim();
      if (v !== 'true' && v !== 'false') throw new S3Error('MalformedXML');
      bucketKey = v === 'true';
    } else throw new S3Error('MalformedXML');
  }
  if (algorithm === undefined) throw new S3Error('MalformedXML');
  if (algorithm === SSE_DSSE_KMS_ALGORITHM) throw new S3Error('NotImplemented', `DSSE-KMS is not supported (${algorithm}): SSE-KMS and SSE-S3 are.`);
  if (algorithm !== SSE_S3_ALGORITHM && algorithm !== SSE_KMS_ALGORITHM) throw new S3Error('MalformedXML');
  if (kmsKeyId !== undefined) {
    if (algorithm !== SSE_KMS_ALGORITHM) throw new S3Error('InvalidArgument', 'a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse', { fields: { ArgumentName: 'ApplyServerSideEncryptionByDefault' } });
    if (kmsKeyId === '') throw new S3Error('MalformedXML');
    parseKmsKeyRef(kmsKeyId);
  }
  return { algorithm, ...(kmsKeyId !== undefined ? { kmsKeyId } : {}), ...(bucketKey !== undefined ? { bucketKey } : {}) };
}

/** A ServerSideEncryptionConfiguration document. */
export function bucketEncryptionXml(config: BucketEncryption): string {
  return emptyDocumentXml(
    'ServerSideEncryptionConfiguration',
    `<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>${config.algorithm}</SSEAlgorithm>${config.kmsKeyId !== undefined ? `<KMSMasterKeyID>${escapeXml(config.kmsKeyId)}</KMSMasterKeyID>` : ''}</ApplyServerSideEncryptionByDefault><BucketKeyEnabled>${config.bucketKey === true}</BucketKeyEnabled></Rule>`,
  );
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

/**
 * Refuses a request that carries an SSE-C key (its own or a copy source's) over plain HTTP, as S3
 * does: a key sent in clear text must be taken as exposed. The caller knows whether the
 * connection is secure; POST forms pass their fields as the headers.
 */
export function refuseCustomerKeyInClear(headers: HeaderMap): void {
  for (const names of [OWN, SOURCE]) {
    if (getHeader(headers, names.algorithm) !== undefined || getHeader(headers, names.key) !== undefined || getHeader(headers, names.md5) !== undefined) {
      throw new S3Error('InvalidRequest', 'Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.');
    }
  }
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
  const bytes = decodeBase64Exact(key, KEY_BYTES);
  if (bytes === undefined) {
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
