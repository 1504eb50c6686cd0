/**
 * S3 Object Ownership (PutBucketOwnershipControls, GetBucketOwnershipControls,
 * DeleteBucketOwnershipControls; `x-amz-object-ownership` on CreateBucket), kept in the bucket
 * record (`own`):
 *
 * - ObjectWriter (also a bucket without the setting): the writer of an object owns it; ACLs count.
 * - BucketOwnerPreferred: an object written with the `bucket-owner-full-control` canned ACL is
 *   owned by the bucket owner.
 * - BucketOwnerEnforced: ACLs are disabled. The bucket owner owns every object (older ones too)
 *   and access comes from ownership and the bucket policy only (access.ts). A request that sets an
 *   ACL other than the owner's full control (`private`, `bucket-owner-full-control` or the
 *   equivalent grant) is `AccessControlListNotSupported`; reading ACLs still works and shows the
 *   bucket owner's full control.
 *
 * Buckets here default to ObjectWriter with ACLs enabled (S3 before April 2023); set
 * BucketOwnerEnforced to have S3's current default.
 */
import { S3Error, ownershipControlsXml, parseOwnershipControls } from './protocol/index.ts';
import type { BodyVerifier, ObjectOwnership } from './protocol/index.ts';
import { aclsDisabled } from './access.ts';
import type { AclFields } from './access.ts';
import type { Catalog, Principal } from './catalog.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry } from './model.ts';
import { readCheckedBody, sendEmpty, sendXml, subresourceOperation } from './replies.ts';
import type { Operation } from './replies.ts';

/** What the ownership operations need of the S3 API. */
export interface OwnershipContext {
  readonly catalog: Catalog;
  /** The request's bucket if the requester may do `action` on it (its owner, or the policy's). */
  bucketFor(r: S3Request, action: string, fresh?: boolean): Promise<BucketEntry>;
  verifier(r: S3Request): BodyVerifier;
}

/** Whether an ACL gives only the owner full control (all an ACL may say with ACLs disabled). */
function ownerOnly(acl: AclFields, owner: string): boolean {
  if (acl.grants !== undefined) return acl.grants.every((g) => g.id === owner && g.p === 'FULL_CONTROL');
  return acl.acl === undefined || acl.acl === 'private' || acl.acl === 'bucket-owner-full-control';
}

/**
 * The ACL to store for a write into `bucket` that asked for `acl`: as asked, or nothing when the
 * bucket's ACLs are disabled (then only the owner's full control may be asked for:
 * `AccessControlListNotSupported` otherwise).
 */
export function aclForWrite(bucket: BucketEntry, acl: AclFields | undefined): AclFields | undefined {
  if (!aclsDisabled(bucket)) return acl;
  if (acl !== undefined && !ownerOnly(acl, bucket.owner)) throw new S3Error('AccessControlListNotSupported');
  return undefined;
}

/** Who owns an object `principal` writes into `bucket` with `acl`. */
export function objectOwnerFor(bucket: BucketEntry, principal: Principal | undefined, acl: AclFields | undefined): Principal {
  const bucketOwner = { id: bucket.owner, name: bucket.ownerName };
  if (aclsDisabled(bucket) || (bucket.own === 'BucketOwnerPreferred' && acl?.acl === 'bucket-owner-full-control')) return bucketOwner;
  return principal ?? bucketOwner;
}

/** The ownership operations (`?ownershipControls`). */
export class OwnershipApi {
  constructor(private readonly ctx: OwnershipContext) {}

  operation(r: S3Request): Operation | undefined {
    if (!r.query.has('ownershipControls')) return undefined;
    return subresourceOperation(r, 'BucketOwnershipControls', {
      PUT: ['PutBucketOwnershipControls', () => this.put(r)],
      GET: ['GetBucketOwnershipControls', () => this.get(r)],
      DELETE: ['DeleteBucketOwnershipControls', () => this.delete(r)],
    });
  }

  private async put(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketOwnershipControls', true);
    const ownership = parseOwnershipControls(await readCheckedBody(r, this.ctx.verifier(r)));
    // A bucket ACL granting others must be reset to private before ACLs are disabled (as S3 requires).
    if (ownership === 'BucketOwnerEnforced' && !ownerOnly(bucket, bucket.owner)) throw new S3Error('InvalidBucketAclWithObjectOwnership');
    await this.ctx.catalog.setBucketSetting(bucket, 'own', ownership);
    sendEmpty(r, 200);
  }

  private async get(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:GetBucketOwnershipControls', true);
    if (bucket.own === undefined) throw new S3Error('OwnershipControlsNotFoundError', undefined, { fields: { BucketName: bucket.name } });
    sendXml(r, ownershipControlsXml(bucket.own));
  }

  private async delete(r: S3Request): Promise<void> {
    // S3 checks s3:PutBucketOwnershipControls for a deletion too.
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketOwnershipControls', true);
    if (bucket.own !== undefined) await this.ctx.catalog.setBucketSetting(bucket, 'own', undefined);
    sendEmpty(r, 204);
  }
}

/** Checks a CreateBucket's `x-amz-object-ownership` against the ACL it asks for. */
export function checkNewBucketOwnership(ownership: ObjectOwnership | undefined, acl: AclFields | undefined, owner: string): void {
  if (ownership === 'BucketOwnerEnforced' && acl !== undefined && !ownerOnly(acl, owner)) throw new S3Error('InvalidBucketAclWithObjectOwnership');
}
