import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CopyObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  bucketNameProblem,
  collectUserMetadata,
  contentRange,
  etagMatches,
  evaluateConditions,
  evaluateCopySourceConditions,
  evaluateWriteConditions,
  formatHttpDate,
  isValidBucketName,
  parseCannedAcl,
  parseCopySource,
  parseCopySourceRange,
  parseHttpDate,
  parsePartNumber,
  parseRange,
  parseStorageClass,
  parseTaggingDirective,
  parseTaggingHeader,
  rangeLength,
  requireIntegrityHeader,
  resolveAddress,
  responseHeaderOverrides,
  uploadLength,
  validateBucketName,
  validateObjectKey,
} from '../../../../src/cloud/s3/protocol/request.ts';
import { S3Error } from '../../../../src/cloud/s3/protocol/errors.ts';
import { capture } from './sdk-capture.ts';
import { s3code } from './s3-error.ts';


describe('bucket names', () => {
  test('valid names', () => {
    for (const name of ['abc', 'my-bucket', 'my.bucket.name', '1bucket', 'bucket1', 'a'.repeat(63), 'a-b.c-d', '192.168.5.4a', 'xn-bucket', 'sthree', 'my-s3alias-x']) {
      assert.equal(bucketNameProblem(name), undefined, name);
      assert.ok(isValidBucketName(name));
    }
  });

  test('invalid names', () => {
    const invalid = [
      '',
      'a',
      'ab',
      'a'.repeat(64),
      'MyBucket',
      'my_bucket',
      '-bucket',
      'bucket-',
      '.bucket',
      'bucket.',
      'my..bucket',
      'my.-bucket',
      'my-.bucket',
      '192.168.5.4',
      '10.0.0.1',
      'xn--bucket',
      'sthree-bucket',
      'sthree-configurator',
      'amzn-s3-demo-bucket',
      'bucket-s3alias',
      'bucket--ol-s3',
      'bucket.mrap',
      'bucket--x-s3',
      'bucket--table-s3',
      'buck et',
      'bücket',
      'bucket/x',
    ];
    for (const name of invalid) {
      assert.ok(bucketNameProblem(name), name);
      assert.throws(() => validateBucketName(name), (err: unknown) => {
        assert.ok(err instanceof S3Error);
        assert.equal(err.code, 'InvalidBucketName');
        assert.equal(err.status, 400);
        assert.equal(err.fields['BucketName'], name);
        return true;
      });
    }
  });

  test('key length is counted in UTF-8 bytes', () => {
    validateObjectKey('a'.repeat(1024));
    validateObjectKey('ü'.repeat(512));
    assert.throws(() => validateObjectKey('a'.repeat(1025)), s3code('KeyTooLongError'));
    assert.throws(() => validateObjectKey('ü'.repeat(513)), s3code('KeyTooLongError'));
    assert.throws(() => validateObjectKey('😀'.repeat(257)), s3code('KeyTooLongError'));
  });
});

