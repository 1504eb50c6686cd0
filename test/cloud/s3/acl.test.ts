/**
 * S3 ACL grants through the AWS SDK on a 3-node loopback ring, with two users (alice owns, bob
 * is granted) and anonymous requests: `x-amz-grant-*` headers on CreateBucket, PutObject,
 * CopyObject, CreateMultipartUpload, PutBucketAcl and PutObjectAcl; AccessControlPolicy
 * documents; what READ, WRITE, READ_ACP, WRITE_ACP and FULL_CONTROL allow on buckets and
 * objects, to a user by id, to AllUsers and to AuthenticatedUsers; GetBucketAcl / GetObjectAcl
 * documents as S3 writes them; and the errors S3 answers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketOwnershipControlsCommand,
  DeleteObjectCommand,
  DeletePublicAccessBlockCommand,
  GetBucketAclCommand,
  GetBucketOwnershipControlsCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { Grant, S3Client } from '@aws-sdk/client-s3';
import { ACL_GROUPS } from '../../../src/cloud/s3/protocol/index.ts';
import { ids } from '../../../src/cloud/s3/model.ts';
import type { AccessKeyEntry, UserEntry, UserIdEntry } from '../../../src/cloud/s3/model.ts';
import { bytes, clientFor, rawRequest, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { waitFor } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const ALL = ACL_GROUPS.AllUsers;
const AUTHENTICATED = ACL_GROUPS.AuthenticatedUsers;

/** Grants as [grantee id or URI, display name, permission]. */
function summary(grants: Grant[] | undefined): [string | undefined, string | undefined, string | undefined][] {
  return (grants ?? []).map((g) => [g.Grantee?.ID ?? g.Grantee?.URI, g.Grantee?.DisplayName, g.Permission]);
}

