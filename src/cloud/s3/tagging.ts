/**
 * S3 tagging. Object tag sets (GetObjectTagging, PutObjectTagging, DeleteObjectTagging; the
 * `x-amz-tagging` header of PutObject, CreateMultipartUpload and CopyObject with
 * `x-amz-tagging-directive`; `x-amz-tagging-count` on GetObject / HeadObject) live in the object's
 * index entry; bucket tag sets (GetBucketTagging, PutBucketTagging, DeleteBucketTagging) in the
 * bucket record.
 *
 * An object's tags are read and written by its owner and its bucket's owner (as its ACL is); a tag
 * write rewrites the index entry of the version that was read, conditionally, so it never undoes
 * a concurrent overwrite or deletion (`OperationAborted` / `NoSuchKey`). Bucket tags are the
 * bucket owner's.
 */
import {
  S3Error,
  getHeader,
  parseTagging,
  parseTaggingDirective,
  parseTaggingHeader,
  requireIntegrityHeader,
  taggingXml,
} from './protocol/index.ts';
import type { BodyVerifier, Tag } from './protocol/index.ts';
import { canManageObject, canReadBucket, mustAllow } from './access.ts';
import type { Catalog } from './catalog.ts';
import type { S3Request } from './http.ts';
import { withTags } from './model.ts';
import type { BucketEntry, ObjectEntry } from './model.ts';
import { readSmallBody, sendEmpty, sendXml } from './replies.ts';

/** Most tags on a bucket (objects: 10). */
export const MAX_BUCKET_TAGS = 50;

/** What the tagging operations need of the S3 API. */
export interface TaggingContext {
  readonly catalog: Catalog;
  /** The request's bucket (`NoSuchBucket`). */
  bucketOf(r: S3Request, fresh?: boolean): Promise<BucketEntry>;
  /** The request's bucket, which the requester must own (`AccessDenied`). */
  ownBucket(r: S3Request, fresh?: boolean): Promise<BucketEntry>;
  /** The body verifier of a request. */
  verifier(r: S3Request): BodyVerifier;
}

/** The tags of a write's `x-amz-tagging` header (none without it). */
export function requestTags(r: S3Request): Tag[] {
  return parseTaggingHeader(getHeader(r.headers, 'x-amz-tagging'));
}

/**
 * The tags of a CopyObject's result: the source's (`x-amz-tagging-directive: COPY`, the default;
 * the requester must be allowed to read them) or the request's `x-amz-tagging` (`REPLACE`).
 */
export function copiedTags(r: S3Request, source: { bucket: BucketEntry; entry: ObjectEntry }): Tag[] {
  const directive = parseTaggingDirective(r.headers);
  if (directive === 'REPLACE') return requestTags(r);
  const tags = source.entry.tags ?? [];
  if (tags.length > 0) mustAllow(canManageObject(source.bucket.owner, source.entry.owner, r.principal));
  return tags;
}

/** `x-amz-tagging-count` of GetObject / HeadObject: when the object has tags the requester may read. */
export function taggingCountHeader(r: S3Request, bucket: BucketEntry, entry: ObjectEntry): Record<string, string> {
  const count = entry.tags?.length ?? 0;
  if (count === 0 || !canManageObject(bucket.owner, entry.owner, r.principal)) return {};
  return { 'x-amz-tagging-count': String(count) };
}

/** The tagging operations. */
export class TaggingApi {
  constructor(private readonly ctx: TaggingContext) {}

  async getObjectTagging(r: S3Request): Promise<void> {
    const { entry } = await this.taggableObject(r);
    sendXml(r, taggingXml(entry.tags ?? []));
  }

  async putObjectTagging(r: S3Request): Promise<void> {
    const { bucket, entry } = await this.taggableObject(r);
    requireIntegrityHeader(r.headers);
    const tags = parseTagging(await readSmallBody(r, this.ctx.verifier(r)));
    await this.ctx.catalog.rewriteObject(bucket, r.key!, entry, (e) => withTags(e, tags));
    sendEmpty(r, 200);
  }

  async deleteObjectTagging(r: S3Request): Promise<void> {
    const { bucket, entry } = await this.taggableObject(r);
    if (entry.tags) await this.ctx.catalog.rewriteObject(bucket, r.key!, entry, (e) => withTags(e, []));
    sendEmpty(r, 204);
  }

  async getBucketTagging(r: S3Request): Promise<void> {
    const bucket = await this.ctx.ownBucket(r, true);
    if (!bucket.tags?.length) throw new S3Error('NoSuchTagSet', undefined, { fields: { BucketName: bucket.name } });
    sendXml(r, taggingXml(bucket.tags));
  }

  async putBucketTagging(r: S3Request): Promise<void> {
    const bucket = await this.ctx.ownBucket(r, true);
    requireIntegrityHeader(r.headers);
    const tags = parseTagging(await readSmallBody(r, this.ctx.verifier(r)), { maxTags: MAX_BUCKET_TAGS });
    await this.ctx.catalog.setBucketTags(bucket, tags);
    sendEmpty(r, 204);
  }

  async deleteBucketTagging(r: S3Request): Promise<void> {
    const bucket = await this.ctx.ownBucket(r, true);
    if (bucket.tags) await this.ctx.catalog.setBucketTags(bucket, []);
    sendEmpty(r, 204);
  }

  /**
   * The request's object, whose tags the requester may read and write. A missing key is
   * `NoSuchKey` to those who may list the bucket, `AccessDenied` to others (as S3 answers).
   */
  private async taggableObject(r: S3Request): Promise<{ bucket: BucketEntry; entry: ObjectEntry }> {
    const bucket = await this.ctx.bucketOf(r);
    const key = r.key!;
    const entry = await this.ctx.catalog.getObject(bucket, key);
    if (!entry) {
      mustAllow(canReadBucket(bucket, r.principal));
      throw new S3Error('NoSuchKey', undefined, { fields: { Key: key } });
    }
    mustAllow(canManageObject(bucket.owner, entry.owner, r.principal));
    return { bucket, entry };
  }
}
