/**
 * The S3 operations: which one a request is (method, bucket, key, sub-resource), who may do it,
 * and doing it over the catalog (DHT) and the chunk store. Independent of how it is hosted: the
 * node service (service.ts) gives it a catalog, a chunk store and options.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Env, Logger } from '../../env/index.ts';
import {
  S3Error,
  collectUserMetadata,
  completeMultipartUploadXml,
  compositeChecksum,
  contentRange,
  copyObjectResultXml,
  copyPartResultXml,
  createBodyVerifier,
  deleteResultXml,
  evaluateConditions,
  evaluateCopySourceConditions,
  evaluateWriteConditions,
  formatHttpDate,
  fullObjectChecksum,
  getHeader,
  initiateMultipartUploadXml,
  listAllMyBucketsXml,
  listBucketsPage,
  listMultipartUploads,
  listObjectsV1,
  listObjectsV2,
  listObjectsV1Xml,
  listObjectsV2Xml,
  listMultipartUploadsXml,
  listParts,
  listPartsXml,
  locationConstraintXml,
  multipartEtag,
  objectAttributesXml,
  parseChecksumAlgorithm,
  parseCompleteMultipartUpload,
  parseCopySource,
  parseCopySourceRange,
  parseCreateBucketConfiguration,
  parseDeleteObjects,
  parseListBucketsParams,
  parseListObjectsV1Params,
  parseListObjectsV2Params,
  parseListPartsParams,
  parseListUploadsParams,
  parseObjectAttributes,
  parseObjectOwnership,
  parsePartNumber,
  parseRange,
  rangeApplies,
  parseStorageClass,
  rangeLength,
  copySourceCustomerKey,
  hasCustomerKeyHeaders,
  refuseEncryptionHeaders,
  requestCustomerKey,
  requestManagedEncryption,
  objectEncryptionContext,
  kmsInClearError,
  kmsNeedsSigV4Error,
  SIGV2_SCHEME,
  responseHeaderOverrides,
  storedContentEncoding,
  uploadLength,
  validateBucketName,
  validateLocationConstraint,
  validateObjectKey,
  checksumHeaderName,
  checksumMismatch,
  missingPartChecksum,
  checkConsecutivePartNumbers,
  isCrcAlgorithm,
  CHECKSUM_ALGORITHMS,
  multipartChecksumType,
  objectChecksumMatches,
  parseExpectedDigests,
  parseObjectChecksumHeader,
  partChecksumTypeMismatch,
  withoutObjectChecksumHeaders,
  BodyDigests,
  hasLockHeaders,
  versionRemovable,
} from './protocol/index.ts';
import type { BodyVerifier, ByteRange, CannedAcl, ChecksumAlgorithm, DeletedEntry, DigestAlgorithm, HeaderMap, DeleteErrorEntry, ManagedEncryptionRequest, ObjectAttributesResult, RequestAuth, StorageClass, Tag } from './protocol/index.ts';
import { aclsDisabled, canBucket, canObjectAcl, canReadBucket, canReadObject, canWriteBucket, mustAllow } from './access.ts';
import type { AclAllowance, AclFields } from './access.ts';
import { aclOfPut, aclXml, requestAcl, withAcl } from './acl.ts';
import { OBJECT_WRITE_GRANT_HEADERS } from './protocol/acl.ts';
import type { Catalog, Principal } from './catalog.ts';
import { eachLimited, isClosing } from './catalog.ts';
import type { ChunkStore } from './chunks/store.ts';
import { ChunkSink, pipeBody, streamChunks } from './data.ts';
import { IV_BYTES, cryptPiece, decipherAt, etagFor, isCustomer, isKms, keyForRead, keyOnly, kmsContextHeader, refuseUnneededKey, sealKey, sealedKeyHeaders } from './encryption.ts';
import type { MasterKeys } from './encryption.ts';
import type { KmsKeys } from './kms.ts';
import { BucketEncryptionApi, noMasterKey } from './bucket-encryption.ts';
import type { ChunkSinkOptions, SinkResult } from './data.ts';
import { readCheckedBody, readSmallBody, sendEmpty, sendXml } from './replies.ts';
import { SelectApi } from './select-api.ts';
import { RequestPaymentApi, checkRequestPayer } from './request-payment.ts';
import { TaggingApi, requestTags, taggingCountHeader } from './tagging.ts';
import { CorsApi } from './cors.ts';
import { BucketWebsiteApi } from './bucket-website.ts';
import { BucketLoggingApi } from './bucket-logging.ts';
import { LifecycleApi, expirationHeader } from './lifecycle.ts';
import { MfaAuthenticator, mfaDeleteEnabled } from './mfa-delete.ts';
import type { LifecycleActions, ObjectExpired } from './lifecycle.ts';
import { PostObjectApi } from './post-object.ts';
import { unconfiguredOperation } from './unconfigured.ts';
import { ReplicationApi, Replicator } from './replication.ts';
import { BucketNotifications } from './notification.ts';
import { PublicAccessApi, refusePublicAcl } from './public-access.ts';
import { OwnershipApi, aclForWrite, checkNewBucketOwnership, objectOwnerFor } from './ownership.ts';
import { VersioningApi, checkVersionId, invalidVersionId, permittedVersion, versionHeader } from './versioning-api.ts';
import type { DeleteOutcome } from './versioning-api.ts';
import { isVersionId, versionIdOf } from './versioning.ts';
import type { StoredVersion } from './version-catalog.ts';
import { BucketPolicies } from './policy.ts';
import { ObjectLockApi, retentionOf } from './object-lock.ts';
import type { LockFields } from './object-lock.ts';
import type { PolicyTarget } from './policy.ts';
import { mapError } from './http.ts';
import type { S3Request } from './http.ts';
import type { CopySourceFacts } from './access-log-capture.ts';
import type { KmsSealedKey, SealedKey } from './encryption.ts';
import type { BucketEntry, ChunkRef, ObjectEntry, PartEntry, RefEntry, StoredChecksum, StoredGrant, UploadEntry } from './model.ts';
import { versionRef } from './model.ts';
import { ARCHIVE_STORAGE_CLASSES, BUCKET_SUBRESOURCES, OBJECT_SUBRESOURCES, UNSUPPORTED_BUCKET_SUBRESOURCES, UNSUPPORTED_OBJECT_SUBRESOURCES, subresourceIn } from './subresources.ts';
import type { S3Options } from './options.ts';

/** Headers stored with an object and returned on GET / HEAD. */
const STORED_HEADERS = ['cache-control', 'content-disposition', 'content-language', 'expires', 'x-amz-website-redirect-location'] as const;
/** The stored header CopyObject never copies (S3: "unique to each object"). */
const REDIRECT_HEADER = 'x-amz-website-redirect-location';

/**
 * `x-amz-website-redirect-location` of a write: a path on the bucket's website (`/…`) or an
 * absolute http(s) URL, at most 2 KB, as S3 checks it (`InvalidArgument` otherwise).
 */
function checkWebsiteRedirectLocation(value: string): void {
  if (!/^(\/|https?:\/\/)/.test(value)) {
    throw new S3Error('InvalidArgument', "The website redirect location must have a prefix of 'http://' or 'https://' or '/'.", { fields: { ArgumentName: 'x-amz-website-redirect-location', ArgumentValue: value } });
  }
  if (Buffer.byteLength(value) > 2048) throw new S3Error('InvalidArgument', 'The length of website redirect location cannot exceed 2,048 characters.', { fields: { ArgumentName: 'x-amz-website-redirect-location' } });
}

/**
 * `x-amz-expected-bucket-owner` (`x-amz-source-expected-bucket-owner` for a copy source): the
 * request applies only to a bucket of that owner, named here by canonical id or user name
 * (there are no account ids); any other bucket is `AccessDenied`, as S3 answers.
 */
function checkExpectedOwner(bucket: BucketEntry, expected: string | undefined): void {
  if (expected !== undefined && expected !== bucket.owner && expected !== bucket.ownerName) throw new S3Error('AccessDenied');
}

/** An object write of {@link S3Api.storeObject}: PutObject, or the file of a POST upload. */
export interface ObjectWrite {
  bucket: BucketEntry;
  key: string;
  /** The object's bytes. */
  body: Readable;
  /** How the bytes are authenticated (the body verifier depends on it). */
  auth: RequestAuth;
  /** Content-Type, stored headers, metadata, Content-MD5 / checksums, write conditions. */
  headers: S3Request['headers'];
  /** The writer; undefined for an anonymous write (the object is then the bucket owner's). */
  principal: Principal | undefined;
  acl: CannedAcl | undefined;
  /** An explicit ACL (grant headers) instead of `acl`. */
  grants?: StoredGrant[] | undefined;
  storageClass: StorageClass;
  tags: Tag[];
  /** Largest body accepted (`EntityTooLarge`). */
  maxBytes: number;
  /** Called with the body's size once it is stored, before the entry is written; may refuse. */
  beforeCommit?: (size: number) => Promise<void> | void;
  /** Object Lock retention and legal hold (object-lock.ts); default: the bucket's default retention. */
  lock?: LockFields;
  /** Whether the request came over HTTPS (SSE-KMS needs it); undefined: not a client's request. */
  secure?: boolean;
  /** A POST form: its signature version was checked for SSE-KMS by the caller (`auth` is the form's, anonymous). */
  form?: boolean;
}

/**
 * How a write's data is encrypted: the key to encrypt with, and what the entry keeps of it;
 * `reseal` (SSE-S3, SSE-KMS) seals another data key the same way (a copy that keeps its source's
 * data key).
 */
interface WriteSeal {
  key: Buffer;
  sealed: SealedKey;
  reseal?: (dataKey: Buffer) => Promise<SealedKey>;
}

/** What the SSE-KMS checks need of a request: its connection and its authentication. */
interface KmsRequestFacts {
  secure?: boolean;
  auth?: RequestAuth;
}

/** The encryption a bucket's default encryption asks for (none without one). */
function bucketDefaultEncryption(bucket: BucketEntry): ManagedEncryptionRequest | undefined {
  const enc = bucket.enc;
  if (!enc) return undefined;
  if (enc.a !== 'aws:kms') return { kind: 'sse-s3' };
  return { kind: 'kms', ...(enc.k !== undefined ? { keyId: enc.k } : {}), ...(enc.bk ? { bucketKey: true } : {}) };
}

/** Whose a chunk reference is (see {@link RefEntry}). */
type RefBody = Omit<RefEntry, 'type' | 'at'>;

/** `sealed` with the IV of an inline body, if the data stayed inline. */
function withInlineIv(sealed: SealedKey, iv: Buffer | undefined): SealedKey {
  return iv ? { ...sealed, iv: iv.toString('base64') } : sealed;
}

/** Counters of the operations. */
export interface ApiStats {
  objectsWritten: number;
  bytesWritten: number;
  objectsRead: number;
  bytesRead: number;
  objectsDeleted: number;
  releaseFailures: number;
}

/** 405 with the method and the kind of resource in the error document, as S3 answers. */
function methodNotAllowed(method: string, resourceType: 'SERVICE' | 'BUCKET' | 'OBJECT'): S3Error {
  return new S3Error('MethodNotAllowed', undefined, { fields: { Method: method, ResourceType: resourceType } });
}

/**
 * A CompleteMultipartUpload's claim on its upload older than this is taken to be of a completion
 * that died (its node crashed): another may take it over. A completion takes well under a second;
 * a 10,000-part one writing its chunk list pages, a few.
 */
const UPLOAD_CLAIM_STALE_MS = 5 * 60_000;
/** How long a CompleteMultipartUpload waits for another completion of the same upload. */
const COMPLETION_WAIT_MS = 30_000;

function noSuchKey(key: string): S3Error {
  return new S3Error('NoSuchKey', undefined, { fields: { Key: key } });
}

/**
 * The If-Match of a conditional delete (DeleteObject's header, a DeleteObjects entry's `ETag`),
 * checked against the version it would delete: the current one, or the one named by version id.
 * There must be one ("If-Match: *" checks that the object exists; a delete that lost a race to
 * another is answered 404, as S3 documents), and its ETag must match (`*`, a list, weak or quoted
 * forms; else 412).
 */
function deleteCondition(key: string, ifMatch: string): (version: ObjectEntry | undefined) => void {
  return (version) => {
    if (version === undefined) throw noSuchKey(key);
    evaluateWriteConditions({ 'if-match': ifMatch }, { etag: version.etag, lastModified: version.lm });
  };
}

/** The Object Lock guard of a version deletion, then its If-Match. */
function withDeleteCondition(guard: (version: ObjectEntry) => void, condition: ((version: ObjectEntry | undefined) => void) | undefined): (version: ObjectEntry) => void {
  if (!condition) return guard;
  return (version) => {
    guard(version);
    condition(version);
  };
}

/** What S3 supports for directory buckets only (there are none here). */
function directoryBucketOnly(what: string): S3Error {
  return new S3Error('NotImplemented', `${what}: supported by S3 for directory buckets only.`);
}

/**
 * Refuses the delete preconditions of directory buckets (`x-amz-if-match-size`,
 * `x-amz-if-match-last-modified-time`) rather than deleting without checking them.
 */
function refuseDirectoryBucketConditions(headers: S3Request['headers']): void {
  if (getHeader(headers, 'x-amz-if-match-size') !== undefined) throw directoryBucketOnly('The x-amz-if-match-size precondition');
  if (getHeader(headers, 'x-amz-if-match-last-modified-time') !== undefined) throw directoryBucketOnly('The x-amz-if-match-last-modified-time precondition');
}


function noSuchUpload(uploadId: string): S3Error {
  return new S3Error('NoSuchUpload', undefined, { fields: { UploadId: uploadId } });
}

/**
 * The page of a multipart object's parts GetObjectAttributes lists: after `x-amz-part-number-marker`,
 * at most `x-amz-max-parts` (default 1000), each with its size and checksum.
 */
