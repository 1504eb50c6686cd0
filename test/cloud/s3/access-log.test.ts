/**
 * S3 server access logging on a 3-node loopback ring, through the AWS SDK: PutBucketLogging /
 * GetBucketLogging (round trip, every refusal, disabling), requests through every node
 * (PutObject, GetObject, a 404, an anonymous refusal, DeleteObject) delivered as log objects into
 * the target bucket when each node's buffer is flushed through the ops API, read back and parsed
 * field by field (request ids as the client saw them); the log objects' key format and ACL; a
 * bucket logging into itself (the delivery's writes never make records: no loop); a target that
 * does not let the log delivery write (records dropped and counted); the second record of a copy
 * in its source bucket's log (CopyObject, UploadPartCopy, a failed and an ACL-authorized copy);
 * aclRequired (`Yes` only for a request an ACL grant authorized); the lifecycle's records
 * (expirations, delete markers, aborted uploads, requester AmazonS3).
 *
 * Lifecycle time is driven, never slept: background sweeps are off and the test sweeps with a
 * clock days ahead.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLoggingCommand,
  GetBucketPolicyCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketLoggingCommand,
  PutBucketPolicyCommand,
  PutBucketRequestPaymentCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  CreateBucketCommand,
  S3ServiceException,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { ACCESS_LOG_FIELDS, parseAccessLogLine } from '../../../src/cloud/s3/protocol/access-log.ts';
import { DAY_MS } from '../../../src/cloud/s3/protocol/index.ts';
import { TOKEN, call, waitFor } from '../../node/fixtures.ts';
import { runPi as pi } from '../../helpers/pi-cli.ts';
import { bytes, putXmlDocument, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

type Row = Record<(typeof ACCESS_LOG_FIELDS)[number], string>;

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** A bucket policy letting the log delivery write `prefix*` of `target` for the source bucket `source` of `owner`. */
function deliveryPolicy(target: string, prefix: string, source: string, owner: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'S3ServerAccessLogsPolicy',
        Effect: 'Allow',
        Principal: { Service: 'logging.s3.amazonaws.com' },
        Action: ['s3:PutObject'],
        Resource: `arn:aws:s3:::${target}/${prefix}*`,
        Condition: { ArnLike: { 'aws:SourceArn': `arn:aws:s3:::${source}` }, StringEquals: { 'aws:SourceAccount': owner } },
      },
    ],
  });
}

