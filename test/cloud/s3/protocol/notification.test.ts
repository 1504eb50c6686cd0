/**
 * The notification configuration document and the event message (protocol/notification.ts),
 * without a ring: parsing and the answered document, S3's refusals, which configurations an
 * event matches, and the message's form.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventMessage, notificationConfigurationXml, notificationsFor, parseNotificationConfiguration } from '../../../../src/cloud/s3/protocol/index.ts';
import type { NotificationConfiguration } from '../../../../src/cloud/s3/protocol/index.ts';
import { s3code } from './s3-error.ts';

const ARN = 'arn:aws:sns:us-east-1:123456789012:';
const doc = (inner: string): string => `<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</NotificationConfiguration>`;
const topic = (name: string, events: string[], rules = '', id?: string): string =>
  `<TopicConfiguration>${id !== undefined ? `<Id>${id}</Id>` : ''}<Topic>${ARN}${name}</Topic>${events.map((e) => `<Event>${e}</Event>`).join('')}${rules ? `<Filter><S3Key>${rules}</S3Key></Filter>` : ''}</TopicConfiguration>`;
const rule = (name: string, value: string): string => `<FilterRule><Name>${name}</Name><Value>${value}</Value></FilterRule>`;
let n = 0;
const parse = (xml: string): NotificationConfiguration => parseNotificationConfiguration(xml, () => `gen${++n}`);

describe('notification configuration', () => {
  test('topic configurations with events and key filters; the answered document parses back the same', () => {
    const config = parse(doc(topic('uploads', ['s3:ObjectCreated:*'], rule('Prefix', 'in/') + rule('suffix', '.jpg'), 'images') + topic('removals', ['s3:ObjectRemoved:Delete', 's3:ObjectRemoved:DeleteMarkerCreated'])));
    assert.deepEqual(config.topics[0], { id: 'images', arn: `${ARN}uploads`, topic: 'uploads', events: ['s3:ObjectCreated:*'], prefix: 'in/', suffix: '.jpg' });
    assert.equal(config.topics[1]!.topic, 'removals');
    assert.match(config.topics[1]!.id, /^gen\d+$/, 'a configuration without an Id is named');
    assert.deepEqual(parse(notificationConfigurationXml(config)), config);
    assert.deepEqual(parse(doc('')), { topics: [] }, 'an empty document removes every configuration');
    assert.match(notificationConfigurationXml(undefined), /<NotificationConfiguration xmlns="[^"]+"><\/NotificationConfiguration>$/);
  });

  test('refusals, with the codes S3 answers', () => {
    assert.throws(() => parse(doc(topic('t', ['s3:ObjectCreated:Get']))), s3code('InvalidArgument', /event is not supported/));
    assert.throws(() => parse(doc(`<TopicConfiguration><Topic>arn:aws:sqs:us-east-1:1:q</Topic><Event>s3:ObjectCreated:*</Event></TopicConfiguration>`)), s3code('InvalidArgument', /Invalid ARN/));
    assert.throws(() => parse(doc(`<TopicConfiguration><Topic>${ARN}t</Topic></TopicConfiguration>`)), s3code('MalformedXML'), 'no event');
    assert.throws(() => parse(doc(topic('t', ['s3:ObjectCreated:*'], rule('prefix', 'a') + rule('prefix', 'b')))), s3code('InvalidArgument', /more than one prefix/));
    assert.throws(() => parse(doc(topic('t', ['s3:ObjectCreated:*'], rule('middle', 'a')))), s3code('InvalidArgument', /prefix or suffix/));
    assert.throws(() => parse(doc(topic('a', ['s3:ObjectCreated:*'], rule('prefix', 'logs/')) + topic('b', ['s3:ObjectCreated:Put'], rule('prefix', 'logs/2026/')))), s3code('InvalidArgument', /Configurations overlap/));
    assert.throws(() => parse(doc(topic('a', ['s3:ObjectCreated:*'], '', 'x') + topic('b', ['s3:ObjectRemoved:*'], '', 'x'))), s3code('InvalidArgument', /unique/));
    for (const kind of ['QueueConfiguration', 'CloudFunctionConfiguration', 'EventBridgeConfiguration']) {
      assert.throws(() => parse(doc(`<${kind}></${kind}>`)), s3code('NotImplemented'), kind);
    }
    // Not overlapping: other events, or filters no key can meet both of.
    parse(doc(topic('a', ['s3:ObjectCreated:*'], rule('prefix', 'a/')) + topic('b', ['s3:ObjectCreated:*'], rule('prefix', 'b/')) + topic('c', ['s3:ObjectRemoved:*'], rule('prefix', 'a/'))));
    parse(doc(topic('a', ['s3:ObjectCreated:*'], rule('suffix', '.jpg')) + topic('b', ['s3:ObjectCreated:*'], rule('suffix', '.png'))));
  });

  test('the configurations an event matches: its type or family, the key filters', () => {
    const config = parse(doc(topic('created', ['s3:ObjectCreated:*'], rule('prefix', 'in/')) + topic('copies', ['s3:ObjectCreated:Copy'], rule('prefix', 'copy/')) + topic('gone', ['s3:ObjectRemoved:Delete'], rule('suffix', '.tmp'))));
    const names = (event: Parameters<typeof notificationsFor>[1], key: string): string[] => notificationsFor(config, event, key).map((t) => t.topic);
    assert.deepEqual(names('s3:ObjectCreated:Put', 'in/a'), ['created']);
    assert.deepEqual(names('s3:ObjectCreated:Copy', 'copy/a'), ['copies']);
    assert.deepEqual(names('s3:ObjectCreated:Put', 'copy/a'), [], 'Copy only');
    assert.deepEqual(names('s3:ObjectRemoved:Delete', 'x.tmp'), ['gone']);
    assert.deepEqual(names('s3:ObjectRemoved:DeleteMarkerCreated', 'x.tmp'), []);
    assert.deepEqual(notificationsFor(undefined, 's3:ObjectCreated:Put', 'k'), []);
    const spaced = parse(doc(topic('s', ['s3:ObjectCreated:*'], rule('prefix', 'my+photos/'))));
    assert.equal(notificationsFor(spaced, 's3:ObjectCreated:Put', 'my photos/a.jpg').length, 1, 'rule values are URL-encoded: + is a space');
    assert.match(notificationConfigurationXml(config), /<Name>Prefix<\/Name>/, 'rule names answered capitalised');
  });

  test('the event message: S3 version 2.1, the key URL-encoded with + for spaces and its slashes kept', () => {
    const m = eventMessage('s3:ObjectCreated:Put', 'cfg', {
      bucket: { name: 'photos', ownerId: 'abc' },
      key: 'a b/ü.jpg',
      size: 12,
      etag: 'e',
      versionId: 'v',
      sequencer: '0055AED6DCD90281E5',
      region: 'us-east-1',
      time: Date.parse('2026-12-05T02:00:00Z'),
      principalId: 'user',
      sourceIp: '127.0.0.1',
      requestId: 'r',
      hostId: 'h',
    });
    const record = m.Records[0] as { eventName: string; eventVersion: string; eventTime: string; s3: { configurationId: string; bucket: { arn: string }; object: { key: string; size: number; eTag: string; versionId: string } } };
    assert.equal(record.eventVersion, '2.1');
    assert.equal(record.eventName, 'ObjectCreated:Put');
    assert.equal(record.eventTime, '2026-12-05T02:00:00.000Z');
    assert.equal(record.s3.configurationId, 'cfg');
    assert.equal(record.s3.bucket.arn, 'arn:aws:s3:::photos');
    assert.deepEqual(record.s3.object, { key: 'a+b/%C3%BC.jpg', size: 12, eTag: 'e', versionId: 'v', sequencer: '0055AED6DCD90281E5' });
  });
});
