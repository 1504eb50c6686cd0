/**
 * Task processing queues: pending operations kept in the ring so that they are retried when an
 * attempt fails or its outcome is unknown.
 *
 * A queue is seeded (`pi-queue:<name>`: default retries, staleness, watcher count); its tasks are
 * items of a DHT sorted partition at the queue's id, keyed by task URI, each holding its owner,
 * timestamps, retries left and attempts. The application adds a task, works on it (the node that
 * works on it is its owner, `setOwner`), and removes it when done.
 *
 * Watchers — the roots of `watchers` checkpoint ids derived from the queue name, so N nodes per
 * scope chosen by the framework — scan the queue periodically. For a stale task (not updated for
 * `staleAfterMs`) they ask the owner whether it is still working on it; if it is, they touch the
 * task; if nobody is, they re-dispatch it: a conditional update takes ownership (only one watcher
 * wins) and decrements its retries, and the queue's `onTask` handler runs on that node. When no
 * retry is left the task is removed and the `onRetriesExhausted` handler runs instead. When a
 * node departs, the node nearest to it re-dispatches that node's tasks at once (eager recovery).
 *
 * Handlers must be idempotent: a task may run more than once (a slow owner taken for dead, a
 * worker that died after its effect but before `remove`). Effects made idempotent — e.g. a result
 * written with `writeIfAbsent` keyed by the task — happen once.
 */
import { Id } from '../id/index.ts';
import type { Scope } from '../id/index.ts';
import type { Dht, DhtRecord } from '../dht/index.ts';
import type { Env, Logger } from '../env/index.ts';
import type { PastryNode, RpcReply, RpcRequest } from '../overlay/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import { isRootInScope, parseScope } from './activation.ts';
import { deriveCheckpoints } from './activators.ts';
import { AppError, checkName, errorInfo } from './errors.ts';
import type { ApplicationHost } from './host.ts';
import { queueUri, scopedId } from './records.ts';
import type { QueueRecord, TaskRecord } from './records.ts';
import { WatcherService } from './watchers.ts';

/** A task as handlers see it. */
export interface Task {
  queue: string;
  uri: string;
  retries: number;
  attempts: number;
  data: unknown;
  owner: string | undefined;
  addedAt: number;
  updatedAt: number;
}

/** What a queue's processing application provides. */
export interface TaskQueueHandlers {
  /**
   * A task re-dispatched to this node (by a watcher or eager recovery); this node owns it now.
   * Do the work (idempotently) and `remove` the task, or hand it on (`setOwner` to another node).
   * Throwing gives the task up: it is re-dispatched once stale.
   */
  onTask(task: Task): void | Promise<void>;
  /** The task ran out of retries and was removed. */
  onRetriesExhausted?(task: Task): void | Promise<void>;
}

/** Options of {@link TaskQueueService.register}. */
export interface QueueRegistration {
  /** Scope of the queue (must match the seed). Default global. */
  scope?: Scope | 'global' | 'region' | 'az';
  /** Period of the watchers' scan. Default 5 s. */
  scanIntervalMs?: number;
  /** Wait for an owner's "still working?" answer. Default 2 s. */
  probeTimeoutMs?: number;
  /** Application reported as failing when a handler throws. */
  app?: string;
}

/** Options of {@link TaskQueueService.add}. */
export interface AddOptions {
  /** Retries after the first attempt (default: the queue's). */
  retries?: number;
  /** Application data of the task (kept in the item). */
  data?: unknown;
  /** Whether this node works on it from the start (default true). */
  own?: boolean;
  /** Scope when the queue is not registered on this node. */
  scope?: Scope | 'global' | 'region' | 'az';
}

/** Counters of one node's task queues. */
export interface TaskQueueStats {
  added: number;
  removed: number;
  /** Tasks re-dispatched after going stale. */
  redispatched: number;
  /** Tasks re-dispatched at once because their owner departed. */
  recovered: number;
  exhausted: number;
  /** Owners asked whether they still work on a task, and of them those that did. */
  probes: number;
  stillWorking: number;
  scans: number;
}

interface Registered {
  name: string;
  scope: Scope;
  handlers: TaskQueueHandlers;
  app: string | undefined;
  probeTimeoutMs: number;
  watchers: Id[];
}

const PROBE = 'q.working';
const PAGE = 500;

/** The task queues of one node (one per host: `host.queues`). */
export class TaskQueueService {
  readonly stats: TaskQueueStats = { added: 0, removed: 0, redispatched: 0, recovered: 0, exhausted: 0, probes: 0, stillWorking: 0, scans: 0 };
  private readonly env: Env;
  private readonly log: Logger;
  private readonly dht: Dht;
  private readonly node: PastryNode;
  private readonly queues = new Map<string, Registered>();
  /** Tasks this node works on: `queue\n uri`. */
  private readonly working = new Set<string>();
  private readonly settings = new Map<string, { at: number; record: QueueRecord }>();
  private readonly watchers: WatcherService;
  private readonly notSeededLogged = new Set<string>();

