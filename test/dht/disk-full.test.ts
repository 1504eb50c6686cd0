/**
 * A disk filling up: the storage reserve (space.ts) refuses writes that add data before the disk
 * is full, keeps taking deletions, and lets writes resume once space is freed; the engines never
 * serve a write that could not be made durable, nor leave their sums counting it; the DHT answers
 * `DiskFull` when too many replicas of a key are full. The disk is a fake `statfs` (a real full
 * disk needs a mount: the tmpfs runs are in the report of this change); commit failures are
 * injected at the LMDB boundary with the error lmdb-js rejects with (`commitError`, ENOSPC).
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Scope, idFor } from '../../src/id/index.ts';
import { DiskFullError, LmdbStorage, MemoryStorage, SpaceGuard } from '../../src/dht/index.ts';
import type { DiskSpace, Entity, SpaceState, StoredItem } from '../../src/dht/index.ts';
import { LocalStore } from '../../src/dht/local-store.ts';
import { dhtRing } from './helpers.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pi-diskfull-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A disk whose free space the test sets; counts the readings. */
class FakeDisk {
  free: number;
  reads = 0;
  constructor(
    free: number,
    readonly total = 100 * GiB,
  ) {
    this.free = free;
  }
  statfs = (): DiskSpace => {
    this.reads++;
    return { freeBytes: this.free, totalBytes: this.total };
  };
}

/** A guard with a 1 GiB reserve (100 GiB disk, 2 %: 2 GiB; the smaller applies) on a fake disk and clock. */
function guardOn(disk: FakeDisk, clock = { t: 0 }, reserveBytes = GiB): { guard: SpaceGuard; clock: { t: number }; changes: SpaceState[] } {
  const guard = new SpaceGuard({ dir: '/data', reserveBytes, reservePercent: 2, now: () => clock.t, statfs: disk.statfs });
  const changes: SpaceState[] = [];
  guard.onChange((s) => changes.push(s));
  return { guard, clock, changes };
}

function item(k: string, v = 1, body: Record<string, unknown> = { k }, deleted = false): StoredItem {
  return { k, v, op: `op-${k}-${v}`, h: [], hf: 0, d: deleted, t: 'doc', u: null, ct: 'application/json', b: JSON.stringify(body), at: 1 };
}

function key(i: number): string {
  return (i + 1).toString(16).padStart(40, '0');
}

