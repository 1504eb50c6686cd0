/**
 * A bucket's public access block (PutPublicAccessBlock, GetPublicAccessBlock,
 * DeletePublicAccessBlock), kept in the bucket record (`pab`) so every check reads it for free:
 *
 * - BlockPublicAcls: a request that sets a public ACL (a public canned ACL, or a grant to everyone
 *   or to every authenticated user) on the bucket or on an object in it is refused (`AccessDenied`).
 * - IgnorePublicAcls: such grants count for nothing when access is decided (access.ts).
 * - BlockPublicPolicy: PutBucketPolicy of a public policy is refused (`AccessDenied`).
 * - RestrictPublicBuckets: while the bucket's policy is public, its Allows do not reach anonymous
 *   requests (every user here counts as one of the bucket owner's account, as policy.ts says).
 *
 * S3 also has account-level blocks; there are no accounts here, so only the bucket's applies.
 */
import { S3Error, parsePublicAccessBlock, publicAccessBlockXml } from './protocol/index.ts';
import type { BodyVerifier, PublicAccessBlockSettings } from './protocol/index.ts';
import { isPublicAcl } from './access.ts';
import type { AclFields } from './access.ts';
import type { Catalog } from './catalog.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry, PublicAccessBlock } from './model.ts';
import { readCheckedBody, sendEmpty, sendXml, subresourceOperation } from './replies.ts';
import type { Operation } from './replies.ts';

/** What the public access block operations need of the S3 API. */
export interface PublicAccessContext {
  readonly catalog: Catalog;
  /** The request's bucket if the requester may do `action` on it (its owner, or the policy's). */
  bucketFor(r: S3Request, action: string, fresh?: boolean): Promise<BucketEntry>;
  verifier(r: S3Request): BodyVerifier;
}

/** Throws `AccessDenied` when `bucket` blocks public ACLs and `acl` is one. */
export function refusePublicAcl(bucket: Pick<BucketEntry, 'pab'>, acl: AclFields | undefined): void {
  if (bucket.pab?.blockAcls && acl !== undefined && isPublicAcl(acl)) throw new S3Error('AccessDenied');
}

/** The stored form of the settings (only the true ones). */
function stored(s: PublicAccessBlockSettings): PublicAccessBlock {
  const out: PublicAccessBlock = {};
  if (s.blockPublicAcls) out.blockAcls = true;
  if (s.ignorePublicAcls) out.ignoreAcls = true;
  if (s.blockPublicPolicy) out.blockPolicy = true;
  if (s.restrictPublicBuckets) out.restrictBuckets = true;
  return out;
}

/** The public access block operations. */
export class PublicAccessApi {
  constructor(private readonly ctx: PublicAccessContext) {}

  /** The operation a `?publicAccessBlock` request is, if it is one. */
  operation(r: S3Request): Operation | undefined {
    if (!r.query.has('publicAccessBlock')) return undefined;
    return subresourceOperation(r, 'PublicAccessBlock', {
      PUT: ['PutPublicAccessBlock', () => this.put(r)],
      GET: ['GetPublicAccessBlock', () => this.get(r)],
      DELETE: ['DeletePublicAccessBlock', () => this.delete(r)],
    });
  }

  private async put(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketPublicAccessBlock', true);
    const settings = parsePublicAccessBlock(await readCheckedBody(r, this.ctx.verifier(r)));
    await this.ctx.catalog.setBucketSetting(bucket, 'pab', stored(settings));
    sendEmpty(r, 200);
  }

  private async get(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:GetBucketPublicAccessBlock', true);
    const pab = bucket.pab;
    if (pab === undefined) throw new S3Error('NoSuchPublicAccessBlockConfiguration', undefined, { fields: { BucketName: bucket.name } });
    sendXml(
      r,
      publicAccessBlockXml({ blockPublicAcls: pab.blockAcls === true, ignorePublicAcls: pab.ignoreAcls === true, blockPublicPolicy: pab.blockPolicy === true, restrictPublicBuckets: pab.restrictBuckets === true }),
    );
  }

  private async delete(r: S3Request): Promise<void> {
    // S3 checks s3:PutBucketPublicAccessBlock for a deletion too.
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketPublicAccessBlock', true);
    if (bucket.pab !== undefined) await this.ctx.catalog.setBucketSetting(bucket, 'pab', undefined);
    sendEmpty(r, 204);
  }
}
