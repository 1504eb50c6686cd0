/**
 * Request helpers of the S3 API: bucket-name and key validation, path-style / virtual-hosted
 * addressing, `x-amz-copy-source`, response header overrides, user metadata, canned ACLs,
 * storage class, body length and the `x-amz-tagging` header.
 *
 * Ranges, conditional requests and HTTP dates live in `range.ts`, `conditions.ts` and
 * `http-date.ts`; they are re-exported here so the whole request surface has one entry point.
 */
import { S3Error } from './errors.ts';
import { getHeader, type HeaderMap } from './headers.ts';
import { formDecode, percentDecode } from './uri.ts';
import { validateTagSet, type Tag } from './xml.ts';

export { contentRange, parseCopySourceRange, parseRange, rangeLength, type ByteRange } from './range.ts';
export {
  etagMatches,
  evaluateConditions,
  evaluateCopySourceConditions,
  evaluateWriteConditions,
  rangeApplies,
  type ConditionOptions,
  type ObjectValidators,
} from './conditions.ts';
export { formatHttpDate, parseHttpDate } from './http-date.ts';

// ---------------------------------------------------------------------------------------------
// Bucket names and keys

const BUCKET_CHARS = /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/;
const IP_ADDRESS = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/**
 * Why `name` is not a valid general-purpose bucket name, or `undefined` if it is. Rules (AWS
 * "General purpose bucket naming rules"): 3–63 characters; lower-case letters, digits, dots and
 * hyphens; starts and ends with a letter or digit; no `..`; no label starting or ending with a
 * hyphen (`.-`, `-.`); not an IPv4 address; not starting with `xn--`, `sthree-` or
 * `amzn-s3-demo-`; not ending with `-s3alias`, `--ol-s3`, `.mrap`, `--x-s3` or `--table-s3`.
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'Bucket name must be between 3 and 63 characters long';
  if (!BUCKET_CHARS.test(name)) {
    return 'Bucket name can contain only lowercase letters, numbers, dots and hyphens, and must begin and end with a letter or number';
  }
  if (name.includes('..')) return 'Bucket name must not contain two adjacent periods';
  if (name.includes('.-') || name.includes('-.')) return 'Bucket name must not contain a period next to a hyphen';
  if (IP_ADDRESS.test(name)) return 'Bucket name must not be formatted as an IP address';
  if (RESERVED_PREFIXES.some((p) => name.startsWith(p))) return 'Bucket name must not start with a reserved prefix';
  if (RESERVED_SUFFIXES.some((s) => name.endsWith(s))) return 'Bucket name must not end with a reserved suffix';
  return undefined;
}

/** True when `name` is a valid general-purpose bucket name. */
export function isValidBucketName(name: string): boolean {
  return bucketNameProblem(name) === undefined;
}

/** Throws `InvalidBucketName` (with `BucketName`) unless `name` is valid. */
export function validateBucketName(name: string): void {
  if (bucketNameProblem(name) !== undefined) {
    throw new S3Error('InvalidBucketName', undefined, { fields: { BucketName: name } });
  }
}

/** An AWS region name (`us-west-2`, `eu-central-1`, `us-gov-west-1`, `ap-southeast-5`, …). */
const REGION_NAME = /^[a-z]{2}(?:-[a-z]+)?-(?:north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2}$/;

/**
 * Throws `InvalidLocationConstraint` unless `constraint`, a CreateBucket LocationConstraint, is
 * one S3 accepts: a region name other than us-east-1 (which S3 wants left out), or the legacy
 * `EU`. `ownRegion`, the endpoint's configured region, is always accepted (a custom one too,
 * since clients configured for it send it), except us-east-1.
 */
export function validateLocationConstraint(constraint: string, ownRegion: string): void {
  if (constraint === 'us-east-1' || !(constraint === ownRegion || constraint === 'EU' || REGION_NAME.test(constraint))) {
    throw new S3Error('InvalidLocationConstraint', undefined, { fields: { LocationConstraint: constraint } });
  }
}

/** Longest object key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/** Throws `KeyTooLongError` when `key` is longer than 1024 bytes of UTF-8. */
export function validateObjectKey(key: string): void {
  const size = Buffer.byteLength(key, 'utf8');
  if (size > MAX_KEY_BYTES) {
    throw new S3Error('KeyTooLongError', undefined, { fields: { Size: size, MaxSizeAllowed: MAX_KEY_BYTES } });
  }
}

// ---------------------------------------------------------------------------------------------
// Addressing