function partsPage(entry: ObjectEntry & { pcs: string[]; ps: number[]; cs: StoredChecksum }, headers: S3Request['headers']): NonNullable<ObjectAttributesResult['parts']> {
  const max = headerInteger(headers, 'x-amz-max-parts', 1000);
  const marker = headerInteger(headers, 'x-amz-part-number-marker', 0);
  const all = entry.ps.map((size, i) => ({ partNumber: entry.pn?.[i] ?? i + 1, size, checksum: entry.pcs[i]! }));
  const after = all.filter((p) => p.partNumber > marker);
  const listed = after.slice(0, max);
  const page: NonNullable<ObjectAttributesResult['parts']> = { algorithm: entry.cs.a as ChecksumAlgorithm, maxParts: max, partNumberMarker: marker, isTruncated: after.length > listed.length, list: listed };
  if (page.isTruncated && listed.length > 0) page.nextPartNumberMarker = listed[listed.length - 1]!.partNumber;
  return page;
}

/** The part a GetObject / HeadObject by part number reads. */
interface ObjectPart {
  /** Its bytes; absent for an empty part. */
  range?: { start: number; end: number };
  /** Its index in a multipart object's part lists (`ps`, `pn`, `pcs`); absent for a single-part object. */
  index?: number;
}

/**
 * The part whose bytes are exactly `range` (a resolved Range), if there is one: a single-part
 * object's one part is the whole object; a multipart object's are laid end to end by their sizes
 * (`ps`). Undefined for a range that starts or ends inside a part or spans several, and for a
 * multipart object completed before part sizes were recorded.
 */
function partAlignedWith(entry: ObjectEntry, range: ByteRange): ObjectPart | undefined {
  if (!entry.parts) return range.start === 0 && range.end === entry.size - 1 ? { range } : undefined;
  if (!entry.ps) return undefined;
  let start = 0;
  for (const [index, size] of entry.ps.entries()) {
    if (start > range.start) return undefined;
    if (start === range.start && size > 0 && start + size - 1 === range.end) return { range, index };
    start += size;
  }
  return undefined;
}

/**
 * The checksum GetObject / HeadObject with `x-amz-checksum-mode: ENABLED` answers with: the
 * object's, for the whole object. By part number, or by a Range that aligns with a single part
 * (`part`; the User Guide, "Checking object integrity": "specifying a part number or byte range
 * that aligns with a single part"): a single-part object's part 1 is the object; a COMPOSITE
 * multipart object's part has its own checksum (as S3 answers, type COMPOSITE); a FULL_OBJECT
 * object's is only that of a one-part object (its part is the whole object), as S3 answers. None
 * for any other Range: the stored checksum is not that of the bytes it answers.
 */
function shownChecksum(entry: ObjectEntry, part: ObjectPart | undefined, ranged: boolean): StoredChecksum | undefined {
  const cs = entry.cs;
  if (!cs) return undefined;
  if (part === undefined) return ranged ? undefined : cs;
  if (!entry.parts || part.index === undefined) return cs;
  if (cs.ty === 'COMPOSITE') {
    const value = entry.pcs?.[part.index];
    return value === undefined ? undefined : { a: cs.a, v: value, ty: 'COMPOSITE' };
  }
  return entry.parts === 1 ? cs : undefined;
}

/** A non-negative integer header (`InvalidArgument` otherwise), or `fallback` when absent. */
function headerInteger(headers: S3Request['headers'], name: string, fallback: number): number {
  const value = getHeader(headers, name);
  if (value === undefined) return fallback;
  if (!/^\d{1,9}$/.test(value.trim())) throw new S3Error('InvalidArgument', `${name} must be a non-negative integer.`, { fields: { ArgumentName: name, ArgumentValue: value } });
  return Number(value.trim());
}

/** The ref id of an upload part. */
function partRef(uploadId: string, part: number, pv: string): string {
  return `p:${uploadId}:${part}:${pv}`;
}

export class S3Api implements LifecycleActions {
  readonly stats: ApiStats = { objectsWritten: 0, bytesWritten: 0, objectsRead: 0, bytesRead: 0, objectsDeleted: 0, releaseFailures: 0 };
  private readonly log: Logger;
  /** Background releases of replaced versions, awaited on stop. */
  private readonly releasing = new Set<Promise<void>>();
  private readonly tagging: TaggingApi;
  /** Bucket policies: their operations and the check every operation's permission goes through. */
  readonly policies: BucketPolicies;
  private readonly posts: PostObjectApi;
  private readonly lifecycle: LifecycleApi;
  /** Checks `x-amz-mfa` for buckets with MFA delete. */
  private readonly mfa: MfaAuthenticator;
  /** Bucket CORS rules, preflights and the CORS headers of actual requests (used by the endpoint). */
  readonly cors: CorsApi;
  /** Versioning: the bucket setting, ListObjectVersions, and how writes and deletes keep versions. */
  readonly versioning: VersioningApi;
  /** Bucket replication's queue and replicator (replication.ts). */
  readonly replication: Replicator;
  private readonly replicationApi: ReplicationApi;
  /** Bucket event notifications (notification.ts): their configuration and the notifier. */
  readonly notifications: BucketNotifications;
  private readonly publicAccess: PublicAccessApi;
  private readonly ownership: OwnershipApi;
  private readonly bucketEncryption: BucketEncryptionApi;
  private readonly website: BucketWebsiteApi;
  private readonly logging: BucketLoggingApi;
  /** Object Lock: the bucket configuration, retention and legal holds, and what they protect. */
  private readonly objectLock: ObjectLockApi;
  /** SelectObjectContent (S3 Select). */
  private readonly select: SelectApi;
  /** Requester Pays: its operations (the check of requests is `checkRequestPayer`, in bucketOf). */
  private readonly requestPayment: RequestPaymentApi;

  constructor(
    private readonly env: Env,
    readonly catalog: Catalog,
    readonly store: ChunkStore,
    readonly options: S3Options,
    /** Base URL of this endpoint (for Location). */
    private readonly endpoint: () => string,
    /** The SSE-S3 master keys, when the node has them (`s3.sseMasterKeyFile`, `s3.ssePreviousKeyFiles`). */
    private readonly master?: MasterKeys,
    /** The ring's KMS keys (SSE-KMS), when the node has a master key. */
    private readonly kms?: KmsKeys,
  ) {
    this.log = env.log.child({ mod: 's3.api' });
    this.policies = new BucketPolicies({ env, catalog, ownBucket: (r, fresh) => this.ownBucket(r, fresh), verifier: (r) => this.verifier(r) });
    this.tagging = new TaggingApi({
      catalog,
      objectVersion: (r, bucket, key) => this.versioning.subresourceVersion(r, bucket, key),
      rewriteVersion: (bucket, key, found, change) => this.versioning.rewriteVersion(bucket, key, found, change),
      tagged: (r, bucket, key, entry, removed) => this.notifications.emit(bucket, removed ? 's3:ObjectTagging:Delete' : 's3:ObjectTagging:Put', key, entry, undefined, r),
      bucketOf: (r, fresh) => this.bucketOf(r, fresh),
      bucketFor: (r, action, fresh) => this.bucketFor(r, action, fresh),
      mustPermit: (r, b, action, aclAllows, target) => this.mustPermit(r, b, action, aclAllows, target),
      verifier: (r) => this.verifier(r),
    });
    this.posts = new PostObjectApi({
      env,
      catalog,
      options,
      bucketOf: (r) => this.bucketOf(r),
      writableBucket: (r, target) => this.writableBucket(r, 's3:PutObject', target),
      storeObject: (w) => this.storeObject(w),
      created: (r, bucket, key, entry) => this.notifications.emit(bucket, 's3:ObjectCreated:Post', key, entry, undefined, r),
      location: (bucket, key) => this.objectUrl(bucket, key),
    });
    this.mfa = new MfaAuthenticator(env, catalog);
    this.replication = new Replicator(env, catalog, () => this.versioning, store.node, (sealed, keyRef, bucket, key) => this.resealForReplica(sealed, keyRef, bucket, key));
    this.notifications = new BucketNotifications({ env, catalog, region: options.region, bucketFor: (r, action, fresh) => this.bucketFor(r, action, fresh), verifier: (r) => this.verifier(r) });
    this.replicationApi = new ReplicationApi({ env, catalog, bucketFor: (r, action, fresh) => this.bucketFor(r, action, fresh), verifier: (r) => this.verifier(r) });
    this.lifecycle = new LifecycleApi({ env, catalog, ownBucket: (r, fresh) => this.ownBucket(r, fresh), verifier: (r) => this.verifier(r) });
    this.cors = new CorsApi({ catalog, bucketFor: (r, action, fresh) => this.bucketFor(r, action, fresh), verifier: (r) => this.verifier(r) });
    this.bucketEncryption = new BucketEncryptionApi({ catalog, bucketFor: (r, action, fresh) => this.bucketFor(r, action, fresh), verifier: (r) => this.verifier(r), master });
    this.website = new BucketWebsiteApi({ catalog, bucketFor: (r, action, fresh) => this.bucketFor(r, action, fresh), verifier: (r) => this.verifier(r) });
    this.logging = new BucketLoggingApi({ catalog, ownBucket: (r, fresh) => this.ownBucket(r, fresh), verifier: (r) => this.verifier(r) });
    this.publicAccess = new PublicAccessApi({ catalog, bucketFor: (r, action, fresh) => this.bucketFor(r, action, fresh), verifier: (r) => this.verifier(r) });
    this.ownership = new OwnershipApi({ catalog, bucketFor: (r, action, fresh) => this.bucketFor(r, action, fresh), verifier: (r) => this.verifier(r) });
    this.versioning = new VersioningApi({
      env,
      catalog,
      bucketFor: (r, action, fresh) => this.bucketFor(r, action, fresh),
      readableBucket: (r, action) => this.readableBucket(r, action),
      verifier: (r) => this.verifier(r),
      mfa: this.mfa,
      release: (bucket, key, old) => this.release(bucket, key, old),
      replication: this.replication,
    });
    this.requestPayment = new RequestPaymentApi({ catalog, bucketFor: (r, action, fresh) => this.bucketFor(r, action, fresh), verifier: (r) => this.verifier(r) });
    this.select = new SelectApi({
      env,
      catalog,
      store,
      bucketOf: (r) => this.bucketOf(r),
      readableObject: (r, bucket, key) => this.readableObject(r, bucket, key),
      dataKey: (r, entry) => this.readKey(r, entry.sse, requestCustomerKey(r.headers)),
      inlineData: (entry, key) => this.inlineData(entry, key),
      verifier: (r) => this.verifier(r),
    });
    this.objectLock = new ObjectLockApi({
      env,
      catalog,
      bucketOf: (r, fresh) => this.bucketOf(r, fresh),
      bucketFor: (r, action, fresh) => this.bucketFor(r, action, fresh),
      mustPermit: (r, b, action, aclAllows, target) => this.mustPermit(r, b, action, aclAllows, target),
      permits: (b, r, action, aclAllows, target) => this.policies.permits(b, r, action, aclAllows, target),
      verifier: (r) => this.verifier(r),
      objectVersion: (r, bucket, key) => this.versioning.subresourceVersion(r, bucket, key),
      rewriteVersion: (bucket, key, found, change) => this.versioning.rewriteVersion(bucket, key, found, change),
    });
  }

  /** Waits for background work (replications started by writes, releases of replaced versions). */
  async drain(): Promise<void> {
    await this.replication.drain();
    await Promise.allSettled([...this.releasing]);
  }

