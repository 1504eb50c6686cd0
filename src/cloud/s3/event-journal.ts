/**
 * The event journal: bucket event notifications kept in the ring, so that a consumer that must
 * not miss one gets every event at least once (S3's promise), whatever happened to the pub/sub
 * message that announced it.
 *
 * Each notification topic has a journal, a DHT sorted partition (`s3events-journal:<topic>`)
 * whose sort keys start with the time the event was written (12 hex digits of milliseconds), then
 * the writing node and a counter: `<time>.<node>.<n>`. The node that served an operation appends
 * its events before it answers (the request waits for the write quorum, and fails with 503 if the
 * journal cannot be written: an acknowledged operation's events are in the journal), then
 * publishes them on the topic's Scribe tree as before. Scribe is the doorbell, the journal the
 * record.
 *
 * A reader keeps a cursor (the last sort key it processed) and reads after it. Keys are ordered by
 * the writers' clocks, so an event can land behind a cursor: written on a node whose clock is
 * behind, or whose append took long while a later one from another node landed first. Two rules
 * bound that lateness so a reader can look behind for it ({@link EventFollower}):
 * - an append that took longer than `lateMs` (5 s) to be acknowledged is written again under a
 *   fresh key, with the same event id (a reader may have passed the first copy's place);
 * - readers look behind their cursor by a window (30 s) larger than that plus the clock skew the
 *   ring tolerates, and skip the event ids they have already seen.
 *
 * Retention: a sweep on the node that is root of a journal removes its events older than
 * `s3.eventRetentionMs` (default 24 h). The registry `s3events:registry` lists the topics that
 * configurations named, for the sweep to find their journals.
 */
import type { Dht, Entity } from '../../dht/index.ts';
import type { Env, Logger, Timer } from '../../env/index.ts';
import { Scope, idFor } from '../../id/index.ts';
import type { Id } from '../../id/index.ts';
import { eachLimited } from './catalog.ts';
import type { RootOracle } from './lifecycle.ts';
import { sweepEvery } from './periodic.ts';

/** The registry of notification topics (sort key: topic name). */
export const EVENT_TOPIC_REGISTRY: Id = idFor('s3events:registry', Scope.GLOBAL);

/** The journal partition of a notification topic. */
export function journalOf(topic: string): Id {
  return idFor(`s3events-journal:${topic}`, Scope.GLOBAL);
}

/** An event as the journal keeps it. */
export interface JournalEntry extends Entity {
  type: 's3.event';
  /** The event's id: the sort key of its first copy (a late append's copy has the same). */
  id: string;
  /** When it was written (ms, the writer's clock). */
  at: number;
  /** The message, as published (S3's event message JSON). */
  m: unknown;
}

interface TopicRef extends Entity {
  type: 's3.eventTopic';
}

/** An event read from a journal. */
export interface JournaledEvent {
  /** Its sort key: read after it to get the events that follow. */
  cursor: string;
  /** Its id (copies of one event share it). */
  id: string;
  at: number;
  message: unknown;
}

/** A page of a journal. */
export interface JournalPage {
  events: JournaledEvent[];
  /** The cursor to read after next: the last event's, or the one given when there was none. */
  cursor: string;
  /** Whether more events follow right away. */
  more: boolean;
}

/** Options of {@link EventJournal}. */
export interface EventJournalOptions {
  /** Events older than this are removed by the sweep (ms). */
  retentionMs: number;
  /** An append acknowledged later than this after its key's time is written again (ms). Default 5 s. */
  lateMs?: number;
  /** Period of the retention sweep (ms; 0: none). Default 10 minutes. */
  sweepMs?: number;
}

/** Counters of a node's journal. */
export interface EventJournalStats {
  appended: number;
  /** Appends acknowledged late and written again under a fresh key. */
  rewritten: number;
  /** Events removed by the retention sweep. */
  expired: number;
}

const TIME_DIGITS = 12;
const CURSOR = /^[0-9a-f]{12}(\.[0-9a-f]{1,16}\.[0-9a-f]{8})?$/;
/** Items per page of the sweep's scans. */
const PAGE = 500;
/** Copies an event is written in at most (the first and its rewrites). */
const MAX_COPIES = 4;

/** The cursor of a time: reading after it gives the events written from `at` on. */
export function cursorAt(at: number): string {
  return Math.max(0, Math.floor(at)).toString(16).padStart(TIME_DIGITS, '0');
}

/** Whether `s` is a journal cursor (an event's key, or a time's). */
export function isCursor(s: string): boolean {
  return CURSOR.test(s);
}

/** The time part of a cursor (ms). */
export function cursorTime(cursor: string): number {
  return parseInt(cursor.slice(0, TIME_DIGITS), 16);
}

