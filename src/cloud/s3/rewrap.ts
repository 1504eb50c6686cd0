/**
 * SSE-S3 after a master key rotation: the operator-triggered job that rewraps data keys under the
 * current master key, and its dry run, which counts them by master key id.
 *
 * What holds a wrapped data key (`{ kid, wk }`, encryption.ts): an SSE-S3 object's index entry
 * (current versions, `s3objects:`), its noncurrent versions (`s3versions:`), an SSE-S3 multipart
 * upload in progress (`s3uploads:`) and its parts (`s3parts:<upload id>`, each with a copy of the
 * upload's key). The job walks them bucket by bucket and gives every entry whose key a previous
 * master key wrapped the same data key wrapped under the current one ({@link MasterKeys.rewrap}):
 * the data, its chunks and their IVs are not touched.
 *
 * - **Never undoing a write.** Each rewrap is one conditional DHT write of the entry that applies
 *   only while the entry is still the one scanned (the same version id, upload id or part
 *   version), as `Catalog.rewriteObject` does: an entry overwritten or deleted meanwhile is left
 *   as it is and counted as changed (its writer wrapped the new key under the key it holds as
 *   current), and a change of the same version meanwhile (tags, ACL) is kept, since the rewrap
 *   applies to the entry as stored.
 * - **Order.** Within a bucket: uploads with their parts, then current versions, then noncurrent
 *   ones, so an entry that moves while the job runs (an upload completed into an object, a
 *   current version made noncurrent by an overwrite) is usually met again after its move. A write
 *   racing the job can still leave an entry under an old key (a completion that read its upload
 *   before the rewrap and commits after the objects were walked); the count afterwards shows it,
 *   and running the job again rewraps it.
 * - **Resumable.** The job keeps no state of its own: every rewrap commits alone, and an entry
 *   already under the current key costs only its read. A job that stopped (its node stopped, it
 *   was interrupted) resumes by running it again; `buckets` limits a run to some buckets.
 * - **The ring's keys.** The ops route starts a job only while every node serving S3 has this
 *   node's current master key as its own (rewrap-preflight.ts), and the job checks again every
 *   {@link RECHECK_INTERVAL_MS} while it runs ({@link RewrapOptions.recheck}): a failed check ends
 *   it as failed, since a node on another key would wrap new data keys behind it.
 * - **Unknown keys.** An entry under a master key this node does not hold (a node configured with
 *   another key wrote it, or a key was dropped too early) cannot be rewrapped here: it is counted
 *   and reported, and the job goes on.
 *
 * Which buckets: nothing enumerated them before, so every bucket is listed in a registry
 * partition (bucket-registry.ts) written at CreateBucket; buckets older than the registry are
 * registered by the nodes holding their records when they start, and by the job's own node when
 * the job starts. A run can instead name its buckets. The job runs on the node asked (one job at a
 * time per node); its progress and summary are read back while it runs and after it finished.
 *
 * SSE-KMS: object data keys are wrapped under the ring's KMS keys, not the master key, so they
 * need nothing; the KMS keys' own material is wrapped under the master key, and every run (a
 * whole run, not one limited to some buckets) first rewraps those records (kms.ts,
 * `KmsKeys.rewrapMaterial`; a dry run counts them), reported as `kmsKeys`.
 *
 * Time and randomness come from the env (the GCM nonces of the rewrapped keys included).
 */
import type { DhtRecord, Entity } from '../../dht/index.ts';
import type { Env, Logger } from '../../env/index.ts';
import type { Id } from '../../id/index.ts';
import { objectsPartitionOf, objectsPartitions, versionsPartitionOf, versionsPartitions } from './index-shards.ts';
import { dropStaleEntry, registerBucket, registerLocalBuckets, registeredBuckets } from './bucket-registry.ts';
import type { Catalog } from './catalog.ts';
import { OBJECT_WRITE_OPTIONS, eachLimited } from './catalog.ts';
import { isManaged } from './encryption.ts';
import type { ManagedSealedKey, MasterKeys, SealedKey } from './encryption.ts';
import { StorageError } from './errors.ts';
import type { KmsKeys } from './kms.ts';
import { ids, partSortKey } from './model.ts';
import type { BucketEntry, ObjectEntry, PartEntry, UploadEntry } from './model.ts';
import { keyOfVersionSortKey } from './versioning.ts';

