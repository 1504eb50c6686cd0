/**
 * SSE-KMS through the AWS SDK on a 3-node HTTPS ring whose nodes share an SSE-S3 master key (the
 * KMS keys' material is wrapped under it) and create keys named by a bare name on first use
 * (`s3.kms.autoCreateKeys`, as conformance suites need).
 *
 * Keys made with `pi s3 kms-key create` and the ops routes; PutObject with aws:kms and a key id,
 * an alias, an ARN or none (the `aws/s3` key made on first use); Get/Head answers and headers;
 * data at rest not in plaintext; multipart (lib-storage); CopyObject to another key (sharing the
 * data key) and to plaintext; bucket default aws:kms with a Bucket Key; the encryption context;
 * a disabled key refused and enabled again; unknown keys; anonymous reads; POST forms; plain HTTP
 * refused unless `s3.allowSseCustomerKeysOverHttp`; the rewrap of key material after a master
 * key rotation.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketEncryptionCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  UploadPartCopyCommand,
  CreateMultipartUploadCommand,
  CompleteMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { bytes, clientFor, createUser, endpointCertificate, pattern, rawRequest, s3failure, startS3Fixture, startS3Ring } from './harness.ts';
import type { S3Node } from './harness.ts';
import { TOKEN, call, memoryEnv, tempDir } from '../../node/fixtures.ts';
import { runPi } from '../../helpers/pi-cli.ts';
import { MasterKey, MasterKeys } from '../../../src/cloud/s3/encryption.ts';
import type { KmsSealedKey } from '../../../src/cloud/s3/encryption.ts';
import { KmsKeys } from '../../../src/cloud/s3/kms.ts';
import type { KmsKeyInfo } from '../../../src/cloud/s3/kms.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const MiB = 1024 * 1024;
const MASTER = Buffer.alloc(32, 0x4d);
const UNKNOWN_ID = '00000000-1111-4222-8333-444444444444';

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(path)));
    else if (e.isFile()) out.push(path);
  }
  return out;
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

const b64json = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64');

describe('SSE-KMS through the AWS SDK on a 3-node HTTPS ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let a: S3Client[];
  let anon: S3Client[];
  let keyA: KmsKeyInfo;
  let keyB: KmsKeyInfo;

  before(async () => {
    const keyDir = await tempDir((fn) => cleanups.push(fn), 'pi-kms-key-');
    const keyFile = join(keyDir, 'master.key');
    await writeFile(keyFile, MASTER);
    const tls = await endpointCertificate((fn) => cleanups.push(fn));
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['kms'], config: { s3: { sseMasterKeyFile: keyFile, kms: { autoCreateKeys: true } } }, tls });
    ({ nodes, aliceClients: a, anonymousClients: anon } = fixture);
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  const pi = async (node: S3Node, ...args: string[]): Promise<Record<string, unknown>> => {
    const r = await runPi([...args, '--ops', node.ops!.url, '--token', TOKEN, '--json']);
    assert.equal(r.code, 0, r.err + r.out);
    return JSON.parse(r.out) as Record<string, unknown>;
  };

  async function getText(client: S3Client, key: string): Promise<Buffer> {
    return bytes((await client.send(new GetObjectCommand({ Bucket: 'kms', Key: key }))).Body);
  }

  test('pi s3 kms-key create / list: keys with ids, ARNs and aliases; a taken alias is refused', async () => {
    keyA = (await pi(nodes[0]!, 's3', 'kms-key', 'create', '--alias', 'app-a', '--description', 'first key')) as unknown as KmsKeyInfo;
    assert.match(keyA.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(keyA.arn, `arn:aws:kms:us-east-1:000000000000:key/${keyA.id}`);
    assert.equal(keyA.alias, 'alias/app-a');
    assert.equal(keyA.state, 'Enabled');
    const r = await call(nodes[1]!.ops!.url, '/api/s3/kms/keys', { method: 'POST', body: { alias: 'alias/app-b' } });
    assert.equal(r.status, 201, r.text);
    keyB = r.body as unknown as KmsKeyInfo;
    const taken = await call(nodes[2]!.ops!.url, '/api/s3/kms/keys', { method: 'POST', body: { alias: 'app-a' } });
    assert.equal(taken.status, 409, taken.text);
    const listed = (await pi(nodes[2]!, 's3', 'kms-key', 'list')) as { keys: KmsKeyInfo[] };
    const ids = listed.keys.map((k) => k.id);
    assert.ok(ids.includes(keyA.id) && ids.includes(keyB.id), 'both keys are listed from another node');
    assert.equal(listed.keys.length, 2, 'the refused creation left no key behind');
    assert.ok(!JSON.stringify(listed).includes('"wk"'), 'the material never leaves the node');
    const human = await runPi(['s3', 'kms-key', 'list', '--ops', nodes[0]!.ops!.url, '--token', TOKEN]);
    assert.match(human.out, /alias\/app-a/);
  });

  test('PutObject with aws:kms and a key id, alias, ARN or none: answers and Get/Head carry aws:kms and the key ARN; data reads back through every node', async () => {
    const data = pattern(300_000, 5);
    const byRef: [string, string | undefined][] = [
      ['by-id', keyA.id],
      ['by-alias', 'alias/app-a'],
      ['by-arn', keyA.arn],
      ['by-alias-arn', 'arn:aws:kms:us-east-1:000000000000:alias/app-a'],
      ['by-default', undefined],
    ];
    for (const [key, ref] of byRef) {
      const put = await a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: key, Body: data, ServerSideEncryption: 'aws:kms', ...(ref !== undefined ? { SSEKMSKeyId: ref } : {}) }));
      assert.equal(put.ServerSideEncryption, 'aws:kms', key);
      if (ref !== undefined) assert.equal(put.SSEKMSKeyId, keyA.arn, key);
      else assert.match(put.SSEKMSKeyId ?? '', /^arn:aws:kms:us-east-1:000000000000:key\//);
      assert.equal(put.ETag, `"${md5(data)}"`);
      const got = await a[(key.length % 2) + 1]!.send(new GetObjectCommand({ Bucket: 'kms', Key: key }));
      assert.equal(got.ServerSideEncryption, 'aws:kms');
      assert.equal(got.SSEKMSKeyId, put.SSEKMSKeyId);
      assert.deepEqual(await bytes(got.Body), data, key);
      const head = await a[2]!.send(new HeadObjectCommand({ Bucket: 'kms', Key: key }));
      assert.equal(head.ServerSideEncryption, 'aws:kms');
      assert.equal(head.SSEKMSKeyId, put.SSEKMSKeyId);
    }
    // Ranges decrypt from any offset.
    const range = await a[1]!.send(new GetObjectCommand({ Bucket: 'kms', Key: 'by-id', Range: 'bytes=262140-262200' }));
    assert.deepEqual(await bytes(range.Body), data.subarray(262_140, 262_201));
    const listed = (await call(nodes[0]!.ops!.url, '/api/s3/kms/keys')).body as unknown as { keys: KmsKeyInfo[] };
    const managed = listed.keys.find((k) => k.alias === 'alias/aws/s3');
    assert.ok(managed?.awsManaged, 'aws/s3 was created on first use');
    assert.equal((await a[0]!.send(new HeadObjectCommand({ Bucket: 'kms', Key: 'by-default' }))).SSEKMSKeyId, managed.arn);
  });

  test('the data at rest is ciphertext, and the entry keeps the key ARN, the wrapped data key and the context', async () => {
    const large = Buffer.concat([Buffer.from('KMS-CHUNKED-'), pattern(400_000, 7)]);
    const small = Buffer.concat([Buffer.from('KMS-INLINE-'), pattern(1500, 8)]);
    await a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'rest/large', Body: large, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/app-a' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'rest/small', Body: small, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/app-a' }));
    const needles = [large.subarray(5000, 5064), Buffer.from(small.subarray(0, 48).toString('base64')), small.subarray(0, 48)];
    for (const n of nodes) {
      for (const file of await filesUnder(n.dir)) {
        const content = await readFile(file);
        for (const needle of needles) assert.ok(!content.includes(needle), `${file} holds SSE-KMS plaintext`);
      }
    }
    const catalog = nodes[1]!.s3.catalog;
    const entry = (await catalog.getObject((await catalog.bucket('kms'))!, 'rest/small'))!;
    const sse = entry.sse as KmsSealedKey;
    assert.equal(sse.kms, keyA.arn);
    assert.equal(Buffer.from(sse.kwk, 'base64').length, 12 + 32 + 16);
    assert.deepEqual(JSON.parse(Buffer.from(sse.ctx, 'base64').toString()), { 'aws:s3:arn': 'arn:aws:s3:::kms/rest/small' });
    assert.ok(sse.iv, 'an inline body has its IV');
    assert.deepEqual(await getText(a[2]!, 'rest/small'), small);
  });

  test('the encryption context: stored with aws:s3:arn added, answered on PUT, a wrong aws:s3:arn or a malformed context refused', async () => {
    const put = await a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'ctx', Body: 'with context', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyB.id, SSEKMSEncryptionContext: b64json({ project: 'pi', stage: 'test' }) }));
    assert.deepEqual(JSON.parse(Buffer.from(put.SSEKMSEncryptionContext ?? '', 'base64').toString()), { 'aws:s3:arn': 'arn:aws:s3:::kms/ctx', project: 'pi', stage: 'test' });
    assert.equal((await getText(a[1]!, 'ctx')).toString(), 'with context');
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'ctx-bad', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSEncryptionContext: b64json({ 'aws:s3:arn': 'arn:aws:s3:::other/ctx-bad' }) })), 'InvalidArgument', 400);
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'ctx-bad', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSEncryptionContext: 'not base64!' })), 'InvalidArgument', 400);
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'ctx-bad', Body: 'x', SSEKMSKeyId: keyA.id })), 'InvalidArgument', 400);
    await s3failure(a[1]!.send(new HeadObjectCommand({ Bucket: 'kms', Key: 'ctx-bad' })), undefined, 404);
  });

  test('multipart with aws:kms (lib-storage): parts and completion answer aws:kms; the object reads back whole and by range; UploadPartCopy from an SSE-KMS source', async () => {
    const data = pattern(11 * MiB + 77, 9);
    const upload = new Upload({ client: a[0]!, params: { Bucket: 'kms', Key: 'mp', Body: data, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/app-b' }, partSize: 5 * MiB, queueSize: 2 });
    const done = await upload.done();
    assert.match(done.ETag ?? '', /-3"$/);
    assert.equal(done.ServerSideEncryption, 'aws:kms');
    assert.equal(done.SSEKMSKeyId, keyB.arn);
    const got = await a[2]!.send(new GetObjectCommand({ Bucket: 'kms', Key: 'mp' }));
    assert.equal(got.SSEKMSKeyId, keyB.arn);
    assert.deepEqual(await bytes(got.Body), data);
    const r = await a[1]!.send(new GetObjectCommand({ Bucket: 'kms', Key: 'mp', Range: `bytes=${5 * MiB - 3}-${5 * MiB + 3}` }));
    assert.deepEqual(await bytes(r.Body), data.subarray(5 * MiB - 3, 5 * MiB + 4));

    // A KMS upload (key A) whose only part is copied from a KMS object under key B.
    const created = await a[1]!.send(new CreateMultipartUploadCommand({ Bucket: 'kms', Key: 'mp-copy', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id }));
    assert.equal(created.ServerSideEncryption, 'aws:kms');
    assert.equal(created.SSEKMSKeyId, keyA.arn);
    const part = await a[2]!.send(new UploadPartCopyCommand({ Bucket: 'kms', Key: 'mp-copy', UploadId: created.UploadId!, PartNumber: 1, CopySource: 'kms/ctx' }));
    assert.equal(part.ServerSideEncryption, 'aws:kms');
    const completed = await a[0]!.send(new CompleteMultipartUploadCommand({ Bucket: 'kms', Key: 'mp-copy', UploadId: created.UploadId!, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.CopyPartResult!.ETag! }] } }));
    assert.equal(completed.SSEKMSKeyId, keyA.arn);
    assert.equal((await getText(a[1]!, 'mp-copy')).toString(), 'with context');
  });

  test('CopyObject: SSE-KMS to another key shares the chunks and rewraps the data key; to plaintext decrypts; SSE-S3 to SSE-KMS', async () => {
    const data = pattern(500_000, 11);
    await a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'copy/src', Body: data, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id }));
    const copied = await a[1]!.send(new CopyObjectCommand({ Bucket: 'kms', Key: 'copy/to-b', CopySource: 'kms/copy/src', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyB.arn }));
    assert.equal(copied.ServerSideEncryption, 'aws:kms');
    assert.equal(copied.SSEKMSKeyId, keyB.arn);
    const catalog = nodes[2]!.s3.catalog;
    const bucket = (await catalog.bucket('kms'))!;
    const [src, dst] = [(await catalog.getObject(bucket, 'copy/src'))!, (await catalog.getObject(bucket, 'copy/to-b'))!];
    assert.deepEqual(await catalog.chunkList(dst), await catalog.chunkList(src), 'the copy shares the chunks');
    assert.equal((dst.sse as KmsSealedKey).kms, keyB.arn);
    assert.deepEqual(JSON.parse(Buffer.from((dst.sse as KmsSealedKey).ctx, 'base64').toString()), { 'aws:s3:arn': 'arn:aws:s3:::kms/copy/to-b' }, "the copy's own context");
    assert.deepEqual(await getText(a[2]!, 'copy/to-b'), data);

    const plain = await a[2]!.send(new CopyObjectCommand({ Bucket: 'kms', Key: 'copy/plain', CopySource: 'kms/copy/src' }));
    assert.equal(plain.ServerSideEncryption, undefined);
    assert.equal(plain.CopyObjectResult?.ETag, `"${md5(data)}"`);
    const readPlain = await a[0]!.send(new GetObjectCommand({ Bucket: 'kms', Key: 'copy/plain' }));
    assert.equal(readPlain.ServerSideEncryption, undefined);
    assert.deepEqual(await bytes(readPlain.Body), data);

    await a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'copy/s3', Body: 'sse-s3 first', ServerSideEncryption: 'AES256' }));
    const toKms = await a[0]!.send(new CopyObjectCommand({ Bucket: 'kms', Key: 'copy/s3', CopySource: 'kms/copy/s3', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/app-b' }));
    assert.equal(toKms.SSEKMSKeyId, keyB.arn);
    assert.equal((await getText(a[1]!, 'copy/s3')).toString(), 'sse-s3 first');
  });

  test('a disabled key: reads and writes under it are KMS.DisabledException (400) on every node, HEAD still answers; enabled again, they work', async () => {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'dis', Body: 'guarded', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id }));
    const off = await pi(nodes[2]!, 's3', 'kms-key', 'disable', 'alias/app-a');
    assert.equal(off['state'], 'Disabled');
    for (const c of a) await s3failure(c.send(new GetObjectCommand({ Bucket: 'kms', Key: 'dis' })), 'KMS.DisabledException', 400);
    await s3failure(a[1]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'dis-2', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.arn })), 'KMS.DisabledException', 400);
    assert.equal((await a[1]!.send(new HeadObjectCommand({ Bucket: 'kms', Key: 'dis' }))).SSEKMSKeyId, keyA.arn);
    // The copy made under key B does not depend on key A.
    assert.equal((await getText(a[1]!, 'copy/to-b')).length, 500_000);
    const on = await pi(nodes[0]!, 's3', 'kms-key', 'enable', keyA.id);
    assert.equal(on['state'], 'Enabled');
    assert.equal((await getText(a[2]!, 'dis')).toString(), 'guarded');
    const metrics = nodes[0]!.s3.metrics();
    const ops = metrics.find((m) => m.name === 'pi_s3_kms_operations_total')!;
    assert.ok(ops.values.some((v) => v.labels?.['op'] === 'decrypt' && v.labels['result'] === 'disabled' && v.value >= 1), 'refusals are counted');
    assert.ok(nodes.some((n) => n.store.entries.some((e) => e['code'] === 'KmsKeyDisabled')), 'and logged with a stable code');
  });

  test('unknown keys are KMS.NotFoundException (400); a bare name is created on first use (autoCreateKeys) and then reused', async () => {
    for (const ref of [UNKNOWN_ID, 'alias/nope', `arn:aws:kms:us-east-1:000000000000:key/${UNKNOWN_ID}`, `arn:aws:kms:eu-west-9:000000000000:key/${keyA.id}`]) {
      await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'unknown', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: ref })), 'KMS.NotFoundException', 400);
    }
    const first = await a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'auto-1', Body: 'one', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'testkey-1' }));
    const second = await a[1]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'auto-2', Body: 'two', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'testkey-1' }));
    assert.match(first.SSEKMSKeyId ?? '', /^arn:aws:kms:/);
    assert.equal(second.SSEKMSKeyId, first.SSEKMSKeyId);
    const listed = (await call(nodes[2]!.ops!.url, '/api/s3/kms/keys')).body as unknown as { keys: KmsKeyInfo[] };
    assert.equal(listed.keys.filter((k) => k.alias === 'alias/testkey-1').length, 1);
    assert.equal((await getText(a[2]!, 'auto-1')).toString(), 'one');
  });

  test('bucket default aws:kms with a key and a Bucket Key: writes asking for nothing are SSE-KMS; GetBucketEncryption answers it', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'kms-default' }));
    await a[0]!.send(new PutBucketEncryptionCommand({ Bucket: 'kms-default', ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'alias/app-b' }, BucketKeyEnabled: true }] } }));
    const config = await a[0]!.send(new GetBucketEncryptionCommand({ Bucket: 'kms-default' }));
    const rule = config.ServerSideEncryptionConfiguration?.Rules?.[0];
    assert.equal(rule?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm, 'aws:kms');
    assert.equal(rule?.ApplyServerSideEncryptionByDefault?.KMSMasterKeyID, 'alias/app-b');
    assert.equal(rule?.BucketKeyEnabled, true);
    // Bucket records are cached up to cacheMs on other nodes: write through the node that set it.
    const put = await a[0]!.send(new PutObjectCommand({ Bucket: 'kms-default', Key: 'doc', Body: 'by default' }));
    assert.equal(put.ServerSideEncryption, 'aws:kms');
    assert.equal(put.SSEKMSKeyId, keyB.arn);
    assert.equal(put.BucketKeyEnabled, true);
    assert.deepEqual(JSON.parse(Buffer.from(put.SSEKMSEncryptionContext ?? '', 'base64').toString()), { 'aws:s3:arn': 'arn:aws:s3:::kms-default' }, 'a Bucket Key: the context names the bucket');
    const got = await a[2]!.send(new GetObjectCommand({ Bucket: 'kms-default', Key: 'doc' }));
    assert.equal(got.BucketKeyEnabled, true);
    assert.equal((await bytes(got.Body)).toString(), 'by default');
    const dsse = await a[0]!
      .send(new PutBucketEncryptionCommand({ Bucket: 'kms-default', ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms:dsse' } }] } }))
      .then(() => undefined, (err: { name?: string }) => err.name);
    assert.equal(dsse, 'NotImplemented');
  });

  test('a bucket policy requiring one KMS key (s3:x-amz-server-side-encryption-aws-kms-key-id) refuses writes under another key or none', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'kms-policy' }));
    const policy = {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'OnlyKeyB', Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::kms-policy/*', Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption-aws-kms-key-id': keyB.arn } } },
        { Sid: 'OnlyKms', Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::kms-policy/*', Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } } },
      ],
    };
    await a[0]!.send(new PutBucketPolicyCommand({ Bucket: 'kms-policy', Policy: JSON.stringify(policy) }));
    // Bucket records are cached up to cacheMs on other nodes: write through the node that set it.
    const ok = await a[0]!.send(new PutObjectCommand({ Bucket: 'kms-policy', Key: 'ok', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyB.arn }));
    assert.equal(ok.SSEKMSKeyId, keyB.arn);
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'kms-policy', Key: 'other-key', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.arn })), 'AccessDenied', 403);
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'kms-policy', Key: 'sse-s3', Body: 'x', ServerSideEncryption: 'AES256' })), 'AccessDenied', 403);
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'kms-policy', Key: 'plain', Body: 'x' })), 'AccessDenied', 403);
  });

  test('anonymous reads of a public SSE-KMS object need SigV4 (InvalidArgument), as S3 answers; a public SSE-S3 object reads', async () => {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'public-kms', Body: 'kms', ACL: 'public-read', ServerSideEncryption: 'aws:kms' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'kms', Key: 'public-s3', Body: 's3', ACL: 'public-read', ServerSideEncryption: 'AES256' }));
    const err = await s3failure(anon[1]!.send(new GetObjectCommand({ Bucket: 'kms', Key: 'public-kms' })), 'InvalidArgument', 400);
    assert.match(err.message, /require AWS Signature Version 4/);
    assert.equal((await bytes((await anon[1]!.send(new GetObjectCommand({ Bucket: 'kms', Key: 'public-s3' }))).Body)).toString(), 's3');
  });

  test('a POST form with x-amz-server-side-encryption aws:kms fields stores SSE-KMS', async () => {
    const { createPresignedPost } = await import('@aws-sdk/s3-presigned-post');
    const fields = { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': keyB.id };
    const post = await createPresignedPost(a[0]!, { Bucket: 'kms', Key: 'posted', Fields: fields, Expires: 600 });
    const form = new FormData();
    for (const [k, v] of Object.entries(post.fields)) form.append(k, v);
    form.append('file', new Blob(['posted by form']), 'f.txt');
    const request = new Request(post.url, { method: 'POST', body: form });
    const body = Buffer.from(await request.arrayBuffer());
    const r = await rawRequest(nodes[0]!.endpoint, undefined, { method: 'POST', path: '/kms', headers: { 'content-type': request.headers.get('content-type')! }, body });
    assert.ok(r.status === 204 || r.status === 200 || r.status === 201, `${r.status} ${r.body.toString()}`);
    assert.equal(r.headers['x-amz-server-side-encryption'], 'aws:kms');
    const head = await a[1]!.send(new HeadObjectCommand({ Bucket: 'kms', Key: 'posted' }));
    assert.equal(head.SSEKMSKeyId, keyB.arn);
    assert.equal((await getText(a[2]!, 'posted')).toString(), 'posted by form');
  });

  test("a master-key rotation: the rewrap of KMS key material (not of objects) under the new key; objects read with it", async () => {
    const env = memoryEnv().env;
    const dht = nodes[0]!.s3.catalog.dht;
    const rotated = new MasterKeys(new MasterKey(Buffer.alloc(32, 0x5e)), [new MasterKey(MASTER)]);
    const kms = new KmsKeys(dht, env, rotated, { region: 'us-east-1', autoCreateKeys: false });
    const dry = await kms.rewrapMaterial(true);
    assert.ok(dry.keys >= 4 && dry.rewrapped === dry.keys && dry.errors === 0, JSON.stringify(dry));
    const done = await kms.rewrapMaterial(false);
    assert.deepEqual(done, { keys: dry.keys, rewrapped: dry.keys, errors: 0 });
    assert.ok((await kms.list()).every((k) => k.masterKeyId === rotated.current.id));
    assert.equal((await kms.rewrapMaterial(true)).rewrapped, 0, 'nothing left to rewrap');
    // An object written before the rotation unwraps under the rewrapped key material.
    const catalog = nodes[0]!.s3.catalog;
    const entry = (await catalog.getObject((await catalog.bucket('kms'))!, 'rest/small'))!;
    const sealed = entry.sse as KmsSealedKey;
    assert.equal((await kms.unseal(sealed)).length, 32);
    // The context is the wrapped key's AAD: an entry whose context was changed does not unwrap.
    const otherContext = Buffer.from(JSON.stringify({ 'aws:s3:arn': 'arn:aws:s3:::kms/elsewhere' })).toString('base64');
    await assert.rejects(kms.unseal({ ...sealed, ctx: otherContext }), (err: { code?: string }) => err.code === 'InternalError');
    // The ring's nodes hold only the old master key now: they cannot unwrap the key material.
    await s3failure(a[1]!.send(new GetObjectCommand({ Bucket: 'kms', Key: 'rest/small' })), 'InternalError', 500);
  });
});

describe('SSE-KMS over plain HTTP', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    await runCleanups(cleanups);
  });

  test('refused with InvalidArgument (a secure connection is needed) unless s3.allowSseCustomerKeysOverHttp', async () => {
    const keyDir = await tempDir((fn) => cleanups.push(fn), 'pi-kms-http-');
    const keyFile = join(keyDir, 'master.key');
    await writeFile(keyFile, MASTER);
    for (const allow of [false, true]) {
      const [node] = await startS3Ring((fn) => cleanups.push(fn), 1, { s3: { sseMasterKeyFile: keyFile, allowSseCustomerKeysOverHttp: allow } });
      assert.ok(node!.endpoint.startsWith('http://'));
      const user = await createUser(node!, 'carol');
      const client = clientFor(node!.endpoint, user);
      cleanups.push(async () => client.destroy());
      await client.send(new CreateBucketCommand({ Bucket: 'plain' }));
      const put = client.send(new PutObjectCommand({ Bucket: 'plain', Key: 'k', Body: 'x', ServerSideEncryption: 'aws:kms' }));
      if (!allow) {
        const err = await s3failure(put, 'InvalidArgument', 400);
        assert.equal(err.message, 'Requests specifying Server Side Encryption with AWS KMS managed keys must be made over a secure connection.');
        await s3failure(client.send(new HeadObjectCommand({ Bucket: 'plain', Key: 'k' })), undefined, 404);
      } else {
        assert.equal((await put).ServerSideEncryption, 'aws:kms');
        assert.equal((await bytes((await client.send(new GetObjectCommand({ Bucket: 'plain', Key: 'k' }))).Body)).toString(), 'x');
      }
    }
  });
});
