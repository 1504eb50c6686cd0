/**
 * Bucket replication through the AWS SDK on a 3-node loopback ring: the configuration
 * operations and their refusals, versions replicated with their version ids, bytes, metadata
 * and tags (inline, chunked, multipart, SSE-C and SSE-KMS objects), replication status headers, delete markers,
 * filters, later tag and ACL changes, existing versions (`pi s3 replicate-existing`), a
 * destination that cannot take replicas (FAILED), and a version whose replication
 * was not run at write time, replicated by another node's sweep from the durable queue; last, a
 * node crash while versions are being replicated.
 *
 * The background sweep is off (`replicationSweepMs: 0`); tests run it themselves.
 */
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketReplicationCommand,
  DeleteObjectCommand,
  GetBucketReplicationCommand,
  DeleteObjectTaggingCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketReplicationCommand,
  PutBucketVersioningCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { ReplicationConfiguration, S3Client } from '@aws-sdk/client-s3';
import { eachLimited } from '../../../src/cloud/s3/catalog.ts';
import { replicationPartitions, shardOfKey } from '../../../src/cloud/s3/index-shards.ts';
import type { ReplicationTask } from '../../../src/cloud/s3/replication.ts';
import { bytes, pattern, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node } from './harness.ts';
import { waitFor } from '../../helpers/wait.ts';
import { TOKEN, call, tempDir } from '../../node/fixtures.ts';
import { runPi as pi } from '../../helpers/pi-cli.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const MiB = 1024 * 1024;
const ROLE = 'arn:aws:iam::123456789012:role/pi-replication';

/** A V2 rule replicating `prefix` to `destination`. */
function rule(id: string, priority: number, destination: string, options: { prefix?: string; tag?: { Key: string; Value: string }; markers?: boolean } = {}): NonNullable<ReplicationConfiguration['Rules']>[number] {
  const filter = options.tag ? { And: { Prefix: options.prefix ?? '', Tags: [options.tag] } } : { Prefix: options.prefix ?? '' };
  return { ID: id, Priority: priority, Status: 'Enabled', Filter: filter, Destination: { Bucket: `arn:aws:s3:::${destination}` }, DeleteMarkerReplication: { Status: options.markers ? 'Enabled' : 'Disabled' } };
}