  constructor(private readonly host: ApplicationHost) {
    this.env = host.env;
    this.log = host.env.log.child({ mod: 'queues' });
    this.dht = host.dht;
    this.node = host.node;
    this.watchers = new WatcherService(host.env);
    host.handle(PROBE, (req) => this.onProbe(req));
    host.onDeparture((node) => void this.recover(node));
  }

  /**
   * Registers the handlers of queue `name` on this node: this node then watches the queue when
   * it is one of its watchers, and runs `onTask` for tasks dispatched to it.
   */
  register(name: string, handlers: TaskQueueHandlers, options: QueueRegistration = {}): void {
    checkName(name, 'queue');
    if (this.queues.has(name)) throw new AppError('InvalidArgument', `queue ${name} is registered on this node already`);
    const scope = parseScope(options.scope);
    const reg: Registered = { name, scope, handlers, app: options.app, probeTimeoutMs: options.probeTimeoutMs ?? 2000, watchers: [] };
    this.queues.set(name, reg);
    this.watchers.add(`queue:${name}`, () => this.watch(reg), { intervalMs: options.scanIntervalMs ?? 5000 });
  }

  /** Stops processing queue `name` on this node. */
  unregister(name: string): boolean {
    this.watchers.remove(`queue:${name}`);
    return this.queues.delete(name);
  }

  /** Queues registered on this node. */
  registered(): string[] {
    return [...this.queues.keys()];
  }

  /** Stops watching (the host's applications are stopping). */
  stop(): void {
    this.watchers.stop();
  }

  /** The partition id of queue `name`. */
  queueId(name: string, scope?: Scope | 'global' | 'region' | 'az'): Id {
    const s = this.queues.get(name)?.scope ?? parseScope(scope);
    return scopedId(queueUri(name), s, this.host.location);
  }

  /** The queue's seeded settings (cached for a minute once found); undefined when not seeded. */
  async settingsOf(name: string, scope?: Scope | 'global' | 'region' | 'az'): Promise<QueueRecord | undefined> {
    const cached = this.settings.get(name);
    if (cached && this.env.now() - cached.at < 60_000) return cached.record;
    const r = await this.dht.get<QueueRecord>(this.queueId(name, scope));
    const record = r && !r.deleted ? r.body : undefined;
    // Only found settings are cached: a queue seeded a moment ago is seen at once.
    if (record) this.settings.set(name, { at: this.env.now(), record });
    return record;
  }

  /**
   * Adds task `uri` to queue `name` (idempotent: adding a task that is queued already keeps the
   * existing one). By default this node owns it from the start. Resolves with the task and
   * whether this call added it. Throws `NotSeeded` when the queue was not seeded.
   */
  async add(name: string, uri: string, options: AddOptions = {}): Promise<{ added: boolean; task: Task }> {
    checkName(name, 'queue');
    const q = await this.settingsOf(name, options.scope);
    if (!q) throw new AppError('NotSeeded', `queue ${name} has not been seeded (record ${queueUri(name)})`);
    const retries = options.retries ?? q.retries;
    if (!Number.isInteger(retries) || retries < 0) throw new AppError('InvalidArgument', `retries must be a non-negative integer, got ${retries}`);
    const now = this.env.now();
    const own = options.own ?? true;
    const item: TaskRecord = { type: 'pi.task', url: uri, queue: name, state: own ? 'owned' : 'pending', retries, attempts: 1, addedAt: now, updatedAt: now };
    if (own) {
      item.owner = this.node.id.hex;
      item.ownerAddr = this.node.handle.addr;
    }
    if (options.data !== undefined) item.data = options.data;
    const r = await this.dht.writeItemIfAbsent<TaskRecord>(this.queueId(name, options.scope), uri, item);
    if (r.written) {
      this.stats.added++;
      if (own) this.working.add(key(name, uri));
    }
    return { added: r.written, task: toTask(r.record) };
  }

  /**
   * Makes `node` (default: this node) the owner of a task: it works on it now. Resolves with the
   * task, or undefined when it is no longer queued.
   */
  async setOwner(name: string, uri: string, node: NodeHandle = this.node.handle): Promise<Task | undefined> {
    const self = node.id.hex === this.node.id.hex;
    const r = await this.dht.updateItem<TaskRecord>(this.queueId(name), uri, (cur) => {
      if (!cur || cur.deleted) return null;
      return { ...cur.body, state: 'owned', owner: node.id.hex, ownerAddr: node.addr, updatedAt: this.env.now() };
    });
    if (!r || r.deleted) return undefined;
    if (self) this.working.add(key(name, uri));
    else this.working.delete(key(name, uri));
    return toTask(r);
  }

