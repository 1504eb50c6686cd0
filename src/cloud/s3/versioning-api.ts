/**
 * S3 object versioning: PutBucketVersioning, GetBucketVersioning, ListObjectVersions, and what
 * versioning changes in the object operations — how a write replaces the current version, what
 * DeleteObject does with and without a version id, and which version a read names.
 *
 * - Never versioned (no `ver` in the bucket record): objects are the version "null"; a write
 *   replaces the current object and its data is released; DeleteObject removes it.
 * - Enabled: every write is a new version with its own id; the version it replaces is kept as a
 *   noncurrent version; DeleteObject without a version id writes a delete marker (kept likewise).
 * - Suspended: writes and delete markers are the version "null", replacing the null version
 *   wherever it is; versions with ids are kept.
 * - With a version id, DeleteObject removes that version for good (the newest remaining one
 *   becomes current when it was the current one), and GetObject / HeadObject / CopyObject's
 *   source read that version.
 *
 * The bucket's state comes from its record, cached on each node for `s3.cacheMs`: as S3 advises
 * after a change of versioning, writes through other nodes follow it after that time.
 */
import type { Env } from '../../env/index.ts';
import { aclsDisabled, canManage, canReadBucket } from './access.ts';
import type { AclAllowance } from './access.ts';
import type { PolicyTarget } from './policy.ts';
import { S3Error, listObjectVersions, listVersionsXml, parseListVersionsParams, parseVersioningConfiguration, versioningConfigurationXml } from './protocol/index.ts';
import type { BodyVerifier } from './protocol/index.ts';
import type { Catalog } from './catalog.ts';
import { isClosing } from './catalog.ts';
import type { S3Request } from './http.ts';
import { mfaDeleteEnabled, mfaLifecycleConflict } from './mfa-delete.ts';
import type { MfaAuthenticator } from './mfa-delete.ts';
import type { BucketEntry, ObjectEntry, VersioningStatus } from './model.ts';
import { readCheckedBody, sendEmpty, sendXml } from './replies.ts';
import { VersionCatalog } from './version-catalog.ts';
import type { StoredVersion } from './version-catalog.ts';
import { isVersionId, newVersionId, seqOf, versionIdOf } from './versioning.ts';

/** What the versioning operations need of the S3 API. */
export interface VersioningContext {
  readonly env: Env;
  readonly catalog: Catalog;
  /** The request's bucket if the requester may do `action` on it (its owner, or the policy's). */
  bucketFor(r: S3Request, action: string, fresh?: boolean): Promise<BucketEntry>;
  /** The request's bucket if the requester may list it with `action`. */
  readableBucket(r: S3Request, action: string): Promise<BucketEntry>;
  verifier(r: S3Request): BodyVerifier;
  /** Checks `x-amz-mfa` for buckets with MFA delete (mfa-delete.ts). */
  readonly mfa: MfaAuthenticator;
  /** Drops the data of a version no longer kept (in the background). */
  release(bucket: BucketEntry, key: string, old: ObjectEntry | undefined): void;
  /** Bucket replication (replication.ts): what a new version of a replicated bucket goes through. */
  readonly replication?: ReplicationHooks;
}

/** A replication task recorded for a version (replication.ts): its key, its `vid`, when it was recorded. */
export interface ReplicationTicket {
  k: string;
  vid: string;
  at: number;
  /** Recorded for a change of the version's settings (its replica most likely exists already). */
  c?: true;
}

/**
 * How a version of a bucket with a replication configuration is queued for its replicator:
 * `prepare` before the version is committed (it may mark the entry PENDING and records the
 * task durably first), `committed` once it is. `prepareChange` does the same before a change of
 * a replicated version's ACL, tags or Object Lock settings, which the replica then takes.
 */
export interface ReplicationHooks {
  /** Resolves with the task to pass to `committed`, or undefined when no rule replicates the version. */
  prepare(bucket: BucketEntry, key: string, entry: ObjectEntry): Promise<ReplicationTicket | undefined>;
  /** Resolves with the task, or undefined when the version was never replicated (or is a replica). */
  prepareChange(bucket: BucketEntry, key: string, entry: ObjectEntry): Promise<ReplicationTicket | undefined>;
  /** `written`: the version as committed (what the replicator would otherwise read back). */
  committed(bucket: BucketEntry, task: ReplicationTicket, written?: ObjectEntry): void;
}

