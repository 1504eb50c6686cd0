import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import { PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { AwsChunkedDecoder, type AwsChunkedOptions } from '../../../../src/cloud/s3/protocol/sigv4-chunked.ts';
import { createBodyVerifier, PayloadVerifier, storedContentEncoding } from '../../../../src/cloud/s3/protocol/sigv4-payload.ts';
import { parseAuth, verify, type ParsedAuth, type VerifiedAuth } from '../../../../src/cloud/s3/protocol/sigv4.ts';
import { computeChecksum, parseExpectedDigests } from '../../../../src/cloud/s3/protocol/checksums.ts';
import { S3Error } from '../../../../src/cloud/s3/protocol/errors.ts';
import {
  amzDateMs,
  encodeSignedChunked,
  encodeUnsignedChunked,
  randomSplit,
  runThrough,
  split,
  testSigningKey,
} from './sigv4-helpers.ts';
import { TEST_SECRET_KEY, capture } from './sdk-capture.ts';
import { s3code } from './s3-error.ts';

const DOC_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const DOC_DATE = '20130524T000000Z';
const DOC_SCOPE = '20130524/us-east-1/s3/aws4_request';
const DOC_KEY = testSigningKey(DOC_SECRET, '20130524', 'us-east-1');


/** The AWS documentation's example: 65536 + 1024 bytes of 'a', chunk signatures as published. */
function docSignedBody(): Buffer {
  const a64 = Buffer.alloc(65536, 'a');
  const a1 = Buffer.alloc(1024, 'a');
  return Buffer.concat([
    Buffer.from('10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n'),
    a64,
    Buffer.from('\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n'),
    a1,
    Buffer.from('\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n'),
  ]);
}

/** The AWS documentation's trailer example (CRC32C trailer). */
function docTrailerBody(): Buffer {
  const a64 = Buffer.alloc(65536, 'a');
  const a1 = Buffer.alloc(1024, 'a');
  return Buffer.concat([
    Buffer.from('10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n'),
    a64,
    Buffer.from('\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n'),
    a1,
    Buffer.from('\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n'),
    Buffer.from('x-amz-checksum-crc32c:sOO8/Q==\r\n'),
    Buffer.from('x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n'),
  ]);
}

function docSigned(extra: Partial<AwsChunkedOptions> = {}): AwsChunkedOptions {
  return {
    signing: { signingKey: DOC_KEY, seedSignature: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9', scope: DOC_SCOPE, amzDate: DOC_DATE },
    trailer: false,
    decodedContentLength: 66560,
    ...extra,
  };
}

function docTrailer(extra: Partial<AwsChunkedOptions> = {}): AwsChunkedOptions {
  return {
    signing: { signingKey: DOC_KEY, seedSignature: '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e', scope: DOC_SCOPE, amzDate: DOC_DATE },
    trailer: true,
    announcedTrailers: ['x-amz-checksum-crc32c'],
    decodedContentLength: 66560,
    expected: parseExpectedDigests({ 'x-amz-trailer': 'x-amz-checksum-crc32c' }),
    ...extra,
  };
}


/** A verified header authentication with a dummy signing key and the given payload mode. */
function headerAuth(payload: VerifiedAuth['payload']): VerifiedAuth {
  return { kind: 'header', accessKeyId: 'a', signingKey: Buffer.alloc(32), seedSignature: 'x', scope: 's', amzDate: 'd', payload };
}
describe('aws-chunked: AWS documentation vectors', () => {
  const payload = Buffer.alloc(66560, 'a');

  test('signed chunks, whole body in one piece', async () => {
    assert.deepEqual(await runThrough(new AwsChunkedDecoder(docSigned()), [docSignedBody()]), payload);
  });

  test('signed chunks fed one byte at a time', async () => {
    const decoder = new AwsChunkedDecoder(docSigned({ compute: ['MD5'] }));
    assert.deepEqual(await runThrough(decoder, split(docSignedBody(), 1)), payload);
    assert.equal(decoder.decodedLength, 66560);
    assert.equal(decoder.digests.base64('MD5'), computeChecksum('MD5', payload));
  });

  test('signed chunks with trailer (CRC32C), at random and byte boundaries', async () => {
    for (const pieces of [[docTrailerBody()], randomSplit(docTrailerBody(), 7), split(docTrailerBody(), 1)]) {
      const decoder = new AwsChunkedDecoder(docTrailer());
      assert.deepEqual(await runThrough(decoder, pieces), payload);
      assert.deepEqual(decoder.trailers, { 'x-amz-checksum-crc32c': 'sOO8/Q==' });
    }
  });

  test('a changed data byte fails the chunk signature', async () => {
    const body = docSignedBody();
    body[66_000] = 'b'.charCodeAt(0); // inside the 1024-byte chunk
    await assert.rejects(runThrough(new AwsChunkedDecoder(docSigned()), [body]), s3code('SignatureDoesNotMatch'));
    const first = docSignedBody();
    first[200] = 'b'.charCodeAt(0);
    await assert.rejects(runThrough(new AwsChunkedDecoder(docSigned()), split(first, 1000)), s3code('SignatureDoesNotMatch'));
  });

  test('a wrong seed, a changed chunk signature or a missing signature fail', async () => {
    await assert.rejects(
      runThrough(new AwsChunkedDecoder(docSigned({ signing: { signingKey: DOC_KEY, seedSignature: '0'.repeat(64), scope: DOC_SCOPE, amzDate: DOC_DATE } })), [docSignedBody()]),
      s3code('SignatureDoesNotMatch'),
    );
    const body = Buffer.from(docSignedBody());
    const at = body.indexOf('0055627c');
    body.write('1', at);
    await assert.rejects(runThrough(new AwsChunkedDecoder(docSigned()), [body]), s3code('SignatureDoesNotMatch'));
    const unsignedFraming = encodeUnsignedChunked([Buffer.alloc(10, 'a')], []);
    await assert.rejects(runThrough(new AwsChunkedDecoder(docSigned({ decodedContentLength: 10 })), [unsignedFraming]), s3code('SignatureDoesNotMatch'));
  });

  test('trailer: wrong or missing trailer signature, wrong checksum', async () => {
    const text = docTrailerBody().toString('latin1');
    const badSig = Buffer.from(text.replace('d81f82fc', 'd81f82fd'), 'latin1');
    await assert.rejects(runThrough(new AwsChunkedDecoder(docTrailer()), [badSig]), s3code('SignatureDoesNotMatch'));
    const noSig = Buffer.from(text.replace(/x-amz-trailer-signature:[0-9a-f]+\r\n/, ''), 'latin1');
    await assert.rejects(runThrough(new AwsChunkedDecoder(docTrailer()), [noSig]), s3code('SignatureDoesNotMatch'));
    // A different checksum value breaks the trailer signature first.
    const otherValue = Buffer.from(text.replace('sOO8/Q==', 'AAAAAA=='), 'latin1');
    await assert.rejects(runThrough(new AwsChunkedDecoder(docTrailer()), [otherValue]), s3code('SignatureDoesNotMatch'));
  });
});

describe('aws-chunked: signed bodies from an independent encoder', () => {
  const amzDate = '20240301T120000Z';
  const region = 'eu-west-1';
  const seed = 'f'.repeat(64);
  const signing = { signingKey: testSigningKey('secret', '20240301', region), seedSignature: seed, scope: `20240301/${region}/s3/aws4_request`, amzDate };

  test('many chunk sizes and splits, with a SHA256 trailer checked', async () => {
    const data = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) % 251));
    const chunks = [data.subarray(0, 8192), data.subarray(8192, 8193), data.subarray(8193, 150_000), data.subarray(150_000)];
    const sha = computeChecksum('SHA256', data);
    const body = encodeSignedChunked({ secret: 'secret', amzDate, region, seedSignature: seed, chunks, trailers: [['x-amz-checksum-sha256', sha]] });
    for (const pieces of [[body], split(body, 1), split(body, 3), randomSplit(body, 42), randomSplit(body, 7)]) {
      const decoder = new AwsChunkedDecoder({
        signing,
        trailer: true,
        announcedTrailers: ['x-amz-checksum-sha256'],
        decodedContentLength: data.length,
        expected: parseExpectedDigests({ 'x-amz-trailer': 'x-amz-checksum-sha256' }),
      });
      assert.deepEqual(await runThrough(decoder, pieces), data);
    }
    const wrong = encodeSignedChunked({
      secret: 'secret',
      amzDate,
      region,
      seedSignature: seed,
      chunks,
      trailers: [['x-amz-checksum-sha256', computeChecksum('SHA256', Buffer.from('other'))]],
    });
    await assert.rejects(
      runThrough(
        new AwsChunkedDecoder({ signing, trailer: true, expected: parseExpectedDigests({ 'x-amz-trailer': 'x-amz-checksum-sha256' }) }),
        [wrong],
      ),
      s3code('BadDigest', /SHA256/),
    );
  });

  test('empty body: only the final chunk', async () => {
    const body = encodeSignedChunked({ secret: 'secret', amzDate, region, seedSignature: seed, chunks: [] });
    assert.equal((await runThrough(new AwsChunkedDecoder({ signing, trailer: false, decodedContentLength: 0 }), [body])).length, 0);
  });

  test('decoded length mismatch → IncompleteBody', async () => {
    const body = encodeSignedChunked({ secret: 'secret', amzDate, region, seedSignature: seed, chunks: [Buffer.from('hello')] });
    await assert.rejects(runThrough(new AwsChunkedDecoder({ signing, trailer: false, decodedContentLength: 6 }), [body]), s3code('IncompleteBody'));
    await assert.rejects(runThrough(new AwsChunkedDecoder({ signing, trailer: false, decodedContentLength: 4 }), [body]), s3code('IncompleteBody'));
  });

  test('Content-MD5 of the decoded body is checked', async () => {
    const body = encodeSignedChunked({ secret: 'secret', amzDate, region, seedSignature: seed, chunks: [Buffer.from('hello')] });
    const good = parseExpectedDigests({ 'content-md5': computeChecksum('MD5', Buffer.from('hello')) });
    await runThrough(new AwsChunkedDecoder({ signing, trailer: false, expected: good }), [body]);
    const bad = parseExpectedDigests({ 'content-md5': computeChecksum('MD5', Buffer.from('hellO')) });
    await assert.rejects(runThrough(new AwsChunkedDecoder({ signing, trailer: false, expected: bad }), [body]), s3code('BadDigest'));
  });
});

