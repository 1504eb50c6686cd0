/**
 * The S3 endpoint across a node's stop and start, as a rolling restart meets it: a graceful stop
 * lets the requests being served finish (their answers close their connections), closes idle
 * keep-alive connections and refuses requests still arriving with a retryable 503; a node that is
 * not part of the ring (still joining) refuses requests with a retryable 503 at once instead of
 * failing them (500) after waiting on a DHT it cannot reach.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import type { Socket } from 'node:net';
import { Agent, request } from 'node:http';
import type { ClientRequest, IncomingHttpHeaders, ServerResponse } from 'node:http';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { bytes, clientFor, createUser, pattern, startS3Ring, TEST_S3 } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import type { S3Service } from '../../../src/cloud/s3/service.ts';
import { memoryEnv, startNode, waitFor } from '../../node/fixtures.ts';
import { S3HttpServer } from '../../../src/cloud/s3/http.ts';
import type { S3Api } from '../../../src/cloud/s3/api.ts';
import { DEFAULT_S3_OPTIONS } from '../../../src/cloud/s3/options.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A signed PUT (UNSIGNED-PAYLOAD) whose body the caller sends: `write` more of it, `end` it, and
 * `answer` resolves with the response.
 */
async function openPut(endpoint: string, user: TestUser, path: string, size: number): Promise<{ req: ClientRequest; answer: Promise<Answer> }> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await import('@aws-crypto/sha256-js');
  const { HttpRequest } = await import('@smithy/core/protocols');
  const url = new URL(endpoint);
  const signer = new SignatureV4({ credentials: { accessKeyId: user.accessKey, secretAccessKey: user.secret }, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: false });
  const signed = await signer.sign(new HttpRequest({ method: 'PUT', protocol: 'http:', hostname: url.host, path, headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }));
  const req = request({ host: url.hostname, port: url.port, method: 'PUT', path, headers: { ...(signed.headers as Record<string, string>), 'content-length': String(size) } });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  return { req, answer };
}

/** Whether a new TCP connection to `endpoint` is refused (the endpoint stopped listening). */
function refused(endpoint: string): Promise<boolean> {
  const url = new URL(endpoint);
  return new Promise((resolve) => {
    const s = connect(Number(url.port), url.hostname);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** Reads a raw socket until the server closes it. */
function readToEnd(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    socket.on('data', (b: Buffer) => parts.push(b));
    socket.on('end', () => resolve(Buffer.concat(parts).toString()));
    socket.on('error', reject);
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('S3 endpoint across a graceful stop', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let user: TestUser;
  before(async () => {
    nodes = await startS3Ring((fn) => void cleanups.push(fn), 3);
    user = await createUser(nodes[0]!, 'drainer');
    const client = clientFor(nodes[0]!.endpoint, user);
    await client.send(new CreateBucketCommand({ Bucket: 'drain' }));
    client.destroy();
  });
  after(async () => {
    await runCleanups(cleanups);
  });

  test('requests being served finish, idle connections close, requests still arriving get a retryable 503', async () => {
    const stopping = nodes[2]!;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // A keep-alive connection left idle after one request.
      const idle = await new Promise<Socket>((resolve, reject) => {
        const url = new URL(stopping.endpoint);
        const r = request({ host: url.hostname, port: url.port, method: 'HEAD', path: '/drain', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(r.socket!));
        });
        r.on('error', reject);
        r.end();
      });
      let idleClosed = false;
      idle.once('close', () => (idleClosed = true));
      // A connection whose request has only begun (part of its header).
      const url = new URL(stopping.endpoint);
      const late = connect(Number(url.port), url.hostname);
      await new Promise<void>((resolve) => late.once('connect', () => resolve()));
      late.write(`GET /drain/late HTTP/1.1\r\nHost: ${url.host}\r\n`);
      const lateAnswer = readToEnd(late);
      // An upload under way: half of its body sent.
      const data = pattern(2 * 1024 * 1024, 7);
      const put = await openPut(stopping.endpoint, user, '/drain/in-flight', data.length);
      put.req.write(data.subarray(0, data.length / 2));
      await waitFor(() => (stopping.s3.summary()['activeRequests'] as number) >= 1, { timeoutMs: 10_000, what: 'the upload being served' });

      const stopped = stopping.stop();
      await waitFor(() => refused(stopping.endpoint), { timeoutMs: 10_000, what: 'the endpoint to stop accepting connections' });
      await waitFor(() => idleClosed, { timeoutMs: 10_000, what: 'the idle keep-alive connection to be closed' });

      // The request that arrives now is refused with a 503 the SDKs retry, and its connection closed.
      late.write('\r\n');
      const refusal = await lateAnswer;
      assert.match(refusal, /^HTTP\/1\.1 503 /);
      assert.match(refusal, /<Code>ServiceUnavailable<\/Code>/);
      assert.match(refusal, /\r\nRetry-After: 1\r\n/i);
      assert.match(refusal, /\r\nConnection: close\r\n/i);

      // The upload under way completes, and its connection is not kept.
      put.req.end(data.subarray(data.length / 2));
      const answer = await put.answer;
      assert.equal(answer.status, 200, answer.body);
      assert.equal(answer.headers.connection, 'close');
      await stopped;

      const reader = clientFor(nodes[0]!.endpoint, user);
      try {
        const got = await reader.send(new GetObjectCommand({ Bucket: 'drain', Key: 'in-flight' }));
        assert.ok((await bytes(got.Body)).equals(data), 'the upload completed during the stop is stored whole');
      } finally {
        reader.destroy();
      }
    } finally {
      agent.destroy();
    }
  });
});

describe('S3 endpoint across a graceful stop with nothing being served', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  before(async () => {
    nodes = await startS3Ring((fn) => void cleanups.push(fn), 3);
  });
  after(async () => {
    await runCleanups(cleanups);
  });

  test('a request already under way on its connection gets the retryable 503, not a reset', async () => {
    const stopping = nodes[1]!;
    const url = new URL(stopping.endpoint);
    const late = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => late.once('connect', () => resolve()));
    late.write(`HEAD /any-bucket/key HTTP/1.1\r\nHost: ${url.host}\r\n`);
    const answer = readToEnd(late);
    assert.equal(stopping.s3.summary()['activeRequests'], 0);
    const stopped = stopping.stop();
    await waitFor(() => refused(stopping.endpoint), { timeoutMs: 10_000, what: 'the endpoint to stop accepting connections' });
    late.write('\r\n');
    assert.match(await answer, /^HTTP\/1\.1 503 [^\r]*\r\n(.*\r\n)*Retry-After: 1\r\n/i);
    await stopped;
  });
});

