/**
 * SSE-KMS requests, as S3 reads them: `x-amz-server-side-encryption: aws:kms` with the optional
 * `x-amz-server-side-encryption-aws-kms-key-id` (a key id, key ARN, alias name or alias ARN),
 * `x-amz-server-side-encryption-context` (base64 of a UTF-8 JSON object of strings) and
 * `x-amz-server-side-encryption-bucket-key-enabled`; the forms a KMS key is referred to by; the
 * errors S3 answers for a bad combination, a key in clear text or a request not signed with
 * SigV4. Pure: the key service is the storage side's (kms.ts).
 */
import { S3Error } from './errors.ts';
import { getHeader } from './headers.ts';
import type { HeaderMap } from './headers.ts';

/** `x-amz-server-side-encryption` of SSE-KMS. */
export const SSE_KMS_ALGORITHM = 'aws:kms';
/** `x-amz-server-side-encryption` of DSSE-KMS (dual-layer), not offered. */
export const SSE_DSSE_KMS_ALGORITHM = 'aws:kms:dsse';

/** Header names of SSE-KMS. */
export const KMS_HEADERS = {
  keyId: 'x-amz-server-side-encryption-aws-kms-key-id',
  context: 'x-amz-server-side-encryption-context',
  bucketKey: 'x-amz-server-side-encryption-bucket-key-enabled',
} as const;

/** Longest encryption context accepted (bytes of its JSON), as KMS limits it (8 KiB). */
const MAX_CONTEXT_BYTES = 8192;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ALIAS_NAME = /^[A-Za-z0-9:/_-]{1,256}$/;
const ARN = /^arn:aws[a-z0-9-]*:kms:([a-z0-9-]*):([^:]*):(key|alias)\/(.+)$/;

/**
 * How a request names a KMS key: its id (a UUID), its ARN, an alias (`alias/name`), an alias
 * ARN, or a bare name (neither: an unknown key unless the ring creates keys on first use).
 */
export type KmsKeyRef =
  | { kind: 'id'; id: string }
  | { kind: 'arn'; id: string; region: string; account: string }
  | { kind: 'alias'; alias: string }
  | { kind: 'aliasArn'; alias: string; region: string; account: string }
  | { kind: 'name'; name: string };

/**
 * Parses a KMS key reference (`InvalidArgument` when it is empty, too long or a malformed ARN).
 * An alias keeps its `alias/` prefix; ids are lower-cased.
 */
export function parseKmsKeyRef(value: string): KmsKeyRef {
  const v = value.trim();
  if (v === '' || v.length > 2048) throw invalidKeyId(value);
  if (UUID.test(v)) return { kind: 'id', id: v.toLowerCase() };
  if (v.startsWith('arn:')) {
    const m = ARN.exec(v);
    if (!m) throw invalidKeyId(value);
    const [, region, account, what, rest] = m as unknown as [string, string, string, string, string];
    if (what === 'key') {
      if (!UUID.test(rest)) throw invalidKeyId(value);
      return { kind: 'arn', id: rest.toLowerCase(), region, account };
    }
    if (!ALIAS_NAME.test(rest)) throw invalidKeyId(value);
    return { kind: 'aliasArn', alias: `alias/${rest}`, region, account };
  }
  if (v.startsWith('alias/')) {
    if (!ALIAS_NAME.test(v.slice(6))) throw invalidKeyId(value);
    return { kind: 'alias', alias: v };
  }
  if (!ALIAS_NAME.test(v)) throw invalidKeyId(value);
  return { kind: 'name', name: v };
}

function invalidKeyId(value: string): S3Error {
  return new S3Error('KMS.NotFoundException', `Invalid keyId ${value.slice(0, 256)}`);
}

/** What an SSE-KMS write asks for. */
export interface KmsRequest {
  /** The key as the request named it; undefined: the bucket's default key, else `aws/s3`. */
  keyId?: string;
  /** The additional encryption context (without `aws:s3:arn`, which the server adds). */
  context?: Record<string, string>;
  /** `x-amz-server-side-encryption-bucket-key-enabled`, when given. */
  bucketKey?: boolean;
}

/**
 * Decodes `x-amz-server-side-encryption-context`: base64 of a UTF-8 JSON object whose values are
 * strings (`InvalidArgument` otherwise, as S3 answers).
 */
export function parseEncryptionContext(value: string): Record<string, string> {
  const bad = (why: string): S3Error =>
    new S3Error('InvalidArgument', `The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map (${why}).`, {
      fields: { ArgumentName: KMS_HEADERS.context, ArgumentValue: value.slice(0, 256) },
    });
  const text = value.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0 || text === '') throw bad('not base64');
  const raw = Buffer.from(text, 'base64');
  if (raw.length > MAX_CONTEXT_BYTES) throw bad(`longer than ${MAX_CONTEXT_BYTES} bytes`);
  const json = raw.toString('utf8');
  if (!Buffer.from(json, 'utf8').equals(raw)) throw bad('not UTF-8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw bad('not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad('not an object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof v !== 'string' || k === '') throw bad(`the value of "${k.slice(0, 64)}" is not a string`);
    out[k] = v;
  }
  return out;
}