/** A failed recheck: ends the whole job (a bucket's other errors only skip that bucket). */
class JobAborted extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** A running job: its status, whether it was asked to stop, its rate-limited recheck. */
interface Job {
  status: RewrapJobStatus;
  stopped: boolean;
  recheck: () => Promise<void>;
  done: Promise<RewrapJobStatus>;
}

/** Where an entry holding a data key is: a current version, a noncurrent one, an upload, a part. */
export type EntryKind = 'object' | 'version' | 'upload' | 'part';

/** How a master key id stands on this node: its current key, a previous key it holds, or neither. */
export type KeyStatus = 'current' | 'previous' | 'unknown';

/** SSE-S3 entries found under one master key. */
export interface KidCount {
  kid: string;
  status: KeyStatus;
  entries: number;
}

/** What a rewrap job (or its dry run) found and did. */
export interface RewrapSummary {
  /** Whether the run only counted. */
  dryRun: boolean;
  /** Id of this node's current master key. */
  currentKid: string;
  /** Buckets walked. */
  buckets: number;
  /** Buckets named by the run that do not exist. */
  missingBuckets: string[];
  /** Entries read (object versions, uploads, parts), whatever their encryption. */
  entries: number;
  /** Of those, the entries holding an SSE-S3 data key. */
  scanned: number;
  /** Entries whose data key was rewrapped under the current key. */
  rewrapped: number;
  /** Entries found under the current key already. */
  alreadyCurrent: number;
  /** Dry run: entries under a previous key, which a run would rewrap. */
  pending: number;
  /** Entries overwritten, deleted or rewrapped by someone else between the scan and the rewrap: left as they were. */
  changed: number;
  /** Entries under a master key this node does not hold: left as they were. */
  unknownKid: number;
  /** Entries (or buckets) the job failed on (logged): left as they were; run the job again. */
  errors: number;
  /** The SSE-S3 entries by the master key that wrapped them when they were found. */
  byKid: KidCount[];
  /** The SSE-S3 entries by where they are. */
  byKind: Record<EntryKind, number>;
  /**
   * The ring's KMS keys: how many, how many had their material rewrapped under the current
   * master key (a dry run: would have), and failures (absent on a run limited to some buckets).
   */
  kmsKeys?: { keys: number; rewrapped: number; errors: number };
}

/** What to run. */
export interface RewrapOptions {
  /** Count only (no write). Default false. */
  dryRun?: boolean;
  /** Only these buckets (default: every registered bucket). */
  buckets?: string[];
  /**
   * Checked again while the job runs (the service passes its ring-wide master key check): before
   * each page of entries, at most once per `recheckIntervalMs`. A throw ends the job as failed
   * with its message (what was rewrapped stays; running the job again goes on from there), so a
   * node put back on an old key mid-job stops it instead of writing behind it unseen.
   */
  recheck?: () => Promise<void>;
  /** Least time between two rechecks (default {@link RECHECK_INTERVAL_MS}). */
  recheckIntervalMs?: number;
}

/** Least time between two of a job's rechecks of the ring (see {@link RewrapOptions.recheck}). */
export const RECHECK_INTERVAL_MS = 30_000;

/** A job's state and summary so far. */
export interface RewrapJobStatus {
  /** Random id of the job. */
  id: string;
  state: 'running' | 'done' | 'failed' | 'stopped';
  dryRun: boolean;
  /** The buckets the job was limited to, if it was. */
  onlyBuckets?: string[];
  startedAt: number;
  finishedAt?: number;
  /** The bucket being walked (while running). */
  bucket?: string;
  /** Why the job failed. */
  error?: string;
  summary: RewrapSummary;
}