describe('S3 ACL grants through the AWS SDK on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let bob: TestUser;
  /** Alice's client on each node. */
  let a: S3Client[];
  /** Bob's client on each node. */
  let b: S3Client[];
  let anon: S3Client;

  async function read(client: S3Client, bucket: string, key: string): Promise<string> {
    return (await bytes((await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body)).toString();
  }

  /** A raw `?acl` request by `user` (the exact document and error codes). */
  async function rawAcl(user: TestUser | undefined, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; code: string | undefined; text: string }> {
    const data = body === undefined ? undefined : Buffer.from(body);
    const h = { ...headers, ...(data ? { 'content-md5': createHash('md5').update(data).digest('base64') } : {}) };
    const r = await rawRequest(nodes[1]!.endpoint, user, { method, path, query: { acl: '' }, headers: h, ...(data ? { body: data } : {}) });
    const text = r.body.toString();
    return { status: r.status, code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1], text };
  }

  function policy(owner: string, grants: string): string {
    return (
      `<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>${owner}</ID></Owner>` +
      `<AccessControlList>${grants}</AccessControlList></AccessControlPolicy>`
    );
  }

  function grantXml(type: 'CanonicalUser' | 'Group' | 'AmazonCustomerByEmail', value: string, permission: string): string {
    const inner = type === 'CanonicalUser' ? `<ID>${value}</ID>` : type === 'Group' ? `<URI>${value}</URI>` : `<EmailAddress>${value}</EmailAddress>`;
    return `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="${type}">${inner}</Grantee><Permission>${permission}</Permission></Grant>`;
  }

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn));
    ({ nodes, alice, bob, aliceClients: a, bobClients: b } = fixture);
    anon = fixture.anonymousClients[2]!;
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('bucket READ by id (CreateBucket headers): the grantee lists, nobody else; the ACL is exactly the grants given', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'read-by-id', GrantRead: `id="${bob.id}"`, GrantFullControl: `id="${alice.id}"` }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'read-by-id', Key: 'doc', Body: 'alice doc' }));
    const listed = await b[1]!.send(new ListObjectsV2Command({ Bucket: 'read-by-id' }));
    assert.deepEqual(listed.Contents?.map((c) => c.Key), ['doc']);
    assert.equal((await b[2]!.send(new HeadBucketCommand({ Bucket: 'read-by-id' }))).$metadata.httpStatusCode, 200);
    await s3failure(anon.send(new ListObjectsV2Command({ Bucket: 'read-by-id' })), 'AccessDenied', 403);
    await s3failure(b[0]!.send(new PutObjectCommand({ Bucket: 'read-by-id', Key: 'x', Body: 'x' })), 'AccessDenied', 403);
    await s3failure(b[0]!.send(new GetObjectCommand({ Bucket: 'read-by-id', Key: 'doc' })), 'AccessDenied', 403); // bucket READ does not read objects
    await s3failure(b[0]!.send(new GetBucketAclCommand({ Bucket: 'read-by-id' })), 'AccessDenied', 403); // READ is not READ_ACP
    const acl = await a[2]!.send(new GetBucketAclCommand({ Bucket: 'read-by-id' }));
    assert.deepEqual(acl.Owner, { ID: alice.id, DisplayName: 'alice' });
    assert.deepEqual(summary(acl.Grants), [
      [bob.id, 'bob', 'READ'],
      [alice.id, 'alice', 'FULL_CONTROL'],
    ]);
    // Only the grants given: the owner keeps every right on the bucket even without one.
    await a[1]!.send(new PutBucketAclCommand({ Bucket: 'read-by-id', GrantRead: `id="${bob.id}"` }));
    assert.deepEqual(summary((await a[0]!.send(new GetBucketAclCommand({ Bucket: 'read-by-id' }))).Grants), [[bob.id, 'bob', 'READ']]);
    await a[2]!.send(new PutObjectCommand({ Bucket: 'read-by-id', Key: 'doc2', Body: 'x' }));
    assert.equal((await a[0]!.send(new ListObjectsV2Command({ Bucket: 'read-by-id' }))).KeyCount, 2);
  });

  test('bucket WRITE (PutBucketAcl headers): the grantee writes and deletes objects and owns what it writes; revoking ends it', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'write-grant' }));
    await s3failure(b[1]!.send(new PutObjectCommand({ Bucket: 'write-grant', Key: 'from-bob', Body: 'x' })), 'AccessDenied', 403);
    await a[0]!.send(new PutBucketAclCommand({ Bucket: 'write-grant', GrantWrite: `id="${bob.id}"`, GrantFullControl: `id="${alice.id}"` }));
    // A grant counts at once on every node (a refusal is re-checked on a fresh record).
    await b[1]!.send(new PutObjectCommand({ Bucket: 'write-grant', Key: 'from-bob', Body: 'hello alice' }));
    await b[2]!.send(new DeleteObjectCommand({ Bucket: 'write-grant', Key: 'from-bob' }));
    await b[2]!.send(new PutObjectCommand({ Bucket: 'write-grant', Key: 'from-bob', Body: 'hello again' }));
    await s3failure(b[0]!.send(new ListObjectsV2Command({ Bucket: 'write-grant' })), 'AccessDenied', 403); // WRITE is not READ
    assert.equal(await read(b[0]!, 'write-grant', 'from-bob'), 'hello again', 'bob reads what he owns');
    assert.equal(await read(a[1]!, 'write-grant', 'from-bob'), 'hello again', 'the bucket owner reads it too');
    assert.equal((await a[0]!.send(new GetObjectAclCommand({ Bucket: 'write-grant', Key: 'from-bob' }))).Owner?.ID, bob.id);
    await s3failure(anon.send(new PutObjectCommand({ Bucket: 'write-grant', Key: 'anon', Body: 'x' })), 'AccessDenied', 403);
    // Revoked through node 0; node 1 may have the old record cached for up to cacheMs.
    await a[0]!.send(new PutBucketAclCommand({ Bucket: 'write-grant', ACL: 'private' }));
    await s3failure(b[0]!.send(new PutObjectCommand({ Bucket: 'write-grant', Key: 'late', Body: 'x' })), 'AccessDenied', 403);
    await waitFor(
      async () => {
        try {
          await b[1]!.send(new DeleteObjectCommand({ Bucket: 'write-grant', Key: 'never' }));
          return false;
        } catch (err) {
          return (err as { name?: string }).name === 'AccessDenied';
        }
      },
      { timeoutMs: 10_000, what: 'the revocation to reach node 1' },
    );
  });

  test('AllUsers and AuthenticatedUsers: bucket WRITE for everyone, object READ for the authenticated, object READ for all', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'groups', GrantWrite: `uri="${ALL}"`, GrantRead: `uri="${AUTHENTICATED}"` }));
    await anon.send(new PutObjectCommand({ Bucket: 'groups', Key: 'dropped', Body: 'anonymous drop' }));
    await s3failure(anon.send(new ListObjectsV2Command({ Bucket: 'groups' })), 'AccessDenied', 403);
    assert.deepEqual((await b[0]!.send(new ListObjectsV2Command({ Bucket: 'groups' }))).Contents?.map((c) => c.Key), ['dropped']);

    await a[1]!.send(new PutObjectCommand({ Bucket: 'groups', Key: 'members', Body: 'for members', GrantRead: `uri="${AUTHENTICATED}"` }));
    await a[1]!.send(new PutObjectCommand({ Bucket: 'groups', Key: 'public', Body: 'for all', GrantRead: `uri="${ALL}"`, GrantFullControl: `id="${alice.id}"` }));
    assert.equal(await read(b[2]!, 'groups', 'members'), 'for members');
    await s3failure(anon.send(new GetObjectCommand({ Bucket: 'groups', Key: 'members' })), 'AccessDenied', 403);
    await s3failure(anon.send(new HeadObjectCommand({ Bucket: 'groups', Key: 'members' })), undefined, 403);
    assert.equal(await read(anon, 'groups', 'public'), 'for all');
    assert.equal((await anon.send(new HeadObjectCommand({ Bucket: 'groups', Key: 'public' }))).ContentLength, 7);
    assert.equal(await (await fetch(`${nodes[0]!.endpoint}/groups/public`)).text(), 'for all', 'a plain anonymous GET');
    const acl = await a[0]!.send(new GetObjectAclCommand({ Bucket: 'groups', Key: 'public' }));
    assert.deepEqual(summary(acl.Grants), [
      [ALL, undefined, 'READ'],
      [alice.id, 'alice', 'FULL_CONTROL'],
    ]);
    assert.deepEqual(
      acl.Grants?.map((g) => g.Grantee?.Type),
      ['Group', 'CanonicalUser'],
    );
  });

  test('object READ by id, READ_ACP and WRITE_ACP: each allows what it names, FULL_CONTROL all of them', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'object-grants' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'object-grants', Key: 'read', Body: 'readable', GrantRead: `id="${bob.id}"` }));
    assert.equal(await read(b[1]!, 'object-grants', 'read'), 'readable');
    assert.equal((await b[2]!.send(new HeadObjectCommand({ Bucket: 'object-grants', Key: 'read' }))).ContentLength, 8);
    await s3failure(anon.send(new GetObjectCommand({ Bucket: 'object-grants', Key: 'read' })), 'AccessDenied', 403);
    await s3failure(b[0]!.send(new GetObjectAclCommand({ Bucket: 'object-grants', Key: 'read' })), 'AccessDenied', 403); // READ is not READ_ACP
    await s3failure(b[0]!.send(new PutObjectCommand({ Bucket: 'object-grants', Key: 'read', Body: 'x' })), 'AccessDenied', 403); // object grants do not open the bucket

    await a[0]!.send(new PutObjectCommand({ Bucket: 'object-grants', Key: 'acp', Body: 'acp', GrantReadACP: `id="${bob.id}"` }));
    const seen = await b[1]!.send(new GetObjectAclCommand({ Bucket: 'object-grants', Key: 'acp' }));
    assert.deepEqual(seen.Owner, { ID: alice.id, DisplayName: 'alice' });
    assert.deepEqual(summary(seen.Grants), [[bob.id, 'bob', 'READ_ACP']]);
    await s3failure(b[1]!.send(new GetObjectCommand({ Bucket: 'object-grants', Key: 'acp' })), 'AccessDenied', 403); // READ_ACP does not read the data
    await s3failure(b[1]!.send(new PutObjectAclCommand({ Bucket: 'object-grants', Key: 'acp', ACL: 'public-read' })), 'AccessDenied', 403); // READ_ACP is not WRITE_ACP

    // WRITE_ACP by PutObjectAcl headers: bob may change the ACL (and so give himself READ).
    await a[2]!.send(new PutObjectAclCommand({ Bucket: 'object-grants', Key: 'acp', GrantWriteACP: `id="${bob.id}"` }));
    await s3failure(b[0]!.send(new GetObjectAclCommand({ Bucket: 'object-grants', Key: 'acp' })), 'AccessDenied', 403); // WRITE_ACP is not READ_ACP
    await b[0]!.send(new PutObjectAclCommand({ Bucket: 'object-grants', Key: 'acp', GrantRead: `id="${bob.id}"`, GrantWriteACP: `id="${bob.id}"` }));
    assert.equal(await read(b[0]!, 'object-grants', 'acp'), 'acp');
    assert.equal((await a[0]!.send(new GetObjectAclCommand({ Bucket: 'object-grants', Key: 'acp' }))).Owner?.ID, alice.id, 'the owner stays');

    await a[0]!.send(new PutObjectCommand({ Bucket: 'object-grants', Key: 'full', Body: 'full', GrantFullControl: `id="${bob.id}"` }));
    assert.equal(await read(b[2]!, 'object-grants', 'full'), 'full');
    assert.deepEqual(summary((await b[2]!.send(new GetObjectAclCommand({ Bucket: 'object-grants', Key: 'full' }))).Grants), [[bob.id, 'bob', 'FULL_CONTROL']]);
    await b[2]!.send(new PutObjectAclCommand({ Bucket: 'object-grants', Key: 'full', ACL: 'public-read' }));
    assert.equal(await read(anon, 'object-grants', 'full'), 'full');
    await s3failure(b[2]!.send(new GetObjectAclCommand({ Bucket: 'object-grants', Key: 'full' })), 'AccessDenied', 403); // bob gave his FULL_CONTROL away
  });

  test('bucket READ_ACP / WRITE_ACP / FULL_CONTROL; an AccessControlPolicy must name the bucket owner', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'bucket-acp', GrantReadACP: `id="${bob.id}"`, GrantFullControl: `id="${alice.id}"` }));
    assert.equal((await b[1]!.send(new GetBucketAclCommand({ Bucket: 'bucket-acp' }))).Grants?.length, 2);
    await s3failure(b[1]!.send(new PutBucketAclCommand({ Bucket: 'bucket-acp', ACL: 'public-read' })), 'AccessDenied', 403);
    await s3failure(b[1]!.send(new ListObjectsV2Command({ Bucket: 'bucket-acp' })), 'AccessDenied', 403);

    await a[2]!.send(
      new PutBucketAclCommand({
        Bucket: 'bucket-acp',
        AccessControlPolicy: {
          Owner: { ID: alice.id },
          Grants: [
            { Grantee: { Type: 'CanonicalUser', ID: alice.id }, Permission: 'FULL_CONTROL' },
            { Grantee: { Type: 'CanonicalUser', ID: bob.id }, Permission: 'WRITE_ACP' },
          ],
        },
      }),
    );
    await s3failure(b[0]!.send(new GetBucketAclCommand({ Bucket: 'bucket-acp' })), 'AccessDenied', 403); // WRITE_ACP is not READ_ACP
    // Bob may rewrite the ACL, not take the bucket.
    const taking = policy(bob.id, grantXml('CanonicalUser', bob.id, 'FULL_CONTROL'));
    const taken = await rawAcl(bob, 'PUT', '/bucket-acp', { 'content-type': 'application/xml' }, taking);
    assert.deepEqual([taken.status, taken.code], [403, 'AccessDenied']);
    await b[0]!.send(
      new PutBucketAclCommand({
        Bucket: 'bucket-acp',
        AccessControlPolicy: { Owner: { ID: alice.id }, Grants: [{ Grantee: { Type: 'CanonicalUser', ID: bob.id }, Permission: 'FULL_CONTROL' }] },
      }),
    );
    const now = await b[1]!.send(new GetBucketAclCommand({ Bucket: 'bucket-acp' }));
    assert.deepEqual(now.Owner?.ID, alice.id);
    assert.deepEqual(summary(now.Grants), [[bob.id, 'bob', 'FULL_CONTROL']]);
    await b[2]!.send(new PutObjectCommand({ Bucket: 'bucket-acp', Key: 'bobs', Body: 'b' }));
    assert.deepEqual((await b[2]!.send(new ListObjectsV2Command({ Bucket: 'bucket-acp' }))).Contents?.map((c) => c.Key), ['bobs']);
    // The owner keeps every right without a grant of their own.
    await a[1]!.send(new PutBucketAclCommand({ Bucket: 'bucket-acp', ACL: 'private' }));
    assert.deepEqual(summary((await a[1]!.send(new GetBucketAclCommand({ Bucket: 'bucket-acp' }))).Grants), [[alice.id, 'alice', 'FULL_CONTROL']]);
  });

  test('AccessControlPolicy documents: read back exactly as written; one equal to a canned ACL is that ACL', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'policies' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'policies', Key: 'doc', Body: 'policy doc' }));
    const grants: Grant[] = [
      { Grantee: { Type: 'Group', URI: AUTHENTICATED }, Permission: 'READ' },
      { Grantee: { Type: 'CanonicalUser', ID: bob.id }, Permission: 'READ_ACP' },
      { Grantee: { Type: 'CanonicalUser', ID: alice.id }, Permission: 'FULL_CONTROL' },
      { Grantee: { Type: 'Group', URI: ALL }, Permission: 'WRITE_ACP' },
    ];
    await a[1]!.send(new PutObjectAclCommand({ Bucket: 'policies', Key: 'doc', AccessControlPolicy: { Owner: { ID: alice.id }, Grants: grants } }));
    const back = await b[2]!.send(new GetObjectAclCommand({ Bucket: 'policies', Key: 'doc' }));
    assert.deepEqual(summary(back.Grants), [
      [AUTHENTICATED, undefined, 'READ'],
      [bob.id, 'bob', 'READ_ACP'],
      [alice.id, 'alice', 'FULL_CONTROL'],
      [ALL, undefined, 'WRITE_ACP'],
    ]);
    assert.equal(await read(b[0]!, 'policies', 'doc'), 'policy doc');
    await s3failure(anon.send(new GetObjectCommand({ Bucket: 'policies', Key: 'doc' })), 'AccessDenied', 403);
    // AllUsers has WRITE_ACP: even an anonymous request may replace the ACL.
    await anon.send(new PutObjectAclCommand({ Bucket: 'policies', Key: 'doc', ACL: 'public-read' }));
    assert.equal(await read(anon, 'policies', 'doc'), 'policy doc');
    // The canned form of public-read as a document: stored as the canned ACL, reads back the same.
    const canned = await a[0]!.send(new GetObjectAclCommand({ Bucket: 'policies', Key: 'doc' }));
    await a[0]!.send(new PutObjectAclCommand({ Bucket: 'policies', Key: 'doc', AccessControlPolicy: { Owner: canned.Owner, Grants: canned.Grants } }));
    assert.deepEqual(summary((await a[0]!.send(new GetObjectAclCommand({ Bucket: 'policies', Key: 'doc' }))).Grants), [
      [alice.id, 'alice', 'FULL_CONTROL'],
      [ALL, undefined, 'READ'],
    ]);
    await a[0]!.send(new PutBucketAclCommand({ Bucket: 'policies', AccessControlPolicy: { Owner: { ID: alice.id }, Grants: [] } }));
    assert.deepEqual((await a[0]!.send(new GetBucketAclCommand({ Bucket: 'policies' }))).Grants ?? [], [], 'an empty list is kept as such');
    assert.equal((await a[0]!.send(new ListObjectsV2Command({ Bucket: 'policies' }))).KeyCount, 1);
  });

  test('CopyObject and CreateMultipartUpload take grant headers; the completed object has them', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'copies' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'copies', Key: 'src', Body: 'source' }));
    await a[1]!.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'copy', CopySource: 'copies/src', GrantRead: `id="${bob.id}"` }));
    assert.equal(await read(b[2]!, 'copies', 'copy'), 'source');
    await s3failure(b[2]!.send(new GetObjectCommand({ Bucket: 'copies', Key: 'src' })), 'AccessDenied', 403); // the source keeps its own ACL
    await a[1]!.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'copy2', CopySource: 'copies/copy' }));
    await s3failure(b[2]!.send(new GetObjectCommand({ Bucket: 'copies', Key: 'copy2' })), 'AccessDenied', 403); // a copy does not copy the ACL
    // Bob copies what he may read into his own bucket.
    await b[0]!.send(new CreateBucketCommand({ Bucket: 'bobs-copies' }));
    await b[0]!.send(new CopyObjectCommand({ Bucket: 'bobs-copies', Key: 'mine', CopySource: 'copies/copy' }));
    assert.equal(await read(b[1]!, 'bobs-copies', 'mine'), 'source');

    const upload = await a[2]!.send(new CreateMultipartUploadCommand({ Bucket: 'copies', Key: 'multi', GrantRead: `uri="${ALL}"`, GrantReadACP: `id="${bob.id}"` }));
    const part = await a[2]!.send(new UploadPartCommand({ Bucket: 'copies', Key: 'multi', UploadId: upload.UploadId, PartNumber: 1, Body: 'one part' }));
    await a[2]!.send(new CompleteMultipartUploadCommand({ Bucket: 'copies', Key: 'multi', UploadId: upload.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag! }] } }));
    assert.equal(await read(anon, 'copies', 'multi'), 'one part');
    assert.deepEqual(summary((await b[0]!.send(new GetObjectAclCommand({ Bucket: 'copies', Key: 'multi' }))).Grants), [
      [ALL, undefined, 'READ'],
      [bob.id, 'bob', 'READ_ACP'],
    ]);
  });

  test('GetBucketAcl and GetObjectAcl documents are as S3 writes them', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'documents', GrantRead: `id="${bob.id}", uri="${ALL}"` }));
    const got = await rawAcl(alice, 'GET', '/documents');
    assert.equal(got.status, 200);
    assert.equal(
      got.text,
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
        '<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        `<Owner><ID>${alice.id}</ID><DisplayName>alice</DisplayName></Owner>` +
        '<AccessControlList>' +
        `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>${bob.id}</ID><DisplayName>bob</DisplayName></Grantee><Permission>READ</Permission></Grant>` +
        `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>${ALL}</URI></Grantee><Permission>READ</Permission></Grant>` +
        '</AccessControlList></AccessControlPolicy>',
    );
  });

  test('errors as S3 answers them', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'errors' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'errors', Key: 'doc', Body: 'x' }));
    // A canned ACL and grant headers together.
    for (const send of [
      () => a[0]!.send(new CreateBucketCommand({ Bucket: 'errors-both', ACL: 'public-read', GrantRead: `id="${bob.id}"` })),
      () => a[0]!.send(new PutObjectCommand({ Bucket: 'errors', Key: 'both', Body: 'x', ACL: 'private', GrantReadACP: `id="${bob.id}"` })),
      () => a[0]!.send(new PutBucketAclCommand({ Bucket: 'errors', ACL: 'private', GrantWrite: `id="${bob.id}"` })),
      () => a[0]!.send(new PutObjectAclCommand({ Bucket: 'errors', Key: 'doc', ACL: 'private', GrantFullControl: `id="${bob.id}"` })),
    ]) {
      const err = await s3failure(send(), 'InvalidRequest', 400);
      assert.equal(err.message, 'Specifying both Canned ACLs and Header Grants is not allowed');
    }
    // An id that is nobody's, in a header or a document.
    const nobody = 'f'.repeat(64);
    const unknown = await s3failure(a[1]!.send(new PutObjectCommand({ Bucket: 'errors', Key: 'unknown', Body: 'x', GrantRead: `id="${nobody}"` })), 'InvalidArgument', 400);
    assert.equal(unknown.message, 'Invalid id');
    await s3failure(a[1]!.send(new HeadObjectCommand({ Bucket: 'errors', Key: 'unknown' })), undefined, 404);
    await s3failure(a[1]!.send(new CreateBucketCommand({ Bucket: 'errors-unknown', GrantWrite: `id="${nobody}"` })), 'InvalidArgument', 400);
    await s3failure(a[1]!.send(new HeadBucketCommand({ Bucket: 'errors-unknown' })), undefined, 404);
    const byDoc = await rawAcl(alice, 'PUT', '/errors/doc', {}, policy(alice.id, grantXml('CanonicalUser', 'not-an-id', 'READ')));
    assert.deepEqual([byDoc.status, byDoc.code], [400, 'InvalidArgument']);
    assert.match(byDoc.text, /<Message>Invalid id<\/Message>.*<ArgumentName>CanonicalUser\/ID<\/ArgumentName><ArgumentValue>not-an-id<\/ArgumentValue>/);
    // Grants by e-mail address: no user here has one.
    await s3failure(a[2]!.send(new PutBucketAclCommand({ Bucket: 'errors', GrantRead: 'emailAddress="bob@example.com"' })), 'UnresolvableGrantByEmailAddress', 400);
    const byEmail = await rawAcl(alice, 'PUT', '/errors', {}, policy(alice.id, grantXml('AmazonCustomerByEmail', 'bob@example.com', 'READ')));
    assert.deepEqual([byEmail.status, byEmail.code], [400, 'UnresolvableGrantByEmailAddress']);
    // Malformed headers, groups that do not exist, malformed documents.
    const badHeader = await s3failure(a[0]!.send(new PutBucketAclCommand({ Bucket: 'errors', GrantRead: bob.id })), 'InvalidArgument', 400);
    assert.equal(badHeader.message, 'Argument format not recognized');
    await s3failure(a[0]!.send(new PutObjectAclCommand({ Bucket: 'errors', Key: 'doc', GrantRead: 'uri="http://acs.amazonaws.com/groups/global/Everyone"' })), 'InvalidArgument', 400);
    for (const body of ['<AccessControlPolicy><Owner>', policy(alice.id, grantXml('CanonicalUser', bob.id, 'EVERYTHING')), '<AccessControlPolicy><AccessControlList/></AccessControlPolicy>']) {
      const r = await rawAcl(alice, 'PUT', '/errors', {}, body);
      assert.deepEqual([r.status, r.code], [400, 'MalformedACLError'], body);
    }
    // Headers and a document together; neither.
    const both = await rawAcl(alice, 'PUT', '/errors', { 'x-amz-grant-read': `id="${bob.id}"` }, policy(alice.id, ''));
    assert.deepEqual([both.status, both.code], [400, 'UnexpectedContent']);
    const neither = await rawAcl(alice, 'PUT', '/errors/doc');
    assert.deepEqual([neither.status, neither.code], [400, 'MissingSecurityHeader']);
    // The document's owner must be the resource's.
    const wrongOwner = await rawAcl(alice, 'PUT', '/errors/doc', {}, policy(bob.id, grantXml('CanonicalUser', alice.id, 'FULL_CONTROL')));
    assert.deepEqual([wrongOwner.status, wrongOwner.code], [403, 'AccessDenied']);
    // None of the refused requests changed anything.
    assert.deepEqual(summary((await a[0]!.send(new GetBucketAclCommand({ Bucket: 'errors' }))).Grants), [[alice.id, 'alice', 'FULL_CONTROL']]);
    assert.deepEqual(summary((await a[0]!.send(new GetObjectAclCommand({ Bucket: 'errors', Key: 'doc' }))).Grants), [[alice.id, 'alice', 'FULL_CONTROL']]);
    await s3failure(anon.send(new GetBucketAclCommand({ Bucket: 'errors' })), 'AccessDenied', 403);
  });

  test('public access block: IgnorePublicAcls, BlockPublicAcls, BlockPublicPolicy, RestrictPublicBuckets; Get / Delete; the owner only', async () => {
    // Every request through node 2, whose cached bucket record each change refreshes.
    const c = a[2]!;
    const Bucket = 'pab-bucket';
    const block = (settings: Record<string, boolean>): Promise<unknown> => c.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: settings }));
    await c.send(new CreateBucketCommand({ Bucket }));
    await c.send(new PutObjectCommand({ Bucket, Key: 'pub', Body: 'public', ACL: 'public-read' }));
    await c.send(new PutObjectCommand({ Bucket, Key: 'private', Body: 'private' }));
    assert.equal(await read(anon, Bucket, 'pub'), 'public');
    await s3failure(c.send(new GetPublicAccessBlockCommand({ Bucket })), 'NoSuchPublicAccessBlockConfiguration', 404);

    await block({ IgnorePublicAcls: true });
    assert.deepEqual((await c.send(new GetPublicAccessBlockCommand({ Bucket }))).PublicAccessBlockConfiguration, { BlockPublicAcls: false, IgnorePublicAcls: true, BlockPublicPolicy: false, RestrictPublicBuckets: false });
    await s3failure(anon.send(new GetObjectCommand({ Bucket, Key: 'pub' })), 'AccessDenied', 403);
    await c.send(new PutObjectCommand({ Bucket, Key: 'pub2', Body: 'x', ACL: 'public-read' }));

    await block({ BlockPublicAcls: true });
    assert.equal(await read(anon, Bucket, 'pub'), 'public', 'public ACLs count again; new ones are refused');
    await s3failure(c.send(new PutObjectCommand({ Bucket, Key: 'pub3', Body: 'x', ACL: 'public-read' })), 'AccessDenied', 403);
    await s3failure(c.send(new PutObjectCommand({ Bucket, Key: 'pub3', Body: 'x', GrantRead: `uri="${ACL_GROUPS.AuthenticatedUsers}"` })), 'AccessDenied', 403);
    await s3failure(c.send(new PutObjectAclCommand({ Bucket, Key: 'private', ACL: 'public-read' })), 'AccessDenied', 403);
    await s3failure(c.send(new PutBucketAclCommand({ Bucket, ACL: 'public-read-write' })), 'AccessDenied', 403);
    await s3failure(c.send(new CopyObjectCommand({ Bucket, Key: 'copy', CopySource: `${Bucket}/private`, ACL: 'public-read' })), 'AccessDenied', 403);
    await s3failure(c.send(new CreateMultipartUploadCommand({ Bucket, Key: 'mp', ACL: 'authenticated-read' })), 'AccessDenied', 403);
    await c.send(new PutObjectCommand({ Bucket, Key: 'fine', Body: 'x', ACL: 'bucket-owner-full-control' }));
    await c.send(new PutObjectAclCommand({ Bucket, Key: 'private', GrantRead: `id="${bob.id}"` }));

    const publicPolicy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${Bucket}/*` }] });
    await block({ BlockPublicPolicy: true });
    await s3failure(c.send(new PutBucketPolicyCommand({ Bucket, Policy: publicPolicy })), 'AccessDenied', 403);
    const bobOnly = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam:::user/bob` }, Action: 's3:ListBucket', Resource: `arn:aws:s3:::${Bucket}` }] });
    await c.send(new PutBucketPolicyCommand({ Bucket, Policy: bobOnly }));

    await block({});
    await c.send(new PutBucketPolicyCommand({ Bucket, Policy: publicPolicy }));
    assert.equal(await read(anon, Bucket, 'fine'), 'x', 'the public policy lets anyone read');
    await block({ RestrictPublicBuckets: true });
    await s3failure(anon.send(new GetObjectCommand({ Bucket, Key: 'fine' })), 'AccessDenied', 403);
    assert.equal(await read(b[2]!, Bucket, 'fine'), 'x', "users still get the policy's Allow");
    assert.equal(await read(anon, Bucket, 'pub'), 'public', 'RestrictPublicBuckets leaves ACLs alone');

    await s3failure(b[2]!.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: {} })), 'AccessDenied', 403);
    await s3failure(b[2]!.send(new GetPublicAccessBlockCommand({ Bucket })), 'AccessDenied', 403);
    assert.equal((await c.send(new DeletePublicAccessBlockCommand({ Bucket }))).$metadata.httpStatusCode, 204);
    await s3failure(c.send(new GetPublicAccessBlockCommand({ Bucket })), 'NoSuchPublicAccessBlockConfiguration', 404);
    assert.equal(await read(anon, Bucket, 'fine'), 'x');
    const bad = '<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>';
    const r = await rawRequest(nodes[2]!.endpoint, alice, { method: 'PUT', path: `/${Bucket}`, query: { publicAccessBlock: '' }, headers: { 'content-md5': createHash('md5').update(bad).digest('base64') }, body: Buffer.from(bad) });
    assert.equal(r.status, 400);
    assert.match(r.body.toString(), /<Code>MalformedXML<\/Code>/);
  });

  test('Object Ownership: BucketOwnerEnforced disables ACLs (the bucket owner owns everything), BucketOwnerPreferred, ObjectWriter', async () => {
    const c = a[2]!;
    const bob2 = b[2]!;
    const ownerOf = async (Bucket: string, Key: string): Promise<string | undefined> => (await c.send(new GetObjectAclCommand({ Bucket, Key }))).Owner?.ID;
    const bobWrites = (Bucket: string): string =>
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam:::user/bob' }, Action: ['s3:PutObject', 's3:GetObject'], Resource: `arn:aws:s3:::${Bucket}/*` }] });

    await s3failure(c.send(new CreateBucketCommand({ Bucket: 'own-bad', ObjectOwnership: 'BucketOwnerEnforced', ACL: 'public-read' })), 'InvalidBucketAclWithObjectOwnership', 400);
    await c.send(new CreateBucketCommand({ Bucket: 'own-enforced', ObjectOwnership: 'BucketOwnerEnforced' }));
    assert.equal((await c.send(new GetBucketOwnershipControlsCommand({ Bucket: 'own-enforced' }))).OwnershipControls?.Rules?.[0]?.ObjectOwnership, 'BucketOwnerEnforced');
    await c.send(new PutBucketPolicyCommand({ Bucket: 'own-enforced', Policy: bobWrites('own-enforced') }));
    await bob2.send(new PutObjectCommand({ Bucket: 'own-enforced', Key: 'by-bob', Body: 'b' }));
    assert.equal(await ownerOf('own-enforced', 'by-bob'), alice.id, 'the bucket owner owns what bob wrote');
    const acl = await c.send(new GetObjectAclCommand({ Bucket: 'own-enforced', Key: 'by-bob' }));
    assert.deepEqual(acl.Grants?.map((g) => [g.Grantee?.ID, g.Permission]), [[alice.id, 'FULL_CONTROL']]);
    await s3failure(bob2.send(new PutObjectCommand({ Bucket: 'own-enforced', Key: 'pub', Body: 'x', ACL: 'public-read' })), 'AccessControlListNotSupported', 400);
    await bob2.send(new PutObjectCommand({ Bucket: 'own-enforced', Key: 'bofc', Body: 'x', ACL: 'bucket-owner-full-control' }));
    await s3failure(c.send(new PutBucketAclCommand({ Bucket: 'own-enforced', ACL: 'public-read' })), 'AccessControlListNotSupported', 400);
    await c.send(new PutBucketAclCommand({ Bucket: 'own-enforced', ACL: 'private' }));
    await s3failure(c.send(new PutObjectAclCommand({ Bucket: 'own-enforced', Key: 'by-bob', GrantRead: `id="${bob.id}"` })), 'AccessControlListNotSupported', 400);

    // ObjectWriter (the default) to BucketOwnerEnforced: a bucket ACL granting others must go first; then ACLs stop counting.
    await c.send(new CreateBucketCommand({ Bucket: 'own-writer', GrantRead: `id="${bob.id}"`, GrantFullControl: `id="${alice.id}"` }));
    await c.send(new PutObjectCommand({ Bucket: 'own-writer', Key: 'pub', Body: 'p', ACL: 'public-read' }));
    assert.equal(await read(anon, 'own-writer', 'pub'), 'p');
    const enforce = { Bucket: 'own-writer', OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' as const }] } };
    await s3failure(c.send(new PutBucketOwnershipControlsCommand(enforce)), 'InvalidBucketAclWithObjectOwnership', 400);
    await c.send(new PutBucketAclCommand({ Bucket: 'own-writer', ACL: 'private' }));
    await c.send(new PutBucketOwnershipControlsCommand(enforce));
    await s3failure(anon.send(new GetObjectCommand({ Bucket: 'own-writer', Key: 'pub' })), 'AccessDenied', 403);

    // BucketOwnerPreferred: bucket-owner-full-control hands the object to the bucket owner.
    await c.send(new PutBucketOwnershipControlsCommand({ Bucket: 'own-writer', OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerPreferred' }] } }));
    await c.send(new PutBucketPolicyCommand({ Bucket: 'own-writer', Policy: bobWrites('own-writer') }));
    await bob2.send(new PutObjectCommand({ Bucket: 'own-writer', Key: 'handed', Body: 'x', ACL: 'bucket-owner-full-control' }));
    await bob2.send(new PutObjectCommand({ Bucket: 'own-writer', Key: 'kept', Body: 'x' }));
    assert.equal(await ownerOf('own-writer', 'handed'), alice.id);
    assert.equal(await ownerOf('own-writer', 'kept'), bob.id);
    assert.equal(await read(anon, 'own-writer', 'pub'), 'p', 'ACLs count again');

    await s3failure(bob2.send(new GetBucketOwnershipControlsCommand({ Bucket: 'own-writer' })), 'AccessDenied', 403);
    await s3failure(bob2.send(new PutBucketOwnershipControlsCommand(enforce)), 'AccessDenied', 403);
    assert.equal((await c.send(new DeleteBucketOwnershipControlsCommand({ Bucket: 'own-writer' }))).$metadata.httpStatusCode, 204);
    await s3failure(c.send(new GetBucketOwnershipControlsCommand({ Bucket: 'own-writer' })), 'OwnershipControlsNotFoundError', 404);
  });

  test('a user made before canonical ids were indexed can be granted once it has signed a request', async () => {
    const catalog = nodes[0]!.s3.catalog;
    const id = 'c'.repeat(64);
    const user: UserEntry = { type: 's3.user', url: 's3user:carol', name: 'carol', id, accessKeys: ['PICAROLOLDUSER000000'], createdAt: 1 };
    const key: AccessKeyEntry = { type: 's3.key', user: id, name: 'carol', secret: 'carol-secret', createdAt: 1 };
    // What older code wrote: the user and its key, no s3uid: record.
    await catalog.dht.writeIfAbsent(ids.user('carol'), user);
    await catalog.dht.writeIfAbsent(ids.accessKey('PICAROLOLDUSER000000'), key);
    assert.equal(await catalog.userById(id), undefined);
    await s3failure(a[0]!.send(new CreateBucketCommand({ Bucket: 'for-carol', GrantRead: `id="${id}"` })), 'InvalidArgument', 400);
    const carol = clientFor(nodes[2]!.endpoint, { name: 'carol', id, accessKey: 'PICAROLOLDUSER000000', secret: 'carol-secret' });
    try {
      await carol.send(new CreateBucketCommand({ Bucket: 'carols' }));
      await waitFor(async () => (await catalog.userById(id)) === 'carol', { timeoutMs: 10_000, what: "carol's s3uid: record" });
      assert.equal(((await catalog.dht.get<UserIdEntry>(ids.userId(id)))?.body as UserIdEntry).name, 'carol');
      await a[0]!.send(new CreateBucketCommand({ Bucket: 'for-carol', GrantRead: `id="${id}"` }));
      assert.equal((await carol.send(new ListObjectsV2Command({ Bucket: 'for-carol' }))).KeyCount, 0);
    } finally {
      carol.destroy();
    }
  });
});
