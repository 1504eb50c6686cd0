/**
 * Listing logic of ListObjects (v1), ListObjectsV2, ListMultipartUploads and ListParts, computed
 * exactly as S3 does over a sorted source that can be resumed from a key, so the server pages
 * through the DHT's sorted partition without reading everything.
 *
 * Semantics (S3):
 * - keys are ordered by their UTF-8 bytes ({@link compareKeys});
 * - only keys starting with `prefix` are listed; with a `delimiter`, a key that contains it after
 *   the prefix is rolled up into the common prefix `key[0 .. end of first delimiter after
 *   prefix]`, which appears once, in key order, and counts toward max-keys like a key;
 * - `marker` / `start-after` / the continuation token are exclusive: only keys after them are
 *   listed, and a common prefix is only returned if it sorts after the marker — so a marker
 *   inside a common prefix (or equal to it, as NextMarker is after a rolled-up page) skips the
 *   whole prefix;
 * - the page is truncated when max-keys items were returned and another would follow; NextMarker
 *   / NextContinuationToken is then the last key or common prefix returned;
 * - max-keys 0 returns an empty, untruncated page.
 */
import { S3Error } from './errors.ts';
import type {
  EncodingType,
  ListMultipartUploadsResult,
  ListObjectsV1Result,
  ListObjectsV2Result,
  ListPartsResult,
  ListVersionsResult,
  ObjectSummary,
  Owner,
  PartSummary,
  UploadSummary,
  VersionSummary,
} from './xml.ts';

// ---------------------------------------------------------------------------------------------
// Ordering

/**
 * Compares two keys in UTF-8 byte order (the order S3 lists in), which is code-point order; it
 * differs from JavaScript's UTF-16 order for characters above U+FFFF versus U+E000–U+FFFF.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Move surrogates (U+D800–U+DFFF) above U+E000–U+FFFF so units compare as code points.
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

// ---------------------------------------------------------------------------------------------
// Sources

/** Where a listing (re)starts reading its source. */
export interface ListFrom {
  /** Only keys starting with this are wanted. */
  prefix: string;
  /** Only keys strictly after this one are wanted. */
  startAfter?: string;
  /** Keys starting with this are not wanted either (a common prefix already returned). */
  skipPrefix?: string;
  /** Only keys at or after this one are wanted (ListObjectVersions resuming inside a key's versions). */
  startAt?: string;
}

/**
 * A sorted source of entries: yields entries in ascending {@link compareKeys} order, starting at
 * the first wanted key of `from`. The hints are for efficiency only: a source may yield earlier
 * or unwanted keys (the listing filters them), but never out of order. The listing stops reading
 * (calling `return()` on the iterator) as soon as the page is complete.
 */
export type KeySource<T extends { key: string }> = (from: ListFrom) => AsyncIterable<T>;

/**
 * The smallest key after every key that starts with `prefix`, in {@link compareKeys} order (its
 * last code point incremented, dropping maximal ones); undefined when there is none.
 */
export function keyAfterPrefix(prefix: string): string | undefined {
  const points = Array.from(prefix);
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) return points.join('') + String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1);
  }
  return undefined;
}

/**
 * Where a sorted store should start reading for `from` (inclusive; the listing filters the keys it
 * does not want): the prefix, the `startAfter` key, or the first key past `skipPrefix` — past every
 * key of a common prefix already returned, so a rolled-up "directory" is skipped by one seek —
 * whichever comes last. Null when nothing can come after the skipped prefix.
 */
export function readStart(from: ListFrom): string | null {
  return startPastSkipped(from.startAfter !== undefined && compareKeys(from.startAfter, from.prefix) > 0 ? from.startAfter : from.prefix, from.skipPrefix);
}

/** `start`, moved past every key that starts with `skipPrefix` (when given and later); null when no key comes after them. */
export function startPastSkipped(start: string, skipPrefix: string | undefined): string | null {
  if (skipPrefix === undefined) return start;
  const past = keyAfterPrefix(skipPrefix);
  if (past === undefined) return null;
  return compareKeys(past, start) > 0 ? past : start;
}

