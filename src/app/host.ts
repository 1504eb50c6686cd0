/**
 * The application host: one per node, owning the node's Pi applications.
 *
 * - Names are unique per node (a duplicate is a configuration error, `DuplicateApplication`).
 * - Each application gets its own overlay endpoint (`app:<name>`): messages are routed to
 *   applications by name, and answers come back through message contexts.
 * - Lifecycle: `onStart`, activation checks at start and periodically with jitter, `onActivate`
 *   within a start timeout (else roll back to passive), `onDeactivate`, `onStop`.
 * - Exclusion rules between applications (symmetric), honoured only when the ring is big enough.
 * - Overlay events fan out to every application; departures also drive eager recovery
 *   (activators free a dead holder's slot, task queues re-dispatch its tasks).
 * - An error in one application is logged with its code, counted and reported to listeners; it
 *   never stops another application or the node.
 *
 * The framework itself talks over one more endpoint, `pi.app`, on which the patterns (task
 * queues, resource registries, supernodes) register their request kinds.
 */
import type { Env, Logger, Timer } from '../env/index.ts';
import type { Location } from '../id/index.ts';
import type { Dht } from '../dht/index.ts';
import { RpcEndpoint } from '../overlay/index.ts';
import type { DepartureReason, ForwardContext, ForwardDecision, PastryNode, RpcReply, RpcRequest } from '../overlay/index.ts';
import type { Scribe } from '../scribe/index.ts';
import type { AppMessage, NodeHandle } from '../wire/index.ts';
import { estimateRingSize } from './activation.ts';
import type { Activation } from './activation.ts';
import type { AppForwardContext, AppForwardDecision, AppState, DeactivationReason, PiApplication } from './application.ts';
import { AppError, checkName, errorInfo } from './errors.ts';
import { KIND_NOTIFY, KIND_REQUEST, MessageContext, ReceivedMessageContext, overlayName } from './message-context.ts';
import type { MessagePort } from './message-context.ts';
import { TaskQueueService } from './task-queue.ts';
import { WatcherService } from './watchers.ts';
import type { WatcherStatus } from './watchers.ts';

/** The overlay application name of the framework's own endpoint. */
export const FRAMEWORK_APP = 'pi.app';

/** What a host runs on. */
export interface HostContext {
  env: Env;
  node: PastryNode;
  dht: Dht;
  /** Needed by pub/sub applications and subscriber resource allocation. */
  scribe?: Scribe;
  location?: Location;
}

/** Counters of one application on one node. */
export interface AppStats {
  /** Messages delivered to `onMessage`. */
  messages: number;
  /** Handler errors (any handler). */
  errors: number;
  activations: number;
  deactivations: number;
  /** Activations rolled back (start timeout or `onActivate` failure). */
  rollbacks: number;
  checks: number;
  lastError: { code: string; message: string; during: string; at: number } | undefined;
}

/** An application's state as the ops API and `pi apps` show it. */
export interface AppStatus {
  name: string;
  state: AppState;
  activator: string;
  activeSince: number | undefined;
  activation: { slot?: { index: number; value: string | undefined; expiresAt: number }; checkpoints?: string[] } | undefined;
  excludes: readonly string[];
  stats: AppStats;
  watchers: WatcherStatus[];
}

/** Something that happened to an application (for the node's event log). */
export interface AppEvent {
  type: 'app.activated' | 'app.deactivated' | 'app.rolled-back' | 'app.started' | 'app.stopped' | 'app.failed';
  app: string;
  message: string;
  data?: Record<string, unknown>;
}

/** Handles a framework request kind (see {@link ApplicationHost.handle}). */
export type FrameworkHandler = (req: RpcRequest) => RpcReply | undefined | Promise<RpcReply | undefined>;

interface Hosted {
  app: PiApplication;
  name: string;
  env: Env;
  log: Logger;
  endpoint: RpcEndpoint;
  port: MessagePort;
  watchers: WatcherService;
  state: AppState;
  activation: Activation | undefined;
  activeSince: number | undefined;
  checking: boolean;
  recheck: boolean;
  stats: AppStats;
}

type Outcome = { ok: true } | { ok: false; err: unknown };

