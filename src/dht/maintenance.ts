/**
 * Keeping replica sets whole: handoff when the leaf set changes (and before a graceful leave),
 * periodic anti-entropy between each root and its replicas (range digests refined only where
 * they differ, so the cost follows the difference, not the data), and housekeeping (tombstones
 * past their grace period, copies this node holds without being a replica).
 */
import { Id } from '../id/index.ts';
import type { Env, Logger, Timer } from '../env/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import type { LeafSetChange, PastryNode } from '../overlay/index.ts';
import type { Coordinator, ReplicaChannel } from './coordinator.ts';
import { compareCursors } from './local-store.ts';
import type { LocalStore, RangeCursor } from './local-store.ts';
import { InvalidArgumentError } from './errors.ts';
import { Kind } from './protocol.ts';
import type { WireSummary } from './protocol.ts';
import { isStoredItem, keyPosition } from './record.ts';
import { changedArcs, includesNode, replicaSetOf, sharedArcs, splitArc, splitRange } from './replicas.ts';
import type { Arc } from './replicas.ts';
import type { DhtOptions, DhtStats, StoredItem } from './types.ts';

/** Ranges per digest level. */
const FANOUT = 16;
/** Below this many items (both sides together) a differing range is compared item by item. */
const LEAF_ITEMS = 64;
/** Largest batch of items in one transfer (count and body bytes). */
const BATCH_ITEMS = 128;
const BATCH_BYTES = 4 * 1024 * 1024;
/**
 * Interval between item-by-item listings of a large partition with one peer, per item (both
 * sides together), when longer than the configured one: the listings' share of a node's time
 * stays bounded however large a partition grows.
 */
const LISTING_MS_PER_ITEM = 0.5;
/**
 * Time between item-by-item listings of a large differing partition of `items` (both sides
 * together) with one peer: the configured interval, or {@link LISTING_MS_PER_ITEM} per item when
 * that is longer.
 */
export function largePartitionIntervalMs(items: number, configuredMs: number): number {
  return Math.max(configuredMs, items * LISTING_MS_PER_ITEM);
}

/** Ranges per digest request. */
const MAX_RANGES = 256;
/** Index keys examined by housekeeping between yields to other work. */
const HOUSEKEEPING_PAGE = 8_000;
/** Items the record scrub reads (and checks) between yields to other work. */
const SCRUB_PAGE = 2_000;

export class Maintenance {
  private readonly added = new Map<string, NodeHandle>();
  private readonly removed = new Map<string, NodeHandle>();
  private handoffTimer: Timer | undefined;
  /** A hand-off walk in progress (one at a time: changes meanwhile wait for the next). */
  private handingOff = false;
  private aeTimer: Timer | undefined;
  private hkTimer: Timer | undefined;
  private aeRunning = false;
  private stopped = false;
  /** Keys held out of place, with the time first noticed. */
  private readonly strays = new Map<string, number>();
  /**
   * When each large partition may next be compared item by item with each peer
   * (`<peer>/<position>`): see `antiEntropyLargePartitionItems`.
   */
  private readonly largePartitionDue = new Map<string, number>();
  /** Last key the record scrub checked (undefined: start from the first). */
  private scrubCursor: string | undefined;
  /** Run at the end of each housekeeping pass (the DHT's check of quarantined records). */
  afterHousekeeping: (() => Promise<void>) | undefined;
  /** Told the write time of the newest tombstone about to be removed (kept durably first: stale-store.ts). */
  beforeTombstonesRemoved: ((newest: number) => Promise<void>) | undefined;
  /** Set by {@link start}: leaf-set changes before it wait (the store may be held: stale-store.ts). */
  private started = false;

  constructor(
    private readonly env: Env,
    private readonly node: PastryNode,
    private readonly store: LocalStore,
    private readonly channel: ReplicaChannel & { route(position: Id, kind: string, body: unknown): Promise<unknown> },
    private readonly coordinator: Coordinator,
    private readonly options: DhtOptions,
    private readonly stats: DhtStats,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    if (this.added.size > 0 || this.removed.size > 0) this.scheduleHandoff();
    this.aeTimer = this.env.setTimeout(() => this.antiEntropyTick(), this.env.random.jitter(this.options.antiEntropyIntervalMs, 0.5));
    this.hkTimer = this.env.setTimeout(() => this.housekeepingTick(), this.env.random.jitter(this.options.housekeepingIntervalMs, 0.5));
  }

