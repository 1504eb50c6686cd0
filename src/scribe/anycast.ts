/**
 * Anycast: a walk through a topic's tree, offering a message to one subscriber at a time until
 * one accepts.
 *
 * The walk starts at the first tree node its route meets. Everything it needs travels with it —
 * the nodes still to visit, the nodes already expanded and offered, the (possibly changed)
 * entity — so any node can carry it on, and hand-overs go straight to the next node.
 *
 * - `anycast` walks depth-first: at each node the local subscribers first, then the children
 *   (larger subtrees likelier first), and only when everything below is done, up to the parent.
 *   Subscribers near the sender are found first.
 * - `randomAnycast` keeps the nodes to visit as a weighted set — a child stands for the anycast
 *   subscribers in its subtree, the parent for those outside this node's subtree, the node itself
 *   for its own — and draws the next stop in proportion. The first subscriber offered is then
 *   uniform over the whole tree wherever the walk started, and after each decline the next one is
 *   uniform over the rest, so load spreads evenly even when some subscribers decline.
 */
import type { Id } from '../id/index.ts';
import type { Env, Logger, Random } from '../env/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import type { RpcReply } from '../overlay/index.ts';
import type { Subscription, TopicTree } from './tree.ts';
import type { AnycastHandlerResult, ScribeClient, ScribeMessage, ScribeOptions, ScribeStats } from './types.ts';
import { Kind } from './wire.ts';
import type { AnycastBody, FailedBody, WalkBody } from './wire.ts';

/** What a walk needs from the node's Scribe. */
export interface WalkHost {
  readonly self: NodeHandle;
  readonly env: Env;
  readonly options: ScribeOptions;
  readonly stats: ScribeStats;
  readonly log: Logger;
  tree(hex: string): TopicTree | undefined;
  send(to: NodeHandle, kind: string, body: unknown, onFailure: (() => void) | undefined, tx: string | undefined): void;
  route(key: Id, kind: string, body: unknown, tx: string | undefined): void;
  respond(to: NodeHandle, corr: string, reply: RpcReply, tx: string | undefined): void;
  /** The walk found nobody: raise the root's event and answer the sender (on the root). */
  failed(body: FailedBody, tx: string | undefined): void;
}

/** The body of an accepted anycast's answer. */
export interface AcceptedBody {
  by: NodeHandle;
  e: unknown;
  r?: unknown;
  v: number;
}

function has(ids: readonly Id[], id: Id): boolean {
  for (const x of ids) if (x.hex === id.hex) return true;
  return false;
}

function queued(q: readonly NodeHandle[], id: Id): boolean {
  for (const h of q) if (h.id.hex === id.hex) return true;
  return false;
}

/**
 * Orders items by a weighted random draw without replacement (Efraimidis–Spirakis): the first is
 * item i with probability w_i / Σw, and so on. Zero weights come last, in random order.
 */
export function weightedOrder<T>(items: { item: T; weight: number }[], random: Random): T[] {
  if (items.length <= 1) return items.map((x) => x.item);
  const keyed = items.map((x) => ({ item: x.item, key: x.weight > 0 ? Math.log(random.next() || Number.MIN_VALUE) / x.weight : -1e12 - random.next() }));
  keyed.sort((a, b) => b.key - a.key);
  return keyed.map((x) => x.item);
}

/** Index drawn in proportion to `weights` (the first entry if all are zero). */
export function weightedIndex(weights: readonly number[], random: Random): number {
  let total = 0;
  for (const x of weights) total += x;
  if (!(total > 0)) return 0;
  let r = random.next() * total;
  let last = 0;
  for (let i = 0; i < weights.length; i++) {
    const x = weights[i]!;
    if (x <= 0) continue;
    last = i;
    r -= x;
    if (r < 0) return i;
  }
  return last;
}

export class AnycastWalker {
  private readonly loggedClients = new WeakSet<object>();

  constructor(private readonly host: WalkHost) {}

