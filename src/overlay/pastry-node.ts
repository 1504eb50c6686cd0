/**
 * A Pastry node (Rowstron & Druschel 2001) with the dependability measures of MSPastry
 * (Castro et al. 2004): heartbeats between ring neighbours with probes on silence, failure notices
 * to the leaf set, leaf-set and routing-table repair, and per-hop acknowledgements so a message
 * handed to a node that just died is re-routed around it instead of being lost.
 *
 * All time, timers and randomness come from the {@link Env}; the same code runs over TCP and in
 * the deterministic simulator. The node is single-threaded and callback-driven: no promises on the
 * message path (the simulator can run it without draining microtasks).
 */
import { ID_DIGITS, RING_SIZE, clockwiseDistance, compareCloseness, ringDistance } from '../id/index.ts';
import type { Id } from '../id/index.ts';
import type { Env, Timer } from '../env/index.ts';
import type { Transport } from '../transport/index.ts';
import { MessageType, messageTypeName } from '../wire/index.ts';
import type {
  AppMessage,
  DirectMessage,
  FailedNoticeMessage,
  JoinMessage,
  JoinReplyMessage,
  LeaveMessage,
  NodeHandle,
  ProbeMessage,
  ProbeReplyMessage,
  RouteMessage,
  RowReplyMessage,
  WireMessage,
} from '../wire/index.ts';
import { LeafSet, excludeOne } from './leaf-set.ts';
import type { Exclusion } from './leaf-set.ts';
import { PeerTable } from './peers.ts';
import type { FailedEntry, Peer, ProbePurpose } from './peers.ts';
import { RoutingTable } from './routing-table.ts';
import { DEFAULT_OVERLAY_OPTIONS, OverlayError } from './types.ts';
import type {
  DepartureReason,
  ForwardDecision,
  LeafSetChange,
  NodeState,
  OverlayApplication,
  OverlayOptions,
  OverlayStats,
} from './types.ts';

type Routable = RouteMessage | JoinMessage;

interface PendingHop {
  to: NodeHandle;
  message: RouteMessage | JoinMessage | DirectMessage;
  sentAt: number;
  /** When the hop counts as lost if not acknowledged. */
  deadline: number;
  reroutes: number;
  onFailure: (() => void) | undefined;
}

/** Options for {@link PastryNode.join}. */
export interface JoinOptions {
  /** Start a new ring if no bootstrap node can be joined (default false: fail). */
  newRing?: boolean;
}

/** Options for {@link PastryNode.send}. */
export interface SendOptions {
  /** Called if the target does not acknowledge the message (it is probably dead). */
  onFailure?: () => void;
  /**
   * Wait at least this long for the hop acknowledgement (a message of megabytes takes longer to
   * arrive than the round-trip-based timeout allows). Default: that timeout alone.
   */
  ackTimeoutMs?: number;
  /**
   * false: ask for no hop acknowledgement (for replies, whose loss the requester's own timeout
   * covers); `onFailure` is then never called. Default true.
   */
  ack?: boolean;
}

/**
 * How much a received message proves about its sender. NONE: ordinary traffic (may be stale);
 * WEAK: the sender acts as a ring member (heartbeat, leaf-set gossip, announce); STRONG: the
 * sender is (re)joining or answering us right now (probe, probe reply, join).
 */
const enum Proof {
  NONE = 0,
  WEAK = 1,
  STRONG = 2,
}

export class PastryNode {
  readonly handle: NodeHandle;
  readonly options: OverlayOptions;
  readonly stats: OverlayStats = {
    routedOriginated: 0,
    forwarded: 0,
    delivered: 0,
    directSent: 0,
    directDelivered: 0,
    reroutes: 0,
    dropped: 0,
    senderMismatches: 0,
    duplicatesDropped: 0,
    hopAckTimeouts: 0,
    probesSent: 0,
    nodesDeclaredDead: 0,
    hopsSum: 0,
  };

  private stateValue: NodeState = 'idle';
  private readonly leafSetValue: LeafSet;
  /** Nodes being probed to join the leaf set (counted when deciding whom else to probe). */
  private readonly leafSetCandidates: LeafSet;
  private readonly table: RoutingTable;
  private readonly peers = new PeerTable();
  private readonly failed = new Map<string, FailedEntry>();
  private readonly apps = new Map<string, OverlayApplication>();
  private readonly pending = new Map<number, PendingHop>();
  private hopSweepTimer: Timer | undefined;
  private hopSweepAt = 0;
  /** Hop acknowledgements waiting for the end of this turn, by sender address. */
  private readonly acks = new Map<string, { to: NodeHandle; hops: number[] }>();
  private ackFlushScheduled = false;
  private readonly delivered = new Map<string, number>();
  /** Arrivals reported recently (a joiner may probe twice), id hex → expiry. */
  private readonly recentArrivals = new Map<string, number>();
  private buffered: { message: Routable | DirectMessage }[] = [];
  private hopSeq = 0;
  private nonceSeq = 0;
  private tickCount = 0;
  private readonly heartbeat: WireMessage;
  /** Routing skips nodes under suspicion. */
  private readonly suspects: Exclusion = { excludes: (hex) => this.peers.isSuspect(hex) };
  private tickTimer: Timer | undefined;
  private maintenanceTimer: Timer | undefined;
  private recheckTimer: Timer | undefined;
  private joinAttempt: JoinAttempt | undefined;
  private readonly log;
  private readonly unknownAppsLogged = new Set<string>();
  private senderMismatchLogged = false;
  /** Last lazy repair of a routing-table row with a hole, by row. */
  private readonly holeRepairs = new Map<number, number>();

  constructor(
    private readonly env: Env,
    private readonly transport: Transport,
    id: Id,
    options: Partial<OverlayOptions> = {},
  ) {
    this.options = { ...DEFAULT_OVERLAY_OPTIONS, ...options };
    this.handle = { id, addr: transport.address };
    this.leafSetValue = new LeafSet(this.handle, this.options.leafSetSize);
    this.leafSetCandidates = new LeafSet(this.handle, this.options.leafSetSize);
    this.table = new RoutingTable(id);
    this.log = env.log.child({ node: id.short() });
    this.heartbeat = { t: MessageType.HEARTBEAT, from: this.handle };
    transport.setHandler((message, fromAddr) => this.receive(message, fromAddr));
    transport.setUnreachableHandler?.((addr, reason) => this.onUnreachable(addr, reason));
  }

  get id(): Id {
    return this.handle.id;
  }

  get state(): NodeState {
    return this.stateValue;
  }

  /** Whether the node has joined and routes messages. */
  get isReady(): boolean {
    return this.stateValue === 'ready';
  }

  // ---------------------------------------------------------------------------------------------
  // Applications

  /** Registers an application; names are unique per node. */
  register(app: OverlayApplication): void {
    if (this.apps.has(app.name)) throw new OverlayError('DuplicateApplication', `an application named "${app.name}" is already registered on this node`);
    this.apps.set(app.name, app);
  }

  unregister(name: string): void {
    this.apps.delete(name);
  }

