/**
 * The ring as one node can see it. Every node runs a small overlay application, `pi.node`, that
 * answers `info` requests with a summary of itself (health, applications, leaf set, service
 * summaries, recent notable events). The ops API and dashboard of any node walk the ring through
 * these answers — from the node's own leaf set and routing table outward along leaf sets — so the
 * picture covers the whole ring without any central server, node to node over mutual TLS.
 *
 * The same application records the overlay's arrival, departure and leaf-set events in the
 * node's event log.
 */
import type { Env } from '../env/index.ts';
import { Id } from '../id/index.ts';
import { RpcEndpoint } from '../overlay/index.ts';
import type { DepartureReason, LeafSetChange, PastryNode, RpcRequest } from '../overlay/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import type { NodeEvent, EventLog } from './events.ts';

/** Name of the overlay application. */
export const NODE_APP = 'pi.node';

/** Health of a node as others see it. */
export type NodeHealth = 'starting' | 'ok' | 'degraded' | 'critical' | 'stopping' | 'unreachable';

/** What a node tells others about itself (serialisable). */
export interface NodeSummary {
  id: string;
  addr: string;
  state: string;
  health: NodeHealth;
  version: string;
  startedAt: number;
  region?: number;
  az?: number;
  opsUrl?: string;
  alerts: { code: string; severity: string; message: string; subject?: string }[];
  apps: { name: string; kind: string; state: string }[];
  leafSet: { id: string; addr: string }[];
  routingTableSize: number;
  services: Record<string, Record<string, unknown>>;
  endpoints: Record<string, string>;
  /** Recent notable events (newest last). */
  events: NodeEvent[];
  /** When this summary was made (the answering node's clock). */
  at: number;
}

/** A node found while walking the ring. */
export interface RingMember {
  id: string;
  addr: string;
  /** Undefined when the node did not answer. */
  summary?: NodeSummary;
  health: NodeHealth;
  /** Round trip of the info request (ms), when answered. */
  rttMs?: number;
}

/** The result of walking the ring. */
export interface RingSnapshot {
  /** Node that made the walk. */
  self: string;
  at: number;
  /** Sorted by id. */
  members: RingMember[];
  /** True when the walk stopped at its limit. */
  truncated: boolean;
  durationMs: number;
}

/** Events worth showing ring-wide (leaf-set churn is local detail). */
const NOTABLE = (e: NodeEvent): boolean => e.type !== 'leafset.changed';

/** Options of {@link RingView}. */
export interface RingViewOptions {
  /** Most nodes visited by a walk. Default 1000. */
  limit?: number;
  /** Timeout of one info request. Default 2000 ms. */
  requestTimeoutMs?: number;
  /** Info requests in flight at once. Default 16. */
  concurrency?: number;
  /** A walk younger than this is reused. Default 1500 ms. */
  cacheMs?: number;
  /** Events carried in each summary. Default 20. */
  eventsPerNode?: number;
}

/**
 * The `pi.node` application of one node: answers info requests, records overlay events, and walks
 * the ring on demand.
 */
export class RingView {
  readonly endpoint: RpcEndpoint;
  private cached: { at: number; snapshot: Promise<RingSnapshot> } | undefined;
  private readonly options: Required<RingViewOptions>;

  constructor(
    private readonly env: Env,
    private readonly overlay: PastryNode,
    private readonly events: EventLog,
    private readonly summarize: () => NodeSummary,
    options: RingViewOptions = {},
  ) {
    this.options = { limit: 1000, requestTimeoutMs: 2000, concurrency: 16, cacheMs: 1500, eventsPerNode: 20, ...options };
    this.endpoint = new RpcEndpoint(NODE_APP, overlay, env, {
      onRequest: (req) => this.onRequest(req),
      onNodeArrived: (h) => this.events.record('node.arrived', `node ${h.id.short()} joined (${h.addr})`, { data: { peer: h.id.hex, addr: h.addr } }),
      onNodeDeparted: (h, reason) => this.onDeparted(h, reason),
      onLeafSetChanged: (c) => this.onLeafSetChanged(c),
    });
    overlay.register(this.endpoint);
  }

  /** This node's summary with its recent notable events. */
  summary(): NodeSummary {
    return this.summarize();
  }

  /** Recent notable events for summaries. */
  recentEvents(): NodeEvent[] {
    const out = this.events.list({ limit: 200 }).filter(NOTABLE);
    return out.slice(Math.max(0, out.length - this.options.eventsPerNode));
  }

