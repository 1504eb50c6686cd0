/**
 * Digest reads (src/dht/coordinator.ts): a quorum read takes the item from one replica (the
 * coordinator's own copy when it holds one) and only digests from the others; a newer version a
 * digest shows is fetched before answering; stale replicas are repaired; damaged copies are never
 * answered; malformed replies are ignored; replicas of an older release get r.get.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, idFor } from '../../src/id/index.ts';
import type { Id } from '../../src/id/index.ts';
import { InvalidArgumentError, itemIntact } from '../../src/dht/index.ts';
import type { DhtStats, Entity, StoredItem } from '../../src/dht/index.ts';
import type { LocalStore } from '../../src/dht/local-store.ts';
import type { DhtSim } from '../../src/sim/dht-chaos.ts';
import type { SimNode } from '../../src/sim/ring.ts';
import { RpcEndpoint } from '../../src/overlay/index.ts';
import type { RpcResponse } from '../../src/overlay/index.ts';
import { dhtRing } from './helpers.ts';

interface Doc extends Entity {
  n: number;
  text?: string;
}

type ReplicaHandler = (kind: string, body: unknown) => unknown;

/** Replaces how `node` answers replica requests (alone, in batches and to itself). */
function patchReplica(sim: DhtSim, node: SimNode, handler: (kind: string, body: unknown, original: ReplicaHandler) => unknown): void {
  const dht = sim.dht(node) as unknown as { replicaRequest: ReplicaHandler };
  const original = dht.replicaRequest.bind(dht);
  dht.replicaRequest = (kind, body) => handler(kind, body, original);
}

/** Makes `node` answer as a release from before r.digest: the kind is unknown there. */
function olderRelease(sim: DhtSim, node: SimNode): void {
  patchReplica(sim, node, (kind, body, original) => {
    if (kind === 'r.digest') throw new InvalidArgumentError(`unknown request kind "${kind}"`);
    return original(kind, body);
  });
}

/**
 * A ring whose leaf-set members have all been neighbours for `settleMs` (until then reads ask every
 * replica, not the quorum: see `readTargets`).
 */
async function settledRing(seed: string, n: number, options: Parameters<typeof dhtRing>[2] = {}): Promise<DhtSim> {
  const sim = await dhtRing(seed, n, options);
  await sim.run(3_000);
  return sim;
}

/** Bytes every live node has sent so far (the simulated network runs the real codec). */
function bytesSent(sim: DhtSim): number {
  return sim.ring.live().reduce((a, n) => a + n.transport.stats.bytesOut, 0);
}

/** The change in `stats` counters across `fn`. */
async function delta(stats: DhtStats, fn: () => Promise<unknown>): Promise<Record<'digests' | 'fulls' | 'mismatches' | 'fallbacks' | 'malformed', number>> {
  const take = (): number[] => [stats.readDigests, stats.readFullCopies, stats.readDigestMismatches, stats.readDigestFallbacks, stats.replicaRepliesMalformed];
  const before = take();
  await fn();
  const after = take();
  const [digests, fulls, mismatches, fallbacks, malformed] = after.map((v, i) => v - before[i]!);
  return { digests: digests!, fulls: fulls!, mismatches: mismatches!, fallbacks: fallbacks!, malformed: malformed! };
}

/**
 * A 12-node ring (every leaf set spans the ring, so every node coordinates its own reads) where
 * replica `victimIndex` of a record missed its second write and still holds version 1.
 */
async function staleReplica(name: string, victimIndex: number): Promise<{ sim: DhtSim; id: Id; victim: SimNode; replicas: SimNode[] }> {
  const sim = await settledRing(name, 12, { dht: { antiEntropyIntervalMs: 3_600_000 } });
  const id = idFor(`doc:${name}`, Scope.GLOBAL);
  const replicas = sim.trueReplicaSet(id, 4);
  const writer = sim.dht(sim.ring.live().find((n) => !replicas.includes(n))!);
  await sim.settle(writer.put<Doc>(id, { type: 'doc', n: 1 }));
  const victim = replicas[victimIndex]!;
  sim.ring.network.partition([[victim.addr]]);
  await sim.settle(writer.put<Doc>(id, { type: 'doc', n: 2, version: 1 }));
  sim.ring.network.heal();
  assert.equal(sim.dht(victim).localGet(id)!.v, 1, 'the victim missed the write');
  return { sim, id, victim, replicas };
}

