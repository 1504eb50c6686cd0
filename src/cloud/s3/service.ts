/**
 * Pi Cloud S3 as a node application (`apps: [s3]`): the chunk store on its own folder of the data
 * directory, the catalog on the node's DHT, the S3 endpoint on `s3.port`, the chunk collector,
 * ops API routes (users and their access keys under `/api/s3/users`, what `pi user …` calls; the
 * SSE-S3 rewrap job: `POST /api/s3/rewrap`, what `pi s3 rewrap` calls; the SSE-KMS keys under
 * `/api/s3/kms/keys`, what `pi s3 kms-key …` calls; the server access log
 * delivery: `POST /api/s3/access-log/flush`), metrics and the dashboard summary. The S3 logic itself (api.ts, catalog.ts, chunks/) does not depend on how it
 * is hosted.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DhtService, MetricFamily, NodeService, OpsRequest, OpsRoute, PiConfig, ScribeService, ServiceContext, ApplicationFactory } from '../../node/index.ts';
import { makeTopic } from '../../scribe/index.ts';
import type { ScribeClient } from '../../scribe/index.ts';
import { EventTail, MAX_TAIL_WAIT_MS } from './event-tail.ts';
import { EventFollower, EventJournal, cursorAt, isCursor } from './event-journal.ts';
import type { EventFollowerOptions } from './event-journal.ts';
import { eventTopicUri } from './notification.ts';
import { advertiseHost } from '../../node/index.ts';
import { S3Api } from './api.ts';
import { Catalog } from './catalog.ts';
import { FileChunkEngine } from './chunks/file-engine.ts';
import type { ChunkEngine } from './chunks/engine.ts';
import { ChunkStore } from './chunks/store.ts';
import { ChunkScrubber } from './chunks/scrub.ts';
import { bucketInventory } from './inventory.ts';
import { StorageError } from './errors.ts';
import { ChunkCollector } from './gc.ts';
import { S3HttpServer } from './http.ts';
import { LifecycleExpirer } from './lifecycle.ts';
import { AccessLogDelivery } from './access-log.ts';
import { registerLocalBuckets } from './bucket-registry.ts';
import { registerLocalUsers } from './user-registry.ts';
import { SseRewrapper } from './rewrap.ts';
import { describeMismatches, masterKeyMismatches } from './rewrap-preflight.ts';
import type { RewrapOptions } from './rewrap.ts';
import { autoIndexShards } from './index-shards.ts';
import { DEFAULT_S3_OPTIONS } from './options.ts';
import { MasterKeys } from './encryption.ts';
import { KmsKeys } from './kms.ts';
import { EndpointTls } from './endpoint-tls.ts';
import type { S3Options } from './options.ts';
import type { Dht } from '../../dht/index.ts';
import type { Timer } from '../../env/index.ts';

/** How long after the node is ready it registers the buckets and users its local store holds (bucket-registry.ts, user-registry.ts). */
const BUCKET_BACKFILL_DELAY_MS = 10_000;
/** The file (in `<dataDir>/s3/`) that says this node's store was gone through for the bucket registry. */
const BUCKET_BACKFILL_MARKER = 'bucket-registry-backfilled';
/** The same for the user registry. */
const USER_BACKFILL_MARKER = 'user-registry-backfilled';

/** How often the endpoint's certificate files are checked for a renewal. */
const TLS_RELOAD_CHECK_MS = 60_000;
/** How often the application's alerts are checked ({@link S3Service.checkHealth}). */
const HEALTH_CHECK_MS = 60_000;
/** A certificate expiring within this long raises a warning. */
const CERT_EXPIRY_WARNING_MS = 14 * 86_400_000;

/** Subscribes `deliver` to notification topic `name`'s Scribe topic: `ready` once subscribed, `cancel` to leave. */
function subscribeToEvents(scribe: ScribeService, name: string, deliver: (message: unknown) => void): { ready: Promise<void>; cancel: () => void } {
  const topic = makeTopic(eventTopicUri(name));
  const client: ScribeClient = { deliver: (_topic, msg) => deliver(msg.entity) };
  return { ready: scribe.scribe.subscribe(topic, client), cancel: () => scribe.scribe.unsubscribe(topic, client) };
}

/** An integer query parameter within bounds, undefined when absent; InvalidArgument otherwise. */
function intParam(value: string | null, name: string, min: number, max: number): number | undefined {
  if (value === null) return undefined;
  const n = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new StorageError('InvalidArgument', `${name} must be an integer from ${min} to ${max}, got "${value.slice(0, 40)}"`);
  return n;
}

/** The S3 options of a node configuration. */
export function s3OptionsFrom(config: PiConfig): S3Options {
  const c = config.s3;
  return {
    ...DEFAULT_S3_OPTIONS,
    bind: c.bind,
    port: c.port,
    baseDomains: c.baseDomains,
    websiteDomains: c.websiteDomains,
    region: c.region,
    maxObjectBytes: c.maxObjectBytes,
    chunkSize: c.chunkSize,
    inlineMaxBytes: c.inlineMaxBytes,
    putConcurrency: c.putConcurrency,
    replicas: c.replicas,
    writeQuorum: c.writeQuorum,
    minPartBytes: c.minPartBytes,
    cacheMs: c.cacheMs,
    maxClockSkewMs: c.maxClockSkewMs,
    bodyIdleTimeoutMs: c.bodyIdleTimeoutMs,
    drainTimeoutMs: c.drainTimeoutMs,
    signatureV2: c.signatureV2,
    lifecycleSweepMs: c.lifecycleSweepMs,
    replicationSweepMs: c.replicationSweepMs,
    eventRetentionMs: c.eventRetentionMs,
    indexShards: c.indexShards,
    ...(c.sseMasterKeyFile !== undefined ? { sseMasterKeyFile: c.sseMasterKeyFile } : {}),
    ssePreviousKeyFiles: c.ssePreviousKeyFiles,
    ...(c.tls.cert !== undefined && c.tls.key !== undefined ? { tls: { certFile: c.tls.cert, keyFile: c.tls.key } } : {}),
    allowSseCustomerKeysOverHttp: c.allowSseCustomerKeysOverHttp,
    kms: { ...c.kms },
    verifyReads: c.verifyReads,
    scrub: { ...c.scrub },
    gc: { ...c.gc },
    accessLog: { ...c.accessLog },
  };
}

