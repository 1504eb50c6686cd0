/**
 * Bucket index shards. A bucket's index of current versions (`ids.objects`), its noncurrent
 * versions (`ids.versions`) and its replication queue (`ids.replication`) are each split over
 * `BucketEntry.shards` sorted partitions by a hash of the object key. Each partition has its own
 * root and replica set, so the writes of one busy bucket are coordinated by that many roots
 * instead of one; a key (with all its versions) always lives in one shard, so its conditional
 * writes are still decided by a single root. Listings read the shards side by side and merge
 * them in key order ({@link mergeSorted}).
 *
 * The shard count is fixed when the bucket is created (`s3.indexShards`; by default from the
 * ring's size then, {@link autoIndexShards}). Shard 0 keeps the partition names of an unsharded
 * bucket, so buckets created before sharding (no `shards` field) read as one shard. The hash is
 * part of the stored layout: never change it.
 */
import type { Id } from '../../id/index.ts';
import { compareKeys } from './protocol/index.ts';
import { ids } from './model.ts';
import type { BucketEntry } from './model.ts';

/** Most index shards {@link autoIndexShards} gives a bucket. */
export const MAX_AUTO_INDEX_SHARDS = 8;

/** The part of a bucket record that locates its index. */
export type IndexedBucket = Pick<BucketEntry, 'name' | 'inc' | 'shards'>;

/** The shard (0 ≤ shard < `shards`) of an object key: FNV-1a (32 bits) over its UTF-16 code units. */
export function shardOfKey(key: string, shards: number): number {
  if (shards <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

/**
 * Index shards for a new bucket on a ring of `ringSize` nodes whose DHT keeps `replicas` copies
 * of a record: about one per disjoint replica set the ring has (a power of two, 1 to
 * {@link MAX_AUTO_INDEX_SHARDS}). More shards than that would put several on the same nodes,
 * which buys no capacity and costs batching: a root sends each replica one message for the
 * writes of all its shards, so fewer roots carry more writes per message (on a 3-node ring, 8
 * shards measured about 13 % fewer small PUTs per second than 1).
 */
export function autoIndexShards(ringSize: number, replicas: number): number {
  let shards = 1;
  while (shards * 2 <= MAX_AUTO_INDEX_SHARDS && shards * 2 * Math.max(1, replicas) <= ringSize) shards *= 2;
  return shards;
}

/** How many index shards a bucket has (1 for buckets from before sharding). */
export function shardCount(bucket: IndexedBucket): number {
  return bucket.shards ?? 1;
}

/** Makes the id of shard `shard` of one of a bucket's sharded partitions (an `ids` member). */
type ShardId = (bucket: IndexedBucket, shard: number) => Id;

/** The shard of `make`'s partitions that holds `key`. */
function shardOf(make: ShardId, bucket: IndexedBucket, key: string): Id {
  return make(bucket, shardOfKey(key, shardCount(bucket)));
}

/** Every shard of `make`'s partitions, shard 0 first. */
function allShards(make: ShardId, bucket: IndexedBucket): Id[] {
  return Array.from({ length: shardCount(bucket) }, (_, i) => make(bucket, i));
}

/** The partition holding the current version of `key`. */
export const objectsPartitionOf = (bucket: IndexedBucket, key: string): Id => shardOf(ids.objects, bucket, key);
/** The partition holding the noncurrent versions of `key`. */
export const versionsPartitionOf = (bucket: IndexedBucket, key: string): Id => shardOf(ids.versions, bucket, key);
/** The partition of the replication queue (replication.ts) holding the tasks of `key`. */
export const replicationPartitionOf = (bucket: IndexedBucket, key: string): Id => shardOf(ids.replication, bucket, key);
/** Every partition of the bucket's current versions, shard 0 first. */
export const objectsPartitions = (bucket: IndexedBucket): Id[] => allShards(ids.objects, bucket);
/** Every partition of the bucket's noncurrent versions, shard 0 first. */
export const versionsPartitions = (bucket: IndexedBucket): Id[] => allShards(ids.versions, bucket);
/** Every partition of the bucket's replication queue, shard 0 first. */
export const replicationPartitions = (bucket: IndexedBucket): Id[] => allShards(ids.replication, bucket);

/**
 * The items of several sorted sources as one source in key order (S3's, {@link compareKeys}).
 * Each source is read only as far as the merged output needs; the first items of all of them are
 * read at once. A source's failure fails the merge, and every source is closed when it ends.
 */
export async function* mergeSorted<T>(sources: readonly AsyncIterable<T>[], keyOf: (item: T) => string): AsyncGenerator<T> {
  if (sources.length === 1) {
    yield* sources[0]!;
    return;
  }
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  try {
    const heads: IteratorResult<T>[] = await Promise.all(iterators.map((it) => it.next()));
    for (;;) {
      let min = -1;
      let minKey = '';
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h!.done === true) continue;
        const k = keyOf(h!.value);
        if (min < 0 || compareKeys(k, minKey) < 0) {
          min = i;
          minKey = k;
        }
      }
      if (min < 0) return;
      yield (heads[min] as IteratorYieldResult<T>).value;
      heads[min] = await iterators[min]!.next();
    }
  } finally {
    await Promise.all(iterators.map((it) => it.return?.(undefined)));
  }
}

/** A shard's page size when `total` items are wanted from the merge of `shards`: its share, with room for uneven shards. */
export function shardPageSize(total: number, shards: number): number {
  if (shards <= 1) return total;
  return Math.min(total, Math.max(16, Math.ceil((total * 2) / shards)));
}
