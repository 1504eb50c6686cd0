/**
 * The S3 endpoint over HTTPS (`s3.tls.cert`, `s3.tls.key`) and what depends on the transport:
 * the AWS SDK over TLS with the ring CA, virtual-hosted names through SNI, SSE-C keys accepted
 * over TLS (requests and POST forms) and refused over plain HTTP as S3 refuses them (unless
 * `s3.allowSseCustomerKeysOverHttp`, for endpoints behind a TLS-terminating proxy), bucket policies on
 * `aws:SecureTransport`, a renewed certificate served without a restart, a broken renewal
 * refused, and a node that will not start with a key that is not its certificate's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';
import { CopyObjectCommand, CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { TEST_S3, bytes, clientFor, createUser, endpointCertificate, pattern, rawRequest, s3failure, startS3Ring } from './harness.ts';
import type { EndpointCertificate, S3Node, TestUser } from './harness.ts';
import { call, logged, ringCa, startNode } from '../../node/fixtures.ts';
import { createNodeCert } from '../../../src/node/certs.ts';
import type { S3Service } from '../../../src/cloud/s3/service.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const KEY = Buffer.alloc(32, 0x5e);
const OTHER_KEY = Buffer.alloc(32, 0x6f);

function ssec(key: Buffer): { SSECustomerAlgorithm: string; SSECustomerKey: string } {
  return { SSECustomerAlgorithm: 'AES256', SSECustomerKey: key.toString('base64') };
}

/** A bucket policy denying every request that does not come over TLS. */
function denyInsecure(bucket: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } } }],
  });
}

/** The SHA-256 fingerprint of the certificate a fresh TLS connection to `endpoint` is served. */
function servedFingerprint(endpoint: string, caPem: string): Promise<string> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), ca: caPem, servername: 'localhost' }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}