/** The journal of a node: appends, reads, and the retention sweep of the journals it is root of. */
export class EventJournal {
  readonly stats: EventJournalStats = { appended: 0, rewritten: 0, expired: 0 };
  private readonly lateMs: number;
  private readonly log: Logger;
  private counter = 0;
  private timer: Timer | undefined;
  private sweeping: Promise<number> | undefined;
  /** Topics registered by this node (their registry entry is written once per process). */
  private readonly registered = new Set<string>();

  /**
   * @param nodeTag names this node in the keys it writes (hex, e.g. the start of its id), so two
   *   nodes never write the same key.
   */
  constructor(
    private readonly env: Env,
    private readonly dht: Dht,
    private readonly node: RootOracle,
    private readonly nodeTag: string,
    private readonly options: EventJournalOptions,
  ) {
    this.lateMs = options.lateMs ?? 5_000;
    this.log = env.log.child({ mod: 's3.events' });
  }

  /** Lists `topic` in the registry, for the retention sweep to find its journal. */
  async register(topic: string): Promise<void> {
    if (this.registered.has(topic)) return;
    await this.dht.writeItemIfAbsent<TopicRef>(EVENT_TOPIC_REGISTRY, topic, { type: 's3.eventTopic' });
    this.registered.add(topic);
  }

  /**
   * Appends `message` to `topic`'s journal; resolves with its key once the write quorum has it.
   * Rejects (DHT unavailable) when it could not be written.
   */
  async append(topic: string, message: unknown): Promise<string> {
    let id: string | undefined;
    for (let copy = 1; ; copy++) {
      const at = this.env.now();
      const key = `${cursorAt(at)}.${this.nodeTag}.${(++this.counter >>> 0).toString(16).padStart(8, '0')}`;
      id ??= key;
      await this.dht.writeItemIfAbsent<JournalEntry>(journalOf(topic), key, { type: 's3.event', id, at, m: message });
      this.stats.appended++;
      if (this.env.now() - at <= this.lateMs || copy >= MAX_COPIES) return key;
      // A reader may have passed this key's place while the write took that long.
      this.stats.rewritten++;
    }
  }

  /** Up to `limit` events of `topic` after `cursor` (a time's cursor: from that time on). */
  async read(topic: string, cursor: string, limit = 100): Promise<JournalPage> {
    // `from` is inclusive: one more, and the cursor's own event skipped.
    const page = await this.dht.scanPartition<JournalEntry>(journalOf(topic), { from: cursor, limit: limit + 1 });
    const events: JournaledEvent[] = [];
    for (const item of page.items) {
      const key = item.sortKey!;
      if (key <= cursor || item.body.type !== 's3.event') continue;
      if (events.length === limit) return { events, cursor: events[events.length - 1]!.cursor, more: true };
      events.push({ cursor: key, id: item.body.id, at: item.body.at, message: item.body.m });
    }
    return { events, cursor: events.length > 0 ? events[events.length - 1]!.cursor : cursor, more: page.next !== undefined };
  }

  /** Starts the retention sweep. */
  start(): void {
    const period = this.options.sweepMs ?? 10 * 60_000;
    this.timer?.cancel();
    if (period > 0) this.timer = sweepEvery(this.env, period, () => this.sweep());
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /**
   * Removes the events older than the retention from the journals this node is root of (`every`:
   * all journals); resolves with the number removed.
   */
  sweep(every = false): Promise<number> {
    if (this.sweeping) return this.sweeping;
    if (!this.node.isReady) return Promise.resolve(0);
    const p = this.pass(every).finally(() => {
      this.sweeping = undefined;
    });
    this.sweeping = p;
    return p;
  }

  private async pass(every: boolean): Promise<number> {
    let removed = 0;
    let after: string | undefined;
    do {
      const page = await this.dht.scanPartition<TopicRef>(EVENT_TOPIC_REGISTRY, { limit: PAGE, ...(after !== undefined ? { after } : {}) });
      for (const item of page.items) {
        const topic = item.sortKey!;
        if (!every && !this.node.isRoot(journalOf(topic))) continue;
        try {
          removed += await this.expire(topic);
        } catch (err) {
          this.log.warn({ code: 'EventJournalSweepFailed', topic, err: (err as Error).message }, 'could not remove expired events from a notification topic journal; the next sweep will');
        }
      }
      after = page.next;
    } while (after !== undefined);
    return removed;
  }

  /** Removes `topic`'s events older than the retention (the oldest come first: it stops at the first younger). */
  private async expire(topic: string): Promise<number> {
    const horizon = cursorAt(this.env.now() - this.options.retentionMs);
    const partition = journalOf(topic);
    let removed = 0;
    for (;;) {
      const page = await this.dht.scanPartition<JournalEntry>(partition, { limit: PAGE });
      const old = page.items.filter((i) => i.sortKey! < horizon);
      await eachLimited(old, 8, async (i) => {
        await this.dht.updateItem<JournalEntry>(partition, i.sortKey!, (c) => (c && !c.deleted ? ({ type: 's3.event', deleted: true } as unknown as JournalEntry) : null));
        removed++;
      });
      this.stats.expired += old.length;
      if (old.length < page.items.length || page.next === undefined) return removed;
    }
  }
}

/** Options of {@link EventFollower}. */
export interface EventFollowerOptions {
  /** Reads a page of the topic's journal (an {@link EventJournal}'s `read`). */
  read: (cursor: string, limit: number) => Promise<JournalPage>;
  /**
   * Rings when the topic may have a new event (a subscription to its pub/sub topic); returns the
   * unsubscription. Without it, the follower polls only.
   */
  doorbell?: (ring: () => void) => () => void;
  /** Where to start: a cursor the consumer kept (default: the time the follower starts). */
  after?: string;
  /** Called for each event, at least once; the next waits for it. A throw stops the pass: the event is offered again on the next one. */
  onEvent: (event: JournaledEvent) => void | Promise<void>;
  /** Polls this often even when the doorbell is silent (ms). Default 1 s. */
  pollMs?: number;
  /** How far behind its cursor the follower looks for events that landed late (ms). Default 30 s. */
  windowMs?: number;
  /** How often it looks behind (ms). Default 5 s. */
  lookBehindMs?: number;
  /** Events per read. Default 500. */
  pageSize?: number;
}

/**
 * Follows a topic's journal: delivers every event written after its starting cursor at least once
 * (an event may come twice: a consumer restarted from a cursor it kept gets the window behind it
 * again, and a late event copy outside the window is delivered again), in the order of the keys
 * except for late ones. Persist {@link cursor} after processing to resume from it.
 */
export class EventFollower {
  private position: string;
  /** Where looking behind stops: the starting cursor of a follower started afresh (nothing before it is wanted). */
  private floor = '';
  /** Event ids delivered in the window behind the cursor (id → time), to skip their copies. */
  private readonly seen = new Map<string, number>();
  private readonly pollMs: number;
  private readonly windowMs: number;
  private readonly lookBehindMs: number;
  private readonly pageSize: number;
  private timer: Timer | undefined;
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private lastLookBehind = 0;
  private stopped = true;
  private failures = 0;
  private readonly log: Logger;

