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

/** A sorted array of unique strings with binary search (inserts are O(n) moves, fine below ~10^6). */
export class SortedKeys {
  private keys: string[] = [];

  get size(): number {
    return this.keys.length;
  }

  /** Index of the first key >= `key`. */
  lowerBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareUtf8(this.keys[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds `key`; returns false if present. */
  add(key: string): boolean {
    const i = this.lowerBound(key);
    if (this.keys[i] === key) return false;
    if (i === this.keys.length) this.keys.push(key);
    else this.keys.splice(i, 0, key);
    return true;
  }

  delete(key: string): boolean {
    const i = this.lowerBound(key);
    if (this.keys[i] !== key) return false;
    this.keys.splice(i, 1);
    return true;
  }

  at(i: number): string | undefined {
    return this.keys[i];
  }

  /** Positions `[from, to)` of the keys with `start <= key < end` (valid until the next change). */
  span(start: string, end: string): [number, number] {
    return [this.lowerBound(start), this.lowerBound(end)];
  }

  /** Keys with `start <= key < end` in order. Safe against deletions during iteration. */
  *range(start: string, end?: string): Generator<string> {
    let i = this.lowerBound(start);
    for (;;) {
      const k = this.keys[i];
      if (k === undefined || (end !== undefined && compareUtf8(k, end) >= 0)) return;
      yield k;
      // Re-find our place if the array changed under us.
      if (this.keys[i] === k) i++;
      else i = this.lowerBound(k) + (this.keys[this.lowerBound(k)] === k ? 1 : 0);
    }
  }
}
