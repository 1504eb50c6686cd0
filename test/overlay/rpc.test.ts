/**
 * RpcEndpoint across applications: a request addressed to another application (`app` option)
 * is answered to the asking application (`replyTo`), routed or direct, also through `respond`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Id } from '../../src/id/index.ts';
import { RpcEndpoint } from '../../src/overlay/index.ts';
import type { RpcRequest, RpcResponse } from '../../src/overlay/index.ts';
import { SimRing } from '../../src/sim/ring.ts';
import { MessageType, messageTypeName } from '../../src/wire/index.ts';
import type { SimNode } from '../../src/sim/ring.ts';

async function settle<T>(ring: SimRing, p: Promise<T>): Promise<T> {
  let out: { v?: T; e?: unknown } | undefined;
  p.then((v) => (out = { v }), (e: unknown) => (out = { e }));
  await ring.runUntil(() => out !== undefined, 30_000);
  if (out!.e !== undefined) throw out!.e;
  return out!.v as T;
}

test('a request to another application is answered to the asking application', async () => {
  const ring = new SimRing({ seed: 'rpc-reply-to', network: { codec: true } });
  const endpoints = new Map<SimNode, { client: RpcEndpoint; server: RpcEndpoint; seen: RpcRequest[]; strays: number }>();
  ring.onNodeCreated((node) => {
    const seen: RpcRequest[] = [];
    const entry = { seen, strays: 0 } as { client: RpcEndpoint; server: RpcEndpoint; seen: RpcRequest[]; strays: number };
    entry.server = new RpcEndpoint('server', node.pastry, node.env, {
      onRequest: (req) => {
        seen.push(req);
        if (req.kind === 'later') {
          node.env.setTimeout(() => entry.server.respond(req.origin, req.mid, { body: 'late answer' }, req.tx, req.replyTo), 50);
          return undefined;
        }
        return { body: { echo: req.body, at: node.id.hex } };
      },
    });
    // The client application answers nothing itself; a reply delivered to it as a request would count as a stray.
    entry.client = new RpcEndpoint('client', node.pastry, node.env, {
      onRequest: () => {
        entry.strays++;
        return undefined;
      },
    });
    node.pastry.register(entry.server);
    node.pastry.register(entry.client);
    endpoints.set(node, entry);
  });
  await ring.build(12);
  await ring.runFor(1000);
  const asker = ring.randomLive();
  const key = Id.fromBytes(ring.env.random.bytes(20));
  const root = ring.closestLive(key)!;

  const routed: RpcResponse = await settle(ring, endpoints.get(asker)!.client.request(key, 'ask', 'hello', { app: 'server', tx: 'tx-1', timeoutMs: 5000 }));
  assert.deepEqual(routed.body, { echo: 'hello', at: root.id.hex });
  const req = endpoints.get(root)!.seen[0]!;
  assert.equal(req.replyTo, 'client');
  assert.equal(req.tx, 'tx-1');

  const direct = await settle(ring, endpoints.get(asker)!.client.requestDirect(root.pastry.handle, 'ask', 'direct', { app: 'server', timeoutMs: 5000 }));
  assert.deepEqual(direct.body, { echo: 'direct', at: root.id.hex });

  const later = await settle(ring, endpoints.get(asker)!.client.request(key, 'later', null, { app: 'server', timeoutMs: 5000 }));
  assert.equal(later.body, 'late answer');

  // Same-application requests carry no replyTo and still work.
  const own = await settle(ring, endpoints.get(asker)!.server.request(key, 'ask', 'own', { timeoutMs: 5000 }));
  assert.deepEqual(own.body, { echo: 'own', at: root.id.hex });
  assert.equal(endpoints.get(root)!.seen.at(-1)!.replyTo, undefined);

  for (const e of endpoints.values()) assert.equal(e.strays, 0, 'no answer was delivered as a request');
  for (const n of ring.live()) n.pastry.stop();
});

test('a request answered in the same turn costs two frames: the reply carries the ack and asks for none', async () => {
  const ring = new SimRing({ seed: 'rpc-piggyback', network: { codec: true } });
  const servers = new Map<SimNode, RpcEndpoint>();
  ring.onNodeCreated((node) => {
    const server: RpcEndpoint = new RpcEndpoint('echo', node.pastry, node.env, {
      onRequest: (req) => {
        if (req.kind === 'later') {
          node.env.setTimeout(() => server.respond(req.origin, req.mid, { body: 'late' }, req.tx, req.replyTo), 20);
          return undefined;
        }
        return { body: req.body };
      },
    });
    node.pastry.register(server);
    servers.set(node, server);
  });
  await ring.build(8);
  await ring.runFor(1000);
  const [a, b] = ring.live();
  // Every frame between the two nodes, by type and direction.
  const frames: string[] = [];
  const send = ring.network.send.bind(ring.network);
  ring.network.send = (from, to, m) => {
    if ((from.address === a!.addr && to === b!.addr) || (from.address === b!.addr && to === a!.addr)) {
      if (m.t === MessageType.DIRECT || m.t === MessageType.HOP_ACK) frames.push(`${from.address === a!.addr ? 'a>b' : 'b>a'} ${messageTypeName(m.t)}${m.t === MessageType.DIRECT && m.hop === 0 ? ' noack' : ''}`);
    }
    send(from, to, m);
  };
  const timeoutsBefore = a!.pastry.stats.hopAckTimeouts;
  for (let i = 0; i < 5; i++) {
    const r = await settle(ring, servers.get(a!)!.requestDirect(b!.pastry.handle, 'now', i, { timeoutMs: 5000 }));
    assert.equal(r.body, i);
  }
  assert.deepEqual(frames, Array.from({ length: 5 }, () => ['a>b DIRECT', 'b>a DIRECT noack']).flat());
  // An answer given later: the request is acknowledged at the end of its turn, on its own.
  frames.length = 0;
  const late = await settle(ring, servers.get(a!)!.requestDirect(b!.pastry.handle, 'later', null, { timeoutMs: 5000 }));
  assert.equal(late.body, 'late');
  assert.deepEqual(frames, ['a>b DIRECT', 'b>a HOP_ACK', 'b>a DIRECT noack']);
  await ring.runFor(2000);
  assert.equal(a!.pastry.stats.hopAckTimeouts, timeoutsBefore, 'every request was acknowledged in time');
  assert.equal(b!.pastry.stats.hopAckTimeouts, 0);
  for (const n of ring.live()) n.pastry.stop();
});