describe('aws-chunked: unsigned with trailer', () => {
  const data = Buffer.from('hello world');
  const crc = computeChecksum('CRC32', data);
  const options = (): AwsChunkedOptions => ({
    trailer: true,
    announcedTrailers: ['x-amz-checksum-crc32'],
    expected: parseExpectedDigests({ 'x-amz-trailer': 'x-amz-checksum-crc32' }),
  });

  test('decodes and checks the CRC32 trailer, byte by byte', async () => {
    const body = encodeUnsignedChunked([data.subarray(0, 6), data.subarray(6)], [['x-amz-checksum-crc32', crc]]);
    for (const pieces of [[body], split(body, 1)]) {
      const decoder = new AwsChunkedDecoder(options());
      assert.deepEqual(await runThrough(decoder, pieces), data);
      assert.equal(decoder.trailers['x-amz-checksum-crc32'], crc);
    }
  });

  test('wrong checksum → BadDigest; malformed value → InvalidRequest', async () => {
    await assert.rejects(
      runThrough(new AwsChunkedDecoder(options()), [encodeUnsignedChunked([data], [['x-amz-checksum-crc32', 'AAAAAA==']])]),
      s3code('BadDigest', /^The CRC32 you specified did not match the calculated checksum\.$/),
    );
    await assert.rejects(
      runThrough(new AwsChunkedDecoder(options()), [encodeUnsignedChunked([data], [['x-amz-checksum-crc32', 'zz']])]),
      s3code('InvalidRequest'),
    );
  });

  test('announced trailer missing, unannounced trailer; a trailer signature in an unsigned body is ignored', async () => {
    await assert.rejects(runThrough(new AwsChunkedDecoder(options()), [encodeUnsignedChunked([data], [])]), s3code('IncompleteBody', /x-amz-checksum-crc32/));
    await assert.rejects(
      runThrough(new AwsChunkedDecoder(options()), [encodeUnsignedChunked([data], [['x-amz-checksum-crc32', crc], ['x-other', '1']])]),
      s3code('InvalidRequest', /not announced/),
    );
    const withSignature = new AwsChunkedDecoder(options());
    assert.deepEqual(await runThrough(withSignature, [encodeUnsignedChunked([data], [['x-amz-checksum-crc32', crc], ['x-amz-trailer-signature', 'ab']])]), data);
    assert.deepEqual(withSignature.trailers, { 'x-amz-checksum-crc32': crc });
    await assert.rejects(
      runThrough(new AwsChunkedDecoder(options()), [encodeUnsignedChunked([data], [['x-amz-trailer-signature', 'ab'], ['x-amz-checksum-crc32', crc]])]),
      s3code('InvalidRequest', /after x-amz-trailer-signature/),
    );
  });

  test('tolerates a body that ends without the closing empty line', async () => {
    const full = encodeUnsignedChunked([data], [['x-amz-checksum-crc32', crc]]);
    for (const cut of [full.subarray(0, full.length - 2), full.subarray(0, full.length - 4)]) {
      assert.deepEqual(await runThrough(new AwsChunkedDecoder(options()), [cut]), data);
    }
  });

  test('chunk extensions are ignored in the unsigned form', async () => {
    const body = Buffer.from(`b;foo=bar\r\nhello world\r\n0\r\nx-amz-checksum-crc32:${crc}\r\n\r\n`);
    assert.deepEqual(await runThrough(new AwsChunkedDecoder(options()), [body]), data);
  });
});

