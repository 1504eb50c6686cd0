/**
 * The S3 catalog: users, buckets, object indexes, multipart uploads and chunk references, as DHT
 * records (see model.ts for the layout). Every method is one or a few DHT operations; an object
 * write is a single conditional write of its index entry, so it becomes visible atomically.
 *
 * Access keys and buckets are cached on the node for a short time (`cacheMs`): a bucket deleted
 * or re-ACLed, or an access key deleted or disabled, through another node is seen here within
 * that time.
 *
 * Users and their access keys follow IAM's lifecycle: CreateAccessKey (at most two per user),
 * UpdateAccessKey (Active / Inactive), DeleteAccessKey, ListUsers (the user registry,
 * user-registry.ts) and DeleteUser (refused while the user owns buckets).
 */
import type { Dht, DhtRecord } from '../../dht/index.ts';
import type { Env } from '../../env/index.ts';
import type { Id } from '../../id/index.ts';
import { S3Error, base32Encode, compareKeys, otpauthUri, readStart, startPastSkipped } from './protocol/index.ts';
import type { CannedAcl, CorsRule, KeySource, LifecycleRule, ListFrom, ObjectLockConfiguration, ObjectOwnership, ObjectSummary, PartSummary, Tag, UploadListFrom, UploadSummary } from './protocol/index.ts';
import { registerBucket, unregisterBucket } from './bucket-registry.ts';
import { collect, keyGroups } from './key-groups.ts';
import { mergeSorted, objectsPartitionOf, objectsPartitions, shardPageSize, versionsPartitions } from './index-shards.ts';
import { StorageError } from './errors.ts';
import { mfaLifecycleConflict } from './mfa-delete.ts';
import { listRegisteredUsers, registerUser, registerUserIfUnknown, unregisterUser } from './user-registry.ts';
import type { ListedUser } from './user-registry.ts';
import {
  INLINE_CHUNK_LIST,
  MAX_ACCESS_KEYS,
  MANIFEST_PAGE_CHUNKS,
  UPLOAD_SEPARATOR,
  ids,
  attachCrcs,
  packChunks,
  packCrcs,
  partSortKey,
  unpackChunks,
  withTags,
} from './model.ts';
import type { AccessKeyEntry, AccessKeyStatus, BucketEntry, ChunkRef, ManifestEntry, MfaDevice, ObjectEntry, PartEntry, RefEntry, StoredGrant, UploadEntry, UserEntry, UserIdEntry, VersioningStatus } from './model.ts';

/** Options of a {@link Catalog}. */
export interface CatalogOptions {
  /** How long access keys and buckets are cached. Default 2000 ms. */
  cacheMs: number;
  /** Longest chunk list kept in an entry itself. Default {@link INLINE_CHUNK_LIST}; tests lower it. */
  inlineChunkList?: number;
  /** Chunk references per manifest page. Default {@link MANIFEST_PAGE_CHUNKS}; tests lower it. */
  manifestPageChunks?: number;
  /** Index shards of a new bucket (index-shards.ts), or how to choose them when it is created. Default 1. */
  indexShards?: number | (() => number);
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

/** A new access key of an existing user (its secret is shown this once). */
export interface NewAccessKey extends NewUser {
  status: 'Active';
  createdAt: number;
}

/** An access key as an operator sees it (never its secret); `Missing`: listed, but its record is gone. */
export interface AccessKeyDescription {
  accessKey: string;
  status: AccessKeyStatus | 'Missing';
  createdAt?: number;
}

/** A user as an operator sees it. */
export interface UserDescription {
  name: string;
  id: string;
  createdAt: number;
  accessKeys: AccessKeyDescription[];
  /** When a deletion of the user in progress started. */
  deleting?: number;
  /** The user's virtual MFA device, if any (never its secret). */
  mfa?: { serial: string; createdAt: number };
}

/** A new virtual MFA device (its secret is shown this once). */
export interface NewMfaDevice {
  name: string;
  serial: string;
  /** Base32, as authenticator apps take it. */
  secret: string;
  /** The `otpauth://` URI (what a QR code for an authenticator app holds). */
  uri: string;
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

/** An access key's status (keys made before statuses existed are Active). */
export function keyStatus(entry: Pick<AccessKeyEntry, 'status'>): AccessKeyStatus {
  return entry.status ?? 'Active';
}

function noSuchKey(user: string, accessKey: string): StorageError {
  return new StorageError('NotFound', `user "${user}" has no access key "${accessKey.slice(0, 130)}"`);
}

function tooManyKeys(user: UserEntry): StorageError {
  return new StorageError('LimitExceeded', `user "${user.name}" already has the most access keys a user may have (${MAX_ACCESS_KEYS}): delete one first (pi user key delete ${user.name} KEY)`);
}

/** Items read per page when a listing pages through a partition. */
const SCAN_PAGE = 1000;
/** First page of a listing's scan (a page of up to 100 keys, and one to tell whether more follow). */
const FIRST_SCAN_PAGE = 101;

/**
 * Fields of an object's index entry that no listing shows and that can be large (inline data up
 * to `inlineMaxBytes`, chunk and part lists): listings have the DHT leave them out of the scanned
 * entries, which then are never sent nor parsed (a 1,000-key page of 4 KiB objects was 2.5× as
 * slow as one of empty objects).
 */
export const UNLISTED_FIELDS: readonly string[] = ['data', 'chunks', 'crcs', 'ps', 'pn', 'pcs'];
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

/** `fields` with the chunks' packed CRC32s added, when every chunk has one. */
function withCrcs<T extends { crcs?: string }>(fields: T, chunks: readonly ChunkRef[]): T {
  const crcs = packCrcs(chunks);
  if (crcs !== undefined) fields.crcs = crcs;
  return fields;
}

export class Catalog {
  private readonly keys = new Map<string, { at: number; entry: AccessKeyEntry }>();
  /** Reads of access key records in flight, by key. */
  private readonly keyReads = new Map<string, Promise<AccessKeyEntry | undefined>>();
  private readonly buckets = new Map<string, { at: number; entry: BucketEntry }>();
  /** Users whose `s3uid:` record this node wrote or found (users made before it existed get one). */
  private readonly indexedUsers = new Set<string>();

