/**
 * Server-side verification of AWS Signature Version 2 for S3, as the Amazon S3 documentation
 * "Signing and authenticating REST requests (AWS signature version 2)" and "Browser-based uploads
 * using POST (AWS signature version 2)" describe it. Pure, in the same two steps as SigV4
 * (`sigv4.ts`), so that the caller can fetch the secret key in between:
 *
 * 1. {@link parseSigV2Header} (`Authorization: AWS AWSAccessKeyId:Signature`) or
 *    {@link parseSigV2Query} (`AWSAccessKeyId`, `Expires`, `Signature` in the query) checks the
 *    form, the time (clock skew, or expiry) and builds the string to sign;
 * 2. {@link verifySigV2} checks `Base64(HMAC-SHA1(secret, UTF-8(StringToSign)))`.
 *
 * StringToSign = HTTP-Verb "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
 * CanonicalizedAmzHeaders CanonicalizedResource, where Date is empty when `x-amz-date` is sent
 * (it is then among the amz headers) and is the `Expires` value of a presigned URL;
 * CanonicalizedAmzHeaders are the `x-amz-*` headers, lower-cased, sorted, repeated ones joined
 * by commas, folded lines unfolded, one `name:value\n` each; CanonicalizedResource is `/bucket`
 * for a virtual-hosted request, then the path exactly as received (not decoded), then the
 * sub-resources the documentation lists, sorted by name.
 *
 * Where clients and the documentation disagree the verifier is liberal, trying a few strings to
 * sign for one request (each one HMAC-SHA1): the sub-resources S3 added after the documented list
 * (`tagging`, `cors`, `retention`, …) signed or not, sub-resource values decoded (as the
 * documentation says) or as sent, a path-style bucket with or without its trailing slash (botocore
 * signs `/bucket/` for `PUT /bucket`), and the documentation's own "Delete" example, which puts the
 * `x-amz-date` value in the Date line instead of among the amz headers. The body is not signed:
 * a SigV2 request's payload is that of an unsigned request (Content-MD5 and checksum headers are
 * still checked by the body verifier). Nothing here reads the clock.
 */
import { createHmac } from 'node:crypto';
import { S3Error } from './errors.ts';
import { getHeader, type HeaderMap } from './headers.ts';
import { parseHttpDate } from './http-date.ts';
import { percentDecode } from './uri.ts';
import { signaturesEqual } from './sigv4-signing.ts';
import { DEFAULT_MAX_SKEW_MS, clockSkewError, parseAmzDate, signatureMismatch, payloadModeOf, type PayloadMode, type SigV4Request } from './sigv4.ts';

/** The `Authorization` scheme of SigV2, and the value of the `s3:signatureversion` policy key. */
export const SIGV2_SCHEME = 'AWS';

/**
 * The sub-resources the SigV2 documentation says must be signed (with the `response-*` overrides
 * and `delete`). They are always part of the CanonicalizedResource.
 */
export const SIGV2_SUBRESOURCES: readonly string[] = [
  'acl',
  'delete',
  'lifecycle',
  'location',
  'logging',
  'notification',
  'partNumber',
  'policy',
  'requestPayment',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'response-content-language',
  'response-content-type',
  'response-expires',
  'torrent',
  'uploadId',
  'uploads',
  'versionId',
  'versioning',
  'versions',
  'website',
];

/**
 * Sub-resources S3 added after the SigV2 documentation's list. Clients differ on whether they
 * sign them, so a signature is accepted with them or without them.
 */
export const SIGV2_LATER_SUBRESOURCES: readonly string[] = [
  'accelerate',
  'analytics',
  'attributes',
  'cors',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'legal-hold',
  'metrics',
  'object-lock',
  'ownershipControls',
  'policyStatus',
  'publicAccessBlock',
  'replication',
  'restore',
  'retention',
  'select',
  'select-type',
  'tagging',
];

const DOCUMENTED = new Set(SIGV2_SUBRESOURCES);
const LATER = new Set(SIGV2_LATER_SUBRESOURCES);

