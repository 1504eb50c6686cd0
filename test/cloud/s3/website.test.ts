/**
 * S3 static website hosting on a 3-node loopback ring: PutBucketWebsite, GetBucketWebsite and
 * DeleteBucketWebsite through the AWS SDK (round trip, every refusal, ownership), and the website
 * endpoint (`Host: <bucket>.s3-website.localhost:<port>`) with raw HTTP requests: index documents,
 * the folder redirect, error documents and HTML errors, anonymous access, 405, redirects of every
 * kind (all requests, routing rules by prefix and by error code, object redirect metadata), and
 * conditional and range requests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand,
  DeleteBucketWebsiteCommand,
  GetBucketWebsiteCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketPolicyCommand,
  PutBucketRequestPaymentCommand,
  PutBucketWebsiteCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
} from '@aws-sdk/client-s3';
import type { S3Client, WebsiteConfiguration } from '@aws-sdk/client-s3';
import { waitFor } from '../../node/fixtures.ts';
import { putXmlDocument, rawRequest, s3failure, startS3Fixture } from './harness.ts';
import type { RawResponse, S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

describe('S3 static websites on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let a: S3Client[];
  let bob: S3Client;

  /** An anonymous request to the website endpoint of `bucket` on `node`. */
  function site(bucket: string, path: string, options: { method?: string; headers?: Record<string, string>; node?: number } = {}): Promise<RawResponse> {
    const node = nodes[options.node ?? 0]!;
    const port = new URL(node.endpoint).port;
    return rawRequest(node.endpoint, undefined, { method: options.method ?? 'GET', path, host: `${bucket}.s3-website.localhost:${port}`, headers: options.headers ?? {} });
  }

  function host(bucket: string, node = 0): string {
    return `${bucket}.s3-website.localhost:${new URL(nodes[node]!.endpoint).port}`;
  }

  async function put(bucket: string, key: string, body: string, extra: { ACL?: 'public-read'; WebsiteRedirectLocation?: string } = {}): Promise<void> {
    await a[0]!.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'text/html', ...extra }));
  }

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn));
    ({ nodes, alice, aliceClients: a } = fixture);
    bob = fixture.bobClients[0]!;
    // `site`: public-read (anonymous listing, so a missing key is 404 rather than 403).
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'site', ACL: 'public-read' }));
    await put('site', 'index.html', '<h1>home</h1>', { ACL: 'public-read' });
    await put('site', 'docs/index.html', '<h1>docs</h1>', { ACL: 'public-read' });
    await put('site', 'docs/page.html', '<h1>page</h1>', { ACL: 'public-read' });
    await put('site', 'error.html', '<h1>oops</h1>', { ACL: 'public-read' });
    await put('site', 'secret.html', 'secret');
    await put('site', 'old.html', '', { ACL: 'public-read', WebsiteRedirectLocation: '/docs/page.html' });
    await put('site', 'away.html', '', { ACL: 'public-read', WebsiteRedirectLocation: 'https://example.com/elsewhere' });
    await a[0]!.send(new PutBucketWebsiteCommand({ Bucket: 'site', WebsiteConfiguration: { IndexDocument: { Suffix: 'index.html' }, ErrorDocument: { Key: 'error.html' } } }));
    // `bare`: readable through a bucket policy, no error document.
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'bare' }));
    await a[0]!.send(
      new PutBucketPolicyCommand({
        Bucket: 'bare',
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bare/*' },
            { Effect: 'Allow', Principal: '*', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::bare' },
          ],
        }),
      }),
    );
    await put('bare', 'index.html', 'bare home');
    await a[0]!.send(new PutBucketWebsiteCommand({ Bucket: 'bare', WebsiteConfiguration: { IndexDocument: { Suffix: 'index.html' } } }));
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'plain' }));
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  describe('configuration operations', () => {
    test('PutBucketWebsite, GetBucketWebsite and DeleteBucketWebsite through different nodes', async () => {
      await a[0]!.send(new CreateBucketCommand({ Bucket: 'conf' }));
      await s3failure(a[1]!.send(new GetBucketWebsiteCommand({ Bucket: 'conf' })), 'NoSuchWebsiteConfiguration', 404);
      const config: WebsiteConfiguration = {
        IndexDocument: { Suffix: 'home.html' },
        ErrorDocument: { Key: 'errors/4xx.html' },
        RoutingRules: [
          { Condition: { KeyPrefixEquals: 'docs/' }, Redirect: { ReplaceKeyPrefixWith: 'documents/' } },
          { Condition: { HttpErrorCodeReturnedEquals: '404' }, Redirect: { HostName: 'example.com', Protocol: 'https', HttpRedirectCode: '302', ReplaceKeyWith: 'nf.html' } },
        ],
      };
      const put = await a[1]!.send(new PutBucketWebsiteCommand({ Bucket: 'conf', WebsiteConfiguration: config }));
      assert.equal(put.$metadata.httpStatusCode, 200);
      const got = await a[2]!.send(new GetBucketWebsiteCommand({ Bucket: 'conf' }));
      assert.deepEqual({ IndexDocument: got.IndexDocument, ErrorDocument: got.ErrorDocument, RoutingRules: got.RoutingRules }, config);
      assert.equal(got.RedirectAllRequestsTo, undefined);
      // A put replaces the whole configuration.
      await a[0]!.send(new PutBucketWebsiteCommand({ Bucket: 'conf', WebsiteConfiguration: { RedirectAllRequestsTo: { HostName: 'example.org', Protocol: 'https' } } }));
      const replaced = await a[0]!.send(new GetBucketWebsiteCommand({ Bucket: 'conf' }));
      assert.deepEqual(replaced.RedirectAllRequestsTo, { HostName: 'example.org', Protocol: 'https' });
      assert.equal(replaced.IndexDocument, undefined);
      assert.equal(replaced.RoutingRules, undefined);
      // Only the owner (no policy grants bob anything).
      await s3failure(bob.send(new GetBucketWebsiteCommand({ Bucket: 'conf' })), 'AccessDenied', 403);
      await s3failure(bob.send(new PutBucketWebsiteCommand({ Bucket: 'conf', WebsiteConfiguration: { IndexDocument: { Suffix: 'x.html' } } })), 'AccessDenied', 403);
      await s3failure(bob.send(new DeleteBucketWebsiteCommand({ Bucket: 'conf' })), 'AccessDenied', 403);
      const deleted = await a[2]!.send(new DeleteBucketWebsiteCommand({ Bucket: 'conf' }));
      assert.equal(deleted.$metadata.httpStatusCode, 204);
      await s3failure(a[0]!.send(new GetBucketWebsiteCommand({ Bucket: 'conf' })), 'NoSuchWebsiteConfiguration', 404);
      const again = await a[1]!.send(new DeleteBucketWebsiteCommand({ Bucket: 'conf' }));
      assert.equal(again.$metadata.httpStatusCode, 204, 'deleting a configuration that is not there succeeds');
      await s3failure(a[0]!.send(new GetBucketWebsiteCommand({ Bucket: 'nowhere' })), 'NoSuchBucket', 404);
    });

    test('every configuration S3 refuses, with its code', async () => {
      const refusals: [WebsiteConfiguration, RegExp][] = [
        [{}, /IndexDocument Suffix must be provided/],
        [{ ErrorDocument: { Key: 'e.html' } }, /IndexDocument Suffix must be provided/],
        [{ IndexDocument: { Suffix: '' } }, /Suffix is not well formed/],
        [{ IndexDocument: { Suffix: 'a/b.html' } }, /Suffix is not well formed/],
        [{ IndexDocument: { Suffix: 'i.html' }, ErrorDocument: { Key: '' } }, /ErrorDocument Key is not well formed/],
        [{ RedirectAllRequestsTo: { HostName: 'h.example' }, IndexDocument: { Suffix: 'i.html' } }, /RedirectAllRequestsTo cannot be provided/],
        [{ RedirectAllRequestsTo: { HostName: 'h.example', Protocol: 'ftp' as 'http' } }, /Invalid protocol/],
        [{ IndexDocument: { Suffix: 'i.html' }, RoutingRules: [{ Redirect: { ReplaceKeyWith: 'a', ReplaceKeyPrefixWith: 'b' } }] }, /ReplaceKeyPrefix or ReplaceKey but not both/],
        [{ IndexDocument: { Suffix: 'i.html' }, RoutingRules: [{ Redirect: { HttpRedirectCode: '200' } }] }, /redirect code/],
        [{ IndexDocument: { Suffix: 'i.html' }, RoutingRules: [{ Redirect: {} }] }, /Redirect must contain/],
        [{ IndexDocument: { Suffix: 'i.html' }, RoutingRules: [{ Condition: {}, Redirect: { HostName: 'h' } }] }, /Condition cannot be empty/],
        [{ IndexDocument: { Suffix: 'i.html' }, RoutingRules: [{ Condition: { HttpErrorCodeReturnedEquals: '200' }, Redirect: { HostName: 'h' } }] }, /4XX or 5XX/],
        [{ IndexDocument: { Suffix: 'i.html' }, RoutingRules: Array.from({ length: 51 }, () => ({ Redirect: { HostName: 'h' } })) }, /limit of 50/],
      ];
      for (const [config, message] of refusals) {
        const err = await s3failure(a[0]!.send(new PutBucketWebsiteCommand({ Bucket: 'plain', WebsiteConfiguration: config })), 'InvalidArgument', 400);
        assert.match(err.message, message, JSON.stringify(config));
      }
      // What the SDK cannot send: documents S3 finds malformed, and one without an integrity header.
      const raw = (body: string, md5 = true): ReturnType<typeof putXmlDocument> => putXmlDocument(nodes[1]!.endpoint, alice, '/plain', 'website', body, md5);
      for (const inner of ['<IndexDocument><Suffix>i.html</Suffix></IndexDocument><Bogus/>', '<IndexDocument/>', '<RedirectAllRequestsTo><Protocol>http</Protocol></RedirectAllRequestsTo>', '<IndexDocument><Suffix>i.html</Suffix></IndexDocument><RoutingRules><RoutingRule/></RoutingRules>']) {
        const outcome = await raw(`<WebsiteConfiguration xmlns="${XMLNS}">${inner}</WebsiteConfiguration>`);
        assert.deepEqual([outcome.status, outcome.code], [400, 'MalformedXML'], inner);
      }
      assert.deepEqual((await raw('<WebsiteConfiguration')).code, 'MalformedXML');
      const noMd5 = await raw(`<WebsiteConfiguration xmlns="${XMLNS}"><IndexDocument><Suffix>i.html</Suffix></IndexDocument></WebsiteConfiguration>`, false);
      assert.deepEqual([noMd5.status, noMd5.code], [400, 'InvalidRequest']);
      await s3failure(a[0]!.send(new GetBucketWebsiteCommand({ Bucket: 'plain' })), 'NoSuchWebsiteConfiguration', 404);
    });

    test('x-amz-website-redirect-location is stored, returned on GET and HEAD, and checked', async () => {
      const head = await a[1]!.send(new HeadObjectCommand({ Bucket: 'site', Key: 'old.html' }));
      assert.equal(head.WebsiteRedirectLocation, '/docs/page.html');
      const got = await a[2]!.send(new GetObjectCommand({ Bucket: 'site', Key: 'away.html' }));
      assert.equal(got.WebsiteRedirectLocation, 'https://example.com/elsewhere');
      await got.Body?.transformToString();
      const err = await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'site', Key: 'bad', Body: 'x', WebsiteRedirectLocation: 'ftp://x' })), 'InvalidArgument', 400);
      assert.match(err.message, /website redirect location must have a prefix/);
    });
  });

  describe('the website endpoint', () => {
    test('index document at the root and in a folder, and the folder redirect', async () => {
      const root = await site('site', '/');
      assert.equal(root.status, 200);
      assert.equal(root.body.toString(), '<h1>home</h1>');
      assert.equal(root.headers['content-type'], 'text/html');
      const folder = await site('site', '/docs/', { node: 2 });
      assert.deepEqual([folder.status, folder.body.toString()], [200, '<h1>docs</h1>']);
      const page = await site('site', '/docs/page.html', { node: 1 });
      assert.deepEqual([page.status, page.body.toString()], [200, '<h1>page</h1>']);
      const redirect = await site('site', '/docs');
      assert.equal(redirect.status, 302);
      assert.equal(redirect.headers['location'], '/docs/');
      const head = await site('site', '/', { method: 'HEAD' });
      assert.deepEqual([head.status, head.headers['content-length'], head.body.length], [200, '13', 0]);
      // Any port, any case: the bucket comes from the host name.
      const upper = await rawRequest(nodes[0]!.endpoint, undefined, { method: 'GET', path: '/', host: 'SITE.S3-Website.Localhost' });
      assert.equal(upper.status, 200);
      // The query string is ignored (no sub-resources on the website endpoint).
      const query = await rawRequest(nodes[0]!.endpoint, undefined, { method: 'GET', path: '/', query: { acl: '' }, host: host('site') });
      assert.deepEqual([query.status, query.body.toString()], [200, '<h1>home</h1>']);
    });

    test('a 4xx serves the error document with its status; without one, an HTML error page', async () => {
      const missing = await site('site', '/nothing.html');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.toString(), '<h1>oops</h1>');
      const privateObject = await site('site', '/secret.html');
      assert.equal(privateObject.status, 403, 'a private object is forbidden');
      assert.equal(privateObject.body.toString(), '<h1>oops</h1>', 'with the error document');
      const bare = await site('bare', '/nothing.html', { node: 1 });
      assert.equal(bare.status, 404);
      assert.match(String(bare.headers['content-type']), /^text\/html/);
      const html = bare.body.toString();
      assert.match(html, /<title>404 Not Found<\/title>/);
      assert.match(html, /<li>Code: NoSuchKey<\/li>/);
      assert.match(html, new RegExp(`<li>RequestId: ${String(bare.headers['x-amz-request-id'])}</li>`));
      assert.equal((await site('bare', '/')).body.toString(), 'bare home', 'an object readable through the bucket policy');
    });

    test('private objects, missing buckets and configurations, and other methods', async () => {
      // The bucket of `priv` is private: anonymous requests get 403 for anything, as S3 answers.
      await a[0]!.send(new CreateBucketCommand({ Bucket: 'priv' }));
      await put('priv', 'index.html', 'private home');
      await a[0]!.send(new PutBucketWebsiteCommand({ Bucket: 'priv', WebsiteConfiguration: { IndexDocument: { Suffix: 'index.html' } } }));
      const denied = await site('priv', '/');
      assert.equal(denied.status, 403);
      assert.match(denied.body.toString(), /<li>Code: AccessDenied<\/li>/);
      const noConfig = await site('plain', '/');
      assert.equal(noConfig.status, 404);
      assert.match(noConfig.body.toString(), /<li>Code: NoSuchWebsiteConfiguration<\/li>\n<li>Message: The specified bucket does not have a website configuration<\/li>\n<li>BucketName: plain<\/li>/);
      const noBucket = await site('nowhere', '/');
      assert.equal(noBucket.status, 404);
      assert.match(noBucket.body.toString(), /<li>Code: NoSuchBucket<\/li>/);
      for (const method of ['PUT', 'POST', 'DELETE']) {
        const r = await site('site', '/index.html', { method });
        assert.equal(r.status, 405, method);
        assert.match(r.body.toString(), /<li>Code: MethodNotAllowed<\/li>/);
      }
      // Nothing was written by the PUT.
      assert.equal((await site('site', '/')).body.toString(), '<h1>home</h1>');
    });

    test('a Requester Pays bucket serves no website requests: they are anonymous', async () => {
      await a[0]!.send(new CreateBucketCommand({ Bucket: 'paid-site' }));
      await put('paid-site', 'index.html', 'paid home', { ACL: 'public-read' });
      await put('paid-site', 'error.html', 'paid error', { ACL: 'public-read' });
      await a[0]!.send(new PutBucketWebsiteCommand({ Bucket: 'paid-site', WebsiteConfiguration: { IndexDocument: { Suffix: 'index.html' }, ErrorDocument: { Key: 'error.html' } } }));
      assert.equal((await site('paid-site', '/')).body.toString(), 'paid home', 'served before');
      await a[0]!.send(new PutBucketRequestPaymentCommand({ Bucket: 'paid-site', RequestPaymentConfiguration: { Payer: 'Requester' } }));
      // Other nodes may hold the bucket record for s3.cacheMs.
      for (let i = 0; i < nodes.length; i++) {
        await waitFor(async () => (await site('paid-site', '/', { node: i })).status === 403, { timeoutMs: 10_000, what: `the setting reaching node ${i}` });
      }
      const refused = await site('paid-site', '/missing.html');
      assert.equal(refused.status, 403);
      assert.match(refused.body.toString(), /<li>Code: AccessDenied<\/li>/, 'the HTML page, not the error document (itself in the bucket)');
    });

    test('RedirectAllRequestsTo, routing rules by prefix and by error code, object redirects', async () => {
      await a[0]!.send(new CreateBucketCommand({ Bucket: 'moved', ACL: 'public-read' }));
      await a[0]!.send(new PutBucketWebsiteCommand({ Bucket: 'moved', WebsiteConfiguration: { RedirectAllRequestsTo: { HostName: 'new.example.com', Protocol: 'https' } } }));
      const all = await site('moved', '/a/b.html', { node: 2 });
      assert.deepEqual([all.status, all.headers['location']], [301, 'https://new.example.com/a/b.html']);

      await a[0]!.send(new CreateBucketCommand({ Bucket: 'routed', ACL: 'public-read' }));
      await put('routed', 'documents/a.html', 'moved doc', { ACL: 'public-read' });
      await a[0]!.send(
        new PutBucketWebsiteCommand({
          Bucket: 'routed',
          WebsiteConfiguration: {
            IndexDocument: { Suffix: 'index.html' },
            RoutingRules: [
              { Condition: { KeyPrefixEquals: 'docs/' }, Redirect: { ReplaceKeyPrefixWith: 'documents/' } },
              { Condition: { HttpErrorCodeReturnedEquals: '404' }, Redirect: { HostName: 'fallback.example.com', HttpRedirectCode: '302', ReplaceKeyWith: 'not-found.html' } },
            ],
          },
        }),
      );
      const byPrefix = await site('routed', '/docs/a.html', { node: 1 });
      assert.deepEqual([byPrefix.status, byPrefix.headers['location']], [301, `http://${host('routed', 1)}/documents/a.html`]);
      const target = await site('routed', '/documents/a.html');
      assert.deepEqual([target.status, target.body.toString()], [200, 'moved doc']);
      const byError = await site('routed', '/gone.html');
      assert.deepEqual([byError.status, byError.headers['location']], [302, 'http://fallback.example.com/not-found.html']);

      const local = await site('site', '/old.html');
      assert.deepEqual([local.status, local.headers['location']], [301, '/docs/page.html']);
      const away = await site('site', '/away.html', { node: 2 });
      assert.deepEqual([away.status, away.headers['location']], [301, 'https://example.com/elsewhere']);
    });

    test('a public access block takes the public policy away from the website, on every node', async () => {
      await a[0]!.send(new CreateBucketCommand({ Bucket: 'blocked' }));
      await a[0]!.send(new PutBucketPolicyCommand({ Bucket: 'blocked', Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::blocked/*' }] }) }));
      await put('blocked', 'index.html', 'blocked home');
      await a[0]!.send(new PutBucketWebsiteCommand({ Bucket: 'blocked', WebsiteConfiguration: { IndexDocument: { Suffix: 'index.html' } } }));
      assert.equal((await site('blocked', '/', { node: 1 })).status, 200);
      await a[0]!.send(new PutPublicAccessBlockCommand({ Bucket: 'blocked', PublicAccessBlockConfiguration: { RestrictPublicBuckets: true } }));
      // Other nodes may hold the bucket record for s3.cacheMs.
      for (let i = 0; i < nodes.length; i++) {
        await waitFor(async () => (await site('blocked', '/', { node: i })).status === 403, { timeoutMs: 10_000, what: `the block reaching node ${i}` });
      }
    });

    test('conditional and range requests go through GetObject', async () => {
      const first = await site('site', '/docs/page.html');
      const etag = String(first.headers['etag']);
      const notModified = await site('site', '/docs/page.html', { headers: { 'if-none-match': etag } });
      assert.deepEqual([notModified.status, notModified.body.length], [304, 0]);
      const range = await site('site', '/docs/page.html', { headers: { range: 'bytes=4-7' } });
      assert.deepEqual([range.status, range.body.toString(), range.headers['content-range']], [206, 'page', 'bytes 4-7/13']);
    });
  });
});
