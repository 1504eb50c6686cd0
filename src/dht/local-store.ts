/**
 * One node's replica store: the storage engine plus the rules by which a replica accepts an item,
 * and range digests over the engine's index (see storage/types.ts) so that anti-entropy can
 * summarise any range without reading the records themselves. What is held in memory does not
 * grow with the records: XOR digests per prefix bucket, the tombstones awaiting expiry, a count.
 */
import { IdFlags, Scope } from '../id/index.ts';
import { itemIntact, sealItem } from './item-checksum.ts';
import { ID_HEX_LENGTH, itemHash } from './record.ts';
import { compareUtf8 } from './storage/sorted.ts';
import { indexEntryOf } from './storage/types.ts';
import type { IndexedItem, StorageEngine } from './storage/types.ts';
import type { DhtStats, ItemSummary, StoredItem } from './types.ts';

/**
 * How a replica applies an incoming item:
 * - `write`: a new version from the root. Refused when the replica already holds this version or
 *   a later one written by another operation (the root's view was stale). Accepted again when it
 *   is the same operation (an idempotent retry).
 * - `merge`: repair / handoff / anti-entropy. Applied only when strictly newer.
 * - `supersede`: the root decided this copy wins: applied unless the replica holds a strictly
 *   newer version (replaces an equal version written by another operation).
 */
export type ApplyMode = 'write' | 'merge' | 'supersede';

/** Outcome of applying an item. */
export interface ApplyResult {
  applied: boolean;
  /** What the replica holds now (when it refused, the reason). */
  have: ItemSummary | undefined;
  /** Resolves when the applied item is durable. */
  durable: Promise<void>;
  /** The incoming item did not match its checksum: nothing was stored. */
  corrupt?: boolean;
  /** The engine refused the write (`DiskFull`: the storage reserve): nothing was stored. */
  refused?: Error;
}

/** Where a damaged item was found: read back from the engine, or arriving from a peer. */
export type CorruptionSource = 'stored' | 'arrived';

/** Told of every damaged item found (once per item found; stored ones are quarantined first). */
export type CorruptionListener = (item: StoredItem, source: CorruptionSource) => void;

/** XOR digest of a range of items. */
export interface RangeDigest {
  n: number;
  h1: number;
  h2: number;
}

const DONE = Promise.resolve();

/** A place in a list of ranges: range index and the last key handled in it. */
export type RangeCursor = [number, string];

/** Range digests remembered between anti-entropy passes (valid until the next change). */
const DIGEST_CACHE_LIMIT = 4096;

/** Hex digits of a key's ring position that name its prefix bucket (16^3 = 4096 buckets). */
const PREFIX_DIGITS = 3;
const PREFIX_BUCKETS = 16 ** PREFIX_DIGITS;

/** The prefix bucket of a storage key or ring position (-1 when it does not start with lowercase hex). */
function prefixBucket(key: string): number {
  let b = 0;
  for (let i = 0; i < PREFIX_DIGITS; i++) {
    const c = key.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return -1;
    b = b * 16 + d;
  }
  return b;
}

/** Whether a storage key's id is region- or zone-scoped (its flag byte, the id's last two hex digits). */
function isScopedKey(key: string): boolean {
  return (Number.parseInt(key.slice(38, 40), 16) & IdFlags.SCOPE_MASK) !== Scope.GLOBAL;
}

/** The smallest key of prefix bucket `b`. */
function bucketStart(b: number): string {
  return b.toString(16).padStart(PREFIX_DIGITS, '0');
}

/**
 * XOR digests and counts of the index per prefix bucket, kept as items come and go: a range digest
 * combines the whole buckets inside the range and walks only the keys of the two buckets at its
 * ends. (Walking the whole range cost a pass over every item in it per anti-entropy peer and
 * round: 600 ms of blocked event loop per digest at a million items.)
 */
