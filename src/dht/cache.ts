/**
 * A read-through / write-through cache over the DHT (lru-cache), bounded by entry count, body
 * bytes and age. Ages run on the environment's clock, so the cache behaves the same in virtual
 * time. Records handed out are copies: changing one never changes the cache.
 */
import { LRUCache } from 'lru-cache';
import type { Id } from '../id/index.ts';
import type { Env } from '../env/index.ts';
import type { Dht, Resolver, UpdateOptions, WriteIfAbsentResult } from './dht.ts';
import type { DhtRecord, Entity } from './types.ts';

/** Options of a {@link DhtCache}. */
export interface DhtCacheOptions {
  /** Most records kept. Default 10 000. */
  maxEntries?: number;
  /** Most body bytes kept. Default 64 MiB. */
  maxBytes?: number;
  /** A cached copy is fresh enough for {@link DhtCache.get} for this long. Default 30 s. */
  ttlMs?: number;
}

/** Counters of a cache. */
export interface DhtCacheStats {
  hits: number;
  misses: number;
  /** Read-through reads that returned an older version than the cached one (kept the cached). */
  staleReadsIgnored: number;
}

export class DhtCache {
  private readonly lru: LRUCache<string, DhtRecord>;
  readonly stats: DhtCacheStats = { hits: 0, misses: 0, staleReadsIgnored: 0 };

  constructor(
    private readonly dht: Dht,
    env: Env,
    options: DhtCacheOptions = {},
  ) {
    this.lru = new LRUCache<string, DhtRecord>({
      max: options.maxEntries ?? 10_000,
      maxSize: options.maxBytes ?? 64 * 1024 * 1024,
      sizeCalculation: (r) => Math.max(1, r.bytes),
      ttl: options.ttlMs ?? 30_000,
      // Expired entries stay until looked up (no timers); `get` then treats them as missing.
      ttlAutopurge: false,
      perf: { now: () => env.now() },
    });
  }

  /** A fresh-enough cached copy, else a quorum read (cached). */
  async get<T extends Entity = Entity>(id: Id): Promise<DhtRecord<T> | undefined> {
    const hit = this.lru.get(id.hex);
    if (hit) {
      this.stats.hits++;
      return copy(hit) as DhtRecord<T>;
    }
    this.stats.misses++;
    return this.getReadThrough<T>(id);
  }

  /** Always reads the replica set; keeps (and returns) the higher of the read and cached versions. */
  async getReadThrough<T extends Entity = Entity>(id: Id): Promise<DhtRecord<T> | undefined> {
    const read = await this.dht.get<T>(id);
    const cached = this.lru.get(id.hex, { allowStale: true }) as DhtRecord<T> | undefined;
    if (cached && (!read || cached.version > read.version)) {
      this.stats.staleReadsIgnored++;
      this.lru.set(id.hex, cached);
      return copy(cached);
    }
    if (read) this.lru.set(id.hex, copy(read));
    return read;
  }

  /** Writes through (see {@link Dht.put}) and caches the record written. */
  async put<T extends Entity = Entity>(id: Id, entity: T): Promise<DhtRecord<T>> {
    const r = await this.dht.put<T>(id, entity);
    this.keep(r);
    return r;
  }

  /** Updates through (see {@link Dht.update}) and caches the value written. */
  async update<T extends Entity = Entity>(id: Id, resolver: Resolver<T>, options?: UpdateOptions): Promise<DhtRecord<T> | undefined> {
    const r = await this.dht.update<T>(id, resolver, options);
    if (r) this.keep(r);
    return r;
  }

  /** Writes through if absent (see {@link Dht.writeIfAbsent}); caches what it wrote or found. */
  async writeIfAbsent<T extends Entity = Entity>(id: Id, entity: T): Promise<WriteIfAbsentResult<T>> {
    const r = await this.dht.writeIfAbsent<T>(id, entity);
    this.keep(r.record);
    return r;
  }

  /** Drops one record from the cache. */
  invalidate(id: Id): void {
    this.lru.delete(id.hex);
  }

  clear(): void {
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }

  private keep(r: DhtRecord): void {
    const cached = this.lru.get(r.id.hex, { allowStale: true });
    if (!cached || cached.version <= r.version) this.lru.set(r.id.hex, copy(r));
  }
}

function copy<T extends Entity>(r: DhtRecord<T>): DhtRecord<T> {
  return { ...r, body: structuredClone(r.body) };
}