/** Where a request points: no bucket (service), a bucket, or an object. */
export interface ResolvedAddress {
  style: 'path' | 'virtual-hosted';
  bucket?: string;
  /** The decoded object key; absent for bucket and service requests. */
  key?: string;
}

/** Options of {@link resolveAddress}. */
export interface AddressingOptions {
  /**
   * Host names that serve the S3 API (e.g. `s3.localhost`, `localhost`, `s3.example.com`): a
   * request to `<bucket>.<base>` is virtual-hosted style, one to `<base>` itself path style.
   * Hosts matching none (IP addresses, other names) are read path style.
   */
  baseDomains: readonly string[];
}

/** Host header without port, lower-case; IPv6 brackets kept. */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const close = h.indexOf(']');
    return close < 0 ? h : h.slice(0, close + 1);
  }
  const colon = h.lastIndexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

function decodeOrFail(raw: string): string {
  const decoded = percentDecode(raw);
  if (decoded === undefined) throw new S3Error('InvalidURI');
  return decoded;
}

/**
 * Resolves bucket and key from the `Host` header and the raw request path (percent-encoded, as
 * received; an absolute-form target or a query part is tolerated). The key is percent-decoded
 * (`+` stays a plus sign); `/bucket` and `/bucket/` address the bucket. A malformed escape is
 * `InvalidURI`. The bucket name is not validated here.
 */
export function resolveAddress(host: string | undefined, rawPath: string, options: AddressingOptions): ResolvedAddress {
  let path = rawPath;
  const q = path.indexOf('?');
  if (q >= 0) path = path.slice(0, q);
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(path);
  if (absolute !== null) path = path.slice(absolute[0].length);
  if (!path.startsWith('/')) path = `/${path}`;

  const name = host === undefined ? '' : hostName(host);
  let base: string | undefined;
  for (const candidate of options.baseDomains) {
    const d = candidate.toLowerCase();
    if ((name === d || name.endsWith(`.${d}`)) && (base === undefined || d.length > base.length)) base = d;
  }
  if (base !== undefined && name !== base) {
    const bucket = name.slice(0, name.length - base.length - 1);
    const rest = path.slice(1);
    return rest === '' ? { style: 'virtual-hosted', bucket } : { style: 'virtual-hosted', bucket, key: decodeOrFail(rest) };
  }
  const rest = path.slice(1);
  if (rest === '') return { style: 'path' };
  const slash = rest.indexOf('/');
  const rawBucket = slash < 0 ? rest : rest.slice(0, slash);
  const rawKey = slash < 0 ? '' : rest.slice(slash + 1);
  if (rawBucket === '') throw new S3Error('InvalidURI');
  const bucket = decodeOrFail(rawBucket);
  return rawKey === '' ? { style: 'path', bucket } : { style: 'path', bucket, key: decodeOrFail(rawKey) };
}

// ---------------------------------------------------------------------------------------------
// Copy source

/** The source of CopyObject / UploadPartCopy. */
export interface CopySource {
  bucket: string;
  key: string;
  versionId?: string;
}

function copySourceError(message: string, value: string): S3Error {
  return new S3Error('InvalidArgument', message, { fields: { ArgumentName: 'x-amz-copy-source', ArgumentValue: value } });
}

/**
 * Parses `x-amz-copy-source`: `[/]bucket/key[?versionId=id]`, URL-encoded (a `?` inside the key
 * is `%3F`). Missing bucket or key, or a bad escape, is `InvalidArgument`.
 */
export function parseCopySource(value: string): CopySource {
  const raw = value.trim();
  const q = raw.indexOf('?');
  const pathPart = (q < 0 ? raw : raw.slice(0, q)).replace(/^\//, '');
  const decoded = percentDecode(pathPart);
  if (decoded === undefined) throw copySourceError('Invalid copy source encoding', value);
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) {
    throw copySourceError('Copy Source must mention the source bucket and key: sourcebucket/sourcekey', value);
  }
  const source: CopySource = { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
  if (q >= 0) {
    for (const pair of raw.slice(q + 1).split('&')) {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      if (name !== 'versionId') continue;
      const version = formDecode(eq < 0 ? '' : pair.slice(eq + 1));
      if (version === undefined || version === '') throw copySourceError('Invalid version id specified', value);
      source.versionId = version;
    }
  }
  return source;
}

// ---------------------------------------------------------------------------------------------
// Response header overrides

/** Query parameters of GetObject / HeadObject that override response headers. */
export const RESPONSE_HEADER_OVERRIDES: Readonly<Record<string, string>> = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
};

