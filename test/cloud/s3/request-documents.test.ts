/**
 * Hostile request documents on a 3-node ring, sent raw so that the bytes are exactly the
 * attacker's: bodies that are not UTF-8 are refused (never read with U+FFFD in them, which let a
 * DeleteObjects delete a key the client never named); a policy nested too deep is MalformedPolicy;
 * XML documents with too many attributes or elements are MalformedXML.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { rawRequest, startS3Fixture } from './harness.ts';
import type { RawOutcome, S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

describe('S3 hostile request documents on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let a: S3Client[];

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['docs'] });
    ({ nodes, alice } = fixture);
    a = fixture.aliceClients;
  });
  after(() => runCleanups(cleanups));

  /** Sends `body` as it is, with its Content-MD5, to `?subresource` of `path` through node `node`. */
  async function send(node: number, method: string, path: string, subresource: string, body: Buffer): Promise<RawOutcome> {
    const headers = { 'content-type': 'application/xml', 'content-md5': createHash('md5').update(body).digest('base64') };
    const r = await rawRequest(nodes[node]!.endpoint, alice, { method, path, query: { [subresource]: '' }, headers, body });
    const text = r.body.toString();
    return { status: r.status, code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1], message: /<Message>([^<]*)<\/Message>/.exec(text)?.[1] };
  }

  async function exists(key: string): Promise<boolean> {
    return a[2]!.send(new HeadObjectCommand({ Bucket: 'docs', Key: key })).then(
      () => true,
      (err: { name?: string }) => (err.name === 'NotFound' ? false : Promise.reject(err as Error)),
    );
  }

  test('DeleteObjects naming `victim\\xFF` is MalformedXML and leaves `victim\\uFFFD` alone', async () => {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'docs', Key: 'victim\uFFFD', Body: 'precious' }));
    const body = Buffer.concat([Buffer.from('<Delete><Object><Key>victim'), Buffer.from([0xff]), Buffer.from('</Key></Object></Delete>')]);
    const out = await send(1, 'POST', '/docs', 'delete', body);
    assert.deepEqual([out.status, out.code], [400, 'MalformedXML']);
    assert.equal(await exists('victim\uFFFD'), true);
  });

  test('PutBucketPolicy with bytes that are not UTF-8 is MalformedPolicy', async () => {
    const text = JSON.stringify({ Statement: [{ Sid: 'SID', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::docs/*' }] });
    const at = text.indexOf('SID');
    const body = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0xc0, 0xaf]), Buffer.from(text.slice(at))]);
    const out = await send(2, 'PUT', '/docs', 'policy', body);
    assert.deepEqual(out, { status: 400, code: 'MalformedPolicy', message: 'This policy contains invalid Json' });
  });

  test('PutBucketPolicy nested 100,000 or 300,000 deep is MalformedPolicy, not a 500', async () => {
    const condition = `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/*","Condition":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}]}`;
    const statement = `{"Statement":${'['.repeat(300_000)}${']'.repeat(300_000)}}`;
    const shallow = `{"Statement":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    for (const [i, text] of [condition, statement, shallow].entries()) {
      const out = await send(i, 'PUT', '/docs', 'policy', Buffer.from(text));
      assert.deepEqual([out.status, out.code], [400, 'MalformedPolicy'], `document ${i}`);
    }
  });

  test('a document with 150,000 attributes on one element, or 450,000 elements, is MalformedXML', async () => {
    const attrs = Array.from({ length: 150_000 }, (_, i) => ` a${i}="1"`).join('');
    // Each would be a valid document without its padding.
    const out = await send(0, 'PUT', '/docs', 'versioning', Buffer.from(`<VersioningConfiguration${attrs}><Status>Suspended</Status></VersioningConfiguration>`));
    assert.deepEqual([out.status, out.code], [400, 'MalformedXML']);
    const many = await send(1, 'POST', '/docs', 'delete', Buffer.from(`<Delete><Object><Key>nothing</Key></Object>${'<a/>'.repeat(450_000)}</Delete>`));
    assert.deepEqual([many.status, many.code], [400, 'MalformedXML']);
  });
});
