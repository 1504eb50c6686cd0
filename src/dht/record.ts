/**
 * Records on the wire and on disk: storage keys, entity encoding (with the size limit), the
 * version order that every replica applies, and the per-item hash anti-entropy compares.
 */
import { Id } from '../id/index.ts';
import { sealItem } from './item-checksum.ts';
import { InvalidArgumentError, InvalidEntityError, RecordCorruptError, RecordTooLargeError } from './errors.ts';
import type { DhtRecord, Entity, ItemDigest, ItemSummary, StoredItem } from './types.ts';

/** Separates the id from the sort key in a partition item's storage key. */
export const SORT_KEY_SEPARATOR = '/';
/** Longest sort key, in UTF-8 bytes (LMDB keys are limited; S3 keys are at most 1024 bytes). */
export const MAX_SORT_KEY_BYTES = 1024;
/** Hex digits of a ring position: a plain record's whole storage key, a partition item's prefix. */
export const ID_HEX_LENGTH = 40;

/** Storage key of a plain record. */
export function recordKey(id: Id): string {
  return id.hex;
}

/** Storage key of a partition item. Throws InvalidArgument for an empty or oversized sort key. */
export function itemKey(partition: Id, sortKey: string): string {
  checkSortKey(sortKey);
  return partition.hex + SORT_KEY_SEPARATOR + sortKey;
}

export function checkSortKey(sortKey: unknown): asserts sortKey is string {
  if (typeof sortKey !== 'string' || sortKey.length === 0) throw new InvalidArgumentError('sort key must be a non-empty string');
  if (Buffer.byteLength(sortKey, 'utf8') > MAX_SORT_KEY_BYTES) throw new InvalidArgumentError(`sort key is longer than ${MAX_SORT_KEY_BYTES} bytes`);
}

/** The ring position (id hex) of a storage key. */
export function keyPosition(key: string): string {
  return key.length === ID_HEX_LENGTH ? key : key.slice(0, ID_HEX_LENGTH);
}

/** The sort key part of a storage key, if it is a partition item's. */
export function keySortKey(key: string): string | undefined {
  return key.length > ID_HEX_LENGTH ? key.slice(ID_HEX_LENGTH + 1) : undefined;
}

/** Whether `key` is a well-formed storage key (checked on everything a peer sends). */
export function isStorageKey(key: unknown): key is string {
  if (typeof key !== 'string' || key.length < ID_HEX_LENGTH) return false;
  for (let i = 0; i < ID_HEX_LENGTH; i++) {
    const c = key.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return key.length === ID_HEX_LENGTH || (key.charCodeAt(ID_HEX_LENGTH) === 47 && key.length > ID_HEX_LENGTH + 1);
}

/**
 * The fields a stored item and its digest share (key, version, operation id, deleted flag,
 * checksum), checked on what a peer sent.
 */
function hasItemHead(o: Record<string, unknown>): o is Record<string, unknown> & ItemDigest {
  return (
    isStorageKey(o.k) &&
    typeof o.v === 'number' &&
    Number.isSafeInteger(o.v) &&
    o.v >= 1 &&
    typeof o.op === 'string' &&
    typeof o.d === 'boolean' &&
    (o.c === undefined || (typeof o.c === 'number' && Number.isInteger(o.c) && o.c >= 0 && o.c <= 0xffffffff))
  );
}

/** Checks the shape of a stored item received from a peer. */
export function isStoredItem(x: unknown): x is StoredItem {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return (
    hasItemHead(o) &&
    Array.isArray(o.h) &&
    typeof o.hf === 'number' &&
    typeof o.t === 'string' &&
    (o.u === null || typeof o.u === 'string') &&
    typeof o.ct === 'string' &&
    typeof o.b === 'string' &&
    typeof o.at === 'number'
  );
}

/** Longest operation id accepted from a peer (ids are short; the writer's check is the same). */
const MAX_OP_LENGTH = 200;

/** The digest of an item (what an R_DIGEST reply carries). */
export function digestOf(item: StoredItem): ItemDigest {
  const d: ItemDigest = { k: item.k, v: item.v, op: item.op, d: item.d };
  // Left out rather than sent as undefined: items written before checksums have none.
  if (item.c !== undefined) d.c = item.c;
  return d;
}

/** Checks the shape of an item digest received from a peer. */
export function isItemDigest(x: unknown): x is ItemDigest {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return hasItemHead(o) && o.op.length > 0 && o.op.length <= MAX_OP_LENGTH;
}

/** An entity ready to be written: its headers and its JSON text. */
export interface EncodedEntity {
  type: string;
  uri: string | null;
  deleted: boolean;
  json: string;
}

/**
 * Checks and encodes an entity: it must be a plain JSON object below `maxBytes` once encoded.
 * The `version` field is dropped (the DHT sets it on read); `type` defaults to the URI scheme.
 */
export function encodeEntity(entity: unknown, maxBytes: number): EncodedEntity {
  if (typeof entity !== 'object' || entity === null || Array.isArray(entity)) {
    throw new InvalidEntityError(`an entity must be a JSON object, got ${entity === null ? 'null' : Array.isArray(entity) ? 'an array' : typeof entity}`);
  }
  const e = entity as Entity;
  if (e.type !== undefined && (typeof e.type !== 'string' || e.type.length === 0)) throw new InvalidEntityError('entity.type must be a non-empty string');
  if (e.url !== undefined && typeof e.url !== 'string') throw new InvalidEntityError('entity.url must be a string');
  if (e.deleted !== undefined && typeof e.deleted !== 'boolean') throw new InvalidEntityError('entity.deleted must be a boolean');
  let json: string;
  try {
    // Only the entity's own `version` is the DHT's; nested fields named `version` are data.
    json = JSON.stringify(entity, function (this: unknown, key: string, value: unknown) {
      return key === 'version' && this === entity ? undefined : value;
    });
  } catch (err) {
    throw new InvalidEntityError(`entity is not JSON-serialisable: ${(err as Error).message}`);
  }
  // Size in UTF-8 bytes; the string length bounds it from below, so most bodies skip the count.
  const bytes = json.length * 3 <= maxBytes ? json.length : Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) throw new RecordTooLargeError(bytes, maxBytes);
  const type = e.type ?? schemeOf(e.url) ?? 'unknown';
  return { type, uri: e.url ?? null, deleted: e.deleted === true, json };
}

