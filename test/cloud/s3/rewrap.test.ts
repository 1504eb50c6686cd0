/**
 * The SSE-S3 rewrap job on a 3-node loopback ring restarted across a master key rotation.
 *
 * Objects (inline and chunked), a noncurrent version, a multipart upload in progress with a part,
 * plaintext and SSE-C objects are written under master key A; the whole ring restarts with B
 * current and A previous. `pi s3 rewrap --dry-run` counts the entries under A (a bucket whose
 * registry entry is missing, as for a bucket older than the registry, included); the job's
 * per-entry rewrap leaves an entry overwritten after it was read as it is now, and keeps a tag
 * change of the same version; `pi s3 rewrap` rewraps the rest; a count through the ops API finds
 * nothing under A any more; the ring restarts with B alone and every object and version reads
 * back byte for byte, and the upload in progress takes another part and completes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { BUCKET_REGISTRY, registeredBuckets } from '../../../src/cloud/s3/bucket-registry.ts';
import { MasterKey } from '../../../src/cloud/s3/encryption.ts';
import type { ManagedSealedKey } from '../../../src/cloud/s3/encryption.ts';
import type { ObjectEntry } from '../../../src/cloud/s3/model.ts';
import type { RewrapJobStatus } from '../../../src/cloud/s3/rewrap.ts';
import type { S3Service } from '../../../src/cloud/s3/service.ts';
import { TEST_S3, bytes, clientFor, createUser, endpointCertificate, pattern, trustEndpoint } from './harness.ts';
import type { EndpointCertificate } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { TOKEN, call, startNode, tempDir, waitFor } from '../../node/fixtures.ts';
import { runPi as pi } from '../../helpers/pi-cli.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const MiB = 1024 * 1024;
const KEY_A = Buffer.alloc(32, 0xa5);
const KEY_B = Buffer.alloc(32, 0x5b);
const KID_A = new MasterKey(KEY_A).id;
const KID_B = new MasterKey(KEY_B).id;
const CUSTOMER_KEY = Buffer.alloc(32, 0xc7);

/** The master key id an entry's data key is wrapped under (undefined: not SSE-S3). */
function kidOf(entry: { sse?: unknown } | undefined): string | undefined {
  return (entry?.sse as ManagedSealedKey | undefined)?.kid;
}

