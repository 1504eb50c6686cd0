/**
 * Bucket event notifications on the ring's pub/sub: PutBucketNotificationConfiguration and
 * GetBucketNotificationConfiguration, and the notifier that publishes S3's event messages.
 *
 * A TopicConfiguration names an SNS-style topic ARN (`arn:aws:sns:<region>:<account>:<name>`);
 * its events are published, as S3's event message JSON (`{ "Records": [ … ] }`, version 2.1), on
 * the Scribe topic `s3events:<name>` of the ring, where any Pi application (or several) can
 * subscribe. The node that served the request publishes once the operation has succeeded; putting
 * a configuration publishes S3's `s3:TestEvent` on each of its topics.
 *
 * Before it answers, the node appends the operation's events to each topic's journal in the ring
 * (event-journal.ts): a consumer that follows the journal gets every acknowledged operation's
 * events at least once, as S3 promises. The Scribe message that follows is the doorbell, and the
 * message itself for subscribers that can miss some: Scribe is unreliable by contract (no
 * acknowledgement, no retry), so a bare subscription gets each event at most once.
 *
 * The configuration lives in the bucket record (`ntf`) and reaches other nodes' caches within
 * `s3.cacheMs`, as every bucket setting does.
 */
import type { Env, Logger } from '../../env/index.ts';
import { S3Error, eventMessage, notificationConfigurationXml, notificationsFor, parseNotificationConfiguration, testEventMessage } from './protocol/index.ts';
import type { BodyVerifier, EmittedEvent } from './protocol/index.ts';
import type { Catalog } from './catalog.ts';
import type { S3Request } from './http.ts';
import type { EventJournal } from './event-journal.ts';
import type { BucketEntry, ObjectEntry } from './model.ts';
import { normalizeIp } from './protocol/policy-match.ts';
import { readSmallBody, sendEmpty, sendXml, subresourceOperation } from './replies.ts';
import type { Operation } from './replies.ts';
import { versionIdOf } from './versioning.ts';

/** The Scribe topic URI of a notification topic name. */
export function eventTopicUri(name: string): string {
  return `s3events:${name}`;
}

/** What an event message tells of its object. */
export interface EventObject {
  size?: number;
  etag?: string;
  versionId?: string;
}

/** What a message tells of a version written (ObjectCreated, tagging, ACL): size, ETag, and its version id in a versioned bucket. */
function writtenObject(bucket: BucketEntry, entry: ObjectEntry): EventObject {
  return { size: entry.size, etag: entry.etag, ...(bucket.ver !== undefined ? { versionId: versionIdOf(entry) } : {}) };
}

/** Where events are published: the node's Scribe (absent when Scribe does not run on the node). */
export interface EventPublisher {
  publish(topicUri: string, message: unknown): void;
}

/** What the notification operations and the notifier need of the S3 API. */
export interface NotificationContext {
  readonly env: Env;
  readonly catalog: Catalog;
  /** The request's bucket if the requester may do `action` on it (its owner, or the policy's). */
  bucketFor(r: S3Request, action: string, fresh?: boolean): Promise<BucketEntry>;
  verifier(r: S3Request): BodyVerifier;
  /** The region events name. */
  readonly region: string;
}

/** Counters of a node's notifier. */
export interface NotifierStats {
  /** Event messages published (one per matching configuration). */
  published: number;
  /** Publishes that failed on this node (Scribe not running, the node leaving). */
  failed: number;
  /** Events that could not be appended to their journal (the request failed with 503, or a lifecycle event was lost). */
  notJournaled: number;
}

/** The notification configuration operations (`?notification`) and the notifier. */
export class BucketNotifications {
  readonly stats: NotifierStats = { published: 0, failed: 0, notJournaled: 0 };
  /** Where events go; set by the node's S3 service once Scribe is known. */
  publisher: EventPublisher | undefined;
  /** Where events are kept for at-least-once consumers; set by the node's S3 service. */
  journal: EventJournal | undefined;
  private counter = 0;
  private readonly log: Logger;

  constructor(private readonly ctx: NotificationContext) {
    this.log = ctx.env.log.child({ mod: 's3.notification' });
  }