/** One entry holding a data key, as scanned: what {@link SseRewrapper.rewrapEntry} rewraps. */
export type RewrapTarget =
  | { kind: 'object'; bucket: Pick<BucketEntry, 'name' | 'inc'>; key: string; entry: ObjectEntry }
  | { kind: 'version'; bucket: Pick<BucketEntry, 'name' | 'inc'>; sortKey: string; entry: ObjectEntry }
  | { kind: 'upload'; bucket: Pick<BucketEntry, 'name' | 'inc'>; sortKey: string; entry: UploadEntry }
  | { kind: 'part'; uploadId: string; entry: PartEntry };

/**
 * What became of one entry: rewrapped; already under the current key (found so, or rewrapped by
 * someone else first); changed meanwhile (left alone); under a key this node does not hold.
 */
export type RewrapOutcome = 'rewrapped' | 'current' | 'changed' | 'unknown';

/** Counters of the rewrap jobs run on this node since it started (metrics). */
export interface RewrapStats {
  jobs: number;
  rewrapped: number;
  changed: number;
  errors: number;
  /** The entries by master key of the last dry run that finished, if any. */
  lastCount?: KidCount[];
}

/** Entries read per page of a partition. */
const PAGE = 500;
/** Rewraps of a page in flight at once. */
const CONCURRENCY = 8;
const GCM_NONCE_BYTES = 12;

/** Runs rewrap jobs on this node, one at a time, and remembers the last one. */
export class SseRewrapper {
  readonly stats: RewrapStats = { jobs: 0, rewrapped: 0, changed: 0, errors: 0 };
  private job: Job | undefined;
  private readonly log: Logger;
  private closed = false;

  constructor(
    private readonly env: Env,
    private readonly catalog: Catalog,
    /** The node's master keys (undefined: it has none, and jobs are refused). */
    private readonly master: MasterKeys | undefined,
    /** The ring's KMS keys, whose material is wrapped under the master key. */
    private readonly kms?: KmsKeys,
  ) {
    this.log = env.log.child({ mod: 's3.rewrap' });
  }

  /** The running or last job's status (undefined when none ran since the node started). */
  get status(): RewrapJobStatus | undefined {
    return this.job ? snapshot(this.job.status) : undefined;
  }

  /**
   * Starts a job in the background; resolves at once with its status (`Conflict` while another
   * runs; `NotAvailable` without master keys or once stopping). `done` resolves when it ends.
   */
  start(options: RewrapOptions = {}): { status: RewrapJobStatus; done: Promise<RewrapJobStatus> } {
    if (this.closed) throw new StorageError('NotAvailable', 'the s3 application is stopping');
    if (!this.master) throw new StorageError('NotAvailable', 'this node has no SSE-S3 master key (s3.sseMasterKeyFile): run the job on a node that has the keys');
    if (this.job?.status.state === 'running') throw new StorageError('Conflict', `a rewrap job (${this.job.status.id}) is running on this node since ${new Date(this.job.status.startedAt).toISOString()}`);
    const buckets = options.buckets !== undefined ? [...new Set(options.buckets)] : undefined;
    const status: RewrapJobStatus = {
      id: this.env.random.hex(8),
      state: 'running',
      dryRun: options.dryRun === true,
      ...(buckets !== undefined ? { onlyBuckets: buckets } : {}),
      startedAt: this.env.now(),
      summary: emptySummary(options.dryRun === true, this.master.current.id),
    };
    const job: Job = { status, stopped: false, recheck: this.rechecker(options), done: undefined as unknown as Promise<RewrapJobStatus> };
    this.stats.jobs++;
    job.done = this.walk(job, buckets).then(
      () => {
        status.state = job.stopped ? 'stopped' : 'done';
        if (status.dryRun && !job.stopped) this.stats.lastCount = status.summary.byKid.map((k) => ({ ...k }));
      },
      (err: unknown) => {
        status.state = job.stopped ? 'stopped' : 'failed';
        status.error = (err as Error)?.message ?? String(err);
        this.log.warn({ code: 'SseRewrapFailed', job: status.id, err: status.error }, `the rewrap job stopped: ${status.error}`);
      },
    ).then(() => {
      status.finishedAt = this.env.now();
      delete status.bucket;
      const s = status.summary;
      this.log.info(
        { event: 's3.rewrap', job: status.id, state: status.state, dryRun: s.dryRun, buckets: s.buckets, scanned: s.scanned, rewrapped: s.rewrapped, alreadyCurrent: s.alreadyCurrent, pending: s.pending, changed: s.changed, unknownKid: s.unknownKid, errors: s.errors },
        `rewrap job ${status.state}: ${s.scanned} SSE-S3 entries in ${s.buckets} bucket(s), ${s.rewrapped} rewrapped, ${s.unknownKid} under unknown keys, ${s.errors} errors`,
      );
      return snapshot(status);
    });
    this.job = job;
    return { status: snapshot(status), done: job.done };
  }

