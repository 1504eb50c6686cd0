/**
 * The registry of every bucket of the ring: partition `s3registry:buckets`, sort key = bucket
 * name, the bucket's incarnation as body. Work that must visit every bucket (the SSE-S3 rewrap
 * job, rewrap.ts) pages through it.
 *
 * Why a registry: nothing else enumerates buckets. A bucket's record sits at the hash of its
 * name; the owners' lists (`s3buckets:<owner id>`) need every owner (the user registry,
 * user-registry.ts, lists them, but a bucket missing from its owner's list would be missed). A
 * full walk would need every node's local store.
 *
 * How it is kept:
 * - CreateBucket writes the bucket's entry right after the bucket record (as it writes the
 *   owner's list); DeleteBucket drops it, conditionally on the incarnation so that a bucket
 *   re-created meanwhile keeps its entry.
 * - Buckets created before the registry existed (or whose creation died between the two writes)
 *   are registered by the nodes holding their records: each node, once its S3 application is
 *   ready, writes an entry for every live bucket record of its local DHT store that has none
 *   ({@link registerLocalBuckets}; a write-if-absent each, so later starts cost one quorum round
 *   per bucket record held). Every node restarts to take a new master key, so by the time a
 *   rotation needs the registry, every bucket has been registered by at least the nodes holding
 *   its record.
 * - An entry may outlive its bucket (a DeleteBucket whose node died, a registration racing a
 *   deletion): readers check the bucket record and may drop the entry ({@link dropStaleEntry}).
 */
import type { Dht } from '../../dht/index.ts';
import { Scope, idFor } from '../../id/index.ts';
import type { Id } from '../../id/index.ts';
import type { BucketEntry } from './model.ts';

/** The registry partition. */
export const BUCKET_REGISTRY: Id = idFor('s3registry:buckets', Scope.GLOBAL);

/** A bucket's entry in the registry. */
export interface BucketRegistryEntry {
  type: 's3.bucketReg';
  /** The incarnation of the bucket the entry was written for. */
  inc: string;
  [k: string]: unknown;
}

/** Items read per page of the registry. */
const PAGE = 500;
/** Registrations in flight at once (the start-up backfill). */
const CONCURRENCY = 8;

/** Registers `bucket` (replacing whatever entry its name had: a predecessor's, or a tombstone). */
export async function registerBucket(dht: Dht, bucket: Pick<BucketEntry, 'name' | 'inc'>): Promise<void> {
  await dht.updateItem<BucketRegistryEntry>(BUCKET_REGISTRY, bucket.name, () => ({ type: 's3.bucketReg', inc: bucket.inc }));
}

/** Drops the entry of `bucket` if it is still this incarnation's. */
export async function unregisterBucket(dht: Dht, bucket: Pick<BucketEntry, 'name' | 'inc'>): Promise<void> {
  await dropStaleEntry(dht, bucket.name, bucket.inc);
}

/** Drops the entry of bucket `name` if it still names incarnation `inc`. */
export async function dropStaleEntry(dht: Dht, name: string, inc: string): Promise<void> {
  await dht.updateItem<BucketRegistryEntry>(BUCKET_REGISTRY, name, (current) =>
    current && !current.deleted && current.body.inc === inc ? ({ type: 's3.bucketReg', deleted: true } as unknown as BucketRegistryEntry) : null,
  );
}

/**
 * Registers every live bucket record held in this node's local DHT store that has no entry yet
 * (an entry for another incarnation is left alone: it is the newer one, or a reader drops it).
 * Resolves with the number of bucket records found and of entries written.
 */
export async function registerLocalBuckets(dht: Dht): Promise<{ found: number; registered: number }> {
  const held: Pick<BucketEntry, 'name' | 'inc'>[] = [];
  // The scan reads every record of the local store, in slices, so that a large store does not
  // hold the event loop (heartbeats, requests) for seconds.
  for await (const r of dht.localScanSliced<BucketEntry>({ type: 's3.bucket' })) {
    if (typeof r.body.name === 'string' && typeof r.body.inc === 'string') held.push({ name: r.body.name, inc: r.body.inc });
  }
  let registered = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < held.length) {
      const b = held[next++]!;
      const r = await dht.writeItemIfAbsent<BucketRegistryEntry>(BUCKET_REGISTRY, b.name, { type: 's3.bucketReg', inc: b.inc });
      if (r.written) registered++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, held.length) }, () => worker()));
  return { found: held.length, registered };
}

/** The registered bucket names with the incarnation each entry names, in name order. */
export async function* registeredBuckets(dht: Dht): AsyncGenerator<{ name: string; inc: string }> {
  let after: string | undefined;
  do {
    const page = await dht.scanPartition<BucketRegistryEntry>(BUCKET_REGISTRY, { limit: PAGE, ...(after !== undefined ? { after } : {}) });
    for (const item of page.items) yield { name: item.sortKey!, inc: item.body.inc };
    after = page.next;
  } while (after !== undefined);
}