describe('aws-chunked: malformed framing', () => {
  const plain = (): AwsChunkedOptions => ({ trailer: false });
  const cases: [string, string, string][] = [
    ['non-hex size', 'zz\r\nhello\r\n0\r\n\r\n', 'InvalidRequest'],
    ['empty size', '\r\nhello\r\n0\r\n\r\n', 'InvalidRequest'],
    ['size too long', `${'f'.repeat(17)}\r\n`, 'InvalidRequest'],
    ['LF without CR', '5\nhello\r\n0\r\n\r\n', 'InvalidRequest'],
    ['data longer than size', '3\r\nhello\r\n0\r\n\r\n', 'InvalidRequest'],
    ['data not followed by CRLF', '5\r\nhelloXX0\r\n\r\n', 'InvalidRequest'],
    ['truncated in data', '5\r\nhel', 'IncompleteBody'],
    ['truncated after data', '5\r\nhello\r\n', 'IncompleteBody'],
    ['truncated in size line', '5', 'IncompleteBody'],
    ['empty stream', '', 'IncompleteBody'],
    ['trailer in a non-trailer body', '5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n', 'InvalidRequest'],
    ['data after the end', '5\r\nhello\r\n0\r\n\r\nmore', 'InvalidRequest'],
    ['line too long', `5;${'x'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`, 'InvalidRequest'],
  ];
  for (const [name, body, code] of cases) {
    test(name, async () => {
      await assert.rejects(runThrough(new AwsChunkedDecoder(plain()), [Buffer.from(body)]), s3code(code));
      await assert.rejects(runThrough(new AwsChunkedDecoder(plain()), split(Buffer.from(body), 1)), s3code(code));
    });
  }

  test('trailing line breaks after the end are accepted', async () => {
    assert.equal((await runThrough(new AwsChunkedDecoder(plain()), [Buffer.from('5\r\nhello\r\n0\r\n\r\n\r\n')])).toString(), 'hello');
  });
});

