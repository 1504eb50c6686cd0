/**
 * keyGroups (src/cloud/s3/key-groups.ts): a partition sorted by `key + U+0001 + suffix` read back
 * in S3 key order with each key's items together, also when keys extend each other with U+0000 or
 * U+0001 (where the partition's order interleaves them), reading whole only the keys concerned.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { keyGroups } from '../../../src/cloud/s3/key-groups.ts';
import type { KeyGroup } from '../../../src/cloud/s3/key-groups.ts';
import { compareKeys } from '../../../src/cloud/s3/protocol/index.ts';

interface Item {
  key: string;
  sortKey: string;
}

/** A sorted partition of `key \x01 suffix` items, and what reading it through keyGroups gives. */
async function regroup(items: Item[], prefix = ''): Promise<{ groups: KeyGroup<Item>[]; wholeReads: string[] }> {
  const sorted = items.slice().sort((a, b) => compareKeys(a.sortKey, b.sortKey));
  const wholeReads: string[] = [];
  async function* scan(): AsyncGenerator<Item> {
    for (const i of sorted) if (i.sortKey.startsWith(prefix)) yield i;
  }
  const readKey = (key: string): Promise<Item[]> => {
    wholeReads.push(key);
    return Promise.resolve(sorted.filter((i) => i.key === key));
  };
  const groups: KeyGroup<Item>[] = [];
  for await (const g of keyGroups(scan(), (i) => i.key, readKey, prefix)) groups.push(g);
  return { groups, wholeReads };
}

const item = (key: string, suffix: string): Item => ({ key, sortKey: `${key}\u0001${suffix}` });

describe('keyGroups', () => {
  test('the versions of "a" and "a\\u0001b" (interleaved in the partition) come out key by key', async () => {
    const items = [item('a', 'fffffffffffe'), item('a', '000000000001'), item('a\u0001b', 'fffffffffffe'), item('a\u0001b', 'fffffffffffd'), item('b', '1')];
    const { groups, wholeReads } = await regroup(items);
    assert.deepEqual(
      groups.map((g) => [g.key, g.items.map((i) => i.sortKey.slice(i.key.length + 1))]),
      [
        ['a', ['000000000001', 'fffffffffffe']],
        ['a\u0001b', ['fffffffffffd', 'fffffffffffe']],
        ['b', ['1']],
      ],
    );
    assert.deepEqual(wholeReads, ['a'], 'only the key another one extends is read whole');
  });

  test('a key extended with U+0000 (whose items sort first) comes before its extension', async () => {
    const { groups } = await regroup([item('a\u0000x', '1'), item('a', '1'), item('a', '2')]);
    assert.deepEqual(groups.map((g) => [g.key, g.items.length]), [['a', 2], ['a\u0000x', 1]]);
  });

  test('plain keys read once, in order, with no whole reads', async () => {
    const { groups, wholeReads } = await regroup([item('photos/1', 'x'), item('photos/1', 'y'), item('photos/2', 'x'), item('z', 'x')]);
    assert.deepEqual(groups.map((g) => g.key), ['photos/1', 'photos/2', 'z']);
    assert.deepEqual(wholeReads, []);
  });

  test('any keys over U+0000, U+0001, a and b: groups in strict key order, each key once with all its items', async () => {
    const keyArb = fc.string({ unit: fc.constantFrom('\u0000', '\u0001', 'a', 'b'), minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(keyArb, fc.integer({ min: 1, max: 3 })), { selector: (t) => t[0], maxLength: 12 }), async (keys) => {
        const items = keys.flatMap(([key, n]) => Array.from({ length: n }, (_, i) => item(key, (0xfff - i * 0x3a7).toString(16).padStart(3, '0'))));
        const { groups } = await regroup(items);
        const expected = keys.map(([key]) => key).sort(compareKeys);
        assert.deepEqual(groups.map((g) => g.key), expected);
        for (const g of groups) {
          const want = items.filter((i) => i.key === g.key).map((i) => i.sortKey).sort(compareKeys);
          assert.deepEqual(g.items.map((i) => i.sortKey), want, `items of ${JSON.stringify(g.key)}`);
        }
      }),
      { numRuns: 500 },
    );
  });
});
