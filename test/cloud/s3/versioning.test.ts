/**
 * S3 object versioning through the AWS SDK on a 3-node loopback ring: PutBucketVersioning /
 * GetBucketVersioning, versions kept by overwrites (PutObject, CopyObject, multipart), reads of
 * a version, delete markers, deletes of a version (the newest remaining one becoming current),
 * the null version of objects written before versioning and while it is suspended,
 * ListObjectVersions with its markers, prefixes and paging, DeleteObjects with version ids, and
 * DeleteBucket refusing a bucket that still holds versions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  DeleteObjectTaggingCommand,
  GetBucketVersioningCommand,
  GetObjectAclCommand,
  GetObjectTaggingCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { ListObjectVersionsCommandOutput, S3Client } from '@aws-sdk/client-s3';
import { bytes, pattern, rawRequest, s3failure, startS3Fixture } from './harness.ts';
import { waitFor } from '../../node/fixtures.ts';
import type { S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const MiB = 1024 * 1024;
const DAY_MS = 86_400_000;

/** A version or delete marker as a listing shows it, in listing order. */
interface Listed {
  key: string;
  id: string;
  latest: boolean;
  marker: boolean;
}

/**
 * Versions then delete markers of a ListObjectVersions page, each in listing order (the SDK
 * parses the two apart; protocol tests check how the document interleaves them).
 */
function listed(page: ListObjectVersionsCommandOutput): Listed[] {
  return [
    ...(page.Versions ?? []).map((v) => ({ key: v.Key!, id: v.VersionId!, latest: v.IsLatest === true, marker: false })),
    ...(page.DeleteMarkers ?? []).map((v) => ({ key: v.Key!, id: v.VersionId!, latest: v.IsLatest === true, marker: true })),
  ];
}