function lowerBound<T>(items: readonly T[], isBefore: (item: T) => boolean): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (isBefore(items[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A {@link KeySource} over an in-memory array (sorted on creation), honouring the hints with
 * binary search. Useful for tests and small collections.
 */
export function arraySource<T extends { key: string }>(entries: Iterable<T>): KeySource<T> & { reads: number; opens: number } {
  const sorted = [...entries].sort((a, b) => compareKeys(a.key, b.key));
  const stats = { reads: 0, opens: 0 };
  async function* read(from: ListFrom): AsyncGenerator<T> {
    stats.opens++;
    let i = lowerBound(sorted, (e) => compareKeys(e.key, from.prefix) < 0);
    if (from.startAfter !== undefined) {
      const after = from.startAfter;
      i = Math.max(i, lowerBound(sorted, (e) => compareKeys(e.key, after) <= 0));
    }
    if (from.skipPrefix !== undefined) {
      const skip = from.skipPrefix;
      i = Math.max(i, lowerBound(sorted, (e) => compareKeys(e.key, skip) < 0 || e.key.startsWith(skip)));
    }
    for (; i < sorted.length; i++) {
      stats.reads++;
      yield sorted[i]!;
    }
  }
  return Object.defineProperties(read, {
    reads: { get: () => stats.reads },
    opens: { get: () => stats.opens },
  }) as unknown as KeySource<T> & { reads: number; opens: number };
}

// ---------------------------------------------------------------------------------------------
// Generic page computation

/** Parameters of one page. */
export interface PageParams {
  prefix: string;
  /** Absent or empty: no grouping. */
  delimiter?: string;
  /** 0 or more. */
  maxKeys: number;
  /** Exclusive start (marker, start-after or the decoded continuation token). */
  marker?: string;
}

/** One page of a listing. */
export interface Page<T> {
  contents: T[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last key or common prefix returned, when truncated. */
  next?: string;
}

/** Options of {@link listPage}. */
export interface PageOptions {
  /**
   * How many keys inside an already-returned common prefix to read before re-opening the source
   * past that prefix (default 32): small rolled-up "directories" are skipped by reading on, big
   * ones by one seek.
   */
  seekAfter?: number;
}

/** The common prefix containing `key` (after `prefix`), if any. */
function commonPrefixOf(key: string, prefix: string, delimiter: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at < 0 ? undefined : key.slice(0, at + delimiter.length);
}

/** Computes one page of a listing over `source`; see the module documentation for the rules. */
export async function listPage<T extends { key: string }>(source: KeySource<T>, params: PageParams, options: PageOptions = {}): Promise<Page<T>> {
  if (params.maxKeys <= 0) return { contents: [], commonPrefixes: [], isTruncated: false };
  const { marker } = params;
  const from: ListFrom = { prefix: params.prefix };
  if (marker !== undefined) from.startAfter = marker;
  const page = await markedPage(source, from, params, (e) => marker === undefined || compareKeys(e.key, marker) > 0, options);
  const out: Page<T> = { contents: page.items, commonPrefixes: page.commonPrefixes, isTruncated: page.isTruncated };
  if (page.last !== undefined) out.next = page.last.key;
  return out;
}

/**
 * One page of a listing in key order (then, for ListMultipartUploads and ListObjectVersions, in a
 * second order within a key): `after` says whether an entry comes after the request's markers (it
 * may keep state: entries arrive in order). Prefix, delimiter and max-keys as the module
 * documentation says; `page.marker` is the key marker, whose common prefix (if any) is not listed
 * again. `last` is the last entry or common prefix returned, when truncated.
 */
async function markedPage<T extends { key: string }, F extends ListFrom>(
  source: (from: F) => AsyncIterable<T>,
  from: F,
  page: PageParams,
  after: (entry: T) => boolean,
  options: PageOptions,
): Promise<{ items: T[]; commonPrefixes: string[]; isTruncated: boolean; last?: { key: string; item?: T } }> {
  const out: { items: T[]; commonPrefixes: string[]; isTruncated: boolean; last?: { key: string; item?: T } } = { items: [], commonPrefixes: [], isTruncated: false };
  const { prefix } = page;
  const delimiter = page.delimiter === '' ? undefined : page.delimiter;
  const seekAfter = options.seekAfter ?? 32;
  // A marker inside (or equal to) a common prefix: that prefix sorts before or at the marker
  // and is not returned again.
  let skip = delimiter !== undefined && page.marker !== undefined ? commonPrefixOf(page.marker, prefix, delimiter) : undefined;
  if (skip !== undefined) from.skipPrefix = skip;
  let iterator = source(from)[Symbol.asyncIterator]();
  let skipped = 0;
  let last: { key: string; item?: T } | undefined;
  try {
    for (;;) {
      const step = await iterator.next();
      if (step.done === true) break;
      const entry = step.value;
      if (!after(entry)) continue;
      if (skip !== undefined && entry.key.startsWith(skip)) {
        // Small rolled-up "directories" are skipped by reading on, big ones by one seek.
        if (++skipped > seekAfter) {
          await iterator.return?.();
          iterator = source({ prefix, startAfter: entry.key, skipPrefix: skip } as F)[Symbol.asyncIterator]();
          skipped = 0;
        }
        continue;
      }
      if (!entry.key.startsWith(prefix)) {
        if (compareKeys(entry.key, prefix) > 0) break;
        continue;
      }
      if (out.items.length + out.commonPrefixes.length === page.maxKeys) {
        out.isTruncated = true;
        break;
      }
      const group = delimiter === undefined ? undefined : commonPrefixOf(entry.key, prefix, delimiter);
      if (group !== undefined) {
        out.commonPrefixes.push(group);
        last = { key: group };
        skip = group;
        skipped = 0;
      } else {
        out.items.push(entry);
        last = { key: entry.key, item: entry };
      }
    }
  } finally {
    await iterator.return?.();
  }
  if (out.isTruncated && last !== undefined) out.last = last;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Query parameters

/** Decoded query parameters (a URLSearchParams fits). */
export interface QueryLike {
  get(name: string): string | null;
  has(name: string): boolean;
}

/** Default and largest page size. */
export const MAX_LIST_KEYS = 1000;
const MAX_INT32 = 2147483647;

/**
 * Reads a page-size parameter (`max-keys`, `max-uploads`, `max-parts`): default 1000, values
 * above 1000 capped; not an integer or out of 0..2147483647 → `InvalidArgument`, as AWS answers.
 */
export function parseMaxParam(query: QueryLike, name: string, argumentName: string): number {
  const value = query.get(name);
  if (value === null) return MAX_LIST_KEYS;
  const text = value.trim();
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Math.abs(Number(text)) > MAX_INT32) {
    throw new S3Error('InvalidArgument', `Provided ${name} not an integer or within integer range`, {
      fields: { ArgumentName: name, ArgumentValue: value },
    });
  }
  const n = Number(text);
  if (n < 0) {
    throw new S3Error('InvalidArgument', `Argument ${argumentName} must be an integer between 0 and ${MAX_INT32}`, {
      fields: { ArgumentName: name, ArgumentValue: value },
    });
  }
  return Math.min(n, MAX_LIST_KEYS);
}

/** Reads `encoding-type`: absent, or `url`; anything else is `InvalidArgument`. */
export function parseEncodingType(query: QueryLike): EncodingType | undefined {
  const value = query.get('encoding-type');
  if (value === null) return undefined;
  if (value.toLowerCase() === 'url') return 'url';
  throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', {
    fields: { ArgumentName: 'encoding-type', ArgumentValue: value },
  });
}

const TOKEN_PREFIX = 'pi1:';

/** Makes an opaque continuation token for resuming after `last` (key or common prefix). */
export function encodeContinuationToken(last: string): string {
  return Buffer.from(TOKEN_PREFIX + last, 'utf8').toString('base64');
}

/** Decodes a continuation token; a token not made here is `InvalidArgument`. */
export function decodeContinuationToken(token: string): string {
  const text = /^[A-Za-z0-9+/]*={0,2}$/.test(token) ? Buffer.from(token, 'base64').toString('utf8') : '';
  if (!text.startsWith(TOKEN_PREFIX) || encodeContinuationToken(text.slice(TOKEN_PREFIX.length)) !== token) {
    throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', {
      fields: { ArgumentName: 'continuation-token', ArgumentValue: token },
    });
  }
  return text.slice(TOKEN_PREFIX.length);
}

