/**
 * The POST-upload rules of protocol/post-policy.ts: policy parsing and its errors, condition
 * matching, coverage of the form's fields, size bounds, the signing fields and the signature
 * (checked against an HMAC chain computed here with node:crypto), and the answers.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  S3Error,
  checkPostPolicy,
  checkPostSize,
  expandFilename,
  isExemptPostField,
  isMultipartFormData,
  parseIso8601,
  parsePostPolicy,
  parsePostSignature,
  postRedirectLocation,
  postResponseXml,
  postSuccessStatus,
  verifyPostSignature,
} from '../../../../src/cloud/s3/protocol/index.ts';
import type { PostPolicy } from '../../../../src/cloud/s3/protocol/index.ts';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const policyOf = (doc: unknown): string => b64(JSON.stringify(doc));
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

function fails(fn: () => unknown, code: string, message?: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof S3Error, String(err));
    assert.equal(err.code, code);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    return true;
  });
}

function form(fields: Record<string, string>, bucket = 'photos'): { bucket: string; fields: Map<string, string> } {
  return { bucket, fields: new Map(Object.entries(fields)) };
}

describe('POST policy documents', () => {
  test('parse: expiration, the three condition forms, names lower-cased, the documented escapes', () => {
    const policy = parsePostPolicy(
      policyOf({
        expiration: '2026-01-01T12:00:00.000Z',
        conditions: [{ bucket: 'photos' }, ['eq', '$Content-Type', 'image/png'], ['starts-with', '$key', 'user/'], ['content-length-range', 1, '1048576'], { success_action_status: 201 }],
      }),
    );
    assert.equal(policy.expiration, NOW);
    assert.deepEqual(
      policy.conditions.map((c) => (c.op === 'content-length-range' ? [c.op, c.min, c.max] : [c.op, c.field, c.value])),
      [
        ['eq', 'bucket', 'photos'],
        ['eq', 'content-type', 'image/png'],
        ['starts-with', 'key', 'user/'],
        ['content-length-range', 1, 1048576],
        ['eq', 'success_action_status', '201'],
      ],
    );
    assert.equal(policy.conditions[1]!.text, '["eq", "$Content-Type", "image/png"]', 'printed as S3 prints it');
    assert.equal(policy.conditions[0]!.text, '["eq", "$bucket", "photos"]');
    // \$ and \v are escapes of the S3 documentation that JSON lacks; whitespace in the base64 is ignored.
    const escaped = parsePostPolicy(b64('{"expiration": "2026-01-01T12:00:00Z", "conditions": [["starts-with", "$key", "\\$price\\v"]]}').replace(/(.{8})/g, '$1\n'));
    assert.equal((escaped.conditions[0] as { value: string }).value, '$price\u000b');
  });

  test('parse errors: InvalidPolicyDocument for each malformed part', () => {
    const exp = '2026-01-01T12:00:00Z';
    fails(() => parsePostPolicy('%%%'), 'InvalidPolicyDocument', 'Invalid Policy: Invalid Base64 encoding.');
    fails(() => parsePostPolicy(b64('{not json')), 'InvalidPolicyDocument', 'Invalid Policy: Invalid JSON.');
    fails(() => parsePostPolicy(Buffer.from([0x7b, 0xff, 0x7d]).toString('base64')), 'InvalidPolicyDocument', 'Invalid Policy: Invalid JSON.');
    fails(() => parsePostPolicy(policyOf([1])), 'InvalidPolicyDocument', /must be an object/);
    fails(() => parsePostPolicy(policyOf({ conditions: [] })), 'InvalidPolicyDocument', 'Invalid Policy: Policy missing expiration.');
    fails(() => parsePostPolicy(policyOf({ EXPIRATION: exp, conditions: [] })), 'InvalidPolicyDocument', 'Invalid Policy: Policy missing expiration.');
    fails(() => parsePostPolicy(policyOf({ expiration: '2026-13-01T00:00:00Z', conditions: [] })), 'InvalidPolicyDocument', "Invalid Policy: Invalid 'expiration' value: '2026-13-01T00:00:00Z'");
    fails(() => parsePostPolicy(policyOf({ expiration: 20260101, conditions: [] })), 'InvalidPolicyDocument', /Invalid 'expiration' value/);
    fails(() => parsePostPolicy(policyOf({ expiration: exp })), 'InvalidPolicyDocument', 'Invalid Policy: Policy missing conditions.');
    fails(() => parsePostPolicy(policyOf({ expiration: exp, conditions: {} })), 'InvalidPolicyDocument', /must be an array/);
    fails(() => parsePostPolicy(policyOf({ expiration: exp, conditions: [{}] })), 'InvalidPolicyDocument', /exactly one property/);
    fails(() => parsePostPolicy(policyOf({ expiration: exp, conditions: [{ a: '1', b: '2' }] })), 'InvalidPolicyDocument', /exactly one property/);
    fails(() => parsePostPolicy(policyOf({ expiration: exp, conditions: [{ a: ['x'] }] })), 'InvalidPolicyDocument', /must be a string/);
    fails(() => parsePostPolicy(policyOf({ expiration: exp, conditions: [['in', '$key', ['a']]] })), 'InvalidPolicyDocument', /unknown operation/);
    fails(() => parsePostPolicy(policyOf({ expiration: exp, conditions: [['eq', 'key', 'a']] })), 'InvalidPolicyDocument', /Invalid Condition/);
    fails(() => parsePostPolicy(policyOf({ expiration: exp, conditions: [['starts-with', '$key']] })), 'InvalidPolicyDocument', /Invalid Condition/);
    fails(() => parsePostPolicy(policyOf({ expiration: exp, conditions: [['content-length-range', 0]] })), 'InvalidPolicyDocument', /Invalid Condition/);
    fails(() => parsePostPolicy(policyOf({ expiration: exp, conditions: [['content-length-range', -1, 10]] })), 'InvalidPolicyDocument', /Invalid Condition/);
    fails(() => parsePostPolicy(policyOf({ expiration: exp, conditions: [['content-length-range', 1.5, 10]] })), 'InvalidPolicyDocument', /Invalid Condition/);
    fails(() => parsePostPolicy(policyOf({ expiration: exp, conditions: [['content-length-range', 10, 1]] })), 'InvalidPolicyDocument', /minimum 10 is larger than the maximum 1/);
    fails(() => parsePostPolicy(policyOf({ expiration: exp, conditions: ['key'] })), 'InvalidPolicyDocument', /neither an object nor an array/);
  });

  test('ISO 8601 expiration times', () => {
    assert.equal(parseIso8601('2026-01-01T12:00:00Z'), NOW);
    assert.equal(parseIso8601('2026-01-01T12:00:00.250Z'), NOW + 250);
    for (const bad of ['2026-01-01 12:00:00Z', '2026-01-01T12:00:00', '2026-02-30T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T12:60:00Z', '2026-01-01T12:00:60Z']) {
      assert.equal(parseIso8601(bad), undefined, bad);
    }
  });
});

describe('checking a form against its policy', () => {
  const policy = (conditions: unknown[], expiration = '2026-01-01T12:00:00Z'): PostPolicy => parsePostPolicy(policyOf({ expiration, conditions }));

  test('expiration: valid up to its instant, then "Policy expired."', () => {
    const p = policy([]);
    assert.equal(checkPostPolicy(p, form({}), NOW), undefined);
    fails(() => checkPostPolicy(p, form({}), NOW + 1), 'AccessDenied', 'Invalid according to Policy: Policy expired.');
  });

  test('exact and starts-with matches; an empty prefix allows anything; a missing field fails its condition', () => {
    const p = policy([{ key: 'a.txt' }, ['eq', '$acl', 'private'], ['starts-with', '$x-amz-meta-tag', ''], ['starts-with', '$success_action_redirect', 'https://app/']]);
    const ok = { key: 'a.txt', acl: 'private', 'x-amz-meta-tag': '', success_action_redirect: 'https://app/done' };
    checkPostPolicy(p, form(ok), NOW);
    fails(() => checkPostPolicy(p, form({ ...ok, key: 'a.txt ' }), NOW), 'AccessDenied', 'Invalid according to Policy: Policy Condition failed: ["eq", "$key", "a.txt"]');
    fails(() => checkPostPolicy(p, form({ ...ok, acl: 'PRIVATE' }), NOW), 'AccessDenied', /\["eq", "\$acl", "private"\]/);
    fails(() => checkPostPolicy(p, form({ ...ok, success_action_redirect: 'http://app/' }), NOW), 'AccessDenied', /starts-with/);
    const { 'x-amz-meta-tag': _tag, ...withoutTag } = ok;
    fails(() => checkPostPolicy(p, form(withoutTag), NOW), 'AccessDenied', 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$x-amz-meta-tag", ""]');
  });

  test('Content-Type with commas is a list: every value must start with the prefix', () => {
    const p = policy([['starts-with', '$Content-Type', 'image/']]);
    checkPostPolicy(p, form({ 'content-type': 'image/jpeg, image/png,image/gif' }), NOW);
    fails(() => checkPostPolicy(p, form({ 'content-type': 'image/jpeg,text/html' }), NOW), 'AccessDenied', /Content-Type/);
  });

  test('the bucket condition is checked against the request\'s bucket, not a form field', () => {
    const p = policy([{ bucket: 'photos' }]);
    checkPostPolicy(p, form({ bucket: 'photos' }), NOW);
    checkPostPolicy(p, form({}), NOW);
    fails(() => checkPostPolicy(p, form({ bucket: 'photos' }, 'other'), NOW), 'AccessDenied', 'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "photos"]');
  });

  test('every field but x-amz-signature, file, policy and x-ignore-* must be named by a condition', () => {
    const p = policy([['starts-with', '$key', ''], ['eq', '$X-Amz-Date', '20260101T000000Z']]);
    const fields = { key: 'k', 'x-amz-date': '20260101T000000Z', 'x-amz-signature': 'abc', policy: 'p', file: 'f', 'x-ignore-flash': '1', 'X-Ignore-Other': '2' };
    checkPostPolicy(p, form(fields), NOW);
    fails(() => checkPostPolicy(p, form({ ...fields, 'x-amz-meta-a': '1', acl: 'private' }), NOW), 'AccessDenied', 'Invalid according to Policy: Extra input fields: x-amz-meta-a, acl');
    assert.ok(isExemptPostField('X-Amz-Signature') && isExemptPostField('x-ignore-') && !isExemptPostField('x-amz-credential') && !isExemptPostField('ignore-x'));
  });

  test('content-length-range: every range at once, then the file\'s size', () => {
    const range = checkPostPolicy(policy([['content-length-range', 0, 100], ['content-length-range', 10, 1000]]), form({}), NOW);
    assert.deepEqual(range, { min: 10, max: 100 });
    checkPostSize(range, 10);
    checkPostSize(range, 100);
    checkPostSize(undefined, 1e12);
    fails(() => checkPostSize(range, 9), 'EntityTooSmall');
    fails(() => checkPostSize(range, 101), 'EntityTooLarge');
    try {
      checkPostSize(range, 9);
    } catch (err) {
      assert.deepEqual((err as S3Error).fields, { ProposedSize: '9', MinSizeAllowed: '10' });
    }
  });
});

describe('the signature of a POST policy', () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const fields = (over: Record<string, string | undefined> = {}): Map<string, string> => {
    const base: Record<string, string | undefined> = {
      'x-amz-algorithm': 'AWS4-HMAC-SHA256',
      'x-amz-credential': 'AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request',
      'x-amz-date': '20151229T000000Z',
      'x-amz-signature': '0'.repeat(64),
      ...over,
    };
    return new Map(Object.entries(base).filter((e): e is [string, string] => e[1] !== undefined));
  };

  /** The SigV4 POST signature, computed here independently of the code under test. */
  function sign(policy: string, date: string, region: string): string {
    const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
    const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request');
    return createHmac('sha256', key).update(policy).digest('hex');
  }

  test('the signing fields: scope, date, algorithm', () => {
    assert.deepEqual(parsePostSignature(fields()), { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', date: '20151229', region: 'us-east-1', service: 's3', signature: '0'.repeat(64) });
    for (const name of ['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature']) {
      fails(() => parsePostSignature(fields({ [name]: undefined })), 'InvalidArgument', `Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`);
    }
    fails(() => parsePostSignature(new Map([['awsaccesskeyid', 'AKIA'], ['signature', 'x']])), 'InvalidRequest', /Please use AWS4-HMAC-SHA256/);
    fails(() => parsePostSignature(fields({ 'x-amz-algorithm': 'AWS4-ECDSA-P256-SHA256' })), 'InvalidArgument', /AWS4-HMAC-SHA256/);
    fails(() => parsePostSignature(fields({ 'x-amz-credential': 'AKIA/20151229/us-east-1/s3' })), 'InvalidArgument', /mal-formed/);
    fails(() => parsePostSignature(fields({ 'x-amz-credential': 'AKIA/2015122/us-east-1/s3/aws4_request' })), 'InvalidArgument', /mal-formed/);
    fails(() => parsePostSignature(fields({ 'x-amz-credential': 'AKIA/20151229/us-east-1/ec2/aws4_request' })), 'InvalidArgument', /incorrect service/);
    fails(() => parsePostSignature(fields({ 'x-amz-credential': 'AKIA/20151229/us-east-1/s3/aws5_request' })), 'InvalidArgument', /incorrect terminal/);
    fails(() => parsePostSignature(fields({ 'x-amz-date': '20151230T000000Z' })), 'InvalidArgument', /x-amz-date/);
    fails(() => parsePostSignature(fields({ 'x-amz-date': '2015-12-29' })), 'InvalidArgument', /x-amz-date/);
  });

  test('HMAC-SHA256 of the base64 policy under the scope\'s signing key', () => {
    const policy = policyOf({ expiration: '2015-12-30T12:00:00.000Z', conditions: [{ bucket: 'sigv4examplebucket' }] });
    const good = sign(policy, '20151229', 'us-east-1');
    verifyPostSignature(policy, parsePostSignature(fields({ 'x-amz-signature': good })), secret);
    verifyPostSignature(policy, parsePostSignature(fields({ 'x-amz-signature': good.toUpperCase() })), secret);
    const otherRegion = parsePostSignature(fields({ 'x-amz-signature': good, 'x-amz-credential': 'AKIAIOSFODNN7EXAMPLE/20151229/eu-west-1/s3/aws4_request' }));
    fails(() => verifyPostSignature(policy, otherRegion, secret), 'SignatureDoesNotMatch');
    fails(() => verifyPostSignature(`${policy} `, parsePostSignature(fields({ 'x-amz-signature': good })), secret), 'SignatureDoesNotMatch');
    fails(() => verifyPostSignature(policy, parsePostSignature(fields({ 'x-amz-signature': good })), 'other secret'), 'SignatureDoesNotMatch');
  });
});

