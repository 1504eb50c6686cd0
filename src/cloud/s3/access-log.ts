/**
 * Server access log delivery on one node: the records of requests this node served
 * (access-log-capture.ts) for buckets with logging enabled are buffered in memory, per source
 * bucket and configuration, and written as log objects into the target bucket every
 * `flushIntervalMs`, or as soon as a bucket's buffer holds `maxBufferBytes`.
 *
 * A log object is written through the same path as a PutObject (S3Api.storeObject: chunked,
 * replicated, versioned as the target bucket is), owned by the target bucket's owner, with the
 * configuration's TargetGrants as its ACL (besides the owner's full control). Its key follows the
 * configuration's TargetObjectKeyFormat (protocol/access-log.ts); the unique part comes from the
 * env's randomness.
 *
 * Whether the delivery may write is what S3 checks of its log delivery: the target bucket's
 * policy allowing `s3:PutObject` to the service principal `logging.s3.amazonaws.com` (with
 * `aws:SourceArn` = the source bucket's ARN and `aws:SourceAccount` = its owner's canonical id),
 * or, unless the target's ACLs are disabled, its ACL granting WRITE to the LogDelivery group
 * (the `log-delivery-write` canned ACL or an explicit grant). A policy Deny wins. The target must
 * still be the source's owner's, and not Requester Pays.
 *
 * Best effort, as S3 says of its own: records held by a node that crashes are lost; a failed
 * write is retried at the next flush, {@link MAX_DELIVERY_ATTEMPTS} times in all, then dropped
 * (counted, one log line `AccessLogDeliveryFailed`); records of a target that is gone or refuses
 * the delivery are dropped at once (`AccessLogTargetMissing`, `AccessLogDeliveryDenied`). A
 * graceful stop flushes. The delivery's own writes never make records: they do not go through
 * the endpoint, so a bucket logging into itself does not loop.
 */
import { Readable } from 'node:stream';
import type { Env, Logger, Timer } from '../../env/index.ts';
import { ACL_GROUPS } from './protocol/index.ts';
import { evaluatePolicy } from './protocol/policy.ts';
import { formatAccessLogRecord, logObjectKey } from './protocol/access-log.ts';
import { partitionsByEventTime } from './protocol/bucket-logging.ts';
import type { LoggingConfiguration } from './protocol/bucket-logging.ts';
import { aclsDisabled } from './access.ts';
import type { AccessLogSink, PendingRecord } from './access-log-capture.ts';
import type { Catalog, Principal } from './catalog.ts';
import type { BucketEntry, StoredGrant } from './model.ts';
import { compiledPolicy } from './policy.ts';
import type { AccessLogOptions } from './options.ts';

/** The service principal the log delivery writes as (bucket policies name it). */
export const LOG_DELIVERY_SERVICE = 'logging.s3.amazonaws.com';
/** Writes of one batch tried before its records are dropped. */
export const MAX_DELIVERY_ATTEMPTS = 3;
/** A bucket's buffer stops taking records at this many times `maxBufferBytes` (its target keeps failing). */
const OVERFLOW_FACTOR = 4;

/** Why records were dropped (the `reason` label of `pi_s3_access_log_dropped_total`). */
export type DropReason = 'target_missing' | 'access_denied' | 'write_failed' | 'overflow' | 'lookup_failed';

/** Counters of the delivery on this node. */
export interface AccessLogStats {
  /** Records made (requests to buckets with logging enabled). */
  records: number;
  /** Log objects written. */
  objects: number;
  /** Records in log objects written. */
  delivered: number;
  /** Records dropped, by reason. */
  dropped: Partial<Record<DropReason, number>>;
  /** Records held now, and their bytes. */
  buffered: number;
  bufferedBytes: number;
}

/** What one flush did. */
export interface FlushResult {
  objects: number;
  records: number;
  dropped: number;
}

/** How the delivery writes a log object (S3Api.storeObject in the node). */
export type WriteLogObject = (w: { bucket: BucketEntry; key: string; body: Readable; size: number; owner: Principal; grants: StoredGrant[] | undefined }) => Promise<void>;

/** The records of one source bucket waiting for delivery under one configuration. */
interface Buffer_ {
  source: string;
  sourceOwner: string;
  sourceRegion: string;
  config: LoggingConfiguration<StoredGrant>;
  /** Lines with the time of their request. */
  lines: { time: number; line: string }[];
  bytes: number;
  /** Failed writes of these records so far. */
  attempts: number;
}

/**
 * Whether the log delivery may write `key` into `target` for the source bucket `source`
 * (owned by `sourceOwner`): the target's policy (a Deny wins, an Allow to the service principal
 * permits), else its ACL's WRITE for the LogDelivery group (not when ACLs are disabled).
 */
