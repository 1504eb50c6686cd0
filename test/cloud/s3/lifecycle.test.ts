/**
 * S3 bucket lifecycle on a 3-node loopback ring: PutBucketLifecycleConfiguration,
 * GetBucketLifecycleConfiguration and DeleteBucketLifecycle through the AWS SDK (round trip, who
 * may, every validation error over raw signed requests), `x-amz-expiration` on PutObject /
 * GetObject / HeadObject, and the expirer: prefix, tag and size filters, disabled rules, an
 * object overwritten just before its deletion, incomplete uploads aborted, chunk references
 * released, one deletion per object whichever nodes sweep, and the background sweep on its timer.
 *
 * Time is driven, never slept: the ring's own background sweeps are off (`lifecycleSweepMs: 0`)
 * and the tests call `sweep({ now })` with a clock days ahead of the objects' Last-Modified.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteBucketLifecycleCommand,
  GetBucketLifecycleConfigurationCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { LifecycleRule, S3Client } from '@aws-sdk/client-s3';
import { LifecycleExpirer } from '../../../src/cloud/s3/lifecycle.ts';
import { DAY_MS, formatHttpDate, midnightAfter } from '../../../src/cloud/s3/protocol/index.ts';
import { bytes, pattern, putXmlDocument, s3failure, startS3Fixture } from './harness.ts';
import type { RawOutcome, S3Node, TestUser } from './harness.ts';
import { waitFor } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

function lifecycleXml(rules: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><LifecycleConfiguration xmlns="${NS}">${rules}</LifecycleConfiguration>`;
}

describe('S3 bucket lifecycle on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let a: S3Client[];
  let b: S3Client;
  let anon: S3Client;

  /** A PUT of a raw lifecycle document by alice (Content-MD5 unless `md5` is false). */
  function rawLifecycle(bucket: string, body: string, md5 = true): Promise<RawOutcome> {
    return putXmlDocument(nodes[1]!.endpoint, alice, `/${bucket}`, 'lifecycle', body, md5);
  }

  /** The keys of a bucket, read through node 2. */
  async function keys(bucket: string): Promise<string[]> {
    const out = await a[2]!.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (out.Contents ?? []).map((c) => c.Key!);
  }

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { config: { s3: { lifecycleSweepMs: 0 } }, buckets: ['lcfg', 'errors', 'expiry', 'overlap', 'timer'] });
    ({ nodes, alice, aliceClients: a } = fixture);
    b = fixture.bobClients[2]!;
    anon = fixture.anonymousClients[0]!;
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('Put, Get and DeleteBucketLifecycle: the rules round trip through another node; only the owner manages them', async () => {
    await s3failure(a[0]!.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lcfg' })), 'NoSuchLifecycleConfiguration', 404);
    const rules: LifecycleRule[] = [
      { ID: 'logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } },
      { ID: 'temp-tag', Status: 'Enabled', Filter: { Tag: { Key: 'class', Value: 'temp' } }, Expiration: { Days: 7 } },
      { ID: 'sizes', Status: 'Disabled', Filter: { And: { Prefix: 'media/', Tags: [{ Key: 'a', Value: '1' }], ObjectSizeGreaterThan: 1024, ObjectSizeLessThan: 1048576 } }, Expiration: { Days: 1 } },
      { ID: 'big', Status: 'Enabled', Filter: { ObjectSizeGreaterThan: 500 }, Expiration: { Date: new Date('2030-01-01T00:00:00.000Z') } },
      { ID: 'uploads', Status: 'Enabled', Filter: { Prefix: '' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 } },
      {
        ID: 'archive',
        Status: 'Enabled',
        Filter: { Prefix: 'archive/' },
        Transitions: [{ Days: 30, StorageClass: 'GLACIER' }, { Days: 90, StorageClass: 'DEEP_ARCHIVE' }],
        NoncurrentVersionTransitions: [{ NoncurrentDays: 30, StorageClass: 'STANDARD_IA' }],
        NoncurrentVersionExpiration: { NoncurrentDays: 40 },
      },
      { ID: 'markers', Status: 'Enabled', Filter: { Prefix: 'm/' }, Expiration: { ExpiredObjectDeleteMarker: true } },
      { ID: 'legacy', Status: 'Enabled', Prefix: 'old/', Expiration: { Days: 2 } },
    ];
    const put = await a[0]!.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'lcfg', LifecycleConfiguration: { Rules: rules } }));
    assert.equal(put.$metadata.httpStatusCode, 200);
    const got = await a[1]!.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lcfg' }));
    assert.deepEqual(got.Rules, rules);
    // STANDARD_IA before 30 days is refused, as S3 refuses it.
    await s3failure(a[0]!.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'lcfg', LifecycleConfiguration: { Rules: [{ ID: 'ia', Status: 'Enabled', Filter: {}, Transitions: [{ Days: 10, StorageClass: 'STANDARD_IA' }] }] } })), 'InvalidArgument', 400);
    assert.deepEqual((await a[2]!.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lcfg' }))).Rules, rules, 'the refused configuration changed nothing');

    // A rule without an ID is given one; a put replaces the whole configuration.
    await a[2]!.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'lcfg', LifecycleConfiguration: { Rules: [{ Status: 'Enabled', Filter: {}, Expiration: { Days: 5 } }] } }));
    const replaced = await a[0]!.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lcfg' }));
    assert.equal(replaced.Rules?.length, 1);
    assert.ok(replaced.Rules![0]!.ID && replaced.Rules![0]!.ID.length > 0, 'a generated ID');
    assert.deepEqual(replaced.Rules![0]!.Expiration, { Days: 5 });

    // Only the owner.
    await s3failure(b.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lcfg' })), 'AccessDenied', 403);
    await s3failure(b.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'lcfg', LifecycleConfiguration: { Rules: rules } })), 'AccessDenied', 403);
    await s3failure(b.send(new DeleteBucketLifecycleCommand({ Bucket: 'lcfg' })), 'AccessDenied', 403);
    await s3failure(anon.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lcfg' })), 'AccessDenied', 403);
    await s3failure(a[0]!.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'no-such-bucket-lc' })), 'NoSuchBucket', 404);

    const deleted = await a[1]!.send(new DeleteBucketLifecycleCommand({ Bucket: 'lcfg' }));
    assert.equal(deleted.$metadata.httpStatusCode, 204);
    await s3failure(a[2]!.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lcfg' })), 'NoSuchLifecycleConfiguration', 404);
    assert.equal((await a[2]!.send(new DeleteBucketLifecycleCommand({ Bucket: 'lcfg' }))).$metadata.httpStatusCode, 204, 'again: still 204');
  });

  test('every validation error of PutBucketLifecycleConfiguration, with S3 codes and messages', async () => {
    const ok = '<Rule><ID>r</ID><Filter><Prefix>a/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>';
    assert.equal((await rawLifecycle('errors', lifecycleXml(ok))).status, 200, 'the valid document is accepted');
    const cases: [string, string, string, string?][] = [
      ['no Content-MD5', 'InvalidRequest', '', 'Missing required header for this request: Content-MD5'],
      ['not XML', 'MalformedXML', 'not xml'],
      ['no rule', 'MalformedXML', lifecycleXml('')],
      ['an unknown element', 'MalformedXML', lifecycleXml(ok.replace('<Status>', '<Colour>red</Colour><Status>'))],
      ['no status', 'MalformedXML', lifecycleXml('<Rule><Filter/><Expiration><Days>1</Days></Expiration></Rule>')],
      ['a bad status', 'MalformedXML', lifecycleXml(ok.replace('Enabled', 'On'))],
      ['Filter and Prefix', 'MalformedXML', lifecycleXml(ok.replace('<Status>', '<Prefix>x</Prefix><Status>'))],
      ['two predicates outside And', 'MalformedXML', lifecycleXml(ok.replace('<Prefix>a/</Prefix>', '<Prefix>a/</Prefix><ObjectSizeLessThan>5</ObjectSizeLessThan>'))],
      ['Days and Date', 'MalformedXML', lifecycleXml(ok.replace('<Days>1</Days>', '<Days>1</Days><Date>2030-01-01T00:00:00Z</Date>'))],
      ['an empty Expiration', 'MalformedXML', lifecycleXml(ok.replace('<Days>1</Days>', ''))],
      ['Days not a number', 'MalformedXML', lifecycleXml(ok.replace('<Days>1</Days>', '<Days>one</Days>'))],
      ['a bad storage class', 'MalformedXML', lifecycleXml(ok.replace('<Expiration><Days>1</Days></Expiration>', '<Transition><Days>1</Days><StorageClass>FLOPPY</StorageClass></Transition>'))],
      ['Days 0', 'InvalidArgument', lifecycleXml(ok.replace('<Days>1</Days>', '<Days>0</Days>')), "'Days' for Expiration action must be a positive integer"],
      ['a Date not at midnight', 'InvalidArgument', lifecycleXml(ok.replace('<Days>1</Days>', '<Date>2030-01-01T12:00:00Z</Date>')), "'Date' must be at midnight GMT"],
      [
        'DaysAfterInitiation 0',
        'InvalidArgument',
        lifecycleXml(ok.replace('<Expiration><Days>1</Days></Expiration>', '<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation></AbortIncompleteMultipartUpload>')),
        "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
      ],
      ['an ID over 255 characters', 'InvalidArgument', lifecycleXml(ok.replace('<ID>r</ID>', `<ID>${'i'.repeat(256)}</ID>`)), 'ID length should not exceed allowed limit of 255'],
      ['the same ID twice', 'InvalidArgument', lifecycleXml(ok + ok.replace('a/', 'b/')), 'Rule ID must be unique. Found same ID for more than one rule'],
      [
        'sizes that leave nothing',
        'InvalidArgument',
        lifecycleXml(ok.replace('<Prefix>a/</Prefix>', '<And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>10</ObjectSizeLessThan></And>')),
        'ObjectSizeGreaterThan must be less than ObjectSizeLessThan',
      ],
      ['no action', 'InvalidRequest', lifecycleXml(ok.replace('<Expiration><Days>1</Days></Expiration>', '')), 'At least one action needs to be specified in a rule'],
      [
        'more than 1000 rules',
        'InvalidRequest',
        lifecycleXml(Array.from({ length: 1001 }, (_, i) => ok.replace('<ID>r</ID>', `<ID>r${i}</ID>`)).join('')),
        'The number of lifecycle rules should not exceed allowed limit of 1000 rules',
      ],
      [
        'a tag filter with AbortIncompleteMultipartUpload',
        'InvalidRequest',
        lifecycleXml(ok.replace('<Prefix>a/</Prefix>', '<Tag><Key>k</Key><Value>v</Value></Tag>').replace('<Expiration><Days>1</Days></Expiration>', '<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>')),
        'Tag-based filter cannot be used with AbortIncompleteMultipartUpload action.',
      ],
      [
        'duplicate tag keys',
        'InvalidRequest',
        lifecycleXml(ok.replace('<Prefix>a/</Prefix>', '<And><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag></And>')),
        'Duplicate Tag Keys are not allowed.',
      ],
    ];
    for (const [what, code, body, message] of cases) {
      const r = await rawLifecycle('errors', body || lifecycleXml(ok), what !== 'no Content-MD5');
      assert.equal(r.code, code, what);
      assert.equal(r.status, 400, what);
      if (message !== undefined) assert.equal(r.message, message, what);
    }
    // The refused documents left the accepted one in place.
    const got = await a[0]!.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'errors' }));
    assert.deepEqual(got.Rules, [{ ID: 'r', Filter: { Prefix: 'a/' }, Status: 'Enabled', Expiration: { Days: 1 } }]);
  });

  test('x-amz-expiration on PutObject, GetObject and HeadObject: the earliest enabled rule that applies', async () => {
    await a[0]!.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: 'lcfg',
        LifecycleConfiguration: {
          Rules: [
            { ID: 'docs 30', Status: 'Enabled', Filter: { Prefix: 'docs/' }, Expiration: { Days: 30 } },
            { ID: 'docs-tmp', Status: 'Enabled', Filter: { And: { Prefix: 'docs/', Tags: [{ Key: 'tmp', Value: 'yes' }] } }, Expiration: { Days: 2 } },
            { ID: 'off', Status: 'Disabled', Filter: { Prefix: 'docs/' }, Expiration: { Days: 1 } },
            { ID: 'date', Status: 'Enabled', Filter: { Prefix: 'dated/' }, Expiration: { Date: new Date('2031-06-01T00:00:00Z') } },
          ],
        },
      }),
    );
    const put = await a[0]!.send(new PutObjectCommand({ Bucket: 'lcfg', Key: 'docs/a.txt', Body: 'a' }));
    const head = await a[0]!.send(new HeadObjectCommand({ Bucket: 'lcfg', Key: 'docs/a.txt' }));
    const lm = head.LastModified!.getTime();
    const expected = `expiry-date="${formatHttpDate(midnightAfter(lm + 30 * DAY_MS))}", rule-id="docs%2030"`;
    assert.equal(put.Expiration, expected);
    assert.equal(head.Expiration, expected);
    assert.equal((await a[0]!.send(new GetObjectCommand({ Bucket: 'lcfg', Key: 'docs/a.txt' }))).Expiration, expected);

    await a[0]!.send(new PutObjectCommand({ Bucket: 'lcfg', Key: 'docs/t.txt', Body: 't', Tagging: 'tmp=yes' }));
    const tmp = await a[0]!.send(new HeadObjectCommand({ Bucket: 'lcfg', Key: 'docs/t.txt' }));
    assert.equal(tmp.Expiration, `expiry-date="${formatHttpDate(midnightAfter(tmp.LastModified!.getTime() + 2 * DAY_MS))}", rule-id="docs-tmp"`);

    await a[0]!.send(new PutObjectCommand({ Bucket: 'lcfg', Key: 'dated/x', Body: 'x' }));
    assert.equal((await a[0]!.send(new HeadObjectCommand({ Bucket: 'lcfg', Key: 'dated/x' }))).Expiration, 'expiry-date="Sun, 01 Jun 2031 00:00:00 GMT", rule-id="date"');
    await a[0]!.send(new PutObjectCommand({ Bucket: 'lcfg', Key: 'other', Body: 'o' }));
    assert.equal((await a[0]!.send(new HeadObjectCommand({ Bucket: 'lcfg', Key: 'other' }))).Expiration, undefined, 'no rule applies');
    const copy = await a[0]!.send(new CopyObjectCommand({ Bucket: 'lcfg', Key: 'dated/copy', CopySource: 'lcfg/other' }));
    assert.equal(copy.Expiration, 'expiry-date="Sun, 01 Jun 2031 00:00:00 GMT", rule-id="date"', 'CopyObject answers the header of the copy');
    const up = await a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'lcfg', Key: 'dated/mp' }));
    const part = await a[0]!.send(new UploadPartCommand({ Bucket: 'lcfg', Key: 'dated/mp', UploadId: up.UploadId, PartNumber: 1, Body: 'p' }));
    const done = await a[0]!.send(new CompleteMultipartUploadCommand({ Bucket: 'lcfg', Key: 'dated/mp', UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    assert.equal(done.Expiration, 'expiry-date="Sun, 01 Jun 2031 00:00:00 GMT", rule-id="date"', 'so does CompleteMultipartUpload');

    // Through another node once its cached bucket record is refreshed.
    await waitFor(async () => (await a[2]!.send(new HeadObjectCommand({ Bucket: 'lcfg', Key: 'docs/a.txt' }))).Expiration === expected, { timeoutMs: 10_000, what: 'the header through node 2' });
    await a[0]!.send(new DeleteBucketLifecycleCommand({ Bucket: 'lcfg' }));
    assert.equal((await a[0]!.send(new HeadObjectCommand({ Bucket: 'lcfg', Key: 'docs/a.txt' }))).Expiration, undefined, 'no header without rules');
  });

  test('the expirer: filters select what expires, disabled rules do nothing, an overwrite survives, old uploads are aborted, one node sweeps a bucket', async () => {
    await a[0]!.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: 'expiry',
        LifecycleConfiguration: {
          Rules: [
            { ID: 'logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 1 } },
            { ID: 'temp', Status: 'Enabled', Filter: { Tag: { Key: 'class', Value: 'temp' } }, Expiration: { Days: 2 } },
            { ID: 'sized', Status: 'Enabled', Filter: { And: { Prefix: 'sized/', ObjectSizeGreaterThan: 100, ObjectSizeLessThan: 1000 } }, Expiration: { Days: 1 } },
            { ID: 'keep', Status: 'Disabled', Filter: { Prefix: 'keep/' }, Expiration: { Days: 1 } },
            { ID: 'uploads', Status: 'Enabled', Filter: { Prefix: 'mp/' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
          ],
        },
      }),
    );
    const put = (key: string, body: Buffer | string, tagging?: string): Promise<unknown> => a[1]!.send(new PutObjectCommand({ Bucket: 'expiry', Key: key, Body: body, ...(tagging ? { Tagging: tagging } : {}) }));
    const big = pattern(600 * 1024, 9);
    await put('logs/a', 'a');
    await put('logs/big', big);
    await put('logs/raced', 'old');
    await put('other/x', 'x');
    await put('tagged/t1', 't1', 'class=temp');
    await put('tagged/t2', 't2', 'class=perm');
    await put('sized/mid', pattern(500, 1));
    await put('sized/small', pattern(50, 2));
    await put('sized/large', pattern(2000, 3));
    await put('keep/k', 'k');
    const mp = await a[2]!.send(new CreateMultipartUploadCommand({ Bucket: 'expiry', Key: 'mp/u1' }));
    await a[2]!.send(new UploadPartCommand({ Bucket: 'expiry', Key: 'mp/u1', UploadId: mp.UploadId, PartNumber: 1, Body: pattern(300 * 1024, 4) }));
    const other = await a[2]!.send(new CreateMultipartUploadCommand({ Bucket: 'expiry', Key: 'other/u2' }));

    const s3 = nodes[0]!.s3;
    const bucket = (await s3.catalog.bucket('expiry', true))!;
    const bigEntry = (await s3.catalog.getObject(bucket, 'logs/big'))!;
    const bigChunks = await s3.catalog.chunkList(bigEntry);
    assert.ok(bigChunks.length >= 2, 'a chunked object');

    // Half a day on, nothing is due.
    const soon = await Promise.all(nodes.map((n) => n.s3.lifecycle.sweep({ now: Date.now() + DAY_MS / 2 })));
    assert.deepEqual(
      soon.map((r) => [r.expired, r.aborted]),
      nodes.map(() => [0, 0]),
    );

    // Three days on: the three nodes sweep at once; the root of the bucket record does the work.
    const racedBy: string[] = [];
    const results = await Promise.all(
      nodes.map((n) =>
        n.s3.lifecycle.sweep({
          now: Date.now() + 3 * DAY_MS + 60_000,
          beforeExpire: async (_bucket, key) => {
            if (key !== 'logs/raced') return;
            racedBy.push(key);
            await a[0]!.send(new PutObjectCommand({ Bucket: 'expiry', Key: 'logs/raced', Body: 'new' }));
          },
        }),
      ),
    );
    assert.equal(results.filter((r) => r.buckets.includes('expiry')).length, 1, 'exactly one node swept the bucket');
    assert.deepEqual(racedBy, ['logs/raced'], 'the overwrite raced one deletion');
    const total = results.reduce((acc, r) => ({ expired: acc.expired + r.expired, aborted: acc.aborted + r.aborted }), { expired: 0, aborted: 0 });
    assert.deepEqual(total, { expired: 4, aborted: 1 }, 'logs/a, logs/big, tagged/t1, sized/mid; mp/u1');

    assert.deepEqual(await keys('expiry'), ['keep/k', 'logs/raced', 'other/x', 'sized/large', 'sized/small', 'tagged/t2']);
    assert.equal((await bytes((await a[2]!.send(new GetObjectCommand({ Bucket: 'expiry', Key: 'logs/raced' }))).Body)).toString(), 'new', 'the overwrite survived');
    const uploads = await a[0]!.send(new ListMultipartUploadsCommand({ Bucket: 'expiry' }));
    assert.deepEqual(
      (uploads.Uploads ?? []).map((u) => u.Key),
      ['other/u2'],
    );
    await s3failure(a[1]!.send(new UploadPartCommand({ Bucket: 'expiry', Key: 'mp/u1', UploadId: mp.UploadId, PartNumber: 2, Body: 'x' })), 'NoSuchUpload', 404);
    await a[2]!.send(new AbortMultipartUploadCommand({ Bucket: 'expiry', Key: 'other/u2', UploadId: other.UploadId }));

    // The expired object's chunk references are dropped, so the collector can reclaim its data.
    await waitFor(async () => (await Promise.all(bigChunks.map((c) => s3.catalog.refsOf(c.hash)))).every((r) => r.live.length === 0), { timeoutMs: 10_000, what: 'the references of logs/big dropped' });

    // Another sweep finds nothing more; the metrics count what was done.
    const again = await Promise.all(nodes.map((n) => n.s3.lifecycle.sweep({ now: Date.now() + 3 * DAY_MS + 60_000 })));
    assert.equal(again.reduce((n, r) => n + r.expired + r.aborted, 0), 1, 'only the overwritten object (now expired by the later clock)');
    const metric = (name: string): number =>
      nodes.reduce((sum, n) => sum + (n.s3.metrics().find((m) => m.name === name)?.values[0]?.value ?? 0), 0);
    assert.equal(metric('pi_s3_lifecycle_objects_expired_total'), 5);
    assert.equal(metric('pi_s3_lifecycle_uploads_aborted_total'), 1);
    assert.ok(metric('pi_s3_lifecycle_sweeps_total') >= 9);
    assert.ok(nodes.every((n) => n.s3.metrics().some((m) => m.name === 'pi_s3_lifecycle_sweep_seconds')));
  });

  test('nodes that all believe they are root delete each object once', async () => {
    await a[0]!.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'overlap', LifecycleConfiguration: { Rules: [{ ID: 'all', Status: 'Enabled', Filter: {}, Expiration: { Days: 1 } }] } }));
    const n = 40;
    await Promise.all(Array.from({ length: n }, (_, i) => a[i % 3]!.send(new PutObjectCommand({ Bucket: 'overlap', Key: `k${String(i).padStart(3, '0')}`, Body: `v${i}` }))));
    const before = nodes.map((x) => x.s3.lifecycle.stats.objectsExpired);
    const now = Date.now() + 3 * DAY_MS;
    await Promise.all(nodes.map((x) => x.s3.lifecycle.sweep({ now, everyBucket: true })));
    const expired = nodes.reduce((sum, x, i) => sum + x.s3.lifecycle.stats.objectsExpired - before[i]!, 0);
    assert.equal(expired, n, 'each object counted by exactly one node');
    assert.deepEqual(await keys('overlap'), []);
  });

  test('the background sweep runs on the env timer of each node (a Date rule in the past expires at once)', async () => {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'timer', Key: 'old/1', Body: '1' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'timer', Key: 'new/1', Body: '1' }));
    await a[0]!.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'timer', LifecycleConfiguration: { Rules: [{ ID: 'past', Status: 'Enabled', Filter: { Prefix: 'old/' }, Expiration: { Date: new Date('2020-01-01T00:00:00Z') } }] } }));
    const expirers = nodes.map((n) => new LifecycleExpirer(n.node.env, n.s3.catalog, n.s3.api, n.s3.store.node, 100));
    for (const e of expirers) e.start();
    try {
      // The entry disappears before expireObject resolves (it then releases the chunk
      // references), so the counter is waited for too, not read at once.
      const expired = (): number => expirers.reduce((s, e) => s + e.stats.objectsExpired, 0);
      await waitFor(async () => (await keys('timer')).join() === 'new/1' && expired() >= 1, { timeoutMs: 15_000, what: 'old/1 expired by a background sweep' });
      assert.equal(expired(), 1);
    } finally {
      for (const e of expirers) e.stop();
    }
  });
});
