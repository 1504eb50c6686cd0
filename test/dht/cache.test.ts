/**
 * The DHT cache in the simulator: fresh copies served locally within the TTL, read-through keeps
 * the highest version, writes through cache what they wrote, bounds, and copies handed out.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, idFor } from '../../src/id/index.ts';
import { DhtCache } from '../../src/dht/index.ts';
import type { Entity } from '../../src/dht/index.ts';
import { dhtRing } from './helpers.ts';

interface Doc extends Entity {
  n: number;
}

describe('DHT cache', () => {
  test('get serves a fresh-enough copy without asking the ring; after the TTL it reads again', async () => {
    const sim = await dhtRing('cache-ttl', 8);
    const node = sim.ring.randomLive();
    const dht = sim.dht(node);
    const cache = new DhtCache(dht, node.env, { ttlMs: 5_000 });
    const id = idFor('doc:c', Scope.GLOBAL);
    await sim.settle(cache.put<Doc>(id, { type: 'doc', n: 1 }));
    const reads = (): number => dht.stats.ops.get ?? 0;
    const r1 = await sim.settle(cache.get<Doc>(id));
    assert.equal(r1?.body.n, 1);
    assert.equal(reads(), 0, 'write-through cached the record');
    assert.equal(cache.stats.hits, 1);
    // Someone else updates it; the cache keeps serving its copy until the TTL passes.
    const other = sim.dht(sim.ring.live().find((n) => n !== node)!);
    await sim.settle(other.update<Doc>(id, (cur) => ({ ...cur!.body, n: 2 })));
    assert.equal((await sim.settle(cache.get<Doc>(id)))?.body.n, 1);
    await sim.run(6_000);
    assert.equal((await sim.settle(cache.get<Doc>(id)))?.body.n, 2, 'stale copy expired: read again');
    assert.equal(reads(), 1);
    assert.equal(cache.stats.misses, 1);
  });

  test('getReadThrough always reads and keeps the highest version; update caches what it wrote', async () => {
    const sim = await dhtRing('cache-rt', 8);
    const node = sim.ring.randomLive();
    const dht = sim.dht(node);
    const cache = new DhtCache(dht, node.env);
    const id = idFor('doc:rt', Scope.GLOBAL);
    await sim.settle(dht.put<Doc>(id, { type: 'doc', n: 1 }));
    assert.equal((await sim.settle(cache.getReadThrough<Doc>(id)))?.version, 1);
    const up = await sim.settle(cache.update<Doc>(id, (cur) => ({ ...cur!.body, n: 10 })));
    assert.equal(up?.version, 2);
    const before = dht.stats.ops.get ?? 0;
    assert.equal((await sim.settle(cache.get<Doc>(id)))?.body.n, 10, 'the value written is cached');
    assert.equal(dht.stats.ops.get ?? 0, before);
    // A read that returns an older version than the cache holds does not replace it.
    const stale = { ...(await sim.settle(dht.get<Doc>(id)))!, version: 1 };
    const realGet = dht.get.bind(dht);
    (dht as unknown as { get: unknown }).get = async () => stale;
    const rt = await sim.settle(cache.getReadThrough<Doc>(id));
    (dht as unknown as { get: unknown }).get = realGet;
    assert.equal(rt?.version, 2);
    assert.equal(cache.stats.staleReadsIgnored, 1);
    const wia = await sim.settle(cache.writeIfAbsent<Doc>(idFor('doc:new', Scope.GLOBAL), { type: 'doc', n: 5 }));
    assert.equal(wia.written, true);
    assert.equal((await sim.settle(cache.get<Doc>(idFor('doc:new', Scope.GLOBAL))))?.body.n, 5);
  });

  test('bounded in entries and bytes; records handed out are copies', async () => {
    const sim = await dhtRing('cache-bounds', 6);
    const node = sim.ring.randomLive();
    const cache = new DhtCache(sim.dht(node), node.env, { maxEntries: 3, maxBytes: 10_000 });
    const ids = [0, 1, 2, 3, 4].map((i) => idFor(`doc:b${i}`, Scope.GLOBAL));
    for (const [i, id] of ids.entries()) await sim.settle(cache.put<Doc>(id, { type: 'doc', n: i }));
    assert.equal(cache.size, 3);
    await sim.settle(cache.put(idFor('doc:big', Scope.GLOBAL), { type: 'doc', s: 'x'.repeat(9_950) }));
    assert.ok(cache.size <= 2, 'a large body pushes others out');
    const id = ids[4]!;
    await sim.settle(cache.getReadThrough<Doc>(id));
    const a = (await sim.settle(cache.get<Doc>(id)))!;
    a.body.n = 999;
    assert.equal((await sim.settle(cache.get<Doc>(id)))?.body.n, 4, 'changing a returned record does not change the cache');
    cache.invalidate(id);
    const hits = cache.stats.hits;
    await sim.settle(cache.get(id));
    assert.equal(cache.stats.hits, hits);
    cache.clear();
    assert.equal(cache.size, 0);
  });
});
