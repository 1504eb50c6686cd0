/**
 * S3 bucket lifecycle: the configuration operations (PutBucketLifecycleConfiguration,
 * GetBucketLifecycleConfiguration, DeleteBucketLifecycle; the bucket owner's), the
 * `x-amz-expiration` header of object reads and writes, and the expirer that acts on the rules.
 *
 * The rules live in the bucket record. So that a sweep need not know every bucket, a bucket with
 * rules is also listed in the registry partition `s3lifecycles:registry` (sort key = bucket name; its
 * incarnation and a token naming the configuration put). Every node runs an
 * {@link LifecycleExpirer}; each sweep reads the registry and handles only the buckets whose record
 * (`s3bucket:<name>`) it is currently the DHT root of, so one node at a time works on a bucket.
 * When roots change, the new root takes the bucket over at its next sweep; while two nodes both
 * believe they are root, their work does not double: an expiration deletes the index entry only
 * while it is still the version found expired (a conditional DHT write), so each object is
 * deleted once and an object overwritten after the scan stays; an abort ends an upload only once.
 *
 * What the expirer does is what DeleteObject and AbortMultipartUpload do (through the S3Api):
 * the index entry or the upload record goes, and the chunk references of the version or the parts
 * are dropped, so the collector (gc.ts) reclaims the data; in a versioned bucket an expiration
 * writes a delete marker, and noncurrent versions and lone delete markers are removed by their
 * rules, each removal conditional on the version found (and never of a version Object Lock
 * protects: object-lock.ts). Registry entries of buckets deleted or
 * without rules any more are dropped by the sweep that finds them (conditionally on the token, so
 * a configuration put meanwhile keeps its entry).
 *
 * When the bucket logs its requests (bucket-logging.ts), each action also makes a server access
 * log record, as S3 logs its lifecycle's: `S3.EXPIRE.OBJECT`, `S3.CREATE.DELETEMARKER`,
 * `S3.DELETE.UPLOAD`, requester `AmazonS3` (protocol/access-log.ts).
 *
 * Time comes from the env (`now` of a sweep can be given instead: tests drive days ahead).
 */
import type { Env, Logger, Timer } from '../../env/index.ts';
import { Scope, idFor } from '../../id/index.ts';
import type { Id } from '../../id/index.ts';
import {
  S3Error,
  expirationHeaderValue,
  lifecycleConfigurationXml,
  noncurrentExpiry,
  objectExpiry,
  parseLifecycleConfiguration,
  removesExpiredMarkers,
  rulePrefix,
  uploadAbortTime,
} from './protocol/index.ts';
import { LIFECYCLE_OPERATIONS, lifecycleRecord } from './protocol/access-log.ts';
import type { AccessLogSink } from './access-log-capture.ts';
import type { BodyVerifier } from './protocol/index.ts';
import type { Catalog } from './catalog.ts';
import { eachLimited } from './catalog.ts';
import { sweepEvery } from './periodic.ts';
import type { S3Request } from './http.ts';
import { objectsPartitions } from './index-shards.ts';
import { ids, UPLOAD_SEPARATOR } from './model.ts';
import type { BucketEntry, ObjectEntry, UploadEntry } from './model.ts';
import { readCheckedBody, sendEmpty, sendXml } from './replies.ts';
import { VersionCatalog } from './version-catalog.ts';
import { versionIdOf } from './versioning.ts';
import type { StoredVersion } from './version-catalog.ts';

/** The registry of buckets with lifecycle rules. */
export const LIFECYCLE_REGISTRY: Id = idFor('s3lifecycles:registry', Scope.GLOBAL);

/** A bucket's entry in the registry. */
interface LifecycleRefEntry {
  type: 's3.lifecycleRef';
  inc: string;
  /** Names the configuration put that wrote the entry. */
  token: string;
  [k: string]: unknown;
}

/** Items read per page of the registry and of a bucket's partitions. */
const PAGE = 500;
/** Expirations / aborts of one page in flight at once. */
const CONCURRENCY = 8;

