/**
 * `pi s3 buckets` and `GET /api/s3/buckets` on a 3-node ring: every bucket of the ring with its
 * owner and settings, paged; with usage, the current objects and the noncurrent versions of each
 * with their bytes (delete markers not counted), replication destinations, a count stopped at its bound, bad parameters
 * refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, DeleteObjectCommand, PutBucketReplicationCommand, PutBucketRequestPaymentCommand, PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { TOKEN, call } from '../../node/fixtures.ts';
import { startS3Fixture } from './harness.ts';
import type { S3Node } from './harness.ts';
import { runPi as pi } from '../../helpers/pi-cli.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

interface Row {
  name: string;
  owner: string;
  versioning: string;
  requesterPays: boolean;
  replicatesTo: string[];
  indexShards: number;
  objects?: number;
  bytes?: number;
  noncurrentVersions?: number;
  noncurrentBytes?: number;
  truncated?: boolean;
}

describe('the buckets of the ring (pi s3 buckets)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let a: S3Client;
  let b: S3Client;

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['inv-photos', 'inv-empty'] });
    nodes = fixture.nodes;
    a = fixture.aliceClients[0]!;
    b = fixture.bobClients[1]!;
    await b.send(new CreateBucketCommand({ Bucket: 'inv-logs' }));
    await a.send(new PutBucketVersioningCommand({ Bucket: 'inv-photos', VersioningConfiguration: { Status: 'Enabled' } }));
    for (const [key, size] of [['one', 1000], ['two', 20_000], ['three', 300_000]] as const) {
      await a.send(new PutObjectCommand({ Bucket: 'inv-photos', Key: key, Body: Buffer.alloc(size, 1) }));
    }
    await a.send(new PutObjectCommand({ Bucket: 'inv-photos', Key: 'two', Body: Buffer.alloc(5, 2) })); // the old version is noncurrent
    await a.send(new DeleteObjectCommand({ Bucket: 'inv-photos', Key: 'three' })); // a delete marker
    await b.send(new PutObjectCommand({ Bucket: 'inv-logs', Key: 'log', Body: 'x'.repeat(70) }));
    await b.send(new PutBucketRequestPaymentCommand({ Bucket: 'inv-logs', RequestPaymentConfiguration: { Payer: 'Requester' } }));
    // After the writes: inv-empty stays empty.
    await a.send(new PutBucketVersioningCommand({ Bucket: 'inv-empty', VersioningConfiguration: { Status: 'Enabled' } }));
    const replicate = { Role: 'arn:aws:iam::1:role/r', Rules: [{ Priority: 1, Status: 'Enabled' as const, Filter: { Prefix: '' }, Destination: { Bucket: 'arn:aws:s3:::inv-empty' }, DeleteMarkerReplication: { Status: 'Disabled' as const } }] };
    await a.send(new PutBucketReplicationCommand({ Bucket: 'inv-photos', ReplicationConfiguration: replicate }));
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('every bucket with its owner and settings; with --usage, current objects and bytes', async () => {
    const target = ['--ops', nodes[2]!.ops!.url, '--token', TOKEN];
    const listed = await pi(['--json', 's3', 'buckets', ...target]);
    assert.equal(listed.code, 0, listed.out);
    const rows = (JSON.parse(listed.out) as { buckets: Row[] }).buckets;
    assert.deepEqual(rows.map((r) => [r.name, r.owner, r.versioning]), [['inv-empty', 'alice', 'Enabled'], ['inv-logs', 'bob', 'Unversioned'], ['inv-photos', 'alice', 'Enabled']]);
    assert.equal(rows[0]!.objects, undefined, 'no usage unless asked');
    assert.deepEqual(rows.map((r) => r.requesterPays), [false, true, false]);
    assert.deepEqual(rows.map((r) => r.replicatesTo), [[], [], ['inv-empty']]);
    assert.deepEqual(rows.map((r) => r.indexShards), [4, 4, 4], 'the index shards the test ring gives new buckets');

    const counted = (JSON.parse((await pi(['--json', 's3', 'buckets', '--usage', ...target])).out) as { buckets: Row[] }).buckets;
    assert.deepEqual(
      counted.map((r) => [r.name, r.objects, r.bytes, r.noncurrentVersions, r.noncurrentBytes, r.truncated]),
      [
        ['inv-empty', 0, 0, 0, 0, false],
        ['inv-logs', 1, 70, 0, 0, false],
        // one (1000 B) and two's new version (5 B) are current; two's old version and three (behind its delete marker) are not.
        ['inv-photos', 2, 1005, 2, 320_000, false],
      ],
      'current objects and noncurrent versions apart; delete markers in neither',
    );
    const text = (await pi(['s3', 'buckets', '--usage', ...target])).out;
    assert.match(text, /BUCKET\s+OWNER\s+REGION\s+CREATED\s+OBJECTS\s+SIZE\s+OLD VERSIONS\s+THEIR SIZE\s+SETTINGS/);
    assert.match(text, /inv-photos\s+alice\s+us-east-1\s+\S+ \S+\s+2\s+1005 B\s+2\s+312\.5 KiB\s+versioning Enabled, 4 index shards, replicates to inv-empty/);
    assert.match(text, /inv-logs\s+bob\s+\S+\s+\S+ \S+\s+1\s+70 B\s+0\s+0 B\s+requester pays/, 'sizes under 1 KiB in bytes');
    assert.match(text, /3 buckets, 3 objects/);

    const bounded = (JSON.parse((await pi(['--json', 's3', 'buckets', '--usage', '--max-objects', '1', ...target])).out) as { buckets: Row[] }).buckets;
    assert.deepEqual(bounded.find((r) => r.name === 'inv-photos')?.truncated, true, 'a count stopped at its bound says so');
  });

  test('the API pages by name and refuses bad parameters', async () => {
    const url = nodes[0]!.ops!.url;
    const first = await call(url, '/api/s3/buckets?limit=2');
    assert.equal(first.status, 200);
    assert.deepEqual((first.body['buckets'] as Row[]).map((r) => r.name), ['inv-empty', 'inv-logs']);
    assert.equal(first.body['next'], 'inv-logs');
    const second = await call(url, '/api/s3/buckets?limit=2&after=inv-logs');
    assert.deepEqual((second.body['buckets'] as Row[]).map((r) => r.name), ['inv-photos']);
    assert.equal(second.body['next'], undefined);
    for (const bad of ['limit=0', 'limit=1001', 'limit=x', 'usage=yes', 'maxObjects=0']) {
      const r = await call(url, `/api/s3/buckets?${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal(r.body['code'] ?? (r.body['error'] as { code?: string } | undefined)?.code, 'InvalidArgument', `${bad}: ${r.text}`);
    }
  });
});
