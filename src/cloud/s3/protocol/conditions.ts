/**
 * Conditional requests as S3 evaluates them (RFC 9110 §13.2.2 order, which yields the
 * precedence rules of the S3 API reference):
 *
 * 1. `If-Match` — false → 412. When present (and true), `If-Unmodified-Since` is ignored, so
 *    If-Match true + If-Unmodified-Since false → 200.
 * 2. otherwise `If-Unmodified-Since` — modified after the date → 412.
 * 3. `If-None-Match` — matches → 304 for GET/HEAD, 412 otherwise. When present (and not
 *    matching), `If-Modified-Since` is ignored; If-None-Match false + If-Modified-Since true →
 *    304.
 * 4. otherwise `If-Modified-Since` (GET/HEAD only) — not modified since the date → 304.
 *
 * Dates compare at one-second resolution (Last-Modified is sent in whole seconds); an invalid
 * date makes its header ignored. ETags compare without quotes or `W/`; `*` matches any existing
 * object. Also: the `x-amz-copy-source-if-*` conditions of CopyObject / UploadPartCopy (every
 * failure is 412) and the `If-None-Match: *` / `If-Match` conditions of conditional writes.
 */
import { S3Error } from './errors.ts';
import { getHeader, type HeaderMap } from './headers.ts';
import { formatHttpDate, parseHttpDate } from './http-date.ts';

/** What conditions are evaluated against: an existing object's validators. */
export interface ObjectValidators {
  /** ETag, quoted or not. */
  etag: string;
  /** Last-Modified in ms since the epoch. */
  lastModified: number;
}

function bareEtag(value: string): string {
  let t = value.trim();
  if (t.startsWith('W/')) t = t.slice(2);
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) t = t.slice(1, -1);
  return t;
}

/**
 * True when an `If-Match` / `If-None-Match` list matches `etag`: `*`, or any listed tag equal to
 * it (quotes and weakness ignored).
 */
export function etagMatches(list: string, etag: string): boolean {
  const target = bareEtag(etag);
  for (const item of list.split(',')) {
    const candidate = item.trim();
    if (candidate === '') continue;
    if (candidate === '*') return true;
    if (bareEtag(candidate) === target) return true;
  }
  return false;
}

const seconds = (ms: number): number => Math.floor(ms / 1000);

function preconditionFailed(condition: string): S3Error {
  return new S3Error('PreconditionFailed', undefined, { fields: { Condition: condition } });
}

function notModified(object: ObjectValidators): S3Error {
  const etag = object.etag.startsWith('"') ? object.etag : `"${object.etag}"`;
  return new S3Error('NotModified', undefined, {
    headers: { etag, 'last-modified': formatHttpDate(object.lastModified) },
  });
}

/**
 * Whether a read's `Range` applies under its `If-Range` (RFC 9110, 13.1.5): always without one;
 * with an entity tag, only when it is the object's, compared strongly (a weak tag never matches);
 * with a date, only when it is exactly the object's Last-Modified (in seconds). Otherwise the whole
 * object is sent (200), not the range. S3's reference does not document If-Range.
 */
export function rangeApplies(headers: HeaderMap, object: ObjectValidators): boolean {
  const value = getHeader(headers, 'if-range')?.trim();
  if (value === undefined) return true;
  if (value.startsWith('"') || value.startsWith('W/')) return !value.startsWith('W/') && bareEtag(value) === bareEtag(object.etag);
  const date = parseHttpDate(value);
  return date !== undefined && seconds(date) === seconds(object.lastModified);
}

/** Options of {@link evaluateConditions}. */
export interface ConditionOptions {
  /** Request method; 304 answers apply to GET and HEAD only. Default GET. */
  method?: string;
  /** Server time: an `If-Modified-Since` later than this is ignored (RFC 9110). */
  now?: number;
}

