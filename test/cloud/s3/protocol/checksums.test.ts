import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash, randomBytes } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32c as awsCrc32c } from '@aws-crypto/crc32c';
import { crc32cPortable, nativeCrc32Available } from '../../../../src/wire/index.ts';
import { CompleteMultipartUploadCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  BodyDigests,
  CHECKSUM_ALGORITHMS,
  checkConsecutivePartNumbers,
  DigestVerifier,
  checksumAlgorithmFromHeader,
  checksumHeaderName,
  combineCrc,
  compositeChecksum,
  computeChecksum,
  crc32,
  crc32Portable,
  crc32c,
  createDigester,
  digestLength,
  fullObjectChecksum,
  multipartChecksumType,
  multipartEtag,
  objectChecksumMatches,
  parseChecksumAlgorithm,
  parseContentMd5,
  parseExpectedDigests,
  parseObjectChecksumHeader,
  withoutObjectChecksumHeaders,
  type ChecksumAlgorithm,
} from '../../../../src/cloud/s3/protocol/checksums.ts';
import { S3Error } from '../../../../src/cloud/s3/protocol/errors.ts';
import { capture } from './sdk-capture.ts';
import { SDK_SHA512 } from '../harness.ts';
import { s3code } from './s3-error.ts';

const CHECK = Buffer.from('123456789');



function digestOf(algorithm: ChecksumAlgorithm | 'MD5', parts: Buffer[]): Buffer {
  const d = createDigester(algorithm);
  for (const p of parts) d.update(p);
  return d.digest();
}

describe('CRC implementations', () => {
  test('catalogue check values', () => {
    assert.equal(crc32(CHECK), 0xcbf43926);
    assert.equal(crc32Portable(CHECK), 0xcbf43926);
    assert.equal(crc32c(CHECK), 0xe3069283);
    assert.equal(digestOf('CRC64NVME', [CHECK]).toString('hex'), 'ae8b14860a799888');
    assert.equal(crc32(Buffer.alloc(0)), 0);
    assert.equal(digestOf('CRC64NVME', []).toString('hex'), '0000000000000000');
  });

  test('table CRC32 agrees with zlib and @node-rs/crc32, and CRC32C (both ways) with @aws-crypto, on random data and splits', () => {
    assert.ok(nativeCrc32Available);
    for (const size of [0, 1, 7, 8, 9, 63, 64, 1000, 1023, 1024, 65537, (1 << 20) + 5]) {
      const data = randomBytes(size);
      assert.equal(crc32Portable(data), crc32(data), `crc32 size ${size}`);
      if (typeof zlibCrc32 === 'function') assert.equal(crc32(data), zlibCrc32(data), `crc32 size ${size} against zlib`);
      assert.equal(crc32c(data), awsCrc32c(data), `crc32c size ${size}`);
      assert.equal(crc32cPortable(data), awsCrc32c(data), `table crc32c size ${size}`);
      const cut = Math.floor(size / 3);
      assert.equal(crc32Portable(data.subarray(cut), crc32Portable(data.subarray(0, cut))), crc32(data));
      assert.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), awsCrc32c(data));
    }
  });

  test('incremental digests equal one-shot digests for every algorithm', () => {
    const data = randomBytes(10_000);
    for (const alg of CHECKSUM_ALGORITHMS) {
      const parts = [data.subarray(0, 1), data.subarray(1, 4099), data.subarray(4099)];
      assert.deepEqual(digestOf(alg, parts), digestOf(alg, [data]), alg);
    }
    assert.equal(computeChecksum('SHA256', CHECK), createHash('sha256').update(CHECK).digest('base64'));
    assert.equal(computeChecksum('MD5', CHECK), createHash('md5').update(CHECK).digest('base64'));
    assert.equal(computeChecksum('SHA512', CHECK), createHash('sha512').update(CHECK).digest('base64'));
    assert.equal(digestLength('SHA512'), 64);
  });

  test('CRC64NVME slice-by-8 agrees with a bitwise reference on random data', () => {
    const reference = (data: Uint8Array): string => {
      let crc = 0xffffffffffffffffn;
      for (const byte of data) {
        crc ^= BigInt(byte);
        for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ 0x9a6c9329ac4bc9b5n : crc >> 1n;
      }
      return (crc ^ 0xffffffffffffffffn).toString(16).padStart(16, '0');
    };
    for (const size of [1, 7, 8, 9, 15, 16, 17, 100, 1027]) {
      const data = randomBytes(size);
      assert.equal(digestOf('CRC64NVME', [data]).toString('hex'), reference(data), `size ${size}`);
      assert.equal(digestOf('CRC64NVME', [data.subarray(0, 3), data.subarray(3)]).toString('hex'), reference(data), `split ${size}`);
    }
  });

  test('AWS documentation value: CRC32C of 66560 "a" is sOO8/Q==', () => {
    assert.equal(computeChecksum('CRC32C', Buffer.alloc(66560, 'a')), 'sOO8/Q==');
  });

  test('values agree with the AWS SDK for every algorithm', async () => {
    const body = Buffer.from('The quick brown fox jumps over the lazy dog');
    // SHA512 needs an implementation given to the client; MD5 it sends as Content-MD5 instead.
    for (const alg of CHECKSUM_ALGORITHMS.filter((a) => a !== 'MD5')) {
      const req = await capture(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: body, ChecksumAlgorithm: alg }), SDK_SHA512);
      assert.equal(req.headers[checksumHeaderName(alg)], computeChecksum(alg, body), alg);
    }
  });

  test('CRC combination equals the CRC of the concatenation', () => {
    for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
      for (const [a, b] of [
        [0, 0],
        [1, 1],
        [100, 3],
        [5, 70_000],
        [1234, 0],
      ] as const) {
        const x = randomBytes(a);
        const y = randomBytes(b);
        const combined = combineCrc(alg, digestOf(alg, [x]), digestOf(alg, [y]), y.length);
        assert.deepEqual(combined, digestOf(alg, [x, y]), `${alg} ${a}+${b}`);
      }
    }
  });
});

