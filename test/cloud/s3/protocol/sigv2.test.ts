/**
 * AWS Signature Version 2 (protocol/sigv2.ts, the dispatch of protocol/auth.ts): the examples of
 * the Amazon S3 documentation "Signing and authenticating REST requests (AWS signature version
 * 2)", with their published StringToSign and Signature values; the canonical resource, amz
 * headers and dates; every refusal; POST form signatures; the body of a SigV2 request.
 *
 * Signatures the documentation does not give are computed here with node:crypto, independently
 * of the code under test.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import {
  SIGV2_LATER_SUBRESOURCES,
  canonicalizedAmzHeaders,
  canonicalizedResource,
  isSigV2PostForm,
  parsePostSignatureV2,
  parseSigV2Date,
  parseSigV2Header,
  parseSigV2Query,
  signV2,
  verifyPostSignatureV2,
  verifySigV2,
  type ParsedSigV2Auth,
} from '../../../../src/cloud/s3/protocol/sigv2.ts';
import { authLabel, parseRequestAuth, signatureVersionOf, verifyRequestAuth } from '../../../../src/cloud/s3/protocol/auth.ts';
import { createBodyVerifier } from '../../../../src/cloud/s3/protocol/sigv4-payload.ts';
import { checkPostPolicy } from '../../../../src/cloud/s3/protocol/post-policy.ts';
import type { S3Error } from '../../../../src/cloud/s3/protocol/errors.ts';
import type { SigV4Request } from '../../../../src/cloud/s3/protocol/sigv4.ts';
import { AKID as V4_AKID, SECRET as V4_SECRET, signHeader } from './sigv4-helpers.ts';
import { runThrough } from './sigv4-helpers.ts';
import { s3code } from './s3-error.ts';

const DOC_AKID = 'AKIAIOSFODNN7EXAMPLE';
const DOC_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';


/** Base64 HMAC-SHA1, computed here. */
function hmacSha1(secret: string, text: string): string {
  return createHmac('sha1', secret).update(text, 'utf8').digest('base64');
}

/** A request as the endpoint passes it (headers by lower-case name, arrays for repeated ones). */
function request(method: string, target: string, headers: Record<string, string | string[]>): SigV4Request {
  const q = target.indexOf('?');
  return { method, path: q < 0 ? target : target.slice(0, q), query: q < 0 ? '' : target.slice(q + 1), headers };
}

/** Parses a header-signed request at `now` (the request's own time by default). */
function header(req: SigV4Request, bucket?: string, now?: number): ParsedSigV2Auth {
  const auth = req.headers['authorization'] as string;
  const time = now ?? parseSigV2Date((req.headers['x-amz-date'] ?? req.headers['date']) as string)!;
  return parseSigV2Header(req, auth, time, { virtualHostedBucket: bucket });
}