/** What the configuration operations need of the S3 API. */
export interface LifecycleContext {
  readonly env: Env;
  readonly catalog: Catalog;
  /** The request's bucket, which the requester must own (`AccessDenied`). */
  ownBucket(r: S3Request, fresh?: boolean): Promise<BucketEntry>;
  /** The body verifier of a request. */
  verifier(r: S3Request): BodyVerifier;
}

/** `x-amz-expiration` of GetObject / HeadObject / PutObject when a rule of the bucket applies to the object. */
export function expirationHeader(bucket: BucketEntry, key: string, entry: ObjectEntry): Record<string, string> {
  if (!bucket.lifecycle) return {};
  const expiry = objectExpiry(bucket.lifecycle, { key, size: entry.size, tags: entry.tags }, entry.lm);
  return expiry ? { 'x-amz-expiration': expirationHeaderValue(expiry) } : {};
}

/** The lifecycle configuration operations. */
export class LifecycleApi {
  constructor(private readonly ctx: LifecycleContext) {}

  async putBucketLifecycle(r: S3Request): Promise<void> {
    const bucket = await this.ctx.ownBucket(r, true);
    const random = this.ctx.env.random;
    // S3 names a rule without an ID itself (a random string).
    const rules = parseLifecycleConfiguration(await readCheckedBody(r, this.ctx.verifier(r)), () => random.hex(24));
    await this.ctx.catalog.setBucketLifecycle(bucket, rules);
    // After the record: a sweep that finds the entry finds the rules (see the module comment).
    const entry: LifecycleRefEntry = { type: 's3.lifecycleRef', inc: bucket.inc, token: random.hex(8) };
    await this.ctx.catalog.dht.updateItem<LifecycleRefEntry>(LIFECYCLE_REGISTRY, bucket.name, () => entry);
    sendEmpty(r, 200);
  }

  async getBucketLifecycle(r: S3Request): Promise<void> {
    const bucket = await this.ctx.ownBucket(r, true);
    if (!bucket.lifecycle?.length) throw new S3Error('NoSuchLifecycleConfiguration', undefined, { fields: { BucketName: bucket.name } });
    sendXml(r, lifecycleConfigurationXml(bucket.lifecycle));
  }

  async deleteBucketLifecycle(r: S3Request): Promise<void> {
    const bucket = await this.ctx.ownBucket(r, true);
    // The registry entry is dropped by the next sweep that finds the bucket without rules.
    if (bucket.lifecycle) await this.ctx.catalog.setBucketLifecycle(bucket, undefined);
    sendEmpty(r, 204);
  }
}

/** What an expiration did: removed the object for good, or (versioned bucket) wrote a delete marker over it. */
export interface ObjectExpired {
  /** The version id of the delete marker written; absent when the object was removed for good. */
  deleteMarker?: string | undefined;
}

/** What the expirer does to an object or an upload: what DeleteObject and AbortMultipartUpload do. */
export interface LifecycleActions {
  /** Deletes `key` while its current version is `vid`; resolves with what it did, undefined if nothing. */
  expireObject(bucket: BucketEntry, key: string, vid: string): Promise<ObjectExpired | undefined>;
  /** Aborts an upload; resolves with whether it was still in progress. */
  abortExpiredUpload(bucket: BucketEntry, key: string, uploadId: string): Promise<boolean>;
  /**
   * Removes a noncurrent version for good while it is still the one found and Object Lock does
   * not protect it at `now` (a legal hold, an unexpired retention); resolves with whether it did.
   */
  expireVersion(bucket: BucketEntry, key: string, version: StoredVersion, now: number): Promise<boolean>;
  /** Removes a delete marker that is still the current version and the key's only version; resolves with whether it did. */
  removeExpiredMarker(bucket: BucketEntry, key: string, marker: ObjectEntry): Promise<boolean>;
}

/** Who is root of a ring position (the overlay node). */
export interface RootOracle {
  readonly isReady: boolean;
  isRoot(key: Id): boolean;
}