  /** Marks a task this node works on as alive (long tasks; watchers also do it after asking). */
  async touch(name: string, uri: string): Promise<boolean> {
    const r = await this.dht.updateItem<TaskRecord>(this.queueId(name), uri, (cur) => (cur && !cur.deleted ? { ...cur.body, updatedAt: this.env.now() } : null));
    return r !== undefined && !r.deleted;
  }

  /** Removes a task (done). Resolves with whether it was still queued. */
  async remove(name: string, uri: string, scope?: Scope | 'global' | 'region' | 'az'): Promise<boolean> {
    this.working.delete(key(name, uri));
    let found = false;
    await this.dht.updateItem<TaskRecord>(this.queueId(name, scope), uri, (cur) => {
      found = cur !== undefined && !cur.deleted;
      return found ? { ...cur!.body, deleted: true } : null;
    });
    if (found) this.stats.removed++;
    return found;
  }

  /** Stops working on a task without removing it: it is re-dispatched once stale. */
  release(name: string, uri: string): void {
    this.working.delete(key(name, uri));
  }

  /** Whether this node works on the task. */
  isWorking(name: string, uri: string): boolean {
    return this.working.has(key(name, uri));
  }

  /** One task, or undefined. */
  async get(name: string, uri: string, scope?: Scope | 'global' | 'region' | 'az'): Promise<Task | undefined> {
    const r = await this.dht.getItem<TaskRecord>(this.queueId(name, scope), uri);
    return r && !r.deleted ? toTask(r) : undefined;
  }

  /** Tasks of a queue in URI order, a page at a time. */
  async list(name: string, options: { limit?: number; after?: string; scope?: Scope | 'global' | 'region' | 'az' } = {}): Promise<{ tasks: Task[]; next: string | undefined }> {
    const page = await this.dht.scanPartition<TaskRecord>(this.queueId(name, options.scope), { limit: options.limit ?? 100, ...(options.after ? { after: options.after } : {}) });
    return { tasks: page.items.map(toTask), next: page.next };
  }

  // ---- watchers ---------------------------------------------------------------------------

  /** Whether this node is one of the watchers of `reg` (root of one of its watcher checkpoints). */
  async isWatcher(reg: Registered): Promise<boolean> {
    const q = await this.settingsOf(reg.name);
    if (!q) return false;
    if (reg.watchers.length !== q.watchers) reg.watchers = deriveCheckpoints(`queue.${reg.name}`, q.watchers, reg.scope, this.host.location);
    return reg.watchers.some((cp) => isRootInScope(this.node, cp));
  }

  /** Runs one watcher pass over `name` now if this node watches it (tests, tools). */
  async watchNow(name: string): Promise<void> {
    const reg = this.queues.get(name);
    if (reg) await this.watch(reg);
  }

  private async watch(reg: Registered): Promise<void> {
    if (!this.node.isReady || !(await this.isWatcher(reg))) {
      if (!(await this.settingsOf(reg.name)) && !this.notSeededLogged.has(reg.name)) {
        this.notSeededLogged.add(reg.name);
        this.log.warn({ code: 'NotSeeded', queue: reg.name }, `queue ${reg.name} has not been seeded: nobody watches it`);
      }
      return;
    }
    const q = (await this.settingsOf(reg.name))!;
    this.stats.scans++;
    let after: string | undefined;
    do {
      const page = await this.dht.scanPartition<TaskRecord>(this.queueId(reg.name), { limit: PAGE, ...(after ? { after } : {}) });
      for (const item of page.items) {
        if (this.env.now() - item.body.updatedAt < q.staleAfterMs) continue;
        await this.stale(reg, item).catch((err: unknown) => this.log.warn({ code: errorInfo(err).code, queue: reg.name, task: item.sortKey, err: errorInfo(err) }, 'could not check a stale task'));
      }
      after = page.next;
    } while (after);
  }

  /** A stale task: ask its owner, then touch or re-dispatch it. */
  private async stale(reg: Registered, item: DhtRecord<TaskRecord>): Promise<void> {
    const t = item.body;
    if (t.owner) {
      const working = await this.ask(reg, t);
      if (working) {
        this.stats.stillWorking++;
        await this.dht.updateItem<TaskRecord>(this.queueId(reg.name), t.url, (cur) =>
          cur && !cur.deleted && cur.body.owner === t.owner && cur.body.updatedAt === t.updatedAt ? { ...cur.body, updatedAt: this.env.now() } : null,
        );
        return;
      }
    }
    await this.redispatch(reg, item, 'stale');
  }

