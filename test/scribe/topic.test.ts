/**
 * Topic ids and the weighted draws behind randomAnycast.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, idFor, regionOf, azOf, scopeOf } from '../../src/id/index.ts';
import { SeededRandom } from '../../src/env/index.ts';
import { ScribeError, makeTopic, topicFromWire, topicId, weightedOrder } from '../../src/scribe/index.ts';
import { weightedIndex } from '../../src/scribe/anycast.ts';

describe('topics', () => {
  test('a topic id is the scoped resource id of its URI, the same on every node', () => {
    assert.ok(topicId('topic:a').equals(idFor('topic:a', Scope.GLOBAL)));
    assert.ok(topicId('topic:a').equals(topicId('topic:a')));
    assert.ok(!topicId('topic:a').equals(topicId('topic:b')));
    const loc = { region: 7, az: 3 };
    const az = makeTopic('svc:db', Scope.AVAILABILITY_ZONE, loc);
    assert.equal(regionOf(az.id), 7);
    assert.equal(azOf(az.id), 3);
    assert.equal(scopeOf(az.id), Scope.AVAILABILITY_ZONE);
    const region = makeTopic('svc:db', Scope.REGION, loc);
    assert.equal(regionOf(region.id), 7);
    assert.ok(!region.id.equals(az.id));
    assert.deepEqual(topicFromWire(az.uri, az.id), az);
  });

  test('malformed URIs and missing locations are InvalidTopic errors', () => {
    for (const bad of ['', 'no-scheme', ':x', 'topic:']) {
      assert.throws(() => topicId(bad), (e: ScribeError) => e instanceof ScribeError && e.code === 'InvalidTopic', bad);
    }
    assert.throws(() => makeTopic('topic:x', Scope.REGION), (e: ScribeError) => e.code === 'InvalidTopic' && /location/.test(e.message));
    assert.throws(() => makeTopic('topic:x', Scope.REGION, { region: 300, az: 0 }), (e: ScribeError) => e.code === 'InvalidTopic');
  });
});

describe('weighted draws', () => {
  test('weightedIndex draws in proportion to the weights, never a zero weight while others remain', () => {
    const r = new SeededRandom('w');
    const weights = [1, 0, 3, 6];
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[weightedIndex(weights, r)]!++;
    assert.equal(counts[1], 0);
    assert.ok(Math.abs(counts[0]! / 20_000 - 0.1) < 0.01, `${counts}`);
    assert.ok(Math.abs(counts[2]! / 20_000 - 0.3) < 0.015, `${counts}`);
    assert.ok(Math.abs(counts[3]! / 20_000 - 0.6) < 0.015, `${counts}`);
    assert.equal(weightedIndex([0, 0], r), 0, 'all zero: the first');
  });

  test('weightedOrder puts item i first with probability w_i / Σw and zero weights last', () => {
    const r = new SeededRandom('o');
    const firsts = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const order = weightedOrder([{ item: 'a', weight: 1 }, { item: 'z', weight: 0 }, { item: 'b', weight: 4 }], r);
      assert.equal(order[2], 'z');
      firsts.set(order[0]!, (firsts.get(order[0]!) ?? 0) + 1);
    }
    assert.ok(Math.abs(firsts.get('b')! / 20_000 - 0.8) < 0.015);
  });
});
