/**
 * The chunk store in the simulator (virtual time, fixed seeds, real PastryNodes, messages
 * round-tripped through the real codec): chunks land on their replica sets, survive the crash of
 * two neighbouring holders (re-replicated back to three live copies, readable byte for byte from
 * anywhere), a restarted node's copies that moved elsewhere are handed over and dropped, and
 * damaged copies are never read, found by the scrubber and restored from replicas.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SimRing } from '../../../src/sim/ring.ts';
import type { SimNode } from '../../../src/sim/ring.ts';
import { MemoryChunkEngine } from '../../../src/cloud/s3/chunks/engine.ts';
import { ChunkStore, chunkHash, chunkId } from '../../../src/cloud/s3/chunks/store.ts';
import { ChunkScrubber } from '../../../src/cloud/s3/chunks/scrub.ts';
import { pattern } from './harness.ts';

interface Harness {
  ring: SimRing;
  /** Engines by node address: they outlive a crash, as a disk does. */
  engines: Map<string, MemoryChunkEngine>;
  store(node: SimNode): ChunkStore;
}

function harness(seed: string): Harness {
  const ring = new SimRing({ seed, network: { codec: true } });
  const engines = new Map<string, MemoryChunkEngine>();
  ring.onNodeCreated((node) => {
    let engine = engines.get(node.addr);
    if (!engine) engines.set(node.addr, (engine = new MemoryChunkEngine()));
    node.attachments.set('chunks', new ChunkStore(node.env, node.pastry, engine, { replicas: 3, writeQuorum: 2, requestTimeoutMs: 2000, maintenanceDelayMs: 300 }));
  });
  return { ring, engines, store: (node) => node.attachments.get('chunks') as ChunkStore };
}

/** Runs the simulation until `p` settles. */
async function settle<T>(ring: SimRing, p: Promise<T>, what: string, timeoutMs = 30_000): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  p.then(
    (v) => {
      value = v;
      done = true;
    },
    (e: unknown) => {
      error = e;
      done = true;
    },
  );
  await ring.runUntil(() => done, timeoutMs, what);
  if (error !== undefined) throw error;
  return value as T;
}

/** Makes the first write to `engine` fail as a disk error would; returns the engine. */
function failFirstWrite(engine: MemoryChunkEngine): MemoryChunkEngine {
  const put = engine.put.bind(engine);
  let failures = 0;
  engine.put = async (...args: Parameters<typeof put>) => {
    if (failures++ === 0) throw new Error('EIO: i/o error');
    return put(...args);
  };
  return engine;
}

/** Live nodes holding `hash`. */
function holders(h: Harness, hash: string): SimNode[] {
  return h.ring.live().filter((n) => h.store(n).engine.stat(hash) !== undefined);
}