describe('aws-chunked: streaming', () => {
  test('emits data before the body has ended and never buffers a whole chunk', async () => {
    const decoder = new AwsChunkedDecoder({ trailer: true });
    const received: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        received.push(chunk);
        cb();
      },
    });
    decoder.pipe(sink);
    decoder.write(Buffer.from('100000\r\n')); // 1 MiB chunk announced
    decoder.write(Buffer.alloc(1000, 1));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(Buffer.concat(received).length, 1000);
    decoder.write(Buffer.alloc(0x100000 - 1000, 2));
    decoder.end(Buffer.from('\r\n0\r\n\r\n'));
    await once(sink, 'finish');
    assert.equal(Buffer.concat(received).length, 0x100000);
  });
});

describe('createBodyVerifier with requests from the AWS SDK', () => {
  async function authenticated(command: object, config = {}): Promise<{ auth: VerifiedAuth; req: Awaited<ReturnType<typeof capture>> }> {
    const req = await capture(command, config);
    const parsed = parseAuth(req, amzDateMs(req.headers['x-amz-date']!)) as ParsedAuth;
    return { auth: verify(parsed, TEST_SECRET_KEY), req };
  }

  test('PutObject with a stream over HTTP: STREAMING-UNSIGNED-PAYLOAD-TRAILER with CRC32', async () => {
    const data = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(3000));
    const { auth, req } = await authenticated(
      new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: Readable.from(split(data, 10_000)), ContentLength: data.length, ContentEncoding: 'gzip' }),
    );
    assert.equal(req.headers['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    assert.equal(req.headers['x-amz-decoded-content-length'], String(data.length));
    assert.equal(req.headers['x-amz-trailer'], 'x-amz-checksum-crc32');
    assert.equal(storedContentEncoding(req.headers['content-encoding']), 'gzip');
    for (const pieces of [[req.body], split(req.body, 1), randomSplit(req.body, 99)]) {
      const verifier = createBodyVerifier(auth, req.headers, { compute: ['MD5'] });
      assert.ok(verifier instanceof AwsChunkedDecoder);
      assert.deepEqual(await runThrough(verifier, pieces), data);
      assert.equal(verifier.trailers['x-amz-checksum-crc32'], computeChecksum('CRC32', data));
      assert.equal(verifier.digests.base64('MD5'), computeChecksum('MD5', data));
    }
    const corrupt = Buffer.from(req.body);
    corrupt[100] ^= 1;
    await assert.rejects(runThrough(createBodyVerifier(auth, req.headers), [corrupt]), s3code('BadDigest'));
  });

  test('UploadPart with a stream and CRC32C', async () => {
    const data = Buffer.alloc(100_000, 7);
    const { auth, req } = await authenticated(
      new UploadPartCommand({ Bucket: 'b', Key: 'k', UploadId: 'u', PartNumber: 2, Body: Readable.from([data]), ContentLength: data.length, ChecksumAlgorithm: 'CRC32C' }),
    );
    const verifier = createBodyVerifier(auth, req.headers);
    assert.deepEqual(await runThrough(verifier, split(req.body, 4096)), data);
    assert.equal(verifier.trailers['x-amz-checksum-crc32c'], computeChecksum('CRC32C', data));
  });

  test('a stream of unknown length (the SDK sends no x-amz-decoded-content-length) is 411 MissingContentLength, as S3 answers it', async () => {
    const { auth, req } = await authenticated(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: Readable.from([Buffer.from('hello')]) }));
    assert.equal(req.headers['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    assert.equal(req.headers['x-amz-decoded-content-length'], undefined);
    assert.throws(() => createBodyVerifier(auth, req.headers), s3code('MissingContentLength', /x-amz-decoded-content-length/));
    // Every aws-chunked mode, signed or not, with or without trailer; anonymous too.
    for (const [signed, trailer] of [[true, false], [true, true], [false, true]] as const) {
      const streaming: VerifiedAuth = { ...auth, payload: { kind: 'streaming', signed, trailer } };
      assert.throws(() => createBodyVerifier(streaming, {}), s3code('MissingContentLength'), `signed ${signed}, trailer ${trailer}`);
      createBodyVerifier(streaming, { 'x-amz-decoded-content-length': '0' });
    }
    assert.throws(() => createBodyVerifier({ kind: 'anonymous' }, { 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' }), s3code('MissingContentLength'));
  });

  test('PutObject over HTTPS: x-amz-content-sha256 and x-amz-checksum-crc32 checked', async () => {
    const data = Buffer.from('hello world');
    const { auth, req } = await authenticated(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: data }), { endpoint: 'https://s3.localhost' });
    const verifier = createBodyVerifier(auth, req.headers, { compute: ['MD5'] });
    assert.ok(verifier instanceof PayloadVerifier);
    assert.deepEqual(await runThrough(verifier, split(req.body, 1)), data);
    assert.equal(verifier.digests.base64('CRC32'), 'DUoRhQ==');
    await assert.rejects(
      runThrough(createBodyVerifier(auth, req.headers), [Buffer.from('hello World')]),
      (err: unknown) => {
        assert.ok(err instanceof S3Error);
        assert.equal(err.code, 'XAmzContentSHA256Mismatch');
        assert.equal(err.fields['ClientComputedContentSHA256'], req.headers['x-amz-content-sha256']);
        assert.ok(err.fields['S3ComputedContentSHA256']);
        return true;
      },
    );
    // Hash right, CRC32 header wrong.
    const { auth: a2, req: r2 } = await authenticated(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: data, ChecksumCRC32: 'AAAAAA==' }), {
      endpoint: 'https://s3.localhost',
    });
    await assert.rejects(runThrough(createBodyVerifier(a2, r2.headers), [r2.body]), s3code('BadDigest'));
  });

  test('UNSIGNED-PAYLOAD and anonymous requests pass through', async () => {
    const auth = headerAuth({ kind: 'unsigned' });
    assert.equal((await runThrough(createBodyVerifier(auth, {}), [Buffer.from('abc')])).toString(), 'abc');
    assert.equal((await runThrough(createBodyVerifier({ kind: 'anonymous' }, {}), [Buffer.from('abc')])).toString(), 'abc');
    // Anonymous, but with a hash: it is checked.
    await assert.rejects(
      runThrough(createBodyVerifier({ kind: 'anonymous' }, { 'x-amz-content-sha256': 'a'.repeat(64) }), [Buffer.from('abc')]),
      s3code('XAmzContentSHA256Mismatch'),
    );
    assert.throws(
      () => createBodyVerifier({ kind: 'anonymous' }, { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' }),
      s3code('AccessDenied'),
    );
    assert.throws(() => createBodyVerifier(auth, { 'content-md5': 'bad' }), s3code('InvalidDigest'));
  });

  test('invalid x-amz-decoded-content-length', () => {
    const auth = headerAuth({ kind: 'streaming', signed: false, trailer: true });
    assert.throws(() => createBodyVerifier(auth, { 'x-amz-decoded-content-length': '-1' }), s3code('InvalidArgument'));
  });

  test('x-amz-trailer may only announce a checksum: anything else is InvalidRequest, before any byte is read', async () => {
    const data = Buffer.from('hello');
    const crc = computeChecksum('CRC32', data);
    for (const signed of [false, true]) {
      const auth = headerAuth({ kind: 'streaming', signed, trailer: true });
      const headers = (trailer: string): Record<string, string> => ({ 'x-amz-decoded-content-length': '5', 'x-amz-trailer': trailer });
      for (const trailer of ['x-evil', 'x-amz-checksum-crc32, x-evil', 'x-amz-checksum-sha10', 'x-amz-meta-colour', 'x-amz-trailer-signature', 'x-amz-checksum-type']) {
        assert.throws(() => createBodyVerifier(auth, headers(trailer)), s3code('InvalidRequest', /^The value specified in the x-amz-trailer header is not supported$/), trailer);
      }
      if (!signed) {
        // A checksum trailer still works, in any case.
        const verifier = createBodyVerifier(auth, headers('X-Amz-Checksum-CRC32'));
        assert.deepEqual(await runThrough(verifier, [encodeUnsignedChunked([data], [['x-amz-checksum-crc32', crc]])]), data);
      }
    }
  });

  test('storedContentEncoding drops aws-chunked', () => {
    assert.equal(storedContentEncoding(undefined), undefined);
    assert.equal(storedContentEncoding('aws-chunked'), undefined);
    assert.equal(storedContentEncoding('aws-chunked, gzip'), 'gzip');
    assert.equal(storedContentEncoding('gzip,aws-chunked'), 'gzip');
    assert.equal(storedContentEncoding('br'), 'br');
  });
});