/** The S3 application of a node. */
export class S3Service implements NodeService {
  readonly name = 's3';
  readonly kind = 'app';
  private engine: ChunkEngine | undefined;
  private storeValue: ChunkStore | undefined;
  private catalogValue: Catalog | undefined;
  private apiValue: S3Api | undefined;
  private http: S3HttpServer | undefined;
  private collector: ChunkCollector | undefined;
  private expirer: LifecycleExpirer | undefined;
  private rewrapper: SseRewrapper | undefined;
  /** The SSE-S3 master keys of this node (when configured). */
  private masterKeys: MasterKeys | undefined;
  private kmsKeys: KmsKeys | undefined;
  private scrubber: ChunkScrubber | undefined;
  /** Recent messages of notification topics, for the ops API (event-tail.ts); absent without Scribe. */
  private eventTail: EventTail | undefined;
  private journal: EventJournal | undefined;
  private accessLog: AccessLogDelivery | undefined;
  private backfill: Timer | undefined;
  private dht: Dht | undefined;
  private url = '';
  private stopped = false;
  /** Whether this node's DHT store held nothing when the application started (a new node). */
  private storeEmptyAtStart = false;
  private tls: EndpointTls | undefined;
  private tlsTimer: Timer | undefined;
  private healthTimer: Timer | undefined;
  private tlsReloads = 0;
  private tlsReloadFailure: string | undefined;
  private ctx: ServiceContext | undefined;

  constructor(readonly options: S3Options) {}

  /** The endpoint's URL (after start), e.g. `http://127.0.0.1:9090`. */
  get endpoint(): string {
    return this.url;
  }

  /** The catalog (after start): users, buckets, objects. */
  get catalog(): Catalog {
    if (!this.catalogValue) throw new StorageError('NotAvailable', 'the s3 application has not started');
    return this.catalogValue;
  }

  /** The chunk store (after start). */
  get store(): ChunkStore {
    if (!this.storeValue) throw new StorageError('NotAvailable', 'the s3 application has not started');
    return this.storeValue;
  }

  /** The operations (after start). */
  get api(): S3Api {
    if (!this.apiValue) throw new StorageError('NotAvailable', 'the s3 application has not started');
    return this.apiValue;
  }

  /** The event journal (after start): bucket event notifications kept in the ring for at-least-once consumers. */
  get events(): EventJournal {
    if (!this.journal) throw new StorageError('NotAvailable', 'the s3 application has not started');
    return this.journal;
  }

  /**
   * A follower of notification topic `topic` (the name in its ARN) for an application on this
   * node (after start): it reads the topic's journal, woken by the topic's pub/sub messages, and
   * hands every event to `onEvent` at least once. Call `start()` on it; keep its `cursor` to resume.
   */
  followEvents(topic: string, options: Omit<EventFollowerOptions, 'read' | 'doorbell'>): EventFollower {
    const journal = this.events;
    const ctx = this.ctx!;
    const scribe = ctx.service<ScribeService>('scribe');
    const doorbell = scribe
      ? (ring: () => void): (() => void) => {
          const s = subscribeToEvents(scribe, topic, () => ring());
          // Without the subscription the follower still polls: a failure here only slows it.
          s.ready.catch(() => undefined);
          return s.cancel;
        }
      : undefined;
    return new EventFollower(ctx.env, { ...options, read: (cursor, limit) => journal.read(topic, cursor, limit), ...(doorbell ? { doorbell } : {}) });
  }

  /** The chunk collector (after start). */
  get gc(): ChunkCollector {
    if (!this.collector) throw new StorageError('NotAvailable', 'the s3 application has not started');
    return this.collector;
  }

  /** The lifecycle expirer (after start). */
  get lifecycle(): LifecycleExpirer {
    if (!this.expirer) throw new StorageError('NotAvailable', 'the s3 application has not started');
    return this.expirer;
  }

  /** The ring's SSE-KMS keys (after start, on a node with a master key). */
  get kms(): KmsKeys {
    if (!this.kmsKeys) throw new StorageError('NotAvailable', this.catalogValue ? 'SSE-KMS needs a master key on every node (s3.sseMasterKeyFile); this node has none' : 'the s3 application has not started');
    return this.kmsKeys;
  }

  /** The SSE-S3 rewrap jobs (after start). */
  get rewrap(): SseRewrapper {
    if (!this.rewrapper) throw new StorageError('NotAvailable', 'the s3 application has not started');
    return this.rewrapper;
  }

