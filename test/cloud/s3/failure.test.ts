/**
 * Failures on a 4-node loopback ring running S3: 200 acknowledged objects and 60 versions of a
 * versioned bucket survive the abrupt stop of a node, byte for byte, read through the survivors; chunks get back to three copies on
 * live nodes; a node that dies during an upload loses only that upload; the ring keeps taking
 * writes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { eachLimited } from '../../../src/cloud/s3/catalog.ts';
import { chunkId } from '../../../src/cloud/s3/chunks/store.ts';
import { bytes, clientFor, createUser, pattern, startS3Ring } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { waitFor } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

describe('S3 on a 4-node ring when a node crashes', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let user: TestUser;

  before(async () => {
    nodes = await startS3Ring((fn) => cleanups.push(fn), 4);
    user = await createUser(nodes[0]!, 'carol');
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('200 objects written through every node are all readable, byte for byte, after a node crashes; chunks are re-replicated', async () => {
    const clients = nodes.map((n) => clientFor(n.endpoint, user, { retries: 3 }));
    const objects = new Map<string, Buffer>();
    try {
      await clients[0]!.send(new CreateBucketCommand({ Bucket: 'durable' }));
      // Sizes from inline (under 4 KiB) to several 256 KiB chunks.
      for (let i = 0; i < 200; i++) {
        const size = i % 10 === 0 ? 300_000 + i : i % 10 < 3 ? 5000 + i : 100 + i;
        objects.set(`obj/${String(i).padStart(3, '0')}`, pattern(size, i + 1));
      }
      await eachLimited([...objects.entries()], 16, async ([key, data]) => {
        const i = Number(key.slice(4));
        const r = await clients[i % 4]!.send(new PutObjectCommand({ Bucket: 'durable', Key: key, Body: data }));
        assert.equal(r.ETag, `"${createHash('md5').update(data).digest('hex')}"`);
      });

      // A versioned bucket: two versions of each key (small and chunked), written through every node.
      await clients[0]!.send(new CreateBucketCommand({ Bucket: 'durable-versions' }));
      await clients[0]!.send(new PutBucketVersioningCommand({ Bucket: 'durable-versions', VersioningConfiguration: { Status: 'Enabled' } }));
      const versions: { key: string; id: string; data: Buffer }[] = [];
      for (let generation = 0; generation < 2; generation++) {
        await eachLimited(Array.from({ length: 30 }, (_, i) => i), 8, async (i) => {
          const key = `v/${String(i).padStart(2, '0')}`;
          const data = pattern(i % 5 === 0 ? 280_000 + i : 700 + i, 1000 * generation + i);
          const r = await clients[(i + generation) % 4]!.send(new PutObjectCommand({ Bucket: 'durable-versions', Key: key, Body: data }));
          versions.push({ key, id: r.VersionId!, data });
        });
      }

      // A large upload through the node that is about to die.
      const victim = nodes[3]!;
      const doomed = pattern(24 * 256 * 1024, 777);
      const slowBody = Readable.from(
        (async function* () {
          for (let off = 0; off < doomed.length; off += 64 * 1024) {
            yield doomed.subarray(off, off + 64 * 1024);
            await new Promise((resolve) => setImmediate(resolve));
          }
        })(),
      );
      const putsAtStart = victim.s3.store.stats.puts;
      const inFlight = clients[3]!.send(new PutObjectCommand({ Bucket: 'durable', Key: 'doomed', Body: slowBody, ContentLength: doomed.length })).then(
        () => 'stored',
        () => 'failed',
      );
      await waitFor(() => victim.s3.store.stats.puts >= putsAtStart + 2, { timeoutMs: 10_000, what: 'the upload to store its first chunks' });
      await victim.stop({ graceful: false });
      assert.equal(await inFlight, 'failed', 'the upload through the crashed node fails');

      const survivors = nodes.slice(0, 3);
      await waitFor(() => survivors.every((n) => n.node.overlay.leafSetMembers().length === 2), { timeoutMs: 15_000, what: 'the crash to be detected' });
      // Every acknowledged object, through every survivor in turn.
      await eachLimited([...objects.entries()], 16, async ([key, data]) => {
        const i = Number(key.slice(4));
        const got = await clients[i % 3]!.send(new GetObjectCommand({ Bucket: 'durable', Key: key }));
        const back = await bytes(got.Body);
        assert.ok(back.equals(data), `${key}: ${back.length} bytes read, ${data.length} written`);
      });
      // Every acknowledged version too, by its id.
      await eachLimited(versions, 8, async ({ key, id, data }) => {
        const got = await clients[data.length % 3]!.send(new GetObjectCommand({ Bucket: 'durable-versions', Key: key, VersionId: id }));
        assert.ok((await bytes(got.Body)).equals(data), `${key} version ${id}`);
      });
      const listed = await clients[1]!.send(new ListObjectVersionsCommand({ Bucket: 'durable-versions' }));
      assert.equal(listed.Versions?.length, 60, 'both versions of every key are listed');
      // The lost upload is not half there.
      await assert.rejects(clients[0]!.send(new HeadObjectCommand({ Bucket: 'durable', Key: 'doomed' })), (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 404);
      // Still writable.
      await clients[1]!.send(new PutObjectCommand({ Bucket: 'durable', Key: 'after-crash', Body: pattern(600_000, 9) }));
      const again = await clients[2]!.send(new GetObjectCommand({ Bucket: 'durable', Key: 'after-crash' }));
      assert.ok((await bytes(again.Body)).equals(pattern(600_000, 9)));

      // Re-replication: every chunk a survivor holds is back on three live nodes.
      await Promise.all(survivors.map((n) => n.s3.store.maintain()));
      const holders = new Map<string, number>();
      for (const n of survivors) for (const [hash] of n.s3.store.engine.entries()) holders.set(hash, (holders.get(hash) ?? 0) + 1);
      assert.ok(holders.size > 60, `${holders.size} chunks`);
      const short = [...holders].filter(([hash, count]) => count < 3 && n3(hash));
      assert.deepEqual(short, [], 'every chunk has three copies on the three survivors');
    } finally {
      for (const c of clients) c.destroy();
    }

    /** Whether a chunk's replica set (as node 0 sees it) is the three survivors: always, with three nodes. */
    function n3(hash: string): boolean {
      return nodes[0]!.node.overlay.replicaSet(chunkId(hash), 3).length === 3;
    }
  });
});
