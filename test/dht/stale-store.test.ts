/**
 * A node back from an absence longer than the tombstone grace period (simulator, fixed seeds): a
 * record deleted while it was away, whose tombstone its peers have since removed, must not come
 * back from its store; a long absence in which nothing it missed was forgotten keeps its store.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, idFor } from '../../src/id/index.ts';
import type { Id } from '../../src/id/index.ts';
import type { Entity } from '../../src/dht/index.ts';
import type { DhtSim } from '../../src/sim/dht-chaos.ts';
import { dhtRing } from './helpers.ts';

interface Doc extends Entity {
  n: number;
}

const GRACE_MS = 60_000;
const OPTIONS = { dht: { tombstoneGraceMs: GRACE_MS, housekeepingIntervalMs: 5_000, antiEntropyIntervalMs: 5_000 } };

async function writeDocs(sim: DhtSim, label: string, count: number): Promise<Id[]> {
  const ids = Array.from({ length: count }, (_, i) => idFor(`doc:${label}-${i}`, Scope.GLOBAL));
  await sim.settle(Promise.all(ids.map((id, n) => sim.dht(sim.ring.randomLive()).put<Doc>(id, { type: 'doc', n }))));
  return ids;
}

async function remove(sim: DhtSim, id: Id): Promise<void> {
  const d = sim.dht(sim.ring.randomLive());
  const cur = (await sim.settle(d.get<Doc>(id)))!;
  await sim.settle(d.put<Doc>(id, { ...cur.body, deleted: true }));
}

/** Live nodes holding a live (not deleted) copy of `id`. */
function liveCopies(sim: DhtSim, id: Id): number {
  return sim.ring.live().filter((n) => {
    const it = sim.dht(n).localGet(id);
    return it !== undefined && !it.d;
  }).length;
}

describe('DHT: a node back from a long absence', () => {
  test('does not bring back a record deleted while it was away once its tombstone is gone', async () => {
    const sim = await dhtRing('stale-resurrect', 8, OPTIONS);
    const ids = await writeDocs(sim, 's', 30);
    const victim = sim.trueReplicaSet(ids[0]!, 4)[1]!;
    const held = ids.filter((id) => sim.dht(victim).localGet(id)).length;
    await sim.run(6_000); // a housekeeping pass notes the victim up
    sim.ring.crash(victim);
    await remove(sim, ids[0]!);
    await sim.run(2 * GRACE_MS); // the tombstone is removed from every replica
    assert.equal(sim.ring.live().filter((n) => sim.dht(n).localGet(ids[0]!)).length, 0, 'tombstone removed everywhere');

    const fresh = sim.ring.restart(victim);
    await sim.runUntil(() => fresh.status === 'live', 30_000);
    assert.ok(await sim.runUntil(() => !sim.dht(fresh).storeHeld, 30_000), 'the check ends');
    await sim.run(20_000); // anti-entropy passes

    assert.equal(liveCopies(sim, ids[0]!), 0, 'the deleted record was not brought back');
    assert.equal(await sim.settle(sim.dht(sim.ring.randomLive()).get(ids[0]!)), undefined);
    const stats = sim.dht(fresh).stats;
    assert.equal(stats.staleStoresSetAside, 1);
    assert.equal(stats.staleItemsDropped, held);
    assert.equal(sim.disks.get(victim.id.hex)!.copies.size, 1, 'a copy kept for an operator');
    // Everything else is still there, and the returning node is given its share again.
    for (const [n, id] of ids.entries()) {
      if (n === 0) continue;
      assert.equal((await sim.settle(sim.dht(sim.ring.randomLive()).get<Doc>(id)))?.body.n, n);
    }
    assert.ok(ids.slice(1).filter((id) => sim.dht(fresh).localGet(id)).length > 0, 'the ring handed it records back');
  });

  test('keeps its store when no peer forgot a deletion made since it was last up', async () => {
    const sim = await dhtRing('stale-keep', 8, OPTIONS);
    const ids = await writeDocs(sim, 'k', 30);
    const victim = sim.trueReplicaSet(ids[0]!, 4)[1]!;
    await remove(sim, ids[0]!); // seen by the victim before it goes
    await sim.run(6_000);
    const kept = ids.slice(1).filter((id) => sim.dht(victim).localGet(id));
    sim.ring.crash(victim);
    await sim.run(2 * GRACE_MS); // peers remove that tombstone: written before the victim was last up

    const fresh = sim.ring.restart(victim);
    await sim.runUntil(() => fresh.status === 'live', 30_000);
    assert.ok(await sim.runUntil(() => !sim.dht(fresh).storeHeld, 30_000));
    const stats = sim.dht(fresh).stats;
    assert.equal(stats.staleChecks, 1, 'it asked');
    assert.equal(stats.staleStoresSetAside, 0, 'and kept its store');
    assert.ok(kept.length > 0);
    assert.deepEqual(kept.filter((id) => !sim.dht(fresh).localGet(id)), [], 'records kept');
    assert.equal(liveCopies(sim, ids[0]!), 0);
  });

  test('most of a ring stopped for longer than the grace period comes back with every record', async () => {
    const sim = await dhtRing('stale-fleet', 8, OPTIONS);
    const ids = await writeDocs(sim, 'f', 40);
    await remove(sim, ids[0]!);
    await sim.run(6_000);
    const [survivor, ...stopped] = sim.ring.live();
    for (const n of stopped) sim.ring.crash(n);
    await sim.run(2 * GRACE_MS);
    const back = stopped.map((n) => sim.ring.restart(n));
    await sim.runUntil(() => back.every((n) => n.status === 'live'), 60_000);
    assert.ok(await sim.runUntil(() => back.every((n) => !sim.dht(n).storeHeld), 60_000));
    assert.equal(back.reduce((a, n) => a + sim.dht(n).stats.staleChecks, 0), back.length, 'each asked');
    assert.equal(back.reduce((a, n) => a + sim.dht(n).stats.staleStoresSetAside, 0), 0, 'none set its store aside');
    for (const [n, id] of ids.entries()) {
      const r = await sim.settle(sim.dht(survivor!).get<Doc>(id));
      if (n === 0) assert.ok(r === undefined || r.body.deleted === true, 'still deleted');
      else assert.equal(r?.body.n, n);
    }
  });

  test('a short absence is not checked', async () => {
    const sim = await dhtRing('stale-short', 8, OPTIONS);
    const ids = await writeDocs(sim, 'q', 10);
    const victim = sim.trueReplicaSet(ids[0]!, 4)[1]!;
    await sim.run(6_000);
    sim.ring.crash(victim);
    await sim.run(GRACE_MS / 4);
    const fresh = sim.ring.restart(victim);
    assert.equal(sim.dht(fresh).storeHeld, false);
    await sim.runUntil(() => fresh.status === 'live', 30_000);
    assert.equal(sim.dht(fresh).stats.staleChecks, 0);
  });
});
