/**
 * The DHT side of object versioning (see versioning.ts for the layout): versioned writes of a
 * key's current version, the noncurrent versions kept beside it, and their removal.
 *
 * A versioned write keeps the version it replaces before replacing it: inside the conditional
 * write, the current entry is first stored in the versions partition, then the new entry is
 * written if the current one is still the one read. A node dying between the two leaves a copy
 * of a version that is still current, which is harmless (listings and lookups skip a noncurrent
 * copy of the current version, and the next write stores the same copy at the same place); the
 * other order could lose an acknowledged version.
 */
import type { Dht } from '../../dht/index.ts';
import type { ListFrom, VersionSource, VersionSummary } from './protocol/index.ts';
import { compareKeys, startPastSkipped } from './protocol/index.ts';
import { OBJECT_WRITE_OPTIONS, UNLISTED_FIELDS } from './catalog.ts';
import type { Id } from '../../id/index.ts';
import { collect, keyGroups } from './key-groups.ts';
import { mergeSorted, objectsPartitionOf, objectsPartitions, shardCount, shardPageSize, versionsPartitionOf, versionsPartitions } from './index-shards.ts';
import type { BucketEntry, ObjectEntry } from './model.ts';
import { keyOfVersionSortKey, seqOf, seqOfVersionId, versionIdOf, versionKeyPrefix, versionSortKey } from './versioning.ts';

/** A noncurrent version and where it is kept. */
export interface StoredVersion {
  sortKey: string;
  entry: ObjectEntry;
}

/** A key with its versions. */
export interface KeyVersions {
  key: string;
  /** The current version (a delete marker too); absent when only noncurrent versions were found. */
  current?: ObjectEntry;
  /** Noncurrent versions, newest first. */
  noncurrent: StoredVersion[];
}

/** Items read per page of the versions partition. */
const PAGE = 200;

const TOMBSTONE = { type: 's3.object', deleted: true } as unknown as ObjectEntry;

export class VersionCatalog {
  constructor(private readonly dht: Dht) {}

  /** The noncurrent versions of `key`, newest first (`omit`: body fields left out, for listings). */
  async *noncurrent(bucket: BucketEntry, key: string, omit?: readonly string[]): AsyncGenerator<StoredVersion> {
    const prefix = versionKeyPrefix(key);
    let after: string | undefined;
    do {
      const page = await this.dht.scanPartition<ObjectEntry>(versionsPartitionOf(bucket, key), { prefix, limit: PAGE, ...(omit ? { omit } : {}), ...(after !== undefined ? { after } : {}) });
      // A key that itself continues with the separator shares the prefix: its versions are not these.
      for (const item of page.items) if (keyOfVersionSortKey(item.sortKey!) === key) yield { sortKey: item.sortKey!, entry: item.body };
      after = page.next;
    } while (after !== undefined);
  }

  /** The noncurrent version `versionId` of `key`, if it exists. */
  async find(bucket: BucketEntry, key: string, versionId: string): Promise<StoredVersion | undefined> {
    const seq = seqOfVersionId(versionId);
    if (seq !== undefined) {
      const sortKey = versionSortKey(key, seq);
      const r = await this.dht.getItem<ObjectEntry>(versionsPartitionOf(bucket, key), sortKey);
      return r && !r.deleted && versionIdOf(r.body) === versionId ? { sortKey, entry: r.body } : undefined;
    }
    if (versionId !== 'null') return undefined;
    for await (const v of this.noncurrent(bucket, key)) if (v.entry.vi === undefined) return v;
    return undefined;
  }

  /** Whatever noncurrent version of `key` is stored at position `seq` (whatever its id). */
  async atSeq(bucket: BucketEntry, key: string, seq: number): Promise<ObjectEntry | undefined> {
    const r = await this.dht.getItem<ObjectEntry>(versionsPartitionOf(bucket, key), versionSortKey(key, seq));
    return r && !r.deleted ? r.body : undefined;
  }

  /**
   * Stores `entry` as a noncurrent version of `key`. Idempotent (concurrent writers replacing the
   * same version store the same copy at the same place), and it overwrites whatever else a failed
   * removal may have left at that place.
   */
  async keep(bucket: BucketEntry, key: string, entry: ObjectEntry): Promise<void> {
    const { version: _version, ...body } = entry as ObjectEntry & { version?: number };
    await this.dht.updateItem<ObjectEntry>(versionsPartitionOf(bucket, key), versionSortKey(key, seqOf(entry)), (c) => (c && !c.deleted && c.body.vid === entry.vid ? null : body), OBJECT_WRITE_OPTIONS);
  }

