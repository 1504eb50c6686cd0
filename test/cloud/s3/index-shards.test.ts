/**
 * Bucket index shards (src/cloud/s3/index-shards.ts): the key → shard hash is pinned (it is part
 * of the stored layout) and spreads keys evenly; the merge of sorted shard sources is in S3 key
 * order, lazy and closes its sources; and in the simulator (24 nodes, the real DHT) one bucket's
 * writes are coordinated by several roots instead of one, its listings page through every shard
 * in order with prefixes and delimiters, a bucket from before sharding reads as one shard, and a
 * listing survives the crash of a shard's root.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Catalog } from '../../../src/cloud/s3/catalog.ts';
import { VersionCatalog } from '../../../src/cloud/s3/version-catalog.ts';
import { autoIndexShards, mergeSorted, objectsPartitions, shardOfKey, shardPageSize } from '../../../src/cloud/s3/index-shards.ts';
import type { BucketEntry, ObjectEntry } from '../../../src/cloud/s3/model.ts';
import { compareKeys, listMultipartUploads, listObjectVersions, listPage } from '../../../src/cloud/s3/protocol/index.ts';
import type { ObjectSummary } from '../../../src/cloud/s3/protocol/index.ts';
import type { DhtSim } from '../../../src/sim/dht-chaos.ts';
import type { Dht } from '../../../src/dht/index.ts';
import type { SimNode } from '../../../src/sim/ring.ts';
import { dhtRing } from '../../dht/helpers.ts';

const owner = { id: 'owner-1', name: 'alice' };

function entry(key: string, i: number): ObjectEntry {
  return { type: 's3.object', vid: `v${i}`, size: key.length, etag: `"e${i}"`, lm: 1_700_000_000_000 + i, owner: owner.id, ownerName: owner.name } as ObjectEntry;
}

/** `dht`, counting the items its scans return (`counting.read`). */
function countingScans(dht: Dht): { counted: Dht; counting: { read: number } } {
  const counting = { read: 0 };
  const counted = new Proxy(dht, {
    get(target, prop, receiver) {
      if (prop !== 'scanPartition') return Reflect.get(target, prop, receiver) as unknown;
      return async (...args: Parameters<Dht['scanPartition']>) => {
        const page = await target.scanPartition(...args);
        counting.read += page.items.length;
        return page;
      };
    },
  });
  return { counted, counting };
}

function catalogOn(sim: DhtSim, node: SimNode, indexShards: number): Catalog {
  return new Catalog(sim.dht(node), node.env, { cacheMs: 2000, indexShards });
}

/** Every page of a listing through `catalog` (max-keys `maxKeys`), its keys and common prefixes in order. */
async function listAll(sim: DhtSim, catalog: Catalog, bucket: BucketEntry, prefix: string, delimiter: string | undefined, maxKeys: number): Promise<string[]> {
  const out: string[] = [];
  let marker: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await sim.settle(listPage<ObjectSummary>(catalog.objectSource(bucket, 50), { prefix, maxKeys, ...(delimiter !== undefined ? { delimiter } : {}), ...(marker !== undefined ? { marker } : {}) }));
    out.push(...page.contents.map((o) => o.key), ...page.commonPrefixes.map((p) => `${p}*`));
    if (!page.isTruncated) return out.sort((a, b) => compareKeys(a.replace(/\*$/, ''), b.replace(/\*$/, '')));
    marker = page.next;
  }
  throw new Error('listing did not end');
}

async function* from<T>(items: T[], pulled: T[] = [], closed: { n: number } = { n: 0 }): AsyncGenerator<T> {
  try {
    for (const i of items) {
      pulled.push(i);
      yield i;
    }
  } finally {
    closed.n++;
  }
}