describe('addressing', () => {
  const options = { baseDomains: ['s3.localhost', 'localhost', 's3.example.com'] };

  test('path style', () => {
    assert.deepEqual(resolveAddress('s3.localhost:9000', '/', options), { style: 'path' });
    assert.deepEqual(resolveAddress('s3.localhost', '', options), { style: 'path' });
    assert.deepEqual(resolveAddress('s3.localhost', '/bucket', options), { style: 'path', bucket: 'bucket' });
    assert.deepEqual(resolveAddress('s3.localhost', '/bucket/', options), { style: 'path', bucket: 'bucket' });
    assert.deepEqual(resolveAddress('s3.localhost', '/bucket/a%20b/c+d%2Fe', options), { style: 'path', bucket: 'bucket', key: 'a b/c+d/e' });
    assert.deepEqual(resolveAddress('S3.LOCALHOST', '/bucket//x/', options), { style: 'path', bucket: 'bucket', key: '/x/' });
    assert.deepEqual(resolveAddress('localhost:9000', '/b/%E2%9C%93?acl', options), { style: 'path', bucket: 'b', key: '✓' });
  });

  test('unknown hosts and IP addresses are path style', () => {
    assert.deepEqual(resolveAddress('127.0.0.1:9000', '/bucket/key', options), { style: 'path', bucket: 'bucket', key: 'key' });
    assert.deepEqual(resolveAddress('[::1]:9000', '/bucket/key', options), { style: 'path', bucket: 'bucket', key: 'key' });
    assert.deepEqual(resolveAddress(undefined, '/bucket/key', options), { style: 'path', bucket: 'bucket', key: 'key' });
    assert.deepEqual(resolveAddress('other.host', '/bucket', options), { style: 'path', bucket: 'bucket' });
  });

  test('virtual-hosted style, longest base domain wins', () => {
    assert.deepEqual(resolveAddress('bucket.s3.localhost:9000', '/', options), { style: 'virtual-hosted', bucket: 'bucket' });
    assert.deepEqual(resolveAddress('bucket.s3.localhost', '/dir/file%20name.txt', options), {
      style: 'virtual-hosted',
      bucket: 'bucket',
      key: 'dir/file name.txt',
    });
    assert.deepEqual(resolveAddress('my.dotted.bucket.s3.example.com', '/k', options), { style: 'virtual-hosted', bucket: 'my.dotted.bucket', key: 'k' });
    // "bucket.localhost" matches base "localhost".
    assert.deepEqual(resolveAddress('bucket.localhost', '/k', options), { style: 'virtual-hosted', bucket: 'bucket', key: 'k' });
    // "s3.localhost" itself is the service endpoint, not a bucket "s3" on "localhost".
    assert.deepEqual(resolveAddress('s3.localhost', '/k', options), { style: 'path', bucket: 'k' });
    assert.deepEqual(resolveAddress('bucket.s3.localhost', '//x', options), { style: 'virtual-hosted', bucket: 'bucket', key: '/x' });
  });

  test('absolute-form targets and malformed escapes', () => {
    assert.deepEqual(resolveAddress('s3.localhost', 'http://s3.localhost:9000/b/k', options), { style: 'path', bucket: 'b', key: 'k' });
    assert.throws(() => resolveAddress('s3.localhost', '/b/%zz', options), s3code('InvalidURI'));
    assert.throws(() => resolveAddress('s3.localhost', '/b/%C3', options), s3code('InvalidURI'));
    assert.throws(() => resolveAddress('s3.localhost', '//k', options), s3code('InvalidURI'));
  });

  test('keys as the AWS SDK sends them come back intact, in both styles', async () => {
    const keys = ['plain.txt', 'dir/sub/file', 'a b+c&d=e?f#g', '100%.csv', 'ünïcödé/✓/😀', "!'()*~@$,;:[]", ' lead and trail ', 'x//y', 'dots/../and/./', '\ttab'];
    for (const key of keys) {
      const path = await capture(new GetObjectCommand({ Bucket: 'bucket', Key: key }));
      assert.deepEqual(resolveAddress(path.headers['host'], path.path, options), { style: 'path', bucket: 'bucket', key }, key);
      const virtual = await capture(new GetObjectCommand({ Bucket: 'bucket', Key: key }), { forcePathStyle: false });
      assert.deepEqual(resolveAddress(virtual.headers['host'], virtual.path, options), { style: 'virtual-hosted', bucket: 'bucket', key }, key);
    }
  });
});