describe('AWS documentation examples (current user guide values)', () => {
  // The StringToSign and Signature of each example are copied from the "Authentication examples" of
  // "Signing and authenticating REST requests" (AWS signature version 2).
  test('Object GET, virtual-hosted: GET\\n\\n\\nTue, 27 Mar 2007 19:36:42 +0000\\n/awsexamplebucket1/photos/puppy.jpg', () => {
    const req = request('GET', '/photos/puppy.jpg', {
      host: 'awsexamplebucket1.us-west-1.s3.amazonaws.com',
      date: 'Tue, 27 Mar 2007 19:36:42 +0000',
      authorization: `AWS ${DOC_AKID}:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=`,
    });
    const parsed = header(req, 'awsexamplebucket1');
    assert.equal(parsed.stringToSign, 'GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg');
    assert.equal(signV2(DOC_SECRET, parsed.stringToSign), 'qgk2+6Sv9/oM7G3qLEjTH1a1l1g=');
    assert.deepEqual(verifySigV2(parsed, DOC_SECRET), { scheme: 'AWS', kind: 'header', accessKeyId: DOC_AKID, payload: { kind: 'unsigned' } });
  });

  test('Object PUT: Content-Type signed, Content-MD5 empty', () => {
    const req = request('PUT', '/photos/puppy.jpg', {
      'content-type': 'image/jpeg',
      'content-length': '94328',
      host: 'awsexamplebucket1.s3.us-west-1.amazonaws.com',
      date: 'Tue, 27 Mar 2007 21:15:45 +0000',
      authorization: `AWS ${DOC_AKID}:iqRzw+ileNPu1fhspnRs8nOjjIA=`,
    });
    const parsed = header(req, 'awsexamplebucket1');
    assert.equal(parsed.stringToSign, 'PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/awsexamplebucket1/photos/puppy.jpg');
    verifySigV2(parsed, DOC_SECRET);
  });

  test('List: the trailing slash, and no listing parameters in the resource', () => {
    const req = request('GET', '/?prefix=photos&max-keys=50&marker=puppy', {
      'user-agent': 'Mozilla/5.0',
      host: 'awsexamplebucket1.s3.us-west-1.amazonaws.com',
      date: 'Tue, 27 Mar 2007 19:42:41 +0000',
      authorization: `AWS ${DOC_AKID}:m0WP8eCtspQl5Ahe6L1SozdX9YA=`,
    });
    const parsed = header(req, 'awsexamplebucket1');
    assert.equal(parsed.stringToSign, 'GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/awsexamplebucket1/');
    verifySigV2(parsed, DOC_SECRET);
  });

  test('Fetch (?acl): the sub-resource is signed', () => {
    const req = request('GET', '/?acl', {
      host: 'awsexamplebucket1.s3.us-west-1.amazonaws.com',
      date: 'Tue, 27 Mar 2007 19:44:46 +0000',
      authorization: `AWS ${DOC_AKID}:82ZHiFIjc+WbcwFKGUVEQspPn+0=`,
    });
    const parsed = header(req, 'awsexamplebucket1');
    assert.equal(parsed.stringToSign, 'GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/awsexamplebucket1/?acl');
    verifySigV2(parsed, DOC_SECRET);
  });

  test('Delete, path-style, x-amz-date over Date: the documented rule and the example as published both verify', () => {
    const base = {
      'user-agent': 'dotnet',
      host: 's3.us-west-1.amazonaws.com',
      date: 'Tue, 27 Mar 2007 21:20:27 +0000',
      'x-amz-date': 'Tue, 27 Mar 2007 21:20:26 +0000',
    };
    // The rule ("if you include the x-amz-date header, use the empty string for the Date"):
    const rule = 'DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/awsexamplebucket1/photos/puppy.jpg';
    const byRule = header(request('DELETE', '/awsexamplebucket1/photos/puppy.jpg', { ...base, authorization: `AWS ${DOC_AKID}:${hmacSha1(DOC_SECRET, rule)}` }));
    assert.equal(byRule.stringToSign, rule);
    verifySigV2(byRule, DOC_SECRET);
    // The example's published StringToSign puts the x-amz-date value in the Date line instead.
    const published = header(request('DELETE', '/awsexamplebucket1/photos/puppy.jpg', { ...base, authorization: `AWS ${DOC_AKID}:XbyTlbQdu9Xw5o8P4iMwPktxQd8=` }));
    assert.ok(published.alternativeStringsToSign.includes('DELETE\n\n\nTue, 27 Mar 2007 21:20:26 +0000\n/awsexamplebucket1/photos/puppy.jpg'));
    verifySigV2(published, DOC_SECRET);
  });

  test('Upload with amz headers (CNAME-style bucket): lower-cased, sorted, repeated headers joined, other Content-* unsigned', () => {
    // The user guide renamed this example's host to static.example.com without recomputing its
    // signature; the published signature is that of the developer guide's host, used here.
    const req = request('PUT', '/db-backup.dat.gz', {
      'user-agent': 'curl/7.15.5',
      host: 'static.awsexamplebucket1.net:8080',
      date: 'Tue, 27 Mar 2007 21:06:08 +0000',
      'x-amz-acl': 'public-read',
      'content-type': 'application/x-download',
      'content-md5': '4gJE4saaMU4BqNR0kLY+lw==',
      'x-amz-meta-reviewedby': ['joe@awsexamplebucket1.net', 'jane@awsexamplebucket1.net'],
      'x-amz-meta-filechecksum': '0x02661779',
      'x-amz-meta-checksumalgorithm': 'crc32',
      'content-disposition': 'attachment; filename=database.dat',
      'content-encoding': 'gzip',
      'content-length': '5913339',
      authorization: `AWS ${DOC_AKID}:dKZcB+bz2EPXgSdXZp9ozGeOM4I=`,
    });
    const parsed = header(req, 'static.awsexamplebucket1.net');
    assert.equal(
      parsed.stringToSign,
      'PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n' +
        'x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n' +
        'x-amz-meta-reviewedby:joe@awsexamplebucket1.net,jane@awsexamplebucket1.net\n/static.awsexamplebucket1.net/db-backup.dat.gz',
    );
    verifySigV2(parsed, DOC_SECRET);
  });

  test('List all my buckets: GET\\n\\n\\nWed, 28 Mar 2007 01:29:59 +0000\\n/', () => {
    const parsed = header(request('GET', '/', { host: 's3.us-west-1.amazonaws.com', date: 'Wed, 28 Mar 2007 01:29:59 +0000', authorization: `AWS ${DOC_AKID}:qGdzdERIC03wnaRNKh6OqZehG9s=` }));
    assert.equal(parsed.stringToSign, 'GET\n\n\nWed, 28 Mar 2007 01:29:59 +0000\n/');
    verifySigV2(parsed, DOC_SECRET);
  });

  test('Unicode keys: the path signed literally, escapes and their case kept', () => {
    const parsed = header(
      request('GET', '/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re', {
        host: 's3.us-west-1.amazonaws.com',
        date: 'Wed, 28 Mar 2007 01:49:49 +0000',
        authorization: `AWS ${DOC_AKID}:DNEZGsoieTZ92F3bUfSPQcbGmlM=`,
      }),
    );
    assert.equal(parsed.stringToSign, 'GET\n\n\nWed, 28 Mar 2007 01:49:49 +0000\n/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re');
    verifySigV2(parsed, DOC_SECRET);
  });

  test('Query string authentication: Expires in the Date line, the Signature URL-encoded', () => {
    // The published signature NpgCjnDzrM+WFzoENXmpNDUsSn8= was computed before the documentation
    // renamed its bucket from johnsmith to awsexamplebucket1: it is johnsmith's.
    const req = request('GET', '/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620', {
      host: 'johnsmith.s3.amazonaws.com',
    });
    const parsed = parseSigV2Query(req, 1175139620_000 - 60_000, { virtualHostedBucket: 'johnsmith' });
    assert.equal(parsed.stringToSign, 'GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg');
    assert.equal(parsed.signature, 'NpgCjnDzrM+WFzoENXmpNDUsSn8=');
    assert.deepEqual(verifySigV2(parsed, DOC_SECRET), { scheme: 'AWS', kind: 'presigned', accessKeyId: DOC_AKID, payload: { kind: 'unsigned' } });
    // The same string for awsexamplebucket1, signed here.
    assert.equal(hmacSha1(DOC_SECRET, 'GET\n\n\n1175139620\n/awsexamplebucket1/photos/puppy.jpg'), signV2(DOC_SECRET, 'GET\n\n\n1175139620\n/awsexamplebucket1/photos/puppy.jpg'));
  });
});

