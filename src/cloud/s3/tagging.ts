/**
 * S3 tagging. Object tag sets (GetObjectTagging, PutObjectTagging, DeleteObjectTagging; the
 * `x-amz-tagging` header of PutObject, CreateMultipartUpload and CopyObject with
 * `x-amz-tagging-directive`; `x-amz-tagging-count` on GetObject / HeadObject) live in the object's
 * index entry; bucket tag sets (GetBucketTagging, PutBucketTagging, DeleteBucketTagging) in the
 * bucket record.
 *
 * An object's tags are read and written by its owner and its bucket's owner (as its ACL is), and
 * by whoever the bucket policy allows (s3:GetObjectTagging, s3:PutObjectTagging,
 * s3:DeleteObjectTagging) unless it denies them; a tag write rewrites the index entry of the
 * version that was read, conditionally, so it never undoes a concurrent overwrite or deletion
 * (`OperationAborted` / `NoSuchKey`). Bucket tags are the bucket owner's (and the policy's:
 * s3:GetBucketTagging, s3:PutBucketTagging).
 */
import {
  S3Error,
  getHeader,
  parseTagging,
  parseTaggingDirective,
  parseTaggingHeader,
  taggingXml,
} from './protocol/index.ts';
import type { BodyVerifier, Tag } from './protocol/index.ts';
import { canManage } from './access.ts';
import type { AclAllowance } from './access.ts';
import type { Catalog } from './catalog.ts';
import type { PolicyTarget } from './policy.ts';
import type { S3Request } from './http.ts';
import { withTags } from './model.ts';
import type { BucketEntry, ObjectEntry } from './model.ts';
import { readCheckedBody, sendEmpty, sendXml } from './replies.ts';
import { permittedVersion, versionHeader } from './versioning-api.ts';
import type { ObjectVersion } from './versioning-api.ts';

/** Most tags on a bucket (objects: 10). */
export const MAX_BUCKET_TAGS = 50;

/** What the tagging operations need of the S3 API. */
export interface TaggingContext {
  readonly catalog: Catalog;
  /** The request's bucket (`NoSuchBucket`). */
  bucketOf(r: S3Request, fresh?: boolean): Promise<BucketEntry>;
  /** The request's bucket if the requester may do `action` on it: its owner or whom its policy allows (`AccessDenied`). */
  bucketFor(r: S3Request, action: string, fresh?: boolean): Promise<BucketEntry>;
  /** Throws `AccessDenied` unless the requester may do `action` (ACL and ownership: `aclAllows`; the bucket policy). */
  mustPermit(r: S3Request, bucket: BucketEntry, action: string, aclAllows: (b: BucketEntry) => AclAllowance, target?: PolicyTarget): Promise<void>;
  /** The body verifier of a request. */
  verifier(r: S3Request): BodyVerifier;
  /** The version a request names (`?versionId=`, else the current one); undefined when none. */
  objectVersion(r: S3Request, bucket: BucketEntry, key: string): Promise<ObjectVersion | undefined>;
  /** Rewrites a version's entry while it is still that version. */
  rewriteVersion(bucket: BucketEntry, key: string, found: ObjectVersion, change: (entry: ObjectEntry) => ObjectEntry): Promise<void>;
  /** A version's tags were set or removed by `r` (its event notification). */
  tagged(r: S3Request, bucket: BucketEntry, key: string, entry: ObjectEntry, removed: boolean): Promise<void>;
}


/** The tags of a write's `x-amz-tagging` header (none without it). */
export function requestTags(r: S3Request): Tag[] {
  return parseTaggingHeader(getHeader(r.headers, 'x-amz-tagging'));
}

/** `x-amz-tagging-count` of GetObject / HeadObject: when the object has tags the requester may read. */
export function taggingCountHeader(r: S3Request, bucket: BucketEntry, entry: ObjectEntry): Record<string, string> {
  const count = entry.tags?.length ?? 0;
  if (count === 0 || !canManage(bucket, entry, r.principal)) return {};
  return { 'x-amz-tagging-count': String(count) };
}

/** The tagging operations. */
export class TaggingApi {
  constructor(private readonly ctx: TaggingContext) {}

  /**
   * The tags of a CopyObject's result: the source's (`x-amz-tagging-directive: COPY`, the default;
   * the requester must be allowed to read them) or the request's `x-amz-tagging` (`REPLACE`).
   */
  async copiedTags(r: S3Request, source: { bucket: BucketEntry; key: string; entry: ObjectEntry }): Promise<Tag[]> {
    const directive = parseTaggingDirective(r.headers);
    if (directive === 'REPLACE') return requestTags(r);
    const tags = source.entry.tags ?? [];
    if (tags.length > 0) await this.ctx.mustPermit(r, source.bucket, 's3:GetObjectTagging', (b) => canManage(b, source.entry, r.principal), { key: source.key, tags });
    return tags;
  }

  async getObjectTagging(r: S3Request): Promise<void> {
    const { bucket, found } = await this.taggableObject(r, 's3:GetObjectTagging');
    sendXml(r, taggingXml(found.entry.tags ?? []), 200, versionHeader(bucket, found.entry, r.query.has('versionId')));
  }

  async putObjectTagging(r: S3Request): Promise<void> {
    const { bucket, found } = await this.taggableObject(r, 's3:PutObjectTagging');
    const tags = parseTagging(await readCheckedBody(r, this.ctx.verifier(r)));
    await this.ctx.rewriteVersion(bucket, r.key!, found, (e) => withTags(e, tags));
    await this.ctx.tagged(r, bucket, r.key!, found.entry, false);
    sendEmpty(r, 200, versionHeader(bucket, found.entry, r.query.has('versionId')));
  }

  async deleteObjectTagging(r: S3Request): Promise<void> {
    const { bucket, found } = await this.taggableObject(r, 's3:DeleteObjectTagging');
    if (found.entry.tags) await this.ctx.rewriteVersion(bucket, r.key!, found, (e) => withTags(e, []));
    await this.ctx.tagged(r, bucket, r.key!, found.entry, true);
    sendEmpty(r, 204, versionHeader(bucket, found.entry, r.query.has('versionId')));
  }

  async getBucketTagging(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:GetBucketTagging', true);
    if (!bucket.tags?.length) throw new S3Error('NoSuchTagSet', undefined, { fields: { BucketName: bucket.name } });
    sendXml(r, taggingXml(bucket.tags));
  }

  async putBucketTagging(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketTagging', true);
    const tags = parseTagging(await readCheckedBody(r, this.ctx.verifier(r)), { maxTags: MAX_BUCKET_TAGS });
    await this.ctx.catalog.setBucketTags(bucket, tags);
    sendEmpty(r, 204);
  }

  async deleteBucketTagging(r: S3Request): Promise<void> {
    // S3 checks s3:PutBucketTagging for a deletion too.
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketTagging', true);
    if (bucket.tags) await this.ctx.catalog.setBucketTags(bucket, []);
    sendEmpty(r, 204);
  }

  /**
   * The request's object (the version it names, else the current one), whose tags the requester
   * may read and write: `action`, or its `…Version…` form for a named version
   * (s3:GetObjectVersionTagging, …).
   */
  private async taggableObject(r: S3Request, action: string): Promise<{ bucket: BucketEntry; found: ObjectVersion }> {
    const bucket = await this.ctx.bucketOf(r);
    const versioned = r.query.has('versionId') ? action.replace('Object', 'ObjectVersion') : action;
    return { bucket, found: await permittedVersion(this.ctx, r, bucket, versioned) };
  }
}

