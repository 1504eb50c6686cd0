/**
 * The S3 catalog: users, buckets, object indexes, multipart uploads and chunk references, as DHT
 * records (see model.ts for the layout). Every method is one or a few DHT operations; an object
 * write is a single conditional write of its index entry, so it becomes visible atomically.
 *
 * Access keys and buckets are cached on the node for a short time (`cacheMs`): a bucket deleted
 * or re-ACLed through another node is seen here within that time.
 */
import type { Dht, DhtRecord } from '../../dht/index.ts';
import type { Env } from '../../env/index.ts';
import { S3Error, compareKeys } from './protocol/index.ts';
import type { CannedAcl, CorsRule, KeySource, LifecycleRule, ListFrom, ObjectLockConfiguration, ObjectOwnership, ObjectSummary, PartSummary, Tag, UploadListFrom, UploadSummary } from './protocol/index.ts';
import { registerBucket, unregisterBucket } from './bucket-registry.ts';
import { StorageError } from './errors.ts';
import {
  INLINE_CHUNK_LIST,
  MANIFEST_PAGE_CHUNKS,
  UPLOAD_SEPARATOR,
  ids,
  packChunks,
  partSortKey,
  unpackChunks,
  withTags,
} from './model.ts';
import type { AccessKeyEntry, BucketEntry, ChunkRef, ManifestEntry, ObjectEntry, PartEntry, RefEntry, StoredGrant, UploadEntry, UserEntry, UserIdEntry, VersioningStatus } from './model.ts';

/** Options of a {@link Catalog}. */
export interface CatalogOptions {
  /** How long access keys and buckets are cached. Default 2000 ms. */
  cacheMs: number;
}

/** Who makes a request. */
export interface Principal {
  id: string;
  name: string;
}

/** A new user's credentials. */
export interface NewUser {
  name: string;
  id: string;
  accessKey: string;
  secret: string;
}

/**
 * How long DeleteBucket waits beyond `cacheMs` after closing a bucket, for writes that checked
 * the bucket just before the caches saw it closed to land; and how long a closing left by a
 * DeleteBucket that never finished (its node died) keeps refusing writes.
 */
const CLOSE_MARGIN_MS = 1000;
export const CLOSING_EXPIRES_MS = 60_000;

/** Whether a bucket is closed to new objects by a DeleteBucket in progress. */
export function isClosing(bucket: Pick<BucketEntry, 'closing'>, now: number): boolean {
  return bucket.closing !== undefined && now - bucket.closing < CLOSING_EXPIRES_MS;
}

/** Items read per page when a listing pages through a partition. */
const SCAN_PAGE = 1000;
/**
 * Conflict retries of a write to an object's index entry: S3 lets every concurrent writer of a
 * key succeed (the last one decided wins), so a write keeps trying well past the DHT's default.
 */
export const OBJECT_WRITE_OPTIONS = { retries: 40 };
/** DHT writes of one operation in flight at once (chunk references of a large object). */
const WRITE_CONCURRENCY = 32;

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+=,-]{0,63}$/;
const ACCESS_KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function live<T extends { deleted?: boolean }>(r: DhtRecord<T & Record<string, unknown>> | undefined): (T & { version: number }) | undefined {
  if (!r || r.deleted) return undefined;
  return { ...r.body, version: r.version };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, () => worker()));
}

export class Catalog {
  private readonly keys = new Map<string, { at: number; entry: AccessKeyEntry }>();
  private readonly buckets = new Map<string, { at: number; entry: BucketEntry }>();
  /** Users whose `s3uid:` record this node wrote or found (users made before it existed get one). */
  private readonly indexedUsers = new Set<string>();

  constructor(
    readonly dht: Dht,
    private readonly env: Env,
    readonly options: CatalogOptions = { cacheMs: 2000 },
  ) {}

  // ---------------------------------------------------------------------------------------------
  // Users

