/**
 * A node's subscriptions to notification topics for the ops view (`GET /api/s3/events/:topic`,
 * `pi s3 events`): the node subscribes to a topic when it is first asked for it, keeps its latest
 * messages, and answers them by sequence number, waiting a while for new ones when there are none.
 * A topic nobody asked for in `idleMs` is unsubscribed.
 *
 * The ops view answers from the topic's journal (event-journal.ts); these messages are only its
 * long poll's doorbell: a poll with nothing new in the journal waits for the next one.
 */
import type { Env, Timer } from '../../env/index.ts';

/** One message kept, numbered from 1 per topic on this node. */
export interface TailedMessage {
  seq: number;
  /** When this node received it (ms). */
  at: number;
  message: unknown;
}

/** What a read answers. */
export interface TailRead {
  topic: string;
  messages: TailedMessage[];
  /** The sequence number to read after next time. */
  last: number;
  /** Messages dropped from the buffer before they were read (the reader fell behind). */
  missed: number;
}

/** Subscribing to a notification topic by name (the node's Scribe). */
export interface TopicFeed {
  subscribe(name: string, deliver: (message: unknown) => void): Promise<void>;
  unsubscribe(name: string): void;
}

/** Options of {@link EventTail}. */
export interface EventTailOptions {
  /** Messages kept per topic (default 1000). */
  keep?: number;
  /** A topic not read for this long is unsubscribed (default 10 minutes). */
  idleMs?: number;
}

interface Followed {
  messages: TailedMessage[];
  last: number;
  lastRead: number;
  waiters: Set<() => void>;
  ready: Promise<void>;
}

/** Longest a read waits for a new message. */
export const MAX_TAIL_WAIT_MS = 10_000;

export class EventTail {
  private readonly followed = new Map<string, Followed>();
  private readonly keep: number;
  private readonly idleMs: number;
  private readonly sweeper: Timer;

  constructor(
    private readonly env: Env,
    private readonly feed: TopicFeed,
    options: EventTailOptions = {},
  ) {
    this.keep = options.keep ?? 1000;
    this.idleMs = options.idleMs ?? 10 * 60_000;
    this.sweeper = env.setInterval(() => this.dropIdle(), Math.min(60_000, this.idleMs));
  }

  /**
   * The messages of topic `name` after sequence number `after` (subscribing first if this node
   * does not follow it yet), waiting up to `waitMs` for one when there is none.
   */
  async read(name: string, after: number, waitMs: number): Promise<TailRead> {
    const t = this.follow(name);
    await t.ready;
    t.lastRead = this.env.now();
    if (t.last <= after && waitMs > 0) {
      await new Promise<void>((resolve) => {
        // Called by the timer or by a new message, both after `timer` is set.
        const wake = (): void => {
          timer.cancel();
          t.waiters.delete(wake);
          resolve();
        };
        const timer = this.env.setTimeout(wake, Math.min(waitMs, MAX_TAIL_WAIT_MS));
        t.waiters.add(wake);
      });
    }
    const messages = t.messages.filter((m) => m.seq > after);
    const first = t.messages[0]?.seq ?? t.last + 1;
    return { topic: name, messages, last: t.last, missed: Math.max(0, first - after - 1) };
  }

  /** Unsubscribes from everything (the node is stopping). */
  close(): void {
    this.sweeper.cancel();
    for (const [name, t] of this.followed) {
      this.feed.unsubscribe(name);
      for (const wake of t.waiters) wake();
    }
    this.followed.clear();
  }

  private follow(name: string): Followed {
    let t = this.followed.get(name);
    if (t) return t;
    const created: Followed = { messages: [], last: 0, lastRead: this.env.now(), waiters: new Set(), ready: Promise.resolve() };
    created.ready = this.feed
      .subscribe(name, (message) => {
        created.messages.push({ seq: ++created.last, at: this.env.now(), message });
        if (created.messages.length > this.keep) created.messages.shift();
        for (const wake of created.waiters) wake();
      })
      .catch((err: unknown) => {
        this.followed.delete(name);
        throw err;
      });
    t = created;
    this.followed.set(name, t);
    return t;
  }

  private dropIdle(): void {
    const now = this.env.now();
    for (const [name, t] of this.followed) {
      if (now - t.lastRead < this.idleMs || t.waiters.size > 0) continue;
      this.feed.unsubscribe(name);
      this.followed.delete(name);
    }
  }
}