describe('Range', () => {
  const size = 100;
  test('satisfiable ranges', () => {
    assert.deepEqual(parseRange('bytes=0-9', size), { start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=10-', size), { start: 10, end: 99 });
    assert.deepEqual(parseRange('bytes=-10', size), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-1000', size), { start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=90-1000', size), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=99-99', size), { start: 99, end: 99 });
    assert.deepEqual(parseRange('Bytes = 5 - 6', size), { start: 5, end: 6 });
    assert.deepEqual(parseRange('bytes=0-99999999999999999999', size), { start: 0, end: 99 });
    assert.equal(contentRange({ start: 0, end: 9 }, size), 'bytes 0-9/100');
    assert.equal(rangeLength({ start: 5, end: 6 }), 2);
  });

  test('ignored: absent, malformed, reversed, several ranges, other units', () => {
    for (const header of [undefined, '', 'bytes=', 'bytes=-', 'bytes=a-b', 'bytes=5-2', 'bytes=0-1,5-6', 'items=0-1', '0-1', 'bytes=1', 'bytes=--1', 'bytes=1.5-2']) {
      assert.equal(parseRange(header, size), undefined, String(header));
    }
  });

  test('unsatisfiable → 416 InvalidRange with Content-Range bytes */size', () => {
    for (const [header, objectSize] of [
      ['bytes=100-', 100],
      ['bytes=100-200', 100],
      ['bytes=-0', 100],
      ['bytes=0-', 0],
      ['bytes=0-0', 0],
      ['bytes=-5', 0],
    ] as const) {
      assert.throws(
        () => parseRange(header, objectSize),
        (err: unknown) => {
          assert.ok(err instanceof S3Error);
          assert.equal(err.code, 'InvalidRange');
          assert.equal(err.status, 416);
          assert.equal(err.headers['content-range'], `bytes */${objectSize}`);
          assert.equal(err.fields['RangeRequested'], header);
          assert.equal(err.fields['ActualObjectSize'], String(objectSize));
          return true;
        },
        header,
      );
    }
  });

  test('x-amz-copy-source-range', () => {
    assert.deepEqual(parseCopySourceRange('bytes=0-9', 100), { start: 0, end: 9 });
    assert.deepEqual(parseCopySourceRange('bytes=99-99', 100), { start: 99, end: 99 });
    for (const bad of ['0-9', 'bytes=0-', 'bytes=-9', 'bytes=5-2', 'bytes=0-1,2-3', 'bytes=a-b']) {
      assert.throws(() => parseCopySourceRange(bad, 100), s3code('InvalidArgument', /must be of the form bytes=first-last/), bad);
    }
    assert.throws(() => parseCopySourceRange('bytes=0-100', 100), s3code('InvalidArgument', /Range specified is not valid for source object of size: 100/));
  });
});

describe('HTTP dates', () => {
  const t = Date.UTC(1994, 10, 6, 8, 49, 37);
  test('formats IMF-fixdate', () => {
    assert.equal(formatHttpDate(t), 'Sun, 06 Nov 1994 08:49:37 GMT');
    assert.equal(formatHttpDate(Date.UTC(2024, 0, 1)), 'Mon, 01 Jan 2024 00:00:00 GMT');
  });
  test('parses the three HTTP formats and ISO 8601', () => {
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), t);
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), t);
    assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), t);
    assert.equal(parseHttpDate('1994-11-06T08:49:37Z'), t);
    assert.equal(parseHttpDate('1994-11-06T09:49:37.000+01:00'), t);
    for (const bad of ['', 'yesterday', 'Sun, 31 Feb 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 25:49:37 GMT', '1994-11-06']) {
      assert.equal(parseHttpDate(bad), undefined, bad);
    }
  });
});

