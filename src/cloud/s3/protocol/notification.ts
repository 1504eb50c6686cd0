/**
 * Bucket event notifications, the wire side: the NotificationConfiguration document
 * (PutBucketNotificationConfiguration / GetBucketNotificationConfiguration) with S3's refusals,
 * which configurations an event matches, and the event message S3 sends (event version 2.1).
 *
 * Only topic destinations (`TopicConfiguration`) exist here; queue, Lambda and EventBridge
 * destinations are `NotImplemented`. A topic is named by an SNS-style ARN,
 * `arn:aws:sns:<region>:<account>:<name>` (any partition, region and account): the name is what
 * the ring's topic is called (notification.ts).
 */
import { S3Error } from './errors.ts';
import { leafText, parseXmlDocument, uniqueChildren } from './xml-parse.ts';
import type { XmlElement } from './xml-parse.ts';
import { xmlLeaf } from './xml-escape.ts';

/** Event types that are sent here (with their `*` families). */
export const EMITTED_EVENTS = [
  's3:ObjectCreated:Put',
  's3:ObjectCreated:Post',
  's3:ObjectCreated:Copy',
  's3:ObjectCreated:CompleteMultipartUpload',
  's3:ObjectRemoved:Delete',
  's3:ObjectRemoved:DeleteMarkerCreated',
  's3:ObjectTagging:Put',
  's3:ObjectTagging:Delete',
  's3:ObjectAcl:Put',
  's3:LifecycleExpiration:Delete',
  's3:LifecycleExpiration:DeleteMarkerCreated',
] as const;
export type EmittedEvent = (typeof EMITTED_EVENTS)[number];

/** Event types S3 accepts in a configuration whose events never happen here (no restores, transitions, …). */
const ACCEPTED_EVENTS = new Set<string>([
  ...EMITTED_EVENTS,
  ...['ObjectCreated', 'ObjectRemoved', 'ObjectTagging', 'LifecycleExpiration', 'ObjectRestore', 'Replication'].map((f) => `s3:${f}:*`),
  's3:ObjectRestore:Post',
  's3:ObjectRestore:Completed',
  's3:ObjectRestore:Delete',
  's3:ReducedRedundancyLostObject',
  's3:Replication:OperationFailedReplication',
  's3:Replication:OperationMissedThreshold',
  's3:Replication:OperationReplicatedAfterThreshold',
  's3:Replication:OperationNotTracked',
  's3:LifecycleTransition',
  's3:IntelligentTiering',
]);

/** Most configurations of one bucket. */
export const MAX_NOTIFICATION_CONFIGURATIONS = 100;
const TOPIC_ARN = /^arn:[a-z-]+:sns:[a-z0-9-]*:[0-9a-zA-Z-]*:([A-Za-z0-9_-]{1,256})$/;

/** One topic configuration. */
export interface TopicNotification {
  /** Id (S3 names one without: a random string). */
  id: string;
  /** The topic's ARN as given. */
  arn: string;
  /** The topic's name (the ARN's last part). */
  topic: string;
  /** Event types as given (`s3:ObjectCreated:*`, …). */
  events: string[];
  /** Key filter rules (S3Key FilterRule prefix / suffix). */
  prefix?: string;
  suffix?: string;
}

/** A bucket's notification configuration (topics only). */
export interface NotificationConfiguration {
  topics: TopicNotification[];
}

function invalid(message: string, name?: string, value?: string): S3Error {
  return new S3Error('InvalidArgument', message, name !== undefined ? { fields: { ArgumentName: name, ArgumentValue: value ?? '' } } : {});
}

function parseFilter(el: XmlElement, out: TopicNotification): void {
  const key = uniqueChildren(el, ['S3Key']).get('S3Key');
  if (!key) return;
  for (const rule of key.children) {
    if (rule.name !== 'FilterRule') throw new S3Error('MalformedXML');
    const f = uniqueChildren(rule, ['Name', 'Value']);
    const nameEl = f.get('Name');
    const valueEl = f.get('Value');
    if (!nameEl || !valueEl) throw new S3Error('MalformedXML');
    const name = leafText(nameEl).trim().toLowerCase();
    const value = leafText(valueEl);
    if (name !== 'prefix' && name !== 'suffix') throw invalid('filter rule name must be either prefix or suffix', 'FilterRule', name);
    if (out[name] !== undefined) throw invalid(`Cannot specify more than one ${name} rule in a filter.`, 'FilterRule', name);
    out[name] = value;
  }
}

