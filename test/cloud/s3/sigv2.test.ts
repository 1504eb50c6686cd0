/**
 * AWS Signature Version 2 on a 3-node loopback ring, with raw HTTP requests signed here (the
 * string to sign built by this file, HMAC-SHA1 from node:crypto, independently of the code under
 * test): header authentication (path-style and virtual-hosted, Date and x-amz-date, amz headers,
 * sub-resources), presigned URLs (with response-* overrides), POST forms, and each refusal —
 * wrong signature, unknown / disabled key, malformed header, no date, clock skew, expired URL,
 * header and query together, a Content-MD5 that does not match — the bucket policy keys
 * `s3:signatureversion` and `s3:authType`, the `pi_s3_auth_total` counter, and a 1-node ring
 * with `s3.signatureV2: false` refusing all of it as before.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { GetObjectCommand, PutBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { call } from '../../node/fixtures.ts';
import { bytes, createUser, rawRequest, startS3Fixture, startS3Ring } from './harness.ts';
import type { RawResponse, S3Fixture, S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

/** Base64 HMAC-SHA1: the SigV2 signature of `stringToSign`. */
function sign(secret: string, stringToSign: string): string {
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64');
}

function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('base64');
}

/** What an S3 error document says. */
function errorOf(r: RawResponse): { code: string | undefined; message: string | undefined; field: (name: string) => string | undefined } {
  const text = r.body.toString();
  const tag = (name: string): string | undefined => {
    const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(text)?.[1];
    return m?.replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#10;/g, '\n').replace(/&#xA;/gi, '\n');
  };
  return { code: tag('Code'), message: tag('Message'), field: tag };
}

interface V2Request {
  method: string;
  /** The raw path, percent-encoded as on the wire (with the bucket for path-style requests). */
  path: string;
  /** The raw query, without `?`. */
  query?: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** The Host header (virtual-hosted-style requests). */
  host?: string;
  /** The CanonicalizedResource the client signs. */
  resource: string;
  /** The Date header; `null` for none. Default: now. */
  date?: string | null;
  /** Sign with this secret instead of the user's. */
  secret?: string;
  /** Send this Authorization header instead of the signed one. */
  authorization?: string;
}