describe('headers', () => {
  test('names and algorithms', () => {
    assert.equal(checksumHeaderName('CRC64NVME'), 'x-amz-checksum-crc64nvme');
    assert.equal(checksumAlgorithmFromHeader('X-Amz-Checksum-Crc32c'), 'CRC32C');
    assert.equal(checksumAlgorithmFromHeader('x-amz-checksum-md5'), 'MD5');
    assert.equal(checksumAlgorithmFromHeader('x-amz-checksum-sha512'), 'SHA512');
    assert.equal(checksumAlgorithmFromHeader('x-amz-checksum-type'), undefined);
    assert.equal(checksumAlgorithmFromHeader('x-amz-checksum-xxhash64'), undefined, 'the xxHash algorithms are not computed here');
    assert.equal(parseChecksumAlgorithm('sha256'), 'SHA256');
    assert.equal(parseChecksumAlgorithm('md5'), 'MD5');
    assert.equal(parseChecksumAlgorithm('Sha512'), 'SHA512');
    for (const name of ['XXHASH64', 'XXHASH3', 'XXHASH128', 'SHA384']) assert.equal(parseChecksumAlgorithm(name), undefined, name);
  });

  test('Content-MD5 must be base64 of 16 bytes → InvalidDigest', () => {
    const good = createHash('md5').update('x').digest('base64');
    assert.deepEqual(parseContentMd5(good), createHash('md5').update('x').digest());
    for (const bad of ['', 'abc', createHash('md5').update('x').digest('hex'), good.slice(0, -2), '!!!!!!!!!!!!!!!!!!!!!!==']) {
      assert.throws(() => parseContentMd5(bad), s3code('InvalidDigest'), bad);
    }
  });

  test('parseExpectedDigests: header checksum, trailer checksum and Content-MD5', () => {
    const value = computeChecksum('CRC32', CHECK);
    const r = parseExpectedDigests({
      'x-amz-checksum-crc32': value,
      'x-amz-sdk-checksum-algorithm': 'CRC32',
      'content-md5': computeChecksum('MD5', CHECK),
    });
    assert.equal(r.checksum?.algorithm, 'CRC32');
    assert.equal(r.checksum?.inTrailer, false);
    assert.equal(r.checksum?.expected?.toString('base64'), value);
    assert.equal(r.contentMd5?.toString('base64'), computeChecksum('MD5', CHECK));

    const t = parseExpectedDigests({ 'x-amz-trailer': 'x-amz-checksum-crc64nvme', 'x-amz-sdk-checksum-algorithm': 'crc64nvme' });
    assert.deepEqual(t.checksum, { algorithm: 'CRC64NVME', inTrailer: true });
    assert.deepEqual(parseExpectedDigests({}), {});
  });

  test('parseExpectedDigests errors', () => {
    assert.throws(
      () => parseExpectedDigests({ 'x-amz-checksum-crc32': 'AAAAAA==', 'x-amz-checksum-sha1': computeChecksum('SHA1', CHECK) }),
      s3code('InvalidRequest', /Multiple checksum Types/),
    );
    assert.throws(
      () => parseExpectedDigests({ 'x-amz-checksum-crc32': 'AAAAAAAA' }),
      s3code('InvalidRequest', /Value for x-amz-checksum-crc32 header is invalid/),
    );
    assert.throws(
      () => parseExpectedDigests({ 'x-amz-checksum-sha256': computeChecksum('SHA1', CHECK) }),
      s3code('InvalidRequest', /x-amz-checksum-sha256/),
    );
    assert.throws(() => parseExpectedDigests({ 'x-amz-sdk-checksum-algorithm': 'CRC32' }), s3code('InvalidRequest'));
    assert.throws(
      () => parseExpectedDigests({ 'x-amz-sdk-checksum-algorithm': 'FOO', 'x-amz-checksum-crc32': 'AAAAAA==' }),
      s3code('InvalidRequest'),
    );
    assert.throws(
      () => parseExpectedDigests({ 'x-amz-sdk-checksum-algorithm': 'SHA1', 'x-amz-checksum-crc32': 'AAAAAA==' }),
      s3code('InvalidRequest'),
    );
    assert.throws(() => parseExpectedDigests({ 'content-md5': 'nope' }), s3code('InvalidDigest'));
  });

  test('MD5 and SHA512 checksums are read as the others; the SDK sending an xxHash one is refused', async () => {
    const body = Buffer.from('The quick brown fox jumps over the lazy dog');
    const sha512 = parseExpectedDigests((await capture(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: body, ChecksumAlgorithm: 'SHA512' }), SDK_SHA512)).headers);
    assert.deepEqual([sha512.checksum?.algorithm, sha512.checksum?.expected?.toString('base64')], ['SHA512', createHash('sha512').update(body).digest('base64')]);
    const md5 = parseExpectedDigests({ 'x-amz-checksum-md5': createHash('md5').update(body).digest('base64'), 'x-amz-sdk-checksum-algorithm': 'MD5' });
    assert.deepEqual([md5.checksum?.algorithm, md5.checksum?.expected?.toString('base64')], ['MD5', createHash('md5').update(body).digest('base64')]);
    assert.throws(() => parseExpectedDigests({ 'x-amz-checksum-sha512': computeChecksum('SHA256', body) }), s3code('InvalidRequest', /^Value for x-amz-checksum-sha512 header is invalid\.$/));
    assert.throws(() => parseExpectedDigests({ 'x-amz-checksum-md5': computeChecksum('MD5', body), 'x-amz-checksum-crc32': computeChecksum('CRC32', body) }), s3code('InvalidRequest', /Multiple checksum Types/));
    // The xxHash algorithms are not computed here: the SDK's header naming one is refused as any unknown algorithm.
    for (const alg of ['XXHASH64', 'XXHASH3', 'XXHASH128']) {
      const headers = { 'x-amz-sdk-checksum-algorithm': alg, [`x-amz-checksum-${alg.toLowerCase()}`]: 'AAAAAAAAAAA=' };
      assert.throws(() => parseExpectedDigests(headers), s3code('InvalidRequest', /^Value for x-amz-sdk-checksum-algorithm header is invalid\.$/), alg);
    }
  });
});

