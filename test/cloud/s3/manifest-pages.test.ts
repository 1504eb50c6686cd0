/**
 * Chunk lists too long for their entry, on a 3-node ring: an object's or a part's list goes into
 * manifest pages, reads back in order (whole, by range, through a completed upload and an
 * UploadPartCopy), and the pages of replaced objects, replaced parts, finished and aborted
 * uploads are deleted. The catalogs spill lists past 4 chunks into pages of 3 (the defaults are
 * 8,192 of each, which would take half-gigabyte uploads to reach); 64 KiB chunks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { ids } from '../../../src/cloud/s3/model.ts';
import type { BucketEntry, ManifestEntry, PartEntry } from '../../../src/cloud/s3/model.ts';
import { bytes, pattern, startS3Fixture } from './harness.ts';
import type { S3Node } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const CHUNK = 64 * 1024;
const BUCKET = 'paged';

describe('S3 manifest pages (long chunk lists) on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let c: S3Client[];

  before(async () => {
    const f = await startS3Fixture((fn) => cleanups.push(fn), { config: { s3: { chunkSize: CHUNK, minPartBytes: 5 * CHUNK } }, buckets: [BUCKET] });
    nodes = f.nodes;
    c = f.aliceClients;
    for (const n of nodes) Object.assign(n.s3.catalog.options, { inlineChunkList: 4, manifestPageChunks: 3 });
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  async function bucket(): Promise<BucketEntry> {
    const b = await nodes[0]!.s3.catalog.bucket(BUCKET);
    assert.ok(b);
    return b;
  }

  /** Whether every manifest page of `vid` (there are `pages`) is present and live. */
  async function pagesLive(vid: string, pages: number): Promise<boolean[]> {
    const dht = nodes[0]!.s3.catalog.dht;
    const out: boolean[] = [];
    for (let i = 0; i < pages; i++) {
      const page = await dht.get<ManifestEntry>(ids.manifest(vid, i));
      out.push(page !== undefined && !page.deleted);
    }
    return out;
  }

  async function drain(): Promise<void> {
    await Promise.all(nodes.map((n) => n.s3.api.drain()));
  }

  async function get(client: S3Client, key: string, range?: string): Promise<Buffer> {
    const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, ...(range ? { Range: range } : {}) }));
    return bytes(out.Body);
  }

  async function parts(uploadId: string): Promise<PartEntry[]> {
    const out: PartEntry[] = [];
    for await (const p of nodes[0]!.s3.catalog.parts(uploadId)) out.push(p);
    return out;
  }

  test('an object with a long chunk list reads back whole and by range from every node; its pages go when it is replaced', async () => {
    const data = pattern(17 * CHUNK + 100, 3);
    await c[0]!.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'big', Body: data }));
    const entry = await nodes[1]!.s3.catalog.getObject(await bucket(), 'big');
    assert.ok(entry);
    assert.equal(entry.chunks, undefined, 'the list is not inline');
    assert.equal(entry.pages, 6, '18 chunks in pages of 3');
    assert.deepEqual(await pagesLive(entry.vid, 6), [true, true, true, true, true, true]);
    for (const client of c) assert.ok((await get(client, 'big')).equals(data));
    // A range that starts in page 1 and ends in page 4.
    const start = 4 * CHUNK + 17;
    const end = 13 * CHUNK + 5;
    assert.ok((await get(c[2]!, 'big', `bytes=${start}-${end}`)).equals(data.subarray(start, end + 1)));

    await c[1]!.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'big', Body: pattern(100, 4) }));
    await drain();
    assert.deepEqual(await pagesLive(entry.vid, 6), [false, false, false, false, false, false], 'the replaced version’s pages are deleted');
  });

  test('parts with long chunk lists: a re-uploaded part, an UploadPartCopy of a paged object, and completion keep every byte; the parts’ pages are deleted after', async () => {
    const source = pattern(6 * CHUNK + 1, 5);
    await c[0]!.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'copy-source', Body: source }));
    const { UploadId } = await c[0]!.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'assembled' }));
    assert.ok(UploadId);
    const first = pattern(5 * CHUNK + 7, 6);
    const replacement = pattern(7 * CHUNK + 9, 7);
    const last = pattern(3 * CHUNK, 8);
    const e1 = await c[0]!.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'assembled', UploadId, PartNumber: 1, Body: first }));
    const [replaced] = await parts(UploadId);
    assert.ok(replaced?.pages, 'part 1 (6 chunks) is paged');
    assert.equal(replaced.chunks, undefined);
    const r1 = await c[1]!.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'assembled', UploadId, PartNumber: 1, Body: replacement }));
    assert.notEqual(r1.ETag, e1.ETag);
    const r2 = await c[2]!.send(new UploadPartCopyCommand({ Bucket: BUCKET, Key: 'assembled', UploadId, PartNumber: 2, CopySource: `${BUCKET}/copy-source` }));
    const r3 = await c[0]!.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'assembled', UploadId, PartNumber: 3, Body: last }));
    await drain();
    assert.ok((await pagesLive(replaced.pv, replaced.pages)).every((live) => !live), 'the replaced part’s pages are deleted');

    const stored = await parts(UploadId);
    assert.deepEqual(
      stored.map((p) => p.pages),
      [3, 3, undefined],
      'parts 1 and 2 (8 and 7 chunks) are paged, part 3 (3 chunks) is inline',
    );
    for (const p of stored) if (p.pages) assert.ok((await pagesLive(p.pv, p.pages)).every(Boolean));

    await c[1]!.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'assembled',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: r1.ETag }, { PartNumber: 2, ETag: r2.CopyPartResult?.ETag }, { PartNumber: 3, ETag: r3.ETag }] },
      }),
    );
    const whole = Buffer.concat([replacement, source, last]);
    for (const client of c) assert.ok((await get(client, 'assembled')).equals(whole));
    const across = `bytes=${7 * CHUNK}-${14 * CHUNK}`;
    assert.ok((await get(c[2]!, 'assembled', across)).equals(whole.subarray(7 * CHUNK, 14 * CHUNK + 1)));
    await drain();
    for (const p of stored) if (p.pages) assert.ok((await pagesLive(p.pv, p.pages)).every((live) => !live), `part ${p.n}’s pages are deleted after completion`);
  });

  test('aborting an upload deletes its parts’ pages', async () => {
    const { UploadId } = await c[2]!.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'abandoned' }));
    assert.ok(UploadId);
    await c[2]!.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'abandoned', UploadId, PartNumber: 1, Body: pattern(9 * CHUNK, 9) }));
    const [part] = await parts(UploadId);
    assert.equal(part?.pages, 3);
    await c[0]!.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'abandoned', UploadId }));
    await drain();
    assert.deepEqual(await pagesLive(part.pv, 3), [false, false, false]);
  });
});