// ---------------------------------------------------------------------------------------------
// ListObjects v1 / v2

/** Parsed ListObjects (v1) request. */
export interface ListObjectsV1Params {
  prefix: string;
  delimiter?: string;
  marker: string;
  maxKeys: number;
  encodingType?: EncodingType;
}

/** Reads the ListObjects (v1) query parameters, validating them. */
export function parseListObjectsV1Params(query: QueryLike): ListObjectsV1Params {
  const params: ListObjectsV1Params = {
    prefix: query.get('prefix') ?? '',
    marker: query.get('marker') ?? '',
    maxKeys: parseMaxParam(query, 'max-keys', 'maxKeys'),
  };
  const delimiter = query.get('delimiter');
  if (delimiter !== null && delimiter !== '') params.delimiter = delimiter;
  const encodingType = parseEncodingType(query);
  if (encodingType !== undefined) params.encodingType = encodingType;
  return params;
}

/**
 * Computes a ListObjects (v1) result for bucket `name`. NextMarker is set only when a delimiter
 * was given and the page is truncated (AWS documents it that way; without a delimiter clients
 * continue from the last key). Entries keep their `owner` (v1 always lists owners).
 */
export async function listObjectsV1(
  source: KeySource<ObjectSummary>,
  name: string,
  params: ListObjectsV1Params,
  options: PageOptions = {},
): Promise<ListObjectsV1Result> {
  const page = await listPage(
    source,
    {
      prefix: params.prefix,
      maxKeys: params.maxKeys,
      ...(params.delimiter !== undefined ? { delimiter: params.delimiter } : {}),
      ...(params.marker !== '' ? { marker: params.marker } : {}),
    },
    options,
  );
  const result: ListObjectsV1Result = {
    name,
    prefix: params.prefix,
    marker: params.marker,
    maxKeys: params.maxKeys,
    isTruncated: page.isTruncated,
    contents: page.contents,
    commonPrefixes: page.commonPrefixes,
  };
  if (params.delimiter !== undefined) result.delimiter = params.delimiter;
  if (params.encodingType !== undefined) result.encodingType = params.encodingType;
  if (page.isTruncated && params.delimiter !== undefined && page.next !== undefined) result.nextMarker = page.next;
  return result;
}

