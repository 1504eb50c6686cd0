/**
 * What Pi Cloud S3 keeps in the DHT, and where. Every record is a JSON entity; object data lives
 * in chunks (see chunks/store.ts) except for small objects, kept inline.
 *
 * | record | id | content |
 * | --- | --- | --- |
 * | access key | `s3key:<access key>` | the secret, the user it belongs to, its status (Active / Inactive) |
 * | user | `s3user:<name>` | canonical id, access keys (at most 2) |
 * | user by id | `s3uid:<canonical id>` | the user's name (grants by canonical id) |
 * | every user | partition `s3registry:users`, sort key user name | canonical id, creation time (user-registry.ts) |
 * | bucket | `s3bucket:<name>` | owner, ACL (canned, or a grant list), region, creation time, incarnation, tags, CORS rules, lifecycle rules, bucket policy, versioning, Object Lock, website, server access logging |
 * | owner's buckets | partition `s3buckets:<owner id>`, sort key bucket name | creation time |
 * | every bucket | partition `s3registry:buckets`, sort key bucket name | incarnation (bucket-registry.ts) |
 * | objects of a bucket | partitions `s3objects:<bucket>:<incarnation>[:<shard>]` (index-shards.ts), sort key object key | {@link ObjectEntry} |
 * | uploads of a bucket | partition `s3uploads:<bucket>:<incarnation>`, sort key `key \x01 upload id` | {@link UploadEntry} |
 * | versions to replicate | partitions `s3repl:<bucket>:<incarnation>[:<shard>]`, sort key `key \x01 vid` | a replication task (replication.ts) |
 * | parts of an upload | partition `s3parts:<upload id>`, sort key part number (5 digits) | {@link PartEntry} |
 * | chunk references | partition `s3ref:<chunk hash>`, sort key reference id | {@link RefEntry} |
 * | chunk-list pages | `s3manifest:<version or part version id>:<page>` | packed chunk lists of huge objects and parts |
 *
 * The incarnation (random, per bucket creation) keeps a re-created bucket from seeing the
 * records of a deleted one.
 */
import type { Entity } from '../../dht/index.ts';
import { Scope, idFor } from '../../id/index.ts';
import type { Id } from '../../id/index.ts';
import type { SealedKey } from './encryption.ts';
import type { LoggingConfiguration } from './protocol/bucket-logging.ts';
import type { CannedAcl, CorsRule, LegalHoldStatus, LifecycleRule, NotificationConfiguration, ObjectLockConfiguration, ObjectOwnership, Permission, ReplicationConfiguration, RetentionMode, Tag, WebsiteConfiguration } from './protocol/index.ts';

/** Whether an access key may sign requests (IAM's statuses). */
export type AccessKeyStatus = 'Active' | 'Inactive';

/** An access key's record. */
export interface AccessKeyEntry extends Entity {
  type: 's3.key';
  /** The user's canonical id (64 hex digits). */
  user: string;
  name: string;
  secret: string;
  createdAt: number;
  /** Absent: Active (keys made before statuses existed). An Inactive key signs nothing. */
  status?: AccessKeyStatus;
}

/** A user. */
export interface UserEntry extends Entity {
  type: 's3.user';
  name: string;
  id: string;
  /** The user's access keys (at most {@link MAX_ACCESS_KEYS}), in creation order. */
  accessKeys: string[];
  createdAt: number;
  /** When a deletion of the user started (catalog.ts): its keys are being disabled; absent otherwise. */
  deleting?: number;
  /** The user's virtual MFA device (MFA delete, mfa.ts); absent when it has none. */
  mfa?: MfaDevice;
}

/** A virtual MFA device: a TOTP authenticator. */
export interface MfaDevice {
  /** The serial number requests name it by (`x-amz-mfa: <serial> <code>`). */
  serial: string;
  /** The TOTP secret, base32 (as authenticator apps take it). */
  secret: string;
  createdAt: number;
  /** The time step of the last code accepted: a code is good once, and never one older (RFC 6238 §5.2). */
  ls?: number;
}

/** Most access keys a user may have, as IAM allows. */
export const MAX_ACCESS_KEYS = 2;

