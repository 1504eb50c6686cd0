/**
 * Object versioning: how versions are named and where noncurrent ones are kept.
 *
 * A versioned bucket keeps each key's current version where every bucket does, in the objects
 * partition (so GetObject and the object listings cost what they cost without versioning), and
 * its noncurrent versions in a second sorted partition, `ids.versions(bucket)`, under the sort key
 * `key + U+0001 + (2⁴⁸−1 − seq)` in 12 hex digits: a key's versions are contiguous and newest
 * first. `seq` numbers a key's versions in the order its conditional writes were decided, so it
 * does not depend on any node's clock.
 *
 * A version id is the version's `seq` in 12 hex digits followed by 20 hex digits of its random
 * `vid`, so the sort key of any version is computed from its id. Objects written while the bucket
 * was not versioned, or while versioning was suspended, are the version "null" (no `vi`).
 */
import type { ObjectEntry } from './model.ts';
import { UPLOAD_SEPARATOR } from './model.ts';

/** Separates the key and the inverted sequence number in a version's sort key. */
export const VERSION_SEPARATOR = UPLOAD_SEPARATOR;
const SEQ_DIGITS = 12;
const SEQ_MAX = 2 ** 48 - 1;
const VERSION_ID = /^[0-9a-f]{32}$/;

/** The S3 version id of an entry: its `vi`, or "null". */
export function versionIdOf(entry: Pick<ObjectEntry, 'vi'>): string {
  return entry.vi ?? 'null';
}

/** Whether `id` is a version id this store could have made ("null" included). */
export function isVersionId(id: string): boolean {
  return id === 'null' || VERSION_ID.test(id);
}

/** A new version id for the version numbered `seq` of a key, written under `vid`. */
export function newVersionId(seq: number, vid: string): string {
  return seq.toString(16).padStart(SEQ_DIGITS, '0') + vid.slice(0, 32 - SEQ_DIGITS).padEnd(32 - SEQ_DIGITS, '0');
}

/** The sequence number a (non-null) version id carries. */
export function seqOfVersionId(id: string): number | undefined {
  return VERSION_ID.test(id) ? parseInt(id.slice(0, SEQ_DIGITS), 16) : undefined;
}

/** Sort key of version number `seq` of `key` in the versions partition (newest first). */
export function versionSortKey(key: string, seq: number): string {
  return key + VERSION_SEPARATOR + (SEQ_MAX - seq).toString(16).padStart(SEQ_DIGITS, '0');
}

/** The prefix every version of `key` has in the versions partition. */
export function versionKeyPrefix(key: string): string {
  return key + VERSION_SEPARATOR;
}

/** The object key of a sort key of the versions partition. */
export function keyOfVersionSortKey(sortKey: string): string {
  return sortKey.slice(0, sortKey.length - SEQ_DIGITS - VERSION_SEPARATOR.length);
}

/** The version number of an entry (0: written before the bucket had versioning). */
export function seqOf(entry: Pick<ObjectEntry, 'seq'>): number {
  return entry.seq ?? 0;
}