  constructor(
    private readonly env: Env,
    private readonly options: EventFollowerOptions,
  ) {
    // A follower without a cursor starts at the time it is started (see start()).
    this.position = options.after ?? '';
    this.pollMs = options.pollMs ?? 1_000;
    this.windowMs = options.windowMs ?? 30_000;
    this.lookBehindMs = options.lookBehindMs ?? 5_000;
    this.pageSize = options.pageSize ?? 500;
    this.log = env.log.child({ mod: 's3.events' });
  }

  /** The last event delivered (or the starting cursor; empty before a follower without one starts): keep it to resume after a restart. */
  get cursor(): string {
    return this.position;
  }

  /** Starts following; the first pass looks behind the starting cursor too. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (this.position === '') this.floor = this.position = cursorAt(this.env.now());
    this.unsubscribe = this.options.doorbell?.(() => this.poke());
    this.timer = this.env.setInterval(() => this.poke(), this.pollMs);
    this.poke();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Reads now (or right after the pass in progress); resolves when that pass is done. */
  poke(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const p = this.pass()
      .catch((err: Error) => {
        // Logged once per outage: the next successful pass resets it.
        if (this.failures++ === 0) this.log.warn({ code: 'EventFollowFailed', err: err.message }, 'could not read a notification topic journal; retrying');
      })
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          void this.poke();
        }
      });
    this.running = p;
    return p;
  }

  private async pass(): Promise<void> {
    const now = this.env.now();
    if (now - this.lastLookBehind >= this.lookBehindMs) {
      // From the window behind the cursor: what landed late, skipping what was delivered.
      const behind = cursorAt(cursorTime(this.position) - this.windowMs);
      await this.readFrom(behind > this.floor ? behind : this.floor, false);
      this.lastLookBehind = now;
    }
    await this.readFrom(this.position, true);
    this.failures = 0;
    this.forget();
  }

  /** Delivers the unseen events after `from`, moving the cursor forward when `advance`. */
  private async readFrom(from: string, advance: boolean): Promise<void> {
    let cursor = from;
    for (;;) {
      if (this.stopped) return;
      const page = await this.options.read(cursor, this.pageSize);
      for (const e of page.events) {
        if (!advance && e.cursor > this.position) return; // the forward read takes it from here
        if (!this.seen.has(e.id)) {
          await this.options.onEvent(e);
          this.seen.set(e.id, e.at);
        }
        if (advance && e.cursor > this.position) this.position = e.cursor;
      }
      if (!page.more || page.events.length === 0) return;
      cursor = page.cursor;
    }
  }

  /** Forgets the ids of events too far behind the cursor to be met again. */
  private forget(): void {
    const horizon = cursorTime(this.position) - 2 * this.windowMs;
    for (const [id, at] of this.seen) if (at < horizon) this.seen.delete(id);
  }
}