  stop(): void {
    this.stopped = true;
    this.handoffTimer?.cancel();
    this.aeTimer?.cancel();
    this.hkTimer?.cancel();
  }

  private members(): NodeHandle[] {
    return [this.channel.self, ...this.node.leafSetMembers()];
  }

  // ---------------------------------------------------------------------------------------------
  // Handoff

  /** Batches leaf-set changes; records move to their new holders shortly after. */
  leafSetChanged(change: LeafSetChange): void {
    for (const h of change.added) {
      this.added.set(h.id.hex, h);
      this.removed.delete(h.id.hex);
    }
    for (const h of change.removed) {
      if (this.added.delete(h.id.hex)) continue;
      this.removed.set(h.id.hex, h);
    }
    this.scheduleHandoff();
  }

  private scheduleHandoff(): void {
    if (this.handoffTimer || this.stopped || !this.started) return;
    this.handoffTimer = this.env.setTimeout(() => {
      this.handoffTimer = undefined;
      if (this.handingOff) {
        this.scheduleHandoff();
        return;
      }
      this.handingOff = true;
      void this.handoff().finally(() => {
        this.handingOff = false;
      });
    }, this.options.handoffDelayMs);
  }

  /**
   * For every key whose replica set gained members since the last pass, the nearest member that
   * already was a replica (this node, or nobody) sends it to the new ones.
   */
  private async handoff(): Promise<void> {
    if (this.stopped || !this.node.isReady) return;
    const now = this.members();
    const added = new Set([...this.added.keys()].filter((hex) => now.some((h) => h.id.hex === hex)));
    const old = now.filter((h) => !added.has(h.id.hex));
    const gone: string[] = [];
    for (const h of this.removed.values()) {
      if (now.some((m) => m.id.hex === h.id.hex)) continue;
      old.push(h);
      gone.push(h.id.hex);
    }
    this.added.clear();
    this.removed.clear();
    const self = this.channel.self;
    const out = new Map<string, { to: NodeHandle; items: StoredItem[] }>();
    // Only positions near a changed node can have a new replica set: walk those arcs, not the
    // whole store (seconds per change at a million positions). Scoped keys: the whole store.
    // (Until the store is summed up at start, its count of scoped keys is not complete.)
    const arcs = !this.store.summed || this.store.scopedItems > 0 ? undefined : changedArcs(now, old, [...added], gone, this.options.replicas);
    const ranges = arcs?.flatMap((a) => splitArc(a, 1));
    await this.forEachPosition((pos, load) => {
      const newSet = replicaSetOf(pos, now, this.options.replicas);
      const oldSet = replicaSetOf(pos, old, this.options.replicas);
      const targets = newSet.filter((h) => h.id.hex !== self.id.hex && !includesNode(oldSet, h.id));
      if (targets.length === 0) return;
      const keepers = newSet.filter((h) => includesNode(oldSet, h.id));
      const pusher = keepers.length > 0 ? keepers[0]! : includesNode(oldSet, self.id) ? self : undefined;
      if (!pusher || pusher.id.hex !== self.id.hex) return;
      for (const t of targets) {
        let e = out.get(t.id.hex);
        if (!e) out.set(t.id.hex, (e = { to: t, items: [] }));
        for (const it of load()) e.items.push(it);
      }
    }, ranges);
    for (const { to, items } of out.values()) void this.push(to, items);
  }