  constructor(
    readonly dht: Dht,
    private readonly env: Env,
    readonly options: CatalogOptions = { cacheMs: 2000 },
  ) {}

  // ---------------------------------------------------------------------------------------------
  // Users and access keys

  /** Creates user `name` with a fresh access key and secret; `Conflict` if the name is taken. */
  async createUser(name: string): Promise<NewUser> {
    if (!USER_NAME.test(name)) {
      throw new StorageError('InvalidArgument', 'a user name is 1–64 letters, digits and . _ @ + = , - (starting with a letter or digit)');
    }
    const id = this.env.random.hex(32);
    // The key record first: a user record never lists a key that has no record yet, so a deletion
    // racing the creation cannot miss the key (its secret is known to no one until this returns).
    const key = await this.newAccessKey(id, name);
    const user: UserEntry = { type: 's3.user', url: `s3user:${name}`, name, id, accessKeys: [key.accessKey], createdAt: key.createdAt };
    const claimed = await this.dht.writeIfAbsent(ids.user(name), user);
    if (!claimed.written) {
      await this.dropKeyRecord(key.accessKey, id).catch(() => {});
      throw new StorageError('Conflict', `user "${name}" exists`);
    }
    await this.indexUser(id, name);
    await registerUser(this.dht, user);
    return { name, id, accessKey: key.accessKey, secret: key.secret };
  }

  /**
   * The record of an access key that may sign requests, or undefined: there is none, or it is
   * Inactive (both answered `InvalidAccessKeyId`). Records are cached for `cacheMs`, stamped with
   * the time their read started, so a key deleted or disabled anywhere stops working here within
   * `cacheMs` of the change (at once on the node that made it); one read per key is in flight at
   * a time.
   */
  async accessKey(accessKey: string): Promise<AccessKeyEntry | undefined> {
    if (accessKey.length > 128) return undefined;
    const cached = this.keys.get(accessKey);
    const entry = cached && this.env.now() - cached.at < this.options.cacheMs ? cached.entry : await this.readKey(accessKey);
    return entry && keyStatus(entry) === 'Active' ? entry : undefined;
  }

  /** Reads an access key's record into the cache (joining a read in flight). */
  private readKey(accessKey: string): Promise<AccessKeyEntry | undefined> {
    const pending = this.keyReads.get(accessKey);
    if (pending) return pending;
    const started = this.env.now();
    const read: Promise<AccessKeyEntry | undefined> = this.dht.get<AccessKeyEntry>(ids.accessKey(accessKey)).then(
      (r) => {
        const entry = live<AccessKeyEntry>(r);
        // A read that a change on this node overtook ({@link forgetKey}) answers its own caller
        // only: what it read may predate the change.
        if (this.keyReads.get(accessKey) === read) {
          this.keyReads.delete(accessKey);
          if (entry) {
            if (this.keys.size > 10_000) this.keys.clear();
            this.keys.set(accessKey, { at: started, entry });
          } else this.keys.delete(accessKey);
        }
        // Users made before ids and the user registry existed get their entries on first use (once per node).
        if (entry && keyStatus(entry) === 'Active' && !this.indexedUsers.has(entry.user)) void this.indexOldUser(entry).catch(() => {});
        return entry;
      },
      (err: unknown) => {
        if (this.keyReads.get(accessKey) === read) this.keyReads.delete(accessKey);
        throw err;
      },
    );
    this.keyReads.set(accessKey, read);
    return read;
  }