/** Runs the node's applications. */
export class ApplicationHost {
  readonly env: Env;
  readonly node: PastryNode;
  readonly dht: Dht;
  readonly location: Location | undefined;
  /** The framework's own endpoint (`pi.app`). */
  readonly framework: RpcEndpoint;
  private readonly scribeValue: Scribe | undefined;
  private readonly log: Logger;
  private readonly apps = new Map<string, Hosted>();
  private readonly checks: WatcherService;
  private readonly handlers = new Map<string, FrameworkHandler>();
  private readonly departureListeners = new Set<(node: NodeHandle, reason: DepartureReason) => void>();
  private readonly errorListeners = new Set<(app: string, err: unknown, during: string) => void>();
  private readonly eventListeners = new Set<(event: AppEvent) => void>();
  private startedValue = false;
  private closed = false;
  private queuesValue: TaskQueueService | undefined;
  private readonly pendingTimers = new Set<Timer>();

  constructor(ctx: HostContext) {
    this.env = ctx.env;
    this.node = ctx.node;
    this.dht = ctx.dht;
    this.scribeValue = ctx.scribe;
    this.location = ctx.location;
    this.log = ctx.env.log.child({ mod: 'apps' });
    this.checks = new WatcherService(ctx.env);
    this.framework = new RpcEndpoint(FRAMEWORK_APP, ctx.node, ctx.env, {
      onRequest: (req) => this.onFrameworkRequest(req),
      onNodeDeparted: (node, reason) => this.onNodeDeparted(node, reason),
      onLeafSetChanged: () => this.onLeafSetChanged(),
    });
    ctx.node.register(this.framework);
  }

  /** The node's Scribe; throws `Unavailable` when the host was built without one. */
  get scribe(): Scribe {
    if (!this.scribeValue) throw new AppError('Unavailable', 'this node runs no Scribe: publish/subscribe and anycast are unavailable');
    return this.scribeValue;
  }

  /** The node's task queues (created on first use). */
  get queues(): TaskQueueService {
    if (this.closed) throw new AppError('Closed', 'the application host is stopped');
    return (this.queuesValue ??= new TaskQueueService(this));
  }

  /** Whether a Scribe is available. */
  get hasScribe(): boolean {
    return this.scribeValue !== undefined;
  }

  get started(): boolean {
    return this.startedValue;
  }

  // ---- applications -----------------------------------------------------------------------

  /**
   * Takes an application: registers its endpoint on the node at once (so that it receives
   * messages), and starts it when the host is started (at once if it is). Throws
   * `DuplicateApplication` when a name is taken.
   */
  add(app: PiApplication): void {
    if (this.closed) throw new AppError('Closed', 'the application host is stopped');
    const name = checkName(app.name, 'application');
    if (this.apps.has(name)) throw new AppError('DuplicateApplication', `two applications are named "${name}" on this node: application names must be unique`);
    if (this.node.application(overlayName(name))) throw new AppError('DuplicateApplication', `the overlay name ${overlayName(name)} is taken on this node`);
    const env = this.env.withLog({ app: name });
    const watchers = new WatcherService(env);
    const h: Hosted = {
      app,
      name,
      env,
      log: env.log,
      endpoint: undefined as unknown as RpcEndpoint,
      port: undefined as unknown as MessagePort,
      watchers,
      state: 'created',
      activation: undefined,
      activeSince: undefined,
      checking: false,
      recheck: false,
      stats: { messages: 0, errors: 0, activations: 0, deactivations: 0, rollbacks: 0, checks: 0, lastError: undefined },
    };
    const endpoint = new RpcEndpoint(overlayName(name), this.node, env, {
      onRequest: (req) => this.onAppRequest(h, req),
      onForward: (ctx) => this.onAppForward(h, ctx),
      onLeafSetChanged: (change) => this.guard(h, 'onLeafSetChanged', () => app.onLeafSetChanged(change)),
      onNodeArrived: (node) => this.guard(h, 'onNodeArrived', () => app.onNodeArrived(node)),
      onNodeDeparted: (node, reason) => this.guard(h, 'onNodeDeparted', () => app.onNodeDeparted(node, reason)),
    });
    const port: MessagePort = { appName: name, endpoint, env };
    h.endpoint = endpoint;
    h.port = port;
    app.attach({
      host: this,
      env,
      watchers,
      newContext: (tx) => new MessageContext(port, checkTx(tx) ?? endpoint.nextId()),
      state: () => h.state,
      activation: () => h.activation,
    });
    app.activator.bind({ appName: name, env, log: env.log, node: this.node, dht: this.dht, location: this.location });
    this.node.register(endpoint);
    this.apps.set(name, h);
    if (this.startedValue) void this.startApp(h);
  }