  /** Runs a job to its end; resolves with its final status. */
  async run(options: RewrapOptions = {}): Promise<RewrapJobStatus> {
    return this.start(options).done;
  }

  /** Stops the running job (it ends after the entries in flight) and refuses new ones. */
  stop(): void {
    this.closed = true;
    if (this.job) this.job.stopped = true;
  }

  /** How `kid` stands on this node. */
  keyStatus(kid: string): KeyStatus {
    if (!this.master) return 'unknown';
    if (kid === this.master.current.id) return 'current';
    return this.master.ids.includes(kid) ? 'previous' : 'unknown';
  }

  /**
   * Rewraps the data key of one scanned entry under the current master key, in one conditional
   * write that applies only while the entry is still the one scanned (see the module comment).
   * `target.entry` is the entry as scanned: a stale one is left as it is now (`changed`).
   */
  async rewrapEntry(target: RewrapTarget): Promise<RewrapOutcome> {
    const master = this.master;
    if (!master) throw new StorageError('NotAvailable', 'this node has no SSE-S3 master key');
    const sealed = managedKey(target.entry.sse);
    if (!sealed) throw new StorageError('InvalidArgument', 'the entry holds no SSE-S3 data key');
    const found = this.keyStatus(sealed.kid);
    if (found !== 'previous') return found;
    const where = locate(target);
    let outcome: RewrapOutcome = 'changed';
    await this.catalog.dht.updateItem<Entity & { sse?: SealedKey }>(
      where.partition,
      where.sortKey,
      (now) => {
        outcome = 'changed';
        const body = now && !now.deleted ? now.body : undefined;
        if (!body || !where.same(body)) return null;
        const stored = managedKey(body.sse);
        if (!stored) return null;
        const status = this.keyStatus(stored.kid);
        if (status !== 'previous') {
          outcome = status;
          return null;
        }
        outcome = 'rewrapped';
        return { ...body, sse: master.rewrap(stored, this.env.random.bytes(GCM_NONCE_BYTES)) };
      },
      OBJECT_WRITE_OPTIONS,
    );
    return outcome;
  }

  // ---------------------------------------------------------------------------------------------
  // The walk