describe('DHT digest reads', () => {
  test('a read of a large record moves one full copy (none when the coordinator holds it), where full reads moved three', async () => {
    const sim = await settledRing('digest-bytes', 12);
    const id = idFor('object:large', Scope.GLOBAL);
    const text = 'x'.repeat(20_000);
    const replicas = sim.trueReplicaSet(id, 4);
    await sim.settle(sim.dht(replicas[0]!).put<Doc>(id, { type: 'doc', n: 1, text }));
    const outsider = sim.ring.live().find((n) => !replicas.includes(n))!;

    const readFrom = async (node: SimNode): Promise<{ bytes: number; counts: Awaited<ReturnType<typeof delta>> }> => {
      const before = bytesSent(sim);
      let r: Doc | undefined;
      const counts = await delta(sim.dht(node).stats, async () => {
        r = (await sim.settle(sim.dht(node).get<Doc>(id)))?.body;
      });
      assert.equal(r?.text, text);
      return { bytes: bytesSent(sim) - before, counts };
    };

    // A replica holding the record: its own copy and two digests; no body crosses the network.
    const local = await readFrom(replicas[0]!);
    assert.deepEqual([local.counts.digests, local.counts.fulls], [2, 0]);
    assert.ok(local.bytes < text.length / 4, `no full copy moved (${local.bytes} bytes)`);
    // A node outside the replica set: one full copy and two digests.
    const remote = await readFrom(outsider);
    assert.deepEqual([remote.counts.digests, remote.counts.fulls], [2, 1]);
    assert.ok(remote.bytes > text.length && remote.bytes < 1.5 * text.length, `one full copy moved (${remote.bytes} bytes)`);
    // The same read when the replicas know only r.get (what every read did before digests).
    for (const n of replicas) olderRelease(sim, n);
    const full = await readFrom(outsider);
    assert.equal(full.counts.fulls, 3);
    assert.ok(full.bytes > 3 * text.length, `three full copies moved (${full.bytes} bytes)`);
    assert.ok(full.bytes > 2.5 * remote.bytes);
  });

  test('a replica answers r.digest alone and in batches; concurrent reads send their digests in batches', async () => {
    const sim = await settledRing('digest-replica-side', 12);
    const partition = idFor('bucket:digests', Scope.GLOBAL);
    const replicas = sim.trueReplicaSet(partition, 4);
    const root = sim.dht(replicas[0]!);
    const keys = Array.from({ length: 100 }, (_, i) => `key-${String(i).padStart(3, '0')}`);
    await sim.settle(Promise.all(keys.map((k, i) => root.putItem<Doc>(partition, k, { type: 'doc', n: i }))));
    // What a replica sends: the digest of its copy, or null.
    const outsider = sim.ring.live().find((n) => !replicas.includes(n))!;
    sim.dht(outsider).close();
    const rogue = new RpcEndpoint('dht', outsider.pastry, outsider.env, { onRequest: () => undefined });
    outsider.pastry.register(rogue);
    const ask = (kind: string, body: unknown): Promise<RpcResponse> => sim.settle(rogue.requestDirect(replicas[1]!.pastry.handle, kind, body, { timeoutMs: 2000 }));
    const held = sim.dht(replicas[1]!).localGet(partition, keys[7]!)!;
    const want = { k: held.k, v: held.v, op: held.op, d: false, c: held.c };
    assert.deepEqual((await ask('r.digest', { k: held.k })).body, { s: want });
    assert.deepEqual((await ask('r.digest', { k: partition.hex + '/absent' })).body, { s: null });
    assert.equal((await ask('r.digest', { k: 'nothex' })).code, 403);
    const batch = await ask('r.batch', { r: [['r.digest', { k: held.k }], ['r.get', { k: held.k }], ['r.digest', { k: 'nothex' }]] });
    assert.deepEqual((batch.body as { r: unknown[] }).r, [{ b: { s: want } }, { b: { i: held } }, { e: 'InvalidArgument', m: 'malformed storage key' }]);
    // Concurrent reads at the root: digests only, several per message.
    const before = { batches: root.stats.replicaBatches, batched: root.stats.replicaBatchedRequests };
    let reads: (Doc | undefined)[] = [];
    const d = await delta(root.stats, async () => {
      reads = (await sim.settle(Promise.all(keys.map((k) => root.getItem<Doc>(partition, k))))).map((r) => r?.body);
    });
    assert.deepEqual(reads.map((r) => r?.n), keys.map((_, i) => i));
    assert.deepEqual([d.digests, d.fulls], [200, 0]);
    const batches = root.stats.replicaBatches - before.batches;
    assert.ok(batches > 0 && (root.stats.replicaBatchedRequests - before.batched) / batches > 2, `digest requests travelled in batches (${batches})`);
  });

  test('a read coordinated by a stale replica fetches the newer full copy a digest shows, and repairs itself', async () => {
    const { sim, id, victim } = await staleReplica('digest-stale-self', 1);
    const stale = sim.dht(victim);
    let read: Doc | undefined;
    const d = await delta(stale.stats, async () => {
      read = (await sim.settle(stale.get<Doc>(id)))?.body;
    });
    assert.equal(read?.n, 2, 'the newer body, not the stale local copy');
    assert.equal(read?.version, 2);
    assert.equal(d.mismatches, 1, 'the digests named a version the local copy was not');
    assert.equal(d.fulls, 1, 'that version was fetched whole, once');
    await sim.run(100);
    assert.equal(stale.localGet(id)!.v, 2, 'the stale copy was repaired');
  });

  test('a stale replica answering a digest is repaired by a read, with no extra fetch', async () => {
    const { sim, id, victim, replicas } = await staleReplica('digest-stale-remote', 1);
    const root = sim.dht(replicas[0]!);
    const repairsBefore = root.stats.readRepairs;
    let read: Doc | undefined;
    const d = await delta(root.stats, async () => {
      read = (await sim.settle(root.get<Doc>(id)))?.body;
    });
    assert.equal(read?.n, 2);
    assert.deepEqual([d.digests, d.fulls, d.mismatches], [2, 0, 0], 'the root had the newest copy; the victim sent only a digest');
    await sim.run(100);
    assert.equal(sim.dht(victim).localGet(id)!.v, 2, 'the victim was repaired from the copy in hand');
    assert.equal(root.stats.readRepairs - repairsBefore, 1);
  });

  test('when the replica asked for the item is the stale one, the newer version is fetched from a digest holder', async () => {
    // The closest replica, which a non-replica coordinator asks for the item, holds version 1.
    // (Cutting the root off would move the root; its copy is rolled back instead.)
    const sim = await settledRing('digest-stale-data', 12, { dht: { antiEntropyIntervalMs: 3_600_000 } });
    const id = idFor('doc:digest-stale-data', Scope.GLOBAL);
    const replicas = sim.trueReplicaSet(id, 4);
    const victim = replicas[0]!;
    const v1 = (await sim.settle(sim.dht(replicas[1]!).put<Doc>(id, { type: 'doc', n: 1 })))!;
    const old = sim.dht(victim).localGet(id)!;
    await sim.settle(sim.dht(replicas[1]!).put<Doc>(id, { type: 'doc', n: 2, version: v1.version }));
    const store = (sim.dht(victim) as unknown as { store: LocalStore }).store;
    await store.remove(id.hex);
    assert.ok(store.apply(old, 'merge').applied);
    assert.equal(sim.dht(victim).localGet(id)!.v, 1);
    const outsider = sim.dht(sim.ring.live().find((n) => !replicas.includes(n))!);
    let read: Doc | undefined;
    const d = await delta(outsider.stats, async () => {
      read = (await sim.settle(outsider.get<Doc>(id)))?.body;
    });
    assert.equal(read?.n, 2);
    assert.deepEqual([d.digests, d.fulls, d.mismatches], [2, 2, 1], 'one item from the closest replica (stale), one fetched after the digests');
    await sim.run(100);
    assert.equal(sim.dht(victim).localGet(id)!.v, 2, 'and the stale replica was repaired');
  });

  test('a damaged local copy is never answered: the item comes from a replica, and the copy is restored', async () => {
    const sim = await settledRing('digest-damaged-local', 12, { dht: { antiEntropyIntervalMs: 3_600_000 } });
    const id = idFor('doc:damaged-local', Scope.GLOBAL);
    const replicas = sim.trueReplicaSet(id, 4);
    await sim.settle(sim.dht(replicas[3]!).put<Doc>(id, { type: 'doc', n: 1, text: 'good' }));
    const node = replicas[0]!;
    const disk = sim.disks.get(node.id.hex)!;
    assert.ok(disk.tamper(id.hex, (it) => ({ ...it, b: it.b.replace('good', 'evil') })));
    const dht = sim.dht(node);
    let read: Doc | undefined;
    const d = await delta(dht.stats, async () => {
      read = (await sim.settle(dht.get<Doc>(id)))?.body;
    });
    assert.equal(read?.text, 'good', 'the damaged bytes were not served');
    assert.equal(d.fulls, 1, 'the item came from another replica');
    assert.equal(dht.stats.recordsCorrupt, 1);
    assert.equal(disk.quarantinedCount, 1, 'the damaged copy went to the quarantine');
    await sim.run(100);
    const copy = dht.localGet(id);
    assert.ok(copy && itemIntact(copy) && copy.b.includes('good'), 'read repair restored a good copy');
  });

  test('a replica whose copy is damaged answers its digest as absent; one that sends a damaged item is not believed', async () => {
    const sim = await settledRing('digest-damaged-remote', 12, { dht: { antiEntropyIntervalMs: 3_600_000 } });
    const id = idFor('doc:damaged-remote', Scope.GLOBAL);
    const replicas = sim.trueReplicaSet(id, 4);
    const outsider = sim.dht(sim.ring.live().find((n) => !replicas.includes(n))!);
    await sim.settle(outsider.put<Doc>(id, { type: 'doc', n: 1, text: 'good' }));
    // Replica 1 (asked for a digest) holds a damaged copy; replica 0 (asked for the item) alters it in transit.
    assert.ok(sim.disks.get(replicas[1]!.id.hex)!.tamper(id.hex, (it) => ({ ...it, b: it.b.replace('good', 'rot!') })));
    patchReplica(sim, replicas[0]!, (kind, body, original) => {
      const reply = original(kind, body) as { i?: StoredItem | null };
      return kind === 'r.get' && reply.i ? { i: { ...reply.i, b: reply.i.b.replace('good', 'evil') } } : reply;
    });
    const refusedBefore = outsider.stats.recordsRefusedCorrupt;
    const read = await sim.settle(outsider.get<Doc>(id));
    assert.equal(read?.body.text, 'good');
    assert.equal(outsider.stats.recordsRefusedCorrupt - refusedBefore, 1, 'the altered item was refused, and counted');
    assert.equal(sim.dht(replicas[1]!).stats.recordsCorrupt, 1, 'the damaged copy was quarantined when its digest was asked');
    await sim.run(100);
    assert.ok(itemIntact(sim.dht(replicas[1]!).localGet(id)!), 'and repaired');
  });

  test('a replica answering garbage to digest requests does not break reads: its replies are ignored and counted, a spare stands in', async () => {
    const sim = await settledRing('digest-garbage', 12, { dht: { antiEntropyIntervalMs: 3_600_000 } });
    const id = idFor('doc:garbage', Scope.GLOBAL);
    const other = idFor('doc:garbage-other', Scope.GLOBAL);
    const replicas = sim.trueReplicaSet(id, 4);
    const reader = sim.dht(replicas[0]!);
    await sim.settle(reader.put<Doc>(id, { type: 'doc', n: 1 }));
    await sim.settle(reader.put<Doc>(id, { type: 'doc', n: 2, version: 1 }));
    const garbage: unknown[] = [
      null,
      42,
      'text',
      {},
      { s: 'digest' },
      { s: [id.hex, 9, 'op', false] },
      { s: { k: other.hex, v: 9, op: 'op', d: false } },
      { s: { k: id.hex, v: -1, op: 'op', d: false } },
      { s: { k: id.hex, v: 1.5, op: 'op', d: false } },
      { s: { k: id.hex, v: 9, op: '', d: false } },
      { s: { k: id.hex, v: 9, op: 'op', d: 'no' } },
      { s: { k: id.hex, v: 9, op: 'op', d: false, c: 'crc' } },
      { s: { k: id.hex, v: 2 ** 60, op: 'op', d: false } },
    ];
    let answer: { garbage: unknown } | undefined;
    patchReplica(sim, replicas[1]!, (kind, body, original) => (kind === 'r.digest' && answer ? answer.garbage : original(kind, body)));
    for (const g of garbage) {
      answer = { garbage: g };
      let read: Doc | undefined;
      const d = await delta(reader.stats, async () => {
        read = (await sim.settle(reader.get<Doc>(id)))?.body;
      });
      assert.equal(read?.n, 2, `the read answered despite ${JSON.stringify(g)}`);
      assert.equal(read?.version, 2);
      assert.equal(d.malformed, 1, `${JSON.stringify(g)} was counted as malformed`);
      assert.equal(d.digests, 3, 'the spare replica was asked in its place');
    }
    // The same peer's well-formed digests are used again.
    answer = undefined;
    const d = await delta(reader.stats, () => sim.settle(reader.get<Doc>(id)));
    assert.deepEqual([d.digests, d.malformed], [2, 0]);
    const store = (sim.ring.env.log as unknown as { store: { entries: { msg: string; node?: string }[] } }).store;
    assert.equal(store.entries.filter((e) => e.msg === 'ignoring a malformed replica reply to a read' && e.node === replicas[0]!.id.short()).length, 1, 'logged once');
  });

  test('replicas of an older release, without r.digest, are read with r.get: first after a refusal, then directly', async () => {
    const sim = await settledRing('digest-older-release', 12);
    const ids = Array.from({ length: 10 }, (_, i) => idFor(`doc:mixed-${i}`, Scope.GLOBAL));
    for (const [i, id] of ids.entries()) await sim.settle(sim.dht(sim.ring.randomLive()).put<Doc>(id, { type: 'doc', n: i }));
    const old = sim.ring.live().filter((_, i) => i % 3 === 0);
    for (const n of old) olderRelease(sim, n);
    const reader = sim.dht(sim.ring.live().find((n) => !old.includes(n))!);
    for (let round = 0; round < 2; round++) {
      const d = await delta(reader.stats, async () => {
        // Concurrent reads, so that some requests to each replica travel in batches.
        const reads = await sim.settle(Promise.all(ids.map((id) => reader.get<Doc>(id))));
        assert.deepEqual(reads.map((r) => r?.body.n), ids.map((_, i) => i), `round ${round}: every read answered`);
      });
      if (round === 0) assert.ok(d.fallbacks > 0, 'older replicas refused digests and were asked again with r.get');
      else assert.equal(d.fallbacks, 0, 'then they were asked with r.get directly');
      assert.ok(d.digests > 0, 'newer replicas still sent digests');
    }
  });

  test('a 24-node ring with crashed nodes, lost messages, stale and damaged replicas: every read returns the latest acknowledged write', async () => {
    const sim = await settledRing('digest-faults', 24, { dht: { antiEntropyIntervalMs: 3_600_000, housekeepingIntervalMs: 3_600_000 } });
    const random = sim.ring.env.random.fork('digest-faults');
    const ids = Array.from({ length: 40 }, (_, i) => idFor(`doc:faults-${i}`, Scope.GLOBAL));
    const latest = new Map<string, { version: number; n: number }>();
    for (let i = 0; i < ids.length; i += 10) {
      const batch = ids.slice(i, i + 10).map((id, j) => sim.dht(sim.ring.randomLive()).put<Doc>(id, { type: 'doc', n: (i + j) * 10 }));
      for (const r of await sim.settle(Promise.all(batch))) latest.set(r.id.hex, { version: r.version, n: r.body.n });
    }
    // Two nodes will crash; the other faults go to keys whose replica set keeps both.
    const crashed = [sim.ring.live()[5]!, sim.ring.live()[17]!];
    let stale = 0;
    let damaged = 0;
    for (const [i, id] of ids.entries()) {
      const set = sim.trueReplicaSet(id, 4);
      const hit = set.filter((n) => crashed.includes(n)).length;
      // One replica misses the next write (cut off while it is made): it keeps the old version.
      const victim = set.filter((n) => !crashed.includes(n))[i % (4 - hit)]!;
      sim.ring.network.partition([[victim.addr]]);
      const writer = sim.dht(sim.ring.live().find((n) => n !== victim)!);
      const r = await sim.settle(writer.put<Doc>(id, { type: 'doc', n: i * 10 + 1, version: latest.get(id.hex)!.version }));
      sim.ring.network.heal();
      latest.set(id.hex, { version: r.version, n: r.body.n });
      if (sim.dht(victim).localGet(id)!.v < r.version) stale++;
      if (hit === 0 && i % 2 === 0) {
        // And another replica's copy of the new version rots on disk.
        const rot = set.find((n) => n !== victim && sim.dht(n).localGet(id)?.v === r.version)!;
        assert.ok(sim.disks.get(rot.id.hex)!.tamper(id.hex, (it) => ({ ...it, b: it.b.replace('"n"', '"N"') })));
        damaged++;
      }
    }
    assert.ok(stale >= 35 && damaged >= 10, `faults in place: ${stale} stale, ${damaged} damaged`);
    for (const n of crashed) sim.ring.crash(n);
    sim.ring.network.setLoss(0.02);
    // Readers on random live nodes, several reads per key, right after the crashes and under loss.
    let reads = 0;
    for (let round = 0; round < 3; round++) {
      const batch = ids.map(async (id) => {
        const node = random.pick(sim.ring.live());
        const r = await sim.dht(node).get<Doc>(id);
        reads++;
        const want = latest.get(id.hex)!;
        assert.equal(r?.version, want.version, `${id.hex.slice(0, 8)} read at the acknowledged version`);
        assert.equal(r?.body.n, want.n, `${id.hex.slice(0, 8)} read with the acknowledged body`);
      });
      await sim.settle(Promise.all(batch));
    }
    assert.equal(reads, 3 * ids.length);
    sim.ring.network.setLoss(0);
    await sim.run(1_000);
    const stats = sim.ring.live().map((n) => sim.dht(n).stats);
    const sum = (f: (s: DhtStats) => number): number => stats.reduce((a, s) => a + f(s), 0);
    assert.ok(sum((s) => s.readRepairs) > 0, 'reads repaired stale or damaged copies');
    assert.ok(sum((s) => s.readDigestMismatches) > 0, 'some reads fetched a newer copy than the one in hand');
    assert.ok(sum((s) => s.readDigests) > sum((s) => s.readFullCopies), 'most replica answers were digests');
  });
});
