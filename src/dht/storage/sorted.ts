import btree from 'sorted-btree';

const BTree = btree.default;

/**
 * A sorted set of strings in UTF-8 byte order (the order LMDB keeps keys in), so that the memory
 * engine and the LMDB engine list items identically.
 */

/**
 * Compares two strings by the UTF-8 encoding of their code points. UTF-16 order differs only
 * where a surrogate pair (code points above U+FFFF) meets U+E000..U+FFFF: those are mapped so
 * that surrogates sort last, as their 4-byte UTF-8 forms do.
 */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * A sorted set of unique strings in UTF-8 byte order, on a B+ tree: adding or removing a key costs
 * O(log n). (It was a sorted array: an insert moved every later key, about half a millisecond of
 * CPU per new item on a node holding a hundred thousand.)
 */
export class SortedKeys {
  private readonly tree = new BTree<string, true>(undefined, compareUtf8);

  get size(): number {
    return this.tree.size;
  }

  /** Adds `key`; returns false if present. */
  add(key: string): boolean {
    return this.tree.set(key, true, false);
  }

  delete(key: string): boolean {
    return this.tree.delete(key);
  }

  /** The first key `>= key`, or undefined. */
  ceiling(key: string): string | undefined {
    return this.tree.has(key) ? key : this.tree.nextHigherKey(key);
  }

  /** Calls `fn` with each key with `start <= key < end`, in order (no changes meanwhile). */
  forEachIn(start: string, end: string, fn: (key: string) => void): void {
    this.tree.forRange(start, end, false, fn);
  }

  /**
   * Keys with `start <= key < end` in order. Safe against changes during iteration: each step
   * finds the key after the last one yielded.
   */
  *range(start: string, end?: string): Generator<string> {
    for (let k = this.ceiling(start); k !== undefined; k = this.tree.nextHigherKey(k)) {
      if (end !== undefined && compareUtf8(k, end) >= 0) return;
      yield k;
    }
  }
}