  private async walk(job: Job, only: string[] | undefined): Promise<void> {
    const s = job.status.summary;
    await job.recheck();
    if (this.kms && only === undefined) {
      s.kmsKeys = await this.kms.rewrapMaterial(s.dryRun);
      s.errors += s.kmsKeys.errors;
      this.stats.errors += s.kmsKeys.errors;
    }
    const visitBucket = async (bucket: BucketEntry): Promise<void> => {
      job.status.bucket = bucket.name;
      s.buckets++;
      try {
        await this.walkBucket(job, bucket);
      } catch (err) {
        if (err instanceof JobAborted) throw err;
        s.errors++;
        this.stats.errors++;
        this.log.warn({ code: 'SseRewrapFailed', bucket: bucket.name, err: (err as Error).message }, `could not walk bucket ${bucket.name}; run the job again`);
      }
    };
    if (only !== undefined) {
      for (const name of only) {
        if (job.stopped) return;
        const bucket = await this.catalog.bucket(name, true);
        if (bucket) await visitBucket(bucket);
        else s.missingBuckets.push(name);
      }
      return;
    }
    // Buckets older than the registry that this node holds (the others' holders registered them at their start).
    const local = await registerLocalBuckets(this.catalog.dht).catch((err: unknown) => {
      this.log.warn({ code: 'BucketRegistrationFailed', err: (err as Error).message }, 'could not register the buckets held on this node');
      return undefined;
    });
    if (local && local.registered > 0) this.log.info({ event: 's3.bucketsRegistered', registered: local.registered }, `registered ${local.registered} bucket(s) held on this node`);
    for await (const ref of registeredBuckets(this.catalog.dht)) {
      if (job.stopped) return;
      const bucket = await this.catalog.bucket(ref.name, true);
      if (!bucket || bucket.inc !== ref.inc) {
        // A stale entry (its bucket deleted, or re-created without its entry replaced).
        if (!s.dryRun) await (bucket ? registerBucket(this.catalog.dht, bucket) : dropStaleEntry(this.catalog.dht, ref.name, ref.inc)).catch(() => {});
        if (!bucket) continue;
      }
      await visitBucket(bucket);
    }
  }

  private async walkBucket(job: Job, bucket: BucketEntry): Promise<void> {
    await this.eachItem<UploadEntry>(job, ids.uploads(bucket), async (item) => {
      const upload = item.body;
      await this.visit(job, { kind: 'upload', bucket, sortKey: item.sortKey!, entry: upload });
      if (!managedKey(upload.sse)) return;
      for await (const part of this.catalog.parts(upload.uploadId)) {
        if (job.stopped) return;
        await this.visit(job, { kind: 'part', uploadId: upload.uploadId, entry: part });
      }
    });
    for (const partition of objectsPartitions(bucket)) await this.eachItem<ObjectEntry>(job, partition, (item) => this.visit(job, { kind: 'object', bucket, key: item.sortKey!, entry: item.body }));
    for (const partition of versionsPartitions(bucket)) await this.eachItem<ObjectEntry>(job, partition, (item) => this.visit(job, { kind: 'version', bucket, sortKey: item.sortKey!, entry: item.body }));
  }

  /** The job's {@link RewrapOptions.recheck}, rate-limited by the env's clock (a no-op without one). */
  private rechecker(options: RewrapOptions): () => Promise<void> {
    const recheck = options.recheck;
    if (!recheck) return () => Promise.resolve();
    const interval = options.recheckIntervalMs ?? RECHECK_INTERVAL_MS;
    let last = this.env.now();
    return async () => {
      if (this.env.now() - last < interval) return;
      try {
        await recheck();
      } catch (err) {
        throw new JobAborted(err);
      }
      last = this.env.now();
    };
  }

  /** Runs `fn` over the live items of a partition, a page at a time, a few at once. */
  private async eachItem<T extends Entity>(job: Job, partition: Id, fn: (item: DhtRecord<T>) => Promise<void>): Promise<void> {
    let after: string | undefined;
    do {
      if (job.stopped) return;
      await job.recheck();
      const page = await this.catalog.dht.scanPartition<T>(partition, { limit: PAGE, ...(after !== undefined ? { after } : {}) });
      await eachLimited(page.items, CONCURRENCY, fn);
      after = page.next;
    } while (after !== undefined);
  }

