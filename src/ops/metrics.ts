/**
 * Prometheus metrics of one node (prom-client, one registry per node so that several nodes can
 * share a process in tests): messages in/out by wire type and by application, route hops,
 * overlay and transport counters, leaf set and routing table sizes, alerts, application errors,
 * event-loop lag, the Node.js process defaults, and whatever the services (DHT, Scribe, task
 * queues, …) export through {@link NodeService.metrics}.
 *
 * Counters are read from the layers' plain stats objects at scrape time: nothing on the message
 * path does more than one increment.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Env, Timer } from '../env/index.ts';
import type { MetricFamily, PiNode } from '../node/index.ts';
import { messageTypeName } from '../wire/index.ts';

/** Event-loop delay over the last window, in milliseconds. */
export interface EventLoopLag {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  windowMs: number;
}

/** Sampling period of the event-loop monitor; each sample includes it, so it is subtracted. */
const RESOLUTION_MS = 10;

/** Lag statistics of a histogram, in ms, without the sampling period. */
function lagOf(h: IntervalHistogram, windowMs: number): EventLoopLag {
  const lag = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  return { p50Ms: lag(h.percentile(50)), p99Ms: lag(h.percentile(99)), maxMs: lag(h.max), meanMs: lag(h.mean), windowMs };
}

/**
 * Event-loop lag of this process over rolling windows: the histogram is read and reset every
 * `windowMs`, so readers (scrapes, the dashboard) see the last full window.
 */
export class EventLoopMonitor {
  private readonly histogram: IntervalHistogram;
  private timer: Timer | undefined;
  private last: EventLoopLag;
  private rolled = false;

  constructor(
    private readonly env: Env,
    private readonly windowMs = 10_000,
  ) {
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.last = { p50Ms: 0, p99Ms: 0, maxMs: 0, meanMs: 0, windowMs };
  }

  start(): void {
    this.histogram.enable();
    this.timer = this.env.setInterval(() => this.roll(), this.windowMs);
  }

  private roll(): void {
    const h = this.histogram;
    if (h.count > 0) this.last = lagOf(h, this.windowMs);
    this.rolled = true;
    h.reset();
  }

  /** The last full window (or the current partial one before the first has passed). */
  read(): EventLoopLag {
    const h = this.histogram;
    if (!this.rolled && h.count > 0) return lagOf(h, this.windowMs);
    return this.last;
  }

  stop(): void {
    this.timer?.cancel();
    this.histogram.disable();
  }
}

