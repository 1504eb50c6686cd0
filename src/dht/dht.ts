/**
 * The DHT on one node: replicated, versioned, durable records on the ring.
 *
 * Every client operation is routed to the key's root, which coordinates the key's replica set
 * (see coordinator.ts); replicas answer the root directly. Requests carry an operation id, so
 * a write retried after a timeout is recognised and completed instead of applied twice. Handoff,
 * anti-entropy and housekeeping keep the replica sets whole (maintenance.ts).
 */
import { Id } from '../id/index.ts';
import type { Env, Logger } from '../env/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import { RpcEndpoint, RpcTimeoutError } from '../overlay/index.ts';
import type { LeafSetChange, PastryNode, RpcReply, RpcRequest } from '../overlay/index.ts';
import { Coordinator } from './coordinator.ts';
import type { ReplicaChannel } from './coordinator.ts';
import { EntityRegistry } from './entities.ts';
import {
  RecordCorruptError,
  DiskFullError,
  DhtClosedError,
  DhtError,
  DhtTimeoutError,
  InvalidArgumentError,
  InvalidEntityError,
  RecordTooLargeError,
  OutcomeUnknownError,
  UnavailableError,
  UpdateRetriesExhaustedError,
  VersionConflictError,
} from './errors.ts';
import type { DhtErrorCode } from './errors.ts';
import { LocalStore } from './local-store.ts';
import type { ApplyMode, CorruptionSource } from './local-store.ts';
import { Maintenance } from './maintenance.ts';
import { Kind } from './protocol.ts';
import type { ErrorReplyBody, ScanBody, ScanReplyBody, WriteBody, WriteMode, WriteReplyBody } from './protocol.ts';
import { digestOf, encodeEntity, isJsonObjectText, isStorageKey, isStoredItem, itemKey, keyPosition, recordKey, toRecord, withoutFields, SORT_KEY_SEPARATOR, checkSortKey } from './record.ts';
import { ReplicaBatcher, BATCHABLE_KINDS, MAX_BATCH_REQUESTS } from './replica-batcher.ts';
import type { BatchAnswer, BatchReplyBody } from './replica-batcher.ts';
import { replicaSetOf } from './replicas.ts';
import { compareUtf8 } from './storage/sorted.ts';
import type { StorageEngine } from './storage/types.ts';
import { DEFAULT_DHT_OPTIONS, emptyDhtStats } from './types.ts';
import type { DhtOptions, DhtRecord, DhtStats, Entity, StoredItem } from './types.ts';
import type { QuarantinedItem } from './storage/types.ts';
import { StaleStoreGuard } from './stale-store.ts';
import type { StaleStoreReport } from './stale-store.ts';

/** What a {@link Dht} is built from. */
export interface DhtConfig {
  env: Env;
  node: PastryNode;
  storage: StorageEngine;
  options?: Partial<DhtOptions>;
  /** Validators by entity type (default: an empty, non-strict registry). */
  entities?: EntityRegistry;
  /** Application name on the overlay. Default `dht`. */
  name?: string;
  /**
   * Told when a record quarantined here turns out to have no good copy on the ring (see
   * {@link Dht.checkQuarantined}); the node raises its critical alert `RecordUnrestored`.
   */
  onRecordUnrestored?: (key: string, total: number) => void;
  /**
   * Told when this node, back from an absence longer than the tombstone grace period, found its
   * store stale and set it aside (see stale-store.ts).
   */
  onStaleStoreSetAside?: (report: StaleStoreReport) => void;
}

/** Quarantined keys awaiting the check that a good copy exists (at most this many are tracked). */
const MAX_QUARANTINE_CHECKS = 10_000;

/** Computes the next entity from the current record (undefined: none); null writes nothing. */
export type Resolver<T extends Entity = Entity> = (current: DhtRecord<T> | undefined) => T | null | Promise<T | null>;

/** Options of {@link Dht.update}. */
export interface UpdateOptions {
  /** Conflict retries before giving up (default: options.updateRetries). */
  retries?: number;
}

/** Result of a write-if-absent. */
export interface WriteIfAbsentResult<T extends Entity = Entity> {
  /** Whether this call wrote (false: a live record was there). */
  written: boolean;
  /** The record written, or the live one found. */
  record: DhtRecord<T>;
}

/** Options of {@link Dht.scanPartition}. */
export interface ScanPartitionOptions {
  /** First sort key to return (inclusive). */
  from?: string;
  /** Only sort keys with this prefix. */
  prefix?: string;
  /** Most items to return. Default 100, at most 10 000. */
  limit?: number;
  /** Continuation returned by the previous page. */
  after?: string;
  /** Return tombstones too. Default false. */
  includeDeleted?: boolean;
  /**
   * Top-level fields of the bodies to leave out (at most {@link MAX_OMITTED_FIELDS}; bodies under
   * 1 KiB come whole), for
   * listings that do not need large ones: the replicas drop them before answering, so they are
   * neither sent nor parsed. The records returned are partial: never write them back.
   */
  omit?: readonly string[];
}

/** A page of a partition. */
export interface PartitionPage<T extends Entity = Entity> {
  items: DhtRecord<T>[];
  /** Pass as `after` to get the next page; undefined at the end. */
  next: string | undefined;
}

/** Options of {@link Dht.localScan}. */
export interface LocalScanOptions {
  /** Only records of this entity type. */
  type?: string;
  /** Only records this node is the root for. */
  rootOnly?: boolean;
  /** Include tombstones. Default false. */
  includeDeleted?: boolean;
}

const MAX_SCAN_LIMIT = 10_000;
/** Distinct malformed-input and corruption events logged (one line each) before the DHT stops logging them. */
const MAX_LOGGED_TAGS = 10_000;
/**
 * A write the replica set refuses for want of disk space (DiskFull) is retried this long before
 * it fails with DiskFull: a set short of a member suspected for a moment (a node under load
 * misses heartbeats) may have too few members with room, and the next attempt enough.
 */
