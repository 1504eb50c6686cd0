/**
 * DHT operations in the simulator: semantics of get/getAny/put/update/writeIfAbsent, tombstones,
 * errors, local scan, scoped replica sets, idempotent retries over a lossy network.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Id } from '../../src/id/index.ts';
import { Scope, idFor, regionOf, azOf } from '../../src/id/index.ts';
import { EntityRegistry, VersionConflictError } from '../../src/dht/index.ts';
import type { DhtError, Entity } from '../../src/dht/index.ts';
import { RpcEndpoint } from '../../src/overlay/index.ts';
import type { RpcResponse } from '../../src/overlay/index.ts';
import { DhtSim } from '../../src/sim/dht-chaos.ts';
import { makeItem } from '../../src/dht/record.ts';
import { dhtRing, holders } from './helpers.ts';

interface Counter extends Entity {
  n: number;
}

describe('DHT operations', () => {
  test('put, get from any node, update, getAny; copies sit exactly on the replica set', async () => {
    const sim = await dhtRing('ops-basic', 16);
    const id = idFor('doc:basic', Scope.GLOBAL);
    const a = sim.dht(sim.ring.randomLive());
    const written = await sim.settle(a.put<Counter>(id, { url: 'doc:basic', n: 1 }));
    assert.equal(written.version, 1);
    assert.equal(written.type, 'doc');
    assert.equal(written.uri, 'doc:basic');
    assert.equal(written.contentType, 'application/json');
    for (const node of sim.ring.live()) {
      const r = await sim.settle(sim.dht(node).get<Counter>(id));
      assert.equal(r?.version, 1);
      assert.equal(r?.body.n, 1);
    }
    const truth = sim.trueReplicaSet(id, 4).map((n) => n.index).sort();
    assert.deepEqual(holders(sim, id).map((n) => n.index).sort(), truth, 'stored on the 4 closest live nodes');
    const up = await sim.settle(sim.dht(sim.ring.randomLive()).update<Counter>(id, (cur) => ({ ...cur!.body, n: cur!.body.n + 1 })));
    assert.equal(up?.version, 2);
    assert.equal(up?.body.n, 2);
    const any = await sim.settle(sim.dht(sim.ring.randomLive()).getAny<Counter>(id));
    assert.equal(any?.body.n, 2);
    assert.equal(await sim.settle(a.get(idFor('doc:missing', Scope.GLOBAL))), undefined);
    assert.equal(await sim.settle(a.getAny(idFor('doc:missing', Scope.GLOBAL))), undefined);
  });

  test('put refuses with VersionConflict when a replica holds a newer version', async () => {
    const sim = await dhtRing('ops-conflict', 12);
    const id = idFor('doc:conflict', Scope.GLOBAL);
    const d = sim.dht(sim.ring.randomLive());
    const v1 = await sim.settle(d.put(id, { type: 'doc', n: 1 }));
    const v2 = await sim.settle(d.put(id, { ...v1.body, n: 2 }));
    assert.equal(v2.version, 2);
    // A writer still holding version 1 is refused.
    await assert.rejects(sim.settle(d.put(id, { ...v1.body, n: 99 })), (e: VersionConflictError) => e.code === 'VersionConflict' && e.current === 2 && e.expected === 1);
    // A blind put of a new entity (no version) over an existing record is refused too.
    await assert.rejects(sim.settle(d.put(id, { type: 'doc', n: 5 })), VersionConflictError);
    assert.equal((await sim.settle(d.get<Counter>(id)))?.body.n, 2, 'nothing was written');
    assert.equal(d.stats.errors.VersionConflict, 2);
  });

  test('update: null writes nothing; many concurrent updaters from every node lose no increment', async () => {
    const sim = await dhtRing('ops-update', 16);
    const id = idFor('counter:u', Scope.GLOBAL);
    const d = sim.dht(sim.ring.randomLive());
    assert.equal(await sim.settle(d.update(id, () => null)), undefined, 'no record, nothing written');
    await sim.settle(d.put<Counter>(id, { type: 'counter', n: 0 }));
    const same = await sim.settle(d.update<Counter>(id, () => null));
    assert.equal(same?.version, 1);
    const inc = (cur: { body: Counter } | undefined): Counter => ({ type: 'counter', n: (cur?.body.n ?? 0) + 1 });
    const ops = sim.ring.live().flatMap((n) => [0, 1, 2, 3].map(() => sim.dht(n).update<Counter>(id, inc, { retries: 50 })));
    const results = await sim.settle(Promise.all(ops));
    const versions = results.map((r) => r!.version).sort((x, y) => x - y);
    assert.deepEqual(versions, Array.from({ length: ops.length }, (_, i) => i + 2), 'each update wrote its own version');
    const final = await sim.settle(d.get<Counter>(id));
    assert.equal(final?.body.n, ops.length);
    const conflicts = sim.ring.live().reduce((a, n) => a + sim.dht(n).stats.updateConflicts, 0);
    assert.ok(conflicts > 0, 'they did conflict and retry');
  });

  test('update gives up with UpdateRetriesExhausted after its retries', async () => {
    const sim = await dhtRing('ops-exhaust', 10);
    const id = idFor('counter:x', Scope.GLOBAL);
    const d = sim.dht(sim.ring.randomLive());
    const other = sim.dht(sim.ring.randomLive());
    await sim.settle(d.put<Counter>(id, { type: 'counter', n: 0 }));
    let calls = 0;
    // Every time the resolver runs, another writer gets in first.
    const resolver = async (cur: { body: Counter; version: number } | undefined): Promise<Counter> => {
      calls++;
      await other.put<Counter>(id, { ...cur!.body, version: cur!.version });
      return { ...cur!.body, n: -1 };
    };
    await assert.rejects(sim.settle(d.update<Counter>(id, resolver, { retries: 3 })), (e: DhtError) => e.code === 'UpdateRetriesExhausted');
    assert.equal(calls, 4);
    const final = await sim.settle(d.get<Counter>(id));
    assert.notEqual(final?.body.n, -1);
    assert.equal(final?.version, 5);
  });

  test('writeIfAbsent writes once; tombstones count as absent', async () => {
    const sim = await dhtRing('ops-wia', 12);
    const id = idFor('lock:a', Scope.GLOBAL);
    const nodes = sim.ring.live();
    const attempts = await sim.settle(Promise.all(nodes.map((n, i) => sim.dht(n).writeIfAbsent(id, { type: 'lock', owner: i }))));
    const winners = attempts.filter((r) => r.written);
    assert.equal(winners.length, 1, 'exactly one writer wins');
    for (const r of attempts) assert.equal(r.record.body.owner, winners[0]!.record.body.owner, 'losers see the winner');
    const d = sim.dht(nodes[0]!);
    const cur = (await sim.settle(d.get(id)))!;
    const tomb = await sim.settle(d.put(id, { ...cur.body, deleted: true }));
    assert.equal(tomb.deleted, true);
    const read = await sim.settle(d.get(id));
    assert.equal(read?.deleted, true, 'get shows the tombstone');
    const again = await sim.settle(d.writeIfAbsent(id, { type: 'lock', owner: 'new' }));
    assert.equal(again.written, true);
    assert.equal(again.record.version, tomb.version + 1);
    assert.equal(again.record.deleted, false);
  });

  test('unknown fields survive a read-modify-write by an application that does not know them', async () => {
    const sim = await dhtRing('ops-fields', 8);
    const id = idFor('user:ann', Scope.GLOBAL);
    const v2app = sim.dht(sim.ring.randomLive());
    const v1app = sim.dht(sim.ring.randomLive());
    await sim.settle(v2app.put(id, { url: 'user:ann', name: 'Ann', addedInV2: { tags: ['a', 'b'] } }));
    // The older application only knows `name`, and spreads the body it read.
    await sim.settle(v1app.update<{ name: string } & Entity>(id, (cur) => ({ ...cur!.body, name: 'Anne' })));
    const r = await sim.settle(v2app.get(id));
    assert.deepEqual(r?.body, { url: 'user:ann', name: 'Anne', addedInV2: { tags: ['a', 'b'] }, version: 2 });
  });

  test('oversized records and invalid entities are refused with typed errors before anything is sent', async () => {
    const entities = new EntityRegistry().register('counter', { validate: (e) => (Number.isInteger(e.n) ? undefined : 'n must be an integer') });
    const sim = new DhtSim({ seed: 'ops-errors', network: { codec: true }, dht: { maxRecordBytes: 1000 } });
    sim.ring.onNodeCreated(() => {});
    await sim.ring.build(6);
    await sim.run(1_000);
    const node = sim.ring.randomLive();
    const d = sim.dht(node);
    const id = idFor('counter:e', Scope.GLOBAL);
    const sent = sim.ring.network.stats.sent;
    await assert.rejects(d.put(id, { type: 'doc', s: 'x'.repeat(2000) }), (e: DhtError) => e.code === 'RecordTooLarge');
    await assert.rejects(d.put(id, 'nope' as unknown as Entity), (e: DhtError) => e.code === 'InvalidEntity');
    await assert.rejects(d.put(id, { type: 'doc', version: -1 }), (e: DhtError) => e.code === 'InvalidArgument');
    assert.equal(sim.ring.network.stats.sent, sent, 'nothing left the node');
    // A registry on the node refuses invalid entities of registered types.
    (d as unknown as { entities: EntityRegistry }).entities.register('counter', { validate: (e) => (Number.isInteger(e.n) ? undefined : 'n must be an integer') });
    await assert.rejects(d.put(id, { type: 'counter', n: 1.5 }), (e: DhtError) => e.code === 'InvalidEntity' && /integer/.test(e.message));
    assert.ok(entities.has('counter'));
    await sim.settle(d.put(id, { type: 'counter', n: 2 }));
  });

  test('malformed requests from a peer are refused with 403, logged once, and the node carries on', async () => {
    const sim = await dhtRing('ops-bad-input', 6);
    const [a, b] = sim.ring.live();
    // A rogue endpoint speaking the dht protocol from node a (its own dht app is replaced).
    sim.dht(a!).close();
    const rogue = new RpcEndpoint('dht', a!.pastry, a!.env, { onRequest: () => undefined });
    a!.pastry.register(rogue);
    const bad: [string, unknown][] = [
      ['write', { k: 'nothex', m: 'put' }],
      ['write', { k: b!.id.hex, m: 'put', t: 'doc', u: null, d: false, b: 'x'.repeat(2_000_000), x: 0, op: 'o' }],
      // A body no reader could parse: stored and replicated, it broke every read of it.
      ['write', { k: b!.id.hex, m: 'put', t: 'doc', u: null, d: false, b: '{"a":', x: 0, op: 'o2' }],
      ['write', { k: b!.id.hex, m: 'put', t: 'doc', u: null, d: false, b: '[1]', x: 0, op: 'o3' }],
      // An item above the record limit, offered straight to a replica.
      ['r.put', { i: makeItem(b!.id.hex, { type: 'doc', uri: null, deleted: false, json: JSON.stringify({ type: 'doc', x: 'x'.repeat(2_000_000) }) }, 1, 'o4', undefined, { limit: 4, memoryMs: 60_000 }, 1, 'application/json') }],
      ['r.put', { i: { k: b!.id.hex } }],
      ['r.merge', { i: 'no' }],
      ['ae.dig', { r: [['00', 'ff']] }],
      ['nonsense', {}],
      ['get', null],
    ];
    for (const [kind, body] of bad) {
      const resp = await sim.settle(rogue.requestDirect(b!.pastry.handle, kind, body, { timeoutMs: 2000 })) as RpcResponse;
      assert.equal(resp.code, 403, `${kind} refused`);
    }
    const resp2 = await sim.settle(rogue.requestDirect(b!.pastry.handle, 'write', { k: 'nothex', m: 'put' }, { timeoutMs: 2000 })) as RpcResponse;
    assert.equal(resp2.code, 403);
    const store = (sim.ring.env.log as unknown as { store: { entries: { msg: string; kind?: string; node?: string }[] } }).store;
    const logged = store.entries.filter((e) => e.msg === 'refusing a malformed DHT request' && e.kind === 'write' && e.node === b!.id.short());
    assert.equal(logged.length, 3, 'each kind of bad input logged once (InvalidArgument, RecordTooLarge, InvalidEntity)');
    assert.equal(sim.dht(b!).localSize, 0, 'nothing stored');
    // A key that node a (now without a DHT) does not replicate.
    let id = idFor('doc:after', Scope.GLOBAL);
    for (let i = 0; sim.trueReplicaSet(id, 4).includes(a!); i++) id = idFor(`doc:after-${i}`, Scope.GLOBAL);
    const r = await sim.settle(sim.dht(b!).put(id, { type: 'doc' }));
    assert.equal(r.version, 1, 'still serving');
  });

  test('a stored record whose body cannot be read (written before bodies were checked) is skipped by local scans and read as RecordCorrupt', async () => {
    const sim = await dhtRing('ops-unreadable', 6);
    const good = idFor('doc:good', Scope.GLOBAL);
    await sim.settle(sim.dht(sim.ring.randomLive()).put(good, { type: 'doc', n: 1 }));
    const dht = sim.dht(sim.trueReplicaSet(good, 4)[0]!);
    // Sealed like any root's write, so its checksum holds: only its body is broken.
    const bad = idFor('doc:bad', Scope.GLOBAL);
    const item = makeItem(bad.hex, { type: 'doc', uri: null, deleted: false, json: '{"a":' }, 1, 'o-bad', undefined, { limit: 4, memoryMs: 60_000 }, 1, 'application/json');
    for (const holder of sim.ring.live()) (sim.dht(holder) as unknown as { store: { apply(i: unknown, m: string): unknown } }).store.apply({ ...item }, 'write');
    const scanned = [...dht.localScan()].map((r) => r.id.hex);
    assert.ok(scanned.includes(good.hex) && !scanned.includes(bad.hex), 'the scan goes on past the unreadable record');
    await assert.rejects(sim.settle(sim.dht(sim.ring.randomLive()).get(bad)), (e: DhtError) => e.code === 'RecordCorrupt');
  });

  test('local scan lists records held here by type, optionally only those this node is root for', async () => {
    const sim = await dhtRing('ops-scan', 8);
    const d = sim.dht(sim.ring.randomLive());
    const ids: Id[] = [];
    for (let i = 0; i < 40; i++) {
      const id = idFor(`${i % 2 ? 'cat' : 'dog'}:${i}`, Scope.GLOBAL);
      ids.push(id);
      await sim.settle(d.put(id, { url: `${i % 2 ? 'cat' : 'dog'}:${i}`, i }));
    }
    await sim.settle(d.put(ids[0]!, { url: 'dog:0', i: 0, deleted: true, version: 1 }));
    let rooted = 0;
    let cats = 0;
    for (const node of sim.ring.live()) {
      const dht = sim.dht(node);
      for (const r of dht.localScan({ type: 'cat' })) {
        assert.equal(r.type, 'cat');
        cats++;
      }
      for (const r of dht.localScan({ rootOnly: true })) {
        assert.equal(sim.ring.closestLive(r.id), node, 'rootOnly lists only records this node is root for');
        rooted++;
      }
      assert.ok([...dht.localScan({ includeDeleted: true })].length >= [...dht.localScan()].length);
    }
    assert.equal(cats, 20 * 4, 'each cat on its 4 replicas');
    assert.equal(rooted, 39, 'every live record has exactly one root; the tombstone is skipped');
  });

  test('scoped records keep their replicas inside their zone', async () => {
    const sim = new DhtSim({ seed: 'ops-scope', network: { codec: true } });
    await sim.ring.build(12, 30_000, { region: 1, az: 1 });
    await sim.ring.build(12, 30_000, { region: 1, az: 2 });
    await sim.ring.build(12, 30_000, { region: 2, az: 1 });
    await sim.run(3_000);
    const d = sim.dht(sim.ring.randomLive());
    for (let i = 0; i < 20; i++) {
      const id = idFor(`vol:${i}`, Scope.AVAILABILITY_ZONE, { location: { region: 1, az: 2 } });
      await sim.settle(d.put(id, { url: `vol:${i}` }));
      const h = holders(sim, id);
      assert.equal(h.length, 4);
      for (const n of h) assert.deepEqual([regionOf(n.id), azOf(n.id)], [1, 2], 'replicas in region 1, zone 2');
      const rid = idFor(`net:${i}`, Scope.REGION, { location: { region: 2, az: 0 } });
      await sim.settle(d.put(rid, { url: `net:${i}` }));
      for (const n of holders(sim, rid)) assert.equal(regionOf(n.id), 2, 'replicas in region 2');
    }
  });

  test('over a lossy network, retried writes apply exactly once', async () => {
    const sim = await dhtRing('ops-lossy', 12);
    const ids = [0, 1, 2].map((i) => idFor(`counter:lossy-${i}`, Scope.GLOBAL));
    for (const id of ids) await sim.settle(sim.dht(sim.ring.randomLive()).put<Counter>(id, { type: 'counter', n: 0 }));
    sim.ring.network.setLoss(0.05);
    let acked = 0;
    const ops = [];
    for (const node of sim.ring.live()) {
      for (let i = 0; i < 5; i++) {
        const id = ids[i % 3]!;
        ops.push(
          sim.dht(node).update<Counter>(id, (cur) => ({ type: 'counter', n: cur!.body.n + 1 }), { retries: 50 }).then(() => acked++),
        );
      }
    }
    const settled = await sim.settle(Promise.allSettled(ops), 300_000);
    sim.ring.network.setLoss(0);
    assert.equal(settled.filter((s) => s.status === 'rejected').length, 0);
    const retries = sim.ring.live().reduce((a, n) => a + sim.dht(n).stats.retries, 0);
    assert.ok(retries > 0, 'some requests were retried');
    let total = 0;
    for (const id of ids) total += (await sim.settle(sim.dht(sim.ring.randomLive()).get<Counter>(id)))!.body.n;
    assert.equal(total, acked);
    assert.equal(acked, ops.length);
  });
});
