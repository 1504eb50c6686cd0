/**
 * Pi Cloud S3 with the real AWS SDK against a 3-node loopback ring (TLS between nodes, DHT, the
 * `s3` application on each node): buckets, objects, conditional requests, ranges, copies,
 * deletes and listings, each through different nodes, with their error cases.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteBucketMetricsConfigurationCommand,
  DeleteBucketReplicationCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketAccelerateConfigurationCommand,
  GetBucketAclCommand,
  GetBucketAnalyticsConfigurationCommand,
  GetBucketEncryptionCommand,
  PutBucketEncryptionCommand,
  GetBucketLocationCommand,
  GetBucketLoggingCommand,
  GetBucketNotificationConfigurationCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketReplicationCommand,
  GetBucketRequestPaymentCommand,
  GetBucketWebsiteCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketAnalyticsConfigurationsCommand,
  ListBucketIntelligentTieringConfigurationsCommand,
  ListBucketInventoryConfigurationsCommand,
  ListBucketMetricsConfigurationsCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutBucketAccelerateConfigurationCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { BucketLocationConstraint, S3Client } from '@aws-sdk/client-s3';
import { bytes, pattern, rawRequest, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { waitFor } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

describe('S3 buckets and objects through the AWS SDK on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  /** Alice's client on each node. */
  let a: S3Client[];
  let b0: S3Client;
  /** Clients without credentials, one per node. */
  let anon: S3Client[];

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['objects'] });
    ({ nodes, alice, aliceClients: a, anonymousClients: anon } = fixture);
    b0 = fixture.bobClients[0]!;
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('CreateBucket, HeadBucket, ListBuckets, GetBucketLocation, DeleteBucket and their errors', async () => {
    await a[1]!.send(new CreateBucketCommand({ Bucket: 'alpha.bucket-1' }));
    const head = await a[2]!.send(new HeadBucketCommand({ Bucket: 'alpha.bucket-1' }));
    assert.equal(head.$metadata.httpStatusCode, 200);
    assert.equal(head.BucketRegion, 'us-east-1');
    const listed = await a[0]!.send(new ListBucketsCommand({}));
    assert.deepEqual(listed.Buckets?.map((x) => x.Name), ['alpha.bucket-1', 'objects']);
    assert.equal(listed.Owner?.DisplayName, 'alice');
    assert.ok(listed.Buckets![0]!.CreationDate instanceof Date);
    const bobs = await b0.send(new ListBucketsCommand({}));
    assert.deepEqual(bobs.Buckets ?? [], [], "bob does not see alice's buckets");
    const location = await a[0]!.send(new GetBucketLocationCommand({ Bucket: 'alpha.bucket-1' }));
    assert.equal(location.LocationConstraint ?? '', '');

    await s3failure(b0.send(new CreateBucketCommand({ Bucket: 'alpha.bucket-1' })), 'BucketAlreadyExists', 409);
    for (const bad of ['ab', 'Upper', 'under_score', 'a..b', '192.168.1.1', 'xn--abc', 'dash-', 'a'.repeat(64)]) {
      await s3failure(a[0]!.send(new CreateBucketCommand({ Bucket: bad })), 'InvalidBucketName', 400);
    }
    await s3failure(a[0]!.send(new HeadBucketCommand({ Bucket: 'no-such-bucket' })), undefined, 404);
    await s3failure(b0.send(new HeadBucketCommand({ Bucket: 'alpha.bucket-1' })), undefined, 403);

    await a[2]!.send(new PutObjectCommand({ Bucket: 'alpha.bucket-1', Key: 'k', Body: 'x' }));
    await s3failure(a[0]!.send(new DeleteBucketCommand({ Bucket: 'alpha.bucket-1' })), 'BucketNotEmpty', 409);
    await s3failure(b0.send(new DeleteBucketCommand({ Bucket: 'alpha.bucket-1' })), 'AccessDenied', 403);
    await a[1]!.send(new DeleteObjectCommand({ Bucket: 'alpha.bucket-1', Key: 'k' }));
    const deleted = await a[0]!.send(new DeleteBucketCommand({ Bucket: 'alpha.bucket-1' }));
    assert.equal(deleted.$metadata.httpStatusCode, 204);
    await s3failure(a[0]!.send(new HeadBucketCommand({ Bucket: 'alpha.bucket-1' })), undefined, 404);
    await s3failure(a[0]!.send(new DeleteBucketCommand({ Bucket: 'alpha.bucket-1' })), 'NoSuchBucket', 404);
    // The name is free again, and the new bucket starts empty.
    await b0.send(new CreateBucketCommand({ Bucket: 'alpha.bucket-1' }));
    const empty = await b0.send(new ListObjectsV2Command({ Bucket: 'alpha.bucket-1' }));
    assert.equal(empty.KeyCount, 0);
    // Its owner may create a deleted bucket again (the name's old entry in their list is replaced).
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'alpha.bucket-2' }));
    await a[1]!.send(new DeleteBucketCommand({ Bucket: 'alpha.bucket-2' }));
    await a[2]!.send(new CreateBucketCommand({ Bucket: 'alpha.bucket-2' }));
    assert.deepEqual((await a[0]!.send(new ListBucketsCommand({ Prefix: 'alpha.' }))).Buckets?.map((x) => x.Name), ['alpha.bucket-2']);
    await a[1]!.send(new DeleteBucketCommand({ Bucket: 'alpha.bucket-2' }));
  });

  test('DeleteBucket racing writes through other nodes: either the bucket goes and every write failed, or it stays with every acknowledged object', async () => {
    const Bucket = 'race-delete';
    for (let round = 0; round < 3; round++) {
      await a[0]!.send(new CreateBucketCommand({ Bucket }));
      // Nodes 1 and 2 cache the bucket record as open.
      await Promise.all([a[1]!.send(new HeadBucketCommand({ Bucket })), a[2]!.send(new HeadBucketCommand({ Bucket }))]);
      const deletion = a[0]!.send(new DeleteBucketCommand({ Bucket })).then(
        () => 'deleted',
        (err: { name?: string }) => err.name ?? 'failed',
      );
      const writes = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          a[1 + (i % 2)]!.send(new PutObjectCommand({ Bucket, Key: `k${i}`, Body: `v${i}` })).then(
            () => true,
            (err: { name?: string }) => {
              assert.ok(['OperationAborted', 'NoSuchBucket'].includes(err.name ?? ''), `a refused write: ${err.name}`);
              return false;
            },
          ),
        ),
      );
      const outcome = await deletion;
      if (outcome === 'deleted') {
        assert.deepEqual(writes, writes.map(() => false), 'no write was acknowledged into the deleted bucket');
        await s3failure(a[2]!.send(new HeadBucketCommand({ Bucket })), undefined, 404);
        continue;
      }
      assert.equal(outcome, 'BucketNotEmpty');
      for (const [i, ok] of writes.entries()) if (ok) assert.equal((await bytes((await a[0]!.send(new GetObjectCommand({ Bucket, Key: `k${i}` }))).Body)).toString(), `v${i}`);
      // Reopened: writes go in again, and an emptied bucket deletes.
      await a[1]!.send(new PutObjectCommand({ Bucket, Key: 'after', Body: 'x' }));
      const keys = (await a[0]!.send(new ListObjectsV2Command({ Bucket }))).Contents?.map((c) => c.Key!) ?? [];
      await a[0]!.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
      await a[0]!.send(new DeleteBucketCommand({ Bucket }));
    }
    // Once every cache has seen the bucket closing, a write through any node is refused.
    await a[0]!.send(new CreateBucketCommand({ Bucket }));
    const deletion = a[0]!.send(new DeleteBucketCommand({ Bucket }));
    await waitFor(async () => (await nodes[2]!.s3.catalog.bucket(Bucket))?.closing !== undefined, { timeoutMs: 10_000, what: "node 2's cache to see the bucket closing" });
    await s3failure(a[2]!.send(new PutObjectCommand({ Bucket, Key: 'late', Body: 'x' })), 'OperationAborted', 409);
    await s3failure(a[2]!.send(new CreateMultipartUploadCommand({ Bucket, Key: 'late' })), 'OperationAborted', 409);
    await deletion;
    await s3failure(a[1]!.send(new HeadBucketCommand({ Bucket })), undefined, 404);
  });

  test('ListBuckets: the region of each bucket, prefix, bucket-region, max-buckets and continuation-token paging', async () => {
    await b0.send(new CreateBucketCommand({ Bucket: 'lb-one' }));
    await b0.send(new CreateBucketCommand({ Bucket: 'lb-two', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
    await b0.send(new CreateBucketCommand({ Bucket: 'lb-three' }));
    const all = await b0.send(new ListBucketsCommand({ Prefix: 'lb-' }));
    assert.deepEqual(all.Buckets?.map((x) => [x.Name, x.BucketRegion]), [['lb-one', 'us-east-1'], ['lb-three', 'us-east-1'], ['lb-two', 'eu-west-1']]);
    assert.equal(all.Prefix, 'lb-');
    assert.equal(all.ContinuationToken, undefined);
    const first = await b0.send(new ListBucketsCommand({ Prefix: 'lb-', MaxBuckets: 2 }));
    assert.deepEqual(first.Buckets?.map((x) => x.Name), ['lb-one', 'lb-three']);
    assert.ok(first.ContinuationToken);
    const second = await b0.send(new ListBucketsCommand({ Prefix: 'lb-', MaxBuckets: 2, ContinuationToken: first.ContinuationToken }));
    assert.deepEqual(second.Buckets?.map((x) => x.Name), ['lb-two']);
    assert.equal(second.ContinuationToken, undefined);
    const eu = await b0.send(new ListBucketsCommand({ BucketRegion: 'eu-west-1' }));
    assert.deepEqual(eu.Buckets?.map((x) => x.Name), ['lb-two']);
    // A LocationConstraint S3 does not accept: no region name, or us-east-1 spelt out.
    for (const LocationConstraint of ['bogus-region-1', 'us-east-1', 'Eu-West-1']) {
      await s3failure(b0.send(new CreateBucketCommand({ Bucket: 'lb-bad', CreateBucketConfiguration: { LocationConstraint: LocationConstraint as BucketLocationConstraint } })), 'InvalidLocationConstraint', 400);
    }
    await s3failure(b0.send(new HeadBucketCommand({ Bucket: 'lb-bad' })), undefined, 404);
    await s3failure(b0.send(new ListBucketsCommand({ MaxBuckets: 0 })), 'InvalidArgument', 400);
    await s3failure(b0.send(new ListBucketsCommand({ ContinuationToken: 'not-a-token' })), 'InvalidArgument', 400);
    for (const name of ['lb-one', 'lb-two', 'lb-three']) await b0.send(new DeleteBucketCommand({ Bucket: name }));
  });

  test('CreateBucket again by its owner: 200 in us-east-1 (ACL reset, objects kept), BucketAlreadyOwnedByYou in other regions', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'again', ACL: 'public-read' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'again', Key: 'kept', Body: 'x' }));
    const again = await a[1]!.send(new CreateBucketCommand({ Bucket: 'again' }));
    assert.equal(again.$metadata.httpStatusCode, 200);
    const listed = await a[2]!.send(new ListObjectsV2Command({ Bucket: 'again' }));
    assert.deepEqual(listed.Contents?.map((c) => c.Key), ['kept']);
    const acl = await a[2]!.send(new GetBucketAclCommand({ Bucket: 'again' }));
    assert.deepEqual(acl.Grants?.map((g) => g.Permission), ['FULL_CONTROL'], 'the ACL is reset to the request\'s (private)');
    await s3failure(b0.send(new CreateBucketCommand({ Bucket: 'again' })), 'BucketAlreadyExists', 409);
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'again-eu', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
    await s3failure(a[2]!.send(new CreateBucketCommand({ Bucket: 'again-eu', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } })), 'BucketAlreadyOwnedByYou', 409);
  });

  test('configurations never set (and not implemented) read as S3 answers for an unset one; setting them is NotImplemented', async () => {
    const bucket = 'objects';
    const c = a[1]!;
    assert.equal((await c.send(new GetBucketAccelerateConfigurationCommand({ Bucket: bucket }))).Status, undefined);
    assert.equal((await c.send(new GetBucketRequestPaymentCommand({ Bucket: bucket }))).Payer, 'BucketOwner');
    assert.equal((await c.send(new GetBucketLoggingCommand({ Bucket: bucket }))).LoggingEnabled, undefined);
    const notification = await c.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket }));
    assert.equal(notification.$metadata.httpStatusCode, 200);
    assert.equal(notification.TopicConfigurations, undefined);
    await s3failure(c.send(new GetBucketReplicationCommand({ Bucket: bucket })), 'ReplicationConfigurationNotFoundError', 404);
    await s3failure(c.send(new GetBucketWebsiteCommand({ Bucket: bucket })), 'NoSuchWebsiteConfiguration', 404);
    await s3failure(c.send(new GetBucketEncryptionCommand({ Bucket: bucket })), 'ServerSideEncryptionConfigurationNotFoundError', 404);
    await s3failure(c.send(new GetBucketOwnershipControlsCommand({ Bucket: bucket })), 'OwnershipControlsNotFoundError', 404);
    for (const list of [
      new ListBucketAnalyticsConfigurationsCommand({ Bucket: bucket }),
      new ListBucketMetricsConfigurationsCommand({ Bucket: bucket }),
      new ListBucketInventoryConfigurationsCommand({ Bucket: bucket }),
      new ListBucketIntelligentTieringConfigurationsCommand({ Bucket: bucket }),
    ]) {
      const out = (await c.send(list as never)) as { IsTruncated?: boolean; $metadata: { httpStatusCode?: number } };
      assert.equal(out.$metadata.httpStatusCode, 200);
      assert.equal(out.IsTruncated, false);
    }
    await s3failure(c.send(new GetBucketAnalyticsConfigurationCommand({ Bucket: bucket, Id: 'a' })), 'NoSuchConfiguration', 404);
    await s3failure(c.send(new DeleteBucketMetricsConfigurationCommand({ Bucket: bucket, Id: 'a' })), 'NoSuchConfiguration', 404);
    assert.equal((await c.send(new DeleteBucketReplicationCommand({ Bucket: bucket }))).$metadata.httpStatusCode, 204);
    await s3failure(c.send(new PutBucketAccelerateConfigurationCommand({ Bucket: bucket, AccelerateConfiguration: { Status: 'Enabled' } })), 'NotImplemented', 501);
    await s3failure(b0.send(new GetBucketLoggingCommand({ Bucket: bucket })), 'AccessDenied', 403);
    await s3failure(b0.send(new DeleteBucketReplicationCommand({ Bucket: bucket })), 'AccessDenied', 403);
  });

  test('PutObject and GetObject round trips through different nodes: metadata, stored headers, sizes around the inline and chunk limits', async () => {
    const key = 'dir/ünï cødé+&?=%.txt';
    const put = await a[0]!.send(
      new PutObjectCommand({
        Bucket: 'objects',
        Key: key,
        Body: 'hello world',
        ContentType: 'text/plain',
        CacheControl: 'max-age=60',
        ContentDisposition: 'attachment; filename="h.txt"',
        ContentLanguage: 'en',
        Expires: new Date('2030-01-01T00:00:00Z'),
        Metadata: { Color: 'blue', 'two-words': 'a b' },
      }),
    );
    assert.equal(put.ETag, '"5eb63bbbe01eeed093cb22bb8f5acdc3"');
    const got = await a[2]!.send(new GetObjectCommand({ Bucket: 'objects', Key: key }));
    assert.equal((await bytes(got.Body)).toString(), 'hello world');
    assert.equal(got.ContentType, 'text/plain');
    assert.equal(got.CacheControl, 'max-age=60');
    assert.equal(got.ContentDisposition, 'attachment; filename="h.txt"');
    assert.equal(got.ContentLanguage, 'en');
    assert.equal(got.ExpiresString ?? got.Expires?.toUTCString(), 'Tue, 01 Jan 2030 00:00:00 GMT');
    assert.deepEqual(got.Metadata, { color: 'blue', 'two-words': 'a b' });
    assert.equal(got.ETag, put.ETag);
    assert.equal(got.ContentLength, 11);

    // Empty, inline limit (4 KiB in tests), one chunk (256 KiB), several chunks with a tail.
    for (const [i, size] of [0, 4096, 4097, 256 * 1024, 256 * 1024 + 1, 3 * 256 * 1024 + 12345].entries()) {
      const data = pattern(size, i + 10);
      const r = await a[i % 3]!.send(new PutObjectCommand({ Bucket: 'objects', Key: `sizes/${size}`, Body: data }));
      assert.equal(r.ETag, `"${createHash('md5').update(data).digest('hex')}"`);
      const back = await a[(i + 1) % 3]!.send(new GetObjectCommand({ Bucket: 'objects', Key: `sizes/${size}` }));
      assert.ok((await bytes(back.Body)).equals(data), `size ${size} round trip`);
      assert.equal(back.ContentLength, size);
    }
    // A stream of known length: the SDK sends it aws-chunked with a trailing CRC32.
    const streamed = pattern(700_000, 99);
    await a[1]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'streamed', Body: Readable.from([streamed.subarray(0, 300_000), streamed.subarray(300_000)]), ContentLength: streamed.length, ContentEncoding: 'gzip' }));
    const s = await a[0]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'streamed', ChecksumMode: 'ENABLED' }));
    assert.ok((await bytes(s.Body)).equals(streamed));
    assert.equal(s.ContentEncoding, 'gzip', 'aws-chunked is not stored as a content coding');
    assert.ok(s.ChecksumCRC32, 'the trailing checksum is stored and returned');
    // Overwrite: readers see the new object, whole.
    await a[2]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'streamed', Body: 'short now' }));
    const o = await a[1]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'streamed' }));
    assert.equal((await bytes(o.Body)).toString(), 'short now');
  });

  test('Content-MD5 and the flexible checksums (CRC32, CRC32C, SHA1, SHA256) are checked and returned', async () => {
    const data = Buffer.from('checksummed body');
    const md5 = createHash('md5').update(data).digest('base64');
    await a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'md5', Body: data, ContentMD5: md5 }));
    const wrong = createHash('md5').update('other').digest('base64');
    await s3failure(a[1]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'md5-bad', Body: data, ContentMD5: wrong })), 'BadDigest', 400);
    await s3failure(a[1]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'md5-bad', Body: data, ContentMD5: 'not-base64!' })), 'InvalidDigest', 400);
    await s3failure(a[1]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'md5-bad' })), undefined, 404);
    for (const algorithm of ['CRC32', 'CRC32C', 'SHA1', 'SHA256'] as const) {
      const r = await a[2]!.send(new PutObjectCommand({ Bucket: 'objects', Key: `sum/${algorithm}`, Body: data, ChecksumAlgorithm: algorithm }));
      const sent = r[`Checksum${algorithm}`];
      assert.ok(sent, `${algorithm} echoed`);
      const head = await a[0]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: `sum/${algorithm}`, ChecksumMode: 'ENABLED' }));
      assert.equal(head[`Checksum${algorithm}`], sent);
    }
    const badCrc = await s3failure(
      a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'sum/bad', Body: data, ChecksumCRC32: 'AAAAAA==' })),
      'BadDigest',
      400,
    );
    assert.match(badCrc.message, /CRC32/);
  });

  test('Range, conditional requests and response header overrides', async () => {
    const data = pattern(600_000, 5);
    await a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'ranged', Body: data }));
    const mid = await a[1]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', Range: 'bytes=262000-262300' }));
    assert.equal(mid.$metadata.httpStatusCode, 206);
    assert.equal(mid.ContentRange, 'bytes 262000-262300/600000');
    assert.ok((await bytes(mid.Body)).equals(data.subarray(262000, 262301)), 'a range across a chunk boundary');
    const suffix = await a[2]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', Range: 'bytes=-10' }));
    assert.ok((await bytes(suffix.Body)).equals(data.subarray(data.length - 10)));
    const open = await a[2]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', Range: 'bytes=599990-' }));
    assert.ok((await bytes(open.Body)).equals(data.subarray(599990)));
    const err = await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', Range: 'bytes=600000-' })), 'InvalidRange', 416);
    assert.ok(err.$metadata.requestId, 'errors carry the request id');
    // By part number, a single-part object is one part: part 1 is the whole object as a range
    // (206, Content-Range, no part count, as S3 answers); part 2 is not satisfiable.
    const part1 = await a[1]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', PartNumber: 1 }));
    assert.equal(part1.$metadata.httpStatusCode, 206);
    assert.equal(part1.ContentRange, 'bytes 0-599999/600000');
    assert.equal(part1.PartsCount, undefined);
    assert.ok((await bytes(part1.Body)).equals(data));
    const headPart1 = await a[2]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'ranged', PartNumber: 1 }));
    assert.deepEqual([headPart1.$metadata.httpStatusCode, headPart1.ContentLength, headPart1.PartsCount], [206, 600_000, undefined]);
    await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', PartNumber: 2 })), 'InvalidPartNumber', 416);
    await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', PartNumber: 1, Range: 'bytes=0-9' })), 'InvalidRequest', 400);

    const head = await a[0]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'ranged' }));
    assert.equal(head.ContentLength, 600_000);
    assert.equal(head.AcceptRanges, 'bytes');
    const etag = head.ETag!;
    const lastModified = head.LastModified!;
    assert.equal((await a[1]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', IfMatch: etag, Range: 'bytes=0-0' }))).$metadata.httpStatusCode, 206);
    await s3failure(a[1]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', IfMatch: '"0000"' })), 'PreconditionFailed', 412);
    await s3failure(a[1]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', IfNoneMatch: etag })), undefined, 304);
    await s3failure(a[1]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'ranged', IfNoneMatch: etag })), undefined, 304);
    await s3failure(a[2]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', IfModifiedSince: lastModified })), undefined, 304);
    const modified = await a[2]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', IfModifiedSince: new Date(lastModified.getTime() - 60_000), Range: 'bytes=0-0' }));
    assert.equal(modified.$metadata.httpStatusCode, 206);
    await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', IfUnmodifiedSince: new Date(lastModified.getTime() - 60_000) })), 'PreconditionFailed', 412);
    // If-Range (RFC 9110): the range while the validator is the object's, else the whole object.
    const ifRanges: [string, number, number][] = [
      [etag, 206, 1],
      ['"0000"', 200, 600_000],
      [`W/${etag}`, 200, 600_000],
      [lastModified.toUTCString(), 206, 1],
      [new Date(lastModified.getTime() - 60_000).toUTCString(), 200, 600_000],
    ];
    for (const [ifRange, status, length] of ifRanges) {
      const res = await rawRequest(nodes[1]!.endpoint, alice, { method: 'GET', path: '/objects/ranged', headers: { range: 'bytes=0-0', 'if-range': ifRange } });
      assert.deepEqual([res.status, res.body.length], [status, length], `If-Range: ${ifRange}`);
    }

    const overridden = await a[0]!.send(
      new GetObjectCommand({ Bucket: 'objects', Key: 'ranged', Range: 'bytes=0-1', ResponseContentType: 'application/x-test', ResponseContentDisposition: 'inline', ResponseCacheControl: 'no-cache', ResponseContentLanguage: 'fr', ResponseExpires: new Date('2031-01-01T00:00:00Z'), ResponseContentEncoding: 'identity' }),
    );
    assert.equal(overridden.ContentType, 'application/x-test');
    assert.equal(overridden.ContentDisposition, 'inline');
    assert.equal(overridden.CacheControl, 'no-cache');
    assert.equal(overridden.ContentLanguage, 'fr');
    assert.equal(overridden.ContentEncoding, 'identity');

    // Conditional writes.
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'ranged', Body: 'x', IfNoneMatch: '*' })), 'PreconditionFailed', 412);
    await a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'fresh-key', Body: 'x', IfNoneMatch: '*' }));
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'ranged', Body: 'x', IfMatch: '"0000"' })), 'PreconditionFailed', 412);
  });

  test('missing things: NoSuchKey, NoSuchBucket, KeyTooLongError', async () => {
    const missing = await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'missing' })), 'NoSuchKey', 404);
    assert.equal(missing.message, 'The specified key does not exist.');
    await s3failure(a[1]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'missing' })), undefined, 404);
    await s3failure(a[2]!.send(new GetObjectCommand({ Bucket: 'nobucket', Key: 'k' })), 'NoSuchBucket', 404);
    await s3failure(a[2]!.send(new PutObjectCommand({ Bucket: 'nobucket', Key: 'k', Body: 'x' })), 'NoSuchBucket', 404);
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'x'.repeat(1025), Body: 'x' })), 'KeyTooLongError', 400);
  });

  test('a method a resource does not have: 405 MethodNotAllowed naming the method and the resource type', async () => {
    for (const [method, path, type] of [['POST', '/objects/some-key', 'OBJECT'], ['PATCH', '/objects', 'BUCKET'], ['DELETE', '/', 'SERVICE']] as const) {
      const r = await rawRequest(nodes[0]!.endpoint, alice, { method, path });
      assert.equal(r.status, 405, `${method} ${path}`);
      const body = r.body.toString();
      assert.match(body, /<Code>MethodNotAllowed<\/Code>/);
      assert.match(body, new RegExp(`<Method>${method}</Method>`));
      assert.match(body, new RegExp(`<ResourceType>${type}</ResourceType>`));
      assert.match(body, /<RequestId>[0-9A-F]+<\/RequestId>/);
    }
  });

  test('DeleteObject and DeleteObjects (batch, quiet, missing keys)', async () => {
    for (let i = 0; i < 5; i++) await a[i % 3]!.send(new PutObjectCommand({ Bucket: 'objects', Key: `del/${i}`, Body: pattern(i * 100_000, i) }));
    const one = await a[1]!.send(new DeleteObjectCommand({ Bucket: 'objects', Key: 'del/0' }));
    assert.equal(one.$metadata.httpStatusCode, 204);
    await s3failure(a[2]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'del/0' })), 'NoSuchKey', 404);
    // Deleting what is not there succeeds, as in S3.
    assert.equal((await a[0]!.send(new DeleteObjectCommand({ Bucket: 'objects', Key: 'del/none' }))).$metadata.httpStatusCode, 204);
    const batch = await a[2]!.send(new DeleteObjectsCommand({ Bucket: 'objects', Delete: { Objects: [{ Key: 'del/1' }, { Key: 'del/2' }, { Key: 'del/missing' }] } }));
    assert.deepEqual(batch.Deleted?.map((d) => d.Key), ['del/1', 'del/2', 'del/missing']);
    assert.equal(batch.Errors, undefined);
    const quiet = await a[0]!.send(new DeleteObjectsCommand({ Bucket: 'objects', Delete: { Objects: [{ Key: 'del/3' }, { Key: 'del/4' }], Quiet: true } }));
    assert.equal(quiet.Deleted, undefined);
    const left = await a[1]!.send(new ListObjectsV2Command({ Bucket: 'objects', Prefix: 'del/' }));
    assert.equal(left.KeyCount, 0);
    // Another user without write access: each key refused in a 200 answer (as S3 answers a user
    // without s3:DeleteObject), the object kept; anonymous: refused whole.
    const refused = await b0.send(new DeleteObjectsCommand({ Bucket: 'objects', Delete: { Objects: [{ Key: 'sizes/0' }, { Key: 'del/none' }] } }));
    assert.deepEqual([refused.Deleted, refused.Errors?.map((e) => [e.Key, e.Code])], [undefined, [['sizes/0', 'AccessDenied'], ['del/none', 'AccessDenied']]]);
    await a[2]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'sizes/0' }));
    await s3failure(anon[0]!.send(new DeleteObjectsCommand({ Bucket: 'objects', Delete: { Objects: [{ Key: 'sizes/0' }] } })), 'AccessDenied', 403);
  });

  test('version ids without versioning: "null" is the object, any other id is refused and never acts on the object', async () => {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'ver/a', Body: 'kept' }));
    assert.equal((await bytes((await a[1]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ver/a', VersionId: 'null' }))).Body)).toString(), 'kept');
    await s3failure(a[1]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'ver/a', VersionId: 'abc123' })), 'InvalidArgument', 400);
    await s3failure(a[2]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'ver/a', VersionId: 'abc123' })), undefined, 400);
    await s3failure(a[2]!.send(new DeleteObjectCommand({ Bucket: 'objects', Key: 'ver/a', VersionId: 'abc123' })), 'InvalidArgument', 400);
    await s3failure(a[0]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'ver/b', CopySource: 'objects/ver/a?versionId=abc123' })), 'InvalidArgument', 400);
    const batch = await a[0]!.send(new DeleteObjectsCommand({ Bucket: 'objects', Delete: { Objects: [{ Key: 'ver/a', VersionId: 'abc123' }] } }));
    assert.deepEqual(batch.Errors?.map((e) => [e.Key, e.VersionId, e.Code]), [['ver/a', 'abc123', 'NoSuchVersion']]);
    assert.equal((await a[1]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'ver/a' }))).ContentLength, 4, 'the object is still there');
    await a[0]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'ver/b', CopySource: 'objects/ver/a?versionId=null' }));
    const nullDelete = await a[2]!.send(new DeleteObjectsCommand({ Bucket: 'objects', Delete: { Objects: [{ Key: 'ver/a', VersionId: 'null' }, { Key: 'ver/b' }] } }));
    assert.deepEqual(nullDelete.Deleted?.map((d) => [d.Key, d.VersionId]), [['ver/a', 'null'], ['ver/b', undefined]]);
    await s3failure(a[1]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'ver/a' })), undefined, 404);
  });

  test('x-amz-expected-bucket-owner (and the copy source\'s): a bucket of another owner is AccessDenied', async () => {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'owned', Body: 'x', ExpectedBucketOwner: alice.id }));
    await a[1]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'owned', ExpectedBucketOwner: 'alice' }));
    await s3failure(a[1]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'owned', ExpectedBucketOwner: '123456789012' })), 'AccessDenied', 403);
    await s3failure(a[2]!.send(new ListObjectsV2Command({ Bucket: 'objects', ExpectedBucketOwner: 'bob' })), 'AccessDenied', 403);
    await a[2]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'owned-copy', CopySource: 'objects/owned', ExpectedSourceBucketOwner: alice.id }));
    await s3failure(a[2]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'owned-copy', CopySource: 'objects/owned', ExpectedSourceBucketOwner: 'bob' })), 'AccessDenied', 403);
  });

  test('without a master key on the nodes, SSE-S3 and bucket default encryption are NotImplemented, and nothing is stored', async () => {
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'sse/s3', Body: 'x', ServerSideEncryption: 'AES256' })), 'NotImplemented', 501);
    await s3failure(a[1]!.send(new CreateMultipartUploadCommand({ Bucket: 'objects', Key: 'sse/mp', ServerSideEncryption: 'AES256' })), 'NotImplemented', 501);
    await s3failure(a[2]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'sse/s3' })), undefined, 404);
    await s3failure(
      a[0]!.send(new PutBucketEncryptionCommand({ Bucket: 'objects', ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] } })),
      'NotImplemented',
      501,
    );
    await s3failure(a[0]!.send(new GetBucketEncryptionCommand({ Bucket: 'objects' })), 'ServerSideEncryptionConfigurationNotFoundError', 404);
  });

  test('GetObjectAttributes: the attributes asked for, the parts of a multipart object (with their checksums, paged), conditions and errors', async () => {
    const put = await a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'attrs/one', Body: 'attributes', ChecksumAlgorithm: 'SHA256', StorageClass: 'STANDARD_IA' }));
    assert.equal(put.ChecksumType, 'FULL_OBJECT', 'PutObject answers the checksum type (always FULL_OBJECT)');
    const all = await a[1]!.send(new GetObjectAttributesCommand({ Bucket: 'objects', Key: 'attrs/one', ObjectAttributes: ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'] }));
    assert.equal(`"${all.ETag}"`, put.ETag, 'the ETag, unquoted');
    assert.equal(all.ObjectSize, 10);
    assert.equal(all.StorageClass, 'STANDARD_IA');
    assert.equal(all.Checksum?.ChecksumSHA256, put.ChecksumSHA256);
    assert.equal(all.ObjectParts, undefined, 'a single-part object has no parts');
    assert.ok(all.LastModified instanceof Date);
    const some = await a[2]!.send(new GetObjectAttributesCommand({ Bucket: 'objects', Key: 'attrs/one', ObjectAttributes: ['ObjectSize'] }));
    assert.equal(some.ObjectSize, 10);
    assert.equal(some.ETag, undefined, 'only what was asked for');

    const up = await a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'objects', Key: 'attrs/mp' }));
    const parts = [pattern(5 * 1024 * 1024, 21), pattern(1000, 22)];
    const etags: string[] = [];
    for (const [i, body] of parts.entries()) etags.push((await a[0]!.send(new UploadPartCommand({ Bucket: 'objects', Key: 'attrs/mp', UploadId: up.UploadId, PartNumber: i + 1, Body: body }))).ETag!);
    await a[0]!.send(new CompleteMultipartUploadCommand({ Bucket: 'objects', Key: 'attrs/mp', UploadId: up.UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
    const mp = await a[1]!.send(new GetObjectAttributesCommand({ Bucket: 'objects', Key: 'attrs/mp', ObjectAttributes: ['ObjectParts', 'ObjectSize'] }));
    assert.equal(mp.ObjectParts?.TotalPartsCount, 2);
    assert.equal(mp.ObjectSize, parts[0]!.length + parts[1]!.length);

    // Uploaded with a checksum algorithm: the parts are listed with their sizes and checksums, a page at a time.
    const ck = await a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'objects', Key: 'attrs/ck', ChecksumAlgorithm: 'CRC32C' }));
    const ckParts = [pattern(5 * 1024 * 1024, 23), pattern(5 * 1024 * 1024, 24), pattern(777, 25)];
    const uploaded: { ETag: string; ChecksumCRC32C: string; PartNumber: number }[] = [];
    for (const [i, body] of ckParts.entries()) {
      const part = await a[0]!.send(new UploadPartCommand({ Bucket: 'objects', Key: 'attrs/ck', UploadId: ck.UploadId, PartNumber: i + 1, Body: body, ChecksumAlgorithm: 'CRC32C' }));
      uploaded.push({ ETag: part.ETag!, ChecksumCRC32C: part.ChecksumCRC32C!, PartNumber: i + 1 });
    }
    await a[0]!.send(new CompleteMultipartUploadCommand({ Bucket: 'objects', Key: 'attrs/ck', UploadId: ck.UploadId, MultipartUpload: { Parts: uploaded } }));
    const firstPage = await a[1]!.send(new GetObjectAttributesCommand({ Bucket: 'objects', Key: 'attrs/ck', ObjectAttributes: ['ObjectParts'], MaxParts: 2 }));
    assert.equal(firstPage.ObjectParts?.TotalPartsCount, 3);
    assert.equal(firstPage.ObjectParts?.IsTruncated, true);
    assert.equal(firstPage.ObjectParts?.MaxParts, 2);
    assert.equal(String(firstPage.ObjectParts?.NextPartNumberMarker), '2');
    assert.deepEqual(
      firstPage.ObjectParts?.Parts?.map((p) => [p.PartNumber, p.Size, p.ChecksumCRC32C]),
      uploaded.slice(0, 2).map((p, i) => [p.PartNumber, ckParts[i]!.length, p.ChecksumCRC32C]),
    );
    const lastPage = await a[2]!.send(new GetObjectAttributesCommand({ Bucket: 'objects', Key: 'attrs/ck', ObjectAttributes: ['ObjectParts'], PartNumberMarker: '2' }));
    assert.equal(lastPage.ObjectParts?.IsTruncated, false);
    assert.deepEqual(lastPage.ObjectParts?.Parts?.map((p) => [p.PartNumber, p.Size, p.ChecksumCRC32C]), [[3, 777, uploaded[2]!.ChecksumCRC32C]]);

    const precondition = await rawRequest(nodes[2]!.endpoint, alice, { method: 'GET', path: '/objects/attrs/one', query: { attributes: '' }, headers: { 'x-amz-object-attributes': 'ETag', 'if-match': '"nope"' } });
    assert.equal(precondition.status, 412, 'If-Match is evaluated as for GetObject');
    await s3failure(a[1]!.send(new GetObjectAttributesCommand({ Bucket: 'objects', Key: 'attrs/none', ObjectAttributes: ['ETag'] })), 'NoSuchKey', 404);
    await s3failure(b0.send(new GetObjectAttributesCommand({ Bucket: 'objects', Key: 'attrs/one', ObjectAttributes: ['ETag'] })), 'AccessDenied', 403);
    const missing = await rawRequest(nodes[0]!.endpoint, alice, { method: 'GET', path: '/objects/attrs/one', query: { attributes: '' } });
    assert.equal(missing.status, 400);
    assert.match(missing.body.toString(), /<Code>InvalidRequest<\/Code>/);
    const unknown = await rawRequest(nodes[0]!.endpoint, alice, { method: 'GET', path: '/objects/attrs/one', query: { attributes: '' }, headers: { 'x-amz-object-attributes': 'ETag,Colour' } });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.toString(), /<Code>InvalidArgument<\/Code>/);
  });

  test('CopyObject: metadata directive COPY and REPLACE, conditional copies, large sources, errors', async () => {
    const data = pattern(900_000, 7);
    await a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'copy/src', Body: data, ContentType: 'image/png', Metadata: { origin: 'camera' } }));
    const head = await a[0]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'copy/src' }));
    const copied = await a[1]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/same-meta', CopySource: 'objects/copy/src' }));
    assert.equal(copied.CopyObjectResult?.ETag, head.ETag);
    const c1 = await a[2]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'copy/same-meta' }));
    assert.ok((await bytes(c1.Body)).equals(data));
    assert.equal(c1.ContentType, 'image/png');
    assert.deepEqual(c1.Metadata, { origin: 'camera' });
    await a[2]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/new-meta', CopySource: `objects/${encodeURIComponent('copy/src')}`, MetadataDirective: 'REPLACE', ContentType: 'text/plain', Metadata: { origin: 'copy' } }));
    const c2 = await a[0]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'copy/new-meta' }));
    assert.equal(c2.ContentType, 'text/plain');
    assert.deepEqual(c2.Metadata, { origin: 'copy' });
    // The source can go: the copy keeps the data.
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'objects', Key: 'copy/src' }));
    const c3 = await a[1]!.send(new GetObjectCommand({ Bucket: 'objects', Key: 'copy/new-meta' }));
    assert.ok((await bytes(c3.Body)).equals(data));

    // The storage class is the request's (STANDARD without the header), not the source's; the
    // website redirect location is never copied, only set by the request's own header.
    await a[0]!.send(new PutObjectCommand({ Bucket: 'objects', Key: 'copy/classy', Body: 'c', StorageClass: 'GLACIER_IR', WebsiteRedirectLocation: '/elsewhere', CacheControl: 'max-age=60' }));
    await a[1]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/plain', CopySource: 'objects/copy/classy' }));
    const plain = await a[2]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'copy/plain' }));
    assert.deepEqual([plain.StorageClass, plain.WebsiteRedirectLocation, plain.CacheControl], [undefined, undefined, 'max-age=60']);
    await a[1]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/ia', CopySource: 'objects/copy/classy', StorageClass: 'STANDARD_IA', WebsiteRedirectLocation: '/new-target' }));
    const ia = await a[2]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'copy/ia' }));
    assert.deepEqual([ia.StorageClass, ia.WebsiteRedirectLocation, ia.CacheControl], ['STANDARD_IA', '/new-target', 'max-age=60']);
    // A new redirect location alone makes a copy onto itself legal.
    await a[0]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/plain', CopySource: 'objects/copy/plain', WebsiteRedirectLocation: '/moved' }));
    assert.equal((await a[1]!.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'copy/plain' }))).WebsiteRedirectLocation, '/moved');

    await s3failure(a[0]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/x', CopySource: 'objects/copy/src' })), 'NoSuchKey', 404);
    await s3failure(a[0]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/x', CopySource: 'nobucket/k' })), 'NoSuchBucket', 404);
    await s3failure(a[0]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/new-meta', CopySource: 'objects/copy/new-meta' })), 'InvalidRequest', 400);
    await a[0]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/new-meta', CopySource: 'objects/copy/new-meta', MetadataDirective: 'REPLACE', Metadata: { again: '1' } }));
    await s3failure(a[0]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/y', CopySource: 'objects/copy/new-meta', CopySourceIfMatch: '"0000"' })), 'PreconditionFailed', 412);
    await s3failure(a[0]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/y', CopySource: 'objects/copy/new-meta', CopySourceIfNoneMatch: head.ETag })), 'PreconditionFailed', 412);
    await s3failure(a[0]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/y', CopySource: 'objects/copy/new-meta', CopySourceIfModifiedSince: new Date(Date.now() + 3600_000) })), 'PreconditionFailed', 412);
    const ok = await a[0]!.send(new CopyObjectCommand({ Bucket: 'objects', Key: 'copy/y', CopySource: 'objects/copy/new-meta', CopySourceIfMatch: head.ETag, CopySourceIfUnmodifiedSince: new Date(Date.now() + 3600_000) }));
    assert.equal(ok.CopyObjectResult?.ETag, head.ETag);
    // Another user cannot copy out of a private bucket.
    await b0.send(new CreateBucketCommand({ Bucket: 'bobs-bucket' }));
    await s3failure(b0.send(new CopyObjectCommand({ Bucket: 'bobs-bucket', Key: 'stolen', CopySource: 'objects/copy/y' })), 'AccessDenied', 403);
  });

  test('ListObjects v1 and v2: prefix, delimiter, CommonPrefixes, max-keys, paging, start-after, marker, encoding-type=url', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'listing' }));
    const keys = ['a/1', 'a/2', 'a/b/3', 'a/b/4', 'a/c/5', 'b', 'c/6', 'c/7', 'd e+f', 'ü/x'];
    await Promise.all(keys.map((k, i) => a[i % 3]!.send(new PutObjectCommand({ Bucket: 'listing', Key: k, Body: k }))));
    const all = await a[1]!.send(new ListObjectsV2Command({ Bucket: 'listing' }));
    assert.deepEqual(all.Contents?.map((c) => c.Key), keys);
    assert.equal(all.KeyCount, keys.length);
    assert.equal(all.IsTruncated, false);
    assert.equal(all.Contents![0]!.Size, 3);
    assert.equal(all.Contents![0]!.ETag, `"${createHash('md5').update('a/1').digest('hex')}"`);

    const top = await a[2]!.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '/' }));
    assert.deepEqual(top.Contents?.map((c) => c.Key), ['b', 'd e+f']);
    assert.deepEqual(top.CommonPrefixes?.map((p) => p.Prefix), ['a/', 'c/', 'ü/']);
    const inA = await a[0]!.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'a/', Delimiter: '/' }));
    assert.deepEqual(inA.Contents?.map((c) => c.Key), ['a/1', 'a/2']);
    assert.deepEqual(inA.CommonPrefixes?.map((p) => p.Prefix), ['a/b/', 'a/c/']);

    // Paging with continuation tokens, two at a time, over keys and common prefixes.
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await a[pages % 3]!.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '/', MaxKeys: 2, ...(token ? { ContinuationToken: token } : {}) }));
      seen.push(...(page.Contents ?? []).map((c) => c.Key!), ...(page.CommonPrefixes ?? []).map((p) => p.Prefix!));
      assert.ok((page.KeyCount ?? 0) <= 2);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated) assert.ok(token);
      pages++;
    } while (token);
    assert.deepEqual(seen.sort(), ['a/', 'b', 'c/', 'd e+f', 'ü/'].sort());
    assert.equal(pages, 3);
    const after = await a[1]!.send(new ListObjectsV2Command({ Bucket: 'listing', StartAfter: 'c/6' }));
    assert.deepEqual(after.Contents?.map((c) => c.Key), ['c/7', 'd e+f', 'ü/x']);
    const none = await a[1]!.send(new ListObjectsV2Command({ Bucket: 'listing', MaxKeys: 0 }));
    assert.equal(none.KeyCount, 0);
    assert.equal(none.IsTruncated, false);
    // An empty continuation token is no token, and is echoed (s3-tests' continuationtoken_empty).
    const emptyToken = await a[2]!.send(new ListObjectsV2Command({ Bucket: 'listing', ContinuationToken: '' }));
    assert.equal(emptyToken.ContinuationToken, '');
    assert.deepEqual(emptyToken.Contents?.map((c) => c.Key), keys);

    const v1 = await a[2]!.send(new ListObjectsCommand({ Bucket: 'listing', Prefix: 'a/', MaxKeys: 3 }));
    assert.deepEqual(v1.Contents?.map((c) => c.Key), ['a/1', 'a/2', 'a/b/3']);
    assert.equal(v1.IsTruncated, true);
    assert.equal(v1.Contents![0]!.Owner?.DisplayName, 'alice');
    const v1next = await a[0]!.send(new ListObjectsCommand({ Bucket: 'listing', Prefix: 'a/', Marker: 'a/b/3' }));
    assert.deepEqual(v1next.Contents?.map((c) => c.Key), ['a/b/4', 'a/c/5']);
    assert.equal(v1next.IsTruncated, false);
    const v1delim = await a[0]!.send(new ListObjectsCommand({ Bucket: 'listing', Delimiter: '/', MaxKeys: 2 }));
    assert.equal(v1delim.IsTruncated, true);
    assert.equal(v1delim.NextMarker, 'b');

    const encoded = await a[1]!.send(new ListObjectsV2Command({ Bucket: 'listing', EncodingType: 'url', Prefix: 'd' }));
    assert.equal(encoded.EncodingType, 'url');
    assert.deepEqual(encoded.Contents?.map((c) => c.Key), ['d%20e%2Bf']);
    await s3failure(a[1]!.send(new ListObjectsV2Command({ Bucket: 'listing', ContinuationToken: 'bogus' })), 'InvalidArgument', 400);
    await s3failure(b0.send(new ListObjectsV2Command({ Bucket: 'listing' })), 'AccessDenied', 403);
  });
});
