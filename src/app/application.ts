/**
 * The Pi application base class. Extend it, give the application a name and an activation
 * strategy, and override the handlers you need:
 *
 * ```ts
 * class Greeter extends PiApplication {
 *   constructor() { super('greeter', { activator: new SharedRecordActivator({ scope: 'az' }) }); }
 *   override onActivate(a: Activation) { this.log.info(`active on slot ${a.slot?.index}`); }
 *   override onMessage(ctx: ReceivedMessageContext) { ctx.reply(200, { hello: ctx.entity }); }
 * }
 * ```
 *
 * An {@link ApplicationHost} (one per node) runs it: starts it, checks its activator at start and
 * periodically, delivers its messages and overlay events, and stops it. Every handler may be
 * async; an exception in one is logged with its code, counted, and never stops the node or
 * another application.
 */
import type { Env, Logger } from '../env/index.ts';
import type { Id, Location } from '../id/index.ts';
import type { Dht } from '../dht/index.ts';
import type { DepartureReason, LeafSetChange, PastryNode } from '../overlay/index.ts';
import type { Scribe } from '../scribe/index.ts';
import type { Method, NodeHandle } from '../wire/index.ts';
import { AlwaysOnActivator } from './activation.ts';
import type { Activation, Activator } from './activation.ts';
import { AppError, checkName } from './errors.ts';
import type { ApplicationHost } from './host.ts';
import type { MessageContext, ReceivedMessageContext } from './message-context.ts';
import type { QueueRegistration, TaskQueueHandlers, TaskQueueService } from './task-queue.ts';
import type { DhtRecord, Entity } from '../dht/index.ts';
import type { Scope } from '../id/index.ts';
import { AllocatableResourceIndex } from './allocatable.ts';
import type { AllocatableOptions } from './allocatable.ts';
import { LocalScanner, SupernodeAggregator } from './aggregation.ts';
import type { AggregatorOptions, LocalScanOptions } from './aggregation.ts';
import { CachedDhtResourceRegistry } from './shared-resources.ts';
import type { CachedRegistryOptions } from './shared-resources.ts';
import { SubscriberResourcePool } from './subscriber-allocation.ts';
import type { WatcherService } from './watchers.ts';

/** Where an application is in its life on this node. */
export type AppState = 'created' | 'starting' | 'passive' | 'activating' | 'active' | 'deactivating' | 'stopping' | 'stopped' | 'failed';

/** Why an application is being deactivated. */
export type DeactivationReason =
  /** The activator says this node should no longer be active (slot lost, no longer root). */
  | 'lost'
  /** An exclusion rule with another application active here now applies. */
  | 'excluded'
  /** `onActivate` failed or did not finish within the start timeout. */
  | 'rollback'
  /** The application or node is stopping gracefully. */
  | 'stopping'
  /** The node is stopping at once: release local resources only, no remote calls. */
  | 'abort';

/** Options of an application. */
export interface ApplicationOptions {
  /** Activation strategy. Default: always on. */
  activator?: Activator;
  /** Names of applications that must not be active on the same node (symmetric). */
  excludes?: readonly string[];
  /** `onActivate` must finish within this; otherwise the application rolls back to passive. Default 30 s. */
  startTimeoutMs?: number;
  /** Limit for `onStart`, `onDeactivate` and `onStop`. Default 10 s. */
  stopTimeoutMs?: number;
}

/** A routed message about to leave this node, as an application's forward hook sees it. */
export interface AppForwardContext {
  readonly key: Id;
  readonly method: Method | undefined;
  /** The entity (treat as read-only; return a new one in the decision to change it). */
  readonly entity: unknown;
  readonly tx: string | undefined;
  readonly origin: NodeHandle;
  readonly hops: number;
  readonly nextHop: NodeHandle;
  readonly expectsReply: boolean;
  /** A context to answer the message from here (e.g. from a cache), then return `consume`. */
  context(): ReceivedMessageContext;
}

/** A forward hook's decision: go on (optionally with a new entity), stop here, or go elsewhere. */
export type AppForwardDecision = { action: 'pass'; entity?: unknown } | { action: 'consume' } | { action: 'redirect'; key: Id; entity?: unknown };

/** What the host gives an application when it attaches it. */
export interface AppBinding {
  readonly host: ApplicationHost;
  /** The application's env: its logger carries the node id and the application name. */
  readonly env: Env;
  readonly watchers: WatcherService;
  newContext(tx: string | undefined): MessageContext;
  state(): AppState;
  activation(): Activation | undefined;
}

/**
 * Base class of Pi applications. Handlers are public so that the framework can call them; they
 * are not meant to be called by other code.
 */
export abstract class PiApplication {
  readonly name: string;
  readonly activator: Activator;
  readonly excludes: readonly string[];
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  private binding: AppBinding | undefined;
  private readonly owned: { close(): void }[] = [];

  constructor(name: string, options: ApplicationOptions = {}) {
    this.name = checkName(name, 'application');
    this.activator = options.activator ?? new AlwaysOnActivator();
    this.excludes = (options.excludes ?? []).map((n) => checkName(n, 'excluded application'));
    this.startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
  }

  /** Called by the host when it takes the application (once). */
  attach(binding: AppBinding): void {
    if (this.binding) throw new AppError('DuplicateApplication', `application ${this.name} is already attached to a host`);
    this.binding = binding;
  }

  private get bound(): AppBinding {
    if (!this.binding) throw new AppError('NotStarted', `application ${this.name} is not attached to a host`);
    return this.binding;
  }

  /** The host running this application. */
  get host(): ApplicationHost {
    return this.bound.host;
  }

