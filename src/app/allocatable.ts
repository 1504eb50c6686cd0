/**
 * The allocatable resource index: a seeded range of values (addresses, ports, VLAN ids, …) in one
 * DHT record, handed out round-robin to consumers under leases.
 *
 * - `allocate(consumer)` takes the next free value after the cursor (round-robin spreads reuse of
 *   released values) with a conditional update; asking again for the same consumer returns its
 *   value (idempotent).
 * - Leases last `leaseMs` (seeded); the node that allocated keeps its leases alive by heartbeat
 *   (one update per range for all of them, every `leaseMs / 3`).
 * - Expired leases — consumers whose node stopped heart-beating — are purged: lazily when an
 *   allocation needs room, and periodically by the range record's root.
 *
 * One record holds the whole range, so a range is limited in size (10,000 values) and in
 * allocation rate (every allocation is a read-modify-write of that record).
 */
import type { Scope } from '../id/index.ts';
import type { Id } from '../id/index.ts';
import type { DhtRecord } from '../dht/index.ts';
import type { Logger } from '../env/index.ts';
import { parseScope } from './activation.ts';
import { AppError, checkName, errorInfo } from './errors.ts';
import type { ApplicationHost } from './host.ts';
import { rangeUri, scopedId } from './records.ts';
import type { RangeRecord } from './records.ts';
import { WatcherService } from './watchers.ts';

/** Options of an {@link AllocatableResourceIndex}. */
export interface AllocatableOptions {
  /** Name of the seeded range. */
  range: string;
  scope?: Scope | 'global' | 'region' | 'az';
  /** Period of lease heartbeats (default: a third of the seeded lease). */
  heartbeatMs?: number;
  /** Period of the root's purge of expired leases. Default 30 s. */
  purgeMs?: number;
}

/** Hands out the values of one seeded range. */
export class AllocatableResourceIndex {
  readonly range: string;
  readonly stats = { allocations: 0, releases: 0, heartbeats: 0, purged: 0 };
  private readonly scope: Scope;
  private readonly mine = new Map<string, string>();
  private readonly watchers: WatcherService;
  private readonly log: Logger;
  private leaseMs = 60_000;

  constructor(
    private readonly host: ApplicationHost,
    private readonly options: AllocatableOptions,
  ) {
    this.range = checkName(options.range, 'range');
    this.scope = parseScope(options.scope);
    this.log = host.env.log.child({ mod: 'ranges', range: this.range });
    this.watchers = new WatcherService(host.env);
    this.watchers.add('purge', () => this.purgeIfRoot(), { intervalMs: options.purgeMs ?? 30_000 });
    this.scheduleHeartbeat(options.heartbeatMs ?? this.leaseMs / 3);
  }

  /** Stops heart-beating and purging (leases then lapse). */
  close(): void {
    this.watchers.stop();
  }

  /** The range record's id. */
  recordId(): Id {
    return scopedId(rangeUri(this.range), this.scope, this.host.location);
  }

  /** Values this node holds leases on, by consumer. */
  allocations(): Map<string, string> {
    return new Map(this.mine);
  }

  /**
   * A value for `consumer`: its current one, else the next free one round-robin. Throws
   * `Exhausted` when every value is leased, `NotSeeded` when the range does not exist.
   */
  async allocate(consumer: string): Promise<string> {
    if (typeof consumer !== 'string' || consumer.length === 0 || consumer.length > 200) throw new AppError('InvalidArgument', 'a consumer must be a string of 1-200 characters');
    const self = this.host.node.id.hex;
    let value: string | undefined;
    let exhausted = false;
    const r = await this.host.dht.update<RangeRecord>(this.recordId(), (cur) => {
      value = undefined;
      exhausted = false;
      const rec = this.usable(cur);
      const now = this.host.env.now();
      const leases = { ...rec.leases };
      for (const [v, l] of Object.entries(leases)) {
        if (l.consumer === consumer) {
          value = v;
          leases[v] = { ...l, node: self, expiresAt: now + rec.leaseMs };
          return { ...rec, leases };
        }
      }
      const n = rec.values.length;
      for (let k = 0; k < n; k++) {
        const i = (rec.cursor + k) % n;
        const v = rec.values[i]!;
        const l = leases[v];
        if (l && l.expiresAt > now) continue;
        value = v;
        leases[v] = { consumer, node: self, expiresAt: now + rec.leaseMs };
        return { ...rec, leases, cursor: (i + 1) % n };
      }
      exhausted = true;
      return null;
    });
    if (exhausted || value === undefined || !r) throw new AppError('Exhausted', `range ${this.range} has no free value for ${consumer}`);
    this.learn(r);
    this.mine.set(consumer, value);
    this.stats.allocations++;
    return value;
  }