function schemeOf(uri: string | undefined): string | undefined {
  if (uri === undefined) return undefined;
  const colon = uri.indexOf(':');
  return colon > 0 ? uri.slice(0, colon).toLowerCase() : undefined;
}

/** Builds a new version of an item (the root does this once; replicas store it as given). */
export function makeItem(
  key: string,
  encoded: EncodedEntity,
  version: number,
  op: string,
  previous: StoredItem | undefined,
  history: { limit: number; memoryMs: number },
  now: number,
  contentType: string,
): StoredItem {
  const h: [string, number][] = [];
  let hf = 0;
  if (previous) {
    const horizon = now - history.memoryMs;
    for (const e of previous.h) if (e[1] > horizon) h.push(e);
    h.push([previous.op, previous.at]);
    hf = previous.hf;
    while (h.length > history.limit) {
      const dropped = h.shift()!;
      if (dropped[1] > hf) hf = dropped[1];
    }
  }
  return sealItem({ k: key, v: version, op, h, hf, d: encoded.deleted, t: encoded.type, u: encoded.uri, ct: contentType, b: encoded.json, at: now });
}

/** Whether `item` is the result of operation `op` (or an earlier version of it was). */
export function appliedOp(item: StoredItem | undefined, op: string): boolean {
  if (!item) return false;
  if (item.op === op) return true;
  for (const e of item.h) if (e[0] === op) return true;
  return false;
}

/**
 * The order replicas converge on: higher version first; equal versions with different writers
 * are broken by the operation id, so every replica picks the same one without talking.
 * Positive when `a` should replace `b`.
 */
export function compareItems(a: ItemSummary, b: ItemSummary): number {
  if (a.v !== b.v) return a.v - b.v;
  if (a.op === b.op) return 0;
  return a.op < b.op ? 1 : -1;
}

/** Summary of an item, for digests and listings. */
export function summarize(item: StoredItem): ItemSummary {
  return { k: item.k, v: item.v, op: item.op, d: item.d };
}

/** Turns a stored item into the record applications see (parses the body). */
/** Bodies shorter than this are answered whole by a scan with `omit` (cheaper than the parse). */
export const OMIT_MIN_BODY_CHARS = 1024;

/**
 * A partial copy of `item` whose body lacks the top-level `fields` (a scan's `omit`); the item
 * itself when its body has none of them, or is shorter than {@link OMIT_MIN_BODY_CHARS}. The
 * checksum is left as it was: it no longer matches, so the copy is refused as damaged should it
 * ever be offered for storage.
 */
export function withoutFields(item: StoredItem, fields: readonly string[]): StoredItem {
  // Small bodies and bodies without the fields (a listing of large objects, whose data is in
  // chunks) are not worth a parse.
  if (item.b.length < OMIT_MIN_BODY_CHARS || !fields.some((f) => item.b.includes(`"${f}":`))) return item;
  let body: unknown;
  try {
    body = JSON.parse(item.b);
  } catch {
    return item;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return item;
  const fieldsOf = body as Record<string, unknown>;
  let dropped = false;
  for (const f of fields) {
    if (Object.hasOwn(fieldsOf, f)) {
      delete fieldsOf[f];
      dropped = true;
    }
  }
  return dropped ? { ...item, b: JSON.stringify(body) } : item;
}

/**
 * Whether `text` is the JSON of an object (what every record body is). Roots check a write's body
 * with it, so that a body no reader can parse is refused rather than stored and replicated.
 */
export function isJsonObjectText(text: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return false;
  }
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed);
}

/** The record of a stored item; a body that is not a JSON object is `RecordCorrupt` (never a bare SyntaxError). */
export function toRecord<T extends Entity = Entity>(item: StoredItem): DhtRecord<T> {
  let body: T;
  try {
    body = JSON.parse(item.b) as T;
  } catch {
    throw new RecordCorruptError(item.k.slice(0, 80), 'its body is not JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new RecordCorruptError(item.k.slice(0, 80), 'its body is not a JSON object');
  (body as Entity).version = item.v;
  const pos = keyPosition(item.k);
  return {
    id: Id.parse(pos),
    sortKey: keySortKey(item.k),
    uri: item.u ?? undefined,
    type: item.t,
    version: item.v,
    contentType: item.ct,
    deleted: item.d,
    writtenAt: item.at,
    bytes: item.b.length,
    body,
  };
}

/**
 * 2 × 32-bit hash of an item's identity and version (for XOR digests). Two replicas holding the
 * same version of a record hash it equally; anything else differs with high probability.
 */
export function itemHash(item: ItemSummary): [number, number] {
  let h1 = 0xdeadbeef ^ item.v;
  let h2 = 0x41c6ce57 ^ (item.d ? 1 : 0);
  const mix = (s: string): void => {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
  };
  mix(item.k);
  mix(item.op);
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}