/**
 * The response headers a GetObject / HeadObject query overrides (`response-content-type=…` →
 * `content-type`), from decoded query pairs (e.g. a URLSearchParams). AWS honours them only on
 * authenticated requests: on an anonymous one they are `InvalidRequest`.
 */
export function responseHeaderOverrides(query: Iterable<readonly [string, string]>, authenticated: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of query) {
    const header = RESPONSE_HEADER_OVERRIDES[name];
    if (header === undefined) continue;
    if (!authenticated) {
      throw new S3Error('InvalidRequest', 'Request specific response headers cannot be used for anonymous GET requests.');
    }
    out[header] = value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// User metadata

/** Limit on user-defined metadata: 2 KB (names without `x-amz-meta-` plus values, UTF-8). */
export const MAX_USER_METADATA_BYTES = 2048;
const META_PREFIX = 'x-amz-meta-';

/**
 * Collects `x-amz-meta-*` headers into `{ name: value }` (names lower-case, without the
 * prefix). Throws `MetadataTooLarge` when names and values exceed 2 KB of UTF-8.
 */
export function collectUserMetadata(headers: HeaderMap, limitBytes = MAX_USER_METADATA_BYTES): Record<string, string> {
  const out: Record<string, string> = {};
  let size = 0;
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (!lower.startsWith(META_PREFIX) || lower.length === META_PREFIX.length) continue;
    const value = getHeader(headers, name);
    if (value === undefined) continue;
    const short = lower.slice(META_PREFIX.length);
    out[short] = value;
    size += Buffer.byteLength(short, 'utf8') + Buffer.byteLength(value, 'utf8');
  }
  if (size > limitBytes) {
    throw new S3Error('MetadataTooLarge', undefined, { fields: { Size: size, MaxSizeAllowed: limitBytes } });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Canned ACLs

/** The canned ACLs of S3. */
export const CANNED_ACLS = [
  'private',
  'public-read',
  'public-read-write',
  'authenticated-read',
  'aws-exec-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
  'log-delivery-write',
] as const;
/** A canned ACL name. */
export type CannedAcl = (typeof CANNED_ACLS)[number];

/** Canned ACLs supported unless told otherwise (the bucket-owner ones mean private here). */
export const DEFAULT_SUPPORTED_ACLS: readonly CannedAcl[] = [
  'private',
  'public-read',
  'public-read-write',
  'authenticated-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
];

const GRANT_HEADERS = ['x-amz-grant-read', 'x-amz-grant-write', 'x-amz-grant-read-acp', 'x-amz-grant-write-acp', 'x-amz-grant-full-control'];

/** True when the request carries any `x-amz-grant-*` header. */
export function hasGrantHeaders(headers: HeaderMap): boolean {
  return GRANT_HEADERS.some((h) => headers[h] !== undefined);
}

/**
 * Reads `x-amz-acl`: `undefined` when absent; an unknown value is `InvalidArgument`; a known but
 * unsupported one is `NotImplemented`; a canned ACL together with `x-amz-grant-*` headers is
 * `InvalidRequest`, as AWS answers.
 */
export function parseCannedAcl(headers: HeaderMap, supported: readonly CannedAcl[] = DEFAULT_SUPPORTED_ACLS): CannedAcl | undefined {
  const value = getHeader(headers, 'x-amz-acl')?.trim();
  if (value === undefined) return undefined;
  if (!(CANNED_ACLS as readonly string[]).includes(value)) {
    throw new S3Error('InvalidArgument', undefined, { fields: { ArgumentName: 'x-amz-acl', ArgumentValue: value } });
  }
  if (hasGrantHeaders(headers)) {
    throw new S3Error('InvalidRequest', 'Specifying both Canned ACLs and Header Grants is not allowed');
  }
  const acl = value as CannedAcl;
  if (!supported.includes(acl)) throw new S3Error('NotImplemented', undefined, { fields: { Header: 'x-amz-acl' } });
  return acl;
}

// ---------------------------------------------------------------------------------------------
// Storage class, lengths, part numbers, tagging

/** Storage classes S3 accepts in `x-amz-storage-class`. */
export const STORAGE_CLASSES = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'DEEP_ARCHIVE',
  'OUTPOSTS',
  'GLACIER_IR',
  'SNOW',
  'EXPRESS_ONEZONE',
] as const;
/** A storage class. */
export type StorageClass = (typeof STORAGE_CLASSES)[number];

/** Reads `x-amz-storage-class` (default STANDARD); an unknown value is `InvalidStorageClass`. */
export function parseStorageClass(headers: HeaderMap): StorageClass {
  const value = getHeader(headers, 'x-amz-storage-class')?.trim();
  if (value === undefined || value === '') return 'STANDARD';
  if (!(STORAGE_CLASSES as readonly string[]).includes(value)) {
    throw new S3Error('InvalidStorageClass', undefined, { fields: { StorageClassRequested: value } });
  }
  return value as StorageClass;
}

/** Largest single PUT: 5 GiB. */
export const MAX_PUT_OBJECT_BYTES = 5 * 1024 * 1024 * 1024;

/**
 * The size of an upload body: `x-amz-decoded-content-length` for aws-chunked bodies, else
 * `Content-Length`. No length and no chunked transfer is `MissingContentLength` (411); an
 * invalid number is `InvalidArgument`; more than `max` (default 5 GiB) is `EntityTooLarge`.
 * Returns `undefined` for a chunked body of unannounced length.
 */
export function uploadLength(headers: HeaderMap, max = MAX_PUT_OBJECT_BYTES): number | undefined {
  const decoded = getHeader(headers, 'x-amz-decoded-content-length');
  const contentLength = getHeader(headers, 'content-length');
  const value = decoded ?? contentLength;
  if (value === undefined) {
    const te = getHeader(headers, 'transfer-encoding')?.toLowerCase() ?? '';
    if (te.includes('chunked')) return undefined;
    throw new S3Error('MissingContentLength');
  }
  if (!/^\d+$/.test(value.trim())) {
    throw new S3Error('InvalidArgument', undefined, {
      fields: { ArgumentName: decoded !== undefined ? 'x-amz-decoded-content-length' : 'Content-Length', ArgumentValue: value },
    });
  }
  const size = Number(value.trim());
  if (size > max) throw new S3Error('EntityTooLarge', undefined, { fields: { ProposedSize: size, MaxSizeAllowed: max } });
  return size;
}

/** Reads a `partNumber` query value: an integer 1..10000, else `InvalidArgument`. */
export function parsePartNumber(value: string | undefined): number {
  if (value !== undefined && /^\d+$/.test(value)) {
    const n = Number(value);
    if (n >= 1 && n <= 10000) return n;
  }
  throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', {
    fields: { ArgumentName: 'partNumber', ArgumentValue: value ?? '' },
  });
}

