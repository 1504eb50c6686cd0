/**
 * Scribe (Castro et al. 2002) on the Pi ring: topic trees for publish/subscribe, anycast and
 * broadcast, entirely decentralised.
 *
 * A topic's tree is rooted at the live node closest to the topic id. A subscriber routes a
 * SUBSCRIBE toward the id; the first tree node on the way (seen through the overlay's forward
 * hook) takes the sender as a child, and a node not yet in the tree becomes a forwarder and
 * subscribes in turn. Publishes are routed to the root, which sends them down the tree, each node
 * to its children in parallel. Anycasts walk the tree depth-first (see anycast.ts).
 *
 * Repair: parents send each child node one heartbeat per period for all shared topics (a failed
 * send drops the child); a child that hears nothing re-subscribes through the overlay. Each node
 * knows its path to the root, refuses children that would close a loop, and passes path changes
 * down. A root that learns of a closer node re-subscribes toward the id, which makes the newcomer
 * the root with the old tree below it; a root without a tree asks the previous root candidate
 * before declaring "no subscribers". Publishes are de-duplicated by id and kept for a short
 * window, and a node that re-joins after losing its parent asks the root for the ones it missed.
 *
 * Everything runs on the node's {@link Env}, callback-style (no promises on the message path):
 * the same code runs over TCP and in the simulator.
 */
import { randomIdInScope } from '../id/index.ts';
import type { Id } from '../id/index.ts';
import type { Env, Logger, Timer } from '../env/index.ts';
import { METHODS } from '../wire/index.ts';
import type { Method, NodeHandle } from '../wire/index.ts';
import { RpcClosedError, RpcEndpoint, RpcTimeoutError } from '../overlay/index.ts';
import type { ForwardContext, ForwardDecision, PastryNode, RpcReply, RpcRequest } from '../overlay/index.ts';
import { AnycastWalker } from './anycast.ts';
import type { AcceptedBody, WalkHost } from './anycast.ts';
import { checkTopic, locationOf, topicFromWire } from './topic.ts';
import { TopicTree } from './tree.ts';
import type { Child, Subscription } from './tree.ts';
import { DEFAULT_SCRIBE_OPTIONS, ScribeError } from './types.ts';
import type {
  AnycastOptions,
  AnycastResult,
  NoSubscribersEvent,
  NoSubscribersReason,
  PublishOptions,
  ScribeClient,
  ScribeMessage,
  ScribeOptions,
  ScribeStats,
  Topic,
  TreeInfo,
} from './types.ts';
import {
  Kind,
  isHandle,
  parseAck,
  parseAnycast,
  parseCount,
  parseFailed,
  parseHandoff,
  parseHandover,
  parseHeartbeat,
  parsePath,
  parsePublish,
  parseReplay,
  parseReplayRequest,
  parseSubscribe,
  parseTopics,
  parseWalk,
} from './wire.ts';
import type { AckBody, AnycastBody, FailedBody, HandoffBody, PublishBody, SubscribeBody } from './wire.ts';

/** The overlay application name Scribe registers. */
export const SCRIBE_APP = 'scribe';

/** What a {@link Scribe} is built from. */
export interface ScribeInit {
  env: Env;
  node: PastryNode;
  options?: Partial<ScribeOptions>;
}

const CONSUME: ForwardDecision = { action: 'consume' };

/** A node this node is a parent of, and the topics it is a child in. */
interface ChildNode {
  handle: NodeHandle;
  trees: Set<TopicTree>;
  /** Heartbeat periods in a row whose heartbeat was not acknowledged. */
  silentRounds: number;
  /** The last heartbeat was not acknowledged. */
  failed: boolean;
}



/**
 * One node's Scribe: create one per node (it registers itself on the node as the overlay
 * application `scribe`), then subscribe local clients, publish and anycast.
 */
export class Scribe {
  readonly options: ScribeOptions;
  readonly stats: ScribeStats = {
    published: 0,
    rootPublishes: 0,
    delivered: 0,
    duplicatesDropped: 0,
    forwarded: 0,
    subscribeSent: 0,
    repairs: 0,
    rootTakeovers: 0,
    heartbeatsSent: 0,
    anycastsSent: 0,
    anycastsAccepted: 0,
    anycastVisits: 0,
    noSubscriberEvents: 0,
    replayed: 0,
    malformed: 0,
  };
  /** The overlay endpoint (request/response correlation for anycast answers). */
  readonly endpoint: RpcEndpoint;

  private readonly env: Env;
  private readonly node: PastryNode;
  private readonly log: Logger;
  private readonly trees = new Map<string, TopicTree>();
  private readonly childNodes = new Map<string, ChildNode>();
  /** Publish ids seen → expiry (insertion order = expiry order). */
  private readonly seen = new Map<string, number>();
  private readonly listeners = new Set<(event: NoSubscribersEvent) => void>();
  private readonly malformedLogged = new Set<string>();
  private readonly walker: AnycastWalker;
  private tickTimer: Timer | undefined;
  private closed = false;

  constructor(init: ScribeInit) {
    this.env = init.env;
    this.node = init.node;
    this.options = { ...DEFAULT_SCRIBE_OPTIONS, ...init.options };
    this.log = this.env.log.child({ app: SCRIBE_APP });
    this.endpoint = new RpcEndpoint(SCRIBE_APP, this.node, this.env, {
      onRequest: (req) => this.onRequest(req),
      onForward: (ctx) => this.onForward(ctx),
      onLeafSetChanged: () => this.checkRoots(),
    });
    this.node.register(this.endpoint);
    const host: WalkHost = {
      self: this.node.handle,
      env: this.env,
      options: this.options,
      stats: this.stats,
      log: this.log,
      tree: (hex) => this.trees.get(hex),
      send: (to, kind, body, onFailure, tx) => this.sendDirect(to, kind, body, onFailure, tx),
      route: (key, kind, body, tx) => this.route(key, kind, body, tx),
      respond: (to, corr, reply, tx) => this.endpoint.respond(to, corr, reply, tx),
      failed: (body, tx) => this.anycastFailedAtRoot(body, tx),
    };
    this.walker = new AnycastWalker(host);
    this.scheduleTick();
  }

