/**
 * Pi Cloud S3 with the command-line clients people use, unchanged: Debian's `awscli` (aws-cli v2)
 * and `s3cmd` (CI installs both through .ci/run), pointed at a 3-node loopback ring whose
 * endpoints speak HTTPS (both tools verify the certificate against the CA file): mb, cp
 * (including a multipart upload, and SSE-C with awscli), ls, sync, rm, rb — each tool on another
 * node, each reading what the other wrote. The test fails, not skips, when a tool is missing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createUser, endpointCertificate, pattern, startS3Ring } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { tempDir } from '../../node/fixtures.ts';

const run = promisify(execFile);

/** Debian's binary when installed (a pip-installed `aws` may come first on PATH), else PATH's. */
function tool(name: string): string {
  const debian = `/usr/bin/${name}`;
  return existsSync(debian) ? debian : name;
}

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
    nodes = await startS3Ring((fn) => cleanups.push(fn), 3, {}, tls);
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
    for (const c of cleanups.reverse()) await c();
  });

  async function aws(...args: string[]): Promise<string> {
    const { stdout } = await run(tool('aws'), ['--endpoint-url', nodes[0]!.endpoint, ...args], { env: awsEnv, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
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
});
