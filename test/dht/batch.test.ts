/**
 * Replica batching (src/dht/replica-batcher.ts): a root under load sends a replica several
 * requests in one message; results are the same as one by one, a silent replica fails its
 * queued requests within the replica timeout, and malformed batches are refused per entry.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, idFor } from '../../src/id/index.ts';
import { VirtualEnv } from '../../src/env/index.ts';
import { ReplicaBatcher } from '../../src/dht/replica-batcher.ts';
import type { ReplicaSend } from '../../src/dht/replica-batcher.ts';
import type { NodeHandle } from '../../src/wire/index.ts';
import { RpcEndpoint } from '../../src/overlay/index.ts';
import type { RpcResponse } from '../../src/overlay/index.ts';
import { dhtRing, holders } from './helpers.ts';

describe('DHT replica batching', () => {
  test('concurrent writes to one partition reach the replicas in batches, each stored exactly once on every replica', async () => {
    const sim = await dhtRing('batch-writes', 12);
    const partition = idFor('bucket:batch', Scope.GLOBAL);
    const writers = sim.ring.live();
    const writes = Array.from({ length: 200 }, (_, i) => sim.dht(writers[i % writers.length]!).writeItemIfAbsent(partition, `key-${String(i).padStart(3, '0')}`, { type: 'obj', i }));
    const results = await sim.settle(Promise.all(writes));
    assert.ok(results.every((r) => r.written && r.record.version === 1), 'every write applied once');
    const root = sim.trueReplicaSet(partition, 4)[0]!;
    const stats = sim.dht(root).stats;
    assert.ok(stats.replicaBatches > 0, 'the root batched');
    assert.ok(stats.replicaBatchedRequests / stats.replicaBatches > 2, `batches carry several requests (mean ${stats.replicaBatchedRequests / stats.replicaBatches})`);
    const replicas = sim.trueReplicaSet(partition, 4).map((n) => n.index).sort();
    for (const i of [0, 57, 199]) {
      const key = `key-${String(i).padStart(3, '0')}`;
      assert.deepEqual(holders(sim, partition, 1, key).map((n) => n.index).sort(), replicas, `${key} on every replica`);
    }
    const page = await sim.settle(sim.dht(writers[3]!).scanPartition(partition, { limit: 1000 }));
    assert.equal(page.items.length, 200);
    // Batched reads: the same items come back from every node.
    const reads = await sim.settle(Promise.all(Array.from({ length: 100 }, (_, i) => sim.dht(writers[(i * 7) % writers.length]!).getItem<{ type: string; i: number }>(partition, `key-${String(i).padStart(3, '0')}`))));
    assert.deepEqual(reads.map((r) => r?.body.i), Array.from({ length: 100 }, (_, i) => i));
  });

  test('a replica that stops answering fails its queued requests within the timeout, not after it', async () => {
    const env = VirtualEnv.create({ seed: 'batch-timeout' });
    const peer = { id: idFor('node:peer', Scope.GLOBAL), addr: 'sim://peer' } as unknown as NodeHandle;
    const sent: { kind: string; n: number; at: number }[] = [];
    // A peer that never answers: each message fails when its own timeout runs out (as the RPC layer does).
    const send: ReplicaSend = (_to, kind, body, timeoutMs) => {
      sent.push({ kind, n: kind === 'r.batch' ? (body as { r: unknown[] }).r.length : 1, at: env.now() });
      return new Promise((_resolve, reject) => env.setTimeout(() => reject(new Error('timeout')), timeoutMs));
    };
    const stats = { replicaBatches: 0, replicaBatchedRequests: 0 };
    const batcher = new ReplicaBatcher(env, send, { window: 1, maxRequests: 8, maxBytes: 1 << 20, timeoutMs: 1_500 }, stats);
    const t0 = env.now();
    const failedAt: number[] = [];
    const asks: Promise<void>[] = [];
    const ask = (): void => void asks.push(batcher.ask(peer, 'r.get', { k: 'x' }).then(() => assert.fail('no answer expected'), () => void failedAt.push(env.now() - t0)));
    ask();
    await env.scheduler.runFor(100);
    for (let i = 0; i < 20; i++) ask(); // queued behind the unanswered first message
    await env.scheduler.runFor(10_000);
    await Promise.all(asks);
    assert.equal(failedAt.length, 21);
    assert.ok(Math.max(...failedAt) <= 1_500 + 100 + 1, `every request failed within its own timeout (latest ${Math.max(...failedAt)} ms)`);
    // The first went alone; the others were sent in batches of at most 8 or timed out in the queue.
    assert.equal(sent[0]!.n, 1);
    assert.ok(sent.slice(1).every((s) => s.kind === 'r.batch' && s.n <= 8));
    assert.equal(stats.replicaBatches, sent.length - 1);
  });

  test('a peer that does not know r.batch (an older release) gets the batch again one request at a time, and singles after that', async () => {
    const env = VirtualEnv.create({ seed: 'batch-old-peer' });
    const peer = { id: idFor('node:old', Scope.GLOBAL), addr: 'sim://old' } as unknown as NodeHandle;
    const kinds: string[] = [];
    // What a node from before batching answers: single requests after 20 ms, r.batch refused as unknown.
    const send: ReplicaSend = (_to, kind, body) => {
      kinds.push(kind);
      return new Promise((resolve, reject) =>
        env.setTimeout(() => {
          if (kind !== 'r.batch') return resolve({ echo: (body as { k: string }).k });
          reject(Object.assign(new Error(`unknown request kind "r.batch"`), { code: 'InvalidArgument' }));
        }, 20),
      );
    };
    const stats = { replicaBatches: 0, replicaBatchedRequests: 0 };
    const batcher = new ReplicaBatcher(env, send, { window: 1, maxRequests: 8, maxBytes: 1 << 20, timeoutMs: 1_500 }, stats);
    const answers: Promise<unknown>[] = [];
    for (let i = 0; i < 12; i++) answers.push(batcher.ask(peer, 'r.get', { k: `k${i}` }));
    await env.scheduler.runFor(1_000);
    assert.deepEqual(await Promise.all(answers), Array.from({ length: 12 }, (_, i) => ({ echo: `k${i}` })), 'every request answered, in order');
    assert.equal(kinds.filter((k) => k === 'r.batch').length, 1, 'one refused batch');
    // Later requests to that peer go alone at once, even when many are made together.
    const before = kinds.length;
    const later = Array.from({ length: 5 }, (_, i) => batcher.ask(peer, 'r.get', { k: `later${i}` }));
    await env.scheduler.runFor(100);
    assert.equal((await Promise.all(later)).length, 5);
    assert.deepEqual(kinds.slice(before), ['r.get', 'r.get', 'r.get', 'r.get', 'r.get']);
    // Batching is tried again once the retry period has passed.
    await env.scheduler.runFor(10 * 60_000);
    const retry = Array.from({ length: 4 }, (_, i) => batcher.ask(peer, 'r.get', { k: `retry${i}` }));
    await env.scheduler.runFor(1_000);
    assert.equal((await Promise.all(retry)).length, 4);
    assert.equal(kinds.filter((k) => k === 'r.batch').length, 2, 'batching tried again after the retry period');
  });

  test('in a ring where some replicas run a release without r.batch, concurrent writes all land on every replica', async () => {
    const sim = await dhtRing('batch-mixed-release', 12);
    const partition = idFor('bucket:mixed', Scope.GLOBAL);
    const replicas = sim.trueReplicaSet(partition, 4);
    // Two of the partition's replicas behave as nodes from before batching: r.batch is an unknown kind.
    for (const old of replicas.slice(1, 3)) {
      // What such a node does with it: its replica handler refuses the kind, the refusal goes back as an error reply.
      const dht = sim.dht(old) as unknown as { onRequest(req: { kind: string; body: unknown }): unknown; replicaRequest(kind: string, body: unknown): unknown; errorReply(req: unknown, err: unknown): unknown };
      const handle = dht.onRequest.bind(dht);
      dht.onRequest = (req) => {
        if (req.kind !== 'r.batch') return handle(req);
        try {
          return dht.replicaRequest('r.batch', req.body);
        } catch (err) {
          return dht.errorReply(req, err);
        }
      };
    }
    const writers = sim.ring.live();
    const writes = Array.from({ length: 120 }, (_, i) => sim.dht(writers[i % writers.length]!).writeItemIfAbsent(partition, `k-${String(i).padStart(3, '0')}`, { type: 'obj', i }));
    const results = await sim.settle(Promise.all(writes));
    assert.ok(results.every((r) => r.written), 'every write applied');
    const ids = replicas.map((n) => n.index).sort();
    for (const i of [0, 60, 119]) assert.deepEqual(holders(sim, partition, 1, `k-${String(i).padStart(3, '0')}`).map((n) => n.index).sort(), ids);
    assert.ok(sim.dht(replicas[0]!).stats.replicaBatches > 0, 'the root still batched to the replica that knows r.batch');
  });

  test('malformed batches are refused (whole or per entry), logged once, and the node carries on', async () => {
    const sim = await dhtRing('batch-bad-input', 6);
    const [a, b] = sim.ring.live();
    sim.dht(a!).close();
    const rogue = new RpcEndpoint('dht', a!.pastry, a!.env, { onRequest: () => undefined });
    a!.pastry.register(rogue);
    const ask = (body: unknown): Promise<RpcResponse> => sim.settle(rogue.requestDirect(b!.pastry.handle, 'r.batch', body, { timeoutMs: 2000 })) as Promise<RpcResponse>;
    for (const body of [{ r: 'no' }, { r: [] }, { r: Array.from({ length: 300 }, () => ['r.get', { k: b!.id.hex }]) }, {}]) {
      assert.equal((await ask(body)).code, 403, `refused: ${JSON.stringify(body).slice(0, 40)}`);
    }
    const mixed = await ask({ r: [['r.batch', { r: [] }], ['r.get', { k: 'nothex' }], 'junk', ['r.put', { i: { k: b!.id.hex } }], ['r.get', { k: b!.id.hex }]] });
    assert.equal(mixed.code, 200);
    const answers = (mixed.body as { r: { e?: string; b?: unknown }[] }).r;
    assert.deepEqual(
      answers.map((x) => x.e ?? 'ok'),
      ['InvalidArgument', 'InvalidArgument', 'InvalidArgument', 'InvalidArgument', 'ok'],
    );
    assert.deepEqual(answers[4]!.b, { i: null });
    const store = (sim.ring.env.log as unknown as { store: { entries: { msg: string; kind?: string; node?: string }[] } }).store;
    const logged = store.entries.filter((e) => e.msg === 'refusing a malformed DHT request' && e.kind === 'r.batch' && e.node === b!.id.short());
    assert.equal(logged.length, 1, 'logged once');
    const id = idFor('doc:after-batch', Scope.GLOBAL);
    const r = await sim.settle(sim.dht(b!).put(id, { type: 'doc' }));
    assert.equal(r.version, 1, 'still serving');
  });
});