  /** An application by name. */
  get<T extends PiApplication = PiApplication>(name: string): T | undefined {
    return this.apps.get(name)?.app as T | undefined;
  }

  /** Names of the hosted applications, in the order they were added. */
  names(): string[] {
    return [...this.apps.keys()];
  }

  /** Starts every application (call once the node is part of the ring). */
  async start(): Promise<void> {
    if (this.startedValue || this.closed) return;
    this.startedValue = true;
    await Promise.all([...this.apps.values()].map((h) => this.startApp(h)));
  }

  /** Stops one application gracefully (deactivates it, releasing what it holds) and removes it. */
  async remove(name: string): Promise<boolean> {
    const h = this.apps.get(name);
    if (!h) return false;
    await this.stopApp(h);
    this.apps.delete(name);
    return true;
  }

  /** Stops every application gracefully, newest first, then the framework endpoint. */
  async stop(): Promise<void> {
    if (this.closed) return;
    for (const h of [...this.apps.values()].reverse()) await this.stopApp(h);
    this.shutdown();
  }

  /**
   * Stops at once, as on a crash or an immediate node stop: timers stop, active applications get
   * `onDeactivate('abort')` to release local resources (sockets, addresses), nothing is sent.
   */
  abort(): void {
    if (this.closed) return;
    for (const h of this.apps.values()) {
      h.watchers.stop();
      const wasActive = h.state === 'active' || h.state === 'activating';
      h.state = 'stopped';
      h.activation = undefined;
      if (wasActive) this.guard(h, 'onDeactivate', () => h.app.onDeactivate('abort'));
      this.guard(h, 'releaseResources', () => h.app.releaseResources(true));
      h.endpoint.close();
      this.node.unregister(h.endpoint.name);
    }
    this.shutdown();
  }

  private shutdown(): void {
    this.closed = true;
    this.checks.stop();
    this.queuesValue?.stop();
    for (const t of this.pendingTimers) t.cancel();
    this.pendingTimers.clear();
    this.framework.close();
    this.node.unregister(FRAMEWORK_APP);
  }

  /** Every application's state and counters. */
  status(): AppStatus[] {
    return [...this.apps.values()].map((h) => ({
      name: h.name,
      state: h.state,
      activator: h.app.activator.kind,
      activeSince: h.activeSince,
      activation: h.activation
        ? {
            ...(h.activation.slot ? { slot: { ...h.activation.slot } } : {}),
            ...(h.activation.checkpoints ? { checkpoints: h.activation.checkpoints.map((c) => c.hex) } : {}),
          }
        : undefined,
      excludes: h.app.excludes,
      stats: { ...h.stats },
      watchers: h.watchers.status(),
    }));
  }

  /** Runs an activation check of `name` now (e.g. after re-seeding). */
  checkNow(name: string): Promise<void> {
    const h = this.apps.get(name);
    return h ? this.runCheck(h) : Promise.resolve();
  }

  // ---- listeners and framework requests ---------------------------------------------------