describe('SSE-S3 rewrap job across a master key rotation of a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  const push = (fn: () => Promise<void>): void => {
    cleanups.push(fn);
  };
  let nodes: S3Node[] = [];
  let clients: S3Client[] = [];
  let dirs: string[] | undefined;
  let user: TestUser;
  let keyA = '';
  let keyB = '';

  const large = pattern(700_000, 81);
  const doc1 = pattern(300_000, 82);
  const part1 = pattern(5 * MiB, 83);
  const part2 = pattern(123_456, 84);
  let doc1Version = '';
  let uploadId = '';
  let part1Etag = '';

  let tls: EndpointCertificate | undefined;

  /** (Re)starts the ring on its data directories with these master key settings. */
  async function startRing(s3: Record<string, unknown>, perNode: Record<number, Record<string, unknown>> = {}): Promise<void> {
    for (const c of clients) c.destroy();
    await Promise.all(nodes.map((n) => n.stop({ graceful: false })));
    // HTTPS endpoints: the SSE-C objects need them.
    tls ??= await endpointCertificate(push);
    const config = (i: number): Record<string, unknown> => ({ apps: ['s3'], s3: { ...TEST_S3, ...s3, ...perNode[i], tls: { cert: tls!.certFile, key: tls!.keyFile } } });
    const first = await startNode(push, { config: config(0), name: 'node-0', ...(dirs ? { dir: dirs[0] } : {}) });
    const rest = await Promise.all([1, 2].map((i) => startNode(push, { bootstrap: [first.node.address], config: config(i), name: `node-${i}`, ...(dirs ? { dir: dirs[i] } : {}) })));
    const started = [first, ...rest];
    await waitFor(() => started.every((x) => x.node.overlay.leafSetMembers().length >= 2), { timeoutMs: 25_000, what: 'a complete ring of 3' });
    dirs = started.map((n) => n.dir);
    nodes = started.map((t) => {
      const s3 = t.node.service<S3Service>('s3')!;
      trustEndpoint(s3.endpoint, tls!.caPem);
      return Object.assign(t, { s3, endpoint: s3.endpoint });
    });
    if (clients.length === 0) user = await createUser(nodes[0]!, 'rotator');
    clients = nodes.map((n) => clientFor(n.endpoint, user));
  }

  const target = (i: number): string[] => ['--ops', nodes[i]!.ops!.url, '--token', TOKEN];

  before(async () => {
    const keys = await tempDir(push, 'pi-rewrap-keys-');
    [keyA, keyB] = [join(keys, 'a.key'), join(keys, 'b.key')];
    await writeFile(keyA, KEY_A);
    await writeFile(keyB, KEY_B.toString('base64'));
    push(async () => {
      for (const c of clients) c.destroy();
    });

    await startRing({ sseMasterKeyFile: keyA });
    const [c0, c1, c2] = clients as [S3Client, S3Client, S3Client];
    await c0.send(new CreateBucketCommand({ Bucket: 'rewrap' }));
    await c0.send(new PutObjectCommand({ Bucket: 'rewrap', Key: 'large', Body: large, ServerSideEncryption: 'AES256' }));
    await c1.send(new PutObjectCommand({ Bucket: 'rewrap', Key: 'small', Body: 'inline secret', ServerSideEncryption: 'AES256' }));
    await c2.send(new PutObjectCommand({ Bucket: 'rewrap', Key: 'race', Body: 'first', ServerSideEncryption: 'AES256' }));
    await c2.send(new PutObjectCommand({ Bucket: 'rewrap', Key: 'tagged', Body: 'tagged secret', ServerSideEncryption: 'AES256' }));
    await c0.send(new PutObjectCommand({ Bucket: 'rewrap', Key: 'plain', Body: 'not encrypted' }));
    await c1.send(new PutObjectCommand({ Bucket: 'rewrap', Key: 'ssec', Body: 'customer key', SSECustomerAlgorithm: 'AES256', SSECustomerKey: CUSTOMER_KEY.toString('base64') }));
    const created = await c0.send(new CreateMultipartUploadCommand({ Bucket: 'rewrap', Key: 'mp', ServerSideEncryption: 'AES256' }));
    uploadId = created.UploadId!;
    part1Etag = (await c1.send(new UploadPartCommand({ Bucket: 'rewrap', Key: 'mp', UploadId: uploadId, PartNumber: 1, Body: part1 }))).ETag!;

    // An SSE-KMS object: its data key is wrapped under a KMS key whose material key A wraps.
    const kmsKey = await call(nodes[0]!.ops!.url, '/api/s3/kms/keys', { method: 'POST', body: { alias: 'rotating' } });
    assert.equal(kmsKey.status, 201, kmsKey.text);
    await c2.send(new PutObjectCommand({ Bucket: 'rewrap', Key: 'kms', Body: 'kms secret', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/rotating' }));

    await c0.send(new CreateBucketCommand({ Bucket: 'rewrap-ver' }));
    await c0.send(new PutBucketVersioningCommand({ Bucket: 'rewrap-ver', VersioningConfiguration: { Status: 'Enabled' } }));
    doc1Version = (await c0.send(new PutObjectCommand({ Bucket: 'rewrap-ver', Key: 'doc', Body: doc1, ServerSideEncryption: 'AES256' }))).VersionId!;
    await c0.send(new PutObjectCommand({ Bucket: 'rewrap-ver', Key: 'doc', Body: 'second version', ServerSideEncryption: 'AES256' }));

    // As for a bucket made before the registry existed: rewrap-ver has no entry.
    const dht = nodes[0]!.s3.catalog.dht;
    await dht.updateItem(BUCKET_REGISTRY, 'rewrap-ver', () => ({ type: 's3.bucketReg', deleted: true }));
    const registered: string[] = [];
    for await (const b of registeredBuckets(dht)) registered.push(b.name);
    assert.deepEqual(registered, ['rewrap'], 'CreateBucket registers its bucket');

    // A rotation half done: node 2 still has the old key as its current one.
    await startRing({ sseMasterKeyFile: keyB, ssePreviousKeyFiles: [keyA] }, { 2: { sseMasterKeyFile: keyA, ssePreviousKeyFiles: [] } });
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('a rewrap is refused while a node serving S3 has another current master key; a dry run is not', async () => {
    const r = await call(nodes[0]!.ops!.url, '/api/s3/rewrap', { method: 'POST', body: {} });
    assert.equal(r.status, 409, r.text);
    assert.equal((r.body as { error?: { code?: string } }).error?.code, 'MasterKeyMismatch', r.text);
    assert.match(r.text, new RegExp(`${nodes[2]!.node.id.hex.slice(0, 12)} \\([^)]+\\): current key ${KID_A}`), 'names the node and its key');
    assert.doesNotMatch(r.text, new RegExp(nodes[1]!.node.id.hex.slice(0, 12)), 'not the nodes that agree');
    assert.equal(nodes[0]!.s3.rewrap.status, undefined, 'no job started');
    const dry = await call(nodes[0]!.ops!.url, '/api/s3/rewrap', { method: 'POST', body: { dryRun: true } });
    assert.equal(dry.status, 202, 'a dry run changes nothing: it is not refused');
    const cli = await pi(['s3', 'rewrap', ...target(1)]);
    assert.notEqual(cli.code, 0);
    assert.match(cli.err, /MasterKeyMismatch|not every node serving S3/);
    // Node 2 gets the new key: the ring agrees (the rest of the rotation goes on from here).
    await startRing({ sseMasterKeyFile: keyB, ssePreviousKeyFiles: [keyA] });
  });

  test('pi s3 rewrap --dry-run counts every SSE-S3 entry under the previous key, by where it is, and changes nothing', async () => {
    const none = await pi(['s3', 'rewrap', '--status', ...target(1)]);
    assert.equal(none.code, 1);
    assert.match(none.err, /no rewrap job has run on this node/);
    const r = await pi(['--json', 's3', 'rewrap', '--dry-run', ...target(1)]);
    assert.equal(r.code, 0, r.err);
    const job = JSON.parse(r.out) as RewrapJobStatus;
    assert.equal(job.state, 'done');
    const s = job.summary;
    assert.equal(s.dryRun, true);
    assert.equal(s.currentKid, KID_B);
    assert.equal(s.buckets, 2, 'the bucket without a registry entry was registered from the local stores');
    assert.deepEqual(s.byKid, [{ kid: KID_A, status: 'previous', entries: 8 }]);
    assert.deepEqual(s.byKind, { object: 5, version: 1, upload: 1, part: 1 });
    assert.equal(s.entries, 11, 'the plaintext, SSE-C and SSE-KMS objects are read, not counted as SSE-S3');
    assert.deepEqual(s.kmsKeys, { keys: 1, rewrapped: 1, errors: 0 }, 'the KMS key material under key A is counted');
    assert.deepEqual([s.scanned, s.pending, s.rewrapped, s.alreadyCurrent, s.changed, s.unknownKid, s.errors], [8, 8, 0, 0, 0, 0, 0]);
    const catalog = nodes[2]!.s3.catalog;
    assert.equal(kidOf(await catalog.getObject((await catalog.bucket('rewrap'))!, 'large')), KID_A, 'a dry run writes nothing');

    const text = await pi(['s3', 'rewrap', '--dry-run', ...target(0)]);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, new RegExp(`${KID_A}\\s+previous\\s+8`));
    assert.match(text.out, /to rewrap\s+8/);
    const metrics = await call(nodes[0]!.ops!.url, '/metrics');
    assert.match(metrics.text, new RegExp(`pi_s3_sse_entries\\{kid="${KID_A}",status="previous"\\} 8`));
  });

  test('a job whose recheck of the ring fails (a node back on an old key) stops as failed and rewraps nothing more', async () => {
    let rechecks = 0;
    const started = nodes[0]!.s3.rewrap.start({
      recheck: async () => {
        rechecks++;
        throw Object.assign(new Error(`not every node serving S3 has master key ${KID_B} as its current key`), { code: 'MasterKeyMismatch' });
      },
      recheckIntervalMs: 0,
    });
    assert.equal(started.status.state, 'running');
    const job = await started.done;
    assert.equal(job.state, 'failed');
    assert.match(job.error ?? '', /not every node serving S3 has master key/);
    assert.equal(rechecks, 1, 'the first failed recheck ends the whole job, not just a bucket');
    assert.deepEqual([job.summary.rewrapped, job.summary.scanned], [0, 0]);
    assert.equal(job.summary.kmsKeys, undefined, 'not even the KMS key material was touched');
    const catalog = nodes[2]!.s3.catalog;
    assert.equal(kidOf(await catalog.getObject((await catalog.bucket('rewrap'))!, 'large')), KID_A);
    // Failing inside a bucket's walk ends the whole job too, not only that bucket (a dry run here:
    // it changes nothing either way).
    let calls = 0;
    const midway = await nodes[0]!.s3.rewrap.run({
      dryRun: true,
      recheck: async () => {
        if (++calls === 2) throw new Error('a node went back to the old key');
      },
      recheckIntervalMs: 0,
    });
    assert.equal(midway.state, 'failed');
    assert.equal(midway.error, 'a node went back to the old key');
    assert.equal(calls, 2);
    assert.equal(midway.summary.buckets, 1, 'no other bucket was walked');
    // A recheck that passes lets the job go on.
    let passed = 0;
    const dry = await nodes[0]!.s3.rewrap.run({ dryRun: true, recheck: async () => void passed++, recheckIntervalMs: 0 });
    assert.equal(dry.state, 'done');
    assert.ok(passed >= 3, `rechecked before the KMS keys and each page (${passed})`);
    assert.equal(dry.summary.pending, 8);
  });

  test("the per-entry rewrap is conditional: an entry overwritten after it was read stays overwritten; a tag change of the same version is kept", async () => {
    const node = nodes[0]!;
    const catalog = node.s3.catalog;
    const bucket = (await catalog.bucket('rewrap', true))!;
    const stale = (await catalog.getObject(bucket, 'race'))!;
    const tagged = (await catalog.getObject(bucket, 'tagged'))!;
    assert.equal(kidOf(stale), KID_A);
    // Both change after the job read them: 'race' is overwritten, 'tagged' gets tags.
    await clients[1]!.send(new PutObjectCommand({ Bucket: 'rewrap', Key: 'race', Body: 'second', ServerSideEncryption: 'AES256' }));
    await clients[2]!.send(new PutObjectTaggingCommand({ Bucket: 'rewrap', Key: 'tagged', Tagging: { TagSet: [{ Key: 'k', Value: 'v' }] } }));
    const overwritten = (await catalog.getObject(bucket, 'race'))!;

    assert.equal(await node.s3.rewrap.rewrapEntry({ kind: 'object', bucket, key: 'race', entry: stale }), 'changed');
    const race = (await catalog.getObject(bucket, 'race')) as ObjectEntry & { version: number };
    assert.equal(race.vid, overwritten.vid, 'the overwrite is not undone');
    assert.equal(race.version, (overwritten as ObjectEntry & { version: number }).version, 'nothing was written');
    assert.equal(kidOf(race), KID_B);
    assert.equal((await bytes((await clients[0]!.send(new GetObjectCommand({ Bucket: 'rewrap', Key: 'race' }))).Body)).toString(), 'second');

    assert.equal(await node.s3.rewrap.rewrapEntry({ kind: 'object', bucket, key: 'tagged', entry: tagged }), 'rewrapped');
    const rewrapped = (await catalog.getObject(bucket, 'tagged'))!;
    assert.equal(rewrapped.vid, tagged.vid);
    assert.equal(kidOf(rewrapped), KID_B);
    assert.notEqual((rewrapped.sse as ManagedSealedKey).wk, (tagged.sse as ManagedSealedKey).wk);
    assert.deepEqual(rewrapped.tags, [{ key: 'k', value: 'v' }], 'the tag change made meanwhile is kept');
    assert.equal(rewrapped.chunks, tagged.chunks);
    assert.equal(rewrapped.data, tagged.data, 'the data is not rewritten');
    assert.equal(await node.s3.rewrap.rewrapEntry({ kind: 'object', bucket, key: 'tagged', entry: tagged }), 'current', 'rewrapped already: nothing to do');
  });

  test('pi s3 rewrap rewraps the rest; a count through the ops API finds nothing under the old key; with it retired every object reads back', async () => {
    const r = await pi(['--json', 's3', 'rewrap', ...target(2)]);
    assert.equal(r.code, 0, r.err);
    const job = JSON.parse(r.out) as RewrapJobStatus;
    assert.equal(job.state, 'done');
    assert.deepEqual(
      [job.summary.scanned, job.summary.rewrapped, job.summary.alreadyCurrent, job.summary.changed, job.summary.unknownKid, job.summary.errors],
      [8, 6, 2, 0, 0, 0],
      JSON.stringify(job.summary),
    );
    assert.deepEqual(job.summary.kmsKeys, { keys: 1, rewrapped: 1, errors: 0 }, 'the KMS key material is rewrapped (the SSE-KMS object is not)');
    assert.deepEqual(job.summary.byKid, [
      { kid: KID_B, status: 'current', entries: 2 },
      { kid: KID_A, status: 'previous', entries: 6 },
    ]);
    const catalog = nodes[1]!.s3.catalog;
    const parts = [];
    for await (const p of catalog.parts(uploadId)) parts.push(p);
    assert.deepEqual(parts.map((p) => kidOf(p)), [KID_B], "the upload's part records are rewrapped too");

    // A count through the ops API (what the CLI calls), followed to its end.
    const ops = nodes[0]!.ops!.url;
    const started = await call(ops, '/api/s3/rewrap', { method: 'POST', body: { dryRun: true } });
    assert.equal(started.status, 202, started.text);
    const counted = await waitFor(
      async () => {
        const s = (await call(ops, '/api/s3/rewrap')).body as unknown as RewrapJobStatus;
        return s.id === (started.body as unknown as RewrapJobStatus).id && s.state !== 'running' ? s : undefined;
      },
      { timeoutMs: 20_000, what: 'the count to end' },
    );
    assert.equal(counted.state, 'done');
    assert.deepEqual(counted.summary.byKid, [{ kid: KID_B, status: 'current', entries: 8 }], 'nothing left under the old key');
    assert.equal(counted.summary.pending, 0);

    await startRing({ sseMasterKeyFile: keyB });
    const read = async (i: number, bucket: string, key: string, versionId?: string): Promise<Buffer> =>
      bytes((await clients[i % 3]!.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }))).Body);
    assert.deepEqual(await read(0, 'rewrap', 'large'), large);
    assert.equal((await read(1, 'rewrap', 'small')).toString(), 'inline secret');
    assert.equal((await read(2, 'rewrap', 'race')).toString(), 'second');
    assert.equal((await read(0, 'rewrap', 'tagged')).toString(), 'tagged secret');
    assert.equal((await read(1, 'rewrap', 'plain')).toString(), 'not encrypted');
    assert.equal((await read(2, 'rewrap', 'kms')).toString(), 'kms secret', 'the SSE-KMS object reads with its key material rewrapped under key B');
    const ssec = await clients[2]!.send(new GetObjectCommand({ Bucket: 'rewrap', Key: 'ssec', SSECustomerAlgorithm: 'AES256', SSECustomerKey: CUSTOMER_KEY.toString('base64') }));
    assert.equal((await bytes(ssec.Body)).toString(), 'customer key');
    assert.equal((await read(0, 'rewrap-ver', 'doc')).toString(), 'second version');
    assert.deepEqual(await read(1, 'rewrap-ver', 'doc', doc1Version), doc1, 'the noncurrent version reads back');

    // The upload begun under key A takes a part under B alone and completes.
    const p2 = await clients[2]!.send(new UploadPartCommand({ Bucket: 'rewrap', Key: 'mp', UploadId: uploadId, PartNumber: 2, Body: part2 }));
    await clients[0]!.send(
      new CompleteMultipartUploadCommand({ Bucket: 'rewrap', Key: 'mp', UploadId: uploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part1Etag }, { PartNumber: 2, ETag: p2.ETag! }] } }),
    );
    const mp = await clients[1]!.send(new GetObjectCommand({ Bucket: 'rewrap', Key: 'mp' }));
    assert.equal(mp.ServerSideEncryption, 'AES256');
    assert.deepEqual(await bytes(mp.Body), Buffer.concat([part1, part2]));

    const after = await nodes[2]!.s3.rewrap.run({ dryRun: true, buckets: ['rewrap', 'nope'] });
    assert.deepEqual(after.summary.missingBuckets, ['nope']);
    assert.deepEqual(after.summary.byKid, [{ kid: KID_B, status: 'current', entries: 5 }], 'bucket rewrap: 5 SSE-S3 objects (mp completed), no upload left');
  });

  test('an entry under a master key the node does not hold is counted and reported; the job goes on', async () => {
    const catalog = nodes[1]!.s3.catalog;
    const bucket = (await catalog.bucket('rewrap', true))!;
    const unknown = 'f'.repeat(16);
    const small = (await catalog.getObject(bucket, 'small'))!;
    await catalog.rewriteObject(bucket, 'small', small, (e) => ({ ...e, sse: { ...(e.sse as ManagedSealedKey), kid: unknown } }));
    const r = await pi(['s3', 'rewrap', '--bucket', 'rewrap', ...target(1)]);
    assert.equal(r.code, 0, `${r.out}${r.err}`);
    assert.match(r.out, new RegExp(`${unknown}\\s+unknown\\s+1`));
    assert.match(r.out, /unknown master key\s+1/);
    assert.match(r.out, /warning: 1 entries are under master keys this node does not hold/);
    const job = nodes[1]!.s3.rewrap.status!;
    assert.deepEqual([job.summary.scanned, job.summary.rewrapped, job.summary.alreadyCurrent, job.summary.unknownKid, job.summary.errors], [5, 0, 4, 1, 0]);
    assert.equal(kidOf(await catalog.getObject(bucket, 'small')), unknown, 'left as it is');
  });

  test('the ops API refuses a malformed job; a node runs one job at a time', async () => {
    const ops = nodes[0]!.ops!.url;
    for (const body of [{ dryRun: 'yes' }, { buckets: [] }, { buckets: 'rewrap' }, { other: 1 }, { force: 'yes' }]) {
      const r = await call(ops, '/api/s3/rewrap', { method: 'POST', body });
      assert.equal(r.status, 400, JSON.stringify(body));
    }
    const rewrap = nodes[0]!.s3.rewrap;
    const running = rewrap.start({ dryRun: true });
    assert.throws(() => rewrap.start({ dryRun: true }), (err: Error & { code?: string }) => err.code === 'Conflict');
    assert.equal((await running.done).state, 'done');
    assert.equal(rewrap.status?.id, running.status.id);
    const last = await pi(['--json', 's3', 'rewrap', '--status', ...target(0)]);
    assert.equal(last.code, 0, last.err);
    assert.equal((JSON.parse(last.out) as RewrapJobStatus).id, running.status.id, '--status shows the last job');
    assert.equal((await pi(['s3', 'rewrap', '--status', '--dry-run', ...target(0)])).code, 2);
  });
});