describe('S3 endpoint of a node not part of the ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    await runCleanups(cleanups);
  });

  test('refuses requests at once with a retryable 503 while the node has not joined', async () => {
    // A node that has not joined (its bootstrap node does not answer): its S3 endpoint listens.
    const node = await startNode((fn) => void cleanups.push(fn), { bootstrap: [`127.0.0.1:${await freePort()}`], config: { apps: ['s3'], s3: TEST_S3 }, launch: { join: false } });
    const s3 = node.node.service<S3Service>('s3')!;
    assert.ok(!node.node.overlay.isReady);
    const started = Date.now();
    const res = await fetch(`${s3.endpoint}/some-bucket/some-key`);
    const body = await res.text();
    assert.equal(res.status, 503, body);
    assert.match(body, /<Code>ServiceUnavailable<\/Code>/);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(res.headers.get('connection'), 'close');
    assert.ok(Date.now() - started < 2000, `answered in ${Date.now() - started} ms`);
  });
});

describe('S3 endpoint drain and answers still being sent', () => {
  test('an answer already ended but not yet sent to a slow reader is sent whole before the connection closes', async () => {
    // An endpoint whose every answer is 32 MiB handed to the socket at once (as a GET's last
    // piece is): ended at once, sent as fast as the client reads.
    const body = Buffer.alloc(32 * 1024 * 1024, 7);
    const api = {
      dispatch: (r: { res: ServerResponse }): Promise<string> => {
        r.res.writeHead(200, { 'content-length': String(body.length) });
        r.res.end(body);
        return Promise.resolve('GetObject');
      },
    };
    const server = new S3HttpServer(memoryEnv().env, api as unknown as S3Api, { ...DEFAULT_S3_OPTIONS, bind: '127.0.0.1', port: 0 }, '00'.repeat(20));
    const { port } = await server.listen();
    const agent = new Agent({ keepAlive: true });
    try {
      let received = 0;
      let resume!: () => void;
      const done = new Promise<string>((resolve, reject) => {
        const r = request({ host: '127.0.0.1', port, path: '/bucket/key', agent }, (res) => {
          // The client reads nothing until the drain has begun.
          res.pause();
          resume = () => {
            res.on('data', (b: Buffer) => (received += b.length));
            res.resume();
          };
          res.on('end', () => resolve('end'));
          res.on('aborted', () => resolve('aborted'));
          res.on('error', () => resolve('error'));
        });
        r.on('error', reject);
        r.end();
      });
      await waitFor(() => resume !== undefined && server.active === 0, { timeoutMs: 10_000, what: 'the answer to be ended' });
      const closing = server.close({ drainMs: 10_000 });
      await waitFor(() => refused(`http://127.0.0.1:${port}`), { timeoutMs: 10_000, what: 'the endpoint to stop accepting connections' });
      resume();
      assert.equal(await done, 'end');
      assert.equal(received, body.length, 'the whole body arrived');
      await closing;
    } finally {
      agent.destroy();
      await server.close();
    }
  });
});
