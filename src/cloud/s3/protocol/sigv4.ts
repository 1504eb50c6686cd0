/**
 * Server-side verification of AWS Signature Version 4 for S3, in two pure steps so the caller can
 * fetch the secret key asynchronously in between:
 *
 * 1. {@link parseAuth}(request, now) reads the `Authorization` header or the presigned-URL query,
 *    checks its form, the credential scope, the clock skew or expiry and the
 *    `x-amz-content-sha256` value, and builds the canonical request and string to sign. It
 *    returns `{ kind: 'anonymous' }` for an unsigned request.
 * 2. {@link verify}(parsed, secretKey) derives the signing key and checks the signature
 *    (`SignatureDoesNotMatch` otherwise, with the string to sign and canonical request in the
 *    error document as AWS does). Its result seeds the body verification of
 *    `sigv4-payload.ts` / `sigv4-chunked.ts`.
 *
 * Canonicalisation follows the S3 rules: the path is not double-encoded (each segment is decoded
 * and re-encoded with AWS UriEncode, so `%2F` inside a segment is kept), query parameters are
 * decoded, re-encoded and sorted, header values are trimmed with inner runs of spaces collapsed.
 * Time is a parameter: nothing here reads the clock.
 */
import { S3Error } from './errors.ts';
import { getHeader, type HeaderMap } from './headers.ts';
import { formDecode, percentDecode, uriEncode } from './uri.ts';
import {
  SCOPE_TERMINATOR,
  SIGV4_ALGORITHM,
  deriveSigningKey,
  requestStringToSign,
  signHex,
  signaturesEqual,
} from './sigv4-signing.ts';

/** The parts of an HTTP request that SigV4 covers, as the server received them. */
export interface SigV4Request {
  method: string;
  /** The raw path, percent-encoded as received, without the query. */
  path: string;
  /** The raw query string, without `?`. */
  query: string;
  /** Headers by lower-case name (use `headersDistinct` to keep repeated headers apart). */
  headers: HeaderMap;
}

/** Options of {@link parseAuth}. */
export interface SigV4Options {
  /** Largest accepted difference between request time and `now`, in ms. Default 15 minutes. */
  maxSkewMs?: number;
  /**
   * The region this endpoint serves. When set, a credential scope naming another region is
   * refused (`AuthorizationHeaderMalformed` / `AuthorizationQueryParametersError` with `Region`);
   * by default any region is accepted.
   */
  region?: string;
  /** Service name of the scope; default `s3`. */
  service?: string;
}

/** Default allowed clock skew: 15 minutes. */
export const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;
/** Longest validity of a presigned URL: 7 days. */
export const MAX_PRESIGNED_EXPIRES_SECONDS = 604800;

/** The `x-amz-content-sha256` values that announce an aws-chunked body. */
export const STREAMING_PAYLOADS = {
  signed: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  signedTrailer: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  unsignedTrailer: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
} as const;
/** `x-amz-content-sha256` for a body that is not signed. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** How the request body is protected. */
export type PayloadMode =
  /** `UNSIGNED-PAYLOAD` (and presigned URLs without a content hash): no check. */
  | { kind: 'unsigned' }
  /** A hex SHA-256 of the whole body, to be checked as it streams. */
  | { kind: 'sha256'; sha256: string }
  /** An aws-chunked body; `signed` for chunk signatures, `trailer` for trailing headers. */
  | { kind: 'streaming'; signed: boolean; trailer: boolean };

/** A signed request, parsed and canonicalised, awaiting its secret key. */
export interface ParsedAuth {
  /** Authorization header or presigned URL query. */
  kind: 'header' | 'presigned';
  accessKeyId: string;
  /** Scope date, `YYYYMMDD`. */
  date: string;
  region: string;
  service: string;
  /** `date/region/service/aws4_request`. */
  scope: string;
  /** Request timestamp as signed, `YYYYMMDDTHHMMSSZ`. */
  amzDate: string;
  /** Request time in ms since the epoch. */
  requestTime: number;
  /** Signed header names, lower-case, in signing order. */
  signedHeaders: string[];
  /** The signature the client sent. */
  signature: string;
  payload: PayloadMode;
  /** The canonical request (the first interpretation when several are possible). */
  canonicalRequest: string;
  /** The string to sign matching {@link ParsedAuth.canonicalRequest}. */
  stringToSign: string;
  /** Other canonical requests the client may have meant (`+` in the query as a plus sign). */
  alternativeCanonicalRequests: string[];
  /** Presigned URLs: expiry time in ms since the epoch. */
  expiresAt?: number;
  /** `x-amz-security-token`, when present (temporary credentials). */
  securityToken?: string;
}

