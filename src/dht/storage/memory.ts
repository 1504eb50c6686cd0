/**
 * In-memory storage engine for the simulator and tests: a sorted key set and a map. Writes
 * resolve at once (as already-resolved promises), so simulated runs stay deterministic. Keep the
 * instance to model a node restarting on the same disk.
 */
import type { StoredItem } from '../types.ts';
import { SortedKeys } from './sorted.ts';
import { admitItem } from './space.ts';
import type { SpaceGuard } from './space.ts';
import { indexEntryOf } from './types.ts';
import type { IndexedItem, QuarantinedItem, StorageEngine } from './types.ts';

const DONE = Promise.resolve();

export class MemoryStorage implements StorageEngine {
  readonly kind = 'memory';
  private readonly items = new Map<string, StoredItem>();
  private readonly keys = new SortedKeys();
  /** Index entries, kept apart from the items as on disk ({@link tamper} leaves them alone). */
  private readonly index = new Map<string, IndexedItem>();
  /** Damaged items moved aside (see {@link quarantine}). */
  readonly quarantinedItems = new Map<string, QuarantinedItem>();
  private readonly meta = new Map<string, unknown>();
  /** Copies made by {@link copyAside}, by label (the simulator's and the tests' view of them). */
  readonly copies = new Map<string, StoredItem[]>();
  /** A storage reserve, as on a real node (space.ts): the simulator and tests model full disks with it. */
  space: SpaceGuard | undefined;

  get(key: string): StoredItem | undefined {
    return this.items.get(key);
  }

  refusal(item: StoredItem): Error | undefined {
    return this.space ? admitItem(this.space, item, this.items.get(item.k), false) : undefined;
  }

  put(item: StoredItem): Promise<void> {
    const refused = this.space ? admitItem(this.space, item, this.items.get(item.k), true) : undefined;
    if (refused) return Promise.reject(refused);
    if (!this.items.has(item.k)) this.keys.add(item.k);
    this.items.set(item.k, item);
    this.index.set(item.k, indexEntryOf(item));
    return DONE;
  }

  remove(key: string): Promise<void> {
    const refused = this.space?.admit(0, 'remove', 'dht');
    if (refused) return Promise.reject(refused);
    if (this.items.delete(key)) this.keys.delete(key);
    this.index.delete(key);
    return DONE;
  }

  quarantine(item: StoredItem, at: number): Promise<void> {
    this.quarantinedItems.set(item.k, { ...item, qa: at });
    return this.remove(item.k);
  }

  get quarantinedCount(): number {
    return this.quarantinedItems.size;
  }

  quarantined(): Iterable<QuarantinedItem> {
    return [...this.quarantinedItems.values()].sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  }

  clearQuarantine(): Promise<number> {
    const n = this.quarantinedItems.size;
    this.quarantinedItems.clear();
    return Promise.resolve(n);
  }

  /**
   * Replaces the stored copy of `key` with `change(copy)` without re-sealing it: the simulator's
   * and the tests' way of damaging a value at rest (the checksum then no longer matches).
   */
  tamper(key: string, change: (item: StoredItem) => StoredItem): boolean {
    const item = this.items.get(key);
    if (!item) return false;
    this.items.set(key, change({ ...item, h: item.h.map((e) => [e[0], e[1]]) }));
    return true;
  }

  *range(start: string, end?: string): Generator<StoredItem> {
    for (const k of this.keys.range(start, end)) {
      const item = this.items.get(k);
      if (item) yield item;
    }
  }

  entry(key: string): IndexedItem | undefined {
    return this.index.get(key);
  }

  *entries(start: string, end?: string): Generator<IndexedItem> {
    for (const k of this.keys.range(start, end)) {
      const e = this.index.get(k);
      if (e) yield e;
    }
  }

  get size(): number {
    return this.items.size;
  }

  getMeta(key: string): unknown {
    return this.meta.get(key);
  }

  putMeta(key: string, value: unknown): Promise<void> {
    this.meta.set(key, value);
    return DONE;
  }

  copyAside(label: string): Promise<string> {
    this.copies.set(label, [...this.range('')]);
    return Promise.resolve(`memory:${label}`);
  }

  close(): Promise<void> {
    return DONE;
  }
}