/** The canonical form of an encryption context (keys sorted): the AAD of a wrapped data key. */
export function canonicalContext(context: Record<string, string>): string {
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(context).sort()) sorted[k] = context[k]!;
  return JSON.stringify(sorted);
}

/** Base64 of a context's canonical JSON (what `x-amz-server-side-encryption-context` carries). */
export function encodeEncryptionContext(context: Record<string, string>): string {
  return Buffer.from(canonicalContext(context), 'utf8').toString('base64');
}

/**
 * The SSE-KMS parameters of a write whose `x-amz-server-side-encryption` is `aws:kms` (the
 * caller checked it). A bad bucket-key value or context is `InvalidArgument`.
 */
export function parseKmsRequest(headers: HeaderMap): KmsRequest {
  const out: KmsRequest = {};
  const keyId = getHeader(headers, KMS_HEADERS.keyId);
  if (keyId !== undefined) {
    parseKmsKeyRef(keyId);
    out.keyId = keyId.trim();
  }
  const context = getHeader(headers, KMS_HEADERS.context);
  if (context !== undefined) out.context = parseEncryptionContext(context);
  const bucketKey = getHeader(headers, KMS_HEADERS.bucketKey);
  if (bucketKey !== undefined) {
    const v = bucketKey.trim().toLowerCase();
    if (v !== 'true' && v !== 'false') throw new S3Error('InvalidArgument', 'Invalid value for x-amz-server-side-encryption-bucket-key-enabled.', { fields: { ArgumentName: KMS_HEADERS.bucketKey, ArgumentValue: bucketKey } });
    out.bucketKey = v === 'true';
  }
  return out;
}

/**
 * Refuses SSE-KMS headers without `x-amz-server-side-encryption: aws:kms` (S3: `InvalidArgument`
 * naming the header that is needed).
 */
export function refuseKmsHeadersWithout(headers: HeaderMap): void {
  for (const name of [KMS_HEADERS.keyId, KMS_HEADERS.context]) {
    const value = getHeader(headers, name);
    if (value !== undefined) {
      throw new S3Error('InvalidArgument', 'Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms', { fields: { ArgumentName: name, ArgumentValue: value.slice(0, 256) } });
    }
  }
}

/** Whether a request asks for SSE-KMS (or DSSE-KMS) in `x-amz-server-side-encryption`. */
export function asksForKms(headers: HeaderMap): boolean {
  const v = getHeader(headers, 'x-amz-server-side-encryption');
  return v === SSE_KMS_ALGORITHM || v === SSE_DSSE_KMS_ALGORITHM;
}

/** The refusal of an SSE-KMS request (or a read of an SSE-KMS object) over plain HTTP, as S3 answers it. */
export function kmsInClearError(): S3Error {
  return new S3Error('InvalidArgument', 'Requests specifying Server Side Encryption with AWS KMS managed keys must be made over a secure connection.');
}

/** The refusal of an SSE-KMS request (or a read of an SSE-KMS object) not signed with SigV4, as S3 answers it. */
export function kmsNeedsSigV4Error(): S3Error {
  return new S3Error('InvalidArgument', 'Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.');
}

/** Refuses a request asking for SSE-KMS over plain HTTP (the caller knows the connection). */
export function refuseKmsInClear(headers: HeaderMap): void {
  if (asksForKms(headers)) throw kmsInClearError();
}

/** The object ARN S3 puts in an object's encryption context (`aws:s3:arn`). */
export function objectArn(bucket: string, key: string): string {
  return `arn:aws:s3:::${bucket}/${key}`;
}

/** The bucket ARN S3 puts in the encryption context with an S3 Bucket Key. */
export function bucketArn(bucket: string): string {
  return `arn:aws:s3:::${bucket}`;
}

/**
 * The whole encryption context of an SSE-KMS object: the request's additional pairs and
 * `aws:s3:arn` (the object's ARN, or the bucket's with a Bucket Key). A request that gives
 * `aws:s3:arn` itself must give that value (`InvalidArgument` otherwise).
 */
export function objectEncryptionContext(additional: Record<string, string> | undefined, bucket: string, key: string, bucketKey: boolean): Record<string, string> {
  const arn = bucketKey ? bucketArn(bucket) : objectArn(bucket, key);
  const given = additional?.['aws:s3:arn'];
  if (given !== undefined && given !== arn) {
    throw new S3Error('InvalidArgument', `The encryption context key aws:s3:arn must be ${arn}.`, { fields: { ArgumentName: KMS_HEADERS.context } });
  }
  return { ...(additional ?? {}), 'aws:s3:arn': arn };
}
