/**
 * Who may do what: buckets and objects belong to their creators, and their ACLs open them to
 * others, as S3's ACLs do. An ACL is a canned one (`acl`) or an explicit grant list (`grants`,
 * which then replaces it); a canned ACL is just a short name for a grant list ({@link policyOf}).
 *
 * On a bucket, READ lists it, WRITE writes and deletes objects in it, READ_ACP / WRITE_ACP read and
 * change its ACL, FULL_CONTROL is all four. On an object, READ reads it (GET, HEAD), READ_ACP /
 * WRITE_ACP read and change its ACL, FULL_CONTROL is all three (WRITE means nothing there).
 * Owners keep every right on what they own whatever its list says; bucket owners may also read
 * the objects in their buckets and their ACLs. An object's tags are for its owner and its
 * bucket's owner only.
 *
 * Every decision uses only the record already read (the bucket record, the object's index
 * entry): a grant list travels in it, so checking one costs no DHT read.
 *
 * The decisions that may rest on a grant tell how they allow ({@link AclAllowance}): by
 * ownership, or by a grant of the ACL, which is what a server access log record's aclRequired
 * field reports (policy.ts notes it when no bucket policy Allow made the grant unnecessary).
 */
import { ACL_GROUPS, S3Error } from './protocol/index.ts';
import type { AccessControlPolicy, CannedAcl, Grant, Owner, Permission } from './protocol/index.ts';
import type { Principal } from './catalog.ts';
import type { StoredGrant } from './model.ts';

/** What a bucket record or an object entry holds of its ACL. */
export interface AclFields {
  acl?: CannedAcl | undefined;
  grants?: StoredGrant[] | undefined;
}

/** A resource with its owner's canonical id and its ACL. */
export interface Owned extends AclFields {
  owner: string;
}

/** A bucket as access decisions see it: its owner, its ACL, its public access block and Object Ownership. */
export interface BucketAccess extends Owned {
  pab?: { ignoreAcls?: true } | undefined;
  own?: string | undefined;
}

/** Whether the bucket's ACLs are disabled (Object Ownership BucketOwnerEnforced: the bucket owner owns every object). */
export function aclsDisabled(bucket: BucketAccess): boolean {
  return bucket.own === 'BucketOwnerEnforced';
}

/**
 * What the ACL side of a decision says: `false` (refused), `true` (allowed by ownership) or
 * {@link BY_GRANT} (allowed only by a grant of the ACL). Both allowances are truthy.
 */
export type AclAllowance = boolean | typeof BY_GRANT;

/** An allowance that needed a grant of the ACL (S3's aclRequired). */
export const BY_GRANT = 'grant';

/** Where a decision notes that it needed an ACL grant (a request's access log facts). */
export interface AclUse {
  /** Set when the request was authorized by a grant of an ACL (the log's aclRequired `Yes`). */
  aclRequired?: boolean | undefined;
}

/** A permission asked for (FULL_CONTROL grants each of them). */
export type Access = Exclude<Permission, 'FULL_CONTROL'>;

/** What a canned ACL grants to someone who is not the owner. */
export function grants(acl: CannedAcl | undefined, principal: Principal | undefined): { read: boolean; write: boolean } {
  switch (acl) {
    case 'public-read':
      return { read: true, write: false };
    case 'public-read-write':
      return { read: true, write: true };
    case 'authenticated-read':
      return { read: principal !== undefined, write: false };
    default:
      return { read: false, write: false };
  }
}

/** Whether grant `g` is to `principal` (by id, or through a group it belongs to). */
function isGrantee(g: StoredGrant, principal: Principal | undefined): boolean {
  if (g.id !== undefined) return principal?.id === g.id;
  return g.uri === ACL_GROUPS.AllUsers || (g.uri === ACL_GROUPS.AuthenticatedUsers && principal !== undefined);
}

