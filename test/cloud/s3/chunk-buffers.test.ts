/**
 * Uploads assemble chunks in reused buffers (data.ts), and replicas receive them in reused frame
 * buffers (wire/frame-pool.ts): many concurrent uploads through every node of a 3-node ring,
 * twice over (the second round reuses the buffers the first gave back), read back byte for byte
 * from other nodes. A buffer given back too early would show here as another upload's bytes in a
 * chunk (replicas refuse bytes that do not hash to the chunk's name, and reads check what is on
 * disk, so the uploads or the reads fail). Giving frames back before the chunk is on disk fails
 * this test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { bytes, pattern, startS3Fixture } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const BUCKET = 'reused-buffers';
// Chunks of 1 MiB: their frames (chunk and envelope) are large enough to be lent from the frame pool.
const CHUNK = 1024 * 1024;

describe('S3 uploads through reused chunk buffers on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let c: S3Client[];

  before(async () => {
    const f = await startS3Fixture((fn) => cleanups.push(fn), { config: { s3: { chunkSize: CHUNK } }, buckets: [BUCKET] });
    c = f.aliceClients;
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('two rounds of 12 concurrent multi-chunk uploads read back exactly', async () => {
    for (const round of [1, 2]) {
      // Sizes that end mid-chunk, so partial last chunks go through the buffers too.
      const objects = Array.from({ length: 12 }, (_, i) => ({ key: `obj-${i}`, body: pattern(2 * CHUNK + 1000 * (i + 1) + round, 100 * round + i) }));
      await Promise.all(objects.map((o, i) => c[i % 3]!.send(new PutObjectCommand({ Bucket: BUCKET, Key: o.key, Body: o.body }))));
      for (const [i, o] of objects.entries()) {
        const got = await bytes((await c[(i + 1) % 3]!.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.key }))).Body);
        assert.ok(got.equals(o.body), `round ${round}: ${o.key} reads back as written`);
      }
    }
  });
});
