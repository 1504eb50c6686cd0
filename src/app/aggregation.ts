/**
 * Search and aggregation over local records.
 *
 * - {@link LocalScanner}: a handler run periodically over the records this node holds (of one
 *   type, by default only those it is the root for, so that each record is seen by one node):
 *   the "query known at development time" technique — e.g. find expired records and act on them.
 * - {@link SupernodeAggregator}: for queries known only at run time. Every node periodically
 *   summarises its local records of a type and sends the summary to the supernodes of its scope
 *   (the roots of K checkpoint ids derived from the aggregation's name); supernodes keep the
 *   latest summary of every node and answer queries such as "all records of type X matching Y in
 *   this zone" from memory.
 *
 * Staleness: an answer reflects each node's records as of its last publish, so it can miss
 * changes of the last `publishIntervalMs` (plus message delay). A node that died keeps appearing
 * for up to `3 × publishIntervalMs` (its summary's expiry). When a supernode changes (its
 * checkpoint gets a new root), the new one answers with partial data until every node has
 * published once more (up to one interval). Records on a node that was unreachable are missing.
 * Answers say how old their oldest summary is (`oldestAt`) and how many nodes contributed.
 */
import type { Id, Scope } from '../id/index.ts';
import type { DhtRecord, Entity } from '../dht/index.ts';
import type { Logger } from '../env/index.ts';
import type { RpcReply, RpcRequest } from '../overlay/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import { isRootInScope, parseScope } from './activation.ts';
import { deriveCheckpoints } from './activators.ts';
import { AppError, checkName, errorInfo } from './errors.ts';
import type { ApplicationHost } from './host.ts';
import { WatcherService } from './watchers.ts';

/** Options of a {@link LocalScanner}. */
export interface LocalScanOptions {
  /** Entity type to scan. */
  type: string;
  intervalMs: number;
  /** Only records this node is the root for (default true: each record is handled by one node). */
  rootOnly?: boolean;
  /** Include tombstones. Default false. */
  includeDeleted?: boolean;
}

/** Runs `handle` periodically over the local records of one type. */
export class LocalScanner<E extends Entity = Entity> {
  readonly stats = { runs: 0, records: 0 };
  private readonly watchers: WatcherService;

  constructor(
    private readonly host: ApplicationHost,
    name: string,
    private readonly options: LocalScanOptions,
    private readonly handle: (records: DhtRecord<E>[]) => void | Promise<void>,
  ) {
    this.watchers = new WatcherService(host.env);
    this.watchers.add(name, () => this.runNow(), { intervalMs: options.intervalMs });
  }

  /** Scans now. */
  async runNow(): Promise<void> {
    const records = [...this.host.dht.localScan<E>({ type: this.options.type, rootOnly: this.options.rootOnly ?? true, includeDeleted: this.options.includeDeleted ?? false })];
    this.stats.runs++;
    this.stats.records += records.length;
    await this.handle(records);
  }

  close(): void {
    this.watchers.stop();
  }
}

/** Options of a {@link SupernodeAggregator}. */
export interface AggregatorOptions<E extends Entity, S> {
  /** Name of the aggregation (checkpoints derive from it). */
  name: string;
  /** Entity type summarised. */
  type: string;
  scope?: Scope | 'global' | 'region' | 'az';
  /** Supernodes per scope (checkpoints). Default 1. */
  supernodes?: number;
  /** Period of publishing summaries. Default 30 s. */
  publishIntervalMs?: number;
  /** The summary entry of one record (undefined: leave it out). */
  summarise(record: DhtRecord<E>): S | undefined;
  /** Whether an entry matches a query. Default: every field of the query equals the entry's. */
  matches?(entry: S, query: Record<string, unknown>): boolean;
  /** Most entries one node publishes (the rest is left out and the summary flagged). Default 10,000. */
  maxEntriesPerNode?: number;
  /** Wait for a supernode's answer. Default 5 s. */
  queryTimeoutMs?: number;
}

/** A query's answer. */
export interface AggregateAnswer<S> {
  entries: S[];
  /** Nodes whose summaries were searched. */
  nodes: number;
  /** Publish time of the oldest summary searched (ms); undefined when none. */
  oldestAt: number | undefined;
  /** Whether some node left entries out (above maxEntriesPerNode). */
  truncated: boolean;
  /** The supernode that answered. */
  supernode: NodeHandle;
}

interface Summary<S> {
  at: number;
  entries: S[];
  truncated: boolean;
}

/** Summaries published to supernodes, and queries answered by them. */
export class SupernodeAggregator<E extends Entity = Entity, S = unknown> {
  readonly name: string;
  readonly stats = { published: 0, received: 0, queries: 0, answered: 0 };
  private readonly scope: Scope;
  private readonly checkpointIds: Id[];
  private readonly summaries = new Map<string, Summary<S>>();
  private readonly watchers: WatcherService;
  private readonly log: Logger;
  private readonly interval: number;
  private readonly removers: (() => void)[] = [];

