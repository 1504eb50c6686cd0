import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  canonicalQuery,
  canonicalUri,
  formatAmzDate,
  invalidAccessKeyId,
  parseAmzDate,
  parseAuth,
  payloadModeOf,
  verify,
  type ParsedAuth,
  type SigV4Request,
} from '../../../../src/cloud/s3/protocol/sigv4.ts';
import { S3Error } from '../../../../src/cloud/s3/protocol/errors.ts';
import { createHash, createHmac } from 'node:crypto';
import { AKID, SECRET, amzDateMs, presign, signHeader, testSigningKey } from './sigv4-helpers.ts';
import { TEST_ACCESS_KEY, TEST_SECRET_KEY, capture } from './sdk-capture.ts';
import { s3code } from './s3-error.ts';

const DOC_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const DOC_AKID = 'AKIAIOSFODNN7EXAMPLE';
const DOC_TIME = Date.UTC(2013, 4, 24, 0, 0, 0);
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const NOW = Date.UTC(2024, 2, 1, 12, 0, 0);


function parsed(req: SigV4Request, now: number): ParsedAuth {
  const result = parseAuth(req, now);
  assert.notEqual(result.kind, 'anonymous');
  return result as ParsedAuth;
}

function docAuth(signedHeaders: string, signature: string): string {
  return `AWS4-HMAC-SHA256 Credential=${DOC_AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=${signedHeaders},Signature=${signature}`;
}

describe('canonicalisation', () => {
  test('URI: not double-encoded, segments normalised to AWS UriEncode', () => {
    assert.equal(canonicalUri(''), '/');
    assert.equal(canonicalUri('/'), '/');
    assert.equal(canonicalUri('/b/a%20b/c%2Bd'), '/b/a%20b/c%2Bd');
    assert.equal(canonicalUri('/b/a b/c+d'), '/b/a%20b/c%2Bd');
    assert.equal(canonicalUri('/test%24file.text'), '/test%24file.text');
    assert.equal(canonicalUri('/test$file.text'), '/test%24file.text');
    assert.equal(canonicalUri('/b/%c3%bc'), '/b/%C3%BC');
    assert.equal(canonicalUri('/b/a%2Fb'), '/b/a%2Fb');
    assert.equal(canonicalUri('/b/x//y/./../z~'), '/b/x//y/./../z~');
    assert.equal(canonicalUri("/b/!'()*"), '/b/%21%27%28%29%2A');
    assert.throws(() => canonicalUri('/b/%zz'), s3code('InvalidURI'));
    assert.throws(() => canonicalUri('/b/%ff'), s3code('InvalidURI'));
  });

  test('query: decoded, re-encoded, sorted; signature excluded for presigned', () => {
    assert.equal(canonicalQuery('', false), '');
    assert.equal(canonicalQuery('prefix=J&max-keys=2', false), 'max-keys=2&prefix=J');
    assert.equal(canonicalQuery('lifecycle', false), 'lifecycle=');
    assert.equal(canonicalQuery('a=2&a=1&b=', false), 'a=1&a=2&b=');
    assert.equal(canonicalQuery('k=a%20b%2Fc%7E', false), 'k=a%20b%2Fc~');
    assert.equal(canonicalQuery('k=a b/c~', false), 'k=a%20b%2Fc~');
    assert.equal(canonicalQuery('k=a+b', false, true), 'k=a%20b');
    assert.equal(canonicalQuery('k=a+b', false, false), 'k=a%2Bb');
    assert.equal(canonicalQuery('X-Amz-Signature=abc&X-Amz-Date=1', true), 'X-Amz-Date=1');
    assert.equal(canonicalQuery('&&a=1&', false), 'a=1');
  });

  test('dates', () => {
    assert.equal(parseAmzDate('20130524T000000Z'), DOC_TIME);
    assert.equal(formatAmzDate(DOC_TIME), '20130524T000000Z');
    for (const bad of ['2013-05-24T00:00:00Z', '20130532T000000Z', '20130524T250000Z', '20130524T000000', '']) {
      assert.equal(parseAmzDate(bad), undefined, bad);
    }
  });

  test('payload modes', () => {
    assert.deepEqual(payloadModeOf('UNSIGNED-PAYLOAD'), { kind: 'unsigned' });
    assert.deepEqual(payloadModeOf(EMPTY.toUpperCase()), { kind: 'sha256', sha256: EMPTY });
    assert.deepEqual(payloadModeOf('STREAMING-AWS4-HMAC-SHA256-PAYLOAD'), { kind: 'streaming', signed: true, trailer: false });
    assert.deepEqual(payloadModeOf('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'), { kind: 'streaming', signed: true, trailer: true });
    assert.deepEqual(payloadModeOf('STREAMING-UNSIGNED-PAYLOAD-TRAILER'), { kind: 'streaming', signed: false, trailer: true });
    assert.throws(() => payloadModeOf('STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD'), s3code('NotImplemented'));
    assert.throws(() => payloadModeOf('abc'), (err: unknown) => {
      assert.ok(err instanceof S3Error);
      assert.equal(err.code, 'InvalidArgument');
      assert.equal(err.fields['ArgumentName'], 'x-amz-content-sha256');
      return true;
    });
  });
});

