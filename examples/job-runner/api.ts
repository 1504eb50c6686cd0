/**
 * The job API: an exposed service. One node at a time (per seeded address) serves it; when that
 * node dies, another takes the address within the expiry period and clients carry on.
 *
 * - `POST /jobs` `{ id?, input: { n, workMs? } }` → 202 `{ id, state }`. The job is durable once
 *   answered: its record is written and its task queued (both idempotent, so a client that
 *   retries with the same id submits once). Then it is anycast to a worker with a free slot; if
 *   none takes it now, the queue's watchers dispatch it later.
 * - `GET /jobs/:id` → the job record (state, result).
 * - `GET /jobs?state=running` → jobs matching, from the supernodes' summaries (search and
 *   aggregation: at most one publish interval old).
 * - `GET /health` → which node serves, on which address.
 */
import { ExposedServiceApplication } from '../../src/app/index.ts';
import type { AddressDriver, SupernodeAggregator } from '../../src/app/index.ts';
import type { Scope } from '../../src/id/index.ts';
import type { ApiRequest, ApiResponse, Listener, ListenerFactory } from './api-transport.ts';
import { API_APP, JOB_QUEUE, WORKER_APP, checkInput, checkJobId, jobId, jobUri } from './jobs.ts';
import type { JobRecord } from './jobs.ts';
import type { JobWorker } from './worker.ts';

/** Settings of the API. */
export interface JobApiOptions {
  driver: AddressDriver;
  listeners: ListenerFactory;
  port: number;
  scope?: Scope | 'global' | 'region' | 'az';
  /** Failover bound of the API address. Default 15 s. */
  expiryMs?: number;
  /** Period of the job summaries sent to supernodes. Default 10 s. */
  summaryIntervalMs?: number;
}

/** A job as the search answers it. */
export interface JobSummary {
  id: string;
  state: string;
  node?: string;
}

/** The job API application. */
export class JobApi extends ExposedServiceApplication {
  private listener: Listener | undefined;
  private search!: SupernodeAggregator<JobRecord, JobSummary>;
  readonly counters = { submitted: 0, duplicates: 0, dispatchedNow: 0 };

  constructor(private readonly settings: JobApiOptions) {
    super(API_APP, { driver: settings.driver, ...(settings.scope ? { scope: settings.scope } : {}), ...(settings.expiryMs ? { expiryMs: settings.expiryMs } : {}) });
  }

  override onStart(): void {
    // Every node summarises the job records it is the root of for the supernodes.
    this.search = this.aggregator<JobRecord, JobSummary>({
      name: 'jobs',
      type: 'job',
      publishIntervalMs: this.settings.summaryIntervalMs ?? 10_000,
      summarise: (r) => ({ id: r.body.id, state: r.body.state, ...(r.body.node ? { node: r.body.node } : {}) }),
    });
  }

  async startService(address: string): Promise<void> {
    this.listener = await this.settings.listeners.listen(address, this.settings.port, (req) => this.handle(req));
  }

  async stopService(): Promise<void> {
    const l = this.listener;
    this.listener = undefined;
    await l?.close();
  }

  /** Handles one API request. */
  async handle(req: ApiRequest): Promise<ApiResponse> {
    const parts = req.path.split('/').filter((p) => p !== '');
    if (req.method === 'GET' && parts.length === 1 && parts[0] === 'health') return { status: 200, body: { node: this.node.id.hex, address: this.address, active: this.isActive } };
    if (parts[0] !== 'jobs' || parts.length > 2) return { status: 404, body: { error: { code: 'NotFound', message: `no route ${req.method} ${req.path}` } } };
    if (req.method === 'POST' && parts.length === 1) return this.submitRequest(req.body);
    if (req.method === 'GET' && parts.length === 2) {
      const id = checkJobId(parts[1]);
      if (!id) return { status: 400, body: { error: { code: 'InvalidId', message: 'job ids are 1-100 characters of A-Z a-z 0-9 . _ -' } } };
      const r = await this.dht.get<JobRecord>(jobId(id));
      return r ? { status: 200, body: r.body } : { status: 404, body: { error: { code: 'NoSuchJob', message: `no job ${id}` } } };
    }
    if (req.method === 'GET' && parts.length === 1) {
      const query: Record<string, unknown> = {};
      const state = req.query.get('state');
      if (state) query.state = state;
      const a = await this.search.query(query);
      return { status: 200, body: { jobs: a.entries, nodes: a.nodes, oldestSummaryAt: a.oldestAt, supernode: a.supernode.id.hex } };
    }
    return { status: 405, body: { error: { code: 'MethodNotAllowed', message: `${req.method} is not allowed on ${req.path}` } } };
  }

  private async submitRequest(body: unknown): Promise<ApiResponse> {
    const b = (body ?? {}) as { id?: unknown; input?: unknown };
    const id = b.id === undefined ? this.env.random.hex(8) : checkJobId(b.id);
    if (!id) return { status: 400, body: { error: { code: 'InvalidId', message: 'job ids are 1-100 characters of A-Z a-z 0-9 . _ -' } } };
    const input = checkInput(b.input);
    if (typeof input === 'string') return { status: 400, body: { error: { code: 'InvalidInput', message: input } } };
    const job = await this.submit(id, input);
    return { status: 202, body: { id, state: job.state } };
  }

  /** Makes a job durable (record + queued task, both idempotent), then offers it to the workers. */
  async submit(id: string, input: JobRecord['input']): Promise<JobRecord> {
    const ctx = this.newMessageContext();
    const record: JobRecord = { type: 'job', url: jobUri(id), id, state: 'queued', input, submittedAt: this.env.now() };
    const w = await this.dht.writeIfAbsent<JobRecord>(jobId(id), record);
    if (!w.written && (w.record.body.state === 'done' || w.record.body.state === 'failed')) {
      this.counters.duplicates++;
      return w.record.body;
    }
    // Queued even when the record existed: a retry after a lost answer must not lose the job.
    const q = await this.queues.add(JOB_QUEUE, jobUri(id), { own: false, data: { id, input: w.record.body.input } });
    if (!w.written && !q.added) {
      this.counters.duplicates++;
      return w.record.body;
    }
    this.counters.submitted++;
    ctx.log.info({ event: 'job.submitted', job: id }, `job ${id} submitted`);
    if (w.record.body.state === 'queued') {
      const worker = this.host.get<JobWorker>(WORKER_APP);
      void worker
        ?.dispatch({ id, input: w.record.body.input }, ctx.tx)
        .then(() => void this.counters.dispatchedNow++)
        .catch(() => {}); // no free worker now: the queue's watchers dispatch it later
    }
    return w.record.body;
  }
}
