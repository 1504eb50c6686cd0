/**
 * The application framework as a node service: one {@link ApplicationHost} per node (on the
 * node's DHT and Scribe), started once the node has joined and stopped gracefully before it
 * leaves; its applications' activations, deactivations and errors go to the node's event log; the
 * task queues registered on the node are served at `/api/queues` and exported as metrics.
 *
 * Framework applications are chosen like any other with the `apps` setting: wrap one with
 * {@link frameworkApplication} to get an {@link ApplicationFactory}.
 */
import { ApplicationHost, Seeder } from '../app/index.ts';
import type { AppState, AppStatus, PiApplication, Task } from '../app/index.ts';
import type { DhtService } from './dht-service.ts';
import type { ScribeService } from './scribe-service.ts';
import type { PiConfig } from './config.ts';
import type { ApplicationFactory, MetricFamily, NodeService, OpsRoute, ServiceContext, ServiceState } from './service.ts';

/** Name of the service. */
export const APP_HOST_SERVICE = 'apps';
/** Tasks counted per queue for its depth (a larger queue shows as this many, "or more"). */
const DEPTH_LIMIT = 1000;
/** How long queue depths are reused by summaries and metrics. */
const DEPTH_CACHE_MS = 10_000;

/** A task queue as the ops API shows it. */
export interface QueueView {
  name: string;
  /** Tasks in the queue (at most {@link DEPTH_LIMIT}; `depthCapped` when there are more). */
  depth: number;
  depthCapped: boolean;
  /** Tasks owned by no node or not updated for the queue's staleness period. */
  stale: number;
  settings?: { retries: number; staleAfterMs: number; watchers: number; scope: string };
}

function serviceState(state: AppState): ServiceState {
  switch (state) {
    case 'active':
      return 'active';
    case 'failed':
      return 'failed';
    case 'stopped':
    case 'stopping':
      return 'stopped';
    case 'created':
    case 'starting':
      return 'starting';
    default:
      return 'passive';
  }
}

/** The application host of a node. */
export class AppHostService implements NodeService {
  readonly name = APP_HOST_SERVICE;
  readonly kind = 'core';
  private hostValue: ApplicationHost | undefined;
  private ctx: ServiceContext | undefined;
  private depths: { at: number; queues: Promise<QueueView[]> } | undefined;
  private lastQueues: QueueView[] = [];

  /** The host (after start). */
  get host(): ApplicationHost {
    if (!this.hostValue) throw new Error('the application host has not started');
    return this.hostValue;
  }

  start(ctx: ServiceContext): void {
    this.ctx = ctx;
    const dht = ctx.service<DhtService>('dht')?.dht;
    if (!dht) throw new Error('the application host needs the DHT service');
    const scribe = ctx.service<ScribeService>('scribe')?.scribe;
    const host = new ApplicationHost({ env: ctx.env, node: ctx.overlay, dht, ...(scribe ? { scribe } : {}), ...(ctx.location ? { location: ctx.location } : {}) });
    host.onEvent((e) => ctx.events.record(e.type, e.message, { level: e.type === 'app.failed' || e.type === 'app.rolled-back' ? 'warn' : 'info', data: { app: e.app, ...e.data } }));
    host.onError((app, err, during) => {
      const e = err as { message?: string; code?: string };
      ctx.events.record('error', `${app} failed in ${during}: ${e?.message ?? String(err)}`, { level: 'error', data: { app, during, code: e?.code } });
    });
    this.hostValue = host;
  }

  /** Starts the applications (activation checks run in the background). */
  ready(): void {
    void this.host.start().catch((err: unknown) => this.ctx?.reportError(err, 'start applications'));
  }

  /** Deactivates and stops every application gracefully. */
  async stop(): Promise<void> {
    await this.hostValue?.stop();
  }

  abort(): void {
    this.hostValue?.abort();
  }

  /** Every framework application's state and counters. */
  status(): AppStatus[] {
    return this.hostValue?.status() ?? [];
  }

  /** Task queues registered on this node, with their depth (cached briefly unless `fresh`). */
  queues(fresh = false): Promise<QueueView[]> {
    const now = this.ctx!.env.now();
    if (!fresh && this.depths && now - this.depths.at < DEPTH_CACHE_MS) return this.depths.queues;
    const names = this.hostValue ? this.host.queues.registered() : [];
    const queues = Promise.all(names.map((name) => this.queueView(name)));
    this.depths = { at: now, queues };
    queues.catch(() => {
      this.depths = undefined;
    });
    return queues;
  }

  private async queueView(name: string): Promise<QueueView> {
    const q = this.host.queues;
    const [settings, page] = await Promise.all([q.settingsOf(name), q.list(name, { limit: DEPTH_LIMIT })]);
    const now = this.ctx!.env.now();
    const staleAfter = settings?.staleAfterMs ?? Infinity;
    const view: QueueView = {
      name,
      depth: page.tasks.length,
      depthCapped: page.next !== undefined,
      stale: page.tasks.filter((t) => t.owner === undefined || now - t.updatedAt > staleAfter).length,
    };
    if (settings) view.settings = { retries: settings.retries, staleAfterMs: settings.staleAfterMs, watchers: settings.watchers, scope: settings.scope };
    return view;
  }