  private get self(): NodeHandle {
    return this.node.handle;
  }

  // ---------------------------------------------------------------------------------------------
  // Public API

  /**
   * Subscribes `client` to `topic` on this node. Resolves once this node is connected to the
   * topic's tree (the client's `subscribed` is called then too). If that takes longer than
   * `subscribeTimeoutMs` the promise rejects with `Timeout`, but the subscription stays and keeps
   * trying (call {@link unsubscribe} to give up). Subscribing the same client twice is harmless.
   */
  subscribe(topic: Topic, client: ScribeClient): Promise<void> {
    if (this.closed) return Promise.reject(new ScribeError('Closed', 'scribe is stopped'));
    try {
      checkTopic(topic);
      if (typeof client !== 'object' || client === null) throw new ScribeError('InvalidArgument', 'a subscriber must be an object implementing ScribeClient');
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const tree = this.trees.get(topic.id.hex) ?? this.createTree(topic);
    let sub = tree.subscriptions.find((s) => s.client === client);
    if (!sub) {
      sub = { client, confirmed: false, waiters: [] };
      tree.subscriptions.push(sub);
      tree.emptySince = 0;
    }
    if (sub.confirmed) return Promise.resolve();
    if (tree.connected) {
      this.confirm(tree, sub);
      return Promise.resolve();
    }
    if (!tree.joining) this.join(tree);
    const s = sub;
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        timer: this.env.setTimeout(() => {
          const i = s.waiters.indexOf(waiter);
          if (i >= 0) s.waiters.splice(i, 1);
          reject(new ScribeError('Timeout', `subscription to ${topic.uri} not confirmed within ${this.options.subscribeTimeoutMs} ms (still trying)`));
        }, this.options.subscribeTimeoutMs),
      };
      s.waiters.push(waiter);
    });
  }

  /**
   * Removes `client`'s subscription to `topic`. When no local subscriber and no child is left,
   * this node leaves the tree (and its parent prunes itself in turn if it is left with nothing).
   * Returns whether the client was subscribed.
   */
  unsubscribe(topic: Topic, client: ScribeClient): boolean {
    checkTopic(topic);
    const tree = this.trees.get(topic.id.hex);
    if (!tree) return false;
    const i = tree.subscriptions.findIndex((s) => s.client === client);
    if (i < 0) return false;
    const [sub] = tree.subscriptions.splice(i, 1);
    for (const w of sub!.waiters) {
      w.timer.cancel();
      w.reject(new ScribeError('Closed', `unsubscribed from ${topic.uri} before the subscription was confirmed`));
    }
    this.maybePrune(tree);
    return true;
  }

  /**
   * Publishes to every subscriber of `topic`: routed to the topic's root, then sent down the
   * tree. Unreliable by contract (no acknowledgement); returns the publish id. A publish to a
   * topic without subscribers raises the no-subscriber event on the root. Throws `NotRunning` if
   * the node has not joined (or has left), `InvalidTopic` / `InvalidArgument` for bad input.
   */
  publish(topic: Topic, method: Method | undefined, entity: unknown, options: PublishOptions = {}): string {
    this.requireRunning();
    checkTopic(topic);
    checkMethod(method);
    const id = this.endpoint.nextId();
    const body: PublishBody = { t: topic.id, u: topic.uri, i: id, e: entity, s: this.self };
    if (method !== undefined) body.m = method;
    this.stats.published++;
    this.route(topic.id, Kind.PUBLISH, body, options.tx ?? id);
    return id;
  }

  /**
   * Offers a message to the topic's subscribers one at a time, depth-first through the tree
   * from the first tree node on the route (this node first if it is subscribed), until one
   * accepts. Rejects with `NoSubscribers`, `AllDeclined` or `Timeout`.
   */
  anycast(topic: Topic, method: Method | undefined, entity: unknown, options: AnycastOptions = {}): Promise<AnycastResult> {
    return this.sendAnycast(topic, method, entity, options, false);
  }

  /**
   * Like {@link anycast}, but the walk starts where the route from a random id within the
   * topic's scope meets the tree, and picks subscribers in proportion to subtree sizes: repeated
   * anycasts spread evenly over the subscribers.
   */
  randomAnycast(topic: Topic, method: Method | undefined, entity: unknown, options: AnycastOptions = {}): Promise<AnycastResult> {
    return this.sendAnycast(topic, method, entity, options, true);
  }

  /**
   * Listens for no-subscriber events raised on this node (as the root of a topic). Returns a
   * function that removes the listener.
   */
  onNoSubscribers(listener: (event: NoSubscribersEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Topics with local subscribers on this node. */
  topics(): Topic[] {
    const out: Topic[] = [];
    for (const t of this.trees.values()) if (t.subscriptions.length > 0) out.push(t.topic);
    return out;
  }

  /** Whether `client` (or, without it, any local client) subscribes to `topic` here. */
  isSubscribed(topic: Topic, client?: ScribeClient): boolean {
    const tree = this.trees.get(topic.id.hex);
    if (!tree) return false;
    return client === undefined ? tree.subscriptions.length > 0 : tree.subscriptions.some((s) => s.client === client);
  }

  /** This node's part of `topic`'s tree, if it is in it (as subscriber, forwarder or root). */
  treeInfo(topic: Topic | Id): TreeInfo | undefined {
    const tree = this.trees.get('id' in topic ? topic.id.hex : topic.hex);
    if (!tree) return undefined;
    return {
      topic: tree.topic,
      root: tree.root,
      parent: tree.parent,
      children: [...tree.children.values()].map((c) => c.handle),
      path: tree.path?.slice(),
      connected: tree.connected,
      clients: tree.subscriptions.length,
      subtreeCount: tree.count,
    };
  }

  /** Every topic this node holds tree state for. */
  treeTopics(): Topic[] {
    return [...this.trees.values()].map((t) => t.topic);
  }

  /**
   * Leaves every tree gracefully: children are told to re-join at once, parents prune this node.
   * Call it before the node leaves the ring. Then stops.
   */
  leave(): void {
    if (this.closed) return;
    const gone = new Map<string, { to: NodeHandle; ts: Id[] }>();
    const prune = new Map<string, { to: NodeHandle; ts: Id[] }>();
    for (const tree of this.trees.values()) {
      for (const c of tree.children.values()) addTo(gone, c.handle, tree.topic.id);
      if (tree.parent) addTo(prune, tree.parent, tree.topic.id);
      // The next root gets what we published lately: a copy may exist nowhere else.
      if (tree.root && tree.recent.length > 0) {
        const next = this.node.replicaSet(tree.topic.id, 2).find((h) => h.id.hex !== this.self.id.hex);
        if (next) this.sendDirect(next, Kind.HANDOVER, { t: tree.topic.id, u: tree.topic.uri, ms: tree.recent.map((r) => r.body) }, undefined, undefined);
      }
    }
    for (const { to, ts } of gone.values()) this.sendDirect(to, Kind.GONE, { ts }, undefined, undefined);
    for (const { to, ts } of prune.values()) this.sendDirect(to, Kind.PRUNE, { ts }, undefined, undefined);
    this.stop();
  }

  /** Stops at once: timers cancelled, pending anycasts and subscribes rejected with `Closed`. */
  stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.tickTimer?.cancel();
    for (const tree of this.trees.values()) {
      tree.retryTimer?.cancel();
      for (const s of tree.subscriptions) this.rejectWaiters(s, new ScribeError('Closed', 'scribe stopped'));
    }
    this.endpoint.close();
    this.node.unregister(SCRIBE_APP);
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  private requireOpen(): void {
    if (this.closed) throw new ScribeError('Closed', 'scribe is stopped');
  }

  /** Sending needs a node that has joined (or is joining: the overlay buffers until then). */
  private requireRunning(): void {
    this.requireOpen();
    const state = this.node.state;
    if (state !== 'ready' && state !== 'joining') throw new ScribeError('NotRunning', `the node is ${state}: it cannot send`);
  }

  private route(key: Id, kind: string, body: unknown, tx: string | undefined): void {
    if (this.closed) return;
    try {
      this.endpoint.notify(key, kind, body, { tx });
    } catch (err) {
      this.log.debug({ code: 'SendFailed', kind, err: (err as Error).message }, 'cannot route now');
    }
  }

  private sendDirect(to: NodeHandle, kind: string, body: unknown, onFailure: (() => void) | undefined, tx: string | undefined): void {
    if (this.closed) return;
    try {
      this.endpoint.notifyDirect(to, kind, body, { tx, onFailure });
    } catch (err) {
      this.log.debug({ code: 'SendFailed', kind, err: (err as Error).message }, 'cannot send now');
    }
  }

  private async sendAnycast(topic: Topic, method: Method | undefined, entity: unknown, options: AnycastOptions, random: boolean): Promise<AnycastResult> {
    this.requireRunning();
    checkTopic(topic);
    checkMethod(method);
    const body: AnycastBody = { t: topic.id, u: topic.uri, e: entity, s: this.self };
    if (method !== undefined) body.m = method;
    let key = topic.id;
    if (random) {
      body.r = 1;
      body.sp = 1;
      key = randomIdInScope((n) => this.env.random.bytes(n), topic.scope, locationOf(topic.id));
    }
    const timeoutMs = options.timeoutMs ?? this.options.anycastTimeoutMs;
    this.stats.anycastsSent++;
    let res;
    try {
      res = await this.endpoint.request(key, Kind.ANYCAST, body, { timeoutMs, tx: options.tx ?? this.endpoint.nextId() });
    } catch (err) {
      if (err instanceof RpcTimeoutError) throw new ScribeError('Timeout', `anycast to ${topic.uri} not answered within ${timeoutMs} ms`);
      if (err instanceof RpcClosedError) throw new ScribeError('Closed', 'scribe stopped');
      throw err;
    }
    const b = res.body as Partial<AcceptedBody> & { error?: string };
    if (res.code === 200 && isHandle(b?.by)) return { by: b.by, entity: b.e, reply: b.r, visited: b.v ?? 0 };
    const code = b?.error === 'AllDeclined' ? 'AllDeclined' : 'NoSubscribers';
    throw new ScribeError(code, code === 'AllDeclined' ? `every subscriber of ${topic.uri} declined the anycast` : `no subscriber of ${topic.uri} took the anycast`);
  }

  // ---------------------------------------------------------------------------------------------
  // Tree membership

  private createTree(topic: Topic): TopicTree {
    const tree = new TopicTree(topic);
    this.trees.set(topic.id.hex, tree);
    return tree;
  }

  private destroy(tree: TopicTree): void {
    tree.retryTimer?.cancel();
    tree.retryTimer = undefined;
    for (const hex of [...tree.children.keys()]) this.removeChild(tree, hex);
    if (this.trees.get(tree.topic.id.hex) === tree) this.trees.delete(tree.topic.id.hex);
  }

  /** Routes a SUBSCRIBE toward the topic id, and again every retry period until connected. */
  private join(tree: TopicTree): void {
    tree.joining = true;
    tree.retryTimer?.cancel();
    const body: SubscribeBody = { t: tree.topic.id, u: tree.topic.uri, n: tree.count };
    if (tree.excluded.length > 0) body.x = tree.excluded;
    if (tree.wasConnected || this.childWantsReplay(tree)) body.r = 1;
    tree.reportedCount = body.n;
    this.stats.subscribeSent++;
    this.route(tree.topic.id, Kind.SUBSCRIBE, body, undefined);
    tree.retryTimer = this.env.setTimeout(() => {
      tree.retryTimer = undefined;
      if (this.closed || this.trees.get(tree.topic.id.hex) !== tree || tree.connected) return;
      this.join(tree);
    }, this.env.random.jitter(this.options.subscribeRetryMs, 0.2));
  }

  private childWantsReplay(tree: TopicTree): boolean {
    for (const c of tree.children.values()) if (c.replay) return true;
    return false;
  }

  /**
   * Connected (to a parent with `path`, or as the root with []): confirm, ack, tell children.
   * Returns whether this was a re-join after losing the tree.
   */
  private connected(tree: TopicTree, path: Id[]): boolean {
    const changed = !samePath(tree.path, path);
    const rejoined = tree.wasConnected && !tree.root && tree.joining;
    tree.path = path;
    tree.joining = false;
    tree.wasConnected = true;
    tree.excluded = [];
    tree.parentHeardAt = this.env.now();
    tree.retryTimer?.cancel();
    tree.retryTimer = undefined;
    for (const s of tree.subscriptions) if (!s.confirmed) this.confirm(tree, s);
    const down = path.concat(this.self.id);
    for (const c of tree.children.values()) {
      if (c.pending) this.ackChild(tree, c, down);
      else if (changed) this.sendDirect(c.handle, Kind.PATH, { t: tree.topic.id, p: down }, undefined, undefined);
    }
    // Publishes may have gone by while we were cut off: the root has the recent ones.
    if (rejoined) this.route(tree.topic.id, Kind.REPLAY_REQUEST, { t: tree.topic.id }, undefined);
    return rejoined;
  }

  private confirm(tree: TopicTree, sub: Subscription): void {
    sub.confirmed = true;
    for (const w of sub.waiters) {
      w.timer.cancel();
      w.resolve();
    }
    sub.waiters.length = 0;
    const client = sub.client;
    if (client.subscribed) {
      this.env.defer(() => {
        try {
          client.subscribed!(tree.topic);
        } catch (err) {
          this.clientError('subscribed', err);
        }
      });
    }
  }

  private rejectWaiters(sub: Subscription, err: Error): void {
    for (const w of sub.waiters) {
      w.timer.cancel();
      w.reject(err);
    }
    sub.waiters.length = 0;
  }

  private ackChild(tree: TopicTree, c: Child, down: Id[]): void {
    c.pending = false;
    const body: AckBody = { t: tree.topic.id, p: down };
    if (c.replay && tree.recent.length > 0) {
      tree.trim(this.env.now(), this.options.replayWindowMs, this.options.replayMaxMessages);
      body.rp = tree.recent.map((r) => r.body);
    }
    c.replay = false;
    // A lost ack is not a lost child: the heartbeats decide (a child left unconfirmed re-sends).
    this.sendDirect(c.handle, Kind.ACK, body, undefined, undefined);
  }

  private addChild(tree: TopicTree, h: NodeHandle, count: number, replay: boolean): void {
    const hex = h.id.hex;
    let c = tree.children.get(hex);
    if (c) {
      tree.childCount += count - c.count;
      c.count = count;
      c.handle = h;
      c.replay ||= replay;
    } else {
      c = { handle: h, count, pending: true, replay };
      tree.children.set(hex, c);
      tree.childCount += count;
      let node = this.childNodes.get(hex);
      if (!node) {
        node = { handle: h, trees: new Set(), silentRounds: 0, failed: false };
        this.childNodes.set(hex, node);
      }
      node.handle = h;
      node.trees.add(tree);
    }
    tree.emptySince = 0;
    if (tree.connected) this.ackChild(tree, c, tree.path!.concat(this.self.id));
    else c.pending = true;
  }

  private removeChild(tree: TopicTree, hex: string): void {
    const c = tree.children.get(hex);
    if (!c) return;
    tree.children.delete(hex);
    tree.childCount -= c.count;
    const node = this.childNodes.get(hex);
    if (node) {
      node.trees.delete(tree);
      if (node.trees.size === 0) this.childNodes.delete(hex);
    }
  }

  /** A child (node) stopped answering: drop it from this tree. */
  private lostChild(tree: TopicTree, h: NodeHandle): void {
    const c = tree.children.get(h.id.hex);
    if (!c || c.handle.addr !== h.addr) return;
    this.removeChild(tree, h.id.hex);
    this.maybePrune(tree);
  }

  /** Leaves the tree if nothing keeps this node in it (the root keeps its state a while for replay). */
  private maybePrune(tree: TopicTree): void {
    if (!tree.empty || this.trees.get(tree.topic.id.hex) !== tree) return;
    if (tree.root) {
      if (tree.emptySince === 0) tree.emptySince = this.env.now();
      return;
    }
    if (tree.parent) this.sendDirect(tree.parent, Kind.PRUNE, { ts: [tree.topic.id] }, undefined, undefined);
    this.destroy(tree);
  }

  /** The parent is gone or unusable: re-join through the overlay (children stay attached). */
  private loseParent(tree: TopicTree, reason: string): void {
    this.log.info({ event: 'scribe.parentLost', topic: tree.topic.uri, parent: tree.parent?.id.short(), reason }, 're-joining a topic tree');
    this.stats.repairs++;
    tree.parent = undefined;
    tree.path = undefined;
    if (tree.empty) {
      this.destroy(tree);
      return;
    }
    this.join(tree);
  }

  /** The overlay delivered a SUBSCRIBE (or a publish) here: this node is the topic's root. */
  private becomeRoot(tree: TopicTree): void {
    if (tree.parent) this.sendDirect(tree.parent, Kind.PRUNE, { ts: [tree.topic.id] }, undefined, undefined);
    tree.parent = undefined;
    tree.root = true;
    this.stats.rootTakeovers++;
    this.log.debug({ event: 'scribe.root', topic: tree.topic.uri }, 'became the root of a topic tree');
    this.connected(tree, []);
    if (tree.empty && tree.emptySince === 0) tree.emptySince = this.env.now();
  }

  /** A root that is no longer the closest node re-joins toward the topic id (reaching the new root). */
  private demote(tree: TopicTree): void {
    tree.root = false;
    tree.path = undefined;
    if (tree.empty) {
      this.destroy(tree);
      return;
    }
    this.log.debug({ event: 'scribe.demoted', topic: tree.topic.uri }, 'no longer the root: re-joining toward the topic id');
    this.stats.repairs++;
    this.join(tree);
  }

  /** Roots check they still are (a closer node may have joined). */
  private checkRoots(): void {
    if (this.closed || !this.node.isReady) return;
    for (const tree of this.trees.values()) {
      if (tree.root && !this.node.isRoot(tree.topic.id)) this.demote(tree);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Overlay hooks

  private onForward(ctx: ForwardContext): ForwardDecision | void {
    if (this.closed) return;
    const kind = ctx.msg.kind;
    if (kind === Kind.SUBSCRIBE) {
      if (ctx.origin.id.hex === this.self.id.hex) return;
      const b = parseSubscribe(ctx.msg.body);
      if (!b) {
        this.malformed(Kind.SUBSCRIBE, ctx.origin);
        return CONSUME;
      }
      if (b.x && b.x.some((id) => id.hex === this.self.id.hex)) return;
      return this.interceptSubscribe(b, ctx.origin) ? CONSUME : undefined;
    }
    if (kind === Kind.ANYCAST) {
      const b = parseAnycast(ctx.msg.body);
      if (!b) {
        this.malformed(Kind.ANYCAST, ctx.origin);
        return CONSUME;
      }
      if (b.r === 1) return;
      const tree = this.trees.get(b.t.hex);
      if (!tree || tree.empty) return;
      this.walker.start(b, b.c ?? ctx.msg.mid, ctx.msg.tx);
      return CONSUME;
    }
    return;
  }

  /** A SUBSCRIBE passing through: take the sender as a child unless that would close a loop. */
  private interceptSubscribe(b: SubscribeBody, origin: NodeHandle): boolean {
    let tree = this.trees.get(b.t.hex);
    if (tree) {
      if (tree.hasInPath(origin.id)) return false;
      // The message goes on from here, so this node is no longer the root.
      if (tree.root) {
        tree.root = false;
        tree.path = undefined;
        this.stats.repairs++;
      }
    } else {
      tree = this.createTree(topicFromWire(b.u, b.t));
    }
    this.addChild(tree, origin, b.n, b.r === 1);
    if (!tree.connected && !tree.joining) this.join(tree);
    return true;
  }

  private onRequest(req: RpcRequest): RpcReply | undefined {
    if (this.closed) return undefined;
    const from = req.origin;
    switch (req.kind) {
      case Kind.SUBSCRIBE: {
        const b = parseSubscribe(req.body);
        if (!b) return this.malformed(req.kind, from);
        this.subscribeAtRoot(b, from);
        return undefined;
      }
      case Kind.ACK: {
        const b = parseAck(req.body);
        if (!b) return this.malformed(req.kind, from);
        this.onAck(from, b);
        return undefined;
      }
      case Kind.PATH: {
        const b = parsePath(req.body);
        if (!b) return this.malformed(req.kind, from);
        this.onPath(from, b.t, b.p);
        return undefined;
      }
      case Kind.PRUNE: {
        const b = parseTopics(req.body);
        if (!b) return this.malformed(req.kind, from);
        for (const t of b.ts) {
          const tree = this.trees.get(t.hex);
          if (!tree || !tree.children.has(from.id.hex)) continue;
          this.removeChild(tree, from.id.hex);
          this.maybePrune(tree);
        }
        return undefined;
      }
      case Kind.HEARTBEAT: {
        const b = parseHeartbeat(req.body);
        if (!b) return this.malformed(req.kind, from);
        this.onHeartbeat(from, b.ts, b.ss);
        return undefined;
      }
      case Kind.GONE: {
        const b = parseTopics(req.body);
        if (!b) return this.malformed(req.kind, from);
        for (const t of b.ts) {
          const tree = this.trees.get(t.hex);
          if (tree?.parent?.id.hex === from.id.hex) this.loseParent(tree, 'parent left');
        }
        return undefined;
      }
      case Kind.COUNT: {
        const b = parseCount(req.body);
        if (!b) return this.malformed(req.kind, from);
        b.ts.forEach((t, i) => {
          const tree = this.trees.get(t.hex);
          const c = tree?.children.get(from.id.hex);
          if (!tree || !c) return;
          tree.childCount += b.cs[i]! - c.count;
          c.count = b.cs[i]!;
        });
        return undefined;
      }
      case Kind.PUBLISH: {
        const b = parsePublish(req.body);
        if (!b) return this.malformed(req.kind, from);
        this.publishAtRoot(b, req.tx);
        return undefined;
      }
      case Kind.PUBLISH_DOWN: {
        const b = parsePublish(req.body);
        if (!b) return this.malformed(req.kind, from);
        const tree = this.trees.get(b.t.hex);
        if (!tree) {
          // A parent that still counts us as a child.
          this.sendDirect(from, Kind.PRUNE, { ts: [b.t] }, undefined, undefined);
          return undefined;
        }
        // Traffic from the parent shows it alive as well as a heartbeat (which may be late under load).
        if (tree.parent?.id.hex === from.id.hex) tree.parentHeardAt = this.env.now();
        this.receivePublish(tree, b, req.tx);
        return undefined;
      }
      case Kind.PUBLISH_UP: {
        const b = parsePublish(req.body);
        if (!b) return this.malformed(req.kind, from);
        const tree = this.trees.get(b.t.hex);
        if (tree && !tree.empty) this.publishInTree(tree, b, req.tx);
        else this.publishAtRoot(b, req.tx);
        return undefined;
      }
      case Kind.REPLAY_REQUEST: {
        const b = parseReplayRequest(req.body);
        if (!b) return this.malformed(req.kind, from);
        const tree = this.trees.get(b.t.hex);
        if (tree && tree.recent.length > 0) {
          tree.trim(this.env.now(), this.options.replayWindowMs, this.options.replayMaxMessages);
          this.sendDirect(from, Kind.REPLAY, { t: b.t, ms: tree.recent.map((r) => r.body) }, undefined, undefined);
        }
        return undefined;
      }
      case Kind.REPLAY: {
        const b = parseReplay(req.body);
        if (!b) return this.malformed(req.kind, from);
        const tree = this.trees.get(b.t.hex);
        if (!tree) return undefined;
        for (const m of b.ms) if (this.receivePublish(tree, m, undefined)) this.stats.replayed++;
        return undefined;
      }
      case Kind.REPLAY_UP: {
        const b = parseReplay(req.body);
        if (!b) return this.malformed(req.kind, from);
        const tree = this.trees.get(b.t.hex);
        if (!tree || !tree.children.has(from.id.hex)) return undefined;
        const news: PublishBody[] = [];
        for (const m of b.ms) if (this.receivePublish(tree, m, undefined, from.id.hex)) news.push(m);
        this.stats.replayed += news.length;
        if (news.length > 0 && tree.parent) this.sendDirect(tree.parent, Kind.REPLAY_UP, { t: b.t, ms: news }, undefined, undefined);
        return undefined;
      }
      case Kind.HANDOVER: {
        const b = parseHandover(req.body);
        if (!b) return this.malformed(req.kind, from);
        let tree = this.trees.get(b.t.hex);
        if (!tree) {
          // Kept as an (empty) root's state for the replay window; dropped if we are not the root.
          tree = this.createTree(topicFromWire(b.u, b.t));
          tree.root = true;
          tree.path = [];
          tree.wasConnected = true;
          tree.emptySince = this.env.now();
        }
        for (const m of b.ms) if (this.receivePublish(tree, m, undefined)) this.stats.replayed++;
        return undefined;
      }
      case Kind.ANYCAST: {
        const b = parseAnycast(req.body);
        if (!b) return this.malformed(req.kind, from);
        this.anycastAtRoot(b, req.mid, req.tx);
        return undefined;
      }
      case Kind.WALK: {
        const b = parseWalk(req.body);
        if (!b) return this.malformed(req.kind, from);
        this.walker.arrive(b, req.tx);
        return undefined;
      }
      case Kind.ANYCAST_FAILED: {
        const b = parseFailed(req.body);
        if (!b) return this.malformed(req.kind, from);
        this.anycastFailedAtRoot(b, req.tx);
        return undefined;
      }
      case Kind.HANDOFF: {
        const b = parseHandoff(req.body);
        if (!b) return this.malformed(req.kind, from);
        this.onHandoff(from, b, req.tx);
        return undefined;
      }
      case Kind.HANDOFF_NONE: {
        const b = parseHandoff(req.body);
        if (!b) return this.malformed(req.kind, from);
        this.nobody(b.k, b.b, 'NoSubscribers', req.tx);
        return undefined;
      }
      default:
        return this.malformed(req.kind || '(none)', from);
    }
  }

  /**
   * A SUBSCRIBE whose route ended here. A connected tree node takes the sender as a child (the
   * overlay may route around a root it suspects for a moment); otherwise — or when the sender is
   * on our own path, i.e. our old root re-joining under us — this node is the root.
   */
  private subscribeAtRoot(b: SubscribeBody, origin: NodeHandle): void {
    const tree = this.trees.get(b.t.hex) ?? this.createTree(topicFromWire(b.u, b.t));
    const self = origin.id.hex === this.self.id.hex;
    if (!tree.root && (self || !tree.connected || tree.hasInPath(origin.id))) this.becomeRoot(tree);
    if (!self) this.addChild(tree, origin, b.n, b.r === 1);
  }

  private onAck(from: NodeHandle, b: AckBody): void {
    const t = b.t;
    const path = b.p;
    const tree = this.trees.get(t.hex);
    if (!tree || tree.root || (tree.parent !== undefined && tree.parent.id.hex !== from.id.hex) || tree.children.has(from.id.hex)) {
      // Not wanted (any more): a late answer to an earlier attempt, or we are the root now.
      this.sendDirect(from, Kind.PRUNE, { ts: [t] }, undefined, undefined);
      return;
    }
    if (path.some((id) => id.hex === this.self.id.hex)) {
      this.log.warn({ code: 'TreeLoop', topic: tree.topic.uri, via: from.id.short() }, 'refusing a parent below this node in the tree');
      this.sendDirect(from, Kind.PRUNE, { ts: [t] }, undefined, undefined);
      tree.excluded.push(from.id);
      if (tree.parent) this.loseParent(tree, 'loop');
      return;
    }
    tree.parent = from;
    const rejoined = this.connected(tree, path);
    if (b.rp) for (const m of b.rp) if (this.receivePublish(tree, m, undefined)) this.stats.replayed++;
    // The other way too: what we hold may be news to the new part of the tree (a root that took
    // over lacks what its predecessor sent).
    if (rejoined && tree.recent.length > 0) this.sendDirect(from, Kind.REPLAY_UP, { t, ms: tree.recent.map((r) => r.body) }, undefined, undefined);
  }

  private onPath(from: NodeHandle, t: Id, path: Id[]): void {
    const tree = this.trees.get(t.hex);
    if (!tree || tree.parent?.id.hex !== from.id.hex) return;
    if (path.some((id) => id.hex === this.self.id.hex)) {
      this.log.warn({ code: 'TreeLoop', topic: tree.topic.uri, via: from.id.short() }, 'path to the root runs through this node: re-joining');
      this.sendDirect(from, Kind.PRUNE, { ts: [t] }, undefined, undefined);
      tree.excluded.push(from.id);
      this.loseParent(tree, 'loop');
      return;
    }
    this.connected(tree, path);
  }

  private onHeartbeat(from: NodeHandle, ts: Id[], totals: number[]): void {
    const now = this.env.now();
    let stale: Id[] | undefined;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      const tree = this.trees.get(t.hex);
      if (tree?.parent && tree.parent.id.hex === from.id.hex) {
        tree.parentHeardAt = now;
        tree.total = totals[i]!;
        continue;
      }
      // While joining, an answer may be on its way from this very node: leave it be.
      if (tree && !tree.connected) continue;
      (stale ??= []).push(t);
    }
    if (stale) this.sendDirect(from, Kind.PRUNE, { ts: stale }, undefined, undefined);
  }

  // ---------------------------------------------------------------------------------------------
  // Publish

  /** A publish whose route ended here. */
  private publishAtRoot(b: PublishBody, tx: string | undefined): void {
    let tree = this.trees.get(b.t.hex);
    if (tree && !tree.empty) {
      this.publishInTree(tree, b, tx);
      return;
    }
    // No tree here. Keep the publish for replay (subscribers may be re-joining after a root
    // change) and ask the previous root candidate, which may still hold the tree.
    if (!tree) tree = this.createTree(topicFromWire(b.u, b.t));
    if (!tree.root) this.becomeRoot(tree);
    if (this.markSeen(b.i)) tree.remember(b, this.env.now(), this.options.replayWindowMs, this.options.replayMaxMessages);
    this.handoff({ k: 'pub', b }, tx);
  }

  /**
   * A publish for a tree this node is in: the root sends it down; a node with a parent sends it
   * up (the overlay may have routed around a root it suspects), and takes over only if the
   * parent does not acknowledge and has been silent for `parentTimeoutMs`; a node cut off from
   * its parent takes over.
   */
  private publishInTree(tree: TopicTree, b: PublishBody, tx: string | undefined): void {
    const parent = tree.parent;
    if (!tree.root && parent) {
      this.sendDirect(parent, Kind.PUBLISH_UP, b, () => {
        if (this.closed || this.trees.get(b.t.hex) !== tree) return;
        if (tree.parent === parent && this.env.now() - tree.parentHeardAt < this.options.parentTimeoutMs) {
          // Heard from lately: slow rather than dead. Try again (the root drops copies).
          this.env.setTimeout(() => {
            if (!this.closed && this.trees.get(b.t.hex) === tree) this.publishInTree(tree, b, tx);
          }, this.options.heartbeatIntervalMs / 4);
          return;
        }
        if (tree.parent === parent) this.becomeRoot(tree);
        this.publishInTree(tree, b, tx);
      }, tx);
      return;
    }
    if (!tree.root) this.becomeRoot(tree);
    this.stats.rootPublishes++;
    this.receivePublish(tree, b, tx);
  }

  /**
   * Delivers a publish here and sends it on to the children (but `except`), unless it was seen
   * already. Returns whether it was new.
   */
  private receivePublish(tree: TopicTree, b: PublishBody, tx: string | undefined, except?: string): boolean {
    if (!this.markSeen(b.i)) {
      this.stats.duplicatesDropped++;
      return false;
    }
    tree.remember(b, this.env.now(), this.options.replayWindowMs, this.options.replayMaxMessages);
    for (const c of tree.children.values()) {
      const h = c.handle;
      if (h.id.hex === except) continue;
      this.stats.forwarded++;
      this.sendDirect(h, Kind.PUBLISH_DOWN, b, undefined, tx);
    }
    if (tree.subscriptions.length > 0) {
      const msg: ScribeMessage = { topic: tree.topic, id: b.i, method: b.m, entity: b.e, source: b.s, tx };
      for (const s of tree.subscriptions.slice()) {
        if (!s.client.deliver) continue;
        this.stats.delivered++;
        try {
          s.client.deliver(tree.topic, msg);
        } catch (err) {
          this.clientError('deliver', err);
        }
      }
    }
    return true;
  }

  /** Records a publish id; false if it was already seen. */
  private markSeen(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.set(id, this.env.now() + this.options.dedupWindowMs);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Anycast at the root, hand-offs, no-subscriber events

  private anycastAtRoot(b: AnycastBody, mid: string, tx: string | undefined): void {
    const corr = b.c ?? mid;
    if (b.r === 1) {
      // The random starting point: from here, toward the topic (the first tree node takes it).
      const next: AnycastBody = { t: b.t, u: b.u, e: b.e, s: b.s, c: corr };
      if (b.m !== undefined) next.m = b.m;
      if (b.sp === 1) next.sp = 1;
      this.route(b.t, Kind.ANYCAST, next, tx);
      return;
    }
    const tree = this.trees.get(b.t.hex);
    if (tree && !tree.empty) {
      this.walker.start(b, corr, tx);
      return;
    }
    const start: AnycastBody = { ...b, c: corr };
    this.handoff({ k: 'any', b: start }, tx);
  }

  /** A root without a tree asks the next-closest node, in case the tree is still there. */
  private handoff(h: HandoffBody, tx: string | undefined): void {
    let next: NodeHandle | undefined;
    for (const n of this.node.replicaSet(h.b.t, 2)) if (n.id.hex !== this.self.id.hex) next = n;
    if (!next) {
      this.nobody(h.k, h.b, 'NoSubscribers', tx);
      return;
    }
    this.sendDirect(next, Kind.HANDOFF, h, () => this.nobody(h.k, h.b, 'NoSubscribers', tx), tx);
  }

  private onHandoff(from: NodeHandle, h: HandoffBody, tx: string | undefined): void {
    const tree = this.trees.get(h.b.t.hex);
    if (tree && !tree.empty) {
      if (h.k === 'pub') this.receivePublish(tree, h.b as PublishBody, tx);
      else this.walker.start(h.b as AnycastBody, (h.b as AnycastBody).c!, tx);
      return;
    }
    this.sendDirect(from, Kind.HANDOFF_NONE, h, undefined, tx);
  }

  private anycastFailedAtRoot(b: FailedBody, tx: string | undefined): void {
    this.nobody('any', b, b.why, tx);
  }

  /** Raises the no-subscriber event here; an anycast's sender gets its answer. */
  private nobody(kind: 'pub' | 'any', b: PublishBody | AnycastBody, reason: NoSubscribersReason, tx: string | undefined): void {
    this.stats.noSubscriberEvents++;
    const topic = this.trees.get(b.t.hex)?.topic ?? topicFromWire(b.u, b.t);
    const id = kind === 'pub' ? (b as PublishBody).i : ((b as AnycastBody).c ?? '');
    const event: NoSubscribersEvent = {
      topic,
      kind: kind === 'pub' ? 'publish' : 'anycast',
      reason,
      message: { topic, id, method: b.m, entity: b.e, source: b.s, tx },
    };
    if (kind === 'any') this.endpoint.respond(b.s, (b as AnycastBody).c!, { code: 404, body: { error: reason } }, tx);
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (err) {
        this.clientError('noSubscribers', err);
      }
    }
    const tree = this.trees.get(b.t.hex);
    if (tree) {
      for (const s of tree.subscriptions.slice()) {
        if (!s.client.noSubscribers) continue;
        try {
          s.client.noSubscribers(event);
        } catch (err) {
          this.clientError('noSubscribers', err);
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Periodic work

  private scheduleTick(): void {
    this.tickTimer = this.env.setTimeout(() => this.tick(), this.env.random.jitter(this.options.heartbeatIntervalMs, 0.1));
  }

  /**
   * Once per heartbeat period: roots check they still are; children check their parent's
   * heartbeats; empty roots expire; changed subtree counts go up; heartbeats go down.
   */
  private tick(): void {
    if (this.closed) return;
    this.scheduleTick();
    if (!this.node.isReady) return;
    const now = this.env.now();
    const o = this.options;
    let counts: Map<string, { to: NodeHandle; ts: Id[]; cs: number[] }> | undefined;
    for (const tree of this.trees.values()) {
      if (tree.root) {
        if (!this.node.isRoot(tree.topic.id)) {
          this.demote(tree);
          continue;
        }
        if (tree.empty && tree.emptySince > 0 && now - tree.emptySince > o.replayWindowMs) {
          this.destroy(tree);
          continue;
        }
      } else if (tree.parent && now - tree.parentHeardAt > o.parentTimeoutMs) {
        this.loseParent(tree, 'parent silent');
        continue;
      }
      if (tree.recent.length > 0) tree.trim(now, o.replayWindowMs, o.replayMaxMessages);
      const count = tree.count;
      if (tree.parent && count !== tree.reportedCount) {
        tree.reportedCount = count;
        counts ??= new Map();
        let e = counts.get(tree.parent.id.hex);
        if (!e) counts.set(tree.parent.id.hex, (e = { to: tree.parent, ts: [], cs: [] }));
        e.ts.push(tree.topic.id);
        e.cs.push(count);
      }
    }
    if (counts) for (const e of counts.values()) this.sendDirect(e.to, Kind.COUNT, { ts: e.ts, cs: e.cs }, undefined, undefined);
    for (const [hex, node] of this.childNodes) {
      const ts: Id[] = [];
      const ss: number[] = [];
      for (const tree of node.trees) {
        if (tree.children.get(hex)?.pending) continue;
        ts.push(tree.topic.id);
        ss.push(tree.treeTotal);
      }
      if (ts.length === 0) continue;
      node.silentRounds = node.failed ? node.silentRounds + 1 : 0;
      node.failed = false;
      // Unacknowledged heartbeats in a row before a child node is dropped: one is not enough (an
      // overloaded peer or event loop misses hop acks while alive), and a child waits about as long.
      if (node.silentRounds > Math.ceil(o.parentTimeoutMs / o.heartbeatIntervalMs)) {
        this.lostChildNode(node.handle);
        continue;
      }
      this.stats.heartbeatsSent++;
      const n = node;
      this.sendDirect(n.handle, Kind.HEARTBEAT, { ts, ss }, () => (n.failed = true), undefined);
    }
    for (const [id, expiry] of this.seen) {
      if (expiry > now) break;
      this.seen.delete(id);
    }
  }

  /** Heartbeats to a child node keep failing: drop it from every tree. */
  private lostChildNode(h: NodeHandle): void {
    const node = this.childNodes.get(h.id.hex);
    if (!node || node.handle.addr !== h.addr) return;
    for (const tree of [...node.trees]) this.lostChild(tree, h);
  }

  // ---------------------------------------------------------------------------------------------
  // Errors

  private malformed(kind: string, from: NodeHandle): undefined {
    this.stats.malformed++;
    // Kinds come from peers: at most 64 distinct ones are remembered (and logged).
    if (!this.malformedLogged.has(kind) && this.malformedLogged.size < 64) {
      this.malformedLogged.add(kind);
      this.log.warn({ code: 'MalformedMessage', kind: kind.slice(0, 64), from: from.addr }, 'dropping a malformed scribe message (logged once per kind)');
    }
    return undefined;
  }

  private clientError(hook: string, err: unknown): void {
    const e = err as { message?: string; code?: string };
    this.log.error({ code: 'SubscriberError', hook, err: { message: e?.message ?? String(err), code: e?.code } }, 'subscriber handler threw');
  }
}

function checkMethod(method: Method | undefined): void {
  if (method !== undefined && !(METHODS as readonly string[]).includes(method)) {
    throw new ScribeError('InvalidArgument', `method must be one of ${METHODS.join(', ')} or undefined, got ${String(method)}`);
  }
}

function samePath(a: readonly Id[] | undefined, b: readonly Id[]): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.hex !== b[i]!.hex) return false;
  return true;
}

function addTo(map: Map<string, { to: NodeHandle; ts: Id[] }>, to: NodeHandle, t: Id): void {
  let e = map.get(to.id.hex);
  if (!e) map.set(to.id.hex, (e = { to, ts: [] }));
  e.ts.push(t);
}
