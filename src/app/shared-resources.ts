/**
 * The cached consumed DHT resource registry: a resource used by consumers on several nodes (e.g.
 * a security group's NAT set-up) whose shared state lives in one DHT record, with its consumers.
 *
 * - `register(id, consumer)` adds a consumer; the first consumer anywhere creates the shared
 *   state (`create`), the last one to deregister releases it (`release` runs on that node).
 * - Each node caches the records it uses and reloads them every `refreshMs`, calling `onRefresh`
 *   so that it can bring its local part in line (the "resource refresh strategy").
 * - Consumers are probed: every `probeMs`, each consumer node asks the next consumer node (in id
 *   order) whether it still consumes the resource, and drops the consumers of a node that says no
 *   or does not answer — O(consumer nodes) probes per round, each node probed once. A node that finds one of its own consumers
 *   dropped (e.g. after a lost probe) adds it back at its next refresh.
 *
 * Cached reads (`get`, `consumers`, `resources`) are as old as the last refresh or write.
 */
import type { Scope } from '../id/index.ts';
import { Id } from '../id/index.ts';
import type { DhtRecord, Entity } from '../dht/index.ts';
import type { Logger } from '../env/index.ts';
import type { RpcReply, RpcRequest } from '../overlay/index.ts';
import { parseScope } from './activation.ts';
import { AppError, checkName, errorInfo } from './errors.ts';
import type { ApplicationHost } from './host.ts';
import { resourceUri, scopedId } from './records.ts';
import { WatcherService } from './watchers.ts';

/** One consumer of a shared resource. */
export interface ConsumerEntry {
  consumer: string;
  /** Node id (hex) and address of the consumer's node. */
  node: string;
  addr: string;
  since: number;
}

/** A shared resource's record. */
export interface SharedResourceRecord<D = unknown> extends Entity {
  type: 'pi.resource';
  resourceType: string;
  resourceId: string;
  state: 'active' | 'released';
  consumers: ConsumerEntry[];
  data: D;
}

/** A shared resource as the registry shows it. */
export interface SharedResource<D = unknown> {
  id: string;
  state: 'active' | 'released';
  consumers: ConsumerEntry[];
  data: D;
  version: number;
  /** When this node last read or wrote it (ms). */
  cachedAt: number;
}

/** Options of a {@link CachedDhtResourceRegistry}. */
export interface CachedRegistryOptions<D> {
  /** Resource type (part of the record URI `pi-res:<type>/<id>`). */
  type: string;
  scope?: Scope | 'global' | 'region' | 'az';
  /** Shared state of a resource its first consumer creates. May run more than once under contention; one result is kept. */
  create(id: string): D | Promise<D>;
  /** The last consumer is gone (runs once, on the node that removed it). */
  release?(id: string, data: D): void | Promise<void>;
  /** A cached resource was reloaded. */
  onRefresh?(resource: SharedResource<D>): void | Promise<void>;
  /** Period of reloading cached resources. Default 30 s. */
  refreshMs?: number;
  /** Period of probing consumers on other nodes. Default 60 s. */
  probeMs?: number;
  /** Wait for a probe's answer. Default 2 s. */
  probeTimeoutMs?: number;
}

const PROBE = 'res.probe';

/** Shared resources of one type, cached on this node. */
export class CachedDhtResourceRegistry<D = unknown> {
  readonly type: string;
  private readonly scope: Scope;
  private readonly cache = new Map<string, SharedResource<D>>();
  /** Consumers on this node, by resource id. */
  private readonly local = new Map<string, Set<string>>();
  private readonly watchers: WatcherService;
  private readonly log: Logger;
  private readonly unhandle: () => void;
  readonly stats = { refreshes: 0, probes: 0, consumersDropped: 0, readded: 0 };

  constructor(
    private readonly host: ApplicationHost,
    private readonly options: CachedRegistryOptions<D>,
  ) {
    this.type = checkName(options.type, 'resource type');
    this.scope = parseScope(options.scope);
    this.log = host.env.log.child({ mod: 'resources', type: this.type });
    this.watchers = new WatcherService(host.env);
    this.unhandle = host.handle(`${PROBE}.${this.type}`, (req) => this.onProbe(req));
    this.watchers.add('refresh', () => this.refresh(), { intervalMs: options.refreshMs ?? 30_000 });
    this.watchers.add('probe', () => this.probe(), { intervalMs: options.probeMs ?? 60_000 });
  }