  /** Starts a walk on this node (the first tree node the anycast met). */
  start(b: AnycastBody, corr: string, tx: string | undefined): void {
    const w: WalkBody = { t: b.t, u: b.u, e: b.e, s: b.s, c: corr, v: [], d: [], q: [], n: 0 };
    if (b.m !== undefined) w.m = b.m;
    if (b.sp === 1) {
      w.sp = 1;
      w.qw = [];
    }
    this.arrive(w, tx);
  }

  /** A walk arrived here (or starts here). */
  arrive(w: WalkBody, tx: string | undefined): void {
    this.host.stats.anycastVisits++;
    const self = this.host.self;
    if (!has(w.v, self.id)) {
      const mark = w.q.length;
      this.expand(w);
      // randomAnycast: coming here was a draw for the subscribers this node stands for, so the
      // next stop is drawn among what it just added (if anything).
      this.advance(w, tx, mark);
    } else if (!has(w.d, self.id)) {
      // Sent back here to offer our subscribers.
      this.offerThenAdvance(w, tx);
    } else {
      this.advance(w, tx);
    }
  }

  /** Adds this node's subscribers, children and parent to the nodes to visit. */
  private expand(w: WalkBody): void {
    const self = this.host.self;
    w.v.push(self.id);
    const tree = this.host.tree(w.t.hex);
    if (!tree) return;
    const local = tree.anycastClients > 0 && !has(w.d, self.id);
    const parent = tree.parent && !has(w.v, tree.parent.id) && !queued(w.q, tree.parent.id) ? tree.parent : undefined;
    if (w.qw) {
      for (const c of tree.children.values()) {
        if (has(w.v, c.handle.id) || queued(w.q, c.handle.id)) continue;
        w.q.push(c.handle);
        w.qw.push(c.count);
      }
      if (local) {
        w.q.push(self);
        w.qw.push(1);
      }
      if (parent) {
        w.q.push(parent);
        w.qw.push(tree.outside);
      }
      return;
    }
    const items: { item: NodeHandle; weight: number }[] = [];
    for (const c of tree.children.values()) {
      if (!has(w.v, c.handle.id) && !queued(w.q, c.handle.id)) items.push({ item: c.handle, weight: c.count });
    }
    const front = weightedOrder(items, this.host.env.random);
    if (local) front.unshift(self);
    if (front.length > 0) w.q = w.q.length === 0 ? front : front.concat(w.q);
    if (parent) w.q.push(parent);
  }

  /** The next stop of the walk; a randomAnycast draws among the entries from `from` on, if any. */
  private take(w: WalkBody, from: number): NodeHandle | undefined {
    if (w.q.length === 0) return undefined;
    if (!w.qw) return w.q.shift();
    const start = from < w.q.length ? from : 0;
    const i = start + weightedIndex(start === 0 ? w.qw : w.qw.slice(start), this.host.env.random);
    w.qw.splice(i, 1);
    return w.q.splice(i, 1)[0];
  }

  /** Takes the next stop: offer here, hand the walk on, or finish. */
  private advance(w: WalkBody, tx: string | undefined, fresh = Infinity): void {
    const self = this.host.self;
    for (;;) {
      if (w.v.length >= this.host.options.anycastMaxVisits) {
        this.exhausted(w, tx);
        return;
      }
      const next = this.take(w, fresh);
      if (next === undefined) {
        this.exhausted(w, tx);
        return;
      }
      if (next.id.hex === self.id.hex) {
        if (has(w.d, self.id)) continue;
        this.offerThenAdvance(w, tx);
        return;
      }
      if (has(w.v, next.id) && has(w.d, next.id)) continue;
      // The receiver gets its own copy; ours carries on if the hand-over fails.
      const out: WalkBody = { ...w, v: w.v.slice(), d: w.d.slice(), q: w.q.slice() };
      if (w.qw) out.qw = w.qw.slice();
      this.host.send(next, Kind.WALK, out, () => {
        if (!has(w.v, next.id)) w.v.push(next.id);
        if (!has(w.d, next.id)) w.d.push(next.id);
        this.advance(w, tx);
      }, tx);
      return;
    }
  }