/** Posts a browser form (fields, then the file) to `url` over HTTPS, trusting `caPem`. */
async function postFormHttps(url: string, fields: Record<string, string>, file: Buffer, caPem: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('file', new Blob([file]), 'upload.bin');
  // A Request serialises the form as a browser would, boundary and all.
  const encoded = new Request('https://form.invalid/', { method: 'POST', body: form });
  const body = Buffer.from(await encoded.arrayBuffer());
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const r = httpsRequest(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', ca: caPem, headers: { 'content-type': encoded.headers.get('content-type')!, 'content-length': String(body.length) } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

describe('the S3 endpoint over HTTPS', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let tls: EndpointCertificate;
  let node: S3Node;
  let alice: TestUser;
  let client: S3Client;

  before(async () => {
    tls = await endpointCertificate((fn) => cleanups.push(fn));
    [node] = (await startS3Ring((fn) => cleanups.push(fn), 1, {}, tls)) as [S3Node];
    alice = await createUser(node, 'alice');
    client = clientFor(node.endpoint, alice);
    cleanups.push(async () => client.destroy());
    await client.send(new CreateBucketCommand({ Bucket: 'tls' }));
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('the endpoint is https: the SDK writes and reads over TLS, a virtual-hosted name verifies against the certificate, plain HTTP on the port gets no S3 answer', async () => {
    assert.match(node.endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
    const data = pattern(700_000, 3);
    await client.send(new PutObjectCommand({ Bucket: 'tls', Key: 'plain', Body: data }));
    assert.ok((await bytes((await client.send(new GetObjectCommand({ Bucket: 'tls', Key: 'plain' }))).Body)).equals(data));

    // `tls.s3.localhost` is checked against the certificate's *.s3.localhost (rawRequest sends it as SNI).
    const vhost = await rawRequest(node.endpoint, alice, { method: 'GET', path: '/plain', host: `tls.s3.localhost:${new URL(node.endpoint).port}` });
    assert.equal(vhost.status, 200);
    assert.ok(vhost.body.equals(data), 'virtual-hosted style over TLS reads the object');

    const plain = await new Promise<number | Error>((resolve) => {
      const r = httpRequest({ host: '127.0.0.1', port: new URL(node.endpoint).port, path: '/tls/plain' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      r.on('error', (err) => resolve(err));
      r.end();
    });
    assert.ok(plain instanceof Error || plain >= 400, `a plain-HTTP request is not served (got ${String(plain)})`);
  });

  test('SSE-C over TLS: PutObject, GetObject and a copy with the source key are accepted', async () => {
    const data = pattern(300_000, 4);
    await client.send(new PutObjectCommand({ Bucket: 'tls', Key: 'sealed', Body: data, ...ssec(KEY) }));
    await s3failure(client.send(new GetObjectCommand({ Bucket: 'tls', Key: 'sealed' })), 'InvalidRequest', 400);
    assert.ok((await bytes((await client.send(new GetObjectCommand({ Bucket: 'tls', Key: 'sealed', ...ssec(KEY) }))).Body)).equals(data));
    await client.send(new CopyObjectCommand({ Bucket: 'tls', Key: 'resealed', CopySource: 'tls/sealed', CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: KEY.toString('base64'), ...ssec(OTHER_KEY) }));
    assert.ok((await bytes((await client.send(new GetObjectCommand({ Bucket: 'tls', Key: 'resealed', ...ssec(OTHER_KEY) }))).Body)).equals(data));
  });

  test('an SSE-C form POST over TLS stores the file encrypted with its key', async () => {
    const fields = {
      'x-amz-server-side-encryption-customer-algorithm': 'AES256',
      'x-amz-server-side-encryption-customer-key': KEY.toString('base64'),
      'x-amz-server-side-encryption-customer-key-MD5': createHash('md5').update(KEY).digest('base64'),
    };
    const form = await createPresignedPost(client, { Bucket: 'tls', Key: 'posted', Expires: 600, Conditions: Object.entries(fields).map(([k, v]) => ({ [k]: v })), Fields: fields });
    const data = pattern(200_000, 5);
    const res = await postFormHttps(form.url, form.fields, data, tls.caPem);
    assert.equal(res.status, 204, res.body);
    assert.equal(res.headers['x-amz-server-side-encryption-customer-key-md5'], fields['x-amz-server-side-encryption-customer-key-MD5']);
    await s3failure(client.send(new GetObjectCommand({ Bucket: 'tls', Key: 'posted' })), 'InvalidRequest', 400);
    assert.ok((await bytes((await client.send(new GetObjectCommand({ Bucket: 'tls', Key: 'posted', ...ssec(KEY) }))).Body)).equals(data));
  });

  test('a bucket policy denying insecure transport lets HTTPS requests through', async () => {
    await client.send(new CreateBucketCommand({ Bucket: 'tls-only' }));
    await client.send(new PutBucketPolicyCommand({ Bucket: 'tls-only', Policy: denyInsecure('tls-only') }));
    await client.send(new PutObjectCommand({ Bucket: 'tls-only', Key: 'k', Body: 'over TLS' }));
    assert.equal((await bytes((await client.send(new GetObjectCommand({ Bucket: 'tls-only', Key: 'k' }))).Body)).toString(), 'over TLS');
  });

  test('a renewed certificate is served to new connections without a restart; a broken renewal is refused, logged once, and the certificate in use stays', async () => {
    const before = await servedFingerprint(node.endpoint, tls.caPem);
    assert.equal(await node.s3.reloadTls(), 'unchanged');

    const ca = await ringCa();
    const renewed = await createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name: 's3 endpoint renewed', hosts: ['127.0.0.1', 'localhost', '*.s3.localhost'] });
    await writeFile(tls.certFile, renewed.certPem);
    await writeFile(tls.keyFile, renewed.keyPem);
    assert.equal(await node.s3.reloadTls(), 'reloaded');
    const after = await servedFingerprint(node.endpoint, tls.caPem);
    assert.notEqual(after, before, 'new connections get the renewed certificate');
    const fresh = clientFor(node.endpoint, alice);
    try {
      await fresh.send(new HeadObjectCommand({ Bucket: 'tls', Key: 'plain' }));
    } finally {
      fresh.destroy();
    }

    // A certificate whose key is another one's: refused on every check, logged once.
    const other = await createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name: 'someone else', hosts: ['localhost'] });
    await writeFile(tls.keyFile, other.keyPem);
    assert.equal(await node.s3.reloadTls(), 'refused');
    assert.equal(await node.s3.reloadTls(), 'refused');
    const failures = node.store.entries.filter((e) => e['event'] === 's3.tlsReloadFailed');
    assert.equal(failures.length, 1, 'one log line for one problem');
    assert.equal(failures[0]!['code'], 'S3TlsInvalid');
    assert.equal(logged(node.store, 'S3TlsInvalid').length, 1);
    assert.equal(await servedFingerprint(node.endpoint, tls.caPem), after, 'the certificate in use stays');

    const status = await call(node.ops!.url, '/api/s3');
    const shown = status.body['tls'] as { reloads: number; reloadFailure: string | null; fingerprint256: string; validTo: string };
    assert.equal(shown.reloads, 1);
    assert.equal(shown.fingerprint256, after);
    assert.match(shown.reloadFailure ?? '', /cannot be used with the certificate/);
    const metrics = (await call(node.ops!.url, '/metrics')).text;
    assert.match(metrics, /^pi_s3_tls_reloads_total 1$/m);
    assert.match(metrics, /^pi_s3_tls_certificate_expiry_seconds \d{10}$/m);

    // The key put right again: taken at the next check.
    await writeFile(tls.keyFile, renewed.keyPem);
    assert.equal(await node.s3.reloadTls(), 'unchanged', 'the pair in use is the one on disk again');
    assert.equal(((await call(node.ops!.url, '/api/s3')).body['tls'] as { reloadFailure: string | null }).reloadFailure, null);
  });

  test('a certificate close to its expiry raises a warning alert, cleared once a renewed one is loaded', async () => {
    const ca = await ringCa();
    const short = await createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name: 's3 endpoint short', hosts: ['127.0.0.1', 'localhost'], validDays: 3 });
    await writeFile(tls.certFile, short.certPem);
    await writeFile(tls.keyFile, short.keyPem);
    assert.equal(await node.s3.reloadTls(), 'reloaded');
    node.s3.checkHealth();
    const alert = node.node.alerts.list().find((a) => a.code === 'S3CertificateExpiring');
    assert.equal(alert?.severity, 'warning');
    assert.match(alert?.message ?? '', /expires on .*in [34] day\(s\)/);

    const long = await createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name: 's3 endpoint long', hosts: ['127.0.0.1', 'localhost', 's3.localhost', '*.s3.localhost'] });
    await writeFile(tls.certFile, long.certPem);
    await writeFile(tls.keyFile, long.keyPem);
    assert.equal(await node.s3.reloadTls(), 'reloaded');
    node.s3.checkHealth();
    assert.equal(node.node.alerts.has('S3CertificateExpiring'), false);
  });

  test('with a key that is not the certificate\'s the s3 application does not start, and the critical alert names the file', async () => {
    const ca = await ringCa();
    const other = await createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name: 'another', hosts: ['localhost'] });
    const badKey = `${tls.keyFile}.other`;
    await writeFile(badKey, other.keyPem);
    const bad = await startNode((fn) => cleanups.push(fn), { config: { apps: ['s3'], s3: { ...TEST_S3, tls: { cert: tls.certFile, key: badKey } } }, name: 'bad-tls' });
    assert.ok(bad.node.alerts.has('ApplicationFailed', 's3'));
    const alert = bad.node.alerts.list().find((a) => a.code === 'ApplicationFailed');
    assert.ok(alert?.message.includes(badKey), alert?.message);
    assert.match(alert?.message ?? '', /cannot be used with the certificate/);
    assert.equal(bad.node.service<S3Service>('s3')?.endpoint, '', 'no endpoint is served');
  });
});