/** The settings of a version that its replica follows when they change (S3 replicates these metadata changes). */
const REPLICATED_SETTINGS = ['acl', 'grants', 'tags', 'rm', 'ru', 'lh'] as const;

/** Where {@link VersioningApi.commitReplica} put a replica. */
export type ReplicaOutcome = 'written' | 'present' | 'conflict';

/** What a DeleteObject did. */
export interface DeleteOutcome {
  /** The version removed for good, or the one a delete marker now hides. */
  previous: ObjectEntry | undefined;
  /** The version id to report (`x-amz-version-id`), when the bucket has versioning or one was named. */
  versionId?: string;
  /** A delete marker was written, or the version removed was one. */
  deleteMarker: boolean;
}

/** `InvalidArgument` for a version id this store cannot have made. */
export function invalidVersionId(versionId: string): S3Error {
  return new S3Error('InvalidArgument', 'Invalid version id specified', { fields: { ArgumentName: 'versionId', ArgumentValue: versionId } });
}

/** Checks a requested version id's form. */
export function checkVersionId(versionId: string): void {
  if (!isVersionId(versionId)) throw invalidVersionId(versionId);
}

export class VersioningApi {
  readonly versions: VersionCatalog;

  constructor(private readonly ctx: VersioningContext) {
    this.versions = new VersionCatalog(ctx.catalog.dht);
  }

  // ---------------------------------------------------------------------------------------------
  // Bucket operations

  async putBucketVersioning(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketVersioning', true);
    const config = parseVersioningConfiguration(await readCheckedBody(r, this.ctx.verifier(r)));
    if (config.mfaDelete !== undefined && config.mfaDelete !== 'Enabled' && config.mfaDelete !== 'Disabled') throw new S3Error('MalformedXML');
    const mfa = config.mfaDelete as 'Enabled' | 'Disabled' | undefined;
    // Setting MfaDelete, and any change to a bucket that has it, takes the owner's MFA code.
    if (mfa !== undefined || mfaDeleteEnabled(bucket)) await this.ctx.mfa.authenticate(r, bucket);
    if (mfa === 'Enabled' && bucket.lifecycle?.length) throw mfaLifecycleConflict();
    // No status: the versioning state is left as it is (S3 accepts such a document).
    const change: { status?: VersioningStatus; mfa?: 'Enabled' | 'Disabled' } = {};
    if (config.status !== undefined && config.status !== bucket.ver) change.status = config.status;
    if (change.status === 'Suspended' && bucket.repl) {
      throw new S3Error('InvalidBucketState', 'A replication configuration is present on this bucket, so you cannot change the versioning state. To change the versioning state, first delete the replication configuration.');
    }
    if (mfa !== undefined && mfa !== bucket.mfa) change.mfa = mfa;
    if (change.status !== undefined || change.mfa !== undefined) await this.ctx.catalog.setBucketVersioning(bucket, change);
    sendEmpty(r, 200);
  }

  async getBucketVersioning(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:GetBucketVersioning');
    sendXml(r, versioningConfigurationXml(bucket.ver, bucket.mfa));
  }

  async listObjectVersions(r: S3Request): Promise<void> {
    const bucket = await this.ctx.readableBucket(r, 's3:ListBucketVersions');
    const params = parseListVersionsParams(r.query);
    if (params.versionIdMarker !== '') checkVersionId(params.versionIdMarker);
    sendXml(r, listVersionsXml(await listObjectVersions(this.versions.source(bucket), bucket.name, params)));
  }

  // ---------------------------------------------------------------------------------------------
  // Object writes

  /**
   * Makes `entry` the current version of `key` (PutObject, CopyObject, CompleteMultipartUpload,
   * POST uploads) in one conditional write; `check` sees the current object first (none for a
   * delete marker) and may throw to refuse. Resolves with the entry written (with its version id
   * in a versioned bucket); what it replaced is kept or released as the bucket's state says.
   */
  async commit(asked: BucketEntry, key: string, entry: ObjectEntry, check?: (current: ObjectEntry | undefined) => void): Promise<ObjectEntry> {
    const bucket = await this.openBucket(asked);
    if (bucket.ver === undefined) {
      const previous = await this.ctx.catalog.putObject(bucket, key, entry, check);
      this.ctx.release(bucket, key, previous);
      return entry;
    }
    const task = bucket.repl ? await this.ctx.replication?.prepare(bucket, key, entry) : undefined;
    const written = await this.writeVersion(bucket, key, entry, check);
    if (task !== undefined) this.ctx.replication!.committed(bucket, task, written);
    return written;
  }

