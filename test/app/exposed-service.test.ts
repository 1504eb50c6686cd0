/**
 * An exposed HTTP service on real nodes over loopback TCP: one node serves on a 127.x.y.z address
 * from the seeded pool; when it is killed, another node takes the address within the expiry
 * period while a client keeps requesting the same URL. Also: a node stopping gracefully hands
 * the address over at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { Dht, MemoryStorage } from '../../src/dht/index.ts';
import { ApplicationHost, HttpExposedService, LoopbackAddressDriver, Seeder } from '../../src/app/index.ts';
import { TcpRing } from '../helpers/tcp-ring.ts';
import type { TcpRingNode } from '../helpers/tcp-ring.ts';
import { waitFor } from '../helpers/wait.ts';

const EXPIRY_MS = 5000;

/** A port free on the loopback interface (the service binds it on its own 127.x address). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** GET url → body, or undefined when nothing answers. */
function get(url: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 500, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 ? body : undefined));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

test('an exposed HTTP service keeps answering on the same address when its node is killed, and when it leaves', { timeout: 60_000 }, async (t) => {
  const address = `127.${77 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}.${2 + Math.floor(Math.random() * 250)}`;
  const port = await freePort();
  const hosts = new Map<TcpRingNode, ApplicationHost>();
  const dhts: Dht[] = [];
  const ring = await TcpRing.start(5, {
    seed: 'exposed',
    onNode: (node) => {
      const dht = new Dht({ env: node.env, node: node.pastry, storage: new MemoryStorage() });
      dhts.push(dht);
      const host = new ApplicationHost({ env: node.env, node: node.pastry, dht });
      host.add(
        new HttpExposedService('web', {
          driver: new LoopbackAddressDriver(),
          port,
          expiryMs: EXPIRY_MS,
          handler: (_req, res) => {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end(node.id.hex);
          },
        }),
      );
      hosts.set(node, host);
      node.pastry.register({ name: 'test.ready', deliver: () => {}, ready: () => void host.start() });
    },
  });
  try {
    await ring.waitConverged();
    for (const h of hosts.values()) if (!h.started) await h.start();
    const seeder = new Seeder(dhts[0]!);
    const report = await seeder.seed({ applications: [{ name: 'web', slots: [address] }] });
    assert.equal(report.written, 1);
    const url = `http://${address}:${port}/`;
    const servingNode = (): TcpRingNode | undefined => [...hosts].find(([n, h]) => !n.crashed && h.get('web')?.isActive)?.[0];
    await waitFor(() => servingNode() !== undefined, { timeoutMs: 15_000, what: 'a node to serve' });
    let first: string | undefined;
    await waitFor(async () => (first = await get(url)) !== undefined, { timeoutMs: 5000, what: 'the service to answer' });
    const holder = servingNode()!;
    assert.equal(first, holder.id.hex);

    // Kill the serving node: its process (server, timers, connections) is gone, nobody is told.
    const killedAt = Date.now();
    hosts.get(holder)!.abort();
    ring.crash(holder);
    assert.equal(await get(url), undefined, 'nobody answers right after the kill');
    let second: string | undefined;
    await waitFor(async () => (second = await get(url)) !== undefined, { timeoutMs: 3 * EXPIRY_MS, intervalMs: 50, what: 'the address to be served again' });
    const failoverMs = Date.now() - killedAt;
    t.diagnostic(`failover after a kill: ${failoverMs} ms (expiry ${EXPIRY_MS} ms)`);
    assert.notEqual(second, holder.id.hex);
    assert.ok(failoverMs <= EXPIRY_MS, `failover took ${failoverMs} ms, expiry is ${EXPIRY_MS} ms`);

    // A graceful stop frees the address at once.
    const next = servingNode()!;
    assert.equal(second, next.id.hex);
    const leftAt = Date.now();
    await hosts.get(next)!.stop();
    let third: string | undefined;
    await waitFor(async () => (third = await get(url)) !== undefined && third !== next.id.hex, { timeoutMs: 3 * EXPIRY_MS, intervalMs: 50, what: 'hand-over after a graceful stop' });
    t.diagnostic(`hand-over after a graceful stop: ${Date.now() - leftAt} ms`);
    assert.ok(Date.now() - leftAt < EXPIRY_MS);
  } finally {
    for (const h of hosts.values()) h.abort();
    for (const d of dhts) d.close();
    await ring.close();
  }
});
