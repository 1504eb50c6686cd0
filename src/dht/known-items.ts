/**
 * What a root knows its replica sets hold, key by key: the item every replica agreed on (or
 * `null`: none holds one), and the leaf-set epoch it was learnt in. A write that finds its key
 * here skips the read round. Bounded both in entries and in bytes of item bodies, oldest learnt
 * first out: with only an entry limit, a root of a bucket's object index kept up to 100 000
 * objects' inline bodies (up to 64 KiB each) on its heap.
 */
import type { StoredItem } from './types.ts';

/** One known item. */
export interface Known {
  item: StoredItem | null;
  epoch: number;
}

/** Bytes an entry is counted for beyond its key and body (the item's other fields, the map). */
const ENTRY_OVERHEAD = 200;

export class KnownItems {
  private readonly map = new Map<string, Known>();
  private bytes = 0;

  constructor(
    /** Most entries held. */
    private readonly maxEntries: number,
    /** Most bytes (keys and bodies, as string lengths, plus a fixed overhead each) held. */
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** Bytes counted for the entries held. */
  get heldBytes(): number {
    return this.bytes;
  }

  get(key: string): Known | undefined {
    return this.map.get(key);
  }

  /** Remembers `item` for `key` as the newest entry, evicting the oldest beyond the limits. */
  set(key: string, item: StoredItem | null, epoch: number): void {
    this.delete(key);
    const size = entryBytes(key, item);
    // An item larger than the whole budget is not worth evicting everything for.
    if (size > this.maxBytes) return;
    this.map.set(key, { item, epoch });
    this.bytes += size;
    while (this.map.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [oldest, known] = this.map.entries().next().value!;
      this.map.delete(oldest);
      this.bytes -= entryBytes(oldest, known.item);
    }
  }

  delete(key: string): void {
    const known = this.map.get(key);
    if (!known) return;
    this.map.delete(key);
    this.bytes -= entryBytes(key, known.item);
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}

function entryBytes(key: string, item: StoredItem | null): number {
  return key.length + (item ? item.b.length : 0) + ENTRY_OVERHEAD;
}
