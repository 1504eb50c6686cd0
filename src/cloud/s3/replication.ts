/**
 * Bucket replication: PutBucketReplication, GetBucketReplication, DeleteBucketReplication, and
 * the replicator that copies new object versions to the destination buckets the rules name.
 *
 * Every bucket lives on the same ring, so a replica is a second index entry over the same
 * content-addressed chunks (with its own chunk references), not a second copy of the bytes; the
 * ring's own replication is what survives failures. What bucket replication gives here is what
 * users set it up for on S3: a second bucket holding the same versions (same version ids, same
 * Last-Modified, metadata, tags, Object Lock settings), under another name, owner-side policies
 * or lifecycle — a protected copy that deletions in the source do not reach.
 *
 * How a version is replicated:
 * 1. A write into a bucket whose rules select the new version (VersioningApi.commit, and a
 *    DeleteObject's delete marker when the rule replicates markers) first records a task in the
 *    bucket's queue partition `s3repl:<bucket>:<inc>` (sort key `key U+0001 vid`), then commits
 *    the version marked `x-amz-replication-status: PENDING`. A write that fails leaves a task
 *    naming no version, dropped when run.
 * 2. The node that took the write runs the task at once, in the background. The replica is
 *    written into the destination with the source's version id and position in the key's
 *    history (versioning.ts), so it is the current version there when it is the newest, and a
 *    noncurrent one otherwise; then the source version becomes COMPLETED and the task goes.
 * 3. Tasks left over (the node died, the ring was unavailable) are run by the sweep: every
 *    `s3.replicationSweepMs`, each node runs the tasks older than a sweep period of the buckets
 *    whose record it is the DHT root of (the registry `s3replications:registry` lists the
 *    buckets with a configuration, as lifecycle.ts's does).
 * 4. A version that cannot be replicated — its destination bucket is gone, no longer versioned,
 *    owned by someone else, or holds another version at the same place — becomes FAILED, as S3
 *    marks it, and is not retried. A destination that is unreachable only for now is retried.
 *
 * A change of a replicated version's tags, ACL, retention or legal hold (VersioningApi.rewriteVersion)
 * records its task again and makes it PENDING: the run finds the replica there and gives it the
 * version's settings. Replicas are not replicated again (S3 does not chain replication), and
 * changes made to a replica do not go back to the source ("replica modification sync").
 * SSE-C and SSE-S3 objects are replicated sharing the source's encrypted chunks and key; SSE-KMS
 * objects only when a rule selects them (SseKmsEncryptedObjects), their data key sealed anew
 * under the rule's ReplicaKmsKeyID with an encryption context naming the replica.
 */
import type { Env, Logger, Timer } from '../../env/index.ts';
import type { Entity } from '../../dht/index.ts';
import { Scope, idFor } from '../../id/index.ts';
import type { Id } from '../../id/index.ts';
import { S3Error, parseReplicationConfiguration, replicationConfigurationXml, replicationRuleFor } from './protocol/index.ts';
import type { BodyVerifier, ReplicationRule } from './protocol/index.ts';
import type { Catalog } from './catalog.ts';
import { eachLimited } from './catalog.ts';
import { sweepEvery } from './periodic.ts';
import { isKms } from './encryption.ts';
import type { KmsSealedKey, SealedKey } from './encryption.ts';
import { StorageError } from './errors.ts';
import type { S3Request } from './http.ts';
import type { RootOracle } from './lifecycle.ts';
import { replicationPartitionOf, replicationPartitions } from './index-shards.ts';
import { UPLOAD_SEPARATOR, ids, versionRef } from './model.ts';
import type { BucketEntry, ObjectEntry, ReplicationStatus } from './model.ts';
import { readCheckedBody, sendEmpty, sendXml, subresourceOperation } from './replies.ts';
import type { Operation } from './replies.ts';
import type { ReplicaOutcome, ReplicationHooks, ReplicationTicket, VersioningApi } from './versioning-api.ts';

/** The registry of buckets with a replication configuration (sort key: bucket name). */
export const REPLICATION_REGISTRY: Id = idFor('s3replications:registry', Scope.GLOBAL);