  /**
   * Stores a replica (replication.ts) in `asked`, a versioned bucket, under the version id and
   * position (`vi`, `seq`) of its source: as the current version when it is newer than the
   * current one, else as a noncurrent version. Resolves with `present` when that version is
   * already there, `conflict` when another version holds its position (the bucket's own writes).
   */
  async commitReplica(asked: BucketEntry, key: string, replica: ObjectEntry): Promise<ReplicaOutcome> {
    const bucket = await this.openBucket(asked);
    if (bucket.ver !== 'Enabled') throw new S3Error('InvalidBucketState', 'The destination bucket does not have versioning enabled.');
    const versionId = versionIdOf(replica);
    const seq = seqOf(replica);
    const refused = new Error('refused');
    let outcome = 'written' as ReplicaOutcome | 'older';
    try {
      await this.versions.write(
        bucket,
        key,
        (current) => {
          if (current && versionIdOf(current) === versionId) outcome = 'present';
          else if (current && seqOf(current) >= seq) outcome = seqOf(current) === seq ? 'conflict' : 'older';
          else {
            outcome = 'written';
            return replica;
          }
          throw refused;
        },
        () => true,
      );
    } catch (err) {
      if (err !== refused) throw err;
    }
    if (outcome !== 'older') return outcome;
    const there = await this.versions.atSeq(bucket, key, seq);
    if (there) return versionIdOf(there) === versionId ? 'present' : 'conflict';
    await this.versions.keep(bucket, key, replica);
    return 'written';
  }

  /**
   * DeleteObject of `key` (`versionId`: that version, for good). `check` sees the current object
   * (conditional deletes) when there is one; `guard` sees a version about to be removed for good,
   * inside the conditional write that removes it, and may throw to refuse (Object Lock).
   */
  async deleteObject(
    bucket: BucketEntry,
    key: string,
    versionId: string | undefined,
    principal: { id: string; name: string } | undefined,
    check?: (current: ObjectEntry | undefined) => void,
    guard?: (version: ObjectEntry) => void,
    origin: 'request' | 'lifecycle' = 'request',
  ): Promise<DeleteOutcome> {
    if (versionId !== undefined) {
      checkVersionId(versionId);
      let removed = await this.versions.removeCurrent(bucket, key, versionId, guard ? { check: guard } : {});
      if (!removed) {
        const old = await this.versions.find(bucket, key, versionId);
        if (old && (await this.versions.removeIf(bucket, old.sortKey, old.entry.vid, guard))) removed = old.entry;
      }
      this.ctx.release(bucket, key, removed);
      return { previous: removed, versionId, deleteMarker: removed?.dm === true };
    }
    if (bucket.ver === undefined) {
      const previous = await this.ctx.catalog.deleteObject(bucket, key, check);
      this.ctx.release(bucket, key, previous);
      return { previous, deleteMarker: false };
    }
    // A delete marker as the new current version (S3 writes one even where the key has none).
    await this.openBucket(bucket);
    const marker: ObjectEntry = {
      type: 's3.object',
      vid: this.ctx.env.random.hex(16),
      size: 0,
      etag: '',
      lm: this.ctx.env.now(),
      // With ACLs disabled (Object Ownership BucketOwnerEnforced) the bucket owner owns everything.
      owner: (!aclsDisabled(bucket) && principal?.id) || bucket.owner,
      ownerName: (!aclsDisabled(bucket) && principal?.name) || bucket.ownerName,
      dm: true,
    };
    let previous: ObjectEntry | undefined;
    // Delete markers a request writes are replicated when a rule says so; the lifecycle's are not, as in S3.
    const task = origin === 'request' && bucket.repl ? await this.ctx.replication?.prepare(bucket, key, marker) : undefined;
    const written = await this.writeVersion(bucket, key, marker, (current) => {
      previous = current;
      check?.(current);
    });
    if (task !== undefined) this.ctx.replication!.committed(bucket, task, written);
    return { previous, versionId: versionIdOf(written), deleteMarker: true };
  }

