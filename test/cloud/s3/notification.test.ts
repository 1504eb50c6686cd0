/**
 * Bucket event notifications through the AWS SDK on a 3-node loopback ring: the configuration
 * operations and their refusals, and S3's event messages received by Scribe subscribers of the
 * ring's topic `s3events:<name>` on other nodes — the test event, objects created by PutObject,
 * CopyObject and multipart uploads, removals and delete markers, tagging and ACL changes, with
 * the key filters applied; and `pi s3 events`, the ops view of a topic.
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
import type { ScribeService } from '../../../src/node/index.ts';
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
  test('pi s3 events: a node follows a topic from when it is first asked, long polling for new messages', async () => {
    const ops = nodes[0]!.ops!.url;
    const empty = await call(ops, '/api/s3/events/tailed');
    assert.equal(empty.status, 200, empty.text);
    assert.deepEqual(empty.body, { topic: 'tailed', messages: [], last: 0, missed: 0 });
    await a[1]!.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'events-t', NotificationConfiguration: { TopicConfigurations: [{ TopicArn: `${ARN}tailed`, Events: ['s3:ObjectCreated:*'] }] } }));
    await waitFor(async () => (((await call(ops, '/api/s3/events/tailed')).body['last'] as number) ?? 0) >= 1, { what: 'the test event' });
    const waiting = call(ops, '/api/s3/events/tailed?after=1&waitMs=10000');
    await a[2]!.send(new PutObjectCommand({ Bucket: 'events-t', Key: 'a b.txt', Body: 'hello' }));
    const polled = await waiting;
    assert.equal(polled.status, 200, polled.text);
    const messages = polled.body['messages'] as { seq: number; message: { Records: EventRecord[] } }[];
    assert.deepEqual(messages.map((m) => [m.seq, m.message.Records[0]!.eventName]), [[2, 'ObjectCreated:Put']], 'the long poll answers the new message');

    const text = await pi(['s3', 'events', 'tailed', '--ops', ops, '--token', TOKEN]);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /s3:TestEvent\n.*ObjectCreated:Put\s+events-t\/a b\.txt \(5 B\)/);
    const json = await pi(['--json', 's3', 'events', 'tailed', '--ops', ops, '--token', TOKEN]);
    assert.deepEqual(json.out.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq), [1, 2]);
    assert.equal((await call(ops, '/api/s3/events/no%20spaces')).status, 400);
    assert.equal((await call(ops, '/api/s3/events/tailed?waitMs=60000')).status, 400);
  });
});