const DISK_FULL_RETRY_MS = 2000;
/** Most fields a scan may omit from its items' bodies. */
export const MAX_OMITTED_FIELDS = 8;
/** Index entries summed up at start between turns of the event loop (30–55 ms of work at 200-byte records). */
const SUM_PAGE = 20_000;

export class Dht {
  readonly options: DhtOptions;
  readonly stats: DhtStats = emptyDhtStats();
  readonly entities: EntityRegistry;
  readonly node: PastryNode;
  private readonly env: Env;
  private readonly log: Logger;
  private readonly rpc: RpcEndpoint;
  private readonly store: LocalStore;
  private readonly coordinator: Coordinator;
  private readonly maintenance: Maintenance;
  /** Holds the store of a node back from a long absence until its peers say it is not stale. */
  private readonly staleGuard: StaleStoreGuard;
  private readonly batcher: ReplicaBatcher;
  private epochValue = 0;
  /** When each current leaf-set member was added (reads prefer members that had time to sync). */
  private readonly memberSince = new Map<string, number>();
  private closed = false;
  private readonly badInputLogged = new Set<string>();
  /** Keys quarantined here, with the version lost and when: checked until a good copy is seen. */
  private readonly quarantineChecks = new Map<string, { v: number; at: number }>();
  private readonly onRecordUnrestored: ((key: string, total: number) => void) | undefined;

  constructor(config: DhtConfig) {
    this.env = config.env;
    this.node = config.node;
    this.options = { ...DEFAULT_DHT_OPTIONS, ...config.options };
    checkOptions(this.options);
    this.entities = config.entities ?? new EntityRegistry();
    this.log = config.env.log.child({ app: config.name ?? 'dht', node: config.node.id.short() });
    this.onRecordUnrestored = config.onRecordUnrestored;
    this.store = new LocalStore(config.storage, (item, source) => this.onCorruptItem(item, source), { counters: this.stats, now: () => this.env.now(), sumInPages: true });
    void this.sumStore();
    this.batcher = new ReplicaBatcher(
      this.env,
      (to, kind, body, timeoutMs) => this.rpc.requestDirect(to, kind, body, { timeoutMs }).then(unwrap),
      { window: this.options.replicaBatchWindow, maxRequests: this.options.replicaBatchMaxRequests, maxBytes: 4 * 1024 * 1024, timeoutMs: this.options.replicaTimeoutMs },
      this.stats,
    );
    this.rpc = new RpcEndpoint(config.name ?? 'dht', config.node, config.env, {
      onRequest: (req) => this.onRequest(req),
      onLeafSetChanged: (change) => this.onLeafSetChanged(change),
    });
    const channel: ReplicaChannel & { route(position: Id, kind: string, body: unknown): Promise<unknown> } = {
      self: config.node.handle,
      replicaSet: (pos) => this.replicaSet(pos),
      ask: (to, kind, body) => this.ask(to, kind, body),
      epoch: () => this.epochValue,
      settled: (h) => {
        const since = this.memberSince.get(h.id.hex);
        return since !== undefined && this.env.now() - since >= this.options.settleMs;
      },
      route: (pos, kind, body) => this.rpc.request(pos, kind, body, { timeoutMs: this.options.attemptTimeoutMs }).then(unwrap),
    };
    this.coordinator = new Coordinator(this.env, this.store, channel, this.options, this.stats, this.log);
    this.maintenance = new Maintenance(this.env, this.node, this.store, channel, this.coordinator, this.options, this.stats, this.log);
    this.maintenance.afterHousekeeping = async () => {
      await this.checkQuarantined();
      await this.staleGuard.noteAlive();
    };
    this.maintenance.beforeTombstonesRemoved = (newest) => this.staleGuard.notePurged(newest);
    this.staleGuard = new StaleStoreGuard({
      env: this.env,
      node: this.node,
      store: this.store,
      options: this.options,
      stats: this.stats,
      log: this.log,
      askHorizon: (to) => this.rpc.requestDirect(to, Kind.HORIZON, {}, { timeoutMs: this.options.attemptTimeoutMs }).then(unwrap),
      release: () => this.maintenance.start(),
      onSetAside: config.onStaleStoreSetAside,
    });
    this.resumeQuarantineChecks();
    config.node.register(this.rpc);
    this.staleGuard.start();
  }

  /**
   * Sums up the store's index in pages, other work let in between: the node serves at once, and
   * a store of millions of records does not block its start for seconds.
   */
  private async sumStore(): Promise<void> {
    const started = this.env.now();
    while (!this.closed && !this.store.sumPage(SUM_PAGE)) await new Promise<void>((resolve) => this.env.defer(resolve));
    if (this.closed) return;
    this.log.info({ event: 'dht.storeSummed', items: this.store.size, ms: this.env.now() - started }, `store index summed up: ${this.store.size} items`);
  }

  /** Whether the store's index has been summed up since start (`localSize` is then exact). */
  get storeSummed(): boolean {
    return this.store.summed;
  }

  /** Items held on this node (while the store's index is still being summed up at start: those summed so far). */
  get localSize(): number {
    return this.store.size;
  }

  /** Damaged items this node's storage holds in quarantine (not served; kept for an operator). */
  get quarantinedItems(): number {
    return this.store.engine.quarantinedCount;
  }

  /** The damaged items in this node's quarantine, in key order (at most `limit`). */
  quarantined(limit: number): QuarantinedItem[] {
    const out: QuarantinedItem[] = [];
    for (const item of this.store.engine.quarantined()) {
      if (out.length >= limit) break;
      out.push(item);
    }
    return out;
  }

  /** Empties this node's quarantine; resolves with the number of items removed. */
  clearQuarantine(): Promise<number> {
    return this.store.engine.clearQuarantine();
  }

  // ---------------------------------------------------------------------------------------------
  // Records