function parseTopic(el: XmlElement, newId: () => string): TopicNotification {
  const events: string[] = [];
  let id: string | undefined;
  let arn: string | undefined;
  let filter: XmlElement | undefined;
  for (const child of el.children) {
    if (child.name === 'Event') events.push(leafText(child).trim());
    else if (child.name === 'Id' && id === undefined) id = leafText(child);
    else if (child.name === 'Topic' && arn === undefined) arn = leafText(child).trim();
    else if (child.name === 'Filter' && filter === undefined) filter = child;
    else throw new S3Error('MalformedXML');
  }
  if (arn === undefined || events.length === 0) throw new S3Error('MalformedXML');
  const match = TOPIC_ARN.exec(arn);
  if (!match) throw invalid('Invalid ARN: a topic is named arn:aws:sns:<region>:<account>:<name>', 'Topic', arn);
  for (const event of events) if (!ACCEPTED_EVENTS.has(event)) throw invalid('The event is not supported for notifications', 'Event', event);
  const out: TopicNotification = { id: id ?? newId(), arn, topic: match[1]!, events: [...new Set(events)] };
  if (filter) parseFilter(filter, out);
  return out;
}

/** Whether event types `a` and `b` have an event in common (`s3:ObjectCreated:*` covers `s3:ObjectCreated:Put`). */
function eventsOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  const family = (e: string): string => e.slice(0, e.lastIndexOf(':'));
  return family(a) === family(b) && (a.endsWith(':*') || b.endsWith(':*'));
}

/** Whether two configurations could both match one event (common event type, overlapping filters). */
function overlap(a: TopicNotification, b: TopicNotification): boolean {
  if (!a.events.some((x) => b.events.some((y) => eventsOverlap(x, y)))) return false;
  const prefixes = a.prefix === undefined || b.prefix === undefined || a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix);
  const suffixes = a.suffix === undefined || b.suffix === undefined || a.suffix.endsWith(b.suffix) || b.suffix.endsWith(a.suffix);
  return prefixes && suffixes;
}

/**
 * Parses a NotificationConfiguration: any number of TopicConfiguration (Id, Topic, one or more
 * Event, a Filter of S3Key FilterRules prefix / suffix); an empty one removes every
 * configuration. Refused as S3 refuses them: an unknown element `MalformedXML`; an unknown event,
 * a topic that is not an SNS ARN, a filter rule other than prefix / suffix or given twice, and
 * configurations that overlap (a common event type and filters that can match one key)
 * `InvalidArgument`; duplicate ids `InvalidArgument`; queue, Lambda and EventBridge destinations
 * `NotImplemented`.
 */
export function parseNotificationConfiguration(body: string | Uint8Array, newId: () => string): NotificationConfiguration {
  const doc = parseXmlDocument(body, 'NotificationConfiguration');
  const topics: TopicNotification[] = [];
  for (const child of doc.children) {
    if (child.name === 'TopicConfiguration') topics.push(parseTopic(child, newId));
    else if (child.name === 'QueueConfiguration') throw new S3Error('NotImplemented', 'Queue (SQS) destinations are not supported: use a TopicConfiguration (a topic of the ring).');
    else if (child.name === 'CloudFunctionConfiguration') throw new S3Error('NotImplemented', 'Lambda destinations are not supported: use a TopicConfiguration (a topic of the ring).');
    else if (child.name === 'EventBridgeConfiguration') throw new S3Error('NotImplemented', 'EventBridge is not supported: use a TopicConfiguration (a topic of the ring).');
    else throw new S3Error('MalformedXML');
  }
  if (topics.length > MAX_NOTIFICATION_CONFIGURATIONS) throw invalid(`A bucket has at most ${MAX_NOTIFICATION_CONFIGURATIONS} notification configurations.`);
  const ids = new Set<string>();
  topics.forEach((t, i) => {
    if (ids.has(t.id)) throw invalid('Configuration id must be unique.', 'Id', t.id);
    ids.add(t.id);
    for (const other of topics.slice(0, i)) {
      if (overlap(t, other)) throw invalid('Configurations overlap. Configurations on the same bucket cannot share a common event type.', 'Event', t.events.join(','));
    }
  });
  return { topics };
}

