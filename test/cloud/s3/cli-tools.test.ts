/**
 * Pi Cloud S3 with the command-line clients people use, unchanged: Debian's `awscli` (aws-cli v2)
 * and `s3cmd` (CI installs both through .ci/run), pointed at a 3-node loopback ring whose
 * endpoints speak HTTPS (both tools verify the certificate against the CA file): mb, cp
 * (including a multipart upload, and SSE-C with awscli), ls, sync, rm, rb — each tool on another
 * node, each reading what the other wrote. AWS Signature Version 2 with s3cmd's `--signature-v2`
 * and with botocore's `signature_version = 's3'` (awscli v2 signs only SigV4; its botocore has no
 * HmacV1 signer), including botocore's presigned URL and POST form, checked to be SigV2 by the
 * endpoint's `pi_s3_auth_total` counter. The test fails, not skips, when a tool is missing.
 */
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { base32Decode, totp } from '../../../src/cloud/s3/protocol/index.ts';
import { createUser, endpointCertificate, pattern, rawRequest, startS3Ring } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { call, tempDir } from '../../node/fixtures.ts';
import { waitFor } from '../../helpers/wait.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const run = promisify(execFile);

/** Debian's binary when installed (a pip-installed `aws` may come first on PATH), else PATH's. */
function tool(name: string): string {
  const debian = `/usr/bin/${name}`;
  return existsSync(debian) ? debian : name;
}

/**
 * A Python whose botocore still has the HmacV1 (SigV2) signers: Debian's (python3-botocore, which
 * .ci/run installs) when it has them, else the first `python3` on PATH, by its real path.
 */
async function pythonWithBotocore(): Promise<string> {
  const probe = 'import sys, botocore.auth as a; assert "s3" in a.AUTH_TYPE_MAPS; print(sys.executable)';
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    try {
      return (await run(candidate, ['-c', probe])).stdout.trim();
    } catch {
      // try the next one
    }
  }
  throw new Error('no python3 with botocore (apt-get install -y python3-botocore, as .ci/run does)');
}

/**
 * botocore with `signature_version='s3'` (HmacV1, i.e. SigV2) against ENDPOINT: every call below is
 * signed with SigV2; prints what the test checks, a presigned GET URL and a presigned POST form.
 */
const BOTOCORE_SIGV2_SCRIPT = `
import json, os
import botocore.session
from botocore.config import Config

session = botocore.session.get_session()
s3 = session.create_client(
    's3', region_name='us-east-1', endpoint_url=os.environ['ENDPOINT'], verify=os.environ['CA'],
    aws_access_key_id=os.environ['AKID'], aws_secret_access_key=os.environ['SECRET'],
    config=Config(signature_version='s3', s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))
b = 'boto-v2'
s3.create_bucket(Bucket=b)
s3.put_object(Bucket=b, Key='dir/a b.txt', Body=b'signed with HMAC-SHA1\\n', ContentType='text/plain')
s3.put_object(Bucket=b, Key='dir/c+d.txt', Body=b'plus', Metadata={'colour': 'blue'})
part = 5 * 1024 * 1024
data = bytes(range(256)) * (part // 256) + b'x' * (1024 * 1024 + 5)
up = s3.create_multipart_upload(Bucket=b, Key='big.bin')
parts = []
for n, chunk in enumerate([data[:part], data[part:]], start=1):
    r = s3.upload_part(Bucket=b, Key='big.bin', UploadId=up['UploadId'], PartNumber=n, Body=chunk)
    parts.append({'ETag': r['ETag'], 'PartNumber': n})
s3.list_parts(Bucket=b, Key='big.bin', UploadId=up['UploadId'])
s3.complete_multipart_upload(Bucket=b, Key='big.bin', UploadId=up['UploadId'], MultipartUpload={'Parts': parts})
big = len(s3.get_object(Bucket=b, Key='big.bin')['Body'].read())
keys = [o['Key'] for o in s3.list_objects_v2(Bucket=b)['Contents']]
acl = s3.get_object_acl(Bucket=b, Key='dir/a b.txt')['Grants'][0]['Permission']
s3.put_object_tagging(Bucket=b, Key='dir/c+d.txt', Tagging={'TagSet': [{'Key': 'colour', 'Value': 'blue'}]})
tags = {t['Key']: t['Value'] for t in s3.get_object_tagging(Bucket=b, Key='dir/c+d.txt')['TagSet']}
s3.head_object(Bucket=b, Key='dir/c+d.txt')
s3.delete_objects(Bucket=b, Delete={'Objects': [{'Key': 'dir/c+d.txt'}]})
s3.delete_object(Bucket=b, Key='big.bin')
url = s3.generate_presigned_url('get_object', Params={'Bucket': b, 'Key': 'dir/a b.txt'}, ExpiresIn=300)
post = s3.generate_presigned_post(b, 'forms/\${filename}', Conditions=[['starts-with', '$key', 'forms/']], ExpiresIn=300)
print(json.dumps({'keys': keys, 'acl': acl, 'tags': tags, 'big': big, 'url': url, 'post': post}))
`;