  /**
   * Reads `id` from its replica set: resolves once the read quorum answered, with the highest
   * version (a tombstone comes back with `deleted: true`), or undefined if there is none.
   */
  get<T extends Entity = Entity>(id: Id): Promise<DhtRecord<T> | undefined> {
    return this.readKey<T>('get', recordKey(id), id);
  }

  /** The nearest copy (this node's own, else the root's): fastest, with no freshness promise. */
  async getAny<T extends Entity = Entity>(id: Id): Promise<DhtRecord<T> | undefined> {
    this.begin('getAny');
    const local = this.staleGuard.held ? undefined : this.store.get(recordKey(id));
    if (local) return toRecord<T>(local);
    const start = this.env.now();
    const body = (await this.call('getAny', id, Kind.GET_ANY, { k: recordKey(id) })) as { i: StoredItem | null };
    this.end('getAny', start);
    return body.i ? toRecord<T>(body.i) : undefined;
  }

  /**
   * Stores `entity` at version `entity.version + 1` (a new record: version 1). Refused with
   * {@link VersionConflictError} when a replica holds a version newer than `entity.version`.
   */
  async put<T extends Entity = Entity>(id: Id, entity: T): Promise<DhtRecord<T>> {
    const r = await this.writeKey<T>('put', recordKey(id), id, 'put', entity, entity.version ?? 0);
    return r.record;
  }

  /**
   * Optimistic read-modify-write: reads the record, asks `resolver` for the next entity (null:
   * write nothing) and writes it on condition that the version is still the one read. On a
   * conflict it re-reads and re-resolves after a jittered backoff, up to `retries` times.
   * Resolves with the record written (or the current one if the resolver returned null).
   */
  update<T extends Entity = Entity>(id: Id, resolver: Resolver<T>, options: UpdateOptions = {}): Promise<DhtRecord<T> | undefined> {
    return this.updateKey<T>(recordKey(id), id, resolver, options);
  }

  /** Writes `entity` only if there is no record or only a tombstone; reports whether it wrote. */
  writeIfAbsent<T extends Entity = Entity>(id: Id, entity: T): Promise<WriteIfAbsentResult<T>> {
    return this.writeKey<T>('writeIfAbsent', recordKey(id), id, 'wia', entity, 0);
  }

  // ---------------------------------------------------------------------------------------------
  // Sorted partitions

  /** Reads one item of a partition (quorum read, as {@link get}). */
  getItem<T extends Entity = Entity>(partition: Id, sortKey: string): Promise<DhtRecord<T> | undefined> {
    return this.readKey<T>('getItem', itemKey(partition, sortKey), partition);
  }

  /** Stores one item of a partition (as {@link put}). */
  async putItem<T extends Entity = Entity>(partition: Id, sortKey: string, entity: T): Promise<DhtRecord<T>> {
    const r = await this.writeKey<T>('putItem', itemKey(partition, sortKey), partition, 'put', entity, entity.version ?? 0);
    return r.record;
  }

  /** Read-modify-write of one item (as {@link update}). */
  updateItem<T extends Entity = Entity>(partition: Id, sortKey: string, resolver: Resolver<T>, options: UpdateOptions = {}): Promise<DhtRecord<T> | undefined> {
    return this.updateKey<T>(itemKey(partition, sortKey), partition, resolver, options);
  }

  /** Writes one item only if absent or a tombstone (as {@link writeIfAbsent}). */
  writeItemIfAbsent<T extends Entity = Entity>(partition: Id, sortKey: string, entity: T): Promise<WriteIfAbsentResult<T>> {
    return this.writeKey<T>('writeItemIfAbsent', itemKey(partition, sortKey), partition, 'wia', entity, 0);
  }