describe('CanonicalizedResource', () => {
  test('virtual-hosted: /bucket then the raw path; path-style: the raw path; no bucket: /', () => {
    assert.equal(canonicalizedResource('/photos/puppy.jpg', '', 'b'), '/b/photos/puppy.jpg');
    assert.equal(canonicalizedResource('/', '', 'b'), '/b/');
    assert.equal(canonicalizedResource('/b/photos/a%20b+c', ''), '/b/photos/a%20b+c');
    assert.equal(canonicalizedResource('/', ''), '/');
    assert.equal(canonicalizedResource('', ''), '/');
    assert.equal(canonicalizedResource('http://s3.example.com/b/k', ''), '/b/k');
  });

  test('the listed sub-resources, sorted by name; other parameters left out', () => {
    assert.equal(canonicalizedResource('/b/k', 'versionId=3L4k&acl'), '/b/k?acl&versionId=3L4k');
    assert.equal(canonicalizedResource('/b/k', 'uploadId=U1&partNumber=2'), '/b/k?partNumber=2&uploadId=U1');
    assert.equal(canonicalizedResource('/b/', 'uploads&prefix=a&max-uploads=3'), '/b/?uploads');
    assert.equal(canonicalizedResource('/b/', 'delete'), '/b/?delete');
    assert.equal(canonicalizedResource('/b/', 'delete='), '/b/?delete=');
    assert.equal(canonicalizedResource('/b/', 'delete=', undefined, { dropEmptyValues: true }), '/b/?delete');
    assert.equal(canonicalizedResource('/b/', 'list-type=2&prefix=x&versions&location&lifecycle'), '/b/?lifecycle&location&versions');
    for (const name of ['logging', 'notification', 'policy', 'requestPayment', 'torrent', 'versioning', 'website']) {
      assert.equal(canonicalizedResource('/b/', `${name}&x=1`), `/b/?${name}`);
    }
  });

  test('response-* overrides: decoded values (the documentation), raw values as an alternative', () => {
    const query = 'response-content-disposition=attachment%3B%20filename%3D%22a.txt%22&response-content-type=text%2Fplain';
    assert.equal(canonicalizedResource('/b/k', query), '/b/k?response-content-disposition=attachment; filename="a.txt"&response-content-type=text/plain');
    assert.equal(canonicalizedResource('/b/k', query, undefined, { rawValues: true }), `/b/k?${query}`);
  });

  test('sub-resources added after the documentation: signed by default, left out in the alternative', () => {
    for (const name of SIGV2_LATER_SUBRESOURCES) {
      assert.equal(canonicalizedResource('/b/k', `${name}&versionId=1`), `/b/k?${[name, 'versionId=1'].sort().join('&')}`, name);
      assert.equal(canonicalizedResource('/b/k', `${name}&versionId=1`, undefined, { later: false }), '/b/k?versionId=1', name);
    }
  });

  test('a signature made with or without a later sub-resource, or with raw values, verifies', () => {
    const date = 'Fri, 01 Mar 2024 12:00:00 GMT';
    const now = Date.UTC(2024, 2, 1, 12, 0, 0);
    for (const resource of ['/b/k?tagging&versionId=v%2B1', '/b/k?tagging&versionId=v+1', '/b/k?versionId=v%2B1', '/b/k?versionId=v+1']) {
      const sig = hmacSha1(DOC_SECRET, `GET\n\n\n${date}\n${resource}`);
      const req = request('GET', '/b/k?tagging&versionId=v%2B1', { host: 's3.localhost', date, authorization: `AWS ${DOC_AKID}:${sig}` });
      verifySigV2(header(req, undefined, now), DOC_SECRET);
    }
    // A path-style request to a bucket, signed with or without the trailing slash (botocore signs /b/ for PUT /b).
    for (const [path, signed] of [['/b', '/b/'], ['/b/', '/b'], ['/b', '/b']]) {
      const s = hmacSha1(DOC_SECRET, `PUT\n\n\n${date}\n${signed}`);
      verifySigV2(header(request('PUT', path!, { date, authorization: `AWS ${DOC_AKID}:${s}` }), undefined, now), DOC_SECRET);
    }
    const objectSlash = hmacSha1(DOC_SECRET, `GET\n\n\n${date}\n/b/k/`);
    assert.throws(() => verifySigV2(header(request('GET', '/b/k', { date, authorization: `AWS ${DOC_AKID}:${objectSlash}` }), undefined, now), DOC_SECRET), s3code('SignatureDoesNotMatch'));
    // botocore up to 1.29 (Debian bookworm) signs the operation's own query (sent first) after the path.
    for (const [target, signed] of [['/b/k?uploads', '/b/k?uploads?uploads'], ['/b?acl', '/b?acl?acl'], ['/b/k?acl&versionId=v1', '/b/k?acl?acl&versionId=v1'], ['/b?list-type=2&prefix=p', '/b?list-type=2']]) {
      const s = hmacSha1(DOC_SECRET, `POST\n\n\n${date}\n${signed}`);
      verifySigV2(header(request('POST', target!, { date, authorization: `AWS ${DOC_AKID}:${s}` }), undefined, now), DOC_SECRET);
    }
    // Only the first parameter, as sent.
    const second = hmacSha1(DOC_SECRET, `GET\n\n\n${date}\n/b?prefix=p`);
    assert.throws(() => verifySigV2(header(request('GET', '/b?list-type=2&prefix=p', { date, authorization: `AWS ${DOC_AKID}:${second}` }), undefined, now), DOC_SECRET), s3code('SignatureDoesNotMatch'));
    // But another path, method or unsigned change does not.
    const sig = hmacSha1(DOC_SECRET, `GET\n\n\n${date}\n/b/other?tagging`);
    assert.throws(() => verifySigV2(header(request('GET', '/b/k?tagging', { date, authorization: `AWS ${DOC_AKID}:${sig}` }), undefined, now), DOC_SECRET), s3code('SignatureDoesNotMatch'));
  });
});

