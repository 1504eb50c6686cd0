/**
 * S3 tagging through the AWS SDK on a 3-node loopback ring: object tag sets (PutObjectTagging,
 * GetObjectTagging, DeleteObjectTagging), tags given by `x-amz-tagging` on PutObject,
 * CreateMultipartUpload and CopyObject (`x-amz-tagging-directive` COPY / REPLACE),
 * `x-amz-tagging-count` on GetObject / HeadObject, bucket tag sets (PutBucketTagging,
 * GetBucketTagging, DeleteBucketTagging), every validation error, who may read and write tags,
 * and a tag write racing an overwrite.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteBucketTaggingCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  GetBucketTaggingCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketAclCommand,
  PutBucketTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3Client, Tag } from '@aws-sdk/client-s3';
import { S3Error } from '../../../src/cloud/s3/protocol/index.ts';
import { withTags } from '../../../src/cloud/s3/model.ts';
import { bytes, pattern, putXmlDocument, s3failure, startS3Fixture } from './harness.ts';
import type { RawOutcome, S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const MiB = 1024 * 1024;

/** `n` distinct tags. */
function tags(n: number, prefix = 'k'): Tag[] {
  return Array.from({ length: n }, (_, i) => ({ Key: `${prefix}${i}`, Value: `v${i}` }));
}

