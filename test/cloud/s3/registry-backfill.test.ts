/**
 * The registries' one-time pass over a node's store (buckets and users made before the
 * registries existed get their entries): a node whose store is empty at start skips it, a node
 * restarted with records and no marker goes through them. One node; each pass waits for the
 * service's start-up delay (10 s), so the test takes about half a minute.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { S3Service } from '../../../src/cloud/s3/service.ts';
import { clientFor, createUser, startS3Ring, TEST_S3 } from './harness.ts';
import { startNode, waitFor } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const MARKERS = { bucket: 'bucket-registry-backfilled', user: 'user-registry-backfilled' };

describe('S3 registry backfill at start', () => {
  const cleanups: (() => Promise<void>)[] = [];

  after(async () => {
    await runCleanups(cleanups);
  });

  async function markers(dir: string): Promise<{ bucket: string; user: string }> {
    const paths = { bucket: join(dir, 's3', MARKERS.bucket), user: join(dir, 's3', MARKERS.user) };
    await waitFor(() => existsSync(paths.bucket) && existsSync(paths.user), { timeoutMs: 30_000, intervalMs: 200, what: 'both backfill markers' });
    return { bucket: readFileSync(paths.bucket, 'utf8'), user: readFileSync(paths.user, 'utf8') };
  }

  test('a new node (empty store) skips the pass; restarted with records and no marker, it goes through them', async () => {
    const [node] = await startS3Ring((fn) => cleanups.push(fn), 1);
    const dir = node!.dir;
    const user = await createUser(node!, 'backfill-user');
    const client = clientFor(node!.endpoint, user);
    await client.send(new CreateBucketCommand({ Bucket: 'backfill-bucket' }));
    client.destroy();

    const fresh = await markers(dir);
    assert.match(fresh.bucket, /store empty at start/);
    assert.match(fresh.user, /store empty at start/);

    await node!.stop({ graceful: true });
    await rm(join(dir, 's3', MARKERS.bucket));
    await rm(join(dir, 's3', MARKERS.user));
    const again = await startNode((fn) => cleanups.push(fn), { dir, config: { apps: ['s3'], s3: TEST_S3 } });
    assert.ok(again.node.service<S3Service>('s3'));
    const restarted = await markers(dir);
    // Already registered when they were made: found, and nothing left to write.
    assert.match(restarted.bucket, / 1 bucket record\(s\), 0 registered/);
    assert.match(restarted.user, / 1 user record\(s\), 0 registered/);
  });
});