  /** Drops an access key from this node's cache (and any read of it in flight) after a change. */
  private forgetKey(accessKey: string): void {
    this.keys.delete(accessKey);
    this.keyReads.delete(accessKey);
  }

  /** Writes the `s3uid:` record of a new user (if absent). */
  private async indexUser(id: string, name: string): Promise<void> {
    const entry: UserIdEntry = { type: 's3.userid', url: `s3uid:${id}`, id, name };
    await this.dht.writeIfAbsent(ids.userId(id), entry);
    this.rememberIndexed(id);
  }

  /**
   * The `s3uid:` record and the registry entry of a user made before they existed, each written
   * only where there is no record at all — never over the tombstone a deletion left, so that a
   * key read just before its user was deleted cannot bring the user back.
   */
  private async indexOldUser(key: AccessKeyEntry): Promise<void> {
    const entry: UserIdEntry = { type: 's3.userid', url: `s3uid:${key.user}`, id: key.user, name: key.name };
    await this.dht.update<UserIdEntry>(ids.userId(key.user), (current) => (current ? null : entry));
    const user = await this.user(key.name);
    if (user && user.id === key.user) await registerUserIfUnknown(this.dht, user);
    this.rememberIndexed(key.user);
  }

  private rememberIndexed(id: string): void {
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

  /** A user with its access keys' statuses and creation times (never their secrets); `NotFound` if none. */
  async describeUser(name: string): Promise<UserDescription> {
    const user = await this.requireUser(name);
    const accessKeys = await Promise.all(
      user.accessKeys.map(async (accessKey): Promise<AccessKeyDescription> => {
        const entry = live<AccessKeyEntry>(await this.dht.get<AccessKeyEntry>(ids.accessKey(accessKey)));
        return entry && entry.user === user.id ? { accessKey, status: keyStatus(entry), createdAt: entry.createdAt } : { accessKey, status: 'Missing' };
      }),
    );
    return {
      name: user.name,
      id: user.id,
      createdAt: user.createdAt,
      accessKeys,
      ...(this.isDeleting(user) ? { deleting: user.deleting! } : {}),
      ...(user.mfa ? { mfa: { serial: user.mfa.serial, createdAt: user.mfa.createdAt } } : {}),
    };
  }

  /**
   * Gives user `name` a new virtual MFA device (replacing any it had: codes of the old one stop
   * working); its secret is in the answer only. The serial is `arn:pi:iam:::mfa/<name>`.
   */
  async createMfaDevice(name: string): Promise<NewMfaDevice> {
    const user = await this.requireUser(name);
    this.checkNotDeleting(user);
    const secret = base32Encode(this.env.random.bytes(20));
    const serial = `arn:pi:iam:::mfa/${user.name}`;
    await this.changeUser(user, (current) => {
      this.checkNotDeleting(current);
      return { ...current, mfa: { serial, secret, createdAt: this.env.now() } };
    });
    return { name: user.name, serial, secret, uri: otpauthUri(user.name, secret) };
  }

  /** Removes user `name`'s virtual MFA device; `NotFound` if it has none. */
  async deleteMfaDevice(name: string): Promise<void> {
    const user = await this.requireUser(name);
    if (!user.mfa) throw new StorageError('NotFound', `user "${user.name}" has no MFA device`);
    await this.changeUser(user, (current) => {
      if (!current.mfa) return null;
      const { mfa: _gone, ...rest } = current;
      return rest;
    });
  }

  /**
   * Records that the code of time step `step` of the device `serial` of user `id` was used;
   * resolves with false (nothing written) when that device is not the user's any more, or a code
   * of this step or a later one was used already — in one conditional write, so of two requests
   * with one code only one gets through.
   */
  async useMfaCode(id: string, serial: string, step: number): Promise<boolean> {
    const name = await this.userById(id);
    if (name === undefined) return false;
    let used = false;
    await this.dht.update<UserEntry>(ids.user(name), (current) => {
      used = false;
      const mfa = current && !current.deleted && current.body.id === id ? current.body.mfa : undefined;
      if (!mfa || mfa.serial !== serial || (mfa.ls !== undefined && mfa.ls >= step)) return null;
      used = true;
      return { ...current!.body, mfa: { ...mfa, ls: step } };
    });
    return used;
  }

  /** The virtual MFA device of the user with canonical id `id`, read afresh (never cached). */
  async mfaDeviceOf(id: string): Promise<MfaDevice | undefined> {
    const name = await this.userById(id);
    if (name === undefined) return undefined;
    const user = await this.user(name);
    return user && user.id === id ? user.mfa : undefined;
  }

  /**
   * One page of the users of the ring in name order (the user registry, user-registry.ts): at
   * most `limit` (1–1000), after the continuation `after` of the previous page.
   */
  async listUsers(options: { limit?: number; after?: string } = {}): Promise<{ users: ListedUser[]; next?: string }> {
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new StorageError('InvalidArgument', `limit must be an integer from 1 to 1000, got ${String(limit)}`);
    if (options.after !== undefined && !/^[A-Za-z0-9_-]{1,200}$/.test(options.after)) throw new StorageError('InvalidArgument', 'after must be the "next" value of the previous page');
    const page = await listRegisteredUsers(this.dht, { limit, ...(options.after !== undefined ? { after: options.after } : {}) });
    return { users: page.users, ...(page.next !== undefined ? { next: page.next } : {}) };
  }

  /**
   * Gives user `name` another access key (IAM's CreateAccessKey): its secret is in the answer
   * only. `LimitExceeded` when the user has {@link MAX_ACCESS_KEYS} already (Inactive ones
   * count), `Conflict` while the user is being deleted. The key is added to the user's list by a
   * conditional write that checks the limit, so two concurrent creations cannot pass it.
   */
  async createAccessKey(name: string): Promise<NewAccessKey> {
    const user = await this.requireUser(name);
    this.checkNotDeleting(user);
    if (user.accessKeys.length >= MAX_ACCESS_KEYS) throw tooManyKeys(user);
    const key = await this.newAccessKey(user.id, user.name);
    try {
      await this.changeUser(user, (current) => {
        this.checkNotDeleting(current);
        if (current.accessKeys.length >= MAX_ACCESS_KEYS) throw tooManyKeys(current);
        return { ...current, accessKeys: [...current.accessKeys, key.accessKey] };
      });
    } catch (err) {
      // Not the user's after all: the record goes (no one has seen its secret).
      await this.dropKeyRecord(key.accessKey, user.id).catch(() => {});
      throw err;
    }
    return { name: user.name, id: user.id, accessKey: key.accessKey, secret: key.secret, status: 'Active', createdAt: key.createdAt };
  }

  /**
   * Sets the status of one of user `name`'s access keys (IAM's UpdateAccessKey): an Inactive key
   * signs nothing until it is Active again. `NotFound` for a key that is not the user's,
   * `InvalidArgument` for a status other than Active / Inactive, `Conflict` while the user is
   * being deleted.
   */
  async setAccessKeyStatus(name: string, accessKey: string, status: string): Promise<AccessKeyDescription> {
    if (status !== 'Active' && status !== 'Inactive') throw new StorageError('InvalidArgument', `status must be "Active" or "Inactive", got ${JSON.stringify(status).slice(0, 60)}`);
    const user = await this.requireUser(name);
    if (!user.accessKeys.includes(accessKey)) throw noSuchKey(user.name, accessKey);
    this.checkNotDeleting(user);
    const r = await this.dht.update<AccessKeyEntry>(ids.accessKey(accessKey), async (current) => {
      if (!current || current.deleted || current.body.user !== user.id) throw noSuchKey(user.name, accessKey);
      if (keyStatus(current.body) === status) return null;
      // A deletion of the user that started since: its keys stay disabled. (The deletion marks
      // the user before it rewrites the keys, so either this read sees the mark or this write
      // lands first and the deletion disables the key again.)
      if (status === 'Active') this.checkNotDeleting((await this.user(user.name)) ?? user);
      return { ...current.body, status };
    });
    this.forgetKey(accessKey);
    return { accessKey, status, createdAt: r!.body.createdAt };
  }

  /**
   * Deletes one of user `name`'s access keys (IAM's DeleteAccessKey, whatever its status): the key
   * record is tombstoned first (the key stops working), then the user's list forgets it.
   * `NotFound` for a key that is not the user's.
   */
  async deleteAccessKey(name: string, accessKey: string): Promise<void> {
    const user = await this.requireUser(name);
    if (!user.accessKeys.includes(accessKey)) throw noSuchKey(user.name, accessKey);
    await this.dropKeyRecord(accessKey, user.id);
    await this.changeUser(user, (current) => (current.accessKeys.includes(accessKey) ? { ...current, accessKeys: current.accessKeys.filter((k) => k !== accessKey) } : null));
  }

  /**
   * Deletes user `name` (IAM's DeleteUser): `DeleteConflict` while it owns buckets. Otherwise the
   * user is marked as being deleted (no new keys, no re-enabling), its keys are disabled, and
   * after `cacheMs` + 1 s — when no node accepts them any more — its buckets are checked again: a
   * bucket created meanwhile re-enables the keys and refuses the deletion. Then the keys, the
   * registry entry, the `s3uid:` record and the user record are tombstoned, the user record last
   * (a deletion cut short is finished by running it again). Takes about `cacheMs` + 1 s.
   *
   * The `s3uid:` record goes too: grants naming the id on existing buckets and objects stay as
   * they are (with the name kept in them) but grant nothing, as no key can sign as that id again
   * (ids are random, and a user created later under the same name gets a new one); new grants
   * and policies naming it are refused as for any unknown id.
   */
  async deleteUser(name: string): Promise<{ name: string; id: string; accessKeys: string[] }> {
    const user = await this.requireUser(name);
    await this.refuseIfOwnsBuckets(user);
    const closing = await this.changeUser(user, (current) => ({ ...current, deleting: this.env.now() }));
    const disabled = new Set<string>();
    for (const accessKey of closing.accessKeys) {
      await this.dht.update<AccessKeyEntry>(ids.accessKey(accessKey), (current) => {
        if (!current || current.deleted || current.body.user !== user.id) return null;
        // An Inactive key is rewritten as it is: an enabling that read the user before the mark
        // above then fails its conditional write, re-reads, and finds the user being deleted.
        if (keyStatus(current.body) === 'Inactive') return { ...current.body };
        disabled.add(accessKey);
        return { ...current.body, status: 'Inactive' };
      });
      this.forgetKey(accessKey);
    }
    // Other nodes may hold the keys in their caches for up to cacheMs, and a CreateBucket they
    // let in may still be landing: wait for both, then decide on what the user owns.
    await this.env.sleep(this.options.cacheMs + CLOSE_MARGIN_MS);
    try {
      await this.refuseIfOwnsBuckets(user);
    } catch (err) {
      for (const accessKey of disabled) {
        await this.dht.update<AccessKeyEntry>(ids.accessKey(accessKey), (current) =>
          current && !current.deleted && current.body.user === user.id && keyStatus(current.body) === 'Inactive' ? { ...current.body, status: 'Active' } : null,
        );
        this.forgetKey(accessKey);
      }
      await this.changeUser(user, (current) => {
        const out = { ...current };
        delete out.deleting;
        return out;
      });
      throw err;
    }
    const now = await this.user(user.name);
    const accessKeys = [...new Set([...closing.accessKeys, ...(now?.id === user.id ? now.accessKeys : [])])];
    for (const accessKey of accessKeys) await this.dropKeyRecord(accessKey, user.id);
    await unregisterUser(this.dht, user.name, user.id);
    await this.dht.update<UserIdEntry>(ids.userId(user.id), (current) => (current?.deleted ? null : ({ type: 's3.userid', url: `s3uid:${user.id}`, deleted: true } as unknown as UserIdEntry)));
    this.indexedUsers.delete(user.id);
    await this.dht.update<UserEntry>(ids.user(user.name), (current) =>
      current && !current.deleted && current.body.id === user.id ? ({ type: 's3.user', url: `s3user:${user.name}`, deleted: true } as unknown as UserEntry) : null,
    );
    return { name: user.name, id: user.id, accessKeys };
  }

  /** User `name`, or `NotFound`. */
  private async requireUser(name: string): Promise<UserEntry> {
    const user = await this.user(name);
    if (!user) throw new StorageError('NotFound', `no S3 user "${name}"`);
    return user;
  }

  /** Whether a deletion of `user` is in progress (one left by a node that died expires). */
  private isDeleting(user: Pick<UserEntry, 'deleting'>): boolean {
    return user.deleting !== undefined && this.env.now() - user.deleting < CLOSING_EXPIRES_MS;
  }

  private checkNotDeleting(user: UserEntry): void {
    if (this.isDeleting(user)) throw new StorageError('Conflict', `user "${user.name}" is being deleted`);
  }

  /** `DeleteConflict` naming the buckets `user` owns, if any. */
  private async refuseIfOwnsBuckets(user: UserEntry): Promise<void> {
    const page = await this.dht.scanPartition(ids.ownerBuckets(user.id), { limit: 11 });
    if (page.items.length === 0) return;
    const names = page.items.slice(0, 10).map((i) => i.sortKey!);
    const count = page.items.length > 10 ? 'more than 10 buckets' : page.items.length === 1 ? 'a bucket' : `${page.items.length} buckets`;
    throw new StorageError(
      'DeleteConflict',
      `user "${user.name}" owns ${count} (${names.join(', ')}${page.items.length > 10 ? ', …' : ''}): delete them first — copy what must be kept to another user's bucket — then delete the user`,
    );
  }

  /** Rewrites the record of `user` (the same user: its canonical id); `NotFound` if it is gone. */
  private async changeUser(user: UserEntry, change: (current: UserEntry) => UserEntry | null): Promise<UserEntry> {
    const r = await this.dht.update<UserEntry>(ids.user(user.name), (current) => {
      if (!current || current.deleted || current.body.id !== user.id) throw new StorageError('NotFound', `no S3 user "${user.name}"`);
      return change(current.body);
    });
    return r!.body;
  }

  /** Writes the record of a new, Active access key of user `id`; resolves with its credentials. */
  private async newAccessKey(id: string, name: string): Promise<{ accessKey: string; secret: string; createdAt: number }> {
    for (let attempt = 0; ; attempt++) {
      const bytes = this.env.random.bytes(16);
      let accessKey = 'PI';
      for (let i = 0; i < 18; i++) accessKey += ACCESS_KEY_ALPHABET[bytes[i % 16]! % 32];
      const secret = Buffer.from(this.env.random.bytes(30)).toString('base64').replace(/\+/g, 'x').replace(/\//g, 'y');
      const createdAt = this.env.now();
      const key: AccessKeyEntry = { type: 's3.key', user: id, name, secret, createdAt, status: 'Active' };
      const r = await this.dht.writeIfAbsent(ids.accessKey(accessKey), key);
      if (r.written) return { accessKey, secret, createdAt };
      // 80 random bits: a taken id is all but impossible; a second draw settles it.
      if (attempt >= 2) throw new StorageError('Conflict', 'could not draw an unused access key id');
    }
  }

  /** Tombstones an access key's record if it is user `id`'s, and forgets it here. */
  private async dropKeyRecord(accessKey: string, id: string): Promise<void> {
    await this.dht.update<AccessKeyEntry>(ids.accessKey(accessKey), (current) =>
      current && !current.deleted && current.body.user === id ? ({ type: 's3.key', deleted: true } as unknown as AccessKeyEntry) : null,
    );
    this.forgetKey(accessKey);
  }

  // ---------------------------------------------------------------------------------------------
  // Buckets

  /** A bucket (cached unless `fresh`), or undefined. */
  /** The bucket's entry if this node's cache holds a fresh one (no DHT read); otherwise undefined. */
  cachedBucket(name: string): BucketEntry | undefined {
    const cached = this.buckets.get(name);
    return cached && this.env.now() - cached.at < this.options.cacheMs ? cached.entry : undefined;
  }

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
    const chosen = this.options.indexShards ?? 1;
    const shards = typeof chosen === 'number' ? chosen : chosen();
    if (shards > 1) entry.shards = shards;
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
    if (!rules?.length) {
      await this.setBucketSetting(bucket, 'lifecycle', undefined);
      return;
    }
    // Checked in the conditional write, so a concurrent enabling of MFA delete cannot slip between.
    await this.changeBucket(bucket, (current) => {
      if (current.mfa === 'Enabled') throw mfaLifecycleConflict();
      return { ...current, lifecycle: rules.map((r) => ({ ...r })) };
    });
  }

  /** Replaces a bucket's CORS rules (none removes them). */
  async setBucketCors(bucket: BucketEntry, rules: readonly CorsRule[] | undefined): Promise<void> {
    await this.setBucketSetting(bucket, 'cors', rules?.length ? rules.map((r) => ({ ...r })) : undefined);
  }

  /**
   * Replaces one setting of a bucket's record (undefined removes it): its policy document
   * (`policy`), Object Ownership (`own`), public access block (`pab`), website (`web`), access logging (`log`),
   * Requester Pays (`rp`), …
   */
  async setBucketSetting<K extends 'policy' | 'own' | 'pab' | 'lifecycle' | 'cors' | 'enc' | 'web' | 'log' | 'rp' | 'repl' | 'ntf'>(bucket: BucketEntry, field: K, value: BucketEntry[K] | undefined): Promise<void> {
    await this.changeBucket(bucket, (current) => {
      const out = { ...current };
      if (value !== undefined) out[field] = value;
      else delete out[field];
      return out;
    });
  }


  /** Sets a bucket's versioning state (PutBucketVersioning). */
  async setBucketVersioning(bucket: BucketEntry, change: { status?: VersioningStatus; mfa?: 'Enabled' | 'Disabled' }): Promise<void> {
    await this.changeBucket(bucket, (current) => {
      const status = change.status ?? current.ver;
      if (current.lock && status !== 'Enabled') throw new S3Error('InvalidBucketState', 'An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.');
      if (change.mfa === 'Enabled' && current.lifecycle?.length) throw mfaLifecycleConflict();
      const next = { ...current };
      if (status !== undefined) next.ver = status;
      if (change.mfa !== undefined) next.mfa = change.mfa;
      return next;
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
    // Every shard of both indexes, whatever the bucket record says: a cached one may predate its versioning.
    const partitions = [...objectsPartitions(bucket), ...versionsPartitions(bucket)];
    const pages = await Promise.all(partitions.map((p) => this.dht.scanPartition(p, { limit: 1 })));
    if (pages.some((page) => page.items.length > 0)) return false;
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
    return live<ObjectEntry>(await this.dht.getItem<ObjectEntry>(objectsPartitionOf(bucket, key), key));
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
      const r = await this.dht.writeItemIfAbsent<ObjectEntry>(objectsPartitionOf(bucket, key), key, entry);
      if (r.written) return undefined;
    }
    await this.dht.updateItem<ObjectEntry>(objectsPartitionOf(bucket, key), key, (current) => {
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
    await this.dht.updateItem<ObjectEntry>(objectsPartitionOf(bucket, key), key, (now) => {
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
    await this.dht.updateItem<ObjectEntry>(objectsPartitionOf(bucket, key), key, (current) => {
      previous = current && !current.deleted ? current.body : undefined;
      check?.(previous);
      if (!previous) return null;
      return { type: 's3.object', deleted: true } as unknown as ObjectEntry;
    }, OBJECT_WRITE_OPTIONS);
    return previous;
  }

  /** A sorted source of the bucket's objects for the listing logic, paging through its index shards side by side. */
  objectSource(bucket: BucketEntry, pageSize = SCAN_PAGE): KeySource<ObjectSummary> {
    const partitions = objectsPartitions(bucket);
    const dht = this.dht;
    const firstPage = shardPageSize(Math.min(pageSize, FIRST_SCAN_PAGE), partitions.length);
    const nextPages = shardPageSize(pageSize, partitions.length);
    async function* shard(partition: Id, from: ListFrom, start: string): AsyncGenerator<ObjectSummary> {
      let after: string | undefined;
      let limit = firstPage;
      for (;;) {
        const page = await dht.scanPartition<ObjectEntry>(partition, { prefix: from.prefix, limit, omit: UNLISTED_FIELDS, ...(start !== '' ? { from: start } : {}), ...(after ? { after } : {}) });
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
        limit = nextPages;
      }
    }
    return (from: ListFrom): AsyncGenerator<ObjectSummary> => {
      const start = readStart(from);
      if (start === null) return mergeSorted([], (o: ObjectSummary) => o.key);
      return mergeSorted(
        partitions.map((p) => shard(p, from, start)),
        (o) => o.key,
      );
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Chunk lists of large objects

  /** The chunk list fields of an entry: inline, or spilled into manifest pages for huge objects. */
  async storeChunkList(vid: string, chunks: readonly ChunkRef[]): Promise<{ chunks?: string; crcs?: string; pages?: number }> {
    if (chunks.length <= (this.options.inlineChunkList ?? INLINE_CHUNK_LIST)) return withCrcs<{ chunks: string; crcs?: string }>({ chunks: packChunks(chunks) }, chunks);
    const perPage = this.options.manifestPageChunks ?? MANIFEST_PAGE_CHUNKS;
    const pages: ChunkRef[][] = [];
    for (let i = 0; i < chunks.length; i += perPage) pages.push(chunks.slice(i, i + perPage));
    await eachLimited(
      pages.map((p, i) => [p, i] as const),
      8,
      async ([page, i]) => {
        const entry = withCrcs<ManifestEntry>({ type: 's3.manifest', chunks: packChunks(page) }, page);
        await this.dht.put(ids.manifest(vid, i), entry);
      },
    );
    return { pages: pages.length };
  }

  /** An entry's chunks, in order. */
  async chunkList(entry: Pick<ObjectEntry, 'vid' | 'chunks' | 'crcs' | 'pages'>): Promise<ChunkRef[]> {
    if (!entry.pages) return attachCrcs(unpackChunks(entry.chunks), entry.crcs);
    const out: ChunkRef[] = [];
    for (let i = 0; i < entry.pages; i++) {
      const page = await this.dht.get<ManifestEntry>(ids.manifest(entry.vid, i));
      if (!page || page.deleted) throw new StorageError('NotFound', `manifest page ${i} of version ${entry.vid} is missing`);
      out.push(...attachCrcs(unpackChunks(page.body.chunks), page.body.crcs));
    }
    return out;
  }

  /** A part's chunks, in order (its manifest pages are keyed by the part version). */
  partChunkList(part: PartEntry): Promise<ChunkRef[]> {
    return this.chunkList({ vid: part.pv, chunks: part.chunks, crcs: part.crcs, pages: part.pages });
  }

  /** Deletes the manifest pages of a part, if it has any. */
  dropPartChunkList(part: PartEntry): Promise<void> {
    return this.dropChunkList({ vid: part.pv, pages: part.pages });
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

  /**
   * Takes the upload for one CompleteMultipartUpload, in one conditional write: `claimed` with
   * the upload when it was free (or its claim older than `staleMs`: a completion that died), `busy`
   * while another completion holds it, `gone` when it was completed or aborted.
   */
  async claimUpload(bucket: BucketEntry, key: string, uploadId: string, id: string, now: number, staleMs: number): Promise<{ outcome: 'claimed'; upload: UploadEntry } | { outcome: 'busy' | 'gone' }> {
    let result: { outcome: 'claimed'; upload: UploadEntry } | { outcome: 'busy' | 'gone' } = { outcome: 'gone' };
    await this.dht.updateItem<UploadEntry>(
      ids.uploads(bucket),
      key + UPLOAD_SEPARATOR + uploadId,
      (current) => {
        if (!current || current.deleted) {
          result = { outcome: 'gone' };
          return null;
        }
        const held = current.body.claim;
        if (held && held.id !== id && now - held.at < staleMs) {
          result = { outcome: 'busy' };
          return null;
        }
        const upload: UploadEntry = { ...current.body, claim: { id, at: now } };
        result = { outcome: 'claimed', upload };
        return upload;
      },
      OBJECT_WRITE_OPTIONS,
    );
    return result;
  }

  /** Gives back a claim of {@link claimUpload} (the completion failed): the upload is free again. */
  async releaseUploadClaim(bucket: BucketEntry, key: string, uploadId: string, id: string): Promise<void> {
    await this.dht.updateItem<UploadEntry>(
      ids.uploads(bucket),
      key + UPLOAD_SEPARATOR + uploadId,
      (current) => {
        if (!current || current.deleted || current.body.claim?.id !== id) return null;
        const upload: UploadEntry = { ...current.body };
        delete upload.claim;
        return upload;
      },
      OBJECT_WRITE_OPTIONS,
    );
  }

  /**
   * Ends an upload unless a completion holds it (abort, lifecycle): `ended`, `busy` (a claim
   * younger than `staleMs`) or `gone`.
   */
  async endUploadUnlessClaimed(bucket: BucketEntry, key: string, uploadId: string, now: number, staleMs: number): Promise<'ended' | 'busy' | 'gone'> {
    let outcome: 'ended' | 'busy' | 'gone' = 'gone';
    await this.dht.updateItem<UploadEntry>(
      ids.uploads(bucket),
      key + UPLOAD_SEPARATOR + uploadId,
      (current) => {
        if (!current || current.deleted) {
          outcome = 'gone';
          return null;
        }
        const held = current.body.claim;
        if (held && now - held.at < staleMs) {
          outcome = 'busy';
          return null;
        }
        outcome = 'ended';
        return { type: 's3.upload', deleted: true } as unknown as UploadEntry;
      },
      OBJECT_WRITE_OPTIONS,
    );
    return outcome;
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
      // From the marker's key itself, not its upload: keys extending it with U+0000 / U+0001 sort
      // before its uploads in the partition (key-groups.ts); the listing drops what it already gave.
      let start = from.prefix;
      if (from.startAfter !== undefined && compareKeys(from.startAfter, start) >= 0) start = from.startAfter;
      // Past a common prefix already returned: one seek instead of reading its uploads.
      const begin = startPastSkipped(start, from.skipPrefix);
      if (begin === null) return;
      async function* entries(prefix: string, first: string): AsyncGenerator<UploadEntry> {
        let after: string | undefined;
        // A small first page: the listing may stop early, or re-open the source past a directory.
        let limit = FIRST_SCAN_PAGE;
        for (;;) {
          const page = await dht.scanPartition<UploadEntry>(partition, { prefix, limit, ...(first !== '' ? { from: first } : {}), ...(after ? { after } : {}) });
          for (const item of page.items) yield item.body;
          if (!page.next) return;
          after = page.next;
          limit = SCAN_PAGE;
        }
      }
      // All uploads of one key (a prefix scan, without the keys that extend it).
      const readKey = async (key: string): Promise<UploadEntry[]> => (await collect(entries(key + UPLOAD_SEPARATOR, ''))).filter((u) => u.key === key);
      // In key order even around keys that extend others with U+0000 / U+0001 (key-groups.ts).
      for await (const group of keyGroups(entries(from.prefix, begin), (u) => u.key, readKey, from.prefix)) {
        for (const u of group.items) {
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
      // Only that version of the part: one re-uploaded meanwhile keeps its record, whose chunk
      // references the collector then sees belong to an ended upload (not one in progress).
      await this.dht.updateItem<PartEntry>(ids.parts(uploadId), partSortKey(p.n), (current) => (current && !current.deleted && current.body.pv === p.pv ? ({ type: 's3.part', deleted: true } as unknown as PartEntry) : null));
    });
  }
}