/** A bucket's entry in the registry. */
interface ReplicationRefEntry extends Entity {
  type: 's3.replicationRef';
  inc: string;
  /** Names the configuration put that wrote the entry. */
  token: string;
}

/**
 * A version waiting to be replicated, or whose replica must take its new settings (the queue
 * partition's item): `k` the object key, `vid` the version's (known before the write decides its
 * version id), `at` when the task was last recorded (a task recorded again while it runs stays).
 */
export interface ReplicationTask extends Entity, ReplicationTicket {
  type: 's3.replicationTask';
}

/** One page of {@link Replicator.replicateExisting}. */
export interface ExistingReplicationPage {
  /** Keys examined, and their versions (delete markers included). */
  keys: number;
  versions: number;
  /** Versions without a replication status that a rule selects. */
  selected: number;
  /** Of those, replicated (COMPLETED) and FAILED by this page; the others are queued for the sweep. */
  replicated: number;
  failed: number;
  /** The key to continue after, when more keys follow. */
  next?: string;
}

/** Items per page of the registry and of a queue. */
const PAGE = 500;
/** Tasks of one page run at once. */
const CONCURRENCY = 8;
/** Replications started at write time and running at once on a node; more wait for the sweep. */
const MAX_IMMEDIATE = 64;
/** Write-time replications waiting here for one of those slots; more are left to the sweep. */
const MAX_WAITING = 10_000;

/** What the configuration operations need of the S3 API. */
export interface ReplicationApiContext {
  readonly env: Env;
  readonly catalog: Catalog;
  /** The request's bucket if the requester may do `action` on it (its owner, or the policy's). */
  bucketFor(r: S3Request, action: string, fresh?: boolean): Promise<BucketEntry>;
  verifier(r: S3Request): BodyVerifier;
}

/** The replication configuration operations (`?replication`). */
export class ReplicationApi {
  constructor(private readonly ctx: ReplicationApiContext) {}

  operation(r: S3Request): Operation | undefined {
    if (!r.query.has('replication')) return undefined;
    return subresourceOperation(r, 'BucketReplication', {
      PUT: ['PutBucketReplication', () => this.put(r)],
      GET: ['GetBucketReplication', () => this.get(r)],
      DELETE: ['DeleteBucketReplication', () => this.delete(r)],
    });
  }

  private async put(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:PutReplicationConfiguration', true);
    const random = this.ctx.env.random;
    const config = parseReplicationConfiguration(await readCheckedBody(r, this.ctx.verifier(r)), () => random.hex(24));
    if (bucket.ver !== 'Enabled') throw new S3Error('InvalidRequest', "Versioning must be 'Enabled' on the bucket to apply a replication configuration");
    for (const name of new Set(config.rules.map((rule) => rule.destination))) {
      if (name === bucket.name) throw new S3Error('InvalidRequest', 'Destination bucket cannot be the same as the source bucket.');
      const destination = await this.ctx.catalog.bucket(name, true);
      if (!destination) throw new S3Error('InvalidRequest', 'Destination bucket must exist.');
      if (destination.ver !== 'Enabled') throw new S3Error('InvalidRequest', 'Destination bucket must have versioning enabled.');
      // There is no IAM role to assume: the replicas are written as the source bucket's owner,
      // who must own the destination too.
      if (destination.owner !== bucket.owner) throw new S3Error('AccessDenied', 'The destination bucket must have the same owner as the source bucket.');
    }
    await this.ctx.catalog.setBucketSetting(bucket, 'repl', config);
    // After the record: a sweep that finds the entry finds the configuration.
    const entry: ReplicationRefEntry = { type: 's3.replicationRef', inc: bucket.inc, token: random.hex(8) };
    await this.ctx.catalog.dht.updateItem<ReplicationRefEntry>(REPLICATION_REGISTRY, bucket.name, () => entry);
    sendEmpty(r, 200);
  }

  private async get(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:GetReplicationConfiguration', true);
    if (!bucket.repl) throw new S3Error('ReplicationConfigurationNotFoundError', undefined, { fields: { BucketName: bucket.name } });
    sendXml(r, replicationConfigurationXml(bucket.repl));
  }

