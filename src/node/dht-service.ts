/**
 * The DHT as a node service: a {@link Dht} on the node's LMDB storage, handed off before the
 * node leaves, with its ops API routes (`/api/dht/...`: records by id or URI, counts by type,
 * local scan, seeding), its metrics and its dashboard summary.
 */
import { Dht, InvalidArgumentError, itemChecksum } from '../dht/index.ts';
import type { DhtRecord, DhtStats, Entity } from '../dht/index.ts';
import { Id, Scope, idFor, uriScheme } from '../id/index.ts';
import type { Location } from '../id/index.ts';
import type { MetricFamily, NodeService, OpsRequest, OpsRoute, ServiceContext } from './service.ts';

/** How long the record counts of the dashboard summary are reused. */
const COUNTS_CACHE_MS = 5000;
/** Most records one scan request returns. */
const MAX_SCAN = 10_000;
/** Most records one seed request may carry. */
const MAX_SEED = 10_000;

/** A record as the ops API shows it. */
export interface RecordView {
  id: string;
  sortKey?: string;
  uri?: string;
  type: string;
  version: number;
  contentType: string;
  deleted: boolean;
  writtenAt: number;
  body: Entity;
}

/** Converts a record for JSON. */
export function recordView(r: DhtRecord): RecordView {
  const v: RecordView = { id: r.id.hex, type: r.type, version: r.version, contentType: r.contentType, deleted: r.deleted, writtenAt: r.writtenAt, body: r.body };
  if (r.sortKey !== undefined) v.sortKey = r.sortKey;
  if (r.uri !== undefined) v.uri = r.uri;
  return v;
}

function parseScope(text: string | null): Scope {
  switch ((text ?? 'global').toLowerCase()) {
    case 'global':
      return Scope.GLOBAL;
    case 'region':
      return Scope.REGION;
    case 'az':
    case 'availability_zone':
      return Scope.AVAILABILITY_ZONE;
    default:
      throw new InvalidArgumentError(`scope must be global, region or az, got "${String(text).slice(0, 40)}"`);
  }
}

/**
 * The id a key names: 40 hex digits are an id; anything else must be a resource URI
 * (`scheme:rest`), whose id is computed in `scope` (the node's own location for region / az).
 */
export function keyToId(key: string, scope: Scope, location: Location | undefined): { id: Id; uri?: string } {
  const id = Id.tryParse(key);
  if (id) return { id };
  try {
    uriScheme(key);
  } catch {
    throw new InvalidArgumentError(`"${key.slice(0, 80)}" is neither an id (40 hex digits) nor a resource URI (scheme:rest)`);
  }
  if (scope !== Scope.GLOBAL && !location) throw new InvalidArgumentError('region and az scopes need the node to have a region (setting "region")');
  return { id: idFor(key, scope, location ? { location } : {}), uri: key };
}

function asEntity(body: unknown, what: string): Entity {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new InvalidArgumentError(`${what} must be a JSON object (an entity)`);
  return body as Entity;
}

/** The DHT service of a node. */
export class DhtService implements NodeService {
  readonly name = 'dht';
  readonly kind = 'core';
  private dhtValue: Dht | undefined;
  private ctx: ServiceContext | undefined;
  private counts: { at: number; byType: Record<string, number>; rootByType: Record<string, number> } | undefined;
  /** Every record was handed off by a decommission's drain. */
  private drained = false;

  /** The DHT (after start). */
  get dht(): Dht {
    if (!this.dhtValue) throw new InvalidArgumentError('the DHT service has not started');
    return this.dhtValue;
  }