/** A SigV2-signed request, parsed, awaiting its secret key. */
export interface ParsedSigV2Auth {
  scheme: typeof SIGV2_SCHEME;
  /** Authorization header or presigned URL query. */
  kind: 'header' | 'presigned';
  accessKeyId: string;
  /** The Base64 signature the client sent. */
  signature: string;
  /** The string to sign as the documentation builds it (reported in `SignatureDoesNotMatch`). */
  stringToSign: string;
  /** Other strings to sign a valid client may have signed (see the module's comment). */
  alternativeStringsToSign: string[];
  /** Header auth: the request time (from `x-amz-date` or `Date`), ms since the epoch. */
  requestTime?: number;
  /** Presigned URLs: the expiry (`Expires`), ms since the epoch. */
  expiresAt?: number;
  /** The body's protection: unsigned, or the `x-amz-content-sha256` the client chose to send. */
  payload: PayloadMode;
}

/** A SigV2 request whose signature has been verified. */
export interface VerifiedSigV2Auth {
  scheme: typeof SIGV2_SCHEME;
  kind: 'header' | 'presigned';
  accessKeyId: string;
  payload: PayloadMode;
}

/** Options of {@link parseSigV2Header} and {@link parseSigV2Query}. */
export interface SigV2Options {
  /** Largest accepted difference between the request's Date and `now`, in ms. Default 15 minutes. */
  maxSkewMs?: number;
  /** The bucket named by the Host header of a virtual-hosted-style request (`/bucket` is signed). */
  virtualHostedBucket?: string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Signing

/** `Base64(HMAC-SHA1(secretKey, UTF-8(stringToSign)))`. */
export function signV2(secretKey: string, stringToSign: string): string {
  return createHmac('sha1', secretKey).update(stringToSign, 'utf8').digest('base64');
}

/** The parts of a SigV2 string to sign. */
export interface SigV2StringToSignParts {
  method: string;
  contentMd5: string;
  contentType: string;
  /** The Date header, the empty string when `x-amz-date` is sent, or a presigned URL's `Expires`. */
  date: string;
  /** {@link canonicalizedAmzHeaders}: `name:value\n` lines. */
  amzHeaders: string;
  /** {@link canonicalizedResource}. */
  resource: string;
}

/** Assembles a SigV2 string to sign. */
export function sigV2StringToSign(p: SigV2StringToSignParts): string {
  return `${p.method}\n${p.contentMd5}\n${p.contentType}\n${p.date}\n${p.amzHeaders}${p.resource}`;
}

/** A header value with folded lines unfolded (the fold and its surrounding blanks become one space) and trimmed. */
function unfold(value: string): string {
  return value.replace(/[ \t]*\r?\n[ \t]*/g, ' ').trim();
}

/**
 * CanonicalizedAmzHeaders: every `x-amz-*` header (but those in `except`), its name lower-cased,
 * sorted by name, its values unfolded, trimmed and joined with commas (no space), each as
 * `name:value\n`.
 */
export function canonicalizedAmzHeaders(headers: HeaderMap, except: readonly string[] = []): string {
  const lines: [string, string][] = [];
  const values = new Map<string, string[]>();
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (!name.startsWith('x-amz-') || value === undefined || except.includes(name)) continue;
    const list = values.get(name) ?? [];
    list.push(...(typeof value === 'string' ? [value] : value));
    values.set(name, list);
  }
  for (const [name, list] of values) lines.push([name, list.map(unfold).join(',')]);
  lines.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return lines.map(([name, value]) => `${name}:${value}\n`).join('');
}

/** One query parameter as received: its decoded name, raw value and whether it had `=`. */
interface QueryPair {
  name: string;
  rawValue: string;
  hasValue: boolean;
}

