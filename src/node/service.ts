/**
 * How layers plug into a node. The DHT, Scribe, the application framework's applications and Pi
 * Cloud services are each a {@link NodeService}: the node starts them before it joins (so they can
 * register their overlay applications), tells them when it is ready, stops them before it leaves
 * (so they can hand data off), and asks them for their status, ops API routes, metrics and
 * dashboard summary. A failing service is reported (log line, event, alert, metric) and never
 * takes the node or other services down.
 */
import type { Env } from '../env/index.ts';
import type { Location } from '../id/index.ts';
import type { SpaceGuard, StorageEngine } from '../dht/index.ts';
import type { PastryNode } from '../overlay/index.ts';
import type { AlertSet } from './alerts.ts';
import type { PiConfig } from './config.ts';
import type { EventLog } from './events.ts';
import type { RingSnapshot } from './ring-view.ts';

/** What a service is given when it starts. */
export interface ServiceContext {
  /** Env whose logger carries the node id and the service name. */
  readonly env: Env;
  readonly overlay: PastryNode;
  readonly config: PiConfig;
  /** The node's data directory (a service keeps its files in a sub-folder named after it). */
  readonly dataDir: string;
  readonly location: Location | undefined;
  /** The node's storage engine (LMDB in the data directory; the DHT keeps its records there). */
  readonly storage: StorageEngine;
  /**
   * The storage reserve of the file system holding `dir` (an existing directory), for a service
   * storing files of its own there: writes it refuses fail with `DiskFull` (dht/storage/space.ts).
   */
  readonly spaceFor?: (dir: string) => SpaceGuard;
  readonly events: EventLog;
  readonly alerts: AlertSet;
  /** Another started service by name (e.g. an application using `dht`). */
  service<T extends NodeService = NodeService>(name: string): T | undefined;
  /** The ring as far as it can be walked from this node (cached briefly; see RingView). */
  walkRing(): Promise<RingSnapshot>;
  /** Reports an error of this service without stopping anything: logged, counted, recorded as an event. */
  reportError(err: unknown, during: string): void;
}

/** An HTTP request as a service's ops route sees it. */
export interface OpsRequest {
  method: string;
  /** Path parameters, e.g. `{ id }` for `/api/dht/records/:id`. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body (undefined when there is none). */
  body: unknown;
  /** Transaction id for everything this request causes (also in the response's `x-pi-tx`). */
  tx: string;
}

/** A route's answer; `status` defaults to 200 and `body` is sent as JSON. */
export interface OpsResponse {
  status?: number;
  body?: unknown;
}

/** An ops API route contributed by a service. */
export interface OpsRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path with `:name` parameters, under `/api/`. */
  path: string;
  /** One line for `GET /api` (the route index). */
  description: string;
  handler(req: OpsRequest): OpsResponse | Promise<OpsResponse>;
}

/** A metric family a service exports; the ops layer turns it into Prometheus text. */
export interface MetricFamily {
  /** Prometheus name, `pi_` prefixed by convention. */
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'summary';
  /** For a summary, `suffix` is `_sum` or `_count`. */
  values: { labels?: Record<string, string>; value: number; suffix?: '_sum' | '_count' }[];
}

/** A service's state as shown by `pi apps` and the dashboard. */
export type ServiceState = 'starting' | 'active' | 'passive' | 'failed' | 'stopped';

/** A pluggable part of the node. Every method but `name` and `start` is optional. */
export interface NodeService {
  /** Unique per node; also the prefix of its routes (`/api/<name>/...`) by convention. */
  readonly name: string;
  /** `core` services are part of every node; `app` services are chosen with the `apps` setting. */
  readonly kind?: 'core' | 'app';
  /** Called before the node joins: register overlay applications here. */
  start(ctx: ServiceContext): void | Promise<void>;
  /** Called once the node is part of the ring. */
  ready?(): void | Promise<void>;
  /** Called on graceful shutdown before the node leaves the ring (hand data off here). */
  stop?(): void | Promise<void>;
  /**
   * Called when the node is decommissioned (leaves the ring for good), before `stop` and with no
   * time limit: copy everything this node holds to the nodes that take its place. `progress` may
   * be called with a small serialisable summary as it goes (shown by `pi decommission`).
   */
  drain?(progress: (summary: Record<string, unknown>) => void): Promise<Record<string, unknown>>;
  /** Called on an immediate stop instead of `stop`: release timers and files, hand nothing off. */
  abort?(): void;
  /** Current state (default: `active` once started). */
  state?(): ServiceState;
  /**
   * A small, serialisable summary for the ring view and the dashboard (e.g. record counts by
   * type, topics, queue depths). Keep it cheap: it is asked for on every dashboard refresh.
   */
  summary?(): Record<string, unknown>;
  /** Ops API routes. */
  routes?(): OpsRoute[];
  /** Metrics to export on `/metrics`. */
  metrics?(): MetricFamily[];
  /** Endpoints this service offers to users, by name (e.g. `{ s3: 'http://…' }`). */
  endpoints?(): Record<string, string>;
}

/** Creates an application service by name (the `apps` setting). */
export interface ApplicationFactory {
  name: string;
  description: string;
  /** May be asynchronous, e.g. to load the application's code only on nodes that run it. */
  create(config: PiConfig): NodeService | Promise<NodeService>;
}

/** Known applications by name. */
export class ApplicationRegistry {
  private readonly factories = new Map<string, ApplicationFactory>();

  constructor(factories: Iterable<ApplicationFactory> = []) {
    for (const f of factories) this.add(f);
  }

  add(factory: ApplicationFactory): this {
    if (this.factories.has(factory.name)) throw new Error(`application "${factory.name}" is registered twice`);
    this.factories.set(factory.name, factory);
    return this;
  }

  get(name: string): ApplicationFactory | undefined {
    return this.factories.get(name);
  }

  names(): string[] {
    return [...this.factories.keys()].sort();
  }

  list(): ApplicationFactory[] {
    return this.names().map((n) => this.factories.get(n)!);
  }
}
