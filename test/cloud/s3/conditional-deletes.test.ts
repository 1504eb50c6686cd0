/**
 * Conditional deletes through the AWS SDK on a 3-node ring ("How to perform conditional
 * deletes"): DeleteObject's If-Match and DeleteObjects' per-object ETag checked against the
 * version they would delete; a delete that finds nothing is 404 (so of concurrent conditional
 * deletes exactly one wins); directory-bucket-only preconditions and appends refused rather than
 * ignored; the `s3:if-match` / `s3:if-none-match` policy keys that enforce conditional requests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { rawRequest, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';
import { waitFor } from '../../helpers/wait.ts';

describe('S3 conditional deletes on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let a: S3Client[];

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['cdel', 'cdelv', 'enforced'] });
    ({ nodes, alice } = fixture);
    a = fixture.aliceClients;
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'cdelv', VersioningConfiguration: { Status: 'Enabled' } }));
  });
  after(() => runCleanups(cleanups));

  async function put(bucket: string, key: string, body = key): Promise<{ etag: string; versionId: string | undefined }> {
    const out = await a[0]!.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    return { etag: out.ETag!, versionId: out.VersionId };
  }

  async function exists(bucket: string, key: string): Promise<boolean> {
    return a[2]!.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
      () => true,
      (err: { name?: string }) => (err.name === 'NotFound' ? false : Promise.reject(err as Error)),
    );
  }

  test('If-Match: a wrong ETag is 412 and keeps the object; the right one deletes it; then, or on a key never written, 404', async () => {
    const { etag } = await put('cdel', 'k');
    await s3failure(a[1]!.send(new DeleteObjectCommand({ Bucket: 'cdel', Key: 'k', IfMatch: '"00000000000000000000000000000000"' })), 'PreconditionFailed', 412);
    assert.equal(await exists('cdel', 'k'), true);
    await a[1]!.send(new DeleteObjectCommand({ Bucket: 'cdel', Key: 'k', IfMatch: etag }));
    assert.equal(await exists('cdel', 'k'), false);
    await s3failure(a[2]!.send(new DeleteObjectCommand({ Bucket: 'cdel', Key: 'k', IfMatch: etag })), 'NoSuchKey', 404);
    await s3failure(a[2]!.send(new DeleteObjectCommand({ Bucket: 'cdel', Key: 'never', IfMatch: '*' })), 'NoSuchKey', 404);
    // Without a condition a delete of nothing is still 204, as S3 answers.
    await a[2]!.send(new DeleteObjectCommand({ Bucket: 'cdel', Key: 'never' }));
  });

  test('of concurrent conditional deletes through every node, exactly one wins; a versioned bucket gets one delete marker', async () => {
    for (const bucket of ['cdel', 'cdelv']) {
      const keys = Array.from({ length: 6 }, (_, i) => `race-${i}`);
      const etags = await Promise.all(keys.map(async (k) => (await put(bucket, k)).etag));
      const outcomes = await Promise.all(
        keys.flatMap((key, k) =>
          Array.from({ length: 9 }, (_, i) =>
            a[i % 3]!.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, IfMatch: i % 2 === 0 ? etags[k]! : '*' })).then(
              () => ({ key, won: true }),
              (err: { name?: string }) => {
                assert.ok(err.name === 'NoSuchKey' || err.name === 'PreconditionFailed', `${bucket}/${key}: ${err.name}`);
                return { key, won: false };
              },
            ),
          ),
        ),
      );
      for (const key of keys) assert.equal(outcomes.filter((o) => o.key === key && o.won).length, 1, `${bucket}/${key}: winners`);
      if (bucket === 'cdelv') {
        const versions = await a[1]!.send(new ListObjectVersionsCommand({ Bucket: 'cdelv', Prefix: 'race-' }));
        assert.equal(versions.DeleteMarkers?.length, keys.length, 'one delete marker per key');
      }
    }
  });

  test('with a version id the condition is checked against that version', async () => {
    const v1 = await put('cdelv', 'v', 'one');
    const v2 = await put('cdelv', 'v', 'two');
    await s3failure(a[0]!.send(new DeleteObjectCommand({ Bucket: 'cdelv', Key: 'v', VersionId: v2.versionId, IfMatch: v1.etag })), 'PreconditionFailed', 412);
    await s3failure(a[0]!.send(new DeleteObjectCommand({ Bucket: 'cdelv', Key: 'v', VersionId: v1.versionId, IfMatch: v2.etag })), 'PreconditionFailed', 412);
    assert.equal((await a[1]!.send(new ListObjectVersionsCommand({ Bucket: 'cdelv', Prefix: 'v' }))).Versions?.length, 2, 'both versions kept');
    const removed = await a[0]!.send(new DeleteObjectCommand({ Bucket: 'cdelv', Key: 'v', VersionId: v1.versionId, IfMatch: v1.etag }));
    assert.equal(removed.VersionId, v1.versionId);
    await s3failure(a[0]!.send(new DeleteObjectCommand({ Bucket: 'cdelv', Key: 'v', VersionId: v1.versionId, IfMatch: '*' })), 'NoSuchKey', 404);
  });

  test('DeleteObjects: each ETag checked (`*` any, a wrong one 412, nothing there 404); Size and LastModifiedTime refused', async () => {
    const { etag } = await put('cdel', 'm1');
    await put('cdel', 'm2');
    await put('cdel', 'm3');
    const out = await a[1]!.send(
      new DeleteObjectsCommand({
        Bucket: 'cdel',
        Delete: {
          Objects: [
            { Key: 'm1', ETag: etag },
            { Key: 'm2', ETag: '*' },
            { Key: 'm3', ETag: '"00000000000000000000000000000000"' },
            { Key: 'gone', ETag: '*' },
            { Key: 'm3', Size: 2 },
          ],
        },
      }),
    );
    assert.deepEqual(out.Deleted?.map((d) => d.Key).sort(), ['m1', 'm2']);
    assert.deepEqual(out.Errors?.map((e) => `${e.Key} ${e.Code}`).sort(), ['gone NoSuchKey', 'm3 NotImplemented', 'm3 PreconditionFailed']);
    assert.equal(await exists('cdel', 'm3'), true);
  });

  test('directory-bucket preconditions and appends are refused, not ignored', async () => {
    await put('cdel', 'kept', 'four');
    for (const header of ['x-amz-if-match-size', 'x-amz-if-match-last-modified-time']) {
      const res = await rawRequest(nodes[1]!.endpoint, alice, { method: 'DELETE', path: '/cdel/kept', headers: { [header]: header.endsWith('size') ? '99' : 'Sat, 01 Jan 2000 00:00:00 GMT' } });
      assert.equal(res.status, 501, header);
    }
    const append = await rawRequest(nodes[2]!.endpoint, alice, { method: 'PUT', path: '/cdel/kept', headers: { 'x-amz-write-offset-bytes': '4' }, body: Buffer.from('more') });
    assert.equal(append.status, 501);
    const head = await a[0]!.send(new HeadObjectCommand({ Bucket: 'cdel', Key: 'kept' }));
    assert.equal(head.ContentLength, 4);
  });

  test('bucket policies can require conditional writes and deletes (s3:if-none-match, s3:if-match)', async () => {
    const policy = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::enforced/*', Condition: { Null: { 's3:if-none-match': 'true' } } },
        { Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', Resource: 'arn:aws:s3:::enforced/*', Condition: { Null: { 's3:if-match': 'true' } } },
      ],
    };
    await a[0]!.send(new PutBucketPolicyCommand({ Bucket: 'enforced', Policy: JSON.stringify(policy) }));
    // Each node reads the bucket record afresh within its cache period.
    for (const client of a) {
      await waitFor(
        () => client.send(new PutObjectCommand({ Bucket: 'enforced', Key: 'plain', Body: 'x' })).then(() => false, (err: { name?: string }) => err.name === 'AccessDenied'),
        { timeoutMs: 10_000, what: 'the policy applies on every node' },
      );
    }
    const created = await a[1]!.send(new PutObjectCommand({ Bucket: 'enforced', Key: 'conditional', Body: 'x', IfNoneMatch: '*' }));
    await s3failure(a[2]!.send(new DeleteObjectCommand({ Bucket: 'enforced', Key: 'conditional' })), 'AccessDenied', 403);
    await a[2]!.send(new DeleteObjectCommand({ Bucket: 'enforced', Key: 'conditional', IfMatch: created.ETag }));
  });
});