  private offerThenAdvance(w: WalkBody, tx: string | undefined): void {
    const r = this.offer(w, tx);
    if (r === true) return;
    if (r === false) {
      this.advance(w, tx);
      return;
    }
    r.then(
      (accepted) => {
        if (!accepted) this.advance(w, tx);
      },
      (err: unknown) => this.host.log.error({ code: 'AnycastError', tx, err: String(err) }, 'anycast walk failed'),
    );
  }

  /** Offers the anycast to the local subscribers in turn; true once one accepts. */
  private offer(w: WalkBody, tx: string | undefined): boolean | Promise<boolean> {
    w.d.push(this.host.self.id);
    const tree = this.host.tree(w.t.hex);
    if (!tree) return false;
    const subs = tree.subscriptions.filter((s) => s.client.anycast !== undefined);
    return this.offerFrom(w, tree, subs, 0, tx);
  }

  private offerFrom(w: WalkBody, tree: TopicTree, subs: Subscription[], start: number, tx: string | undefined): boolean | Promise<boolean> {
    for (let i = start; i < subs.length; i++) {
      const client = subs[i]!.client;
      w.n++;
      const msg: ScribeMessage = { topic: tree.topic, id: w.c, method: w.m, entity: w.e, source: w.s, tx };
      let r: AnycastHandlerResult | Promise<AnycastHandlerResult>;
      try {
        r = client.anycast!(tree.topic, msg);
      } catch (err) {
        this.clientError(client, err, tx);
        continue;
      }
      if (r instanceof Promise) {
        return r
          .then(
            (res) => this.decide(w, res, tx),
            (err: unknown) => {
              this.clientError(client, err, tx);
              return false;
            },
          )
          .then((accepted) => (accepted ? true : this.offerFrom(w, tree, subs, i + 1, tx)));
      }
      if (this.decide(w, r, tx)) return true;
    }
    return false;
  }

  private decide(w: WalkBody, r: AnycastHandlerResult, tx: string | undefined): boolean {
    if (r === true || (typeof r === 'object' && r !== null && r.accept === true)) {
      const body: AcceptedBody = { by: this.host.self, e: w.e, v: w.v.length };
      if (typeof r === 'object' && r.reply !== undefined) body.r = r.reply;
      this.host.stats.anycastsAccepted++;
      this.host.respond(w.s, w.c, { code: 200, body }, tx);
      return true;
    }
    if (typeof r === 'object' && r !== null && r.accept === false && r.entity !== undefined) w.e = r.entity;
    return false;
  }

  /** A throwing handler counts as declined; logged at error once per client, then at debug. */
  private clientError(client: ScribeClient, err: unknown, tx: string | undefined): void {
    const e = err as { message?: string; code?: string };
    const fields = { code: 'SubscriberError', hook: 'anycast', tx, err: { message: e?.message ?? String(err), code: e?.code } };
    if (this.loggedClients.has(client)) {
      this.host.log.debug(fields, 'anycast handler threw; counted as declined');
      return;
    }
    this.loggedClients.add(client);
    this.host.log.error(fields, 'anycast handler threw; counted as declined (further errors of this subscriber at debug level)');
  }

  /** Nobody (left) to offer it to: the root raises its event and answers the sender. */
  private exhausted(w: WalkBody, tx: string | undefined): void {
    const body: FailedBody = { t: w.t, u: w.u, e: w.e, s: w.s, c: w.c, why: w.n === 0 ? 'NoSubscribers' : 'AllDeclined' };
    if (w.m !== undefined) body.m = w.m;
    const tree = this.host.tree(w.t.hex);
    if (tree?.root) this.host.failed(body, tx);
    else this.host.route(w.t, Kind.ANYCAST_FAILED, body, tx);
  }
}
