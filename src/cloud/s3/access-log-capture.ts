/**
 * What one request of the S3 endpoint tells its server access log record: the endpoint (http.ts)
 * starts a {@link RequestCapture} when the request arrives and fills in what it learns (the
 * bucket and key, the requester, the error code); the capture watches the response itself (body
 * bytes written, when its first byte went out, when it ended) and, once the response is closed,
 * hands the record of a request that named a bucket to the sink (access-log.ts), which keeps it
 * if that bucket has logging enabled. Requests that never reach a bucket make no record, as in S3.
 * Some requests make more records, as S3's do: a DeleteObjects one per key deleted, a copy one in
 * its source bucket's log for the GET part of the copy.
 *
 * Time comes from the env.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Env } from '../../env/index.ts';
import { normalizeIp } from './protocol/policy-match.ts';
import { copySourceOperation, operationName } from './protocol/access-log.ts';
import type { AccessLogRecord } from './protocol/access-log.ts';
import type { AclUse } from './access.ts';

/** A record before its bucket's owner is known (the sink looks the bucket up). */
export type PendingRecord = Omit<AccessLogRecord, 'bucketOwner'>;

/** Where finished records go: kept if `bucket` logs, dropped otherwise. */
export interface AccessLogSink {
  record(bucket: string, record: PendingRecord): void;
  /**
   * False when `bucket` is known not to log (so the record need not even be built); true when it
   * logs or is not known here. Absent: every record is handed over.
   */
  mayLog?(bucket: string): boolean;
}

/**
 * The source of a CopyObject / UploadPartCopy, which S3 logs as a second record in the source
 * bucket's log (`REST.COPY.OBJECT_GET`, `REST.COPY.PART_GET`): the GET part of the copy.
 */
export interface CopySourceFacts extends AclUse {
  /** The source bucket (it exists: the record goes to its log). */
  bucket: string;
  key: string;
  /** The version the copy source named (`?versionId=`); absent when it named none, as S3 logs it. */
  versionId?: string | undefined;
  /** The source object's size, set once it was found and might be read: the GET part succeeded. */
  size?: number | undefined;
}

/** What the endpoint learns of a request while it serves it. */
export interface RequestFacts extends AclUse {
  /** The bucket the request addressed (none: no record). */
  bucket?: string | undefined;
  key?: string | undefined;
  /** Served by the static website endpoint. */
  website?: boolean;
  /** The authenticated requester's canonical id. */
  requester?: string | undefined;
  /** The S3 error code of a failed request. */
  errorCode?: string | undefined;
  /** Objects a DeleteObjects request deleted: each gets its own `BATCH.DELETE.OBJECT` record, as in S3. */
  batchDeleted?: { key: string; versionId?: string }[];
  /** A copy's source: it gets its own record in the source bucket's log, as in S3. */
  copySource?: CopySourceFacts | undefined;
}

