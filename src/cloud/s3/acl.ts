/**
 * ACLs of requests, resolved against the catalog: what `x-amz-acl`, the `x-amz-grant-*` headers
 * (CreateBucket, PutObject, CopyObject, CreateMultipartUpload, PutBucketAcl, PutObjectAcl) and an
 * AccessControlPolicy document (PutBucketAcl, PutObjectAcl) ask for, as the fields a bucket
 * record or an object entry stores ({@link AclFields}). Who may do what with them is access.ts.
 *
 * Grantees are checked as S3 checks them: a canonical id must be a user's (`InvalidArgument`,
 * "Invalid id"), a group one of the predefined groups, and since users here have no e-mail
 * address a grant by e-mail is `UnresolvableGrantByEmailAddress`. An explicit list is stored as
 * given; one that is exactly a canned ACL's is stored as that canned ACL.
 */
import { S3Error, parseAccessControlPolicy, accessControlPolicyXml } from './protocol/index.ts';
import type { BodyVerifier, Grant, HeaderMap, Owner } from './protocol/index.ts';
import { checkGrants, parseRequestAcl } from './protocol/acl.ts';
import type { GrantHeader } from './protocol/acl.ts';
import { cannedOf, policyOf } from './access.ts';
import type { AclFields } from './access.ts';
import type { Catalog } from './catalog.ts';
import type { StoredGrant } from './model.ts';
import { readSmallBody } from './replies.ts';
import type { S3Request } from './http.ts';

/**
 * Resolves a grant list's grantees: users by canonical id (their names are kept for
 * GetBucketAcl / GetObjectAcl), predefined groups by URI.
 */
export async function resolveGrants(catalog: Pick<Catalog, 'userById'>, grants: readonly Grant[]): Promise<StoredGrant[]> {
  checkGrants(grants);
  for (const g of grants) {
    if (g.grantee.type === 'AmazonCustomerByEmail') {
      throw new S3Error('UnresolvableGrantByEmailAddress', undefined, { fields: { EmailAddress: g.grantee.emailAddress } });
    }
  }
  const ids = [...new Set(grants.flatMap((g) => (g.grantee.type === 'CanonicalUser' ? [g.grantee.id] : [])))];
  const names = new Map(await Promise.all(ids.map(async (id) => [id, await catalog.userById(id)] as const)));
  return grants.map((g): StoredGrant => {
    if (g.grantee.type === 'CanonicalUser') {
      const name = names.get(g.grantee.id);
      if (name === undefined) throw new S3Error('InvalidArgument', 'Invalid id', { fields: { ArgumentName: 'CanonicalUser/ID', ArgumentValue: g.grantee.id } });
      return { p: g.permission, id: g.grantee.id, n: name };
    }
    return { p: g.permission, uri: g.grantee.type === 'Group' ? g.grantee.uri : '' };
  });
}

/**
 * The ACL a write asks for in its headers (`x-amz-acl` or the grant headers among `allowed`), or
 * undefined for none (the default: private).
 */
export async function requestAcl(catalog: Pick<Catalog, 'userById'>, headers: HeaderMap, allowed?: readonly GrantHeader[]): Promise<AclFields | undefined> {
  const asked = parseRequestAcl(headers, allowed);
  if (asked === undefined) return undefined;
  if (asked.canned !== undefined) return { acl: asked.canned };
  return { grants: await resolveGrants(catalog, asked.grants) };
}

/** `entry` with its ACL replaced by `acl` (none: private). */
export function withAcl<T extends AclFields>(entry: T, acl: AclFields | undefined): T {
  const out = { ...entry };
  delete out.acl;
  delete out.grants;
  if (acl?.grants !== undefined) out.grants = acl.grants;
  else if (acl?.acl !== undefined) out.acl = acl.acl;
  return out;
}

/**
 * The ACL of a PutBucketAcl / PutObjectAcl: from its headers (`x-amz-acl` or grant headers), or
 * from an AccessControlPolicy body — not both (`UnexpectedContent`), not neither
 * (`MissingSecurityHeader`). A document's Owner must be the resource's owner (`AccessDenied`:
 * an ACL does not change owners). `bucketOwner` is the bucket's owner for an object (its
 * bucket-owner-* canned forms).
 */
export async function aclOfPut(r: S3Request, catalog: Pick<Catalog, 'userById'>, verifier: BodyVerifier, owner: string, bucketOwner?: string): Promise<AclFields> {
  const fromHeaders = await requestAcl(catalog, r.headers);
  const body = await readSmallBody(r, verifier);
  if (fromHeaders !== undefined) {
    if (body.length > 0) throw new S3Error('UnexpectedContent');
    return fromHeaders;
  }
  if (body.length === 0) throw new S3Error('MissingSecurityHeader', 'Your request was missing a required header', { fields: { MissingHeaderName: 'x-amz-acl' } });
  const policy = parseAccessControlPolicy(body);
  if (policy.owner.id !== owner) throw new S3Error('AccessDenied');
  const grants = await resolveGrants(catalog, policy.grants);
  const canned = cannedOf(policy.grants, owner, bucketOwner);
  return canned !== undefined ? { acl: canned } : { grants };
}

/** The AccessControlPolicy document of a resource (GetBucketAcl / GetObjectAcl). */
export function aclXml(owner: Owner, res: AclFields, bucketOwner?: Owner): string {
  return accessControlPolicyXml(policyOf(owner, res, bucketOwner));
}