/** Counters of the expirer. */
export interface ExpirerStats {
  sweeps: number;
  /** Buckets swept by this node (it was their root). */
  bucketsSwept: number;
  objectsExpired: number;
  uploadsAborted: number;
  /** Noncurrent versions removed (NoncurrentVersionExpiration). */
  versionsExpired: number;
  /** Delete markers removed (ExpiredObjectDeleteMarker). */
  markersRemoved: number;
  errors: number;
  /** Duration of the last sweep, ms. */
  lastSweepMs: number;
  /** Total time spent sweeping, ms. */
  sweepMsTotal: number;
}

/** Options of one {@link LifecycleExpirer.sweep}. */
export interface SweepOptions {
  /** The time rules are evaluated at (default: the env's clock). */
  now?: number;
  /** Sweep every registered bucket, root or not (tests: several nodes sweeping one bucket at once). */
  everyBucket?: boolean;
  /** Called for each object found expired, before it is deleted (tests: a write racing the expirer). */
  beforeExpire?: (bucket: string, key: string) => Promise<void>;
}

/** What one sweep did. */
export interface SweepResult {
  expired: number;
  aborted: number;
  /** Noncurrent versions and expired delete markers removed. */
  versions: number;
  /** The buckets this node swept (it was their root, or `everyBucket`). */
  buckets: string[];
}

/** The background sweep that acts on lifecycle rules. */
export class LifecycleExpirer {
  readonly stats: ExpirerStats = { sweeps: 0, bucketsSwept: 0, objectsExpired: 0, uploadsAborted: 0, versionsExpired: 0, markersRemoved: 0, errors: 0, lastSweepMs: 0, sweepMsTotal: 0 };
  private readonly versions: VersionCatalog;
  private timer: Timer | undefined;
  private running: Promise<SweepResult> | undefined;
  private stopped = false;
  private readonly log: Logger;
  /** Where the access log records of the actions go (access-log.ts); none: no records. */
  accessLog: AccessLogSink | undefined;

  constructor(
    private readonly env: Env,
    private readonly catalog: Catalog,
    private readonly actions: LifecycleActions,
    private readonly node: RootOracle,
    private readonly sweepMs: number,
  ) {
    this.log = env.log.child({ mod: 's3.lifecycle' });
    this.versions = new VersionCatalog(catalog.dht);
  }