/** Result of {@link parseAuth}. */
export type AuthResult = ParsedAuth | { kind: 'anonymous' };

/** A request whose signature has been verified: what the body checks need. */
export interface VerifiedAuth {
  /** The signing scheme (set by {@link verify}; SigV2's verified requests say `AWS`, see `sigv2.ts`). */
  scheme?: typeof SIGV4_ALGORITHM;
  kind: 'header' | 'presigned';
  accessKeyId: string;
  /** Signing key of the scope, for chunk and trailer signatures. */
  signingKey: Buffer;
  /** The request's signature: the seed of the chunk-signature chain. */
  seedSignature: string;
  scope: string;
  amzDate: string;
  payload: PayloadMode;
}

// ---------------------------------------------------------------------------------------------
// Time

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** Parses `YYYYMMDDTHHMMSSZ` to ms since the epoch, or `undefined`. */
export function parseAmzDate(value: string): number | undefined {
  const m = AMZ_DATE.exec(value);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(ms);
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || check.getUTCHours() !== h || check.getUTCMinutes() !== mi || check.getUTCSeconds() !== s) {
    return undefined;
  }
  return ms;
}

/** Formats ms since the epoch as `YYYYMMDDTHHMMSSZ`. */
export function formatAmzDate(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

// ---------------------------------------------------------------------------------------------
// Canonicalisation

/**
 * Canonical URI of a raw S3 path: each `/`-separated segment percent-decoded then re-encoded
 * with AWS UriEncode (not double-encoded, no dot-segment removal). Throws `InvalidURI` for a
 * malformed escape.
 */
export function canonicalUri(rawPath: string): string {
  if (rawPath === '') return '/';
  return rawPath
    .split('/')
    .map((segment) => {
      const decoded = percentDecode(segment);
      if (decoded === undefined) throw new S3Error('InvalidURI');
      return uriEncode(decoded);
    })
    .join('/');
}

/**
 * Canonical query string: pairs decoded and re-encoded with AWS UriEncode, sorted by name then
 * value, `X-Amz-Signature` left out when `excludeSignature`. `plusIsSpace` chooses how a raw `+`
 * is read. Throws `InvalidURI` for a malformed escape.
 */
export function canonicalQuery(rawQuery: string, excludeSignature: boolean, plusIsSpace = true): string {
  if (rawQuery === '') return '';
  const pairs: [string, string][] = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    const decode = plusIsSpace ? formDecode : percentDecode;
    const name = decode(rawName);
    const value = decode(rawValue);
    if (name === undefined || value === undefined) throw new S3Error('InvalidURI');
    if (excludeSignature && name.toLowerCase() === 'x-amz-signature') continue;
    pairs.push([uriEncode(name), uriEncode(value)]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

/** Canonical header value: trimmed, inner whitespace runs collapsed to one space. */
function canonicalHeaderValue(value: string): string {
  return value.trim().replace(/\s+/g, ' ');
}

function signedHeaderValue(headers: HeaderMap, name: string): string {
  let value = headers[name];
  if (value === undefined && name === 'host') value = headers[':authority'];
  if (value === undefined) return '';
  if (typeof value === 'string') return canonicalHeaderValue(value);
  return value.map(canonicalHeaderValue).join(',');
}

/** Builds a canonical request. */
export function canonicalRequest(
  method: string,
  uri: string,
  query: string,
  headers: HeaderMap,
  signedHeaders: readonly string[],
  payloadHash: string,
): string {
  let canonicalHeaders = '';
  for (const name of signedHeaders) canonicalHeaders += `${name}:${signedHeaderValue(headers, name)}\n`;
  return `${method.toUpperCase()}\n${uri}\n${query}\n${canonicalHeaders}\n${signedHeaders.join(';')}\n${payloadHash}`;
}

// ---------------------------------------------------------------------------------------------
// Parsing

const CONTENT_SHA256_VALUES =
  'UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER';
const HEX64 = /^[0-9a-fA-F]{64}$/;

/**
 * The payload mode announced by an `x-amz-content-sha256` value. An invalid value is
 * `InvalidArgument` as AWS answers; the SigV4a (ECDSA) streaming values are `NotImplemented`.
 */
export function payloadModeOf(contentSha256: string): PayloadMode {
  switch (contentSha256) {
    case UNSIGNED_PAYLOAD:
      return { kind: 'unsigned' };
    case STREAMING_PAYLOADS.signed:
      return { kind: 'streaming', signed: true, trailer: false };
    case STREAMING_PAYLOADS.signedTrailer:
      return { kind: 'streaming', signed: true, trailer: true };
    case STREAMING_PAYLOADS.unsignedTrailer:
      return { kind: 'streaming', signed: false, trailer: true };
    case 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD':
    case 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER':
      throw new S3Error('NotImplemented', 'Signature Version 4A (ECDSA) streaming payloads are not supported.');
  }
  if (HEX64.test(contentSha256)) return { kind: 'sha256', sha256: contentSha256.toLowerCase() };
  throw new S3Error('InvalidArgument', `x-amz-content-sha256 must be ${CONTENT_SHA256_VALUES} or a valid sha256 value.`, {
    fields: { ArgumentName: 'x-amz-content-sha256', ArgumentValue: contentSha256 },
  });
}

const UNSUPPORTED_MECHANISM = 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.';
const CREDENTIAL_FORM = 'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".';

/** Raises the parse error of the right family for the signing method. */
type Fail = (detail: string, fields?: Record<string, string>) => never;

function headerFail(detail: string, fields?: Record<string, string>): never {
  throw new S3Error('AuthorizationHeaderMalformed', `The authorization header is malformed; ${detail}`, fields === undefined ? {} : { fields });
}

function queryFail(detail: string, fields?: Record<string, string>): never {
  throw new S3Error('AuthorizationQueryParametersError', detail, fields === undefined ? {} : { fields });
}

interface Scope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

function parseCredential(credential: string, fail: Fail, prefix: string, options: SigV4Options): Scope {
  const parts = credential.split('/');
  if (parts.length < 5) fail(`${prefix}${CREDENTIAL_FORM}`);
  const [date, region, service, terminator] = parts.slice(-4) as [string, string, string, string];
  const accessKeyId = parts.slice(0, -4).join('/');
  if (accessKeyId === '' || !/^\d{8}$/.test(date) || region === '') fail(`${prefix}${CREDENTIAL_FORM}`);
  const expectedService = options.service ?? 's3';
  if (service !== expectedService) {
    fail(`${prefix}incorrect service "${service}". This endpoint belongs to "${expectedService}".`);
  }
  if (terminator !== SCOPE_TERMINATOR) {
    fail(`${prefix}incorrect terminal "${terminator}". This endpoint uses "${SCOPE_TERMINATOR}".`);
  }
  if (options.region !== undefined && region !== options.region) {
    fail(`${prefix}the region '${region}' is wrong; expecting '${options.region}'`, { Region: options.region });
  }
  return { accessKeyId, date, region, service };
}

function parseSignedHeaders(value: string, fail: Fail, prefix: string): string[] {
  const names = value.split(';').map((n) => n.trim().toLowerCase());
  if (value.trim() === '' || names.some((n) => n === '')) fail(`${prefix}SignedHeaders is mal-formed.`);
  return names;
}

/** Every `x-amz-*` header present must be signed, and so must `host`. */
function checkUnsignedHeaders(headers: HeaderMap, signed: readonly string[]): void {
  const set = new Set(signed);
  const unsigned: string[] = [];
  if (!set.has('host')) unsigned.push('host');
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-amz-') && headers[name] !== undefined && !set.has(name)) unsigned.push(name);
  }
  if (unsigned.length > 0) {
    throw new S3Error('AccessDenied', 'There were headers present in the request which were not signed', {
      fields: { HeadersNotSigned: unsigned.join(', ') },
    });
  }
}

/** Splits the Authorization header's `k=v, k=v` list. */
function parseAuthorizationParams(rest: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const item of rest.split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) headerFail('the Authorization header components are mal-formed.');
    const name = trimmed.slice(0, eq).trim();
    if (params.has(name)) headerFail(`the ${name} component is repeated.`);
    params.set(name, trimmed.slice(eq + 1).trim());
  }
  return params;
}

