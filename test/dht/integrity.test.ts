/**
 * Record checksums: every item carries a CRC32 of its content, set by the root; a damaged copy
 * (rotted on disk, altered in memory or in transit) is never served or re-replicated — it is
 * quarantined and anti-entropy brings a good copy back.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { Scope, idFor } from '../../src/id/index.ts';
import type { Id } from '../../src/id/index.ts';
import { LmdbStorage, MemoryStorage } from '../../src/dht/index.ts';
import type { Entity, StoredItem } from '../../src/dht/index.ts';
import { itemChecksum, itemIntact, sealItem } from '../../src/dht/item-checksum.ts';
import { LocalStore } from '../../src/dht/local-store.ts';
import type { CorruptionSource } from '../../src/dht/local-store.ts';
import { makeItem, withoutFields } from '../../src/dht/record.ts';
import { dhtRing } from './helpers.ts';

interface Doc extends Entity {
  n: number;
  text: string;
}

const HISTORY = { limit: 4, memoryMs: 60_000 };

function item(key: string, body: string, version = 1, previous?: StoredItem): StoredItem {
  return makeItem(key, { type: 'doc', uri: null, deleted: false, json: body }, version, `op-${key.slice(-4)}-${version}`, previous, HISTORY, 1_700_000_000_000 + version, 'application/json');
}

const KEY = 'ab'.repeat(20);

describe('item checksums', () => {
  test('the root seals every new version, and any change of any field breaks the seal', () => {
    const v1 = item(KEY, '{"n":1}');
    const v2 = item(KEY + '/sort/ключ', '{"text":"héllo ✓"}', 2, v1);
    for (const it of [v1, v2]) {
      assert.equal(typeof it.c, 'number');
      assert.ok(itemIntact(it));
    }
    const changes: Record<string, (i: StoredItem) => StoredItem> = {
      key: (i) => ({ ...i, k: i.k.replace('ab', 'ba') }),
      version: (i) => ({ ...i, v: i.v + 1 }),
      op: (i) => ({ ...i, op: i.op + 'x' }),
      deleted: (i) => ({ ...i, d: !i.d }),
      type: (i) => ({ ...i, t: 'other' }),
      uri: (i) => ({ ...i, u: '' }),
      contentType: (i) => ({ ...i, ct: 'text/plain' }),
      writtenAt: (i) => ({ ...i, at: i.at + 1 }),
      history: (i) => ({ ...i, h: [...i.h, ['op-z', 5]] }),
      historyDropped: (i) => ({ ...i, hf: i.hf + 1 }),
      body: (i) => ({ ...i, b: i.b.replace('1', '2').replace('✓', '✗') }),
    };
    for (const [what, change] of Object.entries(changes)) assert.equal(itemIntact(change(v2)), false, `a changed ${what} is detected`);
    // Field boundaries cannot shift: the same characters split differently hash differently.
    const a = sealItem({ ...v1, t: 'ab', ct: 'c' });
    assert.notEqual(itemChecksum({ ...a, t: 'a', ct: 'bc' }), a.c);
  });

  test('an item written before checksums (no c) is accepted; a sealed one survives msgpack both ways', () => {
    const legacy = { ...item(KEY, '{}') };
    delete legacy.c;
    assert.ok(itemIntact(legacy));
    const sealed = item(KEY, '{"text":"x"}', 3, item(KEY, '{}', 2));
    const packr = new Packr({ useRecords: false });
    const back = packr.unpack(packr.pack(sealed)) as StoredItem;
    assert.ok(itemIntact(back));
    assert.equal(back.c, sealed.c);
  });
});

describe('a replica store with damaged copies', () => {
  function tamperedEngine(): { engine: MemoryStorage; good: StoredItem; bad: StoredItem } {
    const engine = new MemoryStorage();
    const good = item('cd'.repeat(20), '{"n":1}');
    const bad = item(KEY, '{"n":7}');
    void engine.put(good);
    void engine.put(bad);
    engine.tamper(bad.k, (i) => ({ ...i, b: '{"n":8}' }));
    return { engine, good, bad };
  }

  test('a copy damaged at rest is not read at start; the scrub check quarantines it, unindexes it and reports it', () => {
    const { engine, good, bad } = tamperedEngine();
    const seen: [string, CorruptionSource][] = [];
    const store = new LocalStore(engine, (i, source) => seen.push([i.k, source]));
    const all = store.digest('0'.repeat(40), 'f'.repeat(40));
    assert.equal(store.size, 2, 'start-up sums up the index entries, which the damage did not touch');
    assert.deepEqual(seen, [], 'no record is read at start');
    store.check(good.k);
    store.check(bad.k);
    assert.equal(store.size, 1, 'only the intact item stays indexed');
    assert.deepEqual(seen, [[bad.k, 'stored']]);
    assert.equal(store.digest('0'.repeat(40), 'f'.repeat(40)).n, all.n - 1, 'and the range digest no longer claims it');
    assert.equal(engine.get(bad.k), undefined);
    assert.equal(engine.quarantinedCount, 1);
    assert.equal(engine.quarantinedItems.get(bad.k)?.b, '{"n":8}', 'the damaged bytes are kept for an operator');
    assert.deepEqual(store.get(good.k), good);
  });

  test('a copy damaged after start reads as absent, leaves the digest, and a good copy replaces it', () => {
    const engine = new MemoryStorage();
    const seen: CorruptionSource[] = [];
    const store = new LocalStore(engine, (_i, source) => seen.push(source));
    const it = item(KEY, '{"n":1}');
    store.apply(it, 'write');
    const full = store.digest('0'.repeat(40), 'f'.repeat(40));
    engine.tamper(it.k, (i) => ({ ...i, b: '{"n":2}' }));
    assert.equal(store.get(it.k), undefined, 'never served');
    assert.deepEqual(seen, ['stored']);
    assert.notDeepEqual(store.digest('0'.repeat(40), 'f'.repeat(40)), full, 'the range digest no longer claims the item');
    // Anti-entropy's merge of the same version (from a replica) is accepted again.
    const r = store.apply(it, 'merge');
    assert.ok(r.applied);
    assert.deepEqual(store.get(it.k), it);
    assert.deepEqual(store.digest('0'.repeat(40), 'f'.repeat(40)), full);
  });

  test('an item arriving damaged is refused and nothing is stored', () => {
    const seen: CorruptionSource[] = [];
    const store = new LocalStore(new MemoryStorage(), (_i, source) => seen.push(source));
    const it = { ...item(KEY, '{"n":1}'), b: '{"n":3}' };
    const r = store.apply(it, 'write');
    assert.equal(r.applied, false);
    assert.equal(r.corrupt, true);
    assert.equal(store.get(KEY), undefined);
    assert.deepEqual(seen, ['arrived']);
  });

  test('a partial copy from a scan that left fields out is refused if ever offered for storage', () => {
    const full = item(KEY, JSON.stringify({ n: 1, data: 'x'.repeat(2000) }));
    const partial = withoutFields(full, ['data']);
    assert.equal(partial.b, '{"n":1}');
    assert.equal(full.b.length > 2000, true, 'the stored item is untouched');
    const store = new LocalStore(new MemoryStorage(), () => undefined);
    const r = store.apply(partial, 'write');
    assert.equal(r.corrupt, true);
    assert.equal(store.get(KEY), undefined);
  });

  test('walking every item skips and quarantines the damaged ones', () => {
    const engine = new MemoryStorage();
    const store = new LocalStore(engine);
    const good = item('cd'.repeat(20), '{"n":1}');
    const other = item(KEY, '{"n":5}');
    store.apply(good, 'write');
    store.apply(other, 'write');
    engine.tamper(other.k, (i) => ({ ...i, v: 9 }));
    assert.deepEqual([...store.all()].map((i) => i.k), [good.k]);
    assert.equal(engine.quarantinedCount, 1);
    assert.equal(store.size, 1);
  });

  test('LMDB: the quarantine survives a restart and the damaged item stays out of the store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pi-integrity-'));
    try {
      const engine = await LmdbStorage.open(dir);
      const good = item('cd'.repeat(20), '{"n":1}');
      const it = item(KEY, '{"n":1}');
      await engine.put(good);
      // At-rest damage: the bytes of the value change, the checksum written with them does not.
      await engine.put({ ...it, b: '{"n":9}' });
      await engine.close();
      const reopened = await LmdbStorage.open(dir);
      const seen: string[] = [];
      const store = new LocalStore(reopened, (i) => seen.push(i.k));
      assert.equal(store.size, 2);
      assert.equal(store.get(KEY), undefined, 'the first read finds the damage');
      assert.deepEqual(seen, [KEY]);
      assert.equal(store.size, 1);
      assert.equal(reopened.entry(KEY), undefined, 'its index entry goes with it');
      await reopened.close();
      const third = await LmdbStorage.open(dir);
      assert.equal(third.get(KEY), undefined, 'moved out of the items');
      assert.equal(third.quarantinedCount, 1, 'kept in the quarantine database');
      assert.equal(new LocalStore(third).size, 1);
      await third.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('damaged copies in a ring (simulator)', () => {
  test('40 damaged copies over a 24-node ring: no read returns damaged data, and every copy is restored', async () => {
    const sim = await dhtRing('integrity-ring', 24, { dht: { housekeepingIntervalMs: 20_000, antiEntropyIntervalMs: 10_000 } });
    const ids: Id[] = [];
    const bodies = new Map<string, string>();
    for (let i = 0; i < 300; i += 25) {
      const batch = [];
      for (let j = i; j < i + 25; j++) {
        const id = idFor(`doc:integrity-${j}`, Scope.GLOBAL);
        const text = `document ${j} ${'x'.repeat(j % 97)}`;
        ids.push(id);
        bodies.set(id.hex, text);
        batch.push(sim.dht(sim.ring.randomLive()).put<Doc>(id, { type: 'doc', n: j, text }));
      }
      await sim.settle(Promise.all(batch));
    }
    // Damage 40 stored copies (distinct ids), on whichever replicas hold them.
    const damaged: { node: string; key: string; version: number }[] = [];
    for (let i = 0; damaged.length < 40; i += 7) {
      const id = ids[i % ids.length]!;
      if (damaged.some((d) => d.key === id.hex)) continue;
      const holdersOf = sim.ring.live().filter((n) => sim.dht(n).localGet(id));
      const node = holdersOf[i % holdersOf.length]!;
      const disk = sim.disks.get(node.id.hex)!;
      const version = disk.get(id.hex)!.v;
      assert.ok(disk.tamper(id.hex, (it) => ({ ...it, b: it.b.replace('document', 'DOCUMENT') })));
      damaged.push({ node: node.id.hex, key: id.hex, version });
    }
    // Every read, from every node in turn, returns the written text.
    const live = sim.ring.live();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const r = await sim.settle(sim.dht(live[i % live.length]!).get<Doc>(id));
      assert.equal(r?.body.text, bodies.get(id.hex), `read ${i} returns the written data`);
    }
    // Housekeeping finds the copies no read touched; anti-entropy brings good ones back.
    await sim.run(90_000);
    for (const d of damaged) {
      const copy = sim.disks.get(d.node)!.get(d.key);
      assert.ok(copy, `${d.key.slice(0, 8)} restored on ${d.node.slice(0, 8)}`);
      assert.ok(itemIntact(copy), 'the restored copy is intact');
      assert.equal(copy.v, d.version);
      assert.ok(!copy.b.includes('DOCUMENT'));
    }
    const total = (f: (s: { recordsCorrupt: number }) => number): number => sim.ring.live().reduce((a, n) => a + f(sim.dht(n).stats), 0);
    assert.equal(total((s) => s.recordsCorrupt), 40, 'each damaged copy found once');
    assert.equal(
      sim.ring.live().reduce((a, n) => a + sim.disks.get(n.id.hex)!.quarantinedCount, 0),
      40,
      'each kept in its node quarantine',
    );
  });
});

describe('housekeeping over a large store', () => {
  test('works from the index: a pass reads only its record-scrub budget, and the scrub covers the store pass by pass', async () => {
    const sim = await dhtRing('hk-scrub', 6, { dht: { housekeepingIntervalMs: 3_600_000, recordScrubItems: 100 } });
    for (let i = 0; i < 400; i += 50) {
      const batch = [];
      for (let j = i; j < i + 50; j++) batch.push(sim.dht(sim.ring.randomLive()).put<Doc>(idFor(`doc:hk-${j}`, Scope.GLOBAL), { type: 'doc', n: j, text: '' }));
      await sim.settle(Promise.all(batch));
    }
    const node = sim.ring.live()[0]!;
    const dht = sim.dht(node);
    const disk = sim.disks.get(node.id.hex)!;
    const held = dht.localSize;
    assert.ok(held > 150, `the node holds many records (${held})`);
    let reads = 0;
    const get = disk.get.bind(disk);
    disk.get = (k: string) => {
      reads++;
      return get(k);
    };
    const passes = Math.ceil(held / 100);
    for (let p = 0; p < passes; p++) {
      reads = 0;
      await sim.settle(dht.housekeeping());
      assert.equal(reads, Math.min(100, held - p * 100), `pass ${p} reads its scrub budget only`);
    }
    assert.equal(dht.stats.recordsScrubbed, held);
    await sim.settle(dht.housekeeping());
    assert.equal(dht.stats.recordScrubPasses, 1, 'the scrub wrapped after covering the store');
  });
});

describe('a record damaged on every replica', () => {
  test('is reported as unrestored by each holder (and reads as absent); one damaged on a single replica is restored, not reported', async () => {
    const sim = await dhtRing('integrity-lost', 10, { dht: { housekeepingIntervalMs: 20_000, antiEntropyIntervalMs: 10_000 } });
    const lost = idFor('doc:lost', Scope.GLOBAL);
    const kept = idFor('doc:kept', Scope.GLOBAL);
    const d = sim.dht(sim.ring.randomLive());
    await sim.settle(d.put<Doc>(lost, { type: 'doc', n: 1, text: 'lost' }));
    await sim.settle(d.put<Doc>(kept, { type: 'doc', n: 2, text: 'kept' }));
    const lostHolders = sim.ring.live().filter((n) => sim.dht(n).localGet(lost));
    assert.equal(lostHolders.length, 4);
    for (const n of lostHolders) sim.disks.get(n.id.hex)!.tamper(lost.hex, (it) => ({ ...it, b: it.b.replace('lost', 'LOST') }));
    const keptHolder = sim.ring.live().find((n) => sim.dht(n).localGet(kept))!;
    sim.disks.get(keptHolder.id.hex)!.tamper(kept.hex, (it) => ({ ...it, b: it.b.replace('kept', 'KEPT') }));
    await sim.run(120_000);
    const unrestored = sim.ring.live().reduce((a, n) => a + sim.dht(n).stats.recordsUnrestored, 0);
    assert.equal(unrestored, 4, 'each holder of the lost record reports it');
    assert.deepEqual(lostHolders.map((n) => sim.dht(n).stats.recordsUnrestored), [1, 1, 1, 1], 'by the nodes that held it');
    assert.equal(await sim.settle(d.get(lost)), undefined, 'no damaged bytes are served: it reads as absent');
    assert.equal((await sim.settle(d.get<Doc>(kept)))?.body.text, 'kept');
    assert.ok(itemIntact(sim.disks.get(keptHolder.id.hex)!.get(kept.hex)!), 'the single damaged copy was restored');
  });
});

describe('records written before checksums', () => {
  function legacy(key: string, body: string): StoredItem {
    const it = { ...item(key, body) };
    delete it.c;
    return it;
  }

  test('the scrub seals a stored one without changing its version or digest; damage is found from then on', () => {
    const engine = new MemoryStorage();
    const old = legacy(KEY, '{"n":1}');
    void engine.put(old);
    const stats = { recordsSealed: 0 };
    const store = new LocalStore(engine, undefined, { counters: stats });
    const digest = store.digest('0'.repeat(40), 'f'.repeat(40));
    store.check(KEY);
    const sealed = engine.get(KEY)!;
    assert.equal(sealed.c, itemChecksum(old), 'sealed with the checksum of its content');
    assert.deepEqual({ ...sealed, c: undefined }, { ...old, c: undefined }, 'nothing else changed');
    assert.deepEqual(store.digest('0'.repeat(40), 'f'.repeat(40)), digest, 'replicas still agree with it');
    assert.equal(stats.recordsSealed, 1);
    store.check(KEY);
    assert.equal(stats.recordsSealed, 1, 'a sealed item is not sealed again');
    engine.tamper(KEY, (i) => ({ ...i, b: '{"n":2}' }));
    assert.equal(store.get(KEY), undefined, 'damage after sealing is caught');
    assert.equal(engine.quarantinedCount, 1);
  });

  test('one arriving from a peer is stored sealed (the sender\'s object is left alone)', () => {
    const engine = new MemoryStorage();
    const stats = { recordsSealed: 0 };
    const store = new LocalStore(engine, undefined, { counters: stats });
    const arriving = legacy(KEY, '{"n":1}');
    assert.ok(store.apply(arriving, 'merge').applied);
    assert.equal(arriving.c, undefined);
    assert.equal(engine.get(KEY)?.c, itemChecksum(arriving));
    assert.equal(stats.recordsSealed, 1);
    assert.equal(store.apply(arriving, 'merge').applied, false, 'the same version again is a no-op');
  });

  test('housekeeping seals the legacy records of a ring node', async () => {
    const sim = await dhtRing('hk-seal', 6, { dht: { housekeepingIntervalMs: 3_600_000 } });
    const d = sim.dht(sim.ring.randomLive());
    for (let i = 0; i < 20; i++) await sim.settle(d.put<Doc>(idFor(`doc:seal-${i}`, Scope.GLOBAL), { type: 'doc', n: i, text: '' }));
    const node = sim.ring.live()[0]!;
    const disk = sim.disks.get(node.id.hex)!;
    const held = [...disk.range('')].map((i) => i.k);
    assert.ok(held.length > 0);
    for (const k of held) disk.tamper(k, (i) => ({ ...i, c: undefined }));
    await sim.settle(sim.dht(node).housekeeping());
    for (const k of held) assert.ok(disk.get(k)?.c !== undefined && itemIntact(disk.get(k)!), `${k} sealed`);
    assert.equal(sim.dht(node).stats.recordsSealed, held.length);
  });
});

describe('a record damaged on every replica, across restarts', () => {
  test('holders restarted before their check was due still report it (the check resumes from the quarantine)', async () => {
    const sim = await dhtRing('integrity-lost-restart', 10, { dht: { housekeepingIntervalMs: 20_000, antiEntropyIntervalMs: 10_000 } });
    const lost = idFor('doc:lost-restart', Scope.GLOBAL);
    await sim.settle(sim.dht(sim.ring.randomLive()).put<Doc>(lost, { type: 'doc', n: 1, text: 'lost' }));
    const holders = sim.ring.live().filter((n) => sim.dht(n).localGet(lost));
    assert.equal(holders.length, 4);
    for (const n of holders) {
      sim.disks.get(n.id.hex)!.tamper(lost.hex, (it) => ({ ...it, b: it.b.replace('lost', 'LOST') }));
      assert.equal(sim.dht(n).localGet(lost), undefined, 'quarantined on read');
    }
    // A copy quarantined long ago (its record restored, deleted and forgotten since) is not checked again.
    const ghost = idFor('doc:ghost', Scope.GLOBAL);
    const oldCopy = sim.disks.get(holders[0]!.id.hex)!.quarantinedItems.get(lost.hex)!;
    sim.disks.get(holders[0]!.id.hex)!.quarantinedItems.set(ghost.hex, { ...oldCopy, k: ghost.hex, qa: sim.now() - 8 * 24 * 3600_000 });
    assert.equal(typeof oldCopy.qa, 'number', 'the quarantine time is kept');
    await sim.run(1_000);
    const restarted = [];
    for (const n of holders) {
      sim.ring.crash(n);
      const fresh = sim.ring.restart(n);
      await sim.runUntil(() => fresh.status !== 'joining', 30_000);
      restarted.push(fresh);
    }
    await sim.run(120_000);
    assert.deepEqual(restarted.map((n) => sim.dht(n).stats.recordsUnrestored), [1, 1, 1, 1], 'each restarted holder reports it (and only it)');
  });
});