class PrefixDigests {
  readonly n = new Int32Array(PREFIX_BUCKETS);
  readonly h1 = new Int32Array(PREFIX_BUCKETS);
  readonly h2 = new Int32Array(PREFIX_BUCKETS);
  /**
   * The same sums per partition (the items `<position>/<sort key>` of one ring position), so a
   * range walk adds a whole partition in one step: all of a partition's items share one position,
   * so no refinement of a range ever splits them, and walking them cost anti-entropy a pass over
   * the partition per digest level (some 40 levels down to the position) whenever it differed.
   */
  readonly partitions = new Map<string, RangeDigest>();

  /**
   * Adds (`dn` = 1) or removes (`dn` = -1) a key's hash; XOR makes both the same toggle. Stored
   * keys always start with hex digits (`isStorageKey`), so every one has a bucket.
   */
  toggle(key: string, h1: number, h2: number, dn: 1 | -1): void {
    const b = prefixBucket(key);
    this.n[b]! += dn;
    this.h1[b]! ^= h1;
    this.h2[b]! ^= h2;
    if (key.length <= ID_HEX_LENGTH) return;
    const position = key.slice(0, ID_HEX_LENGTH);
    const p = this.partitions.get(position);
    if (p === undefined) {
      this.partitions.set(position, { n: dn, h1, h2 });
    } else if (p.n + dn === 0) {
      this.partitions.delete(position);
    } else {
      p.n += dn;
      p.h1 ^= h1;
      p.h2 ^= h2;
    }
  }
}

/** What a {@link LocalStore} needs from its node besides the engine. */
export interface LocalStoreOptions {
  /** Counted into (the DHT's stats). */
  counters?: Pick<DhtStats, 'recordsSealed'>;
  /** The node's clock (ms since the epoch), for the quarantine time of damaged items. */
  now?: () => number;
  /**
   * Sum the index up in pages ({@link sumPage}) instead of at once in the constructor: the store
   * is usable at once (range digests are then walked) and complete once the pages are done.
   */
  sumInPages?: boolean;
}

export class LocalStore {
  /** Items held (kept here: counting an LMDB database walks it). */
  private count = 0;
  /** Items whose id is region- or zone-scoped (hand-offs cannot bound their replica sets by arcs). */
  private scoped = 0;
  /** Changes so far; a cached digest is valid while this is unchanged. */
  private mutations = 0;
  private readonly digests = new Map<string, { m: number; d: RangeDigest }>();
  private readonly prefixes = new PrefixDigests();
  /** When each tombstone held here was written (housekeeping expires them without reading items). */
  private readonly tombstoneAt = new Map<string, number>();
  /**
   * The latest change of each key whose engine write is not yet durable (the item written, or a
   * token for a removal): the sums count it already, so if its write fails they are set back to
   * what the engine holds — unless a later change of the key came meanwhile (its outcome decides).
   */
  private readonly inFlight = new Map<string, object>();

  /** Damaged items moved aside since start (see {@link quarantine}). */
  quarantined = 0;
  private onCorrupt: CorruptionListener | undefined;
  /**
   * While the index is being summed up in pages: the last key summed ('' before the first page).
   * Keys after it are not in the sums yet; changes to them are left to the walk, which reads the
   * entries as they are when it gets there.
   */
  private summedTo: string | undefined;

  /**
   * Sums up the engine's index (prefix digests, tombstones, count): a walk over the small index
   * entries, not the records (or, with `sumInPages`, page by page through {@link sumPage}).
   * Damage to a record's bytes is found when it is read: by a request, a hand-off, or the record
   * scrub that housekeeping runs over the whole store.
   */
  constructor(
    readonly engine: StorageEngine,
    onCorrupt?: CorruptionListener,
    private readonly options: LocalStoreOptions = {},
  ) {
    this.onCorrupt = onCorrupt;
    this.summedTo = '';
    if (!options.sumInPages) this.sumPage(Infinity);
  }

  /** Whether the sums (digests, count, tombstones) cover the whole store. */
  get summed(): boolean {
    return this.summedTo === undefined;
  }