describe('S3 bucket replication through the AWS SDK on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  /** Alice's client on each node. */
  let a: S3Client[];
  let b: S3Client;

  async function versionedBucket(name: string, client = a[0]!): Promise<void> {
    await client.send(new CreateBucketCommand({ Bucket: name }));
    await client.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }));
  }

  async function status(bucket: string, key: string, versionId?: string, client = a[2]!): Promise<string | undefined> {
    return (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }))).ReplicationStatus;
  }

  /** Waits until the source version's status is `expected` (replication runs in the background). */
  async function settled(bucket: string, key: string, versionId: string, expected = 'COMPLETED'): Promise<void> {
    await waitFor(async () => (await status(bucket, key, versionId)) === expected, { timeoutMs: 15_000, what: `${bucket}/${key} ${expected}` });
  }

  before(async () => {
    // A master key on every node (SSE-KMS keys are wrapped under it); encryption headers allowed over plain HTTP.
    const keyFile = join(await tempDir((fn) => cleanups.push(fn), 'pi-repl-key-'), 'master.key');
    await writeFile(keyFile, randomBytes(32));
    const s3 = { replicationSweepMs: 0, lifecycleSweepMs: 0, allowSseCustomerKeysOverHttp: true, sseMasterKeyFile: keyFile, kms: { autoCreateKeys: true } };
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { config: { s3 } });
    ({ nodes, aliceClients: a } = fixture);
    b = fixture.bobClients[0]!;
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('PutBucketReplication / GetBucketReplication / DeleteBucketReplication and their refusals', async () => {
    await versionedBucket('rcfg-src');
    await versionedBucket('rcfg-dst');
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'rcfg-plain' }));
    await versionedBucket('rcfg-bob', b);
    const config = (destination: string): ReplicationConfiguration => ({ Role: ROLE, Rules: [rule('all', 1, destination, { markers: true })] });
    await s3failure(a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'rcfg-plain', ReplicationConfiguration: config('rcfg-dst') })), 'InvalidRequest', 400);
    const missing = await s3failure(a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'rcfg-src', ReplicationConfiguration: config('rcfg-none') })), 'InvalidRequest', 400);
    assert.equal(missing.message, 'Destination bucket must exist.');
    const unversioned = await s3failure(a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'rcfg-src', ReplicationConfiguration: config('rcfg-plain') })), 'InvalidRequest', 400);
    assert.equal(unversioned.message, 'Destination bucket must have versioning enabled.');
    await s3failure(a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'rcfg-src', ReplicationConfiguration: config('rcfg-src') })), 'InvalidRequest', 400);
    await s3failure(a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'rcfg-src', ReplicationConfiguration: config('rcfg-bob') })), 'AccessDenied', 403);
    await s3failure(b.send(new PutBucketReplicationCommand({ Bucket: 'rcfg-src', ReplicationConfiguration: config('rcfg-dst') })), 'AccessDenied', 403);
    await s3failure(a[1]!.send(new GetBucketReplicationCommand({ Bucket: 'rcfg-src' })), 'ReplicationConfigurationNotFoundError', 404);

    await a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'rcfg-src', ReplicationConfiguration: config('rcfg-dst') }));
    const got = (await a[1]!.send(new GetBucketReplicationCommand({ Bucket: 'rcfg-src' }))).ReplicationConfiguration!;
    assert.equal(got.Role, ROLE);
    assert.deepEqual(got.Rules, [{ ID: 'all', Priority: 1, Filter: { Prefix: '' }, Status: 'Enabled', Destination: { Bucket: 'arn:aws:s3:::rcfg-dst' }, DeleteMarkerReplication: { Status: 'Enabled' } }]);
    await s3failure(b.send(new GetBucketReplicationCommand({ Bucket: 'rcfg-src' })), 'AccessDenied', 403);
    const suspend = await s3failure(a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'rcfg-src', VersioningConfiguration: { Status: 'Suspended' } })), 'InvalidBucketState', 409);
    assert.match(suspend.message, /replication configuration is present/);
    assert.equal((await a[2]!.send(new DeleteBucketReplicationCommand({ Bucket: 'rcfg-src' }))).$metadata.httpStatusCode, 204);
    await s3failure(a[1]!.send(new GetBucketReplicationCommand({ Bucket: 'rcfg-src' })), 'ReplicationConfigurationNotFoundError', 404);
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'rcfg-src', VersioningConfiguration: { Status: 'Suspended' } }));
  });

  test('new versions are replicated with their version ids, bytes, metadata and tags; overwrites, delete markers, version deletes', async () => {
    await versionedBucket('rep-src');
    await versionedBucket('rep-dst');
    await a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'rep-src', ReplicationConfiguration: { Role: ROLE, Rules: [rule('all', 1, 'rep-dst', { markers: true })] } }));

    const small = await a[0]!.send(new PutObjectCommand({ Bucket: 'rep-src', Key: 'small.txt', Body: 'hello replica', ContentType: 'text/plain', Metadata: { owner: 'ops' }, Tagging: 'team=storage' }));
    const bigBody = pattern(6 * MiB, 7);
    const big = await a[1]!.send(new PutObjectCommand({ Bucket: 'rep-src', Key: 'dir/big.bin', Body: bigBody }));
    const upload = await a[2]!.send(new CreateMultipartUploadCommand({ Bucket: 'rep-src', Key: 'multi.bin' }));
    const parts = [pattern(5 * MiB, 8), pattern(1 * MiB, 9)];
    const etags: string[] = [];
    for (const [i, body] of parts.entries()) etags.push((await a[2]!.send(new UploadPartCommand({ Bucket: 'rep-src', Key: 'multi.bin', UploadId: upload.UploadId, PartNumber: i + 1, Body: body }))).ETag!);
    const multi = await a[2]!.send(
      new CompleteMultipartUploadCommand({ Bucket: 'rep-src', Key: 'multi.bin', UploadId: upload.UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }),
    );
    for (const [key, v] of [['small.txt', small.VersionId!], ['dir/big.bin', big.VersionId!], ['multi.bin', multi.VersionId!]] as const) await settled('rep-src', key, v);

    const replica = await a[1]!.send(new GetObjectCommand({ Bucket: 'rep-dst', Key: 'small.txt' }));
    const source = await a[2]!.send(new HeadObjectCommand({ Bucket: 'rep-src', Key: 'small.txt' }));
    assert.equal((await bytes(replica.Body)).toString(), 'hello replica');
    assert.equal(replica.VersionId, small.VersionId, 'the replica keeps the version id');
    assert.equal(replica.ReplicationStatus, 'REPLICA');
    assert.equal(replica.ETag, source.ETag);
    assert.equal(replica.LastModified?.getTime(), source.LastModified?.getTime(), 'and Last-Modified');
    assert.equal(replica.ContentType, 'text/plain');
    assert.deepEqual(replica.Metadata, { owner: 'ops' });
    assert.equal(replica.TagCount, 1);
    const bigReplica = await a[0]!.send(new GetObjectCommand({ Bucket: 'rep-dst', Key: 'dir/big.bin', VersionId: big.VersionId }));
    assert.ok((await bytes(bigReplica.Body)).equals(bigBody), 'a chunked object reads back byte for byte');
    const multiReplica = await a[1]!.send(new GetObjectCommand({ Bucket: 'rep-dst', Key: 'multi.bin' }));
    assert.ok((await bytes(multiReplica.Body)).equals(Buffer.concat(parts)));
    assert.equal(multiReplica.ETag, multi.ETag, 'a multipart ETag is kept');

    // An overwrite replicates as the new current version; the old one stays noncurrent there too.
    const second = await a[1]!.send(new PutObjectCommand({ Bucket: 'rep-src', Key: 'small.txt', Body: 'second' }));
    await settled('rep-src', 'small.txt', second.VersionId!);
    assert.equal(await status('rep-src', 'small.txt', small.VersionId), 'COMPLETED', 'the replaced version keeps its status');
    const versions = await a[2]!.send(new ListObjectVersionsCommand({ Bucket: 'rep-dst', Prefix: 'small.txt' }));
    assert.deepEqual(
      versions.Versions?.map((v) => [v.VersionId, v.IsLatest]),
      [
        [second.VersionId, true],
        [small.VersionId, false],
      ],
    );

    // A delete marker is replicated under its version id; deleting a version is not replicated.
    const marker = await a[0]!.send(new DeleteObjectCommand({ Bucket: 'rep-src', Key: 'small.txt' }));
    assert.ok(marker.DeleteMarker);
    await waitFor(
      async () => {
        const listed = await a[1]!.send(new ListObjectVersionsCommand({ Bucket: 'rep-dst', Prefix: 'small.txt' }));
        return listed.DeleteMarkers?.some((m) => m.VersionId === marker.VersionId && m.IsLatest);
      },
      { timeoutMs: 15_000, what: 'the delete marker in the destination' },
    );
    await s3failure(a[2]!.send(new GetObjectCommand({ Bucket: 'rep-dst', Key: 'small.txt' })), 'NoSuchKey', 404);
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'rep-src', Key: 'dir/big.bin', VersionId: big.VersionId }));
    await s3failure(a[0]!.send(new HeadObjectCommand({ Bucket: 'rep-src', Key: 'dir/big.bin' })), undefined, 404);
    await nodes[1]!.s3.api.drain();
    const kept = await a[2]!.send(new GetObjectCommand({ Bucket: 'rep-dst', Key: 'dir/big.bin', VersionId: big.VersionId }));
    assert.ok((await bytes(kept.Body)).equals(bigBody), 'a version deleted in the source stays in the destination');
  });

  test('filters choose what is replicated, by prefix, tag and priority; delete markers only where a rule says so', async () => {
    await versionedBucket('flt-src');
    await versionedBucket('flt-logs');
    await versionedBucket('flt-tagged');
    await a[0]!.send(
      new PutBucketReplicationCommand({
        Bucket: 'flt-src',
        ReplicationConfiguration: { Role: ROLE, Rules: [rule('logs', 1, 'flt-logs', { prefix: 'logs/' }), rule('tagged', 2, 'flt-tagged', { prefix: 'logs/', tag: { Key: 'copy', Value: 'yes' } })] },
      }),
    );
    const plain = await a[1]!.send(new PutObjectCommand({ Bucket: 'flt-src', Key: 'logs/a', Body: 'a' }));
    const tagged = await a[1]!.send(new PutObjectCommand({ Bucket: 'flt-src', Key: 'logs/b', Body: 'b', Tagging: 'copy=yes' }));
    const other = await a[1]!.send(new PutObjectCommand({ Bucket: 'flt-src', Key: 'data/c', Body: 'c' }));
    await settled('flt-src', 'logs/a', plain.VersionId!);
    await settled('flt-src', 'logs/b', tagged.VersionId!);
    assert.equal(await status('flt-src', 'data/c', other.VersionId), undefined, 'no rule selects it: no status');
    assert.equal((await a[2]!.send(new HeadObjectCommand({ Bucket: 'flt-logs', Key: 'logs/a' }))).VersionId, plain.VersionId);
    assert.equal((await a[2]!.send(new HeadObjectCommand({ Bucket: 'flt-tagged', Key: 'logs/b' }))).VersionId, tagged.VersionId, 'the higher priority rule wins');
    await s3failure(a[2]!.send(new HeadObjectCommand({ Bucket: 'flt-logs', Key: 'logs/b' })), undefined, 404);
    await s3failure(a[2]!.send(new HeadObjectCommand({ Bucket: 'flt-logs', Key: 'data/c' })), undefined, 404);
    // DeleteMarkerReplication Disabled: the replica stays current.
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'flt-src', Key: 'logs/a' }));
    await nodes[0]!.s3.api.drain();
    assert.equal((await a[1]!.send(new HeadObjectCommand({ Bucket: 'flt-logs', Key: 'logs/a' }))).VersionId, plain.VersionId);
  });

  test('an SSE-C object is replicated still encrypted: the replica reads back with the same key only', async () => {
    await versionedBucket('ssec-src');
    await versionedBucket('ssec-dst');
    await a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'ssec-src', ReplicationConfiguration: { Role: ROLE, Rules: [rule('all', 1, 'ssec-dst')] } }));
    const key = Buffer.alloc(32, 0x5a);
    const ssec = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: key.toString('base64') };
    const body = pattern(5 * MiB, 11);
    const put = await a[1]!.send(new PutObjectCommand({ Bucket: 'ssec-src', Key: 'secret.bin', Body: body, ...ssec }));
    await waitFor(async () => (await a[2]!.send(new HeadObjectCommand({ Bucket: 'ssec-src', Key: 'secret.bin', ...ssec }))).ReplicationStatus === 'COMPLETED', { timeoutMs: 15_000, what: 'COMPLETED' });
    const replica = await a[0]!.send(new GetObjectCommand({ Bucket: 'ssec-dst', Key: 'secret.bin', ...ssec }));
    assert.equal(replica.VersionId, put.VersionId);
    assert.ok((await bytes(replica.Body)).equals(body));
    await s3failure(a[0]!.send(new GetObjectCommand({ Bucket: 'ssec-dst', Key: 'secret.bin' })), 'InvalidRequest', 400);
  });

  test('SSE-KMS objects are replicated where a rule selects them, their data key sealed anew under the ReplicaKmsKeyID', async () => {
    await versionedBucket('kms-src');
    await versionedBucket('kms-dst');
    await versionedBucket('kms-plain-dst');
    const created = await pi(['--json', 's3', 'kms-key', 'create', '--alias', 'replica-key', '--ops', nodes[0]!.ops!.url, '--token', TOKEN]);
    assert.equal(created.code, 0, created.err);
    const replicaKey = (JSON.parse(created.out) as { arn: string }).arn;
    await a[0]!.send(
      new PutBucketReplicationCommand({
        Bucket: 'kms-src',
        ReplicationConfiguration: {
          Role: ROLE,
          Rules: [
            { ...rule('kms', 2, 'kms-dst', { prefix: 'kms/' }), SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: 'Enabled' } }, Destination: { Bucket: 'arn:aws:s3:::kms-dst', EncryptionConfiguration: { ReplicaKmsKeyID: replicaKey } } },
            rule('plain', 1, 'kms-plain-dst', { prefix: 'plain/' }),
          ],
        },
      }),
    );
    const got = (await a[1]!.send(new GetBucketReplicationCommand({ Bucket: 'kms-src' }))).ReplicationConfiguration!;
    assert.equal(got.Rules?.[0]?.Destination?.EncryptionConfiguration?.ReplicaKmsKeyID, replicaKey);
    assert.equal(got.Rules?.[0]?.SourceSelectionCriteria?.SseKmsEncryptedObjects?.Status, 'Enabled');
    const kms = { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: 'source-key' };
    const small = await a[1]!.send(new PutObjectCommand({ Bucket: 'kms-src', Key: 'kms/small', Body: 'secret', ...kms }));
    const bigBody = pattern(5 * MiB, 31);
    const big = await a[2]!.send(new PutObjectCommand({ Bucket: 'kms-src', Key: 'kms/big', Body: bigBody, ...kms }));
    const unselected = await a[0]!.send(new PutObjectCommand({ Bucket: 'kms-src', Key: 'plain/kms', Body: 'x', ...kms }));
    await settled('kms-src', 'kms/small', small.VersionId!);
    await settled('kms-src', 'kms/big', big.VersionId!);
    const replica = await a[0]!.send(new GetObjectCommand({ Bucket: 'kms-dst', Key: 'kms/small' }));
    assert.equal((await bytes(replica.Body)).toString(), 'secret');
    assert.equal(replica.SSEKMSKeyId, replicaKey, 'the replica is under the replica key');
    assert.notEqual(small.SSEKMSKeyId, replicaKey);
    const bigReplica = await a[1]!.send(new GetObjectCommand({ Bucket: 'kms-dst', Key: 'kms/big' }));
    assert.ok((await bytes(bigReplica.Body)).equals(bigBody));
    await nodes[0]!.s3.api.drain();
    assert.equal(await status('kms-src', 'plain/kms', unselected.VersionId), undefined, 'a rule without SseKmsEncryptedObjects leaves SSE-KMS objects alone');
  });

  test("a replicated version's later tags and ACL reach its replica (PENDING until they have), noncurrent versions included", async () => {
    await versionedBucket('meta-src');
    await versionedBucket('meta-dst');
    await a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'meta-src', ReplicationConfiguration: { Role: ROLE, Rules: [rule('all', 1, 'meta-dst')] } }));
    const first = await a[0]!.send(new PutObjectCommand({ Bucket: 'meta-src', Key: 'doc', Body: 'one', Tagging: 'stage=draft' }));
    await settled('meta-src', 'doc', first.VersionId!);
    const tagsOf = async (bucket: string, versionId: string): Promise<string> =>
      ((await a[2]!.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'doc', VersionId: versionId }))).TagSet ?? []).map((t) => `${t.Key}=${t.Value}`).join('&');
    assert.equal(await tagsOf('meta-dst', first.VersionId!), 'stage=draft');

    await a[1]!.send(new PutObjectTaggingCommand({ Bucket: 'meta-src', Key: 'doc', Tagging: { TagSet: [{ Key: 'stage', Value: 'final' }, { Key: 'team', Value: 'ops' }] } }));
    await settled('meta-src', 'doc', first.VersionId!);
    assert.equal(await tagsOf('meta-dst', first.VersionId!), 'stage=final&team=ops');
    await a[1]!.send(new PutObjectAclCommand({ Bucket: 'meta-src', Key: 'doc', ACL: 'public-read' }));
    await settled('meta-src', 'doc', first.VersionId!);
    const grants = (await a[0]!.send(new GetObjectAclCommand({ Bucket: 'meta-dst', Key: 'doc' }))).Grants ?? [];
    assert.ok(grants.some((g) => g.Grantee?.URI === 'http://acs.amazonaws.com/groups/global/AllUsers' && g.Permission === 'READ'), 'the replica is public-read too');

    // A noncurrent version's change reaches its (noncurrent) replica.
    const second = await a[0]!.send(new PutObjectCommand({ Bucket: 'meta-src', Key: 'doc', Body: 'two' }));
    await settled('meta-src', 'doc', second.VersionId!);
    await a[2]!.send(new DeleteObjectTaggingCommand({ Bucket: 'meta-src', Key: 'doc', VersionId: first.VersionId }));
    await settled('meta-src', 'doc', first.VersionId!);
    assert.equal(await tagsOf('meta-dst', first.VersionId!), '');
    assert.equal((await a[1]!.send(new HeadObjectCommand({ Bucket: 'meta-dst', Key: 'doc' }))).VersionId, second.VersionId, 'the current replica is unchanged');

    // Settings changed before the version was replicated at all: the sweep writes the replica with them.
    nodes[0]!.s3.api.replication.stop();
    let late;
    try {
      late = await a[0]!.send(new PutObjectCommand({ Bucket: 'meta-src', Key: 'doc', Body: 'three', Tagging: 'v=1' }));
      await a[0]!.send(new PutObjectTaggingCommand({ Bucket: 'meta-src', Key: 'doc', Tagging: { TagSet: [{ Key: 'v', Value: '2' }] } }));
    } finally {
      nodes[0]!.s3.api.replication.start(0);
    }
    assert.equal(await nodes[1]!.s3.api.replication.sweep({ minAgeMs: 0, everyBucket: true }), 1);
    assert.equal(await status('meta-src', 'doc', late.VersionId), 'COMPLETED');
    assert.equal(await tagsOf('meta-dst', late.VersionId!), 'v=2');
  });

  test('pi s3 replicate-existing: versions written before the configuration, counted by --dry-run, replicated page by page', async () => {
    await versionedBucket('old-src');
    const written: [string, string][] = [];
    for (const [key, body] of [['a', 'a1'], ['a', 'a2'], ['b', 'b1'], ['c', 'c1']] as const) {
      written.push([key, (await a[0]!.send(new PutObjectCommand({ Bucket: 'old-src', Key: key, Body: body }))).VersionId!]);
    }
    const marker = (await a[1]!.send(new DeleteObjectCommand({ Bucket: 'old-src', Key: 'c' }))).VersionId!;
    await versionedBucket('old-dst');
    await a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'old-src', ReplicationConfiguration: { Role: ROLE, Rules: [rule('all', 1, 'old-dst', { markers: true })] } }));
    assert.equal(await status('old-src', 'a', written[0]![1]), undefined, 'written before: no status');
    const target = ['--ops', nodes[2]!.ops!.url, '--token', TOKEN];

    const dry = await pi(['--json', 's3', 'replicate-existing', 'old-src', '--dry-run', ...target]);
    assert.equal(dry.code, 0, dry.err);
    assert.deepEqual(JSON.parse(dry.out), { bucket: 'old-src', dryRun: true, keys: 3, versions: 5, selected: 5, replicated: 0, failed: 0 });
    await s3failure(a[2]!.send(new HeadObjectCommand({ Bucket: 'old-dst', Key: 'a' })), undefined, 404);

    // The API pages by key.
    const first = await call(nodes[1]!.ops!.url, '/api/s3/buckets/old-src/replicate-existing', { method: 'POST', body: { limit: 1 } });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body, { keys: 1, versions: 2, selected: 2, replicated: 2, failed: 0, next: 'a' });
    const run = await pi(['--json', 's3', 'replicate-existing', 'old-src', ...target]);
    assert.equal(run.code, 0, run.err);
    // a's versions have a status now; c's delete marker (no status, ever) is found replicated already.
    assert.deepEqual(JSON.parse(run.out), { bucket: 'old-src', dryRun: false, keys: 3, versions: 5, selected: 3, replicated: 3, failed: 0 });
    for (const [key, versionId] of written) {
      assert.equal(await status('old-src', key, versionId), 'COMPLETED');
      assert.equal((await a[1]!.send(new HeadObjectCommand({ Bucket: 'old-dst', Key: key, VersionId: versionId }))).ReplicationStatus, 'REPLICA');
    }
    const listed = await a[2]!.send(new ListObjectVersionsCommand({ Bucket: 'old-dst', Prefix: 'c' }));
    assert.deepEqual(listed.DeleteMarkers?.map((m) => [m.VersionId, m.IsLatest]), [[marker, true]]);
    assert.equal((await a[2]!.send(new HeadObjectCommand({ Bucket: 'old-dst', Key: 'a' }))).VersionId, written[1]![1], "a's newest version is current there too");

    const text = await pi(['s3', 'replicate-existing', 'old-src', ...target]);
    assert.match(text.out, /old-src: 1 versions replicated, 0 failed \(5 versions of 3 keys examined\)/);
    const none = await call(nodes[0]!.ops!.url, '/api/s3/buckets/old-dst/replicate-existing', { method: 'POST', body: {} });
    assert.equal(none.status, 404, 'a bucket without a configuration');
    const bad = await call(nodes[0]!.ops!.url, '/api/s3/buckets/old-src/replicate-existing', { method: 'POST', body: { limit: 0 } });
    assert.equal(bad.status, 400);
  });

  test('a destination that cannot take replicas makes the version FAILED', async () => {
    await versionedBucket('fail-src');
    await versionedBucket('fail-dst');
    await a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'fail-src', ReplicationConfiguration: { Role: ROLE, Rules: [rule('all', 1, 'fail-dst')] } }));
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'fail-dst', VersioningConfiguration: { Status: 'Suspended' } }));
    const put = await a[1]!.send(new PutObjectCommand({ Bucket: 'fail-src', Key: 'k', Body: 'v' }));
    await settled('fail-src', 'k', put.VersionId!, 'FAILED');
    await s3failure(a[2]!.send(new HeadObjectCommand({ Bucket: 'fail-dst', Key: 'k' })), undefined, 404);
    const failed = nodes.reduce((sum, n) => sum + (n.s3.metrics().find((m) => m.name === 'pi_s3_replication_failed_total')?.values[0]?.value ?? 0), 0);
    assert.ok(failed >= 1, 'counted in pi_s3_replication_failed_total');
    // The operator's view counts the bucket's backlog.
    const rows = (await call(nodes[1]!.ops!.url, '/api/s3/buckets?usage=true')).body['buckets'] as { name: string; replicationPending?: number; replicationFailed?: number }[];
    const row = rows.find((r) => r.name === 'fail-src')!;
    assert.deepEqual([row.replicationPending, row.replicationFailed], [0, 1]);
    assert.equal(rows.find((r) => r.name === 'fail-dst')!.replicationFailed, undefined, 'a bucket that does not replicate has no such count');
    const listed = await pi(['s3', 'buckets', '--usage', '--ops', nodes[1]!.ops!.url, '--token', TOKEN]);
    assert.match(listed.out, /fail-src .*replicates to fail-dst \(0 pending, 1 failed\)/);
    // The cause fixed, the operator retries the FAILED versions (a plain run leaves them).
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'fail-dst', VersioningConfiguration: { Status: 'Enabled' } }));
    const target = ['--ops', nodes[2]!.ops!.url, '--token', TOKEN];
    assert.match((await pi(['s3', 'replicate-existing', 'fail-src', ...target])).out, /fail-src: 0 versions replicated, 0 failed \(1 versions of 1 keys examined\)/);
    const retried = await pi(['s3', 'replicate-existing', 'fail-src', '--retry-failed', ...target]);
    assert.equal(retried.code, 0, `${retried.err} ${retried.out}`);
    assert.match(retried.out, /fail-src: 1 versions replicated, 0 failed/);
    await settled('fail-src', 'k', put.VersionId!, 'COMPLETED');
    const replica = await a[2]!.send(new HeadObjectCommand({ Bucket: 'fail-dst', Key: 'k' }));
    assert.deepEqual([replica.VersionId, replica.ReplicationStatus], [put.VersionId, 'REPLICA']);
  });

  test('a version not replicated at write time stays PENDING in the durable queue until a sweep on another node replicates it', async () => {
    await versionedBucket('sweep-src');
    await versionedBucket('sweep-dst');
    await a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'sweep-src', ReplicationConfiguration: { Role: ROLE, Rules: [rule('all', 1, 'sweep-dst')] } }));
    // Node 0's replicator stopped: it queues the task and marks the version, but runs nothing.
    nodes[0]!.s3.api.replication.stop();
    let put;
    const others = Array.from({ length: 16 }, (_, i) => `late-${i}`);
    try {
      put = await a[0]!.send(new PutObjectCommand({ Bucket: 'sweep-src', Key: 'late', Body: pattern(200_000, 3) }));
      assert.equal(await status('sweep-src', 'late', put.VersionId), 'PENDING');
      for (const key of others) await a[0]!.send(new PutObjectCommand({ Bucket: 'sweep-src', Key: key, Body: key }));
    } finally {
      nodes[0]!.s3.api.replication.start(0);
    }
    // The queue is split over the bucket's index shards: each task in the shard of its key.
    const catalog = nodes[1]!.s3.catalog;
    const source = (await catalog.bucket('sweep-src', true))!;
    const shards = replicationPartitions(source);
    assert.equal(shards.length, 4, 'the test rings give new buckets 4 index shards');
    const queued = await Promise.all(shards.map(async (p) => (await catalog.dht.scanPartition<ReplicationTask>(p, { limit: 100 })).items.map((t) => t.body.k)));
    assert.deepEqual(queued.flat().sort(), ['late', ...others].sort());
    assert.ok(queued.filter((keys) => keys.length > 0).length >= 3, `tasks per shard: ${queued.map((k) => k.length).join(', ')}`);
    for (const [shard, keys] of queued.entries()) for (const key of keys) assert.equal(shardOfKey(key, 4), shard, `${key} in shard ${shard}`);
    await s3failure(a[2]!.send(new HeadObjectCommand({ Bucket: 'sweep-dst', Key: 'late' })), undefined, 404);
    assert.equal(await nodes[1]!.s3.api.replication.sweep({ minAgeMs: 60_000, everyBucket: true }), 0, 'a task younger than the sweep period is left to its writer');
    assert.equal(await nodes[1]!.s3.api.replication.sweep({ minAgeMs: 0, everyBucket: true }), 1 + others.length);
    assert.equal(await status('sweep-src', 'late', put.VersionId), 'COMPLETED');
    const replica = await a[2]!.send(new GetObjectCommand({ Bucket: 'sweep-dst', Key: 'late' }));
    assert.equal(replica.VersionId, put.VersionId);
    assert.ok((await bytes(replica.Body)).equals(pattern(200_000, 3)));
    assert.equal(await nodes[2]!.s3.api.replication.sweep({ minAgeMs: 0, everyBucket: true }), 0, 'the task is gone once done');
  });
  // Last: it stops node 2 for good.
  test('a node crashes while versions are being replicated: the survivors replicate every acknowledged version, byte for byte', async () => {
    await versionedBucket('crash-src');
    await versionedBucket('crash-dst');
    await a[0]!.send(new PutBucketReplicationCommand({ Bucket: 'crash-src', ReplicationConfiguration: { Role: ROLE, Rules: [rule('all', 1, 'crash-dst', { markers: true })] } }));
    const written = new Map<string, { versionId: string; data: Buffer }>();
    const put = async (i: number, clients: S3Client[]): Promise<void> => {
      const key = `obj/${String(i).padStart(2, '0')}`;
      const data = pattern(i % 4 === 0 ? 300_000 + i : 500 + i, 100 + i);
      const r = await clients[i % clients.length]!.send(new PutObjectCommand({ Bucket: 'crash-src', Key: key, Body: data }));
      written.set(key, { versionId: r.VersionId!, data });
    };
    await eachLimited(Array.from({ length: 30 }, (_, i) => i), 8, (i) => put(i, a));
    // Node 2 dies with its write-time replications in flight; writes go on through the others.
    await nodes[2]!.stop({ graceful: false });
    const survivors = [a[0]!, a[1]!];
    await eachLimited(Array.from({ length: 30 }, (_, i) => 30 + i), 8, (i) => put(i, survivors));
    await waitFor(
      async () => {
        for (const n of nodes.slice(0, 2)) await n.s3.api.replication.sweep({ minAgeMs: 0, everyBucket: true });
        for (const [key, v] of written) if ((await status('crash-src', key, v.versionId, a[0]!)) !== 'COMPLETED') return false;
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'every version COMPLETED' },
    );
    for (const [key, v] of written) {
      const replica = await a[1]!.send(new GetObjectCommand({ Bucket: 'crash-dst', Key: key }));
      assert.equal(replica.VersionId, v.versionId, key);
      assert.ok((await bytes(replica.Body)).equals(v.data), `${key} byte for byte`);
    }
  });
});