describe('S3 server access logging on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let bob: TestUser;
  let a: S3Client[];
  let b: S3Client[];
  let anon: S3Client[];

  /** Flushes every node's buffers through the ops API (node 0's with `pi s3 flush-access-logs`); resolves with the log objects written. */
  async function flushAll(): Promise<number> {
    let objects = 0;
    for (const n of nodes.slice(1)) {
      const r = await call(n.ops!.url, '/api/s3/access-log/flush', { method: 'POST' });
      assert.equal(r.status, 200, r.text);
      objects += r.body['objects'] as number;
    }
    const cli = await pi(['--json', 's3', 'flush-access-logs', '--ops', nodes[0]!.ops!.url, '--token', TOKEN]);
    assert.equal(cli.code, 0, cli.out + cli.err);
    objects += (JSON.parse(cli.out) as { objects: number }).objects;
    return objects;
  }

  /** Every record of the log objects under `prefix` in `bucket`, with the keys of the objects. */
  async function readLogs(bucket: string, prefix: string): Promise<{ keys: string[]; rows: Row[] }> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await a[0]!.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.NextContinuationToken;
    } while (token);
    const rows: Row[] = [];
    for (const key of keys) {
      const text = (await bytes((await a[1]!.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body)).toString('utf8');
      assert.ok(text.endsWith('\n'), 'a log object is newline-terminated records');
      for (const line of text.split('\n').filter((l) => l !== '')) {
        const fields = parseAccessLogLine(line);
        assert.equal(fields.length, ACCESS_LOG_FIELDS.length, line);
        rows.push(Object.fromEntries(ACCESS_LOG_FIELDS.map((n, i) => [n, fields[i]])) as Row);
      }
    }
    return { keys, rows };
  }

  /** The request id the client saw for a call that may fail. */
  async function requestIdOf(p: Promise<{ $metadata: { requestId?: string } }>): Promise<string> {
    try {
      return (await p).$metadata.requestId!;
    } catch (err) {
      assert.ok(err instanceof S3ServiceException, String(err));
      return err.$metadata.requestId!;
    }
  }

  /**
   * Logs `bucket` into `audit` (whose ACL lets the log delivery write) under `prefix`, and reads the
   * configuration back through every node, so that every node's cached bucket record has it.
   */
  async function logInto(bucket: string, prefix: string): Promise<void> {
    await a[0]!.send(new PutBucketLoggingCommand({ Bucket: bucket, BucketLoggingStatus: { LoggingEnabled: { TargetBucket: 'audit', TargetPrefix: prefix } } }));
    for (const c of a) assert.equal((await c.send(new GetBucketLoggingCommand({ Bucket: bucket }))).LoggingEnabled?.TargetPrefix, prefix);
  }

  /** Flushes every node until `done` finds what it waits for in the records under `prefix` of `audit`. */
  async function awaitRecords(prefix: string, done: (rows: Row[]) => boolean, what: string): Promise<Row[]> {
    return waitFor(
      async () => {
        await flushAll();
        const { rows } = await readLogs('audit', prefix);
        return done(rows) ? rows : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what },
    );
  }

  before(async () => {
    // Only forced flushes deliver during the test (the periodic one is an hour away); lifecycle
    // sweeps only when the test asks.
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), {
      config: { s3: { accessLog: { flushIntervalMs: 3_600_000 }, lifecycleSweepMs: 0 } },
      buckets: ['src', 'logs', 'self', 'closed-target', 'src2', 'audit', 'cp-src', 'cp-dst', 'acl-b', 'lc-plain', 'lc-ver'],
    });
    ({ nodes, alice, bob, aliceClients: a, bobClients: b, anonymousClients: anon } = fixture);
    await a[0]!.send(new PutBucketPolicyCommand({ Bucket: 'logs', Policy: deliveryPolicy('logs', 'src-logs/', 'src', alice.id) }));
    await a[0]!.send(new PutBucketPolicyCommand({ Bucket: 'self', Policy: deliveryPolicy('self', 'own/', 'self', alice.id) }));
    // `audit` lets the log delivery write through its ACL (the LogDelivery group's WRITE).
    await a[0]!.send(new PutBucketAclCommand({ Bucket: 'audit', GrantWrite: 'uri="http://acs.amazonaws.com/groups/s3/LogDelivery"', GrantFullControl: `id="${alice.id}"` }));
    await b[1]!.send(new CreateBucketCommand({ Bucket: 'bobs' }));
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('PutBucketLogging with a prefix and a grant; GetBucketLogging answers it back from every node', async () => {
    const status = {
      LoggingEnabled: {
        TargetBucket: 'logs',
        TargetPrefix: 'src-logs/',
        TargetGrants: [{ Grantee: { Type: 'CanonicalUser' as const, ID: bob.id }, Permission: 'READ' as const }],
      },
    };
    await a[0]!.send(new PutBucketLoggingCommand({ Bucket: 'src', BucketLoggingStatus: status }));
    for (const c of a) {
      const got = await c.send(new GetBucketLoggingCommand({ Bucket: 'src' }));
      assert.equal(got.LoggingEnabled?.TargetBucket, 'logs');
      assert.equal(got.LoggingEnabled?.TargetPrefix, 'src-logs/');
      assert.deepEqual(got.LoggingEnabled?.TargetGrants, [{ Grantee: { Type: 'CanonicalUser', ID: bob.id, DisplayName: 'bob' }, Permission: 'READ' }]);
      assert.equal(got.LoggingEnabled?.TargetObjectKeyFormat, undefined);
    }
    // Only the owner reads or sets it.
    await s3failure(b[0]!.send(new GetBucketLoggingCommand({ Bucket: 'src' })), 'AccessDenied', 403);
    await s3failure(b[0]!.send(new PutBucketLoggingCommand({ Bucket: 'src', BucketLoggingStatus: {} })), 'AccessDenied', 403);
  });

  test('requests through every node are delivered as log records into the target bucket, field by field', async () => {
    const body = 'hello access log';
    const put = await requestIdOf(a[0]!.send(new PutObjectCommand({ Bucket: 'src', Key: 'dir/one file.txt', Body: body })));
    const get = await requestIdOf(a[1]!.send(new GetObjectCommand({ Bucket: 'src', Key: 'dir/one file.txt' })).then(async (r) => (await bytes(r.Body), r)));
    const missing = await requestIdOf(a[2]!.send(new GetObjectCommand({ Bucket: 'src', Key: 'missing' })));
    const denied = await requestIdOf(anon[0]!.send(new GetObjectCommand({ Bucket: 'src', Key: 'dir/one file.txt' })));
    const del = await requestIdOf(a[1]!.send(new DeleteObjectCommand({ Bucket: 'src', Key: 'dir/one file.txt' })));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'src', Key: 'batch/a', Body: 'a' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'src', Key: 'batch/b c', Body: 'b' }));
    const multi = await requestIdOf(a[2]!.send(new DeleteObjectsCommand({ Bucket: 'src', Delete: { Objects: [{ Key: 'batch/a' }, { Key: 'batch/b c' }] } })));
    const ids = [put, get, missing, denied, del, multi];
    assert.equal(new Set(ids).size, 6);
    const found = await waitFor(
      async () => {
        await flushAll();
        const { keys, rows } = await readLogs('logs', 'src-logs/');
        return ids.every((id) => rows.some((r) => r.requestId === id)) ? { keys, rows } : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the six requests in the delivered access logs' },
    );
    for (const key of found.keys) assert.match(key, /^src-logs\/\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-F]{16}$/);
    const row = (id: string): Row => found.rows.find((r) => r.requestId === id && !r.operation.startsWith('BATCH.'))!;
    for (const id of ids) {
      const r = row(id);
      assert.equal(r.bucketOwner, alice.id);
      assert.equal(r.bucket, 'src');
      assert.match(r.time, /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
      assert.equal(r.remoteIp, '127.0.0.1');
      assert.equal(r.hostId, id);
      assert.match(r.totalTime, /^\d+$/);
      assert.match(r.userAgent, /aws-sdk-js/);
      assert.match(r.hostHeader, /^127\.0\.0\.1:\d+$/);
      assert.equal(r.cipherSuite, '-');
      assert.equal(r.tlsVersion, '-');
      assert.equal(r.accessPointArn, '-');
    }
    const p = row(put);
    assert.deepEqual([p.operation, p.key, p.status, p.errorCode, p.requester, p.bytesSent, p.objectSize, p.signatureVersion, p.authType], ['REST.PUT.OBJECT', 'dir/one%20file.txt', '200', '-', alice.id, '-', String(body.length), 'SigV4', 'AuthHeader']);
    assert.match(p.requestUri, /^PUT \/src\/dir\/one%20file\.txt(\?.*)? HTTP\/1\.1$/);
    const g = row(get);
    assert.deepEqual([g.operation, g.key, g.status, g.errorCode, g.requester, g.bytesSent, g.objectSize, g.signatureVersion, g.authType], ['REST.GET.OBJECT', 'dir/one%20file.txt', '200', '-', alice.id, String(body.length), String(body.length), 'SigV4', 'AuthHeader']);
    const m = row(missing);
    assert.deepEqual([m.operation, m.key, m.status, m.errorCode, m.requester], ['REST.GET.OBJECT', 'missing', '404', 'NoSuchKey', alice.id]);
    assert.notEqual(m.bytesSent, '-', 'the error document was sent');
    const d = row(denied);
    assert.deepEqual([d.operation, d.status, d.errorCode, d.requester, d.signatureVersion, d.authType], ['REST.GET.OBJECT', '403', 'AccessDenied', '-', '-', '-']);
    const x = row(del);
    assert.deepEqual([x.operation, x.key, x.status, x.errorCode, x.requester, x.bytesSent], ['REST.DELETE.OBJECT', 'dir/one%20file.txt', '204', '-', alice.id, '-']);
    // DeleteObjects: its own record, and one BATCH.DELETE.OBJECT per object deleted, as S3 logs them.
    assert.equal(row(multi).operation, 'REST.POST.MULTI_OBJECT_DELETE');
    const batch = found.rows.filter((r) => r.requestId === multi && r.operation === 'BATCH.DELETE.OBJECT');
    assert.deepEqual(batch.map((r) => [r.key, r.status, r.requester]).sort(), [['batch/a', '204', alice.id], ['batch/b%20c', '204', alice.id]]);
    // The log objects are the target owner's, with the TargetGrants: bob may read them.
    const acl = await a[0]!.send(new GetObjectAclCommand({ Bucket: 'logs', Key: found.keys[0]! }));
    assert.equal(acl.Owner?.ID, alice.id);
    assert.ok(acl.Grants?.some((gr) => gr.Grantee?.ID === alice.id && gr.Permission === 'FULL_CONTROL'));
    assert.ok(acl.Grants?.some((gr) => gr.Grantee?.ID === bob.id && gr.Permission === 'READ'));
    await bytes((await b[2]!.send(new GetObjectCommand({ Bucket: 'logs', Key: found.keys[0]! }))).Body);
    // The counters saw it.
    const total = (name: string): number => nodes.reduce((sum, n) => sum + n.s3.metrics().filter((f) => f.name === name).reduce((s, f) => s + f.values.reduce((v, e) => v + e.value, 0), 0), 0);
    assert.ok(total('pi_s3_access_log_records_total') >= 5);
    assert.ok(total('pi_s3_access_log_objects_total') >= 1);
  });

  test('a bucket logging into itself: the delivery writes make no records, so nothing loops', async () => {
    await a[0]!.send(new PutBucketLoggingCommand({ Bucket: 'self', BucketLoggingStatus: { LoggingEnabled: { TargetBucket: 'self', TargetPrefix: 'own/', TargetObjectKeyFormat: { PartitionedPrefix: { PartitionDateSource: 'EventTime' } } } } }));
    const got = await a[2]!.send(new GetBucketLoggingCommand({ Bucket: 'self' }));
    assert.deepEqual(got.LoggingEnabled?.TargetObjectKeyFormat, { PartitionedPrefix: { PartitionDateSource: 'EventTime' } });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await requestIdOf(a[i]!.send(new PutObjectCommand({ Bucket: 'self', Key: `data/${i}`, Body: `v${i}` }))));
    const first = await waitFor(
      async () => {
        await flushAll();
        const logs = await readLogs('self', 'own/');
        return ids.every((id) => logs.rows.some((r) => r.requestId === id)) ? logs : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the three PUTs in the self-delivered logs' },
    );
    for (const key of first.keys) assert.match(key, new RegExp(`^own/${alice.id}/us-east-1/self/\\d{4}/\\d{2}/\\d{2}/\\d{4}-\\d{2}-\\d{2}-\\d{2}-\\d{2}-\\d{2}-[0-9A-F]{16}$`));
    // Flush again and again with nobody writing: only the test's own reads of the logs appear, never a log object's write.
    const seen = new Set(first.rows.map((r) => r.requestId));
    for (let round = 0; round < 3; round++) {
      await flushAll();
      const logs = await readLogs('self', 'own/');
      assert.ok(!logs.rows.some((r) => r.operation === 'REST.PUT.OBJECT' && r.key.startsWith('own/')), 'no record of a log delivery write');
      const added = logs.rows.filter((r) => !seen.has(r.requestId));
      // At most the previous round's list and reads (one list page plus one GET per log object).
      assert.ok(added.length <= 1 + logs.keys.length, `round ${round}: ${added.length} new records`);
      assert.ok(added.every((r) => r.operation === 'REST.GET.BUCKET' || r.operation === 'REST.GET.OBJECT'), `only the reads of the test: ${added.map((r) => r.operation).join(', ')}`);
      for (const r of logs.rows) seen.add(r.requestId);
    }
  });

  test('a target that does not let the log delivery write gets nothing; the records are dropped and counted', async () => {
    await a[0]!.send(new PutBucketLoggingCommand({ Bucket: 'src2', BucketLoggingStatus: { LoggingEnabled: { TargetBucket: 'closed-target', TargetPrefix: '' } } }));
    await a[1]!.send(new PutObjectCommand({ Bucket: 'src2', Key: 'k', Body: 'x' }));
    const dropped = (): number => nodes.reduce((sum, n) => sum + (n.s3.metrics().find((f) => f.name === 'pi_s3_access_log_dropped_total')?.values.find((v) => v.labels?.['reason'] === 'access_denied')?.value ?? 0), 0);
    await waitFor(
      async () => {
        await flushAll();
        return dropped() >= 1;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the refused delivery counted' },
    );
    const listed = await a[0]!.send(new ListObjectsV2Command({ Bucket: 'closed-target' }));
    assert.equal(listed.KeyCount, 0);
  });

  test('a target made Requester Pays after logging was set up takes no more logs: the records are dropped', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'rp-target' }));
    await a[0]!.send(new PutBucketAclCommand({ Bucket: 'rp-target', GrantWrite: 'uri="http://acs.amazonaws.com/groups/s3/LogDelivery"', GrantFullControl: `id="${alice.id}"` }));
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'rp-src' }));
    await a[0]!.send(new PutBucketLoggingCommand({ Bucket: 'rp-src', BucketLoggingStatus: { LoggingEnabled: { TargetBucket: 'rp-target', TargetPrefix: '' } } }));
    await a[0]!.send(new PutBucketRequestPaymentCommand({ Bucket: 'rp-target', RequestPaymentConfiguration: { Payer: 'Requester' } }));
    const dropped = (): number => nodes.reduce((sum, n) => sum + (n.s3.metrics().find((f) => f.name === 'pi_s3_access_log_dropped_total')?.values.find((v) => v.labels?.['reason'] === 'access_denied')?.value ?? 0), 0);
    const before = dropped();
    // Each round logs a request and delivers it; a node's cached record of the target learns of
    // the setting within s3.cacheMs, after which its deliveries are refused.
    let round = 0;
    await waitFor(
      async () => {
        await a[round++ % a.length]!.send(new PutObjectCommand({ Bucket: 'rp-src', Key: `k${round}`, Body: 'x' }));
        await flushAll();
        return dropped() > before;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'a delivery to the Requester Pays target refused' },
    );
  });

  test("a copy makes a second record in its source bucket's log: REST.COPY.OBJECT_GET / REST.COPY.PART_GET with the source key, version and size", async () => {
    // Versioning first: logInto then refreshes every node's cached record (it reads it afresh).
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'cp-src', VersioningConfiguration: { Status: 'Enabled' } }));
    await logInto('cp-src', 'cp-src/');
    await logInto('cp-dst', 'cp-dst/');
    const body = 'copy me';
    const put = await a[0]!.send(new PutObjectCommand({ Bucket: 'cp-src', Key: 'orig file.txt', Body: body }));
    const version = put.VersionId!;
    await a[0]!.send(new PutObjectCommand({ Bucket: 'cp-src', Key: 'for bob', Body: 'bob may read', GrantRead: `id="${bob.id}"` }));
    const source = `cp-src/${encodeURIComponent('orig file.txt')}`;
    const copy = await requestIdOf(a[1]!.send(new CopyObjectCommand({ Bucket: 'cp-dst', Key: 'copy.txt', CopySource: source })));
    const upload = await a[2]!.send(new CreateMultipartUploadCommand({ Bucket: 'cp-dst', Key: 'assembled' }));
    const part = await requestIdOf(
      a[2]!.send(new UploadPartCopyCommand({ Bucket: 'cp-dst', Key: 'assembled', UploadId: upload.UploadId!, PartNumber: 1, CopySource: `${source}?versionId=${version}`, CopySourceRange: 'bytes=0-3' })),
    );
    const missing = await requestIdOf(a[0]!.send(new CopyObjectCommand({ Bucket: 'cp-dst', Key: 'never', CopySource: 'cp-src/missing' })));
    // Bob reads the source only through its ACL's grant, and copies into his own bucket (which does not log).
    const byBob = await requestIdOf(b[1]!.send(new CopyObjectCommand({ Bucket: 'bobs', Key: 'mine', CopySource: `cp-src/${encodeURIComponent('for bob')}` })));
    const ids = [copy, part, missing, byBob];
    const sourceRows = await awaitRecords('cp-src/', (rows) => ids.every((id) => rows.some((r) => r.requestId === id)), "the copies' source records");
    const destRows = await awaitRecords('cp-dst/', (rows) => [copy, part, missing].every((id) => rows.some((r) => r.requestId === id)), "the copies' own records");
    const only = (rows: Row[], id: string): Row => {
      const found = rows.filter((r) => r.requestId === id);
      assert.equal(found.length, 1, `one record of ${id}: ${found.map((r) => r.operation).join(', ')}`);
      return found[0]!;
    };
    // The destination's log has the copies' own records, the source's log only their GET parts.
    assert.deepEqual([only(destRows, copy).operation, only(destRows, part).operation, only(destRows, missing).operation], ['REST.COPY.OBJECT', 'REST.COPY.PART', 'REST.COPY.OBJECT']);
    const g = only(sourceRows, copy);
    assert.deepEqual(
      [g.bucketOwner, g.bucket, g.operation, g.key, g.status, g.errorCode, g.bytesSent, g.objectSize, g.versionId, g.requester, g.remoteIp, g.aclRequired],
      [alice.id, 'cp-src', 'REST.COPY.OBJECT_GET', 'orig%20file.txt', '200', '-', '-', String(body.length), '-', alice.id, '127.0.0.1', '-'],
    );
    // No request line or times of its own (S3 writes "-"); the rest is the copy request's.
    assert.deepEqual([g.requestUri, g.totalTime, g.turnAroundTime, g.hostId, g.signatureVersion], ['-', '-', '-', copy, 'SigV4']);
    assert.match(g.userAgent, /aws-sdk-js/);
    const p = only(sourceRows, part);
    assert.deepEqual([p.operation, p.key, p.status, p.objectSize, p.versionId, p.requester], ['REST.COPY.PART_GET', 'orig%20file.txt', '200', String(body.length), version, alice.id]);
    const m = only(sourceRows, missing);
    assert.deepEqual([m.operation, m.key, m.status, m.errorCode, m.objectSize], ['REST.COPY.OBJECT_GET', 'missing', '404', 'NoSuchKey', '-']);
    const x = only(sourceRows, byBob);
    assert.deepEqual([x.operation, x.key, x.status, x.requester, x.bucketOwner, x.aclRequired], ['REST.COPY.OBJECT_GET', 'for%20bob', '200', bob.id, alice.id, 'Yes']);
  });

  test('aclRequired: Yes exactly for a request an ACL grant authorized; - for the owner, a bucket policy Allow and a refusal', async () => {
    await logInto('acl-b', 'acl/');
    await a[0]!.send(new PutBucketAclCommand({ Bucket: 'acl-b', GrantWrite: `id="${bob.id}"`, GrantFullControl: `id="${alice.id}"` }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'acl-b', Key: 'granted', Body: 'g', GrantRead: `id="${bob.id}"` }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'acl-b', Key: 'public', Body: 'p', ACL: 'public-read' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'acl-b', Key: 'both', Body: 'b', GrantRead: `id="${bob.id}"` }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'acl-b', Key: 'private', Body: 'x' }));
    const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: bob.id }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::acl-b/both' }] };
    await a[0]!.send(new PutBucketPolicyCommand({ Bucket: 'acl-b', Policy: JSON.stringify(policy) }));
    // Every node's cached bucket record has the policy (GetBucketPolicy reads it afresh).
    for (const c of a) await c.send(new GetBucketPolicyCommand({ Bucket: 'acl-b' }));
    const get = (c: S3Client, key: string): Promise<string> => requestIdOf(c.send(new GetObjectCommand({ Bucket: 'acl-b', Key: key })).then(async (r) => (await bytes(r.Body), r)));
    const expected: [string, string][] = [
      [await get(a[1]!, 'granted'), '-'], // the owner
      [await get(b[2]!, 'granted'), 'Yes'], // bob, by the object's READ grant
      [await get(anon[0]!, 'public'), 'Yes'], // anonymous, by public-read
      [await get(b[0]!, 'both'), '-'], // the policy allows: the grant was not needed
      [await get(b[1]!, 'private'), '-'], // refused
      [await requestIdOf(b[1]!.send(new PutObjectCommand({ Bucket: 'acl-b', Key: 'from bob', Body: 'b' }))), 'Yes'], // the bucket's WRITE grant
      [await requestIdOf(a[2]!.send(new PutObjectCommand({ Bucket: 'acl-b', Key: 'from alice', Body: 'a' }))), '-'],
    ];
    const rows = await awaitRecords('acl/', (all) => expected.every(([id]) => all.some((r) => r.requestId === id)), 'the aclRequired requests');
    const statuses = expected.map(([id]) => rows.find((r) => r.requestId === id)!.status);
    assert.deepEqual(statuses, ['200', '200', '200', '200', '403', '200', '200']);
    assert.deepEqual(
      expected.map(([id]) => rows.find((r) => r.requestId === id)!.aclRequired),
      expected.map(([, want]) => want),
    );
  });

  test("the lifecycle's actions are logged: S3.EXPIRE.OBJECT, S3.CREATE.DELETEMARKER, S3.DELETE.UPLOAD, requester AmazonS3", async () => {
    // Versioning first: logInto then refreshes every node's cached record (it reads it afresh).
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'lc-ver', VersioningConfiguration: { Status: 'Enabled' } }));
    await logInto('lc-plain', 'lc-plain/');
    await logInto('lc-ver', 'lc-ver/');
    await a[0]!.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: 'lc-plain',
        LifecycleConfiguration: {
          Rules: [
            { ID: 'tmp', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 1 } },
            { ID: 'uploads', Status: 'Enabled', Filter: { Prefix: '' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
          ],
        },
      }),
    );
    await a[0]!.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: 'lc-ver',
        LifecycleConfiguration: {
          Rules: [
            { ID: 'tmp', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 1 } },
            { ID: 'old', Status: 'Enabled', Filter: { Prefix: 'gone/' }, NoncurrentVersionExpiration: { NoncurrentDays: 1 } },
            { ID: 'markers', Status: 'Enabled', Filter: { Prefix: 'gone/' }, Expiration: { ExpiredObjectDeleteMarker: true } },
          ],
        },
      }),
    );
    await a[1]!.send(new PutObjectCommand({ Bucket: 'lc-plain', Key: 'tmp/plain file', Body: 'five!' }));
    await a[1]!.send(new PutObjectCommand({ Bucket: 'lc-plain', Key: 'kept', Body: 'stays' }));
    await a[2]!.send(new CreateMultipartUploadCommand({ Bucket: 'lc-plain', Key: 'tmp/upload' }));
    const current = (await a[1]!.send(new PutObjectCommand({ Bucket: 'lc-ver', Key: 'tmp/a', Body: 'versioned' }))).VersionId!;
    const gone = (await a[2]!.send(new PutObjectCommand({ Bucket: 'lc-ver', Key: 'gone/x', Body: 'old' }))).VersionId!;
    const goneMarker = (await a[2]!.send(new DeleteObjectCommand({ Bucket: 'lc-ver', Key: 'gone/x' }))).VersionId!;
    const now = Date.now() + 3 * DAY_MS;
    const lifecycle = (rows: Row[]): Row[] => rows.filter((r) => r.requester === 'AmazonS3');
    const find = (rows: Row[], operation: string, key: string, versionId?: string): Row | undefined =>
      rows.find((r) => r.operation === operation && r.key === key && (versionId === undefined || r.versionId === versionId));
    await Promise.all(nodes.map((n) => n.s3.lifecycle.sweep({ now })));
    const plain = lifecycle(
      await awaitRecords('lc-plain/', (rows) => find(rows, 'S3.EXPIRE.OBJECT', 'tmp/plain%20file') !== undefined && find(rows, 'S3.DELETE.UPLOAD', 'tmp/upload') !== undefined, "the unversioned bucket's lifecycle records"),
    );
    assert.equal(plain.length, 2, plain.map((r) => `${r.operation} ${r.key}`).join('; '));
    for (const r of plain) {
      assert.deepEqual(
        [r.bucketOwner, r.bucket, r.remoteIp, r.requestUri, r.status, r.errorCode, r.bytesSent, r.signatureVersion, r.authType, r.aclRequired],
        [alice.id, 'lc-plain', '-', '-', '-', '-', '-', '-', '-', '-'],
      );
      assert.match(r.requestId, /^[0-9A-F]{16}$/);
    }
    const expired = find(plain, 'S3.EXPIRE.OBJECT', 'tmp/plain%20file')!;
    assert.deepEqual([expired.objectSize, expired.versionId], ['5', '-']);
    assert.equal(find(plain, 'S3.DELETE.UPLOAD', 'tmp/upload')!.versionId, '-');
    // Versioned: a delete marker over tmp/a; gone/x's noncurrent version, then its lone marker, removed for good.
    const versioned = await waitFor(
      async () => {
        await Promise.all(nodes.map((n) => n.s3.lifecycle.sweep({ now })));
        await flushAll();
        const rows = lifecycle((await readLogs('audit', 'lc-ver/')).rows);
        return find(rows, 'S3.CREATE.DELETEMARKER', 'tmp/a') && find(rows, 'S3.EXPIRE.OBJECT', 'gone/x', gone) && find(rows, 'S3.EXPIRE.OBJECT', 'gone/x', goneMarker) ? rows : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: "the versioned bucket's lifecycle records" },
    );
    const listed = await a[0]!.send(new ListObjectVersionsCommand({ Bucket: 'lc-ver', Prefix: 'tmp/a' }));
    const marker = listed.DeleteMarkers?.find((d) => d.IsLatest)?.VersionId;
    assert.ok(marker !== undefined && marker !== current, 'tmp/a is hidden by a new delete marker');
    assert.equal(find(versioned, 'S3.CREATE.DELETEMARKER', 'tmp/a')!.versionId, marker, "the record names the marker's version id");
    assert.equal(find(versioned, 'S3.EXPIRE.OBJECT', 'gone/x', gone)!.objectSize, '3');
    assert.ok(versioned.every((r) => r.bucket === 'lc-ver' && r.status === '-' && r.remoteIp === '-'));
    assert.equal(versioned.filter((r) => r.key === 'tmp/a').length, 1, 'tmp/a: only its delete marker (its version is kept)');
  });

  test('PutBucketLogging refusals: a missing target, another owner, not the owner, malformed XML, no Content-MD5; an empty status disables', async () => {
    const enable = (bucket: string, target: string): PutBucketLoggingCommand => new PutBucketLoggingCommand({ Bucket: bucket, BucketLoggingStatus: { LoggingEnabled: { TargetBucket: target, TargetPrefix: 'p/' } } });
    const missing = await s3failure(a[0]!.send(enable('src', 'no-such-target')), 'InvalidTargetBucketForLogging', 400);
    assert.equal(missing.message, 'The target bucket for logging does not exist');
    const other = await s3failure(a[0]!.send(enable('src', 'bobs')), 'InvalidTargetBucketForLogging', 400);
    assert.equal(other.message, 'The owner for the bucket to be logged and the target bucket must be the same.');
    await s3failure(b[1]!.send(enable('src', 'bobs')), 'AccessDenied', 403);
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'paid-logs' }));
    await a[0]!.send(new PutBucketRequestPaymentCommand({ Bucket: 'paid-logs', RequestPaymentConfiguration: { Payer: 'Requester' } }));
    const paid = await s3failure(a[1]!.send(enable('src', 'paid-logs')), 'InvalidTargetBucketForLogging', 400);
    assert.match(paid.message, /Requester Pays/);
    const endpoint = nodes[2]!.endpoint;
    const bad = await putXmlDocument(endpoint, alice, '/src', 'logging', `<BucketLoggingStatus xmlns="${XMLNS}"><LoggingEnabled><TargetPrefix>p/</TargetPrefix></LoggingEnabled></BucketLoggingStatus>`);
    assert.deepEqual([bad.status, bad.code], [400, 'MalformedXML']);
    const notXml = await putXmlDocument(endpoint, alice, '/src', 'logging', '<BucketLoggingStatus');
    assert.deepEqual([notXml.status, notXml.code], [400, 'MalformedXML']);
    const noMd5 = await putXmlDocument(endpoint, alice, '/src', 'logging', `<BucketLoggingStatus xmlns="${XMLNS}"/>`, false);
    assert.deepEqual([noMd5.status, noMd5.code], [400, 'InvalidRequest']);
    // The configuration is unchanged by the refusals.
    assert.equal((await a[1]!.send(new GetBucketLoggingCommand({ Bucket: 'src' }))).LoggingEnabled?.TargetBucket, 'logs');
    // An empty BucketLoggingStatus disables logging.
    const off = await putXmlDocument(endpoint, alice, '/src', 'logging', `<BucketLoggingStatus xmlns="${XMLNS}"/>`);
    assert.equal(off.status, 200);
    for (const c of a) assert.equal((await c.send(new GetBucketLoggingCommand({ Bucket: 'src' }))).LoggingEnabled, undefined);
  });
});