  /** Sums up the next `limit` index entries; returns true once the whole index is summed. */
  sumPage(limit: number): boolean {
    const after = this.summedTo;
    if (after === undefined) return true;
    let n = 0;
    let last = after;
    for (const e of this.engine.entries(after)) {
      if (e.k === after) continue;
      if (n >= limit) break;
      this.count++;
      if (isScopedKey(e.k)) this.scoped++;
      const [h1, h2] = itemHash(e);
      this.prefixes.toggle(e.k, h1, h2, 1);
      if (e.d) this.tombstoneAt.set(e.k, e.at);
      last = e.k;
      n++;
    }
    this.mutations++;
    this.summedTo = n < limit ? undefined : last;
    return this.summedTo === undefined;
  }

  /** Whether `key` is in the sums already (always, once summed up). */
  private inSums(key: string): boolean {
    return this.summedTo === undefined || (this.summedTo !== '' && compareUtf8(key, this.summedTo) <= 0);
  }

  /** Sets who is told of damaged items (the DHT logs and counts them). */
  setCorruptionListener(listener: CorruptionListener): void {
    this.onCorrupt = listener;
  }

  get size(): number {
    return this.count;
  }

  /** Items held whose id is region- or zone-scoped. */
  get scopedItems(): number {
    return this.scoped;
  }

  /** The stored item under `key`; a damaged one is quarantined and reads as absent. */
  get(key: string): StoredItem | undefined {
    const item = this.engine.get(key);
    if (item === undefined || itemIntact(item)) return item;
    this.quarantine(item);
    return undefined;
  }

  /**
   * Moves a damaged item out of the store (the engine keeps its bytes aside for an operator) and
   * out of the index: the range digests then differ from the other replicas', so anti-entropy
   * brings a good copy back, and reads meanwhile take the other replicas' answers.
   */
  private quarantine(item: StoredItem): void {
    this.quarantined++;
    const e = this.engine.entry(item.k);
    if (e) this.unindex(e);
    void this.track(item.k, {}, undefined, this.engine.quarantine(item, this.options.now?.() ?? 0)).catch(() => undefined);
    this.onCorrupt?.(item, 'stored');
  }

  /**
   * Whether an item from a peer matches its checksum. A damaged one is reported (as a refused
   * arrival) and must not be used: not stored, not answered.
   */
  intactArrival(item: StoredItem): boolean {
    if (itemIntact(item)) return true;
    this.onCorrupt?.(item, 'arrived');
    return false;
  }

  /** Applies `item` according to `mode` (see {@link ApplyMode}). */
  apply(item: StoredItem, mode: ApplyMode): ApplyResult {
    if (!this.intactArrival(item)) return { applied: false, have: undefined, durable: DONE, corrupt: true };
    if (item.c === undefined) item = this.sealed(item);
    const cur = this.get(item.k);
    if (cur) {
      if (cur.v === item.v && cur.op === item.op) return { applied: false, have: cur, durable: DONE };
      const accept = mode === 'merge' ? item.v > cur.v : mode === 'write' ? item.v > cur.v : item.v >= cur.v;
      if (!accept) return { applied: false, have: cur, durable: DONE };
    }
    // Refused for want of space: nothing changes (the caller reports it).
    const refused = this.engine.refusal?.(item);
    if (refused) return { applied: false, have: cur, durable: DONE, refused };
    // A sealed copy just checked carries what its index entry holds; saves reading the entry.
    const old = cur && cur.c !== undefined ? cur : this.engine.entry(item.k);
    const durable = this.engine.put(item);
    this.index(item, old);
    return { applied: true, have: item, durable: this.track(item.k, item, indexEntryOf(item), durable) };
  }