/** The RFC 2616 form of a time. */
function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/** The CanonicalizedAmzHeaders of `headers` (built here: lower-cased, sorted, `name:value\n`). */
function amzHeaders(headers: Record<string, string>): string {
  return Object.entries(headers)
    .map(([k, v]): [string, string] => [k.toLowerCase(), v.trim()])
    .filter(([k]) => k.startsWith('x-amz-'))
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}:${v}\n`)
    .join('');
}

/** The string to sign of a header-authenticated request. */
function stringToSign(req: V2Request, headers: Record<string, string>): string {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const dateLine = lower['x-amz-date'] !== undefined ? '' : (lower['date'] ?? '');
  return `${req.method}\n${lower['content-md5'] ?? ''}\n${lower['content-type'] ?? ''}\n${dateLine}\n${amzHeaders(headers)}${req.resource}`;
}

/** Sends `req` with `Authorization: AWS AKID:signature` (signed by `user`). */
function v2(node: S3Node, user: TestUser, req: V2Request): Promise<RawResponse> {
  const headers: Record<string, string> = { ...(req.headers ?? {}) };
  const date = req.date === undefined ? httpDate(Date.now()) : req.date;
  if (date !== null) headers['date'] = date;
  headers['authorization'] = req.authorization ?? `AWS ${user.accessKey}:${sign(req.secret ?? user.secret, stringToSign(req, headers))}`;
  return rawRequest(node.endpoint, undefined, { method: req.method, path: req.query ? `${req.path}?${req.query}` : req.path, headers, ...(req.body ? { body: req.body } : {}), ...(req.host ? { host: req.host } : {}) });
}

/** A presigned SigV2 URL's path and query for `user` (Expires in seconds since the epoch). */
function presign(user: TestUser, method: string, path: string, resource: string, expires: number, query = ''): string {
  const signature = encodeURIComponent(sign(user.secret, `${method}\n\n\n${expires}\n${resource}`));
  return `${path}?${query ? `${query}&` : ''}AWSAccessKeyId=${encodeURIComponent(user.accessKey)}&Expires=${expires}&Signature=${signature}`;
}

function authCount(node: S3Node, scheme: string): number {
  return node.s3.metrics().find((m) => m.name === 'pi_s3_auth_total')?.values.find((v) => v.labels?.['scheme'] === scheme)?.value ?? 0;
}

describe('AWS Signature Version 2 on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let f: S3Fixture;

  before(async () => {
    f = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['sig2'] });
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('header auth: PUT with Content-MD5, Content-Type and amz headers, GET, list, ?acl, DELETE; path-style and virtual-hosted', async () => {
    const [n0, n1, n2] = f.nodes as [S3Node, S3Node, S3Node];
    const before0 = authCount(n0, 'sigv2-header');
    const body = Buffer.from('signed with version 2\n');
    const headers = { 'content-md5': md5(body), 'content-type': 'text/plain', 'x-amz-meta-Colour': 'blue', 'x-amz-acl': 'private' };
    const put = await v2(n0, f.alice, { method: 'PUT', path: '/sig2/dir/a%20b.txt', resource: '/sig2/dir/a%20b.txt', headers, body });
    assert.equal(put.status, 200, put.body.toString());
    assert.equal(put.headers['etag'], `"${createHash('md5').update(body).digest('hex')}"`);
    assert.equal(authCount(n0, 'sigv2-header'), before0 + 1, 'counted as SigV2');

    // Another node, virtual-hosted (the bucket comes from the Host header but is signed as /sig2).
    const get = await v2(n1, f.alice, { method: 'GET', path: '/dir/a%20b.txt', host: `sig2.localhost:${new URL(n1.endpoint).port}`, resource: '/sig2/dir/a%20b.txt' });
    assert.equal(get.status, 200, get.body.toString());
    assert.ok(get.body.equals(body));
    assert.equal(get.headers['content-type'], 'text/plain');
    assert.equal(get.headers['x-amz-meta-colour'], 'blue');

    // The SDK (SigV4) reads the same object.
    assert.ok((await bytes((await f.aliceClients[2]!.send(new GetObjectCommand({ Bucket: 'sig2', Key: 'dir/a b.txt' }))).Body)).equals(body));

    const list = await v2(n2, f.alice, { method: 'GET', path: '/sig2', query: 'list-type=2&prefix=dir%2F', resource: '/sig2' });
    assert.equal(list.status, 200, list.body.toString());
    assert.match(list.body.toString(), /<Key>dir\/a b\.txt<\/Key>/);
    const acl = await v2(n2, f.alice, { method: 'GET', path: '/sig2/dir/a%20b.txt', query: 'acl', resource: '/sig2/dir/a%20b.txt?acl' });
    assert.equal(acl.status, 200, acl.body.toString());
    assert.match(acl.body.toString(), /<Permission>FULL_CONTROL<\/Permission>/);

    // x-amz-date instead of Date: the Date line is empty and x-amz-date is signed among the amz headers.
    const del = await v2(n0, f.alice, { method: 'DELETE', path: '/sig2/dir/a%20b.txt', resource: '/sig2/dir/a%20b.txt', date: 'Thu, 01 Jan 1970 00:00:00 GMT', headers: { 'x-amz-date': httpDate(Date.now()) } });
    assert.equal(del.status, 204, del.body.toString());
    const gone = await v2(n1, f.alice, { method: 'GET', path: '/sig2/dir/a%20b.txt', resource: '/sig2/dir/a%20b.txt' });
    assert.equal(gone.status, 404);
    assert.equal(errorOf(gone).code, 'NoSuchKey');
  });

  test('presigned URLs: GET (with response-* overrides signed decoded) and PUT; expired and incomplete ones refused', async () => {
    const [n0, n1] = f.nodes as [S3Node, S3Node];
    await f.aliceClients[0]!.send(new PutObjectCommand({ Bucket: 'sig2', Key: 'shared.txt', Body: 'for a browser' }));
    const expires = Math.floor(Date.now() / 1000) + 300;
    const before1 = authCount(n1, 'sigv2-presigned');
    const url = presign(f.alice, 'GET', '/sig2/shared.txt', '/sig2/shared.txt', expires);
    const got = await rawRequest(n1.endpoint, undefined, { method: 'GET', path: url });
    assert.equal(got.status, 200, got.body.toString());
    assert.equal(got.body.toString(), 'for a browser');
    assert.equal(authCount(n1, 'sigv2-presigned'), before1 + 1);

    const override = 'response-content-type=text%2Fx-test&response-content-disposition=attachment%3B%20filename%3Dx.txt';
    const withOverrides = presign(f.alice, 'GET', '/sig2/shared.txt', '/sig2/shared.txt?response-content-disposition=attachment; filename=x.txt&response-content-type=text/x-test', expires, override);
    const overridden = await rawRequest(n0.endpoint, undefined, { method: 'GET', path: withOverrides });
    assert.equal(overridden.status, 200, overridden.body.toString());
    assert.equal(overridden.headers['content-type'], 'text/x-test');
    assert.equal(overridden.headers['content-disposition'], 'attachment; filename=x.txt');

    const putUrl = presign(f.alice, 'PUT', '/sig2/uploaded.txt', '/sig2/uploaded.txt', expires);
    const put = await rawRequest(n0.endpoint, undefined, { method: 'PUT', path: putUrl, body: Buffer.from('put through a presigned URL') });
    assert.equal(put.status, 200, put.body.toString());
    assert.equal((await bytes((await f.aliceClients[1]!.send(new GetObjectCommand({ Bucket: 'sig2', Key: 'uploaded.txt' }))).Body)).toString(), 'put through a presigned URL');

    // Expired: AccessDenied with Expires and ServerTime.
    const past = Math.floor(Date.now() / 1000) - 10;
    const expired = await rawRequest(n0.endpoint, undefined, { method: 'GET', path: presign(f.alice, 'GET', '/sig2/shared.txt', '/sig2/shared.txt', past) });
    assert.equal(expired.status, 403);
    const e = errorOf(expired);
    assert.equal(e.code, 'AccessDenied');
    assert.equal(e.message, 'Request has expired');
    assert.equal(e.field('Expires'), new Date(past * 1000).toISOString());
    assert.match(e.field('ServerTime') ?? '', /^\d{4}-\d{2}-\d{2}T/);

    // Incomplete, or signed for another resource.
    const incomplete = await rawRequest(n0.endpoint, undefined, { method: 'GET', path: `/sig2/shared.txt?AWSAccessKeyId=${f.alice.accessKey}&Signature=abc` });
    assert.equal(incomplete.status, 403);
    assert.match(errorOf(incomplete).message ?? '', /requires the Signature, Expires and AWSAccessKeyId parameters/);
    const other = await rawRequest(n0.endpoint, undefined, { method: 'GET', path: presign(f.alice, 'GET', '/sig2/shared.txt', '/sig2/other.txt', expires) });
    assert.equal(other.status, 403);
    assert.equal(errorOf(other).code, 'SignatureDoesNotMatch');
    assert.equal(errorOf(other).field('StringToSign'), `GET\n\n\n${expires}\n/sig2/shared.txt`);
  });

  test('refusals: wrong signature, unknown key, malformed header, no date, skew, header and query together, wrong Content-MD5', async () => {
    const n0 = f.nodes[0]!;
    const wrong = await v2(n0, f.alice, { method: 'GET', path: '/sig2', resource: '/sig2', secret: 'not the secret' });
    assert.equal(wrong.status, 403);
    const e = errorOf(wrong);
    assert.equal(e.code, 'SignatureDoesNotMatch');
    assert.equal(e.field('AWSAccessKeyId'), f.alice.accessKey);
    const date = e.field('StringToSign')!.split('\n')[3]!;
    assert.equal(e.field('StringToSign'), `GET\n\n\n${date}\n/sig2`);
    assert.equal(e.field('StringToSignBytes'), [...Buffer.from(`GET\n\n\n${date}\n/sig2`)].map((b) => b.toString(16).padStart(2, '0')).join(' '));
    assert.equal(e.field('SignatureProvided'), sign('not the secret', `GET\n\n\n${date}\n/sig2`));

    const unknown = await v2(n0, { ...f.alice, accessKey: 'PINOSUCHKEY' }, { method: 'GET', path: '/sig2', resource: '/sig2' });
    assert.equal(unknown.status, 403);
    assert.equal(errorOf(unknown).code, 'InvalidAccessKeyId');

    for (const [authorization, message] of [
      [`AWS ${f.alice.accessKey}`, /Expected AwsAccessKeyId:signature/],
      [`AWS  ${f.alice.accessKey}:c2ln`, /one and only one ' ' \(space\) required/],
    ] as const) {
      const r = await v2(n0, f.alice, { method: 'GET', path: '/sig2', resource: '/sig2', authorization });
      assert.equal(r.status, 400, authorization);
      assert.equal(errorOf(r).code, 'InvalidArgument');
      assert.match(errorOf(r).message ?? '', message);
      assert.equal(errorOf(r).field('ArgumentName'), 'Authorization');
    }

    const noDate = await v2(n0, f.alice, { method: 'GET', path: '/sig2', resource: '/sig2', date: null });
    assert.equal(noDate.status, 403);
    assert.equal(errorOf(noDate).code, 'AccessDenied');
    assert.equal(errorOf(noDate).message, 'AWS authentication requires a valid Date or x-amz-date header');

    const skewed = await v2(n0, f.alice, { method: 'GET', path: '/sig2', resource: '/sig2', date: httpDate(Date.now() - 16 * 60_000) });
    assert.equal(skewed.status, 403);
    assert.equal(errorOf(skewed).code, 'RequestTimeTooSkewed');
    assert.equal(errorOf(skewed).field('MaxAllowedSkewMilliseconds'), '900000');

    const expires = Math.floor(Date.now() / 1000) + 60;
    const both = await v2(n0, f.alice, { method: 'GET', path: presign(f.alice, 'GET', '/sig2', '/sig2', expires), resource: '/sig2' });
    assert.equal(both.status, 400);
    assert.equal(errorOf(both).code, 'InvalidArgument');
    assert.match(errorOf(both).message ?? '', /Only one auth mechanism allowed/);

    // The body is not signed, but a Content-MD5 sent is checked: nothing is stored.
    const body = Buffer.from('the real body');
    const badMd5 = await v2(n0, f.alice, { method: 'PUT', path: '/sig2/md5.txt', resource: '/sig2/md5.txt', headers: { 'content-md5': md5('another body') }, body });
    assert.equal(badMd5.status, 400);
    assert.equal(errorOf(badMd5).code, 'BadDigest');
    const absent = await v2(n0, f.alice, { method: 'GET', path: '/sig2/md5.txt', resource: '/sig2/md5.txt' });
    assert.equal(absent.status, 404);
    // A checksum header that does not match the body is refused as for an unsigned SigV4 body.
    const badChecksum = await v2(n0, f.alice, { method: 'PUT', path: '/sig2/crc.txt', resource: '/sig2/crc.txt', headers: { 'x-amz-checksum-crc32': 'AAAAAA==' }, body });
    assert.equal(badChecksum.status, 400);
    assert.equal(errorOf(badChecksum).code, 'BadDigest');
  });

  test('a disabled key signs nothing with SigV2 either; another user has only their own rights', async () => {
    const n0 = f.nodes[0]!;
    const ops = n0.ops!.url;
    const created = await call(ops, '/api/s3/users/bob/keys', { method: 'POST' });
    assert.equal(created.status, 201, created.text);
    const key = { ...f.bob, accessKey: created.body['accessKey'] as string, secret: created.body['secret'] as string };
    const ok = await v2(n0, key, { method: 'GET', path: '/', resource: '/' });
    assert.equal(ok.status, 200, ok.body.toString());
    const disabled = await call(ops, `/api/s3/users/bob/keys/${key.accessKey}`, { method: 'POST', body: { status: 'Inactive' } });
    assert.equal(disabled.status, 200, disabled.text);
    const refused = await v2(n0, key, { method: 'GET', path: '/', resource: '/' });
    assert.equal(refused.status, 403);
    assert.equal(errorOf(refused).code, 'InvalidAccessKeyId');
    const deleted = await call(ops, `/api/s3/users/bob/keys/${key.accessKey}`, { method: 'DELETE' });
    assert.equal(deleted.status, 200, deleted.text);
    // Bob (with his first key) is authenticated, but alice's bucket is not his.
    const denied = await v2(n0, f.bob, { method: 'GET', path: '/sig2', resource: '/sig2' });
    assert.equal(denied.status, 403);
    assert.equal(errorOf(denied).code, 'AccessDenied');
  });

  test('bucket policies see s3:signatureversion (AWS / AWS4-HMAC-SHA256) and s3:authType', async () => {
    const [n0] = f.nodes as [S3Node];
    const client = f.aliceClients[0]!;
    await client.send(new PutObjectCommand({ Bucket: 'sig2', Key: 'v4only/k', Body: 'v4 only' }));
    await client.send(new PutObjectCommand({ Bucket: 'sig2', Key: 'noquery/k', Body: 'no query' }));
    const policy = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::sig2/v4only/*', Condition: { StringEquals: { 's3:signatureversion': 'AWS' } } },
        { Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::sig2/noquery/*', Condition: { StringEquals: { 's3:authType': 'REST-QUERY-STRING' } } },
      ],
    };
    await client.send(new PutBucketPolicyCommand({ Bucket: 'sig2', Policy: JSON.stringify(policy) }));
    try {
      const v2Get = await v2(n0, f.alice, { method: 'GET', path: '/sig2/v4only/k', resource: '/sig2/v4only/k' });
      assert.equal(v2Get.status, 403, 'SigV2 denied by s3:signatureversion');
      assert.equal(errorOf(v2Get).code, 'AccessDenied');
      assert.equal((await bytes((await client.send(new GetObjectCommand({ Bucket: 'sig2', Key: 'v4only/k' }))).Body)).toString(), 'v4 only', 'SigV4 allowed');

      const expires = Math.floor(Date.now() / 1000) + 60;
      const query = await rawRequest(n0.endpoint, undefined, { method: 'GET', path: presign(f.alice, 'GET', '/sig2/noquery/k', '/sig2/noquery/k', expires) });
      assert.equal(query.status, 403, 'a presigned URL is REST-QUERY-STRING');
      const headerGet = await v2(n0, f.alice, { method: 'GET', path: '/sig2/noquery/k', resource: '/sig2/noquery/k' });
      assert.equal(headerGet.status, 200, 'the header is REST-HEADER');
    } finally {
      const del = await v2(n0, f.alice, { method: 'DELETE', path: '/sig2', query: 'policy', resource: '/sig2?policy' });
      assert.equal(del.status, 204, del.body.toString());
    }
  });

  test('a POST form signed with SigV2 (AWSAccessKeyId, policy, signature: Base64 HMAC-SHA1 of the policy)', async () => {
    const n1 = f.nodes[1]!;
    const policy = Buffer.from(
      JSON.stringify({ expiration: new Date(Date.now() + 600_000).toISOString(), conditions: [{ bucket: 'sig2' }, ['starts-with', '$key', 'forms/'], { acl: 'private' }, ['content-length-range', 1, 1024]] }),
    ).toString('base64');
    const post = async (signature: string, key = 'forms/${filename}', extra: [string, string][] = []): Promise<Response> => {
      const form = new FormData();
      for (const [name, value] of [['key', key], ['acl', 'private'], ['AWSAccessKeyId', f.alice.accessKey], ['Policy', policy], ['Signature', signature], ...extra]) form.append(name!, value!);
      form.append('file', new Blob([Buffer.from('posted with SigV2')]), 'note.txt');
      return fetch(`${n1.endpoint}/sig2`, { method: 'POST', body: form, redirect: 'manual' });
    };
    const ok = await post(sign(f.alice.secret, policy));
    assert.equal(ok.status, 204, await ok.text());
    assert.equal((await bytes((await f.aliceClients[0]!.send(new GetObjectCommand({ Bucket: 'sig2', Key: 'forms/note.txt' }))).Body)).toString(), 'posted with SigV2');

    const bad = await post(sign('not the secret', policy), 'forms/bad.txt');
    assert.equal(bad.status, 403);
    const text = await bad.text();
    assert.match(text, /<Code>SignatureDoesNotMatch<\/Code>/);
    // A field the policy does not name is refused (AWSAccessKeyId and signature need no condition).
    const extra = await post(sign(f.alice.secret, policy), 'forms/extra.txt', [['x-amz-meta-x', '1']]);
    assert.equal(extra.status, 403);
    assert.match(await extra.text(), /Extra input fields: x-amz-meta-x/);
  });
});

describe('s3.signatureV2: false', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let node: S3Node;
  let user: TestUser;

  before(async () => {
    [node] = (await startS3Ring((fn) => cleanups.push(fn), 1, { s3: { signatureV2: false } })) as [S3Node];
    user = await createUser(node, 'v4-only');
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('SigV2 headers, presigned URLs and POST forms are InvalidRequest, as before; SigV4 works', async () => {
    const expected = 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.';
    const header = await v2(node, user, { method: 'GET', path: '/', resource: '/' });
    assert.equal(header.status, 400);
    assert.deepEqual([errorOf(header).code, errorOf(header).message], ['InvalidRequest', expected]);
    const query = await rawRequest(node.endpoint, undefined, { method: 'GET', path: presign(user, 'GET', '/', '/', Math.floor(Date.now() / 1000) + 60) });
    assert.equal(query.status, 400);
    assert.deepEqual([errorOf(query).code, errorOf(query).message], ['InvalidRequest', expected]);

    const v4 = await rawRequest(node.endpoint, user, { method: 'PUT', path: '/v4-bucket' });
    assert.equal(v4.status, 200, v4.body.toString());
    const policy = Buffer.from(JSON.stringify({ expiration: new Date(Date.now() + 600_000).toISOString(), conditions: [{ bucket: 'v4-bucket' }, ['starts-with', '$key', '']] })).toString('base64');
    const form = new FormData();
    for (const [name, value] of [['key', 'k'], ['AWSAccessKeyId', user.accessKey], ['policy', policy], ['signature', sign(user.secret, policy)]]) form.append(name!, value!);
    form.append('file', new Blob([Buffer.from('x')]), 'x.txt');
    const posted = await fetch(`${node.endpoint}/v4-bucket`, { method: 'POST', body: form });
    assert.equal(posted.status, 400);
    assert.match(await posted.text(), /<Code>InvalidRequest<\/Code>/);
    assert.equal(authCount(node, 'sigv2-header') + authCount(node, 'sigv2-presigned'), 0);
    assert.equal(authCount(node, 'sigv4-header'), 1);
  });
});