/**
 * Query parameters by (decoded) name; first occurrence wins (a presigned URL whose
 * authentication parameters repeat is refused by `parsePresigned`). `X-Amz-*` names are also indexed
 * in their canonical case, as the SDK's presigner hoists headers under lower-case names
 * (`x-amz-content-sha256=UNSIGNED-PAYLOAD`).
 */
function queryParams(rawQuery: string): Map<string, string> {
  const out = new Map<string, string>();
  if (rawQuery === '') return out;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = formDecode(eq < 0 ? part : part.slice(0, eq));
    const value = formDecode(eq < 0 ? '' : part.slice(eq + 1));
    if (name === undefined || value === undefined) throw new S3Error('InvalidURI');
    if (!out.has(name)) out.set(name, value);
    const canonicalName = PRESIGN_PARAMS.get(name.toLowerCase());
    if (canonicalName !== undefined && !out.has(canonicalName)) out.set(canonicalName, value);
  }
  return out;
}

const PRESIGN_PARAMS = new Map(
  [
    'X-Amz-Algorithm',
    'X-Amz-Credential',
    'X-Amz-Signature',
    'X-Amz-Date',
    'X-Amz-SignedHeaders',
    'X-Amz-Expires',
    'X-Amz-Content-Sha256',
    'X-Amz-Security-Token',
  ].map((name) => [name.toLowerCase(), name]),
);

