import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KnownItems } from '../../src/dht/known-items.ts';
import type { StoredItem } from '../../src/dht/index.ts';

function item(k: string, bodyBytes: number): StoredItem {
  return { k, v: 1, op: 'o', h: [], hf: 0, d: false, t: 't', u: null, ct: 'application/json', b: 'x'.repeat(bodyBytes), at: 0 };
}

describe('known items (the root\'s cache of agreed versions)', () => {
  test('bounded by body bytes: the oldest learnt go first, and the count stays exact', () => {
    const known = new KnownItems(1000, 10_000);
    for (let i = 0; i < 10; i++) known.set(`k${i}`, item(`k${i}`, 2000), 1);
    // Each entry counts its body, its key and 200 bytes: four fit in 10 000 bytes.
    assert.equal(known.size, 4);
    assert.ok(known.heldBytes <= 10_000);
    assert.deepEqual(['k6', 'k7', 'k8', 'k9'].map((k) => known.get(k)?.item?.k), ['k6', 'k7', 'k8', 'k9']);
    assert.equal(known.get('k5'), undefined);
    // Relearning a key makes it the newest: the next eviction takes k7, not k6.
    known.set('k6', item('k6', 2000), 2);
    known.set('k10', item('k10', 2000), 2);
    assert.equal(known.get('k7'), undefined);
    assert.equal(known.get('k6')?.epoch, 2);
    known.delete('k6');
    known.delete('k6');
    assert.equal(known.size, 3);
    known.clear();
    assert.equal(known.heldBytes, 0);
  });

  test('bounded by entries; "none held" (null) entries count too; an item over the whole budget is not kept', () => {
    const known = new KnownItems(3, 1_000_000);
    for (let i = 0; i < 5; i++) known.set(`n${i}`, null, 1);
    assert.equal(known.size, 3);
    assert.equal(known.get('n4')?.item, null);
    const huge = new KnownItems(10, 5_000);
    huge.set('a', item('a', 100), 1);
    huge.set('big', item('big', 10_000), 1);
    assert.equal(huge.get('big'), undefined);
    assert.ok(huge.get('a'), 'a too-large item does not flush the cache');
  });
});