/**
 * Evaluates `If-Match`, `If-None-Match`, `If-Modified-Since` and `If-Unmodified-Since` of a
 * read (GetObject / HeadObject) against an existing object. Throws `PreconditionFailed` (412,
 * with `<Condition>`) or `NotModified` (304, carrying `ETag` and `Last-Modified` headers).
 */
export function evaluateConditions(headers: HeaderMap, object: ObjectValidators, options: ConditionOptions = {}): void {
  const method = (options.method ?? 'GET').toUpperCase();
  const readOnly = method === 'GET' || method === 'HEAD';
  const lastModified = seconds(object.lastModified);

  const ifMatch = getHeader(headers, 'if-match');
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, object.etag)) throw preconditionFailed('If-Match');
  } else {
    const value = getHeader(headers, 'if-unmodified-since');
    const date = value === undefined ? undefined : parseHttpDate(value);
    if (date !== undefined && lastModified > seconds(date)) throw preconditionFailed('If-Unmodified-Since');
  }

  const ifNoneMatch = getHeader(headers, 'if-none-match');
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, object.etag)) {
      throw readOnly ? notModified(object) : preconditionFailed('If-None-Match');
    }
  } else if (readOnly) {
    const value = getHeader(headers, 'if-modified-since');
    const date = value === undefined ? undefined : parseHttpDate(value);
    if (date !== undefined && (options.now === undefined || date <= options.now) && lastModified <= seconds(date)) {
      throw notModified(object);
    }
  }
}

/**
 * Evaluates the `x-amz-copy-source-if-match`, `-if-none-match`, `-if-unmodified-since` and
 * `-if-modified-since` conditions against the copy source. Same precedence as
 * {@link evaluateConditions} (if-match true + if-unmodified-since false → copy; if-none-match
 * false + if-modified-since true → 412), but every failure is `PreconditionFailed`.
 */
export function evaluateCopySourceConditions(headers: HeaderMap, source: ObjectValidators): void {
  const lastModified = seconds(source.lastModified);
  const ifMatch = getHeader(headers, 'x-amz-copy-source-if-match');
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, source.etag)) throw preconditionFailed('x-amz-copy-source-If-Match');
  } else {
    const value = getHeader(headers, 'x-amz-copy-source-if-unmodified-since');
    const date = value === undefined ? undefined : parseHttpDate(value);
    if (date !== undefined && lastModified > seconds(date)) throw preconditionFailed('x-amz-copy-source-If-Unmodified-Since');
  }
  const ifNoneMatch = getHeader(headers, 'x-amz-copy-source-if-none-match');
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, source.etag)) throw preconditionFailed('x-amz-copy-source-If-None-Match');
  } else {
    const value = getHeader(headers, 'x-amz-copy-source-if-modified-since');
    const date = value === undefined ? undefined : parseHttpDate(value);
    if (date !== undefined && lastModified <= seconds(date)) throw preconditionFailed('x-amz-copy-source-If-Modified-Since');
  }
}

/**
 * Conditional writes (PutObject, CompleteMultipartUpload, CopyObject destination):
 * `If-None-Match: *` fails with 412 when the object exists (other values are `NotImplemented`,
 * as AWS only supports `*`); `If-Match` fails with `NoSuchKey` when it does not exist and 412
 * when the ETag differs. `existing` is the current object, if any.
 */
export function evaluateWriteConditions(headers: HeaderMap, existing: ObjectValidators | undefined): void {
  const ifNoneMatch = getHeader(headers, 'if-none-match');
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') {
      throw new S3Error('NotImplemented', undefined, { fields: { Header: 'If-None-Match' } });
    }
    if (existing !== undefined) throw preconditionFailed('If-None-Match');
  }
  const ifMatch = getHeader(headers, 'if-match');
  if (ifMatch !== undefined) {
    if (existing === undefined) throw new S3Error('NoSuchKey');
    if (!etagMatches(ifMatch, existing.etag)) throw preconditionFailed('If-Match');
  }
}
