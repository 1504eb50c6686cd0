/**
 * Bucket event notifications through the AWS SDK on a 3-node loopback ring: the configuration
 * operations and their refusals, and S3's event messages received by Scribe subscribers of the
 * ring's topic `s3events:<name>` on other nodes — the test event, objects created by PutObject,
 * CopyObject and multipart uploads, removals and delete markers, tagging and ACL changes, with
 * the key filters applied; the topic journal that keeps them for at-least-once consumers (a
 * follower on another node, restarted from its cursor, the retention sweep); and `pi s3 events`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketNotificationConfigurationCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { NotificationConfiguration, S3Client } from '@aws-sdk/client-s3';
import type { DhtService, ScribeService } from '../../../src/node/index.ts';
import { EventJournal, cursorAt } from '../../../src/cloud/s3/event-journal.ts';
import type { JournaledEvent } from '../../../src/cloud/s3/event-journal.ts';
import { makeTopic } from '../../../src/scribe/index.ts';
import { pattern, rawRequest, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { waitFor } from '../../helpers/wait.ts';
import { TOKEN, call } from '../../node/fixtures.ts';
import { runPi as pi } from '../../helpers/pi-cli.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const ARN = 'arn:aws:sns:us-east-1:000000000000:';

/** One record of an event message as the test reads it. */
interface EventRecord {
  eventName: string;
  eventVersion: string;
  userIdentity: { principalId: string };
  s3: { configurationId: string; bucket: { name: string }; object: { key: string; size?: number; eTag?: string; versionId?: string; sequencer: string } };
}