/** A user's canonical id, for grants that name it. */
export interface UserIdEntry extends Entity {
  type: 's3.userid';
  id: string;
  name: string;
}

/**
 * One grant of an explicit ACL: to a user (canonical id, and name when it was granted) or to a
 * predefined group (URI).
 */
export interface StoredGrant {
  p: Permission;
  id?: string;
  n?: string;
  uri?: string;
}

/** A bucket. */
export interface BucketEntry extends Entity {
  type: 's3.bucket';
  name: string;
  owner: string;
  ownerName: string;
  /** The canned ACL; `private` (and ignored) when `grants` holds an explicit one. */
  acl: CannedAcl;
  /** An explicit ACL, the whole grant list as given (grant headers or a policy document). */
  grants?: StoredGrant[];
  region: string;
  createdAt: number;
  /** The bucket's lifecycle rules, in order (PutBucketLifecycleConfiguration); absent when it has none. */
  lifecycle?: LifecycleRule[];
  /** Random per creation: names the bucket's partitions. */
  inc: string;
  /** Index shards of its objects and versions partitions (index-shards.ts), fixed at creation; absent: 1. */
  shards?: number;
  /** The bucket's tag set (PutBucketTagging); absent when it has none. */
  tags?: Tag[];
  /** The bucket's CORS rules, in order (PutBucketCors); absent when it has none. */
  cors?: CorsRule[];
  /** The bucket policy, the JSON document as given (PutBucketPolicy); absent when it has none. */
  policy?: string;
  /** Versioning state (PutBucketVersioning); absent for a bucket never versioned. */
  ver?: VersioningStatus;
  /** MFA delete (PutBucketVersioning's MfaDelete, mfa.ts); absent when never set. */
  mfa?: 'Enabled' | 'Disabled';
  /** The public access block (PutPublicAccessBlock); absent when none is set. */
  pab?: PublicAccessBlock;
  /** Object Ownership (ownership.ts); absent: none set, which behaves as ObjectWriter. */
  own?: ObjectOwnership;
  /** Requester Pays (request-payment.ts): `Requester` when set; absent: the bucket owner pays. */
  rp?: 'Requester';
  /** When a DeleteBucket closed the bucket to new objects (catalog.ts); absent when open. */
  closing?: number;
  /** Object Lock (object-lock.ts): present once enabled (it cannot be disabled), with the default retention rule if any. */
  lock?: ObjectLockConfiguration;
  /** Default encryption (bucket-encryption.ts): SSE-S3 for writes that ask for none; BucketKeyEnabled as given. */
  enc?: { a: 'AES256' | 'aws:kms'; /** KMSMasterKeyID as given (aws:kms). */ k?: string; bk?: true };
  /** Static website configuration (website.ts, PutBucketWebsite); absent when none is set. */
  web?: WebsiteConfiguration;
  /** Server access logging (bucket-logging.ts, PutBucketLogging): where the bucket's access log records go; absent: disabled. */
  log?: LoggingConfiguration<StoredGrant>;
  /** Replication (replication.ts, PutBucketReplication); absent when none is set. */
  repl?: ReplicationConfiguration;
  /** Event notifications (notification.ts, PutBucketNotificationConfiguration); absent when none is set. */
  ntf?: NotificationConfiguration;
}

/** A bucket's public access block settings (public-access.ts); each absent means false. */
export interface PublicAccessBlock {
  /** BlockPublicAcls: requests that set a public ACL are refused. */
  blockAcls?: true;
  /** IgnorePublicAcls: grants to everyone / every authenticated user are ignored. */
  ignoreAcls?: true;
  /** BlockPublicPolicy: a public bucket policy is refused. */
  blockPolicy?: true;
  /** RestrictPublicBuckets: a public policy's Allows do not reach anonymous requests. */
  restrictBuckets?: true;
}

/** Versioning state of a bucket that has had versioning configured. */
export type VersioningStatus = 'Enabled' | 'Suspended';