/** Parsed ListObjectsV2 request. */
export interface ListObjectsV2Params {
  prefix: string;
  delimiter?: string;
  maxKeys: number;
  encodingType?: EncodingType;
  continuationToken?: string;
  startAfter?: string;
  fetchOwner: boolean;
}

/** Reads the ListObjectsV2 query parameters, validating them (the token is checked on use). */
export function parseListObjectsV2Params(query: QueryLike): ListObjectsV2Params {
  const params: ListObjectsV2Params = {
    prefix: query.get('prefix') ?? '',
    maxKeys: parseMaxParam(query, 'max-keys', 'maxKeys'),
    fetchOwner: query.get('fetch-owner')?.toLowerCase() === 'true',
  };
  const delimiter = query.get('delimiter');
  if (delimiter !== null && delimiter !== '') params.delimiter = delimiter;
  const encodingType = parseEncodingType(query);
  if (encodingType !== undefined) params.encodingType = encodingType;
  const token = query.get('continuation-token');
  if (token !== null) params.continuationToken = token;
  const startAfter = query.get('start-after');
  if (startAfter !== null) params.startAfter = startAfter;
  return params;
}

/**
 * Computes a ListObjectsV2 result for bucket `name`: the continuation token, when given, takes
 * precedence over start-after (which is still echoed); an empty token is echoed and means no
 * token, as S3 answers. Owners are written only with fetch-owner=true.
 */
export async function listObjectsV2(
  source: KeySource<ObjectSummary>,
  name: string,
  params: ListObjectsV2Params,
  options: PageOptions = {},
): Promise<ListObjectsV2Result> {
  let marker: string | undefined;
  if (params.continuationToken !== undefined && params.continuationToken !== '') marker = decodeContinuationToken(params.continuationToken);
  else if (params.startAfter !== undefined && params.startAfter !== '') marker = params.startAfter;
  const page = await listPage(
    source,
    {
      prefix: params.prefix,
      maxKeys: params.maxKeys,
      ...(params.delimiter !== undefined ? { delimiter: params.delimiter } : {}),
      ...(marker !== undefined ? { marker } : {}),
    },
    options,
  );
  const result: ListObjectsV2Result = {
    name,
    prefix: params.prefix,
    maxKeys: params.maxKeys,
    keyCount: page.contents.length + page.commonPrefixes.length,
    isTruncated: page.isTruncated,
    fetchOwner: params.fetchOwner,
    contents: page.contents,
    commonPrefixes: page.commonPrefixes,
  };
  if (params.delimiter !== undefined) result.delimiter = params.delimiter;
  if (params.encodingType !== undefined) result.encodingType = params.encodingType;
  if (params.continuationToken !== undefined) result.continuationToken = params.continuationToken;
  if (params.startAfter !== undefined) result.startAfter = params.startAfter;
  if (page.isTruncated && page.next !== undefined) result.nextContinuationToken = encodeContinuationToken(page.next);
  return result;
}