  /** Stops refreshing and probing. */
  close(): void {
    this.watchers.stop();
    this.unhandle();
  }

  /** The record id of resource `id`. */
  recordId(id: string): Id {
    return scopedId(resourceUri(this.type, id), this.scope, this.host.location);
  }

  /** Adds `consumer` (on this node) to resource `id`, creating the shared state for the first consumer. */
  async register(id: string, consumer: string): Promise<SharedResource<D>> {
    checkKey(id, consumer);
    const set = this.local.get(id) ?? new Set<string>();
    set.add(consumer);
    this.local.set(id, set);
    const self = this.host.node.handle;
    const existing = await this.host.dht.get<SharedResourceRecord<D>>(this.recordId(id));
    const fresh = !existing || existing.deleted || existing.body.state !== 'active';
    const data = fresh ? await this.options.create(id) : undefined;
    const r = await this.host.dht.update<SharedResourceRecord<D>>(this.recordId(id), (cur) => {
      const live = cur && !cur.deleted && cur.body.state === 'active' ? cur.body : undefined;
      if (live?.consumers.some((c) => c.consumer === consumer && c.node === self.id.hex)) return null;
      const entry: ConsumerEntry = { consumer, node: self.id.hex, addr: self.addr, since: this.host.env.now() };
      if (live) return { ...live, consumers: [...live.consumers, entry] };
      if (data === undefined) throw new AppError('Refused', `resource ${this.type}/${id} was released meanwhile; register again`);
      return { type: 'pi.resource', url: resourceUri(this.type, id), resourceType: this.type, resourceId: id, state: 'active', consumers: [entry], data };
    });
    return this.remember(id, r!);
  }

  /**
   * Removes `consumer` (on this node) from resource `id`; when no consumer is left the resource
   * is released (`release` runs here). Resolves with whether this call released it.
   */
  async deregister(id: string, consumer: string): Promise<boolean> {
    checkKey(id, consumer);
    const set = this.local.get(id);
    set?.delete(consumer);
    if (set && set.size === 0) this.local.delete(id);
    const self = this.host.node.id.hex;
    let released = false;
    const r = await this.host.dht.update<SharedResourceRecord<D>>(this.recordId(id), (cur) => {
      released = false;
      if (!cur || cur.deleted || cur.body.state !== 'active') return null;
      const consumers = cur.body.consumers.filter((c) => !(c.consumer === consumer && c.node === self));
      if (consumers.length === cur.body.consumers.length) return null;
      released = consumers.length === 0;
      return { ...cur.body, consumers, state: released ? 'released' : 'active' };
    });
    if (r) this.remember(id, r);
    if (released) {
      this.cache.delete(id);
      try {
        await this.options.release?.(id, r!.body.data);
      } catch (err) {
        this.log.error({ code: errorInfo(err).code, resource: id, err: errorInfo(err) }, `releasing ${this.type}/${id} failed`);
      }
    }
    return released;
  }

  /** Resource `id` from the cache, reading it from the DHT when absent (or `fresh`). */
  async get(id: string, fresh = false): Promise<SharedResource<D> | undefined> {
    if (!fresh) {
      const c = this.cache.get(id);
      if (c) return c;
    }
    const r = await this.host.dht.get<SharedResourceRecord<D>>(this.recordId(id));
    if (!r || r.deleted || r.body.state !== 'active') {
      this.cache.delete(id);
      return undefined;
    }
    return this.remember(id, r);
  }

  /** Consumers of a cached resource (empty when not cached). */
  consumers(id: string): ConsumerEntry[] {
    return this.cache.get(id)?.consumers.slice() ?? [];
  }

  /** The resources of this type cached here. */
  resources(): SharedResource<D>[] {
    return [...this.cache.values()];
  }

