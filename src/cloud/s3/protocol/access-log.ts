/**
 * Server access logging, the pure part: one log record in S3's documented server access log
 * format (space-separated fields, `-` for absent ones, Request-URI, Referer and User-Agent
 * quoted, the time in brackets), the operation names (`REST.GET.OBJECT`, `REST.PUT.PART`,
 * `WEBSITE.GET.OBJECT`, …) derived from a request's method and resource, those of a copy's
 * source record and of lifecycle actions, the records of lifecycle actions, and the keys of log
 * objects (SimplePrefix and PartitionedPrefix).
 *
 * Fields, in order: bucket owner, bucket, time, remote IP, requester, request ID, operation, key,
 * Request-URI, HTTP status, error code, bytes sent, object size, total time, turn-around time,
 * Referer, User-Agent, version ID, host ID, signature version, cipher suite, authentication type,
 * Host header, TLS version, access point ARN, aclRequired. (S3 may add fields at the end; readers
 * must ignore what follows the fields they know.)
 *
 * Escaping (S3 does not document it; chosen so that a line always splits back into the same
 * fields): in a quoted field `"` and `\` are escaped with a backslash and control characters are
 * written `\xNN`; an unquoted field has spaces, quotes and control characters percent-encoded.
 *
 * Pure: no clock, no I/O.
 */
import { uriEncode } from './uri.ts';

/** One request, as its log record tells it. Absent fields are written `-`. */
export interface AccessLogRecord {
  /** Canonical id of the source bucket's owner. */
  bucketOwner: string;
  bucket: string;
  /** When the request was received (ms since the epoch). */
  time: number;
  remoteIp?: string | undefined;
  /** Canonical id of the requester; absent for an anonymous request. */
  requester?: string | undefined;
  requestId: string;
  operation: string;
  /** The object key, as given (it is URL-encoded when written). */
  key?: string | undefined;
  /** The request line: method, Request-URI as received, protocol (absent: the record has none of its own). */
  requestUri?: string | undefined;
  /** The HTTP status (absent: no HTTP response, as for lifecycle actions). */
  status?: number | undefined;
  errorCode?: string | undefined;
  /** Response body bytes (written `-` when zero). */
  bytesSent: number;
  objectSize?: number | undefined;
  totalTimeMs?: number | undefined;
  turnAroundMs?: number | undefined;
  referer?: string | undefined;
  userAgent?: string | undefined;
  versionId?: string | undefined;
  hostId?: string | undefined;
  signatureVersion?: 'SigV2' | 'SigV4' | undefined;
  cipherSuite?: string | undefined;
  authType?: 'AuthHeader' | 'QueryString' | undefined;
  hostHeader?: string | undefined;
  tlsVersion?: string | undefined;
  accessPointArn?: string | undefined;
  /** Whether an ACL was needed to authorize the request (`Yes`; `-` otherwise). */
  aclRequired?: boolean | undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** A time as the log writes it: `[06/Feb/2019:00:00:38 +0000]` (UTC, strftime `[%d/%b/%Y:%H:%M:%S %z]`). */
export function formatLogTime(ms: number): string {
  const d = new Date(ms);
  return `[${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000]`;
}

function hex2(code: number): string {
  return code.toString(16).toUpperCase().padStart(2, '0');
}

/** An unquoted field: `-` when absent or empty; spaces, double quotes and control characters percent-encoded. */
function bare(value: string | number | undefined): string {
  if (value === undefined) return '-';
  const text = String(value);
  if (text === '') return '-';
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0020\u007f"]/g, (c) => `%${hex2(c.charCodeAt(0))}`);
}

/** A quoted field: `"-"` when absent; `"` and `\` backslash-escaped, control characters `\xNN`. */
function quoted(value: string | undefined): string {
  if (value === undefined || value === '') return '"-"';
  // eslint-disable-next-line no-control-regex
  return `"${value.replace(/[\\"\u0000-\u001f\u007f]/g, (c) => (c === '\\' || c === '"' ? `\\${c}` : `\\x${hex2(c.charCodeAt(0))}`))}"`;
}

/** A count: `-` when absent (and, for bytes sent, when zero). */
function count(value: number | undefined, dashIfZero = false): string {
  if (value === undefined || !Number.isFinite(value) || (dashIfZero && value === 0)) return '-';
  return String(Math.max(0, Math.round(value)));
}

/** A key as the log writes it: URL-encoded, slashes kept (`-` for none). */
export function logKeyField(key: string | undefined): string {
  return key === undefined || key === '' ? '-' : uriEncode(key, false);
}

/** One log record as a line (without the newline). */
export function formatAccessLogRecord(r: AccessLogRecord): string {
  return [
    bare(r.bucketOwner),
    bare(r.bucket),
    formatLogTime(r.time),
    bare(r.remoteIp),
    bare(r.requester),
    bare(r.requestId),
    bare(r.operation),
    logKeyField(r.key),
    quoted(r.requestUri),
    count(r.status),
    bare(r.errorCode),
    count(r.bytesSent, true),
    count(r.objectSize),
    count(r.totalTimeMs),
    count(r.turnAroundMs),
    quoted(r.referer),
    quoted(r.userAgent),
    bare(r.versionId),
    bare(r.hostId),
    bare(r.signatureVersion),
    bare(r.cipherSuite),
    bare(r.authType),
    bare(r.hostHeader),
    bare(r.tlsVersion),
    bare(r.accessPointArn),
    r.aclRequired ? 'Yes' : '-',
  ].join(' ');
}

/**
 * Splits a log line into its fields: a bracketed time and quoted fields are one field each
 * (quotes and brackets removed, backslash escapes undone); other fields end at a space. What
 * readers of the format do; the tests read delivered logs with it.
 */
export function parseAccessLogLine(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ') {
      i++;
      continue;
    }
    if (line[i] === '"') {
      let out = '';
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && line[i + 1] === 'x') {
          out += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
          i += 4;
        } else if (line[i] === '\\') {
          out += line[i + 1] ?? '';
          i += 2;
        } else out += line[i++];
      }
      fields.push(out);
      i++;
    } else if (line[i] === '[') {
      const end = line.indexOf(']', i);
      fields.push(line.slice(i + 1, end < 0 ? line.length : end));
      i = end < 0 ? line.length : end + 1;
    } else {
      const end = line.indexOf(' ', i);
      fields.push(line.slice(i, end < 0 ? line.length : end));
      i = end < 0 ? line.length : end;
    }
  }
  return fields;
}