  private async ask(reg: Registered, t: TaskRecord): Promise<boolean> {
    if (t.owner === this.node.id.hex) return this.working.has(key(reg.name, t.url));
    const owner = Id.tryParse(t.owner);
    if (!owner || !t.ownerAddr) return false;
    this.stats.probes++;
    try {
      const r = await this.host.framework.requestDirect({ id: owner, addr: t.ownerAddr }, PROBE, { q: reg.name, u: t.url }, { timeoutMs: reg.probeTimeoutMs });
      return r.code === 200 && (r.body as { working?: unknown })?.working === true;
    } catch {
      return false; // unreachable or silent: nobody works on it
    }
  }

  private onProbe(req: RpcRequest): RpcReply {
    const b = req.body as { q?: unknown; u?: unknown } | null;
    if (typeof b?.q !== 'string' || typeof b.u !== 'string') return { code: 403, body: { error: 'InvalidArgument', message: 'q.working needs { q, u }' } };
    return { body: { working: this.working.has(key(b.q, b.u)) } };
  }

  /**
   * Takes a task for this node with a conditional update (it must be unchanged since `seen`, so
   * that of several watchers only one wins), then runs the handler, or the retries-exhausted
   * handler when none is left.
   */
  private async redispatch(reg: Registered, seen: DhtRecord<TaskRecord>, why: 'stale' | 'departed'): Promise<void> {
    const s = seen.body;
    let exhausted = false;
    // Whether the resolver's last run wrote: update() re-runs it after conflicts.
    let wrote = false;
    const r = await this.dht.updateItem<TaskRecord>(this.queueId(reg.name), s.url, (cur) => {
      wrote = false;
      if (!cur || cur.deleted) return null;
      const c = cur.body;
      if (c.owner !== s.owner || c.updatedAt !== s.updatedAt || c.attempts !== s.attempts) return null; // someone else acted
      exhausted = c.retries <= 0;
      wrote = true;
      if (exhausted) return { ...c, deleted: true };
      return { ...c, state: 'owned', owner: this.node.id.hex, ownerAddr: this.node.handle.addr, retries: c.retries - 1, attempts: c.attempts + 1, updatedAt: this.env.now() };
    });
    if (!r || !wrote) return;
    const task = toTask(r);
    if (exhausted) {
      this.stats.exhausted++;
      this.log.warn({ event: 'queue.exhausted', code: 'RetriesExhausted', queue: reg.name, task: s.url, attempts: s.attempts }, `task ${s.url} ran out of retries`);
      await this.runHandler(reg, 'onRetriesExhausted', () => reg.handlers.onRetriesExhausted?.(task));
      return;
    }
    if (why === 'stale') this.stats.redispatched++;
    else this.stats.recovered++;
    this.log.info({ event: 'queue.redispatched', queue: reg.name, task: s.url, why, attempt: task.attempts, retriesLeft: task.retries }, `re-dispatched ${s.url} (${why})`);
    const k = key(reg.name, s.url);
    this.working.add(k);
    const ok = await this.runHandler(reg, 'onTask', () => reg.handlers.onTask(task));
    if (!ok) this.working.delete(k);
  }

  private async runHandler(reg: Registered, during: string, fn: () => void | Promise<void>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (err) {
      if (reg.app) this.host.reportError(reg.app, err, `queue ${reg.name} ${during}`);
      else this.log.error({ code: errorInfo(err).code, queue: reg.name, during, err: errorInfo(err) }, `queue ${reg.name} ${during} failed`);
      return false;
    }
  }

  /** Eager recovery: re-dispatches at once the tasks a departed node owned. */
  private async recover(node: NodeHandle): Promise<void> {
    for (const reg of this.queues.values()) {
      try {
        let after: string | undefined;
        do {
          const page = await this.dht.scanPartition<TaskRecord>(this.queueId(reg.name), { limit: PAGE, ...(after ? { after } : {}) });
          for (const item of page.items) if (item.body.owner === node.id.hex) await this.redispatch(reg, item, 'departed');
          after = page.next;
        } while (after);
      } catch (err) {
        this.log.warn({ code: errorInfo(err).code, queue: reg.name, departed: node.id.short(), err: errorInfo(err) }, 'eager recovery of a departed node failed; watchers will find its tasks');
      }
    }
  }
}

function key(queue: string, uri: string): string {
  return `${queue}\n${uri}`;
}

function toTask(r: DhtRecord<TaskRecord>): Task {
  const b = r.body;
  return { queue: b.queue, uri: b.url, retries: b.retries, attempts: b.attempts, data: b.data, owner: b.owner, addedAt: b.addedAt, updatedAt: b.updatedAt };
}