  /** Reloads every cached resource and puts back this node's consumers if they were dropped. */
  async refresh(): Promise<void> {
    this.stats.refreshes++;
    const ids = new Set([...this.cache.keys(), ...this.local.keys()]);
    for (const id of ids) {
      try {
        const r = await this.get(id, true);
        const mine = this.local.get(id);
        if (mine) {
          const self = this.host.node.id.hex;
          for (const consumer of mine) {
            if (!r || !r.consumers.some((c) => c.consumer === consumer && c.node === self)) {
              this.stats.readded++;
              await this.register(id, consumer);
            }
          }
        }
        const now = this.cache.get(id);
        if (now) await this.options.onRefresh?.(now);
      } catch (err) {
        this.log.warn({ code: errorInfo(err).code, resource: id, err: errorInfo(err) }, `refreshing ${this.type}/${id} failed`);
      }
    }
  }

  /**
   * Probes, for every cached resource this node consumes, the consumers on the next consumer node
   * (in id order), dropping those that are gone.
   */
  async probe(): Promise<void> {
    const self = this.host.node.id.hex;
    for (const res of [...this.cache.values()]) {
      const rid = this.recordId(res.id);
      // Each consumer node probes the next one in id order: every node is probed by exactly one
      // other, and a dead prober's successor is reached once the dead one has been dropped.
      const nodes = [...new Set(res.consumers.map((c) => c.node))].sort();
      const i = nodes.indexOf(self);
      const next = i < 0 ? undefined : nodes[(i + 1) % nodes.length];
      if (next === undefined || next === self) continue;
      const gone: ConsumerEntry[] = [];
      for (const c of res.consumers) {
        if (c.node !== next) continue;
        this.stats.probes++;
        let ok = false;
        try {
          const r = await this.host.framework.requestDirect({ id: Id.parse(c.node), addr: c.addr }, `${PROBE}.${this.type}`, { id: res.id, consumer: c.consumer }, { timeoutMs: this.options.probeTimeoutMs ?? 2000 });
          ok = r.code === 200 && (r.body as { consumes?: unknown })?.consumes === true;
        } catch {
          ok = false;
        }
        if (!ok) gone.push(c);
      }
      if (gone.length === 0) continue;
      const isGone = (c: ConsumerEntry): boolean => gone.some((g) => g.consumer === c.consumer && g.node === c.node);
      let released = false;
      const r = await this.host.dht.update<SharedResourceRecord<D>>(rid, (cur) => {
        released = false;
        if (!cur || cur.deleted || cur.body.state !== 'active') return null;
        const consumers = cur.body.consumers.filter((c) => !isGone(c));
        if (consumers.length === cur.body.consumers.length) return null;
        released = consumers.length === 0;
        return { ...cur.body, consumers, state: released ? 'released' : 'active' };
      });
      this.stats.consumersDropped += gone.length;
      this.log.info({ event: 'resource.consumers.dropped', resource: res.id, dropped: gone.map((g) => g.consumer) }, `dropped ${gone.length} consumer(s) of ${this.type}/${res.id} that are gone`);
      if (r) this.remember(res.id, r);
      if (released) await this.options.release?.(res.id, r!.body.data);
    }
  }

  private onProbe(req: RpcRequest): RpcReply {
    const b = req.body as { id?: unknown; consumer?: unknown } | null;
    if (typeof b?.id !== 'string' || typeof b.consumer !== 'string') return { code: 403, body: { error: 'InvalidArgument', message: 'a probe needs { id, consumer }' } };
    return { body: { consumes: this.local.get(b.id)?.has(b.consumer) === true } };
  }

  private remember(id: string, r: DhtRecord<SharedResourceRecord<D>>): SharedResource<D> {
    const b = r.body;
    const res: SharedResource<D> = { id, state: b.state, consumers: b.consumers, data: b.data, version: r.version, cachedAt: this.host.env.now() };
    if (b.state === 'active' && !r.deleted) this.cache.set(id, res);
    else this.cache.delete(id);
    return res;
  }
}

function checkKey(id: string, consumer: string): void {
  if (typeof id !== 'string' || id.length === 0 || id.length > 500) throw new AppError('InvalidArgument', 'a resource id must be a string of 1-500 characters');
  if (typeof consumer !== 'string' || consumer.length === 0 || consumer.length > 200) throw new AppError('InvalidArgument', 'a consumer must be a string of 1-200 characters');
}
