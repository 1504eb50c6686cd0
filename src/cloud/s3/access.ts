/**
 * Who may do what: buckets and objects belong to their creators; the canned ACLs `public-read`,
 * `public-read-write` and `authenticated-read` open them to others, as S3's ACLs do. A bucket's
 * READ permission lists it, its WRITE permission writes and deletes objects in it; an object's
 * READ permission reads it. Bucket owners may always read the objects in their buckets. An
 * object's ACL and tags are for its owner and its bucket's owner only.
 */
import { ACL_GROUPS, S3Error } from './protocol/index.ts';
import type { AccessControlPolicy, CannedAcl, Grant, Owner } from './protocol/index.ts';
import type { Principal } from './catalog.ts';

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

/** Throws `AccessDenied` unless `allowed`. */
export function mustAllow(allowed: boolean): void {
  if (!allowed) throw new S3Error('AccessDenied');
}

/** Whether `principal` may list the bucket. */
export function canReadBucket(owner: string, acl: CannedAcl, principal: Principal | undefined): boolean {
  return principal?.id === owner || grants(acl, principal).read;
}

/** Whether `principal` may write and delete objects in the bucket. */
export function canWriteBucket(owner: string, acl: CannedAcl, principal: Principal | undefined): boolean {
  return principal?.id === owner || grants(acl, principal).write;
}

/** Whether `principal` may read an object. */
export function canReadObject(bucketOwner: string, objectOwner: string, acl: CannedAcl | undefined, principal: Principal | undefined): boolean {
  return principal !== undefined && (principal.id === objectOwner || principal.id === bucketOwner) ? true : grants(acl, principal).read;
}

/**
 * Whether `principal` may read and change an object's ACL and tags: its owner, or the owner of
 * its bucket (what FULL_CONTROL gives here; canned ACLs grant READ and WRITE, not these).
 */
export function canManageObject(bucketOwner: string, objectOwner: string, principal: Principal | undefined): boolean {
  return principal !== undefined && (principal.id === objectOwner || principal.id === bucketOwner);
}

function userGrant(user: Owner, permission: Grant['permission']): Grant {
  return { grantee: { type: 'CanonicalUser', id: user.id, ...(user.displayName ? { displayName: user.displayName } : {}) }, permission };
}

/**
 * The access control policy a canned ACL stands for (GetBucketAcl / GetObjectAcl). For an object,
 * `bucketOwner` is its bucket's owner: `bucket-owner-read` / `bucket-owner-full-control` grant
 * them READ / FULL_CONTROL when they are not the object's owner.
 */
export function policyOf(owner: Owner, acl: CannedAcl | undefined, bucketOwner?: Owner): AccessControlPolicy {
  const list: Grant[] = [userGrant(owner, 'FULL_CONTROL')];
  const otherBucketOwner = bucketOwner !== undefined && bucketOwner.id !== owner.id ? bucketOwner : undefined;
  switch (acl) {
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

/**
 * The canned ACL an AccessControlPolicy document amounts to (PutBucketAcl / PutObjectAcl with a
 * body): the owner's FULL_CONTROL plus the group grants of one canned ACL (or, for an object whose
 * bucket belongs to `bucketOwnerId`, that owner's READ or FULL_CONTROL). Anything else is
 * `NotImplemented` (only canned ACLs are supported).
 */
export function cannedOf(policy: AccessControlPolicy, ownerId: string, bucketOwnerId?: string): CannedAcl {
  const others = policy.grants.filter((g) => !(g.grantee.type === 'CanonicalUser' && g.grantee.id === ownerId));
  const key = others
    .map((g) => `${g.grantee.type === 'Group' ? g.grantee.uri : g.grantee.type === 'CanonicalUser' && g.grantee.id === bucketOwnerId ? 'bucket-owner' : '?'}:${g.permission}`)
    .sort()
    .join(',');
  const table: Record<string, CannedAcl> = {
    '': 'private',
    [`${ACL_GROUPS.AllUsers}:READ`]: 'public-read',
    [`${ACL_GROUPS.AllUsers}:READ,${ACL_GROUPS.AllUsers}:WRITE`]: 'public-read-write',
    [`${ACL_GROUPS.AuthenticatedUsers}:READ`]: 'authenticated-read',
    'bucket-owner:READ': 'bucket-owner-read',
    'bucket-owner:FULL_CONTROL': 'bucket-owner-full-control',
  };
  const acl = table[key];
  if (acl === undefined) throw new S3Error('NotImplemented', 'Only the canned ACLs private, public-read, public-read-write and authenticated-read are supported.');
  return acl;
}