  /** Gives back the value of `consumer`. Resolves with the value released, if it had one. */
  async release(consumer: string): Promise<string | undefined> {
    this.mine.delete(consumer);
    let freed: string | undefined;
    await this.host.dht.update<RangeRecord>(this.recordId(), (cur) => {
      freed = undefined;
      const rec = this.usable(cur);
      const entry = Object.entries(rec.leases).find(([, l]) => l.consumer === consumer);
      if (!entry) return null;
      freed = entry[0];
      const leases = { ...rec.leases };
      delete leases[entry[0]];
      return { ...rec, leases };
    });
    if (freed !== undefined) this.stats.releases++;
    return freed;
  }

  /** Renews the leases this node holds (one update for all of them). */
  async heartbeat(): Promise<void> {
    if (this.mine.size === 0) return;
    const self = this.host.node.id.hex;
    const lost: string[] = [];
    const r = await this.host.dht.update<RangeRecord>(this.recordId(), (cur) => {
      lost.length = 0;
      const rec = this.usable(cur);
      const now = this.host.env.now();
      const leases = { ...rec.leases };
      for (const [consumer, value] of this.mine) {
        const l = leases[value];
        if (!l || l.consumer !== consumer) lost.push(consumer);
        else leases[value] = { ...l, node: self, expiresAt: now + rec.leaseMs };
      }
      return { ...rec, leases };
    });
    if (r) this.learn(r);
    this.stats.heartbeats++;
    for (const c of lost) {
      this.log.warn({ code: 'LeaseLost', consumer: c, value: this.mine.get(c) }, `the lease of ${c} on ${this.mine.get(c)} lapsed and was taken`);
      this.mine.delete(c);
    }
  }

  /** Removes expired leases; resolves with how many. */
  async purge(): Promise<number> {
    let n = 0;
    await this.host.dht.update<RangeRecord>(this.recordId(), (cur) => {
      n = 0;
      const rec = this.usable(cur);
      const now = this.host.env.now();
      const leases: RangeRecord['leases'] = {};
      for (const [v, l] of Object.entries(rec.leases)) {
        if (l.expiresAt > now) leases[v] = l;
        else n++;
      }
      return n === 0 ? null : { ...rec, leases };
    });
    this.stats.purged += n;
    return n;
  }

  /** Leases of the range (a fresh read). */
  async leases(): Promise<RangeRecord['leases']> {
    const r = await this.host.dht.get<RangeRecord>(this.recordId());
    return this.usable(r).leases;
  }

  private async purgeIfRoot(): Promise<void> {
    if (!this.host.node.isRoot(this.recordId())) return;
    try {
      const n = await this.purge();
      if (n > 0) this.log.info({ event: 'range.purged', purged: n }, `purged ${n} expired lease(s) of ${this.range}`);
    } catch (err) {
      this.log.warn({ code: errorInfo(err).code, err: errorInfo(err) }, `purging ${this.range} failed`);
    }
  }

  private scheduleHeartbeat(ms: number): void {
    this.watchers.replace('heartbeat', () => this.heartbeat(), { intervalMs: ms });
  }

  private usable(rec: DhtRecord<RangeRecord> | undefined): RangeRecord {
    if (!rec || rec.deleted || !Array.isArray(rec.body.values)) throw new AppError('NotSeeded', `range ${this.range} has not been seeded (record ${rangeUri(this.range)})`);
    return { ...rec.body, leases: rec.body.leases ?? {}, cursor: rec.body.cursor ?? 0 };
  }

  /** Learns the lease length, adapting the heartbeat period to it. */
  private learn(r: DhtRecord<RangeRecord>): void {
    const l = r.body.leaseMs;
    if (typeof l === 'number' && l > 0 && l !== this.leaseMs) {
      this.leaseMs = l;
      if (this.options.heartbeatMs === undefined) this.scheduleHeartbeat(l / 3);
    }
  }
}