/** The names of the fields, in order ({@link parseAccessLogLine}'s output). */
export const ACCESS_LOG_FIELDS = [
  'bucketOwner',
  'bucket',
  'time',
  'remoteIp',
  'requester',
  'requestId',
  'operation',
  'key',
  'requestUri',
  'status',
  'errorCode',
  'bytesSent',
  'objectSize',
  'totalTime',
  'turnAroundTime',
  'referer',
  'userAgent',
  'versionId',
  'hostId',
  'signatureVersion',
  'cipherSuite',
  'authType',
  'hostHeader',
  'tlsVersion',
  'accessPointArn',
  'aclRequired',
] as const;

/** Resource types of bucket sub-resources in operation names, by query parameter. */
const BUCKET_SUBRESOURCES: readonly (readonly [string, string])[] = [
  ['acl', 'ACL'],
  ['policyStatus', 'BUCKETPOLICYSTATUS'],
  ['policy', 'BUCKETPOLICY'],
  ['logging', 'LOGGING_STATUS'],
  ['versioning', 'VERSIONING'],
  ['versions', 'BUCKETVERSIONS'],
  ['lifecycle', 'LIFECYCLE'],
  ['cors', 'CORS'],
  ['tagging', 'TAGGING'],
  ['website', 'WEBSITE'],
  ['location', 'LOCATION'],
  ['uploads', 'UPLOADS'],
  ['encryption', 'ENCRYPTION'],
  ['object-lock', 'OBJECT_LOCK_CONFIGURATION'],
  ['publicAccessBlock', 'PUBLIC_ACCESS_BLOCK'],
  ['ownershipControls', 'OWNERSHIP_CONTROLS'],
  ['notification', 'NOTIFICATION'],
  ['replication', 'REPLICATION'],
  ['accelerate', 'ACCELERATE'],
  ['requestPayment', 'REQUEST_PAYMENT'],
  ['analytics', 'ANALYTICS'],
  ['metrics', 'METRICS'],
  ['inventory', 'INVENTORY'],
  ['intelligent-tiering', 'INTELLIGENT_TIERING'],
  ['delete', 'MULTI_OBJECT_DELETE'],
];

/** Resource types of object sub-resources, by query parameter. */
const OBJECT_SUBRESOURCES: readonly (readonly [string, string])[] = [
  ['acl', 'ACL'],
  ['tagging', 'OBJECT_TAGGING'],
  ['retention', 'RETENTION'],
  ['legal-hold', 'LEGAL_HOLD'],
  ['attributes', 'OBJECT_ATTRIBUTES'],
];

/** What names a request's operation in the log. */
export interface OperationRequest {
  method: string;
  /** Whether the request addresses an object (a key), not the bucket. */
  hasKey: boolean;
  query: URLSearchParams;
  /** Whether it carries `x-amz-copy-source` (CopyObject, UploadPartCopy). */
  copy?: boolean;
  /** A request to the static website endpoint. */
  website?: boolean;
}

/**
 * The operation field of a request, as S3 names it: `REST.<method>.<resource type>` (`OBJECT`,
 * `BUCKET`, `ACL`, `UPLOADS`, `PART`, `UPLOAD`, `LOGGING_STATUS`, …), `REST.COPY.OBJECT` /
 * `REST.COPY.PART` for copies, `WEBSITE.<method>.OBJECT` on the website endpoint.
 */
