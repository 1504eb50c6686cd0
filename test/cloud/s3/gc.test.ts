/**
 * Garbage collection of chunks on a 3-node ring (grace periods shortened, sweeps run by hand):
 * chunks of overwritten and deleted objects and of aborted uploads are collected on every
 * replica; chunks shared with a copy, and freshly stored chunks, are not.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketReplicationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { chunkHash, chunkId } from '../../../src/cloud/s3/chunks/store.ts';
import { bytes, clientFor, createUser, pattern, startS3Ring } from './harness.ts';
import type { S3Node } from './harness.ts';
import { waitFor } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const CHUNK = 256 * 1024;

describe('S3 chunk collection on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let c: S3Client[];

  before(async () => {
    nodes = await startS3Ring((fn) => cleanups.push(fn), 3, { s3: { gc: { enabled: false, graceMs: 400, orphanRefMs: 60_000 } } });
    const user = await createUser(nodes[0]!, 'gc-user');
    c = nodes.map((n) => clientFor(n.endpoint, user));
    await c[0]!.send(new CreateBucketCommand({ Bucket: 'gc-bucket' }));
  });

  after(async () => {
    for (const x of c) x.destroy();
    await runCleanups(cleanups);
  });

  /** Number of nodes holding the chunk with these bytes. */
  function copies(data: Buffer): number {
    const hash = chunkHash(data);
    return nodes.filter((n) => n.s3.store.engine.stat(hash) !== undefined).length;
  }

  /** Sweeps every node until `done` holds (grace periods have to pass first). */
  async function sweepUntil(done: () => boolean, what: string): Promise<void> {
    await waitFor(
      async () => {
        await Promise.all(nodes.map((n) => n.s3.api.drain()));
        await Promise.all(nodes.map((n) => n.s3.gc.sweep()));
        return done();
      },
      { timeoutMs: 20_000, intervalMs: 100, what },
    );
  }

  test('overwritten and deleted objects lose their chunks; shared and fresh chunks stay', async () => {
    const v1 = pattern(2 * CHUNK, 1);
    const v2 = pattern(2 * CHUNK, 2);
    const shared = pattern(CHUNK, 3);
    const gone = pattern(CHUNK, 4);
    await c[0]!.send(new PutObjectCommand({ Bucket: 'gc-bucket', Key: 'doc', Body: v1 }));
    await c[1]!.send(new PutObjectCommand({ Bucket: 'gc-bucket', Key: 'shared', Body: shared }));
    await c[2]!.send(new CopyObjectCommand({ Bucket: 'gc-bucket', Key: 'shared-copy', CopySource: 'gc-bucket/shared' }));
    await c[1]!.send(new PutObjectCommand({ Bucket: 'gc-bucket', Key: 'gone', Body: gone }));
    const first = v1.subarray(0, CHUNK);
    // A put is acknowledged by two replicas; the third copy follows.
    await waitFor(() => copies(first) === 3 && copies(shared) === 3, { what: 'three copies of each stored chunk' });

    await c[1]!.send(new PutObjectCommand({ Bucket: 'gc-bucket', Key: 'doc', Body: v2 }));
    await c[2]!.send(new DeleteObjectCommand({ Bucket: 'gc-bucket', Key: 'shared' }));
    await c[0]!.send(new DeleteObjectCommand({ Bucket: 'gc-bucket', Key: 'gone' }));
    // Within the grace period nothing goes (it protects readers of the old version): a long one
    // here, whatever the machine's speed; then a short one again.
    await Promise.all(nodes.map((n) => n.s3.api.drain()));
    for (const n of nodes) n.s3.options.gc.graceMs = 60_000;
    await Promise.all(nodes.map((n) => n.s3.gc.sweep()));
    assert.equal(copies(first), 3, 'not collected within the grace period');
    for (const n of nodes) n.s3.options.gc.graceMs = 400;

    await sweepUntil(() => copies(first) === 0 && copies(v1.subarray(CHUNK)) === 0 && copies(gone) === 0, 'the released chunks to be collected');
    assert.equal(copies(shared), 3, 'a chunk still referenced by the copy stays');
    assert.equal(copies(v2.subarray(0, CHUNK)), 3, 'the current version stays');
    const doc = await c[2]!.send(new GetObjectCommand({ Bucket: 'gc-bucket', Key: 'doc' }));
    assert.ok((await bytes(doc.Body)).equals(v2));
    const copy = await c[0]!.send(new GetObjectCommand({ Bucket: 'gc-bucket', Key: 'shared-copy' }));
    assert.ok((await bytes(copy.Body)).equals(shared));
  });

  test('an aborted upload loses its parts; an upload in progress keeps them', async () => {
    const partA = pattern(CHUNK + 100, 10);
    const partB = pattern(CHUNK + 200, 11);
    const aborted = await c[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'gc-bucket', Key: 'aborted' }));
    await c[1]!.send(new UploadPartCommand({ Bucket: 'gc-bucket', Key: 'aborted', UploadId: aborted.UploadId, PartNumber: 1, Body: partA }));
    const open = await c[2]!.send(new CreateMultipartUploadCommand({ Bucket: 'gc-bucket', Key: 'open' }));
    await c[2]!.send(new UploadPartCommand({ Bucket: 'gc-bucket', Key: 'open', UploadId: open.UploadId, PartNumber: 1, Body: partB }));
    await waitFor(() => copies(partB.subarray(0, CHUNK)) === 3, { what: 'three copies of the open upload’s chunk' });
    await c[0]!.send(new AbortMultipartUploadCommand({ Bucket: 'gc-bucket', Key: 'aborted', UploadId: aborted.UploadId }));
    await sweepUntil(() => copies(partA.subarray(0, CHUNK)) === 0, 'the aborted upload’s chunks to be collected');
    assert.equal(copies(partB.subarray(0, CHUNK)), 3, 'the open upload keeps its chunks');
  });

  test("a replica keeps the chunks it shares with its source (replication.ts) until both versions are gone", async () => {
    for (const bucket of ['gc-src', 'gc-dst']) {
      await c[0]!.send(new CreateBucketCommand({ Bucket: bucket }));
      await c[0]!.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    }
    await c[0]!.send(
      new PutBucketReplicationCommand({
        Bucket: 'gc-src',
        ReplicationConfiguration: { Role: 'r', Rules: [{ Priority: 1, Status: 'Enabled', Filter: { Prefix: '' }, Destination: { Bucket: 'arn:aws:s3:::gc-dst' }, DeleteMarkerReplication: { Status: 'Disabled' } }] },
      }),
    );
    const data = pattern(2 * CHUNK, 50);
    const put = await c[1]!.send(new PutObjectCommand({ Bucket: 'gc-src', Key: 'shared', Body: data }));
    await waitFor(async () => (await c[2]!.send(new HeadObjectCommand({ Bucket: 'gc-src', Key: 'shared', VersionId: put.VersionId }))).ReplicationStatus === 'COMPLETED', { what: 'the replica' });
    await waitFor(() => copies(data.subarray(0, CHUNK)) === 3, { what: 'three copies of the chunk' });

    await c[0]!.send(new DeleteObjectCommand({ Bucket: 'gc-src', Key: 'shared', VersionId: put.VersionId }));
    await Promise.all(nodes.map((n) => n.s3.api.drain()));
    // No grace at all: only the replica's references can keep the chunks now.
    for (const n of nodes) n.s3.options.gc.graceMs = 0;
    await Promise.all(nodes.map((n) => n.s3.gc.sweep()));
    for (const n of nodes) n.s3.options.gc.graceMs = 400;
    assert.equal(copies(data.subarray(0, CHUNK)), 3, 'the replica still references the chunk');
    const replica = await c[2]!.send(new GetObjectCommand({ Bucket: 'gc-dst', Key: 'shared' }));
    assert.ok((await bytes(replica.Body)).equals(data));

    await c[0]!.send(new DeleteObjectCommand({ Bucket: 'gc-dst', Key: 'shared', VersionId: put.VersionId }));
    await sweepUntil(() => copies(data.subarray(0, CHUNK)) === 0 && copies(data.subarray(CHUNK)) === 0, 'the chunks of the last version to be collected');
  });

  test('a chunk stored without any reference (an upload that died) is collected after the grace period', async () => {
    const orphan = pattern(5000, 99);
    await nodes[1]!.s3.store.put(orphan);
    await waitFor(() => copies(orphan) === 3, { what: 'three copies of the orphan' });
    for (const n of nodes) n.s3.options.gc.graceMs = 60_000;
    await Promise.all(nodes.map((n) => n.s3.gc.sweep()));
    assert.equal(copies(orphan), 3, 'fresh: kept');
    for (const n of nodes) n.s3.options.gc.graceMs = 400;
    await sweepUntil(() => copies(orphan) === 0, 'the orphan chunk to be collected');
  });

  test('a copy left on a node that is not the root, of a chunk its root no longer holds, is collected too', async () => {
    // What a collection leaves behind on a member that was down meanwhile (or held the copy out
    // of place): the root, which sweeps the chunk, has none, so only the holder can find it.
    const garbage = pattern(6000, 77);
    const hash = chunkHash(garbage);
    const holder = nodes.find((n) => !n.s3.store.node.isRoot(chunkId(hash)))!;
    await holder.s3.store.engine.put(hash, garbage, Date.now() - 60_000);
    assert.equal(copies(garbage), 1);
    await sweepUntil(() => copies(garbage) === 0, 'the copy away from the root to be collected');
  });

  test('a copy on a node that is not the root of a chunk still referenced is kept', async () => {
    const data = pattern(CHUNK, 78);
    await c[0]!.send(new PutObjectCommand({ Bucket: 'gc-bucket', Key: 'kept-away', Body: data }));
    await waitFor(() => copies(data) === 3, { what: 'three copies' });
    const hash = chunkHash(data);
    // The root loses its copy (a disk replaced); the others keep theirs through sweeps.
    const root = nodes.find((n) => n.s3.store.node.isRoot(chunkId(hash)))!;
    assert.ok(await root.s3.store.engine.remove(hash, Number.MAX_SAFE_INTEGER));
    for (const n of nodes) n.s3.options.gc.graceMs = 0;
    try {
      await Promise.all(nodes.map((n) => n.s3.gc.sweep()));
    } finally {
      for (const n of nodes) n.s3.options.gc.graceMs = 400;
    }
    assert.equal(copies(data), 2);
    const got = await c[1]!.send(new GetObjectCommand({ Bucket: 'gc-bucket', Key: 'kept-away' }));
    assert.ok((await bytes(got.Body)).equals(data));
  });
});
