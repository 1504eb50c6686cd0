/**
 * The storage engine contract: one node's items, ordered by storage key (UTF-8 byte order), with
 * synchronous reads and durable asynchronous writes. LMDB implements it for real nodes, a sorted
 * in-memory map for the simulator.
 */
import type { StoredItem } from '../types.ts';

export interface StorageEngine {
  /** `memory` or `lmdb`, for logs. */
  readonly kind: string;
  /** The item stored under `key` (including writes not yet committed). */
  get(key: string): StoredItem | undefined;
  /** Stores `item` under `item.k`; resolves once it is durable (committed and flushed). */
  put(item: StoredItem): Promise<void>;
  /** Removes `key`; resolves once durable. */
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
  /** Number of items. */
  readonly size: number;
  close(): Promise<void>;
}

/** A damaged item as kept in quarantine. */
export interface QuarantinedItem extends StoredItem {
  /** When it was quarantined (ms since the epoch); absent in quarantines written before this was kept. */
  qa?: number;
}
