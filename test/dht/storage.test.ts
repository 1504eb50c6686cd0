/**
 * Storage engines: the memory and LMDB engines behave alike (UTF-8 key order, ranges, reads of
 * uncommitted writes); LMDB persists records and the node id across reopen.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { open } from 'lmdb';
import { Id } from '../../src/id/index.ts';
import { LmdbStorage, MemoryStorage, compareUtf8, openNodeStorage } from '../../src/dht/index.ts';
import { SortedKeys } from '../../src/dht/storage/sorted.ts';
import type { StorageEngine, StoredItem } from '../../src/dht/index.ts';
import { LocalStore } from '../../src/dht/local-store.ts';
import { itemHash } from '../../src/dht/record.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pi-dht-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function item(k: string, v = 1, op = `op-${k}-${v}`): StoredItem {
  return { k, v, op, h: [], hf: 0, d: false, t: 'doc', u: null, ct: 'application/json', b: JSON.stringify({ k }), at: 0 };
}

/** A store after `steps` (put with a version increment, or remove), and the items it should hold. */
async function applySteps(steps: [string, string, number][]): Promise<{ store: LocalStore; held: Map<string, StoredItem> }> {
  const store = new LocalStore(new MemoryStorage());
  const held = new Map<string, StoredItem>();
  for (const [kind, k, v] of steps) {
    if (kind === 'remove') {
      await store.remove(k);
      held.delete(k);
    } else {
      const it = item(k, (held.get(k)?.v ?? 0) + v);
      store.apply(it, 'write');
      held.set(k, it);
    }
  }
  return { store, held };
}

/** The digest of the items whose position is within `[lo, hi]`, item by item. */
function walkedDigest(items: Iterable<StoredItem>, lo: string, hi: string): { n: number; h1: number; h2: number } {
  const d = { n: 0, h1: 0, h2: 0 };
  for (const it of items) {
    if (it.k.slice(0, 40) < lo || it.k.slice(0, 40) > hi) continue;
    const [h1, h2] = itemHash(it);
    d.n++;
    d.h1 = (d.h1 ^ h1) >>> 0;
    d.h2 = (d.h2 ^ h2) >>> 0;
  }
  return d;
}

const P = 'ab'.repeat(20);
const keys = [P, `${P}/a`, `${P}/b`, `${P}/ab`, `${P}/é`, `${P}/z`, `${P}/\u{1F600}`, `${P}/\uFF21`, 'cd'.repeat(20), '00'.repeat(20), `${'ef'.repeat(20)}/mp\u0001${'01a2'.repeat(10)}`];

async function exercise(engine: StorageEngine): Promise<void> {
  for (const k of keys) await engine.put(item(k));
  assert.equal(engine.size, keys.length);
  const all = [...engine.range('')].map((i) => i.k);
  assert.deepEqual(all, keys.slice().sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))), 'UTF-8 byte order');
  const part = [...engine.range(`${P}/`, `${P}0`)].map((i) => i.k.slice(41));
  assert.deepEqual(part, ['a', 'ab', 'b', 'z', 'é', '\uFF21', '\u{1F600}']);
  await engine.put(item(`${P}/a`, 2));
  assert.equal(engine.get(`${P}/a`)!.v, 2);
  await engine.remove(`${P}/b`);
  assert.equal(engine.get(`${P}/b`), undefined);
  assert.equal(engine.size, keys.length - 1);
  assert.deepEqual([...engine.range(`${P}/a`, `${P}/b`)].map((i) => i.k), [`${P}/a`, `${P}/ab`]);
  // The index follows the items: same keys, same order, the summary of what is stored.
  assert.deepEqual([...engine.entries('')], [...engine.range('')].map(({ k, v, op, d, at }) => ({ k, v, op, d, at })));
  assert.deepEqual([...engine.entries(`${P}/a`, `${P}/b`)].map((e) => [e.k, e.v]), [[`${P}/a`, 2], [`${P}/ab`, 1]]);
  assert.deepEqual(engine.entry(`${P}/a`), { k: `${P}/a`, v: 2, op: `op-${P}/a-2`, d: false, at: 0 });
  assert.equal(engine.entry(`${P}/b`), undefined, 'removed with its item');
  await engine.put({ ...item(`${P}/z`, 3), d: true, at: 1234 });
  assert.deepEqual(engine.entry(`${P}/z`), { k: `${P}/z`, v: 3, op: `op-${P}/z-3`, d: true, at: 1234 });
}