  private async delete(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:PutReplicationConfiguration', true);
    // The registry entry stays until a sweep finds the bucket without a configuration and its queue empty.
    if (bucket.repl) await this.ctx.catalog.setBucketSetting(bucket, 'repl', undefined);
    sendEmpty(r, 204);
  }
}

/** Counters of a node's replicator. */
export interface ReplicatorStats {
  /** Versions queued for replication by writes through this node. */
  queued: number;
  /** Versions replicated (COMPLETED) by this node. */
  replicated: number;
  /** Versions marked FAILED by this node. */
  failed: number;
  /** Task runs that failed for now (retried by a sweep). */
  retries: number;
  sweeps: number;
}

/** What one run of a task ended with: the version replicated (or its replica given its settings), FAILED, gone (nothing to do), or to retry. */
type TaskOutcome = 'replicated' | 'failed' | 'gone' | 'retry';

/** A permanent reason a version cannot be replicated (it becomes FAILED). */
class ReplicationRefused extends Error {}

/**
 * Queues new versions of replicated buckets (the {@link ReplicationHooks} of VersioningApi),
 * runs their tasks, and sweeps the queues of the buckets this node is root of.
 */
export class Replicator implements ReplicationHooks {
  readonly stats: ReplicatorStats = { queued: 0, replicated: 0, failed: 0, retries: 0, sweeps: 0 };
  private readonly log: Logger;
  private readonly running = new Set<Promise<unknown>>();
  /** Write-time replications waiting for a slot (FIFO; their tasks are in the queue partition too). */
  private readonly waiting: (() => Promise<TaskOutcome>)[] = [];
  private timer: Timer | undefined;
  private sweeping: Promise<number> | undefined;
  private stopped = true;
  private sweepMs = 0;

  constructor(
    private readonly env: Env,
    private readonly catalog: Catalog,
    private readonly versioning: () => VersioningApi,
    private readonly node: RootOracle,
    /** Seals an SSE-KMS version's data key for its replica, under the rule's key (S3Api). */
    private readonly resealKms: (sealed: KmsSealedKey, keyRef: string, bucket: string, key: string) => Promise<SealedKey>,
  ) {
    this.log = env.log.child({ mod: 's3.replication' });
  }

  // ---------------------------------------------------------------------------------------------
  // Queueing (VersioningApi's hooks)

  async prepare(bucket: BucketEntry, key: string, entry: ObjectEntry): Promise<ReplicationTask | undefined> {
    if (bucket.ver !== 'Enabled' || !bucket.repl) return undefined;
    const rule = replicationRuleFor(bucket.repl, { key, tags: entry.tags });
    if (!rule || !replicates(rule, entry)) return undefined;
    const task = await this.record(bucket, key, entry.vid, 'new');
    if (!entry.dm) entry.rs = 'PENDING';
    this.stats.queued++;
    return task;
  }

  async prepareChange(bucket: BucketEntry, key: string, entry: ObjectEntry): Promise<ReplicationTask | undefined> {
    // Only versions that were (or are being) replicated; a FAILED one stays so.
    if (!bucket.repl || (entry.rs !== 'PENDING' && entry.rs !== 'COMPLETED')) return undefined;
    return this.record(bucket, key, entry.vid, 'change');
  }

  committed(bucket: BucketEntry, task: ReplicationTicket, written?: ObjectEntry): void {
    if (this.stopped) return;
    const run = (): Promise<TaskOutcome> => this.runTask(bucket, { type: 's3.replicationTask', ...task }, written);
    if (this.running.size < MAX_IMMEDIATE) this.track(run());
    else if (this.waiting.length < MAX_WAITING) this.waiting.push(run);
  }

  /**
   * Records the task of version `vid` of `key`: for a `new` version (its task cannot exist yet:
   * one round), `again` (replacing any, with a new time), or for a `change` of its settings.
   */
  private async record(bucket: BucketEntry, key: string, vid: string, why: 'new' | 'again' | 'change'): Promise<ReplicationTask> {
    const task: ReplicationTask = { type: 's3.replicationTask', k: key, vid, at: this.env.now(), ...(why === 'change' ? { c: true as const } : {}) };
    const partition = replicationPartitionOf(bucket, key);
    if (why === 'new') await this.catalog.dht.writeItemIfAbsent<ReplicationTask>(partition, taskKey(key, vid), task);
    else await this.catalog.dht.updateItem<ReplicationTask>(partition, taskKey(key, vid), () => task);
    return task;
  }