  start(ctx: ServiceContext): void {
    this.ctx = ctx;
    const c = ctx.config.dht;
    this.dhtValue = new Dht({
      env: ctx.env,
      node: ctx.overlay,
      storage: ctx.storage,
      options: {
        replicas: c.replicas,
        writeQuorum: c.writeQuorum,
        readQuorum: c.readQuorum,
        maxRecordBytes: c.maxRecordBytes,
        operationTimeoutMs: c.operationTimeoutMs,
        antiEntropyIntervalMs: c.antiEntropyIntervalMs,
        antiEntropyLargePartitionIntervalMs: c.antiEntropyLargePartitionIntervalMs,
        tombstoneGraceMs: c.tombstoneGraceMs,
        recordScrubItems: c.recordScrubItems,
      },
      onRecordUnrestored: (key, total) =>
        ctx.alerts.raise('RecordUnrestored', 'critical', `${total} damaged DHT record${total === 1 ? ' has' : 's have'} no good copy left on the ring and read as absent (log code RecordUnrestored; last ${key.slice(0, 80)})`, { data: { total } }),
      onStaleStoreSetAside: (r) =>
        ctx.events.record(
          'dht.staleStoreSetAside',
          `back after an absence in which a peer removed deletions this node missed: its ${r.items} stored item(s) were set aside${r.copy ? ` (copy in ${r.copy}; delete it once the ring is healthy)` : ''}`,
          { level: 'warn', data: { items: r.items, copy: r.copy, lastAlive: r.lastAlive } },
        ),
    });
  }

  /**
   * Decommissioning: every record handed on to its next holder, with no time limit (a graceful
   * stop has `shutdownTimeoutMs`); the stop that follows does not send them again.
   */
  async drain(progress: (summary: Record<string, unknown>) => void): Promise<Record<string, unknown>> {
    const dht = this.dhtValue;
    if (!dht) return {};
    progress({ items: dht.localSize, handedOff: 0 });
    const handedOff = await dht.handOff();
    this.drained = true;
    return { items: dht.localSize, handedOff };
  }

  /** Hands every record on to its next holder, then stops answering (the node leaves next). */
  async stop(): Promise<void> {
    const dht = this.dhtValue;
    if (!dht) return;
    if (this.drained) {
      // Handed off by the decommission's drain; what was written here since is on the other
      // replicas of its write quorum, and anti-entropy brings it to the new ones.
      dht.close();
      return;
    }
    const handed = await dht.handOff();
    this.ctx?.env.log.info({ event: 'dht.handoff', items: handed }, `handed ${handed} item(s) off before leaving`);
    dht.close();
  }

  /** Stops at once (an immediate stop): nothing is handed off. */
  abort(): void {
    this.dhtValue?.close();
  }

  /** Record counts by type (all held here, and those this node is the root for); the summary's are cached briefly. */
  recordCounts(fresh = false): { items: number; byType: Record<string, number>; rootByType: Record<string, number> } {
    const dht = this.dht;
    const now = this.ctx!.env.now();
    if (fresh || !this.counts || now - this.counts.at > COUNTS_CACHE_MS) {
      const byType: Record<string, number> = {};
      const rootByType: Record<string, number> = {};
      for (const r of dht.localScan()) byType[r.type] = (byType[r.type] ?? 0) + 1;
      for (const r of dht.localScan({ rootOnly: true })) rootByType[r.type] = (rootByType[r.type] ?? 0) + 1;
      this.counts = { at: now, byType, rootByType };
    }
    return { items: dht.localSize, byType: this.counts.byType, rootByType: this.counts.rootByType };
  }

  summary(): Record<string, unknown> {
    return this.recordCounts();
  }

