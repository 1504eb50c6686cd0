/**
 * The bucket policy protocol module: the wildcard matcher (against a reference, with fast-check),
 * IP ranges, parsing and validation with S3's MalformedPolicy messages, evaluation (explicit
 * Deny wins, Allow, no decision; Principal / NotPrincipal, Action / NotAction, Resource /
 * NotResource, condition operators with absent keys, IfExists, Null, qualifiers) and
 * GetBucketPolicyStatus's notion of public.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { S3Error } from '../../../../src/cloud/s3/protocol/index.ts';
import { globMatch, inRanges, ipRanges, normalizeIp } from '../../../../src/cloud/s3/protocol/policy-match.ts';
import { MAX_POLICY_DEPTH, OBJECT_ACTIONS, conditionKey, decodePolicyDocument, evaluatePolicy, isPublicPolicy, parseBucketPolicy, policyStatusXml } from '../../../../src/cloud/s3/protocol/policy.ts';
import type { PolicyRequest } from '../../../../src/cloud/s3/protocol/policy.ts';

const ALICE = { id: 'a'.repeat(64), name: 'alice' };
const BOB = { id: 'b'.repeat(64), name: 'bob' };

/** A reference matcher: the pattern as an anchored regular expression. */
function reference(pattern: string, text: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's').test(text);
}

function policy(...statements: object[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

function request(over: Partial<PolicyRequest> & { values?: Record<string, string> } = {}): PolicyRequest {
  const values = over.values ?? {};
  return {
    action: over.action ?? 's3:GetObject',
    resource: over.resource ?? 'arn:aws:s3:::photos/public/a.jpg',
    principal: 'principal' in over ? over.principal : BOB,
    value: (k) => values[k],
  };
}

function decide(text: string, over: Partial<PolicyRequest> & { values?: Record<string, string> } = {}): 'Allow' | 'Deny' | undefined {
  return evaluatePolicy(parseBucketPolicy(text, 'photos'), request(over));
}

function malformed(text: string, message: string, bucket = 'photos'): void {
  assert.throws(
    () => parseBucketPolicy(text, bucket),
    (err: unknown) => err instanceof S3Error && err.code === 'MalformedPolicy' && err.status === 400 && err.message === message,
    `expected MalformedPolicy "${message}"`,
  );
}

const allowAll = { Effect: 'Allow', Principal: '*', Action: 's3:*', Resource: ['arn:aws:s3:::photos', 'arn:aws:s3:::photos/*'] };

describe('glob matcher', () => {
  test('examples', () => {
    assert.ok(globMatch('*', ''));
    assert.ok(globMatch('a*', 'abc'));
    assert.ok(globMatch('a?c', 'abc'));
    assert.ok(!globMatch('a?c', 'ac'));
    assert.ok(globMatch('*b*', 'abc'));
    assert.ok(globMatch('arn:aws:s3:::photos/public/*', 'arn:aws:s3:::photos/public/x/y'));
    assert.ok(!globMatch('arn:aws:s3:::photos/public/*', 'arn:aws:s3:::photos/private/x'));
    assert.ok(!globMatch('abc', 'abcd'));
    assert.ok(globMatch('a**b', 'ab'));
    assert.ok(!globMatch('', 'a'));
  });

  test('agrees with a regular-expression reference (property)', () => {
    const alphabet = fc.constantFrom('a', 'b', '*', '?', '/', '.');
    const text = fc.array(fc.constantFrom('a', 'b', '/', '.', '*', '?'), { maxLength: 12 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 8 }).map((a) => a.join('')), text, (p, t) => globMatch(p, t) === reference(p, t)),
      { numRuns: 3000 },
    );
  });

  test('a pattern matches itself with wildcards read literally, and * matches anything', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (s) => globMatch(s, s) && globMatch('*', s) && globMatch(`${s}*`, `${s}tail`)),
    );
  });

  test('linear-ish on adversarial input', () => {
    const started = process.hrtime.bigint();
    assert.ok(!globMatch('*a*a*a*a*a*a*a*a*b', 'a'.repeat(5000)));
    assert.ok(process.hrtime.bigint() - started < 2_000_000_000n);
  });
});