  /** Serves one request; resolves with the operation's name (for metrics). */
  async dispatch(r: S3Request): Promise<string> {
    const q = r.query;
    const m = r.method;
    if (r.bucket === undefined) {
      if (m === 'GET') return this.run('ListBuckets', () => this.listBuckets(r));
      throw methodNotAllowed(m, 'SERVICE');
    }
    if (r.key === undefined) {
      const policyOp =
        this.policies.operation(r) ??
        this.publicAccess.operation(r) ??
        this.ownership.operation(r) ??
        this.bucketEncryption.operation(r) ??
        this.website.operation(r) ??
        this.logging.operation(r) ??
        this.requestPayment.operation(r) ??
        this.replicationApi.operation(r) ??
        this.notifications.operation(r);
      if (policyOp) return this.run(policyOp.name, policyOp.run);
      if (q.has('lifecycle')) return this.lifecycleOperation(r);
      if (q.has('object-lock')) {
        if (m === 'PUT') return this.run('PutObjectLockConfiguration', () => this.objectLock.putObjectLockConfiguration(r));
        if (m === 'GET') return this.run('GetObjectLockConfiguration', () => this.objectLock.getObjectLockConfiguration(r));
        throw methodNotAllowed(m, 'BUCKET');
      }
      const unconfigured = unconfiguredOperation(r, (req, action) => this.bucketFor(req, action));
      if (unconfigured) return this.run(unconfigured.name, unconfigured.run);
      const unsupported = subresourceIn(q, UNSUPPORTED_BUCKET_SUBRESOURCES);
      if (unsupported !== undefined) throw new S3Error('NotImplemented', `The bucket sub-resource "${unsupported}" is not supported.`);
      // Past the operations above, a sub-resource left is one this method has none for: it is not
      // the plain bucket request (DELETE ?acl must not delete the bucket).
      const sub = subresourceIn(q, BUCKET_SUBRESOURCES);
      switch (m) {
        case 'PUT':
          if (q.has('acl')) return this.run('PutBucketAcl', () => this.putBucketAcl(r));
          if (q.has('tagging')) return this.run('PutBucketTagging', () => this.tagging.putBucketTagging(r));
          if (q.has('cors')) return this.run('PutBucketCors', () => this.cors.putBucketCors(r));
          if (q.has('versioning')) return this.run('PutBucketVersioning', () => this.versioning.putBucketVersioning(r));
          if (sub !== undefined) break;
          return this.run('CreateBucket', () => this.createBucket(r));
        case 'HEAD':
          return this.run('HeadBucket', () => this.headBucket(r));
        case 'DELETE':
          if (q.has('tagging')) return this.run('DeleteBucketTagging', () => this.tagging.deleteBucketTagging(r));
          if (q.has('cors')) return this.run('DeleteBucketCors', () => this.cors.deleteBucketCors(r));
          if (sub !== undefined) break;
          return this.run('DeleteBucket', () => this.deleteBucket(r));
        case 'GET':
          if (q.has('location')) return this.run('GetBucketLocation', () => this.getBucketLocation(r));
          if (q.has('acl')) return this.run('GetBucketAcl', () => this.getBucketAcl(r));
          if (q.has('tagging')) return this.run('GetBucketTagging', () => this.tagging.getBucketTagging(r));
          if (q.has('cors')) return this.run('GetBucketCors', () => this.cors.getBucketCors(r));
          if (q.has('versioning')) return this.run('GetBucketVersioning', () => this.versioning.getBucketVersioning(r));
          if (q.has('versions')) return this.run('ListObjectVersions', () => this.versioning.listObjectVersions(r));
          if (q.has('uploads')) return this.run('ListMultipartUploads', () => this.listUploads(r));
          if (sub !== undefined) break;
          if (q.get('list-type') === '2') return this.run('ListObjectsV2', () => this.listObjects(r, 2));
          return this.run('ListObjects', () => this.listObjects(r, 1));
        case 'POST':
          if (q.has('delete')) return this.run('DeleteObjects', () => this.deleteObjects(r));
          if (sub !== undefined) break;
          return this.run('PostObject', () => this.posts.postObject(r));
      }
      throw methodNotAllowed(m, 'BUCKET');
    }
    validateObjectKey(r.key);
    const unsupported = subresourceIn(q, UNSUPPORTED_OBJECT_SUBRESOURCES);
    if (unsupported !== undefined) throw new S3Error('NotImplemented', `The object sub-resource "${unsupported}" is not supported.`);
    // A sub-resource the method has no operation for is not the plain object request (DELETE
    // ?attributes must not delete the object, PUT ?restore must not overwrite it).
    const sub = subresourceIn(q, OBJECT_SUBRESOURCES);
    const uploadId = q.get('uploadId');
    // Only writes of object data choose an encryption (PutObject, CopyObject, CreateMultipartUpload).
    const subresource = q.has('acl') || q.has('tagging') || q.has('retention') || q.has('legal-hold');
    if (!((m === 'PUT' && uploadId === null && !subresource) || (m === 'POST' && q.has('uploads')))) refuseEncryptionHeaders(r.headers);
    const versionId = q.get('versionId');
    if (versionId !== null) {
      checkVersionId(versionId);
      // Reads, deletes, ACLs and tags act on any version; uploads and writes make new ones.
      const onVersions = (m === 'GET' || m === 'HEAD' || m === 'DELETE' || (m === 'PUT' && (q.has('acl') || q.has('tagging') || q.has('retention') || q.has('legal-hold')))) && uploadId === null;
      if (!onVersions && versionId !== 'null') throw new S3Error('NotImplemented', 'This operation does not act on a version other than the current one.');
    }
    switch (m) {
      case 'PUT':
        if (uploadId !== null) {
          if (r.headers['x-amz-copy-source'] !== undefined) return this.run('UploadPartCopy', () => this.uploadPart(r, uploadId, true));
          return this.run('UploadPart', () => this.uploadPart(r, uploadId, false));
        }
        if (q.has('acl')) return this.run('PutObjectAcl', () => this.putObjectAcl(r));
        if (q.has('tagging')) return this.run('PutObjectTagging', () => this.tagging.putObjectTagging(r));
        if (q.has('retention')) return this.run('PutObjectRetention', () => this.objectLock.putObjectRetention(r));
        if (q.has('legal-hold')) return this.run('PutObjectLegalHold', () => this.objectLock.putObjectLegalHold(r));
        if (sub !== undefined) break;
        if (r.headers['x-amz-copy-source'] !== undefined) return this.run('CopyObject', () => this.copyObject(r));
        return this.run('PutObject', () => this.putObject(r));
      case 'GET':
        if (uploadId !== null) return this.run('ListParts', () => this.listParts(r, uploadId));
        if (q.has('acl')) return this.run('GetObjectAcl', () => this.getObjectAcl(r));
        if (q.has('tagging')) return this.run('GetObjectTagging', () => this.tagging.getObjectTagging(r));
        if (q.has('attributes')) return this.run('GetObjectAttributes', () => this.getObjectAttributes(r));
        if (q.has('retention')) return this.run('GetObjectRetention', () => this.objectLock.getObjectRetention(r));
        if (q.has('legal-hold')) return this.run('GetObjectLegalHold', () => this.objectLock.getObjectLegalHold(r));
        if (sub !== undefined) break;
        return this.run('GetObject', () => this.getObject(r, false));
      case 'HEAD':
        if (sub !== undefined) break;
        return this.run('HeadObject', () => this.getObject(r, true));
      case 'DELETE':
        if (uploadId !== null) return this.run('AbortMultipartUpload', () => this.abortUpload(r, uploadId));
        if (q.has('tagging')) return this.run('DeleteObjectTagging', () => this.tagging.deleteObjectTagging(r));
        // A retention or legal hold is not deleted, it is changed (and never deletes the object).
        if (sub !== undefined) break;
        return this.run('DeleteObject', () => this.deleteObject(r));
      case 'POST':
        if (q.has('uploads')) return this.run('CreateMultipartUpload', () => this.createUpload(r));
        if (uploadId !== null) return this.run('CompleteMultipartUpload', () => this.completeUpload(r, uploadId));
        if (q.has('select')) return this.run('SelectObjectContent', () => this.select.selectObjectContent(r));
        if (q.has('restore')) return this.run('RestoreObject', () => this.restoreObject(r));
        break;
    }
    throw methodNotAllowed(m, 'OBJECT');
  }

  /**
   * RestoreObject. Nothing is archived here (storage classes are recorded, not acted on), so there
   * is never a restore to run: an object of a class S3 does not archive is `InvalidObjectState`
   * (403) as in S3; one of an archive class (GLACIER, DEEP_ARCHIVE), readable as it is, is
   * `NotImplemented` rather than a restore reported that did not happen.
   */
  private async restoreObject(r: S3Request): Promise<void> {
    const bucket = await this.bucketOf(r);
    const found = await permittedVersion({ objectVersion: (req, b, key) => this.versioning.subresourceVersion(req, b, key), mustPermit: (req, b, action, aclAllows, target) => this.mustPermit(req, b, action, aclAllows, target) }, r, bucket, 's3:RestoreObject');
    if (!ARCHIVE_STORAGE_CLASSES.has(found.entry.sc ?? 'STANDARD')) throw new S3Error('InvalidObjectState', "Restore is not allowed for the object's current storage class");
    throw new S3Error('NotImplemented', 'Objects of archive storage classes are not archived here: the object is readable as it is, and there is nothing to restore.');
  }

  /** PutBucketLifecycleConfiguration, GetBucketLifecycleConfiguration, DeleteBucketLifecycle (lifecycle.ts). */
  private lifecycleOperation(r: S3Request): Promise<string> {
    if (r.method === 'PUT') return this.run('PutBucketLifecycleConfiguration', () => this.lifecycle.putBucketLifecycle(r));
    if (r.method === 'GET') return this.run('GetBucketLifecycleConfiguration', () => this.lifecycle.getBucketLifecycle(r));
    if (r.method === 'DELETE') return this.run('DeleteBucketLifecycle', () => this.lifecycle.deleteBucketLifecycle(r));
    throw methodNotAllowed(r.method, 'BUCKET');
  }

