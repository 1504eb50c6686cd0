/**
 * Replication under faults in the simulator: crashes of two replicas at once, joins, graceful
 * leaves, anti-entropy (and its cost), read repair, partitions, restarts, tombstone expiry and
 * stray cleanup.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, idFor } from '../../src/id/index.ts';
import type { Id } from '../../src/id/index.ts';
import type { Entity } from '../../src/dht/index.ts';
import type { DhtSim } from '../../src/sim/dht-chaos.ts';
import { largePartitionIntervalMs } from '../../src/dht/maintenance.ts';
import { dhtRing, holders } from './helpers.ts';

interface Doc extends Entity {
  n: number;
}

async function writeMany(sim: DhtSim, count: number, label: string): Promise<Id[]> {
  const ids: Id[] = [];
  for (let i = 0; i < count; i += 20) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 20); j++) {
      const id = idFor(`doc:${label}-${j}`, Scope.GLOBAL);
      ids.push(id);
      batch.push(sim.dht(sim.ring.randomLive()).put<Doc>(id, { type: 'doc', n: j }));
    }
    await sim.settle(Promise.all(batch));
  }
  return ids;
}

/** Keys whose 4 true replicas do not all hold at least `version`. */
function weak(sim: DhtSim, ids: Id[], version = 1): Id[] {
  return ids.filter((id) => sim.trueReplicaSet(id, 4).some((n) => (sim.dht(n).localGet(id)?.v ?? 0) < version));
}


/** Writes `key` of partition `id` while its third replica is cut off (it keeps its older copy); the new version. */
async function missedWrite(sim: DhtSim, id: Id, key: string): Promise<number> {
  const [root, , victim] = sim.trueReplicaSet(id, 4);
  const writer = sim.dht(sim.ring.live().find((n) => n !== victim && n !== root)!);
  sim.ring.network.partition([[victim!.addr]]);
  const cur = (await sim.settle(writer.getItem<Doc>(id, key)))!;
  await sim.settle(writer.putItem<Doc>(id, key, { ...cur.body, n: -1 }));
  sim.ring.network.heal();
  const version = sim.dht(root!).localGet(id, key)!.v;
  assert.ok((sim.dht(victim!).localGet(id, key)?.v ?? 0) < version, 'the victim missed the write');
  return version;
}

/** A partition of `n` items written through one node. */
async function fillPartition(sim: DhtSim, id: Id, n: number): Promise<void> {
  const d = sim.dht(sim.ring.randomLive());
  for (let i = 0; i < n; i += 50) {
    await sim.settle(Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => d.putItem(id, `obj-${String(i + j).padStart(4, '0')}`, { type: 'object', n: i + j }))));
  }
}