describe('SSE-C keys on a plain-HTTP endpoint', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let strict: S3Node;
  let proxied: S3Node;
  let strictClient: S3Client;
  let proxiedClient: S3Client;

  before(async () => {
    [strict] = (await startS3Ring((fn) => cleanups.push(fn), 1)) as [S3Node];
    [proxied] = (await startS3Ring((fn) => cleanups.push(fn), 1, { s3: { allowSseCustomerKeysOverHttp: true } })) as [S3Node];
    strictClient = clientFor(strict.endpoint, await createUser(strict, 'alice'));
    proxiedClient = clientFor(proxied.endpoint, await createUser(proxied, 'alice'));
    cleanups.push(async () => {
      strictClient.destroy();
      proxiedClient.destroy();
    });
    await strictClient.send(new CreateBucketCommand({ Bucket: 'clear' }));
    await proxiedClient.send(new CreateBucketCommand({ Bucket: 'clear' }));
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('are refused as S3 refuses them (InvalidRequest) on writes, reads and copy sources, and nothing is stored', async () => {
    assert.match(strict.endpoint, /^http:\/\//);
    const refused = await s3failure(strictClient.send(new PutObjectCommand({ Bucket: 'clear', Key: 'k', Body: 'secret', ...ssec(KEY) })), 'InvalidRequest', 400);
    assert.match(refused.message, /must be made over a secure connection/);
    await s3failure(strictClient.send(new HeadObjectCommand({ Bucket: 'clear', Key: 'k' })), undefined, 404);

    await strictClient.send(new PutObjectCommand({ Bucket: 'clear', Key: 'plain', Body: 'in the clear' }));
    await s3failure(strictClient.send(new GetObjectCommand({ Bucket: 'clear', Key: 'plain', ...ssec(KEY) })), 'InvalidRequest', 400);
    await s3failure(
      strictClient.send(new CopyObjectCommand({ Bucket: 'clear', Key: 'copy', CopySource: 'clear/plain', CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: KEY.toString('base64') })),
      'InvalidRequest',
      400,
    );
    await s3failure(strictClient.send(new HeadObjectCommand({ Bucket: 'clear', Key: 'copy' })), undefined, 404);
  });

  test('are accepted with s3.allowSseCustomerKeysOverHttp (TLS terminated by a proxy in front)', async () => {
    const data = pattern(100_000, 6);
    await proxiedClient.send(new PutObjectCommand({ Bucket: 'clear', Key: 'k', Body: data, ...ssec(KEY) }));
    assert.ok((await bytes((await proxiedClient.send(new GetObjectCommand({ Bucket: 'clear', Key: 'k', ...ssec(KEY) }))).Body)).equals(data));
  });

  test('a bucket policy denying insecure transport refuses plain-HTTP requests', async () => {
    await strictClient.send(new CreateBucketCommand({ Bucket: 'tls-only' }));
    await strictClient.send(new PutBucketPolicyCommand({ Bucket: 'tls-only', Policy: denyInsecure('tls-only') }));
    await s3failure(strictClient.send(new PutObjectCommand({ Bucket: 'tls-only', Key: 'k', Body: 'in the clear' })), 'AccessDenied', 403);
  });
});
