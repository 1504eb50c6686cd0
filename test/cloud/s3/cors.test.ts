/**
 * S3 CORS on a 3-node loopback ring: PutBucketCors, GetBucketCors and DeleteBucketCors through
 * the AWS SDK (with every refusal), preflight `OPTIONS` requests and the Access-Control-* headers
 * of actual requests over plain HTTP (the SDK sends no preflights), on answers and on errors,
 * and a rule change reaching every node.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCorsCommand,
  GetBucketCorsCommand,
  PutBucketCorsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { CORSRule, S3Client } from '@aws-sdk/client-s3';
import { waitFor } from '../../node/fixtures.ts';
import { rawRequest, s3failure, startS3Fixture } from './harness.ts';
import type { RawResponse, S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method';
const NOT_ALLOWED =
  "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

/** The rules most tests use: an app origin that writes, and reads from anywhere. */
const RULES: CORSRule[] = [
  {
    ID: 'app writes',
    AllowedOrigins: ['https://app.example.com', 'https://*.example.org'],
    AllowedMethods: ['PUT', 'POST', 'DELETE'],
    AllowedHeaders: ['Content-Type', 'x-amz-*'],
    ExposeHeaders: ['ETag', 'x-amz-request-id'],
    MaxAgeSeconds: 600,
  },
  { AllowedOrigins: ['*'], AllowedMethods: ['GET', 'HEAD'] },
];