/** Whether an ACL opens its resource to everyone or to every authenticated user (S3's "public"). */
export function isPublicAcl(res: AclFields): boolean {
  if (res.grants !== undefined) return res.grants.some((g) => g.uri === ACL_GROUPS.AllUsers || g.uri === ACL_GROUPS.AuthenticatedUsers);
  return res.acl === 'public-read' || res.acl === 'public-read-write' || res.acl === 'authenticated-read';
}

/**
 * Whether the ACL of a resource gives `principal` `access` (ownership aside). A canned ACL
 * grants READ / WRITE to groups only; the bucket-owner ones are covered by the bucket owner's
 * own rights. `ignorePublic` (a bucket's IgnorePublicAcls): grants to the public groups count
 * for nothing.
 */
export function allows(res: AclFields, principal: Principal | undefined, access: Access, ignorePublic = false): boolean {
  if (res.grants !== undefined) {
    for (const g of res.grants) {
      if (ignorePublic && g.uri !== undefined) continue;
      if ((g.p === access || g.p === 'FULL_CONTROL') && isGrantee(g, principal)) return true;
    }
    return false;
  }
  if (ignorePublic) return false;
  if (access === 'READ') return grants(res.acl, principal).read;
  if (access === 'WRITE') return grants(res.acl, principal).write;
  return false;
}

/** Throws `AccessDenied` unless `allowed`. */
export function mustAllow(allowed: boolean): void {
  if (!allowed) throw new S3Error('AccessDenied');
}

/** {@link allows} as an allowance: {@link BY_GRANT} or false (never for a bucket whose ACLs are disabled). */
function granted(bucket: BucketAccess, res: AclFields, principal: Principal | undefined, access: Access): AclAllowance {
  return !aclsDisabled(bucket) && allows(res, principal, access, bucket.pab?.ignoreAcls === true) ? BY_GRANT : false;
}

/** Whether `principal` may do `access` on the bucket (READ lists, WRITE writes objects, *_ACP its ACL). */
export function canBucket(bucket: BucketAccess, principal: Principal | undefined, access: Access): AclAllowance {
  return principal?.id === bucket.owner || granted(bucket, bucket, principal, access);
}

/** Whether `principal` may list the bucket. */
export function canReadBucket(bucket: BucketAccess, principal: Principal | undefined): AclAllowance {
  return canBucket(bucket, principal, 'READ');
}

/** Whether `principal` may write and delete objects in the bucket. */
export function canWriteBucket(bucket: BucketAccess, principal: Principal | undefined): AclAllowance {
  return canBucket(bucket, principal, 'WRITE');
}

/** Whether `principal` may read an object of `bucket` (its owner, the bucket's owner, or a READ grantee). */
export function canReadObject(bucket: BucketAccess, object: Owned, principal: Principal | undefined): AclAllowance {
  return canManage(bucket, object, principal) || granted(bucket, object, principal, 'READ');
}

/** Whether `principal` may read (READ_ACP) or change (WRITE_ACP) the ACL of an object of `bucket`. */
export function canObjectAcl(bucket: BucketAccess, object: Owned, principal: Principal | undefined, access: 'READ_ACP' | 'WRITE_ACP'): AclAllowance {
  return canManage(bucket, object, principal) || granted(bucket, object, principal, access);
}

/** The owner of an object of `bucket`: its writer, or the bucket owner when the bucket's ACLs are disabled. */
export function objectOwnerIn(bucket: BucketAccess, object: Owned): string {
  return aclsDisabled(bucket) ? bucket.owner : object.owner;
}

/** {@link canManageObject} for an object of `bucket` (its Object Ownership considered). */
export function canManage(bucket: BucketAccess, object: Owned, principal: Principal | undefined): boolean {
  return canManageObject(bucket.owner, objectOwnerIn(bucket, object), principal);
}

/**
 * Whether `principal` is the object's owner or its bucket's owner: they read and change its ACL
 * and its tags whatever the ACL says (no grant gives tags: S3's `s3:GetObjectTagging` /
 * `s3:PutObjectTagging` are not ACL permissions).
 */