  // ---------------------------------------------------------------------------------------------
  // Existing versions (S3's Batch Replication)

  /**
   * Replicates the versions of `name` that its rules select and that were never replicated
   * (written before the configuration: no replication status), one page of keys at a time in key
   * order after `after` (at most `limit` keys): each such version is marked PENDING, queued and
   * replicated before the page is answered; delete markers too where a rule replicates them
   * (one already replicated is found there and left). `retryFailed`: the FAILED versions too (the
   * cause fixed, e.g. the destination's versioning enabled again), as S3 Batch Replication retries
   * them. `dryRun` only counts them. Resolves with the page's counts and, when more keys follow,
   * the key to continue after.
   */
  async replicateExisting(name: string, options: { after?: string; limit: number; dryRun: boolean; retryFailed?: boolean }): Promise<ExistingReplicationPage> {
    const bucket = await this.catalog.bucket(name, true);
    if (!bucket) throw new StorageError('NotFound', `no bucket ${name}`);
    if (!bucket.repl) throw new StorageError('NotFound', `bucket ${name} has no replication configuration`);
    const page: ExistingReplicationPage = { keys: 0, versions: 0, selected: 0, replicated: 0, failed: 0 };
    const tasks: { task: ReplicationTask; version: ObjectEntry }[] = [];
    let lastKey: string | undefined;
    for await (const group of this.versioning().versions.keys(bucket, '', options.after ?? '')) {
      if (group.key === options.after) continue;
      if (page.keys === options.limit) {
        page.next = lastKey!;
        break;
      }
      page.keys++;
      lastKey = group.key;
      for (const version of [...(group.current ? [group.current] : []), ...group.noncurrent.map((v) => v.entry)]) {
        page.versions++;
        if (version.rs !== undefined && !(options.retryFailed === true && version.rs === 'FAILED')) continue;
        const rule = replicationRuleFor(bucket.repl, { key: group.key, tags: version.tags });
        if (!rule || !replicates(rule, version)) continue;
        page.selected++;
        if (options.dryRun) continue;
        tasks.push({ task: await this.record(bucket, group.key, version.vid, 'again'), version });
      }
    }
    await eachLimited(tasks, CONCURRENCY, async ({ task, version }) => {
      // PENDING before the run, as a new version is (the run reads the version afresh).
      if (!version.dm) await this.setStatus(bucket, task.k, task.vid, 'PENDING');
      const outcome = await this.runTask(bucket, task);
      if (outcome === 'replicated') page.replicated++;
      else if (outcome === 'failed') page.failed++;
    });
    this.stats.queued += tasks.length;
    return page;
  }

  // ---------------------------------------------------------------------------------------------
  // Running a task

  /**
   * Replicates the version a task names, then drops the task; resolves with `retry` (task kept)
   * when the ring or the destination could not be reached now. `known`: the version, just
   * written (else it is read).
   */
  async runTask(source: BucketEntry, task: ReplicationTask, known?: ObjectEntry): Promise<TaskOutcome> {
    let outcome: TaskOutcome;
    try {
      outcome = await this.replicate(source, task, known);
    } catch (err) {
      this.stats.retries++;
      // Each retry at debug: a sweep that meets them warns once per bucket (an outage would flood the log).
      this.log.debug({ code: 'ReplicationRetry', bucket: source.name, key: task.k, err: (err as Error).message }, 'could not replicate an object version now; a sweep will retry');
      return 'retry';
    }
    // Unless it was recorded again meanwhile (new settings): then it runs again.
    await this.catalog.dht.updateItem<ReplicationTask>(replicationPartitionOf(source, task.k), taskKey(task.k, task.vid), (c) =>
      c && !c.deleted && c.body.at === task.at ? ({ type: 's3.replicationTask', deleted: true } as unknown as ReplicationTask) : null,
    );
    return outcome;
  }

