/**
 * The storage engine contract: one node's items, ordered by storage key (UTF-8 byte order), with
 * synchronous reads and durable asynchronous writes. LMDB implements it for real nodes, a sorted
 * in-memory map for the simulator.
 *
 * Besides the items, an engine keeps their index: one small entry per item (key, version,
 * operation id, tombstone flag, time written), written with the item. Anti-entropy, hand-off and
 * housekeeping walk the index, not the items (whose bodies may be 64 KiB), and the node never
 * holds it on its heap: on LMDB it is a database of its own, so a node's memory and start-up time
 * do not grow with the number of records it stores.
 */
import type { ItemSummary, StoredItem } from '../types.ts';

/** An item's index entry: its summary and when it was written (tombstones expire by it). */
export interface IndexedItem extends ItemSummary {
  at: number;
}

/** The index entry of an item (what the engine stores beside it). */
export function indexEntryOf(item: StoredItem): IndexedItem {
  return { k: item.k, v: item.v, op: item.op, d: item.d, at: item.at };
}

export interface StorageEngine {
  /** `memory` or `lmdb`, for logs. */
  readonly kind: string;
  /** The item stored under `key` (including writes not yet committed). */
  get(key: string): StoredItem | undefined;
  /**
   * Stores `item` under `item.k`; resolves once it is durable (committed and flushed). Rejects
   * with `DiskFull` when the storage reserve refuses it (nothing changes) or the disk was full,
   * `StorageFailed` for another failure to commit; a write that failed is not served afterwards.
   */
  put(item: StoredItem): Promise<void>;
  /**
   * Why a {@link put} of `item` would be refused now (`DiskFull`: the storage reserve, see
   * space.ts), or undefined. Asked before a write changes anything else; engines without a
   * reserve have none.
   */
  refusal?(item: StoredItem): Error | undefined;
  /** Removes `key`; resolves once durable (refused by the reserve, `DiskFull`, only when the disk is in its last bytes). */
  remove(key: string): Promise<void>;
  /**
   * Moves a damaged item out of the store into a quarantine kept for an operator (the latest
   * damaged copy per key, with `at` as its quarantine time); resolves once durable.
   */
  quarantine(item: StoredItem, at: number): Promise<void>;
  /** Damaged items held in quarantine. */
  readonly quarantinedCount: number;
  /** The damaged items held in quarantine, in key order. */
  quarantined(): Iterable<QuarantinedItem>;
  /** Empties the quarantine (an operator looked at it); resolves with the number removed, once durable. */
  clearQuarantine(): Promise<number>;
  /** Items with `start <= key < end` (no `end`: to the last), in key order. */
  range(start: string, end?: string): Iterable<StoredItem>;
  /**
   * The index entry of `key` (including writes not yet committed). It is stored apart from the
   * item: damage to an item's bytes leaves its entry as it was written.
   */
  entry(key: string): IndexedItem | undefined;
  /**
   * Index entries with `start <= key < end` (no `end`: to the last), in key order, including
   * writes not yet committed. Consume it synchronously (an LMDB walk holds a read snapshot).
   */
  entries(start: string, end?: string): Iterable<IndexedItem>;
  /** Number of items (may walk the index: for tests and tools, not hot paths). */
  readonly size: number;
  /** A small value of the node's own kept beside the items (e.g. when it was last up); undefined if none. */
  getMeta(key: string): unknown;
  /** Stores a small value of the node's own beside the items; resolves once durable. */
  putMeta(key: string, value: unknown): Promise<void>;
  /**
   * Copies the whole store, as it is now, aside for an operator (before the node empties it:
   * see stale-store.ts); resolves with where the copy is once it is complete.
   */
  copyAside(label: string): Promise<string>;
  close(): Promise<void>;
}

/** A damaged item as kept in quarantine. */
export interface QuarantinedItem extends StoredItem {
  /** When it was quarantined (ms since the epoch); absent in quarantines written before this was kept. */
  qa?: number;
}