  /**
   * Items of a partition in sort-key order (UTF-8 byte order), starting at `from` / `prefix` or
   * after the continuation `after`. Each page is merged from the read quorum of the replicas.
   */
  async scanPartition<T extends Entity = Entity>(partition: Id, options: ScanPartitionOptions = {}): Promise<PartitionPage<T>> {
    this.begin('scanPartition');
    const start = this.env.now();
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SCAN_LIMIT) throw new InvalidArgumentError(`limit must be an integer 1..${MAX_SCAN_LIMIT}`);
    const base = partition.hex + SORT_KEY_SEPARATOR;
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string') throw new InvalidArgumentError('prefix must be a string');
    let first = prefix;
    if (options.from !== undefined) {
      checkSortKey(options.from);
      if (compareUtf8(options.from, first) > 0) first = options.from;
    }
    let s = base + first;
    let after = false;
    if (options.after !== undefined) {
      const sk = decodeContinuation(options.after);
      if (compareUtf8(sk, first) >= 0) {
        s = base + sk;
        after = true;
      }
    }
    const omit = options.omit === undefined || options.omit.length === 0 ? undefined : checkOmitted(options.omit);
    const items: DhtRecord<T>[] = [];
    let next: string | undefined;
    for (;;) {
      const body: ScanBody = { s, a: after, p: base + prefix, l: limit - items.length };
      if (omit) body.x = omit;
      const page = (await this.call('scanPartition', partition, Kind.SCAN, body)) as ScanReplyBody;
      for (const it of page.i) if (options.includeDeleted || !it.d) items.push(toRecord<T>(it));
      const last = page.i[page.i.length - 1];
      if (!page.more || !last) {
        next = undefined;
        break;
      }
      s = last.k;
      after = true;
      if (items.length >= limit) {
        next = encodeContinuation(last.k.slice(base.length));
        break;
      }
    }
    this.end('scanPartition', start);
    return { items, next };
  }

  // ---------------------------------------------------------------------------------------------
  // Local scan

  /**
   * The records held on this node, read-only (by type, optionally only those this node is the
   * root for). Changing them goes through the DHT operations, never through a scan.
   */
  *localScan<T extends Entity = Entity>(options: LocalScanOptions = {}): Generator<DhtRecord<T>> {
    const keep = this.scanFilter(options);
    for (const item of this.store.all()) {
      if (!keep(item)) continue;
      const record = this.readable<T>(item);
      if (record) yield record;
    }
  }

  /** The record of a stored item, or undefined (logged once) when its body cannot be read: a node-wide scan goes on past it. */
  private readable<T extends Entity>(item: StoredItem): DhtRecord<T> | undefined {
    try {
      return toRecord<T>(item);
    } catch (err) {
      if (this.firstTime(`unreadable:${item.k}`)) this.log.error({ code: 'RecordCorrupt', key: item.k.slice(0, 200), version: item.v, reason: (err as Error).message }, 'a stored record cannot be read; local scans skip it');
      return undefined;
    }
  }

  /**
   * {@link localScan} for background work over a large store: the same records, but the scan lets
   * other work run (heartbeats, requests) after every `sliceItems` stored items it examined,
   * matching or not, so that reading a whole store never holds the event loop for long.
   */
  async *localScanSliced<T extends Entity = Entity>(options: LocalScanOptions = {}, sliceItems = 2000): AsyncGenerator<DhtRecord<T>> {
    const keep = this.scanFilter(options);
    let examined = 0;
    for (const item of this.store.all()) {
      if (++examined % sliceItems === 0) await new Promise<void>((resolve) => this.env.defer(resolve));
      if (!keep(item)) continue;
      const record = this.readable<T>(item);
      if (record) yield record;
    }
  }

  /** Which stored items a local scan with `options` returns (items come in key order). */
  private scanFilter(options: LocalScanOptions): (item: StoredItem) => boolean {
    let pos: string | undefined;
    let root = false;
    return (item) => {
      if (item.d && !options.includeDeleted) return false;
      if (options.type !== undefined && item.t !== options.type) return false;
      if (options.rootOnly) {
        const p = keyPosition(item.k);
        if (p !== pos) {
          pos = p;
          root = this.node.isRoot(toRecordId(p));
        }
        if (!root) return false;
      }
      return true;
    };
  }



  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Leaves the ring gracefully: hands every record this node replicates to its successor in the
   * replica set, then leaves the overlay and closes. Resolves with the items handed off.
   */
  async leave(): Promise<number> {
    const handed = await this.handOff();
    this.close();
    await this.node.leave();
    return handed;
  }

  /**
   * Sends every record this node replicates to the node that takes its place in the record's
   * replica set (the first step of {@link leave}). Resolves with the items acknowledged.
   */
  handOff(): Promise<number> {
    return this.node.isReady && !this.staleGuard.held ? this.maintenance.handOffAll() : Promise.resolve(0);
  }

  /** Stops timers and answers; the storage engine stays open (its owner closes it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.staleGuard.close();
    this.maintenance.stop();
    this.rpc.close();
    this.node.unregister(this.rpc.name);
  }

  /** Runs one anti-entropy pass now (tests and tools; it also runs periodically). */
  antiEntropy(): Promise<void> {
    return this.staleGuard.held ? Promise.resolve() : this.maintenance.antiEntropy();
  }

  /** Whether this node, back from a long absence, holds its store until its peers say it is not stale (stale-store.ts). */
  get storeHeld(): boolean {
    return this.staleGuard.held;
  }

  /** Runs one housekeeping pass now (tests and tools; it also runs periodically). */
  housekeeping(): Promise<void> {
    return this.staleGuard.held ? Promise.resolve() : this.maintenance.housekeeping();
  }

  /** The replica set of a ring position as this node sees it (closest first). */
  replicaSet(position: Id): NodeHandle[] {
    return replicaSetFor(this.node, position, this.options.replicas);
  }

  /** This node's stored copy of a record, without asking anyone (tests and tools). */
  localGet(id: Id, sortKey?: string): StoredItem | undefined {
    return this.store.get(sortKey === undefined ? recordKey(id) : itemKey(id, sortKey));
  }

  // ---------------------------------------------------------------------------------------------
  // Client side

  private async readKey<T extends Entity>(op: string, key: string, route: Id): Promise<DhtRecord<T> | undefined> {
    this.begin(op);
    const start = this.env.now();
    // A node that knows the key's whole replica set reads the quorum itself instead of routing to
    // the root (any node can coordinate a read; only writes need the root). Being in leaf-set
    // range is not enough: near its ends, nodes it does not know can be among the closest, and a
    // quorum of the wrong set can miss an acknowledged write.
    const replicas = this.node.isReady && this.node.inLeafSetRange(route) ? this.replicaSet(route) : undefined;
    // (Not while the store is held: its own copy may be stale, see stale-store.ts.)
    const local = replicas !== undefined && !this.staleGuard.held && this.node.knowsNodesAround(route, replicas);
    const body = (await this.call(op, route, Kind.GET, { k: key }, local ? () => this.localRead(key, replicas) : undefined)) as { i: StoredItem | null };
    this.end(op, start);
    return body.i ? toRecord<T>(body.i) : undefined;
  }

  private async writeKey<T extends Entity>(op: string, key: string, route: Id, mode: WriteMode, entity: T, expected: number): Promise<WriteIfAbsentResult<T>> {
    this.begin(op);
    const start = this.env.now();
    const w = this.prepareWrite(key, mode, entity, expected);
    try {
      const reply = (await this.call(op, route, Kind.WRITE, w)) as WriteReplyBody;
      this.end(op, start);
      return { written: reply.w, record: toRecord<T>(reply.i) };
    } catch (err) {
      if (err instanceof VersionConflictError) this.countError(err.code);
      throw err;
    }
  }

  private prepareWrite(key: string, mode: WriteMode, entity: Entity, expected: number): WriteBody {
    if (this.closed) throw new DhtClosedError();
    if (!Number.isSafeInteger(expected) || expected < 0) throw new InvalidArgumentError(`entity.version must be a non-negative integer, got ${String(expected)}`);
    this.entities.validate(entity);
    const enc = encodeEntity(entity, this.options.maxRecordBytes);
    return { k: key, m: mode, t: this.entities.typeOf(entity) ?? enc.type, u: enc.uri, d: enc.deleted, b: enc.json, x: expected, op: this.rpc.nextId() };
  }

  private async updateKey<T extends Entity>(key: string, route: Id, resolver: Resolver<T>, options: UpdateOptions): Promise<DhtRecord<T> | undefined> {
    const op = key.length > 40 ? 'updateItem' : 'update';
    this.begin(op);
    const start = this.env.now();
    const retries = options.retries ?? this.options.updateRetries;
    for (let attempt = 0; attempt <= retries; attempt++) {
      const body = (await this.call(op, route, Kind.GET, { k: key })) as { i: StoredItem | null };
      const current = body.i ? toRecord<T>(body.i) : undefined;
      const next = await resolver(current);
      if (next === null) {
        this.end(op, start);
        return current;
      }
      const w = this.prepareWrite(key, 'cas', next, current?.version ?? 0);
      try {
        const reply = (await this.call(op, route, Kind.WRITE, w)) as WriteReplyBody;
        this.end(op, start);
        return toRecord<T>(reply.i);
      } catch (err) {
        if (!(err instanceof VersionConflictError)) throw err;
        this.stats.updateConflicts++;
        if (attempt < retries) await this.env.sleep(this.env.random.jitter(this.options.updateBackoffMs * Math.min(2 ** attempt, 32), 0.5));
      }
    }
    this.countError('UpdateRetriesExhausted');
    throw new UpdateRetriesExhaustedError(key.slice(0, 40), retries + 1);
  }

  /** A quorum read coordinated by this node, answered like the root's reply. */
  private localRead(key: string, replicas: NodeHandle[]): Promise<{ code: number; body: unknown }> {
    return this.coordinator.get(key, replicas).then(
      (i) => ({ code: 200, body: { i: i ?? null } }),
      (err: { code?: string; message?: string }) => ({ code: 500, body: { error: err.code ?? 'InternalError', message: err.message ?? '' } }),
    );
  }

  /**
   * Routes a request to the root of `route` (the first attempt runs `local` instead, when given);
   * retries after timeouts and unavailable replica sets (with the same body, so writes stay
   * idempotent) until the operation's deadline.
   */
  private async call(op: string, route: Id, kind: string, body: unknown, local?: () => Promise<{ code: number; body: unknown }>): Promise<unknown> {
    if (this.closed) throw new DhtClosedError();
    const first = this.env.now();
    const deadline = first + this.options.operationTimeoutMs;
    let last: string | undefined;
    /** When the replica set first answered DiskFull. */
    let fullSince: number | undefined;
    let payload = body;
    for (let attempt = 0; ; attempt++) {
      // A retried write says when it was first sent (the root checks the record still knows).
      if (attempt === 1 && kind === Kind.WRITE) payload = { ...(body as WriteBody), f: first };
      const remaining = deadline - this.env.now();
      if (remaining <= 0) {
        this.countError('Timeout');
        throw new DhtTimeoutError(op, this.options.operationTimeoutMs, last);
      }
      try {
        const resp = local && attempt === 0 ? await local() : await this.rpc.request(route, kind, payload, { timeoutMs: Math.min(this.options.attemptTimeoutMs, remaining) });
        if (resp.code === 200) return resp.body;
        const err = resp.body as ErrorReplyBody;
        if (resp.code === 409 && err?.error === 'VersionConflict') {
          const k = (body as { k?: string }).k ?? '';
          throw new VersionConflictError(k.slice(0, 40), err.expected ?? 0, err.current ?? 0);
        }
        if (err?.error === 'OutcomeUnknown') {
          this.countError('OutcomeUnknown');
          throw new OutcomeUnknownError(((body as { k?: string }).k ?? '').slice(0, 40));
        }
        if (err?.error === 'DiskFull') {
          // Too many replicas are out of space for a quorum. Retried for a while all the same:
          // the set may have been short of a member only suspected a moment (under load).
          fullSince ??= this.env.now();
          if (this.env.now() - fullSince >= DISK_FULL_RETRY_MS || deadline - this.env.now() <= DISK_FULL_RETRY_MS / 4) {
            this.countError('DiskFull');
            throw new DiskFullError(err.message ?? 'the replica set is out of disk space');
          }
        }
        if (resp.code === 403) {
          this.countError(err?.error ?? 'InvalidArgument');
          throw new DhtError((err?.error ?? 'InvalidArgument') as DhtErrorCode, err?.message ?? 'refused');
        }
        last = `${err?.error ?? resp.code}: ${err?.message ?? ''}`;
      } catch (e) {
        if (e instanceof DhtError) throw e;
        if (!(e instanceof RpcTimeoutError)) {
          if ((e as { code?: string }).code === 'Closed') throw new DhtClosedError();
          throw e;
        }
        last = e.message;
      }
      this.stats.retries++;
      const wait = Math.min(this.env.random.jitter(50 * 2 ** Math.min(attempt, 4), 0.5), Math.max(0, deadline - this.env.now()));
      await this.env.sleep(wait);
    }
  }

  /**
   * A damaged item: stored here (quarantined by the store; anti-entropy and reads take the other
   * replicas' copies) or arriving from a peer (refused). Logged once per key and source.
   */
  private onCorruptItem(item: StoredItem, source: CorruptionSource): void {
    if (source === 'stored') {
      this.stats.recordsCorrupt++;
      if (this.quarantineChecks.size < MAX_QUARANTINE_CHECKS) this.quarantineChecks.set(item.k, { v: item.v, at: this.env.now() });
    } else {
      this.stats.recordsRefusedCorrupt++;
    }
    if (!this.firstTime(`corrupt:${source}:${item.k}`)) return;
    if (source === 'stored') {
      this.log.error({ code: 'RecordCorrupt', key: item.k.slice(0, 200), version: item.v }, 'stored item does not match its checksum: moved to quarantine, a replica copy will replace it');
    } else {
      this.log.warn({ code: 'RecordCorrupt', key: item.k.slice(0, 200), version: item.v }, 'item from a peer does not match its checksum: refused');
    }
  }

  /**
   * After a restart, the checks of records quarantined before it and not restored since (the
   * engine kept their damaged copies; a version at least as new is not stored here) start again,
   * due two anti-entropy periods from now. A record reported unrestored before the restart is
   * reported again if it still is: the quarantine keeps it until an operator clears it. Copies
   * quarantined longer ago than the tombstone grace period are left alone: their check was due
   * long before, and a record restored then deleted since would leave no trace to find.
   */
  private resumeQuarantineChecks(): void {
    const now = this.env.now();
    for (const lost of this.store.engine.quarantined()) {
      if (this.quarantineChecks.size >= MAX_QUARANTINE_CHECKS) break;
      if (lost.qa !== undefined && now - lost.qa > this.options.tombstoneGraceMs) continue;
      if ((this.store.get(lost.k)?.v ?? 0) >= lost.v) continue;
      const pending = this.quarantineChecks.get(lost.k);
      if (!pending || pending.v < lost.v) this.quarantineChecks.set(lost.k, { v: lost.v, at: now });
    }
  }

  /**
   * For each record quarantined here at least two anti-entropy periods ago: is a good copy of the
   * lost version (or a later one) back here, or on the ring (a quorum read)? If not, the record
   * has no good copy left — every replica's was damaged — and reads answer it as absent: counted
   * (`recordsUnrestored`), logged once (`RecordUnrestored`) and reported (the node's alert). Its
   * damaged copies stay in the quarantines. Runs after each housekeeping pass.
   */
  async checkQuarantined(): Promise<void> {
    const due = this.env.now() - 2 * this.options.antiEntropyIntervalMs;
    for (const [key, lost] of [...this.quarantineChecks]) {
      if (this.closed) return;
      if (lost.at > due) continue;
      if ((this.store.get(key)?.v ?? 0) >= lost.v) {
        this.quarantineChecks.delete(key);
        continue;
      }
      let found: number;
      try {
        const body = (await this.call('get', toRecordId(keyPosition(key)), Kind.GET, { k: key })) as { i: StoredItem | null };
        found = body.i?.v ?? 0;
      } catch {
        continue; // the ring cannot answer now: asked again after the next pass
      }
      this.quarantineChecks.delete(key);
      if (found >= lost.v) continue;
      this.stats.recordsUnrestored++;
      this.log.error(
        { code: 'RecordUnrestored', key: key.slice(0, 200), version: lost.v, found: found || null },
        'a damaged record has no good copy on the ring: it reads as absent; its damaged copies are kept in the quarantine databases',
      );
      this.onRecordUnrestored?.(key, this.stats.recordsUnrestored);
    }
  }

  private begin(op: string): void {
    this.stats.ops[op] = (this.stats.ops[op] ?? 0) + 1;
  }

  private end(op: string, start: number): void {
    this.stats.latencyMsSum[op] = (this.stats.latencyMsSum[op] ?? 0) + (this.env.now() - start);
  }

  private countError(code: string): void {
    this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
  }

  // ---------------------------------------------------------------------------------------------
  // Server side

  private onLeafSetChanged(change: LeafSetChange): void {
    this.epochValue++;
    const now = this.env.now();
    for (const h of change.added) this.memberSince.set(h.id.hex, now);
    for (const h of change.removed) this.memberSince.delete(h.id.hex);
    this.coordinator.invalidate();
    this.maintenance.leafSetChanged(change);
  }

  /** Sends a replica request, or handles it here when `to` is this node. */
  private ask(to: NodeHandle, kind: string, body: unknown): Promise<unknown> {
    if (to.id.hex === this.node.id.hex) {
      try {
        return Promise.resolve(this.replicaRequest(kind, body));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    return this.batcher.ask(to, kind, body);
  }

  private onRequest(req: RpcRequest): RpcReply | undefined | Promise<RpcReply | undefined> {
    try {
      const b = req.body as Record<string, unknown> | null;
      if (typeof b !== 'object' || b === null) throw new InvalidArgumentError('request body must be an object');
      if (req.kind === Kind.HORIZON) return { body: this.staleGuard.horizon() };
      // Nothing is served from a store that may be stale, nor written into it (it may be emptied).
      if (this.staleGuard.held) throw new UnavailableError('this node is checking with its peers whether its store went stale while it was away');
      switch (req.kind) {
        case Kind.GET:
          return this.coordinator.get(checkKey(b.k)).then((i) => ({ body: { i: i ?? null } }), (err) => this.errorReply(req, err));
        case Kind.GET_ANY:
          return { body: { i: this.store.get(checkKey(b.k)) ?? null } };
        case Kind.WRITE:
          return this.coordinator.write(this.checkWrite(b)).catch((err) => this.errorReply(req, err));
        case Kind.SCAN:
          return this.coordinator.scan(checkScan(b)).then((body) => ({ body }), (err) => this.errorReply(req, err));
        case Kind.REPAIR:
          void this.coordinator.repair(checkKey(b.k)).catch(() => {});
          return undefined;
        case Kind.R_BATCH: {
          const result = this.replicaBatch(req, b);
          return result instanceof Promise ? result.then((body) => ({ body })) : { body: result };
        }
        default: {
          const result = this.replicaRequest(req.kind, b);
          return result instanceof Promise ? result.then((body) => ({ body }), (err) => this.errorReply(req, err)) : { body: result };
        }
      }
    } catch (err) {
      return this.errorReply(req, err);
    }
  }

  /** Requests a replica answers (from its root, a peer, or itself). */
  private replicaRequest(kind: string, body: unknown): unknown {
    const b = body as Record<string, unknown>;
    switch (kind) {
      case Kind.R_GET:
        return { i: this.store.get(checkKey(b.k)) ?? null };
      case Kind.R_DIGEST: {
        // Read and checked like R_GET: a damaged copy is quarantined and reported as absent.
        const item = this.store.get(checkKey(b.k));
        return { s: item ? digestOf(item) : null };
      }
      case Kind.R_PUT: {
        if (!isStoredItem(b.i)) throw new InvalidArgumentError('r.put needs an item');
        this.checkBodySize(b.i.b);
        const mode = b.m === 'merge' || b.m === 'supersede' ? (b.m as ApplyMode) : 'write';
        const r = this.store.apply(b.i, mode);
        if (r.corrupt) throw new RecordCorruptError(b.i.k.slice(0, 80));
        if (r.refused) throw r.refused;
        if (r.applied) {
          this.stats.itemsStored++;
          return r.durable.then(() => ({ ok: true }));
        }
        const have = r.have;
        if (have && have.v === b.i.v && have.op === b.i.op) return { ok: true };
        return { ok: false, have: have ? { k: have.k, v: have.v, op: have.op, d: have.d } : undefined };
      }
      case Kind.R_MERGE:
      case Kind.HAND: {
        if (!Array.isArray(b.i)) throw new InvalidArgumentError('merge needs a list of items');
        const durable: Promise<void>[] = [];
        let n = 0;
        for (const item of b.i) {
          if (!isStoredItem(item) || this.bodyBytes(item.b) > this.options.maxRecordBytes) continue;
          const r = this.store.apply(item, 'merge');
          if (r.applied) {
            n++;
            durable.push(r.durable);
          }
        }
        this.stats.itemsStored += n;
        return Promise.all(durable).then(() => ({ n }));
      }
      case Kind.R_SCAN:
        return this.replicaScan(checkScan(b));
      case Kind.AE_DIGEST:
      case Kind.AE_LIST:
      case Kind.AE_FETCH:
        return this.maintenance.handle(kind, b);
      default:
        throw new InvalidArgumentError(`unknown request kind "${kind}"`);
    }
  }

  /** Answers each request of a batch as if it came alone; one answer per request, in order. */
  private replicaBatch(req: RpcRequest, b: Record<string, unknown>): BatchReplyBody | Promise<BatchReplyBody> {
    const list = b.r;
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BATCH_REQUESTS) throw new InvalidArgumentError(`a batch holds 1..${MAX_BATCH_REQUESTS} requests`);
    const answers: BatchAnswer[] = new Array<BatchAnswer>(list.length);
    const waits: Promise<void>[] = [];
    const fail = (i: number, err: unknown): void => {
      const reply = this.errorReply(req, err);
      const e = reply.body as ErrorReplyBody;
      answers[i] = { e: e.error, m: e.message };
    };
    for (let i = 0; i < list.length; i++) {
      const entry: unknown = list[i];
      try {
        if (!Array.isArray(entry) || entry.length !== 2 || !BATCHABLE_KINDS.has(entry[0] as string) || typeof entry[1] !== 'object' || entry[1] === null) {
          throw new InvalidArgumentError('a batch entry is [kind, body] of r.get, r.digest or r.put');
        }
        const result = this.replicaRequest(entry[0] as string, entry[1]);
        if (result instanceof Promise) {
          waits.push(
            result.then(
              (body) => void (answers[i] = { b: body }),
              (err) => fail(i, err),
            ),
          );
        } else {
          answers[i] = { b: result };
        }
      } catch (err) {
        fail(i, err);
      }
    }
    return waits.length === 0 ? { r: answers } : Promise.all(waits).then(() => ({ r: answers }));
  }

  private replicaScan(s: ScanBody): ScanReplyBody {
    const out: StoredItem[] = [];
    const end = s.p.slice(0, 40) + '0';
    for (const k of this.store.keysIn(s.s, end)) {
      if (s.a && k === s.s) continue;
      if (!k.startsWith(s.p)) {
        if (compareUtf8(k, s.p) > 0) break;
        continue;
      }
      const it = this.store.get(k);
      if (!it) continue;
      if (out.length >= s.l) return { i: out, more: true };
      out.push(s.x ? withoutFields(it, s.x) : it);
    }
    return { i: out, more: false };
  }

  private checkWrite(b: Record<string, unknown>): WriteBody {
    const k = checkKey(b.k);
    if (b.m !== 'put' && b.m !== 'cas' && b.m !== 'wia') throw new InvalidArgumentError('write mode must be put, cas or wia');
    if (typeof b.t !== 'string' || (b.u !== null && typeof b.u !== 'string') || typeof b.d !== 'boolean' || typeof b.b !== 'string') {
      throw new InvalidArgumentError('write needs type, uri, deleted flag and JSON body');
    }
    if (typeof b.x !== 'number' || !Number.isSafeInteger(b.x) || b.x < 0 || typeof b.op !== 'string' || b.op.length === 0 || b.op.length > 200) {
      throw new InvalidArgumentError('write needs an expected version and an operation id');
    }
    this.checkBodySize(b.b);
    // Stored, sealed and replicated, a body no reader can parse would break every read of it.
    if (!isJsonObjectText(b.b)) throw new InvalidEntityError('the record body must be the JSON of an object');
    const w: WriteBody = { k, m: b.m, t: b.t, u: b.u as string | null, d: b.d, b: b.b, x: b.x, op: b.op };
    if (typeof b.f === 'number' && Number.isFinite(b.f)) w.f = b.f;
    return w;
  }

  /**
   * Whether `tag` is logged for the first time. The tags come from peers' input (request kinds,
   * keys), so the memory of them is bounded: past {@link MAX_LOGGED_TAGS} nothing more is logged.
   */
  private firstTime(tag: string): boolean {
    if (this.badInputLogged.has(tag) || this.badInputLogged.size >= MAX_LOGGED_TAGS) return false;
    this.badInputLogged.add(tag);
    return true;
  }

  /** `RecordTooLarge` for a body above `maxRecordBytes` (a root's write, or an item a peer offers). */
  private checkBodySize(body: string): void {
    const bytes = this.bodyBytes(body);
    if (bytes > this.options.maxRecordBytes) throw new RecordTooLargeError(bytes, this.options.maxRecordBytes);
  }

  /** UTF-8 length of a body (its UTF-16 length when that cannot exceed the limit anyway). */
  private bodyBytes(body: string): number {
    return body.length * 3 <= this.options.maxRecordBytes ? body.length : Buffer.byteLength(body, 'utf8');
  }

  private errorReply(req: RpcRequest, err: unknown): RpcReply {
    const e = err as { code?: string; message?: string };
    const code = e?.code ?? 'InternalError';
    if (code === 'Unavailable') return { code: 500, body: { error: code, message: e.message ?? '' } };
    if (code === 'InvalidArgument' || code === 'InvalidEntity' || code === 'RecordTooLarge') {
      if (this.firstTime(`${req.kind}:${code}`)) {
        this.log.warn({ code, kind: req.kind.slice(0, 64), origin: req.origin.addr, tx: req.tx, reason: e.message }, 'refusing a malformed DHT request');
      }
      return { code: 403, body: { error: code, message: e.message ?? '' } };
    }
    if (code === 'RecordCorrupt') {
      if (this.firstTime(`${code}:${e.message ?? ''}`)) this.log.error({ code, kind: req.kind, reason: e.message }, 'a stored record cannot be read');
      return { code: 500, body: { error: code, message: e.message ?? '' } };
    }
    // A full disk is told to the operator once, by the node's DiskFull alert; the root counts
    // the refusal (the wire has no status for it: older releases take it for any failure).
    if (code === 'DiskFull') return { code: 500, body: { error: code, message: e.message ?? '' } };
    this.log.error({ code: 'HandlerError', kind: req.kind, err: { message: e?.message, code } }, 'DHT request failed');
    return { code: 500, body: { error: code, message: e?.message ?? String(err) } };
  }
}

