/**
 * Stalled request bodies on a 3-node ring (`s3.bodyIdleTimeoutMs`, here 600 ms): an upload from
 * which nothing arrives is answered `400 RequestTimeout` and its connection closed, and nothing is
 * stored; an upload that arrives slowly but steadily, and one whose client waits for its
 * `100 Continue`, are not timed out.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { bytes, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * An anonymous PUT of `length` bytes into the public-read-write bucket `open`, whose body the
 * client sends by calling `feed` (it gets a write function and an end function).
 */
function put(endpoint: string, key: string, length: number, feed: (write: (b: Buffer) => void, end: () => void) => void, headers: Record<string, string> = {}): Promise<Answer> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const r = request({ host: url.hostname, port: url.port, method: 'PUT', path: `/open/${key}`, headers: { 'content-length': String(length), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    r.on('error', reject);
    // A deadline: without the node's timeout the stalled upload would wait for ever.
    r.setTimeout(15_000, () => r.destroy(new Error('no answer within 15 s of silence')));
    r.on('continue', () => r.end(Buffer.alloc(length, 1)));
    feed(
      (b) => r.write(b),
      () => r.end(),
    );
  });
}

describe('S3 stalled request bodies', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let a: S3Client[];

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { config: { s3: { bodyIdleTimeoutMs: 600 } } });
    nodes = fixture.nodes;
    a = fixture.aliceClients;
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'open', ACL: 'public-read-write' }));
  });
  after(() => runCleanups(cleanups));

  test('a body from which nothing more arrives is answered 400 RequestTimeout, the connection closed, nothing stored', async () => {
    const answer = await put(nodes[1]!.endpoint, 'stalled', 100_000, (write) => write(Buffer.alloc(10_000, 1)));
    assert.equal(answer.status, 400);
    assert.match(answer.body, /<Code>RequestTimeout<\/Code>/);
    assert.equal(answer.headers.connection, 'close');
    await s3failure(a[2]!.send(new GetObjectCommand({ Bucket: 'open', Key: 'stalled' })), 'NoSuchKey', 404);
  });

  test('a body arriving slowly but steadily, and one held back for 100 Continue, are stored', async () => {
    const slow = await put(nodes[2]!.endpoint, 'slow', 12, (write, end) => {
      let sent = 0;
      // A byte every 200 ms: 2.4 s in all, four times the idle timeout, never idle that long.
      const tick = setInterval(() => {
        write(Buffer.from([1]));
        if (++sent === 12) {
          clearInterval(tick);
          end();
        }
      }, 200);
    });
    assert.equal(slow.status, 200, slow.body);
    assert.equal((await bytes((await a[0]!.send(new GetObjectCommand({ Bucket: 'open', Key: 'slow' }))).Body)).length, 12);
    // The client sends nothing until the node asks for the body (`continue` above).
    const held = await put(nodes[0]!.endpoint, 'held', 5000, () => {}, { expect: '100-continue' });
    assert.equal(held.status, 200, held.body);
  });
});
