/**
 * The operator's view of the buckets of the ring (`pi s3 buckets`, `GET /api/s3/buckets`): every
 * bucket of the bucket registry (bucket-registry.ts) with its owner and settings, and, when asked,
 * its usage — current objects and noncurrent versions with their bytes (and, for a bucket that
 * replicates, its versions PENDING and FAILED), counted by paging through
 * the bucket's two index partitions. Counting reads every index entry of the bucket, so it stops
 * at `maxObjects` entries per bucket and says so; delete markers, uploads in progress and the
 * chunks' replicas are not counted.
 */
import type { Dht } from '../../dht/index.ts';
import type { Id } from '../../id/index.ts';
import { objectsPartitions, shardCount, versionsPartitions } from './index-shards.ts';
import { registeredBuckets } from './bucket-registry.ts';
import type { Catalog } from './catalog.ts';
import type { BucketEntry, ObjectEntry } from './model.ts';

/** One bucket as the inventory shows it. */
export interface BucketInventoryRow {
  name: string;
  owner: string;
  region: string;
  createdAt: number;
  versioning: string;
  objectLock: boolean;
  defaultEncryption: string | null;
  website: boolean;
  /** Whether requests by others than the owner must say they pay (Requester Pays). */
  requesterPays: boolean;
  /** Buckets the enabled replication rules copy new versions to (replication.ts); empty: none. */
  replicatesTo: string[];
  /** Partitions its object index is split over (index-shards.ts). */
  indexShards: number;
  /** With usage: current objects (delete markers excluded) and their bytes. */
  objects?: number;
  bytes?: number;
  /** With usage: noncurrent versions (versioned buckets; delete markers excluded) and their bytes. */
  noncurrentVersions?: number;
  noncurrentBytes?: number;
  /** With usage: the count stopped at `maxObjects` (the figures are lower bounds). */
  truncated?: boolean;
  /** With usage: versions whose replication is PENDING or FAILED (buckets that replicate; current and noncurrent). */
  replicationPending?: number;
  replicationFailed?: number;
}

/** A page of the inventory. */
export interface BucketInventoryPage {
  buckets: BucketInventoryRow[];
  /** Pass as `after` for the next page; absent on the last. */
  next?: string;
}

/** Options of {@link bucketInventory}. */
export interface BucketInventoryOptions {
  /** Buckets per page (1–1000). */
  limit: number;
  /** Start after this bucket name. */
  after?: string;
  /** Count objects and bytes. */
  usage: boolean;
  /** Index entries read per bucket at most when counting. */
  maxObjects: number;
}

const SCAN_PAGE = 1000;

/** A page of the buckets of the registry, in name order (registry entries of gone buckets are skipped). */
export async function bucketInventory(dht: Dht, catalog: Catalog, options: BucketInventoryOptions): Promise<BucketInventoryPage> {
  const rows: BucketInventoryRow[] = [];
  for await (const reg of registeredBuckets(dht)) {
    if (options.after !== undefined && reg.name <= options.after) continue;
    if (rows.length === options.limit) return { buckets: rows, next: rows[rows.length - 1]!.name };
    const bucket = await catalog.bucket(reg.name, true);
    if (!bucket || bucket.inc !== reg.inc) continue;
    const row = describe(bucket);
    if (options.usage) Object.assign(row, await usage(dht, bucket, options.maxObjects));
    rows.push(row);
  }
  return { buckets: rows };
}

function describe(b: BucketEntry): BucketInventoryRow {
  return {
    name: b.name,
    owner: b.ownerName,
    region: b.region,
    createdAt: b.createdAt,
    versioning: b.ver ?? 'Unversioned',
    objectLock: b.lock !== undefined,
    defaultEncryption: b.enc ? 'AES256' : null,
    website: b.web !== undefined,
    requesterPays: b.rp === 'Requester',
    replicatesTo: [...new Set((b.repl?.rules ?? []).filter((r) => r.enabled).map((r) => r.destination))],
    indexShards: shardCount(b),
  };
}

type Usage = Pick<BucketInventoryRow, 'objects' | 'bytes' | 'noncurrentVersions' | 'noncurrentBytes' | 'truncated' | 'replicationPending' | 'replicationFailed'>;

/** Current objects, noncurrent versions and their bytes (and replication backlog), reading at most `max` index entries. */
async function usage(dht: Dht, bucket: BucketEntry, max: number): Promise<Usage> {
  const budget = { left: max };
  const current = await countAll(dht, objectsPartitions(bucket), budget);
  const noncurrent = current.truncated ? { n: 0, bytes: 0, pending: 0, failed: 0, truncated: true } : await countAll(dht, versionsPartitions(bucket), budget);
  const out: Usage = { objects: current.n, bytes: current.bytes, noncurrentVersions: noncurrent.n, noncurrentBytes: noncurrent.bytes, truncated: current.truncated || noncurrent.truncated };
  if (bucket.repl) {
    out.replicationPending = current.pending + noncurrent.pending;
    out.replicationFailed = current.failed + noncurrent.failed;
  }
  return out;
}

/** {@link count} over the index shards of a bucket, one after another, within one budget. */
async function countAll(dht: Dht, partitions: readonly Id[], budget: { left: number }): Promise<{ n: number; bytes: number; pending: number; failed: number; truncated: boolean }> {
  const out = { n: 0, bytes: 0, pending: 0, failed: 0, truncated: false };
  for (const partition of partitions) {
    const c = await count(dht, partition, budget);
    out.n += c.n;
    out.bytes += c.bytes;
    out.pending += c.pending;
    out.failed += c.failed;
    if (c.truncated) return { ...out, truncated: true };
  }
  return out;
}

/** Live entries of a partition (delete markers excluded), their sizes and replication states, within `budget` entries read. */
async function count(dht: Dht, partition: Id, budget: { left: number }): Promise<{ n: number; bytes: number; pending: number; failed: number; truncated: boolean }> {
  const out = { n: 0, bytes: 0, pending: 0, failed: 0, truncated: false };
  let after: string | undefined;
  do {
    if (budget.left <= 0) return { ...out, truncated: true };
    const page = await dht.scanPartition<ObjectEntry>(partition, { limit: Math.min(SCAN_PAGE, budget.left), ...(after !== undefined ? { after } : {}) });
    budget.left -= page.items.length;
    for (const item of page.items) {
      const o = item.body;
      if (o.dm) continue;
      out.n++;
      out.bytes += typeof o.size === 'number' ? o.size : 0;
      if (o.rs === 'PENDING') out.pending++;
      else if (o.rs === 'FAILED') out.failed++;
    }
    after = page.next;
  } while (after !== undefined);
  return out;
}