  async start(ctx: ServiceContext): Promise<void> {
    this.ctx = ctx;
    const dht = ctx.service<DhtService>('dht')?.dht;
    if (!dht) throw new StorageError('NotAvailable', 'the s3 application needs the DHT service');
    this.storeEmptyAtStart = isEmpty(dht.localScan({ includeDeleted: true }));
    const o = this.options;
    // A bad key or certificate file stops the node at start, with the file named, rather than at
    // the first request.
    this.tls = o.tls ? EndpointTls.load(o.tls) : undefined;
    const master = o.sseMasterKeyFile !== undefined ? MasterKeys.fromFiles(o.sseMasterKeyFile, o.ssePreviousKeyFiles) : undefined;
    this.masterKeys = master;
    const chunkDir = join(ctx.dataDir, 's3', 'chunks');
    mkdirSync(chunkDir, { recursive: true });
    // New chunks are refused (DiskFull, 507 to clients) once the disk's storage reserve is reached.
    const space = ctx.spaceFor?.(chunkDir);
    this.engine = FileChunkEngine.open(chunkDir, space ? { space } : {});
    this.storeValue = new ChunkStore(ctx.env, ctx.overlay, this.engine, { replicas: o.replicas, writeQuorum: o.writeQuorum, maxPutsInFlight: Math.max(4, o.putConcurrency), verifyReads: o.verifyReads });
    this.scrubber = new ChunkScrubber(ctx.env, this.storeValue, o.scrub, join(ctx.dataDir, 's3', 'scrub.json'));
    this.catalogValue = new Catalog(dht, ctx.env, {
      cacheMs: o.cacheMs,
      indexShards: o.indexShards > 0 ? o.indexShards : () => autoIndexShards(ctx.overlay.estimatedRingSize(), dht.options.replicas),
    });
    // SSE-KMS keys live in the DHT with their material wrapped under the master key: no master key, no SSE-KMS.
    this.kmsKeys = master ? new KmsKeys(dht, ctx.env, master, { region: o.region, autoCreateKeys: o.kms.autoCreateKeys }) : undefined;
    this.apiValue = new S3Api(ctx.env, this.catalogValue, this.storeValue, o, () => this.url, master, this.kmsKeys);
    // Bucket events are journaled in the ring for at-least-once consumers (event-journal.ts).
    this.journal = new EventJournal(ctx.env, dht, this.storeValue.node, ctx.overlay.id.hex.slice(0, 16), { retentionMs: o.eventRetentionMs });
    this.apiValue.notifications.journal = this.journal;
    // Bucket event notifications go out on the ring's pub/sub (notification.ts).
    const scribe = ctx.service<ScribeService>('scribe');
    if (scribe) {
      this.apiValue.notifications.publisher = { publish: (uri, message) => void scribe.scribe.publish(makeTopic(uri), undefined, message) };
      const subscriptions = new Map<string, () => void>();
      this.eventTail = new EventTail(ctx.env, {
        subscribe: (name, deliver) => {
          const s = subscribeToEvents(scribe, name, deliver);
          subscriptions.set(name, s.cancel);
          return s.ready;
        },
        unsubscribe: (name) => {
          subscriptions.get(name)?.();
          subscriptions.delete(name);
        },
      });
    }
    this.collector = new ChunkCollector(ctx.env, this.catalogValue, this.storeValue, o.gc);
    this.expirer = new LifecycleExpirer(ctx.env, this.catalogValue, this.apiValue, this.storeValue.node, o.lifecycleSweepMs);
    this.rewrapper = new SseRewrapper(ctx.env, this.catalogValue, master, this.kmsKeys);
    this.dht = dht;
    // Requests are answered only while the node is part of the ring: before it joined (or between
    // join attempts) the DHT cannot serve them, and they get a retryable 503 at once.
    this.http = new S3HttpServer(ctx.env, this.apiValue, o, ctx.overlay.id.hex, () => ctx.overlay.isReady);
    const api = this.apiValue;
    // Log objects are written as a PutObject of the target bucket's owner would be (access-log.ts).
    this.accessLog = new AccessLogDelivery(ctx.env, this.catalogValue, o.accessLog, async (w) => {
      await api.storeObject({
        bucket: w.bucket,
        key: w.key,
        body: w.body,
        auth: { kind: 'anonymous' },
        headers: { 'content-type': 'text/plain', 'content-length': String(w.size) },
        principal: w.owner,
        acl: undefined,
        grants: w.grants,
        storageClass: 'STANDARD',
        tags: [],
        maxBytes: o.maxObjectBytes,
      });
    });
    this.http.accessLog = this.accessLog;
    // The lifecycle's actions are logged too, as S3 logs them (lifecycle.ts).
    this.expirer.accessLog = this.accessLog;
    const address = await this.http.listen(this.tls?.pair);
    const host = o.bind === '0.0.0.0' || o.bind === '::' ? advertiseHost(o.bind, ctx.config.advertise) : o.bind;
    this.url = `${this.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
    ctx.env.log.info(
      { event: 's3.listening', url: this.url, chunks: this.engine.count, sseMasterKeys: master?.ids ?? null, tls: this.tls?.summary ?? null },
      `S3 endpoint at ${this.url}`,
    );
    if (this.tls) this.tlsTimer = ctx.env.setInterval(() => void this.reloadTls(), TLS_RELOAD_CHECK_MS);
    this.healthTimer = ctx.env.setInterval(() => this.checkHealth(), HEALTH_CHECK_MS);
  }

  /**
   * Raises (and clears) the node alerts of the application's own conditions: the endpoint's
   * certificate close to expiry or expired, and damaged chunks no replica could restore. Runs
   * every minute.
   */
  checkHealth(): void {
    const ctx = this.ctx;
    if (!ctx || this.stopped) return;
    const tls = this.tls?.summary;
    if (tls) {
      const left = tls.notAfter - ctx.env.now();
      if (left <= 0) ctx.alerts.raise('S3CertificateExpiring', 'critical', `the S3 endpoint's certificate expired on ${tls.validTo} (${this.tls!.files.certFile})`, { data: { validTo: tls.validTo } });
      else if (left < CERT_EXPIRY_WARNING_MS) {
        ctx.alerts.raise('S3CertificateExpiring', 'warning', `the S3 endpoint's certificate expires on ${tls.validTo}, in ${Math.ceil(left / 86_400_000)} day(s) (${this.tls!.files.certFile})`, { data: { validTo: tls.validTo } });
      } else ctx.alerts.clear('S3CertificateExpiring');
    }
    const unrestored = this.storeValue?.stats.unrestored ?? 0;
    if (unrestored > 0) {
      ctx.alerts.raise('ChunkUnrestored', 'critical', `${unrestored} damaged chunk cop${unrestored === 1 ? 'y' : 'ies'} on this node could not be restored from a replica (log code ChunkUnrestored)`, { data: { unrestored } });
    }
  }

  /**
   * Re-reads the endpoint's certificate and key files and serves them to new connections if they
   * changed (a renewal). A renewal that does not check out is logged (once per distinct problem)
   * and the certificate in use stays. Runs every minute; resolves with what happened.
   */
  async reloadTls(): Promise<'unchanged' | 'reloaded' | 'refused' | 'off'> {
    const tls = this.tls;
    const log = this.ctx?.env.log;
    if (!tls || !this.http || this.stopped) return 'off';
    try {
      const pair = await tls.refresh();
      if (!pair) {
        // The files hold the pair in use (again): no failure stands.
        this.tlsReloadFailure = undefined;
        return 'unchanged';
      }
      this.http.setTls(pair);
      this.tlsReloads++;
      this.tlsReloadFailure = undefined;
      log?.info({ event: 's3.tlsReloaded', tls: tls.summary }, `S3 endpoint certificate reloaded (valid until ${tls.summary.validTo})`);
      return 'reloaded';
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.tlsReloadFailure) {
        log?.error({ event: 's3.tlsReloadFailed', code: (err as { code?: string }).code ?? 'S3TlsInvalid', err: message }, `S3 endpoint certificate not reloaded: ${message}`);
      }
      this.tlsReloadFailure = message;
      return 'refused';
    }
  }

  ready(): void {
    if (this.options.gc.enabled) this.collector?.start();
    this.expirer?.start();
    this.apiValue?.replication.start(this.options.replicationSweepMs);
    this.journal?.start();
    this.scrubber?.start();
    this.accessLog?.start();
    const env = this.ctx?.env;
    const dht = this.dht;
    const dataDir = this.ctx?.dataDir;
    if (env && dht && dataDir !== undefined) {
      // Buckets and users made before their registries existed get their entries
      // (bucket-registry.ts, user-registry.ts), once per node: a marker file each records that
      // this node's store was gone through.
      this.backfill = env.setTimeout(() => {
        if (this.stopped) return;
        this.backfillOnce(join(dataDir, 's3', BUCKET_BACKFILL_MARKER), 'bucket', () => registerLocalBuckets(dht));
        this.backfillOnce(join(dataDir, 's3', USER_BACKFILL_MARKER), 'user', () => registerLocalUsers(dht));
      }, BUCKET_BACKFILL_DELAY_MS);
    }
  }

  /** Runs a registry's pass over the local store unless `marker` says it ran; writes the marker once it did. */
  private backfillOnce(marker: string, what: 'bucket' | 'user', pass: () => Promise<{ found: number; registered: number }>): void {
    const env = this.ctx?.env;
    if (!env || existsSync(marker)) return;
    const code = what === 'bucket' ? 'BucketRegistrationFailed' : 'UserRegistrationFailed';
    // A store empty at start held nothing made before the registries: no pass over it (a full
    // read of the store, which a node joining a busy ring would pay while it takes its share).
    const skipped = this.storeEmptyAtStart;
    (skipped ? Promise.resolve({ found: 0, registered: 0 }) : pass())
      .then(
        async (r) => {
          if (this.stopped) return;
          const outcome = skipped ? 'store empty at start: nothing to register' : `${r.found} ${what} record(s), ${r.registered} registered`;
          await writeFile(marker, `${new Date(env.now()).toISOString()} ${outcome}\n`);
          env.log.info({ event: what === 'bucket' ? 's3.bucketsRegistered' : 's3.usersRegistered', found: r.found, registered: r.registered }, `registered ${r.registered} ${what}(s) held on this node`);
        },
        (err: Error) => {
          if (!this.stopped) env.log.warn({ code, err: err.message }, `could not register the ${what}s held on this node; the next start${what === 'bucket' ? ' or rewrap job' : ''} will`);
        },
      )
      .catch((err: Error) => env.log.warn({ code, err: err.message }, `could not write ${marker}; the next start registers the ${what}s again`));
  }

  /**
   * Decommissioning: copies every chunk this node holds to the members its set will have without
   * it (the node keeps serving meanwhile; `stop` follows).
   */
  async drain(progress: (summary: Record<string, unknown>) => void): Promise<Record<string, unknown>> {
    const store = this.storeValue;
    if (!store) return {};
    const done = await store.drain((p) => progress({ ...p }));
    return { ...done };
  }

  /** Stops serving: no new requests, background releases finish, then the chunk store closes. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // In-flight requests finish first (for at most drainTimeoutMs), while everything they use
    // (the DHT, the chunk store, the event journal) still runs; new ones are refused with a
    // retryable 503.
    await this.http?.close({ drainMs: this.options.drainTimeoutMs });
    this.collector?.stop();
    this.expirer?.stop();
    this.apiValue?.replication.stop();
    this.tlsTimer?.cancel();
    this.healthTimer?.cancel();
    this.eventTail?.close();
    this.journal?.stop();
    this.rewrapper?.stop();
    this.scrubber?.stop();
    this.backfill?.cancel();
    // Buffered access log records are delivered before the store closes (best effort: one attempt).
    await this.accessLog?.stop().catch(() => undefined);
    await this.apiValue?.drain();
    this.storeValue?.close();
    await this.engine?.close();
  }

  abort(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.collector?.stop();
    this.expirer?.stop();
    this.apiValue?.replication.stop();
    this.tlsTimer?.cancel();
    this.healthTimer?.cancel();
    this.eventTail?.close();
    this.journal?.stop();
    this.rewrapper?.stop();
    this.scrubber?.stop();
    this.backfill?.cancel();
    this.accessLog?.abort();
    void this.http?.close();
    this.storeValue?.close();
    void this.engine?.close();
  }

  endpoints(): Record<string, string> {
    return this.url ? { s3: this.url } : {};
  }

  /**
   * The rewrap's pre-flight check (rewrap-preflight.ts): every node serving S3 has this node's
   * current master key as its own. Throws `MasterKeyMismatch` (409) naming the nodes otherwise.
   */
  private async checkRingMasterKeys(): Promise<void> {
    const master = this.masterKeys;
    if (!master || !this.ctx) return; // the job itself refuses to run without a master key
    const mismatches = masterKeyMismatches(await this.ctx.walkRing(), master.current.id);
    if (mismatches.length === 0) return;
    throw new StorageError(
      'MasterKeyMismatch',
      `not every node serving S3 has master key ${master.current.id} as its current key: ${describeMismatches(mismatches)}. Give every node the new key first (and restart it), or force the job (data keys written by those nodes meanwhile stay under their key until the next run)`,
    );
  }

  summary(): Record<string, unknown> {
    const store = this.storeValue?.stats;
    const scrub = this.scrubber?.stats;
    return {
      endpoint: this.url,
      chunks: this.engine?.count ?? 0,
      chunkBytes: this.engine?.bytes ?? 0,
      activeRequests: this.http?.active ?? 0,
      tls: this.tls ? { validTo: this.tls.summary.validTo, notAfter: this.tls.summary.notAfter } : null,
      damage: { corrupt: store?.corrupt ?? 0, restored: store?.restored ?? 0, unrestored: store?.unrestored ?? 0 },
      scrub: { running: scrub?.running ?? false, lastPassFinishedAt: scrub?.lastPassFinishedAt ?? null },
      // Key ids only (the first bytes of the keys' SHA-256), never the keys: the rewrap's pre-flight check reads them.
      sse: this.masterKeys ? { current: this.masterKeys.current.id, held: this.masterKeys.ids } : null,
    };
  }

  routes(): OpsRoute[] {
    return [
      {
        method: 'POST',
        path: '/api/s3/users',
        description: 'Create an S3 user: body {"name": "…"}; answers the access key and secret (shown once).',
        handler: async (req: OpsRequest) => {
          const name = (req.body as { name?: unknown } | undefined)?.name;
          if (typeof name !== 'string') throw new StorageError('InvalidArgument', 'body must be {"name": "<user name>"}');
          const user = await this.catalog.createUser(name);
          return { status: 201, body: { ...user, endpoint: this.url } };
        },
      },
      {
        method: 'GET',
        path: '/api/s3/users',
        description: 'The S3 users of the ring in name order, a page at a time: ?limit=1..1000 (default 100)&after=<next of the previous page>; answers {users: [{name, id, createdAt}], next?}.',
        handler: async (req: OpsRequest) => {
          const limit = req.query.get('limit');
          const after = req.query.get('after');
          if (limit !== null && !/^\d{1,4}$/.test(limit)) throw new StorageError('InvalidArgument', `limit must be an integer from 1 to 1000, got "${limit.slice(0, 40)}"`);
          return { body: await this.catalog.listUsers({ ...(limit !== null ? { limit: Number(limit) } : {}), ...(after !== null && after !== '' ? { after } : {}) }) };
        },
      },
      {
        method: 'GET',
        path: '/api/s3/users/:name',
        description: 'An S3 user: canonical id, creation time, access keys with their status and creation time (never the secrets).',
        handler: async (req: OpsRequest) => ({ body: await this.catalog.describeUser(req.params['name'] ?? '') }),
      },
      {
        method: 'DELETE',
        path: '/api/s3/users/:name',
        description: 'Delete an S3 user and its access keys (409 DeleteConflict while it owns buckets); takes s3.cacheMs + 1 s.',
        handler: async (req: OpsRequest) => ({ body: await this.catalog.deleteUser(req.params['name'] ?? '') }),
      },
      {
        method: 'POST',
        path: '/api/s3/users/:name/keys',
        description: 'Give an S3 user another access key (at most 2: 409 LimitExceeded); answers 201 with the key and its secret (shown once).',
        handler: async (req: OpsRequest) => ({ status: 201, body: { ...(await this.catalog.createAccessKey(req.params['name'] ?? '')), endpoint: this.url } }),
      },
      {
        method: 'POST',
        path: '/api/s3/users/:name/keys/:key',
        description: 'Enable or disable an access key of an S3 user: body {"status": "Active" | "Inactive"}.',
        handler: async (req: OpsRequest) => {
          const status = (req.body as { status?: unknown } | undefined)?.status;
          if (typeof status !== 'string') throw new StorageError('InvalidArgument', 'body must be {"status": "Active" | "Inactive"}');
          const name = req.params['name'] ?? '';
          return { body: { name, ...(await this.catalog.setAccessKeyStatus(name, req.params['key'] ?? '', status)) } };
        },
      },
      {
        method: 'DELETE',
        path: '/api/s3/users/:name/keys/:key',
        description: 'Delete an access key of an S3 user (it stops working on every node within s3.cacheMs).',
        handler: async (req: OpsRequest) => {
          const name = req.params['name'] ?? '';
          const accessKey = req.params['key'] ?? '';
          await this.catalog.deleteAccessKey(name, accessKey);
          return { body: { name, accessKey, deleted: true } };
        },
      },
      {
        method: 'POST',
        path: '/api/s3/users/:name/mfa',
        description: "Give an S3 user a new virtual MFA device (a TOTP authenticator, for MFA delete), replacing any it had; answers 201 with its serial, secret and otpauth URI (shown once).",
        handler: async (req: OpsRequest) => ({ status: 201, body: await this.catalog.createMfaDevice(req.params['name'] ?? '') }),
      },
      {
        method: 'DELETE',
        path: '/api/s3/users/:name/mfa',
        description: "Remove an S3 user's virtual MFA device (buckets with MFA delete then refuse what needs it until the user has a new one).",
        handler: async (req: OpsRequest) => {
          const name = req.params['name'] ?? '';
          await this.catalog.deleteMfaDevice(name);
          return { body: { name, mfa: null } };
        },
      },
      {
        method: 'GET',
        path: '/api/s3/buckets',
        description:
          'The buckets of the ring in name order with owner and settings, a page at a time: ?limit=1..1000 (default 100)&after=<next>&usage=true (count current objects and bytes, up to ?maxObjects=… index entries per bucket, default 1000000).',
        handler: async (req: OpsRequest) => {
          const dht = this.dht;
          if (!dht) throw new StorageError('NotAvailable', 'the s3 application has not started');
          const limit = intParam(req.query.get('limit'), 'limit', 1, 1000) ?? 100;
          const maxObjects = intParam(req.query.get('maxObjects'), 'maxObjects', 1, 100_000_000) ?? 1_000_000;
          const usage = req.query.get('usage');
          if (usage !== null && usage !== 'true' && usage !== 'false') throw new StorageError('InvalidArgument', `usage must be true or false, got "${usage.slice(0, 40)}"`);
          const after = req.query.get('after');
          return { body: await bucketInventory(dht, this.catalog, { limit, maxObjects, usage: usage === 'true', ...(after ? { after } : {}) }) };
        },
      },
      {
        method: 'GET',
        path: '/api/s3/events/:topic',
        description:
          'Bucket event notifications of a topic (the name in its ARN) from its journal in the ring: ?after=<cursor> (the last one read) or ?sinceMs=<ms back from now> (default 3600000), &limit=1..1000 (default 100), &waitMs=0..10000 (wait for a new one when there is none); answers the events with their cursors and the cursor to read after next.',
        handler: async (req: OpsRequest) => {
          const journal = this.events;
          const env = this.ctx!.env;
          const topic = req.params['topic'] ?? '';
          if (!/^[A-Za-z0-9_-]{1,256}$/.test(topic)) throw new StorageError('InvalidArgument', `a topic name is 1 to 256 letters, digits, - and _, got "${topic.slice(0, 40)}"`);
          const given = req.query.get('after');
          if (given !== null && !isCursor(given)) throw new StorageError('InvalidArgument', `after must be a cursor an earlier answer gave, got "${given.slice(0, 60)}"`);
          const sinceMs = intParam(req.query.get('sinceMs'), 'sinceMs', 0, Number.MAX_SAFE_INTEGER) ?? 3_600_000;
          const limit = intParam(req.query.get('limit'), 'limit', 1, 1000) ?? 100;
          const waitMs = intParam(req.query.get('waitMs'), 'waitMs', 0, MAX_TAIL_WAIT_MS) ?? 0;
          const after = given ?? cursorAt(env.now() - sinceMs);
          // The topic's pub/sub messages are the doorbell of a long poll: note the last one first,
          // so one arriving while the journal is read is not waited for again.
          const tail = this.eventTail;
          const rung = tail && waitMs > 0 ? (await tail.read(topic, Number.MAX_SAFE_INTEGER, 0)).last : undefined;
          let page = await journal.read(topic, after, limit);
          if (page.events.length === 0 && tail && rung !== undefined) {
            await tail.read(topic, rung, waitMs);
            page = await journal.read(topic, after, limit);
          }
          return { body: { topic, ...page } };
        },
      },
      {
        method: 'POST',
        path: '/api/s3/buckets/:name/replicate-existing',
        description:
          'Replicate the versions of a bucket written before its replication configuration (S3 Batch Replication), a page of keys at a time: body {"after": "<next>", "limit": 1..1000 (default 100), "dryRun": true|false, "retryFailed": true|false (the FAILED versions too)}; answers the counts and the key to continue after.',
        handler: async (req: OpsRequest) => {
          const body = (req.body ?? {}) as { after?: unknown; limit?: unknown; dryRun?: unknown; retryFailed?: unknown };
          const limit = body.limit ?? 100;
          if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 1000) throw new StorageError('InvalidArgument', 'limit must be an integer from 1 to 1000');
          if (body.after !== undefined && typeof body.after !== 'string') throw new StorageError('InvalidArgument', 'after must be a key');
          if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') throw new StorageError('InvalidArgument', 'dryRun must be true or false');
          if (body.retryFailed !== undefined && typeof body.retryFailed !== 'boolean') throw new StorageError('InvalidArgument', 'retryFailed must be true or false');
          const page = await this.api.replication.replicateExisting(req.params['name'] ?? '', { limit, dryRun: body.dryRun === true, retryFailed: body.retryFailed === true, ...(body.after !== undefined ? { after: body.after } : {}) });
          return { body: page };
        },
      },
      {
        method: 'POST',
        path: '/api/s3/scrub',
        description: "Start a scrub pass over this node's chunks now (or join the running one); answers 202 with the scrubber's state.",
        handler: () => {
          const scrubber = this.scrubber;
          if (!scrubber) throw new StorageError('NotAvailable', 'the s3 application has not started');
          void scrubber.runPass();
          return { status: 202, body: this.scrubStatus() };
        },
      },
      {
        method: 'GET',
        path: '/api/s3/scrub',
        description: "The scrubber of this node: whether a pass runs, its position, what it found; the chunk store's damage counters.",
        handler: () => ({ body: this.scrubStatus() }),
      },
      {
        method: 'POST',
        path: '/api/s3/access-log/flush',
        description: "Write this node's buffered server access log records into their target buckets now; answers what was written and dropped.",
        handler: async () => {
          const accessLog = this.accessLog;
          if (!accessLog || this.stopped) throw new StorageError('NotAvailable', 'the s3 application has not started');
          return { body: { ...(await accessLog.flush()), stats: accessLog.stats } };
        },
      },
      {
        method: 'POST',
        path: '/api/s3/rewrap',
        description:
          'Start the SSE-S3 rewrap job on this node: body {"dryRun": bool, "buckets": ["…"], "force": bool} (all optional); answers 202 with the job status. Unless a dry run or forced, refused (409 MasterKeyMismatch) while a node serving S3 has another current master key or does not answer.',
        handler: async (req: OpsRequest) => {
          const { force, options } = rewrapOptions(req.body);
          if (!options.dryRun && !force) {
            await this.checkRingMasterKeys();
            // And again while it runs: a node put back on an old key mid-job stops it.
            options.recheck = () => this.checkRingMasterKeys();
          }
          return { status: 202, body: this.rewrap.start(options).status };
        },
      },
      {
        method: 'GET',
        path: '/api/s3/rewrap',
        description: 'The running or last SSE-S3 rewrap job of this node: state, progress, counts by master key.',
        handler: () => {
          const status = this.rewrap.status;
          if (!status) throw new StorageError('NotFound', 'no rewrap job has run on this node since it started');
          return { body: status };
        },
      },
      {
        method: 'POST',
        path: '/api/s3/kms/keys',
        description: 'Create an SSE-KMS key of the ring: body {"alias": "name" | "alias/name", "description": "…"} (both optional); answers 201 with the key (id, ARN, alias, state; never its material).',
        handler: async (req: OpsRequest) => ({ status: 201, body: await this.kms.create(kmsCreateOptions(req.body)) }),
      },
      {
        method: 'GET',
        path: '/api/s3/kms/keys',
        description: 'The SSE-KMS keys of the ring in id order: {keys: [{id, arn, alias, description, state, createdAt, masterKeyId}]}.',
        handler: async () => ({ body: { keys: await this.kms.list() } }),
      },
      {
        method: 'POST',
        path: '/api/s3/kms/keys/:key',
        description: 'Enable or disable an SSE-KMS key (by id, ARN or alias): body {"state": "Enabled" | "Disabled"}; every node refuses a disabled key at once.',
        handler: async (req: OpsRequest) => {
          const state = (req.body as { state?: unknown } | undefined)?.state;
          if (state !== 'Enabled' && state !== 'Disabled') throw new StorageError('InvalidArgument', 'body must be {"state": "Enabled" | "Disabled"}');
          return { body: await this.kms.setState(req.params['key'] ?? '', state) };
        },
      },
      {
        method: 'GET',
        path: '/api/s3',
        description: 'The S3 endpoint of this node: URL, requests, chunks, collector.',
        handler: () => ({
          body: {
            endpoint: this.url,
            http: this.http?.stats,
            api: this.apiValue?.stats,
            chunks: { count: this.engine?.count ?? 0, bytes: this.engine?.bytes ?? 0, stats: this.storeValue?.stats },
            gc: this.collector?.stats,
            lifecycle: this.expirer?.stats,
            replication: this.apiValue?.replication.stats,
            tls: this.tls ? { ...this.tls.summary, files: this.tls.files, reloads: this.tlsReloads, reloadFailure: this.tlsReloadFailure ?? null } : null,
            rewrap: this.rewrapper?.stats,
            kms: this.kmsKeys?.stats ?? null,
            scrub: this.scrubber?.stats,
            accessLog: this.accessLog?.stats,
          },
        }),
      },
    ];
  }

  /** The scrubber's state with the chunk store's damage counters (`GET /api/s3/scrub`). */
  private scrubStatus(): Record<string, unknown> {
    const store = this.storeValue?.stats;
    return {
      ...(this.scrubber?.stats ?? {}),
      options: this.options.scrub,
      verifyReads: this.options.verifyReads,
      damage: { corrupt: store?.corrupt ?? 0, restored: store?.restored ?? 0, unrestored: store?.unrestored ?? 0, corruptAnswers: store?.corruptAnswers ?? 0 },
    };
  }

  metrics(): MetricFamily[] {
    const http = this.http?.stats;
    const store = this.storeValue?.stats;
    const api = this.apiValue?.stats;
    const lifecycle = this.expirer?.stats;
    const replication = this.apiValue?.replication.stats;
    const rewrap = this.rewrapper?.stats;
    const byLabel = (o: Record<string, number> | undefined, label: string): { labels: Record<string, string>; value: number }[] =>
      Object.entries(o ?? {}).map(([k, v]) => ({ labels: { [label]: k }, value: v }));
    return [
      { name: 'pi_s3_requests_total', help: 'S3 requests served, by operation.', type: 'counter', values: byLabel(http?.requests, 'op') },
      { name: 'pi_s3_errors_total', help: 'S3 error responses, by error code.', type: 'counter', values: byLabel(http?.errors, 'code') },
      { name: 'pi_s3_auth_total', help: 'S3 requests authenticated, by scheme (sigv4-header, sigv4-presigned, sigv2-header, sigv2-presigned, anonymous).', type: 'counter', values: byLabel(http?.auth, 'scheme') },
      { name: 'pi_s3_chunks', help: 'Chunks stored on this node.', type: 'gauge', values: [{ value: this.engine?.count ?? 0 }] },
      { name: 'pi_s3_chunk_bytes', help: 'Bytes of chunk data stored on this node.', type: 'gauge', values: [{ value: this.engine?.bytes ?? 0 }] },
      { name: 'pi_s3_bytes_written_total', help: 'Object bytes written through this node.', type: 'counter', values: [{ value: api?.bytesWritten ?? 0 }] },
      { name: 'pi_s3_bytes_read_total', help: 'Object bytes read through this node.', type: 'counter', values: [{ value: api?.bytesRead ?? 0 }] },
      { name: 'pi_s3_chunk_repairs_total', help: 'Chunk copies repaired on read.', type: 'counter', values: [{ value: store?.repairs ?? 0 }] },
      { name: 'pi_s3_chunks_replicated_total', help: 'Chunk copies sent by re-replication.', type: 'counter', values: [{ value: store?.replicated ?? 0 }] },
      { name: 'pi_s3_chunks_corrupt_total', help: 'Damaged chunk copies found on this node (by reads and by the scrubber) and quarantined.', type: 'counter', values: [{ value: store?.corrupt ?? 0 }] },
      { name: 'pi_s3_chunks_restored_total', help: 'Damaged chunk copies of this node restored from a replica.', type: 'counter', values: [{ value: store?.restored ?? 0 }] },
      { name: 'pi_s3_chunks_unrestored_total', help: 'Damaged chunk copies of this node no replica could replace.', type: 'counter', values: [{ value: store?.unrestored ?? 0 }] },
      { name: 'pi_s3_chunk_corrupt_answers_total', help: "Replicas' answers to this node's chunk reads that did not hash to the chunk.", type: 'counter', values: [{ value: store?.corruptAnswers ?? 0 }] },
      { name: 'pi_s3_scrub_bytes_total', help: 'Bytes of chunks re-read and checked by the scrubber on this node.', type: 'counter', values: [{ value: this.scrubber?.stats.bytes ?? 0 }] },
      { name: 'pi_s3_scrub_passes_total', help: 'Scrub passes finished on this node since it started.', type: 'counter', values: [{ value: this.scrubber?.stats.passes ?? 0 }] },
      { name: 'pi_s3_scrub_last_pass_finished_seconds', help: 'When the last scrub pass of this node finished (seconds since the epoch; 0: never).', type: 'gauge', values: [{ value: Math.floor((this.scrubber?.stats.lastPassFinishedAt ?? 0) / 1000) }] },
      { name: 'pi_s3_access_log_records_total', help: 'Server access log records made on this node (requests to buckets with logging enabled).', type: 'counter', values: [{ value: this.accessLog?.stats.records ?? 0 }] },
      { name: 'pi_s3_access_log_objects_total', help: 'Server access log objects written by this node.', type: 'counter', values: [{ value: this.accessLog?.stats.objects ?? 0 }] },
      {
        name: 'pi_s3_access_log_dropped_total',
        help: 'Server access log records dropped on this node, by reason (target_missing, access_denied, write_failed, overflow, lookup_failed).',
        type: 'counter',
        values: (['target_missing', 'access_denied', 'write_failed', 'overflow', 'lookup_failed'] as const).map((reason) => ({ labels: { reason }, value: this.accessLog?.stats.dropped[reason] ?? 0 })),
      },
      { name: 'pi_s3_chunks_collected_total', help: 'Unreferenced chunks collected.', type: 'counter', values: [{ value: this.collector?.stats.collected ?? 0 }] },
      { name: 'pi_s3_lifecycle_objects_expired_total', help: 'Objects deleted by lifecycle expiration rules on this node.', type: 'counter', values: [{ value: lifecycle?.objectsExpired ?? 0 }] },
      { name: 'pi_s3_lifecycle_uploads_aborted_total', help: 'Incomplete multipart uploads aborted by lifecycle rules on this node.', type: 'counter', values: [{ value: lifecycle?.uploadsAborted ?? 0 }] },
      { name: 'pi_s3_lifecycle_versions_expired_total', help: 'Noncurrent object versions removed by NoncurrentVersionExpiration rules on this node.', type: 'counter', values: [{ value: lifecycle?.versionsExpired ?? 0 }] },
      { name: 'pi_s3_lifecycle_delete_markers_removed_total', help: 'Expired object delete markers removed by ExpiredObjectDeleteMarker rules on this node.', type: 'counter', values: [{ value: lifecycle?.markersRemoved ?? 0 }] },
      { name: 'pi_s3_lifecycle_sweeps_total', help: 'Lifecycle sweeps run on this node.', type: 'counter', values: [{ value: lifecycle?.sweeps ?? 0 }] },
      { name: 'pi_s3_lifecycle_sweep_seconds', help: 'Duration of the last lifecycle sweep on this node.', type: 'gauge', values: [{ value: (lifecycle?.lastSweepMs ?? 0) / 1000 }] },
      ...(this.tls
        ? [
            { name: 'pi_s3_tls_certificate_expiry_seconds', help: "Expiry of the S3 endpoint's TLS certificate, in seconds since the epoch.", type: 'gauge' as const, values: [{ value: Math.floor(this.tls.summary.notAfter / 1000) }] },
            { name: 'pi_s3_tls_reloads_total', help: "Renewed S3 endpoint certificates loaded without a restart.", type: 'counter' as const, values: [{ value: this.tlsReloads }] },
          ]
        : []),
      { name: 'pi_s3_lifecycle_sweep_seconds_total', help: 'Time spent in lifecycle sweeps on this node.', type: 'counter', values: [{ value: (lifecycle?.sweepMsTotal ?? 0) / 1000 }] },
      { name: 'pi_s3_notifications_published_total', help: 'Bucket event notifications published on the ring (one per matching configuration) by this node.', type: 'counter', values: [{ value: this.apiValue?.notifications.stats.published ?? 0 }] },
      { name: 'pi_s3_notifications_failed_total', help: 'Bucket event notifications this node could not publish.', type: 'counter', values: [{ value: this.apiValue?.notifications.stats.failed ?? 0 }] },
      { name: 'pi_s3_notifications_not_journaled_total', help: 'Bucket event notifications this node could not write to their topic journal (the request failed with 503, or a lifecycle event was lost).', type: 'counter', values: [{ value: this.apiValue?.notifications.stats.notJournaled ?? 0 }] },
      { name: 'pi_s3_event_journal_appended_total', help: 'Bucket events this node wrote to topic journals (copies included).', type: 'counter', values: [{ value: this.journal?.stats.appended ?? 0 }] },
      { name: 'pi_s3_event_journal_rewritten_total', help: 'Journal appends acknowledged late and written again under a fresh key.', type: 'counter', values: [{ value: this.journal?.stats.rewritten ?? 0 }] },
      { name: 'pi_s3_event_journal_expired_total', help: 'Events removed from topic journals by this node\'s retention sweep.', type: 'counter', values: [{ value: this.journal?.stats.expired ?? 0 }] },
      { name: 'pi_s3_replication_queued_total', help: 'Object versions queued for bucket replication by writes through this node.', type: 'counter', values: [{ value: replication?.queued ?? 0 }] },
      { name: 'pi_s3_replication_replicated_total', help: 'Object versions (and delete markers) replicated by this node.', type: 'counter', values: [{ value: replication?.replicated ?? 0 }] },
      { name: 'pi_s3_replication_failed_total', help: 'Object versions this node marked FAILED (their destination cannot take them).', type: 'counter', values: [{ value: replication?.failed ?? 0 }] },
      { name: 'pi_s3_replication_retries_total', help: 'Replication attempts that failed for now on this node (the sweep retries them).', type: 'counter', values: [{ value: replication?.retries ?? 0 }] },
      { name: 'pi_s3_kms_keys', help: 'SSE-KMS keys of the ring as this node last listed them (pi s3 kms-key list), plus those it created since.', type: 'gauge', values: this.kmsKeys?.stats.keys !== undefined ? [{ value: this.kmsKeys.stats.keys }] : [] },
      {
        name: 'pi_s3_kms_operations_total',
        help: 'SSE-KMS key operations on this node by operation (create, encrypt, decrypt, resolve, setState, rewrap) and result (ok, disabled, not_found, conflict, error).',
        type: 'counter',
        values: Object.entries(this.kmsKeys?.stats.ops ?? {}).map(([k, v]) => {
          const [op, result] = k.split(':') as [string, string];
          return { labels: { op, result }, value: v };
        }),
      },
      { name: 'pi_s3_sse_rewrap_jobs_total', help: 'SSE-S3 rewrap jobs and counts (dry runs) started on this node.', type: 'counter', values: [{ value: rewrap?.jobs ?? 0 }] },
      { name: 'pi_s3_sse_rewrapped_total', help: 'SSE-S3 data keys rewrapped under the current master key by jobs on this node.', type: 'counter', values: [{ value: rewrap?.rewrapped ?? 0 }] },
      { name: 'pi_s3_sse_rewrap_changed_total', help: 'Entries a rewrap job on this node left alone because they changed after it read them.', type: 'counter', values: [{ value: rewrap?.changed ?? 0 }] },
      { name: 'pi_s3_sse_rewrap_errors_total', help: 'Entries and buckets a rewrap job on this node failed on.', type: 'counter', values: [{ value: rewrap?.errors ?? 0 }] },
      {
        name: 'pi_s3_sse_entries',
        help: 'SSE-S3 entries (object versions, uploads, parts) by master key id and its status on this node, as the last dry run of the rewrap job on this node counted them.',
        type: 'gauge',
        values: (rewrap?.lastCount ?? []).map((k) => ({ labels: { kid: k.kid, status: k.status }, value: k.entries })),
      },
    ];
  }
}