/** The GetBucketNotificationConfiguration document (empty without configurations). */
export function notificationConfigurationXml(config: NotificationConfiguration | undefined): string {
  const topics = (config?.topics ?? []).map((t) => {
    const rules = (['prefix', 'suffix'] as const)
      .filter((n) => t[n] !== undefined)
      // S3 answers the rule names capitalised, whatever case they were given in.
      .map((n) => `<FilterRule>${xmlLeaf('Name', n === 'prefix' ? 'Prefix' : 'Suffix')}${xmlLeaf('Value', t[n]!)}</FilterRule>`)
      .join('');
    return `<TopicConfiguration>${xmlLeaf('Id', t.id)}${xmlLeaf('Topic', t.arn)}${t.events.map((e) => xmlLeaf('Event', e)).join('')}${rules ? `<Filter><S3Key>${rules}</S3Key></Filter>` : ''}</TopicConfiguration>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${topics.join('')}</NotificationConfiguration>`;
}

/** A filter rule's value as a key part: S3 documents the values URL-encoded (a space as `+`). */
function ruleValue(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

/** The configurations of `config` that an `event` on `key` matches. */
export function notificationsFor(config: NotificationConfiguration | undefined, event: EmittedEvent, key: string): TopicNotification[] {
  return (config?.topics ?? []).filter(
    (t) => t.events.some((e) => eventsOverlap(e, event)) && (t.prefix === undefined || key.startsWith(ruleValue(t.prefix))) && (t.suffix === undefined || key.endsWith(ruleValue(t.suffix))),
  );
}

/** What an event message tells of the object and the request. */
export interface EventFacts {
  bucket: { name: string; ownerId: string };
  key: string;
  size?: number;
  etag?: string;
  versionId?: string;
  /** Orders the events of one key (hex, grows with time). */
  sequencer: string;
  region: string;
  /** ms */
  time: number;
  principalId: string;
  sourceIp: string;
  requestId: string;
  hostId: string;
}

/** S3's URL form of a key in an event: each segment URL-encoded, spaces as `+`, slashes kept (`photos/my+image.jpg`). */
function eventKey(key: string): string {
  return key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%20/g, '+'))
    .join('/');
}

/** The event message S3 sends (`{ Records: [ … ] }`, event version 2.1) for one event. */
export function eventMessage(event: EmittedEvent, configurationId: string, f: EventFacts): { Records: Record<string, unknown>[] } {
  const object: Record<string, unknown> = { key: eventKey(f.key) };
  if (f.size !== undefined) object['size'] = f.size;
  if (f.etag !== undefined) object['eTag'] = f.etag;
  if (f.versionId !== undefined) object['versionId'] = f.versionId;
  object['sequencer'] = f.sequencer;
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: f.region,
        eventTime: new Date(f.time).toISOString(),
        eventName: event.slice('s3:'.length),
        userIdentity: { principalId: f.principalId },
        requestParameters: { sourceIPAddress: f.sourceIp },
        responseElements: { 'x-amz-request-id': f.requestId, 'x-amz-id-2': f.hostId },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId,
          bucket: { name: f.bucket.name, ownerIdentity: { principalId: f.bucket.ownerId }, arn: `arn:aws:s3:::${f.bucket.name}` },
          object,
        },
      },
    ],
  };
}

/** The test event S3 sends to a destination when a configuration naming it is put. */
export function testEventMessage(bucket: string, time: number, requestId: string, hostId: string): Record<string, unknown> {
  return { Service: 'Amazon S3', Event: 's3:TestEvent', Time: new Date(time).toISOString(), Bucket: bucket, RequestId: requestId, HostId: hostId };
}
