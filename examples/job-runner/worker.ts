/**
 * The job worker: runs on every node, with a fixed number of job slots.
 *
 * - Subscriber resource allocation: while it has a free slot the node subscribes to the capacity
 *   topic; the API anycasts each new job there and the first node with a free slot takes it.
 * - Task queue: the node that takes a job becomes the owner of its task. Watchers re-dispatch
 *   jobs whose worker died or that nobody took (to this application's `onTask` on the watcher
 *   node, which runs the job or anycasts it on); the node nearest to a dead worker re-dispatches
 *   its jobs at once.
 * - The effect is idempotent: a job becomes `done` by a conditional update that writes only if it
 *   is not done yet, so a job run twice (its first worker died after finishing) counts once.
 * - A consumed resource registry holds a per-node "workspace" while jobs run (created for the
 *   first running job, released after the last).
 */
import { ConsumedResourceRegistry, PiApplication } from '../../src/app/index.ts';
import type { SubscriberResourcePool, Task } from '../../src/app/index.ts';
import { CAPACITY_TOPIC, JOB_QUEUE, WORKER_APP, compute, jobId, jobUri } from './jobs.ts';
import type { JobInput, JobRecord } from './jobs.ts';

/** Settings of a worker. */
export interface WorkerOptions {
  /** Jobs run at once on this node. Default 2. */
  capacity?: number;
  /** Work time of a job without its own `workMs`. Default 1 s. */
  defaultWorkMs?: number;
  /** Queue watchers' scan period. Default 3 s. */
  scanIntervalMs?: number;
  /** Observer of effects (the simulator counts them): a job became done by this node's write. */
  onEffect?: (id: string, node: string) => void;
  /** Observer of every run started (the simulator counts re-executions). */
  onRun?: (id: string, node: string) => void;
}

/** A job request as anycast to workers. */
export interface JobOffer {
  id: string;
  input: JobInput;
}

/** The job worker application. */
export class JobWorker extends PiApplication {
  readonly capacity: number;
  private running = 0;
  private pool!: SubscriberResourcePool<JobOffer, { node: string }>;
  private readonly workspace = new ConsumedResourceRegistry<{ createdAt: number }>({
    create: () => ({ createdAt: this.env.now() }),
    release: () => {},
  });
  readonly counters = { runs: 0, effects: 0, dispatched: 0, dispatchFailures: 0 };

  constructor(private readonly options: WorkerOptions = {}) {
    super(WORKER_APP);
    this.capacity = options.capacity ?? 2;
  }

  /** Jobs running on this node now. */
  get busy(): number {
    return this.running;
  }

  override async onStart(): Promise<void> {
    this.processQueue(JOB_QUEUE, { onTask: (t) => this.onTask(t), onRetriesExhausted: (t) => this.failed(t) }, { scanIntervalMs: this.options.scanIntervalMs ?? 3000 });
    this.pool = this.capacityPool<JobOffer, { node: string }>(CAPACITY_TOPIC);
    // A watcher keeps the subscription in line with the free slots (also after repairs).
    this.watchers.add('capacity', () => this.pool.update(), { intervalMs: 5000 });
    await this.pool.provide({
      hasCapacity: () => this.running < this.capacity,
      tryAllocate: (offer, _from, tx) => {
        if (this.running >= this.capacity) return undefined;
        this.running++;
        void this.run(offer.id, offer.input, true, tx);
        return { node: this.node.id.hex };
      },
    });
  }

  /**
   * A job re-dispatched here by a watcher or eager recovery (this node owns its task now): run it
   * here if a slot is free, else offer it to the other workers.
   */
  private async onTask(task: Task): Promise<void> {
    const offer = task.data as JobOffer | undefined;
    if (!offer?.id) {
      await this.queues.remove(JOB_QUEUE, task.uri);
      return;
    }
    if (this.running < this.capacity) {
      this.running++;
      void this.run(offer.id, offer.input, false);
      return;
    }
    try {
      await this.dispatch(offer);
    } catch {
      this.queues.release(JOB_QUEUE, task.uri); // stale again later: another try
    }
  }

  /** Offers a job to the workers with a free slot (anycast). */
  async dispatch(offer: JobOffer, tx?: string): Promise<string> {
    try {
      const r = await this.pool.request(offer, { timeoutMs: 5000, ...(tx ? { tx } : {}) });
      this.counters.dispatched++;
      return r.allocation.node;
    } catch (err) {
      this.counters.dispatchFailures++;
      throw err;
    }
  }

  /** Runs a job on this node: owner of its task, workspace, work, idempotent effect, done. */
  private async run(id: string, input: JobInput, takeOwnership: boolean, tx?: string): Promise<void> {
    const uri = jobUri(id);
    const log = tx ? this.log.child({ tx }) : this.log;
    const self = this.node.id.hex;
    let registered = false;
    try {
      if (takeOwnership && !(await this.queues.setOwner(JOB_QUEUE, uri))) return; // finished meanwhile
      this.counters.runs++;
      this.options.onRun?.(id, self);
      await this.workspace.register('scratch', id);
      registered = true;
      const started = this.env.now();
      await this.dht.update<JobRecord>(jobId(id), (cur) => (cur && cur.body.state !== 'done' ? { ...cur.body, state: 'running', node: self, startedAt: started } : null));
      const result = compute(input);
      await this.env.sleep(input.workMs ?? this.options.defaultWorkMs ?? 1000);
      // The effect, once: only a job not done yet becomes done.
      let wrote = false;
      await this.dht.update<JobRecord>(jobId(id), (cur) => {
        wrote = false;
        if (!cur || cur.body.state === 'done') return null;
        wrote = true;
        return { ...cur.body, state: 'done', result, node: self, finishedAt: this.env.now() };
      });
      if (wrote) {
        this.counters.effects++;
        this.options.onEffect?.(id, self);
      }
      await this.queues.remove(JOB_QUEUE, uri);
      log.info({ event: 'job.done', job: id, ms: this.env.now() - started, effect: wrote }, `job ${id} done`);
    } catch (err) {
      // Give the task up: a watcher re-dispatches it once stale.
      this.queues.release(JOB_QUEUE, uri);
      log.warn({ code: (err as { code?: string }).code ?? 'JobFailed', job: id, err: { message: (err as Error).message } }, `job ${id} attempt failed`);
    } finally {
      this.running--;
      if (registered) await this.workspace.deregister('scratch', id);
      await this.pool.update().catch(() => {});
    }
  }

  /** Retries ran out: the job is marked failed. */
  private async failed(task: Task): Promise<void> {
    const offer = task.data as JobOffer | undefined;
    if (!offer?.id) return;
    await this.dht.update<JobRecord>(jobId(offer.id), (cur) => (cur && cur.body.state !== 'done' ? { ...cur.body, state: 'failed', error: `gave up after ${task.attempts} attempts` } : null));
  }
}