describe('storage reserve (SpaceGuard)', () => {
  test('below the reserve: writes that add data refused (once refusing, all of them), deletions kept, removals kept to the last bytes', () => {
    const disk = new FakeDisk(10 * GiB);
    const { guard, changes } = guardOn(disk);
    assert.equal(guard.reserveBytes, GiB, 'the smaller of 1 GiB and 2 % of 100 GiB');
    assert.equal(guard.admit(4 * MiB, 'grow', 'chunks'), undefined);
    disk.free = GiB + 2 * MiB;
    guard.refresh();
    assert.equal(guard.admit(MiB, 'grow', 'dht'), undefined, 'leaves more than the reserve');
    const refused = guard.admit(4 * MiB, 'grow', 'chunks');
    assert.ok(refused instanceof DiskFullError);
    assert.equal(refused.code, 'DiskFull');
    assert.match(refused.message, /storage reserve is 1\.0 GiB/);
    assert.equal(guard.refusing, true);
    assert.deepEqual(
      changes.map((c) => c.refusing),
      [true],
      'told once',
    );
    assert.ok(guard.admit(10, 'grow', 'dht'), 'once refusing, even a small write that adds data is refused');
    assert.equal(guard.admit(0, 'keep', 'dht'), undefined, 'a tombstone is taken');
    disk.free = 400 * MiB; // below half the reserve
    guard.refresh();
    assert.ok(guard.admit(0, 'keep', 'dht'), 'below half the reserve: no more rewrites');
    assert.equal(guard.admit(0, 'remove', 'dht'), undefined, 'removals still');
    disk.free = 8 * MiB; // the last bytes: min(reserve / 4, 16 MiB) = 16 MiB
    guard.refresh();
    assert.ok(guard.admit(0, 'remove', 'dht'), 'in the last bytes even a removal (a commit) is refused');
    assert.deepEqual(guard.state().refused, { chunks: 1, dht: 3 });
    assert.equal(changes.length, 1, 'no flapping while refusing');
  });

  test('writes resume by themselves once the free space is above the reserve by a margin (no flapping at the threshold)', () => {
    const disk = new FakeDisk(GiB - MiB);
    const { guard, clock, changes } = guardOn(disk);
    assert.equal(guard.refusing, true, 'a reading below the reserve starts refusing (the alert shows before any write)');
    assert.ok(guard.admit(1, 'grow', 'dht'));
    disk.free = GiB + 100 * MiB; // above the reserve, below reserve + reserve / 8
    clock.t += 5000;
    assert.ok(guard.admit(1, 'grow', 'dht'), 'not yet: the margin is an eighth of the reserve');
    disk.free = GiB + 200 * MiB;
    clock.t += 5000;
    assert.equal(guard.admit(MiB, 'grow', 'dht'), undefined);
    assert.equal(guard.refusing, false);
    assert.deepEqual(
      changes.map((c) => c.refusing),
      [false],
      'told once that writes resumed (the start was before any listener)',
    );
  });

  test('a write that failed for want of space makes it refuse until a reading shows room again', () => {
    const disk = new FakeDisk(50 * GiB);
    const { guard, clock, changes } = guardOn(disk);
    guard.failed(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    assert.equal(guard.refusing, true);
    assert.match(guard.refusal!, /is full: a write failed for want of space \(ENOSPC/);
    assert.ok(guard.admit(1, 'keep', 'dht'), 'nothing is known to be free: not even a rewrite');
    assert.ok(guard.admit(0, 'remove', 'dht'));
    guard.refresh();
    assert.equal(guard.refusing, true, 'for a refresh interval, whatever statfs says (a quota is not in it)');
    clock.t += 1000; // another process freed the space, or it was never short
    guard.refresh();
    assert.equal(guard.refusing, false);
    assert.equal(guard.admit(MiB, 'grow', 'dht'), undefined);
    assert.deepEqual(
      changes.map((c) => c.refusing),
      [true, false],
    );
  });

  test('the disk is read at most every second far from the reserve, before every write near it; admitted bytes count meanwhile', () => {
    const disk = new FakeDisk(50 * GiB);
    const { guard, clock } = guardOn(disk);
    const start = disk.reads;
    for (let i = 0; i < 100; i++) guard.admit(MiB, 'grow', 'dht');
    assert.equal(disk.reads, start, 'far from the reserve: one reading per second');
    assert.equal(guard.state().freeBytes, 50 * GiB - 100 * MiB, 'what was admitted since counts as used');
    clock.t += 1000;
    guard.admit(MiB, 'grow', 'dht');
    assert.equal(disk.reads, start + 1);
    disk.free = 2 * GiB; // within twice the reserve and 64 MiB
    guard.refresh();
    const near = disk.reads;
    for (let i = 0; i < 10; i++) guard.admit(MiB, 'grow', 'dht');
    assert.equal(disk.reads, near + 10, 'near the reserve: read before every write (another process may be filling the disk)');
  });

  test('no reserve when either setting is 0; a disk that cannot be read admits everything', () => {
    const disk = new FakeDisk(MiB);
    assert.equal(guardOn(disk, { t: 0 }, 0).guard.reserveBytes, 0);
    const { guard } = guardOn(disk, { t: 0 }, 0);
    assert.equal(guard.admit(512 * 1024, 'grow', 'dht'), undefined);
    const broken = new SpaceGuard({
      dir: '/gone',
      reserveBytes: GiB,
      reservePercent: 2,
      now: () => 0,
      statfs: () => {
        throw new Error('ENOENT: no such file or directory');
      },
    });
    assert.equal(broken.admit(GiB, 'grow', 'dht'), undefined);
    assert.match(broken.state().error!, /ENOENT/);
  });
});

describe('LMDB engine on a full disk', () => {
  test('a write refused by the reserve changes nothing, is never served, and the same open store takes writes once space is freed', async () => {
    const disk = new FakeDisk(50 * GiB);
    const { guard, clock } = guardOn(disk);
    const storage = await LmdbStorage.open(tempDir(), { space: guard });
    try {
      await storage.put(item(key(1)));
      disk.free = GiB - MiB;
      guard.refresh();
      const before = [...storage.entries('')];
      const fresh = item(key(2));
      assert.ok(storage.refusal(fresh) instanceof DiskFullError);
      await assert.rejects(storage.put(fresh), (err: Error & { code?: string }) => err.code === 'DiskFull');
      assert.equal(storage.get(key(2)), undefined, 'not served');
      assert.equal(storage.entry(key(2)), undefined);
      assert.deepEqual([...storage.entries('')], before);
      const grown = item(key(1), 2, { k: key(1), blob: 'x'.repeat(4000) });
      await assert.rejects(storage.put(grown), (err: Error & { code?: string }) => err.code === 'DiskFull', 'a record growing by 4 KB adds data');
      assert.equal(storage.get(key(1))!.v, 1);
      // Deletions go on: a tombstone over the record, and removals.
      await storage.put(item(key(1), 3, { k: key(1) }, true));
      assert.equal(storage.get(key(1))!.d, true);
      await storage.remove(key(1));
      assert.equal(storage.get(key(1)), undefined);
      // Space freed: the same store (no reopen) takes the refused write.
      disk.free = 20 * GiB;
      clock.t += 1000;
      await storage.put(fresh);
      assert.equal(storage.get(key(2))!.v, 1);
      assert.equal(storage.space, guard);
    } finally {
      await storage.close();
    }
  });

  test('a commit that fails with ENOSPC: the write rejects with DiskFull, is no longer served, the reserve refuses, and no rejection is left unhandled', async () => {
    const disk = new FakeDisk(50 * GiB);
    const { guard } = guardOn(disk);
    const storage = await LmdbStorage.open(tempDir(), { space: guard });
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => void unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      await storage.put(item(key(1)));
      // What lmdb-js does when the disk is full at commit: every write of the transaction
      // rejects with "Commit failed", whose `commitError` is rejected with the cause (code 28).
      const commitError = Promise.reject(Object.assign(new Error('No space left on device: Attempting to write page at position 925696, size 4096'), { code: 28 }));
      const failing = (): Promise<boolean> => Promise.reject(Object.assign(new Error('Commit failed (see commitError for details)'), { commitError }));
      const dbs = storage as unknown as { items: { put: unknown }; index: { put: unknown } };
      const real = { items: dbs.items.put, index: dbs.index.put };
      dbs.items.put = failing;
      dbs.index.put = failing;
      const write = storage.put(item(key(1), 2, { k: key(1), n: 2 }));
      assert.equal(storage.get(key(1))!.v, 2, 'served while in flight (a replica reads its own writes)');
      await assert.rejects(write, (err: Error & { code?: string }) => err.code === 'DiskFull' && /No space left on device/.test(err.message));
      dbs.items.put = real.items;
      dbs.index.put = real.index;
      assert.equal(storage.get(key(1))!.v, 1, 'the failed write is no longer served: the committed version is');
      assert.equal(storage.entry(key(1))!.v, 1);
      assert.equal(guard.refusing, true, 'the reserve refuses until a reading shows room');
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await storage.close();
    }
  });
});

/** A memory engine whose writes fail (as a full disk's commits do) while `failing` is set: nothing is stored. */
class FailingStorage extends MemoryStorage {
  failing = false;
  override put(it: StoredItem): Promise<void> {
    if (this.failing) return Promise.reject(new DiskFullError('LMDB could not commit a write for want of space: No space left on device'));
    return super.put(it);
  }
  override remove(k: string): Promise<void> {
    if (this.failing) return Promise.reject(new DiskFullError('LMDB could not commit a write for want of space: No space left on device'));
    return super.remove(k);
  }
}

describe('replica store on a full disk', () => {
  test('writes that fail to commit leave the digests, counts and tombstones as the engine holds them (anti-entropy sees what is missing)', async () => {
    const engine = new FailingStorage();
    const store = new LocalStore(engine);
    for (let i = 0; i < 20; i++) await store.apply(item(key(i)), 'write').durable;
    const digest = (): unknown => [store.size, store.digest(key(0), key(99)), store.digest(key(5), key(12))];
    const before = digest();
    engine.failing = true;
    const failed: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) failed.push(store.apply(item(key(i), 2, { k: key(i), n: 2 }), 'write').durable); // rewrites
    for (let i = 20; i < 25; i++) failed.push(store.apply(item(key(i)), 'write').durable); // new
    failed.push(store.apply(item(key(7), 2, { k: key(7) }, true), 'write').durable); // a tombstone
    failed.push(store.remove(key(9)));
    const outcomes = await Promise.allSettled(failed);
    assert.ok(outcomes.every((o) => o.status === 'rejected' && (o.reason as { code?: string }).code === 'DiskFull'));
    engine.failing = false;
    assert.deepEqual(digest(), before, 'the sums are what the engine holds');
    assert.deepEqual(digest(), (() => {
      const rebuilt = new LocalStore(engine);
      return [rebuilt.size, rebuilt.digest(key(0), key(99)), rebuilt.digest(key(5), key(12))];
    })(), 'as a store summed up from the engine afresh');
    assert.equal(store.get(key(0))!.v, 1);
    assert.equal(store.get(key(20)), undefined);
    // A later write of a key whose earlier write failed is counted once.
    await store.apply(item(key(0), 3, { k: key(0), n: 3 }), 'write').durable;
    assert.equal(store.size, 20);
    assert.deepEqual(store.digest(key(0), key(99)), new LocalStore(engine).digest(key(0), key(99)));
  });

  test('a write the reserve refuses is reported (refused) and changes nothing', () => {
    const disk = new FakeDisk(GiB - MiB);
    const engine = new MemoryStorage();
    const store = new LocalStore(engine);
    const existing = item(key(1));
    void store.apply(existing, 'write');
    engine.space = guardOn(disk).guard;
    const size = store.size;
    const d = store.digest(key(0), key(99));
    const r = store.apply(item(key(2)), 'write');
    assert.equal(r.applied, false);
    assert.equal((r.refused as { code?: string } | undefined)?.code, 'DiskFull');
    assert.equal(store.size, size);
    assert.deepEqual(store.digest(key(0), key(99)), d);
    assert.equal(store.apply(item(key(1), 2, { k: key(1) }, true), 'write').applied, true, 'a tombstone is taken');
  });
});