async function runVerifier(verifier: DigestVerifier, chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), verifier, async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return Buffer.concat(out);
}

describe('DigestVerifier', () => {
  const body = [Buffer.from('hello '), Buffer.from('world')];
  const whole = Buffer.concat(body);

  test('passes the body through and exposes digests', async () => {
    const v = new DigestVerifier({
      expected: parseExpectedDigests({
        'content-md5': computeChecksum('MD5', whole),
        'x-amz-checksum-sha256': computeChecksum('SHA256', whole),
      }),
      compute: ['MD5', 'CRC32'],
    });
    assert.deepEqual(await runVerifier(v, body), whole);
    assert.equal(v.digests.base64('MD5'), computeChecksum('MD5', whole));
    assert.equal(v.digests.base64('CRC32'), 'DUoRhQ==');
    assert.equal(v.digests.base64('SHA256'), computeChecksum('SHA256', whole));
    assert.equal(v.digests.length, 11);
  });

  test('Content-MD5 mismatch → BadDigest with the digests', async () => {
    const v = new DigestVerifier({ expected: parseExpectedDigests({ 'content-md5': computeChecksum('MD5', Buffer.from('x')) }) });
    await assert.rejects(runVerifier(v, body), (err: unknown) => {
      assert.ok(err instanceof S3Error);
      assert.equal(err.code, 'BadDigest');
      assert.equal(err.fields['CalculatedDigest'], computeChecksum('MD5', whole));
      return true;
    });
  });

  test('checksum mismatch → BadDigest naming the algorithm', async () => {
    const v = new DigestVerifier({ expected: parseExpectedDigests({ 'x-amz-checksum-crc32c': computeChecksum('CRC32C', CHECK) }) });
    await assert.rejects(runVerifier(v, body), s3code('BadDigest', /^The CRC32C you specified did not match the calculated checksum\.$/));
  });

  test('trailer checksum fetched at the end', async () => {
    const expected = parseExpectedDigests({ 'x-amz-trailer': 'x-amz-checksum-crc32' });
    const trailer = { value: undefined as string | undefined };
    const ok = new DigestVerifier({ expected, trailerValue: () => trailer.value });
    trailer.value = 'DUoRhQ==';
    await runVerifier(ok, body);
    const bad = new DigestVerifier({ expected, trailerValue: () => 'AAAAAA==' });
    await assert.rejects(runVerifier(bad, body), s3code('BadDigest'));
    const malformed = new DigestVerifier({ expected, trailerValue: () => 'zz' });
    await assert.rejects(runVerifier(malformed, body), s3code('InvalidRequest'));
  });

  test('BodyDigests ignores duplicate algorithms', () => {
    const d = new BodyDigests(['MD5', 'MD5', 'SHA1']);
    d.update(CHECK);
    assert.deepEqual([...d.finish().keys()], ['MD5', 'SHA1']);
    assert.equal(d.base64('CRC32'), undefined);
  });
});