/** The replica set of `position` as `node` sees it: scope-aware, suspects excluded when unscoped. */
export function replicaSetFor(node: PastryNode, position: Id, replicas: number): NodeHandle[] {
  // node.replicaSet already skips suspected nodes; scoped keys need the scope filter.
  if ((parseInt(position.hex.slice(38), 16) & 3) === 0) return node.replicaSet(position, replicas);
  return replicaSetOfScoped(node, position, replicas);
}

function replicaSetOfScoped(node: PastryNode, position: Id, replicas: number): NodeHandle[] {
  return replicaSetOf(position, [node.handle, ...node.leafSetMembers()], replicas);
}

function toRecordId(hex: string): Id {
  return Id.parse(hex);
}

function unwrap(resp: { code: number; body: unknown }): unknown {
  if (resp.code === 200) return resp.body;
  const b = resp.body as ErrorReplyBody | undefined;
  const err = new Error(b?.message ?? `replica answered ${resp.code}`) as Error & { code: string };
  err.code = b?.error ?? 'ReplicaError';
  throw err;
}

function checkKey(k: unknown): string {
  if (!isStorageKey(k)) throw new InvalidArgumentError('malformed storage key');
  return k;
}

function checkScan(b: Record<string, unknown>): ScanBody {
  if (typeof b.s !== 'string' || typeof b.p !== 'string' || !isStorageKey(b.p.slice(0, 40)) || typeof b.a !== 'boolean') throw new InvalidArgumentError('malformed scan');
  if (typeof b.l !== 'number' || !Number.isInteger(b.l) || b.l < 1 || b.l > MAX_SCAN_LIMIT) throw new InvalidArgumentError('scan limit out of range');
  const scan: ScanBody = { s: b.s, a: b.a, p: b.p, l: b.l };
  if (b.x !== undefined) scan.x = checkOmitted(b.x);
  return scan;
}