  private async run(op: string, fn: () => Promise<void>): Promise<string> {
    try {
      await fn();
    } catch (err) {
      (err as { op?: string }).op = op;
      throw err;
    }
    return op;
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  private authenticated(r: S3Request): Principal {
    if (!r.principal) throw new S3Error('AccessDenied');
    return r.principal;
  }

  /** The request's bucket (`NoSuchBucket` if absent). */
  private async bucketOf(r: S3Request, fresh = false): Promise<BucketEntry> {
    const name = r.bucket!;
    const bucket = await this.catalog.bucket(name, fresh);
    if (!bucket) throw new S3Error('NoSuchBucket', undefined, { fields: { BucketName: name } });
    checkExpectedOwner(bucket, getHeader(r.headers, 'x-amz-expected-bucket-owner'));
    checkRequestPayer(r, bucket);
    return bucket;
  }

  /**
   * The request's bucket if `allowed` says the requester may use it. A refusal based on a cached
   * record is checked again on a fresh one, so a grant made through another node counts at once.
   */
  private async permittedBucket(r: S3Request, allowed: (b: BucketEntry) => boolean, fresh = false): Promise<BucketEntry> {
    let bucket = await this.bucketOf(r, fresh);
    if (!allowed(bucket) && !fresh) bucket = await this.bucketOf(r, true);
    mustAllow(allowed(bucket));
    return bucket;
  }

  /** The request's bucket, which the requester must own. */
  private ownBucket(r: S3Request, fresh = false): Promise<BucketEntry> {
    return this.permittedBucket(r, (b) => r.principal?.id === b.owner, fresh);
  }

  /**
   * The request's bucket if the requester may do `action` on it: its owner, or anyone its policy
   * allows, unless the policy denies it.
   */
  private bucketFor(r: S3Request, action: string, fresh = false): Promise<BucketEntry> {
    return this.permittedBucket(r, (b) => this.policies.permits(b, r, action, r.principal?.id === b.owner), fresh);
  }

  /**
   * Throws `AccessDenied` unless `r` may do `action` on `bucket` (`aclAllows`: what its ACL and
   * ownership say). A refusal based on a cached bucket record is checked again on a fresh one, so
   * a policy's Allow made through another node counts at once.
   */
  private async mustPermit(r: S3Request, bucket: BucketEntry, action: string, aclAllows: (b: BucketEntry) => AclAllowance, target?: PolicyTarget): Promise<void> {
    if (this.policies.permits(bucket, r, action, aclAllows(bucket), target)) return;
    const fresh = await this.catalog.bucket(bucket.name, true);
    mustAllow(fresh !== undefined && fresh.inc === bucket.inc && this.policies.permits(fresh, r, action, aclAllows(fresh), target));
  }

  /** The request's bucket if the requester may write objects in it (`action`, on the request's key or `target.key`). */
  private writableBucket(r: S3Request, action = 's3:PutObject', target?: PolicyTarget): Promise<BucketEntry> {
    return this.permittedBucket(r, (b) => this.policies.permits(b, r, action, canWriteBucket(b, r.principal), target));
  }

  /** The request's bucket if the requester may list it (`action`: ListBucket, ListBucketMultipartUploads). */
  private readableBucket(r: S3Request, action = 's3:ListBucket'): Promise<BucketEntry> {
    return this.permittedBucket(r, (b) => this.policies.permits(b, r, action, canReadBucket(b, r.principal)));
  }

  private verifier(r: Pick<S3Request, 'auth'> & { headers: HeaderMap }, compute: ChecksumAlgorithm[] = []): BodyVerifier {
    return createBodyVerifier(r.auth, r.headers, { compute: ['MD5', ...compute] });
  }

  private sinkOptions(inline: boolean, onChunk: ChunkSinkOptions['onChunk'], maxBytes = this.options.maxObjectBytes, sealWith?: Buffer): ChunkSinkOptions {
    return {
      chunkSize: this.options.chunkSize,
      inlineMax: inline ? Math.min(this.options.inlineMaxBytes, this.options.chunkSize) : -1,
      concurrency: this.options.putConcurrency,
      maxBytes,
      ...(onChunk ? { onChunk } : {}),
      ...(sealWith ? { seal: { key: sealWith, iv: () => Buffer.from(this.env.random.bytes(IV_BYTES)) } } : {}),
    };
  }

  /**
   * The encryption a write of object data (to `key` of `bucket`) asks for: an SSE-C key, SSE-S3,
   * SSE-KMS, or the bucket's default encryption when it asks for none; undefined: plaintext.
   * SSE-KMS must come over HTTPS (unless `s3.allowSseCustomerKeysOverHttp`) signed with SigV4.
   */
  private async writeSeal(headers: S3Request['headers'], bucket: BucketEntry, key: string, facts: KmsRequestFacts): Promise<WriteSeal | undefined> {
    const customer = requestCustomerKey(headers);
    const managed = requestManagedEncryption(headers);
    if (customer) return { key: customer.key, sealed: sealKey(customer, this.env.random.bytes(16)) };
    const fallback = bucketDefaultEncryption(bucket);
    // aws:kms without its own bucket-key header takes the bucket's BucketKeyEnabled, as in S3.
    const asked = managed?.kind === 'kms' && managed.bucketKey === undefined && fallback?.kind === 'kms' && fallback.bucketKey ? { ...managed, bucketKey: true } : (managed ?? fallback);
    if (asked === undefined) return undefined;
    if (!this.master) throw noMasterKey();
    if (asked.kind === 'kms' && managed !== undefined) this.checkKmsRequest(facts);
    const reseal = (dataKey: Buffer): Promise<SealedKey> => this.sealDataKey(asked, dataKey, bucket.name, key);
    const dataKey = Buffer.from(this.env.random.bytes(32));
    return { key: dataKey, sealed: await reseal(dataKey), reseal };
  }

  /**
   * The data key of an SSE-KMS version sealed anew for its replica (replication.ts): under the
   * rule's ReplicaKmsKeyID, with the source's encryption context naming the replica's bucket and
   * key; an inline body keeps its IV. A missing or disabled key is the KMS error it is.
   */
  private async resealForReplica(sealed: KmsSealedKey, keyRef: string, bucket: string, key: string): Promise<SealedKey> {
    if (!this.kms) throw noMasterKey();
    const dataKey = await this.kms.unseal(sealed);
    const context = JSON.parse(Buffer.from(sealed.ctx, 'base64').toString('utf8')) as Record<string, string>;
    delete context['aws:s3:arn'];
    const bucketKey = sealed.bk === true;
    const resealed = this.kms.seal(await this.kms.resolve(keyRef), dataKey, objectEncryptionContext(context, bucket, key, bucketKey), bucketKey);
    return sealed.iv !== undefined ? { ...resealed, iv: sealed.iv } : resealed;
  }

  /** `dataKey` sealed as `asked` says: under the master key (SSE-S3) or a KMS key with the object's context. */
  private async sealDataKey(asked: ManagedEncryptionRequest, dataKey: Buffer, bucket: string, key: string): Promise<SealedKey> {
    if (asked.kind === 'sse-s3') return this.master!.wrap(dataKey, this.env.random.bytes(12));
    if (!this.kms) throw noMasterKey();
    const kmsKey = asked.keyId !== undefined ? await this.kms.resolve(asked.keyId, true) : await this.kms.defaultKey();
    const bucketKey = asked.bucketKey === true;
    return this.kms.seal(kmsKey, dataKey, objectEncryptionContext(asked.context, bucket, key, bucketKey), bucketKey);
  }

  /**
   * S3's conditions on requests for SSE-KMS objects: over HTTPS (unless
   * `s3.allowSseCustomerKeysOverHttp`), signed with SigV4 (`InvalidArgument` otherwise).
   */
  private checkKmsRequest(facts: KmsRequestFacts): void {
    if (facts.secure === false && !this.options.allowSseCustomerKeysOverHttp) {
      this.log.info({ code: 'SseKmsInClear' }, 'SSE-KMS request over plain HTTP refused');
      throw kmsInClearError();
    }
    if (facts.auth !== undefined && (facts.auth.kind === 'anonymous' || facts.auth.scheme === SIGV2_SCHEME)) {
      this.log.info({ code: 'SseKmsNeedsSigV4', auth: facts.auth.kind }, 'SSE-KMS request not signed with SigV4 refused');
      throw kmsNeedsSigV4Error();
    }
  }

  /**
   * The key to read data stored under `sealed` with (SSE-C checked, SSE-S3 unwrapped with the
   * master key, SSE-KMS unwrapped by the key service after S3's transport checks).
   */
  private async readKey(facts: KmsRequestFacts, sealed: SealedKey | undefined, given: ReturnType<typeof requestCustomerKey>, source = false): Promise<Buffer | undefined> {
    if (sealed && isKms(sealed)) {
      refuseUnneededKey(given, source);
      this.checkKmsRequest(facts);
      if (!this.kms) throw noMasterKey();
      return this.kms.unseal(sealed);
    }
    return keyForRead(sealed, given, this.master, source);
  }

  /** The flexible checksum a verified body carried (header or trailer), to store with it. */
  private checksumOf(r: Pick<S3Request, 'headers'>, verifier: BodyVerifier): StoredChecksum | undefined {
    for (const name of Object.keys(r.headers)) {
      if (!name.startsWith('x-amz-checksum-') || name === 'x-amz-checksum-type' || name === 'x-amz-checksum-algorithm' || name === 'x-amz-checksum-mode') continue;
      const algorithm = parseChecksumAlgorithm(name.slice('x-amz-checksum-'.length));
      if (algorithm) return { a: algorithm, v: String(r.headers[name]).trim() };
    }
    for (const [name, value] of Object.entries(verifier.trailers)) {
      if (!name.startsWith('x-amz-checksum-')) continue;
      const algorithm = parseChecksumAlgorithm(name.slice('x-amz-checksum-'.length));
      if (algorithm) return { a: algorithm, v: value.trim() };
    }
    // The AWS SDKs' MD5 mode: Content-MD5 (verified) is the MD5 checksum.
    const sdkAlgorithm = getHeader(r.headers, 'x-amz-sdk-checksum-algorithm');
    const md5 = getHeader(r.headers, 'content-md5');
    if (sdkAlgorithm !== undefined && md5 !== undefined && parseChecksumAlgorithm(sdkAlgorithm) === 'MD5') return { a: 'MD5', v: md5.trim() };
    return undefined;
  }

  /** Content-Type, stored headers and metadata of a write request. */
  private objectHeaders(r: Pick<S3Request, 'headers'>): Pick<ObjectEntry, 'ct' | 'hd' | 'meta'> {
    const out: Pick<ObjectEntry, 'ct' | 'hd' | 'meta'> = {};
    const ct = getHeader(r.headers, 'content-type');
    if (ct !== undefined && ct !== '') out.ct = ct;
    const hd: Record<string, string> = {};
    for (const name of STORED_HEADERS) {
      const v = getHeader(r.headers, name);
      if (v !== undefined) hd[name] = v;
    }
    const redirect = hd['x-amz-website-redirect-location'];
    if (redirect !== undefined) checkWebsiteRedirectLocation(redirect);
    const encoding = storedContentEncoding(getHeader(r.headers, 'content-encoding'));
    if (encoding !== undefined) hd['content-encoding'] = encoding;
    if (Object.keys(hd).length > 0) out.hd = hd;
    const meta = collectUserMetadata(r.headers);
    if (Object.keys(meta).length > 0) out.meta = meta;
    return out;
  }

  /** Drops the references (and manifest pages) of a version no longer in the index, in the background. */
  private release(bucket: BucketEntry, key: string, old: ObjectEntry | undefined): void {
    if (!old || (!old.chunks && !old.pages)) return;
    const p = (async () => {
      const chunks = await this.catalog.chunkList(old);
      await this.catalog.dropRefs(
        chunks.map((c) => c.hash),
        versionRef(old.vid),
      );
      await this.catalog.dropChunkList(old);
    })()
      .catch((err: Error) => {
        this.stats.releaseFailures++;
        this.log.warn({ code: 'ReleaseFailed', bucket: bucket.name, key, vid: old.vid, err: err.message }, 'could not drop the chunk references of a replaced version; the collector will');
      })
      .finally(() => this.releasing.delete(p));
    this.releasing.add(p);
  }

  // ---------------------------------------------------------------------------------------------
  // Service and buckets

  private async listBuckets(r: S3Request): Promise<void> {
    const principal = this.authenticated(r);
    const params = parseListBucketsParams(r.query);
    const all = (await this.catalog.listBuckets(principal.id)).map((b) => ({ name: b.name, creationDate: b.createdAt, region: b.region ?? this.options.region }));
    const page = listBucketsPage(all, params);
    sendXml(
      r,
      listAllMyBucketsXml({
        owner: { id: principal.id, displayName: principal.name },
        buckets: page.buckets,
        ...(page.continuationToken !== undefined ? { continuationToken: page.continuationToken } : {}),
        ...(params.prefix !== undefined ? { prefix: params.prefix } : {}),
      }),
    );
  }

  private async createBucket(r: S3Request): Promise<void> {
    const principal = this.authenticated(r);
    const name = r.bucket!;
    validateBucketName(name);
    const asked = await requestAcl(this.catalog, r.headers);
    const acl = asked?.acl ?? 'private';
    const ownershipHeader = getHeader(r.headers, 'x-amz-object-ownership');
    const own = ownershipHeader === undefined ? undefined : parseObjectOwnership(ownershipHeader);
    checkNewBucketOwnership(own, asked, principal.id);
    const body = await readSmallBody(r, this.verifier(r));
    const config = parseCreateBucketConfiguration(body);
    if (config.locationConstraint !== undefined) validateLocationConstraint(config.locationConstraint, this.options.region);
    const region = config.locationConstraint ?? this.options.region;
    const lockHeader = getHeader(r.headers, 'x-amz-bucket-object-lock-enabled')?.trim().toLowerCase();
    if (lockHeader !== undefined && lockHeader !== 'true' && lockHeader !== 'false') {
      throw new S3Error('InvalidArgument', 'Invalid x-amz-bucket-object-lock-enabled header value.', { fields: { ArgumentName: 'x-amz-bucket-object-lock-enabled', ArgumentValue: lockHeader } });
    }
    try {
      await this.catalog.createBucket(name, principal, acl, region, asked?.grants, { objectLock: lockHeader === 'true', ...(own === undefined ? {} : { own }) });
    } catch (err) {
      if (!(err instanceof S3Error) || err.code !== 'BucketAlreadyOwnedByYou') throw err;
      // In us-east-1, S3 answers 200 to re-creating one's own bucket and resets its ACL (legacy
      // compatibility); every other region answers BucketAlreadyOwnedByYou.
      const bucket = await this.bucketOf(r, true);
      if (bucket.region !== 'us-east-1' || bucket.owner !== principal.id) throw err;
      if (bucket.acl !== acl || JSON.stringify(bucket.grants) !== JSON.stringify(asked?.grants)) await this.catalog.setBucketAcl(bucket, acl, asked?.grants);
    }
    sendEmpty(r, 200, { location: `/${name}` });
  }

  private async headBucket(r: S3Request): Promise<void> {
    const bucket = await this.readableBucket(r);
    sendEmpty(r, 200, { 'x-amz-bucket-region': bucket.region });
  }

  private async deleteBucket(r: S3Request): Promise<void> {
    const bucket = await this.bucketFor(r, 's3:DeleteBucket', true);
    await this.catalog.deleteBucket(bucket);
    sendEmpty(r, 204);
  }

  private async getBucketLocation(r: S3Request): Promise<void> {
    const bucket = await this.bucketFor(r, 's3:GetBucketLocation');
    sendXml(r, locationConstraintXml(bucket.region));
  }

  private async getBucketAcl(r: S3Request): Promise<void> {
    const bucket = await this.permittedBucket(r, (b) => this.policies.permits(b, r, 's3:GetBucketAcl', canBucket(b, r.principal, 'READ_ACP')), true);
    sendXml(r, aclXml({ id: bucket.owner, displayName: bucket.ownerName }, aclsDisabled(bucket) ? {} : bucket));
  }

  private async putBucketAcl(r: S3Request): Promise<void> {
    const bucket = await this.permittedBucket(r, (b) => this.policies.permits(b, r, 's3:PutBucketAcl', canBucket(b, r.principal, 'WRITE_ACP')), true);
    const asked = await aclOfPut(r, this.catalog, this.verifier(r), bucket.owner);
    refusePublicAcl(bucket, asked);
    const acl = aclForWrite(bucket, asked);
    await this.catalog.setBucketAcl(bucket, acl?.acl ?? 'private', acl?.grants);
    sendEmpty(r, 200);
  }

  // ---------------------------------------------------------------------------------------------
  // Listing

  private async listObjects(r: S3Request, version: 1 | 2): Promise<void> {
    const bucket = await this.readableBucket(r);
    const source = this.catalog.objectSource(bucket);
    if (version === 2) {
      const params = parseListObjectsV2Params(r.query);
      sendXml(r, listObjectsV2Xml(await listObjectsV2(source, bucket.name, params)));
    } else {
      const params = parseListObjectsV1Params(r.query);
      sendXml(r, listObjectsV1Xml(await listObjectsV1(source, bucket.name, params)));
    }
  }

  private async listUploads(r: S3Request): Promise<void> {
    const bucket = await this.readableBucket(r, 's3:ListBucketMultipartUploads');
    const params = parseListUploadsParams(r.query);
    sendXml(r, listMultipartUploadsXml(await listMultipartUploads(this.catalog.uploadSource(bucket), bucket.name, params)));
  }

  // ---------------------------------------------------------------------------------------------
  // Objects

  private async putObject(r: S3Request): Promise<void> {
    // Appending (S3 Express directory buckets only): refused rather than replacing the object.
    if (getHeader(r.headers, 'x-amz-write-offset-bytes') !== undefined) throw directoryBucketOnly('Appends (x-amz-write-offset-bytes)');
    let bucket = await this.writableBucket(r);
    const maxBytes = Math.min(this.options.maxObjectBytes, 5 * 1024 ** 3);
    uploadLength(r.headers, maxBytes);
    const { acl, grants } = (await requestAcl(this.catalog, r.headers, OBJECT_WRITE_GRANT_HEADERS)) ?? {};
    const storageClass = parseStorageClass(r.headers);
    const tags = requestTags(r);
    let lock: LockFields | undefined;
    if (hasLockHeaders(r.headers)) {
      ({ bucket, fields: lock } = await this.objectLock.writeFields(r, bucket, this.env.now()));
      // S3 wants the body's integrity with Object Lock parameters.
      if (r.headers['content-md5'] === undefined && r.headers['x-amz-trailer'] === undefined && !Object.keys(r.headers).some((n) => n.startsWith('x-amz-checksum-') && n !== 'x-amz-checksum-type' && n !== 'x-amz-checksum-algorithm')) {
        throw new S3Error('InvalidRequest', 'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters');
      }
    }
    const { entry } = await this.storeObject({ bucket, key: r.key!, body: r.req, auth: r.auth, headers: r.headers, principal: r.principal, acl, grants, storageClass, tags, maxBytes, secure: r.secure, ...(lock ? { lock } : {}) });
    await this.notifications.emit(bucket, 's3:ObjectCreated:Put', r.key!, entry, undefined, r);
    const out: Record<string, string> = { etag: `"${entry.etag}"`, ...expirationHeader(bucket, r.key!, entry), ...versionHeader(bucket, entry), ...sealedKeyHeaders(entry.sse), ...kmsContextHeader(entry.sse) };
    if (entry.cs) {
      out[checksumHeaderName(entry.cs.a as ChecksumAlgorithm)] = entry.cs.v;
      // "For PutObject uploads, the checksum type is always FULL_OBJECT" (PutObject, response).
      out['x-amz-checksum-type'] = 'FULL_OBJECT';
    }
    sendEmpty(r, 200, out);
  }

  /**
   * Streams an object's bytes through their verifier into chunks (or inline) and, once they ended
   * cleanly and `beforeCommit` let them, writes the object's index entry in one conditional write
   * (If-Match / If-None-Match of `w.headers`): PutObject and POST uploads (post-object.ts).
   */
  async storeObject(w: ObjectWrite): Promise<{ entry: ObjectEntry }> {
    const { bucket, key } = w;
    const asked: AclFields | undefined = w.acl !== undefined || w.grants !== undefined ? { acl: w.acl, grants: w.grants } : undefined;
    refusePublicAcl(bucket, asked);
    const acl = aclForWrite(bucket, asked);
    const owner = objectOwnerFor(bucket, w.principal, asked);
    const headers = this.objectHeaders(w);
    const seal = await this.writeSeal(w.headers, bucket, key, { ...(w.secure !== undefined ? { secure: w.secure } : {}), ...(w.form ? {} : { auth: w.auth }) });
    const verifier = createBodyVerifier(w.auth, w.headers, { compute: ['MD5'] });
    const vid = this.env.random.hex(16);
    const sink = new ChunkSink(this.store, this.sinkOptions(true, (c) => this.catalog.addRefs([c.hash], versionRef(vid), { b: bucket.name, i: bucket.inc, k: key, v: vid }), w.maxBytes, seal?.key));
    await pipeBody(w.body, verifier, sink);
    const result = sink.result;
    await w.beforeCommit?.(result.size);
    const etag = etagFor(seal?.sealed, seal?.key, verifier.digests.finish().get('MD5')!.toString('hex'));
    const entry: ObjectEntry = {
      type: 's3.object',
      vid,
      size: result.size,
      etag,
      lm: this.env.now(),
      ...headers,
      owner: owner.id,
      ownerName: owner.name,
    };
    if (acl?.acl) entry.acl = acl.acl;
    if (acl?.grants) entry.grants = acl.grants;
    if (w.storageClass !== 'STANDARD') entry.sc = w.storageClass;
    if (w.tags.length > 0) entry.tags = w.tags;
    Object.assign(entry, w.lock ?? this.objectLock.defaultFields(bucket, entry.lm));
    const checksum = this.checksumOf(w, verifier);
    if (checksum) entry.cs = checksum;
    if (seal) entry.sse = withInlineIv(seal.sealed, result.inlineIv);
    if (result.inline) entry.data = result.inline.toString('base64');
    else Object.assign(entry, await this.catalog.storeChunkList(vid, result.chunks));
    const written = await this.versioning.commit(bucket, key, entry, (current) => evaluateWriteConditions(w.headers, current && { etag: current.etag, lastModified: current.lm }));
    this.stats.objectsWritten++;
    this.stats.bytesWritten += result.size;
    return { entry: written };
  }

  /**
   * The object of the request (the version it names, else the current one), which the requester
   * may read. A delete marker: `NoSuchKey` as the current version, `MethodNotAllowed` when named,
   * with `x-amz-delete-marker` either way.
   */
  private async readableObject(r: S3Request, bucket: BucketEntry, key: string): Promise<ObjectEntry> {
    const versionId = r.query.get('versionId') ?? undefined;
    const entry = await this.versioning.version(bucket, key, versionId);
    if (!entry || (entry.dm && versionId === undefined)) {
      // Without list permission S3 does not tell a missing key from a forbidden one.
      await this.mustPermit(r, bucket, 's3:ListBucket', (b) => canReadBucket(b, r.principal));
      const err = noSuchKey(key);
      if (entry) Object.assign(err.headers, { 'x-amz-delete-marker': 'true', 'x-amz-version-id': versionIdOf(entry) });
      throw err;
    }
    const action = versionId === undefined ? 's3:GetObject' : 's3:GetObjectVersion';
    await this.mustPermit(r, bucket, action, (b) => canReadObject(b, entry, r.principal), { tags: entry.tags });
    if (entry.dm) {
      throw new S3Error('MethodNotAllowed', undefined, {
        fields: { Method: r.method, ResourceType: 'DeleteMarker' },
        headers: { 'x-amz-delete-marker': 'true', 'x-amz-version-id': versionIdOf(entry), 'last-modified': formatHttpDate(entry.lm), allow: 'DELETE' },
      });
    }
    return entry;
  }

  /**
   * GetObjectAttributes: what HeadObject and ListParts tell, as one document. Needs
   * s3:GetObjectAttributes besides s3:GetObject (…Version… forms with a version id), as S3 does.
   */
  private async getObjectAttributes(r: S3Request): Promise<void> {
    const wanted = parseObjectAttributes(getHeader(r.headers, 'x-amz-object-attributes'));
    const bucket = await this.bucketOf(r);
    const key = r.key!;
    const entry = await this.readableObject(r, bucket, key);
    const named = r.query.has('versionId');
    await this.mustPermit(r, bucket, named ? 's3:GetObjectVersionAttributes' : 's3:GetObjectAttributes', (b) => canReadObject(b, entry, r.principal), { tags: entry.tags });
    // The attributes need no data key: an SSE-KMS object's key is not used (nor checked) here.
    if (entry.sse && isKms(entry.sse)) refuseUnneededKey(requestCustomerKey(r.headers));
    else keyForRead(entry.sse, requestCustomerKey(r.headers), this.master);
    evaluateConditions(r.headers, { etag: entry.etag, lastModified: entry.lm }, { method: 'GET', now: this.env.now() });
    const result: ObjectAttributesResult = { etag: entry.etag, size: entry.size };
    if (entry.sc) result.storageClass = entry.sc;
    if (entry.cs) {
      result.checksums = { [entry.cs.a]: entry.cs.v };
      result.checksumType = entry.cs.ty ?? 'FULL_OBJECT';
    }
    if (entry.parts) {
      result.partsCount = entry.parts;
      // The parts themselves only with their checksums, as S3 lists them.
      if (entry.pcs && entry.ps && entry.cs) result.parts = partsPage(entry as ObjectEntry & { pcs: string[]; ps: number[]; cs: StoredChecksum }, r.headers);
    }
    sendXml(r, objectAttributesXml(result, wanted), 200, { 'last-modified': formatHttpDate(entry.lm), ...versionHeader(bucket, entry, named) });
  }

  private async getObject(r: S3Request, head: boolean): Promise<void> {
    const bucket = await this.bucketOf(r);
    const key = r.key!;
    const entry = await this.readableObject(r, bucket, key);
    await this.sendObject(r, bucket, key, entry, head);
  }

  /**
   * The website endpoint (website.ts): the object `r` (anonymous, without query) may read as an
   * anonymous GetObject of `key` would, with GetObject's errors (`NoSuchKey`, `AccessDenied`, …).
   */
  websiteObject(r: S3Request, bucket: BucketEntry, key: string): Promise<ObjectEntry> {
    return this.readableObject({ ...r, key }, bucket, key);
  }

  /**
   * The website endpoint: answers with `entry` as GetObject / HeadObject does (conditions and
   * Range included); with `status` (a custom error document), that status, whole, unconditionally.
   */
  sendWebsiteObject(r: S3Request, bucket: BucketEntry, key: string, entry: ObjectEntry, head: boolean, status?: number): Promise<void> {
    return this.sendObject({ ...r, key }, bucket, key, entry, head, status);
  }

  private async sendObject(r: S3Request, bucket: BucketEntry, key: string, entry: ObjectEntry, head: boolean, status?: number): Promise<void> {
    // HeadObject needs no data key: S3 answers it for an SSE-KMS object without asking KMS.
    let sseKey: Buffer | undefined;
    if (head && entry.sse && isKms(entry.sse)) refuseUnneededKey(requestCustomerKey(r.headers));
    else sseKey = await this.readKey(r, entry.sse, requestCustomerKey(r.headers));
    const byPart = r.query.has('partNumber');
    const part = byPart ? this.partOf(r, entry) : undefined;
    const validators = { etag: entry.etag, lastModified: entry.lm };
    if (status === undefined) evaluateConditions(r.headers, validators, { method: r.method, now: this.env.now() });
    const overrides = responseHeaderOverrides(r.query, r.principal !== undefined);
    const range = byPart ? part?.range : status === undefined && rangeApplies(r.headers, validators) ? parseRange(getHeader(r.headers, 'range'), entry.size) : undefined;
    const out: Record<string, string> = {
      'last-modified': formatHttpDate(entry.lm),
      etag: `"${entry.etag}"`,
      'accept-ranges': 'bytes',
      'content-type': entry.ct ?? 'binary/octet-stream',
    };
    for (const [name, value] of Object.entries(entry.hd ?? {})) out[name] = value;
    for (const [name, value] of Object.entries(entry.meta ?? {})) out[`x-amz-meta-${name}`] = value;
    if (entry.sc) out['x-amz-storage-class'] = entry.sc;
    if (entry.rs) out['x-amz-replication-status'] = entry.rs;
    Object.assign(out, sealedKeyHeaders(entry.sse), taggingCountHeader(r, bucket, entry), expirationHeader(bucket, key, entry), versionHeader(bucket, entry, r.query.has('versionId')), this.objectLock.headers(r, bucket, entry));
    // S3 reports the part count only to a request by part number.
    if (entry.parts && byPart) out['x-amz-mp-parts-count'] = String(entry.parts);
    const checksumPart = byPart ? part : range && partAlignedWith(entry, range);
    const shown = getHeader(r.headers, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED' ? shownChecksum(entry, checksumPart, range !== undefined) : undefined;
    if (shown) {
      out[checksumHeaderName(shown.a as ChecksumAlgorithm)] = shown.v;
      out['x-amz-checksum-type'] = shown.ty ?? 'FULL_OBJECT';
    }
    Object.assign(out, overrides);
    const start = range?.start ?? 0;
    const end = range?.end ?? entry.size - 1;
    out['content-length'] = String(range ? rangeLength(range) : entry.size);
    if (range) out['content-range'] = contentRange(range, entry.size);
    r.res.writeHead(status ?? (range ? 206 : 200), out);
    if (head) {
      r.res.end();
      return;
    }
    this.stats.objectsRead++;
    this.stats.bytesRead += end - start + 1;
    if (entry.data !== undefined) {
      const data = this.inlineData(entry, sseKey);
      r.res.end(range ? data.subarray(start, end + 1) : data);
      return;
    }
    const chunks = await this.catalog.chunkList(entry);
    await streamChunks(this.store, chunks, start, end, r.res, undefined, sseKey);
    r.res.end();
  }

  /**
   * The part a GetObject / HeadObject by `partNumber` answers: its bytes as a range (206 with
   * Content-Range, as S3 answers even for part 1 of a single-part object; undefined for an empty
   * part) and, of a multipart object, its index in the object's part lists. A part the object does
   * not have is `InvalidPartNumber` (416); a Range header with it `InvalidRequest`.
   */
  private partOf(r: S3Request, entry: ObjectEntry): ObjectPart {
    const n = parsePartNumber(r.query.get('partNumber') ?? undefined);
    if (getHeader(r.headers, 'range') !== undefined) throw new S3Error('InvalidRequest', 'Cannot specify both Range header and partNumber query parameter');
    if (!entry.parts) {
      if (n !== 1) throw new S3Error('InvalidPartNumber');
      return entry.size > 0 ? { range: { start: 0, end: entry.size - 1 } } : {};
    }
    // Objects completed before part sizes were recorded cannot be read by part.
    if (!entry.ps) throw new S3Error('NotImplemented', 'GetObject by part number is not supported for this object (completed before part sizes were recorded).');
    const i = entry.pn ? entry.pn.indexOf(n) : n - 1;
    if (i < 0 || i >= entry.ps.length) throw new S3Error('InvalidPartNumber');
    let start = 0;
    for (let j = 0; j < i; j++) start += entry.ps[j]!;
    const size = entry.ps[i]!;
    return size > 0 ? { range: { start, end: start + size - 1 }, index: i } : { index: i };
  }

  private async deleteObject(r: S3Request): Promise<void> {
    const versionId = r.query.get('versionId') ?? undefined;
    const bucket = await this.writableBucket(r, versionId === undefined ? 's3:DeleteObject' : 's3:DeleteObjectVersion');
    if (versionId !== undefined) await this.mfaForVersionDelete(r, bucket);
    const key = r.key!;
    refuseDirectoryBucketConditions(r.headers);
    const ifMatch = getHeader(r.headers, 'if-match');
    const conditions = ifMatch === undefined ? undefined : deleteCondition(key, ifMatch);
    const outcome = await this.versioning.deleteObject(bucket, key, versionId, r.principal, conditions, withDeleteCondition(this.objectLock.deleteGuard(r, bucket, key), conditions));
    // A conditional delete of a version that is not there: nothing matched.
    if (conditions && versionId !== undefined && !outcome.previous) throw noSuchKey(key);
    if (outcome.previous) this.stats.objectsDeleted++;
    await this.notifyDeleted(r, bucket, key, versionId, outcome);
    const out: Record<string, string> = {};
    if (outcome.versionId !== undefined) out['x-amz-version-id'] = outcome.versionId;
    if (outcome.deleteMarker) out['x-amz-delete-marker'] = 'true';
    sendEmpty(r, 204, out);
  }

  /** The event of a DeleteObject (or a key of DeleteObjects) that removed something or wrote a delete marker. */
  private notifyDeleted(r: S3Request, bucket: BucketEntry, key: string, versionId: string | undefined, outcome: DeleteOutcome): Promise<void> {
    if (outcome.deleteMarker && versionId === undefined) return this.notifications.emit(bucket, 's3:ObjectRemoved:DeleteMarkerCreated', key, undefined, outcome.versionId, r);
    if (outcome.previous) return this.notifications.emit(bucket, 's3:ObjectRemoved:Delete', key, undefined, outcome.versionId, r);
    return Promise.resolve();
  }

  /**
   * A permanent deletion of versions of `bucket`: with MFA delete, the owner's code is needed.
   * The setting is read afresh (not from this node's cache), so it binds every node as soon as it
   * is set: version deletions are rare, the extra read is cheap.
   */
  private async mfaForVersionDelete(r: S3Request, bucket: BucketEntry): Promise<void> {
    const current = mfaDeleteEnabled(bucket) ? bucket : await this.catalog.bucket(bucket.name, true);
    if (current && mfaDeleteEnabled(current)) await this.mfa.authenticate(r, current);
  }

  private async deleteObjects(r: S3Request): Promise<void> {
    // A signed requester's keys are each checked on their own (s3:DeleteObject): a refused key is
    // an AccessDenied entry of a 200 answer, as S3 answers a user without the permission. An
    // anonymous request without write access to the bucket is refused whole.
    const bucket = await this.permittedBucket(r, (b) => r.principal !== undefined || b.policy !== undefined || canWriteBucket(b, r.principal) !== false);
    const mayWrite = canWriteBucket(bucket, r.principal);
    const body = await readCheckedBody(r, this.verifier(r));
    const request = parseDeleteObjects(body);
    // One code for the whole request: every version it names is deleted under it, or none.
    if (request.objects.some((o) => o.versionId !== undefined)) await this.mfaForVersionDelete(r, bucket);
    const deleted: DeletedEntry[] = [];
    const errors: DeleteErrorEntry[] = [];
    await eachLimited(request.objects, 16, async (o) => {
      try {
        validateObjectKey(o.key);
        if (o.versionId !== undefined && !isVersionId(o.versionId)) throw new S3Error('NoSuchVersion');
        mustAllow(this.policies.permits(bucket, r, o.versionId === undefined ? 's3:DeleteObject' : 's3:DeleteObjectVersion', mayWrite, { key: o.key, ...(o.etag !== undefined ? { ifMatch: o.etag } : {}) }));
        if (o.size !== undefined || o.lastModifiedTime !== undefined) throw directoryBucketOnly(`The ${o.size !== undefined ? 'Size' : 'LastModifiedTime'} precondition`);
        const conditions = o.etag === undefined ? undefined : deleteCondition(o.key, o.etag);
        const outcome = await this.versioning.deleteObject(bucket, o.key, o.versionId, r.principal, conditions, withDeleteCondition(this.objectLock.deleteGuard(r, bucket, o.key), conditions));
        if (conditions && o.versionId !== undefined && !outcome.previous) throw noSuchKey(o.key);
        if (outcome.previous) this.stats.objectsDeleted++;
        // The key's event not journaled: its entry says so (503 to this key), the others go on.
        await this.notifyDeleted(r, bucket, o.key, o.versionId, outcome).catch((err: unknown) => {
          throw new S3Error('ServiceUnavailable', undefined, { cause: err });
        });
        const done: DeletedEntry = { key: o.key };
        if (o.versionId !== undefined) done.versionId = o.versionId;
        if (outcome.deleteMarker) {
          done.deleteMarker = true;
          // A marker written now is named by its own id; a marker removed, by the id given.
          if (o.versionId === undefined && outcome.versionId !== undefined) done.deleteMarkerVersionId = outcome.versionId;
          else if (o.versionId !== undefined) done.deleteMarkerVersionId = o.versionId;
        }
        deleted.push(done);
      } catch (err) {
        // Out of disk space (below half the storage reserve even tombstones are refused): that
        // key's entry says so, as a single DeleteObject would (507, logged once by the full node).
        const full = (err as { code?: string } | null)?.code === 'DiskFull';
        const e = err instanceof S3Error ? err : full ? mapError(err) : new S3Error('InternalError');
        if (!(err instanceof S3Error) && !full) this.log.error({ code: 'DeleteFailed', key: o.key, err: (err as Error).message }, 'DeleteObjects: one key failed');
        errors.push({ key: o.key, ...(o.versionId !== undefined ? { versionId: o.versionId } : {}), code: e.code, message: e.message });
      }
    });
    const order = new Map(request.objects.map((o, i) => [o.key, i]));
    deleted.sort((a, b) => order.get(a.key)! - order.get(b.key)!);
    if (r.logFacts) r.logFacts.batchDeleted = deleted.map((d) => ({ key: d.key, ...(d.versionId !== undefined ? { versionId: d.versionId } : {}) }));
    sendXml(r, deleteResultXml({ deleted, errors, quiet: request.quiet }));
  }

  /**
   * Source of a copy: bucket and object (the version named by `?versionId=`, else the current
   * one), which the requester may read. A delete marker cannot be copied (`InvalidRequest` when
   * named, `NoSuchKey` as the current version, as S3 answers).
   */
  private async copySource(r: S3Request): Promise<{ bucket: BucketEntry; key: string; entry: ObjectEntry; versionId?: string; named: boolean }> {
    const source = parseCopySource(r.headers['x-amz-copy-source']!);
    if (source.versionId !== undefined && !isVersionId(source.versionId)) throw invalidVersionId(source.versionId);
    const bucket = await this.catalog.bucket(source.bucket);
    if (!bucket) throw new S3Error('NoSuchBucket', undefined, { fields: { BucketName: source.bucket } });
    // The GET part of the copy is logged in the source bucket's log (access-log-capture.ts): failed
    // unless `size` is set below, and with its own aclRequired.
    const logged: CopySourceFacts | undefined = r.logFacts ? { bucket: bucket.name, key: source.key, ...(source.versionId !== undefined ? { versionId: source.versionId } : {}) } : undefined;
    if (logged) r.logFacts!.copySource = logged;
    checkExpectedOwner(bucket, getHeader(r.headers, 'x-amz-source-expected-bucket-owner'));
    checkRequestPayer(r, bucket);
    validateObjectKey(source.key);
    const entry = await this.versioning.version(bucket, source.key, source.versionId);
    if (!entry || (entry.dm && source.versionId === undefined)) {
      await this.mustPermit(r, bucket, 's3:ListBucket', (b) => canReadBucket(b, r.principal), { aclUse: logged });
      throw noSuchKey(source.key);
    }
    if (entry.dm) throw new S3Error('InvalidRequest', 'The source of a copy request may not specifically refer to a delete marker by version id.');
    const action = source.versionId === undefined ? 's3:GetObject' : 's3:GetObjectVersion';
    await this.mustPermit(r, bucket, action, (b) => canReadObject(b, entry, r.principal), { key: source.key, tags: entry.tags, aclUse: logged });
    evaluateCopySourceConditions(r.headers, { etag: entry.etag, lastModified: entry.lm });
    if (logged) logged.size = entry.size;
    const versionId = bucket.ver !== undefined || source.versionId !== undefined ? versionIdOf(entry) : undefined;
    return { bucket, key: source.key, entry, ...(versionId !== undefined ? { versionId } : {}), named: source.versionId !== undefined };
  }

  private async copyObject(r: S3Request): Promise<void> {
    const principal = r.principal;
    let bucket = await this.writableBucket(r);
    const key = r.key!;
    const src = await this.copySource(r);
    const sourceKey = await this.readKey(r, src.entry.sse, copySourceCustomerKey(r.headers), true);
    const seal = await this.writeSeal(r.headers, bucket, key, r);
    const encryptionAsked = hasCustomerKeyHeaders(r.headers) || getHeader(r.headers, 'x-amz-server-side-encryption') !== undefined;
    const directive = (getHeader(r.headers, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
    if (directive !== 'COPY' && directive !== 'REPLACE') {
      throw new S3Error('InvalidArgument', 'Unknown metadata directive.', { fields: { ArgumentName: 'x-amz-metadata-directive', ArgumentValue: directive } });
    }
    const storageClass = r.headers['x-amz-storage-class'] !== undefined ? parseStorageClass(r.headers) : undefined;
    // The website redirect location is the object's own: never copied, set only by the request's header.
    const redirect = getHeader(r.headers, REDIRECT_HEADER);
    if (redirect !== undefined) checkWebsiteRedirectLocation(redirect);
    // Copying a named version onto its own key is allowed: it restores that version (S3's way);
    // so is a copy that changes the encryption (an SSE-C key rotated in place).
    if (src.bucket.name === bucket.name && src.key === key && directive === 'COPY' && storageClass === undefined && redirect === undefined && !src.named && !encryptionAsked && !src.entry.sse) {
      throw new S3Error(
        'InvalidRequest',
        "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
      );
    }
    const asked = await requestAcl(this.catalog, r.headers, OBJECT_WRITE_GRANT_HEADERS);
    refusePublicAcl(bucket, asked);
    const acl = aclForWrite(bucket, asked);
    const owner = objectOwnerFor(bucket, principal, asked);
    const tags = await this.tagging.copiedTags(r, src);
    const lm = this.env.now();
    // The copy's own lock: the request's headers or the bucket's default (the source's is not copied).
    const locked = await this.objectLock.writeFields(r, bucket, lm);
    bucket = locked.bucket;
    const lock = locked.fields;
    await readSmallBody(r, this.verifier(r));
    const vid = this.env.random.hex(16);
    const from = src.entry;
    const entry: ObjectEntry = {
      type: 's3.object',
      vid,
      size: from.size,
      etag: from.etag,
      lm,
      owner: owner.id,
      ownerName: owner.name,
      ...lock,
    };
    if (directive === 'REPLACE') Object.assign(entry, this.objectHeaders(r));
    else {
      if (from.ct !== undefined) entry.ct = from.ct;
      const { [REDIRECT_HEADER]: _notCopied, ...copied } = from.hd ?? {};
      if (redirect !== undefined) copied[REDIRECT_HEADER] = redirect;
      if (Object.keys(copied).length > 0) entry.hd = copied;
      if (from.meta) entry.meta = { ...from.meta };
    }
    if (acl?.acl) entry.acl = acl.acl;
    if (acl?.grants) entry.grants = acl.grants;
    if (tags.length > 0) entry.tags = tags.map((t) => ({ ...t }));
    // Without the header the copy is STANDARD, whatever the source's class (as S3 documents).
    if (storageClass && storageClass !== 'STANDARD') entry.sc = storageClass;
    if (from.cs) entry.cs = { ...from.cs };
    if (from.parts) entry.parts = from.parts;
    if (from.ps) entry.ps = [...from.ps];
    if (from.pn) entry.pn = [...from.pn];
    if (from.pcs) entry.pcs = [...from.pcs];
    // SSE-S3 / SSE-KMS to SSE-S3 / SSE-KMS: the copy shares the source's chunks and data key,
    // wrapped anew as the copy asks (under the current master key, or its KMS key with its own
    // encryption context; so copying objects onto themselves retires a rotated-out key).
    const shareKey = seal?.reseal !== undefined && sourceKey !== undefined && from.sse !== undefined && !isCustomer(from.sse);
    if (shareKey) {
      const resealed = await seal.reseal!(sourceKey);
      entry.sse = from.sse!.iv !== undefined ? { ...resealed, iv: from.sse!.iv } : resealed;
    }
    if (!shareKey && (seal || from.sse)) {
      // A side is encrypted: the bytes are copied, decrypted with the source's key and encrypted
      // with the copy's (plaintext where it has none).
      const copied = await this.copyBytes(from, { start: 0, end: from.size - 1 }, { key: sourceKey, sealWith: seal?.key }, versionRef(vid), { b: bucket.name, i: bucket.inc, k: key, v: vid }, true);
      entry.etag = etagFor(seal?.sealed, seal?.key, copied.md5);
      if (seal) entry.sse = withInlineIv(seal.sealed, copied.result.inlineIv);
      if (copied.result.inline) entry.data = copied.result.inline.toString('base64');
      else Object.assign(entry, await this.catalog.storeChunkList(vid, copied.result.chunks));
    } else if (from.data !== undefined) entry.data = from.data;
    else {
      // The copy shares the source's chunks: references first, then the entry.
      const chunks = await this.catalog.chunkList(from);
      await this.catalog.addRefs(
        chunks.map((c) => c.hash),
        versionRef(vid),
        { b: bucket.name, i: bucket.inc, k: key, v: vid },
      );
      Object.assign(entry, await this.catalog.storeChunkList(vid, chunks));
    }
    const written = await this.versioning.commit(bucket, key, entry, (current) => evaluateWriteConditions(r.headers, current && { etag: current.etag, lastModified: current.lm }));
    this.stats.objectsWritten++;
    await this.notifications.emit(bucket, 's3:ObjectCreated:Copy', key, written, undefined, r);
    const headers = { ...versionHeader(bucket, written), ...expirationHeader(bucket, key, written), ...sealedKeyHeaders(written.sse), ...kmsContextHeader(written.sse) };
    if (src.versionId !== undefined) headers['x-amz-copy-source-version-id'] = src.versionId;
    sendXml(r, copyObjectResultXml({ etag: entry.etag, lastModified: entry.lm }), 200, headers);
  }

  private async getObjectAcl(r: S3Request): Promise<void> {
    const bucket = await this.bucketOf(r);
    const found = await this.versioning.subresourceVersion(r, bucket, r.key!);
    if (!found) throw noSuchKey(r.key!);
    const entry = found.entry;
    const named = r.query.has('versionId');
    await this.mustPermit(r, bucket, named ? 's3:GetObjectVersionAcl' : 's3:GetObjectAcl', (b) => canObjectAcl(b, entry, r.principal, 'READ_ACP'), { tags: entry.tags });
    // With ACLs disabled, the bucket owner owns the object with full control, whatever was stored.
    const shown = aclsDisabled(bucket) ? { owner: { id: bucket.owner, displayName: bucket.ownerName }, acl: {} } : { owner: { id: entry.owner, displayName: entry.ownerName }, acl: entry };
    sendXml(r, aclXml(shown.owner, shown.acl, { id: bucket.owner, displayName: bucket.ownerName }), 200, versionHeader(bucket, entry, named));
  }

  private async putObjectAcl(r: S3Request): Promise<void> {
    const bucket = await this.bucketOf(r);
    const key = r.key!;
    const found = await this.versioning.subresourceVersion(r, bucket, key);
    if (!found) throw noSuchKey(key);
    const current = found.entry;
    const named = r.query.has('versionId');
    await this.mustPermit(r, bucket, named ? 's3:PutObjectVersionAcl' : 's3:PutObjectAcl', (b) => canObjectAcl(b, current, r.principal, 'WRITE_ACP'), { tags: current.tags });
    const asked = await aclOfPut(r, this.catalog, this.verifier(r), current.owner, bucket.owner);
    refusePublicAcl(bucket, asked);
    const acl = aclForWrite(bucket, asked);
    await this.versioning.rewriteVersion(bucket, key, found, (e) => withAcl(e, acl));
    await this.notifications.emit(bucket, 's3:ObjectAcl:Put', key, current, undefined, r);
    sendEmpty(r, 200, versionHeader(bucket, current, named));
  }

  // ---------------------------------------------------------------------------------------------
  // Multipart uploads

  private async createUpload(r: S3Request): Promise<void> {
    const principal = r.principal;
    const bucket = await this.writableBucket(r);
    const key = r.key!;
    if (Buffer.byteLength(key, 'utf8') > 990) throw new S3Error('KeyTooLongError', 'Keys of multipart uploads are limited to 990 bytes here.');
    if (isClosing(bucket, this.env.now())) throw new S3Error('OperationAborted', 'The bucket is being deleted.');
    const asked = await requestAcl(this.catalog, r.headers, OBJECT_WRITE_GRANT_HEADERS);
    refusePublicAcl(bucket, asked);
    const acl = aclForWrite(bucket, asked);
    // The object's owner to be (Object Ownership is applied now, as S3 does at initiation).
    const owner = objectOwnerFor(bucket, principal, asked);
    const storageClass = parseStorageClass(r.headers);
    const algorithmHeader = getHeader(r.headers, 'x-amz-checksum-algorithm');
    const checksumAlgorithm = algorithmHeader === undefined ? undefined : parseChecksumAlgorithm(algorithmHeader);
    if (algorithmHeader !== undefined && !checksumAlgorithm) throw new S3Error('InvalidRequest', `Checksum algorithm provided is unsupported. Please try again with any of the valid types: [${CHECKSUM_ALGORITHMS.join(', ')}]`);
    // Refused now rather than completed later as a type other than the one asked for.
    const checksumType = multipartChecksumType(checksumAlgorithm, getHeader(r.headers, 'x-amz-checksum-type'));
    const tags = requestTags(r);
    // The headers' lock is kept for the object; the bucket's default applies on completion.
    const { fields: lock } = await this.objectLock.writeFields(r, bucket, this.env.now(), { explicitOnly: true });
    const seal = await this.writeSeal(r.headers, bucket, key, r);
    await readSmallBody(r, this.verifier(r));
    // The initiation time first: uploads of a key sort by id (upload-id-marker compares ids), and
    // S3 lists them in order of initiation.
    const uploadId = Math.floor(this.env.now()).toString(16).padStart(12, '0') + this.env.random.hex(14);
    const entry: UploadEntry = {
      type: 's3.upload',
      key,
      uploadId,
      initiated: this.env.now(),
      owner: owner.id,
      ownerName: owner.name,
      ...this.objectHeaders(r),
    };
    if (acl?.acl) entry.acl = acl.acl;
    if (acl?.grants) entry.grants = acl.grants;
    if (storageClass !== 'STANDARD') entry.sc = storageClass;
    if (tags.length > 0) entry.tags = tags;
    Object.assign(entry, lock);
    if (seal) entry.sse = seal.sealed;
    const out: Record<string, string> = { ...sealedKeyHeaders(entry.sse), ...kmsContextHeader(entry.sse) };
    if (checksumAlgorithm && checksumType) {
      entry.ca = checksumAlgorithm;
      entry.cty = checksumType;
      out['x-amz-checksum-algorithm'] = checksumAlgorithm;
      out['x-amz-checksum-type'] = checksumType;
    }
    await this.catalog.createUpload(bucket, entry);
    sendXml(r, initiateMultipartUploadXml({ bucket: bucket.name, key, uploadId }), 200, out);
  }

  private async upload(r: S3Request, bucket: BucketEntry, uploadId: string): Promise<UploadEntry> {
    const upload = await this.catalog.getUpload(bucket, r.key!, uploadId);
    if (!upload) throw noSuchUpload(uploadId);
    return upload;
  }

  private async uploadPart(r: S3Request, uploadId: string, copy: boolean): Promise<void> {
    const bucket = await this.writableBucket(r);
    const n = parsePartNumber(r.query.get('partNumber') ?? undefined);
    const upload = await this.upload(r, bucket, uploadId);
    const pv = this.env.random.hex(8);
    const ref = partRef(uploadId, n, pv);
    const refBody = { u: uploadId, b: bucket.name, i: bucket.inc, k: upload.key };
    let part: PartEntry;
    // An encrypted upload's parts use its key: SSE-C, given again with every part; SSE-S3, unwrapped.
    const sealWith = await this.readKey(r, upload.sse, requestCustomerKey(r.headers));
    const out: Record<string, string> = sealedKeyHeaders(upload.sse);
    const etagOf = (md5: string): string => etagFor(upload.sse, sealWith, md5);
    const algorithm = upload.ca as ChecksumAlgorithm | undefined;
    let checksum: StoredChecksum | undefined;
    if (!copy) {
      uploadLength(r.headers, 5 * 1024 ** 3);
      // The upload's algorithm binds its parts (refused before the body is read, as AWS answers).
      // A FULL_OBJECT upload's part may come without one: its checksum is computed here, since
      // the object's is combined from the parts'. A COMPOSITE upload's needs the client's.
      let computeHere = false;
      if (algorithm) {
        const sent = parseExpectedDigests(r.headers).checksum?.algorithm;
        if (sent === undefined && upload.cty === 'FULL_OBJECT') computeHere = true;
        else if (sent !== algorithm) throw partChecksumTypeMismatch(algorithm, sent);
      }
      const verifier = this.verifier(r, computeHere && algorithm ? [algorithm] : []);
      const sink = new ChunkSink(this.store, this.sinkOptions(false, (c) => this.catalog.addRefs([c.hash], ref, refBody), 5 * 1024 ** 3, sealWith));
      await pipeBody(r.req, verifier, sink);
      const result = sink.result;
      const etag = etagOf(verifier.digests.finish().get('MD5')!.toString('hex'));
      part = { type: 's3.part', n, pv, size: result.size, etag, lm: this.env.now(), ...(await this.catalog.storeChunkList(pv, result.chunks)) };
      checksum = this.checksumOf(r, verifier) ?? (computeHere && algorithm ? { a: algorithm, v: verifier.digests.base64(algorithm)! } : undefined);
      this.stats.bytesWritten += result.size;
    } else {
      const src = await this.copySource(r);
      const sourceKey = await this.readKey(r, src.entry.sse, copySourceCustomerKey(r.headers), true);
      const rangeHeader = getHeader(r.headers, 'x-amz-copy-source-range');
      await readSmallBody(r, this.verifier(r));
      const from = src.entry;
      let chunks: ChunkRef[];
      let size: number;
      let etag: string;
      // A copied part of an upload with a checksum algorithm gets its checksum computed here, as S3
      // does (CopyPartResult carries it; CompleteMultipartUpload needs it).
      let sum: string | undefined;
      if (rangeHeader === undefined && from.data === undefined && !from.sse && !sealWith) {
        // The part shares the source's chunks.
        chunks = await this.catalog.chunkList(from);
        await this.catalog.addRefs(
          chunks.map((c) => c.hash),
          ref,
          refBody,
        );
        size = from.size;
        // The source's own checksum of the algorithm serves when it is over all its bytes.
        if (algorithm && from.cs?.a === algorithm && from.cs.ty !== 'COMPOSITE') sum = from.cs.v;
        const read: DigestAlgorithm[] = [...(from.parts ? (['MD5'] as const) : []), ...(algorithm && sum === undefined ? [algorithm] : [])];
        const digests = read.length > 0 ? await this.digestsOf(from, 0, from.size - 1, undefined, read) : undefined;
        etag = from.parts ? digests!.finish().get('MD5')!.toString('hex') : from.etag;
        if (algorithm && sum === undefined) sum = digests!.base64(algorithm);
      } else {
        // A range, or a side encrypted: the bytes are copied (decrypted, re-encrypted).
        const range = rangeHeader === undefined ? { start: 0, end: from.size - 1 } : parseCopySourceRange(rangeHeader, from.size);
        const copied = await this.copyBytes(from, range, { key: sourceKey, sealWith }, ref, refBody, false, algorithm ? [algorithm] : []);
        chunks = copied.result.chunks;
        size = copied.result.size;
        etag = etagOf(copied.md5);
        if (algorithm) sum = copied.digests.base64(algorithm);
      }
      part = { type: 's3.part', n, pv, size, etag, lm: this.env.now(), ...(await this.catalog.storeChunkList(pv, chunks)) };
      if (algorithm && sum !== undefined) checksum = { a: algorithm, v: sum };
    }
    if (checksum) {
      part.cs = checksum;
      if (!copy) out[checksumHeaderName(checksum.a as ChecksumAlgorithm)] = checksum.v;
    }
    if (upload.sse) part.sse = keyOnly(upload.sse);
    const previous = await this.catalog.putPart(upload.uploadId, part);
    if (previous) this.releaseParts(uploadId, [previous], false);
    if (copy) sendXml(r, copyPartResultXml({ etag: part.etag, lastModified: part.lm, ...(checksum ? { checksums: { [checksum.a]: checksum.v } } : {}) }), 200, out);
    else sendEmpty(r, 200, { etag: `"${part.etag}"`, ...out });
  }

  /** An inline object's bytes, decrypted with `key` when it is encrypted (checked or unwrapped by the caller). */
  private inlineData(entry: ObjectEntry, key: Buffer | undefined): Buffer {
    const data = Buffer.from(entry.data ?? '', 'base64');
    if (!entry.sse) return data;
    if (!key || entry.sse.iv === undefined) throw new Error(`inline encrypted data of version ${entry.vid} without ${key ? 'an IV' : 'a key'}`);
    return cryptPiece(key, Buffer.from(entry.sse.iv, 'base64'), data);
  }

  /** Bytes `start..end` of an object, in order, decrypted with `key` when it is encrypted. */
  private async *objectBytes(entry: ObjectEntry, start: number, end: number, key: Buffer | undefined): AsyncGenerator<Buffer> {
    if (end < start) return;
    if (entry.data !== undefined) {
      yield this.inlineData(entry, key).subarray(start, end + 1);
      return;
    }
    let offset = 0;
    for (const c of await this.catalog.chunkList(entry)) {
      const first = offset;
      offset += c.size;
      if (offset - 1 < start) continue;
      if (first > end) break;
      const data = await this.store.get(c.hash);
      const from = Math.max(start, first) - first;
      const piece = data.subarray(from, Math.min(end, offset - 1) - first + 1);
      if (c.iv === undefined) yield piece;
      else if (!key) throw new Error(`chunk ${c.hash.slice(0, 12)} of version ${entry.vid} is encrypted and no key was given`);
      else yield decipherAt(key, Buffer.from(c.iv, 'hex'), from).update(piece);
    }
  }

  /** Digests of bytes `start..end` of an object (reads them). */
  private async digestsOf(entry: ObjectEntry, start: number, end: number, key: Buffer | undefined, algorithms: DigestAlgorithm[]): Promise<BodyDigests> {
    const digests = new BodyDigests(algorithms);
    for await (const piece of this.objectBytes(entry, start, end, key)) digests.update(piece);
    return digests;
  }

  /**
   * Copies bytes `start..end` of an object into new chunks, decrypted with `keys.key` and
   * encrypted with `keys.sealWith` where that side is encrypted (CopyObject and UploadPartCopy
   * when either side is, or of a range). `inline`: a small result may stay inline (CopyObject).
   * `compute`: checksums of the copied bytes to compute besides their MD5 (in `digests`).
   */
  private async copyBytes(
    entry: ObjectEntry,
    range: { start: number; end: number },
    keys: { key: Buffer | undefined; sealWith: Buffer | undefined },
    ref: string,
    refBody: RefBody,
    inline = false,
    compute: ChecksumAlgorithm[] = [],
  ): Promise<{ result: SinkResult; md5: string; digests: BodyDigests }> {
    const digests = new BodyDigests(['MD5', ...compute]);
    const source = this.objectBytes(entry, range.start, range.end, keys.key);
    const sink = new ChunkSink(this.store, this.sinkOptions(inline, (c) => this.catalog.addRefs([c.hash], ref, refBody), undefined, keys.sealWith));
    await pipeline(
      Readable.from(source),
      async function* (pieces: AsyncIterable<Buffer>) {
        for await (const b of pieces) {
          digests.update(b);
          yield b;
        }
      },
      sink,
    );
    return { result: sink.result, md5: digests.finish().get('MD5')!.toString('hex'), digests };
  }

  private async completeUpload(r: S3Request, uploadId: string): Promise<void> {
    const bucket = await this.writableBucket(r);
    const key = r.key!;
    const upload = await this.catalog.getUpload(bucket, key, uploadId);
    if (!upload) {
      await this.completedAlready(r, bucket, key, uploadId);
      return;
    }
    const claimed = parseObjectChecksumHeader(r.headers);
    const request = parseCompleteMultipartUpload(await this.readCompleteBody(r));
    const algorithm = upload.ca as ChecksumAlgorithm | undefined;
    // x-amz-checksum-type: the type the client expects; another than the upload's is BadDigest (as documented).
    const claimedType = getHeader(r.headers, 'x-amz-checksum-type')?.trim().toUpperCase();
    if (algorithm && claimedType !== undefined && claimedType !== (upload.cty ?? 'COMPOSITE')) {
      throw new S3Error('BadDigest', `The checksum type ${claimedType} does not match the upload's, ${upload.cty ?? 'COMPOSITE'}.`);
    }
    // Only COMPOSITE: parts numbered 1..N and every part's checksum in the list. AWS documents
    // neither for FULL_OBJECT uploads, whose checksum is of the object's bytes and made here from
    // the stored parts' without the client's list.
    if (algorithm && (upload.cty ?? 'COMPOSITE') === 'COMPOSITE') {
      checkConsecutivePartNumbers(request.parts.map((p) => p.partNumber));
      const missing = request.parts.find((p) => p.checksums[algorithm] === undefined);
      if (missing) throw missingPartChecksum(algorithm, missing.partNumber);
    }
    const stored = new Map<number, PartEntry>();
    const all: PartEntry[] = [];
    for await (const p of this.catalog.parts(uploadId)) {
      stored.set(p.n, p);
      all.push(p);
    }
    const invalid = request.parts.find((p) => {
      const part = stored.get(p.partNumber);
      // A part checksum given for the upload's algorithm names the part as its ETag does.
      const given = algorithm ? p.checksums[algorithm] : undefined;
      return !part || part.etag !== p.etag || (given !== undefined && (part.cs?.v !== given || part.cs.a !== algorithm));
    });
    if (invalid) {
      // Another completion of this upload may have finished since the upload was read, and dropped
      // its parts: a retry whose first attempt's answer was lost (the node serving it stopped)
      // answers that completion's result, as when it finds the upload gone.
      if (!(await this.catalog.getUpload(bucket, key, uploadId))) {
        await this.completedAlready(r, bucket, key, uploadId, { request, claimed });
        return;
      }
      throw new S3Error('InvalidPart', undefined, { fields: { UploadId: uploadId, PartNumber: invalid.partNumber, ETag: invalid.etag } });
    }
    const chosen = request.parts.map((p) => stored.get(p.partNumber)!);
    chosen.forEach((part, i) => {
      if (i < chosen.length - 1 && part.size < this.options.minPartBytes) {
        throw new S3Error('EntityTooSmall', undefined, { fields: { ProposedSize: part.size, MinSizeAllowed: this.options.minPartBytes, PartNumber: part.n, ETag: part.etag } });
      }
    });
    const size = chosen.reduce((a, p) => a + p.size, 0);
    if (size > this.options.maxObjectBytes) throw new S3Error('EntityTooLarge', undefined, { fields: { ProposedSize: size, MaxSizeAllowed: this.options.maxObjectBytes } });
    // x-amz-mp-object-size: the size the client expects the object to have.
    const expectedSize = getHeader(r.headers, 'x-amz-mp-object-size');
    if (expectedSize !== undefined) {
      if (!/^\d{1,16}$/.test(expectedSize.trim())) throw new S3Error('InvalidArgument', 'x-amz-mp-object-size must be a non-negative integer', { fields: { ArgumentName: 'x-amz-mp-object-size', ArgumentValue: expectedSize } });
      if (Number(expectedSize.trim()) !== size) throw new S3Error('InvalidRequest', `The provided 'x-amz-mp-object-size' header value ${expectedSize.trim()} does not match what was computed: ${size}`);
    }
    const chunks: ChunkRef[] = [];
    for (const p of chosen) chunks.push(...(await this.catalog.partChunkList(p)));
    const vid = this.env.random.hex(16);
    const etag = multipartEtag(chosen.map((p) => p.etag));
    const entry: ObjectEntry = {
      type: 's3.object',
      vid,
      size,
      etag,
      lm: this.env.now(),
      owner: upload.owner,
      ownerName: upload.ownerName,
      parts: chosen.length,
      ps: chosen.map((p) => p.size),
      up: uploadId,
    };
    if (chosen.some((p, i) => p.n !== i + 1)) entry.pn = chosen.map((p) => p.n);
    if (upload.ct !== undefined) entry.ct = upload.ct;
    if (upload.hd) entry.hd = upload.hd;
    if (upload.meta) entry.meta = upload.meta;
    if (upload.acl) entry.acl = upload.acl;
    if (upload.grants) entry.grants = upload.grants;
    if (upload.sc) entry.sc = upload.sc;
    if (upload.tags?.length) entry.tags = upload.tags;
    if (upload.lh !== undefined) entry.lh = upload.lh;
    if (upload.sse) entry.sse = keyOnly(upload.sse);
    if (upload.rm !== undefined && upload.ru !== undefined) {
      entry.rm = upload.rm;
      entry.ru = upload.ru;
    } else Object.assign(entry, this.objectLock.defaultFields(bucket, entry.lm));
    const checksum = this.multipartChecksum(upload, chosen);
    // The header states the object's checksum: checked against it before anything is committed.
    if (claimed && !(checksum && objectChecksumMatches(claimed, checksum))) throw checksumMismatch(claimed.algorithm);
    if (checksum) {
      entry.cs = checksum;
      // Each part's own checksum, for GetObjectAttributes' part list (when every part has one of the algorithm).
      if (chosen.every((p) => p.cs?.a === checksum.a)) entry.pcs = chosen.map((p) => p.cs!.v);
    }
    // One completion at a time: concurrent ones through other nodes would each commit a version.
    if ((await this.claimForCompletion(bucket, key, uploadId, vid)) === 'gone') {
      await this.completedAlready(r, bucket, key, uploadId, { request, claimed });
      return;
    }
    let written: ObjectEntry;
    try {
      await this.catalog.addRefs(
        chunks.map((c) => c.hash),
        versionRef(vid),
        { b: bucket.name, i: bucket.inc, k: key, v: vid },
      );
      Object.assign(entry, await this.catalog.storeChunkList(vid, chunks));
      written = await this.versioning.commit(bucket, key, entry, (current) => evaluateWriteConditions(r.headers, current && { etag: current.etag, lastModified: current.lm }));
    } catch (err) {
      // Not completed (a precondition, storage unavailable): the upload is free for a retry.
      await this.catalog.releaseUploadClaim(bucket, key, uploadId, vid).catch(() => undefined);
      throw err;
    }
    await this.catalog.finishUpload(bucket, key, uploadId);
    this.releaseParts(uploadId, all);
    this.stats.objectsWritten++;
    await this.notifications.emit(bucket, 's3:ObjectCreated:CompleteMultipartUpload', key, written, undefined, r);
    this.sendCompleted(r, bucket, key, written);
  }

  /** The URL of an object at this endpoint (Location of CompleteMultipartUpload and POST uploads). */
  private objectUrl(bucket: string, key: string): string {
    return `${this.endpoint()}/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** The CompleteMultipartUploadResult of the object `entry`. */
  private sendCompleted(r: S3Request, bucket: BucketEntry, key: string, entry: ObjectEntry): void {
    const location = this.objectUrl(bucket.name, key);
    const checksum = entry.cs;
    const xmlChecksums = checksum ? { [checksum.a]: checksum.v } : undefined;
    const headers = { ...versionHeader(bucket, entry), ...expirationHeader(bucket, key, entry), ...sealedKeyHeaders(entry.sse) };
    sendXml(r, completeMultipartUploadXml({ location, bucket: bucket.name, key, etag: entry.etag, ...(xmlChecksums ? { checksums: xmlChecksums, checksumType: checksum!.ty ?? 'COMPOSITE' } : {}) }), 200, headers);
  }

  /**
   * Takes the upload for this completion (`id`), waiting while another completion holds it, at
   * most {@link COMPLETION_WAIT_MS} (`OperationAborted` then): `claimed`, or `gone` when the other
   * completed it or it was aborted.
   */
  private async claimForCompletion(bucket: BucketEntry, key: string, uploadId: string, id: string): Promise<'claimed' | 'gone'> {
    const deadline = this.env.now() + COMPLETION_WAIT_MS;
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      const got = await this.catalog.claimUpload(bucket, key, uploadId, id, this.env.now(), UPLOAD_CLAIM_STALE_MS);
      if (got.outcome !== 'busy') return got.outcome;
      if (this.env.now() + wait > deadline) throw new S3Error('OperationAborted', 'Another CompleteMultipartUpload of this upload is in progress. Try again.');
      await this.env.sleep(wait);
    }
  }

  /**
   * CompleteMultipartUpload of an upload that is gone: if it was completed into the key's current
   * object with the same parts, the retry succeeds with the same result (as S3 answers);
   * otherwise `NoSuchUpload`. `parsed`: the request's part list and object checksum, when its
   * body was already read.
   */
  private async completedAlready(r: S3Request, bucket: BucketEntry, key: string, uploadId: string, parsed?: { request: ReturnType<typeof parseCompleteMultipartUpload>; claimed: ReturnType<typeof parseObjectChecksumHeader> }): Promise<void> {
    const current = await this.catalog.getObject(bucket, key);
    if (current?.up !== uploadId) throw noSuchUpload(uploadId);
    const claimed = parsed ? parsed.claimed : parseObjectChecksumHeader(r.headers);
    const request = parsed ? parsed.request : parseCompleteMultipartUpload(await this.readCompleteBody(r));
    if (multipartEtag(request.parts.map((p) => p.etag)) !== current.etag) throw noSuchUpload(uploadId);
    if (claimed && !(current.cs && objectChecksumMatches(claimed, current.cs))) throw checksumMismatch(claimed.algorithm);
    this.sendCompleted(r, bucket, key, current);
  }

  /**
   * The XML body of a CompleteMultipartUpload, verified as any body (signature payload hash,
   * Content-MD5, a trailing checksum) except against its `x-amz-checksum-<algorithm>` header,
   * which states the object's checksum (checked on completion), not the body's.
   */
  private readCompleteBody(r: S3Request): Promise<Buffer> {
    return readSmallBody(r, this.verifier({ ...r, headers: withoutObjectChecksumHeaders(r.headers) }));
  }

  /** The checksum of a completed upload, when one was chosen and every part carries it. */
  private multipartChecksum(upload: UploadEntry, parts: PartEntry[]): StoredChecksum | undefined {
    const algorithm = upload.ca as ChecksumAlgorithm | undefined;
    if (!algorithm || parts.some((p) => p.cs?.a !== algorithm)) return undefined;
    if (upload.cty === 'FULL_OBJECT' && isCrcAlgorithm(algorithm)) {
      return { a: algorithm, v: fullObjectChecksum(algorithm, parts.map((p) => ({ checksum: p.cs!.v, size: p.size }))), ty: 'FULL_OBJECT' };
    }
    return { a: algorithm, v: compositeChecksum(algorithm, parts.map((p) => p.cs!.v)), ty: 'COMPOSITE' };
  }

  /**
   * Drops the chunk references and manifest pages of parts, in the background: of a finished
   * upload (with their part records), or of a part replaced by a re-upload (`records` false).
   */
  private releaseParts(uploadId: string, parts: PartEntry[], records = true): void {
    const p = (async () => {
      for (const part of parts) {
        const chunks = await this.catalog.partChunkList(part);
        await this.catalog.dropRefs(
          [...new Set(chunks.map((c) => c.hash))],
          partRef(uploadId, part.n, part.pv),
        );
        await this.catalog.dropPartChunkList(part);
      }
      if (records) await this.catalog.dropParts(uploadId, parts);
    })()
      .catch((err: Error) => {
        this.stats.releaseFailures++;
        this.log.warn({ code: 'ReleaseFailed', uploadId, err: err.message }, 'could not drop the parts of a finished upload; the collector will');
      })
      .finally(() => this.releasing.delete(p));
    this.releasing.add(p);
  }

  private async abortUpload(r: S3Request, uploadId: string): Promise<void> {
    const bucket = await this.writableBucket(r, 's3:AbortMultipartUpload');
    await this.upload(r, bucket, uploadId);
    const outcome = await this.endUpload(bucket, r.key!, uploadId);
    // Of an abort and a completion racing, one wins: a completion under way makes the abort wait
    // for its outcome (a retry then finds the upload completed, or free again).
    if (outcome === 'busy') throw new S3Error('OperationAborted', 'The upload is being completed. Try again.');
    if (outcome === 'gone') throw noSuchUpload(uploadId);
    sendEmpty(r, 204);
  }

  /** Ends an upload, unless a completion holds it, and drops its parts (AbortMultipartUpload; lifecycle). */
  private async endUpload(bucket: BucketEntry, key: string, uploadId: string): Promise<'ended' | 'busy' | 'gone'> {
    const parts: PartEntry[] = [];
    for await (const p of this.catalog.parts(uploadId)) parts.push(p);
    const outcome = await this.catalog.endUploadUnlessClaimed(bucket, key, uploadId, this.env.now(), UPLOAD_CLAIM_STALE_MS);
    if (outcome === 'ended') this.releaseParts(uploadId, parts);
    return outcome;
  }

  /** Lifecycle: aborts an upload still in progress as AbortMultipartUpload does; resolves with whether it was. */
  async abortExpiredUpload(bucket: BucketEntry, key: string, uploadId: string): Promise<boolean> {
    if (!(await this.catalog.getUpload(bucket, key, uploadId))) return false;
    return (await this.endUpload(bucket, key, uploadId)) === 'ended';
  }

  /**
   * Lifecycle: deletes `key` as DeleteObject does, but only while its current version is still
   * `vid` (one conditional write: an object overwritten since it was found expired stays).
   * Resolves with what it did (the delete marker it wrote, in a versioned bucket), undefined if
   * nothing.
   */
  async expireObject(bucket: BucketEntry, key: string, vid: string): Promise<ObjectExpired | undefined> {
    const stale = new Error('stale');
    let outcome: DeleteOutcome;
    try {
      // In a versioned bucket this writes a delete marker and keeps the version, as S3's expiration does.
      outcome = await this.versioning.deleteObject(
        bucket,
        key,
        undefined,
        undefined,
        (current) => {
          if (current === undefined || current.vid !== vid) throw stale;
        },
        undefined,
        'lifecycle',
      );
    } catch (err) {
      if (err === stale) return undefined;
      throw err;
    }
    if (!outcome.previous) return undefined;
    this.stats.objectsDeleted++;
    // Not journaled: logged and counted by the notifier (no request to fail).
    if (outcome.deleteMarker) await this.notifications.emit(bucket, 's3:LifecycleExpiration:DeleteMarkerCreated', key, undefined, outcome.versionId).catch(() => undefined);
    else await this.notifications.emit(bucket, 's3:LifecycleExpiration:Delete', key, undefined, undefined).catch(() => undefined);
    return outcome.deleteMarker ? { deleteMarker: outcome.versionId } : {};
  }

  /** Lifecycle: removes a noncurrent version (NoncurrentVersionExpiration) unless Object Lock protects it at `now`. */
  async expireVersion(bucket: BucketEntry, key: string, version: StoredVersion, now: number): Promise<boolean> {
    const locked = new Error('locked');
    const removable = (v: ObjectEntry): boolean => versionRemovable({ retention: retentionOf(v), legalHold: v.lh }, now, false);
    if (!removable(version.entry)) return false;
    try {
      return await this.versioning.expireVersion(bucket, key, version, (v) => {
        if (!removable(v)) throw locked;
      });
    } catch (err) {
      if (err === locked) return false;
      throw err;
    }
  }

  /** Lifecycle: removes an expired delete marker (ExpiredObjectDeleteMarker). */
  removeExpiredMarker(bucket: BucketEntry, key: string, marker: ObjectEntry): Promise<boolean> {
    return this.versioning.removeExpiredMarker(bucket, key, marker);
  }

  private async listParts(r: S3Request, uploadId: string): Promise<void> {
    const bucket = await this.bucketOf(r);
    await this.mustPermit(r, bucket, 's3:ListMultipartUploadParts', (b) => canWriteBucket(b, r.principal) || canReadBucket(b, r.principal));
    const upload = await this.upload(r, bucket, uploadId);
    const params = parseListPartsParams(r.query);
    const context = {
      bucket: bucket.name,
      key: upload.key,
      uploadId,
      initiator: { id: upload.owner, displayName: upload.ownerName },
      owner: { id: upload.owner, displayName: upload.ownerName },
      storageClass: upload.sc ?? 'STANDARD',
      ...(upload.ca ? { checksumAlgorithm: upload.ca as ChecksumAlgorithm, checksumType: upload.cty ?? 'COMPOSITE' } : {}),
    };
    sendXml(r, listPartsXml(await listParts(this.catalog.partSource(uploadId), context, params)));
  }
}
