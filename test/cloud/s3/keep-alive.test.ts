/**
 * Error answers and keep-alive: a failed request whose body (if any) has fully arrived leaves
 * its connection open for the next request (clients such as `aws s3 sync` send many HEADs that
 * answer 404); one whose body is still arriving is answered and the connection closed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { startS3Ring } from './harness.ts';
import type { S3Node } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  reusedSocket: boolean;
}

function send(endpoint: string, agent: Agent, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer, endBody = true): Promise<Answer> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const r = request({ host: url.hostname, port: url.port, method, path, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, reusedSocket: r.reusedSocket }));
      res.on('error', reject);
    });
    r.on('error', reject);
    if (body) r.write(body);
    if (endBody) r.end();
  });
}

describe('S3 error answers and keep-alive', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  before(async () => {
    nodes = await startS3Ring((fn) => void cleanups.push(fn), 3);
  });
  after(async () => {
    await runCleanups(cleanups);
  });

  test('failed bodiless requests keep the connection; a refused body still arriving closes it', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await send(nodes[0]!.endpoint, agent, 'GET', '/no-such-bucket-ka/key');
      assert.equal(first.status, 404);
      assert.notEqual(first.headers.connection, 'close');
      const second = await send(nodes[0]!.endpoint, agent, 'HEAD', '/no-such-bucket-ka/key');
      assert.equal(second.status, 404);
      assert.ok(second.reusedSocket, 'the second request went over the same connection');
      // An anonymous PUT declaring 1 MiB but sending 1 KiB, refused (no such bucket) before its body is read:
      // the connection cannot carry another request.
      const third = await send(nodes[0]!.endpoint, agent, 'PUT', '/no-such-bucket-ka/key', { 'content-length': String(1 << 20) }, Buffer.alloc(1024), false);
      assert.equal(third.status, 404);
      assert.equal(third.headers.connection, 'close');
    } finally {
      agent.destroy();
    }
  });
});