  /**
   * Follows the engine write of a change of `key` the sums already count (as `counted`: the
   * entry counted in, undefined for a removal): if it fails, and no later change of the key came
   * meanwhile, the sums are set back to what the engine holds (it no longer serves the failed
   * write), so that anti-entropy sees this replica lacks it. Resolves or rejects as the write.
   */
  private track(key: string, token: object, counted: IndexedItem | undefined, write: Promise<void>): Promise<void> {
    this.inFlight.set(key, token);
    return write.then(
      () => {
        if (this.inFlight.get(key) === token) this.inFlight.delete(key);
      },
      (err: unknown) => {
        if (this.inFlight.get(key) === token) {
          this.inFlight.delete(key);
          this.recount(key, counted, this.engine.entry(key));
        }
        throw err;
      },
    );
  }

  /**
   * Reads `key` back from the engine (so its checksum is checked: a damaged copy is quarantined)
   * and, if it was written before checksums existed, stores it sealed, so that from now on damage
   * to it is found too. Only the checksum is added: version, index entry and digests stay as they
   * are, and every replica computes the same seal. (Damage done to it before it was sealed cannot
   * be told apart from its content.)
   */
  check(key: string): void {
    const item = this.get(key);
    if (item === undefined || item.c !== undefined) return;
    void this.engine.put(this.sealed(item)).catch(() => undefined);
  }

  /** A sealed copy of an item that arrived or was stored without a checksum. */
  private sealed(item: StoredItem): StoredItem {
    if (this.options.counters) this.options.counters.recordsSealed++;
    return sealItem({ ...item });
  }

  /** Removes an item (tombstone expiry, stray cleanup). */
  remove(key: string): Promise<void> {
    const e = this.engine.entry(key);
    if (!e) return DONE;
    this.unindex(e);
    return this.track(key, {}, undefined, this.engine.remove(key));
  }

  /** Counts `item` in, in place of `old` (its key's entry before, if any). */
  private index(item: StoredItem, old: IndexedItem | undefined): void {
    this.recount(item.k, old, item);
  }

  /** Counts the item of entry `e` out (it is being removed or quarantined). */
  private unindex(e: IndexedItem): void {
    this.recount(e.k, e, undefined);
  }

  /** Counts `key` as holding `now` (an entry, or nothing) instead of `was`. */
  private recount(key: string, was: IndexedItem | undefined, now: IndexedItem | undefined): void {
    this.mutations++;
    if (!this.inSums(key)) return;
    if (was) {
      const [o1, o2] = itemHash(was);
      this.prefixes.toggle(key, o1, o2, -1);
    }
    if (now) {
      const [h1, h2] = itemHash(now);
      this.prefixes.toggle(key, h1, h2, 1);
    }
    if (!was && now) {
      this.count++;
      if (isScopedKey(key)) this.scoped++;
    } else if (was && !now) {
      this.count--;
      if (isScopedKey(key)) this.scoped--;
    }
    if (now?.d) this.tombstoneAt.set(key, now.at);
    else this.tombstoneAt.delete(key);
  }