describe('bucket index shards', () => {
  test('the key hash is pinned and spreads keys evenly; one shard is shard 0', () => {
    // Stored layout: these must never change (a changed hash would hide every sharded object).
    assert.deepEqual(
      ['', 'a', 'photos/2024/x.jpg', 'é', '\u{1F600}'].map((k) => shardOfKey(k, 8)),
      [5, 4, 7, 4, 0],
    );
    assert.equal(shardOfKey('anything', 1), 0);
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[shardOfKey(`logs/2026/12/05/host-${i % 97}/part-${i}.gz`, 8)]!++;
    for (const c of counts) assert.ok(c > 800 && c < 1200, `uneven shards: ${counts.join(' ')}`);
    assert.equal(shardPageSize(1000, 1), 1000);
    assert.equal(shardPageSize(1000, 8), 250);
    assert.equal(shardPageSize(20, 8), 16);
    // One shard per disjoint replica set, a power of two up to 8.
    assert.deepEqual([1, 3, 7, 8, 15, 16, 31, 32, 1000].map((n) => autoIndexShards(n, 4)), [1, 1, 1, 2, 2, 4, 4, 8, 8]);
    assert.equal(autoIndexShards(6, 3), 2);
  });

  test('mergeSorted: S3 key order across sources, read only as far as needed, every source closed', async () => {
    const a = ['a', 'c', 'z', '\u{1F600}'];
    const b = ['b', 'd', '\uFF21'];
    const c: string[] = [];
    const merged: string[] = [];
    for await (const k of mergeSorted([from(a), from(b), from(c)], (k) => k)) merged.push(k);
    assert.deepEqual(merged, [...a, ...b].sort(compareKeys));
    assert.deepEqual(merged.slice(-2), ['\uFF21', '\u{1F600}'], 'code point order, not UTF-16 order');
    const pulledA: string[] = [];
    const pulledB: string[] = [];
    const closed = { n: 0 };
    const big = Array.from({ length: 100 }, (_, i) => `k${String(i).padStart(3, '0')}`);
    const first: string[] = [];
    for await (const k of mergeSorted([from(big.filter((_, i) => i % 2 === 0), pulledA, closed), from(big.filter((_, i) => i % 2 === 1), pulledB, closed)], (k) => k)) {
      first.push(k);
      if (first.length === 5) break;
    }
    assert.deepEqual(first, big.slice(0, 5));
    assert.ok(pulledA.length + pulledB.length <= 7, `read ${pulledA.length + pulledB.length} items for 5`);
    assert.equal(closed.n, 2);
  });

  test('in the simulator: one bucket spreads over several roots, lists in order through every shard, and survives a shard root crash', async () => {
    const sim = await dhtRing('index-shards', 24);
    // Chosen from the ring's size, as the service does by default: 24 nodes, 4 replicas → 4 shards.
    const creatorNode = sim.ring.randomLive();
    const auto = new Catalog(sim.dht(creatorNode), creatorNode.env, { cacheMs: 2000, indexShards: () => autoIndexShards(creatorNode.pastry.estimatedRingSize(), sim.dht(creatorNode).options.replicas) });
    assert.equal((await sim.settle(auto.createBucket('auto', owner, 'private', 'us-east-1'))).shards, 4);
    const creator = catalogOn(sim, sim.ring.randomLive(), 8);
    const bucket = await sim.settle(creator.createBucket('photos', owner, 'private', 'us-east-1'));
    assert.equal(bucket.shards, 8);
    const roots = new Set(objectsPartitions(bucket).map((p) => sim.trueReplicaSet(p, 1)[0]!.index));
    assert.ok(roots.size >= 4, `8 shards on ${roots.size} roots`);

    const writes = (n: SimNode): number => Object.entries(sim.dht(n).stats.coordinated).reduce((sum, [kind, c]) => sum + (kind.startsWith('write.') ? c : 0), 0);
    const before = new Map(sim.ring.live().map((n) => [n.index, writes(n)] as const));
    const keys: string[] = [];
    for (let d = 0; d < 12; d++) for (let f = 0; f < 25; f++) keys.push(`dir${String(d).padStart(2, '0')}/f${f}.jpg`);
    keys.push('top.txt', 'é.txt', '\u{1F600}.txt', 'dir05');
    await sim.settle(Promise.all(keys.map((k, i) => catalogOn(sim, sim.ring.randomLive(), 8).putObject(bucket, k, entry(k, i)))));
    const coordinated = sim.ring.live().map((n) => writes(n) - (before.get(n.index) ?? 0)).filter((c) => c > 0);
    const total = coordinated.reduce((x, y) => x + y, 0);
    assert.ok(total >= keys.length, `${total} writes coordinated for ${keys.length} objects`);
    assert.ok(coordinated.length >= 4, `writes coordinated by ${coordinated.length} roots`);
    assert.ok(Math.max(...coordinated) < total / 2, `one root coordinated ${Math.max(...coordinated)} of ${total}`);

    const reader = catalogOn(sim, sim.ring.randomLive(), 8);
    const sorted = keys.slice().sort(compareKeys);
    assert.deepEqual(await listAll(sim, reader, bucket, '', undefined, 7), sorted);
    assert.deepEqual(await listAll(sim, reader, bucket, '', undefined, 1000), sorted);
    assert.deepEqual(await listAll(sim, reader, bucket, 'dir03/', undefined, 10), sorted.filter((k) => k.startsWith('dir03/')));
    const folders = await listAll(sim, reader, bucket, '', '/', 5);
    assert.deepEqual(folders, [...Array.from({ length: 12 }, (_, d) => `dir${String(d).padStart(2, '0')}/*`), 'dir05', 'top.txt', 'é.txt', '\u{1F600}.txt'].sort((a, b) => compareKeys(a.replace(/\*$/, ''), b.replace(/\*$/, ''))));
    for (const k of ['top.txt', 'dir11/f24.jpg', '\u{1F600}.txt']) assert.equal((await sim.settle(reader.getObject(bucket, k)))?.size, k.length);
    assert.equal(await sim.settle(reader.isEmpty(bucket)), false);

    // A shard's root crashes: the listing is still whole (its replicas answer).
    const victim = sim.trueReplicaSet(objectsPartitions(bucket)[shardOfKey('top.txt', 8)]!, 1)[0]!;
    sim.ring.crash(victim);
    await sim.run(5_000);
    const survivor = catalogOn(sim, sim.ring.randomLive(), 8);
    assert.deepEqual(await listAll(sim, survivor, bucket, '', undefined, 100), sorted);

    // Deleting every object empties every shard.
    await sim.settle(Promise.all(keys.map((k) => survivor.deleteObject(bucket, k))));
    assert.equal(await sim.settle(survivor.isEmpty(bucket)), true);
  });

  test('a delimiter listing seeks past each rolled-up directory instead of reading through it, sharded or not', async () => {
    const sim = await dhtRing('index-shards-seek', 12);
    const keys: string[] = [];
    for (let d = 0; d < 5; d++) for (let f = 0; f < 600; f++) keys.push(`dir${d}/f${String(f).padStart(4, '0')}`);
    keys.push('readme');
    for (const shards of [1, 4]) {
      const node = sim.ring.randomLive();
      const dht = sim.dht(node);
      const { counted, counting } = countingScans(dht);
      const catalog = new Catalog(counted, node.env, { cacheMs: 2000, indexShards: shards });
      const bucket = await sim.settle(catalog.createBucket(`seek-${shards}`, owner, 'private', 'us-east-1'));
      for (let i = 0; i < keys.length; i += 100) await sim.settle(Promise.all(keys.slice(i, i + 100).map((k, j) => catalog.putObject(bucket, k, entry(k, i + j)))));
      counting.read = 0;
      const page = await sim.settle(listPage<ObjectSummary>(catalog.objectSource(bucket), { prefix: '', delimiter: '/', maxKeys: 1000 }));
      assert.deepEqual(page.commonPrefixes, ['dir0/', 'dir1/', 'dir2/', 'dir3/', 'dir4/']);
      assert.deepEqual(page.contents.map((o) => o.key), ['readme']);
      assert.ok(counting.read < 1200, `${shards} shard(s): ${counting.read} index entries read to list 5 directories of 600 keys`);
    }
  });

  test('ListObjectVersions and ListMultipartUploads seek past rolled-up directories too', async () => {
    const sim = await dhtRing('index-shards-seek-versions', 12);
    const node = sim.ring.randomLive();
    const dht = sim.dht(node);
    const { counted, counting } = countingScans(dht);
    const catalog = new Catalog(counted, node.env, { cacheMs: 2000, indexShards: 4 });
    const bucket = await sim.settle(catalog.createBucket('seek-versions', owner, 'private', 'us-east-1'));
    const keys: string[] = [];
    for (let d = 0; d < 4; d++) for (let f = 0; f < 400; f++) keys.push(`dir${d}/f${String(f).padStart(4, '0')}`);
    keys.push('readme');
    for (let i = 0; i < keys.length; i += 100) {
      await sim.settle(
        Promise.all(
          keys.slice(i, i + 100).flatMap((k, j) => [
            catalog.putObject(bucket, k, entry(k, i + j)),
            catalog.createUpload(bucket, { type: 's3.upload', key: k, uploadId: `u${i + j}`, initiated: 1_700_000_000_000, owner: owner.id, ownerName: owner.name }),
          ]),
        ),
      );
    }
    const expected = ['dir0/', 'dir1/', 'dir2/', 'dir3/'];
    counting.read = 0;
    const versions = await sim.settle(listObjectVersions(new VersionCatalog(counted).source(bucket), bucket.name, { prefix: '', keyMarker: '', versionIdMarker: '', maxKeys: 1000, delimiter: '/' }));
    assert.deepEqual([versions.commonPrefixes, versions.versions.map((v) => v.key)], [expected, ['readme']]);
    assert.ok(counting.read < 1000, `versions: ${counting.read} index entries read to list 4 directories of 400 keys`);
    counting.read = 0;
    const uploads = await sim.settle(listMultipartUploads(catalog.uploadSource(bucket), bucket.name, { prefix: '', keyMarker: '', uploadIdMarker: '', maxUploads: 1000, delimiter: '/' }));
    assert.deepEqual([uploads.commonPrefixes, uploads.uploads.map((u) => u.key)], [expected, ['readme']]);
    assert.ok(counting.read < 600, `uploads: ${counting.read} entries read to list 4 directories of 400 keys`);
  });

  test('a bucket from before sharding (no shard count) keeps one partition whatever the node default', async () => {
    const sim = await dhtRing('index-shards-legacy', 12);
    const old = catalogOn(sim, sim.ring.randomLive(), 1);
    const bucket = await sim.settle(old.createBucket('legacy', owner, 'private', 'us-east-1'));
    assert.equal(bucket.shards, undefined);
    assert.equal(objectsPartitions(bucket).length, 1);
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    await sim.settle(Promise.all(keys.map((k, i) => old.putObject(bucket, k, entry(k, i)))));
    const current = catalogOn(sim, sim.ring.randomLive(), 8);
    const seen = await sim.settle(current.bucket('legacy'));
    assert.equal(seen?.shards, undefined);
    assert.deepEqual(await listAll(sim, current, seen!, '', undefined, 9), keys.slice().sort(compareKeys));
    const partition = objectsPartitions(seen!)[0]!;
    const holder = sim.trueReplicaSet(partition, 1)[0]!;
    assert.equal(sim.dht(holder).localGet(partition, 'k7')?.v, 1, 'the objects stay in the unsharded partition');
  });
});
