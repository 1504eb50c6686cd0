/**
 * S3 Object Lock through the AWS SDK on a 3-node loopback ring: CreateBucket with Object Lock,
 * PutObjectLockConfiguration / GetObjectLockConfiguration (default retention, versioned buckets
 * only, versioning then never suspended), retention and legal holds set by the write headers
 * (PutObject, CopyObject, CreateMultipartUpload) or the bucket default and answered by
 * GetObject / HeadObject, PutObjectRetention / GetObjectRetention / PutObjectLegalHold /
 * GetObjectLegalHold on current and noncurrent versions, the rules of a retention change, and what
 * a lock protects: deletes by version id (DeleteObject, DeleteObjects) refused unless a GOVERNANCE
 * retention is bypassed by someone allowed to, and the lifecycle expirer leaving locked versions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectLockConfigurationCommand,
  PutObjectRetentionCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { bytes, rawRequest, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const DAY_MS = 86_400_000;

describe('S3 Object Lock through the AWS SDK on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let bob: TestUser;
  /** Alice's client on each node. */
  let a: S3Client[];
  /** Bob's client on node 0. */
  let b: S3Client;

  /** Creates a bucket with Object Lock (and optionally a default retention) through node 0. */
  async function lockedBucket(name: string, rule?: { Mode: 'GOVERNANCE' | 'COMPLIANCE'; Days?: number; Years?: number }): Promise<void> {
    await a[0]!.send(new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: true }));
    if (rule) await a[0]!.send(new PutObjectLockConfigurationCommand({ Bucket: name, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: rule } } }));
  }

  async function put(bucket: string, key: string, body: string, extra: Partial<ConstructorParameters<typeof PutObjectCommand>[0]> = {}, client = a[0]!): Promise<string> {
    const r = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...extra }));
    assert.ok(r.VersionId);
    return r.VersionId;
  }

  /** A raw request with a body and its Content-MD5 (documents the SDK would not send). */
  async function rawXml(method: string, path: string, query: Record<string, string>, xml: string, user = alice): Promise<{ status: number; body: string }> {
    const body = Buffer.from(xml);
    const r = await rawRequest(nodes[0]!.endpoint, user, { method, path, query, body, headers: { 'content-type': 'application/xml', 'content-md5': createHash('md5').update(body).digest('base64') } });
    return { status: r.status, body: r.body.toString() };
  }

  function policy(bucket: string, ...statements: object[]): string {
    return JSON.stringify({ Version: '2012-10-17', Statement: statements.map((s) => ({ Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`], ...s })) });
  }

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { config: { s3: { lifecycleSweepMs: 0 } } });
    ({ nodes, alice, bob, aliceClients: a } = fixture);
    b = fixture.bobClients[0]!;
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('bucket configuration: created with Object Lock, default retention, versioning only, never suspended, never disabled', async () => {
    await lockedBucket('lock-conf');
    assert.equal((await a[1]!.send(new GetBucketVersioningCommand({ Bucket: 'lock-conf' }))).Status, 'Enabled', 'Object Lock enables versioning');
    let conf = await a[1]!.send(new GetObjectLockConfigurationCommand({ Bucket: 'lock-conf' }));
    assert.deepEqual(conf.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled' });
    await a[0]!.send(new PutObjectLockConfigurationCommand({ Bucket: 'lock-conf', ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 3 } } } }));
    conf = await a[0]!.send(new GetObjectLockConfigurationCommand({ Bucket: 'lock-conf' }));
    assert.deepEqual(conf.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 3 } } });
    await a[0]!.send(new PutObjectLockConfigurationCommand({ Bucket: 'lock-conf', ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Years: 2 } } } }));
    conf = await a[0]!.send(new GetObjectLockConfigurationCommand({ Bucket: 'lock-conf' }));
    assert.deepEqual(conf.ObjectLockConfiguration?.Rule, { DefaultRetention: { Mode: 'COMPLIANCE', Years: 2 } });
    // Without a rule: the default retention goes, Object Lock stays.
    await a[0]!.send(new PutObjectLockConfigurationCommand({ Bucket: 'lock-conf', ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } }));
    assert.deepEqual((await a[0]!.send(new GetObjectLockConfigurationCommand({ Bucket: 'lock-conf' }))).ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled' });

    const suspend = await s3failure(a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'lock-conf', VersioningConfiguration: { Status: 'Suspended' } })), 'InvalidBucketState', 409);
    assert.match(suspend.message, /Object Lock configuration is present/);
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'lock-conf', VersioningConfiguration: { Status: 'Enabled' } }));

    // Bad documents.
    const xmlns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
    const cases: [string, number, string][] = [
      [`<ObjectLockConfiguration ${xmlns}><ObjectLockEnabled>Disabled</ObjectLockEnabled></ObjectLockConfiguration>`, 400, 'MalformedXML'],
      [`<ObjectLockConfiguration ${xmlns}><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>0</Days></DefaultRetention></Rule></ObjectLockConfiguration>`, 400, 'InvalidArgument'],
      [`<ObjectLockConfiguration ${xmlns}><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years></DefaultRetention></Rule></ObjectLockConfiguration>`, 400, 'MalformedXML'],
      [`<ObjectLockConfiguration ${xmlns}><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>STRICT</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>`, 400, 'MalformedXML'],
    ];
    for (const [xml, status, code] of cases) {
      const r = await rawXml('PUT', '/lock-conf', { 'object-lock': '' }, xml);
      assert.equal(r.status, status, xml);
      assert.match(r.body, new RegExp(`<Code>${code}</Code>`), xml);
    }
    const unsigned = await rawRequest(nodes[0]!.endpoint, alice, { method: 'PUT', path: '/lock-conf', query: { 'object-lock': '' }, body: Buffer.from(`<ObjectLockConfiguration ${xmlns}><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>`) });
    assert.equal(unsigned.status, 400, 'Content-MD5 (or a checksum) is required');
    assert.deepEqual((await a[0]!.send(new GetObjectLockConfigurationCommand({ Bucket: 'lock-conf' }))).ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled' }, 'refused documents change nothing');

    // Others may not.
    await s3failure(b.send(new GetObjectLockConfigurationCommand({ Bucket: 'lock-conf' })), 'AccessDenied', 403);
    await s3failure(b.send(new PutObjectLockConfigurationCommand({ Bucket: 'lock-conf', ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } })), 'AccessDenied', 403);

    // A bucket without Object Lock: none to read; enabling it needs versioning Enabled.
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'lock-later' }));
    await s3failure(a[0]!.send(new GetObjectLockConfigurationCommand({ Bucket: 'lock-later' })), 'ObjectLockConfigurationNotFoundError', 404);
    const unversioned = await s3failure(a[0]!.send(new PutObjectLockConfigurationCommand({ Bucket: 'lock-later', ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } })), 'InvalidBucketState', 409);
    assert.match(unversioned.message, /Versioning must be 'Enabled'/);
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'lock-later', VersioningConfiguration: { Status: 'Suspended' } }));
    await s3failure(a[0]!.send(new PutObjectLockConfigurationCommand({ Bucket: 'lock-later', ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } })), 'InvalidBucketState', 409);
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'lock-later', VersioningConfiguration: { Status: 'Enabled' } }));
    await a[0]!.send(new PutObjectLockConfigurationCommand({ Bucket: 'lock-later', ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } } }));
    assert.equal((await a[0]!.send(new GetObjectLockConfigurationCommand({ Bucket: 'lock-later' }))).ObjectLockConfiguration?.ObjectLockEnabled, 'Enabled', 'an existing versioned bucket can have it');
    await s3failure(a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'lock-later', VersioningConfiguration: { Status: 'Suspended' } })), 'InvalidBucketState', 409);
  });

  test('write headers and the default retention: PutObject, CopyObject, multipart; answered by GetObject / HeadObject', async () => {
    await lockedBucket('lock-write');
    await lockedBucket('lock-dflt', { Mode: 'GOVERNANCE', Days: 2 });
    const until = new Date(Date.now() + DAY_MS);
    until.setUTCMilliseconds(0);
    const v1 = await put('lock-write', 'k', 'one', { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until, ObjectLockLegalHoldStatus: 'ON' });
    for (const client of a) {
      const head = await client.send(new HeadObjectCommand({ Bucket: 'lock-write', Key: 'k' }));
      assert.equal(head.ObjectLockMode, 'COMPLIANCE');
      assert.equal(head.ObjectLockRetainUntilDate?.getTime(), until.getTime());
      assert.equal(head.ObjectLockLegalHoldStatus, 'ON');
    }
    const got = await a[1]!.send(new GetObjectCommand({ Bucket: 'lock-write', Key: 'k', VersionId: v1 }));
    assert.equal((await bytes(got.Body)).toString(), 'one');
    assert.equal(got.ObjectLockMode, 'COMPLIANCE');
    assert.equal(got.ObjectLockLegalHoldStatus, 'ON');
    const retention = await a[2]!.send(new GetObjectRetentionCommand({ Bucket: 'lock-write', Key: 'k' }));
    assert.deepEqual(retention.Retention, { Mode: 'COMPLIANCE', RetainUntilDate: until });
    assert.equal((await a[2]!.send(new GetObjectLegalHoldCommand({ Bucket: 'lock-write', Key: 'k' }))).LegalHold?.Status, 'ON');
    // Bob (no rights on the object) is not told.
    await a[0]!.send(new PutBucketPolicyCommand({ Bucket: 'lock-write', Policy: policy('lock-write', { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${bob.id}:root` }, Action: ['s3:GetObject', 's3:GetObjectVersion'] }) }));
    const bobHead = await b.send(new HeadObjectCommand({ Bucket: 'lock-write', Key: 'k' }));
    assert.equal(bobHead.ObjectLockMode, undefined);
    assert.equal(bobHead.ObjectLockLegalHoldStatus, undefined);

    // No lock on a plain write to a bucket without a default.
    await put('lock-write', 'plain', 'x');
    const plain = await a[0]!.send(new HeadObjectCommand({ Bucket: 'lock-write', Key: 'plain' }));
    assert.equal(plain.ObjectLockMode, undefined);
    await s3failure(a[0]!.send(new GetObjectRetentionCommand({ Bucket: 'lock-write', Key: 'plain' })), 'NoSuchObjectLockConfiguration', 404);
    await s3failure(a[0]!.send(new GetObjectLegalHoldCommand({ Bucket: 'lock-write', Key: 'plain' })), 'NoSuchObjectLockConfiguration', 404);
    await s3failure(a[0]!.send(new GetObjectRetentionCommand({ Bucket: 'lock-write', Key: 'none' })), 'NoSuchKey', 404);

    // The bucket default: 2 days of GOVERNANCE from the write.
    const before = Date.now();
    await put('lock-dflt', 'd', 'x');
    const d = await a[0]!.send(new HeadObjectCommand({ Bucket: 'lock-dflt', Key: 'd' }));
    assert.equal(d.ObjectLockMode, 'GOVERNANCE');
    const dUntil = d.ObjectLockRetainUntilDate!.getTime();
    assert.ok(dUntil >= before + 2 * DAY_MS - 1000 && dUntil <= Date.now() + 2 * DAY_MS + 1000, 'two days on');
    // Explicit headers win over the default; a legal hold alone keeps the default retention.
    await put('lock-dflt', 'e', 'x', { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until });
    assert.equal((await a[0]!.send(new HeadObjectCommand({ Bucket: 'lock-dflt', Key: 'e' }))).ObjectLockMode, 'COMPLIANCE');
    await put('lock-dflt', 'f', 'x', { ObjectLockLegalHoldStatus: 'OFF' });
    const f = await a[0]!.send(new HeadObjectCommand({ Bucket: 'lock-dflt', Key: 'f' }));
    assert.equal(f.ObjectLockMode, 'GOVERNANCE');
    assert.equal(f.ObjectLockLegalHoldStatus, 'OFF');

    // CopyObject: the request's lock, or the destination's default (the source's is not copied).
    await a[0]!.send(new CopyObjectCommand({ Bucket: 'lock-write', Key: 'copy', CopySource: 'lock-write/k', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: until }));
    const copy = await a[0]!.send(new HeadObjectCommand({ Bucket: 'lock-write', Key: 'copy' }));
    assert.equal(copy.ObjectLockMode, 'GOVERNANCE');
    assert.equal(copy.ObjectLockLegalHoldStatus, undefined, 'the source legal hold is not copied');
    await a[0]!.send(new CopyObjectCommand({ Bucket: 'lock-dflt', Key: 'copy', CopySource: 'lock-write/k' }));
    assert.equal((await a[0]!.send(new HeadObjectCommand({ Bucket: 'lock-dflt', Key: 'copy' }))).ObjectLockMode, 'GOVERNANCE');

    // Multipart: the headers of CreateMultipartUpload; the default applies on completion.
    for (const [bucket, extra, mode, hold] of [
      ['lock-write', { ObjectLockMode: 'COMPLIANCE' as const, ObjectLockRetainUntilDate: until, ObjectLockLegalHoldStatus: 'ON' as const }, 'COMPLIANCE', 'ON'],
      ['lock-dflt', {}, 'GOVERNANCE', undefined],
    ] as const) {
      const up = await a[1]!.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp', ...extra }));
      const part = await a[1]!.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp', UploadId: up.UploadId, PartNumber: 1, Body: 'part' }));
      await a[1]!.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'mp', UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
      const head = await a[1]!.send(new HeadObjectCommand({ Bucket: bucket, Key: 'mp' }));
      assert.equal(head.ObjectLockMode, mode, bucket);
      assert.equal(head.ObjectLockLegalHoldStatus, hold, bucket);
    }

    // Bad headers.
    const tomorrow = until.toISOString();
    const raw = async (bucket: string, headers: Record<string, string>): Promise<{ status: number; body: string }> => {
      const body = Buffer.from('data');
      const r = await rawRequest(nodes[0]!.endpoint, alice, { method: 'PUT', path: `/${bucket}/bad`, body, headers: { 'content-md5': createHash('md5').update(body).digest('base64'), ...headers } });
      return { status: r.status, body: r.body.toString() };
    };
    const bad: [string, Record<string, string>, string, RegExp][] = [
      ['lock-write', { 'x-amz-object-lock-mode': 'GOVERNANCE' }, 'InvalidArgument', /must both be supplied/],
      ['lock-write', { 'x-amz-object-lock-retain-until-date': tomorrow }, 'InvalidArgument', /must both be supplied/],
      ['lock-write', { 'x-amz-object-lock-mode': 'STRICT', 'x-amz-object-lock-retain-until-date': tomorrow }, 'InvalidArgument', /Unknown wormMode directive/],
      ['lock-write', { 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': 'tomorrow' }, 'InvalidArgument', /ISO 8601/],
      ['lock-write', { 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': '2001-01-01T00:00:00Z' }, 'InvalidArgument', /in the future/],
      ['lock-write', { 'x-amz-object-lock-legal-hold': 'YES' }, 'InvalidArgument', /Legal Hold/],
      ['lock-conf-none', { 'x-amz-object-lock-legal-hold': 'ON' }, 'InvalidRequest', /Bucket is missing ObjectLockConfiguration/],
    ];
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'lock-conf-none' }));
    for (const [bucket, headers, code, message] of bad) {
      const r = await raw(bucket, headers);
      assert.equal(r.status, 400, JSON.stringify(headers));
      assert.match(r.body, new RegExp(`<Code>${code}</Code>`), JSON.stringify(headers));
      assert.match(r.body, message);
    }
    const noMd5 = await rawRequest(nodes[0]!.endpoint, alice, { method: 'PUT', path: '/lock-write/bad', body: Buffer.from('data'), headers: { 'x-amz-object-lock-legal-hold': 'ON' } });
    assert.equal(noMd5.status, 400);
    assert.match(noMd5.body.toString(), /Content-MD5 OR x-amz-checksum- HTTP header is required/);
    await s3failure(a[0]!.send(new HeadObjectCommand({ Bucket: 'lock-write', Key: 'bad' })), undefined, 404);
    await s3failure(a[0]!.send(new CopyObjectCommand({ Bucket: 'lock-conf-none', Key: 'c', CopySource: 'lock-write/k', ObjectLockLegalHoldStatus: 'ON' })), 'InvalidRequest', 400);
    await s3failure(a[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'lock-conf-none', Key: 'c', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: until })), 'InvalidRequest', 400);
    // The lock operations on a bucket without Object Lock.
    await a[0]!.send(new PutObjectCommand({ Bucket: 'lock-conf-none', Key: 'o', Body: 'x' }));
    const missing = await s3failure(a[0]!.send(new GetObjectRetentionCommand({ Bucket: 'lock-conf-none', Key: 'o' })), 'InvalidRequest', 400);
    assert.match(missing.message, /Bucket is missing Object Lock Configuration/);
    await s3failure(a[0]!.send(new PutObjectLegalHoldCommand({ Bucket: 'lock-conf-none', Key: 'o', LegalHold: { Status: 'ON' } })), 'InvalidRequest', 400);
    await s3failure(a[0]!.send(new PutObjectRetentionCommand({ Bucket: 'lock-conf-none', Key: 'o', Retention: { Mode: 'GOVERNANCE', RetainUntilDate: until } })), 'InvalidRequest', 400);
  });

  test('PutObjectRetention / PutObjectLegalHold: extend, never shorten COMPLIANCE, GOVERNANCE with bypass and its permission; by version id', async () => {
    await lockedBucket('lock-ret');
    const in1 = new Date(Date.now() + DAY_MS);
    const in2 = new Date(Date.now() + 2 * DAY_MS);
    const v1 = await put('lock-ret', 'c', 'one');
    await put('lock-ret', 'c', 'two');
    // A noncurrent version, named by id.
    await a[1]!.send(new PutObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'c', VersionId: v1, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: in1 } }));
    assert.equal((await a[2]!.send(new GetObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'c', VersionId: v1 }))).Retention?.Mode, 'COMPLIANCE');
    await s3failure(a[2]!.send(new GetObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'c' })), 'NoSuchObjectLockConfiguration', 404);
    // COMPLIANCE: extended, never shortened, removed or turned into GOVERNANCE, bypass or not.
    await a[1]!.send(new PutObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'c', VersionId: v1, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: in2 } }));
    assert.equal((await a[1]!.send(new GetObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'c', VersionId: v1 }))).Retention?.RetainUntilDate?.getTime(), in2.getTime());
    for (const change of [{ Mode: 'COMPLIANCE' as const, RetainUntilDate: in1 }, { Mode: 'GOVERNANCE' as const, RetainUntilDate: in2 }]) {
      const err = await s3failure(a[1]!.send(new PutObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'c', VersionId: v1, Retention: change, BypassGovernanceRetention: true })), 'AccessDenied', 403);
      assert.match(err.message, /protected by object lock/);
    }
    const remove = await rawXml('PUT', '/lock-ret/c', { retention: '', versionId: v1 }, '<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>');
    assert.equal(remove.status, 403, 'a COMPLIANCE retention cannot be removed');
    assert.equal((await a[1]!.send(new GetObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'c', VersionId: v1 }))).Retention?.RetainUntilDate?.getTime(), in2.getTime());

    // GOVERNANCE: extended freely; shortened, changed or removed only with bypass and the permission.
    await put('lock-ret', 'g', 'x', { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: in1 });
    await a[0]!.send(new PutObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'g', Retention: { Mode: 'GOVERNANCE', RetainUntilDate: in2 } }));
    await s3failure(a[0]!.send(new PutObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'g', Retention: { Mode: 'GOVERNANCE', RetainUntilDate: in1 } })), 'AccessDenied', 403);
    await a[0]!.send(new PutObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'g', Retention: { Mode: 'GOVERNANCE', RetainUntilDate: in1 }, BypassGovernanceRetention: true }));
    assert.equal((await a[0]!.send(new GetObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'g' }))).Retention?.RetainUntilDate?.getTime(), in1.getTime(), 'the owner bypasses');
    // Bob, allowed to change retention but not to bypass: refused; once allowed: done.
    const bobPrincipal = { AWS: `arn:aws:iam::${bob.id}:root` };
    await a[0]!.send(new PutBucketPolicyCommand({ Bucket: 'lock-ret', Policy: policy('lock-ret', { Effect: 'Allow', Principal: bobPrincipal, Action: ['s3:PutObjectRetention', 's3:GetObjectRetention'] }) }));
    await s3failure(b.send(new PutObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'g', Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + DAY_MS / 2) }, BypassGovernanceRetention: true })), 'AccessDenied', 403);
    await b.send(new PutObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'g', Retention: { Mode: 'GOVERNANCE', RetainUntilDate: in2 } }));
    await a[0]!.send(
      new PutBucketPolicyCommand({ Bucket: 'lock-ret', Policy: policy('lock-ret', { Effect: 'Allow', Principal: bobPrincipal, Action: ['s3:PutObjectRetention', 's3:GetObjectRetention', 's3:BypassGovernanceRetention'] }) }),
    );
    const removed = await rawXml('PUT', '/lock-ret/g', { retention: '' }, '<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>', bob);
    assert.equal(removed.status, 403, 'removal without the bypass header');
    const r = await rawRequest(nodes[0]!.endpoint, bob, {
      method: 'PUT',
      path: '/lock-ret/g',
      query: { retention: '' },
      body: Buffer.from('<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'),
      headers: { 'content-md5': createHash('md5').update('<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>').digest('base64'), 'x-amz-bypass-governance-retention': 'true' },
    });
    assert.equal(r.status, 200, r.body.toString());
    await s3failure(a[0]!.send(new GetObjectRetentionCommand({ Bucket: 'lock-ret', Key: 'g' })), 'NoSuchObjectLockConfiguration', 404);

    // Bad documents and dates.
    const pastDoc = '<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>GOVERNANCE</Mode><RetainUntilDate>2001-01-01T00:00:00Z</RetainUntilDate></Retention>';
    const past = await rawXml('PUT', '/lock-ret/g', { retention: '' }, pastDoc);
    assert.equal(past.status, 400);
    assert.match(past.body, /<Code>InvalidArgument<\/Code>/);
    const modeOnly = await rawXml('PUT', '/lock-ret/g', { retention: '' }, '<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>GOVERNANCE</Mode></Retention>');
    assert.match(modeOnly.body, /<Code>MalformedXML<\/Code>/);
    const badHold = await rawXml('PUT', '/lock-ret/g', { 'legal-hold': '' }, '<LegalHold xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>MAYBE</Status></LegalHold>');
    assert.match(badHold.body, /<Code>MalformedXML<\/Code>/);

    // Legal holds: on and off by anyone allowed, on any version.
    await a[0]!.send(new PutObjectLegalHoldCommand({ Bucket: 'lock-ret', Key: 'c', VersionId: v1, LegalHold: { Status: 'ON' } }));
    assert.equal((await a[1]!.send(new GetObjectLegalHoldCommand({ Bucket: 'lock-ret', Key: 'c', VersionId: v1 }))).LegalHold?.Status, 'ON');
    await s3failure(a[1]!.send(new GetObjectLegalHoldCommand({ Bucket: 'lock-ret', Key: 'c' })), 'NoSuchObjectLockConfiguration', 404);
    await s3failure(b.send(new PutObjectLegalHoldCommand({ Bucket: 'lock-ret', Key: 'c', LegalHold: { Status: 'ON' } })), 'AccessDenied', 403);
    await a[0]!.send(new PutObjectLegalHoldCommand({ Bucket: 'lock-ret', Key: 'c', VersionId: v1, LegalHold: { Status: 'OFF' } }));
    assert.equal((await a[1]!.send(new GetObjectLegalHoldCommand({ Bucket: 'lock-ret', Key: 'c', VersionId: v1 }))).LegalHold?.Status, 'OFF');
    // DELETE of the sub-resources is no operation (and never deletes the version).
    for (const sub of ['retention', 'legal-hold']) {
      const r = await rawRequest(nodes[0]!.endpoint, alice, { method: 'DELETE', path: '/lock-ret/c', query: { [sub]: '', versionId: v1 } });
      assert.equal(r.status, 405, sub);
    }
    assert.equal((await a[1]!.send(new GetObjectLegalHoldCommand({ Bucket: 'lock-ret', Key: 'c', VersionId: v1 }))).LegalHold?.Status, 'OFF');
    // A delete marker has no lock.
    const marker = (await a[0]!.send(new DeleteObjectCommand({ Bucket: 'lock-ret', Key: 'c' }))).VersionId;
    await s3failure(a[0]!.send(new PutObjectLegalHoldCommand({ Bucket: 'lock-ret', Key: 'c', VersionId: marker, LegalHold: { Status: 'ON' } })), 'MethodNotAllowed', 405);
  });

  test('bucket policy conditions on s3:object-lock-remaining-retention-days, -mode and -legal-hold', async () => {
    await lockedBucket('lock-pol');
    const days = (n: number): Date => new Date(Date.now() + n * DAY_MS);
    await a[0]!.send(
      new PutBucketPolicyCommand({
        Bucket: 'lock-pol',
        Policy: policy(
          'lock-pol',
          { Effect: 'Deny', Principal: '*', Action: 's3:PutObjectRetention', Condition: { NumericGreaterThan: { 's3:object-lock-remaining-retention-days': '10' } } },
          { Effect: 'Deny', Principal: '*', Action: 's3:PutObjectRetention', Condition: { StringEquals: { 's3:object-lock-mode': 'COMPLIANCE' } } },
          { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${bob.id}:root` }, Action: 's3:PutObjectLegalHold', Condition: { StringEquals: { 's3:object-lock-legal-hold': 'ON' } } },
        ),
      }),
    );
    // Through the write headers.
    await put('lock-pol', 'k', 'x', { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: days(5) });
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'lock-pol', Key: 'k', Body: 'x', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: days(20) })), 'AccessDenied', 403);
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'lock-pol', Key: 'k', Body: 'x', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: days(5) })), 'AccessDenied', 403);
    // Through the documents.
    await a[0]!.send(new PutObjectRetentionCommand({ Bucket: 'lock-pol', Key: 'k', Retention: { Mode: 'GOVERNANCE', RetainUntilDate: days(9) } }));
    await s3failure(a[0]!.send(new PutObjectRetentionCommand({ Bucket: 'lock-pol', Key: 'k', Retention: { Mode: 'GOVERNANCE', RetainUntilDate: days(11) } })), 'AccessDenied', 403);
    assert.ok((await a[0]!.send(new GetObjectRetentionCommand({ Bucket: 'lock-pol', Key: 'k' }))).Retention!.RetainUntilDate!.getTime() < days(10).getTime());
    await b.send(new PutObjectLegalHoldCommand({ Bucket: 'lock-pol', Key: 'k', LegalHold: { Status: 'ON' } }));
    await s3failure(b.send(new PutObjectLegalHoldCommand({ Bucket: 'lock-pol', Key: 'k', LegalHold: { Status: 'OFF' } })), 'AccessDenied', 403);
    assert.equal((await a[0]!.send(new GetObjectLegalHoldCommand({ Bucket: 'lock-pol', Key: 'k' }))).LegalHold?.Status, 'ON');
  });

  test('deletes by version id: refused under retention or legal hold, GOVERNANCE bypassed, delete markers still written; DeleteObjects', async () => {
    await lockedBucket('lock-del');
    const in1 = new Date(Date.now() + DAY_MS);
    const comp = await put('lock-del', 'comp', 'x', { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: in1 });
    const gov = await put('lock-del', 'gov', 'x', { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: in1 });
    const held = await put('lock-del', 'held', 'x', { ObjectLockLegalHoldStatus: 'ON' });
    const soon = await put('lock-del', 'soon', 'x', { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date(Date.now() + 2500) });
    const free = await put('lock-del', 'free', 'x');

    // Without a version id: a delete marker over the protected version.
    const del = await a[1]!.send(new DeleteObjectCommand({ Bucket: 'lock-del', Key: 'comp' }));
    assert.equal(del.DeleteMarker, true);
    assert.equal((await a[1]!.send(new HeadObjectCommand({ Bucket: 'lock-del', Key: 'comp', VersionId: comp }))).ObjectLockMode, 'COMPLIANCE');
    // With it: refused, from any node.
    for (const [key, id] of [['comp', comp], ['gov', gov], ['held', held], ['soon', soon]] as const) {
      const err = await s3failure(a[2]!.send(new DeleteObjectCommand({ Bucket: 'lock-del', Key: key, VersionId: id })), 'AccessDenied', 403);
      assert.match(err.message, /protected by object lock/, key);
    }
    await s3failure(a[0]!.send(new DeleteObjectCommand({ Bucket: 'lock-del', Key: 'comp', VersionId: comp, BypassGovernanceRetention: true })), 'AccessDenied', 403);
    await s3failure(a[0]!.send(new DeleteObjectCommand({ Bucket: 'lock-del', Key: 'held', VersionId: held, BypassGovernanceRetention: true })), 'AccessDenied', 403);
    // Bob, allowed to delete versions but not to bypass.
    const bobPrincipal = { AWS: `arn:aws:iam::${bob.id}:root` };
    await a[0]!.send(new PutBucketPolicyCommand({ Bucket: 'lock-del', Policy: policy('lock-del', { Effect: 'Allow', Principal: bobPrincipal, Action: ['s3:DeleteObjectVersion', 's3:DeleteObject'] }) }));
    await s3failure(b.send(new DeleteObjectCommand({ Bucket: 'lock-del', Key: 'gov', VersionId: gov, BypassGovernanceRetention: true })), 'AccessDenied', 403);
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'lock-del', Key: 'gov', VersionId: gov, BypassGovernanceRetention: true }));
    await s3failure(a[0]!.send(new HeadObjectCommand({ Bucket: 'lock-del', Key: 'gov', VersionId: gov })), undefined, 404);
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'lock-del', Key: 'free', VersionId: free }));
    // The legal hold released: gone.
    await a[0]!.send(new PutObjectLegalHoldCommand({ Bucket: 'lock-del', Key: 'held', LegalHold: { Status: 'OFF' } }));
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'lock-del', Key: 'held', VersionId: held }));
    // The retention run out (by the node's clock): gone.
    await new Promise((resolve) => setTimeout(resolve, 2600));
    await a[1]!.send(new DeleteObjectCommand({ Bucket: 'lock-del', Key: 'soon', VersionId: soon }));

    // DeleteObjects: per key, with the request's bypass.
    const g1 = await put('lock-del', 'm/g1', 'x', { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: in1 });
    const g2 = await put('lock-del', 'm/g2', 'x', { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: in1 });
    const c1 = await put('lock-del', 'm/c1', 'x', { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: in1 });
    const f1 = await put('lock-del', 'm/f1', 'x');
    const objects = [{ Key: 'm/g1', VersionId: g1 }, { Key: 'm/c1', VersionId: c1 }, { Key: 'm/f1', VersionId: f1 }, { Key: 'm/g2' }];
    const first = await a[0]!.send(new DeleteObjectsCommand({ Bucket: 'lock-del', Delete: { Objects: objects } }));
    assert.deepEqual((first.Errors ?? []).map((e) => [e.Key, e.Code]).sort(), [['m/c1', 'AccessDenied'], ['m/g1', 'AccessDenied']]);
    assert.deepEqual((first.Deleted ?? []).map((d) => [d.Key, d.DeleteMarker === true]), [['m/f1', false], ['m/g2', true]]);
    const second = await a[0]!.send(new DeleteObjectsCommand({ Bucket: 'lock-del', BypassGovernanceRetention: true, Delete: { Objects: [{ Key: 'm/g1', VersionId: g1 }, { Key: 'm/c1', VersionId: c1 }] } }));
    assert.deepEqual((second.Errors ?? []).map((e) => [e.Key, e.Code]), [['m/c1', 'AccessDenied']]);
    assert.deepEqual((second.Deleted ?? []).map((d) => d.Key), ['m/g1']);
    const left = await a[2]!.send(new ListObjectVersionsCommand({ Bucket: 'lock-del', Prefix: 'm/' }));
    assert.deepEqual((left.Versions ?? []).map((v) => v.VersionId).sort(), [c1, g2].sort(), 'the COMPLIANCE version and the one under a marker stay');
  });

  test('lifecycle: NoncurrentVersionExpiration leaves versions under retention or legal hold', async () => {
    await lockedBucket('lock-lc');
    const held = await put('lock-lc', 'k', 'held', { ObjectLockLegalHoldStatus: 'ON' });
    const kept = await put('lock-lc', 'k', 'kept', { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: new Date(Date.now() + 30 * DAY_MS) });
    const gone = await put('lock-lc', 'k', 'gone');
    const expires = await put('lock-lc', 'k', 'expires', { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date(Date.now() + DAY_MS) });
    await put('lock-lc', 'k', 'current');
    await a[0]!.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'lock-lc', LifecycleConfiguration: { Rules: [{ ID: 'old', Status: 'Enabled', Filter: {}, NoncurrentVersionExpiration: { NoncurrentDays: 1 } }] } }));
    const sweep = async (at: number): Promise<number> => (await Promise.all(nodes.map((x) => x.s3.lifecycle.sweep({ now: at })))).reduce((sum, r) => sum + r.versions, 0);
    assert.equal(await sweep(Date.now() + 3 * DAY_MS), 2, 'the unlocked version and the one whose retention ran out');
    const left = await a[0]!.send(new ListObjectVersionsCommand({ Bucket: 'lock-lc' }));
    const ids = (left.Versions ?? []).map((v) => v.VersionId);
    assert.ok(ids.includes(held) && ids.includes(kept), 'locked versions stay');
    assert.ok(!ids.includes(gone) && !ids.includes(expires));
    assert.equal(await sweep(Date.now() + 3 * DAY_MS), 0);
  });
});