describe('awscli and s3cmd against a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let user: TestUser;
  let dir: string;
  let awsEnv: NodeJS.ProcessEnv;
  let s3cmdConfig: string;

  before(async () => {
    for (const name of ['aws', 's3cmd']) {
      try {
        await run(tool(name), ['--version']);
      } catch (err) {
        throw new Error(`${name} is not installed (apt-get install -y awscli s3cmd, as .ci/run does): ${(err as Error).message}`);
      }
    }
    const tls = await endpointCertificate((fn) => cleanups.push(fn));
    // A master key: SSE-KMS keys (aws cp --sse aws:kms) are wrapped under it.
    const keyDir = await tempDir((fn) => cleanups.push(fn), 'pi-s3-cli-key-');
    await writeFile(join(keyDir, 'master.key'), Buffer.alloc(32, 0x6b));
    nodes = await startS3Ring((fn) => cleanups.push(fn), 3, { s3: { sseMasterKeyFile: join(keyDir, 'master.key') } }, tls);
    assert.match(nodes[0]!.endpoint, /^https:\/\//);
    user = await createUser(nodes[0]!, 'cli-user');
    dir = await tempDir((fn) => cleanups.push(fn), 'pi-s3-cli-');
    const caFile = join(dir, 'ca.pem');
    await writeFile(caFile, tls.caPem);
    await writeFile(join(dir, 'aws-config'), '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n');
    awsEnv = {
      PATH: process.env['PATH'],
      HOME: dir,
      AWS_ACCESS_KEY_ID: user.accessKey,
      AWS_SECRET_ACCESS_KEY: user.secret,
      AWS_CONFIG_FILE: join(dir, 'aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_PAGER: '',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CA_BUNDLE: caFile,
    };
    const host = new URL(nodes[1]!.endpoint).host;
    s3cmdConfig = join(dir, 's3cmd.cfg');
    await writeFile(
      s3cmdConfig,
      [
        '[default]',
        `access_key = ${user.accessKey}`,
        `secret_key = ${user.secret}`,
        `host_base = ${host}`,
        `host_bucket = ${host}`,
        'use_https = True',
        `ca_certs_file = ${caFile}`,
        'check_ssl_certificate = True',
        'check_ssl_hostname = True',
        'signature_v2 = False',
        'bucket_location = us-east-1',
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  async function aws(...args: string[]): Promise<string> {
    const { stdout } = await run(tool('aws'), ['--endpoint-url', nodes[0]!.endpoint, ...args], { env: awsEnv, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  }

  /** `aws s3api select-object-content` on `bucket/key`; the records awscli wrote to a file. */
  async function awsSelect(bucket: string, key: string, expression: string, input: object, output: object): Promise<string> {
    const file = join(dir, `${key}.selected`);
    await aws('s3api', 'select-object-content', '--bucket', bucket, '--key', key, '--expression-type', 'SQL', '--expression', expression, '--input-serialization', JSON.stringify(input), '--output-serialization', JSON.stringify(output), file);
    return readFile(file, 'utf8');
  }

  /** POSTs a form over HTTPS trusting the ring's CA (fetch has no per-request CA). */
  async function rawPostForm(url: string, form: FormData): Promise<{ status: number; body: string }> {
    const request = new Request(url, { method: 'POST', body: form });
    const u = new URL(url);
    const r = await rawRequest(u.origin, undefined, {
      method: 'POST',
      path: u.pathname + u.search,
      headers: { 'content-type': request.headers.get('content-type')! },
      body: Buffer.from(await request.arrayBuffer()),
    });
    return { status: r.status, body: r.body.toString() };
  }

  /** The `pi_s3_auth_total` counters of a node, by scheme. */
  function authCounts(node: S3Node): Record<string, number> {
    const family = node.s3.metrics().find((m) => m.name === 'pi_s3_auth_total');
    return Object.fromEntries((family?.values ?? []).map((v) => [v.labels?.['scheme'] ?? '', v.value]));
  }

  /** How each scheme's count of `node` grew since `before`. */
  function authGrowth(node: S3Node, before: Record<string, number>): Record<string, number> {
    const now = authCounts(node);
    return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0));
  }

  async function s3cmd(...args: string[]): Promise<string> {
    const { stdout } = await run(tool('s3cmd'), ['-c', s3cmdConfig, '--no-progress', ...args], { env: { PATH: process.env['PATH'], HOME: dir }, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  }

  test('aws s3 mb / cp / sync / ls / rm / rb, read back with s3cmd', async () => {
    const src = join(dir, 'aws-src');
    await mkdir(join(src, 'sub'), { recursive: true });
    const big = pattern(10 * 1024 * 1024 + 17, 1); // above awscli's 8 MiB multipart threshold
    await writeFile(join(dir, 'big.bin'), big);
    await writeFile(join(src, 'a.txt'), 'file a\n');
    await writeFile(join(src, 'sub', 'b.txt'), 'file b\n');
    await writeFile(join(src, 'c.bin'), pattern(300_000, 2));

    assert.match(await aws('s3', 'mb', 's3://aws-bucket'), /make_bucket: aws-bucket/);
    await aws('s3', 'cp', join(dir, 'big.bin'), 's3://aws-bucket/big.bin');
    const synced = await aws('s3', 'sync', src, 's3://aws-bucket/tree');
    assert.equal(synced.match(/upload:/g)?.length, 3);
    const listing = await aws('s3', 'ls', '--recursive', 's3://aws-bucket');
    for (const key of ['big.bin', 'tree/a.txt', 'tree/sub/b.txt', 'tree/c.bin']) assert.match(listing, new RegExp(` ${key.replace('.', '\\.')}$`, 'm'));

    // s3cmd (through another node) reads what aws wrote.
    await s3cmd('get', 's3://aws-bucket/big.bin', join(dir, 'big.back'));
    assert.ok((await readFile(join(dir, 'big.back'))).equals(big), 'the multipart object comes back byte for byte');
    const s3cmdLs = await s3cmd('ls', 's3://aws-bucket/tree/');
    assert.match(s3cmdLs, /s3:\/\/aws-bucket\/tree\/a\.txt/);
    assert.match(s3cmdLs, /DIR\s+s3:\/\/aws-bucket\/tree\/sub\//);

    await aws('s3', 'cp', 's3://aws-bucket/tree/sub/b.txt', join(dir, 'b.back'));
    assert.equal(await readFile(join(dir, 'b.back'), 'utf8'), 'file b\n');
    const removed = await aws('s3', 'rm', '--recursive', 's3://aws-bucket');
    assert.equal(removed.match(/delete:/g)?.length, 4);
    assert.match(await aws('s3', 'rb', 's3://aws-bucket'), /remove_bucket: aws-bucket/);
  });

  test('aws s3api versioning: put-bucket-versioning, versions of overwrites, get-object --version-id, list-object-versions, delete markers', async () => {
    await aws('s3', 'mb', 's3://aws-versions');
    await aws('s3api', 'put-bucket-versioning', '--bucket', 'aws-versions', '--versioning-configuration', 'Status=Enabled');
    assert.equal(JSON.parse(await aws('s3api', 'get-bucket-versioning', '--bucket', 'aws-versions')).Status, 'Enabled');
    await writeFile(join(dir, 'v1.txt'), 'first\n');
    await writeFile(join(dir, 'v2.txt'), 'second\n');
    const first = JSON.parse(await aws('s3api', 'put-object', '--bucket', 'aws-versions', '--key', 'doc.txt', '--body', join(dir, 'v1.txt'))).VersionId as string;
    await aws('s3', 'cp', join(dir, 'v2.txt'), 's3://aws-versions/doc.txt');
    await aws('s3', 'rm', 's3://aws-versions/doc.txt');
    const versions = JSON.parse(await aws('s3api', 'list-object-versions', '--bucket', 'aws-versions'));
    assert.equal(versions.Versions.length, 2);
    assert.equal(versions.DeleteMarkers.length, 1);
    assert.equal(versions.DeleteMarkers[0].IsLatest, true);
    assert.equal(await aws('s3', 'ls', 's3://aws-versions'), '', 'the delete marker hides the key');
    await aws('s3api', 'get-object', '--bucket', 'aws-versions', '--key', 'doc.txt', '--version-id', first, join(dir, 'v1.back'));
    assert.equal(await readFile(join(dir, 'v1.back'), 'utf8'), 'first\n');
    for (const v of [...versions.Versions, ...versions.DeleteMarkers]) await aws('s3api', 'delete-object', '--bucket', 'aws-versions', '--key', 'doc.txt', '--version-id', v.VersionId);
    assert.match(await aws('s3', 'rb', 's3://aws-versions'), /remove_bucket: aws-versions/);
  });

  test('aws s3api put-bucket-replication / get-bucket-replication (the documented example); a copied file is replicated; delete-bucket-replication', async () => {
    for (const bucket of ['aws-repl', 'aws-repl-backup']) {
      await aws('s3', 'mb', `s3://${bucket}`);
      await aws('s3api', 'put-bucket-versioning', '--bucket', bucket, '--versioning-configuration', 'Status=Enabled');
    }
    const config = {
      Role: 'arn:aws:iam::000000000000:role/replication',
      Rules: [{ ID: 'all', Priority: 1, Status: 'Enabled', Filter: { Prefix: '' }, Destination: { Bucket: 'arn:aws:s3:::aws-repl-backup' }, DeleteMarkerReplication: { Status: 'Enabled' } }],
    };
    await aws('s3api', 'put-bucket-replication', '--bucket', 'aws-repl', '--replication-configuration', JSON.stringify(config));
    assert.deepEqual(JSON.parse(await aws('s3api', 'get-bucket-replication', '--bucket', 'aws-repl')).ReplicationConfiguration, config);
    await writeFile(join(dir, 'replicated.txt'), 'copy me\n');
    await aws('s3', 'cp', join(dir, 'replicated.txt'), 's3://aws-repl/replicated.txt');
    const head = await waitFor(async () => {
      const h = JSON.parse(await aws('s3api', 'head-object', '--bucket', 'aws-repl-backup', '--key', 'replicated.txt')) as { ReplicationStatus?: string; VersionId?: string };
      return h.ReplicationStatus === 'REPLICA' ? h : undefined;
    }, { timeoutMs: 20_000, what: 'the replica' });
    assert.equal(head.VersionId, JSON.parse(await aws('s3api', 'head-object', '--bucket', 'aws-repl', '--key', 'replicated.txt')).VersionId);
    await aws('s3api', 'delete-bucket-replication', '--bucket', 'aws-repl');
    await assert.rejects(aws('s3api', 'get-bucket-replication', '--bucket', 'aws-repl'), /ReplicationConfigurationNotFoundError/);
  });

  test('aws s3api put-bucket-notification-configuration (the documented example) / get-bucket-notification-configuration', async () => {
    await aws('s3', 'mb', 's3://aws-events');
    const config = {
      TopicConfigurations: [{ Id: 'new-photos', TopicArn: 'arn:aws:sns:us-east-1:000000000000:photo-events', Events: ['s3:ObjectCreated:*'], Filter: { Key: { FilterRules: [{ Name: 'Suffix', Value: '.jpg' }] } } }],
    };
    // (S3 answers the rule names capitalised, as given here.)
    await aws('s3api', 'put-bucket-notification-configuration', '--bucket', 'aws-events', '--notification-configuration', JSON.stringify(config));
    const got = JSON.parse(await aws('s3api', 'get-bucket-notification-configuration', '--bucket', 'aws-events'));
    assert.deepEqual(got.TopicConfigurations, config.TopicConfigurations);
  });

  test('aws s3api select-object-content: a CSV query and a gzipped JSON LINES aggregate, written to files by awscli', async () => {
    await aws('s3', 'mb', 's3://aws-select');
    await writeFile(join(dir, 'cities.csv'), 'city,country,population\nOslo,NO,709000\nLima,PE,10004000\nPune,IN,7166000\nRome,IT,2750000\n');
    await aws('s3', 'cp', join(dir, 'cities.csv'), 's3://aws-select/cities.csv');
    const big = await awsSelect('aws-select', 'cities.csv', "SELECT s.city FROM S3Object s WHERE CAST(s.population AS INT) > 2000000 AND s.country <> 'IT'", { CSV: { FileHeaderInfo: 'USE' } }, { CSV: {} });
    assert.equal(big, 'Lima\nPune\n');
    const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ n: i, even: i % 2 === 0 })).join('\n');
    await writeFile(join(dir, 'numbers.jsonl.gz'), gzipSync(lines));
    await aws('s3', 'cp', join(dir, 'numbers.jsonl.gz'), 's3://aws-select/numbers.jsonl.gz');
    const sum = await awsSelect('aws-select', 'numbers.jsonl.gz', 'SELECT COUNT(*) AS c, SUM(s.n) AS total FROM S3Object s WHERE s.even', { JSON: { Type: 'LINES' }, CompressionType: 'GZIP' }, { JSON: {} });
    assert.deepEqual(JSON.parse(sum), { c: 250, total: 62250 });
    await aws('s3', 'rm', '--recursive', 's3://aws-select');
    await aws('s3', 'rb', 's3://aws-select');
  });

  test('aws s3api: select-object-content over a Parquet object; MFA delete with --mfa', async () => {
    await aws('s3', 'mb', 's3://aws-parquet');
    const n = 5000;
    const ids = Array.from({ length: n }, (_, i) => i);
    await writeFile(join(dir, 'rows.parquet'), Buffer.from(parquetWriteBuffer({ columnData: [{ name: 'id', data: ids, type: 'INT32' }, { name: 'tag', data: ids.map((i) => (i % 4 === 0 ? 'four' : 'other')), type: 'STRING' }], rowGroupSize: 1000 })));
    await aws('s3', 'cp', join(dir, 'rows.parquet'), 's3://aws-parquet/rows.parquet');
    const counted = await awsSelect('aws-parquet', 'rows.parquet', "SELECT COUNT(*) AS c, MAX(s.id) AS top FROM S3Object s WHERE s.tag = 'four'", { Parquet: {} }, { JSON: {} });
    assert.deepEqual(JSON.parse(counted), { c: 1250, top: 4996 });

    const device = (await call(nodes[1]!.ops!.url, '/api/s3/users/cli-user/mfa', { method: 'POST', body: {} })).body as { serial: string; secret: string };
    // Codes are good once, and none older than the last used: the first call takes the previous step's.
    const mfa = (stepOffset = 0): string => `${device.serial} ${totp(base32Decode(device.secret)!, Date.now() + stepOffset * 30_000)}`;
    await aws('s3api', 'put-bucket-versioning', '--bucket', 'aws-parquet', '--versioning-configuration', 'Status=Enabled,MFADelete=Enabled', '--mfa', mfa(-1));
    assert.equal(JSON.parse(await aws('s3api', 'get-bucket-versioning', '--bucket', 'aws-parquet')).MFADelete, 'Enabled');
    await aws('s3', 'cp', join(dir, 'rows.parquet'), 's3://aws-parquet/rows.parquet');
    const versions = JSON.parse(await aws('s3api', 'list-object-versions', '--bucket', 'aws-parquet')).Versions as { VersionId: string }[];
    const version = versions.find((v) => v.VersionId !== 'null')!.VersionId;
    await assert.rejects(aws('s3api', 'delete-object', '--bucket', 'aws-parquet', '--key', 'rows.parquet', '--version-id', version), /AccessDenied/);
    await aws('s3api', 'delete-object', '--bucket', 'aws-parquet', '--key', 'rows.parquet', '--version-id', version, '--mfa', mfa());
    const left = JSON.parse(await aws('s3api', 'list-object-versions', '--bucket', 'aws-parquet')).Versions as { VersionId: string }[];
    assert.ok(!left.some((v) => v.VersionId === version), 'the version is gone');
  });

  test('aws s3 website: sets the website configuration; s3api get-bucket-website / delete-bucket-website', async () => {
    await aws('s3', 'mb', 's3://aws-site');
    await aws('s3', 'website', 's3://aws-site', '--index-document', 'index.html', '--error-document', 'error.html');
    const config = JSON.parse(await aws('s3api', 'get-bucket-website', '--bucket', 'aws-site'));
    assert.deepEqual({ IndexDocument: config.IndexDocument, ErrorDocument: config.ErrorDocument }, { IndexDocument: { Suffix: 'index.html' }, ErrorDocument: { Key: 'error.html' } });
    await aws('s3api', 'delete-bucket-website', '--bucket', 'aws-site');
    await assert.rejects(aws('s3api', 'get-bucket-website', '--bucket', 'aws-site'), /NoSuchWebsiteConfiguration/);
    assert.match(await aws('s3', 'rb', 's3://aws-site'), /remove_bucket: aws-site/);
  });

  test('aws s3 cp --sse-c: an encrypted multipart upload and a small object, read back with the key, re-keyed by an S3-to-S3 copy', async () => {
    const keyA = join(dir, 'key-a.bin');
    const keyB = join(dir, 'key-b.bin');
    await writeFile(keyA, Buffer.alloc(32, 0x5a));
    await writeFile(keyB, Buffer.alloc(32, 0xa5));
    const big = pattern(9 * 1024 * 1024 + 5, 7); // multipart (awscli's threshold is 8 MiB)
    await writeFile(join(dir, 'sse-big.bin'), big);
    await writeFile(join(dir, 'sse-small.txt'), 'small and secret\n');
    const withKey = (file: string): string[] => ['--sse-c', 'AES256', '--sse-c-key', `fileb://${file}`];
    await aws('s3', 'mb', 's3://aws-sse');
    await aws('s3', 'cp', join(dir, 'sse-big.bin'), 's3://aws-sse/big.bin', ...withKey(keyA));
    await aws('s3', 'cp', join(dir, 'sse-small.txt'), 's3://aws-sse/small.txt', ...withKey(keyA));
    await assert.rejects(aws('s3', 'cp', 's3://aws-sse/small.txt', join(dir, 'nokey.back')), /400|Bad Request/, 'no key, no data');
    await aws('s3', 'cp', 's3://aws-sse/big.bin', join(dir, 'sse-big.back'), ...withKey(keyA));
    assert.ok((await readFile(join(dir, 'sse-big.back'))).equals(big), 'the encrypted multipart object comes back byte for byte');
    // An S3-to-S3 copy from key A to key B.
    await aws('s3', 'cp', 's3://aws-sse/small.txt', 's3://aws-sse/small-b.txt', '--sse-c-copy-source', 'AES256', '--sse-c-copy-source-key', `fileb://${keyA}`, ...withKey(keyB));
    await aws('s3', 'cp', 's3://aws-sse/small-b.txt', join(dir, 'sse-small.back'), ...withKey(keyB));
    assert.equal(await readFile(join(dir, 'sse-small.back'), 'utf8'), 'small and secret\n');
    await assert.rejects(aws('s3', 'cp', 's3://aws-sse/small-b.txt', join(dir, 'wrong.back'), ...withKey(keyA)), /403|Forbidden/, 'another key is refused');
    await aws('s3', 'rm', '--recursive', 's3://aws-sse');
    await aws('s3', 'rb', 's3://aws-sse');
  });

  test('aws s3 cp --sse aws:kms --sse-kms-key-id: a key made through the ops API (by alias and by id), a multipart upload, read back; head-object shows the key ARN', async () => {
    const created = await call(nodes[2]!.ops!.url, '/api/s3/kms/keys', { method: 'POST', body: { alias: 'cli-key' } });
    assert.equal(created.status, 201, created.text);
    const arn = created.body['arn'] as string;
    const big = pattern(9 * 1024 * 1024 + 11, 8); // multipart (awscli's threshold is 8 MiB)
    await writeFile(join(dir, 'kms-big.bin'), big);
    await writeFile(join(dir, 'kms-small.txt'), 'kms small\n');
    await aws('s3', 'mb', 's3://aws-kms');
    await aws('s3', 'cp', join(dir, 'kms-big.bin'), 's3://aws-kms/big.bin', '--sse', 'aws:kms', '--sse-kms-key-id', 'alias/cli-key');
    await aws('s3', 'cp', join(dir, 'kms-small.txt'), 's3://aws-kms/small.txt', '--sse', 'aws:kms', '--sse-kms-key-id', created.body['id'] as string);
    for (const key of ['big.bin', 'small.txt']) {
      const head = JSON.parse(await aws('s3api', 'head-object', '--bucket', 'aws-kms', '--key', key)) as { ServerSideEncryption?: string; SSEKMSKeyId?: string };
      assert.equal(head.ServerSideEncryption, 'aws:kms', key);
      assert.equal(head.SSEKMSKeyId, arn, key);
    }
    await aws('s3', 'cp', 's3://aws-kms/big.bin', join(dir, 'kms-big.back'));
    assert.ok((await readFile(join(dir, 'kms-big.back'))).equals(big), 'the SSE-KMS multipart object comes back byte for byte');
    await aws('s3', 'cp', 's3://aws-kms/small.txt', join(dir, 'kms-small.back'));
    assert.equal(await readFile(join(dir, 'kms-small.back'), 'utf8'), 'kms small\n');
    await assert.rejects(aws('s3', 'cp', join(dir, 'kms-small.txt'), 's3://aws-kms/nokey.txt', '--sse', 'aws:kms', '--sse-kms-key-id', 'alias/not-made'), /KMS\.NotFoundException/);
    await aws('s3', 'rm', '--recursive', 's3://aws-kms');
    await aws('s3', 'rb', 's3://aws-kms');
  });

  test('s3cmd mb / put / sync / ls / get / del / rb, read back with aws', async () => {
    const src = join(dir, 's3cmd-src');
    await mkdir(join(src, 'deep', 'er'), { recursive: true });
    await writeFile(join(src, 'one.txt'), 'one\n');
    await writeFile(join(src, 'deep', 'two.txt'), 'two\n');
    await writeFile(join(src, 'deep', 'er', 'three.bin'), pattern(700_000, 3));

    assert.match(await s3cmd('mb', 's3://s3cmd-bucket'), /Bucket 's3:\/\/s3cmd-bucket\/' created/);
    await s3cmd('put', join(src, 'one.txt'), 's3://s3cmd-bucket/single/one.txt');
    const synced = await s3cmd('sync', `${src}/`, 's3://s3cmd-bucket/tree/');
    assert.match(synced, /three\.bin/);
    const listing = await s3cmd('ls', '--recursive', 's3://s3cmd-bucket');
    for (const key of ['single/one.txt', 'tree/one.txt', 'tree/deep/two.txt', 'tree/deep/er/three.bin']) assert.ok(listing.includes(`s3://s3cmd-bucket/${key}`), `${key} listed:\n${listing}`);

    // aws (through node 0) reads what s3cmd wrote.
    await aws('s3', 'cp', 's3://s3cmd-bucket/tree/deep/er/three.bin', join(dir, 'three.back'));
    assert.ok((await readFile(join(dir, 'three.back'))).equals(pattern(700_000, 3)));
    await s3cmd('get', 's3://s3cmd-bucket/tree/deep/two.txt', join(dir, 'two.back'));
    assert.equal(await readFile(join(dir, 'two.back'), 'utf8'), 'two\n');

    await s3cmd('del', '--recursive', '--force', 's3://s3cmd-bucket/');
    assert.match(await s3cmd('rb', 's3://s3cmd-bucket'), /Bucket 's3:\/\/s3cmd-bucket\/' removed/);
  });

  test('botocore (the library under awscli) with signature_version = s3 (SigV2): bucket, objects, multipart, ACL, tags, batch delete; a presigned URL and a POST form read and sent by plain clients', async () => {
    // awscli v2 (Debian's) signs only SigV4, whatever its configuration says: its bundled botocore
    // has no HmacV1 signer. botocore itself keeps it (`signature_version='s3'`, `'s3-query'` for
    // presigned URLs, `'s3-presign-post'` for forms), as boto3 and awscli v1 use it.
    const python = await pythonWithBotocore();
    const before = authCounts(nodes[0]!);
    const script = join(dir, 'sigv2.py');
    await writeFile(script, BOTOCORE_SIGV2_SCRIPT);
    const { stdout } = await run(python, [script], {
      env: { PATH: process.env['PATH'], HOME: dir, ENDPOINT: nodes[0]!.endpoint, CA: join(dir, 'ca.pem'), AKID: user.accessKey, SECRET: user.secret },
      maxBuffer: 16 * 1024 * 1024,
    });
    const out = JSON.parse(stdout) as { keys: string[]; acl: string; tags: Record<string, string>; big: number; url: string; post: { url: string; fields: Record<string, string> } };
    assert.deepEqual(out.keys, ['big.bin', 'dir/a b.txt', 'dir/c+d.txt']);
    assert.equal(out.acl, 'FULL_CONTROL');
    assert.deepEqual(out.tags, { colour: 'blue' });
    assert.equal(out.big, 6 * 1024 * 1024 + 5);

    // The presigned URL (AWSAccessKeyId / Expires / Signature), fetched by a client that signs nothing.
    const url = new URL(out.url);
    assert.ok(url.searchParams.has('AWSAccessKeyId') && url.searchParams.has('Signature') && url.searchParams.has('Expires'), url.href);
    const got = await rawRequest(nodes[0]!.endpoint, undefined, { method: 'GET', path: url.pathname + url.search });
    assert.equal(got.status, 200, got.body.toString());
    assert.equal(got.body.toString(), 'signed with HMAC-SHA1\n');
    // The POST form (AWSAccessKeyId, policy, signature), sent as a browser would.
    assert.ok('AWSAccessKeyId' in out.post.fields && 'signature' in out.post.fields && !('x-amz-signature' in out.post.fields), JSON.stringify(out.post.fields));
    const form = new FormData();
    for (const [name, value] of Object.entries(out.post.fields)) form.append(name, value);
    form.append('file', new Blob([Buffer.from('posted through a botocore form')]), 'form.txt');
    const posted = await rawPostForm(out.post.url, form);
    assert.equal(posted.status, 204, posted.body);

    // Every request botocore made was SigV2 (and the presigned GET too); none was SigV4.
    const growth = authGrowth(nodes[0]!, before);
    assert.ok((growth['sigv2-header'] ?? 0) >= 14, JSON.stringify(growth));
    assert.equal(growth['sigv2-presigned'], 1, JSON.stringify(growth));
    assert.equal(growth['sigv4-header'], undefined, JSON.stringify(growth));
    assert.equal(growth['sigv4-presigned'], undefined, JSON.stringify(growth));

    // The form's object, read back with SigV4.
    const back = await rawRequest(nodes[1]!.endpoint, user, { method: 'GET', path: '/boto-v2/forms/form.txt' });
    assert.equal(back.status, 200, back.body.toString());
    assert.equal(back.body.toString(), 'posted through a botocore form');
  });

  test('s3cmd --signature-v2: mb / put / ls / get / del / rb', async () => {
    const node = nodes[1]!;
    const before = authCounts(node);
    await writeFile(join(dir, 's3cmd-v2.txt'), 'from s3cmd, SigV2\n');
    const v2 = (...args: string[]): Promise<string> => s3cmd('--signature-v2', ...args);
    assert.match(await v2('mb', 's3://s3cmd-v2'), /Bucket 's3:\/\/s3cmd-v2\/' created/);
    await v2('put', join(dir, 's3cmd-v2.txt'), 's3://s3cmd-v2/some/file.txt');
    assert.match(await v2('ls', '--recursive', 's3://s3cmd-v2'), /s3:\/\/s3cmd-v2\/some\/file\.txt/);
    await v2('get', 's3://s3cmd-v2/some/file.txt', join(dir, 's3cmd-v2.back'));
    assert.equal(await readFile(join(dir, 's3cmd-v2.back'), 'utf8'), 'from s3cmd, SigV2\n');
    await v2('del', 's3://s3cmd-v2/some/file.txt');
    assert.equal((await v2('ls', '--recursive', 's3://s3cmd-v2')).trim(), '');
    assert.match(await v2('rb', 's3://s3cmd-v2'), /Bucket 's3:\/\/s3cmd-v2\/' removed/);
    const growth = authGrowth(node, before);
    assert.ok((growth['sigv2-header'] ?? 0) >= 6, JSON.stringify(growth));
    assert.equal(growth['sigv4-header'], undefined, JSON.stringify(growth));
  });
});
