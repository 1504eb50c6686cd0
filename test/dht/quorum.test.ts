import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { quorumsFor } from '../../src/dht/quorum.ts';

describe('quorums of a replica set smaller than configured', () => {
  test('the defaults (4 replicas, quorums 3): 2 of 3, 2 of 2, 1 of 1; the full set as configured', () => {
    const o = { replicas: 4, writeQuorum: 3, readQuorum: 3 };
    assert.deepEqual(quorumsFor(o, 4), { write: 3, read: 3 });
    assert.deepEqual(quorumsFor(o, 3), { write: 2, read: 2 });
    assert.deepEqual(quorumsFor(o, 2), { write: 2, read: 2 });
    assert.deepEqual(quorumsFor(o, 1), { write: 1, read: 1 });
  });

  test('overlapping quorums still overlap, tolerance is never above what was configured, writes keep two copies, and quorums fit the set', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 32 }).chain((replicas) =>
          fc.record({
            replicas: fc.constant(replicas),
            writeQuorum: fc.integer({ min: 1, max: replicas }),
            readQuorum: fc.integer({ min: 1, max: replicas }),
            size: fc.integer({ min: 1, max: replicas + 2 }),
          }),
        ),
        ({ size, ...o }) => {
          const q = quorumsFor(o, size);
          const n = Math.min(size, o.replicas);
          assert.ok(q.write >= 1 && q.write <= n && q.read >= 1 && q.read <= n);
          if (o.readQuorum + o.writeQuorum > o.replicas) {
            assert.ok(q.read + q.write > n, `overlap at ${n}`);
            // A write acknowledged in the set of n + 1, less the copy on the member that left (a
            // write acknowledged by one copy, as a write quorum of 1 allows, may leave with it).
            const before = quorumsFor(o, n + 1).write;
            if (n < o.replicas && before >= 2) assert.ok(q.read + before - 1 > n, `overlap at ${n} with writes made at ${n + 1}`);
          }
          assert.ok(n - q.write <= o.replicas - o.writeQuorum, 'no more writes missed than configured');
          assert.ok(n - q.read <= o.replicas - o.readQuorum, 'no more reads missed than configured');
          assert.ok(q.write >= Math.min(o.writeQuorum, 2, n), 'two copies acknowledged where there can be');
        },
      ),
    );
  });
});
