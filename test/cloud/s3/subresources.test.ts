/**
 * S3 sub-resources without an operation here, on a 3-node ring: they are refused (501 for those
 * not supported, 405 for a method a sub-resource has no operation for), never taken for the plain
 * bucket or object request of their method — which would delete a bucket, reset its ACL, or
 * overwrite or delete an object. RestoreObject: there is never anything to restore.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GetBucketAclCommand, GetObjectCommand, HeadBucketCommand, PutObjectCommand, RestoreObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { bytes, rawRequest, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

describe('S3 sub-resources without an operation here', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let a: S3Client[];
  let b: S3Client[];

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['subs', 'empty'] });
    ({ nodes, alice } = fixture);
    a = fixture.aliceClients;
    b = fixture.bobClients;
    await a[0]!.send(new PutObjectCommand({ Bucket: 'subs', Key: 'obj', Body: 'original' }));
  });
  after(() => runCleanups(cleanups));

  async function raw(method: string, path: string, query: Record<string, string>, body?: string): Promise<{ status: number; code: string | undefined }> {
    const res = await rawRequest(nodes[1]!.endpoint, alice, { method, path, query, ...(body !== undefined ? { body: Buffer.from(body) } : {}) });
    return { status: res.status, code: /<Code>([^<]+)<\/Code>/.exec(res.body.toString())?.[1] };
  }

  async function objectIsOriginal(): Promise<void> {
    const got = await a[2]!.send(new GetObjectCommand({ Bucket: 'subs', Key: 'obj' }));
    assert.equal((await bytes(got.Body)).toString(), 'original');
  }

  test('bucket sub-resources not supported are 501 and leave the bucket as it was', async () => {
    await rawRequest(nodes[0]!.endpoint, alice, { method: 'PUT', path: '/empty', query: { acl: '' }, headers: { 'x-amz-acl': 'public-read' } });
    for (const sub of ['metadataTable', 'metadataConfiguration', 'metadataInventoryTable', 'metadataJournalTable', 'abac']) {
      for (const method of ['DELETE', 'PUT', 'GET', 'POST']) assert.deepEqual(await raw(method, '/empty', { [sub]: '' }), { status: 501, code: 'NotImplemented' }, `${method} ?${sub}`);
    }
    await a[2]!.send(new HeadBucketCommand({ Bucket: 'empty' }));
    const acl = await a[2]!.send(new GetBucketAclCommand({ Bucket: 'empty' }));
    assert.ok(acl.Grants?.some((g) => g.Grantee?.URI === 'http://acs.amazonaws.com/groups/global/AllUsers' && g.Permission === 'READ'), 'the public-read grant is kept');
  });

  test('a bucket sub-resource with a method it has no operation for is 405, not the plain bucket request', async () => {
    for (const [method, sub] of [['DELETE', 'acl'], ['DELETE', 'versioning'], ['DELETE', 'location'], ['PUT', 'location'], ['PUT', 'versions'], ['GET', 'delete'], ['POST', 'acl']] as const) {
      assert.deepEqual(await raw(method, '/empty', { [sub]: '' }), { status: 405, code: 'MethodNotAllowed' }, `${method} ?${sub}`);
    }
    await a[2]!.send(new HeadBucketCommand({ Bucket: 'empty' }));
    // Query parameters that are no sub-resource are ignored, as S3 ignores them.
    assert.equal((await raw('GET', '/subs', { 'x-id': 'ListObjects', 'made-up': '1' })).status, 200);
  });

  test('object sub-resources not supported are 501 (torrent, renameObject); others are 405 for methods without an operation', async () => {
    assert.deepEqual(await raw('GET', '/subs/obj', { torrent: '' }), { status: 501, code: 'NotImplemented' });
    assert.deepEqual(await raw('PUT', '/subs/obj', { torrent: '' }, 'overwritten'), { status: 501, code: 'NotImplemented' });
    assert.deepEqual(await raw('DELETE', '/subs/obj', { torrent: '' }), { status: 501, code: 'NotImplemented' });
    const rename = await rawRequest(nodes[1]!.endpoint, alice, { method: 'PUT', path: '/subs/renamed', query: { renameObject: '' }, headers: { 'x-amz-rename-source': '/subs/obj' } });
    assert.equal(rename.status, 501);
    await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'subs', Key: 'renamed' })), 'NoSuchKey', 404);
    for (const [method, sub] of [['DELETE', 'acl'], ['DELETE', 'attributes'], ['DELETE', 'restore'], ['PUT', 'attributes'], ['PUT', 'select'], ['PUT', 'uploads'], ['GET', 'restore'], ['HEAD', 'acl']] as const) {
      const res = await raw(method, '/subs/obj', { [sub]: '' }, method === 'PUT' ? 'overwritten' : undefined);
      assert.equal(res.status, 405, `${method} ?${sub}`);
    }
    await objectIsOriginal();
  });

  test('RestoreObject: InvalidObjectState for a class S3 does not archive, NotImplemented for an archive class, and the usual refusals', async () => {
    await s3failure(a[0]!.send(new RestoreObjectCommand({ Bucket: 'subs', Key: 'obj', RestoreRequest: { Days: 1 } })), 'InvalidObjectState', 403);
    await a[0]!.send(new PutObjectCommand({ Bucket: 'subs', Key: 'cold', Body: 'cold', StorageClass: 'GLACIER' }));
    await s3failure(a[1]!.send(new RestoreObjectCommand({ Bucket: 'subs', Key: 'cold', RestoreRequest: { Days: 1 } })), 'NotImplemented', 501);
    await s3failure(a[2]!.send(new RestoreObjectCommand({ Bucket: 'subs', Key: 'missing', RestoreRequest: { Days: 1 } })), 'NoSuchKey', 404);
    await s3failure(b[0]!.send(new RestoreObjectCommand({ Bucket: 'subs', Key: 'cold', RestoreRequest: { Days: 1 } })), 'AccessDenied', 403);
    await objectIsOriginal();
  });
});