function queryPairs(rawQuery: string): QueryPair[] {
  const pairs: QueryPair[] = [];
  if (rawQuery === '') return pairs;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    pairs.push({ name: percentDecode(rawName) ?? rawName, rawValue: eq < 0 ? '' : part.slice(eq + 1), hasValue: eq >= 0 });
  }
  return pairs;
}

/** How the sub-resources of a CanonicalizedResource are written. */
export interface SubresourceStyle {
  /** Include the sub-resources of {@link SIGV2_LATER_SUBRESOURCES} (default true). */
  later?: boolean;
  /** Values decoded (the documentation; default) or exactly as sent. */
  rawValues?: boolean;
  /** Write an empty value as `name` even when it was sent as `name=` (default false). */
  dropEmptyValues?: boolean;
}

/** The path of a request target: the absolute form's scheme and authority dropped, `/` when empty. */
function targetPath(rawPath: string): string {
  let path = rawPath;
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(path);
  if (absolute !== null) path = path.slice(absolute[0].length);
  return path === '' ? '/' : path;
}

/**
 * CanonicalizedResource: `/bucket` for a virtual-hosted-style request, the raw (undecoded) path,
 * then the signed sub-resources present in the query, sorted by name, as `?name` or
 * `?name=value` joined by `&`.
 */