// ---------------------------------------------------------------------------------------------
// ListMultipartUploads

/** Where an upload listing (re)starts: after the upload (key, uploadId), or after every upload of key. */
export interface UploadListFrom extends ListFrom {
  /** With `startAfter`: resume after this upload of that key (uploads of a key ordered by id). */
  startAfterUploadId?: string;
}

/**
 * A sorted source of in-progress uploads: ascending by key ({@link compareKeys}), then by upload
 * id within a key. Hints as for {@link KeySource}.
 */
export type UploadSource = (from: UploadListFrom) => AsyncIterable<UploadSummary>;

/** Parsed ListMultipartUploads request. */
export interface ListUploadsParams {
  prefix: string;
  delimiter?: string;
  keyMarker: string;
  uploadIdMarker: string;
  maxUploads: number;
  encodingType?: EncodingType;
}

/** Reads the ListMultipartUploads query parameters, validating them. */
export function parseListUploadsParams(query: QueryLike): ListUploadsParams {
  const params: ListUploadsParams = {
    prefix: query.get('prefix') ?? '',
    keyMarker: query.get('key-marker') ?? '',
    uploadIdMarker: query.get('upload-id-marker') ?? '',
    maxUploads: parseMaxParam(query, 'max-uploads', 'maxUploads'),
  };
  const delimiter = query.get('delimiter');
  if (delimiter !== null && delimiter !== '') params.delimiter = delimiter;
  const encodingType = parseEncodingType(query);
  if (encodingType !== undefined) params.encodingType = encodingType;
  return params;
}

function compareUploads(a: { key: string; uploadId: string }, b: { key: string; uploadId: string }): number {
  return compareKeys(a.key, b.key) || compareKeys(a.uploadId, b.uploadId);
}

/**
 * Computes a ListMultipartUploads result for `bucket`. Markers: uploads after `key-marker`; with
 * `upload-id-marker` too, also the uploads of that key whose id sorts after it
 * (`upload-id-marker` without `key-marker` is ignored, as AWS documents). Delimiter and prefix
 * as for objects. When truncated, NextKeyMarker / NextUploadIdMarker name the last upload
 * returned (or the last common prefix, with an empty upload id).
 */
export async function listMultipartUploads(
  source: UploadSource,
  bucket: string,
  params: ListUploadsParams,
  options: PageOptions = {},
): Promise<ListMultipartUploadsResult> {
  const result: ListMultipartUploadsResult = {
    bucket,
    keyMarker: params.keyMarker,
    uploadIdMarker: params.keyMarker === '' ? '' : params.uploadIdMarker,
    nextKeyMarker: '',
    nextUploadIdMarker: '',
    prefix: params.prefix,
    maxUploads: params.maxUploads,
    isTruncated: false,
    uploads: [],
    commonPrefixes: [],
  };
  if (params.delimiter !== undefined) result.delimiter = params.delimiter;
  if (params.encodingType !== undefined) result.encodingType = params.encodingType;
  if (params.maxUploads <= 0) return result;

  const marker = params.keyMarker === '' ? undefined : { key: params.keyMarker, uploadId: params.uploadIdMarker };
  const from: UploadListFrom = { prefix: params.prefix };
  if (marker !== undefined) {
    from.startAfter = marker.key;
    if (marker.uploadId !== '') from.startAfterUploadId = marker.uploadId;
  }
  const page = await markedPage(
    source,
    from,
    { prefix: params.prefix, maxKeys: params.maxUploads, ...(params.delimiter !== undefined ? { delimiter: params.delimiter } : {}), ...(marker !== undefined ? { marker: marker.key } : {}) },
    (u) => marker === undefined || (marker.uploadId === '' ? compareKeys(u.key, marker.key) > 0 : compareUploads(u, marker) > 0),
    options,
  );
  result.uploads = page.items;
  result.commonPrefixes = page.commonPrefixes;
  if (page.last !== undefined) {
    result.nextKeyMarker = page.last.key;
    result.nextUploadIdMarker = page.last.item?.uploadId ?? '';
  }
  result.isTruncated = page.isTruncated;
  return result;
}

// ---------------------------------------------------------------------------------------------
// ListObjectVersions