/** Counts the bytes of a written chunk. */
function chunkBytes(chunk: unknown, encoding: unknown): number {
  if (chunk === undefined || chunk === null || typeof chunk === 'function') return 0;
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

function header(headers: OutgoingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : String(v);
}

/** The signature version of a signed request, from how it is signed (`SigV2` / `SigV4`). */
function signatureOf(req: IncomingMessage, query: URLSearchParams): { version: 'SigV2' | 'SigV4'; type: 'AuthHeader' | 'QueryString' } | undefined {
  const auth = req.headers['authorization'];
  if (typeof auth === 'string' && auth.trim() !== '') return { version: /^AWS4-/i.test(auth.trim()) ? 'SigV4' : 'SigV2', type: 'AuthHeader' };
  if (query.has('X-Amz-Signature') || query.has('X-Amz-Algorithm')) return { version: 'SigV4', type: 'QueryString' };
  if (query.has('Signature') && query.has('AWSAccessKeyId')) return { version: 'SigV2', type: 'QueryString' };
  return undefined;
}

/** The access log capture of one request. */
export class RequestCapture {
  /** Filled in by the endpoint as it serves the request. */
  readonly facts: RequestFacts = {};
  private bytes = 0;
  private firstByteAt: number | undefined;
  private bodyEndedAt: number | undefined;
  private readonly sent: OutgoingHttpHeaders = {};

  constructor(
    private readonly env: Env,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly requestId: string,
    private readonly started: number,
    private readonly sink: AccessLogSink,
  ) {
    req.once('end', () => {
      this.bodyEndedAt = this.env.now();
    });
    this.watchResponse();
    res.once('close', () => this.finish());
  }

  /** Wraps the response's writeHead, write and end to see the headers, count body bytes and time the first byte. */
  private watchResponse(): void {
    const res = this.res;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const capture = this;
    const first = (): void => {
      this.firstByteAt ??= this.env.now();
    };
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      first();
      const headers = typeof args[1] === 'object' ? args[1] : typeof args[2] === 'object' ? args[2] : undefined;
      if (headers && !Array.isArray(headers)) for (const [k, v] of Object.entries(headers as OutgoingHttpHeaders)) capture.sent[k.toLowerCase()] = v;
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as typeof res.writeHead;
    const write = res.write;
    res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
      first();
      capture.bytes += chunkBytes(chunk, rest[0]);
      return (write as (...a: unknown[]) => boolean).apply(this, [chunk, ...rest]);
    } as typeof res.write;
    const end = res.end;
    res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
      first();
      capture.bytes += chunkBytes(chunk, rest[0]);
      return (end as (...a: unknown[]) => ServerResponse).apply(this, [chunk, ...rest]);
    } as typeof res.end;
  }

  /** The total size of the object a request read or wrote, when the answer tells it. */
  private objectSize(method: string, op: string): number | undefined {
    const res = this.res;
    const headers = { ...this.sent, ...res.getHeaders() };
    if (res.statusCode >= 300) return undefined;
    if ((method === 'GET' || method === 'HEAD') && op.endsWith('.OBJECT')) {
      const range = /\/(\d+)$/.exec(header(headers, 'content-range') ?? '');
      const size = range ? range[1] : header(headers, 'content-length');
      return size === undefined ? undefined : Number(size);
    }
    if (method === 'PUT' && (op === 'REST.PUT.OBJECT' || op === 'REST.PUT.PART')) {
      const h = this.req.headers;
      const size = h['x-amz-decoded-content-length'] ?? h['content-length'];
      return typeof size === 'string' && /^\d+$/.test(size) ? Number(size) : undefined;
    }
    return undefined;
  }

  private finish(): void {
    const f = this.facts;
    if (f.bucket === undefined) return;
    const source = f.copySource;
    const logs = this.sink.mayLog?.(f.bucket) ?? true;
    const sourceLogs = source !== undefined && (this.sink.mayLog?.(source.bucket) ?? true);
    // Most buckets do not log: their requests cost no record.
    if (!logs && !sourceLogs) return;
    const req = this.req;
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const operation = operationName({ method, hasKey: f.key !== undefined, query, copy: req.headers['x-amz-copy-source'] !== undefined, ...(f.website ? { website: true } : {}) });
    const now = this.env.now();
    const socket = req.socket as Partial<TLSSocket>;
    const tls = socket.encrypted === true;
    const signed = f.requester !== undefined ? signatureOf(req, query) : undefined;
    const header1 = (name: string): string | undefined => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const record: PendingRecord = {
      bucket: f.bucket,
      time: this.started,
      remoteIp: normalizeIp(req.socket.remoteAddress),
      requester: f.requester,
      requestId: this.requestId,
      operation,
      key: f.key,
      requestUri: `${method} ${url} HTTP/${req.httpVersion}`,
      status: this.res.statusCode,
      errorCode: f.errorCode,
      bytesSent: this.bytes,
      objectSize: this.objectSize(method, operation),
      totalTimeMs: now - this.started,
      turnAroundMs: this.firstByteAt === undefined ? undefined : Math.max(0, this.firstByteAt - (this.bodyEndedAt ?? this.started)),
      referer: header1('referer'),
      userAgent: header1('user-agent'),
      versionId: query.get('versionId') ?? undefined,
      hostId: this.requestId,
      signatureVersion: signed?.version,
      cipherSuite: tls ? socket.getCipher?.()?.name : undefined,
      authType: signed?.type,
      hostHeader: header1('host'),
      tlsVersion: tls ? (socket.getProtocol?.() ?? undefined) : undefined,
      aclRequired: f.aclRequired,
    };
    if (logs) {
      this.sink.record(f.bucket, record);
      for (const d of f.batchDeleted ?? []) {
        this.sink.record(f.bucket, { ...record, operation: 'BATCH.DELETE.OBJECT', key: d.key, versionId: d.versionId, status: 204, errorCode: undefined, bytesSent: 0, objectSize: undefined });
      }
    }
    const sourceOperation = copySourceOperation(operation);
    if (source && sourceOperation && sourceLogs) this.sink.record(source.bucket, copySourceRecord(record, sourceOperation, source));
  }
}

/**
 * The record of a copy's GET part, for the source bucket's log: the copy request's record with
 * the source bucket, key and named version, the source object's size, no response bytes (the
 * copy's answer is in its own record), the copy's status and error code when the source could
 * not be read (200 when it could), and whether reading it needed an ACL grant. It has no request
 * line or times of its own: S3 writes `-` there, as it does in these records.
 */
export function copySourceRecord(copy: PendingRecord, operation: string, source: CopySourceFacts): PendingRecord {
  const read = source.size !== undefined;
  return {
    ...copy,
    bucket: source.bucket,
    operation,
    key: source.key,
    versionId: source.versionId,
    status: read ? 200 : copy.status,
    errorCode: read ? undefined : copy.errorCode,
    requestUri: undefined,
    bytesSent: 0,
    objectSize: source.size,
    totalTimeMs: undefined,
    turnAroundMs: undefined,
    aclRequired: source.aclRequired,
  };
}