  operation(r: S3Request): Operation | undefined {
    if (!r.query.has('notification')) return undefined;
    return subresourceOperation(r, 'BucketNotification', {
      PUT: ['PutBucketNotificationConfiguration', () => this.put(r)],
      GET: ['GetBucketNotificationConfiguration', () => this.get(r)],
    });
  }

  private async put(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketNotification', true);
    const config = parseNotificationConfiguration(await readSmallBody(r, this.ctx.verifier(r)), () => this.ctx.env.random.hex(16));
    const publisher = this.publisher;
    // S3 checks that it can send to each destination (its test event); here the node must run Scribe.
    if (config.topics.length > 0 && !publisher) {
      throw new S3Error('InvalidArgument', 'Unable to validate the following destination configurations: this node does not run the ring\'s pub/sub (Scribe).', {
        fields: { ArgumentName: config.topics[0]!.arn, ArgumentValue: 'Not validated' },
      });
    }
    const topics = [...new Set(config.topics.map((t) => t.topic))];
    // Registered first: the journal's retention sweep finds every topic a configuration names.
    for (const topic of topics) await this.journal?.register(topic);
    await this.ctx.catalog.setBucketSetting(bucket, 'ntf', config.topics.length > 0 ? config : undefined);
    const now = this.ctx.env.now();
    await Promise.all(topics.map((topic) => this.send(topic, testEventMessage(bucket.name, now, r.requestId, r.requestId), true)));
    sendEmpty(r, 200);
  }

  private async get(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:GetBucketNotification', true);
    sendXml(r, notificationConfigurationXml(bucket.ntf));
  }

  /**
   * Publishes `event` on `key` of `bucket` to the configurations it matches (nothing, and nothing
   * built, when the bucket has none). `written`: the version a write, tagging or ACL change is
   * about (its size, ETag, version id); `versionId`: the version a removal names, if any; `r`: the
   * request that caused it (absent for the lifecycle's). Resolves once the events are journaled;
   * rejects, for a request, when they could not be (the request fails with 503 then: the client's
   * retry writes them).
   */
  emit(bucket: BucketEntry, event: EmittedEvent, key: string, written: ObjectEntry | undefined, versionId: string | undefined, r?: S3Request): Promise<void> {
    if (!bucket.ntf) return Promise.resolve();
    const targets = notificationsFor(bucket.ntf, event, key);
    if (targets.length === 0) return Promise.resolve();
    const now = this.ctx.env.now();
    const facts = {
      bucket: { name: bucket.name, ownerId: bucket.owner },
      key,
      ...(written ? writtenObject(bucket, written) : versionId !== undefined ? { versionId } : {}),
      sequencer: now.toString(16).toUpperCase().padStart(12, '0') + (this.counter++ & 0xffff).toString(16).toUpperCase().padStart(4, '0'),
      region: this.ctx.region,
      time: now,
      principalId: r ? (r.principal?.id ?? 'Anonymous') : 'AmazonS3',
      sourceIp: (r && normalizeIp(r.req.socket.remoteAddress)) ?? '',
      requestId: r?.requestId ?? '',
      hostId: r?.requestId ?? '',
    };
    return Promise.all(targets.map((target) => this.send(target.topic, eventMessage(event, target.id, facts), r !== undefined))).then(() => undefined);
  }

  /**
   * Journals `message` on `topic`, then publishes it. `required`: a journal failure rejects (the
   * request that caused the event fails) instead of only being logged.
   */
  private async send(topic: string, message: unknown, required: boolean): Promise<void> {
    if (this.journal) {
      try {
        await this.journal.append(topic, message);
      } catch (err) {
        this.stats.notJournaled++;
        this.log.warn({ code: 'NotificationNotJournaled', topic, err: (err as Error).message }, required ? 'could not journal a bucket event notification; the request fails' : 'could not journal a bucket event notification of the lifecycle; it is lost');
        if (required) throw err;
      }
    }
    const topicUri = eventTopicUri(topic);
    try {
      if (!this.publisher) throw new Error('Scribe does not run on this node');
      this.publisher.publish(topicUri, message);
      this.stats.published++;
    } catch (err) {
      this.stats.failed++;
      this.log.warn({ code: 'NotificationNotPublished', topic: topicUri, err: (err as Error).message }, 'could not publish a bucket event notification');
    }
  }
}