  constructor(
    private readonly host: ApplicationHost,
    private readonly options: AggregatorOptions<E, S>,
  ) {
    this.name = checkName(options.name, 'aggregation');
    this.scope = parseScope(options.scope);
    this.interval = options.publishIntervalMs ?? 30_000;
    this.checkpointIds = deriveCheckpoints(`agg.${this.name}`, options.supernodes ?? 1, this.scope, host.location);
    this.log = host.env.log.child({ mod: 'aggregation', aggregation: this.name });
    this.watchers = new WatcherService(host.env);
    this.removers.push(host.handle(`sn.pub.${this.name}`, (req) => this.onPublish(req)));
    this.removers.push(host.handle(`sn.q.${this.name}`, (req) => this.onQuery(req)));
    this.watchers.add('publish', () => this.publish(), { intervalMs: this.interval });
    this.watchers.add('expire', () => this.expire(), { intervalMs: this.interval });
  }

  /** The checkpoint ids whose roots are the supernodes (feed them to a SupernodeActivator to act as one). */
  checkpoints(): Id[] {
    return this.checkpointIds.slice();
  }

  /** Whether this node is currently one of the supernodes. */
  isSupernode(): boolean {
    return this.checkpointIds.some((cp) => isRootInScope(this.host.node, cp));
  }

  /** Nodes whose summaries this node holds (as a supernode). */
  get nodesKnown(): number {
    return this.summaries.size;
  }

  /** Summarises this node's records and sends the summary to every supernode (one-way). */
  publish(): void {
    if (!this.host.node.isReady) return;
    const max = this.options.maxEntriesPerNode ?? 10_000;
    const entries: S[] = [];
    let truncated = false;
    for (const r of this.host.dht.localScan<E>({ type: this.options.type, rootOnly: true })) {
      let e: S | undefined;
      try {
        e = this.options.summarise(r);
      } catch (err) {
        this.log.warn({ code: errorInfo(err).code, err: errorInfo(err) }, 'summarise failed for a record; left out');
        continue;
      }
      if (e === undefined) continue;
      if (entries.length >= max) {
        truncated = true;
        break;
      }
      entries.push(e);
    }
    const body = { at: this.host.env.now(), entries, truncated };
    for (const cp of this.checkpointIds) this.host.framework.notify(cp, `sn.pub.${this.name}`, body);
    this.stats.published++;
  }

  /**
   * Asks a supernode for the entries matching `query`. Tries the supernodes in random order and
   * goes to the next on a timeout; rejects with `Timeout` when none answered.
   */
  async query(query: Record<string, unknown> = {}, options: { timeoutMs?: number; tx?: string } = {}): Promise<AggregateAnswer<S>> {
    if (typeof query !== 'object' || query === null || Array.isArray(query)) throw new AppError('InvalidArgument', 'a query must be an object of field values');
    this.stats.queries++;
    let last: unknown;
    for (const cp of this.host.env.random.shuffle(this.checkpointIds)) {
      try {
        const r = await this.host.framework.request(cp, `sn.q.${this.name}`, { query }, { timeoutMs: options.timeoutMs ?? this.options.queryTimeoutMs ?? 5000, ...(options.tx ? { tx: options.tx } : {}) });
        if (r.code !== 200) throw new AppError('Refused', `supernode answered ${r.code}: ${JSON.stringify(r.body).slice(0, 200)}`);
        const b = r.body as Omit<AggregateAnswer<S>, 'supernode'>;
        return { ...b, supernode: r.from };
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  /** Stops publishing and answering. */
  close(): void {
    this.watchers.stop();
    for (const r of this.removers) r();
  }

  private onPublish(req: RpcRequest): undefined {
    const b = req.body as { at?: unknown; entries?: unknown; truncated?: unknown } | null;
    if (typeof b?.at !== 'number' || !Array.isArray(b.entries)) return undefined;
    this.stats.received++;
    this.summaries.set(req.origin.id.hex, { at: b.at, entries: b.entries as S[], truncated: b.truncated === true });
    return undefined;
  }

  private onQuery(req: RpcRequest): RpcReply {
    const q = (req.body as { query?: unknown } | null)?.query;
    if (typeof q !== 'object' || q === null || Array.isArray(q)) return { code: 403, body: { error: 'InvalidArgument', message: 'a query must be an object' } };
    const query = q as Record<string, unknown>;
    const match = this.options.matches ?? defaultMatch;
    const entries: S[] = [];
    let oldestAt: number | undefined;
    let truncated = false;
    for (const s of this.summaries.values()) {
      if (oldestAt === undefined || s.at < oldestAt) oldestAt = s.at;
      truncated ||= s.truncated;
      for (const e of s.entries) if (match(e, query)) entries.push(e);
    }
    this.stats.answered++;
    return { body: { entries, nodes: this.summaries.size, oldestAt, truncated } };
  }

  /** Forgets summaries older than three publish intervals (nodes that stopped publishing). */
  private expire(): void {
    const limit = this.host.env.now() - 3 * this.interval;
    for (const [node, s] of this.summaries) if (s.at < limit) this.summaries.delete(node);
  }
}

function defaultMatch(entry: unknown, query: Record<string, unknown>): boolean {
  if (typeof entry !== 'object' || entry === null) return Object.keys(query).length === 0;
  const e = entry as Record<string, unknown>;
  for (const [k, v] of Object.entries(query)) if (e[k] !== v) return false;
  return true;
}