describe('AWS documentation examples', () => {
  test('GET object with Range', () => {
    const req: SigV4Request = {
      method: 'GET',
      path: '/test.txt',
      query: '',
      headers: {
        host: 'examplebucket.s3.amazonaws.com',
        range: 'bytes=0-9',
        'x-amz-content-sha256': EMPTY,
        'x-amz-date': '20130524T000000Z',
        authorization: docAuth('host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'),
      },
    };
    const p = parsed(req, DOC_TIME);
    assert.equal(p.accessKeyId, DOC_AKID);
    assert.equal(p.scope, '20130524/us-east-1/s3/aws4_request');
    assert.equal(
      p.canonicalRequest,
      `GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:${EMPTY}\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n${EMPTY}`,
    );
    const v = verify(p, DOC_SECRET);
    assert.equal(v.seedSignature, 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
    assert.deepEqual(v.payload, { kind: 'sha256', sha256: EMPTY });
  });

  test('PUT object with a $ in the key and a Date header', () => {
    const req: SigV4Request = {
      method: 'PUT',
      path: '/test%24file.text',
      query: '',
      headers: {
        host: 'examplebucket.s3.amazonaws.com',
        date: 'Fri, 24 May 2013 00:00:00 GMT',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
        authorization: docAuth('date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class', '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd'),
      },
    };
    verify(parsed(req, DOC_TIME), DOC_SECRET);
  });

  test('GET bucket lifecycle and list objects (query strings)', () => {
    const base = { host: 'examplebucket.s3.amazonaws.com', 'x-amz-date': '20130524T000000Z', 'x-amz-content-sha256': EMPTY };
    verify(
      parsed(
        {
          method: 'GET',
          path: '/',
          query: 'lifecycle',
          headers: { ...base, authorization: docAuth('host;x-amz-content-sha256;x-amz-date', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543') },
        },
        DOC_TIME,
      ),
      DOC_SECRET,
    );
    verify(
      parsed(
        {
          method: 'GET',
          path: '/',
          query: 'max-keys=2&prefix=J',
          headers: { ...base, authorization: docAuth('host;x-amz-content-sha256;x-amz-date', '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7') },
        },
        DOC_TIME,
      ),
      DOC_SECRET,
    );
  });

  test('presigned GET', () => {
    const req: SigV4Request = {
      method: 'GET',
      path: '/test.txt',
      query:
        'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
      headers: { host: 'examplebucket.s3.amazonaws.com' },
    };
    const p = parsed(req, DOC_TIME + 3600_000);
    assert.equal(p.kind, 'presigned');
    assert.equal(p.expiresAt, DOC_TIME + 86400_000);
    assert.deepEqual(p.payload, { kind: 'unsigned' });
    verify(p, DOC_SECRET);
    assert.throws(() => parseAuth(req, DOC_TIME + 86401_000), s3code('AccessDenied', /Request has expired/));
  });

  test('streaming PUT seed signature', () => {
    const req: SigV4Request = {
      method: 'PUT',
      path: '/examplebucket/chunkObject.txt',
      query: '',
      headers: {
        host: 's3.amazonaws.com',
        'content-encoding': 'aws-chunked',
        'content-length': '66824',
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'x-amz-date': '20130524T000000Z',
        'x-amz-decoded-content-length': '66560',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        authorization: docAuth(
          'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class',
          '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
        ),
      },
    };
    const v = verify(parsed(req, DOC_TIME), DOC_SECRET);
    assert.deepEqual(v.payload, { kind: 'streaming', signed: true, trailer: false });
    assert.equal(v.seedSignature, '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9');
  });
});

describe('requests signed by the AWS SDK signer', () => {
  const date = new Date(NOW);
  const cases: { name: string; path: string; query?: Record<string, string | string[] | null>; headers?: Record<string, string> }[] = [
    { name: 'plain key', path: '/bucket/key.txt' },
    { name: 'encoded key with space, plus, unicode', path: '/bucket/a%20b/c%2Bd/%C3%BC%E2%9C%93' },
    { name: 'reserved characters', path: "/bucket/%21%27%28%29%2A%3D%26%24%40%3A%2C%3B%3F%23%5B%5D" },
    { name: 'double slash and dot segments', path: '/bucket//x/./../y' },
    { name: 'query with special characters', path: '/bucket', query: { 'list-type': '2', prefix: 'a b+c/ü', delimiter: '/', 'start-after': '~!*' } },
    { name: 'sub-resource without value', path: '/bucket/key', query: { uploads: '' } },
    { name: 'repeated parameter', path: '/bucket', query: { x: ['b', 'a'] } },
    { name: 'headers with inner spaces and meta', path: '/bucket/key', headers: { 'x-amz-meta-note': '  hello    world  ', 'content-type': 'text/plain' } },
  ];
  for (const c of cases) {
    test(`header auth: ${c.name}`, async () => {
      const req = await signHeader(
        {
          method: 'GET',
          host: 's3.localhost:9000',
          path: c.path,
          ...(c.query ? { query: c.query } : {}),
          headers: { 'x-amz-content-sha256': EMPTY, ...(c.headers ?? {}) },
        },
        date,
      );
      const v = verify(parsed(req, NOW), SECRET);
      assert.equal(v.accessKeyId, AKID);
      assert.equal(v.kind, 'header');
    });
    test(`presigned: ${c.name}`, async () => {
      const req = await presign({ method: 'GET', host: 's3.localhost:9000', path: c.path, ...(c.query ? { query: c.query } : {}) }, date, 3600);
      const p = parsed(req, NOW + 10_000);
      assert.equal(p.kind, 'presigned');
      verify(p, SECRET);
    });
  }

  test('a tampered request fails with SignatureDoesNotMatch and the AWS debugging fields', async () => {
    const req = await signHeader({ method: 'GET', host: 'h', path: '/b/k', headers: { 'x-amz-content-sha256': EMPTY } }, date);
    const tampered = { ...req, path: '/b/other' };
    assert.throws(
      () => verify(parsed(tampered, NOW), SECRET),
      (err: unknown) => {
        assert.ok(err instanceof S3Error);
        assert.equal(err.code, 'SignatureDoesNotMatch');
        assert.equal(err.status, 403);
        assert.equal(err.fields['AWSAccessKeyId'], AKID);
        assert.match(err.fields['CanonicalRequest']!, /^GET\n\/b\/other\n/);
        assert.match(err.fields['StringToSign']!, /^AWS4-HMAC-SHA256\n/);
        assert.match(err.fields['StringToSignBytes']!, /^41 57 53 34/);
        return true;
      },
    );
    assert.throws(() => verify(parsed(req, NOW), 'wrong secret'), s3code('SignatureDoesNotMatch'));
    const headerTampered = { ...req, headers: { ...req.headers, host: 'other' } };
    assert.throws(() => verify(parsed(headerTampered, NOW), SECRET), s3code('SignatureDoesNotMatch'));
  });

  test('a raw + in the query verifies whichever way the client meant it', async () => {
    // Client signed "a b" (space) but sent a literal "+".
    const req = await signHeader({ method: 'GET', host: 'h', path: '/b', query: { prefix: 'a b' }, headers: { 'x-amz-content-sha256': EMPTY } }, date);
    verify(parsed({ ...req, query: 'prefix=a+b' }, NOW), SECRET);
    // Client signed "a+b" (plus sign) and sent a raw "+".
    const plus = await signHeader({ method: 'GET', host: 'h', path: '/b', query: { prefix: 'a+b' }, headers: { 'x-amz-content-sha256': EMPTY } }, date);
    verify(parsed({ ...plus, query: 'prefix=a+b' }, NOW), SECRET);
  });

  test('region is free unless configured', async () => {
    const req = await signHeader({ method: 'GET', host: 'h', path: '/b', headers: { 'x-amz-content-sha256': EMPTY } }, date, 'eu-west-3');
    assert.equal(parsed(req, NOW).region, 'eu-west-3');
    verify(parsed(req, NOW), SECRET);
    assert.throws(() => parseAuth(req, NOW, { region: 'us-east-1' }), (err: unknown) => {
      assert.ok(err instanceof S3Error);
      assert.equal(err.code, 'AuthorizationHeaderMalformed');
      assert.match(err.message, /the region 'eu-west-3' is wrong; expecting 'us-east-1'/);
      assert.equal(err.fields['Region'], 'us-east-1');
      return true;
    });
    const pre = await presign({ method: 'GET', host: 'h', path: '/b' }, date, 60, 'eu-west-3');
    assert.throws(() => parseAuth(pre, NOW, { region: 'us-east-1' }), s3code('AuthorizationQueryParametersError', /region/));
  });

  test('HTTP/2 :authority stands in for host', async () => {
    const req = await signHeader({ method: 'GET', host: 'h2.example', path: '/b', headers: { 'x-amz-content-sha256': EMPTY } }, date);
    const headers: Record<string, string> = { ...(req.headers as Record<string, string>), ':authority': 'h2.example' };
    delete headers['host'];
    // host is still listed as signed but absent: the :authority value is used.
    const p = parseAuth({ ...req, headers }, NOW);
    assert.notEqual(p.kind, 'anonymous');
  });

  test('repeated headers given as arrays are joined with commas', async () => {
    const req = await signHeader(
      { method: 'GET', host: 'h', path: '/b', headers: { 'x-amz-content-sha256': EMPTY, 'x-amz-meta-a': 'one,two' } },
      date,
    );
    verify(parsed({ ...req, headers: { ...req.headers, 'x-amz-meta-a': ['one', ' two '] } }, NOW), SECRET);
  });
});

describe('requests built by the AWS SDK S3 client', () => {
  async function check(command: object, config = {}): Promise<ParsedAuth> {
    const req = await capture(command, config);
    const p = parsed(req, amzDateMs(req.headers['x-amz-date']!));
    assert.equal(p.accessKeyId, TEST_ACCESS_KEY);
    verify(p, TEST_SECRET_KEY);
    return p;
  }

  test('PutObject over HTTPS: hex payload hash and CRC32 header', async () => {
    const p = await check(new PutObjectCommand({ Bucket: 'b', Key: 'dir/a b+c&ü.txt', Body: 'hello world', ContentType: 'text/plain' }), {
      endpoint: 'https://s3.localhost',
    });
    assert.equal(p.payload.kind, 'sha256');
  });

  test('PutObject with a stream over HTTP: unsigned trailer', async () => {
    const { Readable } = await import('node:stream');
    const p = await check(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: Readable.from([Buffer.from('hello world')]) }));
    assert.deepEqual(p.payload, { kind: 'streaming', signed: false, trailer: true });
  });

  test('GetObject with Range and response overrides, ListObjectsV2, DeleteObjects, CopyObject, UploadPart', async () => {
    await check(new GetObjectCommand({ Bucket: 'b', Key: 'x y/z', Range: 'bytes=0-9', ResponseContentType: 'text/plain; charset=utf-8' }));
    await check(new ListObjectsV2Command({ Bucket: 'b', Prefix: 'a b+c/ü', Delimiter: '/', StartAfter: '~x', MaxKeys: 5 }));
    await check(new DeleteObjectsCommand({ Bucket: 'b', Delete: { Objects: [{ Key: 'a' }, { Key: 'b' }] } }));
    await check(new CopyObjectCommand({ Bucket: 'b', Key: 'dst', CopySource: 'src/a%20b?versionId=1', MetadataDirective: 'REPLACE', Metadata: { k: 'v' } }));
    await check(new UploadPartCommand({ Bucket: 'b', Key: 'k', UploadId: 'u/+=', PartNumber: 3, Body: 'part' }));
  });

  test('virtual-hosted style', async () => {
    await check(new GetObjectCommand({ Bucket: 'bucket', Key: 'k' }), { forcePathStyle: false, endpoint: 'http://s3.localhost:9000' });
  });
});

describe('authentication errors', () => {
  const date = new Date(NOW);
  async function signed(extraHeaders: Record<string, string> = {}): Promise<SigV4Request> {
    return signHeader({ method: 'GET', host: 'h', path: '/b/k', headers: { 'x-amz-content-sha256': EMPTY, ...extraHeaders } }, date);
  }
  function withAuth(req: SigV4Request, authorization: string): SigV4Request {
    return { ...req, headers: { ...req.headers, authorization } };
  }

  test('anonymous requests', () => {
    assert.deepEqual(parseAuth({ method: 'GET', path: '/b/k', query: 'prefix=x', headers: { host: 'h' } }, NOW), { kind: 'anonymous' });
    // An empty Authorization header is no authorization (S3 answers AccessDenied, not a parse error).
    assert.deepEqual(parseAuth({ method: 'PUT', path: '/b', query: '', headers: { host: 'h', authorization: ' ' } }, NOW), { kind: 'anonymous' });
  });

  test('clock skew → RequestTimeTooSkewed with the AWS fields', async () => {
    const req = await signed();
    parseAuth(req, NOW + 15 * 60_000);
    parseAuth(req, NOW - 15 * 60_000);
    assert.throws(
      () => parseAuth(req, NOW + 15 * 60_000 + 1),
      (err: unknown) => {
        assert.ok(err instanceof S3Error);
        assert.equal(err.code, 'RequestTimeTooSkewed');
        assert.equal(err.status, 403);
        assert.equal(err.fields['RequestTime'], formatAmzDate(NOW));
        assert.equal(err.fields['MaxAllowedSkewMilliseconds'], '900000');
        return true;
      },
    );
    assert.throws(() => parseAuth(req, NOW - 16 * 60_000), s3code('RequestTimeTooSkewed'));
    parseAuth(req, NOW + 50 * 60_000, { maxSkewMs: 60 * 60_000 });
  });

  test('Date header instead of x-amz-date', () => {
    const httpDate = new Date(NOW).toUTCString();
    const canonical = `GET\n/b/k\n\ndate:${httpDate}\nhost:h\nx-amz-content-sha256:${EMPTY}\n\ndate;host;x-amz-content-sha256\n${EMPTY}`;
    const stringToSign = `AWS4-HMAC-SHA256\n20240301T120000Z\n20240301/us-east-1/s3/aws4_request\n${createHash('sha256').update(canonical).digest('hex')}`;
    const signature = createHmac('sha256', testSigningKey(SECRET, '20240301', 'us-east-1')).update(stringToSign).digest('hex');
    const headers: Record<string, string> = {
      host: 'h',
      date: httpDate,
      'x-amz-content-sha256': EMPTY,
      authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20240301/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256, Signature=${signature}`,
    };
    const p = parsed({ method: 'GET', path: '/b/k', query: '', headers }, NOW);
    assert.equal(p.amzDate, '20240301T120000Z');
    assert.equal(p.requestTime, NOW);
    verify(p, SECRET);
    const noDates = { ...headers };
    delete noDates['date'];
    assert.throws(() => parseAuth({ method: 'GET', path: '/b/k', query: '', headers: noDates }, NOW), s3code('AccessDenied', /valid Date or x-amz-date/));
    assert.throws(
      () => parseAuth({ method: 'GET', path: '/b/k', query: '', headers: { ...headers, date: 'yesterday' } }, NOW),
      s3code('AccessDenied', /valid Date or x-amz-date/),
    );
    assert.throws(
      () => parseAuth({ method: 'GET', path: '/b/k', query: '', headers: { ...headers, 'x-amz-date': 'garbage' } }, NOW),
      s3code('AccessDenied'),
    );
  });

  test('malformed Authorization headers', async () => {
    const req = await signed();
    const auth = req.headers['authorization'] as string;
    const sig = auth.slice(auth.indexOf('Signature='));
    assert.throws(() => parseAuth(withAuth(req, 'AWS AKID:c2lnbmF0dXJl'), NOW), s3code('InvalidRequest', /Please use AWS4-HMAC-SHA256/));
    assert.throws(() => parseAuth(withAuth(req, auth.replace('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256')), NOW), s3code('InvalidRequest'));
    assert.throws(() => parseAuth(withAuth(req, 'AWS4-HMAC-SHA256'), NOW), s3code('AuthorizationHeaderMalformed'));
    assert.throws(() => parseAuth(withAuth(req, `AWS4-HMAC-SHA256 SignedHeaders=host, ${sig}`), NOW), s3code('AuthorizationHeaderMalformed'));
    assert.throws(
      () => parseAuth(withAuth(req, `AWS4-HMAC-SHA256 Credential=${AKID}/20240301/us-east-1/s3/aws4_request, ${sig}`), NOW),
      s3code('AuthorizationHeaderMalformed'),
    );
    assert.throws(
      () => parseAuth(withAuth(req, `AWS4-HMAC-SHA256 Credential=${AKID}/20240301/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date`), NOW),
      s3code('AuthorizationHeaderMalformed'),
    );
    assert.throws(
      () => parseAuth(withAuth(req, auth.replace(`${AKID}/20240301/us-east-1/s3/aws4_request`, `${AKID}/20240301/us-east-1`)), NOW),
      s3code('AuthorizationHeaderMalformed', /Credential is mal-formed/),
    );
    assert.throws(
      () => parseAuth(withAuth(req, auth.replace('/s3/', '/ec2/')), NOW),
      s3code('AuthorizationHeaderMalformed', /incorrect service "ec2"/),
    );
    assert.throws(
      () => parseAuth(withAuth(req, auth.replace('aws4_request', 'aws5_request')), NOW),
      s3code('AuthorizationHeaderMalformed', /incorrect terminal "aws5_request"/),
    );
    assert.throws(
      () => parseAuth(withAuth(req, auth.replace('/20240301/', '/20240302/')), NOW),
      s3code('AuthorizationHeaderMalformed', /Date is not the same as X-Amz-Date/),
    );
    assert.throws(() => parseAuth(withAuth(req, auth.replace(/SignedHeaders=[^,]*/, 'SignedHeaders=')), NOW), s3code('AuthorizationHeaderMalformed'));
    // Extra whitespace and no spaces after commas are accepted.
    parseAuth(withAuth(req, auth.replace(/, /g, ',')), NOW);
    parseAuth(withAuth(req, auth.replace(/, /g, ' ,  ')), NOW);
  });

  test('x-amz-content-sha256 missing or invalid', async () => {
    const req = await signed();
    const headers = { ...req.headers };
    delete headers['x-amz-content-sha256'];
    assert.throws(() => parseAuth({ ...req, headers }, NOW), s3code('InvalidRequest', /x-amz-content-sha256/));
    assert.throws(() => parseAuth({ ...req, headers: { ...req.headers, 'x-amz-content-sha256': 'nope' } }, NOW), s3code('InvalidArgument'));
  });

  test('unsigned x-amz-* headers and unsigned host → AccessDenied', async () => {
    const req = await signed();
    assert.throws(
      () => parseAuth({ ...req, headers: { ...req.headers, 'x-amz-meta-sneaky': '1' } }, NOW),
      (err: unknown) => {
        assert.ok(err instanceof S3Error);
        assert.equal(err.code, 'AccessDenied');
        assert.equal(err.fields['HeadersNotSigned'], 'x-amz-meta-sneaky');
        return true;
      },
    );
    const auth = req.headers['authorization'] as string;
    assert.throws(() => parseAuth(withAuth(req, auth.replace('SignedHeaders=host;', 'SignedHeaders=')), NOW), s3code('AccessDenied'));
    // Other unsigned headers are fine.
    parseAuth({ ...req, headers: { ...req.headers, 'user-agent': 'x', 'content-type': 'y' } }, NOW);
  });

  test('header and query authentication together → InvalidArgument', async () => {
    const req = await signed();
    assert.throws(() => parseAuth({ ...req, query: 'X-Amz-Algorithm=AWS4-HMAC-SHA256' }, NOW), s3code('InvalidArgument', /Only one auth mechanism/));
  });

  test('presigned URL errors', async () => {
    const req = await presign({ method: 'GET', host: 'h', path: '/b/k' }, date, 3600);
    const q = new URLSearchParams(req.query);
    const withParam = (name: string, value: string | undefined): SigV4Request => {
      const copy = new URLSearchParams(q);
      if (value === undefined) copy.delete(name);
      else copy.set(name, value);
      return { ...req, query: copy.toString() };
    };
    assert.throws(() => parseAuth(withParam('X-Amz-Date', undefined), NOW), s3code('AuthorizationQueryParametersError', /requires the X-Amz-Algorithm/));
    assert.throws(() => parseAuth(withParam('X-Amz-Algorithm', 'AWS4-HMAC-SHA1'), NOW), s3code('AuthorizationQueryParametersError', /only supports/));
    assert.throws(() => parseAuth(withParam('X-Amz-Expires', 'soon'), NOW), s3code('AuthorizationQueryParametersError', /should be a number/));
    assert.throws(() => parseAuth(withParam('X-Amz-Expires', '-1'), NOW), s3code('AuthorizationQueryParametersError', /non-negative/));
    assert.throws(() => parseAuth(withParam('X-Amz-Expires', '604801'), NOW), s3code('AuthorizationQueryParametersError', /604800 seconds/));
    assert.throws(() => parseAuth(withParam('X-Amz-Date', '2024-03-01'), NOW), s3code('AuthorizationQueryParametersError', /ISO8601/));
    assert.throws(() => parseAuth(withParam('X-Amz-Credential', 'nope'), NOW), s3code('AuthorizationQueryParametersError', /Credential is mal-formed/));
    assert.throws(() => parseAuth(req, NOW - 20 * 60_000), s3code('AccessDenied', /not valid yet/));
    assert.throws(
      () => parseAuth(req, NOW + 3600_000 + 1000),
      (err: unknown) => {
        assert.ok(err instanceof S3Error);
        assert.equal(err.code, 'AccessDenied');
        assert.equal(err.fields['X-Amz-Expires'], '3600');
        assert.equal(err.fields['Expires'], new Date(NOW + 3600_000).toISOString());
        return true;
      },
    );
    // Exactly at the limit is still valid; a full week is allowed.
    parseAuth(req, NOW + 3600_000);
    const week = await presign({ method: 'GET', host: 'h', path: '/b/k' }, date, 604800);
    verify(parsed(week, NOW + 604800_000), SECRET);
    assert.throws(() => parseAuth({ ...req, query: 'AWSAccessKeyId=x&Signature=y&Expires=1' }, NOW), s3code('InvalidRequest'));
    assert.throws(() => verify(parsed(withParam('X-Amz-Signature', '0'.repeat(64)), NOW), SECRET), s3code('SignatureDoesNotMatch'));
  });

  test('a repeated authentication parameter → AuthorizationQueryParametersError, whichever value comes first', async () => {
    const req = await presign({ method: 'GET', host: 'h', path: '/b/k', headers: { 'x-amz-security-token': 'TOKEN' } }, date, 3600);
    verify(parsed(req, NOW), SECRET);
    const q = new URLSearchParams(req.query);
    const names = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'X-Amz-Security-Token', 'X-Amz-Content-Sha256'];
    for (const name of names) {
      const value = q.get(name) ?? q.get(name.toLowerCase());
      assert.ok(value !== null, name);
      const bogus = name === 'X-Amz-Signature' ? '0'.repeat(64) : value;
      // The valid value first (the bogus one appended to a valid URL), then the bogus one first;
      // a repeat spelt in another case is the same parameter; even an identical repeat is refused.
      for (const extra of [`${name}=${encodeURIComponent(bogus)}`, `${name.toLowerCase()}=${encodeURIComponent(bogus)}`, `${name}=${encodeURIComponent(value)}`]) {
        const appended = { ...req, query: `${req.query}&${extra}` };
        const prepended = { ...req, query: `${extra}&${req.query}` };
        for (const r of [appended, prepended]) {
          assert.throws(() => parseAuth(r, NOW), s3code('AuthorizationQueryParametersError', new RegExp(`^${name} must not be repeated`)), `${name}: ${extra}`);
        }
      }
    }
    // Other parameters may repeat (they are signed, both values).
    const other = await presign({ method: 'GET', host: 'h', path: '/b', query: { prefix: ['a', 'b'] } }, date, 3600);
    verify(parsed(other, NOW), SECRET);
  });

  test('presigned URL with a payload hash in the query', async () => {
    const req = await presign({ method: 'PUT', host: 'h', path: '/b/k', headers: { 'x-amz-content-sha256': EMPTY } }, date, 60);
    const p = parsed(req, NOW);
    assert.deepEqual(p.payload, { kind: 'sha256', sha256: EMPTY });
    verify(p, SECRET);
  });

  test('security token is exposed; InvalidAccessKeyId error', async () => {
    const req = await signed({ 'x-amz-security-token': 'TOKEN' });
    assert.equal(parsed(req, NOW).securityToken, 'TOKEN');
    const err = invalidAccessKeyId('AKIDX');
    assert.equal(err.code, 'InvalidAccessKeyId');
    assert.equal(err.status, 403);
    assert.equal(err.fields['AWSAccessKeyId'], 'AKIDX');
  });
});