describe('CanonicalizedAmzHeaders and dates', () => {
  test('lower-cased, sorted, repeated values joined without spaces, folded lines unfolded, other headers ignored', () => {
    assert.equal(
      canonicalizedAmzHeaders({
        'x-amz-meta-b': ['  two ', 'three'],
        'x-amz-acl': 'private',
        'X-Amz-Meta-A': 'folded\r\n   value',
        'content-type': 'text/plain',
        'x-amzfoo': 'no',
      }),
      'x-amz-acl:private\nx-amz-meta-a:folded value\nx-amz-meta-b:two,three\n',
    );
    assert.equal(canonicalizedAmzHeaders({ date: 'x' }), '');
  });

  test('x-amz-date takes precedence: the Date line is empty, x-amz-date is signed among the amz headers and sets the request time', () => {
    const now = Date.UTC(2024, 2, 1, 12, 0, 0);
    const parsed = header(
      request('PUT', '/b/k', { date: 'Mon, 01 Jan 2001 00:00:00 GMT', 'x-amz-date': 'Fri, 01 Mar 2024 12:05:00 GMT', 'content-md5': 'MD5==', 'content-type': 'text/plain', authorization: `AWS ${DOC_AKID}:x` }),
      undefined,
      now,
    );
    assert.equal(parsed.stringToSign, 'PUT\nMD5==\ntext/plain\n\nx-amz-date:Fri, 01 Mar 2024 12:05:00 GMT\n/b/k');
    assert.equal(parsed.requestTime, Date.UTC(2024, 2, 1, 12, 5, 0));
    // A current Date does not save a skewed x-amz-date.
    assert.throws(
      () => header(request('GET', '/b/k', { date: 'Fri, 01 Mar 2024 12:00:00 GMT', 'x-amz-date': 'Fri, 01 Mar 2024 12:16:00 GMT', authorization: `AWS ${DOC_AKID}:x` }), undefined, now),
      s3code('RequestTimeTooSkewed'),
    );
  });

  test('dates: IMF-fixdate, RFC 850, asctime, +0000 zones, ISO 8601 and SigV4 basic form; nothing else', () => {
    const t = Date.UTC(2007, 2, 27, 19, 36, 42);
    for (const text of ['Tue, 27 Mar 2007 19:36:42 GMT', 'Tuesday, 27-Mar-07 19:36:42 GMT', 'Tue Mar 27 19:36:42 2007', 'Tue, 27 Mar 2007 19:36:42 +0000', 'Tue, 27 Mar 2007 21:36:42 +0200', '2007-03-27T19:36:42Z', '20070327T193642Z']) {
      assert.equal(parseSigV2Date(text), t, text);
    }
    for (const text of ['', 'yesterday', '1175139620', 'Tue, 32 Mar 2007 19:36:42 GMT']) assert.equal(parseSigV2Date(text), undefined, text);
  });
});