describe('form details and answers', () => {
  test('${filename} expands to the last part of the file name in every field', () => {
    assert.equal(expandFilename('user/${filename}', 'photo.jpg'), 'user/photo.jpg');
    assert.equal(expandFilename('${filename}/${filename}', 'C:\\Program Files\\dir\\file.txt'), 'file.txt/file.txt');
    assert.equal(expandFilename('a/${filename}', '/home/me/b.txt'), 'a/b.txt');
    assert.equal(expandFilename('a/${filename}', undefined), 'a/');
    assert.equal(expandFilename('plain', 'x'), 'plain');
  });

  test('multipart/form-data detection', () => {
    assert.ok(isMultipartFormData('multipart/form-data; boundary=x'));
    assert.ok(isMultipartFormData('Multipart/Form-Data'));
    assert.ok(!isMultipartFormData('multipart/form-datax'));
    assert.ok(!isMultipartFormData('application/x-www-form-urlencoded'));
    assert.ok(!isMultipartFormData(undefined));
  });

  test('success_action_status and success_action_redirect', () => {
    assert.deepEqual(['200', '201', '204', ' 201 ', '202', '', undefined].map(postSuccessStatus), [200, 201, 204, 201, 204, 204, 204]);
    const r = { bucket: 'b', key: 'dir/a b+c.txt', etag: 'abc' };
    assert.equal(postRedirectLocation('https://x.example/ok', r), 'https://x.example/ok?bucket=b&key=dir%2Fa%20b%2Bc.txt&etag=%22abc%22');
    assert.equal(postRedirectLocation('https://x.example/ok?a=1', r), 'https://x.example/ok?a=1&bucket=b&key=dir%2Fa%20b%2Bc.txt&etag=%22abc%22');
    assert.equal(postRedirectLocation('https://x.example/ok?', r), 'https://x.example/ok?bucket=b&key=dir%2Fa%20b%2Bc.txt&etag=%22abc%22');
    assert.equal(postRedirectLocation('http://x.example/#frag', r), 'http://x.example/?bucket=b&key=dir%2Fa%20b%2Bc.txt&etag=%22abc%22#frag');
    for (const bad of [undefined, '', 'relative/path', 'javascript:alert(1)', 'ftp://x.example/']) assert.equal(postRedirectLocation(bad, r), undefined, String(bad));
  });

  test('the PostResponse document', () => {
    assert.equal(
      postResponseXml({ location: 'http://h/b/a%26b', bucket: 'b', key: 'a&b', etag: 'abc' }),
      '<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse><Location>http://h/b/a%26b</Location><Bucket>b</Bucket><Key>a&amp;b</Key><ETag>&quot;abc&quot;</ETag></PostResponse>',
    );
  });
});