describe('IP ranges', () => {
  test('IPv4 and IPv6 CIDRs, single addresses, mapped addresses, invalid values', () => {
    const r = ipRanges(['192.0.2.0/24', '2001:db8::/32', '10.1.2.3'])!;
    assert.ok(inRanges(r, '192.0.2.77'));
    assert.ok(!inRanges(r, '192.0.3.1'));
    assert.ok(inRanges(r, '2001:db8::1'));
    assert.ok(inRanges(r, '10.1.2.3'));
    assert.ok(!inRanges(r, '10.1.2.4'));
    assert.ok(!inRanges(r, 'not-an-ip'));
    assert.equal(normalizeIp('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeIp('::1'), '::1');
    assert.equal(ipRanges(['300.1.1.1/8']), undefined);
    assert.equal(ipRanges(['1.2.3.4/33']), undefined);
    assert.equal(ipRanges(['1.2.3.4/x']), undefined);
  });
});

describe('parsing and validation', () => {
  test('MalformedPolicy messages as S3 words them', () => {
    malformed('not json', "Policies must be valid JSON and the first byte must be '{'");
    malformed('', "Policies must be valid JSON and the first byte must be '{'");
    malformed('{"Statement": [', 'This policy contains invalid Json');
    malformed('{"Version":"2012-10-17"}', 'Missing required field Statement');
    malformed('{"Statement":[]}', 'Could not parse the policy: Statement is empty!');
    malformed(policy({ ...allowAll, Effect: 'Maybe' }), 'Invalid effect: Maybe');
    malformed(policy({ Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::photos/*' }), 'Missing required field Effect');
    malformed(policy({ ...allowAll, Action: 's3:GetObjekt' }), 'Policy has invalid action');
    malformed(policy({ ...allowAll, Action: 'ec2:RunInstances' }), 'Policy has invalid action');
    malformed(policy({ ...allowAll, Action: 's3:Frobnicate*' }), 'Policy has invalid action');
    malformed(policy({ ...allowAll, Action: [] }), 'Policy has invalid action');
    malformed(policy({ ...allowAll, Resource: 'arn:aws:s3:::other-bucket/*' }), 'Policy has invalid resource');
    malformed(policy({ ...allowAll, Resource: '*' }), 'Policy has invalid resource');
    malformed(policy({ ...allowAll, Resource: 'arn:aws:s3:::' }), 'Policy has invalid resource');
    malformed(policy({ ...allowAll, Principal: { AWS: 'arn:aws:iam::123:role/x' } }), 'Invalid principal in policy');
    malformed(policy({ ...allowAll, Principal: { Service: 'cloudtrail.amazonaws.com' } }), 'Invalid principal in policy');
    malformed(policy({ ...allowAll, Principal: { CanonicalUser: 'bob' } }), 'Invalid principal in policy');
    malformed(policy({ ...allowAll, Principal: 'bob' }), 'Invalid principal in policy');
    malformed(policy({ Effect: 'Allow', Action: 's3:*', Resource: 'arn:aws:s3:::photos' }), 'Missing required field Principal');
    malformed(policy({ Effect: 'Allow', Principal: '*', Resource: 'arn:aws:s3:::photos' }), 'Statement is missing required element');
    malformed(policy({ Effect: 'Allow', Principal: '*', Action: 's3:*' }), 'Statement is missing required element');
    malformed(policy({ ...allowAll, Condition: { StringEqualz: { 's3:prefix': 'a' } } }), 'Invalid Condition type : StringEqualz');
    malformed(policy({ ...allowAll, Condition: { 'ForSomeValues:StringEquals': { 's3:prefix': 'a' } } }), 'Invalid Condition type : ForSomeValues:StringEquals');
    malformed(policy({ ...allowAll, Condition: { NullIfExists: { 's3:prefix': 'true' } } }), 'Invalid Condition type : NullIfExists');
    malformed(policy({ ...allowAll, Sid: 'x' }, { ...allowAll, Sid: 'x' }), 'Statement IDs (SID) in a single policy must be unique');
    malformed(JSON.stringify({ Version: '2013-01-01', Statement: [allowAll] }), 'The policy must contain a valid version string');
    malformed(JSON.stringify({ Statement: [allowAll], Extra: 1 }), 'Unknown field Extra');
    malformed(policy({ ...allowAll, Conditions: {} }), 'Unknown field Conditions');
    malformed(JSON.stringify({ Statement: [{ ...allowAll, Sid: 'x'.repeat(21 * 1024) }] }), 'Policy exceeds the maximum allowed document size.');
  });

  test('a body that is not UTF-8 is MalformedPolicy, never read with U+FFFD in it', () => {
    const text = policy({ ...allowAll, Sid: 'sid' });
    const at = text.indexOf('sid');
    for (const bad of [[0xff], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
      const body = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bad), Buffer.from(text.slice(at))]);
      assert.throws(
        () => decodePolicyDocument(body),
        (err: unknown) => err instanceof S3Error && err.code === 'MalformedPolicy' && err.status === 400 && err.message === 'This policy contains invalid Json',
        Buffer.from(bad).toString('hex'),
      );
    }
    const utf8 = policy({ ...allowAll, Sid: 'ünïcødé' });
    assert.equal(decodePolicyDocument(Buffer.from(utf8)), utf8);
    assert.equal(parseBucketPolicy(decodePolicyDocument(Buffer.from(utf8)), 'photos').statements.length, 1);
  });

  test('deeply nested documents are MalformedPolicy before any walk of them, never a stack overflow', () => {
    // The probe's documents: a Condition nested 100,000 deep, a Statement of arrays 300,000 deep.
    const deepCondition = `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}]}`;
    malformed(deepCondition, 'Policy exceeds the maximum allowed document size.');
    malformed(`{"Statement":${'['.repeat(300_000)}${']'.repeat(300_000)}}`, 'Policy exceeds the maximum allowed document size.');
    // Within 20 KB, deeper than any policy: refused by its depth.
    malformed(`{"Statement":${'['.repeat(5000)}${']'.repeat(5000)}}`, 'This policy contains invalid Json');
    malformed(`{"Statement":[{"Effect":${'['.repeat(MAX_POLICY_DEPTH - 2)}"Allow"${']'.repeat(MAX_POLICY_DEPTH - 2)}}]}`, 'This policy contains invalid Json');
    // One level less is read, and refused for what it is.
    malformed(`{"Statement":[{"Effect":${'['.repeat(MAX_POLICY_DEPTH - 3)}"Allow"${']'.repeat(MAX_POLICY_DEPTH - 3)}}]}`, `Invalid effect: ${'['.repeat(MAX_POLICY_DEPTH - 3)}"Allow"${']'.repeat(MAX_POLICY_DEPTH - 3)}`);
    // Brackets, braces, escaped quotes and whitespace inside strings are text, not structure.
    const text = policy({ ...allowAll, Sid: `${'{['.repeat(200)}\\"  ${' '.repeat(100)}` });
    assert.equal(parseBucketPolicy(text, 'photos').statements.length, 1);
    // Whitespace inside strings counts against the 20 KB.
    malformed(policy({ ...allowAll, Sid: ' '.repeat(21 * 1024) }), 'Policy exceeds the maximum allowed document size.');
  });

  test('accepted forms: one statement object, wildcards, principals, versions, Id, whitespace not counted', () => {
    const one = parseBucketPolicy(JSON.stringify({ Statement: allowAll }), 'photos');
    assert.equal(one.statements.length, 1);
    const p = parseBucketPolicy(
      JSON.stringify({
        Version: '2008-10-17',
        Id: 'p1',
        Statement: [
          { Sid: 'a', Effect: 'Deny', NotPrincipal: { AWS: [ALICE.id, 'arn:aws:iam::whatever:user/carol', 'dave', `arn:aws:iam::${BOB.id}:root`] }, NotAction: 's3:Get*', NotResource: 'arn:aws:s3:::photos/keep/*' },
          { Effect: 'Allow', Principal: { CanonicalUser: BOB.id }, Action: ['s3:getobject', '*'], Resource: 'arn:aws:s3:::pho*/x?' },
        ],
      }),
      'photos',
    );
    assert.deepEqual(p.users.ids.sort(), [ALICE.id, BOB.id].sort());
    assert.deepEqual(p.users.names.sort(), ['carol', 'dave']);
    // 25 KB of indentation is not counted against the 20 KB.
    const padded = JSON.stringify({ Statement: [allowAll] }, null, 2).replace(/\n/g, '\n' + ' '.repeat(2000));
    assert.ok(padded.length > 20 * 1024);
    assert.equal(parseBucketPolicy(padded, 'photos').statements.length, 1);
  });

  test('object actions and condition keys', () => {
    assert.ok(OBJECT_ACTIONS.has('s3:GetObject'));
    assert.ok(OBJECT_ACTIONS.has('s3:AbortMultipartUpload'));
    assert.ok(OBJECT_ACTIONS.has('s3:ListMultipartUploadParts'));
    assert.ok(!OBJECT_ACTIONS.has('s3:ListBucket'));
    assert.ok(!OBJECT_ACTIONS.has('s3:ListBucketMultipartUploads'));
    assert.ok(!OBJECT_ACTIONS.has('s3:PutBucketObjectLockConfiguration'));
    assert.equal(conditionKey('AWS:SourceIp'), 'aws:sourceip');
    assert.equal(conditionKey('S3:ExistingObjectTag/Project'), 's3:existingobjecttag/Project');
  });
});

describe('evaluation', () => {
  test('Allow to everyone on a prefix; nothing said elsewhere', () => {
    const text = policy({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::photos/public/*' });
    assert.equal(decide(text), 'Allow');
    assert.equal(decide(text, { principal: undefined }), 'Allow');
    assert.equal(decide(text, { resource: 'arn:aws:s3:::photos/private/a' }), undefined);
    assert.equal(decide(text, { action: 's3:PutObject' }), undefined);
    assert.equal(decide(text, { action: 's3:GETOBJECT' }), 'Allow'); // actions are case-insensitive
  });

  test('an explicit Deny wins over any Allow, in any order', () => {
    const deny = { Effect: 'Deny', Principal: { AWS: 'bob' }, Action: 's3:*', Resource: 'arn:aws:s3:::photos/*' };
    assert.equal(decide(policy(allowAll, deny)), 'Deny');
    assert.equal(decide(policy(deny, allowAll)), 'Deny');
    assert.equal(decide(policy(allowAll, deny), { principal: ALICE }), 'Allow');
  });

  test('principals: *, AWS *, canonical ids, root ARNs, user ARNs and names, CanonicalUser; anonymous only matches *', () => {
    const forP = (principal: unknown): string => policy({ Effect: 'Allow', Principal: principal, Action: 's3:GetObject', Resource: 'arn:aws:s3:::photos/*' });
    assert.equal(decide(forP({ AWS: '*' }), { principal: undefined }), 'Allow');
    assert.equal(decide(forP({ AWS: BOB.id })), 'Allow');
    assert.equal(decide(forP({ AWS: `arn:aws:iam::${BOB.id}:root` })), 'Allow');
    assert.equal(decide(forP({ AWS: 'arn:aws:iam::000000000000:user/team/bob' })), 'Allow');
    assert.equal(decide(forP({ AWS: ['alice', 'bob'] })), 'Allow');
    assert.equal(decide(forP({ CanonicalUser: BOB.id })), 'Allow');
    assert.equal(decide(forP({ AWS: 'alice' })), undefined);
    assert.equal(decide(forP({ AWS: 'bob' }), { principal: undefined }), undefined);
  });

  test('NotPrincipal, NotAction, NotResource', () => {
    const notAlice = policy({ Effect: 'Deny', NotPrincipal: { AWS: 'alice' }, Action: 's3:DeleteObject', Resource: 'arn:aws:s3:::photos/*' });
    assert.equal(decide(notAlice, { action: 's3:DeleteObject' }), 'Deny');
    assert.equal(decide(notAlice, { action: 's3:DeleteObject', principal: undefined }), 'Deny');
    assert.equal(decide(notAlice, { action: 's3:DeleteObject', principal: ALICE }), undefined);
    const notGet = policy({ Effect: 'Deny', Principal: '*', NotAction: ['s3:Get*', 's3:ListBucket'], Resource: ['arn:aws:s3:::photos', 'arn:aws:s3:::photos/*'] });
    assert.equal(decide(notGet), undefined);
    assert.equal(decide(notGet, { action: 's3:PutObject' }), 'Deny');
    assert.equal(decide(notGet, { action: 's3:ListBucket', resource: 'arn:aws:s3:::photos' }), undefined);
    const notKeep = policy({ Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', NotResource: 'arn:aws:s3:::photos/tmp/*' });
    assert.equal(decide(notKeep, { action: 's3:DeleteObject' }), 'Deny');
    assert.equal(decide(notKeep, { action: 's3:DeleteObject', resource: 'arn:aws:s3:::photos/tmp/x' }), undefined);
  });

  test('conditions: absent keys fail positive operators and satisfy negated ones; IfExists; Null; qualifiers', () => {
    const withCondition = (effect: string, condition: object): string => policy({ Effect: effect, Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::photos/*', Condition: condition });
    const put = { action: 's3:PutObject' };
    const requireAcl = withCondition('Deny', { StringNotEquals: { 's3:x-amz-acl': 'bucket-owner-full-control' } });
    assert.equal(decide(requireAcl, put), 'Deny');
    assert.equal(decide(requireAcl, { ...put, values: { 's3:x-amz-acl': 'public-read' } }), 'Deny');
    assert.equal(decide(requireAcl, { ...put, values: { 's3:x-amz-acl': 'bucket-owner-full-control' } }), undefined);
    const negatedList = withCondition('Deny', { StringNotEquals: { 's3:x-amz-acl': ['private', 'bucket-owner-read'] } });
    assert.equal(decide(negatedList, { ...put, values: { 's3:x-amz-acl': 'private' } }), undefined); // matches none → AND
    assert.equal(decide(negatedList, { ...put, values: { 's3:x-amz-acl': 'public-read' } }), 'Deny');
    const ifExists = withCondition('Deny', { StringNotEqualsIfExists: { 's3:x-amz-acl': 'private' } });
    assert.equal(decide(ifExists, put), 'Deny'); // absent: …IfExists holds
    assert.equal(decide(ifExists, { ...put, values: { 's3:x-amz-acl': 'public-read' } }), 'Deny');
    assert.equal(decide(ifExists, { ...put, values: { 's3:x-amz-acl': 'private' } }), undefined);
    assert.equal(decide(withCondition('Allow', { StringEqualsIfExists: { 's3:x-amz-acl': 'private' } }), put), 'Allow');
    const isNull = withCondition('Deny', { Null: { 's3:x-amz-acl': 'true' } });
    assert.equal(decide(isNull, put), 'Deny');
    assert.equal(decide(isNull, { ...put, values: { 's3:x-amz-acl': 'private' } }), undefined);
    const positive = withCondition('Allow', { StringEquals: { 's3:x-amz-acl': 'private' } });
    assert.equal(decide(positive, put), undefined);
    assert.equal(decide(withCondition('Allow', { 'ForAllValues:StringEquals': { 's3:x-amz-acl': 'private' } }), put), 'Allow');
    assert.equal(decide(withCondition('Allow', { 'ForAnyValue:StringEquals': { 's3:x-amz-acl': 'private' } }), put), undefined);
    // Several operators and keys: all must hold.
    const both = withCondition('Allow', { StringEquals: { 's3:x-amz-acl': 'private' }, Bool: { 'aws:SecureTransport': 'false' } });
    assert.equal(decide(both, { ...put, values: { 's3:x-amz-acl': 'private', 'aws:securetransport': 'false' } }), 'Allow');
    assert.equal(decide(both, { ...put, values: { 's3:x-amz-acl': 'private', 'aws:securetransport': 'true' } }), undefined);
    // Unknown keys are absent.
    assert.equal(decide(withCondition('Allow', { StringEquals: { 'aws:NoSuchKey': 'x' } }), put), undefined);
  });

  test('operators: strings, likes, numbers, dates, IPs, booleans', () => {
    const list = (condition: object, values: Record<string, string>): 'Allow' | 'Deny' | undefined =>
      decide(policy({ Effect: 'Allow', Principal: '*', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::photos', Condition: condition }), { action: 's3:ListBucket', resource: 'arn:aws:s3:::photos', values });
    assert.equal(list({ StringLike: { 's3:prefix': ['home/bob/*', ''] } }, { 's3:prefix': 'home/bob/x' }), 'Allow');
    assert.equal(list({ StringLike: { 's3:prefix': 'home/bob/*' } }, { 's3:prefix': 'home/alice/' }), undefined);
    assert.equal(list({ StringNotLike: { 's3:prefix': 'secret*' } }, { 's3:prefix': 'open' }), 'Allow');
    assert.equal(list({ StringNotLike: { 's3:prefix': 'secret*' } }, { 's3:prefix': 'secrets' }), undefined);
    assert.equal(list({ StringEqualsIgnoreCase: { 's3:delimiter': 'X' } }, { 's3:delimiter': 'x' }), 'Allow');
    assert.equal(list({ NumericLessThanEquals: { 's3:max-keys': '10' } }, { 's3:max-keys': '10' }), 'Allow');
    assert.equal(list({ NumericLessThan: { 's3:max-keys': 10 } }, { 's3:max-keys': '10' }), undefined);
    assert.equal(list({ NumericGreaterThan: { 's3:max-keys': '5' } }, { 's3:max-keys': 'abc' }), undefined);
    assert.equal(list({ NumericNotEquals: { 's3:max-keys': '5' } }, { 's3:max-keys': '6' }), 'Allow');
    assert.equal(list({ DateLessThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } }, { 'aws:currenttime': '2026-12-03T00:00:00.000Z' }), 'Allow');
    assert.equal(list({ DateGreaterThan: { 'aws:EpochTime': '1900000000' } }, { 'aws:epochtime': '1800000000' }), undefined);
    assert.equal(list({ IpAddress: { 'aws:SourceIp': '127.0.0.0/8' } }, { 'aws:sourceip': '127.0.0.1' }), 'Allow');
    assert.equal(list({ NotIpAddress: { 'aws:SourceIp': '127.0.0.0/8' } }, { 'aws:sourceip': '127.0.0.1' }), undefined);
    assert.equal(list({ Bool: { 'aws:SecureTransport': true } }, { 'aws:securetransport': 'true' }), 'Allow');
    assert.equal(list({ StringEquals: { 's3:ExistingObjectTag/Project': 'X' } }, { 's3:existingobjecttag/Project': 'X' }), 'Allow');
    assert.equal(list({ StringEquals: { 's3:ExistingObjectTag/Project': 'X' } }, { 's3:existingobjecttag/project': 'X' }), undefined);
  });

  test('condition values are checked', () => {
    malformed(policy({ ...allowAll, Condition: { IpAddress: { 'aws:SourceIp': 'nowhere' } } }), 'Invalid Condition value for IpAddress: aws:SourceIp');
    malformed(policy({ ...allowAll, Condition: { NumericLessThan: { 's3:max-keys': 'ten' } } }), 'Invalid Condition value for NumericLessThan: s3:max-keys');
    malformed(policy({ ...allowAll, Condition: { Bool: { 'aws:SecureTransport': 'yes' } } }), 'Invalid Condition value for Bool: aws:SecureTransport');
    malformed(policy({ ...allowAll, Condition: { StringEquals: { 's3:prefix': { a: 1 } } } }), 'Invalid Condition value for StringEquals: s3:prefix');
  });
});

describe('policy status', () => {
  test('public: Allow to everyone without a restricting condition', () => {
    const pub = (s: object): boolean => isPublicPolicy(parseBucketPolicy(policy(s), 'photos'));
    assert.ok(pub(allowAll));
    assert.ok(pub({ ...allowAll, Principal: { AWS: '*' } }));
    assert.ok(pub({ ...allowAll, Condition: { StringLike: { 's3:prefix': 'a*' } } }));
    assert.ok(pub({ ...allowAll, Condition: { IpAddress: { 'aws:SourceIp': '0.0.0.0/0' } } }));
    assert.ok(pub({ Effect: 'Allow', NotPrincipal: { AWS: 'bob' }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::photos/*' }));
    assert.ok(!pub({ ...allowAll, Effect: 'Deny' }));
    assert.ok(!pub({ ...allowAll, Principal: { AWS: 'bob' } }));
    assert.ok(!pub({ ...allowAll, Condition: { IpAddress: { 'aws:SourceIp': '192.0.2.0/24' } } }));
    assert.ok(!pub({ ...allowAll, Condition: { StringEquals: { 'aws:username': 'bob' } } }));
    assert.match(policyStatusXml(true), /<PolicyStatus xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/"><IsPublic>true<\/IsPublic><\/PolicyStatus>$/);
  });
});