/** A stored flexible checksum. */
export interface StoredChecksum {
  /** Algorithm (CRC32, CRC32C, CRC64NVME, MD5, SHA1, SHA256, SHA512). */
  a: string;
  /** Base64 value (with `-N` for a composite multipart checksum). */
  v: string;
  ty?: 'COMPOSITE' | 'FULL_OBJECT';
}

/** One object, as its bucket's partition holds it. */
export interface ObjectEntry extends Entity {
  type: 's3.object';
  /** Version id: unique per write, names the chunk references of this version. */
  vid: string;
  size: number;
  /** ETag without quotes. */
  etag: string;
  /** Last-Modified, ms. */
  lm: number;
  ct?: string;
  /** Stored response headers (cache-control, content-disposition, content-encoding, content-language, expires). */
  hd?: Record<string, string>;
  /** User metadata (names without `x-amz-meta-`). */
  meta?: Record<string, string>;
  cs?: StoredChecksum;
  acl?: CannedAcl;
  /** An explicit ACL (instead of `acl`), the whole grant list as given. */
  grants?: StoredGrant[];
  owner: string;
  ownerName: string;
  sc?: string;
  /** Inline data (small objects), base64. */
  data?: string;
  /** Packed chunk list ({@link packChunks}), base64. */
  chunks?: string;
  /** The chunks' CRC32s ({@link packCrcs}), when every one has one. */
  crcs?: string;
  /** Number of manifest pages holding the chunk list (huge objects). */
  pages?: number;
  /** Parts of a multipart object. */
  parts?: number;
  /** Sizes of a multipart object's parts, in order (GetObject by part number). */
  ps?: number[];
  /** The parts' numbers, when they are not 1…parts (an upload completed from sparse part numbers). */
  pn?: number[];
  /** The parts' checksums (base64, algorithm `cs.a`), when the upload had a checksum algorithm (GetObjectAttributes lists them). */
  pcs?: string[];
  /** The upload a multipart object was completed from (a repeated CompleteMultipartUpload succeeds). */
  up?: string;
  /** The object's tag set, in the order given; absent when it has none. */
  tags?: Tag[];
  /** S3 version id (versioning.ts); absent: the version "null". */
  vi?: string;
  /** A delete marker (a versioned bucket's DeleteObject): no data, size 0. */
  dm?: true;
  /** Position in the key's history, from 1 (versioned buckets; absent: 0, written before any). */
  seq?: number;
  /** Object Lock retention mode (with `ru`); absent: no retention. */
  rm?: RetentionMode;
  /** Object Lock retain-until date, ms. */
  ru?: number;
  /** Object Lock legal hold, once one was set (ON or OFF). */
  lh?: LegalHoldStatus;
  /** SSE-C: the data is encrypted with the customer's key, recognised by this (encryption.ts). */
  sse?: SealedKey;
  /** Replication status (replication.ts): of a source version a rule selected, or REPLICA for a replica. */
  rs?: ReplicationStatus;
}

/** `x-amz-replication-status` values. */
export type ReplicationStatus = 'PENDING' | 'COMPLETED' | 'FAILED' | 'REPLICA';

/** An in-progress multipart upload. */
export interface UploadEntry extends Entity {
  type: 's3.upload';
  key: string;
  uploadId: string;
  initiated: number;
  owner: string;
  ownerName: string;
  ct?: string;
  hd?: Record<string, string>;
  meta?: Record<string, string>;
  acl?: CannedAcl;
  /** The explicit ACL the object will have. */
  grants?: StoredGrant[];
  sc?: string;
  /** Checksum algorithm chosen at creation. */
  ca?: string;
  cty?: 'COMPOSITE' | 'FULL_OBJECT';
  /** Tags of `x-amz-tagging`, given to the object on completion. */
  tags?: Tag[];
  /** Object Lock retention and legal hold asked for by the `x-amz-object-lock-*` headers. */
  rm?: RetentionMode;
  ru?: number;
  lh?: LegalHoldStatus;
  /** SSE-C: every part must be uploaded with this key (encryption.ts). */
  sse?: SealedKey;
  /**
   * A CompleteMultipartUpload under way (catalog.ts `claimUpload`): only its holder may commit the
   * object, and an abort waits for it. `at`: when it was taken (a stale one may be taken over).
   */
  claim?: { id: string; at: number };
}

