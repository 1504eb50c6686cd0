/**
 * Multipart uploads completed and aborted concurrently through every node of a 3-node ring: one
 * completion commits the object (the others, with the same part list, answer its result; with
 * another list, NoSuchUpload), and of a completion and an abort racing, exactly one succeeds. A
 * completion retried (its first attempt's answer lost, as when the node serving it stops) that
 * finds the parts already dropped by the first answers the first's result.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import { pattern, startS3Fixture } from './harness.ts';
import type { S3Node } from './harness.ts';
import { waitFor } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

describe('S3 multipart completions racing on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let a: S3Client[];
  let nodes: S3Node[];

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { config: { s3: { minPartBytes: 1024 } }, buckets: ['races'] });
    a = fixture.aliceClients;
    nodes = fixture.nodes;
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'races', VersioningConfiguration: { Status: 'Enabled' } }));
  });
  after(() => runCleanups(cleanups));

  /** An upload of `key` with three 2 KiB parts; resolves with its id and parts. */
  async function upload(key: string): Promise<{ UploadId: string; parts: CompletedPart[] }> {
    const { UploadId } = await a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'races', Key: key }));
    const parts: CompletedPart[] = [];
    for (let n = 1; n <= 3; n++) {
      const out = await a[n % 3]!.send(new UploadPartCommand({ Bucket: 'races', Key: key, UploadId, PartNumber: n, Body: pattern(2048, n) }));
      parts.push({ PartNumber: n, ETag: out.ETag! });
    }
    return { UploadId: UploadId!, parts };
  }

  async function versions(key: string): Promise<number> {
    return (await a[1]!.send(new ListObjectVersionsCommand({ Bucket: 'races', Prefix: key }))).Versions?.filter((v) => v.Key === key).length ?? 0;
  }

  const outcome = (p: Promise<unknown>): Promise<string> =>
    p.then(
      () => 'ok',
      (err: { name?: string }) => err.name ?? 'error',
    );

  test('the same upload completed through three nodes at once commits one version', async () => {
    for (let round = 0; round < 3; round++) {
      // The same part list: every request answers the one object.
      const same = `same-${round}`;
      const u = await upload(same);
      const results = await Promise.all(a.map((c) => c.send(new CompleteMultipartUploadCommand({ Bucket: 'races', Key: same, UploadId: u.UploadId, MultipartUpload: { Parts: u.parts } }))));
      assert.equal(new Set(results.map((r) => r.VersionId)).size, 1, 'one version id answered');
      assert.equal(await versions(same), 1);
      // Different part lists: one wins, the others find the upload gone.
      const different = `different-${round}`;
      const v = await upload(different);
      const lists = [v.parts, v.parts.slice(0, 2), v.parts.slice(0, 1)];
      const outcomes = await Promise.all(a.map((c, i) => outcome(c.send(new CompleteMultipartUploadCommand({ Bucket: 'races', Key: different, UploadId: v.UploadId, MultipartUpload: { Parts: lists[i] } })))));
      assert.equal(outcomes.filter((o) => o === 'ok').length, 1, `outcomes: ${outcomes.join(', ')}`);
      assert.deepEqual(outcomes.filter((o) => o !== 'ok').sort(), ['NoSuchUpload', 'NoSuchUpload']);
      assert.equal(await versions(different), 1);
    }
  });

  test('a completion and an abort racing: exactly one succeeds, and the object exists exactly when the completion did', async () => {
    for (let round = 0; round < 6; round++) {
      const key = `abort-${round}`;
      const u = await upload(key);
      const [completed, aborted] = await Promise.all([
        outcome(a[1]!.send(new CompleteMultipartUploadCommand({ Bucket: 'races', Key: key, UploadId: u.UploadId, MultipartUpload: { Parts: u.parts } }))),
        outcome(a[2]!.send(new AbortMultipartUploadCommand({ Bucket: 'races', Key: key, UploadId: u.UploadId }))),
      ]);
      assert.equal([completed, aborted].filter((o) => o === 'ok').length, 1, `complete ${completed}, abort ${aborted}`);
      assert.ok(['ok', 'NoSuchUpload', 'OperationAborted'].includes(aborted) && ['ok', 'NoSuchUpload'].includes(completed), `complete ${completed}, abort ${aborted}`);
      const exists = await outcome(a[0]!.send(new HeadObjectCommand({ Bucket: 'races', Key: key })));
      assert.equal(exists === 'ok', completed === 'ok');
    }
  });

  test('a completion retried after the first one finished and dropped the parts answers its result (not InvalidPart)', async () => {
    const u = await upload('retried');
    // The retry, through node 1, has read the upload when the first attempt, through node 0,
    // completes it: it lists the parts only once the first one has dropped them.
    const catalog = nodes[1]!.s3.catalog;
    const parts = catalog.parts.bind(catalog);
    let paused = false;
    let resume!: () => void;
    const gate = new Promise<void>((resolve) => (resume = resolve));
    catalog.parts = async function* (uploadId: string, after?: number) {
      if (uploadId === u.UploadId) {
        paused = true;
        await gate;
      }
      yield* parts(uploadId, after);
    };
    try {
      const retry = a[1]!.send(new CompleteMultipartUploadCommand({ Bucket: 'races', Key: 'retried', UploadId: u.UploadId, MultipartUpload: { Parts: u.parts } }));
      await waitFor(() => paused, { timeoutMs: 10_000, what: 'the retry to have read the upload' });
      const first = await a[0]!.send(new CompleteMultipartUploadCommand({ Bucket: 'races', Key: 'retried', UploadId: u.UploadId, MultipartUpload: { Parts: u.parts } }));
      await waitFor(
        async () => {
          for await (const p of nodes[0]!.s3.catalog.parts(u.UploadId)) if (p) return false;
          return true;
        },
        { timeoutMs: 10_000, what: 'the first completion to drop the parts' },
      );
      resume();
      const second = await retry;
      assert.equal(second.ETag, first.ETag);
      assert.equal(second.VersionId, first.VersionId);
      assert.equal(await versions('retried'), 1);
    } finally {
      resume();
      catalog.parts = parts;
    }
  });
});