  /** Listens for application errors (the node records them). Returns a remover. */
  onError(listener: (app: string, err: unknown, during: string) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Listens for activations, deactivations, starts and stops. Returns a remover. */
  onEvent(listener: (event: AppEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Listens for node departures reported on this node (eager recovery). Returns a remover. */
  onDeparture(listener: (node: NodeHandle, reason: DepartureReason) => void): () => void {
    this.departureListeners.add(listener);
    return () => this.departureListeners.delete(listener);
  }

  /**
   * Registers the handler of a framework request kind (on `pi.app`). Kinds are unique per host;
   * use a prefix per pattern (`q.`, `res.`, `sn.`).
   */
  handle(kind: string, handler: FrameworkHandler): () => void {
    if (this.handlers.has(kind)) throw new AppError('InvalidArgument', `framework request kind "${kind}" is handled already`);
    this.handlers.set(kind, handler);
    return () => this.handlers.delete(kind);
  }

  /** Reports an error of application `name` (logged with its code, counted, passed to listeners). */
  reportError(name: string, err: unknown, during: string): void {
    const h = this.apps.get(name);
    if (h) this.report(h, err, during);
    else this.log.error({ code: errorInfo(err).code, app: name, during, err: errorInfo(err) }, `${name} failed in ${during}`);
  }

  private onFrameworkRequest(req: RpcRequest): RpcReply | undefined | Promise<RpcReply | undefined> {
    const handler = this.handlers.get(req.kind);
    if (!handler) return { code: 404, body: { error: 'UnknownKind', message: `no framework handler for "${req.kind}" on this node` } };
    return handler(req);
  }

  private onNodeDeparted(node: NodeHandle, reason: DepartureReason): void {
    for (const listener of this.departureListeners) {
      try {
        listener(node, reason);
      } catch (err) {
        this.log.error({ code: errorInfo(err).code, err: errorInfo(err) }, 'departure listener failed');
      }
    }
    for (const h of this.apps.values()) {
      const hook = h.app.activator.nodeDeparted;
      if (!hook || !this.running(h)) continue;
      hook.call(h.app.activator, node).then(
        (eager) => {
          if (eager) void this.runCheck(h);
        },
        (err: unknown) => this.report(h, err, 'activator.nodeDeparted'),
      );
    }
  }

  private onLeafSetChanged(): void {
    for (const h of this.apps.values()) {
      if (!this.running(h)) continue;
      let now = false;
      try {
        now = h.app.activator.leafSetChanged?.() ?? false;
      } catch (err) {
        this.report(h, err, 'activator.leafSetChanged');
      }
      if (now) void this.runCheck(h);
    }
  }

  // ---- lifecycle --------------------------------------------------------------------------

  private async startApp(h: Hosted): Promise<void> {
    if (h.state !== 'created') return;
    h.state = 'starting';
    const r = await this.within(
      h,
      'onStart',
      () => {
        h.app.prepare();
        return h.app.onStart();
      },
      h.app.stopTimeoutMs,
    );
    if ((h.state as AppState) !== 'starting') return; // stopped meanwhile
    if (!r.ok) {
      h.state = 'failed';
      this.emit({ type: 'app.failed', app: h.name, message: `${h.name} failed to start: ${errorInfo(r.err).message}` });
      return;
    }
    h.state = 'passive';
    this.emit({ type: 'app.started', app: h.name, message: `${h.name} started (${h.app.activator.kind})` });
    this.checks.replace(h.name, () => this.runCheck(h), { intervalMs: h.app.activator.checkIntervalMs, jitter: 0.2, initialDelayMs: 0 });
  }

  private async stopApp(h: Hosted): Promise<void> {
    if (h.state === 'stopped' || h.state === 'stopping') return;
    this.checks.remove(h.name);
    const was = h.state;
    h.state = 'stopping';
    if ((was === 'active' || was === 'activating') && h.activation) await this.deactivate(h, 'stopping');
    h.watchers.stop();
    if (was !== 'created') await this.within(h, 'onStop', () => h.app.onStop(), h.app.stopTimeoutMs);
    this.guard(h, 'releaseResources', () => h.app.releaseResources());
    h.endpoint.close();
    this.node.unregister(h.endpoint.name);
    h.state = 'stopped';
    this.emit({ type: 'app.stopped', app: h.name, message: `${h.name} stopped` });
  }

  private running(h: Hosted): boolean {
    return !this.closed && (h.state === 'passive' || h.state === 'active' || h.state === 'activating' || h.state === 'deactivating');
  }

  /** Runs an activation check; a check asked for while one runs runs again right after. */
  private async runCheck(h: Hosted): Promise<void> {
    if (h.checking) {
      h.recheck = true;
      return;
    }
    h.checking = true;
    try {
      do {
        h.recheck = false;
        await this.checkOnce(h);
      } while (h.recheck && this.running(h));
    } finally {
      h.checking = false;
    }
  }

  private async checkOnce(h: Hosted): Promise<void> {
    if (h.state !== 'passive' && h.state !== 'active') return;
    h.stats.checks++;
    const current = h.state === 'active' ? h.activation : undefined;
    let next: Activation | undefined;
    try {
      next = await h.app.activator.check(current, this.mayActivate(h));
    } catch (err) {
      this.report(h, err, 'activation check');
      return;
    }
    if (h.state !== 'passive' && h.state !== 'active') {
      if (next && !current) await h.app.activator.release(next);
      return;
    }
    if (current) {
      if (!next) await this.deactivate(h, 'lost');
      else if (this.mustYield(h)) await this.deactivate(h, 'excluded');
      else h.activation = next;
    } else if (next) {
      // Exclusion is decided again here, synchronously, so that two applications that excluded
      // each other and were checked at the same time cannot both become active.
      if (!this.mayActivate(h)) await h.app.activator.release(next);
      else await this.activate(h, next);
    }
  }

  private async activate(h: Hosted, activation: Activation): Promise<void> {
    h.state = 'activating';
    h.activation = activation;
    const r = await this.within(h, 'onActivate', () => h.app.onActivate(activation), h.app.startTimeoutMs);
    if (h.state !== 'activating') return;
    if (r.ok) {
      h.state = 'active';
      h.activeSince = this.env.now();
      h.stats.activations++;
      this.log.info({ event: 'app.activated', app: h.name, activation: describe(activation) }, `${h.name} is active`);
      this.emit({ type: 'app.activated', app: h.name, message: `${h.name} became active${activation.slot?.value ? ` on ${activation.slot.value}` : ''}`, data: describe(activation) });
      return;
    }
    h.stats.rollbacks++;
    await this.deactivate(h, 'rollback');
    this.emit({ type: 'app.rolled-back', app: h.name, message: `${h.name} rolled back to passive: ${errorInfo(r.err).message}`, data: { code: errorInfo(r.err).code } });
  }

  private async deactivate(h: Hosted, reason: DeactivationReason): Promise<void> {
    const activation = h.activation;
    const stopping = h.state === 'stopping';
    h.state = 'deactivating';
    await this.within(h, 'onDeactivate', () => h.app.onDeactivate(reason), h.app.stopTimeoutMs);
    if (activation) await h.app.activator.release(activation);
    h.activation = undefined;
    h.activeSince = undefined;
    if (reason !== 'rollback') h.stats.deactivations++;
    h.state = stopping ? 'stopping' : 'passive';
    if (reason !== 'rollback') {
      this.log.info({ event: 'app.deactivated', app: h.name, reason }, `${h.name} is passive (${reason})`);
      this.emit({ type: 'app.deactivated', app: h.name, message: `${h.name} became passive (${reason})`, data: { reason } });
    }
  }

  /** Whether an exclusion rule keeps `h` from becoming active now. */
  private mayActivate(h: Hosted): boolean {
    for (const o of this.apps.values()) {
      if (o === h || (o.state !== 'active' && o.state !== 'activating')) continue;
      if (this.excluded(h, o)) return false;
    }
    return true;
  }

  /** Whether active `h` must give way to another active application it excludes (the later one yields). */
  private mustYield(h: Hosted): boolean {
    for (const o of this.apps.values()) {
      if (o === h || o.state !== 'active' || !this.excluded(h, o)) continue;
      if ((h.activeSince ?? 0) > (o.activeSince ?? 0) || ((h.activeSince ?? 0) === (o.activeSince ?? 0) && h.name > o.name)) return true;
    }
    return false;
  }

  /** Whether an exclusion rule between `a` and `b` applies (and the ring is big enough to honour it). */
  private excluded(a: Hosted, b: Hosted): boolean {
    if (!a.app.excludes.includes(b.name) && !b.app.excludes.includes(a.name)) return false;
    const needed = a.app.activator.desiredActive() + b.app.activator.desiredActive();
    const honourable = estimateRingSize(this.node) >= needed;
    if (!honourable) this.log.debug({ code: 'ExclusionIgnored', app: a.name, other: b.name, needed }, 'exclusion rule ignored: too few nodes to honour it');
    return honourable;
  }

  // ---- messages ---------------------------------------------------------------------------

  private onAppRequest(h: Hosted, req: RpcRequest): undefined {
    const expectsReply = req.kind !== KIND_NOTIFY;
    if (req.kind !== KIND_REQUEST && expectsReply) return undefined; // not ours: ignore
    h.stats.messages++;
    const ctx = new ReceivedMessageContext(h.port, {
      mid: req.mid,
      method: req.method,
      entity: req.body,
      tx: req.tx ?? req.mid,
      origin: req.origin,
      key: req.key,
      hops: req.hops,
      expectsReply,
      replyTo: req.replyTo,
    });
    const fail = (err: unknown): void => {
      this.report(h, err, 'onMessage', ctx.tx);
      if (!ctx.replied && ctx.expectsReply) {
        const info = errorInfo(err);
        ctx.reply(500, { error: info.code, message: info.message });
      }
    };
    try {
      const r = h.app.onMessage(ctx);
      if (r instanceof Promise) r.catch(fail);
    } catch (err) {
      fail(err);
    }
    return undefined;
  }

  private onAppForward(h: Hosted, fctx: ForwardContext): ForwardDecision | void {
    const msg = fctx.msg;
    if (msg.corr !== undefined) return;
    const view: AppForwardContext = {
      key: fctx.key,
      method: msg.method,
      entity: msg.body,
      tx: msg.tx,
      origin: fctx.origin,
      hops: fctx.hops,
      nextHop: fctx.nextHop,
      expectsReply: msg.kind !== KIND_NOTIFY,
      context: () =>
        new ReceivedMessageContext(h.port, {
          mid: msg.mid,
          method: msg.method,
          entity: msg.body,
          tx: msg.tx ?? msg.mid,
          origin: fctx.origin,
          key: fctx.key,
          hops: fctx.hops,
          expectsReply: msg.kind !== KIND_NOTIFY,
          replyTo: msg.replyTo,
        }),
    };
    let d: AppForwardDecision | void;
    try {
      d = h.app.onForward(view);
    } catch (err) {
      this.report(h, err, 'onForward', msg.tx);
      return;
    }
    if (!d) return;
    switch (d.action) {
      case 'consume':
        return { action: 'consume' };
      case 'pass':
        return d.entity === undefined ? { action: 'pass' } : { action: 'pass', msg: withBody(msg, d.entity) };
      case 'redirect':
        return d.entity === undefined ? { action: 'redirect', key: d.key } : { action: 'redirect', key: d.key, msg: withBody(msg, d.entity) };
      default:
        return;
    }
  }

  // ---- helpers ----------------------------------------------------------------------------

  /** Runs a synchronous handler, reporting what it throws. */
  private guard(h: Hosted, during: string, fn: () => unknown): void {
    try {
      const r = fn();
      if (r instanceof Promise) r.catch((err: unknown) => this.report(h, err, during));
    } catch (err) {
      this.report(h, err, during);
    }
  }

  /** Runs a lifecycle handler with a time limit; reports and returns its failure. */
  private within(h: Hosted, during: string, fn: () => void | Promise<void>, limitMs: number): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const finish = (o: Outcome): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        this.pendingTimers.delete(timer);
        if (!o.ok) this.report(h, o.err, during);
        resolve(o);
      };
      const timer = this.env.setTimeout(() => finish({ ok: false, err: new AppError('StartTimeout', `${h.name}.${during} did not finish within ${limitMs} ms`) }), limitMs);
      this.pendingTimers.add(timer);
      try {
        const r = fn();
        if (r instanceof Promise) r.then(() => finish({ ok: true }), (err: unknown) => finish({ ok: false, err }));
        else finish({ ok: true });
      } catch (err) {
        finish({ ok: false, err });
      }
    });
  }

  private report(h: Hosted, err: unknown, during: string, tx?: string): void {
    const info = errorInfo(err);
    h.stats.errors++;
    h.stats.lastError = { ...info, during, at: this.env.now() };
    h.log.error({ code: info.code, during, ...(tx ? { tx } : {}), err: info }, `${h.name} failed in ${during}: ${info.message}`);
    for (const listener of this.errorListeners) {
      try {
        listener(h.name, err, during);
      } catch {
        // a listener's failure must not hide the original error
      }
    }
  }

  private emit(event: AppEvent): void {
    for (const listener of this.eventListeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.error({ code: errorInfo(err).code, err: errorInfo(err) }, 'application event listener failed');
      }
    }
  }
}

function withBody(msg: AppMessage, body: unknown): AppMessage {
  return { ...msg, body };
}

function describe(a: Activation): Record<string, unknown> {
  return {
    kind: a.kind,
    ...(a.slot ? { slot: a.slot.index, value: a.slot.value } : {}),
    ...(a.checkpoints ? { checkpoints: a.checkpoints.map((c) => c.short()) } : {}),
  };
}

function checkTx(tx: string | undefined): string | undefined {
  if (tx === undefined) return undefined;
  if (typeof tx !== 'string' || tx.length === 0 || tx.length > 200) throw new AppError('InvalidArgument', 'a transaction id must be a string of 1-200 characters');
  return tx;
}