  start(): void {
    this.stopped = false;
    this.timer?.cancel();
    if (this.sweepMs > 0) this.timer = sweepEvery(this.env, this.sweepMs, () => this.sweep());
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /**
   * One pass over the registered buckets this node is root of; resolves with the objects expired
   * and uploads aborted. A sweep asked for while one runs waits for it and answers its result.
   */
  sweep(options: SweepOptions = {}): Promise<SweepResult> {
    if (this.running) return this.running;
    if (!this.node.isReady) return Promise.resolve({ expired: 0, aborted: 0, versions: 0, buckets: [] });
    const p = this.pass(options).finally(() => {
      this.running = undefined;
    });
    this.running = p;
    return p;
  }

  private async pass(options: SweepOptions): Promise<SweepResult> {
    const started = this.env.now();
    const now = options.now ?? started;
    this.stats.sweeps++;
    const total: SweepResult = { expired: 0, aborted: 0, versions: 0, buckets: [] };
    try {
      let after: string | undefined;
      do {
        const page = await this.catalog.dht.scanPartition<LifecycleRefEntry>(LIFECYCLE_REGISTRY, { limit: PAGE, ...(after ? { after } : {}) });
        for (const item of page.items) {
          if (this.stopped) return total;
          const name = item.sortKey!;
          if (!options.everyBucket && !this.node.isRoot(ids.bucket(name))) continue;
          try {
            const done = await this.sweepBucket(name, item.body, now, options);
            if (done) {
              total.buckets.push(name);
              total.expired += done.expired;
              total.aborted += done.aborted;
              total.versions += done.versions;
            }
          } catch (err) {
            this.stats.errors++;
            this.log.warn({ code: 'LifecycleSweepFailed', bucket: name, err: (err as Error).message }, 'could not sweep a bucket; the next sweep will');
          }
        }
        after = page.next;
      } while (after);
    } finally {
      const took = this.env.now() - started;
      this.stats.lastSweepMs = took;
      this.stats.sweepMsTotal += took;
    }
    if (total.expired + total.aborted > 0) {
      this.log.info({ event: 's3.lifecycle', expired: total.expired, aborted: total.aborted }, `lifecycle: ${total.expired} object(s) expired, ${total.aborted} upload(s) aborted`);
    }
    return total;
  }

  /** Sweeps one bucket; resolves with what it did, or undefined when the bucket has no rules (any more). */
  private async sweepBucket(name: string, ref: LifecycleRefEntry, now: number, options: SweepOptions): Promise<{ expired: number; aborted: number; versions: number } | undefined> {
    const bucket = await this.catalog.bucket(name, true);
    if (!bucket || bucket.inc !== ref.inc || !bucket.lifecycle?.length) {
      await this.catalog.dht.updateItem<LifecycleRefEntry>(LIFECYCLE_REGISTRY, name, (current) =>
        current && !current.deleted && current.body.token === ref.token ? ({ type: 's3.lifecycleRef', deleted: true } as unknown as LifecycleRefEntry) : null,
      );
      return undefined;
    }
    this.stats.bucketsSwept++;
    const rules = bucket.lifecycle;
    let expired = 0;
    let aborted = 0;
    const enabled = rules.filter((r) => r.enabled);
    if (enabled.some((r) => r.expiration?.days !== undefined || r.expiration?.date !== undefined)) {
      expired = await this.expireObjects(bucket, now, options);
    }
    if (enabled.some((r) => r.abortDays !== undefined)) aborted = await this.abortUploads(bucket, now);
    let versions = 0;
    if (enabled.some((r) => r.noncurrentExpiration !== undefined || r.expiration?.deleteMarker === true)) versions = await this.expireVersions(bucket, now);
    return { expired, aborted, versions };
  }

  /**
   * NoncurrentVersionExpiration and ExpiredObjectDeleteMarker: pages through the bucket's keys
   * with their versions (both partitions, side by side, under the rules' common prefix). A
   * noncurrent version became noncurrent when the next newer version was written; a delete
   * marker is expired once it is the current and only version of its key.
   */
  private async expireVersions(bucket: BucketEntry, now: number): Promise<number> {
    const rules = bucket.lifecycle!;
    const prefix = rules
      .filter((r) => r.enabled && (r.noncurrentExpiration !== undefined || r.expiration?.deleteMarker === true))
      .map(rulePrefix)
      .reduce((a, b) => commonPrefix(a, b));
    let removed = 0;
    for await (const group of this.versions.keys(bucket, prefix)) {
      if (this.stopped) break;
      let successor = group.current;
      const due: StoredVersion[] = [];
      for (const [newer, v] of group.noncurrent.entries()) {
        // Without the current entry (a race with its removal) the successor's time is unknown.
        if (successor !== undefined) {
          const expiry = noncurrentExpiry(rules, { key: group.key, size: v.entry.size, tags: v.entry.tags }, successor.lm, newer);
          if (expiry !== undefined && expiry.at <= now) due.push(v);
        }
        successor = v.entry;
      }
      await eachLimited(due, CONCURRENCY, async (v) => {
        if (await this.actions.expireVersion(bucket, group.key, v, now)) {
          removed++;
          this.stats.versionsExpired++;
          this.logAction(bucket, LIFECYCLE_OPERATIONS.expire, group.key, versionIdOf(v.entry), v.entry.size);
        }
      });
      const marker = group.current;
      if (marker?.dm && group.noncurrent.length === due.length && removesExpiredMarkers(rules, group.key)) {
        if (await this.actions.removeExpiredMarker(bucket, group.key, marker)) {
          removed++;
          this.stats.markersRemoved++;
          this.logAction(bucket, LIFECYCLE_OPERATIONS.expire, group.key, versionIdOf(marker));
        }
      }
    }
    return removed;
  }

  private async expireObjects(bucket: BucketEntry, now: number, options: SweepOptions): Promise<number> {
    const rules = bucket.lifecycle!;
    // Every rule with an expiration limited to one prefix: only those keys are read.
    const prefixes = rules.filter((r) => r.enabled && r.expiration && (r.expiration.days !== undefined || r.expiration.date !== undefined)).map(rulePrefix);
    const prefix = prefixes.reduce((a, b) => commonPrefix(a, b));
    let expired = 0;
    for (const partition of objectsPartitions(bucket)) expired += await this.expireShard(bucket, partition, prefix, now, options);
    return expired;
  }

  /** {@link expireObjects} over one index shard. */
  private async expireShard(bucket: BucketEntry, partition: Id, prefix: string, now: number, options: SweepOptions): Promise<number> {
    const rules = bucket.lifecycle!;
    let expired = 0;
    let after: string | undefined;
    do {
      if (this.stopped) break;
      const page = await this.catalog.dht.scanPartition<ObjectEntry>(partition, { limit: PAGE, ...(prefix !== '' ? { prefix } : {}), ...(after ? { after } : {}) });
      const due = page.items.filter((item) => {
        // A delete marker as current version: the object is already expired (or deleted).
        if (item.body.dm) return false;
        const expiry = objectExpiry(rules, { key: item.sortKey!, size: item.body.size, tags: item.body.tags }, item.body.lm);
        return expiry !== undefined && expiry.at <= now;
      });
      await eachLimited(due, CONCURRENCY, async (item) => {
        const key = item.sortKey!;
        await options.beforeExpire?.(bucket.name, key);
        const done = await this.actions.expireObject(bucket, key, item.body.vid);
        if (done) {
          expired++;
          this.stats.objectsExpired++;
          if (done.deleteMarker !== undefined) this.logAction(bucket, LIFECYCLE_OPERATIONS.deleteMarker, key, done.deleteMarker);
          else this.logAction(bucket, LIFECYCLE_OPERATIONS.expire, key, undefined, item.body.size);
        }
      });
      after = page.next;
    } while (after);
    return expired;
  }

  private async abortUploads(bucket: BucketEntry, now: number): Promise<number> {
    const rules = bucket.lifecycle!;
    let aborted = 0;
    let after: string | undefined;
    do {
      if (this.stopped) break;
      const page = await this.catalog.dht.scanPartition<UploadEntry>(ids.uploads(bucket), { limit: PAGE, ...(after ? { after } : {}) });
      const due = page.items.filter((item) => {
        const at = uploadAbortTime(rules, item.body.key, item.body.initiated);
        return at !== undefined && at.at <= now && item.sortKey === item.body.key + UPLOAD_SEPARATOR + item.body.uploadId;
      });
      await eachLimited(due, CONCURRENCY, async (item) => {
        if (await this.actions.abortExpiredUpload(bucket, item.body.key, item.body.uploadId)) {
          aborted++;
          this.stats.uploadsAborted++;
          this.logAction(bucket, LIFECYCLE_OPERATIONS.abortUpload, item.body.key);
        }
      });
      after = page.next;
    } while (after);
    return aborted;
  }

  /**
   * Hands the access log record of an action to the delivery when the bucket logs (its record,
   * read by the sweep, says so; the delivery checks again). Each action gets its own request id.
   */
  private logAction(bucket: BucketEntry, operation: string, key: string, versionId?: string, size?: number): void {
    if (!this.accessLog || !bucket.log) return;
    const requestId = this.env.random.hex(8).toUpperCase();
    this.accessLog.record(bucket.name, lifecycleRecord({ bucket: bucket.name, operation, key, versionId, size, time: this.env.now(), requestId }));
  }
}

function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  // Never half of a surrogate pair (it would match no key).
  if (i > 0 && /[\ud800-\udbff]/.test(a[i - 1]!)) i--;
  return a.slice(0, i);
}