describe('conditional requests', () => {
  const lastModified = Date.UTC(2024, 0, 10, 12, 0, 0, 500);
  const object = { etag: '"abc"', lastModified };
  const before = formatHttpDate(Date.UTC(2024, 0, 9));
  const same = formatHttpDate(Date.UTC(2024, 0, 10, 12, 0, 0));
  const after = formatHttpDate(Date.UTC(2024, 0, 11));
  const ok = (headers: Record<string, string>, method = 'GET') => evaluateConditions(headers, object, { method });
  const fails = (headers: Record<string, string>, code: string, condition?: string, method = 'GET') =>
    assert.throws(() => evaluateConditions(headers, object, { method }), (err: unknown) => {
      assert.ok(err instanceof S3Error);
      assert.equal(err.code, code, JSON.stringify(headers));
      if (condition !== undefined) assert.equal(err.fields['Condition'], condition);
      return true;
    });

  test('ETag matching', () => {
    assert.ok(etagMatches('"abc"', 'abc'));
    assert.ok(etagMatches('abc', '"abc"'));
    assert.ok(etagMatches('"x", "abc"', '"abc"'));
    assert.ok(etagMatches('*', '"abc"'));
    assert.ok(etagMatches('W/"abc"', '"abc"'));
    assert.ok(!etagMatches('"abd"', '"abc"'));
    assert.ok(!etagMatches('', '"abc"'));
  });

  test('single headers', () => {
    ok({});
    ok({ 'if-match': '"abc"' });
    ok({ 'if-match': '*' });
    fails({ 'if-match': '"zzz"' }, 'PreconditionFailed', 'If-Match');
    ok({ 'if-none-match': '"zzz"' });
    fails({ 'if-none-match': '"abc"' }, 'NotModified');
    fails({ 'if-none-match': '*' }, 'NotModified');
    ok({ 'if-modified-since': before });
    fails({ 'if-modified-since': same }, 'NotModified');
    fails({ 'if-modified-since': after }, 'NotModified');
    ok({ 'if-unmodified-since': same });
    ok({ 'if-unmodified-since': after });
    fails({ 'if-unmodified-since': before }, 'PreconditionFailed', 'If-Unmodified-Since');
    ok({ 'if-modified-since': 'garbage', 'if-unmodified-since': 'garbage' });
  });

  test('S3 precedence rules', () => {
    // If-Match true + If-Unmodified-Since false → 200.
    ok({ 'if-match': '"abc"', 'if-unmodified-since': before });
    // If-Match false wins over anything.
    fails({ 'if-match': '"zzz"', 'if-unmodified-since': after, 'if-none-match': '"abc"' }, 'PreconditionFailed', 'If-Match');
    // If-None-Match false + If-Modified-Since true → 304.
    fails({ 'if-none-match': '"abc"', 'if-modified-since': before }, 'NotModified');
    // If-None-Match true + If-Modified-Since false → If-Modified-Since ignored → 200.
    ok({ 'if-none-match': '"zzz"', 'if-modified-since': after });
    // 412 takes precedence over 304.
    fails({ 'if-unmodified-since': before, 'if-none-match': '"abc"' }, 'PreconditionFailed');
  });

  test('non-GET methods: If-None-Match is 412 and If-Modified-Since ignored', () => {
    fails({ 'if-none-match': '"abc"' }, 'PreconditionFailed', 'If-None-Match', 'PUT');
    ok({ 'if-modified-since': after }, 'DELETE');
    fails({ 'if-none-match': '"abc"' }, 'NotModified', undefined, 'HEAD');
  });

  test('304 carries ETag and Last-Modified; future If-Modified-Since ignored when now is given', () => {
    try {
      ok({ 'if-none-match': 'abc' });
      assert.fail('expected NotModified');
    } catch (err) {
      assert.ok(err instanceof S3Error);
      assert.equal(err.status, 304);
      assert.equal(err.headers['etag'], '"abc"');
      assert.equal(err.headers['last-modified'], 'Wed, 10 Jan 2024 12:00:00 GMT');
    }
    const future = formatHttpDate(Date.UTC(2030, 0, 1));
    evaluateConditions({ 'if-modified-since': future }, object, { now: Date.UTC(2024, 5, 1) });
    assert.throws(() => evaluateConditions({ 'if-modified-since': future }, object), s3code('NotModified'));
  });

  test('copy source conditions', () => {
    const src = object;
    evaluateCopySourceConditions({}, src);
    evaluateCopySourceConditions({ 'x-amz-copy-source-if-match': '"abc"', 'x-amz-copy-source-if-unmodified-since': before }, src);
    assert.throws(
      () => evaluateCopySourceConditions({ 'x-amz-copy-source-if-match': '"x"' }, src),
      (err: unknown) => err instanceof S3Error && err.code === 'PreconditionFailed' && err.fields['Condition'] === 'x-amz-copy-source-If-Match',
    );
    assert.throws(() => evaluateCopySourceConditions({ 'x-amz-copy-source-if-none-match': '"abc"', 'x-amz-copy-source-if-modified-since': before }, src), s3code('PreconditionFailed'));
    assert.throws(() => evaluateCopySourceConditions({ 'x-amz-copy-source-if-modified-since': after }, src), s3code('PreconditionFailed'));
    assert.throws(() => evaluateCopySourceConditions({ 'x-amz-copy-source-if-unmodified-since': before }, src), s3code('PreconditionFailed'));
    evaluateCopySourceConditions({ 'x-amz-copy-source-if-none-match': '"x"', 'x-amz-copy-source-if-modified-since': after }, src);
  });

  test('conditional writes', () => {
    evaluateWriteConditions({ 'if-none-match': '*' }, undefined);
    assert.throws(() => evaluateWriteConditions({ 'if-none-match': '*' }, object), s3code('PreconditionFailed'));
    assert.throws(() => evaluateWriteConditions({ 'if-none-match': '"abc"' }, undefined), s3code('NotImplemented'));
    evaluateWriteConditions({ 'if-match': '"abc"' }, object);
    assert.throws(() => evaluateWriteConditions({ 'if-match': '"x"' }, object), s3code('PreconditionFailed'));
    assert.throws(() => evaluateWriteConditions({ 'if-match': '"abc"' }, undefined), s3code('NoSuchKey'));
  });
});