describe('S3 bucket event notifications on the ring through the AWS SDK', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let a: S3Client[];
  let b: S3Client;
  /** Messages received per topic name, by a subscriber on node 1 and one on node 2. */
  const received = new Map<string, unknown[][]>();

  async function subscribe(name: string): Promise<void> {
    const inboxes: unknown[][] = [[], []];
    received.set(name, inboxes);
    for (const [i, inbox] of inboxes.entries()) {
      await nodes[i + 1]!.node.service<ScribeService>('scribe')!.scribe.subscribe(makeTopic(`s3events:${name}`), { deliver: (_t, msg) => inbox.push(msg.entity) });
    }
  }

  /** The event records the subscriber on node `i` of topic `name` received so far. */
  function records(name: string, i = 0): EventRecord[] {
    return received.get(name)![i]!.flatMap((m) => ((m as { Records?: EventRecord[] }).Records ?? []));
  }

  /** Waits until the subscribers of `name` received `count` records; both subscribers get the same. */
  async function recordsOf(name: string, count: number): Promise<EventRecord[]> {
    await waitFor(() => records(name, 0).length >= count && records(name, 1).length >= count, { timeoutMs: 10_000, what: `${count} records on ${name}` });
    assert.deepEqual(records(name, 1), records(name, 0), 'every subscriber receives the same messages');
    return records(name, 0);
  }

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['events', 'events-v', 'events-t'] });
    ({ nodes, alice, aliceClients: a } = fixture);
    b = fixture.bobClients[0]!;
    await subscribe('uploads');
    await subscribe('removals');
    await subscribe('versioned');
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('the configuration: put, read back, a test event on each topic, refusals', async () => {
    const config: NotificationConfiguration = {
      TopicConfigurations: [
        { Id: 'created', TopicArn: `${ARN}uploads`, Events: ['s3:ObjectCreated:*', 's3:ObjectTagging:*', 's3:ObjectAcl:Put'], Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'in/' }] } } },
        { Id: 'removed', TopicArn: `${ARN}removals`, Events: ['s3:ObjectRemoved:*'] },
      ],
    };
    await a[0]!.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'events', NotificationConfiguration: config }));
    const got = await a[1]!.send(new GetBucketNotificationConfigurationCommand({ Bucket: 'events' }));
    // S3 answers the filter rule names capitalised.
    const expected = structuredClone(config.TopicConfigurations!);
    expected[0]!.Filter!.Key!.FilterRules![0]!.Name = 'Prefix' as never;
    assert.deepEqual(JSON.parse(JSON.stringify(got.TopicConfigurations)), expected);
    for (const topic of ['uploads', 'removals']) {
      await waitFor(() => received.get(topic)!.every((inbox) => inbox.some((m) => (m as { Event?: string }).Event === 's3:TestEvent')), { timeoutMs: 10_000, what: `the test event on ${topic}` });
    }
    await s3failure(b.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'events', NotificationConfiguration: config })), 'AccessDenied', 403);
    await s3failure(b.send(new GetBucketNotificationConfigurationCommand({ Bucket: 'events' })), 'AccessDenied', 403);
    const queue = '<NotificationConfiguration><QueueConfiguration><Queue>arn:aws:sqs:us-east-1:1:q</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>';
    const refused = await rawRequest(nodes[2]!.endpoint, alice, { method: 'PUT', path: '/events', query: { notification: '' }, body: Buffer.from(queue) });
    assert.equal(refused.status, 501);
    assert.match(refused.body.toString(), /<Code>NotImplemented<\/Code>/);
    await s3failure(
      a[0]!.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'events', NotificationConfiguration: { TopicConfigurations: [{ TopicArn: `${ARN}x`, Events: ['s3:ObjectCreated:Get' as never] }] } })),
      'InvalidArgument',
      400,
    );
    assert.equal((await a[2]!.send(new GetBucketNotificationConfigurationCommand({ Bucket: 'events' }))).TopicConfigurations?.length, 2, 'a refused document changes nothing');
  });

  test('events of object writes, tags, ACLs and removals reach every subscriber, filtered by key', async () => {
    const put = await a[0]!.send(new PutObjectCommand({ Bucket: 'events', Key: 'in/photo one.jpg', Body: 'jpeg bytes' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'events', Key: 'elsewhere/skipped', Body: 'x' }));
    await a[1]!.send(new CopyObjectCommand({ Bucket: 'events', Key: 'in/copy.jpg', CopySource: 'events/in/photo one.jpg' }));
    const up = await a[2]!.send(new CreateMultipartUploadCommand({ Bucket: 'events', Key: 'in/big.bin' }));
    const part = await a[2]!.send(new UploadPartCommand({ Bucket: 'events', Key: 'in/big.bin', UploadId: up.UploadId, PartNumber: 1, Body: pattern(1000, 4) }));
    const done = await a[2]!.send(new CompleteMultipartUploadCommand({ Bucket: 'events', Key: 'in/big.bin', UploadId: up.UploadId, MultipartUpload: { Parts: [{ ETag: part.ETag, PartNumber: 1 }] } }));
    await a[0]!.send(new PutObjectTaggingCommand({ Bucket: 'events', Key: 'in/copy.jpg', Tagging: { TagSet: [{ Key: 'k', Value: 'v' }] } }));
    await a[0]!.send(new PutObjectAclCommand({ Bucket: 'events', Key: 'in/copy.jpg', ACL: 'public-read' }));

    const created = await recordsOf('uploads', 5);
    assert.deepEqual(
      created.map((r) => [r.eventName, r.s3.object.key, r.s3.configurationId]),
      [
        ['ObjectCreated:Put', 'in/photo+one.jpg', 'created'],
        ['ObjectCreated:Copy', 'in/copy.jpg', 'created'],
        ['ObjectCreated:CompleteMultipartUpload', 'in/big.bin', 'created'],
        ['ObjectTagging:Put', 'in/copy.jpg', 'created'],
        ['ObjectAcl:Put', 'in/copy.jpg', 'created'],
      ],
    );
    const first = created[0]!;
    assert.equal(first.eventVersion, '2.1');
    assert.equal(first.s3.bucket.name, 'events');
    assert.equal(first.s3.object.size, 10);
    assert.equal(`"${first.s3.object.eTag}"`, put.ETag);
    assert.equal(first.userIdentity.principalId, alice.id);
    assert.equal(`"${created[2]!.s3.object.eTag}"`, done.ETag);
    assert.equal(first.s3.object.versionId, undefined, 'no version id in a bucket without versioning');

    await a[1]!.send(new DeleteObjectCommand({ Bucket: 'events', Key: 'elsewhere/skipped' }));
    await a[1]!.send(new DeleteObjectCommand({ Bucket: 'events', Key: 'never/was' }));
    const removed = await recordsOf('removals', 1);
    assert.deepEqual(removed.map((r) => [r.eventName, r.s3.object.key]), [['ObjectRemoved:Delete', 'elsewhere/skipped']], 'a key that was not there sends nothing');
    assert.equal(records('uploads').length, 5, 'nothing else reached the other topic');
  });

  test('a versioned bucket: version ids in the messages, delete markers', async () => {
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'events-v', VersioningConfiguration: { Status: 'Enabled' } }));
    await a[0]!.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'events-v', NotificationConfiguration: { TopicConfigurations: [{ TopicArn: `${ARN}versioned`, Events: ['s3:ObjectCreated:Put', 's3:ObjectRemoved:*'] }] } }));
    const put = await a[1]!.send(new PutObjectCommand({ Bucket: 'events-v', Key: 'doc', Body: 'v1' }));
    const marker = await a[2]!.send(new DeleteObjectCommand({ Bucket: 'events-v', Key: 'doc' }));
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'events-v', Key: 'doc', VersionId: put.VersionId }));
    const events = await recordsOf('versioned', 3);
    assert.deepEqual(
      events.map((r) => [r.eventName, r.s3.object.versionId]),
      [
        ['ObjectCreated:Put', put.VersionId],
        ['ObjectRemoved:DeleteMarkerCreated', marker.VersionId],
        ['ObjectRemoved:Delete', put.VersionId],
      ],
    );
    const published = nodes.reduce((sum, n) => sum + (n.s3.metrics().find((m) => m.name === 'pi_s3_notifications_published_total')?.values[0]?.value ?? 0), 0);
    assert.ok(published >= 11, `counted in pi_s3_notifications_published_total (${published})`);
    // Removing the configuration stops the events.
    await a[0]!.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'events-v', NotificationConfiguration: {} }));
    assert.equal((await a[0]!.send(new GetBucketNotificationConfigurationCommand({ Bucket: 'events-v' }))).TopicConfigurations, undefined);
  });
  test('events are journaled before the request is answered: a follower on another node gets each at least once, also those published while it was stopped', async () => {
    await a[0]!.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'events-t', NotificationConfiguration: { TopicConfigurations: [{ TopicArn: `${ARN}durable`, Events: ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'], Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'd/' }] } } }] } }));
    const keysOf = (events: JournaledEvent[]): string[] => events.flatMap((e) => ((e.message as { Records?: EventRecord[] }).Records ?? []).map((r) => `${r.eventName} ${decodeURIComponent(r.s3.object.key)}`));
    // Written before the answer: read from another node's view of the journal right after it.
    const from = cursorAt(Date.now() - 60_000);
    await a[1]!.send(new PutObjectCommand({ Bucket: 'events-t', Key: 'd/first', Body: 'x' }));
    const page = await nodes[2]!.s3.events.read('durable', from, 1000);
    assert.deepEqual(keysOf(page.events), ['ObjectCreated:Put d/first'], 'in the journal when the PUT is answered');

    const got: JournaledEvent[] = [];
    const follower = nodes[2]!.s3.followEvents('durable', { after: page.cursor, onEvent: (e) => void got.push(e) });
    follower.start();
    const expected: string[] = [];
    for (let i = 0; i < 20; i++) {
      await a[i % 2]!.send(new PutObjectCommand({ Bucket: 'events-t', Key: `d/${i}`, Body: 'x' }));
      expected.push(`ObjectCreated:Put d/${i}`);
    }
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'events-t', Key: 'd/0' }));
    expected.push('ObjectRemoved:Delete d/0');
    await waitFor(() => expected.every((k) => keysOf(got).includes(k)), { timeoutMs: 10_000, what: 'the follower to get every event' });
    // The starting cursor's own event may come again (looking behind it): at least once.
    assert.deepEqual(keysOf(got).filter((k) => k !== 'ObjectCreated:Put d/first'), expected, 'each once, in order, while the follower ran');
    follower.stop();

    // Stopped: nobody hears these events' pub/sub messages. Restarted from the kept cursor on another node.
    const kept = follower.cursor;
    const meanwhile: string[] = [];
    for (let i = 0; i < 10; i++) {
      await a[1]!.send(new PutObjectCommand({ Bucket: 'events-t', Key: `d/later-${i}`, Body: 'x' }));
      meanwhile.push(`ObjectCreated:Put d/later-${i}`);
    }
    const again: JournaledEvent[] = [];
    const resumed = nodes[1]!.s3.followEvents('durable', { after: kept, onEvent: (e) => void again.push(e) });
    resumed.start();
    cleanups.push(async () => resumed.stop());
    await waitFor(() => meanwhile.every((k) => keysOf(again).includes(k)), { timeoutMs: 10_000, what: 'the resumed follower to get the events it missed' });
    // Besides the window behind its cursor (delivered again: at least once).
    assert.deepEqual(keysOf(again).filter((k) => k.includes('d/later-')), meanwhile, 'what came while it was stopped, in order');
  });

  test('pi s3 events: the events kept in a topic journal, from a time or a cursor, long polling for new ones', async () => {
    const ops = nodes[0]!.ops!.url;
    const empty = await call(ops, '/api/s3/events/tailed');
    assert.equal(empty.status, 200, empty.text);
    assert.deepEqual(empty.body['events'], []);
    await a[1]!.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'events-t', NotificationConfiguration: { TopicConfigurations: [{ TopicArn: `${ARN}tailed`, Events: ['s3:ObjectCreated:*'], Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'a ' }] } } }] } }));
    const first = await call(ops, '/api/s3/events/tailed');
    const test = first.body['events'] as { cursor: string; message: { Event?: string } }[];
    assert.deepEqual(test.map((e) => e.message.Event), ['s3:TestEvent'], 'the test event is journaled before PutBucketNotificationConfiguration is answered');
    const waiting = call(ops, `/api/s3/events/tailed?after=${first.body['cursor'] as string}&waitMs=10000`);
    await new Promise((r) => setTimeout(r, 200)); // the poll is waiting when the object comes (it answers either way)
    await a[2]!.send(new PutObjectCommand({ Bucket: 'events-t', Key: 'a b.txt', Body: 'hello' }));
    const polled = await waiting;
    assert.equal(polled.status, 200, polled.text);
    const events = polled.body['events'] as { cursor: string; message: { Records: EventRecord[] } }[];
    assert.deepEqual(events.map((m) => m.message.Records[0]!.eventName), ['ObjectCreated:Put'], 'the long poll answers the new event');
    assert.equal(polled.body['cursor'], events[0]!.cursor);

    const text = await pi(['s3', 'events', 'tailed', '--ops', ops, '--token', TOKEN]);
    assert.equal(text.code, 0, `${text.err} ${text.out}`);
    assert.match(text.out, /s3:TestEvent\n.*ObjectCreated:Put\s+events-t\/a b\.txt \(5 B\)\n\(continue after [0-9a-f.]+\)/);
    const json = await pi(['--json', 's3', 'events', 'tailed', '--ops', ops, '--token', TOKEN]);
    assert.deepEqual(json.out.trim().split('\n').map((l) => (JSON.parse(l) as { cursor: string }).cursor), [test[0]!.cursor, events[0]!.cursor]);
    const after = await pi(['s3', 'events', 'tailed', '--after', events[0]!.cursor, '--ops', ops, '--token', TOKEN]);
    assert.match(after.out, /^no events on tailed after /);
    const since = await pi(['s3', 'events', 'tailed', '--since', '0s', '--ops', ops, '--token', TOKEN]);
    assert.match(since.out, /^no events on tailed in that time/);
    assert.notEqual((await pi(['s3', 'events', 'tailed', '--since', 'yesterday', '--ops', ops, '--token', TOKEN])).code, 0);
    assert.equal((await call(ops, '/api/s3/events/no%20spaces')).status, 400);
    assert.equal((await call(ops, '/api/s3/events/tailed?waitMs=60000')).status, 400);
    assert.equal((await call(ops, '/api/s3/events/tailed?after=not-a-cursor')).status, 400);
  });

  test('the retention sweep removes the events older than the retention from the journals', async () => {
    const n = nodes[0]!.node;
    const dht = n.service<DhtService>('dht')!.dht;
    const before = (await nodes[1]!.s3.events.read('durable', cursorAt(0), 1000)).events.length;
    assert.ok(before >= 30, `the journal holds the events (${before})`);
    // This node's journal with a retention of 1 ms, sweeping every registered topic.
    const journal = new EventJournal(n.env, dht, n.overlay, 'ffff', { retentionMs: 1 });
    await new Promise((r) => setTimeout(r, 5));
    const removed = await journal.sweep(true);
    assert.ok(removed >= before, `removed ${removed}`);
    assert.deepEqual((await nodes[2]!.s3.events.read('durable', cursorAt(0), 1000)).events, []);
    assert.deepEqual((await nodes[2]!.s3.events.read('tailed', cursorAt(0), 1000)).events, []);
  });
});