describe('multipart', () => {
  test('ETag is md5 of concatenated binary part md5s plus -N', () => {
    const parts = [Buffer.from('part one'), Buffer.from('part two'), Buffer.from('3')];
    const etags = parts.map((p) => createHash('md5').update(p).digest('hex'));
    const expected =
      createHash('md5')
        .update(Buffer.concat(etags.map((e) => Buffer.from(e, 'hex'))))
        .digest('hex') + '-3';
    assert.equal(multipartEtag(etags), expected);
    assert.equal(multipartEtag(etags.map((e) => `"${e}"`)), expected);
  });

  test('composite checksum: checksum of concatenated part checksums plus -N', () => {
    const parts = [Buffer.from('aaa'), Buffer.from('bbb')];
    const sums = parts.map((p) => computeChecksum('SHA256', p));
    const expected =
      createHash('sha256')
        .update(Buffer.concat(sums.map((s) => Buffer.from(s, 'base64'))))
        .digest('base64') + '-2';
    assert.equal(compositeChecksum('SHA256', sums), expected);
    assert.throws(() => compositeChecksum('CRC32', ['nope']), s3code('InvalidRequest'));
  });

  test('full-object checksum equals the CRC of the whole object', () => {
    const parts = [randomBytes(5000), randomBytes(17), randomBytes(1)];
    for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
      const value = fullObjectChecksum(
        alg,
        parts.map((p) => ({ checksum: computeChecksum(alg, p), size: p.length })),
      );
      assert.equal(value, computeChecksum(alg, Buffer.concat(parts)), alg);
    }
  });

  test('checksum type of a multipart upload: defaults per algorithm, FULL_OBJECT only for the CRCs, CRC64NVME only FULL_OBJECT', () => {
    assert.equal(multipartChecksumType(undefined, undefined), undefined);
    for (const alg of ['CRC32', 'CRC32C', 'MD5', 'SHA1', 'SHA256', 'SHA512'] as const) assert.equal(multipartChecksumType(alg, undefined), 'COMPOSITE', alg);
    assert.equal(multipartChecksumType('CRC64NVME', undefined), 'FULL_OBJECT');
    assert.equal(multipartChecksumType('CRC32', 'full_object'), 'FULL_OBJECT', 'case-insensitive');
    assert.equal(multipartChecksumType('CRC32C', 'FULL_OBJECT'), 'FULL_OBJECT');
    assert.equal(multipartChecksumType('CRC64NVME', 'FULL_OBJECT'), 'FULL_OBJECT');
    assert.equal(multipartChecksumType('SHA1', 'COMPOSITE'), 'COMPOSITE');
    assert.throws(() => multipartChecksumType('SHA256', 'FULL_OBJECT'), s3code('InvalidRequest', /^The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm\.$/));
    assert.throws(() => multipartChecksumType('SHA1', 'FULL_OBJECT'), s3code('InvalidRequest', /sha1 checksum algorithm/));
    assert.throws(() => multipartChecksumType('MD5', 'FULL_OBJECT'), s3code('InvalidRequest', /^The FULL_OBJECT checksum type cannot be used with the md5 checksum algorithm\.$/));
    assert.throws(() => multipartChecksumType('SHA512', 'FULL_OBJECT'), s3code('InvalidRequest', /sha512 checksum algorithm/));
    assert.equal(multipartChecksumType('SHA512', 'COMPOSITE'), 'COMPOSITE');
    assert.throws(() => multipartChecksumType('CRC64NVME', 'COMPOSITE'), s3code('InvalidRequest', /^The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm\.$/));
    assert.throws(() => multipartChecksumType(undefined, 'COMPOSITE'), s3code('InvalidRequest', /can only be used with the x-amz-checksum-algorithm header/));
    assert.throws(() => multipartChecksumType('CRC32', 'PARTIAL'), s3code('InvalidRequest', /Value for x-amz-checksum-type header is invalid/));
  });

  test('a COMPOSITE completion lists parts 1..N with no gap: anything else is InvalidPartOrder', () => {
    checkConsecutivePartNumbers([1]);
    checkConsecutivePartNumbers([1, 2, 3]);
    for (const numbers of [[2], [1, 3], [1, 2, 4], [2, 3]]) {
      assert.throws(() => checkConsecutivePartNumbers(numbers), s3code('InvalidPartOrder'), numbers.join(','));
    }
  });

  test("CompleteMultipartUpload's checksum header: the object's value (with or without -N), compared with the completed object's", () => {
    const crc = computeChecksum('CRC32', Buffer.from('part'));
    assert.equal(parseObjectChecksumHeader({ 'x-amz-checksum-type': 'COMPOSITE' }), undefined);
    assert.deepEqual(parseObjectChecksumHeader({ 'x-amz-checksum-crc32': `${crc}-3` }), { algorithm: 'CRC32', digest: crc, parts: 3 });
    assert.deepEqual(parseObjectChecksumHeader({ 'x-amz-checksum-crc32': crc }), { algorithm: 'CRC32', digest: crc });
    for (const bad of ['abc', `${crc}-0`, `${crc}-`, `${crc}-x`, `${crc}-1-2`]) {
      assert.throws(() => parseObjectChecksumHeader({ 'x-amz-checksum-crc32': bad }), s3code('InvalidRequest', /Value for x-amz-checksum-crc32 header is invalid/), bad);
    }
    assert.throws(() => parseObjectChecksumHeader({ 'x-amz-checksum-crc32': crc, 'x-amz-checksum-sha1': computeChecksum('SHA1', Buffer.alloc(0)) }), s3code('InvalidRequest', /Multiple checksum Types/));
    const composite = { a: 'CRC32', v: `${crc}-3`, ty: 'COMPOSITE' as const };
    assert.equal(objectChecksumMatches({ algorithm: 'CRC32', digest: crc, parts: 3 }, composite), true);
    assert.equal(objectChecksumMatches({ algorithm: 'CRC32', digest: crc }, composite), true);
    assert.equal(objectChecksumMatches({ algorithm: 'CRC32', digest: crc, parts: 2 }, composite), false);
    assert.equal(objectChecksumMatches({ algorithm: 'CRC32C', digest: crc, parts: 3 }, composite), false);
    const full = { a: 'CRC32', v: crc, ty: 'FULL_OBJECT' as const };
    assert.equal(objectChecksumMatches({ algorithm: 'CRC32', digest: crc }, full), true);
    assert.equal(objectChecksumMatches({ algorithm: 'CRC32', digest: crc, parts: 1 }, full), false);
    assert.equal(objectChecksumMatches({ algorithm: 'CRC32', digest: computeChecksum('CRC32', Buffer.from('other')) }, full), false);
  });

  test('the SDK sends the object checksum of CompleteMultipartUpload as x-amz-checksum-<alg> and no checksum of the XML: the body is read without it', async () => {
    const req = await capture(
      new CompleteMultipartUploadCommand({ Bucket: 'b', Key: 'k', UploadId: 'u', ChecksumCRC32: 'AAAAAA==-1', ChecksumType: 'COMPOSITE', MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"e"', ChecksumCRC32: 'AAAAAA==' }] } }),
    );
    assert.equal(req.headers['x-amz-checksum-crc32'], 'AAAAAA==-1');
    assert.equal(req.headers['content-md5'], undefined);
    assert.equal(req.headers['x-amz-sdk-checksum-algorithm'], undefined);
    assert.equal(req.headers['x-amz-content-sha256'], createHash('sha256').update(req.body).digest('hex'), 'the body is covered by the signed payload hash');
    // Read as a body, that header would be an invalid (composite) value; without it, only the rest is checked.
    assert.throws(() => parseExpectedDigests(req.headers), s3code('InvalidRequest'));
    const stripped = withoutObjectChecksumHeaders(req.headers);
    assert.equal(stripped['x-amz-checksum-crc32'], undefined);
    assert.equal(stripped['x-amz-checksum-type'], 'COMPOSITE');
    assert.deepEqual(parseExpectedDigests(stripped), {});
    const trailed = withoutObjectChecksumHeaders({ 'x-amz-checksum-crc32': 'AAAAAA==', 'x-amz-sdk-checksum-algorithm': 'CRC32', 'x-amz-trailer': 'x-amz-checksum-crc32' });
    assert.deepEqual(trailed, { 'x-amz-sdk-checksum-algorithm': 'CRC32', 'x-amz-trailer': 'x-amz-checksum-crc32' }, 'a trailing checksum stays a checksum of the body');
    assert.deepEqual(withoutObjectChecksumHeaders({ 'x-amz-checksum-sha1': 'x', 'x-amz-sdk-checksum-algorithm': 'SHA1' }), {});
  });
});
