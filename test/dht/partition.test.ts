/**
 * Sorted partitions in the simulator: item operations, ordered scans with prefix / from / limit
 * and continuations, tombstones, shared replica sets, and scans that survive a missing replica.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, idFor } from '../../src/id/index.ts';
import type { DhtError, Entity } from '../../src/dht/index.ts';
import { dhtRing, holders } from './helpers.ts';

interface Obj extends Entity {
  size: number;
}

const names = ['b', 'a', 'a/1', 'a/10', 'a/2', 'aa', 'é', 'z', 'Z', '\u{1F600}', '\uFF21', 'photos/2024/x.jpg', 'photos/2024/y.jpg', 'photos/2025/a.jpg', '0'];
const utf8Order = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('DHT sorted partitions', () => {
  test('items come back in UTF-8 order; prefix, from, limit and continuations page through exactly once', async () => {
    const sim = await dhtRing('part-scan', 12);
    const bucket = idFor('bucket:photos', Scope.GLOBAL);
    const d = sim.dht(sim.ring.randomLive());
    await sim.settle(Promise.all(names.map((n, i) => d.putItem<Obj>(bucket, n, { type: 'object', size: i }))));
    const all = await sim.settle(d.scanPartition<Obj>(bucket, { limit: 1000 }));
    assert.deepEqual(all.items.map((r) => r.sortKey), names.slice().sort(utf8Order));
    assert.equal(all.next, undefined);
    assert.equal(all.items[0]!.id.hex, bucket.hex);
    // Pages of 4 with continuations.
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await sim.settle(sim.dht(sim.ring.randomLive()).scanPartition<Obj>(bucket, { limit: 4, after }));
      assert.ok(page.items.length <= 4);
      seen.push(...page.items.map((r) => r.sortKey!));
      after = page.next;
      if (!after) break;
    }
    assert.deepEqual(seen, names.slice().sort(utf8Order));
    const photos = await sim.settle(d.scanPartition(bucket, { prefix: 'photos/2024/' }));
    assert.deepEqual(photos.items.map((r) => r.sortKey), ['photos/2024/x.jpg', 'photos/2024/y.jpg']);
    const from = await sim.settle(d.scanPartition(bucket, { from: 'photos/', limit: 2 }));
    assert.deepEqual(from.items.map((r) => r.sortKey), ['photos/2024/x.jpg', 'photos/2024/y.jpg']);
    assert.ok(from.next);
    const rest = await sim.settle(d.scanPartition(bucket, { from: 'photos/', after: from.next }));
    assert.deepEqual(rest.items.map((r) => r.sortKey), ['photos/2025/a.jpg', 'z', 'é', '\uFF21', '\u{1F600}']);
    const prefixed = await sim.settle(d.scanPartition(bucket, { prefix: 'a', from: 'a/2' }));
    assert.deepEqual(prefixed.items.map((r) => r.sortKey), ['a/2', 'aa']);
    await assert.rejects(d.scanPartition(bucket, { limit: 0 }), (e: DhtError) => e.code === 'InvalidArgument');
    await assert.rejects(d.scanPartition(bucket, { after: '%%%' }), (e: DhtError) => e.code === 'InvalidArgument');
    assert.equal((await sim.settle(d.scanPartition(idFor('bucket:empty', Scope.GLOBAL)))).items.length, 0);
  });

  test('item get/put/update/writeIfAbsent with record semantics; all items share the partition replica set', async () => {
    const sim = await dhtRing('part-items', 12);
    const q = idFor('queue:jobs', Scope.GLOBAL);
    const d = sim.dht(sim.ring.randomLive());
    const first = await sim.settle(d.writeItemIfAbsent(q, 'job-1', { type: 'task', state: 'new' }));
    assert.equal(first.written, true);
    const second = await sim.settle(sim.dht(sim.ring.randomLive()).writeItemIfAbsent(q, 'job-1', { type: 'task', state: 'other' }));
    assert.equal(second.written, false);
    assert.equal(second.record.body.state, 'new');
    const claimed = await sim.settle(sim.dht(sim.ring.randomLive()).updateItem(q, 'job-1', (cur) => ({ ...cur!.body, state: 'claimed' })));
    assert.equal(claimed?.version, 2);
    await assert.rejects(sim.settle(d.putItem(q, 'job-1', { type: 'task', state: 'x', version: 1 })), (e: DhtError) => e.code === 'VersionConflict');
    const got = await sim.settle(d.getItem(q, 'job-1'));
    assert.equal(got?.body.state, 'claimed');
    assert.equal(got?.sortKey, 'job-1');
    assert.equal(await sim.settle(d.getItem(q, 'job-2')), undefined);
    for (let i = 2; i < 12; i++) await sim.settle(d.putItem(q, `job-${i}`, { type: 'task' }));
    const set = holders(sim, q, 1, 'job-1').map((n) => n.index).sort();
    for (let i = 2; i < 12; i++) assert.deepEqual(holders(sim, q, 1, `job-${i}`).map((n) => n.index).sort(), set);
    assert.deepEqual(set, sim.trueReplicaSet(q, 4).map((n) => n.index).sort());
  });

  test('tombstoned items are skipped unless asked for; writeItemIfAbsent reuses them', async () => {
    const sim = await dhtRing('part-tomb', 10);
    const b = idFor('bucket:t', Scope.GLOBAL);
    const d = sim.dht(sim.ring.randomLive());
    for (const k of ['a', 'b', 'c', 'd']) await sim.settle(d.putItem(b, k, { type: 'object' }));
    const cur = (await sim.settle(d.getItem(b, 'b')))!;
    await sim.settle(d.putItem(b, 'b', { ...cur.body, deleted: true }));
    assert.deepEqual((await sim.settle(d.scanPartition(b))).items.map((r) => r.sortKey), ['a', 'c', 'd']);
    assert.deepEqual((await sim.settle(d.scanPartition(b, { includeDeleted: true }))).items.map((r) => [r.sortKey, r.deleted]), [['a', false], ['b', true], ['c', false], ['d', false]]);
    // Pages count live items: a page of 2 skips the tombstone.
    const page = await sim.settle(d.scanPartition(b, { limit: 2 }));
    assert.deepEqual(page.items.map((r) => r.sortKey), ['a', 'c']);
    const again = await sim.settle(d.writeItemIfAbsent(b, 'b', { type: 'object', fresh: true }));
    assert.equal(again.written, true);
    assert.equal(again.record.version, 3);
  });

  test('a scan can leave large body fields out: the replicas answer partial items, reads stay whole', async () => {
    const sim = await dhtRing('part-omit', 12);
    const b = idFor('bucket:omit', Scope.GLOBAL);
    const d = sim.dht(sim.ring.randomLive());
    const blob = 'x'.repeat(5000);
    await sim.settle(d.putItem(b, 'big', { type: 'object', size: 1, data: blob, chunks: blob }));
    await sim.settle(d.putItem(b, 'small', { type: 'object', size: 2, data: 'tiny' }));
    await sim.settle(d.putItem(b, 'plain', { type: 'object', size: 3, meta: { data: blob } }));
    const reader = sim.dht(sim.ring.randomLive());
    const whole = await sim.settle(reader.scanPartition(b, { limit: 10 }));
    const partial = await sim.settle(reader.scanPartition(b, { limit: 10, omit: ['data', 'chunks'] }));
    const by = (page: typeof whole, key: string): (typeof whole.items)[number] => page.items.find((r) => r.sortKey === key)!;
    assert.deepEqual(partial.items.map((r) => r.sortKey), ['big', 'plain', 'small']);
    // Left out by the replicas: the bodies answered are short.
    assert.deepEqual(by(partial, 'big').body, { type: 'object', size: 1, version: 1 });
    assert.ok(by(partial, 'big').bytes < 100 && by(whole, 'big').bytes > 10_000, `${by(partial, 'big').bytes} / ${by(whole, 'big').bytes} body chars`);
    // Only top-level fields go; bodies under 1 KiB come whole.
    assert.equal((by(partial, 'plain').body as { meta: { data: string } }).meta.data, blob);
    assert.equal((by(partial, 'small').body as { data?: string }).data, 'tiny');
    // The records themselves are untouched.
    assert.equal((await sim.settle(reader.getItem<{ type: string; data: string } & Entity>(b, 'big')))!.body.data, blob);
    await assert.rejects(reader.scanPartition(b, { omit: Array.from({ length: 9 }, (_, i) => `f${i}`) }), (e: DhtError) => e.code === 'InvalidArgument');
    await assert.rejects(reader.scanPartition(b, { omit: [''] }), (e: DhtError) => e.code === 'InvalidArgument');
  });

  test('a scan is complete and current while a replica is down or behind', async () => {
    const sim = await dhtRing('part-fault', 14, { dht: { antiEntropyIntervalMs: 3_600_000 } });
    const b = idFor('bucket:f', Scope.GLOBAL);
    const d = sim.dht(sim.ring.randomLive());
    for (let i = 0; i < 30; i++) await sim.settle(d.putItem(b, `k${String(i).padStart(2, '0')}`, { type: 'object', size: i }));
    const [, behind, down] = sim.trueReplicaSet(b, 4);
    // One replica misses the next writes; another crashes.
    sim.ring.network.partition([[behind!.addr]]);
    const client = sim.ring.live().find((n) => n !== behind && n !== down)!;
    for (let i = 30; i < 40; i++) await sim.settle(sim.dht(client).putItem(b, `k${i}`, { type: 'object', size: i }));
    const cur = (await sim.settle(sim.dht(client).getItem<Obj>(b, 'k05')))!;
    await sim.settle(sim.dht(client).putItem<Obj>(b, 'k05', { ...cur.body, size: 500 }));
    sim.ring.network.heal();
    sim.ring.crash(down!);
    const page = await sim.settle(sim.dht(client).scanPartition<Obj>(b, { limit: 1000 }));
    assert.equal(page.items.length, 40);
    assert.equal(page.items.find((r) => r.sortKey === 'k05')?.body.size, 500, 'the newest version wins the merge');
    // Small pages merge correctly across replicas with different contents.
    const keys: string[] = [];
    let after: string | undefined;
    do {
      const p = await sim.settle(sim.dht(client).scanPartition(b, { limit: 7, after }));
      keys.push(...p.items.map((r) => r.sortKey!));
      after = p.next;
    } while (after);
    assert.equal(keys.length, 40);
    assert.equal(new Set(keys).size, 40);
  });
});