  /** Env whose logger carries the node id and this application's name. */
  get env(): Env {
    return this.bound.env;
  }

  get log(): Logger {
    return this.bound.env.log;
  }

  get node(): PastryNode {
    return this.bound.host.node;
  }

  get dht(): Dht {
    return this.bound.host.dht;
  }

  /** The node's Scribe; throws `Unavailable` on a node without one. */
  get scribe(): Scribe {
    return this.bound.host.scribe;
  }

  get location(): Location | undefined {
    return this.bound.host.location;
  }

  /** This application's watchers (stopped with it). */
  get watchers(): WatcherService {
    return this.bound.watchers;
  }

  /** The node's task queues: add, setOwner, remove, list. */
  get queues(): TaskQueueService {
    return this.bound.host.queues;
  }

  /**
   * Processes queue `name` on this node: this application's handlers run for tasks dispatched
   * here, and the node watches the queue when the framework picks it as one of its watchers.
   * Handler errors count against this application.
   */
  processQueue(name: string, handlers: TaskQueueHandlers, options: Omit<QueueRegistration, 'app'> = {}): void {
    const queues = this.bound.host.queues;
    queues.register(name, handlers, { ...options, app: this.name });
    this.track({ close: () => queues.unregister(name) });
  }

  get state(): AppState {
    return this.binding?.state() ?? 'created';
  }

  /** Whether the application is active on this node. */
  get isActive(): boolean {
    return this.state === 'active';
  }

  /** What the activator granted, while active. */
  get activation(): Activation | undefined {
    return this.binding?.activation();
  }

  /**
   * A new message context. With `transactionId`, messages sent through it continue that
   * transaction; without, a fresh transaction id is made.
   */
  newMessageContext(transactionId?: string): MessageContext {
    return this.bound.newContext(transactionId);
  }

  /**
   * Releases what the framework set up for this application (topic subscriptions, tracked
   * registries and their timers). The host calls it after `onStop`, or with `aborting` on an
   * immediate stop (then nothing may be sent). A subclass overriding it calls super.
   */
  releaseResources(_aborting = false): void {
    for (const o of this.owned.splice(0)) {
      try {
        o.close();
      } catch (err) {
        this.host.reportError(this.name, err, 'releaseResources');
      }
    }
  }

  /** Closes `thing` when the application stops. Returns it. */
  track<T extends { close(): void }>(thing: T): T {
    this.owned.push(thing);
    return thing;
  }

  /** Framework set-up run by the host right before `onStart` (subclasses of the framework call super). */
  prepare(): void {}

  // ---- the patterns, bound to this application (closed when it stops) ---------------------

  /** A cached consumed DHT resource registry of one resource type. */
  sharedResources<D>(options: CachedRegistryOptions<D>): CachedDhtResourceRegistry<D> {
    return this.track(new CachedDhtResourceRegistry<D>(this.host, options));
  }

  /** An allocatable resource index over a seeded range. */
  allocatable(options: AllocatableOptions): AllocatableResourceIndex {
    return this.track(new AllocatableResourceIndex(this.host, options));
  }

  /** Subscriber resource allocation on topic `uri` (needs Scribe). */
  capacityPool<Req = unknown, Alloc = unknown>(uri: string, scope: Scope | 'global' | 'region' | 'az' = 'global'): SubscriberResourcePool<Req, Alloc> {
    return this.track({ pool: new SubscriberResourcePool<Req, Alloc>(this.host, uri, scope, this.name), close() { this.pool.withdraw(); } }).pool;
  }

  /** A local scanning handler, run every `options.intervalMs` over this node's records of a type. */
  scanLocally<E extends Entity = Entity>(name: string, options: LocalScanOptions, handle: (records: DhtRecord<E>[]) => void | Promise<void>): LocalScanner<E> {
    return this.track(new LocalScanner<E>(this.host, `${this.name}.${name}`, options, handle));
  }

  /** Summaries of local records published to supernodes, and queries to them. */
  aggregator<E extends Entity = Entity, S = unknown>(options: AggregatorOptions<E, S>): SupernodeAggregator<E, S> {
    return this.track(new SupernodeAggregator<E, S>(this.host, options));
  }

  // ---- handlers: override what you need ---------------------------------------------------

  /** The application starts on this node (before its first activation check). */
  onStart(): void | Promise<void> {}

  /**
   * This node became active. Must finish within `startTimeoutMs`, or the application rolls back
   * to passive (its `onDeactivate('rollback')` runs and what the activator granted is released).
   */
  onActivate(_activation: Activation): void | Promise<void> {}

  /** This node stops being active. */
  onDeactivate(_reason: DeactivationReason): void | Promise<void> {}

  /** The application stops on this node (after deactivation). */
  onStop(): void | Promise<void> {}

  /**
   * A message routed to this node (it is the root of the key) or sent directly here. Answer with
   * `ctx.reply(code, entity)`. The default answers requests with 404.
   */
  onMessage(ctx: ReceivedMessageContext): void | Promise<void> {
    if (ctx.expectsReply) ctx.reply(404, { error: 'NoHandler', message: `application ${this.name} does not handle ${ctx.method ?? 'messages'}` });
  }

  /** A routed message of this application passes through this node (the origin included). */
  onForward(_ctx: AppForwardContext): AppForwardDecision | void {}

  /** A node joined the ring (reported once, on the live node nearest to it). */
  onNodeArrived(_node: NodeHandle): void {}

  /** A node left or failed (reported once, on the live node nearest to it). */
  onNodeDeparted(_node: NodeHandle, _reason: DepartureReason): void {}

  /** This node's leaf set changed. */
  onLeafSetChanged(_change: LeafSetChange): void {}
}