export function operationName(r: OperationRequest): string {
  const method = r.method.toUpperCase();
  if (r.website) return `WEBSITE.${method}.OBJECT`;
  if (method === 'OPTIONS') return 'REST.OPTIONS.PREFLIGHT';
  const q = r.query;
  if (!r.hasKey) {
    for (const [param, type] of BUCKET_SUBRESOURCES) if (q.has(param)) return `REST.${method}.${type}`;
    return `REST.${method}.BUCKET`;
  }
  if (q.has('uploadId')) {
    if (method === 'PUT') return r.copy ? 'REST.COPY.PART' : 'REST.PUT.PART';
    return `REST.${method}.UPLOAD`;
  }
  if (method === 'POST' && q.has('uploads')) return 'REST.POST.UPLOADS';
  for (const [param, type] of OBJECT_SUBRESOURCES) if (q.has(param)) return `REST.${method}.${type}`;
  if (method === 'PUT' && r.copy) return 'REST.COPY.OBJECT';
  return `REST.${method}.OBJECT`;
}

/**
 * The operation of the record a copy makes in its source bucket's log: `REST.COPY.OBJECT_GET`
 * for CopyObject (S3's documented name), `REST.COPY.PART_GET` for UploadPartCopy; undefined for
 * any other operation.
 */
export function copySourceOperation(operation: string): string | undefined {
  if (operation === 'REST.COPY.OBJECT') return 'REST.COPY.OBJECT_GET';
  if (operation === 'REST.COPY.PART') return 'REST.COPY.PART_GET';
  return undefined;
}

/** The operations of lifecycle actions, as S3's "Lifecycle and logging" names them (transitions are not done here). */
export const LIFECYCLE_OPERATIONS = {
  /** An object or a version removed for good (Expiration, NoncurrentVersionExpiration, ExpiredObjectDeleteMarker). */
  expire: 'S3.EXPIRE.OBJECT',
  /** A delete marker written over the current version in a versioned bucket (Expiration). */
  deleteMarker: 'S3.CREATE.DELETEMARKER',
  /** An incomplete multipart upload aborted (AbortIncompleteMultipartUpload). */
  abortUpload: 'S3.DELETE.UPLOAD',
} as const;

/** The requester of lifecycle records: the service itself, as S3's records of its lifecycle actions name it. */
export const LIFECYCLE_REQUESTER = 'AmazonS3';

/** A lifecycle action, as its log record tells it. */
export interface LifecycleAction {
  bucket: string;
  /** One of {@link LIFECYCLE_OPERATIONS}. */
  operation: string;
  key: string;
  /** The version removed, or the delete marker written (absent in a bucket without versioning). */
  versionId?: string | undefined;
  /** The size of the object removed. */
  size?: number | undefined;
  /** When it was done (ms since the epoch). */
  time: number;
  /** Names the action (the field is never empty in S3's records). */
  requestId: string;
}

/**
 * The log record of a lifecycle action (its bucket's owner added by the delivery): requester
 * {@link LIFECYCLE_REQUESTER}; no remote IP, request line, HTTP status, times or signature, since
 * no HTTP request made it.
 */
export function lifecycleRecord(a: LifecycleAction): Omit<AccessLogRecord, 'bucketOwner'> {
  return {
    bucket: a.bucket,
    time: a.time,
    requester: LIFECYCLE_REQUESTER,
    requestId: a.requestId,
    operation: a.operation,
    key: a.key,
    bytesSent: 0,
    objectSize: a.size,
    versionId: a.versionId,
  };
}

/** How log object keys are made. */
export interface LogKeyInput {
  /** TargetPrefix. */
  prefix: string;
  /** PartitionedPrefix; SimplePrefix when false. */
  partitioned: boolean;
  /** The time the key's date comes from (ms): the delivery time, or with PartitionedPrefix EventTime the records' time. */
  time: number;
  /** Unique string (ignored by readers; keeps keys apart). */
  unique: string;
  /** PartitionedPrefix: source account (the owner's canonical id here), region and bucket. */
  sourceAccount?: string;
  sourceRegion?: string;
  sourceBucket?: string;
}

/**
 * The key of a log object: SimplePrefix `[prefix]YYYY-mm-DD-HH-MM-SS-Unique`, PartitionedPrefix
 * `[prefix][account]/[region]/[bucket]/YYYY/MM/DD/YYYY-MM-DD-hh-mm-ss-Unique` (UTC).
 */
export function logObjectKey(k: LogKeyInput): string {
  const d = new Date(k.time);
  const [y, mo, day] = [String(d.getUTCFullYear()), pad(d.getUTCMonth() + 1), pad(d.getUTCDate())];
  const stamp = `${y}-${mo}-${day}-${pad(d.getUTCHours())}-${pad(d.getUTCMinutes())}-${pad(d.getUTCSeconds())}-${k.unique}`;
  if (!k.partitioned) return `${k.prefix}${stamp}`;
  return `${k.prefix}${k.sourceAccount ?? ''}/${k.sourceRegion ?? ''}/${k.sourceBucket ?? ''}/${y}/${mo}/${day}/${stamp}`;
}