/** A sorted source of versions: keys in order, each key's versions newest first. */
export type VersionSource = (from: ListFrom) => AsyncIterable<VersionSummary>;

/** Parsed ListObjectVersions request. */
export interface ListVersionsParams {
  prefix: string;
  delimiter?: string;
  keyMarker: string;
  versionIdMarker: string;
  maxKeys: number;
  encodingType?: EncodingType;
}

/** Reads the ListObjectVersions query parameters, validating them. */
export function parseListVersionsParams(query: QueryLike): ListVersionsParams {
  const params: ListVersionsParams = {
    prefix: query.get('prefix') ?? '',
    keyMarker: query.get('key-marker') ?? '',
    versionIdMarker: query.get('version-id-marker') ?? '',
    maxKeys: parseMaxParam(query, 'max-keys', 'maxKeys'),
  };
  if (params.versionIdMarker !== '' && params.keyMarker === '') {
    throw new S3Error('InvalidArgument', 'A version-id marker cannot be specified without a key marker.', {
      fields: { ArgumentName: 'version-id-marker', ArgumentValue: params.versionIdMarker },
    });
  }
  const delimiter = query.get('delimiter');
  if (delimiter !== null && delimiter !== '') params.delimiter = delimiter;
  const encodingType = parseEncodingType(query);
  if (encodingType !== undefined) params.encodingType = encodingType;
  return params;
}

/**
 * Computes a ListObjectVersions result for bucket `name`. Markers: the versions after
 * `key-marker` (all of that key's versions are skipped); with `version-id-marker` too, also that
 * key's versions listed after that one. Delimiter, prefix and max-keys as for objects (a common
 * prefix counts as one). When truncated, NextKeyMarker / NextVersionIdMarker name the last version
 * returned (a common prefix: NextKeyMarker only).
 */