  private onRequest(req: RpcRequest): { body: unknown } | undefined {
    if (req.kind === 'info') return { body: this.summarize() };
    if (req.kind === 'events') {
      const since = typeof (req.body as { since?: unknown })?.since === 'number' ? (req.body as { since: number }).since : 0;
      return { body: this.events.list({ since, limit: 200 }) };
    }
    return { body: { error: 'UnknownRequest', message: `unknown request kind "${req.kind}"` } };
  }

  private onDeparted(h: NodeHandle, reason: DepartureReason): void {
    const what = reason === 'left' ? 'left the ring' : 'failed';
    this.events.record('node.departed', `node ${h.id.short()} ${what} (${h.addr})`, { level: reason === 'left' ? 'info' : 'warn', data: { peer: h.id.hex, addr: h.addr, reason } });
  }

  private onLeafSetChanged(c: LeafSetChange): void {
    const added = c.added.map((h) => h.id.short());
    const removed = c.removed.map((h) => h.id.short());
    this.events.record('leafset.changed', `leaf set ${added.length ? `+${added.join(',+')}` : ''}${removed.length ? ` -${removed.join(',-')}` : ''}`.trim(), {
      data: { added, removed },
    });
  }

  /** Asks one node for its summary. */
  async ask(handle: NodeHandle): Promise<{ summary: NodeSummary; rttMs: number }> {
    const started = this.env.now();
    const res = await this.endpoint.requestDirect(handle, 'info', null, { timeoutMs: this.options.requestTimeoutMs });
    return { summary: res.body as NodeSummary, rttMs: this.env.now() - started };
  }

  /**
   * Walks the ring breadth-first along leaf sets, starting from everything this node knows, and
   * returns every node found (with its summary, or as unreachable). Reuses a recent walk.
   */
  walk(options: { fresh?: boolean } = {}): Promise<RingSnapshot> {
    const now = this.env.now();
    if (!options.fresh && this.cached && now - this.cached.at < this.options.cacheMs) return this.cached.snapshot;
    const snapshot = this.doWalk();
    this.cached = { at: now, snapshot };
    snapshot.catch(() => {
      if (this.cached?.snapshot === snapshot) this.cached = undefined;
    });
    return snapshot;
  }

  private async doWalk(): Promise<RingSnapshot> {
    const started = this.env.now();
    const selfHex = this.overlay.id.hex;
    const members = new Map<string, RingMember>();
    const self = this.summarize();
    members.set(selfHex, { id: selfHex, addr: self.addr, summary: self, health: self.health, rttMs: 0 });
    const queue: NodeHandle[] = [];
    const seen = new Set<string>([selfHex]);
    const enqueue = (h: { id: string | Id; addr: string }): void => {
      const hex = typeof h.id === 'string' ? h.id : h.id.hex;
      if (seen.has(hex)) return;
      const id = typeof h.id === 'string' ? Id.tryParse(h.id) : h.id;
      if (!id) return;
      seen.add(hex);
      queue.push({ id, addr: h.addr });
    };
    for (const h of this.overlay.knownNodes()) enqueue(h);
    for (const h of self.leafSet) enqueue(h);
    let truncated = false;
    let visited = 1;
    const worker = async (): Promise<void> => {
      for (;;) {
        const h = queue.shift();
        if (!h) return;
        if (visited >= this.options.limit) {
          truncated = true;
          return;
        }
        visited++;
        try {
          const { summary, rttMs } = await this.ask(h);
          members.set(h.id.hex, { id: h.id.hex, addr: h.addr, summary, health: summary.health, rttMs });
          for (const m of summary.leafSet ?? []) enqueue(m);
        } catch {
          members.set(h.id.hex, { id: h.id.hex, addr: h.addr, health: 'unreachable' });
        }
      }
    };
    // Workers pick up nodes found by others; a worker that finds the queue empty while others are
    // still asking exits, so keep starting rounds until the queue stays empty.
    while (queue.length > 0 && !truncated) {
      await Promise.all(Array.from({ length: Math.min(this.options.concurrency, queue.length) }, worker));
    }
    if (queue.length > 0) truncated = true;
    const sorted = [...members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { self: selfHex, at: this.env.now(), members: sorted, truncated, durationMs: this.env.now() - started };
  }

  close(): void {
    this.endpoint.close();
  }
}