describe('S3 versioning through the AWS SDK on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  /** Alice's client on each node. */
  let a: S3Client[];
  let b: S3Client;
  let anon: S3Client;

  /** Creates a bucket and enables versioning on it, both through node 0, before any other node reads it. */
  async function versionedBucket(name: string): Promise<void> {
    await a[0]!.send(new CreateBucketCommand({ Bucket: name }));
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }));
  }

  async function put(bucket: string, key: string, body: Buffer | string, client = a[0]!): Promise<string> {
    const r = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    assert.ok(r.VersionId, 'a versioned PUT answers its version id');
    return r.VersionId;
  }

  async function text(bucket: string, key: string, versionId?: string, client = a[1]!): Promise<string> {
    const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId !== undefined ? { VersionId: versionId } : {}) }));
    return (await bytes(r.Body)).toString();
  }

  /** Every version of the bucket (under `prefix`), read in pages of `pageSize`. */
  async function allVersions(bucket: string, pageSize = 1000, prefix?: string): Promise<Listed[]> {
    const out: Listed[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (;;) {
      const page = await a[2]!.send(
        new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: pageSize, ...(prefix ? { Prefix: prefix } : {}), ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}), ...(versionIdMarker !== undefined ? { VersionIdMarker: versionIdMarker } : {}) }),
      );
      out.push(...listed(page));
      if (!page.IsTruncated) return out;
      keyMarker = page.NextKeyMarker;
      versionIdMarker = page.NextVersionIdMarker;
    }
  }

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { config: { s3: { lifecycleSweepMs: 0 } } });
    ({ nodes, alice, aliceClients: a } = fixture);
    b = fixture.bobClients[1]!;
    anon = fixture.anonymousClients[2]!;
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('PutBucketVersioning / GetBucketVersioning: states, the owner only, bad documents', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'vconf' }));
    assert.equal((await a[0]!.send(new GetBucketVersioningCommand({ Bucket: 'vconf' }))).Status, undefined, 'never versioned: no status');
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'vconf', VersioningConfiguration: { Status: 'Enabled' } }));
    assert.equal((await a[0]!.send(new GetBucketVersioningCommand({ Bucket: 'vconf' }))).Status, 'Enabled');
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'vconf', VersioningConfiguration: { Status: 'Suspended' } }));
    assert.equal((await a[0]!.send(new GetBucketVersioningCommand({ Bucket: 'vconf' }))).Status, 'Suspended');
    await s3failure(b.send(new PutBucketVersioningCommand({ Bucket: 'vconf', VersioningConfiguration: { Status: 'Enabled' } })), 'AccessDenied', 403);
    await s3failure(b.send(new GetBucketVersioningCommand({ Bucket: 'vconf' })), 'AccessDenied', 403);
    const bad = '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>On</Status></VersioningConfiguration>';
    const body = Buffer.from(bad);
    const headers = { 'content-type': 'application/xml', 'content-md5': createHash('md5').update(body).digest('base64') };
    const r = await rawRequest(nodes[0]!.endpoint, alice, { method: 'PUT', path: '/vconf', query: { versioning: '' }, headers, body });
    assert.equal(r.status, 400);
    assert.match(r.body.toString(), /<Code>IllegalVersioningConfigurationException<\/Code>/);
    assert.equal((await a[0]!.send(new GetBucketVersioningCommand({ Bucket: 'vconf' }))).Status, 'Suspended', 'a refused document changes nothing');
    // MFA delete needs HTTPS (this endpoint is plain HTTP; see mfa-delete.test.ts over HTTPS).
    const mfa = await s3failure(a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'vconf', VersioningConfiguration: { Status: 'Enabled', MFADelete: 'Enabled' }, MFA: 'arn:pi:iam:::mfa/alice 123456' })), 'InvalidRequest', 400);
    assert.equal(mfa.message, 'Requests that include x-amz-mfa must use HTTPS.');
    assert.equal((await a[0]!.send(new GetBucketVersioningCommand({ Bucket: 'vconf' }))).MFADelete, undefined);
  });

  test('overwrites keep every version: reads by version id from any node, listings show the latest', async () => {
    await versionedBucket('ver-1');
    const ids = [await put('ver-1', 'k', 'one', a[0]), await put('ver-1', 'k', 'two', a[1]), await put('ver-1', 'k', 'three', a[2])];
    assert.equal(new Set(ids).size, 3, 'every write has its own version id');
    assert.equal(await text('ver-1', 'k'), 'three');
    for (const [i, body] of ['one', 'two', 'three'].entries()) {
      for (const client of a) assert.equal(await text('ver-1', 'k', ids[i], client), body);
    }
    const head = await a[2]!.send(new HeadObjectCommand({ Bucket: 'ver-1', Key: 'k', VersionId: ids[0] }));
    assert.equal(head.VersionId, ids[0]);
    assert.equal(head.ContentLength, 3);
    const current = await a[0]!.send(new GetObjectCommand({ Bucket: 'ver-1', Key: 'k' }));
    assert.equal(current.VersionId, ids[2], 'GetObject names the version it read');
    await bytes(current.Body);
    assert.deepEqual(await allVersions('ver-1'), [
      { key: 'k', id: ids[2]!, latest: true, marker: false },
      { key: 'k', id: ids[1]!, latest: false, marker: false },
      { key: 'k', id: ids[0]!, latest: false, marker: false },
    ]);
    const list = await a[1]!.send(new ListObjectsV2Command({ Bucket: 'ver-1' }));
    assert.deepEqual(list.Contents?.map((c) => c.Key), ['k'], 'ListObjectsV2 lists the current version only');
    // Ids of the right form that name nothing, and ids of the wrong form.
    await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'ver-1', Key: 'k', VersionId: 'f'.repeat(32) })), 'NoSuchVersion', 404);
    await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'ver-1', Key: 'k', VersionId: 'not-a-version' })), 'InvalidArgument', 400);
  });

  test('a delete marker hides the object; removing the marker brings it back', async () => {
    await versionedBucket('ver-2');
    const one = await put('ver-2', 'k', 'one');
    const two = await put('ver-2', 'k', 'two');
    const del = await a[1]!.send(new DeleteObjectCommand({ Bucket: 'ver-2', Key: 'k' }));
    assert.equal(del.DeleteMarker, true);
    assert.ok(del.VersionId && del.VersionId !== two);
    const marker = del.VersionId;
    await s3failure(a[2]!.send(new GetObjectCommand({ Bucket: 'ver-2', Key: 'k' })), 'NoSuchKey', 404);
    const raw = await rawRequest(nodes[2]!.endpoint, alice, { method: 'GET', path: '/ver-2/k' });
    assert.equal(raw.status, 404);
    assert.equal(raw.headers['x-amz-delete-marker'], 'true');
    assert.equal(raw.headers['x-amz-version-id'], marker);
    const named = await rawRequest(nodes[0]!.endpoint, alice, { method: 'GET', path: '/ver-2/k', query: { versionId: marker } });
    assert.equal(named.status, 405, 'a delete marker named by its id cannot be read');
    assert.equal(named.headers['x-amz-delete-marker'], 'true');
    assert.equal((await a[0]!.send(new ListObjectsV2Command({ Bucket: 'ver-2' }))).KeyCount, 0);
    assert.deepEqual(await allVersions('ver-2'), [
      { key: 'k', id: two, latest: false, marker: false },
      { key: 'k', id: one, latest: false, marker: false },
      { key: 'k', id: marker, latest: true, marker: true },
    ]);
    assert.equal(await text('ver-2', 'k', one), 'one', 'the versions stay readable by id');
    const undo = await a[0]!.send(new DeleteObjectCommand({ Bucket: 'ver-2', Key: 'k', VersionId: marker }));
    assert.equal(undo.DeleteMarker, true);
    assert.equal(undo.VersionId, marker);
    assert.equal(await text('ver-2', 'k'), 'two', 'without its marker the newest version is current again');
  });

  test('deleting a version for good: the current one (the next newest takes its place) or an older one', async () => {
    await versionedBucket('ver-3');
    const ids = [await put('ver-3', 'k', 'one'), await put('ver-3', 'k', 'two'), await put('ver-3', 'k', 'three')];
    const gone = await a[2]!.send(new DeleteObjectCommand({ Bucket: 'ver-3', Key: 'k', VersionId: ids[2] }));
    assert.equal(gone.VersionId, ids[2]);
    assert.equal(gone.DeleteMarker, undefined);
    assert.equal(await text('ver-3', 'k'), 'two');
    await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'ver-3', Key: 'k', VersionId: ids[2] })), 'NoSuchVersion', 404);
    await a[1]!.send(new DeleteObjectCommand({ Bucket: 'ver-3', Key: 'k', VersionId: ids[0] }));
    assert.deepEqual(await allVersions('ver-3'), [{ key: 'k', id: ids[1]!, latest: true, marker: false }]);
    // Deleting a version that is not there succeeds and changes nothing (as S3 answers).
    await a[1]!.send(new DeleteObjectCommand({ Bucket: 'ver-3', Key: 'k', VersionId: ids[0] }));
    await a[1]!.send(new DeleteObjectCommand({ Bucket: 'ver-3', Key: 'k', VersionId: ids[1] }));
    assert.deepEqual(await allVersions('ver-3'), [], 'the last version deleted: the key is gone');
    await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'ver-3', Key: 'k' })), 'NoSuchKey', 404);
    await a[0]!.send(new DeleteBucketCommand({ Bucket: 'ver-3' }));
  });

  test('the null version: objects from before versioning, and writes while it is suspended', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'ver-4' }));
    const plain = await a[0]!.send(new PutObjectCommand({ Bucket: 'ver-4', Key: 'k', Body: 'before' }));
    assert.equal(plain.VersionId, undefined, 'a never-versioned bucket names no versions');
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'ver-4', VersioningConfiguration: { Status: 'Enabled' } }));
    const one = await put('ver-4', 'k', 'one');
    assert.equal(await text('ver-4', 'k', 'null', a[0]), 'before', 'the object from before versioning is the version "null"');
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'ver-4', VersioningConfiguration: { Status: 'Suspended' } }));
    const s1 = await a[0]!.send(new PutObjectCommand({ Bucket: 'ver-4', Key: 'k', Body: 'suspended-1' }));
    assert.equal(s1.VersionId, 'null');
    assert.deepEqual(await allVersions('ver-4'), [
      { key: 'k', id: 'null', latest: true, marker: false },
      { key: 'k', id: one, latest: false, marker: false },
    ], 'the suspended write replaced the old null version; the one with an id stays');
    const s2 = await a[0]!.send(new PutObjectCommand({ Bucket: 'ver-4', Key: 'k', Body: 'suspended-2' }));
    assert.equal(s2.VersionId, 'null');
    assert.equal((await allVersions('ver-4')).length, 2, 'a null version replaces the null version');
    const del = await a[0]!.send(new DeleteObjectCommand({ Bucket: 'ver-4', Key: 'k' }));
    assert.equal(del.DeleteMarker, true);
    assert.equal(del.VersionId, 'null', 'suspended: the delete marker is the null version');
    assert.deepEqual(await allVersions('ver-4'), [
      { key: 'k', id: one, latest: false, marker: false },
      { key: 'k', id: 'null', latest: true, marker: true },
    ]);
    assert.equal(await text('ver-4', 'k', one, a[0]), 'one');
  });

  test('CopyObject from a version, and multipart uploads, make new versions', async () => {
    await versionedBucket('ver-5');
    const one = await put('ver-5', 'k', 'one');
    await put('ver-5', 'k', 'two');
    const copy = await a[1]!.send(new CopyObjectCommand({ Bucket: 'ver-5', Key: 'copy', CopySource: `ver-5/k?versionId=${one}` }));
    assert.equal(copy.CopySourceVersionId, one);
    assert.ok(copy.VersionId);
    assert.equal(await text('ver-5', 'copy'), 'one');
    // Restoring an old version: a copy of it onto its own key becomes the current version.
    const restored = await a[2]!.send(new CopyObjectCommand({ Bucket: 'ver-5', Key: 'k', CopySource: `ver-5/k?versionId=${one}` }));
    assert.ok(restored.VersionId && restored.VersionId !== one);
    assert.equal(await text('ver-5', 'k'), 'one');
    assert.equal((await allVersions('ver-5', 1000, 'k')).length, 3, 'the restored copy is a third version of k');
    await s3failure(a[2]!.send(new CopyObjectCommand({ Bucket: 'ver-5', Key: 'k', CopySource: 'ver-5/k' })), 'InvalidRequest', 400);
    // A multipart object over a chunked older version: both stay readable.
    const big = pattern(MiB, 7);
    const older = await put('ver-5', 'big', big);
    const up = await a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'ver-5', Key: 'big' }));
    const part1 = pattern(5 * MiB, 8);
    const part2 = pattern(MiB, 9);
    const p1 = await a[0]!.send(new UploadPartCommand({ Bucket: 'ver-5', Key: 'big', UploadId: up.UploadId, PartNumber: 1, Body: part1 }));
    const p2 = await a[0]!.send(new UploadPartCommand({ Bucket: 'ver-5', Key: 'big', UploadId: up.UploadId, PartNumber: 2, Body: part2 }));
    const done = await a[0]!.send(
      new CompleteMultipartUploadCommand({ Bucket: 'ver-5', Key: 'big', UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] } }),
    );
    assert.ok(done.VersionId && done.VersionId !== older);
    const latest = await bytes((await a[2]!.send(new GetObjectCommand({ Bucket: 'ver-5', Key: 'big' }))).Body);
    assert.ok(latest.equals(Buffer.concat([part1, part2])));
    const first = await bytes((await a[2]!.send(new GetObjectCommand({ Bucket: 'ver-5', Key: 'big', VersionId: older }))).Body);
    assert.ok(first.equals(big), 'the replaced version keeps its chunks');
    const ranged = await a[1]!.send(new GetObjectCommand({ Bucket: 'ver-5', Key: 'big', VersionId: older, Range: 'bytes=1000-1999' }));
    assert.ok((await bytes(ranged.Body)).equals(big.subarray(1000, 2000)));
  });

  test('ListObjectVersions: key and version-id markers page through keys and versions; prefix and delimiter', async () => {
    await versionedBucket('ver-6');
    const expected: Listed[] = [];
    for (const key of ['a', 'dir/x', 'dir/y', 'm']) {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(await put('ver-6', key, `${key}-${i}`, a[i]));
      ids.reverse().forEach((id, i) => expected.push({ key, id, latest: i === 0, marker: false }));
    }
    assert.deepEqual(await allVersions('ver-6'), expected);
    for (const size of [1, 2, 4, 5]) assert.deepEqual(await allVersions('ver-6', size), expected, `pages of ${size}`);
    assert.deepEqual(await allVersions('ver-6', 2, 'dir/'), expected.filter((v) => v.key.startsWith('dir/')));
    const grouped = await a[0]!.send(new ListObjectVersionsCommand({ Bucket: 'ver-6', Delimiter: '/' }));
    assert.deepEqual(grouped.CommonPrefixes?.map((p) => p.Prefix), ['dir/']);
    assert.deepEqual(listed(grouped).map((v) => v.key), ['a', 'a', 'a', 'm', 'm', 'm']);
    // A "directory" with more versions than the listing reads through (32) before seeking past it.
    for (let i = 0; i < 40; i++) await put('ver-6', `dir/z${i % 10}`, `z-${i}`, a[i % 3]);
    const past = await a[1]!.send(new ListObjectVersionsCommand({ Bucket: 'ver-6', Delimiter: '/' }));
    assert.deepEqual(past.CommonPrefixes?.map((p) => p.Prefix), ['dir/']);
    assert.deepEqual(listed(past).map((v) => v.key), ['a', 'a', 'a', 'm', 'm', 'm']);
    // Resuming inside a key's versions.
    const third = expected[1]!;
    const rest = await a[0]!.send(new ListObjectVersionsCommand({ Bucket: 'ver-6', KeyMarker: third.key, VersionIdMarker: third.id, MaxKeys: 3 }));
    assert.deepEqual(listed(rest), expected.slice(2, 5));
    assert.equal(rest.NextKeyMarker, expected[4]!.key);
    assert.equal(rest.NextVersionIdMarker, expected[4]!.id);
    const r = await rawRequest(nodes[1]!.endpoint, alice, { method: 'GET', path: '/ver-6', query: { versions: '', 'version-id-marker': third.id } });
    assert.equal(r.status, 400, 'a version-id marker needs a key marker');
  });

  test('concurrent writes to one key through every node: each is a version, none lost, the last decided is current', async () => {
    await versionedBucket('ver-8');
    const bodies = Array.from({ length: 12 }, (_, i) => `body-${i}`);
    const ids = await Promise.all(bodies.map((body, i) => put('ver-8', 'hot', body, a[i % 3])));
    const versions = await allVersions('ver-8');
    assert.equal(versions.length, bodies.length);
    assert.deepEqual(new Set(versions.map((v) => v.id)), new Set(ids));
    assert.equal(versions.filter((v) => v.latest).length, 1);
    assert.equal(versions[0]!.latest, true, 'the current version lists first');
    // Each version still reads back as what was written under its id.
    for (const [i, id] of ids.entries()) assert.equal(await text('ver-8', 'hot', id, a[(i + 1) % 3]), bodies[i]);
    assert.equal(await text('ver-8', 'hot'), bodies[ids.indexOf(versions[0]!.id)]);
  });

  test('lifecycle: NoncurrentVersionExpiration (with NewerNoncurrentVersions), ExpiredObjectDeleteMarker, Expiration writing a marker', async () => {
    await versionedBucket('ver-9');
    await a[0]!.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: 'ver-9',
        LifecycleConfiguration: {
          Rules: [
            { ID: 'old', Status: 'Enabled', Filter: { Prefix: 'n/' }, NoncurrentVersionExpiration: { NoncurrentDays: 1 } },
            { ID: 'keep-two', Status: 'Enabled', Filter: { Prefix: 'k/' }, NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 2 } },
            { ID: 'markers', Status: 'Enabled', Filter: { Prefix: 'm/' }, Expiration: { ExpiredObjectDeleteMarker: true } },
            { ID: 'current', Status: 'Enabled', Filter: { Prefix: 'c/' }, Expiration: { Days: 1 } },
          ],
        },
      }),
    );
    const big = pattern(600 * 1024, 11);
    const n = [await put('ver-9', 'n/a', big), await put('ver-9', 'n/a', 'n2'), await put('ver-9', 'n/a', 'n3')];
    const k: string[] = [];
    for (let i = 0; i < 5; i++) k.push(await put('ver-9', 'k/a', `k${i}`));
    const m1 = await put('ver-9', 'm/alone', 'm');
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'ver-9', Key: 'm/alone' }));
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'ver-9', Key: 'm/alone', VersionId: m1 }));
    const mb = await put('ver-9', 'm/kept', 'm');
    const mbMarker = (await a[0]!.send(new DeleteObjectCommand({ Bucket: 'ver-9', Key: 'm/kept' }))).VersionId!;
    const c1 = await put('ver-9', 'c/a', 'c');
    const s3 = nodes[0]!.s3;
    const bucket = (await s3.catalog.bucket('ver-9', true))!;
    const bigChunks = await s3.catalog.chunkList((await s3.api.versioning.version(bucket, 'n/a', n[0]))!);
    assert.ok(bigChunks.length >= 2, 'a chunked noncurrent version');

    const sweep = async (at: number): Promise<number> => (await Promise.all(nodes.map((x) => x.s3.lifecycle.sweep({ now: at })))).reduce((sum, r) => sum + r.versions + r.expired, 0);
    assert.equal(await sweep(Date.now() + DAY_MS / 2), 1, 'half a day on only the lone delete marker goes');
    assert.equal(await sweep(Date.now() + 3 * DAY_MS), 2 + 2 + 1, 'n/a: two versions; k/a: all but the two newest noncurrent; c/a: a marker');
    const left = await allVersions('ver-9');
    assert.deepEqual(
      left.filter((v) => !v.marker).map((v) => [v.key, v.id, v.latest]),
      [
        ['c/a', c1, false],
        ['k/a', k[4], true],
        ['k/a', k[3], false],
        ['k/a', k[2], false],
        ['m/kept', mb, false],
        ['n/a', n[2], true],
      ],
    );
    const markers = left.filter((v) => v.marker);
    assert.deepEqual(markers.map((v) => [v.key, v.latest]), [['c/a', true], ['m/kept', true]], 'the expired current version got a marker; a marker with a version under it stays');
    assert.equal(markers[1]!.id, mbMarker);
    await s3failure(a[1]!.send(new GetObjectCommand({ Bucket: 'ver-9', Key: 'c/a' })), 'NoSuchKey', 404);
    assert.equal(await text('ver-9', 'c/a', c1), 'c', 'the expired version is kept, noncurrent');
    // The removed version's data is released for the collector.
    await waitFor(async () => (await Promise.all(bigChunks.map((c) => s3.catalog.refsOf(c.hash)))).every((r) => r.live.length === 0), { timeoutMs: 10_000, what: 'the references of the expired version dropped' });
    const metric = (name: string): number => nodes.reduce((sum, x) => sum + (x.s3.metrics().find((m) => m.name === name)?.values[0]?.value ?? 0), 0);
    assert.equal(metric('pi_s3_lifecycle_versions_expired_total'), 4);
    assert.equal(metric('pi_s3_lifecycle_delete_markers_removed_total'), 1);
    assert.equal(await sweep(Date.now() + 3 * DAY_MS), 0, 'a second sweep finds nothing more');
  });

  test('tags and ACLs of a noncurrent version: read and written by version id, the current version untouched', async () => {
    await versionedBucket('ver-10');
    const one = (await a[0]!.send(new PutObjectCommand({ Bucket: 'ver-10', Key: 'k', Body: 'one', Tagging: 'gen=1' }))).VersionId!;
    const two = (await a[0]!.send(new PutObjectCommand({ Bucket: 'ver-10', Key: 'k', Body: 'two', Tagging: 'gen=2' }))).VersionId!;
    const tagsOf = async (versionId?: string): Promise<string[]> =>
      ((await a[1]!.send(new GetObjectTaggingCommand({ Bucket: 'ver-10', Key: 'k', ...(versionId ? { VersionId: versionId } : {}) }))).TagSet ?? []).map((t) => `${t.Key}=${t.Value}`);
    assert.deepEqual(await tagsOf(one), ['gen=1']);
    assert.deepEqual(await tagsOf(), ['gen=2']);
    const put = await a[2]!.send(new PutObjectTaggingCommand({ Bucket: 'ver-10', Key: 'k', VersionId: one, Tagging: { TagSet: [{ Key: 'old', Value: 'yes' }] } }));
    assert.equal(put.VersionId, one);
    assert.deepEqual(await tagsOf(one), ['old=yes']);
    assert.deepEqual(await tagsOf(two), ['gen=2'], 'the current version keeps its tags');
    await a[2]!.send(new DeleteObjectTaggingCommand({ Bucket: 'ver-10', Key: 'k', VersionId: one }));
    assert.deepEqual(await tagsOf(one), []);
    assert.equal(await text('ver-10', 'k', one), 'one', 'the version itself is unchanged');

    await a[0]!.send(new PutObjectAclCommand({ Bucket: 'ver-10', Key: 'k', VersionId: one, ACL: 'public-read' }));
    const acl = await a[1]!.send(new GetObjectAclCommand({ Bucket: 'ver-10', Key: 'k', VersionId: one }));
    assert.ok(acl.Grants?.some((g) => g.Grantee?.URI === 'http://acs.amazonaws.com/groups/global/AllUsers' && g.Permission === 'READ'));
    assert.equal(await text('ver-10', 'k', one, anon), 'one', 'anyone reads the public version');
    await s3failure(anon.send(new GetObjectCommand({ Bucket: 'ver-10', Key: 'k' })), 'AccessDenied', 403);
    await s3failure(anon.send(new GetObjectCommand({ Bucket: 'ver-10', Key: 'k', VersionId: two })), 'AccessDenied', 403);

    // A delete marker has neither.
    const marker = (await a[0]!.send(new DeleteObjectCommand({ Bucket: 'ver-10', Key: 'k' }))).VersionId!;
    await s3failure(a[0]!.send(new GetObjectTaggingCommand({ Bucket: 'ver-10', Key: 'k', VersionId: marker })), 'MethodNotAllowed', 405);
    await s3failure(a[0]!.send(new GetObjectTaggingCommand({ Bucket: 'ver-10', Key: 'k' })), 'NoSuchKey', 404);
    await s3failure(a[0]!.send(new GetObjectAclCommand({ Bucket: 'ver-10', Key: 'k', VersionId: 'f'.repeat(32) })), 'NoSuchVersion', 404);
  });

  test('keys extending others with U+0001: versions and uploads listed in key order, none lost across pages', async () => {
    await versionedBucket('ver-ctl');
    // "a"'s versions are stored under "a\u0001<seq>", among those of "a\u0001b".
    const ids = new Map<string, string[]>();
    for (const key of ['a', 'a\u0001b', 'a', 'a\u0001b', 'b']) ids.set(key, [await put('ver-ctl', key, key, a[ids.size % 3]), ...(ids.get(key) ?? [])]);
    const expected = ['a', 'a\u0001b', 'b'].flatMap((key) => ids.get(key)!.map((id) => `${key}@${id}`));
    for (const MaxKeys of [1000, 1, 2]) {
      const seen: string[] = [];
      let KeyMarker: string | undefined;
      let VersionIdMarker: string | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const page = await a[pages % 3]!.send(new ListObjectVersionsCommand({ Bucket: 'ver-ctl', EncodingType: 'url', MaxKeys, KeyMarker, VersionIdMarker }));
        seen.push(...(page.Versions ?? []).map((v) => `${decodeURIComponent(v.Key!)}@${v.VersionId}`));
        if (!page.IsTruncated) break;
        KeyMarker = decodeURIComponent(page.NextKeyMarker!);
        VersionIdMarker = page.NextVersionIdMarker;
      }
      assert.deepEqual(seen, expected, `pages of ${MaxKeys}`);
    }
    // Uploads: "u"'s are stored under "u\u0001<id>", after those of "u\u0001".
    const uploads: string[] = [];
    for (const Key of ['u', 'u\u0001', 'u']) uploads.push(`${Key}@${(await a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'ver-ctl', Key }))).UploadId}`);
    const inOrder = [uploads[0]!, uploads[2]!, uploads[1]!];
    for (const MaxUploads of [1000, 1]) {
      const seen: string[] = [];
      let KeyMarker: string | undefined;
      let UploadIdMarker: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await a[1]!.send(new ListMultipartUploadsCommand({ Bucket: 'ver-ctl', Prefix: 'u', EncodingType: 'url', MaxUploads, KeyMarker, UploadIdMarker }));
        seen.push(...(page.Uploads ?? []).map((u) => `${decodeURIComponent(u.Key!)}@${u.UploadId}`));
        if (!page.IsTruncated) break;
        KeyMarker = decodeURIComponent(page.NextKeyMarker!);
        UploadIdMarker = page.NextUploadIdMarker;
      }
      assert.deepEqual(seen, inOrder, `pages of ${MaxUploads}`);
    }
  });

  test('a version committed after another never shows an older LastModified than it (writes are stamped when they begin)', async () => {
    await versionedBucket('stamps');
    await put('stamps', 'k', 'first');
    // A write that began before the first was committed, and commits after it.
    const bucket = (await nodes[1]!.s3.catalog.bucket('stamps', true))!;
    const late = { type: 's3.object', vid: 'f'.repeat(32), size: 4, etag: createHash('md5').update('late').digest('hex'), lm: Date.now() - 60_000, owner: alice.id, ownerName: alice.name, data: Buffer.from('late').toString('base64') } as const;
    await nodes[1]!.s3.api.versioning.commit(bucket, 'k', { ...late });
    const listed = (await a[2]!.send(new ListObjectVersionsCommand({ Bucket: 'stamps', Prefix: 'k' }))).Versions!;
    const latest = listed.find((v) => v.IsLatest)!;
    const older = listed.find((v) => !v.IsLatest)!;
    assert.equal(latest.ETag, `"${late.etag}"`, 'the late write is the current version');
    assert.ok(latest.LastModified!.getTime() >= older.LastModified!.getTime(), `${latest.LastModified!.toISOString()} before ${older.LastModified!.toISOString()}`);
  });

  test('DeleteObjects with version ids; DeleteBucket waits for the last version', async () => {
    await versionedBucket('ver-7');
    const k1 = [await put('ver-7', 'one', '1a'), await put('ver-7', 'one', '1b')];
    const k2 = await put('ver-7', 'two', '2');
    const r = await a[2]!.send(new DeleteObjectsCommand({ Bucket: 'ver-7', Delete: { Objects: [{ Key: 'one', VersionId: k1[0] }, { Key: 'two' }] } }));
    assert.equal(r.Errors, undefined);
    const byKey = new Map(r.Deleted?.map((d) => [d.Key, d]));
    assert.equal(byKey.get('one')?.VersionId, k1[0]);
    assert.equal(byKey.get('two')?.DeleteMarker, true);
    const marker = byKey.get('two')?.DeleteMarkerVersionId;
    assert.ok(marker);
    await s3failure(a[0]!.send(new DeleteBucketCommand({ Bucket: 'ver-7' })), 'BucketNotEmpty', 409);
    await a[0]!.send(new DeleteObjectsCommand({ Bucket: 'ver-7', Delete: { Objects: [{ Key: 'one', VersionId: k1[1] }, { Key: 'two', VersionId: k2 }] } }));
    await s3failure(a[0]!.send(new DeleteBucketCommand({ Bucket: 'ver-7' })), 'BucketNotEmpty', 409);
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'ver-7', Key: 'two', VersionId: marker }));
    await a[0]!.send(new DeleteBucketCommand({ Bucket: 'ver-7' }));
  });
});