  /** Counts one scanned entry and, unless the run is dry, rewraps it if a previous key wrapped it. */
  private async visit(job: Job, target: RewrapTarget): Promise<void> {
    const s = job.status.summary;
    s.entries++;
    const sealed = managedKey(target.entry.sse);
    if (!sealed) return;
    s.scanned++;
    s.byKind[target.kind]++;
    const status = this.keyStatus(sealed.kid);
    let count = s.byKid.find((k) => k.kid === sealed.kid);
    if (!count) {
      count = { kid: sealed.kid, status, entries: 0 };
      s.byKid.push(count);
      // The current key first, then previous ones, then unknown ones.
      s.byKid.sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || a.kid.localeCompare(b.kid));
    }
    count.entries++;
    if (status === 'current') {
      s.alreadyCurrent++;
      return;
    }
    if (status === 'unknown') {
      s.unknownKid++;
      return;
    }
    if (s.dryRun) {
      s.pending++;
      return;
    }
    try {
      const outcome = await this.rewrapEntry(target);
      if (outcome === 'rewrapped') {
        s.rewrapped++;
        this.stats.rewrapped++;
      } else if (outcome === 'current') s.alreadyCurrent++;
      else if (outcome === 'unknown') s.unknownKid++;
      else {
        s.changed++;
        this.stats.changed++;
      }
    } catch (err) {
      s.errors++;
      this.stats.errors++;
      this.log.warn({ code: 'SseRewrapFailed', kind: target.kind, ...describe(target), err: (err as Error).message }, `could not rewrap a data key; run the job again`);
    }
  }
}

const STATUS_ORDER: Record<KeyStatus, number> = { current: 0, previous: 1, unknown: 2 };

function emptySummary(dryRun: boolean, currentKid: string): RewrapSummary {
  return {
    dryRun,
    currentKid,
    buckets: 0,
    missingBuckets: [],
    entries: 0,
    scanned: 0,
    rewrapped: 0,
    alreadyCurrent: 0,
    pending: 0,
    changed: 0,
    unknownKid: 0,
    errors: 0,
    byKid: [],
    byKind: { object: 0, version: 0, upload: 0, part: 0 },
  };
}

/** A copy of a status (the job keeps changing its own). */
function snapshot(status: RewrapJobStatus): RewrapJobStatus {
  const s = status.summary;
  return {
    ...status,
    ...(status.onlyBuckets ? { onlyBuckets: [...status.onlyBuckets] } : {}),
    summary: { ...s, missingBuckets: [...s.missingBuckets], byKid: s.byKid.map((k) => ({ ...k })), byKind: { ...s.byKind } },
  };
}

function managedKey(sealed: SealedKey | undefined): ManagedSealedKey | undefined {
  return sealed && isManaged(sealed) ? sealed : undefined;
}

/** Where a target's entry is stored, and whether a stored entry is still the one scanned. */
function locate(target: RewrapTarget): { partition: Id; sortKey: string; same: (stored: Record<string, unknown>) => boolean } {
  switch (target.kind) {
    case 'object':
      return { partition: objectsPartitionOf(target.bucket, target.key), sortKey: target.key, same: (b) => b['vid'] === target.entry.vid };
    case 'version':
      return { partition: versionsPartitionOf(target.bucket, keyOfVersionSortKey(target.sortKey)), sortKey: target.sortKey, same: (b) => b['vid'] === target.entry.vid };
    case 'upload':
      return { partition: ids.uploads(target.bucket), sortKey: target.sortKey, same: (b) => b['uploadId'] === target.entry.uploadId };
    case 'part':
      return { partition: ids.parts(target.uploadId), sortKey: partSortKey(target.entry.n), same: (b) => b['pv'] === target.entry.pv };
  }
}

/** Log fields naming a target (never its key material). */
function describe(target: RewrapTarget): Record<string, string> {
  switch (target.kind) {
    case 'object':
      return { bucket: target.bucket.name, key: target.key, vid: target.entry.vid };
    case 'version':
      return { bucket: target.bucket.name, key: target.sortKey, vid: target.entry.vid };
    case 'upload':
      return { bucket: target.bucket.name, uploadId: target.entry.uploadId };
    case 'part':
      return { uploadId: target.uploadId, part: String(target.entry.n) };
  }
}