  /** Removes a noncurrent version. */
  async remove(bucket: BucketEntry, sortKey: string): Promise<void> {
    await this.dht.updateItem<ObjectEntry>(versionsPartitionOf(bucket, keyOfVersionSortKey(sortKey)), sortKey, (c) => (c && !c.deleted ? TOMBSTONE : null));
  }

  /**
   * Replaces the current version of `key` with `build(current)` (current: undefined when there is
   * none; delete markers included) in one conditional write, keeping the replaced version as a
   * noncurrent one first when `keep(current)` says so. `build` may throw to refuse (conditions).
   * Resolves with the version replaced and the one written.
   */
  async write(
    bucket: BucketEntry,
    key: string,
    build: (current: ObjectEntry | undefined) => ObjectEntry,
    keep: (current: ObjectEntry) => boolean,
  ): Promise<{ previous: ObjectEntry | undefined; written: ObjectEntry }> {
    let previous: ObjectEntry | undefined;
    let written: ObjectEntry | undefined;
    await this.dht.updateItem<ObjectEntry>(objectsPartitionOf(bucket, key), key, async (current) => {
      previous = current && !current.deleted ? current.body : undefined;
      written = build(previous);
      if (previous && keep(previous)) await this.keep(bucket, key, previous);
      return written;
    }, OBJECT_WRITE_OPTIONS);
    return { previous, written: written! };
  }

  /**
   * Removes the current version of `key` if its id is `versionId`: the newest noncurrent version
   * becomes current (or the key is gone). Resolves with the version removed, or undefined when
   * the current version is another one (or, with `alone`, when the key has other versions).
   * `check` sees the version inside the conditional write and may throw to refuse (Object Lock).
   */
  async removeCurrent(bucket: BucketEntry, key: string, versionId: string, options: { alone?: boolean; check?: (version: ObjectEntry) => void } = {}): Promise<ObjectEntry | undefined> {
    let removed: ObjectEntry | undefined;
    let promoted: StoredVersion | undefined;
    await this.dht.updateItem<ObjectEntry>(objectsPartitionOf(bucket, key), key, async (current) => {
      removed = undefined;
      promoted = undefined;
      const c = current && !current.deleted ? current.body : undefined;
      if (!c || versionIdOf(c) !== versionId) return null;
      options.check?.(c);
      removed = c;
      for await (const v of this.noncurrent(bucket, key)) {
        if (versionIdOf(v.entry) !== versionId) {
          promoted = v;
          break;
        }
      }
      if (promoted && options.alone) {
        removed = undefined;
        promoted = undefined;
        return null;
      }
      return promoted ? promoted.entry : TOMBSTONE;
    }, OBJECT_WRITE_OPTIONS);
    if (promoted) await this.remove(bucket, promoted.sortKey);
    if (removed) {
      // A copy of it kept by a write that lost its race against this removal.
      const copy = await this.find(bucket, key, versionId);
      if (copy) await this.remove(bucket, copy.sortKey);
    }
    return removed;
  }

  /**
   * Every key of the bucket under `prefix`, from `start` on, in key order, with its current
   * version (delete markers included) and its noncurrent versions, newest first (a noncurrent
   * copy of the current version is left out). The objects partition and the versions partition
   * are read side by side. With `omit`, the entries lack those fields (partial: for listings).
   */
  async *keys(bucket: BucketEntry, prefix: string, start = prefix, omit?: readonly string[]): AsyncGenerator<KeyVersions> {
    const shards = shardCount(bucket);
    const currents = mergeSorted(
      objectsPartitions(bucket).map((p) => scan(this.dht, p, prefix, start, shards, omit)),
      (i) => i.sortKey,
    );
    const olds = mergeSorted(
      versionsPartitions(bucket).map((p) => scan(this.dht, p, prefix, start, shards, omit)),
      (i) => i.sortKey,
    );
    // The versions partition in key order, each key's versions together (see key-groups.ts).
    const groups = keyGroups(olds, (i) => keyOfVersionSortKey(i.sortKey), (k) => collect(this.noncurrent(bucket, k, omit)), prefix)[Symbol.asyncIterator]();
    try {
      let cur = await currents.next();
      let old = await groups.next();
      while (cur.done !== true || old.done !== true) {
        const curKey = cur.done === true ? undefined : cur.value.sortKey;
        const oldKey = old.done === true ? undefined : old.value.key;
        const key = curKey === undefined ? oldKey! : oldKey === undefined ? curKey : compareKeys(curKey, oldKey) <= 0 ? curKey : oldKey;
        const group: KeyVersions = { key, noncurrent: [] };
        if (curKey === key && cur.done !== true) {
          group.current = cur.value.entry;
          cur = await currents.next();
        }
        const currentId = group.current && versionIdOf(group.current);
        if (oldKey === key && old.done !== true) {
          for (const v of old.value.items) if (versionIdOf(v.entry) !== currentId) group.noncurrent.push(v);
          old = await groups.next();
        }
        yield group;
      }
    } finally {
      await currents.return?.(undefined);
      await groups.return?.(undefined);
    }
  }

