/**
 * Hand-offs after a leaf-set change walk only the arcs near the changed nodes: the bound itself
 * (a property over random rings and changes: off the arcs, old and new replica sets are equal),
 * and a simulated ring where a join makes far nodes examine no keys while every key still ends
 * on its replicas.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Id, Scope, idFor } from '../../src/id/index.ts';
import type { NodeHandle } from '../../src/wire/index.ts';
import type { Entity } from '../../src/dht/index.ts';
import { changedArcs, onArc, replicaSetOf } from '../../src/dht/replicas.ts';
import { mergeRanges } from '../../src/dht/maintenance.ts';
import type { DhtSim } from '../../src/sim/dht-chaos.ts';
import { dhtRing } from './helpers.ts';

const hex40 = fc.array(fc.constantFrom(...'0123456789abcdef'.split('')), { minLength: 40, maxLength: 40 }).map((d) => d.join(''));
const handle = (hex: string): NodeHandle => ({ id: Id.parse(hex), addr: `tcp://${hex.slice(0, 8)}` }) as unknown as NodeHandle;
const ids = (hs: NodeHandle[]): string[] => hs.map((h) => h.id.hex).sort();

/** Writes `count` documents through random live nodes, `batch` at a time; resolves with their ids. */
async function writeDocs(sim: DhtSim, count: number, batch: number, label: string): Promise<Id[]> {
  const keys: Id[] = [];
  for (let i = 0; i < count; i += batch) {
    const writes = [];
    for (let j = i; j < Math.min(count, i + batch); j++) {
      const id = idFor(`doc:${label}-${j}`, Scope.GLOBAL);
      keys.push(id);
      writes.push(sim.dht(sim.ring.randomLive()).put<Entity & { n: number }>(id, { type: 'doc', n: j }));
    }
    await sim.settle(Promise.all(writes));
  }
  return keys;
}

describe('hand-off arcs', () => {
  test('off every changed arc, a global key keeps its replica set (random rings, joins and departures)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(hex40, { minLength: 2, maxLength: 40 }),
        fc.uniqueArray(hex40, { maxLength: 3 }),
        fc.nat(),
        fc.integer({ min: 1, max: 5 }),
        fc.array(hex40.map((h) => h.slice(0, 38) + '00'), { minLength: 1, maxLength: 30 }),
        (before, joining, leaveSeed, n, positions) => {
          const old = before.map(handle);
          const fresh = joining.filter((h) => !before.includes(h)).map(handle);
          const leaving = old.length > 1 ? [old[leaveSeed % old.length]!] : [];
          const now = [...old.filter((h) => !leaving.includes(h)), ...fresh];
          const arcs = changedArcs(now, old, fresh.map((h) => h.id.hex), leaving.map((h) => h.id.hex), n);
          if (!arcs) return;
          for (const p of positions) {
            const pos = Id.parse(p);
            if (arcs.some((a) => onArc(pos.big, a))) continue;
            assert.deepEqual(ids(replicaSetOf(pos, now, n)), ids(replicaSetOf(pos, old, n)), `position ${p.slice(0, 8)} off the arcs`);
          }
        },
      ),
      { numRuns: 400, seed: 7 },
    );
  });

  test('too few members to bound anything: no arcs (walk everything)', () => {
    const hs = ['10', '50', '90', 'c0'].map((p) => handle(p.padEnd(40, '0')));
    assert.equal(changedArcs(hs, hs.slice(1), [hs[0]!.id.hex], [], 2), undefined);
    assert.deepEqual(changedArcs(hs, hs, [], [], 2), [], 'no change, nothing to walk');
  });

  test('ranges merge when they overlap or touch, in order', () => {
    assert.deepEqual(mergeRanges([['5', '7'], ['1', '3'], ['2', '4'], ['7', '9'], ['b', 'c']]), [['1', '4'], ['5', '9'], ['b', 'c']]);
  });

  test('a join in a 40-node ring: far nodes whose leaf sets changed examine no keys, and every key reaches its replicas', async () => {
    const sim = await dhtRing('handoff-arcs', 40);
    const keys = await writeDocs(sim, 600, 50, 'arc');
    await sim.run(5_000);
    const before = new Map(sim.ring.live().map((n) => [n.id.hex, sim.dht(n).stats.handoffKeysExamined]));
    const [newcomer] = await sim.ring.build(1);
    await sim.run(5_000);
    const told = sim.ring.live().filter((n) => n !== newcomer && sim.dht(n).node.leafSetMembers().some((h) => h.id.hex === newcomer!.id.hex));
    const examined = (n: (typeof told)[number]): number => sim.dht(n).stats.handoffKeysExamined - (before.get(n.id.hex) ?? 0);
    const fullWalk = told.reduce((a, n) => a + sim.dht(n).localSize, 0);
    const walked = told.reduce((a, n) => a + examined(n), 0);
    assert.ok(told.length >= 16, `the newcomer entered many leaf sets (${told.length})`);
    assert.ok(told.filter((n) => examined(n) === 0).length >= 8, 'far members of those leaf sets examined nothing');
    assert.ok(walked > 0 && walked < fullWalk / 2, `hand-offs looked at ${walked} keys; walking every store once would be ${fullWalk}`);
    const missing = keys.filter((id) => sim.trueReplicaSet(id, 4).some((n) => !sim.dht(n).localGet(id)));
    assert.deepEqual(missing.map((id) => id.short()), [], 'every key on its four replicas');
    assert.ok(keys.some((id) => sim.trueReplicaSet(id, 4).includes(newcomer!)), 'the newcomer took some keys');
  });
});

describe('hand-off walks in pages', () => {
  test('a join in a ring whose nodes hold over 8 000 keys each: the hand-off walk spans pages, and every key reaches the newcomer', async () => {
    const sim = await dhtRing('handoff-pages', 5);
    const keys = await writeDocs(sim, 14_000, 500, 'page');
    const [newcomer] = await sim.ring.build(1);
    await sim.run(10_000);
    const examined = sim.ring.live().map((n) => sim.dht(n).stats.handoffKeysExamined);
    assert.ok(Math.max(...examined) > 8_000, `some node walked more than a page (${Math.max(...examined)} keys)`);
    const mine = keys.filter((id) => sim.trueReplicaSet(id, 4).includes(newcomer!));
    assert.ok(mine.length > 1_000);
    assert.deepEqual(mine.filter((id) => !sim.dht(newcomer!).localGet(id)).length, 0, 'every key the newcomer replicates was handed to it');
  });
});