  /**
   * The bucket as this node knows it now (its cache, refreshed every `cacheMs`), which must still
   * be the one written into and not closed by a DeleteBucket in progress: a write that took long
   * (a large upload) is checked against a record read after it began, so DeleteBucket, which
   * waits for the caches, either sees it land or makes it fail.
   */
  private async openBucket(asked: BucketEntry): Promise<BucketEntry> {
    const bucket = await this.ctx.catalog.bucket(asked.name);
    if (!bucket || bucket.inc !== asked.inc) throw new S3Error('NoSuchBucket', undefined, { fields: { BucketName: asked.name } });
    if (isClosing(bucket, this.ctx.env.now())) throw new S3Error('OperationAborted', 'The bucket is being deleted.');
    return bucket;
  }

  /** A versioned write: the replaced version is kept unless it is the null version being replaced by another. */
  private async writeVersion(bucket: BucketEntry, key: string, entry: ObjectEntry, check?: (current: ObjectEntry | undefined) => void): Promise<ObjectEntry> {
    const enabled = bucket.ver === 'Enabled';
    const { previous, written } = await this.versions.write(
      bucket,
      key,
      (current) => {
        check?.(current?.dm ? undefined : current);
        const seq = (current ? seqOf(current) : 0) + 1;
        const next: ObjectEntry = { ...entry, seq };
        // Versions are ordered by their commits (seq), and a write is stamped when it began: of
        // two racing, the one committed last is the newest and never shows the older time.
        if (current && current.lm > next.lm) next.lm = current.lm;
        if (enabled) next.vi = newVersionId(seq, entry.vid);
        else delete next.vi;
        return next;
      },
      (current) => enabled || current.vi !== undefined,
    );
    if (previous && !enabled && previous.vi === undefined) this.ctx.release(bucket, key, previous);
    else if (!enabled) {
      // Suspended: the null version, if a noncurrent one exists, is the one this write replaces.
      const old = await this.versions.find(bucket, key, 'null');
      if (old) {
        await this.versions.remove(bucket, old.sortKey);
        this.ctx.release(bucket, key, old.entry);
      }
    }
    return written;
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Removes a noncurrent version for good while it is still the one found (NoncurrentVersionExpiration);
   * `check` may throw to refuse (a version Object Lock protects).
   */
  async expireVersion(bucket: BucketEntry, key: string, version: StoredVersion, check?: (version: ObjectEntry) => void): Promise<boolean> {
    if (!(await this.versions.removeIf(bucket, version.sortKey, version.entry.vid, check))) return false;
    this.ctx.release(bucket, key, version.entry);
    return true;
  }

  /** Removes a delete marker that is still the key's current and only version (ExpiredObjectDeleteMarker). */
  async removeExpiredMarker(bucket: BucketEntry, key: string, marker: ObjectEntry): Promise<boolean> {
    return (await this.versions.removeCurrent(bucket, key, versionIdOf(marker), { alone: true })) !== undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Object reads

  /**
   * The version of `key` a read names: `versionId`'s (`NoSuchVersion` if there is none), else the
   * current one (undefined if none; delete markers included).
   */
  async version(bucket: BucketEntry, key: string, versionId: string | undefined): Promise<ObjectEntry | undefined> {
    return (await this.located(bucket, key, versionId))?.entry;
  }

  /** As {@link version}, also telling whether the version is the current one. */
  async located(bucket: BucketEntry, key: string, versionId: string | undefined): Promise<{ entry: ObjectEntry; current: boolean } | undefined> {
    const current = await this.ctx.catalog.getCurrent(bucket, key);
    if (versionId === undefined) return current && { entry: current, current: true };
    checkVersionId(versionId);
    if (current && versionIdOf(current) === versionId) return { entry: current, current: true };
    const old = await this.versions.find(bucket, key, versionId);
    if (!old) throw new S3Error('NoSuchVersion', undefined, { fields: { Key: key, VersionId: versionId } });
    return { entry: old.entry, current: false };
  }

  /**
   * The version of an object a sub-resource operation (ACL, tagging) names: `?versionId=`'s,
   * else the current one; undefined when there is none. A delete marker has no ACL or tags
   * (`MethodNotAllowed`).
   */
  async subresourceVersion(r: S3Request, bucket: BucketEntry, key: string): Promise<{ entry: ObjectEntry; current: boolean } | undefined> {
    const versionId = r.query.get('versionId') ?? undefined;
    const found = await this.located(bucket, key, versionId);
    if (!found || (found.entry.dm && versionId === undefined)) return undefined;
    if (found.entry.dm) throw new S3Error('MethodNotAllowed', undefined, { fields: { Method: r.method, ResourceType: 'DeleteMarker' }, headers: { 'x-amz-delete-marker': 'true' } });
    return found;
  }

  /**
   * Rewrites the entry of a version (its ACL or tags) in one conditional write that applies only
   * while it is still that version, current or noncurrent: `NoSuchVersion` / `NoSuchKey` if it
   * was deleted meanwhile, `OperationAborted` if the current one was replaced.
   */
  async rewriteVersion(bucket: BucketEntry, key: string, found: { entry: ObjectEntry; current: boolean }, change: (entry: ObjectEntry) => ObjectEntry): Promise<void> {
    // A replicated version's new settings go to its replica too: PENDING again until they have.
    const task = bucket.repl ? await this.ctx.replication?.prepareChange(bucket, key, found.entry) : undefined;
    const apply = task ? (e: ObjectEntry): ObjectEntry => ({ ...change(e), rs: 'PENDING' }) : change;
    if (found.current) await this.ctx.catalog.rewriteObject(bucket, key, found.entry, apply);
    else if (!(await this.versions.rewrite(bucket, key, found.entry, apply))) {
      throw new S3Error('NoSuchVersion', undefined, { fields: { Key: key, VersionId: versionIdOf(found.entry) } });
    }
    if (task) this.ctx.replication!.committed(bucket, task);
  }

  /**
   * Gives the replica of a version (found by its version id, current or noncurrent) the ACL, tags
   * and Object Lock settings of `source`; resolves with whether the replica was there.
   */
  async syncReplica(asked: BucketEntry, key: string, source: ObjectEntry): Promise<boolean> {
    const bucket = await this.openBucket(asked);
    let found: { entry: ObjectEntry; current: boolean } | undefined;
    try {
      found = await this.located(bucket, key, versionIdOf(source));
    } catch (err) {
      if (err instanceof S3Error && err.code === 'NoSuchVersion') return false;
      throw err;
    }
    if (!found) return false;
    await this.rewriteVersion(bucket, key, found, (e) => {
      const out: ObjectEntry = { ...e };
      for (const field of REPLICATED_SETTINGS) {
        if (source[field] === undefined) delete out[field];
        else (out as unknown as Record<string, unknown>)[field] = source[field];
      }
      return out;
    });
    return true;
  }
}

/** A version of an object, and whether it is the current one. */
export interface ObjectVersion {
  entry: ObjectEntry;
  current: boolean;
}

/** What {@link permittedVersion} needs of the S3 API. */
export interface VersionAccessContext {
  /** The version a request names (`?versionId=`, else the current one); undefined when none. */
  objectVersion(r: S3Request, bucket: BucketEntry, key: string): Promise<ObjectVersion | undefined>;
  /** Throws `AccessDenied` unless the requester may do `action` (ACL and ownership: `aclAllows`; the bucket policy). */
  mustPermit(r: S3Request, bucket: BucketEntry, action: string, aclAllows: (b: BucketEntry) => AclAllowance, target?: PolicyTarget): Promise<void>;
}

/**
 * The version of the request's object that a sub-resource operation (tags, retention, legal hold)
 * names, which the requester may act on with `action`: the object's and the bucket's owners, or
 * whom the policy allows (`target` adds what the policy's condition keys need). A missing key is
 * `NoSuchKey` to those who may list the bucket, `AccessDenied` to others, as S3 answers.
 */
export async function permittedVersion(
  ctx: VersionAccessContext,
  r: S3Request,
  bucket: BucketEntry,
  action: string,
  target?: () => Promise<PolicyTarget>,
): Promise<ObjectVersion> {
  const key = r.key!;
  const found = await ctx.objectVersion(r, bucket, key);
  if (!found) {
    await ctx.mustPermit(r, bucket, 's3:ListBucket', (b) => canReadBucket(b, r.principal));
    throw new S3Error('NoSuchKey', undefined, { fields: { Key: key } });
  }
  const entry = found.entry;
  const extra = target ? await target() : {};
  await ctx.mustPermit(r, bucket, action, (b) => canManage(b, entry, r.principal), { tags: entry.tags, ...extra });
  return found;
}

/** The `x-amz-version-id` header of an answer about `entry`, when its bucket has versioning (or a version was named). */
export function versionHeader(bucket: BucketEntry, entry: ObjectEntry, named = false): Record<string, string> {
  return bucket.ver !== undefined || named ? { 'x-amz-version-id': versionIdOf(entry) } : {};
}