function tagging(xml: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${xml}</Tagging>`;
}

describe('S3 object and bucket tagging through the AWS SDK on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  /** Alice's client on each node. */
  let a: S3Client[];
  let b: S3Client;
  let anon: S3Client;

  /** A PUT of a raw tagging document (`?tagging`) by alice, with Content-MD5 unless `md5` is false. */
  async function rawTagging(path: string, body: string, md5 = true): Promise<Pick<RawOutcome, 'status' | 'code'>> {
    const { status, code } = await putXmlDocument(nodes[1]!.endpoint, alice, path, 'tagging', body, md5);
    return { status, code };
  }

  async function objectTags(key: string, bucket = 'tags', client = a[2]!): Promise<Tag[]> {
    return (await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))).TagSet ?? [];
  }

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['tags'] });
    ({ nodes, alice, aliceClients: a } = fixture);
    b = fixture.bobClients[2]!;
    anon = fixture.anonymousClients[0]!;
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('PutObjectTagging, GetObjectTagging and DeleteObjectTagging through different nodes; x-amz-tagging-count on GET and HEAD', async () => {
    const put = await a[0]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'doc.txt', Body: 'hello tags', ContentType: 'text/plain' }));
    assert.deepEqual(await objectTags('doc.txt'), [], 'a new object has no tags');
    assert.equal((await a[1]!.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'doc.txt' }))).TagCount, undefined, 'no count without tags');

    const set = [
      { Key: 'project', Value: 'blue' },
      { Key: 'empty', Value: '' },
      { Key: 'ünï code/key', Value: '✓ & <x> "q"' },
    ];
    const written = await a[1]!.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'doc.txt', Tagging: { TagSet: set } }));
    assert.equal(written.$metadata.httpStatusCode, 200);
    assert.deepEqual(await objectTags('doc.txt'), set, 'read back through another node, in order');
    const head = await a[2]!.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'doc.txt' }));
    assert.equal(head.TagCount, 3);
    assert.equal(head.ETag, put.ETag, 'tagging does not change the object');
    const got = await a[0]!.send(new GetObjectCommand({ Bucket: 'tags', Key: 'doc.txt' }));
    assert.equal(got.TagCount, 3);
    assert.equal(got.ContentType, 'text/plain');
    assert.equal((await bytes(got.Body)).toString(), 'hello tags');

    // A put replaces the whole set.
    await a[2]!.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'doc.txt', Tagging: { TagSet: [{ Key: 'only', Value: '1' }] } }));
    assert.deepEqual(await objectTags('doc.txt', 'tags', a[0]!), [{ Key: 'only', Value: '1' }]);
    assert.equal((await a[1]!.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'doc.txt' }))).TagCount, 1);

    const deleted = await a[0]!.send(new DeleteObjectTaggingCommand({ Bucket: 'tags', Key: 'doc.txt' }));
    assert.equal(deleted.$metadata.httpStatusCode, 204);
    assert.deepEqual(await objectTags('doc.txt'), []);
    assert.equal((await a[2]!.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'doc.txt' }))).TagCount, undefined);
    assert.equal((await a[1]!.send(new DeleteObjectTaggingCommand({ Bucket: 'tags', Key: 'doc.txt' }))).$metadata.httpStatusCode, 204, 'again: still 204');
    // DeleteObjectTagging removed the tags, not the object.
    assert.equal((await bytes((await a[2]!.send(new GetObjectCommand({ Bucket: 'tags', Key: 'doc.txt' }))).Body)).toString(), 'hello tags');

    // An empty TagSet clears the tags too.
    await a[0]!.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'doc.txt', Tagging: { TagSet: tags(2) } }));
    assert.equal((await objectTags('doc.txt')).length, 2);
    await a[1]!.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'doc.txt', Tagging: { TagSet: [] } }));
    assert.deepEqual(await objectTags('doc.txt'), []);
  });

  test('PutObject with x-amz-tagging (inline and chunked objects); an overwrite without it has no tags', async () => {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'small', Body: 'x', Tagging: 'a=1&b%20c=d%2Be&empty=' }));
    assert.deepEqual(await objectTags('small'), [
      { Key: 'a', Value: '1' },
      { Key: 'b c', Value: 'd+e' },
      { Key: 'empty', Value: '' },
    ]);
    assert.equal((await a[1]!.send(new GetObjectCommand({ Bucket: 'tags', Key: 'small' }))).TagCount, 3);

    const data = pattern(600 * 1024, 5);
    await a[1]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'large', Body: data, Tagging: 'size=large' }));
    assert.deepEqual(await objectTags('large'), [{ Key: 'size', Value: 'large' }]);
    await a[2]!.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'large', Tagging: { TagSet: [{ Key: 'size', Value: 'still large' }] } }));
    const large = await a[0]!.send(new GetObjectCommand({ Bucket: 'tags', Key: 'large' }));
    assert.equal(large.TagCount, 1);
    assert.ok((await bytes(large.Body)).equals(data), 'the chunked object reads back whole after its tags changed');

    await a[2]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'small', Body: 'y' }));
    assert.deepEqual(await objectTags('small'), [], 'a new version starts without tags');
    assert.equal((await a[0]!.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'small' }))).TagCount, undefined);

    // Invalid header tags refuse the write: nothing is stored.
    const eleven = Array.from({ length: 11 }, (_, i) => `k${i}=v`).join('&');
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'refused', Body: 'x', Tagging: eleven })), 'InvalidTag', 400);
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'refused', Body: 'x', Tagging: 'aws%3Aowner=me' })), 'InvalidTag', 400);
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'refused', Body: 'x', Tagging: 'dup=1&dup=2' })), 'InvalidTag', 400);
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'refused', Body: 'x', Tagging: `${'k'.repeat(129)}=v` })), 'InvalidTag', 400);
    await s3failure(a[1]!.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'refused' })), undefined, 404);
  });

  test('CreateMultipartUpload with x-amz-tagging: the completed object has the tags', async () => {
    const created = await a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'tags', Key: 'multi', Tagging: 'stage=upload&parts=2' }));
    const uploadId = created.UploadId!;
    const p1 = pattern(5 * MiB, 21);
    const p2 = pattern(1000, 22);
    const r1 = await a[1]!.send(new UploadPartCommand({ Bucket: 'tags', Key: 'multi', UploadId: uploadId, PartNumber: 1, Body: p1 }));
    const r2 = await a[2]!.send(new UploadPartCommand({ Bucket: 'tags', Key: 'multi', UploadId: uploadId, PartNumber: 2, Body: p2 }));
    await s3failure(a[0]!.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'multi' })), undefined, 404);
    await a[0]!.send(new CompleteMultipartUploadCommand({ Bucket: 'tags', Key: 'multi', UploadId: uploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: r1.ETag }, { PartNumber: 2, ETag: r2.ETag }] } }));
    assert.deepEqual(await objectTags('multi'), [
      { Key: 'stage', Value: 'upload' },
      { Key: 'parts', Value: '2' },
    ]);
    const got = await a[1]!.send(new GetObjectCommand({ Bucket: 'tags', Key: 'multi' }));
    assert.equal(got.TagCount, 2);
    assert.ok((await bytes(got.Body)).equals(Buffer.concat([p1, p2])));

    await s3failure(a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'tags', Key: 'multi-bad', Tagging: 'aws:x=1' })), 'InvalidTag', 400);
    await s3failure(a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'tags', Key: 'multi-bad', Tagging: 'a=%zz' })), 'InvalidArgument', 400);
  });

  test('CopyObject: x-amz-tagging-directive COPY (the default) takes the source tags, REPLACE the request\'s', async () => {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'copy/src', Body: 'source', Tagging: 'origin=src&keep=yes' }));
    const sourceTags = [
      { Key: 'origin', Value: 'src' },
      { Key: 'keep', Value: 'yes' },
    ];
    await a[1]!.send(new CopyObjectCommand({ Bucket: 'tags', Key: 'copy/default', CopySource: 'tags/copy/src' }));
    assert.deepEqual(await objectTags('copy/default'), sourceTags);
    await a[2]!.send(new CopyObjectCommand({ Bucket: 'tags', Key: 'copy/copy', CopySource: 'tags/copy/src', TaggingDirective: 'COPY', Tagging: 'ignored=1' }));
    assert.deepEqual(await objectTags('copy/copy'), sourceTags, 'COPY ignores x-amz-tagging');
    await a[0]!.send(new CopyObjectCommand({ Bucket: 'tags', Key: 'copy/replace', CopySource: 'tags/copy/src', TaggingDirective: 'REPLACE', Tagging: 'new=1' }));
    assert.deepEqual(await objectTags('copy/replace'), [{ Key: 'new', Value: '1' }]);
    assert.equal((await a[1]!.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'copy/replace' }))).TagCount, 1);
    await a[1]!.send(new CopyObjectCommand({ Bucket: 'tags', Key: 'copy/none', CopySource: 'tags/copy/src', TaggingDirective: 'REPLACE' }));
    assert.deepEqual(await objectTags('copy/none'), [], 'REPLACE without x-amz-tagging: no tags');
    // The metadata directive does not decide the tags.
    await a[2]!.send(new CopyObjectCommand({ Bucket: 'tags', Key: 'copy/meta', CopySource: 'tags/copy/src', MetadataDirective: 'REPLACE', ContentType: 'text/x-copy' }));
    assert.deepEqual(await objectTags('copy/meta'), sourceTags);
    // The source keeps its tags.
    assert.deepEqual(await objectTags('copy/src'), sourceTags);

    await s3failure(a[0]!.send(new CopyObjectCommand({ Bucket: 'tags', Key: 'copy/bad', CopySource: 'tags/copy/src', TaggingDirective: 'MOVE' as never })), 'InvalidArgument', 400);
    await s3failure(a[0]!.send(new CopyObjectCommand({ Bucket: 'tags', Key: 'copy/bad', CopySource: 'tags/copy/src', TaggingDirective: 'REPLACE', Tagging: 'aws:a=b' })), 'InvalidTag', 400);
    await s3failure(a[1]!.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'copy/bad' })), undefined, 404);
  });

  test('tag set validation: at most 10 tags, keys 1..128 and values 0..256 UTF-16 units, unique keys, no aws: prefix; MalformedXML; Content-MD5 required', async () => {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'valid', Body: 'v' }));
    const before = [{ Key: 'before', Value: 'kept' }];
    await a[0]!.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'valid', Tagging: { TagSet: before } }));
    const put = (set: Tag[]) => a[1]!.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'valid', Tagging: { TagSet: set } }));

    await s3failure(put(tags(11)), 'InvalidTag', 400);
    await s3failure(put([{ Key: 'k'.repeat(129), Value: 'v' }]), 'InvalidTag', 400);
    await s3failure(put([{ Key: 'k', Value: 'v'.repeat(257) }]), 'InvalidTag', 400);
    await s3failure(put([{ Key: 'same', Value: '1' }, { Key: 'same', Value: '2' }]), 'InvalidTag', 400);
    await s3failure(put([{ Key: 'aws:created', Value: 'x' }]), 'InvalidTag', 400);
    await s3failure(put([{ Key: 'AWS:Created', Value: 'x' }]), 'InvalidTag', 400);
    await s3failure(put([{ Key: '', Value: 'x' }]), 'InvalidTag', 400);
    // S3 counts UTF-16 code units: an emoji takes two.
    await s3failure(put([{ Key: '😀'.repeat(65), Value: 'x' }]), 'InvalidTag', 400);
    assert.deepEqual(await objectTags('valid'), before, 'refused tag sets change nothing');

    const limits = [
      ...tags(8),
      { Key: 'k'.repeat(128), Value: 'v'.repeat(256) },
      { Key: '😀'.repeat(64), Value: 'é'.repeat(256) },
    ];
    await put(limits);
    assert.deepEqual(await objectTags('valid'), limits, 'ten tags at the length limits are fine');

    const path = '/tags/valid';
    assert.deepEqual(await rawTagging(path, '<Tagging><TagSet><Tag><Key>a</Key>'), { status: 400, code: 'MalformedXML' });
    assert.deepEqual(await rawTagging(path, tagging('')), { status: 400, code: 'MalformedXML' }, 'no TagSet');
    assert.deepEqual(await rawTagging(path, tagging('<TagSet><Tag><Key>a</Key></Tag></TagSet>')), { status: 400, code: 'MalformedXML' }, 'a Tag without a Value');
    assert.deepEqual(await rawTagging(path, tagging('<TagSet><Tag><Value>a</Value></Tag></TagSet>')), { status: 400, code: 'MalformedXML' }, 'a Tag without a Key');
    assert.deepEqual(await rawTagging(path, '<Other><TagSet/></Other>'), { status: 400, code: 'MalformedXML' }, 'another root');
    assert.deepEqual(await rawTagging(path, ''), { status: 400, code: 'MalformedXML' }, 'no body');
    assert.deepEqual(await rawTagging(path, tagging('<TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet>'), false), { status: 400, code: 'InvalidRequest' }, 'without Content-MD5');
    assert.deepEqual(await objectTags('valid'), limits, 'refused documents change nothing');
    assert.deepEqual(await rawTagging(path, tagging('<TagSet><Tag><Key>raw</Key><Value>1</Value></Tag></TagSet>')), { status: 200, code: undefined });
    assert.deepEqual(await objectTags('valid'), [{ Key: 'raw', Value: '1' }]);
  });

  test('NoSuchKey and NoSuchBucket', async () => {
    await s3failure(a[0]!.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'missing' })), 'NoSuchKey', 404);
    await s3failure(a[1]!.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'missing', Tagging: { TagSet: tags(1) } })), 'NoSuchKey', 404);
    await s3failure(a[2]!.send(new DeleteObjectTaggingCommand({ Bucket: 'tags', Key: 'missing' })), 'NoSuchKey', 404);
    await s3failure(a[0]!.send(new GetObjectTaggingCommand({ Bucket: 'no-such-bucket', Key: 'k' })), 'NoSuchBucket', 404);
    await s3failure(a[0]!.send(new GetBucketTaggingCommand({ Bucket: 'no-such-bucket' })), 'NoSuchBucket', 404);
    await s3failure(a[0]!.send(new PutBucketTaggingCommand({ Bucket: 'no-such-bucket', Tagging: { TagSet: tags(1) } })), 'NoSuchBucket', 404);
    // A deleted object's tags are gone with it.
    await a[0]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'gone', Body: 'x', Tagging: 't=1' }));
    await a[1]!.send(new DeleteObjectCommand({ Bucket: 'tags', Key: 'gone' }));
    await s3failure(a[2]!.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'gone' })), 'NoSuchKey', 404);
  });

  test('who may read and write object tags: the object owner and the bucket owner, not other users or anonymous requests', async () => {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'private', Body: 'p', Tagging: 'secret=1' }));
    await s3failure(b.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'private' })), 'AccessDenied', 403);
    await s3failure(b.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'private', Tagging: { TagSet: tags(1) } })), 'AccessDenied', 403);
    await s3failure(b.send(new DeleteObjectTaggingCommand({ Bucket: 'tags', Key: 'private' })), 'AccessDenied', 403);
    await s3failure(anon.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'private' })), 'AccessDenied', 403);
    // A missing key is not revealed to those who may not list.
    await s3failure(b.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'missing' })), 'AccessDenied', 403);
    assert.deepEqual(await objectTags('private'), [{ Key: 'secret', Value: '1' }], 'refused writes change nothing');

    // A public-read object: others read it, but neither its tags nor their count.
    await a[1]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'public', Body: 'pub', ACL: 'public-read', Tagging: 'hidden=1' }));
    const read = await b.send(new GetObjectCommand({ Bucket: 'tags', Key: 'public' }));
    assert.equal((await bytes(read.Body)).toString(), 'pub');
    assert.equal(read.TagCount, undefined);
    assert.equal((await anon.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'public' }))).TagCount, undefined);
    assert.equal((await a[2]!.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'public' }))).TagCount, 1, 'the owner sees the count');
    await s3failure(b.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'public' })), 'AccessDenied', 403);
    await s3failure(anon.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'public' })), 'AccessDenied', 403);

    // Copying it: COPY would hand its tags over (AccessDenied); REPLACE gives the copy the request's.
    await b.send(new CreateBucketCommand({ Bucket: 'bobs' }));
    await s3failure(b.send(new CopyObjectCommand({ Bucket: 'bobs', Key: 'copy', CopySource: 'tags/public' })), 'AccessDenied', 403);
    await b.send(new CopyObjectCommand({ Bucket: 'bobs', Key: 'copy', CopySource: 'tags/public', TaggingDirective: 'REPLACE', Tagging: 'mine=1' }));
    assert.deepEqual(await objectTags('copy', 'bobs', b), [{ Key: 'mine', Value: '1' }]);

    // In a bucket others may write to, an object's owner and the bucket's owner manage its tags.
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'shared' }));
    await a[0]!.send(new PutBucketAclCommand({ Bucket: 'shared', ACL: 'public-read-write' }));
    await b.send(new PutObjectCommand({ Bucket: 'shared', Key: 'bobs-object', Body: 'b', Tagging: 'by=bob' }));
    assert.deepEqual(await objectTags('bobs-object', 'shared', b), [{ Key: 'by', Value: 'bob' }]);
    assert.deepEqual(await objectTags('bobs-object', 'shared', a[1]!), [{ Key: 'by', Value: 'bob' }], 'the bucket owner reads them');
    await a[2]!.send(new PutObjectTaggingCommand({ Bucket: 'shared', Key: 'bobs-object', Tagging: { TagSet: [{ Key: 'by', Value: 'alice' }] } }));
    assert.deepEqual(await objectTags('bobs-object', 'shared', b), [{ Key: 'by', Value: 'alice' }]);
    await a[0]!.send(new PutObjectCommand({ Bucket: 'shared', Key: 'alices-object', Body: 'a', Tagging: 'by=alice' }));
    // Bucket WRITE does not give tags.
    await s3failure(b.send(new GetObjectTaggingCommand({ Bucket: 'shared', Key: 'alices-object' })), 'AccessDenied', 403);
    await s3failure(b.send(new PutObjectTaggingCommand({ Bucket: 'shared', Key: 'alices-object', Tagging: { TagSet: tags(1) } })), 'AccessDenied', 403);
    // Who may list the bucket learns that a key is missing.
    await s3failure(b.send(new GetObjectTaggingCommand({ Bucket: 'shared', Key: 'missing' })), 'NoSuchKey', 404);
  });

  test('PutBucketTagging, GetBucketTagging and DeleteBucketTagging: NoSuchTagSet, 50 tags, validation, bucket owner only', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'tagged-bucket' }));
    await s3failure(a[1]!.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' })), 'NoSuchTagSet', 404);
    const set = [
      { Key: 'team', Value: 'storage' },
      { Key: 'cost centre', Value: '42' },
    ];
    const put = await a[2]!.send(new PutBucketTaggingCommand({ Bucket: 'tagged-bucket', Tagging: { TagSet: set } }));
    assert.equal(put.$metadata.httpStatusCode, 204);
    for (const c of a) assert.deepEqual((await c.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' }))).TagSet, set, 'every node answers the new set at once');

    // A bucket takes up to 50 tags; each rule of the object tags holds.
    const fifty = tags(50, 'bucket-');
    await a[0]!.send(new PutBucketTaggingCommand({ Bucket: 'tagged-bucket', Tagging: { TagSet: fifty } }));
    assert.deepEqual((await a[1]!.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' }))).TagSet, fifty);
    const putBucket = (s: Tag[]) => a[2]!.send(new PutBucketTaggingCommand({ Bucket: 'tagged-bucket', Tagging: { TagSet: s } }));
    await s3failure(putBucket(tags(51)), 'InvalidTag', 400);
    await s3failure(putBucket([{ Key: 'aws:cloudformation:stack-name', Value: 'x' }]), 'InvalidTag', 400);
    await s3failure(putBucket([{ Key: 'a', Value: '1' }, { Key: 'a', Value: '1' }]), 'InvalidTag', 400);
    await s3failure(putBucket([{ Key: 'k'.repeat(129), Value: '1' }]), 'InvalidTag', 400);
    await s3failure(putBucket([{ Key: 'k', Value: 'v'.repeat(257) }]), 'InvalidTag', 400);
    assert.deepEqual(await rawTagging('/tagged-bucket', '<Tagging><TagSet>'), { status: 400, code: 'MalformedXML' });
    assert.deepEqual(await rawTagging('/tagged-bucket', tagging('<TagSet><Tag><Key>a</Key></Tag></TagSet>')), { status: 400, code: 'MalformedXML' });
    assert.deepEqual(await rawTagging('/tagged-bucket', tagging('<TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet>'), false), { status: 400, code: 'InvalidRequest' }, 'without Content-MD5');
    assert.deepEqual((await a[0]!.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' }))).TagSet, fifty, 'refused sets change nothing');

    // Only the owner.
    await s3failure(b.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' })), 'AccessDenied', 403);
    await s3failure(b.send(new PutBucketTaggingCommand({ Bucket: 'tagged-bucket', Tagging: { TagSet: tags(1) } })), 'AccessDenied', 403);
    await s3failure(b.send(new DeleteBucketTaggingCommand({ Bucket: 'tagged-bucket' })), 'AccessDenied', 403);
    await s3failure(anon.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' })), 'AccessDenied', 403);
    await a[0]!.send(new PutBucketAclCommand({ Bucket: 'tagged-bucket', ACL: 'public-read-write' }));
    // Bucket WRITE does not give its tags.
    await s3failure(b.send(new PutBucketTaggingCommand({ Bucket: 'tagged-bucket', Tagging: { TagSet: tags(1) } })), 'AccessDenied', 403);
    assert.deepEqual((await a[1]!.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' }))).TagSet, fifty, 'an ACL change keeps the tags');

    const deleted = await a[1]!.send(new DeleteBucketTaggingCommand({ Bucket: 'tagged-bucket' }));
    assert.equal(deleted.$metadata.httpStatusCode, 204);
    await s3failure(a[2]!.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' })), 'NoSuchTagSet', 404);
    assert.equal((await a[2]!.send(new DeleteBucketTaggingCommand({ Bucket: 'tagged-bucket' }))).$metadata.httpStatusCode, 204, 'again: still 204');
    // DeleteBucketTagging left the bucket alone.
    await a[0]!.send(new PutObjectCommand({ Bucket: 'tagged-bucket', Key: 'k', Body: 'x' }));

    // An empty TagSet leaves no tag set; a re-created bucket starts without tags.
    await a[0]!.send(new PutBucketTaggingCommand({ Bucket: 'tagged-bucket', Tagging: { TagSet: set } }));
    await a[1]!.send(new PutBucketTaggingCommand({ Bucket: 'tagged-bucket', Tagging: { TagSet: [] } }));
    await s3failure(a[2]!.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' })), 'NoSuchTagSet', 404);
    await a[0]!.send(new PutBucketTaggingCommand({ Bucket: 'tagged-bucket', Tagging: { TagSet: set } }));
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'tagged-bucket', Key: 'k' }));
    await a[0]!.send(new DeleteBucketCommand({ Bucket: 'tagged-bucket' }));
    await a[1]!.send(new CreateBucketCommand({ Bucket: 'tagged-bucket' }));
    await s3failure(a[2]!.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' })), 'NoSuchTagSet', 404);
  });

  test('a tag write is conditional on the version it read: it never undoes a concurrent overwrite or deletion', async () => {
    const catalog = nodes[0]!.s3.catalog;
    const bucket = (await catalog.bucket('tags', true))!;
    await a[0]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'race', Body: 'first', Tagging: 'v=1' }));
    const stale = (await catalog.getObject(bucket, 'race'))!;
    assert.deepEqual(stale.tags, [{ key: 'v', value: '1' }]);
    // Another node overwrites the object between the tag write's read and its write.
    await a[1]!.send(new PutObjectCommand({ Bucket: 'tags', Key: 'race', Body: 'second' }));
    await assert.rejects(
      catalog.rewriteObject(bucket, 'race', stale, (e) => withTags(e, [{ key: 'late', value: 'x' }])),
      (err: unknown) => err instanceof S3Error && err.code === 'OperationAborted',
    );
    const got = await a[2]!.send(new GetObjectCommand({ Bucket: 'tags', Key: 'race' }));
    assert.equal((await bytes(got.Body)).toString(), 'second', 'the overwrite stands');
    assert.equal(got.TagCount, undefined);
    assert.deepEqual(await objectTags('race'), []);

    // On the current version, the same write applies and keeps the data.
    const current = (await catalog.getObject(bucket, 'race'))!;
    await catalog.rewriteObject(bucket, 'race', current, (e) => withTags(e, [{ key: 'now', value: 'y' }]));
    assert.deepEqual(await objectTags('race'), [{ Key: 'now', Value: 'y' }]);

    // A deletion in between: NoSuchKey, and the key stays deleted.
    const before = (await catalog.getObject(bucket, 'race'))!;
    await a[1]!.send(new DeleteObjectCommand({ Bucket: 'tags', Key: 'race' }));
    await assert.rejects(
      catalog.rewriteObject(bucket, 'race', before, (e) => withTags(e, [])),
      (err: unknown) => err instanceof S3Error && err.code === 'NoSuchKey',
    );
    await s3failure(a[2]!.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'race' })), undefined, 404);
  });
});
