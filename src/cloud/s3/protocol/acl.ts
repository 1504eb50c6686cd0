/**
 * ACLs in requests: the `x-amz-grant-*` headers (with `x-amz-acl`, of which they are the explicit
 * alternative) and the checks S3 makes on a grant list before resolving its grantees. The
 * AccessControlPolicy document itself is parsed and written by xml.ts.
 *
 * A grant header holds a comma-separated list of `type=value` pairs, the value optionally in
 * double quotes: `x-amz-grant-read: id="79a5…", uri="http://acs.amazonaws.com/groups/global/AllUsers"`.
 * The types are `id` (a canonical user id), `uri` (a predefined group) and `emailAddress`.
 */
import { S3Error } from './errors.ts';
import { getHeader } from './headers.ts';
import type { HeaderMap } from './headers.ts';
import { parseCannedAcl } from './request.ts';
import type { CannedAcl } from './request.ts';
import { ACL_GROUPS } from './xml.ts';
import type { Grant, Grantee, Permission } from './xml.ts';

/** The grant headers and the permission each one grants, in the order their grants are listed. */
export const GRANT_HEADER_PERMISSIONS = {
  'x-amz-grant-read': 'READ',
  'x-amz-grant-write': 'WRITE',
  'x-amz-grant-read-acp': 'READ_ACP',
  'x-amz-grant-write-acp': 'WRITE_ACP',
  'x-amz-grant-full-control': 'FULL_CONTROL',
} as const satisfies Record<string, Permission>;

/** A grant header's name. */
export type GrantHeader = keyof typeof GRANT_HEADER_PERMISSIONS;

/** Every grant header (PutBucketAcl, PutObjectAcl, CreateBucket). */
export const ALL_GRANT_HEADERS = Object.keys(GRANT_HEADER_PERMISSIONS) as GrantHeader[];

/**
 * The grant headers of the object writes (PutObject, CopyObject, CreateMultipartUpload): S3's API
 * has no `x-amz-grant-write` there (WRITE means nothing on an object), so it is not read.
 */
export const OBJECT_WRITE_GRANT_HEADERS: readonly GrantHeader[] = ['x-amz-grant-read', 'x-amz-grant-read-acp', 'x-amz-grant-write-acp', 'x-amz-grant-full-control'];

/** Most grants an ACL may hold (S3's limit). */
export const MAX_GRANTS = 100;

/** The predefined groups' URIs. */
const GROUP_URIS: ReadonlySet<string> = new Set(Object.values(ACL_GROUPS));

function unrecognized(header: string, value: string): S3Error {
  return new S3Error('InvalidArgument', 'Argument format not recognized', { fields: { ArgumentName: header, ArgumentValue: value } });
}

/**
 * Parses the value of one grant header into its grantees, in order. Anything but a list of
 * `id=`, `uri=` or `emailAddress=` pairs (type names in any case, values quoted or not, commas
 * between) is `InvalidArgument` naming the header.
 */
export function parseGranteeList(header: string, value: string): Grantee[] {
  const out: Grantee[] = [];
  let i = 0;
  const n = value.length;
  const skipSpace = (): void => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  for (;;) {
    skipSpace();
    const typeStart = i;
    while (i < n && /[A-Za-z]/.test(value[i]!)) i++;
    const type = value.slice(typeStart, i).toLowerCase();
    skipSpace();
    if (type === '' || value[i] !== '=') throw unrecognized(header, value);
    i++;
    skipSpace();
    let v: string;
    if (value[i] === '"') {
      const close = value.indexOf('"', i + 1);
      if (close < 0) throw unrecognized(header, value);
      v = value.slice(i + 1, close);
      i = close + 1;
    } else {
      const start = i;
      while (i < n && value[i] !== ',') i++;
      v = value.slice(start, i).trim();
    }
    if (v === '') throw unrecognized(header, value);
    if (type === 'id') out.push({ type: 'CanonicalUser', id: v });
    else if (type === 'uri') out.push({ type: 'Group', uri: v });
    else if (type === 'emailaddress') out.push({ type: 'AmazonCustomerByEmail', emailAddress: v });
    else throw unrecognized(header, value);
    skipSpace();
    if (i >= n) return out;
    if (value[i] !== ',') throw unrecognized(header, value);
    i++;
  }
}

/**
 * The grants of a request's `x-amz-grant-*` headers among `allowed` (in the order of
 * {@link GRANT_HEADER_PERMISSIONS}, each header's grantees in order); undefined when it has none.
 */
export function parseGrantHeaders(headers: HeaderMap, allowed: readonly GrantHeader[] = ALL_GRANT_HEADERS): Grant[] | undefined {
  let grants: Grant[] | undefined;
  for (const header of ALL_GRANT_HEADERS) {
    if (!allowed.includes(header)) continue;
    const value = getHeader(headers, header);
    if (value === undefined) continue;
    const permission = GRANT_HEADER_PERMISSIONS[header];
    grants ??= [];
    for (const grantee of parseGranteeList(header, value)) grants.push({ grantee, permission });
  }
  if (grants && grants.length > MAX_GRANTS) throw tooManyGrants();
  return grants;
}

/** The ACL a request asks for in its headers: a canned ACL, explicit grants, or neither. */
export type RequestAcl = { canned: CannedAcl; grants?: undefined } | { canned?: undefined; grants: Grant[] };

/**
 * Reads `x-amz-acl` and the `x-amz-grant-*` headers among `allowed`: both together are
 * `InvalidRequest` (as S3 answers); undefined when there are neither. Grantees are checked for
 * form only ({@link checkGrants} and resolving them are the caller's).
 */
export function parseRequestAcl(headers: HeaderMap, allowed: readonly GrantHeader[] = ALL_GRANT_HEADERS): RequestAcl | undefined {
  const canned = parseCannedAcl(headers);
  if (canned !== undefined) return { canned };
  const grants = parseGrantHeaders(headers, allowed);
  return grants === undefined ? undefined : { grants };
}

function tooManyGrants(): S3Error {
  return new S3Error('MalformedACLError', `An ACL may hold at most ${MAX_GRANTS} grants.`);
}

/**
 * Checks what S3 checks of a grant list before looking grantees up: at most {@link MAX_GRANTS}
 * grants (`MalformedACLError`) and group grantees that are predefined groups
 * (`InvalidArgument`, "Invalid group uri").
 */
export function checkGrants(grants: readonly Grant[]): void {
  if (grants.length > MAX_GRANTS) throw tooManyGrants();
  for (const g of grants) {
    if (g.grantee.type === 'Group' && !GROUP_URIS.has(g.grantee.uri)) {
      throw new S3Error('InvalidArgument', 'Invalid group uri', { fields: { ArgumentName: 'Group/URI', ArgumentValue: g.grantee.uri } });
    }
  }
}