  /** Creates user `name` with a fresh access key and secret; `Conflict` if the name is taken. */
  async createUser(name: string): Promise<NewUser> {
    if (!USER_NAME.test(name)) {
      throw new StorageError('InvalidArgument', 'a user name is 1–64 letters, digits and . _ @ + = , - (starting with a letter or digit)');
    }
    const id = this.env.random.hex(32);
    const bytes = this.env.random.bytes(16);
    let accessKey = 'PI';
    for (let i = 0; i < 18; i++) accessKey += ACCESS_KEY_ALPHABET[bytes[i % 16]! % 32];
    const secret = Buffer.from(this.env.random.bytes(30)).toString('base64').replace(/\+/g, 'x').replace(/\//g, 'y');
    const createdAt = this.env.now();
    const user: UserEntry = { type: 's3.user', url: `s3user:${name}`, name, id, accessKeys: [accessKey], createdAt };
    const claimed = await this.dht.writeIfAbsent(ids.user(name), user);
    if (!claimed.written) throw new StorageError('Conflict', `user "${name}" exists`);
    await this.indexUser(id, name);
    const key: AccessKeyEntry = { type: 's3.key', user: id, name, secret, createdAt };
    await this.dht.writeIfAbsent(ids.accessKey(accessKey), key);
    return { name, id, accessKey, secret };
  }

  /** The record of an access key (cached), or undefined. */
  async accessKey(accessKey: string): Promise<AccessKeyEntry | undefined> {
    const cached = this.keys.get(accessKey);
    if (cached && this.env.now() - cached.at < Math.max(this.options.cacheMs, 60_000)) return cached.entry;
    if (accessKey.length > 128) return undefined;
    const entry = live<AccessKeyEntry>(await this.dht.get<AccessKeyEntry>(ids.accessKey(accessKey)));
    if (entry) {
      if (this.keys.size > 10_000) this.keys.clear();
      this.keys.set(accessKey, { at: this.env.now(), entry });
      // Users made before ids were indexed get their record on first use (once per node).
      if (!this.indexedUsers.has(entry.user)) void this.indexUser(entry.user, entry.name).catch(() => {});
    }
    return entry;
  }

  /** Writes the `s3uid:` record of a user (if absent). */
  private async indexUser(id: string, name: string): Promise<void> {
    const entry: UserIdEntry = { type: 's3.userid', url: `s3uid:${id}`, id, name };
    await this.dht.writeIfAbsent(ids.userId(id), entry);
    if (this.indexedUsers.size > 10_000) this.indexedUsers.clear();
    this.indexedUsers.add(id);
  }

  /** The name of the user with canonical id `id`, or undefined (grants by id). */
  async userById(id: string): Promise<string | undefined> {
    if (!/^[0-9a-f]{64}$/.test(id)) return undefined;
    return live<UserIdEntry>(await this.dht.get<UserIdEntry>(ids.userId(id)))?.name;
  }

  /** A user by name. */
  async user(name: string): Promise<UserEntry | undefined> {
    if (!USER_NAME.test(name)) return undefined;
    return live<UserEntry>(await this.dht.get<UserEntry>(ids.user(name)));
  }

  // ---------------------------------------------------------------------------------------------
  // Buckets

  /** A bucket (cached unless `fresh`), or undefined. */
  async bucket(name: string, fresh = false): Promise<BucketEntry | undefined> {
    const cached = this.buckets.get(name);
    if (!fresh && cached && this.env.now() - cached.at < this.options.cacheMs) return cached.entry;
    const entry = live<BucketEntry>(await this.dht.get<BucketEntry>(ids.bucket(name)));
    if (entry) {
      if (this.buckets.size > 10_000) this.buckets.clear();
      this.buckets.set(name, { at: this.env.now(), entry });
    } else this.buckets.delete(name);
    return entry;
  }

  /** Creates a bucket: `BucketAlreadyOwnedByYou` / `BucketAlreadyExists` if the name is taken. */
  async createBucket(name: string, owner: Principal, acl: CannedAcl, region: string, grants?: StoredGrant[], options: { objectLock?: boolean; own?: ObjectOwnership } = {}): Promise<BucketEntry> {
    const entry: BucketEntry = {
      type: 's3.bucket',
      url: `s3bucket:${name}`,
      name,
      owner: owner.id,
      ownerName: owner.name,
      acl,
      region,
      createdAt: this.env.now(),
      inc: this.env.random.hex(8),
    };
    if (grants) entry.grants = grants;
    if (options.own !== undefined) entry.own = options.own;
    if (options.objectLock) {
      // Object Lock comes with versioning, which can then never be suspended.
      entry.ver = 'Enabled';
      entry.lock = {};
    }
    const r = await this.dht.writeIfAbsent<BucketEntry>(ids.bucket(name), entry);
    if (!r.written) {
      const code = r.record.body.owner === owner.id ? 'BucketAlreadyOwnedByYou' : 'BucketAlreadyExists';
      throw new S3Error(code, undefined, { fields: { BucketName: name } });
    }
    // The owner's list and the registry of all buckets may hold this name's tombstone (a bucket
    // deleted before): a read-modify-write replaces it whatever its version.
    await Promise.all([
      this.dht.updateItem(ids.ownerBuckets(owner.id), name, () => ({ type: 's3.bucketRef', createdAt: entry.createdAt, inc: entry.inc, region })),
      registerBucket(this.dht, entry),
    ]);
    this.buckets.set(name, { at: this.env.now(), entry });
    return entry;
  }

  /** Deletes an empty bucket (`BucketNotEmpty` otherwise, uploads in progress count). */
  async deleteBucket(bucket: BucketEntry): Promise<void> {
    const notEmpty = (): S3Error => new S3Error('BucketNotEmpty', undefined, { fields: { BucketName: bucket.name } });
    if (!(await this.isEmpty(bucket))) throw notEmpty();
    // Other nodes may hold the bucket record in their caches for up to cacheMs and take a write
    // into it meanwhile: close the bucket to new objects first, wait until every cache has seen
    // that, and only then decide on what is in it (a write that got in reopens the bucket).
    await this.changeBucket(bucket, (current) => ({ ...current, closing: this.env.now() }));
    await this.env.sleep(this.options.cacheMs + CLOSE_MARGIN_MS);
    if (!(await this.isEmpty(bucket))) {
      await this.changeBucket(bucket, (current) => {
        const out = { ...current };
        delete out.closing;
        return out;
      });
      throw notEmpty();
    }
    await this.dht.update<BucketEntry>(ids.bucket(bucket.name), (current) => {
      if (!current || current.deleted || current.body.inc !== bucket.inc) return null;
      return { type: 's3.bucket', url: `s3bucket:${bucket.name}`, deleted: true } as unknown as BucketEntry;
    });
    await Promise.all([
      this.dht.updateItem(ids.ownerBuckets(bucket.owner), bucket.name, (current) => {
        if (!current || current.deleted || current.body['inc'] !== bucket.inc) return null;
        return { type: 's3.bucketRef', deleted: true };
      }),
      unregisterBucket(this.dht, bucket),
    ]);
    this.buckets.delete(bucket.name);
  }

  /** Changes a bucket's ACL: a canned one, or (with `grants`) an explicit grant list. */
  async setBucketAcl(bucket: BucketEntry, acl: CannedAcl, grants?: StoredGrant[]): Promise<void> {
    await this.changeBucket(bucket, (current) => {
      const out = { ...current, acl };
      if (grants) out.grants = grants;
      else delete out.grants;
      return out;
    });
  }

  /** Replaces a bucket's tag set (an empty one removes it). */
  async setBucketTags(bucket: BucketEntry, tags: readonly Tag[]): Promise<void> {
    await this.changeBucket(bucket, (current) => withTags(current, tags));
  }

  /** Replaces a bucket's lifecycle rules (none removes them). */
  async setBucketLifecycle(bucket: BucketEntry, rules: readonly LifecycleRule[] | undefined): Promise<void> {
    await this.setBucketSetting(bucket, 'lifecycle', rules?.length ? rules.map((r) => ({ ...r })) : undefined);
  }

  /** Replaces a bucket's CORS rules (none removes them). */
  async setBucketCors(bucket: BucketEntry, rules: readonly CorsRule[] | undefined): Promise<void> {
    await this.setBucketSetting(bucket, 'cors', rules?.length ? rules.map((r) => ({ ...r })) : undefined);
  }

  /**
   * Replaces one setting of a bucket's record (undefined removes it): its policy document
   * (`policy`), Object Ownership (`own`), public access block (`pab`), …
   */
  async setBucketSetting<K extends 'policy' | 'own' | 'pab' | 'lifecycle' | 'cors' | 'enc'>(bucket: BucketEntry, field: K, value: BucketEntry[K] | undefined): Promise<void> {
    await this.changeBucket(bucket, (current) => {
      const out = { ...current };
      if (value !== undefined) out[field] = value;
      else delete out[field];
      return out;
    });
  }


  /** Sets a bucket's versioning state (PutBucketVersioning). */
  async setBucketVersioning(bucket: BucketEntry, status: VersioningStatus): Promise<void> {
    await this.changeBucket(bucket, (current) => {
      if (current.lock && status !== 'Enabled') throw new S3Error('InvalidBucketState', 'An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.');
      return { ...current, ver: status };
    });
  }

  /**
   * Enables Object Lock on a bucket (or replaces its default retention rule): only while its
   * versioning is Enabled (`InvalidBucketState`, as S3 answers), checked in the same conditional
   * write as the change so a concurrent suspension cannot slip between.
   */
  async setBucketObjectLock(bucket: BucketEntry, config: ObjectLockConfiguration): Promise<void> {
    await this.changeBucket(bucket, (current) => {
      if (current.ver !== 'Enabled') throw new S3Error('InvalidBucketState', "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration");
      return { ...current, lock: config.rule ? { rule: { ...config.rule } } : {} };
    });
  }

  /** Rewrites the record of `bucket` (the same incarnation; `NoSuchBucket` if it is gone). */
  private async changeBucket(bucket: BucketEntry, change: (current: BucketEntry) => BucketEntry): Promise<void> {
    const r = await this.dht.update<BucketEntry>(ids.bucket(bucket.name), (current) => {
      if (!current || current.deleted || current.body.inc !== bucket.inc) throw new S3Error('NoSuchBucket', undefined, { fields: { BucketName: bucket.name } });
      return change(current.body);
    });
    if (r) this.buckets.set(bucket.name, { at: this.env.now(), entry: { ...r.body } });
  }

  /** Whether a bucket has no objects (no versions, no delete markers) and no uploads in progress. */
  async isEmpty(bucket: BucketEntry): Promise<boolean> {
    const objects = await this.dht.scanPartition(ids.objects(bucket), { limit: 1 });
    if (objects.items.length > 0) return false;
    // Read whatever the bucket record says: a cached one may predate its versioning.
    const versions = await this.dht.scanPartition(ids.versions(bucket), { limit: 1 });
    if (versions.items.length > 0) return false;
    const uploads = await this.dht.scanPartition(ids.uploads(bucket), { limit: 1 });
    return uploads.items.length === 0;
  }

  /** The buckets of `owner`, by name. */
  async listBuckets(owner: string): Promise<{ name: string; createdAt: number; region?: string }[]> {
    const out: { name: string; createdAt: number; region?: string }[] = [];
    let after: string | undefined;
    do {
      const page = await this.dht.scanPartition<{ createdAt: number; region?: string }>(ids.ownerBuckets(owner), { limit: SCAN_PAGE, ...(after ? { after } : {}) });
      for (const item of page.items) out.push({ name: item.sortKey!, createdAt: item.body.createdAt, ...(item.body.region !== undefined ? { region: item.body.region } : {}) });
      after = page.next;
    } while (after);
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Objects

  /** An object's current version, or undefined (none, or a delete marker). */
  async getObject(bucket: BucketEntry, key: string): Promise<ObjectEntry | undefined> {
    const entry = await this.getCurrent(bucket, key);
    return entry?.dm ? undefined : entry;
  }

  /** The entry of a key's current version, delete markers included (versioned buckets). */
  async getCurrent(bucket: BucketEntry, key: string): Promise<ObjectEntry | undefined> {
    return live<ObjectEntry>(await this.dht.getItem<ObjectEntry>(ids.objects(bucket), key));
  }

  /**
   * Writes an object's entry, replacing the current one in one conditional write; `check` sees
   * the current entry first (and may throw to refuse, e.g. a failed If-None-Match). Resolves with
   * the entry replaced, if any.
   */
  async putObject(bucket: BucketEntry, key: string, entry: ObjectEntry, check?: (current: ObjectEntry | undefined) => void): Promise<ObjectEntry | undefined> {
    let previous: ObjectEntry | undefined;
    // A new key takes one round (write-if-absent); an existing one a conditional read-modify-write.
    let absentOk = true;
    try {
      check?.(undefined);
    } catch {
      absentOk = false;
    }
    if (absentOk) {
      const r = await this.dht.writeItemIfAbsent<ObjectEntry>(ids.objects(bucket), key, entry);
      if (r.written) return undefined;
    }
    await this.dht.updateItem<ObjectEntry>(ids.objects(bucket), key, (current) => {
      previous = current && !current.deleted ? current.body : undefined;
      check?.(previous);
      return entry;
    }, OBJECT_WRITE_OPTIONS);
    return previous;
  }

  /**
   * Rewrites the index entry of the version `current` of an object (its ACL or its tags) in one
   * conditional write that applies only while that version is still the key's: `NoSuchKey` if
   * the key was deleted meanwhile, `OperationAborted` if it was overwritten, so a concurrent
   * write is never undone. Resolves with the entry written.
   */
  async rewriteObject(bucket: BucketEntry, key: string, current: ObjectEntry, change: (entry: ObjectEntry) => ObjectEntry): Promise<ObjectEntry> {
    // `change` applies to the entry as stored, inside the conditional write, so concurrent
    // rewrites of one version (tags, ACL, Object Lock settings) do not undo each other.
    let next: ObjectEntry | undefined;
    await this.dht.updateItem<ObjectEntry>(ids.objects(bucket), key, (now) => {
      const body = now && !now.deleted ? now.body : undefined;
      if (!body) throw new S3Error('NoSuchKey', undefined, { fields: { Key: key } });
      if (body.vid !== current.vid) throw new S3Error('OperationAborted');
      next = change(body);
      return next;
    }, OBJECT_WRITE_OPTIONS);
    return next!;
  }

  /** Deletes an object (a tombstone); resolves with the entry deleted, if there was one. */
  async deleteObject(bucket: BucketEntry, key: string, check?: (current: ObjectEntry | undefined) => void): Promise<ObjectEntry | undefined> {
    let previous: ObjectEntry | undefined;
    await this.dht.updateItem<ObjectEntry>(ids.objects(bucket), key, (current) => {
      previous = current && !current.deleted ? current.body : undefined;
      check?.(previous);
      if (!previous) return null;
      return { type: 's3.object', deleted: true } as unknown as ObjectEntry;
    }, OBJECT_WRITE_OPTIONS);
    return previous;
  }

  /** A sorted source of the bucket's objects for the listing logic, paging through the partition. */
  objectSource(bucket: BucketEntry, pageSize = SCAN_PAGE): KeySource<ObjectSummary> {
    const partition = ids.objects(bucket);
    const dht = this.dht;
    return async function* (from: ListFrom): AsyncGenerator<ObjectSummary> {
      let start = from.prefix;
      if (from.startAfter !== undefined && compareKeys(from.startAfter, start) >= 0) start = from.startAfter;
      if (from.skipPrefix !== undefined && compareKeys(from.skipPrefix, start) > 0) start = from.skipPrefix;
      let after: string | undefined;
      let limit = Math.min(pageSize, 101);
      for (;;) {
        const page = await dht.scanPartition<ObjectEntry>(partition, { prefix: from.prefix, limit, ...(start !== '' ? { from: start } : {}), ...(after ? { after } : {}) });
        for (const item of page.items) {
          const o = item.body;
          // A delete marker as current version: the key is not listed (ListObjectVersions lists it).
          if (o.dm) continue;
          const summary: ObjectSummary = { key: item.sortKey!, lastModified: o.lm, etag: o.etag, size: o.size, owner: { id: o.owner, displayName: o.ownerName } };
          if (o.sc) summary.storageClass = o.sc;
          if (o.cs) {
            summary.checksumAlgorithm = o.cs.a as NonNullable<ObjectSummary['checksumAlgorithm']>;
            summary.checksumType = o.cs.ty ?? 'FULL_OBJECT';
          }
          yield summary;
        }
        if (!page.next) return;
        after = page.next;
        limit = pageSize;
      }
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Chunk lists of large objects

  /** The chunk list fields of an entry: inline, or spilled into manifest pages for huge objects. */
  async storeChunkList(vid: string, chunks: readonly ChunkRef[]): Promise<{ chunks?: string; pages?: number }> {
    if (chunks.length <= INLINE_CHUNK_LIST) return { chunks: packChunks(chunks) };
    const pages: ChunkRef[][] = [];
    for (let i = 0; i < chunks.length; i += MANIFEST_PAGE_CHUNKS) pages.push(chunks.slice(i, i + MANIFEST_PAGE_CHUNKS));
    await eachLimited(
      pages.map((p, i) => [p, i] as const),
      8,
      async ([page, i]) => {
        const entry: ManifestEntry = { type: 's3.manifest', chunks: packChunks(page) };
        await this.dht.put(ids.manifest(vid, i), entry);
      },
    );
    return { pages: pages.length };
  }

  /** An entry's chunks, in order. */
  async chunkList(entry: Pick<ObjectEntry, 'vid' | 'chunks' | 'pages'>): Promise<ChunkRef[]> {
    if (!entry.pages) return unpackChunks(entry.chunks);
    const out: ChunkRef[] = [];
    for (let i = 0; i < entry.pages; i++) {
      const page = await this.dht.get<ManifestEntry>(ids.manifest(entry.vid, i));
      if (!page || page.deleted) throw new StorageError('NotFound', `manifest page ${i} of version ${entry.vid} is missing`);
      out.push(...unpackChunks(page.body.chunks));
    }
    return out;
  }

  /** Deletes the manifest pages of a version. */
  async dropChunkList(entry: Pick<ObjectEntry, 'vid' | 'pages'>): Promise<void> {
    if (!entry.pages) return;
    for (let i = 0; i < entry.pages; i++) {
      await this.dht.update(ids.manifest(entry.vid, i), (current) => (current && !current.deleted ? { type: 's3.manifest', deleted: true } : null));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Chunk references

  /** Records that `refId` uses each of `hashes` (before the entry that uses them is written). */
  async addRefs(hashes: Iterable<string>, refId: string, body: Omit<RefEntry, 'type' | 'at'>): Promise<void> {
    const unique = [...new Set(hashes)];
    const at = this.env.now();
    await eachLimited(unique, WRITE_CONCURRENCY, async (hash) => {
      // Reference ids are unique per version or part: absent unless this is a retry.
      await this.dht.writeItemIfAbsent(ids.refs(hash), refId, { type: 's3.ref', at, ...body });
    });
  }

  /** Drops the references of `refId` to `hashes` (after the entry that used them is gone). */
  async dropRefs(hashes: Iterable<string>, refId: string): Promise<void> {
    const unique = [...new Set(hashes)];
    await eachLimited(unique, WRITE_CONCURRENCY, async (hash) => {
      await this.dht.updateItem(ids.refs(hash), refId, (current) => (current && !current.deleted ? { type: 's3.ref', deleted: true, at: this.env.now() } : null));
    });
  }

  /** References to a chunk: live ones, and when the last one was dropped. */
  async refsOf(hash: string): Promise<{ live: { id: string; ref: RefEntry }[]; lastDroppedAt: number }> {
    const liveRefs: { id: string; ref: RefEntry }[] = [];
    let lastDroppedAt = 0;
    let after: string | undefined;
    do {
      const page = await this.dht.scanPartition<RefEntry>(ids.refs(hash), { limit: SCAN_PAGE, includeDeleted: true, ...(after ? { after } : {}) });
      for (const item of page.items) {
        if (item.deleted) lastDroppedAt = Math.max(lastDroppedAt, item.writtenAt);
        else liveRefs.push({ id: item.sortKey!, ref: item.body });
      }
      after = page.next;
    } while (after);
    return { live: liveRefs, lastDroppedAt };
  }

  // ---------------------------------------------------------------------------------------------
  // Multipart uploads

  /** Records a new upload. */
  async createUpload(bucket: BucketEntry, entry: UploadEntry): Promise<void> {
    await this.dht.putItem(ids.uploads(bucket), entry.key + UPLOAD_SEPARATOR + entry.uploadId, entry);
  }

  /** An upload in progress, or undefined. */
  async getUpload(bucket: BucketEntry, key: string, uploadId: string): Promise<UploadEntry | undefined> {
    if (uploadId.length === 0 || uploadId.length > 128 || uploadId.includes(UPLOAD_SEPARATOR)) return undefined;
    return live<UploadEntry>(await this.dht.getItem<UploadEntry>(ids.uploads(bucket), key + UPLOAD_SEPARATOR + uploadId));
  }

  /** Ends an upload (completed or aborted). */
  async finishUpload(bucket: BucketEntry, key: string, uploadId: string): Promise<void> {
    await this.dht.updateItem(ids.uploads(bucket), key + UPLOAD_SEPARATOR + uploadId, (current) => (current && !current.deleted ? { type: 's3.upload', deleted: true } : null));
  }

  /** A sorted source of the bucket's uploads for ListMultipartUploads. */
  uploadSource(bucket: BucketEntry): (from: UploadListFrom) => AsyncIterable<UploadSummary> {
    const partition = ids.uploads(bucket);
    const dht = this.dht;
    return async function* (from: UploadListFrom): AsyncGenerator<UploadSummary> {
      let start = from.prefix;
      if (from.startAfter !== undefined && compareKeys(from.startAfter, start) >= 0) {
        start = from.startAfter + (from.startAfterUploadId !== undefined ? UPLOAD_SEPARATOR + from.startAfterUploadId : UPLOAD_SEPARATOR);
      }
      let after: string | undefined;
      for (;;) {
        const page = await dht.scanPartition<UploadEntry>(partition, { prefix: from.prefix, limit: SCAN_PAGE, ...(start !== '' ? { from: start } : {}), ...(after ? { after } : {}) });
        for (const item of page.items) {
          const u = item.body;
          const summary: UploadSummary = {
            key: u.key,
            uploadId: u.uploadId,
            initiator: { id: u.owner, displayName: u.ownerName },
            owner: { id: u.owner, displayName: u.ownerName },
            initiated: u.initiated,
          };
          if (u.sc) summary.storageClass = u.sc;
          yield summary;
        }
        if (!page.next) return;
        after = page.next;
      }
    };
  }

  /** Records a part; resolves with the part it replaced, if any. */
  async putPart(uploadId: string, part: PartEntry): Promise<PartEntry | undefined> {
    let previous: PartEntry | undefined;
    await this.dht.updateItem<PartEntry>(ids.parts(uploadId), partSortKey(part.n), (current) => {
      previous = current && !current.deleted ? current.body : undefined;
      return part;
    });
    return previous;
  }

  /** The parts of an upload after part number `after`, in order. */
  async *parts(uploadId: string, after = 0): AsyncGenerator<PartEntry> {
    let next: string | undefined;
    const from = after > 0 ? partSortKey(after + 1) : undefined;
    do {
      const page = await this.dht.scanPartition<PartEntry>(ids.parts(uploadId), { limit: SCAN_PAGE, ...(from ? { from } : {}), ...(next ? { after: next } : {}) });
      for (const item of page.items) yield item.body;
      next = page.next;
    } while (next);
  }

  /** ListParts source. */
  partSource(uploadId: string): (after: number) => AsyncIterable<PartSummary> {
    const parts = (after: number): AsyncGenerator<PartEntry> => this.parts(uploadId, after);
    return async function* (after: number): AsyncGenerator<PartSummary> {
      for await (const p of parts(after)) {
        const summary: PartSummary = { partNumber: p.n, lastModified: p.lm, etag: p.etag, size: p.size };
        if (p.cs) summary.checksums = { [p.cs.a]: p.cs.v };
        yield summary;
      }
    };
  }

  /** Deletes the part records of an upload. */
  async dropParts(uploadId: string, parts: readonly PartEntry[]): Promise<void> {
    await eachLimited(parts, WRITE_CONCURRENCY, async (p) => {
      await this.dht.updateItem(ids.parts(uploadId), partSortKey(p.n), (current) => (current && !current.deleted ? { type: 's3.part', deleted: true } : null));
    });
  }
}