/** The `s3` application for the `apps` setting. */
export const s3Application: ApplicationFactory = {
  name: 's3',
  description: 'Pi Cloud storage: an S3-compatible object store on the ring',
  create: (config: PiConfig) => new S3Service(s3OptionsFrom(config)),
};

/** The options of a KMS key creation from an ops request's body (`InvalidArgument` when malformed). */
function kmsCreateOptions(body: unknown): { alias?: string; description?: string } {
  const bad = (): StorageError => new StorageError('InvalidArgument', 'body must be {"alias": "<name>", "description": "<text>"} (both optional)');
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw bad();
  const { alias, description, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw bad();
  if (alias !== undefined && typeof alias !== 'string') throw bad();
  if (description !== undefined && typeof description !== 'string') throw bad();
  return { ...(alias !== undefined ? { alias } : {}), ...(description !== undefined ? { description } : {}) };
}

/** The options of a rewrap job from an ops request's body (`InvalidArgument` when malformed). */
function rewrapOptions(body: unknown): { force: boolean; options: RewrapOptions } {
  const bad = (): StorageError => new StorageError('InvalidArgument', 'body must be {"dryRun": true|false, "buckets": ["<bucket name>", …], "force": true|false} (all optional)');
  if (body === undefined || body === null) return { force: false, options: {} };
  if (typeof body !== 'object' || Array.isArray(body)) throw bad();
  const { dryRun, buckets, force, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw bad();
  if (dryRun !== undefined && typeof dryRun !== 'boolean') throw bad();
  if (force !== undefined && typeof force !== 'boolean') throw bad();
  if (buckets !== undefined && (!Array.isArray(buckets) || buckets.length === 0 || !buckets.every((b) => typeof b === 'string' && b.length > 0 && b.length <= 255))) throw bad();
  return { force: force === true, options: { ...(dryRun !== undefined ? { dryRun } : {}), ...(buckets !== undefined ? { buckets: buckets as string[] } : {}) } };
}

/** Whether `items` yields nothing (reads at most one; the iteration is closed either way). */
function isEmpty(items: Iterable<unknown>): boolean {
  for (const _ of items) return false;
  return true;
}