describe('chunk store in the simulator', () => {
  test('chunks are stored on their replica sets, re-replicated after two neighbouring holders crash, and readable from every node', async () => {
    const h = harness('chunks-crash');
    await h.ring.build(12);
    await h.ring.runFor(3_000);
    const chunks = Array.from({ length: 60 }, (_, i) => pattern(1000 + i * 37, i + 1));
    const hashes = await settle(h.ring, Promise.all(chunks.map((c) => h.store(h.ring.randomLive()).put(c))), 'puts');
    assert.deepEqual(hashes, chunks.map((c) => chunkHash(c)));
    await h.ring.runFor(1_000);
    for (const hash of hashes) {
      const set = h.store(h.ring.closestLive(chunkId(hash))!).node.replicaSet(chunkId(hash), 3);
      assert.equal(set.length, 3);
      assert.deepEqual(holders(h, hash).map((n) => n.id.hex).sort(), set.map((m) => m.id.hex).sort(), 'held by exactly its replica set');
    }

    // Crash the two nodes nearest to the first chunk: one copy is left of it.
    const victims = h.ring.live().sort((a, b) => compareNearness(hashes[0]!, a, b)).slice(0, 2);
    for (const v of victims) h.ring.crash(v);
    assert.equal(holders(h, hashes[0]!).length, 1);
    await h.ring.runFor(10_000);
    for (const [i, hash] of hashes.entries()) {
      assert.equal(holders(h, hash).length, 3, `chunk ${i} back to three live copies`);
    }
    // Every chunk from every live node, byte for byte.
    const reads = h.ring.live().flatMap((n, j) => hashes.filter((_, i) => i % 5 === j % 5).map(async (hash) => ({ hash, data: await h.store(n).get(hash) })));
    for (const { hash, data } of await settle(h.ring, Promise.all(reads), 'reads')) {
      assert.ok(data.equals(chunks[hashes.indexOf(hash)]!));
    }
  });

  test('a member whose chunk store closed (its node stopping) refuses at once: puts through its set are not held up until the request timeout', async () => {
    const h = harness('chunks-closed-member');
    await h.ring.build(8);
    await h.ring.runFor(3_000);
    const writer = h.ring.live()[0]!;
    const closing = h.ring.live().find((n) => n !== writer)!;
    // Chunks whose replica set has the closing member (and not the writer).
    const chunks: Buffer[] = [];
    for (let seed = 1; chunks.length < 6; seed++) {
      const data = pattern(3000, seed);
      const set = h.store(writer).node.replicaSet(chunkId(chunkHash(data)), 3);
      if (set.some((m) => m.id.hex === closing.id.hex) && !set.some((m) => m.id.hex === writer.id.hex)) chunks.push(data);
    }
    h.store(closing).close();
    // The writer's puts hold a slot (4) until every member answered: a member that never answers
    // would hold them for the request timeout (2 s here), and the fifth put would wait for it.
    const started = writer.env.now();
    await settle(h.ring, Promise.all(chunks.map((c) => h.store(writer).put(c))), 'puts with a closed member');
    const elapsed = writer.env.now() - started;
    assert.ok(elapsed < 1000, `six puts took ${elapsed} ms of virtual time`);
    for (const c of chunks) assert.equal(h.store(closing).engine.stat(chunkHash(c)), undefined, 'the closed member stored nothing');
  });

  test('a copy that failed after the put reached its quorum is sent again within seconds, not left to the next maintenance pass', async () => {
    const h = harness('chunks-late-copy');
    await h.ring.build(8);
    await h.ring.runFor(3_000);
    const data = pattern(5000, 99);
    const hash = chunkHash(data);
    const writer = h.ring.live()[0]!;
    const set = h.store(writer).node.replicaSet(chunkId(hash), 3);
    const hiccup = set.find((m) => m.id.hex !== writer.id.hex)!;
    // One member's disk fails its first write: the quorum (two) acknowledges without it.
    const engine = failFirstWrite(h.engines.get(hiccup.addr)!);
    const stored = await settle(h.ring, h.store(writer).put(data), 'put with one member failing');
    assert.equal(stored, hash);
    assert.equal(engine.stat(hash), undefined, 'the failing member has no copy when the put returns');
    // It is sent again a second after it failed; the full maintenance pass is ten minutes away.
    await h.ring.runUntil(() => h.store(writer).stats.repairs === 1, 5_000, 'the writer resending the third copy');
    assert.ok(engine.stat(hash) !== undefined, 'the member holds it now');
    assert.equal(holders(h, hash).length, 3);
  });

  test('a put made while a member was suspected (left out of the set) sends it its copy once it is trusted again, not at the next maintenance pass', async () => {
    const h = harness('chunks-suspect');
    await h.ring.build(3);
    await h.ring.runFor(3_000);
    const [writer, member, other] = h.ring.live() as [SimNode, SimNode, SimNode];
    // The member stops answering for a moment: a copy sent to it meanwhile is not acknowledged,
    // and the writer suspects it (no leaf-set change: it is probed, answers, and stays).
    h.ring.network.partition([[member.addr]]);
    void h.store(writer).put(pattern(3000, 1)).catch(() => undefined);
    const data = pattern(3000, 2);
    const id = chunkId(chunkHash(data));
    await h.ring.runUntil(() => h.store(writer).node.replicaSet(id, 3).length === 2, 10_000, 'the writer suspecting the member');
    h.ring.network.heal();
    // A put now goes to the two trusted nodes: both store it, the quorum is reached.
    const hash = await settle(h.ring, h.store(writer).put(data), 'put while the member is suspected');
    assert.deepEqual(holders(h, hash).map((n) => n.addr).sort(), [writer.addr, other.addr].sort());
    await h.ring.runUntil(() => h.store(writer).node.replicaSet(id, 3).length === 3, 5_000, 'the member trusted again');
    assert.ok(writer.pastry.leafSetMembers().some((m) => m.addr === member.addr), 'the member stayed in the leaf set (no maintenance pass was triggered)');
    await h.ring.runUntil(() => holders(h, hash).length === 3, 10_000, 'the third copy');
  });

  test('a re-replication pass that outlives a membership change sends no copy to a node no longer in the set', async () => {
    const h = harness('chunks-stale-push');
    await h.ring.build(6);
    await h.ring.runFor(3_000);
    const chunks = Array.from({ length: 40 }, (_, i) => pattern(2000 + i, 300 + i));
    const hashes = await settle(h.ring, Promise.all(chunks.map((c) => h.store(h.ring.randomLive()).put(c))), 'puts');
    await h.ring.runFor(2_000);
    const victim = h.ring.live()[2]!;
    // Copies are read slowly (a loaded disk): a pass pushing many of them takes seconds.
    for (const node of h.ring.live()) {
      if (node === victim) continue;
      const engine = h.store(node).engine as MemoryChunkEngine;
      const read = engine.read.bind(engine);
      engine.read = (hash: string) => node.env.sleep(300).then(() => read(hash));
    }
    h.ring.crash(victim);
    // Its neighbours notice and start pushing copies to the members that replace it ...
    await h.ring.runUntil(() => h.ring.live().reduce((n, x) => n + h.store(x).stats.replicated, 0) > 0, 10_000, 'copies being pushed');
    // ... and it comes back (with its disk) while they are at it.
    h.ring.restart(victim);
    await h.ring.runFor(60_000);
    for (const hash of hashes) {
      const root = h.ring.closestLive(chunkId(hash))!;
      const set = h.store(root).node.replicaSet(chunkId(hash), 3);
      assert.deepEqual(holders(h, hash).map((n) => n.id.hex).sort(), set.map((m) => m.id.hex).sort(), `chunk ${hash.slice(0, 8)} held by exactly its replica set`);
    }
  });

  test('a late copy goes to the member that lacks it, never to a node standing in for a member suspected meanwhile', async () => {
    const h = harness('chunks-late-copy-stand-in');
    await h.ring.build(6);
    await h.ring.runFor(3_000);
    const writer = h.ring.live()[0]!;
    const { left, right } = writer.pastry.leafSet();
    const neighbours = new Set([left[0]?.id.hex, right[0]?.id.hex]);
    // A chunk whose set leaves the writer out and has a member that is not the writer's ring
    // neighbour (so nothing it sends on its own clears a suspicion of it in time).
    let data = pattern(3000, 1);
    let set = writer.pastry.replicaSet(chunkId(chunkHash(data)), 3);
    for (let seed = 2; set.some((m) => m.id.hex === writer.id.hex) || !set.slice(1).some((m) => !neighbours.has(m.id.hex)); seed++) {
      data = pattern(3000, seed);
      set = writer.pastry.replicaSet(chunkId(chunkHash(data)), 3);
    }
    const hash = chunkHash(data);
    const failing = set[0]!;
    const suspected = set.slice(1).find((m) => !neighbours.has(m.id.hex))!;
    const standIn = writer.pastry.replicaSet(chunkId(hash), 4)[3]!;
    // The first member's disk fails its first write: its copy is sent again a second later ...
    failFirstWrite(h.engines.get(failing.addr)!);
    await settle(h.ring, h.store(writer).put(data), 'put with one member failing');
    // ... by which time the writer suspects another member (as a late hop acknowledgement does).
    const peers = (writer.pastry as unknown as { peers: { ensure(h: unknown): unknown; setSuspect(p: unknown, s: boolean): void } }).peers;
    peers.setSuspect(peers.ensure(suspected), true);
    assert.ok(writer.pastry.replicaSet(chunkId(hash), 3).some((m) => m.id.hex === standIn.id.hex), 'the stand-in is in the set as routing sees it');
    await h.ring.runUntil(() => h.engines.get(failing.addr)!.stat(hash) !== undefined, 10_000, 'the late copy');
    await h.ring.runFor(8_000);
    assert.equal(h.engines.get(standIn.addr)!.stat(hash), undefined, 'the stand-in got no copy');
    assert.deepEqual(holders(h, hash).map((n) => n.id.hex).sort(), set.map((m) => m.id.hex).sort());
  });

  test('a copy out of place is handed over and dropped even while a member of its set is suspected', async () => {
    const h = harness('chunks-stray-suspect');
    await h.ring.build(5);
    await h.ring.runFor(3_000);
    const data = pattern(3500, 41);
    const hash = await settle(h.ring, h.store(h.ring.live()[0]!).put(data), 'put');
    await h.ring.runUntil(() => holders(h, hash).length === 3, 5_000, 'three copies');
    // A node outside the set holds a copy too (it stood in for a member that came back).
    const stray = h.ring.live().find((n) => h.store(n).engine.stat(hash) === undefined)!;
    await h.store(stray).engine.put(hash, data, stray.env.now());
    // Its pass runs while it suspects a member of the set: it must not take itself for one.
    const set = stray.pastry.replicaSet(chunkId(hash), 3);
    const peers = (stray.pastry as unknown as { peers: { ensure(h: unknown): unknown; setSuspect(p: unknown, s: boolean): void } }).peers;
    peers.setSuspect(peers.ensure(set[0]!), true);
    assert.ok(stray.pastry.replicaSet(chunkId(hash), 3).some((m) => m.id.hex === stray.id.hex), 'the stray is in the set as routing sees it');
    await settle(h.ring, h.store(stray).maintain(), 'the stray node\'s pass');
    assert.equal(h.store(stray).engine.stat(hash), undefined, 'the copy out of place was dropped');
    assert.equal(holders(h, hash).length, 3);
  });

  test('a read a member was serving when its store closed (its node stopping) is still answered, not left to time out', async () => {
    const h = harness('chunks-closed-while-reading');
    await h.ring.build(5);
    await h.ring.runFor(3_000);
    const data = pattern(3000, 51);
    const hash = await settle(h.ring, h.store(h.ring.live()[0]!).put(data), 'put');
    await h.ring.runUntil(() => holders(h, hash).length === 3, 5_000, 'three copies');
    const reader = h.ring.live().find((n) => h.store(n).engine.stat(hash) === undefined)!;
    const nearest = h.store(reader).node.replicaSet(chunkId(hash), 3)[0]!;
    const member = h.ring.live().find((n) => n.id.hex === nearest.id.hex)!;
    // The member's disk is slow: the read is under way when its store closes.
    const engine = h.store(member).engine as MemoryChunkEngine;
    const read = engine.read.bind(engine);
    engine.read = (x: string) => member.env.sleep(500).then(() => read(x));
    const started = reader.env.now();
    const got = h.store(reader).get(hash);
    await h.ring.runFor(100);
    h.store(member).close();
    const back = await settle(h.ring, got, 'the read');
    assert.ok(back.equals(data));
    const elapsed = reader.env.now() - started;
    assert.ok(elapsed < 1500, `the read took ${elapsed} ms of virtual time (the request timeout is 2000)`);
  });

  test('a put gives its buffer back only once every member stored the chunk; never when one failed (its copy is sent again from it)', async () => {
    const h = harness('chunks-release');
    await h.ring.build(8);
    await h.ring.runFor(3_000);
    const writer = h.ring.live()[0]!;
    const healthy = pattern(6000, 7);
    let released = 0;
    const put = h.store(writer).put(healthy, chunkHash(healthy), () => released++);
    // Given back after the last member answered: the put itself resolves at the quorum.
    await settle(h.ring, put, 'healthy put');
    await h.ring.runUntil(() => released === 1, 5_000, 'the buffer given back');
    assert.equal(holders(h, chunkHash(healthy)).length, 3);

    const data = pattern(7000, 8);
    const hash = chunkHash(data);
    const member = h.store(writer).node.replicaSet(chunkId(hash), 3).find((m) => m.id.hex !== writer.id.hex)!;
    failFirstWrite(h.engines.get(member.addr)!);
    let releasedAfterFailure = 0;
    await settle(h.ring, h.store(writer).put(data, hash, () => releasedAfterFailure++), 'put with one member failing');
    await h.ring.runUntil(() => h.store(writer).stats.repairs === 1, 5_000, 'the third copy sent again');
    await h.ring.runFor(2_000);
    assert.equal(releasedAfterFailure, 0, 'the buffer is never given back: the retry read it');
    assert.equal(holders(h, hash).length, 3);
  });

  test('a restarted node hands over the copies whose replica set moved on, then drops them', async () => {
    const h = harness('chunks-restart');
    await h.ring.build(10);
    await h.ring.runFor(3_000);
    const chunks = Array.from({ length: 40 }, (_, i) => pattern(500 + i, 1000 + i));
    const hashes = await settle(h.ring, Promise.all(chunks.map((c) => h.store(h.ring.randomLive()).put(c))), 'puts');
    await h.ring.runFor(1_000);
    const victim = h.ring.live()[3]!;
    const held = [...h.engines.get(victim.addr)!.entries()].length;
    assert.ok(held > 0);
    h.ring.crash(victim);
    await h.ring.runFor(8_000);
    // New nodes join while it is away: some of its chunks now belong to them.
    await h.ring.build(4);
    await h.ring.runFor(5_000);
    const back = h.ring.restart(victim);
    await h.ring.runUntil(() => back.pastry.isReady, 30_000, 'restart');
    await settle(h.ring, Promise.all(h.ring.live().map((n) => h.store(n).maintain())), 'maintenance');
    await h.ring.runFor(2_000);
    for (const [i, hash] of hashes.entries()) {
      const set = h.store(h.ring.closestLive(chunkId(hash))!).node.replicaSet(chunkId(hash), 3).map((m) => m.id.hex).sort();
      assert.deepEqual(holders(h, hash).map((n) => n.id.hex).sort(), set, `chunk ${i}: exactly its current replica set holds it`);
    }
  });

  test('damaged copies: a read never returns them (a replica answers instead), the scrubber finds the rest, and both restore them from replicas', async () => {
    const h = harness('chunks-damage');
    await h.ring.build(8);
    await h.ring.runFor(3_000);
    const chunks = Array.from({ length: 12 }, (_, i) => pattern(3000 + i * 101, 40 + i));
    const hashes = await settle(h.ring, Promise.all(chunks.map((c) => h.store(h.ring.randomLive()).put(c))), 'puts');
    await h.ring.runFor(2_000);
    const flip = (d: Buffer): Buffer => {
      const at = d.length >> 1;
      d.writeUInt8(d.readUInt8(at) ^ 0x40, at);
      return d;
    };

    // 1. A read through a holder whose copy rotted: the right bytes, and the copy is restored.
    const [reader] = holders(h, hashes[0]!);
    assert.ok(h.engines.get(reader!.addr)!.tamper(hashes[0]!, flip));
    assert.ok((await settle(h.ring, h.store(reader!).get(hashes[0]!), 'read of a damaged copy')).equals(chunks[0]!));
    await h.ring.runUntil(() => h.store(reader!).stats.restored === 1, 10_000, 'the damaged copy restored');
    assert.equal(h.store(reader!).stats.corrupt, 1);
    assert.ok((await settle(h.ring, h.engines.get(reader!.addr)!.read(hashes[0]!), 'local read'))?.equals(chunks[0]!), 'the copy on its disk is good again');

    // 2. A node without a copy reads from replicas: a rotten answer is passed over.
    const outsider = h.ring.live().find((n) => !holders(h, hashes[1]!).includes(n))!;
    for (const holder of holders(h, hashes[1]!).slice(0, 2)) h.engines.get(holder.addr)!.tamper(hashes[1]!, flip);
    assert.ok((await settle(h.ring, h.store(outsider).get(hashes[1]!), 'read past rotten answers')).equals(chunks[1]!));
    assert.ok(h.store(outsider).stats.corruptAnswers >= 1, 'a rotten answer was seen and passed over');

    // 3. The scrubbers find every damaged copy left (the two of chunk 1, one of chunk 2, a
    //    truncated one of chunk 3) and restore each from a good replica.
    const [third] = holders(h, hashes[2]!);
    h.engines.get(third!.addr)!.tamper(hashes[2]!, flip);
    const [fourth] = holders(h, hashes[3]!);
    h.engines.get(fourth!.addr)!.tamper(hashes[3]!, (d) => d.subarray(0, 100));
    const results = await settle(
      h.ring,
      Promise.all(h.ring.live().map((n) => new ChunkScrubber(n.env, h.store(n), { enabled: false, bytesPerSecond: 1024 * 1024, intervalMs: 3600_000 }).runPass())),
      'a scrub pass on every node',
      120_000,
    );
    const found = results.reduce((sum, r) => sum + r.corrupt, 0);
    assert.equal(found, 4, 'four damaged copies found');
    assert.equal(results.reduce((sum, r) => sum + r.restored, 0), 4, 'and restored');
    assert.ok(results.every((r) => r.complete));
    for (const [i, hash] of hashes.entries()) {
      assert.equal(holders(h, hash).length, 3, `chunk ${i} has three copies`);
      for (const n of holders(h, hash)) assert.ok((await settle(h.ring, h.engines.get(n.addr)!.read(hash), 'read'))!.equals(chunks[i]!), `chunk ${i} is whole on ${n.addr}`);
    }
    // The rate limit holds: 1 MiB/s over the bytes each node read.
    for (const r of results) assert.ok(r.finishedAt - r.startedAt >= Math.floor((r.bytes / (1024 * 1024)) * 1000) - 1, 'the scrubber kept to its rate');

    // 4. Re-replication from a rotten copy: the member lacking the chunk refuses it, and the
    //    sender finds its own copy damaged and restores it.
    const hash = hashes[5]!;
    const set = h.store(h.ring.closestLive(chunkId(hash))!).node.replicaSet(chunkId(hash), 3);
    const [nearest, , farthest] = set.map((m) => h.ring.live().find((n) => n.id.hex === m.id.hex)!);
    h.engines.get(nearest!.addr)!.tamper(hash, flip);
    assert.notEqual(await settle(h.ring, h.engines.get(farthest!.addr)!.quarantine(hash, 0), 'drop a copy'), undefined);
    const before = { ...h.store(nearest!).stats };
    await settle(h.ring, Promise.all(h.ring.live().map((n) => h.store(n).maintain())), 'maintenance');
    await h.ring.runUntil(() => h.store(nearest!).stats.corrupt > before.corrupt && h.store(nearest!).stats.restored > before.restored, 20_000, 'the sender finds its copy damaged and restores it');
    assert.equal(holders(h, hash).length, 2, 'the damaged copy was not passed on');
    // The next pass sends the good copy.
    await settle(h.ring, Promise.all(h.ring.live().map((n) => h.store(n).maintain())), 'maintenance');
    await h.ring.runUntil(() => holders(h, hash).length === 3, 20_000, 'three good copies again');
    for (const n of holders(h, hash)) assert.ok((await settle(h.ring, h.engines.get(n.addr)!.read(hash), 'read'))?.equals(chunks[5]!), `whole on ${n.addr}`);
  });

  test("every node names a chunk's true replica set, also for chunks near the ends of its leaf set (it asks the root)", async () => {
    const h = harness('chunks-edge');
    await h.ring.build(60);
    await h.ring.runFor(2_000);
    const live = h.ring.live();
    let nearEdge = 0;
    for (let i = 0; i < 40; i++) {
      const hash = chunkHash(pattern(64, 900 + i));
      const truth = [...live].sort((a, b) => compareNearness(hash, a, b)).slice(0, 3).map((n) => n.id.hex);
      for (const node of live) {
        const local = node.pastry.replicaSet(chunkId(hash), 3).map((x) => x.id.hex);
        if (node.pastry.inLeafSetRange(chunkId(hash)) && local.join() !== truth.join()) nearEdge++;
        const set = await settle(h.ring, h.store(node).replicaSet(hash), 'replica set');
        assert.deepEqual(set.map((x) => x.id.hex), truth, `node ${node.index} for chunk ${hash.slice(0, 8)}`);
      }
    }
    assert.ok(nearEdge > 0, `some nodes' own view was wrong (${nearEdge}): the case is exercised`);
  });
});

function compareNearness(hash: string, a: SimNode, b: SimNode): number {
  const key = chunkId(hash).big;
  const size = 1n << 160n;
  const dist = (x: bigint): bigint => {
    const d = x > key ? x - key : key - x;
    return d > size / 2n ? size - d : d;
  };
  const da = dist(a.id.big);
  const db = dist(b.id.big);
  return da < db ? -1 : da > db ? 1 : 0;
}