  application(name: string): OverlayApplication | undefined {
    return this.apps.get(name);
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Joins the ring through one of `bootstrap` (addresses, tried in random order). Resolves once
   * the node routes; rejects with `JoinFailed` if no bootstrap answered, unless `newRing` is set,
   * in which case the node starts a new ring.
   */
  join(bootstrap: readonly string[], options: JoinOptions = {}): Promise<void> {
    if (this.stateValue !== 'idle') return Promise.reject(new OverlayError('InvalidState', `cannot join from state ${this.stateValue}`));
    const candidates = this.env.random.shuffle(bootstrap.filter((a) => a !== this.handle.addr));
    if (candidates.length === 0) {
      if (options.newRing) {
        this.createRing();
        return Promise.resolve();
      }
      return Promise.reject(new OverlayError('JoinFailed', 'no bootstrap address to join and newRing is not set: refusing to start a new ring'));
    }
    this.stateValue = 'joining';
    return new Promise<void>((resolve, reject) => {
      this.joinAttempt = new JoinAttempt(candidates, options.newRing ?? false, resolve, reject);
      this.nextJoinAttempt();
    });
  }

  /** Starts a new ring consisting of this node alone. */
  createRing(): void {
    if (this.stateValue !== 'idle' && this.stateValue !== 'joining') throw new OverlayError('InvalidState', `cannot create a ring from state ${this.stateValue}`);
    this.log.info({ event: 'ring.created' }, 'started a new ring');
    this.becomeReady();
  }

  /**
   * Leaves gracefully: tells the leaf set and routing table, stops taking messages (senders
   * re-route around this node), and stops after a short grace period.
   */
  async leave(): Promise<void> {
    if (this.stateValue !== 'ready') {
      this.stop();
      return;
    }
    this.stateValue = 'leaving';
    this.cancelTimers();
    const notice: LeaveMessage = { t: MessageType.LEAVE, from: this.handle, leafSet: this.leafSetValue.members() };
    const targets = new Map<string, NodeHandle>();
    for (const h of this.leafSetValue.members()) targets.set(h.id.hex, h);
    for (const e of this.table.entries()) targets.set(e.handle.id.hex, e.handle);
    for (const h of targets.values()) this.transport.send(h.addr, notice);
    this.log.info({ event: 'node.leaving', notified: targets.size }, 'leaving the ring');
    await this.env.sleep(this.options.leaveGraceMs);
    this.stop();
  }

  /** Stops at once without telling anyone (as a crash would), and closes the transport. */
  stop(): void {
    if (this.stateValue === 'stopped') return;
    this.stateValue = 'stopped';
    this.cancelTimers();
    this.hopSweepTimer?.cancel();
    this.hopSweepTimer = undefined;
    this.pending.clear();
    this.peers.cancelAllProbes();
    if (this.joinAttempt) {
      this.joinAttempt.timer?.cancel();
      const j = this.joinAttempt;
      this.joinAttempt = undefined;
      j.reject(new OverlayError('JoinFailed', 'node stopped while joining'));
    }
    void this.transport.close();
  }

  private cancelTimers(): void {
    this.tickTimer?.cancel();
    this.maintenanceTimer?.cancel();
    this.recheckTimer?.cancel();
    this.tickTimer = this.maintenanceTimer = this.recheckTimer = undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Public routing API

  /**
   * Routes `msg` to the application `msg.app` on the live node numerically closest to `key`.
   * Unreliable by contract, but re-routed around nodes that fail on the way.
   */
  route(key: Id, msg: AppMessage): void {
    this.requireRunning();
    this.stats.routedOriginated++;
    const m: RouteMessage = { t: MessageType.ROUTE, key, origin: this.handle, from: this.handle, hop: 0, hops: 0, msg };
    if (this.stateValue === 'joining') {
      this.bufferWhileJoining(m);
      return;
    }
    this.routeOn(m, 0);
  }

  /** Sends `msg` straight to `to`'s application `msg.app`. */
  send(to: NodeHandle, msg: AppMessage, options: SendOptions = {}): void {
    this.requireRunning();
    this.stats.directSent++;
    if (to.id.hex === this.handle.id.hex) {
      this.env.defer(() => this.deliverDirect({ t: MessageType.DIRECT, from: this.handle, hop: 0, msg }));
      return;
    }
    const m: DirectMessage = { t: MessageType.DIRECT, from: this.handle, hop: 0, msg };
    if (options.ack === false) {
      this.attachAcks(to.addr, m);
      this.transport.send(to.addr, m);
      return;
    }
    this.sendHop(to, m, 0, options.onFailure, options.ackTimeoutMs);
  }

  private requireRunning(): void {
    if (this.stateValue !== 'ready' && this.stateValue !== 'joining') {
      throw new OverlayError('NotReady', `node is ${this.stateValue}: it cannot send messages`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // State inspection

  /** A copy of the leaf set, nearest first on each side. */
  leafSet(): { left: NodeHandle[]; right: NodeHandle[] } {
    return { left: this.leafSetValue.leftSide(), right: this.leafSetValue.rightSide() };
  }

  /** Leaf set members, each once. */
  leafSetMembers(): NodeHandle[] {
    return this.leafSetValue.members().slice();
  }

  /**
   * How many nodes the ring has, as this node can tell from its leaf set: exact while the ring is
   * smaller than the leaf set (every node is in it), else the leaf set's density scaled to the
   * whole id space (the usual Pastry estimate; within a few tens of percent on a uniform ring).
   */
  estimatedRingSize(): number {
    const { left, right } = this.leafSet();
    const members = this.leafSetValue.members().length;
    const farLeft = left[left.length - 1];
    const farRight = right[right.length - 1];
    if (members < this.options.leafSetSize || farLeft === undefined || farRight === undefined) return members + 1;
    const span = Number(clockwiseDistance(farLeft.id, farRight.id));
    return span > 0 ? Math.max(members + 1, Math.round((members * Number(RING_SIZE)) / span)) : members + 1;
  }

  /** The routing table rows (null where empty). */
  routingTable(): (NodeHandle | null)[][] {
    return this.table.allRows();
  }

  /** Every node in the leaf set or routing table. */
  knownNodes(): NodeHandle[] {
    const out = new Map<string, NodeHandle>();
    for (const h of this.leafSetValue.members()) out.set(h.id.hex, h);
    for (const e of this.table.entries()) out.set(e.handle.id.hex, e.handle);
    return [...out.values()];
  }

  /** Measured smoothed RTT to a peer, if any. */
  rttTo(id: Id): number | undefined {
    return this.peers.get(id.hex)?.srtt;
  }

  /**
   * The `n` nodes closest to `key` that this node knows of in its leaf set (itself included):
   * the key's replica set when this node is near the key. Suspected nodes are left out unless
   * `withSuspects` (for decisions that must not follow a passing suspicion).
   */
  replicaSet(key: Id, n: number, options: { withSuspects?: boolean } = {}): NodeHandle[] {
    return this.leafSetValue.closestN(key, n, options.withSuspects ? undefined : this.suspects);
  }

  /** Whether this node believes it is the root (numerically closest live node) of `key`. */
  isRoot(key: Id): boolean {
    if (!this.leafSetValue.inRange(key)) return false;
    return this.leafSetValue.closest(key, this.suspects) === this.handle;
  }

  /**
   * Whether this node knows every node at least as close to `key` as the farthest of `replicas`
   * (a replica set it chose): then no node it does not know belongs in that set. Being in range
   * is not enough: near either end of the leaf set, the closest nodes to a key include nodes
   * beyond it.
   */
  knowsNodesAround(key: Id, replicas: readonly NodeHandle[]): boolean {
    const beyond = this.leafSetValue.unknownBeyond(key);
    if (beyond === undefined) return true;
    for (const h of replicas) if (ringDistance(key, h.id) > beyond) return false;
    return true;
  }

  /** Whether `key` is within the span of this node's leaf set. */
  inLeafSetRange(key: Id): boolean {
    return this.leafSetValue.inRange(key);
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  private receive(m: WireMessage, fromAddr: string): void {
    const state = this.stateValue;
    if (state === 'stopped' || state === 'idle') return;
    // Every message names its sender, the node at the other end of the connection. One naming
    // another node would let a peer put nodes in our tables, move a neighbour's address, or
    // announce others' departures.
    const sender = 'from' in m ? m.from : undefined;
    if (sender !== undefined && sender.addr !== fromAddr) {
      this.stats.senderMismatches++;
      if (!this.senderMismatchLogged) {
        this.senderMismatchLogged = true;
        this.log.warn({ code: 'SenderMismatch', type: messageTypeName(m.t), claimed: String(sender.addr).slice(0, 100), peer: fromAddr }, 'dropping messages whose sender is not the connection\'s peer (logged once; counted in senderMismatches)');
      }
      return;
    }
    if (state === 'leaving') {
      // Hand routed messages on (acknowledged, so their sender need not re-route); ignore the rest.
      if ((m.t === MessageType.ROUTE || m.t === MessageType.DIRECT) && m.acks) this.takePiggybackedAcks(m);
      if (m.t === MessageType.ROUTE || m.t === MessageType.JOIN) {
        this.queueAck(m.from, m.hop);
        if (m.t === MessageType.ROUTE) this.routeOn(m, 0, true);
        else this.routeJoin(m, 0);
      } else if (m.t === MessageType.HOP_ACK) {
        this.onHopAck(m.from, m.hops);
      }
      return;
    }
    switch (m.t) {
      case MessageType.ROUTE:
      case MessageType.JOIN:
      case MessageType.DIRECT:
        if (m.t !== MessageType.DIRECT && m.leaving) {
          // The sender is leaving and only handing this on: it departs from our tables now.
          this.declareDead(m.from, 'left', false);
        } else if (m.t === MessageType.JOIN && m.from.id.hex === m.joiner.id.hex) {
          // A joiner's own JOIN (its first hop): it is not part of the ring until it has its
          // leaf set, and its join probes add it then. Taken into our tables now, the next
          // joiner's JOIN would be routed to it, to be held until it is ready, and two joiners
          // holding each other's JOIN both time out.
        } else {
          this.heard(m.from, m.t === MessageType.JOIN ? Proof.STRONG : Proof.NONE);
        }
        if (m.t !== MessageType.JOIN && m.acks) this.takePiggybackedAcks(m);
        if (m.hop !== 0) this.queueAck(m.from, m.hop);
        if (state === 'joining') {
          this.bufferWhileJoining(m);
          return;
        }
        if (m.t === MessageType.ROUTE) this.routeOn(m, 0);
        else if (m.t === MessageType.JOIN) this.onJoin(m);
        else this.deliverDirect(m);
        return;
      case MessageType.HOP_ACK:
        this.onHopAck(m.from, m.hops);
        return;
      case MessageType.JOIN_REPLY:
        this.onJoinReply(m);
        return;
      case MessageType.PROBE:
        this.onProbe(m);
        return;
      case MessageType.PROBE_REPLY:
        this.onProbeReply(m);
        return;
      case MessageType.HEARTBEAT:
        this.heard(m.from, Proof.WEAK);
        return;
      case MessageType.LEAFSET_REQUEST:
        this.heard(m.from, Proof.NONE);
        this.transport.send(m.from.addr, { t: MessageType.LEAFSET, from: this.handle, leafSet: this.leafSetValue.members() });
        return;
      case MessageType.LEAFSET:
        this.heard(m.from, Proof.WEAK);
        this.mergeCandidates(m.leafSet);
        return;
      case MessageType.FAILED_NOTICE:
        this.heard(m.from, Proof.NONE);
        this.onFailedNotice(m);
        return;
      case MessageType.LEAVE:
        this.onLeave(m);
        return;
      case MessageType.ROW_REQUEST:
        this.heard(m.from, Proof.NONE);
        this.transport.send(m.from.addr, { t: MessageType.ROW_REPLY, from: this.handle, row: m.row, entries: this.rowWithSelf(m.row) });
        return;
      case MessageType.ROW_REPLY:
        this.heard(m.from, Proof.NONE);
        this.onRowReply(m);
        return;
      case MessageType.ANNOUNCE:
        this.heard(m.from, Proof.WEAK);
        return;
      default:
        this.log.warn({ code: 'UnexpectedMessage', type: messageTypeName(m.t), from: fromAddr }, 'ignoring message not meant for the overlay');
    }
  }

  /**
   * Notes that `from` is alive; a sender not seen before is offered to the leaf set and routing
   * table. `proof` says how much the message proves: stale traffic from a node already declared
   * dead must not bring it back, and a node that announced its departure comes back only by
   * rejoining (a probe or join of its own).
   */
  private heard(from: NodeHandle, proof: Proof): Peer | undefined {
    const hex = from.id.hex;
    if (hex === this.handle.id.hex) return undefined;
    const failed = this.failed.get(hex);
    if (failed) {
      if (proof < (failed.reason === 'left' ? Proof.STRONG : Proof.WEAK)) return undefined;
      this.failed.delete(hex);
      this.log.debug({ event: 'peer.back', peer: from.id.short() }, 'a node declared dead or departed is back');
    }
    let p = this.peers.get(hex);
    const isNew = p === undefined;
    // A node restarted on its data directory keeps its id but may listen elsewhere: the leaf set
    // and routing table must take the new address too, or they keep talking to the dead one.
    let moved = false;
    if (!p) p = this.peers.ensure(from);
    else if (p.handle.addr !== from.addr) {
      p.handle = from;
      moved = true;
    }
    p.lastHeard = this.env.now();
    if (p.suspect) this.peers.setSuspect(p, false);
    if (p.probe && p.probe.purpose === 'liveness') {
      p.probe.timer.cancel();
      p.probe = undefined;
    }
    if (isNew || failed || moved) this.consider(from, undefined);
    return p;
  }

  /**
   * Offers a live node to the leaf set and routing table. Returns whether the leaf set took it.
   */
  private consider(handle: NodeHandle, rtt: number | undefined): boolean {
    const replaced = this.table.offer(handle, rtt);
    if (replaced !== false && replaced !== true) this.forgetIfUnused(replaced.id.hex);
    const added = this.leafSetValue.add(handle);
    if (!added) return false;
    for (const e of added.evicted) this.forgetIfUnused(e.id.hex);
    this.emitLeafSetChange({ added: [handle], removed: added.evicted });
    // While joining, every leaf-set member gets a joining probe, however we first heard of it.
    const j = this.joinAttempt;
    if (j && j.replyFrom !== undefined && !j.probed.has(handle.id.hex)) this.probe(handle, 'join');
    return true;
  }

  private forgetIfUnused(hex: string): void {
    const p = this.peers.get(hex);
    if (!p || p.probe) return;
    if (this.leafSetValue.contains(p.handle.id) || this.table.contains(p.handle.id)) return;
    this.dropPeer(hex);
  }

  /** Forgets a peer, cancelling any probe (and no longer waiting for it if joining). */
  private dropPeer(hex: string): void {
    const p = this.peers.get(hex);
    if (p) this.leafSetCandidates.remove(p.handle.id);
    this.peers.delete(hex);
    this.joinProbeDone(hex);
  }

  /** A joining probe was answered, timed out or abandoned. */
  private joinProbeDone(hex: string): void {
    const j = this.joinAttempt;
    if (j && j.waiting.delete(hex)) this.checkJoinComplete();
  }

  // ---------------------------------------------------------------------------------------------
  // Routing

  /**
   * Next node for `key`: the closest leaf-set member when the key is within the leaf set,
   * otherwise the routing-table entry sharing one more digit, otherwise any known node closer to
   * the key. Returns this node's handle when it is the destination. `excludeHex` is never chosen.
   */
  private nextHop(key: Id, excludeHex: string | undefined): NodeHandle {
    const bad = excludeHex !== undefined ? excludeOne(excludeHex, this.suspects) : this.peers.suspects > 0 ? this.suspects : undefined;
    const ls = this.leafSetValue;
    // A leaving node hands everything on: it is no longer anybody's root.
    if (this.stateValue === 'leaving') return ls.closest(key, bad, false) ?? this.handle;
    if (ls.inRange(key)) return ls.closest(key, bad);
    const row = this.handle.id.sharedPrefixLength(key);
    if (row < ID_DIGITS) {
      const e = this.table.lookup(key, row);
      if (e && !(bad && bad.excludes(e.handle.id.hex))) return e.handle;
    }
    // Rare case (no usable entry): as Pastry, a node sharing at least as long a prefix with the
    // key and numerically closer to it; every hop then either lengthens the shared prefix or gets
    // closer, so messages cannot loop. The hole is repaired lazily.
    if (row < ID_DIGITS) this.repairHole(row);
    let best: NodeHandle | undefined;
    let fallback: NodeHandle | undefined;
    const consider = (h: NodeHandle): void => {
      if (bad && bad.excludes(h.id.hex)) return;
      if (compareCloseness(key, h.id, this.handle.id) >= 0) return;
      if (h.id.sharedPrefixLength(key) >= row) {
        if (best === undefined || compareCloseness(key, h.id, best.id) < 0) best = h;
      } else if (fallback === undefined || compareCloseness(key, h.id, fallback.id) < 0) {
        fallback = h;
      }
    };
    for (const h of ls.members()) consider(h);
    for (const e of this.table.entries()) consider(e.handle);
    return best ?? fallback ?? this.handle;
  }

  /** Asks a node of `row` for its row, at most once per maintenance period per row. */
  private repairHole(row: number): void {
    const now = this.env.now();
    const last = this.holeRepairs.get(row);
    if (last !== undefined && now - last < this.options.routingMaintenanceIntervalMs / 6) return;
    this.holeRepairs.set(row, now);
    this.repairRow(row);
  }

  /** Routes a ROUTE message onward from here (or delivers it here). */
  private routeOn(m: RouteMessage, reroutes: number, rerouting = false): void {
    let current = m;
    for (let redirects = 0; ; redirects++) {
      const next = current.hops >= this.options.maxHops ? this.handle : this.nextHop(current.key, undefined);
      if (current.hops >= this.options.maxHops) {
        this.log.warn({ code: 'MaxHopsExceeded', key: current.key.short(), hops: current.hops }, 'delivering a message that exceeded the hop limit');
      }
      if (next === this.handle) {
        this.deliverRouted(current);
        return;
      }
      const app = this.apps.get(current.msg.app);
      // A re-routed message already passed this node's forward hook.
      if (app?.forward && !rerouting && redirects < 8) {
        const decision = this.callForward(app, current, next);
        if (decision) {
          if (decision.action === 'consume') return;
          if (decision.action === 'redirect') {
            current = { ...current, key: decision.key, msg: decision.msg ?? current.msg };
            continue;
          }
          if (decision.msg) current = { ...current, msg: decision.msg };
        }
      }
      this.stats.forwarded++;
      const out: RouteMessage = {
        t: MessageType.ROUTE,
        key: current.key,
        origin: current.origin,
        from: this.handle,
        hop: 0,
        hops: current.hops + 1,
        msg: current.msg,
      };
      if (this.stateValue === 'leaving') out.leaving = true;
      this.sendHop(next, out, reroutes, undefined);
      return;
    }
  }

  private callForward(app: OverlayApplication, m: RouteMessage, next: NodeHandle): ForwardDecision | void {
    try {
      return app.forward!({ key: m.key, msg: m.msg, origin: m.origin, hops: m.hops, nextHop: next });
    } catch (err) {
      this.log.error({ code: 'ApplicationError', app: app.name, hook: 'forward', err: errorInfo(err) }, 'forward hook threw; message passes on');
      return undefined;
    }
  }

  private deliverRouted(m: RouteMessage): void {
    const dedupKey = m.origin.id.hex + m.msg.mid;
    if (this.delivered.has(dedupKey)) {
      this.stats.duplicatesDropped++;
      return;
    }
    this.delivered.set(dedupKey, this.env.now() + this.options.dedupWindowMs);
    this.stats.delivered++;
    this.stats.hopsSum += m.hops;
    const app = this.appFor(m.msg.app);
    if (!app) return;
    if (m.hops === 0 && m.origin === this.handle) {
      // Keep delivery asynchronous even when the sender is the destination.
      this.env.defer(() => this.safeDeliver(app, m.msg, { key: m.key, origin: m.origin, from: m.from, hops: 0 }));
      return;
    }
    this.safeDeliver(app, m.msg, { key: m.key, origin: m.origin, from: m.from, hops: m.hops });
  }

  private deliverDirect(m: DirectMessage): void {
    this.stats.directDelivered++;
    const app = this.appFor(m.msg.app);
    if (app) this.safeDeliver(app, m.msg, { origin: m.from, from: m.from, hops: 1 });
  }

  private appFor(name: string): OverlayApplication | undefined {
    const app = this.apps.get(name);
    // Names come from peers: at most 64 distinct ones are remembered (and logged).
    if (!app && !this.unknownAppsLogged.has(name) && this.unknownAppsLogged.size < 64) {
      this.unknownAppsLogged.add(name);
      this.log.warn({ code: 'UnknownApplication', app: name.slice(0, 64) }, 'dropping message for an application not registered on this node');
    }
    if (!app) this.stats.dropped++;
    return app;
  }

  private safeDeliver(app: OverlayApplication, msg: AppMessage, info: Parameters<OverlayApplication['deliver']>[1]): void {
    try {
      app.deliver(msg, info);
    } catch (err) {
      this.log.error({ code: 'ApplicationError', app: app.name, hook: 'deliver', tx: msg.tx, err: errorInfo(err) }, 'application deliver threw');
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Hops and acknowledgements

  private sendHop(to: NodeHandle, message: RouteMessage | JoinMessage | DirectMessage, reroutes: number, onFailure: (() => void) | undefined, minAckTimeoutMs = 0): void {
    const hop = ++this.hopSeq;
    message.hop = hop;
    const now = this.env.now();
    const deadline = now + Math.max(minAckTimeoutMs, this.ackTimeout(this.peers.get(to.id.hex)));
    this.pending.set(hop, { to, message, sentAt: now, deadline, reroutes, onFailure });
    this.armHopSweep(deadline);
    if (message.t !== MessageType.JOIN) this.attachAcks(to.addr, message);
    this.transport.send(to.addr, message);
  }

  /**
   * Hands the acknowledgements queued for `addr` to an outgoing message instead of a HOP_ACK of
   * their own: a reply sent in the same turn as its request arrived carries the request's ack, so
   * a request-reply exchange costs two frames, not four.
   */
  private attachAcks(addr: string, message: RouteMessage | DirectMessage): void {
    const queued = this.acks.get(addr);
    if (queued) {
      message.acks = queued.hops;
      this.acks.delete(addr);
    } else if (message.acks !== undefined) {
      // A copy being re-routed still carries the acks of its first attempt.
      delete message.acks;
    }
  }

  /**
   * Processes the acknowledgements a message carries, and strips them before it travels on. The
   * message itself already told us its sender was heard from.
   */
  private takePiggybackedAcks(m: RouteMessage | DirectMessage): void {
    const hops = m.acks!;
    delete m.acks;
    this.settleHops(m.from, this.peers.get(m.from.id.hex), hops);
  }

  /**
   * One timer watches all unacknowledged hops: it fires at the earliest deadline, times out what
   * is due and re-arms for the next. Far cheaper than a timer per message.
   */
  private armHopSweep(deadline: number): void {
    if (this.hopSweepTimer !== undefined && this.hopSweepAt <= deadline) return;
    this.hopSweepTimer?.cancel();
    this.hopSweepAt = deadline;
    this.hopSweepTimer = this.env.setTimeout(() => this.sweepHops(), Math.max(0, deadline - this.env.now()));
  }

  private sweepHops(): void {
    this.hopSweepTimer = undefined;
    const now = this.env.now();
    let next = Infinity;
    const due: number[] = [];
    for (const [hop, p] of this.pending) {
      if (p.deadline <= now) due.push(hop);
      else if (p.deadline < next) next = p.deadline;
    }
    for (const hop of due) this.onHopTimeout(hop);
    // Timeouts may have sent new hops (re-routes), which re-armed the sweep already.
    if (next !== Infinity && this.stateValue !== 'stopped') this.armHopSweep(next);
  }

  private ackTimeout(peer: Peer | undefined): number {
    if (!peer || peer.srtt === undefined) return this.options.ackTimeoutMinMs;
    return Math.max(this.options.ackTimeoutMinMs, 2 * peer.srtt + 4 * peer.rttvar);
  }

  /**
   * Acknowledges a received hop. Acks to the same sender are gathered for the rest of this turn
   * and leave as one message: under load most hops share a frame instead of costing one each.
   */
  private queueAck(to: NodeHandle, hop: number): void {
    const queued = this.acks.get(to.addr);
    if (queued) queued.hops.push(hop);
    else this.acks.set(to.addr, { to, hops: [hop] });
    if (!this.ackFlushScheduled) {
      this.ackFlushScheduled = true;
      this.env.defer(this.flushAcks);
    }
  }

  private readonly flushAcks = (): void => {
    this.ackFlushScheduled = false;
    if (this.stateValue === 'stopped') {
      this.acks.clear();
      return;
    }
    for (const { to, hops } of this.acks.values()) this.transport.send(to.addr, { t: MessageType.HOP_ACK, from: this.handle, hops });
    this.acks.clear();
  };

  private onHopAck(from: NodeHandle, hops: readonly number[]): void {
    this.settleHops(from, this.heard(from, Proof.NONE), hops);
  }

  /** Marks `hops` sent to `from` as acknowledged, sampling the round trip into `peer`. */
  private settleHops(from: NodeHandle, peer: Peer | undefined, hops: readonly number[]): void {
    const now = this.env.now();
    for (const hop of hops) {
      const p = this.pending.get(hop);
      if (!p || p.to.id.hex !== from.id.hex) continue;
      this.pending.delete(hop);
      if (peer) PeerTable.sampleRtt(peer, now - p.sentAt);
    }
    if (peer?.srtt !== undefined) this.table.updateRtt(from.id, peer.srtt);
  }

  private onHopTimeout(hop: number): void {
    const p = this.pending.get(hop);
    if (!p) return;
    this.pending.delete(hop);
    this.stats.hopAckTimeouts++;
    if (this.failed.has(p.to.id.hex)) {
      // Already known dead or departed: make sure no table still points at it.
      this.declareDead(p.to, this.failed.get(p.to.id.hex)!.reason, false);
    } else {
      this.peers.setSuspect(this.peers.ensure(p.to), true);
      this.probe(p.to, 'liveness');
    }
    const m = p.message;
    if (m.t === MessageType.DIRECT) {
      this.stats.dropped++;
      if (p.onFailure) {
        try {
          p.onFailure();
        } catch (err) {
          this.log.error({ code: 'ApplicationError', hook: 'onFailure', err: errorInfo(err) }, 'send failure callback threw');
        }
      }
      return;
    }
    if (this.stateValue !== 'ready' && this.stateValue !== 'leaving') return;
    if (p.reroutes >= this.options.maxReroutes) {
      this.stats.dropped++;
      this.log.warn({ code: 'RouteDropped', type: messageTypeName(m.t), reroutes: p.reroutes }, 'dropping a message after repeated hop failures');
      return;
    }
    this.stats.reroutes++;
    if (m.t === MessageType.ROUTE) {
      this.routeOn({ ...m, hops: m.hops - 1 }, p.reroutes + 1, true);
    } else {
      this.routeJoin({ ...m, hops: m.hops - 1 }, p.reroutes + 1);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Joining

  private nextJoinAttempt(): void {
    const j = this.joinAttempt;
    if (!j || this.stateValue !== 'joining') return;
    const addr = j.candidates[j.next++];
    if (addr === undefined) {
      this.joinAttempt = undefined;
      if (j.newRing) {
        this.log.warn({ event: 'ring.created', tried: j.candidates }, 'no bootstrap node answered; starting a new ring as configured');
        this.becomeReady();
        j.resolve();
        return;
      }
      this.stateValue = 'idle';
      const err = new OverlayError('JoinFailed', `no bootstrap node answered the join request (${j.failures.join('; ')})`);
      this.log.error({ code: err.code, bootstrap: j.candidates }, err.message);
      j.reject(err);
      return;
    }
    j.replyFrom = undefined;
    j.waiting.clear();
    j.timer?.cancel();
    j.current = addr;
    j.timer = this.env.setTimeout(() => {
      this.log.warn({ code: 'JoinTimeout', bootstrap: addr }, 'bootstrap node did not answer the join request');
      j.failures.push(`${addr}: no answer within ${this.options.joinTimeoutMs} ms`);
      this.nextJoinAttempt();
    }, this.options.joinTimeoutMs);
    const m: JoinMessage = { t: MessageType.JOIN, joiner: this.handle, rows: [], from: this.handle, hop: ++this.hopSeq, hops: 0 };
    this.transport.send(addr, m);
  }

  /**
   * The transport could not reach `addr`. If it is the bootstrap node this join is waiting for,
   * the next one is tried at once instead of after the join timeout, and the reason is kept for
   * the error should every one fail (a refused connection or certificate, not just "no answer").
   */
  private onUnreachable(addr: string, reason: string): void {
    const j = this.joinAttempt;
    if (!j || this.stateValue !== 'joining' || j.replyFrom !== undefined || j.current !== addr) return;
    j.timer?.cancel();
    j.timer = undefined;
    j.current = undefined;
    this.log.warn({ code: 'JoinUnreachable', bootstrap: addr, reason }, `bootstrap node ${addr} cannot be reached: ${reason}`);
    j.failures.push(`${addr}: ${reason}`);
    this.nextJoinAttempt();
  }

  /** A JOIN passing through (or ending at) this node. */
  private onJoin(m: JoinMessage): void {
    if (m.joiner.id.hex === this.handle.id.hex) return;
    const shared = this.handle.id.sharedPrefixLength(m.joiner.id);
    let rows = m.rows;
    if (rows.length <= shared && rows.length < ID_DIGITS) {
      rows = rows.slice();
      for (let r = rows.length; r <= shared && r < ID_DIGITS; r++) rows.push(this.rowWithSelf(r));
    }
    this.routeJoin({ ...m, rows }, 0);
  }

  private routeJoin(m: JoinMessage, reroutes: number): void {
    const next = this.nextHop(m.joiner.id, m.joiner.id.hex);
    if (next === this.handle || m.hops >= this.options.maxHops) {
      const reply: JoinReplyMessage = { t: MessageType.JOIN_REPLY, from: this.handle, rows: m.rows, leafSet: this.leafSetValue.members() };
      this.transport.send(m.joiner.addr, reply);
      return;
    }
    const out: JoinMessage = { ...m, from: this.handle, hops: m.hops + 1 };
    if (this.stateValue === 'leaving') out.leaving = true;
    else delete out.leaving;
    this.sendHop(next, out, reroutes, undefined);
  }

  private onJoinReply(m: JoinReplyMessage): void {
    const j = this.joinAttempt;
    if (!j || this.stateValue !== 'joining' || j.replyFrom !== undefined) return;
    j.replyFrom = m.from;
    j.timer?.cancel();
    j.timer = undefined;
    for (const row of m.rows) for (const h of row) if (h && h.id.hex !== this.handle.id.hex && !this.failed.has(h.id.hex)) this.table.offer(h, undefined);
    for (const h of this.leafSetValue.members()) this.probe(h, 'join');
    this.mergeCandidates([m.from]);
    this.mergeCandidates(m.leafSet);
    this.checkJoinComplete();
  }

  private checkJoinComplete(): void {
    const j = this.joinAttempt;
    if (!j || j.replyFrom === undefined || j.waiting.size > 0 || this.stateValue !== 'joining') return;
    if (this.leafSetValue.isEmpty()) {
      this.log.warn({ code: 'JoinIncomplete' }, 'no leaf-set member answered; trying another bootstrap node');
      this.nextJoinAttempt();
      return;
    }
    this.joinAttempt = undefined;
    this.becomeReady();
    j.resolve();
  }

  private becomeReady(): void {
    this.stateValue = 'ready';
    this.log.info({ event: 'node.ready', leafSet: this.leafSetValue.size, routingTable: this.table.size }, 'node is part of the ring');
    this.scheduleTick();
    this.maintenanceTimer = this.env.setTimeout(() => this.maintainRoutingTable(), this.env.random.jitter(this.options.routingMaintenanceIntervalMs, 0.5));
    this.recheckTimer = this.env.setTimeout(() => this.recheckFailed(), this.env.random.jitter(this.options.failedRecheckIntervalMs, 0.5));
    const announce = { t: MessageType.ANNOUNCE, from: this.handle } as const;
    for (const e of this.table.entries()) if (!this.leafSetValue.contains(e.handle.id)) this.transport.send(e.handle.addr, announce);
    for (const app of this.apps.values()) {
      if (!app.ready) continue;
      try {
        app.ready();
      } catch (err) {
        this.log.error({ code: 'ApplicationError', app: app.name, hook: 'ready', err: errorInfo(err) }, 'application ready hook threw');
      }
    }
    const buffered = this.buffered;
    this.buffered = [];
    for (const { message } of buffered) {
      if (message.t === MessageType.ROUTE) this.routeOn(message, 0);
      else if (message.t === MessageType.JOIN) this.onJoin(message);
      else this.deliverDirect(message);
    }
  }

  private bufferWhileJoining(message: Routable | DirectMessage): void {
    if (this.buffered.length >= this.options.maxBufferedWhileJoining) {
      this.stats.dropped++;
      return;
    }
    this.buffered.push({ message });
  }

  // ---------------------------------------------------------------------------------------------
  // Probes and failure detection

  private probe(handle: NodeHandle, purpose: ProbePurpose): void {
    if (handle.id.hex === this.handle.id.hex) return;
    const p = this.peers.ensure(handle);
    if (p.probe) {
      // A joining probe must be counted even if a probe is already under way.
      if (purpose === 'join' && p.probe.purpose !== 'join' && this.joinAttempt) {
        p.probe.purpose = 'join';
        this.joinAttempt.waiting.add(handle.id.hex);
        this.joinAttempt.probed.add(handle.id.hex);
      }
      return;
    }
    if (purpose === 'join' && this.joinAttempt) {
      this.joinAttempt.waiting.add(handle.id.hex);
      this.joinAttempt.probed.add(handle.id.hex);
    }
    const nonce = ++this.nonceSeq;
    p.probe = { nonce, attempts: 1, sentAt: this.env.now(), purpose, timer: this.env.setTimeout(() => this.onProbeTimeout(p, nonce), this.options.probeTimeoutMs) };
    this.sendProbe(p, nonce);
  }

  private sendProbe(p: Peer, nonce: number): void {
    this.stats.probesSent++;
    const m: ProbeMessage = { t: MessageType.PROBE, from: this.handle, nonce };
    if (this.stateValue === 'joining') m.joining = true;
    this.transport.send(p.handle.addr, m);
  }

  private onProbeTimeout(p: Peer, nonce: number): void {
    const probe = p.probe;
    if (!probe || probe.nonce !== nonce) return;
    if (probe.attempts < this.options.probeAttempts) {
      probe.attempts++;
      probe.sentAt = this.env.now();
      probe.timer = this.env.setTimeout(() => this.onProbeTimeout(p, nonce), this.options.probeTimeoutMs);
      this.sendProbe(p, nonce);
      return;
    }
    p.probe = undefined;
    this.leafSetCandidates.remove(p.handle.id);
    const known = this.leafSetValue.contains(p.handle.id) || this.table.contains(p.handle.id);
    if (known) this.declareDead(p.handle, 'failed', true);
    else this.dropPeer(p.handle.id.hex);
    this.joinProbeDone(p.handle.id.hex);
  }

  private onProbe(m: ProbeMessage): void {
    this.heard(m.from, Proof.STRONG);
    const reply: ProbeReplyMessage = { t: MessageType.PROBE_REPLY, from: this.handle, nonce: m.nonce, leafSet: this.leafSetValue.members() };
    this.transport.send(m.from.addr, reply);
    // A joining node probes its whole leaf set; the member nearest to it reports the arrival.
    const hex = m.from.id.hex;
    if (m.joining && this.stateValue === 'ready' && this.leafSetValue.contains(m.from.id) && !this.recentArrivals.has(hex)) {
      if (this.leafSetValue.closest(m.from.id, excludeOne(hex)) === this.handle) {
        this.recentArrivals.set(hex, this.env.now() + this.options.dedupWindowMs);
        this.emitArrival(m.from);
      }
    }
  }

  private onProbeReply(m: ProbeReplyMessage): void {
    const peer = this.heard(m.from, Proof.STRONG);
    if (!peer) return;
    const probe = peer.probe;
    if (probe && probe.nonce === m.nonce) {
      probe.timer.cancel();
      peer.probe = undefined;
      this.leafSetCandidates.remove(m.from.id);
      PeerTable.sampleRtt(peer, this.env.now() - probe.sentAt);
      this.consider(m.from, peer.srtt);
      if (probe.purpose === 'join' && this.joinAttempt) {
        this.mergeCandidates(m.leafSet);
        this.joinProbeDone(m.from.id.hex);
        return;
      }
    }
    this.mergeCandidates(m.leafSet);
  }

  /**
   * Probes gossiped nodes that would improve the leaf set (counting those already being probed);
   * fills empty routing slots with the others.
   */
  private mergeCandidates(handles: readonly NodeHandle[]): void {
    const joining = this.stateValue === 'joining' && this.joinAttempt !== undefined;
    for (const h of handles) {
      const hex = h.id.hex;
      if (hex === this.handle.id.hex || this.failed.has(hex) || this.leafSetValue.contains(h.id)) continue;
      if (this.leafSetValue.wouldAccept(h, this.leafSetCandidates)) {
        this.leafSetCandidates.add(h);
        this.probe(h, joining ? 'join' : 'candidate');
      } else if (this.table.hasRoomFor(h.id)) {
        this.table.offer(h, undefined);
      }
    }
  }

  /**
   * Removes a node found dead (or departed) from the tables, tells the leaf set when this node
   * detected it, reports the departure if this node is now the nearest, and starts repairs.
   */
  private declareDead(handle: NodeHandle, reason: DepartureReason, announce: boolean): void {
    const hex = handle.id.hex;
    const sides = this.leafSetValue.sidesOf(handle.id);
    // Both ring neighbours of a dead node tell their leaf sets, which together reach every node
    // that had it as a leaf-set member, however they learned of the failure.
    const neighbour = this.leafSetValue.leftNeighbour()?.id.hex === hex || this.leafSetValue.rightNeighbour()?.id.hex === hex;
    const inLeafSet = this.leafSetValue.remove(handle.id);
    const row = this.table.slotOf(handle.id)?.row;
    const inTable = this.table.remove(handle.id);
    this.dropPeer(hex);
    this.failed.set(hex, { handle, at: this.env.now(), reason });
    if (!inLeafSet && !inTable) return;
    this.stats.nodesDeclaredDead++;
    this.log.info({ event: 'peer.dead', peer: handle.id.short(), reason, inLeafSet }, reason === 'left' ? 'node left' : 'node declared dead');
    if (inLeafSet) {
      this.emitLeafSetChange({ added: [], removed: [handle] });
      if (announce || (neighbour && reason === 'failed')) {
        const notice: FailedNoticeMessage = { t: MessageType.FAILED_NOTICE, from: this.handle, failed: [handle] };
        for (const h of this.leafSetValue.members()) this.transport.send(h.addr, notice);
      }
      if (this.leafSetValue.closest(handle.id).id.hex === this.handle.id.hex) this.emitDeparture(handle, reason);
      this.refillLeafSet(sides);
    }
    if (inTable && row !== undefined) this.repairRow(row);
  }

  /** Asks the farthest member on each side that lost a node for its leaf set. */
  private refillLeafSet(sides: { left: boolean; right: boolean }): void {
    const targets = new Set<NodeHandle>();
    const l = this.leafSetValue.leftmost();
    const r = this.leafSetValue.rightmost();
    if (sides.left && l) targets.add(l);
    if (sides.right && r) targets.add(r);
    if (targets.size === 0) {
      if (l) targets.add(l);
      if (r) targets.add(r);
    }
    for (const h of targets) this.transport.send(h.addr, { t: MessageType.LEAFSET_REQUEST, from: this.handle });
  }

  /**
   * Asks a random node of `row` for its row `row`; if the row is empty, a node of a deeper row
   * (it shares even more digits with us, so its row `row` also fits ours).
   */
  private repairRow(row: number): void {
    for (let r = row; r < this.table.depth; r++) {
      const candidates = this.table.row(r).filter((h): h is NodeHandle => h !== null);
      if (candidates.length === 0) continue;
      const target = this.env.random.pick(candidates);
      this.transport.send(target.addr, { t: MessageType.ROW_REQUEST, from: this.handle, row });
      return;
    }
  }

  private onFailedNotice(m: FailedNoticeMessage): void {
    for (const f of m.failed) {
      const hex = f.id.hex;
      if (hex === this.handle.id.hex) {
        // Someone thinks we are dead: show them otherwise.
        this.probe(m.from, 'candidate');
        continue;
      }
      if (!this.leafSetValue.contains(f.id) && !this.table.contains(f.id)) continue;
      const p = this.peers.get(hex);
      if (p && this.env.now() - p.lastHeard < this.options.suspectAfterMs) {
        this.probe(f, 'liveness');
        continue;
      }
      this.declareDead(f, 'failed', false);
    }
  }

  private onLeave(m: LeaveMessage): void {
    if (m.from.id.hex === this.handle.id.hex) return;
    this.declareDead(m.from, 'left', false);
    this.mergeCandidates(m.leafSet.filter((h) => h.id.hex !== m.from.id.hex));
  }

  // ---------------------------------------------------------------------------------------------
  // Periodic work

  private scheduleTick(): void {
    const period = this.options.heartbeatIntervalMs / 2;
    this.tickTimer = this.env.setTimeout(() => this.tick(), this.env.random.jitter(period, 0.1));
  }

  /**
   * Twice per heartbeat period: every other tick sends heartbeats (every n-th one the full leaf
   * set) to the two ring neighbours; every tick probes a neighbour that has gone quiet.
   */
  private tick(): void {
    if (this.stateValue !== 'ready') return;
    this.tickCount++;
    const now = this.env.now();
    const left = this.leafSetValue.leftNeighbour();
    let right = this.leafSetValue.rightNeighbour();
    if (left && right && left.id.hex === right.id.hex) right = undefined;
    if (this.tickCount % 2 === 0) {
      const gossip = (this.tickCount / 2) % this.options.leafSetGossipEvery === 0;
      const m: WireMessage = gossip ? { t: MessageType.LEAFSET, from: this.handle, leafSet: this.leafSetValue.members() } : this.heartbeat;
      if (left) this.transport.send(left.addr, m);
      if (right) this.transport.send(right.addr, m);
    }
    if (left) this.checkSilence(left, now);
    if (right) this.checkSilence(right, now);
    if (this.tickCount % 20 === 0) this.expireOldState(now);
    this.scheduleTick();
  }

  private checkSilence(h: NodeHandle, now: number): void {
    const p = this.peers.ensure(h);
    if (p.lastHeard === 0) p.lastHeard = now;
    else if (now - p.lastHeard > this.options.suspectAfterMs) this.probe(h, 'liveness');
  }

  private expireOldState(now: number): void {
    for (const [key, expiry] of this.delivered) {
      if (expiry > now) break; // insertion order = expiry order
      this.delivered.delete(key);
    }
    for (const [hex, expiry] of this.recentArrivals) {
      if (expiry > now) break;
      this.recentArrivals.delete(hex);
    }
    for (const [hex, f] of this.failed) {
      if (now - f.at <= this.options.failedSetTtlMs) break;
      this.failed.delete(hex);
    }
  }

  /** Asks a random member of each row for its row; fills holes and prefers closer nodes. */
  private maintainRoutingTable(): void {
    if (this.stateValue !== 'ready') return;
    for (let row = 0; row < this.table.depth; row++) this.repairRow(row);
    this.maintenanceTimer = this.env.setTimeout(() => this.maintainRoutingTable(), this.env.random.jitter(this.options.routingMaintenanceIntervalMs, 0.2));
  }

  /**
   * Fills empty slots from a neighbour's row and, for occupied ones, measures a few competitors
   * (and the incumbent if its RTT is unknown): the table keeps whichever answers faster.
   */
  private onRowReply(m: RowReplyMessage): void {
    let probes = 0;
    const budget = this.options.proximityProbesPerRow;
    for (const h of m.entries) {
      if (!h || h.id.hex === this.handle.id.hex || this.failed.has(h.id.hex)) continue;
      if (this.table.hasRoomFor(h.id)) this.table.offer(h, undefined);
      else if (!this.table.contains(h.id) && !this.peers.get(h.id.hex) && probes < budget) {
        probes++;
        this.probe(h, 'candidate');
        const slot = this.table.slotOf(h.id)!;
        const incumbent = this.table.get(slot.row, slot.col);
        if (incumbent && incumbent.rtt === undefined) this.probe(incumbent.handle, 'candidate');
      }
      if (this.leafSetValue.wouldAccept(h)) this.probe(h, 'candidate');
    }
  }

  /** Periodically re-probes a few nodes declared dead: heals the ring after a partition. */
  private recheckFailed(): void {
    if (this.stateValue !== 'ready') return;
    const failed = [...this.failed.values()].filter((f) => f.reason === 'failed');
    for (const f of this.env.random.shuffle(failed).slice(0, 3)) this.probe(f.handle, 'recheck');
    this.recheckTimer = this.env.setTimeout(() => this.recheckFailed(), this.env.random.jitter(this.options.failedRecheckIntervalMs, 0.2));
  }

  private rowWithSelf(row: number): (NodeHandle | null)[] {
    const entries = this.table.row(row);
    entries[this.handle.id.digit(row)] = this.handle;
    return entries;
  }

  // ---------------------------------------------------------------------------------------------
  // Events

  private emitLeafSetChange(change: LeafSetChange): void {
    for (const app of this.apps.values()) {
      if (!app.leafSetChanged) continue;
      try {
        app.leafSetChanged(change);
      } catch (err) {
        this.log.error({ code: 'ApplicationError', app: app.name, hook: 'leafSetChanged', err: errorInfo(err) }, 'application hook threw');
      }
    }
  }

  private emitArrival(node: NodeHandle): void {
    this.log.info({ event: 'node.arrived', peer: node.id.short(), addr: node.addr }, 'node joined');
    for (const app of this.apps.values()) {
      if (!app.nodeArrived) continue;
      try {
        app.nodeArrived(node);
      } catch (err) {
        this.log.error({ code: 'ApplicationError', app: app.name, hook: 'nodeArrived', err: errorInfo(err) }, 'application hook threw');
      }
    }
  }

  private emitDeparture(node: NodeHandle, reason: DepartureReason): void {
    this.log.info({ event: 'node.departed', peer: node.id.short(), reason }, 'node departed');
    for (const app of this.apps.values()) {
      if (!app.nodeDeparted) continue;
      try {
        app.nodeDeparted(node, reason);
      } catch (err) {
        this.log.error({ code: 'ApplicationError', app: app.name, hook: 'nodeDeparted', err: errorInfo(err) }, 'application hook threw');
      }
    }
  }
}

/** State of a join in progress. */
class JoinAttempt {
  next = 0;
  /** The bootstrap address being tried (until its JOIN_REPLY, timeout or dial failure). */
  current: string | undefined;
  /** Why each bootstrap address tried so far failed. */
  readonly failures: string[] = [];
  /** Nodes sent a joining probe (each leaf-set member must get one: it reports the arrival). */
  readonly probed = new Set<string>();
  /** Joining probes not yet answered or timed out. */
  readonly waiting = new Set<string>();
  replyFrom: NodeHandle | undefined;
  timer: Timer | undefined;
  constructor(
    readonly candidates: string[],
    readonly newRing: boolean,
    readonly resolve: () => void,
    readonly reject: (err: Error) => void,
  ) {}
}

function errorInfo(err: unknown): { message: string; code?: string; stack?: string } {
  if (err instanceof Error) return { message: err.message, code: (err as { code?: string }).code, stack: err.stack };
  return { message: String(err) };
}