  private async replicate(asked: BucketEntry, task: ReplicationTask, known?: ObjectEntry): Promise<TaskOutcome> {
    const bucket = await this.catalog.bucket(asked.name);
    if (!bucket || bucket.inc !== asked.inc) return 'gone'; // the bucket is gone, and its versions with it
    const found = known ?? (await this.findVersion(bucket, task.k, task.vid));
    if (!found) return 'gone'; // never written, or deleted since
    const rule = replicationRuleFor(bucket.repl, { key: task.k, tags: found.tags });
    try {
      if (!rule || !replicates(rule, found)) throw new ReplicationRefused('no rule replicates the version any more');
      await this.writeReplica(bucket, rule, task.k, found, task.c === true);
    } catch (err) {
      if (!(err instanceof ReplicationRefused)) throw err;
      this.stats.failed++;
      this.log.warn({ code: 'ReplicationFailed', bucket: bucket.name, key: task.k, reason: err.message }, 'an object version cannot be replicated (FAILED)');
      if (!found.dm) await this.setStatus(bucket, task.k, task.vid, 'FAILED');
      return 'failed';
    }
    this.stats.replicated++;
    if (!found.dm) await this.setStatus(bucket, task.k, task.vid, 'COMPLETED');
    return 'replicated';
  }

  /**
   * Writes the replica of `version` into the rule's destination, or gives the replica already
   * there the version's settings (first thing tried for a `change` task); throws
   * {@link ReplicationRefused} when the destination cannot take it.
   */
  private async writeReplica(source: BucketEntry, rule: ReplicationRule, key: string, version: ObjectEntry, change: boolean): Promise<void> {
    // The cached record, as a PutObject into it reads it (a deletion waits for the caches: catalog.ts);
    // read afresh before a refusal, which is final (FAILED): the cache may predate the fix.
    let destination = await this.catalog.bucket(rule.destination);
    let refused = refusal(destination, source, version, rule.destination);
    if (refused !== undefined) {
      destination = await this.catalog.bucket(rule.destination, true);
      refused = refusal(destination, source, version, rule.destination);
    }
    if (refused !== undefined || !destination) throw new ReplicationRefused(refused ?? rule.destination);
    if (change && !version.dm && (await this.synced(destination, key, version))) return;
    const { version: _stored, rs: _status, ...fields } = version as ObjectEntry & { version?: number };
    // Its own vid: chunk references and manifest pages are named by it (model.ts).
    const vid = this.env.random.hex(16);
    const replica: ObjectEntry = { ...fields, vid, rs: 'REPLICA' };
    if (!version.dm) {
      if (version.sse && isKms(version.sse)) replica.sse = await this.resealed(version.sse, rule, destination.name, key);
      if (rule.storageClass !== undefined) {
        if (rule.storageClass === 'STANDARD') delete replica.sc;
        else replica.sc = rule.storageClass;
      }
      if (version.chunks !== undefined || version.pages !== undefined) {
        delete replica.chunks;
        delete replica.crcs;
        delete replica.pages;
        const chunks = await this.catalog.chunkList(version);
        await this.catalog.addRefs(
          chunks.map((c) => c.hash),
          versionRef(vid),
          { b: destination.name, i: destination.inc, k: key, v: vid },
        );
        Object.assign(replica, await this.catalog.storeChunkList(vid, chunks));
      }
    } else delete replica.rs;
    let outcome: ReplicaOutcome;
    try {
      outcome = await this.versioning().commitReplica(destination, key, replica);
    } catch (err) {
      throw refusedByDestination(err);
    }
    // (When it was already there, or refused, the references just written are the collector's: gc.ts finds no version of that vid.)
    if (outcome === 'conflict') throw new ReplicationRefused(`the destination bucket ${rule.destination} holds another version at the place of this one`);
    // Already there (a task run again): it takes the source's settings.
    if (outcome === 'present' && !version.dm) await this.synced(destination, key, version);
  }

