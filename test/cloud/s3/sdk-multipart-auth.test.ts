/**
 * Pi Cloud S3 on a 3-node loopback ring: multipart uploads (lib-storage and the individual
 * operations, with their errors), authentication (SigV4 header, presigned URLs, UNSIGNED-PAYLOAD,
 * signed aws-chunked bodies, wrong secrets, unknown keys, clock skew), ownership and canned ACLs
 * for other users and anonymous requests, and virtual-hosted-style addressing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetBucketAclCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutBucketAclCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/core/protocols';
import { encodeSignedChunked } from './protocol/sigv4-helpers.ts';
import { compositeChecksum, computeChecksum } from '../../../src/cloud/s3/protocol/index.ts';
import { SDK_SHA512, bytes, clientFor, createUser, pattern, rawRequest, s3failure, startS3Ring } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const MiB = 1024 * 1024;


function md5hex(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

describe('S3 multipart uploads, authentication and access on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let bob: TestUser;
  let a: S3Client[];
  let b: S3Client;
  let anon: S3Client;

  before(async () => {
    nodes = await startS3Ring((fn) => cleanups.push(fn), 3);
    alice = await createUser(nodes[0]!, 'alice');
    bob = await createUser(nodes[2]!, 'bob');
    a = nodes.map((n) => clientFor(n.endpoint, alice));
    b = clientFor(nodes[1]!.endpoint, bob);
    anon = clientFor(nodes[2]!.endpoint, undefined);
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'mpu' }));
  });

  after(async () => {
    for (const c of [...a, b, anon]) c.destroy();
    await runCleanups(cleanups);
  });

  test('lib-storage Upload: a 16 MiB stream in 5 MiB parts, read back byte for byte through another node', async () => {
    const data = pattern(16 * MiB + 123, 42);
    const upload = new Upload({ client: a[1]!, params: { Bucket: 'mpu', Key: 'big/object.bin', Body: Readable.from([data.subarray(0, 7 * MiB), data.subarray(7 * MiB)]), ContentType: 'video/mp4', Metadata: { kind: 'multipart' } }, partSize: 5 * MiB, queueSize: 3 });
    const result = await upload.done();
    const parts = [0, 1, 2, 3].map((i) => data.subarray(i * 5 * MiB, Math.min(data.length, (i + 1) * 5 * MiB)));
    const expected = createHash('md5').update(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()))).digest('hex') + '-4';
    assert.equal(result.ETag, `"${expected}"`);
    const got = await a[2]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'big/object.bin' }));
    assert.ok((await bytes(got.Body)).equals(data));
    assert.equal(got.ContentType, 'video/mp4');
    assert.deepEqual(got.Metadata, { kind: 'multipart' });
    assert.equal(got.PartsCount ?? Number(got.$metadata.httpStatusCode === 200 ? 4 : 0), 4);
    const range = await a[0]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'big/object.bin', Range: `bytes=${5 * MiB - 10}-${5 * MiB + 9}` }));
    assert.ok((await bytes(range.Body)).equals(data.subarray(5 * MiB - 10, 5 * MiB + 10)), 'a range across a part boundary');
    // lib-storage's defaults: a CRC32 upload (COMPOSITE), every part with its CRC32 up and in the complete list.
    const head = await a[0]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'big/object.bin', ChecksumMode: 'ENABLED' }));
    assert.deepEqual([head.ChecksumCRC32, head.ChecksumType], [compositeChecksum('CRC32', parts.map((p) => computeChecksum('CRC32', p))), 'COMPOSITE']);
  });

  test('lib-storage Upload with ChecksumAlgorithm SHA256: parts and completion carry SHA-256, the object a COMPOSITE SHA-256', async () => {
    const data = pattern(11 * MiB, 43);
    const upload = new Upload({ client: a[2]!, params: { Bucket: 'mpu', Key: 'big/sha256.bin', Body: data, ChecksumAlgorithm: 'SHA256' }, partSize: 5 * MiB, queueSize: 2 });
    const result = await upload.done();
    const parts = [0, 1, 2].map((i) => data.subarray(i * 5 * MiB, Math.min(data.length, (i + 1) * 5 * MiB)));
    const expected = compositeChecksum('SHA256', parts.map((p) => computeChecksum('SHA256', p)));
    assert.equal(result.ChecksumSHA256, expected);
    const head = await a[1]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'big/sha256.bin', ChecksumMode: 'ENABLED' }));
    assert.deepEqual([head.ChecksumSHA256, head.ChecksumType], [expected, 'COMPOSITE']);
    assert.ok((await bytes((await a[0]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'big/sha256.bin' }))).Body)).equals(data));
  });

  test('CreateMultipartUpload, UploadPart, UploadPartCopy, ListParts, ListMultipartUploads, CompleteMultipartUpload with checksums', async () => {
    const src = pattern(6 * MiB, 3);
    await a[0]!.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'copy-source', Body: src }));
    const created = await a[1]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'assembled', ContentType: 'application/x-parts', ChecksumAlgorithm: 'CRC32' }));
    const uploadId = created.UploadId!;
    assert.ok(uploadId);
    assert.equal(created.ChecksumAlgorithm, 'CRC32');
    const p1 = pattern(5 * MiB, 11);
    const r1 = await a[2]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: uploadId, PartNumber: 1, Body: p1, ChecksumAlgorithm: 'CRC32' }));
    assert.equal(r1.ETag, `"${md5hex(p1)}"`);
    assert.ok(r1.ChecksumCRC32);
    const r2 = await a[0]!.send(new UploadPartCopyCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: uploadId, PartNumber: 2, CopySource: 'mpu/copy-source' }));
    assert.equal(r2.CopyPartResult?.ETag, `"${md5hex(src)}"`);
    const r3 = await a[1]!.send(new UploadPartCopyCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: uploadId, PartNumber: 3, CopySource: 'mpu/copy-source', CopySourceRange: 'bytes=100-199' }));
    assert.equal(r3.CopyPartResult?.ETag, `"${md5hex(src.subarray(100, 200))}"`);
    // Copied parts get the upload's checksum computed by the server, as S3 does.
    assert.equal(r2.CopyPartResult?.ChecksumCRC32, computeChecksum('CRC32', src));
    assert.equal(r3.CopyPartResult?.ChecksumCRC32, computeChecksum('CRC32', src.subarray(100, 200)));
    const c1 = r1.ChecksumCRC32;
    const c2 = r2.CopyPartResult!.ChecksumCRC32;
    const c3 = r3.CopyPartResult!.ChecksumCRC32;

    const listed = await a[2]!.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: uploadId }));
    assert.deepEqual(listed.Parts?.map((p) => [p.PartNumber, p.Size]), [[1, 5 * MiB], [2, 6 * MiB], [3, 100]]);
    const page = await a[2]!.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: uploadId, MaxParts: 2 }));
    assert.equal(page.IsTruncated, true);
    assert.equal(page.NextPartNumberMarker, '2');
    const uploads = await a[0]!.send(new ListMultipartUploadsCommand({ Bucket: 'mpu' }));
    assert.deepEqual(uploads.Uploads?.map((u) => [u.Key, u.UploadId]), [['assembled', uploadId]]);
    assert.equal(uploads.Uploads![0]!.Initiator?.DisplayName, 'alice');
    // Uploads of one key are listed in order of initiation, and page by key and upload id markers.
    const same: string[] = [];
    for (let i = 0; i < 3; i++) same.push((await a[i]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'assembled' }))).UploadId!);
    const four = await a[1]!.send(new ListMultipartUploadsCommand({ Bucket: 'mpu', Prefix: 'assembled' }));
    assert.deepEqual(four.Uploads?.map((u) => u.UploadId), [uploadId, ...same]);
    const firstPage = await a[2]!.send(new ListMultipartUploadsCommand({ Bucket: 'mpu', Prefix: 'assembled', MaxUploads: 2 }));
    assert.deepEqual([firstPage.IsTruncated, firstPage.NextKeyMarker, firstPage.NextUploadIdMarker], [true, 'assembled', same[0]]);
    const nextPage = await a[0]!.send(new ListMultipartUploadsCommand({ Bucket: 'mpu', Prefix: 'assembled', KeyMarker: firstPage.NextKeyMarker, UploadIdMarker: firstPage.NextUploadIdMarker }));
    assert.deepEqual([nextPage.IsTruncated, nextPage.Uploads?.map((u) => u.UploadId)], [false, same.slice(1)]);
    for (const id of same) await a[0]!.send(new AbortMultipartUploadCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: id }));
    // A delimiter rolls uploads up into common prefixes, past "directories" larger than the listing reads through (32).
    const inDirs: [string, string][] = [];
    for (const key of [...Array.from({ length: 40 }, (_, i) => `dirs/a/${i}`), 'dirs/b/1', 'dirs/top', 'dirs/z/1']) {
      inDirs.push([key, (await a[inDirs.length % 3]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: key }))).UploadId!]);
    }
    const rolled = await a[1]!.send(new ListMultipartUploadsCommand({ Bucket: 'mpu', Prefix: 'dirs/', Delimiter: '/' }));
    assert.deepEqual(rolled.CommonPrefixes?.map((p) => p.Prefix), ['dirs/a/', 'dirs/b/', 'dirs/z/']);
    assert.deepEqual(rolled.Uploads?.map((u) => u.Key), ['dirs/top']);
    for (const [Key, UploadId] of inDirs) await a[0]!.send(new AbortMultipartUploadCommand({ Bucket: 'mpu', Key, UploadId }));

    // Complete errors first: a wrong ETag, a wrong order, a part never uploaded.
    await s3failure(a[0]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: uploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"00000000000000000000000000000000"', ChecksumCRC32: c1 }] } })), 'InvalidPart', 400);
    await s3failure(
      a[0]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: uploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: r1.ETag, ChecksumCRC32: c1 }, { PartNumber: 3, ETag: r3.CopyPartResult!.ETag, ChecksumCRC32: c3 }, { PartNumber: 2, ETag: r2.CopyPartResult!.ETag, ChecksumCRC32: c2 }] } })),
      'InvalidPartOrder',
      400,
    );
    await s3failure(
      a[0]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: uploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: r1.ETag, ChecksumCRC32: c1 }, { PartNumber: 2, ETag: r2.CopyPartResult!.ETag, ChecksumCRC32: c2 }, { PartNumber: 3, ETag: r3.CopyPartResult!.ETag, ChecksumCRC32: c3 }, { PartNumber: 4, ETag: r1.ETag, ChecksumCRC32: c1 }] } })),
      'InvalidPart',
      400,
    );
    // Parts 1 and 2 (each at least 5 MiB) then 3.
    const done = await a[2]!.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'mpu',
        Key: 'assembled',
        UploadId: uploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: r1.ETag, ChecksumCRC32: c1 }, { PartNumber: 2, ETag: r2.CopyPartResult!.ETag, ChecksumCRC32: c2 }, { PartNumber: 3, ETag: r3.CopyPartResult!.ETag, ChecksumCRC32: c3 }] },
      }),
    );
    assert.match(done.ETag ?? '', /^"[0-9a-f]{32}-3"$/);
    assert.equal(done.ChecksumCRC32, compositeChecksum('CRC32', [c1!, c2!, c3!]));
    assert.equal(done.ChecksumType, 'COMPOSITE');
    assert.equal(done.Key, 'assembled');
    const whole = Buffer.concat([p1, src, src.subarray(100, 200)]);
    const got = await a[1]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'assembled' }));
    assert.ok((await bytes(got.Body)).equals(whole));
    assert.equal(got.ContentType, 'application/x-parts');
    // The part count is reported only to a request by part number (S3 GetObject / HeadObject).
    assert.equal(got.PartsCount, undefined);
    // GetObject / HeadObject by part number: that part's bytes as a range, with the part count.
    const offsets = [0, 5 * MiB, 11 * MiB, 11 * MiB + 100];
    for (const n of [1, 2, 3]) {
      const part = await a[n - 1]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'assembled', PartNumber: n }));
      assert.equal(part.$metadata.httpStatusCode, 206);
      assert.ok((await bytes(part.Body)).equals(whole.subarray(offsets[n - 1], offsets[n])), `part ${n}`);
      assert.equal(part.ContentRange, `bytes ${offsets[n - 1]}-${offsets[n]! - 1}/${whole.length}`);
      assert.equal(part.PartsCount, 3);
      assert.equal(part.ETag, done.ETag);
      const head = await a[0]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'assembled', PartNumber: n }));
      assert.deepEqual([head.$metadata.httpStatusCode, head.ContentLength, head.PartsCount], [206, offsets[n]! - offsets[n - 1]!, 3]);
    }
    await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'assembled', PartNumber: 4 })), 'InvalidPartNumber', 416);
    await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'assembled', PartNumber: 1, Range: 'bytes=0-9' })), 'InvalidRequest', 400);
    const none = await a[0]!.send(new ListMultipartUploadsCommand({ Bucket: 'mpu' }));
    assert.equal(none.Uploads, undefined);
    await s3failure(a[0]!.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: uploadId })), 'NoSuchUpload', 404);
    // Completing it again (a retry) succeeds with the same result; other parts are NoSuchUpload.
    const parts = [{ PartNumber: 1, ETag: r1.ETag, ChecksumCRC32: c1 }, { PartNumber: 2, ETag: r2.CopyPartResult!.ETag, ChecksumCRC32: c2 }, { PartNumber: 3, ETag: r3.CopyPartResult!.ETag, ChecksumCRC32: c3 }];
    const again = await a[1]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    assert.deepEqual([again.ETag, again.Key, again.Bucket, again.ChecksumCRC32], [done.ETag, 'assembled', 'mpu', done.ChecksumCRC32]);
    await s3failure(a[1]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: uploadId, MultipartUpload: { Parts: parts.slice(0, 2) } })), 'NoSuchUpload', 404);
    await s3failure(a[0]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'assembled', UploadId: uploadId, PartNumber: 1, Body: 'x' })), 'NoSuchUpload', 404);
  });

  test('CreateMultipartUpload refuses checksum types its algorithm does not have: FULL_OBJECT SHA, COMPOSITE CRC64NVME, a type alone or unknown', async () => {
    for (const [ChecksumAlgorithm, ChecksumType, message] of [
      ['SHA256', 'FULL_OBJECT', 'The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm.'],
      ['SHA1', 'FULL_OBJECT', 'The FULL_OBJECT checksum type cannot be used with the sha1 checksum algorithm.'],
      ['CRC64NVME', 'COMPOSITE', 'The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.'],
    ] as const) {
      const e = await s3failure(a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'types/refused', ChecksumAlgorithm, ChecksumType })), 'InvalidRequest', 400);
      assert.equal(e.message, message);
    }
    const alone = await rawRequest(nodes[1]!.endpoint, alice, { method: 'POST', path: '/mpu/types/refused', query: { uploads: '' }, headers: { 'x-amz-checksum-type': 'FULL_OBJECT' } });
    assert.equal(alone.status, 400);
    assert.match(alone.body.toString(), /<Code>InvalidRequest<\/Code><Message>The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.<\/Message>/);
    const unknown = await rawRequest(nodes[1]!.endpoint, alice, { method: 'POST', path: '/mpu/types/refused', query: { uploads: '' }, headers: { 'x-amz-checksum-algorithm': 'CRC32', 'x-amz-checksum-type': 'WHOLE' } });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.toString(), /<Code>InvalidRequest<\/Code><Message>Value for x-amz-checksum-type header is invalid.<\/Message>/);
    assert.equal((await a[2]!.send(new ListMultipartUploadsCommand({ Bucket: 'mpu', Prefix: 'types/' }))).Uploads, undefined, 'no upload was created');
    // The defaults: CRC64NVME is FULL_OBJECT, the others COMPOSITE; FULL_OBJECT CRC32 / CRC32C as asked.
    for (const [ChecksumAlgorithm, ChecksumType, type] of [
      ['CRC64NVME', undefined, 'FULL_OBJECT'],
      ['CRC32C', undefined, 'COMPOSITE'],
      ['SHA1', undefined, 'COMPOSITE'],
      ['CRC32', 'FULL_OBJECT', 'FULL_OBJECT'],
      ['SHA256', 'COMPOSITE', 'COMPOSITE'],
    ] as const) {
      const created = await a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'types/ok', ChecksumAlgorithm, ChecksumType }));
      assert.deepEqual([created.ChecksumAlgorithm, created.ChecksumType], [ChecksumAlgorithm, type]);
      await a[0]!.send(new AbortMultipartUploadCommand({ Bucket: 'mpu', Key: 'types/ok', UploadId: created.UploadId }));
    }
  });

  test('a COMPOSITE upload: parts of another algorithm or none refused, part checksums required and checked on completion, the header is the object checksum, parts read back with theirs', async () => {
    const key = 'sums/composite';
    const created = await a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: key, ChecksumAlgorithm: 'CRC32' }));
    const UploadId = created.UploadId!;
    assert.equal(created.ChecksumType, 'COMPOSITE', 'CRC32 without a type is COMPOSITE');
    const p1 = pattern(5 * MiB, 61);
    const p2 = pattern(1000, 62);
    // UploadPart of another algorithm, or with none: refused before anything is stored.
    const other = await s3failure(a[1]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: key, UploadId, PartNumber: 1, Body: p1, ChecksumAlgorithm: 'SHA256' })), 'InvalidRequest', 400);
    assert.equal(other.message, 'Checksum Type mismatch occurred, expected checksum Type: crc32, actual checksum Type: sha256');
    const none = await rawRequest(nodes[2]!.endpoint, alice, { method: 'PUT', path: `/mpu/${key}`, query: { partNumber: '1', uploadId: UploadId }, body: p2 });
    assert.equal(none.status, 400);
    assert.match(none.body.toString(), /<Code>InvalidRequest<\/Code><Message>Checksum Type mismatch occurred, expected checksum Type: crc32, actual checksum Type: null<\/Message>/);
    assert.equal((await a[0]!.send(new ListPartsCommand({ Bucket: 'mpu', Key: key, UploadId }))).Parts, undefined);
    const u1 = await a[1]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: key, UploadId, PartNumber: 1, Body: p1, ChecksumAlgorithm: 'CRC32' }));
    const u2 = await a[2]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: key, UploadId, PartNumber: 2, Body: p2, ChecksumAlgorithm: 'CRC32' }));
    assert.deepEqual([u1.ChecksumCRC32, u2.ChecksumCRC32], [computeChecksum('CRC32', p1), computeChecksum('CRC32', p2)]);
    const listed = [
      { PartNumber: 1, ETag: u1.ETag, ChecksumCRC32: u1.ChecksumCRC32 },
      { PartNumber: 2, ETag: u2.ETag, ChecksumCRC32: u2.ChecksumCRC32 },
    ];
    const complete = (Parts: typeof listed, extra: { ChecksumCRC32?: string; ChecksumType?: 'COMPOSITE' | 'FULL_OBJECT' } = {}, node = 0) => a[node]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: key, UploadId, MultipartUpload: { Parts }, ...extra }));
    // A checksum type other than the upload's is BadDigest.
    await s3failure(complete(listed, { ChecksumType: 'FULL_OBJECT' }), 'BadDigest', 400);
    // The complete list must give every part's checksum; the first missing one is named.
    const missing = await s3failure(complete(listed.map(({ PartNumber, ETag }) => ({ PartNumber, ETag, ChecksumCRC32: undefined }))), 'InvalidRequest', 400);
    assert.equal(missing.message, 'The upload was created using a crc32 checksum. The complete request must include the checksum for each part. It was missing for part 1 in the request.');
    const second = await s3failure(complete([listed[0]!, { ...listed[1]!, ChecksumCRC32: undefined }]), 'InvalidRequest', 400);
    assert.match(second.message, /It was missing for part 2 in the request\.$/);
    // A part checksum that is not the part's: InvalidPart, as a wrong ETag.
    await s3failure(complete([listed[0]!, { ...listed[1]!, ChecksumCRC32: u1.ChecksumCRC32 }], {}, 1), 'InvalidPart', 400);
    // x-amz-checksum-crc32 on CompleteMultipartUpload is the object's checksum (not the XML body's).
    const composite = compositeChecksum('CRC32', [u1.ChecksumCRC32!, u2.ChecksumCRC32!]);
    const wrong = await s3failure(complete(listed, { ChecksumCRC32: `${computeChecksum('CRC32', Buffer.from('other'))}-2`, ChecksumType: 'COMPOSITE' }, 2), 'BadDigest', 400);
    assert.match(wrong.message, /CRC32/);
    await s3failure(complete(listed, { ChecksumCRC32: `${composite.split('-')[0]}-3` }), 'BadDigest', 400);
    await s3failure(complete(listed, { ChecksumCRC32: 'not a checksum' }), 'InvalidRequest', 400);
    // The body is still verified as any body: a wrong Content-MD5 fails, the right one passes.
    const xml = `<CompleteMultipartUpload>${listed.map((p) => `<Part><PartNumber>${p.PartNumber}</PartNumber><ETag>${p.ETag}</ETag><ChecksumCRC32>${p.ChecksumCRC32}</ChecksumCRC32></Part>`).join('')}</CompleteMultipartUpload>`;
    const badMd5 = await rawRequest(nodes[0]!.endpoint, alice, { method: 'POST', path: `/mpu/${key}`, query: { uploadId: UploadId }, headers: { 'x-amz-checksum-crc32': composite, 'content-md5': createHash('md5').update('other').digest('base64') }, body: Buffer.from(xml) });
    assert.equal(badMd5.status, 400);
    assert.match(badMd5.body.toString(), /<Code>BadDigest<\/Code><Message>The Content-MD5 you specified did not match what we received.<\/Message>/);
    assert.equal((await a[0]!.send(new ListPartsCommand({ Bucket: 'mpu', Key: key, UploadId }))).Parts?.length, 2, 'the refused completions left the upload as it was');
    const done = await rawRequest(nodes[0]!.endpoint, alice, { method: 'POST', path: `/mpu/${key}`, query: { uploadId: UploadId }, headers: { 'x-amz-checksum-crc32': composite, 'x-amz-checksum-type': 'COMPOSITE', 'content-md5': createHash('md5').update(xml).digest('base64') }, body: Buffer.from(xml) });
    assert.equal(done.status, 200, done.body.toString());
    assert.match(done.body.toString(), new RegExp(`<ChecksumCRC32>${composite.replace(/[+/]/g, '\\$&')}</ChecksumCRC32><ChecksumType>COMPOSITE</ChecksumType>`));
    // A retry of the completion is checked the same way; the value may come without its -N.
    const again = await complete(listed, { ChecksumCRC32: composite.split('-')[0] }, 1);
    assert.equal(again.ChecksumCRC32, composite);
    await s3failure(complete(listed, { ChecksumCRC32: u1.ChecksumCRC32 }, 2), 'BadDigest', 400);

    // By part number, with checksum mode, each part answers its own checksum (type COMPOSITE); the whole object the composite.
    for (const [n, body, sum] of [[1, p1, u1.ChecksumCRC32], [2, p2, u2.ChecksumCRC32]] as const) {
      const got = await a[n]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: key, PartNumber: n, ChecksumMode: 'ENABLED' }));
      assert.ok((await bytes(got.Body)).equals(body));
      assert.deepEqual([got.ChecksumCRC32, got.ChecksumType], [sum, 'COMPOSITE'], `part ${n}`);
      const head = await a[0]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: key, PartNumber: n, ChecksumMode: 'ENABLED' }));
      assert.deepEqual([head.ChecksumCRC32, head.ChecksumType], [sum, 'COMPOSITE'], `HEAD part ${n}`);
    }
    const whole = await a[2]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: key, ChecksumMode: 'ENABLED' }));
    assert.deepEqual([whole.ChecksumCRC32, whole.ChecksumType], [composite, 'COMPOSITE']);
    // This object copied whole as a part of a CRC32 upload: its composite value is not the bytes' CRC, so that is computed.
    const next = await a[1]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'sums/next', ChecksumAlgorithm: 'CRC32' }));
    const copied = await a[2]!.send(new UploadPartCopyCommand({ Bucket: 'mpu', Key: 'sums/next', UploadId: next.UploadId, PartNumber: 1, CopySource: `mpu/${key}` }));
    assert.deepEqual([copied.CopyPartResult?.ETag, copied.CopyPartResult?.ChecksumCRC32], [`"${md5hex(Buffer.concat([p1, p2]))}"`, computeChecksum('CRC32', Buffer.concat([p1, p2]))]);
    await a[0]!.send(new AbortMultipartUploadCommand({ Bucket: 'mpu', Key: 'sums/next', UploadId: next.UploadId }));
  });

  test('a FULL_OBJECT upload: a part without a checksum gets one computed, none needed in the complete list, the header is the whole object CRC', async () => {
    const key = 'sums/full';
    const created = await a[1]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: key, ChecksumAlgorithm: 'CRC32C', ChecksumType: 'FULL_OBJECT' }));
    const UploadId = created.UploadId!;
    const p1 = pattern(5 * MiB, 71);
    const p2 = pattern(2000, 72);
    const other = await s3failure(a[0]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: key, UploadId, PartNumber: 1, Body: p1, ChecksumAlgorithm: 'CRC32' })), 'InvalidRequest', 400);
    assert.equal(other.message, 'Checksum Type mismatch occurred, expected checksum Type: crc32c, actual checksum Type: crc32');
    const u1 = await rawRequest(nodes[2]!.endpoint, alice, { method: 'PUT', path: `/mpu/${key}`, query: { partNumber: '1', uploadId: UploadId }, body: p1 });
    assert.equal(u1.status, 200, u1.body.toString());
    assert.equal(u1.headers['x-amz-checksum-crc32c'], computeChecksum('CRC32C', p1), 'computed by the server');
    const u2 = await a[0]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: key, UploadId, PartNumber: 2, Body: p2, ChecksumAlgorithm: 'CRC32C' }));
    const Parts = [{ PartNumber: 1, ETag: u1.headers['etag'] as string }, { PartNumber: 2, ETag: u2.ETag }];
    const data = Buffer.concat([p1, p2]);
    const full = computeChecksum('CRC32C', data);
    await s3failure(a[1]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: key, UploadId, MultipartUpload: { Parts }, ChecksumCRC32C: computeChecksum('CRC32C', p1), ChecksumType: 'FULL_OBJECT' })), 'BadDigest', 400);
    await s3failure(a[1]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: key, UploadId, MultipartUpload: { Parts }, ChecksumCRC32C: `${full}-2` })), 'BadDigest', 400);
    await s3failure(a[1]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: key, UploadId, MultipartUpload: { Parts: [Parts[0]!, { ...Parts[1]!, ChecksumCRC32C: computeChecksum('CRC32C', p1) }] } })), 'InvalidPart', 400);
    // x-amz-mp-object-size: the object's expected size, checked.
    await s3failure(a[1]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: key, UploadId, MultipartUpload: { Parts }, MpuObjectSize: data.length - 1 })), 'InvalidRequest', 400);
    const done = await a[2]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: key, UploadId, MultipartUpload: { Parts }, ChecksumCRC32C: full, ChecksumType: 'FULL_OBJECT', MpuObjectSize: data.length }));
    assert.deepEqual([done.ChecksumCRC32C, done.ChecksumType], [full, 'FULL_OBJECT']);
    const head = await a[0]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: key, ChecksumMode: 'ENABLED' }));
    assert.deepEqual([head.ChecksumCRC32C, head.ChecksumType], [full, 'FULL_OBJECT']);
    // A part of a FULL_OBJECT object has no checksum of its own to answer.
    const part = await a[1]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: key, PartNumber: 2, ChecksumMode: 'ENABLED' }));
    assert.deepEqual([part.ContentLength, part.ChecksumCRC32C], [p2.length, undefined]);
  });

  test('checksum mode with a Range: the checksum only for a range that is exactly one part (a single-part object whole), as the User Guide documents', async () => {
    // A single-part object: its one part is the whole object, however the range spells it.
    const small = pattern(3000, 91);
    await a[0]!.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'ranges/single', Body: small, ChecksumAlgorithm: 'CRC32' }));
    const crc = computeChecksum('CRC32', small);
    for (const Range of ['bytes=0-', 'bytes=0-2999', 'bytes=0-999999', 'bytes=-3000', 'bytes=-5000']) {
      const got = await a[1]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'ranges/single', Range, ChecksumMode: 'ENABLED' }));
      assert.equal(got.$metadata.httpStatusCode, 206, Range);
      assert.ok((await bytes(got.Body)).equals(small), Range);
      assert.deepEqual([got.ChecksumCRC32, got.ChecksumType], [crc, 'FULL_OBJECT'], Range);
      const head = await a[2]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'ranges/single', Range, ChecksumMode: 'ENABLED' }));
      assert.deepEqual([head.ChecksumCRC32, head.ChecksumType], [crc, 'FULL_OBJECT'], `HEAD ${Range}`);
    }
    for (const Range of ['bytes=1-', 'bytes=0-2998', 'bytes=-2999']) {
      const got = await a[1]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'ranges/single', Range, ChecksumMode: 'ENABLED' }));
      await bytes(got.Body);
      assert.deepEqual([got.ChecksumCRC32, got.ChecksumType], [undefined, undefined], Range);
    }

    // A COMPOSITE multipart object: a range that is exactly one part answers that part's checksum (type COMPOSITE).
    const p1 = pattern(5 * MiB, 92);
    const p2 = pattern(1500, 93);
    const { UploadId } = await a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'ranges/composite', ChecksumAlgorithm: 'CRC32' }));
    const u1 = await a[1]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'ranges/composite', UploadId, PartNumber: 1, Body: p1, ChecksumAlgorithm: 'CRC32' }));
    const u2 = await a[2]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'ranges/composite', UploadId, PartNumber: 2, Body: p2, ChecksumAlgorithm: 'CRC32' }));
    await a[0]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'ranges/composite', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: u1.ETag, ChecksumCRC32: u1.ChecksumCRC32 }, { PartNumber: 2, ETag: u2.ETag, ChecksumCRC32: u2.ChecksumCRC32 }] } }));
    const end = 5 * MiB + p2.length - 1;
    for (const [Range, body, sum] of [[`bytes=0-${5 * MiB - 1}`, p1, u1.ChecksumCRC32], [`bytes=${5 * MiB}-`, p2, u2.ChecksumCRC32], [`bytes=-${p2.length}`, p2, u2.ChecksumCRC32]] as const) {
      const got = await a[2]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'ranges/composite', Range, ChecksumMode: 'ENABLED' }));
      assert.ok((await bytes(got.Body)).equals(body), Range);
      assert.deepEqual([got.ChecksumCRC32, got.ChecksumType], [sum, 'COMPOSITE'], Range);
      const head = await a[0]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'ranges/composite', Range, ChecksumMode: 'ENABLED' }));
      assert.deepEqual([head.ChecksumCRC32, head.ChecksumType], [sum, 'COMPOSITE'], `HEAD ${Range}`);
    }
    // The whole object by a range spans two parts: no single part, so no checksum; nor for a range inside a part.
    for (const Range of [`bytes=0-${end}`, 'bytes=0-', `bytes=1-${5 * MiB - 1}`, `bytes=${5 * MiB}-${end - 1}`]) {
      const head = await a[1]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'ranges/composite', Range, ChecksumMode: 'ENABLED' }));
      assert.deepEqual([head.ChecksumCRC32, head.ChecksumType], [undefined, undefined], Range);
    }
    // Without checksum mode, none.
    const plain = await a[1]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'ranges/composite', Range: `bytes=${5 * MiB}-` }));
    assert.equal(plain.ChecksumCRC32, undefined);
  });

  test('MD5 and SHA512 checksums: PutObject checked and stored, COMPOSITE multipart uploads (FULL_OBJECT refused), read back; the xxHash algorithms refused', async () => {
    const sha = nodes.map((n) => clientFor(n.endpoint, alice, { config: SDK_SHA512 }));
    cleanups.push(async () => sha.forEach((c) => c.destroy()));
    const body = pattern(4000, 101);
    const put = await sha[0]!.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'algs/sha512', Body: body, ChecksumAlgorithm: 'SHA512' }));
    assert.equal(put.ChecksumSHA512, computeChecksum('SHA512', body));
    const got = await sha[1]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'algs/sha512', ChecksumMode: 'ENABLED' }));
    assert.ok((await bytes(got.Body)).equals(body));
    assert.equal(got.ChecksumSHA512, computeChecksum('SHA512', body));
    // A wrong value is BadDigest, nothing stored.
    const wrong = await rawRequest(nodes[2]!.endpoint, alice, { method: 'PUT', path: '/mpu/algs/wrong', headers: { 'x-amz-checksum-sha512': computeChecksum('SHA512', Buffer.from('other')) }, body });
    assert.equal(wrong.status, 400);
    assert.match(wrong.body.toString(), /<Code>BadDigest<\/Code><Message>The SHA512 you specified did not match the calculated checksum.<\/Message>/);
    await s3failure(a[0]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'algs/wrong' })), 'NotFound', 404);
    // MD5 as a flexible checksum (x-amz-checksum-md5; the JS SDK itself sends its MD5 as Content-MD5).
    const md5 = createHash('md5').update(body).digest('base64');
    const putMd5 = await rawRequest(nodes[2]!.endpoint, alice, { method: 'PUT', path: '/mpu/algs/md5', headers: { 'x-amz-checksum-md5': md5 }, body });
    assert.equal(putMd5.status, 200, putMd5.body.toString());
    assert.equal(putMd5.headers['x-amz-checksum-md5'], md5);
    const headMd5 = await a[1]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'algs/md5', ChecksumMode: 'ENABLED' }));
    assert.deepEqual([headMd5.ChecksumMD5, headMd5.ChecksumType], [md5, 'FULL_OBJECT']);
    // The SDK's own MD5 mode: Content-MD5 with x-amz-sdk-checksum-algorithm MD5 (no checksum header).
    const sdkMd5 = await a[0]!.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'algs/sdk-md5', Body: body, ChecksumAlgorithm: 'MD5' }));
    assert.equal(sdkMd5.ChecksumMD5, md5);
    assert.equal((await a[2]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'algs/sdk-md5', ChecksumMode: 'ENABLED' }))).ChecksumMD5, md5);

    // Multipart: COMPOSITE by default, FULL_OBJECT refused (it exists only for the CRCs).
    for (const alg of ['MD5', 'SHA512'] as const) {
      const refused = await s3failure(a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'algs/full', ChecksumAlgorithm: alg, ChecksumType: 'FULL_OBJECT' })), 'InvalidRequest', 400);
      assert.equal(refused.message, `The FULL_OBJECT checksum type cannot be used with the ${alg.toLowerCase()} checksum algorithm.`);
    }
    const p1 = pattern(5 * MiB, 102);
    const p2 = pattern(700, 103);
    const created = await sha[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'algs/mpu', ChecksumAlgorithm: 'SHA512' }));
    assert.deepEqual([created.ChecksumAlgorithm, created.ChecksumType], ['SHA512', 'COMPOSITE']);
    const UploadId = created.UploadId;
    const other = await s3failure(sha[1]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'algs/mpu', UploadId, PartNumber: 1, Body: p1, ChecksumAlgorithm: 'SHA256' })), 'InvalidRequest', 400);
    assert.equal(other.message, 'Checksum Type mismatch occurred, expected checksum Type: sha512, actual checksum Type: sha256');
    const u1 = await sha[1]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'algs/mpu', UploadId, PartNumber: 1, Body: p1, ChecksumAlgorithm: 'SHA512' }));
    const u2 = await sha[2]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'algs/mpu', UploadId, PartNumber: 2, Body: p2, ChecksumAlgorithm: 'SHA512' }));
    assert.deepEqual([u1.ChecksumSHA512, u2.ChecksumSHA512], [computeChecksum('SHA512', p1), computeChecksum('SHA512', p2)]);
    const listed = await a[0]!.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'algs/mpu', UploadId }));
    assert.deepEqual(listed.Parts?.map((p) => p.ChecksumSHA512), [u1.ChecksumSHA512, u2.ChecksumSHA512]);
    const composite = compositeChecksum('SHA512', [u1.ChecksumSHA512!, u2.ChecksumSHA512!]);
    const done = await sha[0]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'algs/mpu', UploadId, ChecksumSHA512: composite, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: u1.ETag, ChecksumSHA512: u1.ChecksumSHA512 }, { PartNumber: 2, ETag: u2.ETag, ChecksumSHA512: u2.ChecksumSHA512 }] } }));
    assert.deepEqual([done.ChecksumSHA512, done.ChecksumType], [composite, 'COMPOSITE']);
    const part = await sha[2]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'algs/mpu', PartNumber: 2, ChecksumMode: 'ENABLED' }));
    assert.ok((await bytes(part.Body)).equals(p2));
    assert.deepEqual([part.ChecksumSHA512, part.ChecksumType], [u2.ChecksumSHA512, 'COMPOSITE']);

    // The xxHash algorithms are not computed here: refused, not stored unchecked.
    for (const alg of ['XXHASH64', 'XXHASH3', 'XXHASH128'] as const) {
      const refused = await s3failure(a[1]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'algs/xx', ChecksumAlgorithm: alg })), 'InvalidRequest', 400);
      assert.equal(refused.message, 'Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, MD5, SHA1, SHA256, SHA512]', alg);
      const put = await rawRequest(nodes[0]!.endpoint, alice, { method: 'PUT', path: '/mpu/algs/xx', headers: { 'x-amz-sdk-checksum-algorithm': alg, [`x-amz-checksum-${alg.toLowerCase()}`]: 'AAAAAAAAAAA=' }, body });
      assert.equal(put.status, 400, alg);
      assert.match(put.body.toString(), /<Code>InvalidRequest<\/Code><Message>Value for x-amz-sdk-checksum-algorithm header is invalid.<\/Message>/);
    }
  });

  test('part numbers with a gap: InvalidPartOrder for a COMPOSITE upload (nothing completed), accepted for a FULL_OBJECT upload and one without a checksum', async () => {
    const p1 = pattern(5 * MiB, 81);
    const p3 = pattern(3000, 83);
    const start = async (key: string, extra: { ChecksumAlgorithm?: 'CRC32'; ChecksumType?: 'COMPOSITE' | 'FULL_OBJECT' }) => {
      const { UploadId } = await a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: key, ...extra }));
      const up = async (PartNumber: number, Body: Buffer) => {
        const r = await a[PartNumber % 3]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: key, UploadId, PartNumber, Body, ...(extra.ChecksumAlgorithm ? { ChecksumAlgorithm: extra.ChecksumAlgorithm } : {}) }));
        return { PartNumber, ETag: r.ETag, ChecksumCRC32: r.ChecksumCRC32 };
      };
      return { UploadId, parts: [await up(1, p1), await up(3, p3)] };
    };
    const complete = (key: string, UploadId: string | undefined, Parts: { PartNumber: number; ETag?: string; ChecksumCRC32?: string }[]) =>
      a[1]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: key, UploadId, MultipartUpload: { Parts } }));

    const composite = await start('gaps/composite', { ChecksumAlgorithm: 'CRC32' });
    await s3failure(complete('gaps/composite', composite.UploadId, composite.parts), 'InvalidPartOrder', 400);
    await s3failure(complete('gaps/composite', composite.UploadId, [composite.parts[1]!]), 'InvalidPartOrder', 400);
    assert.equal((await a[2]!.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'gaps/composite', UploadId: composite.UploadId }))).Parts?.length, 2, 'the upload is still there');
    await s3failure(a[2]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'gaps/composite' })), 'NotFound', 404);
    // Part 1 alone is 1..N: it completes.
    const one = await complete('gaps/composite', composite.UploadId, [composite.parts[0]!]);
    assert.equal(one.ChecksumCRC32, compositeChecksum('CRC32', [computeChecksum('CRC32', p1)]));

    const full = await start('gaps/full', { ChecksumAlgorithm: 'CRC32', ChecksumType: 'FULL_OBJECT' });
    const fullDone = await complete('gaps/full', full.UploadId, full.parts);
    assert.deepEqual([fullDone.ChecksumCRC32, fullDone.ChecksumType], [computeChecksum('CRC32', Buffer.concat([p1, p3])), 'FULL_OBJECT']);

    const plain = await start('gaps/plain', {});
    await complete('gaps/plain', plain.UploadId, plain.parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })));
    const got = await a[0]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'gaps/plain' }));
    assert.ok((await bytes(got.Body)).equals(Buffer.concat([p1, p3])));
  });

  test('EntityTooSmall, AbortMultipartUpload, part numbers out of range', async () => {
    const { UploadId } = await a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'small-parts' }));
    const e1 = await a[0]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'small-parts', UploadId, PartNumber: 1, Body: 'tiny' }));
    const e2 = await a[1]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'small-parts', UploadId, PartNumber: 2, Body: 'tiny too' }));
    await s3failure(
      a[2]!.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'small-parts', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1.ETag }, { PartNumber: 2, ETag: e2.ETag }] } })),
      'EntityTooSmall',
      400,
    );
    await s3failure(a[0]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'small-parts', UploadId, PartNumber: 10001, Body: 'x' })), 'InvalidArgument', 400);
    const aborted = await a[1]!.send(new AbortMultipartUploadCommand({ Bucket: 'mpu', Key: 'small-parts', UploadId }));
    assert.equal(aborted.$metadata.httpStatusCode, 204);
    await s3failure(a[2]!.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'small-parts', UploadId })), 'NoSuchUpload', 404);
    await s3failure(a[2]!.send(new AbortMultipartUploadCommand({ Bucket: 'mpu', Key: 'small-parts', UploadId })), 'NoSuchUpload', 404);
    await s3failure(a[2]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'small-parts' })), undefined, 404);
  });

  test('authentication failures: wrong secret, unknown access key, clock skew, unsigned x-amz headers', async () => {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'auth', Body: 'secret stuff' }));
    const wrong = clientFor(nodes[0]!.endpoint, { ...alice, secret: 'not-the-secret' });
    const unknown = clientFor(nodes[1]!.endpoint, { ...alice, accessKey: 'PIUNKNOWNKEY0000000' });
    const skewed = new S3Client({ endpoint: nodes[2]!.endpoint, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: alice.accessKey, secretAccessKey: alice.secret }, systemClockOffset: -20 * 60_000 });
    try {
      const e = await s3failure(wrong.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'auth' })), 'SignatureDoesNotMatch', 403);
      assert.ok(e.$metadata.requestId);
      await s3failure(wrong.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'w', Body: Readable.from([Buffer.from('x')]), ContentLength: 1 })), 'SignatureDoesNotMatch', 403);
      await s3failure(unknown.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'auth' })), 'InvalidAccessKeyId', 403);
      await s3failure(skewed.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'auth' })), 'RequestTimeTooSkewed', 403);
    } finally {
      wrong.destroy();
      unknown.destroy();
      skewed.destroy();
    }
    // An empty Authorization header is an anonymous request: AccessDenied, as S3 answers.
    const empty = await rawRequest(nodes[1]!.endpoint, undefined, { method: 'PUT', path: '/empty-auth-bucket', headers: { authorization: '' } });
    assert.equal(empty.status, 403);
    assert.match(empty.body.toString(), /<Code>AccessDenied<\/Code>/);
    const emptyPut = await rawRequest(nodes[1]!.endpoint, undefined, { method: 'PUT', path: '/mpu/empty-auth', headers: { authorization: '' }, body: Buffer.from('x') });
    assert.equal(emptyPut.status, 403);
    // x-amz-meta added after signing: refused.
    const signer = new SignatureV4({ credentials: { accessKeyId: alice.accessKey, secretAccessKey: alice.secret }, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
    const url = new URL(nodes[0]!.endpoint);
    const signed = await signer.sign(new HttpRequest({ method: 'GET', protocol: 'http:', hostname: url.host, path: '/mpu/auth', headers: { host: url.host, 'x-amz-content-sha256': createHash('sha256').update('').digest('hex') } }));
    const res = await fetch(`${nodes[0]!.endpoint}/mpu/auth`, { headers: { ...(signed.headers as Record<string, string>), 'x-amz-meta-sneaky': '1' } });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /<Code>AccessDenied<\/Code>.*HeadersNotSigned/s);
  });

  test('presigned GET and PUT URLs, UNSIGNED-PAYLOAD, signed aws-chunked bodies (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, with and without trailer)', async () => {
    const signer = new SignatureV4({ credentials: { accessKeyId: alice.accessKey, secretAccessKey: alice.secret }, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
    const url = new URL(nodes[1]!.endpoint);
    const presignedPut = await signer.presign(new HttpRequest({ method: 'PUT', protocol: 'http:', hostname: url.host, path: '/mpu/presigned.txt', headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }), { expiresIn: 300 });
    const qs = new URLSearchParams(presignedPut.query as Record<string, string>).toString();
    const put = await fetch(`${nodes[1]!.endpoint}/mpu/presigned.txt?${qs}`, { method: 'PUT', body: 'via a presigned URL' });
    assert.equal(put.status, 200, await put.text());
    const presignedGet = await signer.presign(new HttpRequest({ method: 'GET', protocol: 'http:', hostname: url.host, path: '/mpu/presigned.txt', headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }), { expiresIn: 300 });
    const get = await fetch(`${nodes[1]!.endpoint}/mpu/presigned.txt?${new URLSearchParams(presignedGet.query as Record<string, string>).toString()}`);
    assert.equal(await get.text(), 'via a presigned URL');
    const expired = await signer.presign(new HttpRequest({ method: 'GET', protocol: 'http:', hostname: url.host, path: '/mpu/presigned.txt', headers: { host: url.host } }), { expiresIn: 1, signingDate: new Date(Date.now() - 60_000) });
    const late = await fetch(`${nodes[1]!.endpoint}/mpu/presigned.txt?${new URLSearchParams(expired.query as Record<string, string>).toString()}`);
    assert.equal(late.status, 403);
    assert.match(await late.text(), /Request has expired/);

    const unsigned = await rawRequest(nodes[2]!.endpoint, alice, { method: 'PUT', path: '/mpu/unsigned-payload', body: Buffer.from('unsigned payload'), payload: 'UNSIGNED-PAYLOAD' });
    assert.equal(unsigned.status, 200, unsigned.body.toString());
    const wrongHash = await rawRequest(nodes[2]!.endpoint, alice, { method: 'PUT', path: '/mpu/bad-hash', body: Buffer.from('body'), payload: createHash('sha256').update('other').digest('hex') });
    assert.equal(wrongHash.status, 400);
    assert.match(wrongHash.body.toString(), /XAmzContentSHA256Mismatch/);

    const data = pattern(300_000, 8);
    const chunks = [data.subarray(0, 128 * 1024), data.subarray(128 * 1024, 256 * 1024), data.subarray(256 * 1024)];
    const streaming = await rawRequest(nodes[0]!.endpoint, alice, {
      method: 'PUT',
      path: '/mpu/streamed-signed',
      headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length) },
      payload: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      encode: (seedSignature, amzDate) => encodeSignedChunked({ secret: alice.secret, amzDate, region: 'us-east-1', seedSignature, chunks }),
    });
    assert.equal(streaming.status, 200, streaming.body.toString());
    assert.equal(streaming.headers['etag'], `"${md5hex(data)}"`);
    const crc = computeChecksum('CRC32', data);
    const trailing = await rawRequest(nodes[0]!.endpoint, alice, {
      method: 'PUT',
      path: '/mpu/streamed-signed-trailer',
      headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length), 'x-amz-trailer': 'x-amz-checksum-crc32' },
      payload: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
      encode: (seedSignature, amzDate) => encodeSignedChunked({ secret: alice.secret, amzDate, region: 'us-east-1', seedSignature, chunks, trailers: [['x-amz-checksum-crc32', crc]] }),
    });
    assert.equal(trailing.status, 200, trailing.body.toString());
    for (const key of ['streamed-signed', 'streamed-signed-trailer']) {
      const back = await a[2]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: key }));
      assert.ok((await bytes(back.Body)).equals(data), key);
    }
    const tampered = await rawRequest(nodes[0]!.endpoint, alice, {
      method: 'PUT',
      path: '/mpu/tampered',
      headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length) },
      payload: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      encode: (seedSignature, amzDate) => {
        const body = encodeSignedChunked({ secret: alice.secret, amzDate, region: 'us-east-1', seedSignature, chunks });
        body[body.length - 200] ^= 1;
        return body;
      },
    });
    assert.equal(tampered.status, 403);
    assert.match(tampered.body.toString(), /SignatureDoesNotMatch/);
    await s3failure(a[0]!.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'tampered' })), undefined, 404);
  });

  test('ownership and canned ACLs: private, public-read, public-read-write, authenticated-read for anonymous and other users', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'acl-private' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'acl-private', Key: 'doc', Body: 'private doc' }));
    await s3failure(anon.send(new GetObjectCommand({ Bucket: 'acl-private', Key: 'doc' })), 'AccessDenied', 403);
    await s3failure(b.send(new GetObjectCommand({ Bucket: 'acl-private', Key: 'doc' })), 'AccessDenied', 403);
    await s3failure(anon.send(new ListObjectsV2Command({ Bucket: 'acl-private' })), 'AccessDenied', 403);
    await s3failure(b.send(new PutObjectCommand({ Bucket: 'acl-private', Key: 'x', Body: 'x' })), 'AccessDenied', 403);
    await s3failure(anon.send(new CreateBucketCommand({ Bucket: 'anon-bucket' })), 'AccessDenied', 403);

    // public-read bucket: anyone lists; objects still need their own ACL to be read.
    await a[1]!.send(new CreateBucketCommand({ Bucket: 'acl-public', ACL: 'public-read' }));
    await a[1]!.send(new PutObjectCommand({ Bucket: 'acl-public', Key: 'open', Body: 'open doc', ACL: 'public-read' }));
    await a[1]!.send(new PutObjectCommand({ Bucket: 'acl-public', Key: 'closed', Body: 'closed doc' }));
    await a[1]!.send(new PutObjectCommand({ Bucket: 'acl-public', Key: 'members', Body: 'members doc', ACL: 'authenticated-read' }));
    const listed = await anon.send(new ListObjectsV2Command({ Bucket: 'acl-public' }));
    assert.deepEqual(listed.Contents?.map((c) => c.Key), ['closed', 'members', 'open']);
    assert.equal((await bytes((await anon.send(new GetObjectCommand({ Bucket: 'acl-public', Key: 'open' }))).Body)).toString(), 'open doc');
    await s3failure(anon.send(new GetObjectCommand({ Bucket: 'acl-public', Key: 'closed' })), 'AccessDenied', 403);
    await s3failure(anon.send(new GetObjectCommand({ Bucket: 'acl-public', Key: 'members' })), 'AccessDenied', 403);
    assert.equal((await bytes((await b.send(new GetObjectCommand({ Bucket: 'acl-public', Key: 'members' }))).Body)).toString(), 'members doc');
    await s3failure(anon.send(new GetObjectCommand({ Bucket: 'acl-public', Key: 'missing' })), 'NoSuchKey', 404);
    await s3failure(anon.send(new PutObjectCommand({ Bucket: 'acl-public', Key: 'x', Body: 'x' })), 'AccessDenied', 403);
    const anonGet = await fetch(`${nodes[0]!.endpoint}/acl-public/open`);
    assert.equal(await anonGet.text(), 'open doc', 'a plain anonymous HTTP GET works for a public object');

    // public-read-write: others write (and own what they write).
    await a[2]!.send(new CreateBucketCommand({ Bucket: 'acl-dropbox', ACL: 'public-read-write' }));
    await b.send(new PutObjectCommand({ Bucket: 'acl-dropbox', Key: 'from-bob', Body: 'hi alice' }));
    assert.equal((await bytes((await a[0]!.send(new GetObjectCommand({ Bucket: 'acl-dropbox', Key: 'from-bob' }))).Body)).toString(), 'hi alice', 'bucket owners read what others put');
    const acl = await a[0]!.send(new GetObjectAclCommand({ Bucket: 'acl-dropbox', Key: 'from-bob' }));
    assert.equal(acl.Owner?.DisplayName, 'bob');
    // bucket-owner-read / bucket-owner-full-control grant the bucket's owner READ / FULL_CONTROL.
    await b.send(new PutObjectCommand({ Bucket: 'acl-dropbox', Key: 'for-owner', Body: 'x', ACL: 'bucket-owner-read' }));
    const ownerRead = await b.send(new GetObjectAclCommand({ Bucket: 'acl-dropbox', Key: 'for-owner' }));
    assert.deepEqual(ownerRead.Grants?.map((g) => [g.Grantee?.Type, g.Grantee?.ID, g.Grantee?.DisplayName, g.Permission]), [
      ['CanonicalUser', bob.id, 'bob', 'FULL_CONTROL'],
      ['CanonicalUser', alice.id, 'alice', 'READ'],
    ]);
    await b.send(new PutObjectAclCommand({ Bucket: 'acl-dropbox', Key: 'for-owner', AccessControlPolicy: { Owner: ownerRead.Owner, Grants: [ownerRead.Grants![0]!, { ...ownerRead.Grants![1]!, Permission: 'FULL_CONTROL' }] } }));
    const ownerFull = await a[1]!.send(new GetObjectAclCommand({ Bucket: 'acl-dropbox', Key: 'for-owner' }));
    assert.deepEqual(ownerFull.Grants?.map((g) => [g.Grantee?.ID, g.Permission]), [[bob.id, 'FULL_CONTROL'], [alice.id, 'FULL_CONTROL']]);
    await a[0]!.send(new PutObjectCommand({ Bucket: 'acl-dropbox', Key: 'own', Body: 'x', ACL: 'bucket-owner-full-control' }));
    const own = await a[0]!.send(new GetObjectAclCommand({ Bucket: 'acl-dropbox', Key: 'own' }));
    assert.deepEqual(own.Grants?.map((g) => [g.Grantee?.ID, g.Permission]), [[alice.id, 'FULL_CONTROL']], 'no second grant when the bucket owner owns the object');

    // Changing ACLs: GetBucketAcl / PutBucketAcl / PutObjectAcl.
    const before = await a[0]!.send(new GetBucketAclCommand({ Bucket: 'acl-private' }));
    assert.deepEqual(before.Grants?.map((g) => g.Permission), ['FULL_CONTROL']);
    await a[0]!.send(new PutBucketAclCommand({ Bucket: 'acl-private', ACL: 'authenticated-read' }));
    const afterAcl = await a[1]!.send(new GetBucketAclCommand({ Bucket: 'acl-private' }));
    assert.deepEqual(afterAcl.Grants?.map((g) => [g.Grantee?.URI ?? g.Grantee?.ID, g.Permission]), [[alice.id, 'FULL_CONTROL'], ['http://acs.amazonaws.com/groups/global/AuthenticatedUsers', 'READ']]);
    const bobSees = await clientFor(nodes[1]!.endpoint, bob).send(new ListObjectsV2Command({ Bucket: 'acl-private' }));
    assert.deepEqual(bobSees.Contents?.map((c) => c.Key), ['doc']);
    await s3failure(b.send(new PutBucketAclCommand({ Bucket: 'acl-private', ACL: 'public-read-write' })), 'AccessDenied', 403);
    await a[0]!.send(new PutObjectAclCommand({ Bucket: 'acl-private', Key: 'doc', ACL: 'public-read' }));
    assert.equal((await bytes((await anon.send(new GetObjectCommand({ Bucket: 'acl-private', Key: 'doc' }))).Body)).toString(), 'private doc');
    await s3failure(a[0]!.send(new PutBucketAclCommand({ Bucket: 'acl-private', ACL: 'no-such-acl' as never })), 'InvalidArgument', 400);
  });

  test('Expect: 100-continue is answered only once the request is allowed; other Expect values are ignored', async () => {
    const { request } = await import('node:http');
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'expect-private' }));
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'expect-open', ACL: 'public-read-write' }));
    /** An anonymous PUT of 3 bytes that waits for 100 Continue before sending them. */
    const put = (path: string): Promise<{ continued: boolean; status: number; requestId: unknown }> =>
      new Promise((resolve, reject) => {
        const url = new URL(nodes[1]!.endpoint);
        const r = request({ host: url.hostname, port: url.port, method: 'PUT', path, headers: { 'content-length': '3', expect: '100-continue' } });
        let continued = false;
        r.on('continue', () => {
          continued = true;
          r.end('abc');
        });
        r.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve({ continued, status: res.statusCode ?? 0, requestId: res.headers['x-amz-request-id'] }));
        });
        r.on('error', reject);
      });
    const refused = await put('/expect-private/k');
    assert.deepEqual({ continued: refused.continued, status: refused.status }, { continued: false, status: 403 }, 'the refusal comes instead of 100 Continue');
    assert.ok(refused.requestId);
    const accepted = await put('/expect-open/k');
    assert.deepEqual({ continued: accepted.continued, status: accepted.status }, { continued: true, status: 200 });
    assert.equal((await bytes((await a[2]!.send(new GetObjectCommand({ Bucket: 'expect-open', Key: 'k' }))).Body)).toString(), 'abc');
    // S3 ignores other expectations (Node alone would answer 417 Expectation Failed).
    const odd = await rawRequest(nodes[0]!.endpoint, alice, { method: 'PUT', path: '/expect-open/odd', headers: { expect: '200' }, body: Buffer.from('odd') });
    assert.equal(odd.status, 200, odd.body.toString());
    assert.ok(odd.headers['x-amz-request-id']);
  });

  test('virtual-hosted-style addressing: <bucket>.localhost', async () => {
    const port = new URL(nodes[0]!.endpoint).port;
    const put = await rawRequest(nodes[0]!.endpoint, alice, { method: 'PUT', path: '/vh/key.txt', host: `mpu.localhost:${port}`, body: Buffer.from('virtual host') });
    assert.equal(put.status, 200, put.body.toString());
    const got = await a[1]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'vh/key.txt' }));
    assert.equal((await bytes(got.Body)).toString(), 'virtual host');
    const list = await rawRequest(nodes[2]!.endpoint, alice, { method: 'GET', path: '/', query: { 'list-type': '2', prefix: 'vh/' }, host: `mpu.localhost:${new URL(nodes[2]!.endpoint).port}` });
    assert.equal(list.status, 200);
    assert.match(list.body.toString(), /<Key>vh\/key.txt<\/Key>/);
    const missing = await rawRequest(nodes[2]!.endpoint, alice, { method: 'GET', path: '/k', host: `no-such-bucket.localhost:${port}` });
    assert.equal(missing.status, 404);
    assert.match(missing.body.toString(), /<Code>NoSuchBucket<\/Code><Message>[^<]+<\/Message><BucketName>no-such-bucket<\/BucketName><Resource>\/no-such-bucket\/k<\/Resource><RequestId>[0-9A-F]+<\/RequestId>/);
  });
});