  summary(): Record<string, unknown> {
    // Depths come from DHT scans: refresh them in the background, show the last known.
    void this.queues()
      .then((q) => {
        this.lastQueues = q;
      })
      .catch(() => {});
    return {
      apps: this.status().map((s) => ({ name: s.name, state: s.state, activator: s.activator, activeSince: s.activeSince, errors: s.stats.errors })),
      queues: this.lastQueues,
    };
  }

  routes(): OpsRoute[] {
    return [
      {
        method: 'GET',
        path: '/api/queues',
        description: 'Task queues registered on this node, with their depth.',
        handler: async () => ({ body: { node: this.ctx!.overlay.id.hex, queues: await this.queues(true) } }),
      },
      {
        method: 'GET',
        path: '/api/queues/:name',
        description: 'One task queue: its settings and tasks (?limit=, ?after= for the next page).',
        handler: async (req) => {
          const name = req.params['name']!;
          const limit = Number(req.query.get('limit') ?? 100);
          if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) return { status: 400, body: { error: { code: 'InvalidArgument', message: 'limit must be an integer 1..10000' } } };
          const settings = await this.host.queues.settingsOf(name);
          if (!settings) return { status: 404, body: { error: { code: 'NoSuchQueue', message: `no queue "${name}" has been seeded (pi-queue:${name})` } } };
          const after = req.query.get('after') ?? undefined;
          const page = await this.host.queues.list(name, { limit, ...(after ? { after } : {}) });
          return { body: { queue: name, settings: { retries: settings.retries, staleAfterMs: settings.staleAfterMs, watchers: settings.watchers, scope: settings.scope }, tasks: page.tasks.map(taskView), next: page.next } };
        },
      },
      {
        method: 'POST',
        path: '/api/seed',
        description: 'Seed the ring (the seeder): { applications, queues, ranges, regions, records }; existing records are kept unless overwrite.',
        handler: async (req) => {
          const dht = this.ctx!.service<DhtService>('dht')!.dht;
          const report = await new Seeder(dht, { ...(this.ctx!.location ? { location: this.ctx!.location } : {}), log: this.ctx!.env.log.child({ tx: req.tx }) }).seed(req.body);
          return { body: report };
        },
      },
      {
        method: 'GET',
        path: '/api/apps/framework',
        description: "This node's framework applications: state, activator, activation, counters, watchers.",
        handler: () => ({ body: { node: this.ctx!.overlay.id.hex, apps: this.status() } }),
      },
    ];
  }

  metrics(): MetricFamily[] {
    const status = this.status();
    const stats = this.hostValue ? this.host.queues.stats : undefined;
    const out: MetricFamily[] = [
      {
        name: 'pi_app_activations_total',
        help: 'Activations of framework applications on this node.',
        type: 'counter',
        values: status.map((s) => ({ labels: { app: s.name }, value: s.stats.activations })),
      },
      {
        name: 'pi_app_messages_handled_total',
        help: 'Messages delivered to framework applications on this node.',
        type: 'counter',
        values: status.map((s) => ({ labels: { app: s.name }, value: s.stats.messages })),
      },
      {
        name: 'pi_task_queue_depth',
        help: 'Tasks in each task queue registered on this node (counted up to 1000).',
        type: 'gauge',
        values: this.lastQueues.map((q) => ({ labels: { queue: q.name }, value: q.depth })),
      },
    ];
    if (stats) {
      out.push({
        name: 'pi_task_queue_events_total',
        help: 'Task-queue events on this node (added, removed, redispatched, recovered, exhausted, ...).',
        type: 'counter',
        values: Object.entries(stats).map(([kind, value]) => ({ labels: { kind }, value })),
      });
    }
    return out;
  }
}

function taskView(t: Task): Record<string, unknown> {
  return { uri: t.uri, owner: t.owner, retries: t.retries, attempts: t.attempts, addedAt: t.addedAt, updatedAt: t.updatedAt, data: t.data };
}

/** A node service standing for one framework application (what `apps` selects). */
class FrameworkAppService implements NodeService {
  readonly kind = 'app';
  private host: ApplicationHost | undefined;

  constructor(
    readonly name: string,
    private readonly app: PiApplication,
  ) {}

  start(ctx: ServiceContext): void {
    const hostService = ctx.service<AppHostService>(APP_HOST_SERVICE);
    if (!hostService) throw new Error(`application ${this.name} needs the application host (the "${APP_HOST_SERVICE}" core service)`);
    this.host = hostService.host;
    this.host.add(this.app);
  }

  state(): ServiceState {
    const s = this.host?.status().find((x) => x.name === this.app.name);
    return s ? serviceState(s.state) : 'starting';
  }

  summary(): Record<string, unknown> {
    const s = this.host?.status().find((x) => x.name === this.app.name);
    return s ? { state: s.state, activator: s.activator, activeSince: s.activeSince, errors: s.stats.errors } : {};
  }
}

/**
 * An {@link ApplicationFactory} for a framework application, so that the `apps` setting can
 * choose it: the application is added to the node's application host, which starts, activates
 * and stops it.
 */
export function frameworkApplication(name: string, description: string, create: (config: PiConfig) => PiApplication | Promise<PiApplication>): ApplicationFactory {
  return {
    name,
    description,
    create: async (config) => new FrameworkAppService(name, await create(config)),
  };
}