  routes(): OpsRoute[] {
    const location = (): Location | undefined => this.ctx?.location;
    return [
      {
        method: 'GET',
        path: '/api/dht/records/:key',
        description: 'Read a record by id or URI (?scope=global|region|az, ?any=true for the nearest copy).',
        handler: async (req) => {
          const { id } = keyToId(req.params['key']!, parseScope(req.query.get('scope')), location());
          const any = req.query.get('any') === 'true';
          const r = any ? await this.dht.getAny(id) : await this.dht.get(id);
          if (!r) return { status: 404, body: { error: { code: 'NotFound', message: `no record ${id.hex}` }, id: id.hex } };
          return { body: recordView(r) };
        },
      },
      {
        method: 'PUT',
        path: '/api/dht/records/:key',
        description: 'Write a record (?mode=replace (default) | put (conditional on body.version) | ifAbsent).',
        handler: (req) => this.write(req, location()),
      },
      {
        method: 'GET',
        path: '/api/dht/counts',
        description: 'Records held on this node by type (all, and those it is the root for).',
        handler: () => ({ body: { node: this.ctx!.overlay.id.hex, ...this.recordCounts(true) } }),
      },
      {
        method: 'GET',
        path: '/api/dht/scan',
        description: 'Records held on this node (?type=, ?rootOnly=true, ?includeDeleted=true, ?limit=).',
        handler: (req) => {
          const limit = Math.min(Number(req.query.get('limit') ?? 100), MAX_SCAN);
          if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`limit must be an integer 1..${MAX_SCAN}`);
          const type = req.query.get('type') ?? undefined;
          const records: RecordView[] = [];
          let truncated = false;
          for (const r of this.dht.localScan({ ...(type ? { type } : {}), rootOnly: req.query.get('rootOnly') === 'true', includeDeleted: req.query.get('includeDeleted') === 'true' })) {
            if (records.length >= limit) {
              truncated = true;
              break;
            }
            records.push(recordView(r));
          }
          return { body: { node: this.ctx!.overlay.id.hex, records, truncated } };
        },
      },
      {
        method: 'POST',
        path: '/api/dht/seed',
        description: 'Create records: { records: [{ uri | id, scope?, entity, overwrite? }] } (existing ones are kept unless overwrite).',
        handler: (req) => this.seed(req, location()),
      },
      {
        method: 'GET',
        path: '/api/dht/quarantine',
        description: "Damaged records in this node's quarantine (never served; kept for an operator), in key order (?limit=, default 100).",
        handler: (req) => {
          const limit = Math.min(Number(req.query.get('limit') ?? 100), MAX_SCAN);
          if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`limit must be an integer 1..${MAX_SCAN}`);
          const items = this.dht.quarantined(limit).map((i) => ({
            key: i.k,
            version: i.v,
            op: i.op,
            type: i.t,
            deleted: i.d,
            writtenAt: i.at,
            bytes: i.b.length,
            checksum: i.c ?? null,
            computed: itemChecksum(i),
            quarantinedAt: i.qa ?? null,
          }));
          return { body: { node: this.ctx!.overlay.id.hex, count: this.dht.quarantinedItems, items } };
        },
      },
      {
        method: 'DELETE',
        path: '/api/dht/quarantine',
        description: "Empty this node's quarantine (after looking at it): answers the number of items removed.",
        handler: async () => ({ body: { node: this.ctx!.overlay.id.hex, removed: await this.dht.clearQuarantine() } }),
      },
      {
        method: 'GET',
        path: '/api/dht/stats',
        description: "This node's DHT counters.",
        handler: () => ({ body: { node: this.ctx!.overlay.id.hex, items: this.dht.localSize, storeSummed: this.dht.storeSummed, options: this.dht.options, stats: this.dht.stats } }),
      },
    ];
  }

  private async write(req: OpsRequest, location: Location | undefined): Promise<{ status?: number; body: unknown }> {
    const { id, uri } = keyToId(req.params['key']!, parseScope(req.query.get('scope')), location);
    const entity = { ...asEntity(req.body, 'the request body') };
    if (uri && entity.url === undefined) entity.url = uri;
    const mode = req.query.get('mode') ?? 'replace';
    switch (mode) {
      case 'replace': {
        const r = await this.dht.update(id, () => {
          const next = { ...entity };
          delete next.version;
          return next;
        });
        return { body: recordView(r!) };
      }
      case 'put':
        return { body: recordView(await this.dht.put(id, entity)) };
      case 'ifAbsent': {
        const r = await this.dht.writeIfAbsent(id, entity);
        return { status: r.written ? 200 : 409, body: { written: r.written, record: recordView(r.record) } };
      }
      default:
        throw new InvalidArgumentError(`mode must be replace, put or ifAbsent, got "${mode.slice(0, 40)}"`);
    }
  }

  /** Seeds records one by one; each gets its own result, so one bad record does not stop the rest. */
  private async seed(req: OpsRequest, location: Location | undefined): Promise<{ body: unknown }> {
    const list = (req.body as { records?: unknown })?.records;
    if (!Array.isArray(list)) throw new InvalidArgumentError('the body must be { "records": [ ... ] }');
    if (list.length > MAX_SEED) throw new InvalidArgumentError(`at most ${MAX_SEED} records per seed request`);
    const results: Record<string, unknown>[] = [];
    let written = 0;
    let kept = 0;
    let failed = 0;
    for (const [index, raw] of list.entries()) {
      const spec = raw as { uri?: unknown; id?: unknown; scope?: unknown; entity?: unknown; overwrite?: unknown };
      try {
        const key = typeof spec?.id === 'string' ? spec.id : typeof spec?.uri === 'string' ? spec.uri : undefined;
        if (key === undefined) throw new InvalidArgumentError('a record needs "uri" or "id"');
        const { id, uri } = keyToId(key, parseScope(typeof spec.scope === 'string' ? spec.scope : null), location);
        const entity = { ...asEntity(spec.entity, '"entity"') };
        if (uri && entity.url === undefined) entity.url = uri;
        if (spec.overwrite === true) {
          const r = await this.dht.update(id, () => {
            const next = { ...entity };
            delete next.version;
            return next;
          });
          written++;
          results.push({ index, id: id.hex, written: true, version: r!.version });
        } else {
          const r = await this.dht.writeIfAbsent(id, entity);
          if (r.written) written++;
          else kept++;
          results.push({ index, id: id.hex, written: r.written, version: r.record.version });
        }
      } catch (err) {
        failed++;
        const e = err as { code?: string; message?: string };
        results.push({ index, error: { code: e?.code ?? 'Error', message: e?.message ?? String(err) } });
      }
    }
    this.ctx?.env.log.info({ event: 'dht.seeded', tx: req.tx, written, kept, failed }, `seeded ${written} record(s), kept ${kept}, ${failed} failed`);
    return { body: { written, kept, failed, results } };
  }

  metrics(): MetricFamily[] {
    const dht = this.dhtValue;
    if (!dht) return [];
    return dhtMetrics(dht.stats, dht.localSize, dht.quarantinedItems);
  }
}