function buildCanonical(
  request: SigV4Request,
  excludeSignature: boolean,
  signedHeaders: readonly string[],
  payloadHash: string,
): { primary: string; alternatives: string[] } {
  const uri = canonicalUri(request.path);
  const primary = canonicalRequest(request.method, uri, canonicalQuery(request.query, excludeSignature, true), request.headers, signedHeaders, payloadHash);
  const alternatives: string[] = [];
  if (request.query.includes('+')) {
    alternatives.push(
      canonicalRequest(request.method, uri, canonicalQuery(request.query, excludeSignature, false), request.headers, signedHeaders, payloadHash),
    );
  }
  return { primary, alternatives };
}

/** `RequestTimeTooSkewed` for a request signed at `requestTime` (as sent), with S3's fields. */
export function clockSkewError(requestTime: string, now: number, maxSkewMs: number): S3Error {
  return new S3Error('RequestTimeTooSkewed', undefined, {
    fields: {
      RequestTime: requestTime,
      ServerTime: new Date(now).toISOString(),
      MaxAllowedSkewMilliseconds: maxSkewMs,
    },
  });
}

function parseHeaderAuth(request: SigV4Request, authorization: string, now: number, options: SigV4Options): ParsedAuth {
  const space = authorization.indexOf(' ');
  const algorithm = space < 0 ? authorization : authorization.slice(0, space);
  if (algorithm !== SIGV4_ALGORITHM) throw new S3Error('InvalidRequest', UNSUPPORTED_MECHANISM);
  const params = parseAuthorizationParams(space < 0 ? '' : authorization.slice(space + 1));
  const credential = params.get('Credential');
  const signedHeadersValue = params.get('SignedHeaders');
  const signature = params.get('Signature');
  if (credential === undefined) headerFail(CREDENTIAL_FORM);
  if (signedHeadersValue === undefined) headerFail('SignedHeaders is missing.');
  if (signature === undefined) headerFail('Signature is missing.');
  const scope = parseCredential(credential, headerFail, '', options);
  const signedHeaders = parseSignedHeaders(signedHeadersValue, headerFail, '');

  // Request time: x-amz-date, else Date.
  const amzDateHeader = getHeader(request.headers, 'x-amz-date');
  let amzDate: string;
  let requestTime: number | undefined;
  if (amzDateHeader !== undefined) {
    amzDate = amzDateHeader.trim();
    requestTime = parseAmzDate(amzDate);
  } else {
    const dateHeader = getHeader(request.headers, 'date');
    const parsed = dateHeader === undefined ? NaN : Date.parse(dateHeader);
    requestTime = Number.isNaN(parsed) ? undefined : parsed;
    amzDate = requestTime === undefined ? '' : formatAmzDate(requestTime);
  }
  if (requestTime === undefined) {
    throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  }
  if (amzDate.slice(0, 8) !== scope.date) {
    headerFail('Invalid credential date. Date is not the same as X-Amz-Date.');
  }
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  if (Math.abs(now - requestTime) > maxSkewMs) throw clockSkewError(amzDate, now, maxSkewMs);

  const contentSha256 = getHeader(request.headers, 'x-amz-content-sha256')?.trim();
  if (contentSha256 === undefined) {
    throw new S3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  }
  const payload = payloadModeOf(contentSha256);
  checkUnsignedHeaders(request.headers, signedHeaders);

  const canonical = buildCanonical(request, false, signedHeaders, contentSha256);
  const scopeString = `${scope.date}/${scope.region}/${scope.service}/${SCOPE_TERMINATOR}`;
  const parsed: ParsedAuth = {
    kind: 'header',
    accessKeyId: scope.accessKeyId,
    date: scope.date,
    region: scope.region,
    service: scope.service,
    scope: scopeString,
    amzDate,
    requestTime,
    signedHeaders,
    signature,
    payload,
    canonicalRequest: canonical.primary,
    stringToSign: requestStringToSign(amzDate, scopeString, canonical.primary),
    alternativeCanonicalRequests: canonical.alternatives,
  };
  const token = getHeader(request.headers, 'x-amz-security-token');
  if (token !== undefined) parsed.securityToken = token;
  return parsed;
}