/** An uploaded part. */
export interface PartEntry extends Entity {
  type: 's3.part';
  n: number;
  /** Part version (a re-upload of the same number gets a new one). */
  pv: string;
  size: number;
  etag: string;
  lm: number;
  /** Packed chunk list ({@link packChunks}), base64; absent when it is in manifest pages. */
  chunks?: string;
  /** The chunks' CRC32s ({@link packCrcs}), when every one has one. */
  crcs?: string;
  /** Number of manifest pages (keyed by the part version) holding a long chunk list. */
  pages?: number;
  cs?: StoredChecksum;
  /** SSE-C: the key the part was encrypted with (the upload's). */
  sse?: SealedKey;
}

/** A reference from an object version or an upload part to a chunk. */
export interface RefEntry extends Entity {
  type: 's3.ref';
  /** Bucket, incarnation, key and version id of an object version… */
  b?: string;
  i?: string;
  k?: string;
  v?: string;
  /** …or the upload id and part version of a part. */
  u?: string;
  at: number;
}

/** A page of a huge object's chunk list. */
export interface ManifestEntry extends Entity {
  type: 's3.manifest';
  chunks: string;
  /** The page's CRC32s ({@link packCrcs}), when every chunk has one. */
  crcs?: string;
}

export const ids = {
  accessKey: (key: string): Id => idFor(`s3key:${key}`, Scope.GLOBAL),
  user: (name: string): Id => idFor(`s3user:${name}`, Scope.GLOBAL),
  userId: (id: string): Id => idFor(`s3uid:${id}`, Scope.GLOBAL),
  bucket: (name: string): Id => idFor(`s3bucket:${name}`, Scope.GLOBAL),
  ownerBuckets: (owner: string): Id => idFor(`s3buckets:${owner}`, Scope.GLOBAL),
  /** Index shard `shard` of a bucket's current versions (index-shards.ts picks the shard of a key). */
  objects: (b: Pick<BucketEntry, 'name' | 'inc'>, shard: number): Id => idFor(`s3objects:${b.name}:${b.inc}${shard === 0 ? '' : `:${shard}`}`, Scope.GLOBAL),
  /** Index shard `shard` of the noncurrent versions of a versioned bucket's objects (versioning.ts). */
  versions: (b: Pick<BucketEntry, 'name' | 'inc'>, shard: number): Id => idFor(`s3versions:${b.name}:${b.inc}${shard === 0 ? '' : `:${shard}`}`, Scope.GLOBAL),
  uploads: (b: Pick<BucketEntry, 'name' | 'inc'>): Id => idFor(`s3uploads:${b.name}:${b.inc}`, Scope.GLOBAL),
  /** Index shard `shard` of a bucket's versions waiting to be replicated (replication.ts; sharded like the object index). */
  replication: (b: Pick<BucketEntry, 'name' | 'inc'>, shard: number): Id => idFor(`s3repl:${b.name}:${b.inc}${shard === 0 ? '' : `:${shard}`}`, Scope.GLOBAL),
  parts: (uploadId: string): Id => idFor(`s3parts:${uploadId}`, Scope.GLOBAL),
  refs: (hash: string): Id => idFor(`s3ref:${hash}`, Scope.GLOBAL),
  manifest: (vid: string, page: number): Id => idFor(`s3manifest:${vid}:${page}`, Scope.GLOBAL),
};

/** The ref id (in a chunk's `s3ref:` partition) of the object version written under `vid`. */
export function versionRef(vid: string): string {
  return `o:${vid}`;
}

/** `entry` with its tag set replaced by `tags` (the field left out when there are none). */
export function withTags<T extends { tags?: Tag[] }>(entry: T, tags: readonly Tag[]): T {
  const out = { ...entry };
  if (tags.length > 0) out.tags = tags.map((t) => ({ key: t.key, value: t.value }));
  else delete out.tags;
  return out;
}

/** Separates key and upload id in an upload's sort key (sorts below every printable character). */
export const UPLOAD_SEPARATOR = '\u0001';