export function deliveryPermitted(target: BucketEntry, key: string, source: string, sourceOwner: string): boolean {
  if (target.policy !== undefined) {
    const decision = evaluatePolicy(compiledPolicy(target.policy), {
      action: 's3:PutObject',
      resource: `arn:aws:s3:::${target.name}/${key}`,
      principal: undefined,
      service: LOG_DELIVERY_SERVICE,
      value: (name) => {
        switch (name) {
          case 'aws:sourcearn':
            return `arn:aws:s3:::${source}`;
          case 'aws:sourceaccount':
            return sourceOwner;
          case 'aws:securetransport':
            return 'true';
          default:
            return undefined;
        }
      },
    });
    if (decision === 'Deny') return false;
    if (decision === 'Allow') return true;
  }
  if (aclsDisabled(target)) return false;
  if (target.grants !== undefined) return target.grants.some((g) => g.uri === ACL_GROUPS.LogDelivery && (g.p === 'WRITE' || g.p === 'FULL_CONTROL'));
  return target.acl === 'log-delivery-write';
}

/** Buffers and delivers the access log records of one node. */
export class AccessLogDelivery implements AccessLogSink {
  readonly stats: AccessLogStats = { records: 0, objects: 0, delivered: 0, dropped: {}, buffered: 0, bufferedBytes: 0 };
  private readonly buffers = new Map<string, Buffer_>();
  /** Record lookups (the source bucket's record) not finished yet. */
  private readonly pending = new Set<Promise<void>>();
  /** Deliveries running, by buffer. */
  private readonly running = new Map<string, Promise<void>>();
  private timer: Timer | undefined;
  private stopped = false;
  private readonly log: Logger;

  constructor(
    private readonly env: Env,
    private readonly catalog: Catalog,
    private readonly options: AccessLogOptions,
    private readonly write: WriteLogObject,
  ) {
    this.log = env.log.child({ mod: 's3.accessLog' });
  }

  /** Starts the periodic flush. */
  start(): void {
    this.stopped = false;
    this.timer = this.env.setInterval(() => void this.flush().catch(() => {}), this.options.flushIntervalMs);
  }

  /** Stops the periodic flush and delivers what is buffered (one attempt; a graceful stop). */
  async stop(): Promise<FlushResult> {
    this.timer?.cancel();
    const result = await this.flush(true);
    this.stopped = true;
    return result;
  }

