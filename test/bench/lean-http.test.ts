/**
 * The benchmarks' HTTP client (bench/lean-http.ts) against real `node:http` and raw TCP servers
 * over loopback: body framing (Content-Length, chunked, none), keep-alive reuse, a connection the
 * server dropped while idle, `Connection: close`, streamed request bodies, and malformed responses.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo, Server as TcpServer } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { LeanHttpClient } from '../../bench/lean-http.ts';

function listen(server: Server | TcpServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of req) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

describe('LeanHttpClient', () => {
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  let server: Server;
  let port: number;
  const connections = new Set<string>();
  const received: { method: string; url: string; body: Buffer; headers: IncomingMessage['headers'] }[] = [];

  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      connections.add(`${req.socket.remotePort}`);
      void readBody(req).then((body) => {
        received.push({ method: req.method!, url: req.url!, body, headers: req.headers });
        switch (req.url) {
          case '/big':
            res.writeHead(200, { 'content-length': big.length });
            res.end(req.method === 'HEAD' ? undefined : big);
            return;
          case '/chunked': {
            res.writeHead(200, { 'transfer-encoding': 'chunked' });
            for (let i = 0; i < 50; i++) res.write(Buffer.alloc(1000 + i, i));
            res.end();
            return;
          }
          case '/empty':
            res.writeHead(204);
            res.end();
            return;
          case '/close':
            res.writeHead(200, { connection: 'close', 'content-length': 3 });
            res.end('bye');
            return;
          case '/echo':
            res.writeHead(201, { 'content-length': body.length });
            res.end(body);
            return;
          default:
            res.writeHead(404, { 'content-length': 9 });
            res.end('not found');
        }
      });
    });
    port = await listen(server);
  });

  after(() => server.close());

  it('counts Content-Length bodies, chunked bodies and bodiless answers, reusing one connection', async () => {
    const client = new LeanHttpClient();
    try {
      connections.clear();
      assert.deepEqual(await client.send('127.0.0.1', port, { method: 'GET', path: '/big', headers: { host: 'x' } }), { status: 200, bytes: big.length });
      const chunked = await client.send('127.0.0.1', port, { method: 'GET', path: '/chunked', headers: { host: 'x' } });
      assert.deepEqual(chunked, { status: 200, bytes: 50 * 1000 + (49 * 50) / 2 });
      assert.deepEqual(await client.send('127.0.0.1', port, { method: 'GET', path: '/empty', headers: { host: 'x' } }), { status: 204, bytes: 0 });
      assert.deepEqual(await client.send('127.0.0.1', port, { method: 'HEAD', path: '/big', headers: { host: 'x' } }), { status: 200, bytes: 0 });
      assert.deepEqual(await client.send('127.0.0.1', port, { method: 'GET', path: '/nope', headers: { host: 'x' } }), { status: 404, bytes: 9 });
      assert.equal(connections.size, 1, 'every request went over the same keep-alive connection');
    } finally {
      client.close();
    }
  });

  it('sends bodies whole or streamed, and runs requests in parallel on separate connections', async () => {
    const client = new LeanHttpClient();
    try {
      const small = Buffer.from('hello body');
      assert.deepEqual(await client.send('127.0.0.1', port, { method: 'PUT', path: '/echo', headers: { host: 'x', 'content-length': String(small.length) }, body: small }), { status: 201, bytes: small.length });
      const pieces = [big.subarray(0, 1 << 20), big.subarray(1 << 20)];
      const streamed = await client.send('127.0.0.1', port, { method: 'PUT', path: '/echo', headers: { host: 'x', 'content-length': String(big.length) }, body: Readable.from(pieces) });
      assert.deepEqual(streamed, { status: 201, bytes: big.length });
      assert.ok(received.at(-1)!.body.equals(big), 'the streamed body arrived byte for byte');
      connections.clear();
      const results = await Promise.all(Array.from({ length: 8 }, () => client.send('127.0.0.1', port, { method: 'GET', path: '/big', headers: { host: 'x' } })));
      for (const r of results) assert.deepEqual(r, { status: 200, bytes: big.length });
      assert.ok(connections.size > 1, 'parallel requests used several connections');
    } finally {
      client.close();
    }
  });

  it('closes on Connection: close and recovers when the server dropped an idle connection', async () => {
    const client = new LeanHttpClient();
    try {
      assert.deepEqual(await client.send('127.0.0.1', port, { method: 'GET', path: '/close', headers: { host: 'x' } }), { status: 200, bytes: 3 });
      assert.deepEqual(await client.send('127.0.0.1', port, { method: 'GET', path: '/big', headers: { host: 'x' } }), { status: 200, bytes: big.length });
      // The server drops every idle keep-alive connection; the next request still succeeds.
      server.closeIdleConnections();
      assert.deepEqual(await client.send('127.0.0.1', port, { method: 'GET', path: '/big', headers: { host: 'x' } }), { status: 200, bytes: big.length });
    } finally {
      client.close();
    }
  });

  it('rejects a malformed response and a connection closed mid-body', async () => {
    const replies = ['SPDY/9 nonsense\r\n\r\n', 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort', 'HTTP/1.1 200 OK\r\n\r\nno framing'];
    let next = 0;
    const raw = createTcpServer((socket) => {
      socket.once('data', () => socket.end(replies[next++]));
    });
    const rawPort = await listen(raw);
    const client = new LeanHttpClient();
    try {
      await assert.rejects(client.send('127.0.0.1', rawPort, { method: 'GET', path: '/', headers: { host: 'x' } }), /not an HTTP response/);
      await assert.rejects(client.send('127.0.0.1', rawPort, { method: 'GET', path: '/', headers: { host: 'x' } }), /connection closed/);
      await assert.rejects(client.send('127.0.0.1', rawPort, { method: 'GET', path: '/', headers: { host: 'x' } }), /neither Content-Length nor chunked/);
    } finally {
      client.close();
      raw.close();
    }
  });
});
