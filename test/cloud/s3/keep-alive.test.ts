/**
 * Error answers and keep-alive: a failed request whose body (if any) has fully arrived leaves
 * its connection open for the next request (clients such as `aws s3 sync` send many HEADs that
 * answer 404). A refused body still arriving is read to its end first when it is small (up to
 * 1 MiB), so the client gets the answer rather than a reset connection, and the connection stays
 * open; a larger one is answered at once and the connection closed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { startS3Ring } from './harness.ts';
import { call, waitFor } from '../../node/fixtures.ts';
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

/** Writes `bytes` on a new connection to `endpoint` and reads until the server closes it. */
function exchange(endpoint: string, bytes: string): Promise<string> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(url.port), url.hostname, () => socket.write(bytes));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
    socket.setTimeout(15_000, () => socket.destroy(new Error('no answer within 15 s')));
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
      // An anonymous PUT declaring 8 MiB but sending 1 KiB, refused (no such bucket) before its body is read:
      // the connection cannot carry another request.
      const third = await send(nodes[0]!.endpoint, agent, 'PUT', '/no-such-bucket-ka/key', { 'content-length': String(8 << 20) }, Buffer.alloc(1024), false);
      assert.equal(third.status, 404);
      assert.equal(third.headers.connection, 'close');
    } finally {
      agent.destroy();
    }
  });

  test('a request the HTTP parser refuses gets an S3 error document with a request id, and the connection closed', async () => {
    const oversized = await exchange(nodes[2]!.endpoint, `GET /b/k HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    assert.match(oversized, /^HTTP\/1\.1 400 /);
    assert.match(oversized, /<Code>RequestHeaderSectionTooLarge<\/Code>/);
    assert.match(oversized, /x-amz-request-id: [0-9A-F]+/i);
    assert.match(oversized, /Connection: close/i);
    const ambiguous = await exchange(nodes[2]!.endpoint, 'PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!');
    assert.match(ambiguous, /^HTTP\/1\.1 400 /);
    assert.match(ambiguous, /<Code>InvalidRequest<\/Code>/);
    // The node serves on.
    const agent = new Agent({ keepAlive: false });
    try {
      assert.equal((await send(nodes[2]!.endpoint, agent, 'GET', '/no-such-bucket-ka/key')).status, 404);
    } finally {
      agent.destroy();
    }
  });

  test('a small refused body still arriving is read to its end, then answered on a connection kept open', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const url = new URL(nodes[1]!.endpoint);
    const refusals = async (): Promise<number> => ((await call(nodes[1]!.ops!.url, '/api/s3')).body as { http: { errors: Record<string, number> } }).http.errors['NoSuchBucket'] ?? 0;
    try {
      const before = await refusals();
      const answer = new Promise<Answer>((resolve, reject) => {
        const r = request({ host: url.hostname, port: url.port, method: 'PUT', path: '/no-such-bucket-ka/small', agent, headers: { 'content-length': String(64 * 1024) } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, reusedSocket: r.reusedSocket }));
        });
        r.on('error', reject);
        r.write(Buffer.alloc(1024));
        // The rest goes once the node has refused the request, i.e. while it waits for it.
        void waitFor(async () => (await refusals()) > before, { timeoutMs: 10_000, what: 'the refusal' }).then(() => r.end(Buffer.alloc(63 * 1024)), reject);
      });
      const refused = await answer;
      assert.equal(refused.status, 404);
      assert.notEqual(refused.headers.connection, 'close');
      const next = await send(nodes[1]!.endpoint, agent, 'HEAD', '/no-such-bucket-ka/key');
      assert.equal(next.status, 404);
      assert.ok(next.reusedSocket, 'the next request went over the same connection');
    } finally {
      agent.destroy();
    }
  });
});