/** Escapes a Prometheus label value. */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Prometheus text for metric families (services' metrics, summaries). Invalid names are skipped. */
export function renderFamilies(families: readonly MetricFamily[], taken: ReadonlySet<string> = new Set()): string {
  let out = '';
  const seen = new Set<string>(taken);
  for (const f of families) {
    if (!METRIC_NAME.test(f.name) || seen.has(f.name)) continue;
    seen.add(f.name);
    out += `# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${f.name} ${f.type}\n`;
    for (const v of f.values) {
      const labels = Object.entries(v.labels ?? {}).filter(([k]) => LABEL_NAME.test(k));
      const text = labels.length ? `{${labels.map(([k, val]) => `${k}="${escapeLabel(String(val))}"`).join(',')}}` : '';
      const suffix = f.type === 'summary' && (v.suffix === '_sum' || v.suffix === '_count') ? v.suffix : '';
      out += `${f.name}${suffix}${text} ${Number.isFinite(v.value) ? v.value : 'NaN'}\n`;
    }
  }
  return out;
}

/** The metrics of one node. */
export class NodeMetrics {
  readonly registry = new Registry();

  constructor(
    private readonly node: PiNode,
    lag: EventLoopMonitor,
  ) {
    const r = [this.registry];
    const n = node;
    collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'pi_node_info',
      help: 'Constant 1, labelled with the node id, address and version.',
      labelNames: ['id', 'addr', 'version'],
      registers: r,
      collect() {
        this.reset();
        this.set({ id: n.id.hex, addr: n.address, version: n.version }, 1);
      },
    });
    new Gauge({
      name: 'pi_node_ready',
      help: '1 when the node is part of the ring.',
      registers: r,
      collect() {
        this.set(n.state === 'ready' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pi_node_uptime_seconds',
      help: 'Seconds since the node started.',
      registers: r,
      collect() {
        this.set((n.env.now() - n.startedAt) / 1000);
      },
    });
    new Counter({
      name: 'pi_messages_total',
      help: 'Node-to-node messages sent (out) and received (in), by wire message type.',
      labelNames: ['direction', 'type'],
      registers: r,
      collect() {
        this.reset();
        for (const direction of ['in', 'out'] as const) {
          const arr = n.counting.counts[direction].byType;
          for (let t = 0; t < arr.length; t++) if (arr[t]! > 0) this.inc({ direction, type: messageTypeName(t) }, arr[t]!);
        }
      },
    });
    new Counter({
      name: 'pi_app_messages_total',
      help: 'Application messages (ROUTE and DIRECT hops) sent and received, by application.',
      labelNames: ['direction', 'app'],
      registers: r,
      collect() {
        this.reset();
        for (const direction of ['in', 'out'] as const) {
          for (const [app, count] of n.counting.counts[direction].byApp) this.inc({ direction, app }, count);
        }
      },
    });
    new Counter({
      name: 'pi_transport_bytes_total',
      help: 'Bytes through the node-to-node transport.',
      labelNames: ['direction'],
      registers: r,
      collect() {
        this.reset();
        this.inc({ direction: 'in' }, n.transport.stats.bytesIn);
        this.inc({ direction: 'out' }, n.transport.stats.bytesOut);
      },
    });
    const transportCounter = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers: r,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    transportCounter('pi_transport_dropped_total', 'Messages dropped before sending (peer unreachable, backoff, queue full).', () => n.transport.stats.dropped);
    transportCounter('pi_transport_rejected_total', 'Connections or frames refused (bad certificate, malformed, bad handshake).', () => n.transport.stats.rejected);
    transportCounter('pi_transport_dials_total', 'Outbound connection attempts.', () => n.transport.stats.dials);
    transportCounter('pi_transport_dial_failures_total', 'Outbound connection attempts that failed.', () => n.transport.stats.dialFailures);
    new Gauge({
      name: 'pi_transport_connections',
      help: 'Open node-to-node connections.',
      registers: r,
      collect() {
        this.set(n.transport.connectionInfo().filter((c) => c.state === 'open').length);
      },
    });
    new Counter({
      name: 'pi_overlay_events_total',
      help: 'Overlay routing counters by kind (forwarded, delivered, reroutes, dropped, ...).',
      labelNames: ['kind'],
      registers: r,
      collect() {
        this.reset();
        const s = n.overlay.stats;
        const kinds: [string, number][] = [
          ['routed_originated', s.routedOriginated],
          ['forwarded', s.forwarded],
          ['delivered', s.delivered],
          ['direct_sent', s.directSent],
          ['direct_delivered', s.directDelivered],
          ['reroutes', s.reroutes],
          ['dropped', s.dropped],
          ['duplicates_dropped', s.duplicatesDropped],
          ['hop_ack_timeouts', s.hopAckTimeouts],
          ['probes_sent', s.probesSent],
          ['nodes_declared_dead', s.nodesDeclaredDead],
        ];
        for (const [kind, v] of kinds) this.inc({ kind }, v);
      },
    });
    new Gauge({
      name: 'pi_leafset_size',
      help: 'Members of the leaf set.',
      registers: r,
      collect() {
        this.set(n.overlay.leafSetMembers().length);
      },
    });
    new Gauge({
      name: 'pi_ring_size_estimate',
      help: 'Nodes in the ring, as this node estimates from its leaf set (exact while the ring is smaller than the leaf set).',
      registers: r,
      collect() {
        this.set(n.overlay.estimatedRingSize());
      },
    });
    new Gauge({
      name: 'pi_routing_table_size',
      help: 'Entries in the routing table.',
      registers: r,
      collect() {
        this.set(n.overlay.routingTable().reduce((acc, row) => acc + row.filter((h) => h !== null).length, 0));
      },
    });
    new Gauge({
      name: 'pi_alerts_active',
      help: 'Active alerts, by code and severity.',
      labelNames: ['code', 'severity'],
      registers: r,
      collect() {
        this.reset();
        for (const a of n.alerts.list()) this.inc({ code: a.code, severity: a.severity }, 1);
      },
    });
    new Gauge({
      name: 'pi_disk_free_bytes',
      help: "Free bytes on the file systems the node stores on (the data directory's; a chunk folder on its own disk too), as the storage reserve last read them.",
      labelNames: ['dir'],
      registers: r,
      collect() {
        this.reset();
        for (const st of n.spaceStates()) if (st.freeBytes >= 0) this.set({ dir: st.dir }, st.freeBytes);
      },
    });
    new Gauge({
      name: 'pi_storage_reserve_bytes',
      help: 'The storage reserve: below this much free space the node stores no new data (storage.reserveBytes / storage.reservePercent).',
      labelNames: ['dir'],
      registers: r,
      collect() {
        this.reset();
        for (const st of n.spaceStates()) this.set({ dir: st.dir }, st.reserveBytes);
      },
    });
    new Gauge({
      name: 'pi_storage_refusing',
      help: '1 while the node refuses writes that add data on that file system (its free space is below the storage reserve; alert DiskFull).',
      labelNames: ['dir'],
      registers: r,
      collect() {
        this.reset();
        for (const st of n.spaceStates()) this.set({ dir: st.dir }, st.refusing ? 1 : 0);
      },
    });
    new Counter({
      name: 'pi_storage_writes_refused_total',
      help: 'Writes refused for want of disk space, by store (dht: records, chunks: S3 chunk files).',
      labelNames: ['store'],
      registers: r,
      collect() {
        this.reset();
        const by: Record<string, number> = {};
        for (const st of n.spaceStates()) for (const [store, count] of Object.entries(st.refused)) by[store] = (by[store] ?? 0) + count;
        for (const [store, count] of Object.entries(by)) this.inc({ store }, count);
      },
    });
    new Counter({
      name: 'pi_app_errors_total',
      help: 'Errors reported by each service or application (the node keeps running).',
      labelNames: ['app'],
      registers: r,
      collect() {
        this.reset();
        for (const s of n.services()) this.inc({ app: s.service.name }, s.errors);
      },
    });
    new Gauge({
      name: 'pi_app_active',
      help: '1 for each service or application in the given state.',
      labelNames: ['app', 'kind', 'state'],
      registers: r,
      collect() {
        this.reset();
        for (const s of n.services()) this.set({ app: s.service.name, kind: s.kind, state: s.state }, 1);
      },
    });
    const lagGauge = new Gauge({
      name: 'pi_event_loop_lag_seconds',
      help: 'Event-loop delay over the last 10 s window, by quantile (0.5, 0.99, 1 = max).',
      labelNames: ['quantile'],
      registers: r,
      collect() {
        const l = lag.read();
        lagGauge.set({ quantile: '0.5' }, l.p50Ms / 1000);
        lagGauge.set({ quantile: '0.99' }, l.p99Ms / 1000);
        lagGauge.set({ quantile: '1' }, l.maxMs / 1000);
      },
    });
  }

  /** The Prometheus exposition text. */
  async text(): Promise<string> {
    const base = await this.registry.metrics();
    const s = this.node.overlay.stats;
    const extra =
      `# HELP pi_route_hops Overlay hops of routed messages delivered here (sum and count; average = sum / count).\n` +
      `# TYPE pi_route_hops summary\npi_route_hops_sum ${s.hopsSum}\npi_route_hops_count ${s.delivered}\n`;
    const taken = new Set(this.registry.getMetricsAsArray().map((m) => m.name));
    taken.add('pi_route_hops');
    return base + extra + renderFamilies(this.node.serviceMetrics(), taken);
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