  /** A source for ListObjectVersions: each key's current version first, then the others newest first. */
  source(bucket: BucketEntry): VersionSource {
    const keys = (prefix: string, start: string): AsyncGenerator<KeyVersions> => this.keys(bucket, prefix, start, UNLISTED_FIELDS);
    return async function* (from: ListFrom): AsyncGenerator<VersionSummary> {
      let start = from.prefix;
      if (from.startAt !== undefined && compareKeys(from.startAt, start) > 0) start = from.startAt;
      if (from.startAfter !== undefined && compareKeys(from.startAfter, start) >= 0) start = from.startAfter;
      // Past a common prefix already returned: one seek instead of reading its versions.
      const begin = startPastSkipped(start, from.skipPrefix);
      if (begin === null) return;
      for await (const group of keys(from.prefix, begin)) {
        if (group.current) yield versionSummary(group.key, group.current, true);
        for (const v of group.noncurrent) yield versionSummary(group.key, v.entry, false);
      }
    };
  }

  /** Rewrites a noncurrent version (its ACL or tags) while it is still there; resolves with whether it was. */
  async rewrite(bucket: BucketEntry, key: string, entry: ObjectEntry, change: (entry: ObjectEntry) => ObjectEntry): Promise<boolean> {
    let found = false;
    await this.dht.updateItem<ObjectEntry>(
      versionsPartitionOf(bucket, key),
      versionSortKey(key, seqOf(entry)),
      (c) => {
        found = c !== undefined && !c.deleted && c.body.vid === entry.vid;
        return found ? change(c!.body) : null;
      },
      OBJECT_WRITE_OPTIONS,
    );
    return found;
  }

  /**
   * Removes a noncurrent version if the one at `sortKey` is still `vid`; resolves with whether it
   * did. `check` sees the version inside the conditional write and may throw to refuse (Object Lock).
   */
  async removeIf(bucket: BucketEntry, sortKey: string, vid: string, check?: (version: ObjectEntry) => void): Promise<boolean> {
    let removed = false;
    await this.dht.updateItem<ObjectEntry>(
      versionsPartitionOf(bucket, keyOfVersionSortKey(sortKey)),
      sortKey,
      (c) => {
        removed = c !== undefined && !c.deleted && c.body.vid === vid;
        if (removed) check?.(c!.body);
        return removed ? TOMBSTONE : null;
      },
      OBJECT_WRITE_OPTIONS,
    );
    return removed;
  }
}

/** The live items of a partition from `start` on (those under `prefix`), in sort-key order. */
async function* scan(dht: Dht, partition: Id, prefix: string, start: string, shards: number, omit: readonly string[] | undefined): AsyncGenerator<{ sortKey: string; entry: ObjectEntry }> {
  let after: string | undefined;
  let limit = shardPageSize(101, shards);
  for (;;) {
    const page = await dht.scanPartition<ObjectEntry>(partition, { prefix, limit, ...(omit ? { omit } : {}), ...(start !== '' ? { from: start } : {}), ...(after !== undefined ? { after } : {}) });
    for (const item of page.items) yield { sortKey: item.sortKey!, entry: item.body };
    if (page.next === undefined) return;
    after = page.next;
    limit = shardPageSize(1000, shards);
  }
}

/** How ListObjectVersions shows a version. */
function versionSummary(key: string, o: ObjectEntry, isLatest: boolean): VersionSummary {
  const v: VersionSummary = { key, versionId: versionIdOf(o), isLatest, lastModified: o.lm, deleteMarker: o.dm === true, owner: { id: o.owner, displayName: o.ownerName } };
  if (o.dm) return v;
  v.etag = o.etag;
  v.size = o.size;
  if (o.sc) v.storageClass = o.sc;
  if (o.cs) {
    v.checksumAlgorithm = o.cs.a as NonNullable<VersionSummary['checksumAlgorithm']>;
    v.checksumType = o.cs.ty ?? 'FULL_OBJECT';
  }
  return v;
}