  /** Stops at once: what is buffered is lost (a crash, or an abort). */
  abort(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** Takes the record of a request to `bucket`; kept only if the bucket logs (its record, cached, says so). */
  mayLog(bucket: string): boolean {
    if (this.stopped) return false;
    const cached = this.catalog.cachedBucket(bucket);
    return cached === undefined || Boolean(cached.log);
  }

  record(bucket: string, record: PendingRecord): void {
    if (this.stopped) return;
    const p = this.keep(bucket, record)
      .catch((err: Error) => {
        // The bucket record could not be read: whether it logs is not known.
        this.dropped('lookup_failed', 1);
        this.log.debug({ code: 'AccessLogLookupFailed', bucket, err: err.message }, 'an access log record was dropped: the bucket record could not be read');
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async keep(name: string, record: PendingRecord): Promise<void> {
    const bucket = await this.catalog.bucket(name);
    const config = bucket?.log;
    if (!bucket || !config) return;
    const id = `${name}\u0000${bucket.inc}\u0000${JSON.stringify(config)}`;
    let buffer = this.buffers.get(id);
    if (!buffer) {
      buffer = { source: name, sourceOwner: bucket.owner, sourceRegion: bucket.region, config, lines: [], bytes: 0, attempts: 0 };
      this.buffers.set(id, buffer);
    }
    this.stats.records++;
    if (buffer.bytes >= OVERFLOW_FACTOR * this.options.maxBufferBytes) {
      this.dropped('overflow', 1);
      return;
    }
    const line = formatAccessLogRecord({ ...record, bucketOwner: bucket.owner });
    buffer.lines.push({ time: record.time, line });
    buffer.bytes += Buffer.byteLength(line) + 1;
    this.stats.buffered++;
    this.stats.bufferedBytes += Buffer.byteLength(line) + 1;
    if (buffer.bytes >= this.options.maxBufferBytes && !this.running.has(id)) void this.deliver(id, false);
  }

  /**
   * Delivers every buffer now (after the records of requests already answered are in); resolves
   * with what was written and dropped. `last`: no retry will follow (the node stops).
   */
  async flush(last = false): Promise<FlushResult> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    const before = { objects: this.stats.objects, records: this.stats.delivered, dropped: this.droppedTotal() };
    await Promise.allSettled([...this.running.values()]);
    await Promise.allSettled([...this.buffers.keys()].map((id) => this.deliver(id, last)));
    return { objects: this.stats.objects - before.objects, records: this.stats.delivered - before.records, dropped: this.droppedTotal() - before.dropped };
  }

  private droppedTotal(): number {
    return Object.values(this.stats.dropped).reduce((a, n) => a + (n ?? 0), 0);
  }

  private dropped(reason: DropReason, n: number): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + n;
  }

  /** Delivers one buffer (waits for a delivery of it already running). */
  private deliver(id: string, last: boolean): Promise<void> {
    const running = this.running.get(id);
    if (running) return running;
    const p = this.deliverNow(id, last).finally(() => this.running.delete(id));
    this.running.set(id, p);
    return p;
  }

  private async deliverNow(id: string, last: boolean): Promise<void> {
    const buffer = this.buffers.get(id);
    if (!buffer || buffer.lines.length === 0) {
      if (buffer) this.buffers.delete(id);
      return;
    }
    // The records leave the buffer; new ones start a fresh one (failed ones come back).
    this.buffers.delete(id);
    this.stats.buffered -= buffer.lines.length;
    this.stats.bufferedBytes -= buffer.bytes;
    const { config, source } = buffer;
    let target: BucketEntry | undefined;
    try {
      target = await this.catalog.bucket(config.targetBucket);
    } catch (err) {
      this.retry(id, buffer, last, (err as Error).message);
      return;
    }
    if (!target) {
      this.dropped('target_missing', buffer.lines.length);
      this.log.warn(
        { code: 'AccessLogTargetMissing', bucket: source, target: config.targetBucket, records: buffer.lines.length },
        `access log records of bucket ${source} dropped: the target bucket ${config.targetBucket} does not exist`,
      );
      return;
    }
    const deliveredAt = this.env.now();
    const byEventDay = partitionsByEventTime(config.keyFormat);
    // PartitionedPrefix by EventTime: one object per UTC day of the records, so each lands in its day's partition.
    const groups = new Map<string, { time: number; lines: { time: number; line: string }[] }>();
    for (const l of buffer.lines) {
      const day = byEventDay ? new Date(l.time).toISOString().slice(0, 10) : '';
      const g = groups.get(day) ?? { time: byEventDay ? l.time : deliveredAt, lines: [] };
      g.lines.push(l);
      groups.set(day, g);
    }
    const failed: { time: number; line: string }[] = [];
    let failure: string | undefined;
    for (const g of groups.values()) {
      const key = logObjectKey({
        prefix: config.targetPrefix,
        partitioned: config.keyFormat !== undefined && 'partitioned' in config.keyFormat,
        time: g.time,
        unique: this.env.random.hex(8).toUpperCase(),
        sourceAccount: buffer.sourceOwner,
        sourceRegion: buffer.sourceRegion,
        sourceBucket: source,
      });
      // A target made Requester Pays since takes no logs (S3 delivers none to such a bucket).
      if (target.owner !== buffer.sourceOwner || target.rp === 'Requester' || !deliveryPermitted(target, key, source, buffer.sourceOwner)) {
        this.dropped('access_denied', g.lines.length);
        this.log.warn(
          { code: 'AccessLogDeliveryDenied', bucket: source, target: config.targetBucket, key, records: g.lines.length },
          `access log records of bucket ${source} dropped: the target bucket ${config.targetBucket} does not let the log delivery write ${key}`,
        );
        continue;
      }
      const body = Buffer.from(g.lines.map((l) => `${l.line}\n`).join(''));
      try {
        const grants = config.targetGrants && !aclsDisabled(target) ? [{ p: 'FULL_CONTROL' as const, id: target.owner, n: target.ownerName }, ...config.targetGrants] : undefined;
        await this.write({ bucket: target, key, body: Readable.from([body]), size: body.length, owner: { id: target.owner, name: target.ownerName }, grants });
        this.stats.objects++;
        this.stats.delivered += g.lines.length;
      } catch (err) {
        failed.push(...g.lines);
        failure = (err as Error).message;
      }
    }
    if (failed.length > 0) this.retry(id, { ...buffer, lines: failed, bytes: failed.reduce((a, l) => a + Buffer.byteLength(l.line) + 1, 0) }, last, failure ?? 'write failed');
  }

  /** Puts the records of a failed write back for the next flush, or drops them after the last attempt. */
  private retry(id: string, buffer: Buffer_, last: boolean, reason: string): void {
    const attempts = buffer.attempts + 1;
    if (last || attempts >= MAX_DELIVERY_ATTEMPTS) {
      this.dropped('write_failed', buffer.lines.length);
      this.log.warn(
        { code: 'AccessLogDeliveryFailed', bucket: buffer.source, target: buffer.config.targetBucket, records: buffer.lines.length, attempts, err: reason },
        `access log records of bucket ${buffer.source} dropped after ${attempts} failed write(s) into ${buffer.config.targetBucket}: ${reason}`,
      );
      return;
    }
    const current = this.buffers.get(id);
    const merged: Buffer_ = current
      ? { ...current, lines: [...buffer.lines, ...current.lines], bytes: buffer.bytes + current.bytes, attempts }
      : { ...buffer, attempts };
    this.buffers.set(id, merged);
    this.stats.buffered += buffer.lines.length;
    this.stats.bufferedBytes += buffer.bytes;
  }
}