function byLabel(name: string, help: string, type: 'counter' | 'gauge', label: string, values: Record<string, number>): MetricFamily {
  return { name, help, type, values: Object.entries(values).map(([k, value]) => ({ labels: { [label]: k }, value })) };
}

/** Metric families of a DHT's counters. */
export function dhtMetrics(s: DhtStats, localItems: number, quarantined = 0): MetricFamily[] {
  const latency: MetricFamily = { name: 'pi_dht_operation_seconds', help: 'Latency of DHT client operations started on this node, by operation.', type: 'summary', values: [] };
  for (const [op, count] of Object.entries(s.ops)) {
    latency.values.push({ labels: { op }, value: (s.latencyMsSum[op] ?? 0) / 1000, suffix: '_sum' });
    latency.values.push({ labels: { op }, value: count, suffix: '_count' });
  }
  return [
    byLabel('pi_dht_operations_total', 'DHT client operations started on this node, by operation.', 'counter', 'op', s.ops),
    byLabel('pi_dht_errors_total', 'DHT client operations that failed, by error code.', 'counter', 'code', s.errors),
    latency,
    byLabel('pi_dht_coordinated_total', 'DHT operations coordinated by this node as root, by operation.', 'counter', 'op', s.coordinated),
    { name: 'pi_dht_retries_total', help: 'DHT client retries after timeouts or unavailable replica sets.', type: 'counter', values: [{ value: s.retries }] },
    { name: 'pi_dht_update_conflicts_total', help: 'Version conflicts met by update (each causes a re-read).', type: 'counter', values: [{ value: s.updateConflicts }] },
    {
      name: 'pi_dht_replica_repairs_total',
      help: 'Stale or missing replica copies repaired, by mechanism.',
      type: 'counter',
      values: [
        { labels: { via: 'read' }, value: s.readRepairs },
        { labels: { via: 'anti_entropy' }, value: s.antiEntropyItems },
      ],
    },
    {
      name: 'pi_dht_read_replica_requests_total',
      help: 'What this node\'s quorum reads asked other replicas for: a digest of their copy, or the full copy.',
      type: 'counter',
      values: [
        { labels: { kind: 'digest' }, value: s.readDigests },
        { labels: { kind: 'full' }, value: s.readFullCopies },
      ],
    },
    { name: 'pi_dht_read_digest_mismatches_total', help: 'Quorum reads that fetched the newest version the digests showed after the first round: the copy in hand was older, or the replica asked for it did not answer.', type: 'counter', values: [{ value: s.readDigestMismatches }] },
    { name: 'pi_dht_read_digest_fallbacks_total', help: 'Digest requests refused by a replica of an older release (asked again for the full copy).', type: 'counter', values: [{ value: s.readDigestFallbacks }] },
    { name: 'pi_dht_replica_replies_malformed_total', help: 'Replica replies to reads ignored as malformed.', type: 'counter', values: [{ value: s.replicaRepliesMalformed }] },
    { name: 'pi_dht_replica_batches_total', help: 'Batches of replica requests this node sent as root (several requests to one replica in one message).', type: 'counter', values: [{ value: s.replicaBatches }] },
    { name: 'pi_dht_replica_batched_requests_total', help: 'Replica requests that travelled inside batches.', type: 'counter', values: [{ value: s.replicaBatchedRequests }] },
    { name: 'pi_dht_anti_entropy_rounds_total', help: 'Anti-entropy exchanges run.', type: 'counter', values: [{ value: s.antiEntropyRounds }] },
    { name: 'pi_dht_anti_entropy_partitions_deferred_total', help: 'Differing large partitions whose item-by-item comparison anti-entropy put off (compared at most once per dht.antiEntropyLargePartitionIntervalMs per peer).', type: 'counter', values: [{ value: s.antiEntropyPartitionsDeferred }] },
    { name: 'pi_dht_items_stored_total', help: 'Items applied on this replica (writes, repairs, handoffs).', type: 'counter', values: [{ value: s.itemsStored }] },
    { name: 'pi_dht_items_handed_off_total', help: 'Items sent to new holders after leaf-set changes or before leaving.', type: 'counter', values: [{ value: s.itemsHandedOff }] },
    { name: 'pi_dht_handoff_keys_examined_total', help: 'Storage keys looked at by hand-offs (after a leaf-set change, only those near a changed node).', type: 'counter', values: [{ value: s.handoffKeysExamined }] },
    { name: 'pi_dht_tombstones_removed_total', help: 'Tombstones removed after their grace period.', type: 'counter', values: [{ value: s.tombstonesRemoved }] },
    { name: 'pi_dht_stale_checks_total', help: 'Starts after an absence longer than half the tombstone grace period at which this node held its store until its peers said whether it was stale.', type: 'counter', values: [{ value: s.staleChecks }] },
    { name: 'pi_dht_stale_stores_set_aside_total', help: 'Stores found stale at such a start (a peer had removed a deletion this node missed): copied aside and emptied.', type: 'counter', values: [{ value: s.staleStoresSetAside }] },
    { name: 'pi_dht_stale_items_dropped_total', help: 'Items the stale stores set aside held.', type: 'counter', values: [{ value: s.staleItemsDropped }] },
    { name: 'pi_dht_strays_dropped_total', help: 'Records dropped because this node left their replica set.', type: 'counter', values: [{ value: s.straysDropped }] },
    { name: 'pi_dht_local_items', help: 'Items held on this node.', type: 'gauge', values: [{ value: localItems }] },
    { name: 'pi_dht_records_corrupt_total', help: 'Stored items found not matching their checksum and quarantined (anti-entropy restores them from replicas).', type: 'counter', values: [{ value: s.recordsCorrupt }] },
    { name: 'pi_dht_records_unrestored_total', help: 'Records quarantined here with no good copy left on the ring (every replica damaged): they read as absent. Alert on it.', type: 'counter', values: [{ value: s.recordsUnrestored }] },
    { name: 'pi_dht_records_refused_corrupt_total', help: 'Items from peers refused for not matching their checksum.', type: 'counter', values: [{ value: s.recordsRefusedCorrupt }] },
    { name: 'pi_dht_records_scrubbed_total', help: 'Stored records read back by the record scrub to check their checksums.', type: 'counter', values: [{ value: s.recordsScrubbed }] },
    { name: 'pi_dht_records_sealed_total', help: 'Items written before record checksums existed that this node sealed with one (on arrival or by the record scrub).', type: 'counter', values: [{ value: s.recordsSealed }] },
    { name: 'pi_dht_record_scrub_passes_total', help: 'Completed record scrub passes over the whole local store.', type: 'counter', values: [{ value: s.recordScrubPasses }] },
    { name: 'pi_dht_records_quarantined', help: 'Damaged items kept in this node\'s quarantine (for an operator; not served).', type: 'gauge', values: [{ value: quarantined }] },
  ];
}