function corsXml(rules: string): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${rules}</CORSConfiguration>`);
}

/** The Access-Control-* and Vary headers of an answer. */
function corsHeaders(r: RawResponse): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(r.headers)) {
    if (name.startsWith('access-control-') || name === 'vary') out[name] = String(value);
  }
  return out;
}

function errorField(r: RawResponse, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(r.body.toString())?.[1];
}

describe('S3 CORS on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  /** Alice's client on each node. */
  let a: S3Client[];
  let b: S3Client;
  let anon: S3Client;

  /** A request over node:http to `node`, unsigned unless `user` is given. */
  function http(node: S3Node, method: string, path: string, headers: Record<string, string> = {}, user?: TestUser, body?: Buffer, query?: Record<string, string>): Promise<RawResponse> {
    return rawRequest(node.endpoint, user, { method, path, headers, ...(body ? { body } : {}), ...(query ? { query } : {}) });
  }

  function preflight(node: S3Node, path: string, origin: string | undefined, method: string | undefined, requestHeaders?: string): Promise<RawResponse> {
    const headers: Record<string, string> = {};
    if (origin !== undefined) headers['origin'] = origin;
    if (method !== undefined) headers['access-control-request-method'] = method;
    if (requestHeaders !== undefined) headers['access-control-request-headers'] = requestHeaders;
    return http(node, 'OPTIONS', path, headers);
  }

  /** A raw PutBucketCors by alice (Content-MD5 unless `md5` is false). */
  async function rawPutCors(bucket: string, body: Buffer, md5 = true): Promise<RawResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/xml' };
    if (md5) headers['content-md5'] = createHash('md5').update(body).digest('base64');
    return http(nodes[1]!, 'PUT', `/${bucket}`, headers, alice, body, { cors: '' });
  }

  /** Waits until every node's preflight to `bucket` answers that CORS is off (other nodes' caches may hold its rules for `s3.cacheMs`). */
  async function corsOffEverywhere(bucket: string): Promise<void> {
    for (const node of nodes) {
      await waitFor(async () => errorField(await preflight(node, `/${bucket}/k`, 'https://anywhere.example', 'GET'), 'Message') === 'CORSResponse: CORS is not enabled for this bucket.', { timeoutMs: 10_000, what: `CORS off for ${bucket} on ${node.endpoint}` });
    }
  }

  /** Waits until every node's preflight for a GET from anywhere to `bucket` answers `status`. */
  async function preflightEverywhere(bucket: string, status: number): Promise<void> {
    for (const node of nodes) {
      await waitFor(async () => (await preflight(node, `/${bucket}/k`, 'https://anywhere.example', 'GET')).status === status, { timeoutMs: 10_000, what: `a preflight to ${bucket} on ${node.endpoint} answering ${status}` });
    }
  }

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn));
    ({ nodes, alice, aliceClients: a } = fixture);
    b = fixture.bobClients[2]!;
    anon = fixture.anonymousClients[0]!;
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'web', ACL: 'public-read' }));
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'plain' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'web', Key: 'page.html', Body: '<p>hi</p>', ContentType: 'text/html', ACL: 'public-read' }));
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('PutBucketCors, GetBucketCors and DeleteBucketCors through different nodes', async () => {
    await s3failure(a[1]!.send(new GetBucketCorsCommand({ Bucket: 'web' })), 'NoSuchCORSConfiguration', 404);
    const put = await a[0]!.send(new PutBucketCorsCommand({ Bucket: 'web', CORSConfiguration: { CORSRules: RULES } }));
    assert.equal(put.$metadata.httpStatusCode, 200);
    const got = await a[1]!.send(new GetBucketCorsCommand({ Bucket: 'web' }));
    assert.deepEqual(got.CORSRules, RULES, 'read back through another node, rules and values in order');

    // A put replaces the whole configuration.
    const replacement: CORSRule[] = [{ AllowedOrigins: ['https://only.example'], AllowedMethods: ['GET'] }];
    await a[2]!.send(new PutBucketCorsCommand({ Bucket: 'web', CORSConfiguration: { CORSRules: replacement } }));
    assert.deepEqual((await a[0]!.send(new GetBucketCorsCommand({ Bucket: 'web' }))).CORSRules, replacement);

    const deleted = await a[2]!.send(new DeleteBucketCorsCommand({ Bucket: 'web' }));
    assert.equal(deleted.$metadata.httpStatusCode, 204);
    const missing = await s3failure(a[0]!.send(new GetBucketCorsCommand({ Bucket: 'web' })), 'NoSuchCORSConfiguration', 404);
    assert.equal(missing.message, 'The CORS configuration does not exist');
    assert.equal((await a[1]!.send(new DeleteBucketCorsCommand({ Bucket: 'web' }))).$metadata.httpStatusCode, 204, 'again: still 204');

    // The raw document: the S3 namespace, elements in the API reference's order.
    await a[0]!.send(new PutBucketCorsCommand({ Bucket: 'web', CORSConfiguration: { CORSRules: RULES } }));
    const raw = await http(nodes[2]!, 'GET', '/web', {}, alice, undefined, { cors: '' });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['content-type'], 'application/xml');
    assert.match(raw.body.toString(), /^<\?xml version="1.0" encoding="UTF-8"\?>\n<CORSConfiguration xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/"><CORSRule><AllowedHeader>Content-Type<\/AllowedHeader>/);
    assert.ok(raw.body.toString().includes('<ExposeHeader>x-amz-request-id</ExposeHeader><ID>app writes</ID><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>'));
  });

  test('refusals: only the owner manages the rules; invalid documents change nothing', async () => {
    await a[0]!.send(new PutBucketCorsCommand({ Bucket: 'web', CORSConfiguration: { CORSRules: RULES } }));
    await s3failure(b.send(new PutBucketCorsCommand({ Bucket: 'web', CORSConfiguration: { CORSRules: RULES } })), 'AccessDenied', 403);
    await s3failure(b.send(new GetBucketCorsCommand({ Bucket: 'web' })), 'AccessDenied', 403);
    await s3failure(b.send(new DeleteBucketCorsCommand({ Bucket: 'web' })), 'AccessDenied', 403);
    await s3failure(anon.send(new GetBucketCorsCommand({ Bucket: 'web' })), 'AccessDenied', 403);
    await s3failure(anon.send(new DeleteBucketCorsCommand({ Bucket: 'web' })), 'AccessDenied', 403);
    await s3failure(a[1]!.send(new GetBucketCorsCommand({ Bucket: 'no-such-bucket' })), 'NoSuchBucket', 404);
    await s3failure(a[1]!.send(new PutBucketCorsCommand({ Bucket: 'no-such-bucket', CORSConfiguration: { CORSRules: RULES } })), 'NoSuchBucket', 404);

    const invalid = async (rules: CORSRule[], code: string, message?: string): Promise<void> => {
      const err = await s3failure(a[2]!.send(new PutBucketCorsCommand({ Bucket: 'web', CORSConfiguration: { CORSRules: rules } })), code, 400);
      if (message !== undefined) assert.equal(err.message, message);
    };
    await invalid([{ AllowedOrigins: ['*'], AllowedMethods: ['PATCH'] }], 'InvalidRequest', 'Found unsupported HTTP method in CORS config. Unsupported method is PATCH');
    await invalid([{ AllowedOrigins: ['*'], AllowedMethods: ['OPTIONS'] }], 'InvalidRequest', 'Found unsupported HTTP method in CORS config. Unsupported method is OPTIONS');
    await invalid([{ AllowedOrigins: ['https://*.example.*'], AllowedMethods: ['GET'] }], 'InvalidRequest', 'AllowedOrigin "https://*.example.*" can not have more than one wildcard.');
    await invalid([{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], AllowedHeaders: ['x-*-*'] }], 'InvalidRequest', 'AllowedHeader "x-*-*" can not have more than one wildcard.');
    await invalid([{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], ExposeHeaders: ['*'] }], 'InvalidRequest');
    await invalid([], 'MalformedXML');
    await invalid([{ AllowedOrigins: ['*'], AllowedMethods: [] }], 'MalformedXML');
    await invalid([{ AllowedOrigins: [], AllowedMethods: ['GET'] }], 'MalformedXML');
    await invalid(Array.from({ length: 101 }, () => ({ AllowedOrigins: ['*'], AllowedMethods: ['GET'] })), 'InvalidRequest', 'The number of CORS rules should not exceed allowed limit of 100 rules.');
    await invalid([{ ID: 'x'.repeat(256), AllowedOrigins: ['*'], AllowedMethods: ['GET'] }], 'InvalidRequest');
    // 100 rules are fine.
    await a[2]!.send(new PutBucketCorsCommand({ Bucket: 'plain', CORSConfiguration: { CORSRules: Array.from({ length: 100 }, (_, i) => ({ AllowedOrigins: [`https://h${i}.example`], AllowedMethods: ['GET'] })) } }));
    assert.equal((await a[2]!.send(new GetBucketCorsCommand({ Bucket: 'plain' }))).CORSRules?.length, 100);
    await a[2]!.send(new DeleteBucketCorsCommand({ Bucket: 'plain' }));

    // Raw documents: Content-MD5 (or a checksum) is required, as S3 requires it.
    const good = corsXml('<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>');
    const noMd5 = await rawPutCors('web', good, false);
    assert.equal(noMd5.status, 400);
    assert.equal(errorField(noMd5, 'Code'), 'InvalidRequest');
    assert.equal(errorField(noMd5, 'Message'), 'Missing required header for this request: Content-MD5');
    const badXml = await rawPutCors('web', Buffer.from('<CORSConfiguration><CORSRule>'));
    assert.equal(badXml.status, 400);
    assert.equal(errorField(badXml, 'Code'), 'MalformedXML');
    const unknown = await rawPutCors('web', corsXml('<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><Color>blue</Color></CORSRule>'));
    assert.equal(errorField(unknown, 'Code'), 'MalformedXML');
    const badAge = await rawPutCors('web', corsXml('<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule>'));
    assert.equal(errorField(badAge, 'Code'), 'MalformedXML');
    const origins = Array.from({ length: 1200 }, (_, i) => `<AllowedOrigin>https://host-${i}.example.com</AllowedOrigin>`).join('');
    const tooBig = await rawPutCors('web', corsXml(`<CORSRule>${origins}<AllowedMethod>GET</AllowedMethod></CORSRule>`));
    assert.equal(tooBig.status, 400);
    assert.equal(errorField(tooBig, 'Code'), 'MaxMessageLengthExceeded');

    assert.deepEqual((await a[1]!.send(new GetBucketCorsCommand({ Bucket: 'web' }))).CORSRules, RULES, 'every refused put left the rules as they were');
  });

  test('preflight: the first matching rule answers 200 with its Access-Control-* headers on every node, unauthenticated', async () => {
    await a[0]!.send(new PutBucketCorsCommand({ Bucket: 'web', CORSConfiguration: { CORSRules: RULES } }));
    await preflightEverywhere('web', 200);

    const app = await preflight(nodes[1]!, '/web/page.html', 'https://app.example.com', 'PUT', 'Content-Type, X-Amz-Date,x-amz-content-sha256');
    assert.equal(app.status, 200);
    assert.equal(app.body.length, 0);
    assert.deepEqual(corsHeaders(app), {
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': 'PUT, POST, DELETE',
      'access-control-allow-headers': 'content-type, x-amz-date, x-amz-content-sha256',
      'access-control-expose-headers': 'ETag, x-amz-request-id',
      'access-control-max-age': '600',
      'access-control-allow-credentials': 'true',
      vary: VARY,
    });
    // The bucket itself, a key that does not exist and a wildcard origin.
    const bucket = await preflight(nodes[2]!, '/web', 'https://deep.sub.example.org', 'DELETE');
    assert.equal(bucket.status, 200);
    assert.equal(bucket.headers['access-control-allow-origin'], 'https://deep.sub.example.org');
    assert.equal(bucket.headers['access-control-allow-headers'], undefined, 'none requested');
    assert.equal((await preflight(nodes[0]!, '/web/no/such/key', 'https://app.example.com', 'POST')).status, 200);

    // The second rule: any origin may GET and HEAD, answered `*` without credentials.
    const anywhere = await preflight(nodes[0]!, '/web/page.html', 'https://anywhere.example', 'GET');
    assert.equal(anywhere.status, 200);
    assert.deepEqual(corsHeaders(anywhere), { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, HEAD', vary: VARY });

    // A preflight is not authenticated: a signature that would fail does not matter.
    const signed = await http(nodes[1]!, 'OPTIONS', '/web/page.html', { origin: 'https://app.example.com', 'access-control-request-method': 'PUT', authorization: 'AWS4-HMAC-SHA256 Credential=PINOBODY/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00' });
    assert.equal(signed.status, 200);
    assert.equal(signed.headers['access-control-allow-origin'], 'https://app.example.com');
  });

  test('preflight refusals: 403 AccessForbidden when no rule allows it or CORS is off, 400 BadRequest without Origin or method', async () => {
    await a[0]!.send(new PutBucketCorsCommand({ Bucket: 'web', CORSConfiguration: { CORSRules: RULES } }));
    await preflightEverywhere('web', 200);

    const refused = async (r: RawResponse, method: string, resourceType: string, message = NOT_ALLOWED): Promise<void> => {
      assert.equal(r.status, 403);
      assert.equal(errorField(r, 'Code'), 'AccessForbidden');
      assert.equal(errorField(r, 'Message')?.replace(/&apos;/g, "'"), message);
      assert.equal(errorField(r, 'Method'), method);
      assert.equal(errorField(r, 'ResourceType'), resourceType);
      assert.equal(r.headers['access-control-allow-origin'], undefined);
    };
    await refused(await preflight(nodes[1]!, '/web/page.html', 'http://app.example.com', 'PUT'), 'PUT', 'OBJECT'); // scheme
    await refused(await preflight(nodes[1]!, '/web/page.html', 'https://app.example.com:8443', 'PUT'), 'PUT', 'OBJECT'); // port
    await refused(await preflight(nodes[2]!, '/web', 'https://app.example.com', 'PUT', 'x-custom'), 'PUT', 'BUCKET'); // a header no AllowedHeader covers
    await refused(await preflight(nodes[2]!, '/web/page.html', 'https://anywhere.example', 'GET', 'range'), 'GET', 'OBJECT'); // the * rule allows no header
    await refused(await preflight(nodes[0]!, '/web/page.html', 'https://anywhere.example', 'PUT'), 'PUT', 'OBJECT');
    await refused(await preflight(nodes[0]!, '/web/page.html', 'https://app.example.com', 'put'), 'put', 'OBJECT'); // methods are case-sensitive

    const noOrigin = await preflight(nodes[1]!, '/web/page.html', undefined, 'GET');
    assert.equal(noOrigin.status, 400);
    assert.equal(errorField(noOrigin, 'Code'), 'BadRequest');
    assert.equal(errorField(noOrigin, 'Message'), 'Insufficient information. Origin request header needed.');
    const noMethod = await preflight(nodes[1]!, '/web/page.html', 'https://app.example.com', undefined);
    assert.equal(noMethod.status, 400);
    assert.equal(errorField(noMethod, 'Code'), 'BadRequest');

    // A bucket without rules (any more), one that does not exist, the service.
    await corsOffEverywhere('plain');
    await refused(await preflight(nodes[2]!, '/plain/x', 'https://app.example.com', 'GET'), 'GET', 'BUCKET', 'CORSResponse: CORS is not enabled for this bucket.');
    await refused(await preflight(nodes[2]!, '/plain/x', 'https://app.example.com', undefined), 'OPTIONS', 'BUCKET', 'CORSResponse: CORS is not enabled for this bucket.');
    await refused(await preflight(nodes[0]!, '/no-such-bucket/x', 'https://app.example.com', 'GET'), 'GET', 'BUCKET', 'CORSResponse: Bucket not found');
    assert.equal((await preflight(nodes[0]!, '/no-such-bucket/x', undefined, undefined)).status, 400);
    await refused(await preflight(nodes[0]!, '/', 'https://app.example.com', 'GET'), 'GET', 'SERVICE', 'CORSResponse: CORS is not enabled for this bucket.');
  });

  test('actual requests with an Origin get the matching rule\'s headers, on errors too; others get none', async () => {
    await a[0]!.send(new PutBucketCorsCommand({ Bucket: 'web', CORSConfiguration: { CORSRules: RULES } }));
    await preflightEverywhere('web', 200);

    // An anonymous GET of a public object from any origin: the `*` rule.
    const get = await http(nodes[1]!, 'GET', '/web/page.html', { origin: 'https://anywhere.example' });
    assert.equal(get.status, 200);
    assert.equal(get.body.toString(), '<p>hi</p>');
    assert.deepEqual(corsHeaders(get), { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, HEAD', vary: VARY });
    const head = await http(nodes[2]!, 'HEAD', '/web/page.html', { origin: 'https://anywhere.example' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['access-control-allow-origin'], '*');
    // Without an Origin: no CORS headers, no Vary.
    assert.deepEqual(corsHeaders(await http(nodes[1]!, 'GET', '/web/page.html')), {});

    // A signed PUT from the app origin: the first rule, credentials allowed, headers exposed.
    const put = await http(nodes[0]!, 'PUT', '/web/upload.txt', { origin: 'https://app.example.com', 'content-type': 'text/plain' }, alice, Buffer.from('uploaded'));
    assert.equal(put.status, 200);
    assert.deepEqual(corsHeaders(put), {
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': 'PUT, POST, DELETE',
      'access-control-expose-headers': 'ETag, x-amz-request-id',
      'access-control-max-age': '600',
      'access-control-allow-credentials': 'true',
      vary: VARY,
    });
    // An origin no rule allows for the method: served, without CORS headers or Vary.
    const other = await http(nodes[2]!, 'PUT', '/web/other.txt', { origin: 'https://evil.example' }, alice, Buffer.from('x'));
    assert.equal(other.status, 200);
    assert.deepEqual(corsHeaders(other), {});
    // The request's headers are not checked on an actual request.
    const withHeader = await http(nodes[1]!, 'GET', '/web/page.html', { origin: 'https://anywhere.example', 'x-custom': '1' });
    assert.equal(withHeader.headers['access-control-allow-origin'], '*');

    // Errors carry them too: a missing key, an anonymous write, a bad signature.
    const missing = await http(nodes[2]!, 'GET', '/web/missing', { origin: 'https://anywhere.example' });
    assert.equal(missing.status, 404);
    assert.equal(errorField(missing, 'Code'), 'NoSuchKey');
    assert.equal(missing.headers['access-control-allow-origin'], '*');
    const denied = await http(nodes[0]!, 'PUT', '/web/anon.txt', { origin: 'https://x.example.org' }, undefined, Buffer.from('x'));
    assert.equal(denied.status, 403);
    assert.equal(errorField(denied, 'Code'), 'AccessDenied');
    assert.equal(denied.headers['access-control-allow-origin'], 'https://x.example.org');
    assert.equal(denied.headers['access-control-allow-credentials'], 'true');
    const forged = await http(nodes[1]!, 'PUT', '/web/forged.txt', { origin: 'https://app.example.com' }, { ...alice, secret: 'not-the-secret' }, Buffer.from('x'));
    assert.equal(forged.status, 403);
    assert.equal(errorField(forged, 'Code'), 'SignatureDoesNotMatch');
    assert.equal(forged.headers['access-control-allow-origin'], 'https://app.example.com');

    // As S3 evaluates an actual request, Access-Control-Request-Method, when sent, is the method matched.
    assert.deepEqual(corsHeaders(await http(nodes[0]!, 'GET', '/web/page.html', { origin: 'https://anywhere.example', 'access-control-request-method': 'PUT' })), {});
    const asGet = await http(nodes[0]!, 'PUT', '/web/anon.txt', { origin: 'https://anywhere.example', 'access-control-request-method': 'GET' }, undefined, Buffer.from('x'));
    assert.equal(asGet.status, 403);
    assert.equal(asGet.headers['access-control-allow-origin'], '*');

    // A bucket without rules, one that does not exist: nothing.
    assert.deepEqual(corsHeaders(await http(nodes[1]!, 'GET', '/plain', { origin: 'https://anywhere.example' }, alice)), {});
    const noBucket = await http(nodes[1]!, 'GET', '/no-such-bucket/x', { origin: 'https://anywhere.example' });
    assert.equal(noBucket.status, 404);
    assert.deepEqual(corsHeaders(noBucket), {});
  });

  test('DeleteBucketCors through one node turns CORS off on every node', async () => {
    await a[0]!.send(new PutBucketCorsCommand({ Bucket: 'web', CORSConfiguration: { CORSRules: RULES } }));
    await preflightEverywhere('web', 200);
    await a[1]!.send(new DeleteBucketCorsCommand({ Bucket: 'web' }));
    await corsOffEverywhere('web');
    for (const node of nodes) {
      assert.deepEqual(corsHeaders(await http(node, 'GET', '/web/page.html', { origin: 'https://anywhere.example' })), {});
    }
  });
});