function checkOmitted(x: unknown): string[] {
  if (!Array.isArray(x) || x.length > MAX_OMITTED_FIELDS || !x.every((f) => typeof f === 'string' && f.length > 0 && f.length <= 64)) {
    throw new InvalidArgumentError(`omit: at most ${MAX_OMITTED_FIELDS} field names of 1..64 characters`);
  }
  return x as string[];
}

function encodeContinuation(sortKey: string): string {
  return Buffer.from(sortKey, 'utf8').toString('base64url');
}

function decodeContinuation(token: string): string {
  if (typeof token !== 'string' || !/^[A-Za-z0-9_-]+$/.test(token)) throw new InvalidArgumentError('malformed continuation token');
  return Buffer.from(token, 'base64url').toString('utf8');
}

function checkOptions(o: DhtOptions): void {
  const positive = ['replicas', 'writeQuorum', 'readQuorum', 'maxRecordBytes', 'operationTimeoutMs', 'attemptTimeoutMs', 'replicaTimeoutMs'] as const;
  for (const k of positive) if (!(o[k] > 0)) throw new InvalidArgumentError(`DHT option ${k} must be positive, got ${o[k]}`);
  if (o.writeQuorum > o.replicas || o.readQuorum > o.replicas) throw new InvalidArgumentError('DHT quorums cannot exceed the replica count');
  if (!Number.isInteger(o.updateRetries) || o.updateRetries < 0) throw new InvalidArgumentError('updateRetries must be a non-negative integer');
  if (!Number.isInteger(o.recordScrubItems) || o.recordScrubItems < 0) throw new InvalidArgumentError('recordScrubItems must be a non-negative integer');
  if (!Number.isInteger(o.antiEntropyLargePartitionItems) || o.antiEntropyLargePartitionItems < 0) throw new InvalidArgumentError('antiEntropyLargePartitionItems must be a non-negative integer');
  if (!(o.antiEntropyLargePartitionIntervalMs >= 0)) throw new InvalidArgumentError('antiEntropyLargePartitionIntervalMs must be non-negative');
}