describe('storage engines', () => {
  test('memory engine: order, ranges, overwrite, remove', async () => {
    await exercise(new MemoryStorage());
  });

  test('LMDB engine: same behaviour; uncommitted writes are readable at once', async () => {
    const engine = await LmdbStorage.open(tempDir());
    await exercise(engine);
    const p = engine.put(item('11'.repeat(20), 5));
    assert.equal(engine.get('11'.repeat(20))?.v, 5, 'visible before commit');
    await p;
    assert.equal(engine.get('11'.repeat(20))?.v, 5);
    await engine.close();
  });

  test('LMDB index: walks merge the writes in flight with the committed entries, in order, and survive reopen', async () => {
    const dir = tempDir();
    const engine = await LmdbStorage.open(dir);
    const committed = ['10', '30', '50', '70'].map((p) => p.repeat(20));
    for (const k of committed) await engine.put(item(k));
    // In flight (not yet committed): a new key between, one past the end, an overwrite, a removal.
    const writes = [engine.put(item('20'.repeat(20))), engine.put(item('90'.repeat(20))), engine.put(item('30'.repeat(20), 2)), engine.remove('50'.repeat(20))];
    const walked = (start = '', end?: string): [string, number][] => [...engine.entries(start, end)].map((e) => [e.k.slice(0, 2), e.v]);
    assert.deepEqual(walked(), [['10', 1], ['20', 1], ['30', 2], ['70', 1], ['90', 1]]);
    assert.deepEqual(walked('20'.repeat(20), '70'.repeat(20)), [['20', 1], ['30', 2]], 'ranges apply to the writes in flight too');
    assert.equal(engine.entry('50'.repeat(20)), undefined);
    await Promise.all(writes);
    assert.deepEqual(walked(), [['10', 1], ['20', 1], ['30', 2], ['70', 1], ['90', 1]], 'the same once committed');
    await engine.close();
    const reopened = await LmdbStorage.open(dir);
    assert.deepEqual([...reopened.entries('')].map((e) => [e.k.slice(0, 2), e.v]), [['10', 1], ['20', 1], ['30', 2], ['70', 1], ['90', 1]]);
    await reopened.close();
  });

  test('LMDB index: a store written before the index gets it built at open, entry for entry; a build cut short is redone', async () => {
    const dir = tempDir();
    const many = Array.from({ length: 25_000 }, (_, i) => item(i.toString(16).padStart(40, '0'), 1 + (i % 3)));
    // What an older release left: the items only, no index and no format mark.
    const raw = open({ path: dir, compression: false, overlappingSync: false });
    const items = raw.openDB<StoredItem, string>({ name: 'items' });
    await Promise.all(many.map((it) => items.put(it.k, it)));
    await raw.close();
    const upgraded = await LmdbStorage.open(dir);
    const expected = many.map((it) => [it.k, it.v, it.op]);
    assert.deepEqual([...upgraded.entries('')].map((e) => [e.k, e.v, e.op]), expected, 'every item indexed (over several build pages)');
    await upgraded.close();
    // A build cut short (no format mark), then an item removed by an older release meanwhile:
    // the entries left are redone, the one whose item is gone removed.
    const again = open({ path: dir, compression: false, overlappingSync: false });
    await again.openDB({ name: 'meta' }).remove('indexFormat');
    await again.openDB<StoredItem, string>({ name: 'items' }).remove(many[7]!.k);
    await again.close();
    const rebuilt = await LmdbStorage.open(dir);
    const kept = expected.filter((e) => e[0] !== many[7]!.k);
    assert.deepEqual([...rebuilt.entries('')].map((e) => [e.k, e.v, e.op]), kept);
    await rebuilt.close();
    // An older release run here after the index existed (format mark left as it was) adds an
    // item: the counts differ, so the index is built again.
    const older = open({ path: dir, compression: false, overlappingSync: false });
    const extra = item('ff'.repeat(20), 4);
    await older.openDB<StoredItem, string>({ name: 'items' }).put(extra.k, extra);
    await older.close();
    const reopened = await LmdbStorage.open(dir);
    assert.deepEqual([...reopened.entries('')].map((e) => [e.k, e.v, e.op]), [...kept, [extra.k, 4, extra.op]]);
    await reopened.close();
  });

  test('compareUtf8 orders as UTF-8 bytes do', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        const expected = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
        assert.equal(Math.sign(compareUtf8(a, b)), expected);
      }),
      { numRuns: 2000 },
    );
  });

  test('SortedKeys: a set in UTF-8 order against a model, with ranges that survive deletions', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.string({ unit: 'grapheme', maxLength: 4 })), { maxLength: 300 }),
        fc.string({ unit: 'grapheme', maxLength: 3 }),
        fc.string({ unit: 'grapheme', maxLength: 3 }),
        (ops, a, b) => {
          const keys = new SortedKeys();
          const model = new Set<string>();
          for (const [add, k] of ops) {
            assert.equal(add ? keys.add(k) : keys.delete(k), add ? !model.has(k) : model.has(k));
            if (add) model.add(k);
            else model.delete(k);
          }
          assert.equal(keys.size, model.size);
          const [lo, hi] = compareUtf8(a, b) <= 0 ? [a, b] : [b, a];
          const expected = [...model].filter((k) => compareUtf8(k, lo) >= 0 && compareUtf8(k, hi) < 0).sort(compareUtf8);
          const seen: string[] = [];
          keys.forEachIn(lo, hi, (k) => seen.push(k));
          assert.deepEqual(seen, expected);
          // Deleting each key as it is yielded, and every second time the one after it too: the
          // iteration goes on with the smallest key left after the last one yielded.
          const left = [...model].sort(compareUtf8);
          const expectedVisits: string[] = [];
          while (left.length > 0) {
            expectedVisits.push(left.shift()!);
            if (expectedVisits.length % 2 === 0 && left.length > 0) left.shift();
          }
          const visited: string[] = [];
          for (const k of keys.range('')) {
            visited.push(k);
            keys.delete(k);
            if (visited.length % 2 === 0) {
              const next = keys.ceiling(k);
              if (next !== undefined) keys.delete(next);
            }
          }
          assert.deepEqual(visited, expectedVisits);
          assert.equal(keys.ceiling(''), undefined);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('openNodeStorage keeps the node id and the records across reopen', async () => {
    const dir = tempDir();
    const first = await openNodeStorage(dir, { createId: () => Id.parse('42'.repeat(20)) });
    assert.equal(first.created, true);
    assert.equal(first.nodeId.hex, '42'.repeat(20));
    await first.storage.put(item('33'.repeat(20), 7));
    await first.storage.close();
    const second = await openNodeStorage(dir, { createId: () => assert.fail('must not create a new id') });
    assert.equal(second.created, false);
    assert.equal(second.nodeId.hex, '42'.repeat(20));
    assert.equal(second.storage.get('33'.repeat(20))?.v, 7);
    await second.storage.close();
  });

  test('LMDB: metadata survives reopen; a copy set aside opens as a store of its own holding what the store held', async () => {
    const dir = join(tempDir(), 'dht');
    const store = await LmdbStorage.open(dir);
    await store.put(item('33'.repeat(20), 2));
    await store.put(item('44'.repeat(20), 5));
    await store.putMeta('aliveAt', 1234);
    const copy = await store.copyAside('stale-test');
    assert.equal(copy, `${dir}-stale-test`);
    await store.remove('33'.repeat(20));
    await store.close();
    const reopened = await LmdbStorage.open(dir);
    assert.equal(reopened.getMeta('aliveAt'), 1234);
    assert.equal(reopened.get('33'.repeat(20)), undefined);
    await reopened.close();
    const aside = await LmdbStorage.open(copy);
    assert.deepEqual([...aside.entries('')].map((e) => [e.k, e.v]), [['33'.repeat(20), 2], ['44'.repeat(20), 5]]);
    assert.equal(aside.get('44'.repeat(20))?.v, 5);
    await aside.close();
  });

  test('local store: replicas accept only newer versions; supersede replaces an equal one; digests follow content', async () => {
    const store = new LocalStore(new MemoryStorage());
    const k = '55'.repeat(20);
    assert.equal(store.apply(item(k, 2, 'a'), 'write').applied, true);
    const same = store.apply(item(k, 2, 'a'), 'write');
    assert.equal(same.applied, false);
    assert.equal(same.have!.op, 'a', 'the same write again is recognised');
    const refused = store.apply(item(k, 2, 'b'), 'write');
    assert.equal(refused.applied, false, 'an equal version from another operation is refused');
    assert.equal(store.apply(item(k, 1, 'c'), 'merge').applied, false, 'older merges are ignored');
    assert.equal(store.apply(item(k, 2, 'b'), 'supersede').applied, true, 'the root can replace an equal version');
    assert.equal(store.get(k)!.op, 'b');
    const lo = '00'.repeat(20);
    const hi = 'ff'.repeat(20);
    const d1 = store.digest(lo, hi);
    assert.equal(d1.n, 1);
    store.apply(item(k, 3, 'd'), 'merge');
    const d2 = store.digest(lo, hi);
    assert.notDeepEqual(d1, d2);
    const other = new LocalStore(new MemoryStorage());
    other.apply(item(k, 3, 'd'), 'merge');
    assert.deepEqual(other.digest(lo, hi), d2, 'equal content, equal digest');
    assert.deepEqual(store.digest('66'.repeat(20), hi), { n: 0, h1: 0, h2: 0 });
    await store.remove(k);
    assert.equal(store.size, 0);
    // The index is rebuilt from the engine on open.
    const engine = new MemoryStorage();
    await engine.put(item(k, 4, 'e'));
    assert.equal(new LocalStore(engine).digest(lo, hi).n, 1);
  });

  test('local store summed up in pages: writes and removals meanwhile end in the same sums as a store summed at once; digests are exact throughout', async () => {
    const hexDigit = fc.constantFrom(...'0123456789abcdef'.split(''));
    const key = fc.tuple(fc.constantFrom('000', '7ff', '800', 'a3c', 'fff'), fc.array(hexDigit, { minLength: 37, maxLength: 37 })).map(([p, rest]) => p + rest.join(''));
    const step = fc.oneof(
      fc.tuple(fc.constantFrom('put' as const, 'delete' as const, 'remove' as const), key),
      fc.tuple(fc.constant('sum' as const), fc.integer({ min: 1, max: 5 })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(key, { maxLength: 40 }), fc.array(step, { maxLength: 80 }), async (initial, steps) => {
        const engine = new MemoryStorage();
        for (const k of initial) await engine.put(item(k));
        const store = new LocalStore(engine, undefined, { sumInPages: true });
        const lo = '0'.repeat(40);
        const hi = 'f'.repeat(40);
        for (const st of steps) {
          if (st[0] === 'sum') store.sumPage(st[1]);
          else if (st[0] === 'remove') await store.remove(st[1]);
          else {
            const v = (engine.get(st[1])?.v ?? 0) + 1;
            store.apply({ ...item(st[1], v), d: st[0] === 'delete', at: v }, 'write');
          }
          assert.deepEqual(store.digest(lo, hi), new LocalStore(engine).digest(lo, hi), 'exact while summing');
        }
        while (!store.sumPage(3));
        const fresh = new LocalStore(engine);
        assert.equal(store.size, fresh.size);
        assert.equal(store.scopedItems, fresh.scopedItems);
        assert.deepEqual(new Map(store.tombstones()), new Map(fresh.tombstones()));
        for (const [a, b] of [[lo, hi], ['7ff'.padEnd(40, '0'), 'a3c'.padEnd(40, 'f')]] as const) assert.deepEqual(store.digest(a, b), fresh.digest(a, b));
      }),
      { numRuns: 150, seed: 11 },
    );
  });

  test('local store: counts the items of region- or zone-scoped ids (hand-offs walk everything while there are any)', async () => {
    const engine = new MemoryStorage();
    const store = new LocalStore(engine);
    const global = '12'.repeat(19) + '00';
    const region = '34'.repeat(19) + '01';
    const zone = '56'.repeat(19) + 'a2';
    store.apply(item(global), 'write');
    store.apply(item(`${region}/part-item`), 'write');
    store.apply(item(zone), 'write');
    store.apply(item(zone, 2), 'write');
    assert.equal(store.scopedItems, 2);
    assert.equal(new LocalStore(engine).scopedItems, 2, 'summed up again at start');
    await store.remove(zone);
    await store.remove(global);
    assert.equal(store.scopedItems, 1);
    await store.remove(`${region}/part-item`);
    assert.equal(store.scopedItems, 0);
  });

  test('local store: range digests from prefix buckets equal a walk over the items, through writes and removals', async () => {
    // Positions drawn from a few prefixes (so ranges start and end inside populated buckets),
    // with partition items ('/' and a sort key) at some of them.
    const hexDigit = fc.constantFrom(...'0123456789abcdef'.split(''));
    const position = fc.tuple(fc.constantFrom('000', '001', '7ff', '800', '801', 'a3c', 'fff'), fc.array(hexDigit, { minLength: 37, maxLength: 37 })).map(([p, rest]) => p + rest.join(''));
    const key = fc.tuple(position, fc.option(fc.string({ maxLength: 3 }), { nil: undefined })).map(([p, sk]) => (sk === undefined ? p : `${p}/${sk}`));
    const step = fc.tuple(fc.constantFrom('put', 'put', 'remove'), key, fc.integer({ min: 1, max: 3 }));
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 120 }), fc.array(fc.tuple(position, position), { minLength: 1, maxLength: 8 }), async (steps, ranges) => {
        const { store, held } = await applySteps(steps);
        const other = new LocalStore(new MemoryStorage());
        for (const it of [...held.values()].reverse()) other.apply(it, 'merge');
        for (const [a, b] of ranges) {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          const expected = walkedDigest(held.values(), lo, hi);
          assert.deepEqual(store.digest(lo, hi), expected, `items in [${lo.slice(0, 6)}, ${hi.slice(0, 6)}]`);
          assert.deepEqual(other.digest(lo, hi), expected, 'the same items, written in another order');
        }
      }),
      { numRuns: 200 },
    );
  });

  test('local store: partitions are added to range digests from their sums, exactly, without walking their items', async () => {
    // A few partition positions, some in one prefix bucket, ranges that start or end on them.
    const positions = ['7ff' + '1'.repeat(37), '7ff' + '2'.repeat(37), '800' + '0'.repeat(37), 'a3c' + 'f'.repeat(37)];
    const position = fc.constantFrom(...positions);
    const key = fc.tuple(position, fc.option(fc.string({ maxLength: 3 }), { nil: undefined })).map(([p, sk]) => (sk === undefined ? p : `${p}/${sk}`));
    const step = fc.tuple(fc.constantFrom('put', 'put', 'remove'), key, fc.integer({ min: 1, max: 3 }));
    const bound = fc.oneof(position, fc.constantFrom('7ff' + '0'.repeat(37), '7ff' + '1'.repeat(36) + '2', '801' + '0'.repeat(37), 'f'.repeat(40)));
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 80 }), fc.array(fc.tuple(bound, bound), { minLength: 1, maxLength: 8 }), async (steps, ranges) => {
        const { store, held } = await applySteps(steps);
        for (const [a, b] of ranges) {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          const expected = walkedDigest(held.values(), lo, hi);
          assert.deepEqual(store.digest(lo, hi), expected, `items in [${lo.slice(0, 6)}, ${hi.slice(0, 6)}]`);
        }
      }),
      { numRuns: 300 },
    );

    // Cost: a digest of a range holding a 20,000-item partition reads a handful of index entries.
    const engine = new MemoryStorage();
    let visited = 0;
    const entries = engine.entries.bind(engine);
    engine.entries = function* (start: string, end?: string) {
      for (const e of entries(start, end)) {
        visited++;
        yield e;
      }
    };
    const store = new LocalStore(engine);
    const p = positions[0]!;
    for (let i = 0; i < 20_000; i++) store.apply(item(`${p}/obj-${String(i).padStart(6, '0')}`), 'write');
    store.apply(item(p), 'write');
    store.apply(item(positions[1]!), 'write');
    for (const [lo, hi] of [[p, p], ['7ff' + '0'.repeat(37), positions[1]!], [p.slice(0, 39) + '0', p.slice(0, 39) + 'f']]) {
      visited = 0;
      const d = store.digest(lo!, hi!);
      assert.ok(d.n >= 20_001, `the partition counted in [${lo!.slice(0, 8)}, ${hi!.slice(0, 8)}]`);
      assert.ok(visited <= 4, `${visited} index entries read for the digest`);
    }
  });
});