  /** An SSE-KMS version's sealed key for its replica; a KMS key that is missing or disabled makes the version FAILED. */
  private async resealed(sealed: KmsSealedKey, rule: ReplicationRule, bucket: string, key: string): Promise<SealedKey> {
    try {
      return await this.resealKms(sealed, rule.replicaKmsKey!, bucket, key);
    } catch (err) {
      if (err instanceof S3Error) throw new ReplicationRefused(`the replica's KMS key ${rule.replicaKmsKey}: ${err.message}`);
      throw err;
    }
  }

  /** Gives the replica of `version` in `destination` the version's settings; resolves with whether the replica was there. */
  private async synced(destination: BucketEntry, key: string, version: ObjectEntry): Promise<boolean> {
    try {
      return await this.versioning().syncReplica(destination, key, version);
    } catch (err) {
      // OperationAborted here is a race with a write of the replica's key: retried.
      throw err instanceof S3Error && err.code === 'OperationAborted' ? err : refusedByDestination(err);
    }
  }

  /** The version of `key` written under `vid`, current or noncurrent; undefined when there is none. */
  private async findVersion(bucket: BucketEntry, key: string, vid: string): Promise<ObjectEntry | undefined> {
    const current = await this.catalog.getCurrent(bucket, key);
    if (current?.vid === vid) return current;
    for await (const v of this.versioning().versions.noncurrent(bucket, key)) if (v.entry.vid === vid) return v.entry;
    return undefined;
  }

