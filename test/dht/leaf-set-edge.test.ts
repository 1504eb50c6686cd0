/**
 * A read coordinated by a node whose leaf set spans the key but not the key's whole replica set
 * (the key lies near one end of it, and the closest nodes on the far side are unknown to it) must
 * not read a quorum of the wrong nodes: chaos:dht's churn scenario found reads missing
 * acknowledged writes that way. Such a node routes the read to the root.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Id, ringDistance } from '../../src/id/index.ts';
import type { Entity } from '../../src/dht/index.ts';
import type { SimNode } from '../../src/sim/ring.ts';
import { dhtRing } from './helpers.ts';

interface Doc extends Entity {
  text: string;
}

describe('reads near the end of a leaf set', () => {
  test('a reader that does not know the whole replica set routes to the root and finds the write', async () => {
    const sim = await dhtRing('leaf-edge', 60);
    const live = sim.ring.live();
    const closest = (key: Id): SimNode[] => [...live].sort((a, b) => (ringDistance(key, a.id) < ringDistance(key, b.id) ? -1 : 1)).slice(0, 4);
    // A reader and a key just clockwise of its leftmost leaf-set member, whose replica set has
    // at least two nodes the reader does not know.
    let found: { reader: SimNode; key: Id; unknown: SimNode[] } | undefined;
    for (const reader of live) {
      const left = reader.pastry.leafSet().left;
      const leftmost = left[left.length - 1]!;
      const key = Id.fromBigInt(((leftmost.id.big >> 2n) + 1n) << 2n); // an unscoped id (flag bits 0)
      const known = new Set([reader.id.hex, ...reader.pastry.leafSetMembers().map((h) => h.id.hex)]);
      assert.ok(reader.pastry.inLeafSetRange(key));
      const unknown = closest(key).filter((n) => !known.has(n.id.hex));
      if (unknown.length >= 2) {
        found = { reader, key, unknown };
        break;
      }
    }
    assert.ok(found, 'some reader has such a key');
    const { reader, key, unknown } = found;
    const dht = sim.dht(reader);
    assert.equal(sim.ring.live().length, 60);
    assert.ok(!dht.replicaSet(key).some((h) => unknown.some((u) => u.id.hex === h.id.hex)), "the reader's own view of the replica set misses them");
    assert.equal(reader.pastry.knowsNodesAround(key, dht.replicaSet(key)), false);

    await sim.settle(sim.dht(unknown[0]!).put<Doc>(key, { type: 'doc', text: 'written' }));
    // Only the copies of the replicas the reader does not know are left.
    for (const n of live) {
      if (unknown.includes(n)) continue;
      if (sim.dht(n).localGet(key)) void sim.disks.get(n.id.hex)!.remove(key.hex);
    }
    const coordinatedBefore = dht.stats.coordinated['get'] ?? 0;
    const read = await sim.settle(dht.get<Doc>(key));
    assert.equal(read?.body.text, 'written', 'the quorum of the real replica set finds the write');
    assert.equal(dht.stats.coordinated['get'] ?? 0, coordinatedBefore, 'the reader did not coordinate the read itself');

    // Well inside its leaf set, the same reader still reads the quorum itself.
    const self = reader.pastry.leafSet();
    const inner = Id.fromBigInt(((self.left[2]!.id.big >> 2n) + 1n) << 2n);
    assert.equal(reader.pastry.knowsNodesAround(inner, dht.replicaSet(inner)), true);
    await sim.settle(dht.get(inner));
    assert.equal(dht.stats.coordinated['get'] ?? 0, coordinatedBefore + 1);
  });
});