const PRESIGN_REQUIRED = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires'];

/**
 * The first of `names` (canonical spellings by lower-case name) that a raw query carries more than
 * once, compared by decoded name without regard to case (the canonical query leaves
 * `x-amz-signature` out in any case, and `queryParams` indexes lower-case `x-amz-*` names under
 * their canonical ones); `undefined` when none is repeated.
 */
function repeatedQueryParam(rawQuery: string, names: ReadonlyMap<string, string>): string | undefined {
  const seen = new Set<string>();
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const decoded = formDecode(eq < 0 ? part : part.slice(0, eq));
    if (decoded === undefined) continue; // InvalidURI is raised by the query's own parsing
    const key = decoded.toLowerCase();
    const canonical = names.get(key);
    if (canonical === undefined) continue;
    if (seen.has(key)) return canonical;
    seen.add(key);
  }
  return undefined;
}

function parsePresigned(request: SigV4Request, params: Map<string, string>, now: number, options: SigV4Options): ParsedAuth {
  // A repeated authentication parameter is ambiguous: the first value would be read here while the
  // canonical query signs both (and leaves every X-Amz-Signature out), so an extra value could be
  // appended to a valid URL unnoticed. Refused, whichever value comes first.
  const repeated = repeatedQueryParam(request.query, PRESIGN_PARAMS);
  if (repeated !== undefined) queryFail(`${repeated} must not be repeated in the query string.`);
  if (PRESIGN_REQUIRED.some((name) => !params.has(name))) {
    queryFail(
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  if (params.get('X-Amz-Algorithm') !== SIGV4_ALGORITHM) {
    queryFail('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  }
  const prefix = 'Error parsing the X-Amz-Credential parameter; ';
  const scope = parseCredential(params.get('X-Amz-Credential')!, queryFail, prefix, options);
  const amzDate = params.get('X-Amz-Date')!;
  const requestTime = parseAmzDate(amzDate);
  if (requestTime === undefined) {
    queryFail('X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'"');
  }
  if (amzDate.slice(0, 8) !== scope.date) {
    queryFail(`${prefix}Invalid credential date. Date is not the same as X-Amz-Date.`);
  }
  const expiresText = params.get('X-Amz-Expires')!;
  if (!/^-?\d+$/.test(expiresText)) queryFail('X-Amz-Expires should be a number');
  const expires = Number(expiresText);
  if (expires < 0) queryFail('X-Amz-Expires must be non-negative');
  if (expires > MAX_PRESIGNED_EXPIRES_SECONDS) {
    queryFail('X-Amz-Expires must be less than a week (in seconds) that is; 604800 seconds');
  }
  const signedHeaders = parseSignedHeaders(params.get('X-Amz-SignedHeaders')!, queryFail, 'Error parsing the X-Amz-SignedHeaders parameter; ');
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  if (requestTime - now > maxSkewMs) throw new S3Error('AccessDenied', 'Request is not valid yet');
  const expiresAt = requestTime + expires * 1000;
  if (now > expiresAt) {
    throw new S3Error('AccessDenied', 'Request has expired', {
      fields: {
        'X-Amz-Expires': expiresText,
        Expires: new Date(expiresAt).toISOString(),
        ServerTime: new Date(now).toISOString(),
      },
    });
  }
  checkUnsignedHeaders(request.headers, signedHeaders);

  const contentSha256 = params.get('X-Amz-Content-Sha256') ?? UNSIGNED_PAYLOAD;
  const payload = payloadModeOf(contentSha256);
  if (payload.kind === 'streaming') {
    throw new S3Error('InvalidRequest', 'Presigned requests cannot use a streaming payload.');
  }
  const canonical = buildCanonical(request, true, signedHeaders, contentSha256);
  const scopeString = `${scope.date}/${scope.region}/${scope.service}/${SCOPE_TERMINATOR}`;
  const parsed: ParsedAuth = {
    kind: 'presigned',
    accessKeyId: scope.accessKeyId,
    date: scope.date,
    region: scope.region,
    service: scope.service,
    scope: scopeString,
    amzDate,
    requestTime,
    signedHeaders,
    signature: params.get('X-Amz-Signature')!,
    payload,
    canonicalRequest: canonical.primary,
    stringToSign: requestStringToSign(amzDate, scopeString, canonical.primary),
    alternativeCanonicalRequests: canonical.alternatives,
    expiresAt,
  };
  const token = params.get('X-Amz-Security-Token');
  if (token !== undefined) parsed.securityToken = token;
  return parsed;
}

/** `InvalidArgument` for a request with both an `Authorization` header and query authentication. */
export function multipleAuthMechanisms(authorization: string): S3Error {
  return new S3Error(
    'InvalidArgument',
    'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
    { fields: { ArgumentName: 'Authorization', ArgumentValue: authorization } },
  );
}

/** True when a raw query carries SigV4 query authentication (`X-Amz-Algorithm`, `-Credential` or `-Signature`). */
export function isSigV4Query(rawQuery: string): boolean {
  const params = queryParams(rawQuery);
  return params.has('X-Amz-Algorithm') || params.has('X-Amz-Credential') || params.has('X-Amz-Signature');
}

/**
 * Reads the authentication of a request (header or presigned query), validating everything that
 * does not need the secret key. `now` is the server time in ms since the epoch.
 *
 * Errors, as AWS answers them: a malformed header `AuthorizationHeaderMalformed`, a malformed
 * presigned query (a repeated `X-Amz-*` authentication parameter included)
 * `AuthorizationQueryParametersError`, another signing scheme (SigV2, SigV4a)
 * `InvalidRequest`, both header and query `InvalidArgument`, skew `RequestTimeTooSkewed`, an
 * expired URL `AccessDenied`, unsigned `x-amz-*` headers `AccessDenied`, a missing or invalid
 * `x-amz-content-sha256` `InvalidRequest` / `InvalidArgument`.
 */
export function parseAuth(request: SigV4Request, now: number, options: SigV4Options = {}): AuthResult {
  // An empty Authorization header is no authorization: the request is anonymous (as S3 answers).
  const header = getHeader(request.headers, 'authorization');
  const authorization = header === undefined || header.trim() === '' ? undefined : header;
  const params = queryParams(request.query);
  const presigned = params.has('X-Amz-Algorithm') || params.has('X-Amz-Credential') || params.has('X-Amz-Signature');
  const presignedV2 = params.has('Signature') && params.has('AWSAccessKeyId');
  if (authorization !== undefined && (presigned || presignedV2)) throw multipleAuthMechanisms(authorization);
  if (authorization !== undefined) return parseHeaderAuth(request, authorization.trim(), now, options);
  if (presigned) return parsePresigned(request, params, now, options);
  if (presignedV2) throw new S3Error('InvalidRequest', UNSUPPORTED_MECHANISM);
  return { kind: 'anonymous' };
}

/**
 * `SignatureDoesNotMatch` with the fields S3 gives (the key id, the string to sign as text and as
 * bytes, the signature sent), plus a scheme's own (SigV4's canonical request).
 */
export function signatureMismatch(accessKeyId: string, stringToSign: string, signature: string, extra: Record<string, string> = {}): S3Error {
  return new S3Error('SignatureDoesNotMatch', undefined, {
    fields: { AWSAccessKeyId: accessKeyId, StringToSign: stringToSign, SignatureProvided: signature, StringToSignBytes: hexBytes(stringToSign), ...extra },
  });
}

/** A string's UTF-8 bytes as space-separated hex pairs (the `…Bytes` fields of SignatureDoesNotMatch). */
export function hexBytes(text: string): string {
  return Array.from(Buffer.from(text, 'utf8'), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Checks the signature of a parsed request with the user's secret key. Returns what the body
 * verification needs; throws `SignatureDoesNotMatch` (with `AWSAccessKeyId`, `StringToSign`,
 * `SignatureProvided`, `StringToSignBytes`, `CanonicalRequest`, `CanonicalRequestBytes` as AWS
 * includes them) when it does not match.
 */
export function verify(parsed: ParsedAuth, secretKey: string): VerifiedAuth {
  const signingKey = cachedSigningKey(secretKey, parsed.date, parsed.region, parsed.service);
  const candidates = [parsed.stringToSign, ...parsed.alternativeCanonicalRequests.map((c) => requestStringToSign(parsed.amzDate, parsed.scope, c))];
  for (const stringToSign of candidates) {
    if (signaturesEqual(signHex(signingKey, stringToSign), parsed.signature)) {
      return {
        scheme: SIGV4_ALGORITHM,
        kind: parsed.kind,
        accessKeyId: parsed.accessKeyId,
        signingKey,
        seedSignature: parsed.signature,
        scope: parsed.scope,
        amzDate: parsed.amzDate,
        payload: parsed.payload,
      };
    }
  }
  throw signatureMismatch(parsed.accessKeyId, parsed.stringToSign, parsed.signature, {
    CanonicalRequest: parsed.canonicalRequest,
    CanonicalRequestBytes: hexBytes(parsed.canonicalRequest),
  });
}

/** Signing keys derived lately: a key serves every request of its access key, day and region. */
const signingKeys = new Map<string, Buffer>();
const MAX_SIGNING_KEYS = 1024;

/** {@link deriveSigningKey}, remembered (four HMACs saved per request). */
function cachedSigningKey(secretKey: string, date: string, region: string, service: string): Buffer {
  const id = `${secretKey}\n${date}\n${region}\n${service}`;
  let key = signingKeys.get(id);
  if (key === undefined) {
    if (signingKeys.size >= MAX_SIGNING_KEYS) signingKeys.clear();
    key = deriveSigningKey(secretKey, date, region, service);
    signingKeys.set(id, key);
  }
  return key;
}

/** The error for an access key that has no secret (`InvalidAccessKeyId`, 403). */
export function invalidAccessKeyId(accessKeyId: string): S3Error {
  return new S3Error('InvalidAccessKeyId', undefined, { fields: { AWSAccessKeyId: accessKeyId } });
}