interface Doc extends Entity {
  n: number;
}

describe('the DHT with full replicas (simulator)', () => {
  test('a write fails with DiskFull (not Timeout) when too many replicas are full; deletions still succeed; writes resume once space is freed', async () => {
    const sim = await dhtRing('disk-full', 6);
    const id = idFor('doc:full', Scope.GLOBAL);
    const client = sim.dht(sim.ring.live()[0]!);
    await sim.settle(client.put<Doc>(id, { type: 'doc', n: 1 }));
    const set = sim.trueReplicaSet(id, 4);
    const disks = new Map(set.map((n) => [n, new FakeDisk(50 * GiB)]));
    for (const n of set) sim.disks.get(n.id.hex)!.space = new SpaceGuard({ dir: `/data/${n.id.short()}`, reserveBytes: GiB, reservePercent: 2, now: () => sim.now(), statfs: disks.get(n)!.statfs });
    const fill = (count: number, free: number): void => {
      for (const n of set.slice(0, count)) {
        disks.get(n)!.free = free;
        sim.disks.get(n.id.hex)!.space!.refresh();
      }
    };
    // Full: below the reserve (1 GiB), above half of it (rewrites and tombstones are still taken).
    const full = 900 * MiB;
    // One replica full: the write quorum (3 of 4) is still reached.
    fill(1, full);
    const w = await sim.settle(client.update<Doc>(id, (cur) => ({ ...cur!.body, n: 2 })));
    assert.equal(w!.version, 2);
    // Two full: a write that adds data has no quorum; the client learns why, well before its
    // 10 s deadline (after retrying for 2 s: a set can be short of a member only for a moment).
    fill(2, full);
    const started = sim.now();
    const grow = (cur: { body: Doc } | undefined): Doc => ({ ...cur!.body, n: 3, blob: 'x'.repeat(4000) }) as Doc;
    await assert.rejects(sim.settle(client.update<Doc>(id, grow)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DiskFull');
      assert.match(err.message, /2 of 4 replicas refused the write for want of disk space/);
      return true;
    });
    const took = sim.now() - started;
    assert.ok(took >= 2000 && took < 5000, `failed after ${took} ms`);
    assert.equal(client.stats.errors['DiskFull'], 1);
    // A new item at the same position (same replicas) is refused too.
    await assert.rejects(sim.settle(client.putItem<Doc>(id, 'new', { type: 'doc', n: 1 })), (err: Error & { code?: string }) => err.code === 'DiskFull');
    // Rewrites that do not grow (bookkeeping) and deletions (tombstones) go on. (The refused
    // write is on the two replicas with room, as any write not acknowledged may be, and a read
    // may return it: this rewrite drops its blob.)
    const same = await sim.settle(client.update<Doc>(id, () => ({ type: 'doc', n: 9 })));
    assert.equal(same!.body.n, 9);
    const deleted = await sim.settle(client.update<Doc>(id, (cur) => ({ ...cur!.body, deleted: true })));
    assert.equal(deleted!.deleted, true);
    // Space freed: the same nodes take writes again.
    fill(2, 50 * GiB);
    const back = await sim.settle(client.update<Doc>(id, (cur) => grow(cur)));
    assert.equal(back!.body.n, 3);
    await sim.settle(client.putItem<Doc>(id, 'newer', { type: 'doc', n: 1 }));
    const read = await sim.settle(sim.dht(sim.ring.live()[3]!).get<Doc>(id));
    assert.equal(read!.body.n, 3);
  });
});