  /** Sets the replication status of the version written under `vid`, wherever it is now (current or noncurrent). */
  private async setStatus(bucket: BucketEntry, key: string, vid: string, status: ReplicationStatus): Promise<void> {
    const change = (e: ObjectEntry): ObjectEntry => ({ ...e, rs: status });
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await this.catalog.getCurrent(bucket, key);
      if (current?.vid === vid) {
        try {
          await this.catalog.rewriteObject(bucket, key, current, change);
          return;
        } catch (err) {
          // Replaced meanwhile: it is a noncurrent version now.
          if (!(err instanceof S3Error) || (err.code !== 'OperationAborted' && err.code !== 'NoSuchKey')) throw err;
          continue;
        }
      }
      let seen = false;
      for await (const v of this.versioning().versions.noncurrent(bucket, key)) {
        if (v.entry.vid !== vid) continue;
        if (await this.versioning().versions.rewrite(bucket, key, v.entry, change)) return;
        seen = true; // moved meanwhile (made current again by a deletion): look again
        break;
      }
      if (!seen && current?.vid !== vid) return; // deleted for good
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The sweep

  /** Starts the periodic sweep (`sweepMs` 0: never; tasks then run only at write time). */
  start(sweepMs: number): void {
    this.stopped = false;
    this.sweepMs = sweepMs;
    this.timer?.cancel();
    if (sweepMs > 0) this.timer = sweepEvery(this.env, sweepMs, () => this.sweep());
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    // Their tasks stay queued: a sweep runs them.
    this.waiting.length = 0;
  }

  /** Waits for the replications running in the background. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /**
   * Runs the queued tasks of the registered buckets this node is root of (`everyBucket`: of all
   * of them) that are older than `minAgeMs` (default: one sweep period, so a replication started
   * at write time is not run twice at once); resolves with the number of tasks done.
   */
  sweep(options: { minAgeMs?: number; everyBucket?: boolean } = {}): Promise<number> {
    if (this.sweeping) return this.sweeping;
    if (!this.node.isReady) return Promise.resolve(0);
    const p = this.pass(options.minAgeMs ?? this.sweepMs, options.everyBucket === true).finally(() => {
      this.sweeping = undefined;
    });
    this.sweeping = p;
    return p;
  }

  private async pass(minAgeMs: number, everyBucket: boolean): Promise<number> {
    this.stats.sweeps++;
    let done = 0;
    let after: string | undefined;
    do {
      const page = await this.catalog.dht.scanPartition<ReplicationRefEntry>(REPLICATION_REGISTRY, { limit: PAGE, ...(after !== undefined ? { after } : {}) });
      for (const item of page.items) {
        if (this.stopped) return done;
        const name = item.sortKey!;
        if (item.deleted || (!everyBucket && !this.node.isRoot(ids.bucket(name)))) continue;
        try {
          done += await this.sweepBucket(name, item.body, minAgeMs);
        } catch (err) {
          this.log.warn({ code: 'ReplicationSweepFailed', bucket: name, err: (err as Error).message }, 'could not sweep the replication queue of a bucket; the next sweep will');
        }
      }
      after = page.next;
    } while (after !== undefined);
    return done;
  }

  private async sweepBucket(name: string, ref: ReplicationRefEntry, minAgeMs: number): Promise<number> {
    const bucket = await this.catalog.bucket(name, true);
    if (!bucket || bucket.inc !== ref.inc) {
      await this.dropRegistryEntry(name, ref);
      return 0;
    }
    const before = this.env.now() - minAgeMs;
    let done = 0;
    let seen = 0;
    let retries = 0;
    for (const partition of replicationPartitions(bucket)) {
      let after: string | undefined;
      do {
        const page = await this.catalog.dht.scanPartition<ReplicationTask>(partition, { limit: PAGE, ...(after !== undefined ? { after } : {}) });
        const due = page.items.filter((i) => !i.deleted && i.body.at <= before).map((i) => i.body);
        seen += page.items.filter((i) => !i.deleted).length;
        await eachLimited(due, CONCURRENCY, async (task) => {
          if ((await this.runTask(bucket, task)) !== 'retry') done++;
          else retries++;
        });
        after = page.next;
      } while (after !== undefined && !this.stopped);
    }
    if (retries > 0) this.log.warn({ code: 'ReplicationRetry', bucket: name, versions: retries }, `${retries} version(s) of bucket ${name} could not be replicated now; the next sweep retries`);
    // A bucket whose configuration was deleted leaves the registry once its queue is empty.
    if (!bucket.repl && seen === 0) await this.dropRegistryEntry(name, ref);
    return done;
  }

  private async dropRegistryEntry(name: string, ref: ReplicationRefEntry): Promise<void> {
    await this.catalog.dht.updateItem<ReplicationRefEntry>(REPLICATION_REGISTRY, name, (current) =>
      current && !current.deleted && current.body.token === ref.token ? ({ type: 's3.replicationRef', deleted: true } as unknown as ReplicationRefEntry) : null,
    );
  }

  /** Runs `p` in the background, then the next write-time replication waiting for a slot. */
  private track(p: Promise<unknown>): void {
    const tracked = p
      .catch(() => {})
      .finally(() => {
        this.running.delete(tracked);
        const next = this.stopped ? undefined : this.waiting.shift();
        if (next) this.track(next());
      });
    this.running.add(tracked);
  }
}

/** A destination's refusal that will not change by retrying (deleted, closing, versioning not enabled) as {@link ReplicationRefused}; other errors as they are. */
function refusedByDestination(err: unknown): unknown {
  if (err instanceof S3Error && (err.code === 'NoSuchBucket' || err.code === 'InvalidBucketState' || err.code === 'OperationAborted')) return new ReplicationRefused(err.message);
  return err;
}

/** Why `destination` cannot take a replica of `version` of `source`, or undefined when it can. */
function refusal(destination: BucketEntry | undefined, source: BucketEntry, version: ObjectEntry, name: string): string | undefined {
  if (!destination) return `the destination bucket ${name} does not exist`;
  if (destination.ver !== 'Enabled') return `the destination bucket ${name} does not have versioning enabled`;
  if (destination.owner !== source.owner) return `the destination bucket ${name} has another owner`;
  // As in S3: a version under Object Lock goes only where Object Lock can keep it.
  if ((version.rm !== undefined || version.lh !== undefined) && !destination.lock) return `the destination bucket ${name} does not have Object Lock enabled`;
  return undefined;
}

/** Whether `rule` replicates `entry`: a delete marker when it replicates markers, an SSE-KMS object when it selects those. */
function replicates(rule: ReplicationRule, entry: ObjectEntry): boolean {
  if (entry.dm) return rule.deleteMarkers;
  return !(entry.sse && isKms(entry.sse)) || rule.sseKms === true;
}

/** Sort key of a task in a bucket's queue. */
function taskKey(key: string, vid: string): string {
  return key + UPLOAD_SEPARATOR + vid;
}

