/**
 * ACLs in requests: the `x-amz-grant-*` header parser (as the AWS SDK writes the headers, and
 * every malformed form), `x-amz-acl` against grant headers, grant-list checks, and the
 * AccessControlPolicy parser on documents as clients write them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, PutObjectAclCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  ALL_GRANT_HEADERS,
  MAX_GRANTS,
  OBJECT_WRITE_GRANT_HEADERS,
  checkGrants,
  parseGrantHeaders,
  parseGranteeList,
  parseRequestAcl,
} from '../../../../src/cloud/s3/protocol/acl.ts';
import { ACL_GROUPS, S3Error, parseAccessControlPolicy } from '../../../../src/cloud/s3/protocol/index.ts';
import type { Grant } from '../../../../src/cloud/s3/protocol/index.ts';
import { capture } from './sdk-capture.ts';

function s3code(code: string, message?: string, fields?: Record<string, string>) {
  return (err: unknown) => {
    assert.ok(err instanceof S3Error, `expected S3Error ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.equal(err.message, message);
    if (fields !== undefined) assert.deepEqual(err.fields, fields);
    return true;
  };
}

const ALICE = '79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be';
const BOB = 'be2fe74dc7e8125d8f8fcae89d90e6dfdecabf896e1a69d55e949b009fd95a97';

describe('x-amz-grant-* headers', () => {
  test('grantee lists: ids, group URIs and e-mail addresses, quoted or not, any spacing, type names in any case', () => {
    assert.deepEqual(parseGranteeList('x-amz-grant-read', `id="${ALICE}"`), [{ type: 'CanonicalUser', id: ALICE }]);
    assert.deepEqual(parseGranteeList('x-amz-grant-read', `id="${ALICE}", uri="${ACL_GROUPS.AllUsers}",emailAddress="a@example.com"`), [
      { type: 'CanonicalUser', id: ALICE },
      { type: 'Group', uri: ACL_GROUPS.AllUsers },
      { type: 'AmazonCustomerByEmail', emailAddress: 'a@example.com' },
    ]);
    assert.deepEqual(parseGranteeList('x-amz-grant-read', ` ID = ${BOB} ,  URI=${ACL_GROUPS.AuthenticatedUsers} `), [
      { type: 'CanonicalUser', id: BOB },
      { type: 'Group', uri: ACL_GROUPS.AuthenticatedUsers },
    ]);
    assert.deepEqual(parseGranteeList('x-amz-grant-read', 'emailaddress="x,y@example.com"'), [{ type: 'AmazonCustomerByEmail', emailAddress: 'x,y@example.com' }], 'a comma inside quotes is part of the value');
  });

  test('malformed lists are InvalidArgument naming the header', () => {
    for (const value of ['', ' ', ALICE, `id=`, `id=""`, `id="${ALICE}`, `user="${ALICE}"`, `id="${ALICE}" uri="${ACL_GROUPS.AllUsers}"`, `id="${ALICE}",`, `,id="${ALICE}"`, `="x"`, `id:"${ALICE}"`]) {
      assert.throws(() => parseGranteeList('x-amz-grant-write', value), s3code('InvalidArgument', 'Argument format not recognized', { ArgumentName: 'x-amz-grant-write', ArgumentValue: value }), JSON.stringify(value));
    }
  });

  test('every header grants its permission, in a fixed order; object writes do not read x-amz-grant-write', () => {
    const headers = {
      'x-amz-grant-full-control': `id="${ALICE}"`,
      'x-amz-grant-write-acp': `id="${BOB}"`,
      'x-amz-grant-read-acp': `uri="${ACL_GROUPS.AuthenticatedUsers}"`,
      'x-amz-grant-write': `uri="${ACL_GROUPS.AllUsers}"`,
      'x-amz-grant-read': `id="${BOB}", uri="${ACL_GROUPS.AllUsers}"`,
    };
    const all = parseGrantHeaders(headers);
    assert.deepEqual(
      all?.map((g) => [g.permission, g.grantee.type === 'CanonicalUser' ? g.grantee.id : g.grantee.type === 'Group' ? g.grantee.uri : '?']),
      [
        ['READ', BOB],
        ['READ', ACL_GROUPS.AllUsers],
        ['WRITE', ACL_GROUPS.AllUsers],
        ['READ_ACP', ACL_GROUPS.AuthenticatedUsers],
        ['WRITE_ACP', BOB],
        ['FULL_CONTROL', ALICE],
      ],
    );
    assert.deepEqual(parseGrantHeaders(headers, OBJECT_WRITE_GRANT_HEADERS)?.map((g) => g.permission), ['READ', 'READ', 'READ_ACP', 'WRITE_ACP', 'FULL_CONTROL']);
    assert.equal(parseGrantHeaders({ 'x-amz-acl': 'private' }), undefined);
    assert.equal(parseGrantHeaders({ 'x-amz-grant-write': `id="${ALICE}"` }, OBJECT_WRITE_GRANT_HEADERS), undefined);
    assert.equal(ALL_GRANT_HEADERS.length, 5);
    const many = Array.from({ length: MAX_GRANTS + 1 }, () => `id="${ALICE}"`).join(',');
    assert.throws(() => parseGrantHeaders({ 'x-amz-grant-read': many }), s3code('MalformedACLError'));
    assert.equal(parseGrantHeaders({ 'x-amz-grant-read': Array.from({ length: MAX_GRANTS }, () => `id="${ALICE}"`).join(',') })?.length, MAX_GRANTS);
  });

  test('x-amz-acl or grant headers, not both (InvalidRequest)', () => {
    assert.equal(parseRequestAcl({}), undefined);
    assert.deepEqual(parseRequestAcl({ 'x-amz-acl': 'public-read' }), { canned: 'public-read' });
    assert.deepEqual(parseRequestAcl({ 'x-amz-grant-read': `id="${ALICE}"` }), { grants: [{ grantee: { type: 'CanonicalUser', id: ALICE }, permission: 'READ' }] });
    assert.throws(
      () => parseRequestAcl({ 'x-amz-acl': 'private', 'x-amz-grant-read-acp': `id="${ALICE}"` }),
      s3code('InvalidRequest', 'Specifying both Canned ACLs and Header Grants is not allowed'),
    );
    assert.throws(() => parseRequestAcl({ 'x-amz-acl': 'nope' }), s3code('InvalidArgument'));
  });

  test('the AWS SDK writes grant headers this parser reads', async () => {
    const put = await capture(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x', GrantRead: `id="${BOB}",uri="${ACL_GROUPS.AllUsers}"`, GrantFullControl: `id=${ALICE}` }));
    assert.deepEqual(parseRequestAcl(put.headers, OBJECT_WRITE_GRANT_HEADERS), {
      grants: [
        { grantee: { type: 'CanonicalUser', id: BOB }, permission: 'READ' },
        { grantee: { type: 'Group', uri: ACL_GROUPS.AllUsers }, permission: 'READ' },
        { grantee: { type: 'CanonicalUser', id: ALICE }, permission: 'FULL_CONTROL' },
      ],
    });
    const create = await capture(new CreateBucketCommand({ Bucket: 'b', GrantWrite: `uri="${ACL_GROUPS.AuthenticatedUsers}"`, GrantReadACP: `id="${BOB}"` }));
    assert.deepEqual(parseRequestAcl(create.headers)?.grants?.map((g) => g.permission), ['WRITE', 'READ_ACP']);
  });

  test('grant lists: predefined groups only, at most 100 grants', () => {
    const grant = (uri: string): Grant => ({ grantee: { type: 'Group', uri }, permission: 'READ' });
    checkGrants([grant(ACL_GROUPS.AllUsers), grant(ACL_GROUPS.AuthenticatedUsers), grant(ACL_GROUPS.LogDelivery)]);
    assert.throws(() => checkGrants([grant('http://acs.amazonaws.com/groups/global/Everybody')]), s3code('InvalidArgument', 'Invalid group uri', { ArgumentName: 'Group/URI', ArgumentValue: 'http://acs.amazonaws.com/groups/global/Everybody' }));
    assert.throws(() => checkGrants(Array.from({ length: MAX_GRANTS + 1 }, () => grant(ACL_GROUPS.AllUsers))), s3code('MalformedACLError'));
  });
});

describe('AccessControlPolicy documents', () => {
  test('as the AWS SDK writes them for PutObjectAcl: every grantee type and permission, in order', async () => {
    const req = await capture(
      new PutObjectAclCommand({
        Bucket: 'b',
        Key: 'k',
        AccessControlPolicy: {
          Owner: { ID: ALICE, DisplayName: 'alice' },
          Grants: [
            { Grantee: { Type: 'CanonicalUser', ID: ALICE, DisplayName: 'alice' }, Permission: 'FULL_CONTROL' },
            { Grantee: { Type: 'CanonicalUser', ID: BOB }, Permission: 'READ' },
            { Grantee: { Type: 'Group', URI: ACL_GROUPS.AllUsers }, Permission: 'READ_ACP' },
            { Grantee: { Type: 'Group', URI: ACL_GROUPS.AuthenticatedUsers }, Permission: 'WRITE_ACP' },
            { Grantee: { Type: 'AmazonCustomerByEmail', EmailAddress: 'b@example.com' }, Permission: 'WRITE' },
          ],
        },
      }),
    );
    assert.deepEqual(parseAccessControlPolicy(req.body), {
      owner: { id: ALICE, displayName: 'alice' },
      grants: [
        { grantee: { type: 'CanonicalUser', id: ALICE, displayName: 'alice' }, permission: 'FULL_CONTROL' },
        { grantee: { type: 'CanonicalUser', id: BOB }, permission: 'READ' },
        { grantee: { type: 'Group', uri: ACL_GROUPS.AllUsers }, permission: 'READ_ACP' },
        { grantee: { type: 'Group', uri: ACL_GROUPS.AuthenticatedUsers }, permission: 'WRITE_ACP' },
        { grantee: { type: 'AmazonCustomerByEmail', emailAddress: 'b@example.com' }, permission: 'WRITE' },
      ],
    });
  });

  test('any namespace prefix for xsi, the S3 namespace or none, the list before the owner', () => {
    const doc =
      `<?xml version="1.0"?><AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><AccessControlList>` +
      `<Grant><Grantee xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="Group"><URI> ${ACL_GROUPS.AllUsers} </URI></Grantee><Permission>READ</Permission></Grant>` +
      `</AccessControlList><Owner><ID>${ALICE}</ID></Owner></AccessControlPolicy>`;
    assert.deepEqual(parseAccessControlPolicy(doc), { owner: { id: ALICE }, grants: [{ grantee: { type: 'Group', uri: ACL_GROUPS.AllUsers }, permission: 'READ' }] });
  });

  test('documents that are not ACLs are MalformedACLError', () => {
    const grantee = (type: string, inner: string) => `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="${type}">${inner}</Grantee>`;
    const wrap = (grants: string) => `<AccessControlPolicy><Owner><ID>${ALICE}</ID></Owner><AccessControlList>${grants}</AccessControlList></AccessControlPolicy>`;
    for (const bad of [
      'not xml at all',
      '<AccessControlPolicy><Owner><ID>x</ID></Owner>',
      '<AccessControlPolicy><AccessControlList/></AccessControlPolicy>',
      `<AccessControlPolicy><Owner><DisplayName>x</DisplayName></Owner></AccessControlPolicy>`,
      wrap(`<Grant>${grantee('CanonicalUser', `<ID>${BOB}</ID>`)}</Grant>`),
      wrap(`<Grant><Permission>READ</Permission></Grant>`),
      wrap(`<Grant>${grantee('CanonicalUser', `<ID>${BOB}</ID>`)}<Permission>read</Permission></Grant>`),
      wrap(`<Grant>${grantee('CanonicalUser', `<URI>${ACL_GROUPS.AllUsers}</URI>`)}<Permission>READ</Permission></Grant>`),
      wrap(`<Grant>${grantee('Group', `<ID>${BOB}</ID>`)}<Permission>READ</Permission></Grant>`),
      wrap(`<Grant>${grantee('AmazonCustomerByEmail', '')}<Permission>READ</Permission></Grant>`),
      wrap(`<Grant>${grantee('Robot', `<ID>${BOB}</ID>`)}<Permission>READ</Permission></Grant>`),
      `<!DOCTYPE x [<!ENTITY e "y">]>${wrap('')}`,
    ]) {
      assert.throws(() => parseAccessControlPolicy(bad), s3code('MalformedACLError'), bad);
    }
  });
});