/** Sort key of a part. */
export function partSortKey(n: number): string {
  return String(n).padStart(5, '0');
}

// ---------------------------------------------------------------------------------------------
// Chunk lists

/** A chunk of an object: its hash and size, and the IV it was encrypted from (SSE-C objects). */
export interface ChunkRef {
  hash: string;
  size: number;
  /** Hex IV of an encrypted chunk (encryption.ts); absent for plaintext. */
  iv?: string;
  /**
   * CRC32 of the chunk's stored bytes, recorded when it was written: a whole chunk read from this
   * node's disk is checked against it (three times cheaper than hashing it again). Absent for
   * chunks listed before it was recorded; those are checked against their SHA-256.
   */
  crc?: number;
}

/**
 * The CRC32s of a chunk list, packed (4 bytes each, base64), or undefined unless every chunk has
 * one. Stored beside the packed list ({@link packChunks}), so releases that do not know it read
 * the list as before.
 */
export function packCrcs(chunks: readonly ChunkRef[]): string | undefined {
  if (chunks.length === 0 || chunks.some((c) => c.crc === undefined)) return undefined;
  const buf = Buffer.allocUnsafe(chunks.length * 4);
  chunks.forEach((c, i) => buf.writeUInt32BE(c.crc!, i * 4));
  return buf.toString('base64');
}

/** Sets each chunk's `crc` from {@link packCrcs}'s output, if it lists exactly these chunks. */
export function attachCrcs(chunks: ChunkRef[], packed: string | undefined): ChunkRef[] {
  if (!packed) return chunks;
  const buf = Buffer.from(packed, 'base64');
  if (buf.length !== chunks.length * 4) return chunks;
  chunks.forEach((c, i) => (c.crc = buf.readUInt32BE(i * 4)));
  return chunks;
}

const REF_BYTES = 36;
const SEALED_REF_BYTES = REF_BYTES + 16;
/** Marks a packed list whose records carry IVs (`:` is not a base64 character, so old lists never start with it). */
const SEALED_PREFIX = 'e:';

/**
 * Packs chunk references as base64 of (32-byte hash, 4-byte size) records; the chunks of an
 * encrypted object add their 16-byte IV to each record, and the list is marked as such.
 */
export function packChunks(chunks: readonly ChunkRef[]): string {
  const sealed = chunks.length > 0 && chunks[0]!.iv !== undefined;
  const bytes = sealed ? SEALED_REF_BYTES : REF_BYTES;
  const buf = Buffer.allocUnsafe(chunks.length * bytes);
  chunks.forEach((c, i) => {
    if ((c.iv !== undefined) !== sealed) throw new Error('a chunk list mixes encrypted and plaintext chunks');
    buf.write(c.hash, i * bytes, 32, 'hex');
    buf.writeUInt32BE(c.size, i * bytes + 32);
    if (sealed) buf.write(c.iv!, i * bytes + REF_BYTES, 16, 'hex');
  });
  return (sealed ? SEALED_PREFIX : '') + buf.toString('base64');
}

/** Unpacks {@link packChunks}. */
export function unpackChunks(packed: string | undefined): ChunkRef[] {
  if (!packed) return [];
  const sealed = packed.startsWith(SEALED_PREFIX);
  const bytes = sealed ? SEALED_REF_BYTES : REF_BYTES;
  const buf = Buffer.from(sealed ? packed.slice(SEALED_PREFIX.length) : packed, 'base64');
  const out: ChunkRef[] = [];
  for (let off = 0; off + bytes <= buf.length; off += bytes) {
    const ref: ChunkRef = { hash: buf.toString('hex', off, off + 32), size: buf.readUInt32BE(off + 32) };
    if (sealed) ref.iv = buf.toString('hex', off + REF_BYTES, off + SEALED_REF_BYTES);
    out.push(ref);
  }
  return out;
}

/** Chunk references per manifest page (~390 KB of JSON; ~570 KB for an encrypted object's, with IVs). */
export const MANIFEST_PAGE_CHUNKS = 8192;
/** Longest chunk list kept in the object entry itself. */
export const INLINE_CHUNK_LIST = 8192;