describe('DHT replication', () => {
  test('two replicas of a set crash at once: nothing acknowledged is lost, and the set is whole again within seconds', async () => {
    const sim = await dhtRing('repl-crash2', 16);
    const ids = await writeMany(sim, 100, 'c2');
    const target = ids[7]!;
    const [, second, third] = sim.trueReplicaSet(target, 4);
    sim.ring.crash(second!);
    sim.ring.crash(third!);
    // Reads right away (the crashed nodes not yet detected) still succeed and are fresh.
    const r = await sim.settle(sim.dht(sim.ring.randomLive()).get<Doc>(target));
    assert.equal(r?.body.n, 7);
    await sim.run(6_000);
    assert.deepEqual(weak(sim, ids), [], 'every key back at 4 replicas (handoff after the failures)');
    for (const [i, id] of ids.entries()) assert.equal((await sim.settle(sim.dht(sim.ring.randomLive()).get<Doc>(id)))?.body.n, i);
    const handed = sim.ring.live().reduce((a, n) => a + sim.dht(n).stats.itemsHandedOff, 0);
    assert.ok(handed > 0);
  });

  test('a 3-node ring keeps writing and reading at once when a node crashes (quorums of 2 of 3), and every acknowledged write survives', async () => {
    const sim = await dhtRing('repl-three', 3);
    const ids = await writeMany(sim, 30, 't');
    const [victim] = sim.ring.live();
    sim.ring.crash(victim!);
    const survivors = sim.ring.live();
    // Before the crash is detected: each survivor overwrites and reads back every key.
    const start = sim.now();
    for (const [i, id] of ids.entries()) {
      const at = survivors[i % survivors.length]!;
      await sim.settle(sim.dht(at).put<Doc>(id, { type: 'doc', n: i + 1000, version: 1 }));
      assert.equal((await sim.settle(sim.dht(survivors[(i + 1) % survivors.length]!).get<Doc>(id)))?.body.n, i + 1000);
    }
    const elapsed = sim.now() - start;
    // With quorums of 3 of 3, operations before the crash is detected fail their first attempt.
    assert.deepEqual(survivors.map((n) => sim.dht(n).stats.retries), [0, 0], 'no operation had to retry');
    assert.ok(elapsed < 2_000, `60 operations took ${elapsed} ms of simulated time`);
    for (const id of ids) assert.equal(holders(sim, id, 2).length, 2, 'both survivors hold the new version');
  });

  test('a 3-node ring that lost a node reads every write acknowledged before, from either survivor, before and after the loss is detected', async () => {
    const sim = await dhtRing('repl-three-shrink', 3);
    const [victim, a, b] = sim.ring.live();
    const ids = await writeMany(sim, 30, 's');
    // B misses the overwrites (acknowledged by A and the victim, 2 of 3), then the victim dies:
    // A alone holds them, B the older versions.
    sim.ring.network.partition([[b!.addr]]);
    for (const [i, id] of ids.entries()) await sim.settle(sim.dht(a!).put<Doc>(id, { type: 'doc', n: i + 500, version: 1 }));
    sim.ring.network.heal();
    sim.ring.crash(victim!);
    assert.ok(ids.every((id) => (sim.dht(b!).localGet(id)?.v ?? 0) === 1), 'B missed every overwrite');
    for (const when of ['at once', 'after detection']) {
      if (when === 'after detection') assert.ok(await sim.runUntil(() => [a!, b!].every((n) => n.pastry.leafSetMembers().length === 1), 20_000), 'the crash is detected');
      for (const reader of [b!, a!]) {
        for (const [i, id] of ids.entries()) assert.equal((await sim.settle(sim.dht(reader).get<Doc>(id)))?.body.n, i + 500, `${when}, key ${i} read through node ${reader.index}`);
      }
    }
  });

  test('a joining node receives the records it now replicates; the displaced holder drops them later', async () => {
    const sim = await dhtRing('repl-join', 14, { dht: { strayGraceMs: 3_000, housekeepingIntervalMs: 2_000 } });
    const ids = await writeMany(sim, 150, 'j');
    const before = sim.ring.live();
    const [newcomer] = await sim.ring.build(1);
    await sim.run(3_000);
    const mine = ids.filter((id) => sim.trueReplicaSet(id, 4).includes(newcomer!));
    assert.ok(mine.length > 0, 'the newcomer replicates some keys');
    for (const id of mine) assert.ok(sim.dht(newcomer!).localGet(id), 'handed to the newcomer within seconds');
    assert.deepEqual(weak(sim, ids), []);
    // Nodes pushed out of those replica sets drop their copies after the stray grace period.
    await sim.run(8_000);
    for (const id of mine) {
      const extra = before.filter((n) => n.status === 'live' && sim.dht(n).localGet(id) && !sim.trueReplicaSet(id, 4).includes(n));
      assert.deepEqual(extra.map((n) => n.index), [], 'no copies held out of place');
    }
    assert.ok(sim.ring.live().reduce((a, n) => a + sim.dht(n).stats.straysDropped, 0) > 0);
    assert.deepEqual(weak(sim, ids), []);
  });

  test('a graceful leave hands records off first: the sets stay whole with no anti-entropy', async () => {
    const sim = await dhtRing('repl-leave', 14, { dht: { antiEntropyIntervalMs: 3_600_000 } });
    const ids = await writeMany(sim, 150, 'l');
    for (let i = 0; i < 3; i++) {
      const leaver = sim.ring.randomLive();
      const held = ids.filter((id) => sim.dht(leaver).localGet(id)).length;
      await sim.settle(sim.leave(leaver));
      assert.ok(held > 0);
      await sim.run(3_000);
    }
    assert.deepEqual(weak(sim, ids), []);
    assert.equal(sim.ring.live().reduce((a, n) => a + sim.dht(n).stats.antiEntropyRounds, 0), 0, 'anti-entropy did not run');
  });

  test('anti-entropy repairs a replica that missed writes, at a cost that follows the difference', async () => {
    const sim = await dhtRing('repl-ae', 12, { dht: { antiEntropyIntervalMs: 3_600_000, readGraceMs: 0 } });
    const ids = await writeMany(sim, 400, 'ae');
    const nodes = sim.ring.live();
    const messages = (): number => nodes.reduce((a, n) => a + sim.dht(n).stats.antiEntropyMessages, 0);
    // In sync: one digest exchange per peer, nothing transferred.
    let m0 = messages();
    await sim.settle(Promise.all(nodes.map((n) => sim.dht(n).antiEntropy())));
    const inSync = messages() - m0;
    assert.equal(nodes.reduce((a, n) => a + sim.dht(n).stats.antiEntropyItems, 0), 0);
    assert.ok(inSync <= nodes.length * 6, `${inSync} messages for ${nodes.length} nodes in sync`);
    // Cut one replica off briefly (shorter than failure detection): it misses some writes.
    const key = ids[3]!;
    const victim = sim.trueReplicaSet(key, 4)[2]!;
    sim.ring.network.partition([[victim.addr]]);
    const stale = ids.filter((id) => sim.trueReplicaSet(id, 4).includes(victim)).slice(0, 5);
    for (const id of stale) {
      const cur = (await sim.settle(sim.dht(sim.ring.live().find((n) => n !== victim)!).get<Doc>(id)))!;
      await sim.settle(sim.dht(sim.ring.live().find((n) => n !== victim)!).put<Doc>(id, { ...cur.body, n: cur.body.n + 1000 }));
    }
    sim.ring.network.heal();
    for (const id of stale) assert.equal(sim.dht(victim).localGet(id)!.v, 1, 'the victim missed the writes');
    m0 = messages();
    await sim.settle(Promise.all(nodes.map((n) => sim.dht(n).antiEntropy())));
    const repairCost = messages() - m0;
    console.log(`anti-entropy: ${inSync} messages in sync, ${repairCost} to repair 5 of ${ids.length} records`);
    for (const id of stale) assert.equal(sim.dht(victim).localGet(id)!.v, 2, 'repaired by anti-entropy');
    assert.ok(repairCost < inSync + 40, `repair took ${repairCost} messages (in sync: ${inSync}) for 5 stale of ${ids.length} records`);
  });

  test('anti-entropy compares a large partition page by page', async () => {
    const sim = await dhtRing('repl-ae-pages', 10, { dht: { antiEntropyIntervalMs: 3_600_000, antiEntropyPageSize: 40 } });
    const bucket = idFor('bucket:big', Scope.GLOBAL);
    const d = sim.dht(sim.ring.randomLive());
    for (let i = 0; i < 300; i += 50) {
      await sim.settle(Promise.all(Array.from({ length: 50 }, (_, j) => d.putItem(bucket, `obj-${String(i + j).padStart(4, '0')}`, { type: 'object', n: i + j }))));
    }
    const [root, , victim] = sim.trueReplicaSet(bucket, 4);
    // The victim misses updates spread over the whole partition.
    sim.ring.network.partition([[victim!.addr]]);
    const writer = sim.dht(sim.ring.live().find((n) => n !== victim)!);
    const changed = [3, 77, 150, 151, 299].map((i) => `obj-${String(i).padStart(4, '0')}`);
    for (const k of changed) {
      const cur = (await sim.settle(writer.getItem<Doc>(bucket, k)))!;
      await sim.settle(writer.putItem<Doc>(bucket, k, { ...cur.body, n: -1 }));
    }
    sim.ring.network.heal();
    for (const k of changed) assert.equal(sim.dht(victim!).localGet(bucket, k)!.v, 1);
    const before = sim.dht(root!).stats.antiEntropyMessages;
    await sim.settle(sim.dht(root!).antiEntropy());
    for (const k of changed) assert.equal(sim.dht(victim!).localGet(bucket, k)!.v, 2, `${k} repaired`);
    assert.ok(sim.dht(root!).stats.antiEntropyMessages - before >= 300 / 40, 'the listing came in pages');
  });

  test('a large differing partition is listed at most once per interval per peer; small ones every pass', async () => {
    const sim = await dhtRing('repl-ae-large', 10, { dht: { antiEntropyIntervalMs: 3_600_000, antiEntropyPageSize: 40, antiEntropyLargePartitionItems: 400, antiEntropyLargePartitionIntervalMs: 600_000 } });
    const bucket = idFor('bucket:large', Scope.GLOBAL);
    await fillPartition(sim, bucket, 300);
    const [root, , victim] = sim.trueReplicaSet(bucket, 4);
    const deferred = (): number => sim.dht(root!).stats.antiEntropyPartitionsDeferred;

    // 300 items a side, 600 together: over the limit. The first pass lists the partition.
    const v1 = await missedWrite(sim, bucket, 'obj-0003');
    await sim.settle(sim.dht(root!).antiEntropy());
    assert.equal(sim.dht(victim!).localGet(bucket, 'obj-0003')!.v, v1, 'repaired by the first listing');
    assert.equal(deferred(), 0);

    // A second difference within the interval waits: the listing is not repeated.
    const v2 = await missedWrite(sim, bucket, 'obj-0150');
    await sim.settle(sim.dht(root!).antiEntropy());
    assert.equal(sim.dht(victim!).localGet(bucket, 'obj-0150')!.v, v2 - 1, 'left for later');
    assert.ok(deferred() >= 1, 'counted as deferred');

    // Once the interval has passed, the next pass lists it again.
    await sim.run(600_000);
    await sim.settle(sim.dht(root!).antiEntropy());
    assert.equal(sim.dht(victim!).localGet(bucket, 'obj-0150')!.v, v2, 'repaired after the interval');

    // A partition under the limit is compared at every pass.
    const small = idFor('bucket:small', Scope.GLOBAL);
    const d = sim.dht(sim.ring.randomLive());
    await sim.settle(Promise.all(Array.from({ length: 30 }, (_, j) => d.putItem(small, `k${j}`, { type: 'object', n: j }))));
    const [sRoot, , sVictim] = sim.trueReplicaSet(small, 4);
    for (const key of ['k1', 'k2']) {
      const v = await missedWrite(sim, small, key);
      await sim.settle(sim.dht(sRoot!).antiEntropy());
      assert.equal(sim.dht(sVictim!).localGet(small, key)!.v, v, `${key} repaired at once`);
    }
  });

  test('a huge partition waits longer between listings: half a millisecond per item when that exceeds the interval', () => {
    assert.equal(largePartitionIntervalMs(20_000, 600_000), 600_000, 'a bucket of 10,000 objects: the configured 10 minutes');
    assert.equal(largePartitionIntervalMs(20_000_000, 600_000), 10_000_000, '10 million objects: every 2 h 47 min');
    assert.equal(largePartitionIntervalMs(6_000, 100), 3_000);
  });

  /**
   * A 12-node ring where replica `victimIndex` of a record missed its second write (it was cut
   * off while `other` wrote n = 2) and still holds version 1; the network is whole again.
   */
  async function staleReplica(name: string, victimIndex: number) {
    const sim = await dhtRing(name, 12, { dht: { antiEntropyIntervalMs: 3_600_000 } });
    const id = idFor(`doc:${name}`, Scope.GLOBAL);
    await sim.settle(sim.dht(sim.ring.randomLive()).put<Doc>(id, { type: 'doc', n: 1 }));
    const victim = sim.trueReplicaSet(id, 4)[victimIndex]!;
    sim.ring.network.partition([[victim.addr]]);
    const other = sim.dht(sim.ring.live().find((n) => n !== victim)!);
    const cur = (await sim.settle(other.get<Doc>(id)))!;
    await sim.settle(other.put<Doc>(id, { ...cur.body, n: 2 }));
    sim.ring.network.heal();
    assert.equal(sim.dht(victim).localGet(id)!.v, 1, 'the victim missed the write');
    return { sim, id, victim, other };
  }

  test('a read repairs stale replicas in the background', async () => {
    const { sim, id, victim, other } = await staleReplica('repl-readrepair', 3);
    await sim.settle(other.get(id));
    await sim.run(100);
    assert.equal(sim.dht(victim).localGet(id)!.v, 2);
    assert.ok(sim.ring.live().reduce((a, n) => a + sim.dht(n).stats.readRepairs, 0) >= 1);
  });

  test('a read coordinated by a stale replica returns the newer version and repairs the stale copy', async () => {
    const { sim, id, victim } = await staleReplica('repl-staleread', 2);
    const stale = sim.dht(victim);
    const coordinatedBefore = stale.stats.coordinated['get'] ?? 0;
    const read = (await sim.settle(stale.get<Doc>(id)))!;
    // The victim's leaf set spans the key: it coordinated the read itself, with its stale copy.
    assert.equal((stale.stats.coordinated['get'] ?? 0) - coordinatedBefore, 1, 'the read was coordinated by the stale replica');
    assert.equal(read.body.n, 2, 'the newer body, not the stale local one');
    assert.equal(read.version, 2);
    await sim.run(100);
    assert.equal(stale.localGet(id)!.v, 2, 'and the stale copy was repaired');
  });

  test('a partitioned ring heals and converges without losing acknowledged writes', async () => {
    const sim = await dhtRing('repl-partition', 20, { dht: { antiEntropyIntervalMs: 5_000 } });
    const ids = await writeMany(sim, 60, 'p');
    const live = sim.ring.live();
    const sideA = live.filter((_, i) => i % 2 === 0);
    sim.ring.network.partition([sideA.map((n) => n.addr)]);
    await sim.run(8_000);
    // Each key is written once more, on the side of a writer chosen per key (single writer).
    const acked = new Map<string, number>();
    for (const [i, id] of ids.entries()) {
      const writer = live[i % live.length]!;
      const rec = await sim.settle(sim.dht(writer).put<Doc>(id, { type: 'doc', n: i + 500, version: 1 }));
      acked.set(id.hex, rec.version);
    }
    sim.ring.network.heal();
    await sim.runUntil(() => sim.ring.leafSetsConsistent().wrong === 0, 120_000);
    await sim.run(15_000);
    for (const [i, id] of ids.entries()) {
      const r = await sim.settle(sim.dht(sim.ring.randomLive()).get<Doc>(id));
      assert.equal(r?.version, acked.get(id.hex));
      assert.equal(r?.body.n, i + 500);
    }
    assert.deepEqual(weak(sim, ids, 2), [], 'every replica converged');
  });

  test('a node restarted on its storage keeps its records and catches up', async () => {
    const sim = await dhtRing('repl-restart', 12);
    const ids = await writeMany(sim, 100, 'r');
    const node = sim.trueReplicaSet(ids[0]!, 4)[1]!;
    const heldBefore = ids.filter((id) => sim.dht(node).localGet(id)).length;
    sim.ring.crash(node);
    const cur = (await sim.settle(sim.dht(sim.ring.randomLive()).get<Doc>(ids[0]!)))!;
    await sim.settle(sim.dht(sim.ring.randomLive()).put<Doc>(ids[0]!, { ...cur.body, n: 42 }));
    await sim.run(3_000);
    const fresh = sim.ring.restart(node);
    await sim.runUntil(() => fresh.status === 'live', 30_000);
    assert.equal(fresh.id.hex, node.id.hex);
    assert.equal(ids.filter((id) => sim.dht(fresh).localGet(id)).length >= heldBefore, true, 'records kept on its storage');
    await sim.run(3_000);
    assert.equal(sim.dht(fresh).localGet(ids[0]!)?.v, 2, 'caught up with the write it missed');
    assert.deepEqual(weak(sim, ids), []);
  });

  test('tombstones are removed by housekeeping after their grace period, on every replica', async () => {
    const sim = await dhtRing('repl-tombstone', 10, { dht: { tombstoneGraceMs: 20_000, housekeepingIntervalMs: 5_000 } });
    const id = idFor('doc:t', Scope.GLOBAL);
    const d = sim.dht(sim.ring.randomLive());
    const v1 = await sim.settle(d.put(id, { type: 'doc' }));
    await sim.settle(d.put(id, { ...v1.body, deleted: true }));
    assert.equal(holders(sim, id).length, 4);
    await sim.run(10_000);
    assert.equal(holders(sim, id).length, 4, 'kept during the grace period');
    await sim.run(20_000);
    assert.equal(holders(sim, id).length, 0, 'removed everywhere after it');
    assert.equal(sim.ring.live().reduce((a, n) => a + sim.dht(n).stats.tombstonesRemoved, 0), 4);
    assert.equal(await sim.settle(d.get(id)), undefined);
  });
});