export async function listObjectVersions(source: VersionSource, name: string, params: ListVersionsParams, options: PageOptions = {}): Promise<ListVersionsResult> {
  const result: ListVersionsResult = {
    name,
    prefix: params.prefix,
    keyMarker: params.keyMarker,
    versionIdMarker: params.versionIdMarker,
    maxKeys: params.maxKeys,
    isTruncated: false,
    versions: [],
    commonPrefixes: [],
  };
  if (params.delimiter !== undefined) result.delimiter = params.delimiter;
  if (params.encodingType !== undefined) result.encodingType = params.encodingType;
  if (params.maxKeys <= 0) return result;

  const marker = params.keyMarker === '' ? undefined : params.keyMarker;
  // Versions of the marker key still to pass before listing resumes (the marker version itself).
  let passing = marker !== undefined && params.versionIdMarker !== '';
  const from: ListFrom = { prefix: params.prefix };
  if (marker !== undefined) {
    if (passing) from.startAt = marker;
    else from.startAfter = marker;
  }
  const page = await markedPage(
    source,
    from,
    { prefix: params.prefix, maxKeys: params.maxKeys, ...(params.delimiter !== undefined ? { delimiter: params.delimiter } : {}), ...(marker !== undefined ? { marker } : {}) },
    (v) => {
      if (marker === undefined) return true;
      const order = compareKeys(v.key, marker);
      if (order !== 0) return order > 0;
      // The marker key's versions: all skipped without a version-id marker; else those up to it.
      if (params.versionIdMarker === '' || passing) {
        if (v.versionId === params.versionIdMarker) passing = false;
        return false;
      }
      return true;
    },
    options,
  );
  result.versions = page.items;
  result.commonPrefixes = page.commonPrefixes;
  result.isTruncated = page.isTruncated;
  if (page.last !== undefined) {
    result.nextKeyMarker = page.last.key;
    if (page.last.item !== undefined) result.nextVersionIdMarker = page.last.item.versionId;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// ListParts

/** Parts of an upload in ascending part-number order, starting after the given part number. */
export type PartSource = (afterPartNumber: number) => AsyncIterable<PartSummary> | Iterable<PartSummary>;

/** Parsed ListParts request. */
export interface ListPartsParams {
  partNumberMarker: number;
  maxParts: number;
}

/** Reads `part-number-marker` (integer ≥ 0, default 0) and `max-parts`; errors are `InvalidArgument`. */
export function parseListPartsParams(query: QueryLike): ListPartsParams {
  const markerText = query.get('part-number-marker');
  let partNumberMarker = 0;
  if (markerText !== null && markerText !== '') {
    if (!/^\d+$/.test(markerText.trim()) || Number(markerText) > MAX_INT32) {
      throw new S3Error('InvalidArgument', 'Provided part-number-marker not an integer or within integer range', {
        fields: { ArgumentName: 'part-number-marker', ArgumentValue: markerText },
      });
    }
    partNumberMarker = Number(markerText);
  }
  return { partNumberMarker, maxParts: parseMaxParam(query, 'max-parts', 'maxParts') };
}

/** The identification of a ListParts result besides its parts. */
export interface ListPartsContext {
  bucket: string;
  key: string;
  uploadId: string;
  initiator: Owner;
  owner: Owner;
  storageClass?: string;
  checksumAlgorithm?: ListPartsResult['checksumAlgorithm'];
  checksumType?: ListPartsResult['checksumType'];
}

/**
 * Computes a ListParts result: parts after `part-number-marker`, at most `max-parts`;
 * NextPartNumberMarker is the last part returned, and 0 on an empty page, as S3 answers. (Clients
 * must stop on IsTruncated=false: the SDKs' ListParts paginators that follow the marker alone
 * loop against S3 itself.)
 */
export async function listParts(source: PartSource, context: ListPartsContext, params: ListPartsParams): Promise<ListPartsResult> {
  const parts: PartSummary[] = [];
  let isTruncated = false;
  if (params.maxParts > 0) {
    for await (const part of source(params.partNumberMarker)) {
      if (part.partNumber <= params.partNumberMarker) continue;
      if (parts.length === params.maxParts) {
        isTruncated = true;
        break;
      }
      parts.push(part);
    }
  }
  const result: ListPartsResult = {
    ...context,
    partNumberMarker: params.partNumberMarker,
    nextPartNumberMarker: parts.length > 0 ? parts[parts.length - 1]!.partNumber : 0,
    maxParts: params.maxParts,
    isTruncated,
    parts,
  };
  return result;
}

// ---------------------------------------------------------------------------------------------
// ListBuckets

/** Parsed ListBuckets request (the optional paging parameters S3 added in 2024). */
export interface ListBucketsParams {
  prefix?: string;
  bucketRegion?: string;
  /** Exclusive start (decoded continuation token). */
  after?: string;
  continuationToken?: string;
  /** At most this many buckets (no limit when absent, as S3 answers without `max-buckets`). */
  maxBuckets?: number;
}

/** Reads `prefix`, `bucket-region`, `continuation-token` and `max-buckets` (1–10000), validating them. */
export function parseListBucketsParams(query: QueryLike): ListBucketsParams {
  const params: ListBucketsParams = {};
  const prefix = query.get('prefix');
  if (prefix !== null && prefix !== '') params.prefix = prefix;
  const region = query.get('bucket-region');
  if (region !== null && region !== '') params.bucketRegion = region;
  const token = query.get('continuation-token');
  if (token !== null && token !== '') {
    params.after = decodeContinuationToken(token);
    params.continuationToken = token;
  }
  const max = query.get('max-buckets');
  if (max !== null) {
    if (!/^\d+$/.test(max) || Number(max) < 1 || Number(max) > 10000) {
      throw new S3Error('InvalidArgument', 'Argument max-buckets must be an integer between 1 and 10000', {
        fields: { ArgumentName: 'max-buckets', ArgumentValue: max },
      });
    }
    params.maxBuckets = Number(max);
  }
  return params;
}

/**
 * One page of ListBuckets from all of the owner's buckets (any order): sorted by name, filtered
 * by prefix and region, after the continuation token; `continuationToken` when more remain.
 */
export function listBucketsPage<B extends { name: string; region?: string }>(buckets: readonly B[], params: ListBucketsParams): { buckets: B[]; continuationToken?: string } {
  const selected = buckets
    .filter((b) => (params.prefix === undefined || b.name.startsWith(params.prefix)) && (params.bucketRegion === undefined || b.region === params.bucketRegion) && (params.after === undefined || compareKeys(b.name, params.after) > 0))
    .sort((x, y) => compareKeys(x.name, y.name));
  if (params.maxBuckets === undefined || selected.length <= params.maxBuckets) return { buckets: selected };
  const page = selected.slice(0, params.maxBuckets);
  return { buckets: page, continuationToken: encodeContinuationToken(page[page.length - 1]!.name) };
}