export function canManageObject(bucketOwner: string, objectOwner: string, principal: Principal | undefined): boolean {
  return principal !== undefined && (principal.id === objectOwner || principal.id === bucketOwner);
}

function userGrant(user: Owner, permission: Grant['permission']): Grant {
  return { grantee: { type: 'CanonicalUser', id: user.id, ...(user.displayName ? { displayName: user.displayName } : {}) }, permission };
}

/** A stored grant as the protocol writes it. */
export function grantOf(g: StoredGrant): Grant {
  if (g.id !== undefined) return { grantee: { type: 'CanonicalUser', id: g.id, ...(g.n !== undefined ? { displayName: g.n } : {}) }, permission: g.p };
  return { grantee: { type: 'Group', uri: g.uri ?? '' }, permission: g.p };
}

/**
 * The access control policy of a resource (GetBucketAcl / GetObjectAcl): its explicit grant list
 * as given, or the one its canned ACL stands for. For an object, `bucketOwner` is its bucket's
 * owner: `bucket-owner-read` / `bucket-owner-full-control` grant them READ / FULL_CONTROL when
 * they are not the object's owner.
 */
export function policyOf(owner: Owner, res: AclFields | CannedAcl | undefined, bucketOwner?: Owner): AccessControlPolicy {
  const fields: AclFields = typeof res === 'string' ? { acl: res } : (res ?? {});
  if (fields.grants !== undefined) return { owner, grants: fields.grants.map(grantOf) };
  const list: Grant[] = [userGrant(owner, 'FULL_CONTROL')];
  const otherBucketOwner = bucketOwner !== undefined && bucketOwner.id !== owner.id ? bucketOwner : undefined;
  switch (fields.acl) {
    case 'public-read':
      list.push({ grantee: { type: 'Group', uri: ACL_GROUPS.AllUsers }, permission: 'READ' });
      break;
    case 'public-read-write':
      list.push({ grantee: { type: 'Group', uri: ACL_GROUPS.AllUsers }, permission: 'READ' });
      list.push({ grantee: { type: 'Group', uri: ACL_GROUPS.AllUsers }, permission: 'WRITE' });
      break;
    case 'authenticated-read':
      list.push({ grantee: { type: 'Group', uri: ACL_GROUPS.AuthenticatedUsers }, permission: 'READ' });
      break;
    case 'bucket-owner-read':
      if (otherBucketOwner) list.push(userGrant(otherBucketOwner, 'READ'));
      break;
    case 'bucket-owner-full-control':
      if (otherBucketOwner) list.push(userGrant(otherBucketOwner, 'FULL_CONTROL'));
      break;
    default:
      break;
  }
  return { owner, grants: list };
}

function grantKey(g: Grant): string {
  const who = g.grantee.type === 'CanonicalUser' ? `id:${g.grantee.id}` : g.grantee.type === 'Group' ? `uri:${g.grantee.uri}` : `email:${g.grantee.emailAddress}`;
  return `${who} ${g.permission}`;
}

/**
 * The canned ACL a grant list is exactly (the same grants in the same order as {@link policyOf}
 * writes it), or undefined: such a list is stored as the canned ACL, shorter and readable by
 * older nodes, and reads back the same.
 */
export function cannedOf(list: readonly Grant[], ownerId: string, bucketOwnerId?: string): CannedAcl | undefined {
  const want = list.map(grantKey).join('\n');
  const candidates: CannedAcl[] = ['private', 'public-read', 'public-read-write', 'authenticated-read'];
  if (bucketOwnerId !== undefined && bucketOwnerId !== ownerId) candidates.push('bucket-owner-read', 'bucket-owner-full-control');
  const bucketOwner = bucketOwnerId === undefined ? undefined : { id: bucketOwnerId };
  return candidates.find((acl) => policyOf({ id: ownerId }, acl, bucketOwner).grants.map(grantKey).join('\n') === want);
}