  /**
   * Up to `limit` storage keys after `after` (from `start` when undefined) and before `end` (no
   * `end`: to the last), in key order, from the index. Background walks page with it, so that
   * other work can change the store between pages without disturbing the walk.
   */
  keysAfter(after: string | undefined, limit: number, start = '', end?: string): string[] {
    const out: string[] = [];
    for (const e of this.engine.entries(after ?? start, end)) {
      if (e.k === after) continue;
      out.push(e.k);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** The tombstones held here and when each was written. */
  tombstones(): IterableIterator<[string, number]> {
    return this.tombstoneAt.entries();
  }

  /** Storage keys in `[start, end)` (key order), from the index. */
  *keysIn(start: string, end?: string): Generator<string> {
    for (const e of this.engine.entries(start, end)) yield e.k;
  }

  /**
   * XOR digest of the items whose ring position is within `[loHex, hiHex]`. Costs one step per
   * prefix bucket inside the range and a pass over the items of the two buckets at its ends; a
   * digest is remembered until the next change (anti-entropy asks for the same ranges pass after
   * pass).
   */
  digest(loHex: string, hiHex: string): RangeDigest {
    const id = loHex + hiHex;
    const cached = this.digests.get(id);
    if (cached && cached.m === this.mutations) return cached.d;
    const d = this.computeDigest(loHex, hiHex);
    if (this.digests.size >= DIGEST_CACHE_LIMIT) this.digests.clear();
    this.digests.set(id, { m: this.mutations, d });
    return d;
  }

  private computeDigest(loHex: string, hiHex: string): RangeDigest {
    // '0' sorts right after '/', the separator of partition items: items of hiHex are included.
    const end = hiHex + '0';
    const first = prefixBucket(loHex);
    const last = prefixBucket(hiHex);
    const d = { n: 0, h1: 0, h2: 0 };
    // Range ends from a peer are only checked for length: anything odd is walked item by item;
    // so is everything while the bucket sums are not complete.
    if (first < 0 || last < 0 || last - first < 2 || !this.summed) {
      this.walkDigest(loHex, end, d);
    } else {
      this.walkDigest(loHex, bucketStart(first + 1), d);
      const p = this.prefixes;
      for (let b = first + 1; b < last; b++) {
        d.n += p.n[b]!;
        d.h1 ^= p.h1[b]!;
        d.h2 ^= p.h2[b]!;
      }
      this.walkDigest(bucketStart(last), end, d);
    }
    return { n: d.n, h1: d.h1 >>> 0, h2: d.h2 >>> 0 };
  }

  /**
   * Adds the items with `start <= key < end` to `d`: one by one, except that once the sums are
   * complete a partition lying wholly in the range is added from its sums and skipped.
   */
  private walkDigest(start: string, end: string, d: RangeDigest): void {
    const partitions = this.summed ? this.prefixes.partitions : undefined;
    let from: string | undefined = start;
    while (from !== undefined) {
      const at: string = from;
      from = undefined;
      for (const e of this.engine.entries(at, end)) {
        if (partitions !== undefined && e.k.length > ID_HEX_LENGTH) {
          const position = e.k.slice(0, ID_HEX_LENGTH);
          // '0' sorts right after '/': every `<position>/…` key is below `<position>0`.
          const after = position + '0';
          const sums = partitions.get(position);
          if (sums !== undefined && position >= at && after <= end) {
            d.n += sums.n;
            d.h1 ^= sums.h1;
            d.h2 ^= sums.h2;
            from = after;
            break;
          }
        }
        const [h1, h2] = itemHash(e);
        d.n++;
        d.h1 ^= h1;
        d.h2 ^= h2;
      }
    }
  }

  /**
   * Summaries of the items in `ranges` (each `[loHex, hiHex]` of ring positions), range by range
   * in key order, starting after `from`; each with the index of its range.
   */
  *summaries(ranges: readonly [string, string][], from?: RangeCursor): Generator<[number, ItemSummary]> {
    for (let i = from ? from[0] : 0; i < ranges.length; i++) {
      const [lo, hi] = ranges[i]!;
      const skip = from && i === from[0] ? from[1] : undefined;
      for (const e of this.engine.entries(skip ?? lo, hi + '0')) {
        if (e.k === skip) continue;
        yield [i, e];
      }
    }
  }

  /** Every intact item, in key order (damaged ones are quarantined as they are met). */
  *all(): Generator<StoredItem> {
    const damaged: StoredItem[] = [];
    for (const item of this.engine.range('')) {
      if (itemIntact(item)) yield item;
      else damaged.push(item);
    }
    // After the walk: quarantining removes from the engine, which must not change under its cursor.
    for (const item of damaged) {
      const still = this.engine.get(item.k);
      if (still !== undefined && !itemIntact(still)) this.quarantine(still);
    }
  }
}

/** Orders two cursors (range index first, then key). */
export function compareCursors(a: RangeCursor, b: RangeCursor): number {
  return a[0] !== b[0] ? a[0] - b[0] : compareUtf8(a[1], b[1]);
}