describe('refusals', () => {
  const now = Date.UTC(2024, 2, 1, 12, 0, 0);
  const date = 'Fri, 01 Mar 2024 12:00:00 GMT';
  const get = (authorization: string, headers: Record<string, string> = { date }): SigV4Request => request('GET', '/b/k', { ...headers, authorization });

  test('a malformed Authorization: AWS … header is InvalidArgument, naming the header', () => {
    for (const [value, message] of [
      ['AWS', /one and only one ' ' \(space\) required/],
      [`AWS  ${DOC_AKID}:sig`, /one and only one ' ' \(space\) required/],
      [`AWS ${DOC_AKID}:sig extra`, /one and only one ' ' \(space\) required/],
      [`AWS ${DOC_AKID}`, /Expected AwsAccessKeyId:signature/],
      [`AWS :sig`, /Expected AwsAccessKeyId:signature/],
      [`AWS ${DOC_AKID}:`, /Expected AwsAccessKeyId:signature/],
    ] as const) {
      assert.throws(
        () => parseSigV2Header(get(value), value, now),
        (err: unknown) => s3code('InvalidArgument', message)(err) && (err as S3Error).fields['ArgumentName'] === 'Authorization' && (err as S3Error).fields['ArgumentValue'] === value,
        value,
      );
    }
  });

  test('no valid Date or x-amz-date is AccessDenied; a skewed one RequestTimeTooSkewed with S3\'s fields', () => {
    const auth = `AWS ${DOC_AKID}:c2ln`;
    for (const headers of [{}, { date: 'not a date' }, { date, 'x-amz-date': 'garbage' }] as Record<string, string>[]) {
      assert.throws(() => parseSigV2Header(get(auth, headers), auth, now), s3code('AccessDenied', /^AWS authentication requires a valid Date or x-amz-date header$/));
    }
    const skewed = 'Fri, 01 Mar 2024 11:44:59 GMT';
    assert.throws(
      () => parseSigV2Header(get(auth, { date: skewed }), auth, now),
      (err: unknown) =>
        s3code('RequestTimeTooSkewed')(err) &&
        (err as S3Error).fields['RequestTime'] === skewed &&
        (err as S3Error).fields['ServerTime'] === '2024-03-01T12:00:00.000Z' &&
        (err as S3Error).fields['MaxAllowedSkewMilliseconds'] === '900000',
    );
    // 15 minutes exactly is still accepted, and maxSkewMs is honoured.
    parseSigV2Header(get(auth, { date: 'Fri, 01 Mar 2024 11:45:00 GMT' }), auth, now);
    assert.throws(() => parseSigV2Header(get(auth, { date: 'Fri, 01 Mar 2024 11:59:00 GMT' }), auth, now, { maxSkewMs: 1000 }), s3code('RequestTimeTooSkewed'));
  });

  test('a wrong signature is SignatureDoesNotMatch with AWSAccessKeyId, StringToSign, StringToSignBytes, SignatureProvided', () => {
    const parsed = parseSigV2Header(get(`AWS ${DOC_AKID}:AAAAAAAAAAAAAAAAAAAAAAAAAAA=`), `AWS ${DOC_AKID}:AAAAAAAAAAAAAAAAAAAAAAAAAAA=`, now);
    assert.throws(
      () => verifySigV2(parsed, DOC_SECRET),
      (err: unknown) => {
        s3code('SignatureDoesNotMatch')(err);
        const f = (err as S3Error).fields;
        assert.deepEqual(f, {
          AWSAccessKeyId: DOC_AKID,
          StringToSign: `GET\n\n\n${date}\n/b/k`,
          SignatureProvided: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
          StringToSignBytes: [...Buffer.from(`GET\n\n\n${date}\n/b/k`)].map((b) => b.toString(16).padStart(2, '0')).join(' '),
        });
        return true;
      },
    );
    // The right signature with another secret, or a truncated one, fails too.
    const good = hmacSha1(DOC_SECRET, `GET\n\n\n${date}\n/b/k`);
    assert.throws(() => verifySigV2(parseSigV2Header(get(`AWS ${DOC_AKID}:${good}`), `AWS ${DOC_AKID}:${good}`, now), 'other'), s3code('SignatureDoesNotMatch'));
    assert.throws(() => verifySigV2(parseSigV2Header(get(`AWS ${DOC_AKID}:${good.slice(1)}`), `AWS ${DOC_AKID}:${good.slice(1)}`, now), DOC_SECRET), s3code('SignatureDoesNotMatch'));
  });

  test('presigned: every parameter required, Expires a number, an expired URL AccessDenied with Expires and ServerTime', () => {
    const sig = encodeURIComponent(hmacSha1(DOC_SECRET, 'GET\n\n\n1709294400\n/b/k'));
    const url = (q: string): SigV4Request => request('GET', `/b/k?${q}`, {});
    for (const q of [`AWSAccessKeyId=${DOC_AKID}&Signature=${sig}`, `Expires=1709294400&Signature=${sig}`, `AWSAccessKeyId=${DOC_AKID}&Expires=1709294400`, `AWSAccessKeyId=&Expires=1709294400&Signature=${sig}`]) {
      assert.throws(() => parseSigV2Query(url(q), now), s3code('AccessDenied', /^Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters$/), q);
    }
    assert.throws(() => parseSigV2Query(url(`AWSAccessKeyId=${DOC_AKID}&Expires=tomorrow&Signature=${sig}`), now), s3code('AccessDenied', /should be seconds since epoch/));
    verifySigV2(parseSigV2Query(url(`AWSAccessKeyId=${DOC_AKID}&Expires=1709294400&Signature=${sig}`), now), DOC_SECRET); // expires at now: still valid
    assert.throws(
      () => parseSigV2Query(url(`AWSAccessKeyId=${DOC_AKID}&Expires=1709294400&Signature=${sig}`), now + 1000),
      (err: unknown) =>
        s3code('AccessDenied', /^Request has expired$/)(err) &&
        (err as S3Error).fields['Expires'] === '2024-03-01T12:00:00.000Z' &&
        (err as S3Error).fields['ServerTime'] === '2024-03-01T12:00:01.000Z',
    );
    // A `+` of the signature sent unescaped is still a plus sign.
    const plus = hmacSha1(DOC_SECRET, 'GET\n\n\n1709294400\n/b/k?versionId=x');
    const raw = plus.replace(/\//g, '%2F').replace(/=/g, '%3D');
    verifySigV2(parseSigV2Query(url(`versionId=x&AWSAccessKeyId=${DOC_AKID}&Expires=1709294400&Signature=${raw}`), now), DOC_SECRET);
  });

  test('presigned: a repeated AWSAccessKeyId, Expires or Signature is AuthorizationQueryParametersError, whichever value comes first', () => {
    const sig = encodeURIComponent(hmacSha1(DOC_SECRET, 'GET\n\n\n1709294400\n/b/k'));
    const valid = `AWSAccessKeyId=${DOC_AKID}&Expires=1709294400&Signature=${sig}`;
    verifySigV2(parseSigV2Query(request('GET', `/b/k?${valid}`, {}), now), DOC_SECRET);
    for (const extra of [`Signature=${'A'.repeat(27)}%3D`, `Signature=${sig}`, `Expires=1709294399`, `AWSAccessKeyId=OTHER`]) {
      const name = extra.slice(0, extra.indexOf('='));
      for (const q of [`${valid}&${extra}`, `${extra}&${valid}`]) {
        assert.throws(() => parseSigV2Query(request('GET', `/b/k?${q}`, {}), now), s3code('AuthorizationQueryParametersError', new RegExp(`^${name} must not be repeated`)), q);
        // And through the scheme dispatch, as the endpoint calls it.
        assert.throws(() => parseRequestAuth(request('GET', `/b/k?${q}`, {}), now), s3code('AuthorizationQueryParametersError'), q);
      }
    }
  });

  test('aws-chunked bodies need SigV4; a SHA-256 sent is checked', () => {
    const auth = `AWS ${DOC_AKID}:c2ln`;
    assert.throws(() => parseSigV2Header(get(auth, { date, 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' }), auth, now), s3code('InvalidRequest', /Signature Version 4/));
    const hash = createHash('sha256').update('abc').digest('hex');
    assert.deepEqual(parseSigV2Header(get(auth, { date, 'x-amz-content-sha256': hash }), auth, now).payload, { kind: 'sha256', sha256: hash });
    assert.deepEqual(parseSigV2Header(get(auth, { date, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }), auth, now).payload, { kind: 'unsigned' });
  });
});

describe('parseRequestAuth: SigV2 next to SigV4', () => {
  const now = Date.UTC(2024, 2, 1, 12, 0, 0);
  const date = 'Fri, 01 Mar 2024 12:00:00 GMT';
  const sig = hmacSha1(DOC_SECRET, `GET\n\n\n${date}\n/b/k`);

  test('an AWS header or an AWSAccessKeyId query is SigV2; verifyRequestAuth checks it', () => {
    const parsed = parseRequestAuth(request('GET', '/b/k', { date, authorization: `AWS ${DOC_AKID}:${sig}` }), now);
    assert.ok(parsed.kind === 'header' && 'scheme' in parsed && parsed.scheme === 'AWS');
    const verified = verifyRequestAuth(parsed, DOC_SECRET);
    assert.equal(signatureVersionOf(verified), 'AWS');
    assert.equal(authLabel(verified), 'sigv2-header');
    const q = parseRequestAuth(request('GET', `/k?AWSAccessKeyId=${DOC_AKID}&Expires=1709294400&Signature=${encodeURIComponent(hmacSha1(DOC_SECRET, 'GET\n\n\n1709294400\n/b/k'))}`, {}), now, { virtualHostedBucket: 'b' });
    assert.ok(q.kind !== 'anonymous');
    assert.equal(authLabel(verifyRequestAuth(q, DOC_SECRET)), 'sigv2-presigned');
  });

  test('signatureV2: false refuses both as before (InvalidRequest)', () => {
    assert.throws(() => parseRequestAuth(request('GET', '/b/k', { date, authorization: `AWS ${DOC_AKID}:${sig}` }), now, { signatureV2: false }), s3code('InvalidRequest', /Please use AWS4-HMAC-SHA256/));
    assert.throws(() => parseRequestAuth(request('GET', `/b/k?AWSAccessKeyId=${DOC_AKID}&Expires=1&Signature=x`, {}), now, { signatureV2: false }), s3code('InvalidRequest', /Please use AWS4-HMAC-SHA256/));
  });

  test('a header and query authentication together are InvalidArgument, whatever the schemes', () => {
    for (const [authorization, query] of [
      [`AWS ${DOC_AKID}:${sig}`, `AWSAccessKeyId=${DOC_AKID}&Expires=1&Signature=x`],
      [`AWS ${DOC_AKID}:${sig}`, 'X-Amz-Algorithm=AWS4-HMAC-SHA256'],
      [`AWS4-HMAC-SHA256 Credential=${DOC_AKID}/20240301/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00`, 'Signature=x'],
    ]) {
      assert.throws(() => parseRequestAuth(request('GET', `/b/k?${query}`, { date, authorization: authorization! }), now), s3code('InvalidArgument', /Only one auth mechanism allowed/));
    }
  });

  test('SigV4 requests and anonymous ones are unchanged', async () => {
    const signed = await signHeader({ method: 'GET', host: 's3.localhost', path: '/b/k', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }, new Date(now));
    const parsed = parseRequestAuth(signed, now);
    assert.ok(parsed.kind === 'header' && !('scheme' in parsed));
    const verified = verifyRequestAuth(parsed, V4_SECRET);
    assert.equal(verified.accessKeyId, V4_AKID);
    assert.equal(signatureVersionOf(verified), 'AWS4-HMAC-SHA256');
    assert.equal(authLabel(verified), 'sigv4-header');
    assert.deepEqual(parseRequestAuth(request('GET', '/b/k', {}), now), { kind: 'anonymous' });
    assert.equal(authLabel({ kind: 'anonymous' }), 'anonymous');
  });
});

describe('the body of a SigV2 request', () => {
  test('not signed: it passes as an unsigned body, Content-MD5 and checksum headers still checked', async () => {
    const auth = { scheme: 'AWS' as const, kind: 'header' as const, accessKeyId: 'a', payload: { kind: 'unsigned' as const } };
    const body = Buffer.from('hello');
    assert.equal((await runThrough(createBodyVerifier(auth, {}), [body])).toString(), 'hello');
    const md5 = createHash('md5').update(body).digest('base64');
    assert.equal((await runThrough(createBodyVerifier(auth, { 'content-md5': md5 }), [body])).toString(), 'hello');
    await assert.rejects(runThrough(createBodyVerifier(auth, { 'content-md5': md5 }), [Buffer.from('hellO')]), s3code('BadDigest'));
    await assert.rejects(runThrough(createBodyVerifier(auth, { 'x-amz-checksum-crc32': 'AAAAAA==' }), [body]), s3code('BadDigest'));
  });
});

describe('POST forms signed with SigV2', () => {
  const policy = Buffer.from(JSON.stringify({ expiration: '2030-01-01T00:00:00.000Z', conditions: [{ bucket: 'b' }, ['starts-with', '$key', 'user/']] })).toString('base64');

  test('signature: Base64 HMAC-SHA1 of the Base64 policy as sent', () => {
    const fields = new Map([
      ['awsaccesskeyid', DOC_AKID],
      ['policy', policy],
      ['signature', hmacSha1(DOC_SECRET, policy)],
    ]);
    assert.ok(isSigV2PostForm(fields));
    assert.ok(!isSigV2PostForm(new Map([...fields, ['x-amz-algorithm', 'AWS4-HMAC-SHA256']])));
    const signing = parsePostSignatureV2(fields);
    assert.deepEqual(signing, { accessKeyId: DOC_AKID, signature: hmacSha1(DOC_SECRET, policy) });
    verifyPostSignatureV2(policy, signing, DOC_SECRET);
    assert.throws(
      () => verifyPostSignatureV2(`${policy} `, signing, DOC_SECRET),
      (err: unknown) => s3code('SignatureDoesNotMatch')(err) && (err as S3Error).fields['AWSAccessKeyId'] === DOC_AKID && (err as S3Error).fields['StringToSign'] === `${policy} `,
    );
    assert.throws(() => verifyPostSignatureV2(policy, signing, 'another secret'), s3code('SignatureDoesNotMatch'));
    assert.throws(() => parsePostSignatureV2(new Map([['awsaccesskeyid', DOC_AKID]])), s3code('InvalidArgument', /must contain a field named 'signature'/));
  });

  test('AWSAccessKeyId and signature need no policy condition; x-amz-signature does in a SigV2 form', () => {
    const parsed = { expiration: Date.UTC(2030, 0, 1), conditions: [{ op: 'starts-with' as const, field: 'key', value: 'user/', text: '' }] };
    const fields = new Map([
      ['key', 'user/a'],
      ['awsaccesskeyid', DOC_AKID],
      ['signature', 'sig'],
    ]);
    checkPostPolicy(parsed, { bucket: 'b', fields, signatureV2: true }, Date.UTC(2024, 0, 1));
    assert.throws(() => checkPostPolicy(parsed, { bucket: 'b', fields, signatureV2: false }, Date.UTC(2024, 0, 1)), s3code('AccessDenied', /Extra input fields: awsaccesskeyid, signature/));
    assert.throws(
      () => checkPostPolicy(parsed, { bucket: 'b', fields: new Map([...fields, ['x-amz-signature', 'x']]), signatureV2: true }, Date.UTC(2024, 0, 1)),
      s3code('AccessDenied', /Extra input fields: x-amz-signature/),
    );
  });
});
