/**
 * The ops HTTP server of one node: `/health` (open), the JSON ops API under `/api/` and
 * `/metrics` (bearer token), and the dashboard's static files (open: they hold no data; the page
 * asks for the token and sends it with every API call).
 *
 * Services plug their own routes in (the DHT's `/api/dht/...`, Scribe's `/api/topics`, the task
 * queues' `/api/queues`); where no service provides one of the documented routes yet, it answers
 * 503 `NotAvailable` naming what is missing.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../env/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import { loadOrCreateToken, redactConfig } from '../node/index.ts';
import type { ApplicationRegistry, NodeEvent, OpsRequest, PiNode, RingSnapshot } from '../node/index.ts';
import { loadDashboard } from './dashboard-files.ts';
import type { StaticFile } from './dashboard-files.ts';
import { HttpError, Router, errorResponse, hasToken, readJsonBody, sendJson, statusForCode } from './http.ts';
import type { Route } from './http.ts';
import { EventLoopMonitor, NodeMetrics } from './metrics.ts';

/** Failure to serve the ops API, with a stable code. */
export class OpsError extends Error {
  constructor(
    readonly code: 'ListenFailed',
    message: string,
  ) {
    super(message);
    this.name = 'OpsError';
  }
}

/** Options of {@link OpsServer.start}; defaults come from the node's `ops.*` settings. */
export interface OpsServerOptions {
  bind?: string;
  port?: number;
  /** Bearer token; default: `ops.token`, else the token file (generated if missing). */
  token?: string;
  dashboard?: boolean;
  /** Known applications, listed by `/api/apps`. */
  applications?: ApplicationRegistry;
}

/** Parses a non-negative integer query parameter. */
function intParam(query: URLSearchParams, name: string, def: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new HttpError(400, 'InvalidRequest', `query parameter "${name}" must be a non-negative integer, got "${raw.slice(0, 40)}"`);
  return Math.min(n, max);
}

