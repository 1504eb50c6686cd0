/**
 * Key order for partitions whose sort keys are `object key + U+0001 + suffix` (noncurrent
 * versions, uploads in progress). Such a partition is in S3 key order except around keys that
 * another key extends with U+0000 or U+0001: the versions of `a` (`a\u0001<seq>`) sort after
 * those of `a\u0000x` and among those of `a\u0001b`. Listings need each key's items together and
 * keys in order, so {@link keyGroups} reads such a key's items whole, by its own prefix, at its
 * turn in key order, and skips them where the partition has them. Other keys cost nothing extra.
 */
import { compareKeys } from './protocol/index.ts';

/** A key with its items, in the partition's order. */
export interface KeyGroup<T> {
  key: string;
  items: T[];
}

/** The shorter keys that `key` extends with U+0000 or U+0001 (whose items may sort elsewhere), shortest first. */
function clashPrefixes(key: string): string[] {
  const out: string[] = [];
  for (let i = 1; i < key.length; i++) if (key.charCodeAt(i) <= 1) out.push(key.slice(0, i));
  return out;
}

/** Whether `later` extends `key` with U+0000 or U+0001 (so `key`'s items may continue after it). */
function extendsWithSeparator(later: string, key: string): boolean {
  return later.length > key.length && later.startsWith(key) && later.charCodeAt(key.length) <= 1;
}

/**
 * The items of a sorted partition grouped by their key (`keyOf`), the groups in S3 key order.
 * `readKey(k)` reads all of one key's items (a prefix scan filtered to `k`); it is called only for
 * keys in the clash described above. Keys not starting with `prefix` are not read that way.
 */
export async function* keyGroups<T>(items: AsyncIterable<T>, keyOf: (item: T) => string, readKey: (key: string) => Promise<T[]>, prefix = ''): AsyncGenerator<KeyGroup<T>> {
  const it = items[Symbol.asyncIterator]();
  const whole = new Set<string>();
  let last: string | undefined;
  try {
    let next = await it.next();
    while (next.done !== true) {
      const key = keyOf(next.value);
      if (whole.has(key)) {
        next = await it.next();
        continue;
      }
      // A shorter key this one extends may have items further on: its turn comes first.
      for (const p of clashPrefixes(key)) {
        if (whole.has(p) || !p.startsWith(prefix) || (last !== undefined && compareKeys(p, last) <= 0)) continue;
        whole.add(p);
        const all = await readKey(p);
        if (all.length > 0) {
          yield { key: p, items: all };
          last = p;
        }
      }
      const group: KeyGroup<T> = { key, items: [] };
      while (next.done !== true && keyOf(next.value) === key) {
        group.items.push(next.value);
        next = await it.next();
      }
      // A longer key next, extending this one: this one's items may continue after it.
      if (next.done !== true && extendsWithSeparator(keyOf(next.value), key)) {
        group.items = await readKey(key);
        whole.add(key);
      }
      yield group;
      last = key;
    }
  } finally {
    await it.return?.(undefined);
  }
}

/** Everything an async iterable yields, as an array. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const i of items) out.push(i);
  return out;
}
