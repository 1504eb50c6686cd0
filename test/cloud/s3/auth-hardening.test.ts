/**
 * Ambiguous or hostile authentication input on a 3-node loopback ring, answered as the S3
 * documentation says: repeated presigned-URL parameters (SigV4 and SigV2), and whatever a raw
 * client can put in the way of an aws-chunked upload.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/core/protocols';
import { encodeSignedChunked, encodeUnsignedChunked } from './protocol/sigv4-helpers.ts';
import { S3Error, computeChecksum } from '../../../src/cloud/s3/protocol/index.ts';
import { failureLogLevel, mapError } from '../../../src/cloud/s3/http.ts';
import { bytes, rawRequest, s3failure, startS3Fixture } from './harness.ts';
import type { RawResponse, S3Fixture, S3Node } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

/** The error document's code of a raw answer. */
function codeOf(r: RawResponse): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(r.body.toString())?.[1];
}

describe('S3 authentication against ambiguous input on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let f: S3Fixture;
  let n: S3Node[];

  before(async () => {
    f = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['hard'] });
    n = f.nodes;
    await f.aliceClients[0]!.send(new PutObjectCommand({ Bucket: 'hard', Key: 'shared.txt', Body: 'shared' }));
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('a presigned SigV4 URL with an authentication parameter repeated is 400 AuthorizationQueryParametersError, whichever value comes first', async () => {
    const url = new URL(n[1]!.endpoint);
    const signer = new SignatureV4({ credentials: { accessKeyId: f.alice.accessKey, secretAccessKey: f.alice.secret }, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
    const presigned = await signer.presign(new HttpRequest({ method: 'GET', protocol: 'http:', hostname: url.host, path: '/hard/shared.txt', headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }), { expiresIn: 300 });
    const query = new URLSearchParams(presigned.query as Record<string, string>).toString();
    const valid = await rawRequest(n[1]!.endpoint, undefined, { method: 'GET', path: `/hard/shared.txt?${query}` });
    assert.equal(valid.status, 200, valid.body.toString());
    assert.equal(valid.body.toString(), 'shared');

    const params = new URLSearchParams(query);
    const extras = [
      `X-Amz-Signature=${'0'.repeat(64)}`,
      `X-Amz-Expires=604800`,
      `X-Amz-Credential=${encodeURIComponent(params.get('X-Amz-Credential')!)}`,
      `X-Amz-Date=${params.get('X-Amz-Date')!}`,
      `X-Amz-Algorithm=AWS4-HMAC-SHA256`,
      `X-Amz-SignedHeaders=host`,
      // Not in the URL: repeated within the extra itself.
      `X-Amz-Security-Token=token&X-Amz-Security-Token=other`,
    ];
    for (const extra of extras) {
      for (const q of [`${query}&${extra}`, `${extra}&${query}`]) {
        const r = await rawRequest(n[1]!.endpoint, undefined, { method: 'GET', path: `/hard/shared.txt?${q}` });
        assert.equal(r.status, 400, `${extra}: ${r.body.toString()}`);
        assert.equal(codeOf(r), 'AuthorizationQueryParametersError', extra);
      }
    }
    // The probe's case, as before: a wrong signature alone is 403 SignatureDoesNotMatch.
    const wrong = await rawRequest(n[1]!.endpoint, undefined, { method: 'GET', path: `/hard/shared.txt?${query.replace(/X-Amz-Signature=[0-9a-f]+/, `X-Amz-Signature=${'0'.repeat(64)}`)}` });
    assert.equal(wrong.status, 403);
    assert.equal(codeOf(wrong), 'SignatureDoesNotMatch');
  });

  test('a presigned SigV2 URL with AWSAccessKeyId, Expires or Signature repeated is 400 AuthorizationQueryParametersError', async () => {
    const expires = Math.floor(Date.now() / 1000) + 300;
    const signature = encodeURIComponent(createHmac('sha1', f.alice.secret).update(`GET\n\n\n${expires}\n/hard/shared.txt`).digest('base64'));
    const query = `AWSAccessKeyId=${encodeURIComponent(f.alice.accessKey)}&Expires=${expires}&Signature=${signature}`;
    const valid = await rawRequest(n[2]!.endpoint, undefined, { method: 'GET', path: `/hard/shared.txt?${query}` });
    assert.equal(valid.status, 200, valid.body.toString());
    for (const extra of [`Signature=${'A'.repeat(27)}%3D`, `Expires=${expires + 60}`, `AWSAccessKeyId=${encodeURIComponent(f.bob.accessKey)}`]) {
      for (const q of [`${query}&${extra}`, `${extra}&${query}`]) {
        const r = await rawRequest(n[2]!.endpoint, undefined, { method: 'GET', path: `/hard/shared.txt?${q}` });
        assert.equal(r.status, 400, `${extra}: ${r.body.toString()}`);
        assert.equal(codeOf(r), 'AuthorizationQueryParametersError', extra);
      }
    }
  });
  test('aws-chunked with a trailer that is not a checksum (x-amz-trailer: x-evil) is 400 InvalidRequest and stores nothing', async () => {
    const data = Buffer.from('hello');
    const put = (key: string, trailer: string, trailers: [string, string][]): Promise<RawResponse> =>
      rawRequest(n[0]!.endpoint, f.alice, {
        method: 'PUT',
        path: `/hard/${key}`,
        payload: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length), 'x-amz-trailer': trailer },
        encode: () => encodeUnsignedChunked([data], trailers),
      });
    const evil = await put('evil.txt', 'x-evil', [['x-evil', '1']]);
    assert.equal(evil.status, 400, evil.body.toString());
    assert.equal(codeOf(evil), 'InvalidRequest');
    assert.match(evil.body.toString(), /The value specified in the x-amz-trailer header is not supported/);
    await s3failure(f.aliceClients[1]!.send(new GetObjectCommand({ Bucket: 'hard', Key: 'evil.txt' })), 'NoSuchKey', 404);
    // The same upload with its checksum trailer is stored.
    const good = await put('good.txt', 'x-amz-checksum-crc32', [['x-amz-checksum-crc32', computeChecksum('CRC32', data)]]);
    assert.equal(good.status, 200, good.body.toString());
    assert.ok((await bytes((await f.aliceClients[2]!.send(new GetObjectCommand({ Bucket: 'hard', Key: 'good.txt' }))).Body)).equals(data));
  });
  test('aws-chunked without x-amz-decoded-content-length is 411 MissingContentLength in every mode, and stores nothing', async () => {
    const data = Buffer.from('chunked without its length');
    const crc = computeChecksum('CRC32', data);
    const modes: [string, (seed: string, amzDate: string) => Buffer, Record<string, string>][] = [
      ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', (seed, amzDate) => encodeSignedChunked({ secret: f.alice.secret, amzDate, region: 'us-east-1', seedSignature: seed, chunks: [data] }), {}],
      [
        'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
        (seed, amzDate) => encodeSignedChunked({ secret: f.alice.secret, amzDate, region: 'us-east-1', seedSignature: seed, chunks: [data], trailers: [['x-amz-checksum-crc32', crc]] }),
        { 'x-amz-trailer': 'x-amz-checksum-crc32' },
      ],
      ['STREAMING-UNSIGNED-PAYLOAD-TRAILER', () => encodeUnsignedChunked([data], [['x-amz-checksum-crc32', crc]]), { 'x-amz-trailer': 'x-amz-checksum-crc32' }],
    ];
    for (const [payload, encode, headers] of modes) {
      const key = `nolength/${payload}`;
      const send = (length: Record<string, string>): Promise<RawResponse> =>
        rawRequest(n[1]!.endpoint, f.alice, { method: 'PUT', path: `/hard/${key}`, payload, headers: { 'content-encoding': 'aws-chunked', ...headers, ...length }, encode });
      const missing = await send({});
      assert.equal(missing.status, 411, `${payload}: ${missing.body.toString()}`);
      assert.equal(codeOf(missing), 'MissingContentLength', payload);
      await s3failure(f.aliceClients[0]!.send(new GetObjectCommand({ Bucket: 'hard', Key: key })), 'NoSuchKey', 404);
      // With its length the same body is stored.
      const ok = await send({ 'x-amz-decoded-content-length': String(data.length) });
      assert.equal(ok.status, 200, `${payload}: ${ok.body.toString()}`);
      assert.ok((await bytes((await f.aliceClients[2]!.send(new GetObjectCommand({ Bucket: 'hard', Key: key }))).Body)).equals(data), payload);
    }
  });
  test('a SigV4a streaming upload is 501 NotImplemented, logged at info as a refusal, never as a server error', async () => {
    const node = n[2]!;
    const before = node.store.entries.length;
    const r = await rawRequest(node.endpoint, f.alice, {
      method: 'PUT',
      path: '/hard/sigv4a.txt',
      payload: 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD',
      headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '5' },
      encode: () => Buffer.from('5\r\nhello\r\n0\r\n\r\n'),
    });
    assert.equal(r.status, 501, r.body.toString());
    assert.equal(codeOf(r), 'NotImplemented');
    const entries = node.store.entries.slice(before).filter((e) => e['code'] === 'NotImplemented');
    assert.deepEqual(entries.map((e) => e.level), ['info'], JSON.stringify(entries));
    assert.match(entries[0]!.msg, /refused/);
  });
});

describe('failureLogLevel', () => {
  test('server faults are errors; NotImplemented (the client asking for what is not done) is info; refusals debug', () => {
    assert.equal(failureLogLevel(new S3Error('NotImplemented')), 'info');
    assert.equal(failureLogLevel(new S3Error('InternalError')), 'error');
    assert.equal(failureLogLevel(new S3Error('ServiceUnavailable')), 'error');
    assert.equal(failureLogLevel(mapError(Object.assign(new Error('no replica'), { code: 'Unavailable' }))), 'error');
    assert.equal(failureLogLevel(mapError(new Error('bug'))), 'error');
    assert.equal(failureLogLevel(new S3Error('AccessDenied')), 'debug');
    assert.equal(failureLogLevel(new S3Error('MissingContentLength')), 'debug');
  });
});
