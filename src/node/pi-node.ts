/**
 * A Pi node assembled from its configuration: data directory and identity, transport (mutual TLS
 * unless insecure), the Pastry overlay, the services plugged into it (DHT, Scribe, applications),
 * events, alerts, and the lifecycle — join with retries, graceful leave within a bounded time.
 *
 * The ops API is not part of this layer (it sits above, in `src/ops/`); it is given a started
 * PiNode and reads it.
 */
import { statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { RealEnv } from '../env/index.ts';
import type { Env, Logger } from '../env/index.ts';
import type { Id, Location } from '../id/index.ts';
import { SpaceGuard } from '../dht/index.ts';
import type { DiskSpace, SpaceState, StorageEngine } from '../dht/index.ts';
import { PastryNode } from '../overlay/index.ts';
import type { OverlayOptions } from '../overlay/index.ts';
import { TcpTransport, TransportError } from '../transport/index.ts';
import type { TlsCredentials } from '../transport/index.ts';
import { AlertMonitor, AlertSet } from './alerts.ts';
import { ConfigError } from './config.ts';
import type { PiConfig } from './config.ts';
import { CountingTransport } from './counting-transport.ts';
import { ensureDir, fsProbe, openNodeData } from './data-dir.ts';
import type { DataDirProbe } from './data-dir.ts';
import { EventLog } from './events.ts';
import { RingView } from './ring-view.ts';
import type { NodeHealth, NodeSummary } from './ring-view.ts';
import { ApplicationRegistry } from './service.ts';
import type { MetricFamily, NodeService, ServiceContext, ServiceState } from './service.ts';
import { loadTlsCredentials } from './tls.ts';
import type { CertificateSummary } from './tls.ts';

/** Lifecycle of the node process. */
export type PiNodeState = 'created' | 'joining' | 'ready' | 'stopping' | 'stopped' | 'failed';

/** Errors of the node lifecycle, with a stable code. */
export class NodeError extends Error {
  constructor(
    readonly code: 'JoinFailed' | 'ServiceFailed' | 'InvalidState',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NodeError';
  }
}

/** Options of {@link PiNode.create}. */
/** Where a decommission ({@link PiNode.decommission}) is. */
export interface DecommissionStatus {
  /** `draining`: services copy what the node holds to its successors; then `leaving`, `done`. */
  state: 'draining' | 'leaving' | 'done';
  startedAt: number;
  /** Each draining service's latest summary (S3: chunks examined of total, copies sent, failed). */
  services: Record<string, Record<string, unknown>>;
}

export interface PiNodeOptions {
  config: PiConfig;
  /** Root logger (default: pino JSON lines to stdout at `log.level`). The node binds its id on it. */
  logger?: Logger;
  /** Environment to use instead of a real one (its logger is then used as the root logger). */
  env?: Env;
  /** Core services, started on every node in this order (e.g. DHT, Scribe). */
  services?: NodeService[];
  /** Where the `apps` setting looks names up. */
  applications?: ApplicationRegistry;
  /** File-system checks of the alert monitor (tests substitute them). */
  probe?: DataDirProbe;
  /** What the storage reserve reads of a file system (default `statfs`; tests substitute it). */
  diskSpace?: (dir: string) => DiskSpace;
  /** Software version reported to others. */
  version?: string;
}

/** A service with the node's bookkeeping around it. */
interface ServiceSlot {
  service: NodeService;
  kind: 'core' | 'app';
  state: ServiceState;
  errors: number;
  ctx: ServiceContext;
}

const LOOPBACK = '127.0.0.1';

/** The host others should use to reach a node bound to `bind`. */
export function advertiseHost(bind: string, advertise: string | undefined): string {
  if (advertise) return advertise;
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return LOOPBACK;
}

/** The node's TLS credentials, checked (files, CA, key, validity). Throws `TlsSetupError`. */
function loadCredentials(config: PiConfig, now: number): { tls: TlsCredentials; certificate: CertificateSummary } {
  const loaded = loadTlsCredentials(config.tls, now);
  return { tls: loaded.credentials, certificate: loaded.summary };
}

/** A running Pi node. Create with {@link PiNode.create}, then {@link PiNode.join}. */
export class PiNode {
  readonly events: EventLog;
  readonly alerts: AlertSet;
  readonly monitor: AlertMonitor;
  readonly ringView: RingView;
  readonly startedAt: number;
  /** Set by the ops layer once it listens. */
  opsUrl: string | undefined;
  private stateValue: PiNodeState = 'created';
  private readonly slots: ServiceSlot[] = [];
  private stopping: Promise<void> | undefined;
  private decommissioning: DecommissionStatus | undefined;
  private markStopped: () => void = () => undefined;
  private readonly stopped = new Promise<void>((resolve) => {
    this.markStopped = resolve;
  });
  private readonly log: Logger;
  /** The storage reserve of each file system the node stores on, by device (space.ts). */
  private readonly spaces = new Map<number, SpaceGuard>();

  private constructor(
    readonly config: PiConfig,
    readonly env: Env,
    readonly id: Id,
    readonly location: Location | undefined,
    /** The node's storage engine (LMDB in its data directory), shared with the services. */
    readonly storage: StorageEngine,
    readonly transport: TcpTransport,
    readonly counting: CountingTransport,
    readonly overlay: PastryNode,
    readonly certificate: CertificateSummary | undefined,
    readonly version: string,
    probe: DataDirProbe,
    /** The storage reserve of the data directory's file system (the DHT store's). */
    readonly space: SpaceGuard,
    private readonly diskSpace: ((dir: string) => DiskSpace) | undefined,
  ) {
    this.log = env.log;
    this.startedAt = env.now();
    this.events = new EventLog(id.hex, () => env.now());
    this.alerts = new AlertSet(env, env.log.child({ mod: 'alerts' }), this.events);
    this.monitor = new AlertMonitor(
      env,
      this.alerts,
      { dataDir: config.dataDir, isReady: () => this.overlay.isReady, leafSetSize: () => this.overlay.leafSetMembers().length, refreshSpace: () => this.refreshSpace() },
      config.alerts,
      probe,
    );
    this.watchSpace(space, deviceOf(space.dir) ?? -1);
    this.ringView = new RingView(env, overlay, this.events, () => this.summary(), { limit: config.ops.crawlLimit });
  }

  /**
   * Opens the data directory (node id), loads and checks the certificates, listens, builds the
   * overlay and starts the services. The node does not join yet: call {@link join}.
   * Throws {@link ConfigError}, `DataDirError`, `TlsSetupError`, `TransportError` (ListenFailed)
   * or {@link NodeError} with a message naming what to fix.
   */
  static async create(options: PiNodeOptions): Promise<PiNode> {
    const config = options.config;
    const baseEnv = options.env ?? new RealEnv({ logLevel: config.log.level, ...(options.logger ? { logger: options.logger } : {}) });
    const location = config.region !== undefined ? { region: config.region, az: config.az ?? 0 } : undefined;
    // What can be checked without the data directory is checked before it is created or opened:
    // a node that cannot start must not leave a data directory and an empty store behind.
    const { tls, certificate } = config.insecure ? { tls: undefined, certificate: undefined } : loadCredentials(config, baseEnv.now());
    const registry = options.applications ?? new ApplicationRegistry();
    const unknownApps = config.apps.filter((name) => !registry.get(name));
    if (unknownApps.length > 0) {
      const known = registry.names();
      throw new ConfigError(
        unknownApps.map((n) => `setting "apps": unknown application "${n}" (${known.length ? `known: ${known.join(', ')}` : 'no applications are installed'})`),
      );
    }
    await ensureDir(config.dataDir);
    const identity = await openNodeData(config.dataDir, baseEnv.random, location);
    // The storage reserve: the store refuses writes that add data once the disk is nearly full.
    const space = spaceGuard(identity.storageDir, config, () => baseEnv.now(), options.diskSpace);
    identity.storage.space = space;
    const env = baseEnv.withLog({ nodeId: identity.id.hex });
    const log = env.log;
    log.info(
      { event: 'node.identity', dataDir: config.dataDir, created: identity.created, records: identity.storage.size },
      identity.created ? `new node id ${identity.id.hex}` : `node id ${identity.id.hex} from ${config.dataDir} (${identity.storage.size} stored items)`,
    );
    try {
      return await PiNode.assemble(options, config, env, identity.id, location, identity.storage, space, registry, tls, certificate);
    } catch (err) {
      await identity.storage.close();
      throw err;
    }
  }

  private static async assemble(
    options: PiNodeOptions,
    config: PiConfig,
    env: Env,
    id: Id,
    location: Location | undefined,
    storage: StorageEngine,
    space: SpaceGuard,
    registry: ApplicationRegistry,
    tls: TlsCredentials | undefined,
    certificate: CertificateSummary | undefined,
  ): Promise<PiNode> {
    const log = env.log;
    if (config.insecure) {
      log.warn(
        { event: 'transport.insecure', code: 'Insecure' },
        'INSECURE MODE: node-to-node traffic is plaintext and unauthenticated; anyone who can reach the port can join the ring. Use only for local development.',
      );
    }

    const transport = await TcpTransport.listen({
      env,
      host: config.bind,
      port: config.port,
      advertiseHost: advertiseHost(config.bind, config.advertise),
      nodeId: id,
      ...(tls ? { tls } : {}),
    }).catch((err: unknown) => {
      if (!(err instanceof TransportError) || err.code !== 'ListenFailed') throw err;
      // Most often the node is already running (started twice with one configuration).
      const inUse = /EADDRINUSE/.test(err.message) ? `: another process listens there (is a node already running with this configuration, on ${config.dataDir}?); choose another port with "port" / --port` : '';
      throw new TransportError('ListenFailed', `setting "port": ${err.message}${inUse}`);
    });
    const counting = new CountingTransport(transport);
    const overlayOptions: Partial<OverlayOptions> = {
      leafSetSize: config.overlay.leafSetSize,
      heartbeatIntervalMs: config.overlay.heartbeatIntervalMs,
      suspectAfterMs: config.overlay.suspectAfterMs,
      probeTimeoutMs: config.overlay.probeTimeoutMs,
      probeAttempts: config.overlay.probeAttempts,
      joinTimeoutMs: config.overlay.joinAttemptTimeoutMs,
      routingMaintenanceIntervalMs: config.overlay.routingMaintenanceIntervalMs,
    };
    const overlay = new PastryNode(env, counting, id, overlayOptions);
    const node = new PiNode(config, env, id, location, storage, transport, counting, overlay, certificate, options.version ?? '0.0.0', options.probe ?? fsProbe, space, options.diskSpace);
    node.events.record('node.started', `node started at ${transport.address}${config.insecure ? ' (INSECURE: plaintext transport)' : ''}`, { data: { addr: transport.address } });
    if (config.insecure) node.alerts.raise('Insecure', 'warning', 'node-to-node traffic is plaintext and unauthenticated (--insecure): development only');
    try {
      for (const s of options.services ?? []) await node.addService(s, 'core');
      for (const name of config.apps) await node.addService(await registry.get(name)!.create(config), 'app');
    } catch (err) {
      overlay.stop();
      await transport.close();
      throw err;
    }
    return node;
  }

  get state(): PiNodeState {
    return this.stateValue;
  }

  get address(): string {
    return this.transport.address;
  }

  /** Services in start order. */
  services(): { service: NodeService; kind: 'core' | 'app'; state: ServiceState; errors: number }[] {
    return this.slots.map((s) => ({ service: s.service, kind: s.kind, state: this.serviceState(s), errors: s.errors }));
  }

  /** A started service by name. */
  service<T extends NodeService = NodeService>(name: string): T | undefined {
    return this.slots.find((s) => s.service.name === name)?.service as T | undefined;
  }

  private serviceState(slot: ServiceSlot): ServiceState {
    if (slot.state === 'failed' || slot.state === 'stopped' || slot.state === 'starting') return slot.state;
    try {
      return slot.service.state?.() ?? slot.state;
    } catch (err) {
      this.reportError(slot, err, 'state');
      return 'failed';
    }
  }

  private async addService(service: NodeService, kind: 'core' | 'app'): Promise<void> {
    if (this.slots.some((s) => s.service.name === service.name)) {
      throw new NodeError('ServiceFailed', `two services are named "${service.name}"`);
    }
    const env = this.env.withLog({ [kind === 'app' ? 'app' : 'service']: service.name });
    const slot: ServiceSlot = {
      service,
      kind,
      state: 'starting',
      errors: 0,
      ctx: {
        env,
        overlay: this.overlay,
        config: this.config,
        dataDir: this.config.dataDir,
        location: this.location,
        storage: this.storage,
        spaceFor: (dir: string) => this.spaceFor(dir),
        events: this.events,
        alerts: this.alerts,
        service: <T extends NodeService>(name: string) => this.service<T>(name),
        walkRing: () => this.ringView.walk(),
        reportError: (err, during) => this.reportError(slot, err, during),
      },
    };
    this.slots.push(slot);
    try {
      await service.start(slot.ctx);
      slot.state = 'active';
      this.events.record('app.started', `${kind === 'app' ? 'application' : 'service'} ${service.name} started`, { data: { app: service.name, kind } });
    } catch (err) {
      slot.state = 'failed';
      this.reportError(slot, err, 'start');
      if (kind === 'core') throw new NodeError('ServiceFailed', `core service ${service.name} failed to start: ${(err as Error).message}`, { cause: err });
      this.alerts.raise('ApplicationFailed', 'critical', `application ${service.name} failed to start: ${(err as Error).message}`, { subject: service.name });
    }
  }

  /** Logs, counts and records an error of the service named `name`; never throws. */
  reportServiceError(name: string, err: unknown, during: string): void {
    const slot = this.slots.find((x) => x.service.name === name);
    if (slot) this.reportError(slot, err, during);
  }

  private reportError(slot: ServiceSlot, err: unknown, during: string): void {
    const name = slot.service.name;
    slot.errors++;
    const e = err as { message?: string; code?: string; stack?: string };
    const message = e?.message ?? String(err);
    this.log.error({ code: 'ApplicationError', app: name, during, err: { message, code: e?.code, stack: e?.stack } }, `${name} failed in ${during}: ${message}`);
    this.events.record('error', `${name} failed in ${during}: ${message}`, { level: 'error', data: { app: name, during, code: e?.code } });
  }

  /** Runs `fn` for each running service, isolating failures. */
  private async eachService(hook: 'ready' | 'stop', order: ServiceSlot[]): Promise<void> {
    for (const slot of order) {
      if (slot.state === 'failed' || slot.state === 'stopped') continue;
      const fn = slot.service[hook];
      if (!fn) continue;
      try {
        await fn.call(slot.service);
      } catch (err) {
        this.reportError(slot, err, hook);
      }
    }
  }

  /**
   * Joins the ring: through the bootstrap list, retried until `joinTimeoutMs`; with `newRing`,
   * one pass over the list and then a new ring (straight away when the list is empty).
   * Throws {@link NodeError} `JoinFailed`.
   */
  async join(): Promise<void> {
    if (this.stateValue !== 'created') throw new NodeError('InvalidState', `cannot join from state ${this.stateValue}`);
    this.stateValue = 'joining';
    const { bootstrap, newRing, joinTimeoutMs } = this.config;
    const others = bootstrap.filter((a) => a !== this.address);
    try {
      if (others.length === 0) {
        if (!newRing) throw new NodeError('JoinFailed', 'no bootstrap node to join and newRing is false: set "bootstrap" to nodes of the ring, or "newRing" to start one');
        this.overlay.createRing();
      } else if (newRing) {
        await this.overlay.join(others, { newRing: true });
      } else {
        await this.joinWithRetries(others, joinTimeoutMs);
      }
    } catch (err) {
      this.stateValue = 'failed';
      this.events.record('error', `join failed: ${(err as Error).message}`, { level: 'error' });
      throw err instanceof NodeError ? err : new NodeError('JoinFailed', (err as Error).message, { cause: err });
    }
    if ((this.stateValue as PiNodeState) !== 'joining') return; // stopped while joining
    this.stateValue = 'ready';
    this.events.record('node.ready', `joined the ring (${this.overlay.leafSetMembers().length} leaf-set members)`);
    await this.eachService('ready', this.slots);
    this.monitor.start();
  }

  private async joinWithRetries(bootstrap: string[], timeoutMs: number): Promise<void> {
    const deadline = this.env.now() + timeoutMs;
    let attempt = 0;
    for (;;) {
      attempt++;
      try {
        await this.overlay.join(bootstrap, { newRing: false });
        return;
      } catch (err) {
        if ((this.stateValue as PiNodeState) !== 'joining') throw err;
        const left = deadline - this.env.now();
        if (left <= 0) {
          throw new NodeError(
            'JoinFailed',
            `could not join the ring through ${bootstrap.join(', ')} within ${timeoutMs} ms (${attempt} attempt${attempt === 1 ? '' : 's'}): ${(err as Error).message}. ` +
              "Check that these nodes run and can be reached at these addresses, and that this node's certificate is signed by the ring's CA " +
              '(the DialFailed and TlsRefused log lines name the cause). Only the first node of a new ring starts with newRing (--new-ring).',
            { cause: err },
          );
        }
        const wait = Math.min(left, this.env.random.jitter(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)), 0.2));
        this.log.warn({ code: 'JoinRetry', attempt, retryInMs: Math.round(wait) }, `join attempt ${attempt} failed; retrying in ${Math.round(wait)} ms`);
        await this.env.sleep(wait);
        if ((this.stateValue as PiNodeState) !== 'joining') throw err;
      }
    }
  }

  /**
   * Takes the node out of the ring for good: each service with a `drain` hook copies what this
   * node holds to the nodes that take its place (S3 chunks; no time limit, the node keeps serving
   * meanwhile), then the node stops gracefully (DHT records are handed off as at every graceful
   * stop) and leaves. Resolves when it has stopped; {@link decommissionStatus} shows progress.
   * Throws `InvalidState` unless the node is ready and not already being decommissioned.
   */
  async decommission(): Promise<void> {
    if (this.stateValue !== 'ready' || this.decommissioning) throw new NodeError('InvalidState', this.decommissioning ? 'the node is already being decommissioned' : `cannot decommission a node that is ${this.stateValue}`);
    const status: DecommissionStatus = { state: 'draining', startedAt: this.env.now(), services: {} };
    this.decommissioning = status;
    this.events.record('node.decommissioning', 'decommissioning: copying what this node holds to the nodes that take its place');
    this.log.warn({ event: 'node.decommissioning' }, 'decommissioning: draining services, then leaving the ring for good');
    for (const slot of this.slots) {
      const drain = slot.service.drain;
      if (!drain || slot.state === 'failed' || slot.state === 'stopped') continue;
      const name = slot.service.name;
      try {
        status.services[name] = await drain.call(slot.service, (summary) => {
          status.services[name] = summary;
        });
      } catch (err) {
        // What was not copied is re-replicated by the ring after the departure, as after a crash.
        this.reportError(slot, err, 'drain');
      }
      this.log.info({ event: 'node.drained', service: name, ...status.services[name] }, `${name} drained`);
    }
    status.state = 'leaving';
    await this.stop({ graceful: true });
    status.state = 'done';
    this.events.record('node.decommissioned', 'decommissioned: left the ring');
  }

  /** The decommission in progress or done, if any. */
  decommissionStatus(): DecommissionStatus | undefined {
    return this.decommissioning && { ...this.decommissioning, services: { ...this.decommissioning.services } };
  }

  /** Resolves once the node has stopped (by {@link stop} or a decommission). */
  whenStopped(): Promise<void> {
    return this.stopped;
  }

  /**
   * Stops the node. Graceful (default): services stop first (handing data off), then the node
   * announces its departure and leaves; forced after `shutdownTimeoutMs`. Not graceful: services
   * abort and the node stops at once, as a crash looks to the others. Idempotent.
   */
  stop(options: { graceful?: boolean } = {}): Promise<void> {
    if (this.stopping) return this.stopping;
    const graceful = options.graceful ?? true;
    this.stopping = this.doStop(graceful);
    this.stopping.then(this.markStopped, this.markStopped);
    return this.stopping;
  }

  private async doStop(graceful: boolean): Promise<void> {
    const wasReady = this.stateValue === 'ready';
    this.stateValue = 'stopping';
    this.events.record('node.stopping', graceful ? 'leaving the ring' : 'stopping');
    this.log.info({ event: 'node.stopping', graceful }, graceful ? 'leaving the ring gracefully' : 'stopping');
    const monitorStopped = this.monitor.stop();
    const started = this.env.now();
    if (graceful) {
      let timer;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = this.env.setTimeout(() => resolve('timeout'), this.config.shutdownTimeoutMs);
      });
      const work = (async () => {
        await this.eachService('stop', [...this.slots].reverse());
        if (wasReady) await this.overlay.leave();
      })();
      const outcome = await Promise.race([work.then(() => 'done' as const), timedOut]);
      (timer as { cancel(): void } | undefined)?.cancel();
      if (outcome === 'timeout') this.log.warn({ code: 'ShutdownTimeout', timeoutMs: this.config.shutdownTimeoutMs }, 'graceful shutdown took too long; stopping now');
    } else {
      for (const slot of [...this.slots].reverse()) {
        if (slot.state === 'failed' || slot.state === 'stopped' || !slot.service.abort) continue;
        try {
          slot.service.abort();
        } catch (err) {
          this.reportError(slot, err, 'abort');
        }
      }
    }
    for (const slot of this.slots) slot.state = 'stopped';
    this.ringView.close();
    this.overlay.stop();
    await monitorStopped;
    await this.transport.close();
    await this.storage.close().catch((err: Error) => this.log.error({ code: 'StorageCloseFailed', err: { message: err.message } }, `closing the storage failed: ${err.message}`));
    this.stateValue = 'stopped';
    this.log.info({ event: 'node.stopped', graceful, durationMs: this.env.now() - started }, 'node stopped');
  }

  /**
   * The storage reserve of the file system holding `dir` (an existing directory): the data
   * directory's, or one made for it with the same settings when `dir` is on another file system
   * (a chunk folder on its own disk).
   */
  spaceFor(dir: string): SpaceGuard {
    const dev = deviceOf(dir);
    if (dev === undefined) return this.space;
    const known = this.spaces.get(dev);
    if (known) return known;
    const guard = spaceGuard(dir, this.config, () => this.env.now(), this.diskSpace);
    this.watchSpace(guard, dev);
    return guard;
  }

  /** The storage reserves of the node's file systems (the data directory's first). */
  spaceStates(): SpaceState[] {
    return [...this.spaces.values()].map((g) => g.state());
  }

  /** Reads every file system's free space again (the alert monitor's periodic check). */
  private refreshSpace(): void {
    for (const g of this.spaces.values()) g.refresh();
  }

  /**
   * Raises the critical `DiskFull` alert while `guard` refuses writes (logged once when raised,
   * once when cleared), per file system other than the data directory's by its folder.
   */
  private watchSpace(guard: SpaceGuard, dev: number): void {
    this.spaces.set(dev, guard);
    const subject = guard === this.space ? undefined : guard.dir;
    const show = (s: SpaceState): void => {
      if (!s.refusing) {
        this.alerts.clear('DiskFull', subject);
        return;
      }
      this.alerts.raise('DiskFull', 'critical', `${guard.refusal ?? 'the disk is full'} (deletions still work; writes resume by themselves once space is freed)`, {
        ...(subject ? { subject } : {}),
        data: { dir: s.dir, freeBytes: s.freeBytes, reserveBytes: s.reserveBytes },
      });
    };
    guard.onChange(show);
    if (guard.refusing) show(guard.state());
  }

  /** Health from the state and the active alerts. */
  health(): NodeHealth {
    if (this.stateValue === 'stopping' || this.stateValue === 'stopped') return 'stopping';
    if (this.stateValue !== 'ready') return 'starting';
    const alerts = this.alerts.list();
    if (alerts.some((a) => a.severity === 'critical')) return 'critical';
    return alerts.length > 0 ? 'degraded' : 'ok';
  }

  /** Summary of services, guarded: a failing summary is reported and left out. */
  private serviceSummaries(): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const slot of this.slots) {
      if (!slot.service.summary || slot.state === 'failed' || slot.state === 'starting') continue;
      try {
        out[slot.service.name] = slot.service.summary();
      } catch (err) {
        this.reportError(slot, err, 'summary');
      }
    }
    return out;
  }

  /** Endpoints offered by services (`{ s3: url }`). */
  endpoints(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const slot of this.slots) {
      if (!slot.service.endpoints || slot.state === 'failed') continue;
      try {
        Object.assign(out, slot.service.endpoints());
      } catch (err) {
        this.reportError(slot, err, 'endpoints');
      }
    }
    return out;
  }

  /** Metric families of all services, guarded. */
  serviceMetrics(): MetricFamily[] {
    const out: MetricFamily[] = [];
    for (const slot of this.slots) {
      if (!slot.service.metrics || slot.state === 'failed') continue;
      try {
        out.push(...slot.service.metrics());
      } catch (err) {
        this.reportError(slot, err, 'metrics');
      }
    }
    return out;
  }

  /** What this node tells others (and its own dashboard) about itself. */
  summary(): NodeSummary {
    const s: NodeSummary = {
      id: this.id.hex,
      addr: this.address,
      state: this.stateValue,
      health: this.health(),
      version: this.version,
      startedAt: this.startedAt,
      alerts: this.alerts.list().map((a) => ({ code: a.code, severity: a.severity, message: a.message, ...(a.subject ? { subject: a.subject } : {}) })),
      apps: this.services().map((x) => ({ name: x.service.name, kind: x.kind, state: x.state })),
      leafSet: this.overlay.leafSetMembers().map((h) => ({ id: h.id.hex, addr: h.addr })),
      routingTableSize: this.overlay.routingTable().reduce((n, row) => n + row.filter((h) => h !== null).length, 0),
      services: this.serviceSummaries(),
      endpoints: this.endpoints(),
      events: this.ringView.recentEvents(),
      at: this.env.now(),
    };
    if (this.location) {
      s.region = this.location.region;
      s.az = this.location.az;
    }
    if (this.opsUrl) s.opsUrl = this.opsUrl;
    return s;
  }
}

/** A storage reserve for the file system of `dir` with the node's `storage.*` settings. */
function spaceGuard(dir: string, config: PiConfig, now: () => number, diskSpace: ((dir: string) => DiskSpace) | undefined): SpaceGuard {
  return new SpaceGuard({ dir, reserveBytes: config.storage.reserveBytes, reservePercent: config.storage.reservePercent, now, ...(diskSpace ? { statfs: diskSpace } : {}) });
}

/** The device of the file system holding `dir` (undefined if it cannot be read). */
function deviceOf(dir: string): number | undefined {
  try {
    return statSync(dir).dev;
  } catch {
    return undefined;
  }
}