describe('copy source', () => {
  test('forms', () => {
    assert.deepEqual(parseCopySource('bucket/key'), { bucket: 'bucket', key: 'key' });
    assert.deepEqual(parseCopySource('/bucket/dir/a%20b%3Fc'), { bucket: 'bucket', key: 'dir/a b?c' });
    assert.deepEqual(parseCopySource('bucket/k+1?versionId=v%2B1'), { bucket: 'bucket', key: 'k+1', versionId: 'v+1' });
    assert.deepEqual(parseCopySource('bucket/%C3%BC/'), { bucket: 'bucket', key: 'ü/' });
  });
  test('errors', () => {
    for (const bad of ['bucket', 'bucket/', '/bucket', '/key', '', 'bucket/%zz']) {
      assert.throws(() => parseCopySource(bad), s3code('InvalidArgument'), bad);
    }
    assert.throws(() => parseCopySource('b/k?versionId='), s3code('InvalidArgument'));
  });
  test('as the AWS SDK sends it', async () => {
    const req = await capture(new CopyObjectCommand({ Bucket: 'dst', Key: 'k', CopySource: `src/${encodeURIComponent('a b/ü?')}?versionId=3` }));
    assert.deepEqual(parseCopySource(req.headers['x-amz-copy-source']!), { bucket: 'src', key: 'a b/ü?', versionId: '3' });
  });
});

describe('response header overrides', () => {
  test('authenticated requests get them', () => {
    const q = new URLSearchParams('response-content-type=text/plain&response-content-disposition=attachment%3B%20filename%3D%22x%22&response-expires=0&response-cache-control=no-cache&response-content-language=fr&response-content-encoding=gzip&other=1');
    assert.deepEqual(responseHeaderOverrides(q, true), {
      'content-type': 'text/plain',
      'content-disposition': 'attachment; filename="x"',
      expires: '0',
      'cache-control': 'no-cache',
      'content-language': 'fr',
      'content-encoding': 'gzip',
    });
    assert.deepEqual(responseHeaderOverrides(new URLSearchParams('x=1'), false), {});
  });
  test('anonymous requests → InvalidRequest', () => {
    assert.throws(() => responseHeaderOverrides(new URLSearchParams('response-content-type=x'), false), s3code('InvalidRequest', /anonymous/));
  });
  test('from an SDK GetObject', async () => {
    const req = await capture(new GetObjectCommand({ Bucket: 'b', Key: 'k', ResponseContentDisposition: 'inline; filename="ü.txt"' }));
    assert.deepEqual(responseHeaderOverrides(new URLSearchParams(req.query), true), { 'content-disposition': 'inline; filename="ü.txt"' });
  });
});