/**
 * Requires an integrity header (Content-MD5 or a flexible checksum, in a header or announced
 * trailer), as DeleteObjects and the other "checksum required" operations do; otherwise
 * `InvalidRequest` "Missing required header for this request: Content-MD5".
 */
export function requireIntegrityHeader(headers: HeaderMap): void {
  if (headers['content-md5'] !== undefined || headers['x-amz-trailer'] !== undefined) return;
  if (Object.keys(headers).some((name) => name.startsWith('x-amz-checksum-') && name !== 'x-amz-checksum-type' && name !== 'x-amz-checksum-algorithm')) return;
  throw new S3Error('InvalidRequest', 'Missing required header for this request: Content-MD5');
}

/**
 * Parses `x-amz-tagging` (URL query form `k1=v1&k2=v2`) into tags validated as S3 does
 * (`InvalidTag`); a bad escape or a repeated key is `InvalidArgument` / `InvalidTag`.
 */
export function parseTaggingHeader(value: string | undefined, maxTags = 10): Tag[] {
  if (value === undefined || value.trim() === '') return [];
  const tags: Tag[] = [];
  for (const pair of value.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = formDecode(eq < 0 ? pair : pair.slice(0, eq));
    const tagValue = formDecode(eq < 0 ? '' : pair.slice(eq + 1));
    if (key === undefined || tagValue === undefined) {
      throw new S3Error('InvalidArgument', 'The header \'x-amz-tagging\' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.', {
        fields: { ArgumentName: 'x-amz-tagging', ArgumentValue: value },
      });
    }
    tags.push({ key, value: tagValue });
  }
  validateTagSet(tags, maxTags);
  return tags;
}

/**
 * Reads `x-amz-tagging-directive` (CopyObject): `COPY` (the default: the copy takes the source's
 * tags) or `REPLACE` (it takes the request's `x-amz-tagging`); anything else is `InvalidArgument`.
 */
export function parseTaggingDirective(headers: HeaderMap): 'COPY' | 'REPLACE' {
  const value = getHeader(headers, 'x-amz-tagging-directive');
  if (value === undefined) return 'COPY';
  const directive = value.trim().toUpperCase();
  if (directive === 'COPY' || directive === 'REPLACE') return directive;
  throw new S3Error('InvalidArgument', 'Unknown tagging directive.', { fields: { ArgumentName: 'x-amz-tagging-directive', ArgumentValue: value } });
}
