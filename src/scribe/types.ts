/**
 * What applications see of Scribe: topics, the client interface a local subscriber implements,
 * the messages it receives, anycast decisions and results, events, options and errors.
 */
import type { Id, Scope } from '../id/index.ts';
import type { Method, NodeHandle } from '../wire/index.ts';

/**
 * A topic: a URI in a scope, and the ring id its tree is rooted at (see {@link topicId}). Every
 * node computes the same id from the same URI, scope and location.
 */
export interface Topic {
  readonly uri: string;
  readonly scope: Scope;
  readonly id: Id;
}

/** A message as a local subscriber receives it (publish or anycast). */
export interface ScribeMessage {
  readonly topic: Topic;
  /** Unique id of the publish or anycast (also its transaction id unless one was given). */
  readonly id: string;
  readonly method: Method | undefined;
  /**
   * The entity sent. Treat it as read-only: in the simulator without the codec several nodes may
   * share one object.
   */
  readonly entity: unknown;
  /** The node that published or anycast it. */
  readonly source: NodeHandle;
  readonly tx: string | undefined;
}

/**
 * A subscriber's answer to an anycast: accept (the walk stops; `reply` goes back to the sender)
 * or decline (the walk goes on, with `entity` replacing the message's entity if given).
 */
export type AnycastDecision = { accept: true; reply?: unknown } | { accept: false; entity?: unknown };

/** What an anycast handler may return: a decision, or a boolean (true = accept); nothing declines. */
export type AnycastHandlerResult = AnycastDecision | boolean | undefined | void;

/**
 * A local subscriber of one or more topics. Every method is optional; handlers should not throw
 * (a throwing handler is logged; for anycast it counts as declined).
 */
export interface ScribeClient {
  /** A message published to a topic this client subscribes to (once per message). */
  deliver?(topic: Topic, msg: ScribeMessage): void;
  /**
   * An anycast offered to this client. May answer asynchronously (the walk waits). Clients
   * without this method are not offered anycasts and do not count as anycast subscribers.
   */
  anycast?(topic: Topic, msg: ScribeMessage): AnycastHandlerResult | Promise<AnycastHandlerResult>;
  /** The subscription is confirmed: this node is connected to the topic's tree. Called once. */
  subscribed?(topic: Topic): void;
  /**
   * Raised on the topic's root when a publish or anycast found no subscriber (or all declined),
   * if this client subscribes to that topic on the root node. Node-wide listeners:
   * {@link Scribe.onNoSubscribers}.
   */
  noSubscribers?(event: NoSubscribersEvent): void;
}

/** Why a publish or anycast reached nobody. */
export type NoSubscribersReason = 'NoSubscribers' | 'AllDeclined';

/** Raised on a topic's root when a publish or anycast found nobody to take it. */
export interface NoSubscribersEvent {
  readonly topic: Topic;
  readonly kind: 'publish' | 'anycast';
  readonly reason: NoSubscribersReason;
  readonly message: ScribeMessage;
}

/** The outcome of an accepted anycast. */
export interface AnycastResult {
  /** The node whose subscriber accepted. */
  readonly by: NodeHandle;
  /** The entity as the accepting subscriber saw it (after changes made by those who declined). */
  readonly entity: unknown;
  /** What the accepting subscriber replied, if anything. */
  readonly reply: unknown;
  /** Tree nodes the walk visited. */
  readonly visited: number;
}

/** Options of one anycast. */
export interface AnycastOptions {
  /** Reject with `Timeout` after this long. Default {@link ScribeOptions.anycastTimeoutMs}. */
  timeoutMs?: number;
  tx?: string;
}

/** Options of one publish. */
export interface PublishOptions {
  tx?: string;
}

/** What a node knows of its part of one topic's tree (diagnostics, tests, ops). */
export interface TreeInfo {
  readonly topic: Topic;
  /** Whether this node is the tree's root. */
  readonly root: boolean;
  readonly parent: NodeHandle | undefined;
  readonly children: NodeHandle[];
  /** Ids from the root down to the parent; undefined while not connected. */
  readonly path: Id[] | undefined;
  /** Connected to the root (or is the root). */
  readonly connected: boolean;
  /** Local subscribers. */
  readonly clients: number;
  /** Anycast subscribers in this subtree (this node included), as last reported. */
  readonly subtreeCount: number;
}

/** Tunables of Scribe. Defaults suit a LAN. */
export interface ScribeOptions {
  /** Period of parent → child heartbeats (one message per child node for all its topics). Default 1000 ms. */
  heartbeatIntervalMs: number;
  /** Silence from the parent after which a node re-subscribes through the overlay. Default 2500 ms. */
  parentTimeoutMs: number;
  /** A subscribe not confirmed after this long is sent again. Default 2000 ms. */
  subscribeRetryMs: number;
  /**
   * The promise of {@link Scribe.subscribe} rejects with `Timeout` after this long; the
   * subscription itself stays and keeps trying. Default 10 s.
   */
  subscribeTimeoutMs: number;
  /** Default anycast timeout. Default 10 s. */
  anycastTimeoutMs: number;
  /**
   * Each tree node keeps the publishes of this last stretch of time; a node that lost its parent
   * asks the root for them after re-joining, so repairs lose nothing. Default 15 s.
   */
  replayWindowMs: number;
  /** At most this many publishes kept per topic for replay (memory: this many entities per topic per tree node). Default 256. */
  replayMaxMessages: number;
  /** Publish ids remembered to drop duplicates (must exceed the replay window). Default 60 s. */
  dedupWindowMs: number;
  /** An anycast walk visits at most this many tree nodes, then fails as declined. Default 1024. */
  anycastMaxVisits: number;
}

export const DEFAULT_SCRIBE_OPTIONS: ScribeOptions = {
  heartbeatIntervalMs: 1000,
  parentTimeoutMs: 2500,
  subscribeRetryMs: 2000,
  subscribeTimeoutMs: 10_000,
  anycastTimeoutMs: 10_000,
  replayWindowMs: 15_000,
  replayMaxMessages: 256,
  dedupWindowMs: 60_000,
  anycastMaxVisits: 1024,
};

/** Stable error codes of Scribe. */
export type ScribeErrorCode = 'NoSubscribers' | 'AllDeclined' | 'Timeout' | 'InvalidTopic' | 'InvalidArgument' | 'Closed' | 'NotRunning';

/** Errors of Scribe, with a stable `code`. */
export class ScribeError extends Error {
  constructor(
    readonly code: ScribeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ScribeError';
  }
}

/** Counters of one node's Scribe (exported as metrics by the ops layer). */
export interface ScribeStats {
  /** Publishes this node sent. */
  published: number;
  /** Publishes this node disseminated as a topic root. */
  rootPublishes: number;
  /** Messages handed to local subscribers' deliver. */
  delivered: number;
  /** Publish copies dropped as already seen (repairs, replays). */
  duplicatesDropped: number;
  /** Publish copies sent to children. */
  forwarded: number;
  /** Subscribe messages sent (first joins and repairs). */
  subscribeSent: number;
  /** Re-joins after losing a parent (timeout, loop, departure). */
  repairs: number;
  /** Times this node became a topic's root. */
  rootTakeovers: number;
  heartbeatsSent: number;
  anycastsSent: number;
  /** Anycasts accepted by a local subscriber. */
  anycastsAccepted: number;
  /** Walk steps handled here (a walk arriving or starting). */
  anycastVisits: number;
  /** No-subscriber events raised here. */
  noSubscriberEvents: number;
  /** Publishes replayed to this node after a repair that it had not seen. */
  replayed: number;
  /** Malformed messages dropped. */
  malformed: number;
}