describe('user metadata', () => {
  test('collects x-amz-meta-* lower-cased without the prefix', () => {
    assert.deepEqual(collectUserMetadata({ 'x-amz-meta-color': 'blue', 'x-amz-meta-a-b': 'c, d', 'x-amz-meta-': 'skip', 'content-type': 'x', 'x-amz-acl': 'private' }), {
      color: 'blue',
      'a-b': 'c, d',
    });
  });
  test('2 KB limit → MetadataTooLarge', () => {
    collectUserMetadata({ 'x-amz-meta-k': 'v'.repeat(2047) });
    assert.throws(() => collectUserMetadata({ 'x-amz-meta-k': 'v'.repeat(2048) }), s3code('MetadataTooLarge'));
    assert.throws(() => collectUserMetadata({ 'x-amz-meta-a': 'v'.repeat(1000), 'x-amz-meta-b': 'v'.repeat(1000), 'x-amz-meta-c': 'v'.repeat(100) }), s3code('MetadataTooLarge'));
  });
  test('as the AWS SDK sends it', async () => {
    const req = await capture(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x', Metadata: { Project: 'pi', 'mixed-Case': 'Value' } }));
    assert.deepEqual(collectUserMetadata(req.headers), { project: 'pi', 'mixed-case': 'Value' });
  });
});

describe('canned ACLs, storage class, lengths, part numbers, integrity, tagging', () => {
  test('x-amz-acl', () => {
    assert.equal(parseCannedAcl({}), undefined);
    assert.equal(parseCannedAcl({ 'x-amz-acl': 'public-read' }), 'public-read');
    assert.equal(parseCannedAcl({ 'x-amz-acl': 'bucket-owner-full-control' }), 'bucket-owner-full-control');
    assert.throws(() => parseCannedAcl({ 'x-amz-acl': 'public' }), (err: unknown) => {
      assert.ok(err instanceof S3Error);
      assert.equal(err.code, 'InvalidArgument');
      assert.equal(err.fields['ArgumentName'], 'x-amz-acl');
      assert.equal(err.fields['ArgumentValue'], 'public');
      return true;
    });
    assert.throws(() => parseCannedAcl({ 'x-amz-acl': 'log-delivery-write' }), s3code('NotImplemented'));
    assert.equal(parseCannedAcl({ 'x-amz-acl': 'log-delivery-write' }, ['private', 'log-delivery-write']), 'log-delivery-write');
    assert.throws(() => parseCannedAcl({ 'x-amz-acl': 'private', 'x-amz-grant-read': 'id=x' }), s3code('InvalidRequest'));
  });

  test('x-amz-storage-class', () => {
    assert.equal(parseStorageClass({}), 'STANDARD');
    assert.equal(parseStorageClass({ 'x-amz-storage-class': 'GLACIER_IR' }), 'GLACIER_IR');
    assert.throws(() => parseStorageClass({ 'x-amz-storage-class': 'FAST' }), s3code('InvalidStorageClass'));
  });

  test('upload length', () => {
    assert.equal(uploadLength({ 'content-length': '10' }), 10);
    assert.equal(uploadLength({ 'content-length': '200', 'x-amz-decoded-content-length': '100' }), 100);
    assert.equal(uploadLength({ 'transfer-encoding': 'chunked' }), undefined);
    assert.throws(() => uploadLength({}), s3code('MissingContentLength'));
    assert.throws(() => uploadLength({ 'content-length': '-1' }), s3code('InvalidArgument'));
    assert.throws(() => uploadLength({ 'content-length': String(5 * 1024 ** 3 + 1) }), s3code('EntityTooLarge'));
    assert.equal(uploadLength({ 'content-length': String(5 * 1024 ** 3) }), 5 * 1024 ** 3);
  });

  test('part numbers', () => {
    assert.equal(parsePartNumber('1'), 1);
    assert.equal(parsePartNumber('10000'), 10000);
    for (const bad of [undefined, '', '0', '10001', '-1', '1.5', 'x']) assert.throws(() => parsePartNumber(bad), s3code('InvalidArgument'), String(bad));
  });

  test('integrity header required', () => {
    requireIntegrityHeader({ 'content-md5': 'x' });
    requireIntegrityHeader({ 'x-amz-checksum-crc32': 'x' });
    requireIntegrityHeader({ 'x-amz-trailer': 'x-amz-checksum-crc32' });
    assert.throws(() => requireIntegrityHeader({ 'x-amz-checksum-type': 'FULL_OBJECT' }), s3code('InvalidRequest', /Content-MD5/));
  });

  test('x-amz-tagging', () => {
    assert.deepEqual(parseTaggingHeader(undefined), []);
    assert.deepEqual(parseTaggingHeader('a=1&b%20c=d+e&empty='), [
      { key: 'a', value: '1' },
      { key: 'b c', value: 'd e' },
      { key: 'empty', value: '' },
    ]);
    assert.throws(() => parseTaggingHeader('a=1&a=2'), s3code('InvalidTag'));
    assert.throws(() => parseTaggingHeader('a=%zz'), s3code('InvalidArgument'));
    assert.throws(() => parseTaggingHeader(Array.from({ length: 11 }, (_, i) => `k${i}=v`).join('&')), s3code('InvalidTag'));
  });

  test('x-amz-tagging-directive', () => {
    assert.equal(parseTaggingDirective({}), 'COPY');
    assert.equal(parseTaggingDirective({ 'x-amz-tagging-directive': 'COPY' }), 'COPY');
    assert.equal(parseTaggingDirective({ 'x-amz-tagging-directive': 'REPLACE' }), 'REPLACE');
    assert.equal(parseTaggingDirective({ 'x-amz-tagging-directive': 'replace' }), 'REPLACE');
    assert.throws(() => parseTaggingDirective({ 'x-amz-tagging-directive': 'MOVE' }), s3code('InvalidArgument', /tagging directive/));
  });
});