  /**
   * Before a graceful leave: sends every record this node replicates to the node that replaces
   * it in the record's replica set. Resolves with the number of items acknowledged.
   */
  async handOffAll(): Promise<number> {
    const self = this.channel.self;
    const others = this.node.leafSetMembers();
    const all = [self, ...others];
    const out = new Map<string, { to: NodeHandle; items: StoredItem[] }>();
    await this.forEachPosition((pos, load) => {
      const before = replicaSetOf(pos, all, this.options.replicas);
      if (!includesNode(before, self.id) && this.node.inLeafSetRange(pos)) return;
      const after = replicaSetOf(pos, others, this.options.replicas);
      for (const t of after) {
        if (includesNode(before, t.id)) continue;
        let e = out.get(t.id.hex);
        if (!e) out.set(t.id.hex, (e = { to: t, items: [] }));
        for (const it of load()) e.items.push(it);
      }
    });
    const counts = await Promise.all([...out.values()].map(({ to, items }) => this.push(to, items)));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Sends items to `to` in batches; resolves with the number acknowledged. */
  private async push(to: NodeHandle, items: StoredItem[]): Promise<number> {
    let acked = 0;
    for (const batch of batches(items)) {
      try {
        await this.channel.ask(to, Kind.R_MERGE, { i: batch });
        acked += batch.length;
        this.stats.itemsHandedOff += batch.length;
      } catch {
        this.log.debug({ event: 'dht.handoffFailed', to: to.id.short(), items: batch.length }, 'handoff batch not acknowledged');
      }
    }
    return acked;
  }

  /**
   * Calls `fn` once per ring position held here, with a loader of the items at that position. The
   * walk is over the engine's index, in pages (other work let in between), restricted to `ranges`
   * when given: items are read (and checked) only for the positions `fn`
   * loads, not the whole store on every leaf-set change.
   */
  private async forEachPosition(fn: (pos: Id, load: () => StoredItem[]) => void, ranges?: [string, string][]): Promise<void> {
    let pos: string | undefined;
    let group: string[] = [];
    const flush = (): void => {
      if (pos === undefined || group.length === 0) return;
      const keys = group;
      let items: StoredItem[] | undefined;
      fn(Id.parse(pos), () => (items ??= keys.map((k) => this.store.get(k)).filter((it): it is StoredItem => it !== undefined)));
    };
    for (const [lo, hi] of ranges ? mergeRanges(ranges) : [['', undefined] as const]) {
      // '0' sorts right after '/', the separator of partition items: items at `hi` are included.
      const end = hi === undefined ? undefined : hi + '0';
      // Page by page, other work let in between: a store of a million positions takes seconds.
      for (let after: string | undefined; ; ) {
        const page = this.store.keysAfter(after, HOUSEKEEPING_PAGE, lo, end);
        for (const k of page) {
          const p = keyPosition(k);
          if (p !== pos) {
            flush();
            pos = p;
            group = [];
          }
          group.push(k);
        }
        this.stats.handoffKeysExamined += page.length;
        if (page.length < HOUSEKEEPING_PAGE) break;
        after = page[page.length - 1];
        await this.yieldToOthers();
        if (this.stopped) return;
      }
    }
    flush();
  }

  // ---------------------------------------------------------------------------------------------
  // Anti-entropy

  private antiEntropyTick(): void {
    if (this.stopped) return;
    void this.antiEntropy().finally(() => {
      if (!this.stopped) this.aeTimer = this.env.setTimeout(() => this.antiEntropyTick(), this.env.random.jitter(this.options.antiEntropyIntervalMs, 0.2));
    });
  }

  /**
   * One anti-entropy pass: this node, as root of its range, compares the range with each replica
   * peer over the part the peer replicates, and transfers what differs both ways.
   */
  async antiEntropy(): Promise<void> {
    if (this.aeRunning || !this.node.isReady) return;
    this.aeRunning = true;
    try {
      const ls = this.node.leafSet();
      const now = this.env.now();
      for (const [k, due] of this.largePartitionDue) if (due <= now) this.largePartitionDue.delete(k);
      for (const { peer, arc } of sharedArcs(this.channel.self.id, ls.left, ls.right, this.options.replicas)) {
        if (this.stopped) return;
        try {
          await this.syncArc(peer, arc);
          this.stats.antiEntropyRounds++;
        } catch (err) {
          this.log.debug({ event: 'dht.antiEntropyFailed', peer: peer.id.short(), err: (err as Error).message }, 'anti-entropy exchange failed');
        }
      }
    } finally {
      this.aeRunning = false;
    }
  }

  private async syncArc(peer: NodeHandle, arc: Arc): Promise<void> {
    // One digest for the whole shared arc first: in sync (the usual case) that is all it costs.
    let level = splitArc(arc, 1);
    const leaves: [string, string][] = [];
    while (level.length > 0) {
      const batch = level.slice(0, MAX_RANGES);
      const rest = level.slice(MAX_RANGES);
      this.stats.antiEntropyMessages++;
      const remote = (await this.channel.ask(peer, Kind.AE_DIGEST, { r: batch })) as { d: [number, number, number][] };
      const next: [string, string][] = [];
      batch.forEach((range, i) => {
        const mine = this.store.digest(range[0], range[1]);
        const theirs = remote.d[i];
        if (!theirs || (mine.n === theirs[0] && mine.h1 === theirs[1] && mine.h2 === theirs[2])) return;
        if (mine.n + theirs[0] <= LEAF_ITEMS) leaves.push(range);
        else if (range[0] !== range[1]) next.push(...splitRange(range, FANOUT));
        else if (this.partitionDue(peer, range[0], mine.n + theirs[0])) leaves.push(range);
      });
      level = rest.concat(next);
    }
    for (let i = 0; i < leaves.length; i += MAX_RANGES) await this.syncItems(peer, leaves.slice(i, i + MAX_RANGES));
  }

  /**
   * Whether the differing partition at `position` (`items` on both sides) is to be compared item
   * by item with `peer` now: always when small; else once per `antiEntropyLargePartitionIntervalMs`,
   * or per {@link LISTING_MS_PER_ITEM} per item when longer, so that the listings of a huge
   * partition take a bounded share of the node's time (a bucket of 10 million objects: every
   * 2 h 47 min).
   */
  private partitionDue(peer: NodeHandle, position: string, items: number): boolean {
    if (items <= this.options.antiEntropyLargePartitionItems) return true;
    const key = `${peer.id.hex}/${position}`;
    const now = this.env.now();
    const due = this.largePartitionDue.get(key);
    if (due !== undefined && now < due) {
      this.stats.antiEntropyPartitionsDeferred++;
      return false;
    }
    this.largePartitionDue.set(key, now + largePartitionIntervalMs(items, this.options.antiEntropyLargePartitionIntervalMs));
    return true;
  }

  /**
   * Compares the items of `ranges` with `peer` page by page (item summaries in key order), then
   * pushes what the peer lacks or has older and pulls what it has newer.
   */
  private async syncItems(peer: NodeHandle, ranges: [string, string][]): Promise<void> {
    const members = this.members();
    const self = this.channel.self;
    const setCache = new Map<string, NodeHandle[]>();
    const setOf = (k: string): NodeHandle[] => {
      const p = keyPosition(k);
      let s = setCache.get(p);
      if (!s) setCache.set(p, (s = replicaSetOf(Id.parse(p), members, this.options.replicas)));
      return s;
    };
    let cursor: RangeCursor | undefined;
    for (;;) {
      this.stats.antiEntropyMessages++;
      const page = (await this.channel.ask(peer, Kind.AE_LIST, cursor ? { r: ranges, c: cursor } : { r: ranges })) as { s: WireSummary[]; c?: RangeCursor };
      const theirs = new Map<string, WireSummary>();
      for (const s of page.s) theirs.set(s[0], s);
      const push: string[] = [];
      const pull: string[] = [];
      for (const [i, item] of this.store.summaries(ranges, cursor)) {
        if (page.c && compareCursors([i, item.k], page.c) > 0) break;
        const t = theirs.get(item.k);
        theirs.delete(item.k);
        if (t && t[1] === item.v && t[2] === item.op) continue;
        if (t && t[1] === item.v) {
          // Same version, different writers: the root decides by asking the whole replica set.
          void this.coordinator.repair(item.k).catch(() => {});
          continue;
        }
        if (t && t[1] > item.v) {
          if (includesNode(setOf(item.k), self.id)) pull.push(item.k);
        } else if (includesNode(setOf(item.k), peer.id)) {
          push.push(item.k);
        }
      }
      for (const k of theirs.keys()) if (includesNode(setOf(k), self.id)) pull.push(k);
      await this.transfer(peer, push, pull);
      if (!page.c) return;
      cursor = page.c;
    }
  }

  /** Sends the items at `push` to `peer` and fetches those at `pull` from it. */
  private async transfer(peer: NodeHandle, push: string[], pull: string[]): Promise<void> {
    if (push.length > 0) {
      const items: StoredItem[] = [];
      for (const k of push) {
        const it = this.store.get(k);
        if (it) items.push(it);
      }
      this.stats.antiEntropyItems += items.length;
      this.stats.antiEntropyMessages++;
      await this.push(peer, items);
    }
    for (let i = 0; i < pull.length; i += BATCH_ITEMS) {
      this.stats.antiEntropyMessages++;
      const got = (await this.channel.ask(peer, Kind.AE_FETCH, { k: pull.slice(i, i + BATCH_ITEMS) })) as { i: StoredItem[] };
      const durable: Promise<void>[] = [];
      for (const item of got.i) {
        if (!isStoredItem(item)) continue;
        const r = this.store.apply(item, 'merge');
        if (r.applied) {
          this.stats.antiEntropyItems++;
          this.stats.itemsStored++;
          durable.push(r.durable);
        }
      }
      await Promise.all(durable);
    }
  }

  /** Replica side of anti-entropy. */
  handle(kind: string, body: unknown): unknown {
    const b = body as { r?: unknown; k?: unknown };
    switch (kind) {
      case Kind.AE_DIGEST: {
        const ranges = checkRanges(b.r);
        return { d: ranges.map(([lo, hi]) => {
          const d = this.store.digest(lo, hi);
          return [d.n, d.h1, d.h2];
        }) };
      }
      case Kind.AE_LIST: {
        const ranges = checkRanges(b.r);
        const from = checkCursor((body as { c?: unknown }).c, ranges.length);
        const s: WireSummary[] = [];
        let last: RangeCursor | undefined;
        for (const [i, it] of this.store.summaries(ranges, from)) {
          // More follow: the requester continues after the last one sent.
          if (s.length >= this.options.antiEntropyPageSize) return { s, c: last };
          s.push([it.k, it.v, it.op, it.d]);
          last = [i, it.k];
        }
        return { s };
      }
      case Kind.AE_FETCH: {
        if (!Array.isArray(b.k) || b.k.length > BATCH_ITEMS) throw new InvalidArgumentError('ae.fetch needs a list of keys');
        const items: StoredItem[] = [];
        let bytes = 0;
        for (const k of b.k) {
          if (typeof k !== 'string') continue;
          const it = this.store.get(k);
          if (!it) continue;
          bytes += it.b.length;
          if (bytes > BATCH_BYTES && items.length > 0) break;
          items.push(it);
        }
        return { i: items };
      }
      default:
        throw new InvalidArgumentError(`unknown anti-entropy request ${kind}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Housekeeping

  private housekeepingTick(): void {
    if (this.stopped) return;
    void this.housekeeping().finally(() => {
      if (!this.stopped) this.hkTimer = this.env.setTimeout(() => this.housekeepingTick(), this.env.random.jitter(this.options.housekeepingIntervalMs, 0.2));
    });
  }

  /**
   * Removes expired tombstones; hands back and drops copies held out of place for too long; checks
   * the next `recordScrubItems` stored items against their checksums. Works from the in-memory
   * index, page by page, letting other work run between pages: a pass over a large store never
   * holds the event loop (a walk that read every item took over a second per 200 000 items).
   */
  async housekeeping(): Promise<void> {
    if (!this.node.isReady) return;
    const now = this.env.now();
    const members = this.members();
    const self = this.channel.self;
    const expired: string[] = [];
    let newestExpired = 0;
    for (const [k, at] of this.store.tombstones()) {
      if (now - at <= this.options.tombstoneGraceMs) continue;
      expired.push(k);
      newestExpired = Math.max(newestExpired, at);
    }
    const strayKeys: string[] = [];
    let pos: string | undefined;
    let mine = true;
    for (let after: string | undefined, page: string[]; (page = this.store.keysAfter(after, HOUSEKEEPING_PAGE)).length > 0; after = page[page.length - 1]) {
      for (const k of page) {
        const p = keyPosition(k);
        if (p !== pos) {
          pos = p;
          const id = Id.parse(p);
          mine = this.node.inLeafSetRange(id) && includesNode(replicaSetOf(id, members, this.options.replicas), self.id);
        }
        if (!mine) strayKeys.push(k);
      }
      if (page.length < HOUSEKEEPING_PAGE || this.stopped) break;
      await this.yieldToOthers();
    }
    const seen = new Set(strayKeys);
    const handBack: StoredItem[] = [];
    for (const k of strayKeys) {
      const since = this.strays.get(k);
      if (since === undefined) this.strays.set(k, now);
      else if (now - since >= this.options.strayGraceMs) {
        const item = this.store.get(k);
        if (item && !(item.d && now - item.at > this.options.tombstoneGraceMs)) handBack.push(item);
      }
    }
    for (const k of this.strays.keys()) if (!seen.has(k)) this.strays.delete(k);
    if (expired.length > 0) await this.beforeTombstonesRemoved?.(newestExpired);
    for (const k of expired) {
      try {
        await this.store.remove(k);
      } catch {
        // Not removed (the disk is full to its last bytes, or the store failed): the next pass tries again.
        break;
      }
      this.stats.tombstonesRemoved++;
    }
    for (const item of handBack) {
      if (this.stopped) return;
      const id = Id.parse(keyPosition(item.k));
      try {
        if (this.node.inLeafSetRange(id)) {
          const set = replicaSetOf(id, members, this.options.replicas);
          await Promise.all(set.map((h) => this.channel.ask(h, Kind.R_MERGE, { i: [item] })));
        } else {
          await this.channel.route(id, Kind.HAND, { i: [item] });
        }
        // Removed only if it was not rewritten meanwhile.
        const cur = this.store.get(item.k);
        if (cur && cur.v === item.v && cur.op === item.op) {
          await this.store.remove(item.k);
          this.strays.delete(item.k);
          this.stats.straysDropped++;
        }
      } catch {
        // Kept; tried again next pass.
      }
    }
    await this.scrubRecords();
    await this.afterHousekeeping?.();
  }

  /**
   * Reads the next `recordScrubItems` stored items (continuing where the last pass stopped; a pass
   * that reaches the end of the store stops there and the next starts again from the first) so
   * that their checksums are checked: a damaged copy no read touches is quarantined, and
   * anti-entropy restores it, instead of waiting for a read. Items written before checksums
   * existed are sealed as the scrub meets them.
   */
  private async scrubRecords(): Promise<void> {
    let budget = this.options.recordScrubItems;
    while (budget > 0 && !this.stopped) {
      const want = Math.min(budget, SCRUB_PAGE);
      const page = this.store.keysAfter(this.scrubCursor, want);
      for (const k of page) this.store.check(k);
      this.stats.recordsScrubbed += page.length;
      budget -= page.length;
      if (page.length < want) {
        this.scrubCursor = undefined;
        this.stats.recordScrubPasses++;
        return;
      }
      this.scrubCursor = page[page.length - 1];
      await this.yieldToOthers();
    }
  }

  /** Lets timers, I/O and requests run before the next page of a background walk. */
  private yieldToOthers(): Promise<void> {
    return new Promise((resolve) => this.env.defer(resolve));
  }
}

/** Sorted, overlapping or touching hex ranges `[lo, hi]` (inclusive) merged into disjoint ones. */
export function mergeRanges(ranges: readonly [string, string][]): [string, string][] {
  const sorted = [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [string, string][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1]) {
      if (hi > last[1]) last[1] = hi;
    } else {
      out.push([lo, hi]);
    }
  }
  return out;
}

function checkCursor(x: unknown, ranges: number): RangeCursor | undefined {
  if (x === undefined) return undefined;
  if (!Array.isArray(x) || x.length !== 2 || !Number.isInteger(x[0]) || x[0] < 0 || x[0] >= ranges || typeof x[1] !== 'string') {
    throw new InvalidArgumentError('malformed anti-entropy cursor');
  }
  return x as RangeCursor;
}

function checkRanges(x: unknown): [string, string][] {
  if (!Array.isArray(x) || x.length > MAX_RANGES) throw new InvalidArgumentError('expected a list of ranges');
  for (const r of x) {
    if (!Array.isArray(r) || r.length !== 2 || typeof r[0] !== 'string' || typeof r[1] !== 'string' || r[0].length !== 40 || r[1].length !== 40) {
      throw new InvalidArgumentError('a range is two 40-digit hex positions');
    }
  }
  return x as [string, string][];
}

/** Splits items into transfer batches bounded in count and body bytes. */
export function batches(items: StoredItem[]): StoredItem[][] {
  const out: StoredItem[][] = [];
  let cur: StoredItem[] = [];
  let bytes = 0;
  for (const it of items) {
    if (cur.length > 0 && (cur.length >= BATCH_ITEMS || bytes + it.b.length > BATCH_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += it.b.length;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
