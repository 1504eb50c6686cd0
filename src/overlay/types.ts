/**
 * What applications see of the overlay: the callbacks an application implements, the routing
 * decisions its forward hook can make, events, options and errors.
 */
import type { Id } from '../id/index.ts';
import type { AppMessage, NodeHandle } from '../wire/index.ts';

/** How a routed message reached its destination. */
export interface DeliveryInfo {
  /** The key it was routed to (undefined for a direct send). */
  key?: Id;
  /** The node that originated it. */
  origin: NodeHandle;
  /** The node it came from on the last hop. */
  from: NodeHandle;
  /** Overlay hops taken (0 when originated here). */
  hops: number;
}

/** What an intermediate node's application is shown before a routed message moves on. */
export interface ForwardContext {
  readonly key: Id;
  readonly msg: AppMessage;
  readonly origin: NodeHandle;
  readonly hops: number;
  /** The node the overlay is about to forward to. */
  readonly nextHop: NodeHandle;
}

/**
 * A forward hook's decision: let the message go on (optionally replaced), stop it here, or send it
 * toward another key from here.
 */
export type ForwardDecision =
  | { action: 'pass'; msg?: AppMessage }
  | { action: 'consume' }
  | { action: 'redirect'; key: Id; msg?: AppMessage };

/** Why a node left the leaf sets. */
export type DepartureReason = 'left' | 'failed';

/** A change of this node's leaf set. */
export interface LeafSetChange {
  added: NodeHandle[];
  removed: NodeHandle[];
}

/**
 * An overlay application: receives messages addressed to its name and overlay events. Handlers
 * must not throw; if one does, the error is logged and the node carries on.
 */
export interface OverlayApplication {
  readonly name: string;
  /** A message routed to a key this node is the root of, or sent directly here. */
  deliver(msg: AppMessage, info: DeliveryInfo): void;
  /**
   * Called on every node that is about to forward a routed message of this application
   * (including the originating node), before it moves on.
   */
  forward?(ctx: ForwardContext): ForwardDecision | void;
  /** This node's leaf set changed. */
  leafSetChanged?(change: LeafSetChange): void;
  /** A node joined; reported once, on the live node nearest to it. */
  nodeArrived?(node: NodeHandle): void;
  /** A node left or failed; reported once, on the live node nearest to it. */
  nodeDeparted?(node: NodeHandle, reason: DepartureReason): void;
  /** This node finished joining (or created the ring). */
  ready?(): void;
}

/** Tunables of a Pastry node. Defaults suit a LAN. */
export interface OverlayOptions {
  /** Leaf set size L (both sides together). Default 24. */
  leafSetSize: number;
  /** Period of heartbeats to the two ring neighbours. Default 1000 ms. */
  heartbeatIntervalMs: number;
  /** Silence from a neighbour after which it is probed. Default 1500 ms. */
  suspectAfterMs: number;
  /** Wait for one probe answer. Default 400 ms. */
  probeTimeoutMs: number;
  /** Probes without answer before a node is declared dead. Default 2. */
  probeAttempts: number;
  /** Lower bound of the per-hop acknowledgement timeout. Default 250 ms. */
  ackTimeoutMinMs: number;
  /** Times a routed message is re-routed after hop failures before it is dropped. Default 6. */
  maxReroutes: number;
  /** Wait for a bootstrap node's join reply before trying the next one. Default 5000 ms. */
  joinTimeoutMs: number;
  /** After announcing a graceful leave, keep forwarding stray messages this long. Default 500 ms. */
  leaveGraceMs: number;
  /** Period of routing-table maintenance (one row exchange per row). Default 60 s. */
  routingMaintenanceIntervalMs: number;
  /** Competitors for occupied routing slots probed per row exchanged (proximity). Default 4. */
  proximityProbesPerRow: number;
  /** Every n-th heartbeat carries the full leaf set (consistency gossip). Default 10. */
  leafSetGossipEvery: number;
  /** How long a node declared dead is kept in the failed set. Default 10 min. */
  failedSetTtlMs: number;
  /** Period of re-probing a few failed nodes (heals partitions). Default 15 s. */
  failedRecheckIntervalMs: number;
  /** Routed messages that exceed this many hops are delivered where they are. Default 64. */
  maxHops: number;
  /** Window for dropping duplicate deliveries of re-routed messages. Default 60 s. */
  dedupWindowMs: number;
  /** Routed messages buffered while joining. Default 10 000. */
  maxBufferedWhileJoining: number;
}

export const DEFAULT_OVERLAY_OPTIONS: OverlayOptions = {
  leafSetSize: 24,
  heartbeatIntervalMs: 1000,
  suspectAfterMs: 1500,
  probeTimeoutMs: 400,
  probeAttempts: 2,
  ackTimeoutMinMs: 250,
  maxReroutes: 6,
  joinTimeoutMs: 5000,
  leaveGraceMs: 500,
  routingMaintenanceIntervalMs: 60_000,
  proximityProbesPerRow: 4,
  leafSetGossipEvery: 10,
  failedSetTtlMs: 600_000,
  failedRecheckIntervalMs: 15_000,
  maxHops: 64,
  dedupWindowMs: 60_000,
  maxBufferedWhileJoining: 10_000,
};

/** Lifecycle of a node in the overlay. */
export type NodeState = 'idle' | 'joining' | 'ready' | 'leaving' | 'stopped';

/** Stable error codes of the overlay. */
export type OverlayErrorCode = 'JoinFailed' | 'NotReady' | 'DuplicateApplication' | 'InvalidState' | 'UnknownApplication';

/** Errors of the overlay, with a stable `code`. */
export class OverlayError extends Error {
  constructor(
    readonly code: OverlayErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'OverlayError';
  }
}

/** Counters of one node (exported as metrics by the ops layer). */
export interface OverlayStats {
  routedOriginated: number;
  forwarded: number;
  delivered: number;
  directSent: number;
  directDelivered: number;
  reroutes: number;
  dropped: number;
  /** Messages dropped because their sender (`from`) was not the peer of the connection they came on. */
  senderMismatches: number;
  duplicatesDropped: number;
  hopAckTimeouts: number;
  probesSent: number;
  nodesDeclaredDead: number;
  /** Sum and count of hops of delivered routed messages (average = sum / count). */
  hopsSum: number;
}