export function canonicalizedResource(rawPath: string, rawQuery: string, virtualHostedBucket?: string, style: SubresourceStyle = {}): string {
  const path = targetPath(rawPath);
  const base = virtualHostedBucket === undefined ? path : `/${virtualHostedBucket}${path}`;
  const later = style.later ?? true;
  const signed = queryPairs(rawQuery)
    .filter((p) => DOCUMENTED.has(p.name) || (later && LATER.has(p.name)))
    .map((p): [string, string] => {
      const value = style.rawValues ? p.rawValue : (percentDecode(p.rawValue) ?? p.rawValue);
      return [p.name, p.hasValue && !(style.dropEmptyValues && value === '') ? `${p.name}=${value}` : p.name];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return signed.length === 0 ? base : `${base}?${signed.map(([, text]) => text).join('&')}`;
}

/**
 * Every CanonicalizedResource a valid client may have signed, the documentation's first. A
 * request to a bucket itself is also tried with the bucket's trailing slash added or removed
 * (`/bucket` ↔ `/bucket/`): botocore signs `/bucket/` for a path-style `PUT /bucket`; and with
 * the query's first parameter after the path, as botocore up to 1.29 signs an operation's own
 * query (`/b?list-type=2`, `/b/k?acl?acl`).
 */
function candidateResources(rawPath: string, rawQuery: string, bucket: string | undefined): string[] {
  const path = targetPath(rawPath);
  const paths = [path];
  if (bucket === undefined && /^\/[^/]+$/.test(path)) paths.push(`${path}/`);
  if (bucket === undefined && /^\/[^/]+\/$/.test(path)) paths.push(path.slice(0, -1));
  const out = new Set<string>();
  for (const p of paths) {
    for (const later of [true, false]) {
      for (const rawValues of [false, true]) {
        for (const dropEmptyValues of [false, true]) out.add(canonicalizedResource(p, rawQuery, bucket, { later, rawValues, dropEmptyValues }));
      }
    }
  }
  // botocore up to 1.29 (Debian bookworm's python3-botocore, under its boto3) signs the query of
  // the operation's URI template (sent first) right after the path, then the sub-resources as
  // usual: `/b/k?acl?acl`, `/b?uploads?uploads`, `/b?list-type=2`.
  const first = rawQuery.split('&', 1)[0] ?? '';
  if (first !== '') {
    for (const r of [...out]) {
      for (const p of paths) {
        const base = bucket === undefined ? p : `/${bucket}${p}`;
        if (r === base || r.startsWith(`${base}?`)) out.add(`${base}?${first}${r.slice(base.length)}`);
      }
    }
  }
  return [...out];
}

// ---------------------------------------------------------------------------------------------
// Parsing

function invalidHeader(authorization: string, message: string): S3Error {
  return new S3Error('InvalidArgument', message, { fields: { ArgumentName: 'Authorization', ArgumentValue: authorization } });
}

/** True for an `Authorization` value of the SigV2 scheme (`AWS …`). */
export function isSigV2Authorization(authorization: string): boolean {
  return authorization === SIGV2_SCHEME || authorization.startsWith(`${SIGV2_SCHEME} `);
}

const RFC_2822_DATE = /^[a-z]{3},\s+\d{1,2}\s+[a-z]{3}\s+\d{4}\s+\d{2}:\d{2}:\d{2}\s+(?:[+-]\d{4}|gmt|ut|utc|z)$/i;

/**
 * A SigV2 request time: an HTTP date (IMF-fixdate, RFC 850, asctime), an RFC 2822 date with a
 * numeric zone (`Tue, 27 Mar 2007 19:36:42 +0000`, as the documentation's examples), ISO 8601,
 * or SigV4's `YYYYMMDDTHHMMSSZ`. Undefined when it is none of them.
 */
export function parseSigV2Date(value: string): number | undefined {
  const text = value.trim();
  const http = parseHttpDate(text) ?? parseAmzDate(text);
  if (http !== undefined) return http;
  if (!RFC_2822_DATE.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The payload of a SigV2 request, which signs no body: unsigned, unless the client sent
 * `x-amz-content-sha256` with a SHA-256 (checked as for an anonymous request). aws-chunked bodies
 * need SigV4 (`InvalidRequest`).
 */
function unsignedPayload(headers: HeaderMap): PayloadMode {
  const value = getHeader(headers, 'x-amz-content-sha256')?.trim();
  if (value === undefined) return { kind: 'unsigned' };
  const payload = payloadModeOf(value);
  if (payload.kind === 'streaming') {
    throw new S3Error('InvalidRequest', 'aws-chunked payloads (x-amz-content-sha256: STREAMING-…) require AWS Signature Version 4.');
  }
  return payload;
}

interface Positional {
  method: string;
  contentMd5: string;
  contentType: string;
}

function positional(request: SigV4Request): Positional {
  return {
    method: request.method.toUpperCase(),
    contentMd5: getHeader(request.headers, 'content-md5') ?? '',
    contentType: getHeader(request.headers, 'content-type') ?? '',
  };
}

/**
 * Reads `Authorization: AWS AWSAccessKeyId:Signature` (`authorization` trimmed), validating
 * everything that does not need the secret key. `now` is the server time in ms since the epoch.
 *
 * Errors: a malformed header `InvalidArgument` (S3's messages "Authorization header is invalid --
 * one and only one ' ' (space) required" and "AWS authorization header is invalid.  Expected
 * AwsAccessKeyId:signature"); no valid `x-amz-date` or `Date` `AccessDenied` ("AWS authentication
 * requires a valid Date or x-amz-date header"); skew `RequestTimeTooSkewed`; an aws-chunked
 * payload `InvalidRequest`.
 */
export function parseSigV2Header(request: SigV4Request, authorization: string, now: number, options: SigV2Options = {}): ParsedSigV2Auth {
  const credentials = authorization.slice(SIGV2_SCHEME.length + 1);
  if (!authorization.startsWith(`${SIGV2_SCHEME} `) || credentials === '' || /\s/.test(credentials)) {
    throw invalidHeader(authorization, "Authorization header is invalid -- one and only one ' ' (space) required");
  }
  const colon = credentials.lastIndexOf(':');
  if (colon <= 0 || colon === credentials.length - 1) {
    throw invalidHeader(authorization, 'AWS authorization header is invalid.  Expected AwsAccessKeyId:signature');
  }
  const accessKeyId = credentials.slice(0, colon);
  const signature = credentials.slice(colon + 1);

  // The time: x-amz-date when sent (the Date line is then empty), else Date.
  const amzDate = getHeader(request.headers, 'x-amz-date');
  const date = getHeader(request.headers, 'date');
  const timeText = amzDate ?? date;
  const requestTime = timeText === undefined ? undefined : parseSigV2Date(timeText);
  if (timeText === undefined || requestTime === undefined) {
    throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  }
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  if (Math.abs(now - requestTime) > maxSkewMs) throw clockSkewError(timeText, now, maxSkewMs);
  const payload = unsignedPayload(request.headers);

  const fixed = positional(request);
  const amzHeaders = canonicalizedAmzHeaders(request.headers);
  const [resource, ...otherResources] = candidateResources(request.path, request.query, options.virtualHostedBucket);
  const stringToSign = sigV2StringToSign({ ...fixed, date: amzDate === undefined ? date! : '', amzHeaders, resource: resource! });
  const alternatives = otherResources.map((r) => sigV2StringToSign({ ...fixed, date: amzDate === undefined ? date! : '', amzHeaders, resource: r }));
  if (amzDate !== undefined) {
    // The documentation's "Delete" example: the x-amz-date value in the Date line, not among the amz headers.
    alternatives.push(sigV2StringToSign({ ...fixed, date: amzDate, amzHeaders: canonicalizedAmzHeaders(request.headers, ['x-amz-date']), resource: resource! }));
  }
  return { scheme: SIGV2_SCHEME, kind: 'header', accessKeyId, signature, stringToSign, alternativeStringsToSign: alternatives, requestTime, payload };
}

/** The query parameters of SigV2 query authentication. */
const PRESIGN_NAMES: ReadonlySet<string> = new Set(['AWSAccessKeyId', 'Expires', 'Signature']);

/** The SigV2 query parameters of a raw query (names exact, values percent-decoded; first wins). */
function presignParams(rawQuery: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of queryPairs(rawQuery)) {
    if (PRESIGN_NAMES.has(p.name) && !out.has(p.name)) {
      // `+` stays a plus sign: a Base64 signature whose `+` was not escaped still matches.
      out.set(p.name, percentDecode(p.rawValue) ?? p.rawValue);
    }
  }
  return out;
}

/** True when a raw query carries SigV2 query authentication (`AWSAccessKeyId` or `Signature`). */
export function isSigV2Query(rawQuery: string): boolean {
  return queryPairs(rawQuery).some((p) => p.name === 'AWSAccessKeyId' || p.name === 'Signature');
}

/**
 * Reads a presigned SigV2 URL (`AWSAccessKeyId`, `Expires` in seconds since the epoch,
 * `Signature`). `now` is the server time in ms since the epoch. The Date line of the string to
 * sign is `Expires`; the request's clock is not otherwise checked (as S3 documents).
 *
 * Errors: a repeated `AWSAccessKeyId`, `Expires` or `Signature` `AuthorizationQueryParametersError`
 * (400); a missing parameter `AccessDenied` ("Query-string authentication requires the
 * Signature, Expires and AWSAccessKeyId parameters"), an `Expires` that is not a number
 * `AccessDenied` ("Invalid date (should be seconds since epoch): …"), an expired URL
 * `AccessDenied` "Request has expired" with `Expires` and `ServerTime`; an aws-chunked payload
 * `InvalidRequest`.
 */
export function parseSigV2Query(request: SigV4Request, now: number, options: SigV2Options = {}): ParsedSigV2Auth {
  // A repeated parameter is ambiguous (the first value would be read, and `Signature` is not
  // signed, so a second one could be appended to a valid URL unnoticed): refused whatever its order.
  const names = queryPairs(request.query).map((p) => p.name).filter((name) => PRESIGN_NAMES.has(name));
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) {
    throw new S3Error('AuthorizationQueryParametersError', `${repeated} must not be repeated in the query string.`);
  }
  const params = presignParams(request.query);
  const accessKeyId = params.get('AWSAccessKeyId');
  const expires = params.get('Expires');
  const signature = params.get('Signature');
  if (accessKeyId === undefined || accessKeyId === '' || expires === undefined || signature === undefined || signature === '') {
    throw new S3Error('AccessDenied', 'Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters');
  }
  if (!/^\d{1,12}$/.test(expires)) throw new S3Error('AccessDenied', `Invalid date (should be seconds since epoch): ${expires}`);
  const expiresAt = Number(expires) * 1000;
  if (now > expiresAt) {
    throw new S3Error('AccessDenied', 'Request has expired', {
      fields: { Expires: new Date(expiresAt).toISOString(), ServerTime: new Date(now).toISOString() },
    });
  }
  const payload = unsignedPayload(request.headers);
  const fixed = positional(request);
  const amzHeaders = canonicalizedAmzHeaders(request.headers);
  const [resource, ...otherResources] = candidateResources(request.path, request.query, options.virtualHostedBucket);
  const stringToSign = sigV2StringToSign({ ...fixed, date: expires, amzHeaders, resource: resource! });
  const alternatives = otherResources.map((r) => sigV2StringToSign({ ...fixed, date: expires, amzHeaders, resource: r }));
  return { scheme: SIGV2_SCHEME, kind: 'presigned', accessKeyId, signature, stringToSign, alternativeStringsToSign: alternatives, expiresAt, payload };
}

/**
 * Checks a parsed SigV2 request with the user's secret key (constant-time comparison). Throws
 * `SignatureDoesNotMatch` with `AWSAccessKeyId`, `StringToSign`, `SignatureProvided` and
 * `StringToSignBytes`, as S3 answers, when no string to sign matches.
 */
export function verifySigV2(parsed: ParsedSigV2Auth, secretKey: string): VerifiedSigV2Auth {
  for (const stringToSign of [parsed.stringToSign, ...parsed.alternativeStringsToSign]) {
    if (signaturesEqual(signV2(secretKey, stringToSign), parsed.signature)) {
      return { scheme: SIGV2_SCHEME, kind: parsed.kind, accessKeyId: parsed.accessKeyId, payload: parsed.payload };
    }
  }
  throw signatureMismatch(parsed.accessKeyId, parsed.stringToSign, parsed.signature);
}

// ---------------------------------------------------------------------------------------------
// POST forms

/** The signing fields of a SigV2 form: `AWSAccessKeyId` and `signature` (names case-insensitive). */
export interface PostSignatureV2 {
  accessKeyId: string;
  signature: string;
}

/** True when a form's fields (lower-case names) are signed with SigV2: `AWSAccessKeyId` and no `x-amz-algorithm`. */
export function isSigV2PostForm(fields: ReadonlyMap<string, string>): boolean {
  return fields.has('awsaccesskeyid') && !fields.has('x-amz-algorithm');
}

/**
 * Reads the signing fields of a SigV2 form that carries a policy. A missing `signature` is
 * `InvalidArgument` naming it, as for any missing form field.
 */
export function parsePostSignatureV2(fields: ReadonlyMap<string, string>): PostSignatureV2 {
  const accessKeyId = fields.get('awsaccesskeyid') ?? '';
  const signature = fields.get('signature');
  for (const [name, value] of [['AWSAccessKeyId', accessKeyId], ['signature', signature]] as const) {
    if (value === undefined || value === '') {
      throw new S3Error('InvalidArgument', `Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`, {
        fields: { ArgumentName: name },
      });
    }
  }
  return { accessKeyId, signature: signature! };
}

/**
 * Checks a SigV2 form's signature: `Base64(HMAC-SHA1(secret, policy))` over the Base64 policy
 * exactly as sent; `SignatureDoesNotMatch` (with the policy as `StringToSign`) otherwise.
 */
export function verifyPostSignatureV2(policyBase64: string, signing: PostSignatureV2, secretKey: string): void {
  if (signaturesEqual(signV2(secretKey, policyBase64), signing.signature)) return;
  throw new S3Error('SignatureDoesNotMatch', undefined, {
    fields: { AWSAccessKeyId: signing.accessKeyId, StringToSign: policyBase64, SignatureProvided: signing.signature },
  });
}