function boolParam(query: URLSearchParams, name: string, def: boolean): boolean {
  const raw = query.get(name);
  if (raw === null) return def;
  if (['1', 'true', 'yes', ''].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new HttpError(400, 'InvalidRequest', `query parameter "${name}" must be true or false, got "${raw.slice(0, 40)}"`);
}

/** Events of the whole ring from a walk, newest first, without duplicates. */
export function ringEvents(snapshot: RingSnapshot, local: NodeEvent[], limit: number): NodeEvent[] {
  const seen = new Set<string>();
  const out: NodeEvent[] = [];
  const add = (e: NodeEvent): void => {
    const key = `${e.node}:${e.seq}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(e);
  };
  for (const e of local) add(e);
  for (const m of snapshot.members) for (const e of m.summary?.events ?? []) add(e);
  out.sort((a, b) => b.time - a.time || (a.node < b.node ? -1 : 1));
  return out.slice(0, limit);
}

/** The ops HTTP server of one node. */
export class OpsServer {
  readonly metrics: NodeMetrics;
  private readonly router = new Router();
  private readonly log: Logger;
  private readonly sockets = new Set<Socket>();
  private dashboardFiles = new Map<string, StaticFile>();
  private server: Server | undefined;
  private urlValue = '';

  private constructor(
    readonly node: PiNode,
    private readonly token: string,
    private readonly lag: EventLoopMonitor,
    private readonly options: OpsServerOptions,
  ) {
    this.log = node.env.log.child({ mod: 'ops' });
    this.metrics = new NodeMetrics(node, lag);
    this.buildRoutes();
  }

  /** Starts serving; sets `node.opsUrl`. Throws {@link OpsError} `ListenFailed`. */
  static async start(node: PiNode, options: OpsServerOptions = {}): Promise<OpsServer> {
    const cfg = node.config.ops;
    const token = options.token ?? cfg.token ?? (await loadOrCreateToken(cfg.tokenFile, node.env.random)).token;
    const lag = new EventLoopMonitor(node.env);
    lag.start();
    const ops = new OpsServer(node, token, lag, options);
    if (options.dashboard ?? cfg.dashboard) ops.dashboardFiles = await loadDashboard();
    try {
      await ops.listen(options.bind ?? cfg.bind, options.port ?? cfg.port);
    } catch (err) {
      lag.stop();
      throw err;
    }
    return ops;
  }

  /** Base URL, e.g. `http://127.0.0.1:4525`. */
  get url(): string {
    return this.urlValue;
  }

  /** The dashboard's URL with the token in the fragment (never sent to the server by browsers). */
  get dashboardUrl(): string {
    return `${this.urlValue}/#token=${encodeURIComponent(this.token)}`;
  }

  private listen(bind: string, port: number): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.keepAliveTimeout = 5000;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new OpsError('ListenFailed', `setting "ops.port": cannot listen on ${bind}:${port} for the ops API: ${err.message}`)));
      server.listen({ host: bind, port }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.log.error({ code: 'OpsServerError', err }, `ops server error: ${err.message}`));
        this.server = server;
        const addr = server.address() as AddressInfo;
        const host = bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind.includes(':') ? `[${bind}]` : bind;
        this.urlValue = `http://${host}:${addr.port}`;
        this.node.opsUrl = this.urlValue;
        this.log.info({ event: 'ops.listening', url: this.urlValue }, `ops API and dashboard at ${this.urlValue}`);
        resolve();
      });
    });
  }

  /** Stops serving (open connections are closed). */
  async close(): Promise<void> {
    this.lag.stop();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }

  // ---- routes ------------------------------------------------------------------------------

  private buildRoutes(): void {
    const node = this.node;
    const r = this.router;
    r.add({ method: 'GET', path: '/health', auth: false, description: 'Liveness and readiness (no token needed).', handler: () => this.health() });
    r.add({ method: 'GET', path: '/api', description: 'This route index.', handler: () => ({ body: { routes: this.routeIndex() } }) });
    r.add({ method: 'GET', path: '/api/node', description: 'This node: identity, state, health, alerts, services, transport and overlay counters.', handler: () => ({ body: this.nodeInfo() }) });
    r.add({
      method: 'GET',
      path: '/api/node/decommission',
      description: 'The decommission of this node in progress, if any (state, per-service progress).',
      handler: () => ({ body: { decommission: node.decommissionStatus() ?? null } }),
    });
    r.add({
      method: 'POST',
      path: '/api/node/decommission',
      description: 'Decommissions this node: copies what it holds (S3 chunks) to the nodes that take its place, then leaves the ring for good and stops. Answers 202 at once; follow GET /api/node/decommission.',
      handler: () => {
        if (node.state !== 'ready' || node.decommissionStatus()) {
          return { status: 409, body: { error: { code: 'InvalidState', message: node.decommissionStatus() ? 'the node is already being decommissioned' : `cannot decommission a node that is ${node.state}` } } };
        }
        node.decommission().catch((err: Error) => this.log.error({ code: 'DecommissionFailed', err: { message: err.message } }, `decommission failed: ${err.message}`));
        return { status: 202, body: { decommission: node.decommissionStatus() ?? null } };
      },
    });
    r.add({
      method: 'GET',
      path: '/api/ring',
      description: "This node's leaf set and routing table; with ?walk=true the ring as far as it can be walked.",
      handler: async (req) => ({ body: await this.ring(boolParam(req.query, 'walk', false)) }),
    });
    r.add({ method: 'GET', path: '/api/apps', description: 'Services and applications on this node and, walking the ring, on every node.', handler: async (req) => ({ body: await this.apps(boolParam(req.query, 'walk', true)) }) });
    r.add({
      method: 'GET',
      path: '/api/events',
      description: 'Recent events (?scope=local|ring, ?since=seq, ?limit=n, ?types=a,b).',
      handler: async (req) => ({ body: await this.eventsRoute(req) }),
    });
    r.add({
      method: 'GET',
      path: '/api/alerts',
      description: 'Active alerts (?scope=local|ring).',
      handler: async (req) => {
        if (req.query.get('scope') !== 'ring') return { body: { alerts: node.alerts.list() } };
        const walk = await node.ringView.walk();
        return { body: { alerts: walk.members.flatMap((m) => (m.summary?.alerts ?? []).map((a) => ({ node: m.id, addr: m.addr, ...a }))) } };
      },
    });
    r.add({
      method: 'GET',
      path: '/metrics',
      description: 'Prometheus metrics.',
      handler: async (_req, { res }) => {
        const text = await this.metrics.text();
        res.writeHead(200, { 'content-type': this.metrics.contentType });
        res.end(text);
        return 'handled' as const;
      },
    });
    // Services' own routes come before the fallbacks below.
    for (const { service } of node.services()) {
      let routes;
      try {
        routes = service.routes?.() ?? [];
      } catch (err) {
        node.reportServiceError(service.name, err, 'routes');
        continue;
      }
      for (const route of routes) {
        const path = route.path.startsWith('/api/') ? route.path : `/api/${route.path.replace(/^\/+/, '')}`;
        r.add({
          method: route.method,
          path,
          description: `${route.description} (${service.name})`,
          handler: async (req) => {
            try {
              return await route.handler(req);
            } catch (err) {
              // Client errors (a typed code below 500) are the caller's; everything else counts against the service.
              const status = err instanceof HttpError ? err.status : statusForCode((err as { code?: string })?.code);
              // (507: disk full, which the node's DiskFull alert reports once.)
              if (status >= 500 && status !== 503 && status !== 504 && status !== 507) node.reportServiceError(service.name, err, `route ${route.method} ${path}`);
              throw err;
            }
          },
        });
      }
    }
    const missing = (what: string, provider: string): Route['handler'] => () => {
      throw new HttpError(503, 'NotAvailable', `no service on this node provides ${what}: it needs ${provider}`);
    };
    r.add({ method: 'GET', path: '/api/topics', description: 'Topics (provided by Scribe).', handler: missing('topics', 'Scribe (src/scribe)') });
    r.add({ method: 'GET', path: '/api/queues', description: 'Task queues (provided by the application framework).', handler: missing('task queues', 'the application framework (src/app)') });
    r.add({ method: 'GET', path: '/api/queues/:name', description: 'One task queue (provided by the application framework).', handler: missing('task queues', 'the application framework (src/app)') });
    for (const method of ['GET', 'PUT', 'POST'] as const) {
      r.add({ method, path: '/api/dht/*rest', description: 'DHT records (provided by the DHT).', handler: missing('the DHT', 'the DHT service (src/dht)') });
    }
    // Dashboard.
    r.add({ method: 'GET', path: '/', auth: false, description: 'The dashboard.', handler: (_req, raw) => this.serveStatic('index.html', raw.res) });
    r.add({ method: 'GET', path: '/dashboard/:file', auth: false, description: 'Dashboard assets.', handler: (req, raw) => this.serveStatic(req.params['file']!, raw.res) });
  }

  private routeIndex(): { method: string; path: string; auth: boolean; description: string }[] {
    return this.router.list().map((x) => ({ method: x.method, path: x.path, auth: x.auth !== false, description: x.description }));
  }

  private serveStatic(name: string, res: ServerResponse): 'handled' {
    const file = this.dashboardFiles.get(name);
    if (!file) throw new HttpError(404, 'NotFound', this.dashboardFiles.size === 0 ? 'the dashboard is disabled on this node (ops.dashboard)' : `no dashboard file "${name}"`);
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    res.end(file.content);
    return 'handled';
  }

  private health(): { status: number; body: unknown } {
    const n = this.node;
    const health = n.health();
    const ready = n.state === 'ready';
    return {
      status: ready ? 200 : 503,
      body: { status: health, state: n.state, ready, id: n.id.hex, addr: n.address, leafSet: n.overlay.leafSetMembers().length, alerts: n.alerts.list().length },
    };
  }

  /** `/api/node`. */
  nodeInfo(): Record<string, unknown> {
    const n = this.node;
    const summary = n.summary();
    return {
      ...summary,
      events: undefined,
      dataDir: n.config.dataDir,
      uptimeMs: n.env.now() - n.startedAt,
      pid: process.pid,
      memoryRssBytes: process.memoryUsage().rss,
      eventLoop: this.lag.read(),
      disk: n.monitor.disk,
      storage: n.spaceStates(),
      certificate: n.certificate,
      secure: !n.config.insecure,
      transport: { address: n.address, stats: n.transport.stats, connections: n.transport.connectionInfo().length },
      overlay: { state: n.overlay.state, stats: n.overlay.stats },
      messages: n.counting.byType(),
      services: n.services().map((s) => ({ name: s.service.name, kind: s.kind, state: s.state, errors: s.errors })),
      serviceSummaries: summary.services,
      config: redactConfig(n.config),
    };
  }

  private async ring(walk: boolean): Promise<Record<string, unknown>> {
    const n = this.node;
    const o = n.overlay;
    const side = (hs: NodeHandle[]): unknown[] => hs.map((h) => ({ id: h.id.hex, addr: h.addr, rttMs: o.rttTo(h.id) }));
    const ls = o.leafSet();
    const rows = o
      .routingTable()
      .map((entries, row) => ({ row, entries: entries.flatMap((h, col) => (h ? [{ col, id: h.id.hex, addr: h.addr }] : [])) }))
      .filter((x) => x.entries.length > 0);
    const body: Record<string, unknown> = {
      self: { id: n.id.hex, addr: n.address },
      state: o.state,
      leafSet: { left: side(ls.left), right: side(ls.right), size: o.leafSetMembers().length, capacity: o.options.leafSetSize },
      routingTable: { size: rows.reduce((a, x) => a + x.entries.length, 0), rows },
      known: o.knownNodes().length,
      estimatedRingSize: o.estimatedRingSize(),
    };
    if (walk) body['walk'] = await n.ringView.walk();
    return body;
  }

  private async apps(walk: boolean): Promise<Record<string, unknown>> {
    const n = this.node;
    const local = n.services().map((s) => ({ name: s.service.name, kind: s.kind, state: s.state, errors: s.errors }));
    const available = this.options.applications?.list().map((a) => ({ name: a.name, description: a.description })) ?? [];
    const body: Record<string, unknown> = { node: n.id.hex, local, available };
    if (walk) {
      const snapshot = await n.ringView.walk();
      body['ring'] = snapshot.members.map((m) => ({ id: m.id, addr: m.addr, health: m.health, apps: m.summary?.apps ?? [] }));
      body['truncated'] = snapshot.truncated;
    }
    return body;
  }

  private async eventsRoute(req: OpsRequest): Promise<Record<string, unknown>> {
    const n = this.node;
    const limit = intParam(req.query, 'limit', 100, 1000);
    const since = intParam(req.query, 'since', 0, Number.MAX_SAFE_INTEGER);
    const typesRaw = req.query.get('types');
    const types = typesRaw ? typesRaw.split(',').filter((t) => t !== '') : undefined;
    const scope = req.query.get('scope') ?? 'local';
    if (scope !== 'local' && scope !== 'ring') throw new HttpError(400, 'InvalidRequest', `query parameter "scope" must be local or ring, got "${scope.slice(0, 40)}"`);
    if (scope === 'local') return { scope, lastSeq: n.events.lastSeq, events: n.events.list({ since, limit, ...(types ? { types } : {}) }).reverse() };
    const snapshot = await n.ringView.walk();
    let events = ringEvents(snapshot, n.events.list({ limit: 200 }), 1000).filter((e) => e.type !== 'leafset.changed');
    if (types) events = events.filter((e) => types.some((t) => e.type === t || e.type.startsWith(t + '.')));
    return { scope, events: events.slice(0, limit) };
  }

  // ---- request handling --------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = this.node.env.now();
    const tx = `ops-${this.node.env.random.hex(6)}`;
    const method = req.method ?? 'GET';
    let path = '/';
    let status = 500;
    try {
      const url = new URL(req.url ?? '/', 'http://ops');
      path = url.pathname;
      const found = this.router.find(method, path);
      // Under /api/ the token is checked before the route is looked up, so that a client without
      // it cannot map the API by its 404s and 405s.
      const needsToken = 'status' in found ? path === '/api' || path.startsWith('/api/') : found.route.auth !== false;
      if (needsToken && !hasToken(req, this.token)) {
        status = 401;
        sendJson(res, 401, { error: { code: 'Unauthorized', message: 'this route needs the ops token: "Authorization: Bearer <token>" (see ops.token / the ops-token file in the data directory)' } }, { 'www-authenticate': 'Bearer', 'x-pi-tx': tx });
        return;
      }
      if ('status' in found) {
        status = found.status;
        const headers: Record<string, string> = found.allowed ? { allow: found.allowed.join(', '), 'x-pi-tx': tx } : { 'x-pi-tx': tx };
        sendJson(res, status, { error: { code: status === 404 ? 'NotFound' : 'MethodNotAllowed', message: status === 404 ? `no route ${path}` : `${method} is not allowed on ${path}` } }, headers);
        return;
      }
      const { route, params } = found;
      const body = method === 'POST' || method === 'PUT' ? await readJsonBody(req) : undefined;
      const opsReq: OpsRequest = { method, params, query: url.searchParams, body, tx };
      const out = await route.handler(opsReq, { req, res });
      if (out === 'handled') {
        status = res.statusCode;
        return;
      }
      status = out.status ?? 200;
      sendJson(res, status, out.body ?? {}, { 'x-pi-tx': tx });
    } catch (err) {
      if (err instanceof HttpError && err.code === 'ClientClosedRequest') {
        // A client going away is not a failure of the server: nothing to answer, nobody to answer to.
        status = err.status;
        this.log.info({ tx, method, path, code: err.code, status }, `ops client went away: ${err.message}`);
        res.destroy();
        return;
      }
      const { status: s, body } = errorResponse(err, this.log, { tx, method, path });
      status = s;
      // After a 413 the rest of the body is still on its way, unread: it would be taken for the
      // next request on this connection, so the connection is closed after the answer.
      const close: Record<string, string> = s === 413 ? { connection: 'close' } : {};
      if (!res.headersSent) sendJson(res, s, body, { 'x-pi-tx': tx, ...close });
      else res.destroy();
    } finally {
      this.log.debug({ tx, method, path, status, ms: this.node.env.now() - started }, 'ops request');
    }
  }
}
