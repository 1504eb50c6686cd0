/**
 * Bucket policy variables and the action / resource applicability check, at the protocol level:
 * `${key}`, `${key, 'default'}` and the `${*}` / `${?}` / `${$}` escapes parsed and resolved;
 * Resource / NotResource and string / ARN condition values with variables (Version 2012-10-17
 * only); variables the request cannot fill (Resource: no match, NotResource and negated
 * operators: no decision); a variable's value matched literally; malformed variables refused on
 * PutBucketPolicy, read as text in stored documents; GetBucketPolicyStatus with variables; and
 * "Action does not apply to any resource(s) in statement".
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { S3Error } from '../../../../src/cloud/s3/protocol/index.ts';
import { globMatch } from '../../../../src/cloud/s3/protocol/policy-match.ts';
import { parseTemplate, resolveTemplate } from '../../../../src/cloud/s3/protocol/policy-variables.ts';
import type { PolicyTemplate } from '../../../../src/cloud/s3/protocol/policy-variables.ts';
import { evaluatePolicy, isPublicPolicy, parseBucketPolicy } from '../../../../src/cloud/s3/protocol/policy.ts';
import type { PolicyRequest } from '../../../../src/cloud/s3/protocol/policy.ts';

const ALICE = { id: 'a'.repeat(64), name: 'alice' };
const BOB = { id: 'b'.repeat(64), name: 'bob' };

type Over = Partial<PolicyRequest> & { values?: Record<string, string> };

function policy(version: string | undefined, ...statements: object[]): string {
  return JSON.stringify(version === undefined ? { Statement: statements } : { Version: version, Statement: statements });
}

/** The request's context: a user's aws:username / aws:userid as the S3 application gives them. */
function request(over: Over = {}): PolicyRequest {
  const principal = 'principal' in over ? over.principal : BOB;
  const values: Record<string, string> = {
    ...(principal ? { 'aws:username': principal.name, 'aws:userid': principal.id, 'aws:principaltype': 'User' } : { 'aws:principaltype': 'Anonymous' }),
    ...over.values,
  };
  return {
    action: over.action ?? 's3:PutObject',
    resource: over.resource ?? 'arn:aws:s3:::photos/bob/a.jpg',
    principal,
    value: (k) => values[k],
  };
}

/** `bucket` null: a stored document (parsed without its bucket, as every node compiles one). */
function decide(text: string, over: Over = {}, bucket: string | null = 'photos'): 'Allow' | 'Deny' | undefined {
  return evaluatePolicy(parseBucketPolicy(text, bucket ?? undefined), request(over));
}

function malformed(text: string, message: string): void {
  assert.throws(
    () => parseBucketPolicy(text, 'photos'),
    (err: unknown) => err instanceof S3Error && err.code === 'MalformedPolicy' && err.status === 400 && err.message === message,
    `expected MalformedPolicy "${message}"`,
  );
}

function template(text: string): PolicyTemplate {
  const t = parseTemplate(text);
  assert.ok(typeof t !== 'string' && !('error' in t), `${text} is a template`);
  return t;
}

function resolve(text: string, values: Record<string, string>): string | undefined {
  return resolveTemplate(template(text), (k) => values[k])?.text;
}

const home = { Effect: 'Allow', Principal: '*', Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:aws:s3:::photos/${aws:username}/*' };

describe('policy variables: syntax', () => {
  test('keys, defaults, escapes; plain text stays text', () => {
    assert.equal(parseTemplate('arn:aws:s3:::photos/*'), 'arn:aws:s3:::photos/*');
    assert.equal(parseTemplate('a $ b {c}'), 'a $ b {c}');
    assert.deepEqual(template('x/${aws:username}/y').parts, [
      { text: 'x/', wildcards: true },
      { key: 'aws:username', fallback: undefined },
      { text: '/y', wildcards: true },
    ]);
    // Keys are case-insensitive up to the first '/', a tag key keeps its case.
    assert.deepEqual(template('${AWS:UserName}${s3:ExistingObjectTag/Owner}').parts, [
      { key: 'aws:username', fallback: undefined },
      { key: 's3:existingobjecttag/Owner', fallback: undefined },
    ]);
    assert.deepEqual(template("${ aws:username ,  'Guest' }").parts, [{ key: 'aws:username', fallback: 'Guest' }]);
    assert.deepEqual(template("${aws:username,'it''s'}").parts, [{ key: 'aws:username', fallback: "it's" }]);
    assert.deepEqual(template("${aws:username, ''}").parts, [{ key: 'aws:username', fallback: '' }]);
    assert.deepEqual(template("${aws:username, 'a}b, c'}").parts, [{ key: 'aws:username', fallback: 'a}b, c' }]);
    assert.deepEqual(template('${*}${?}${$}').parts, [
      { text: '*', wildcards: false },
      { text: '?', wildcards: false },
      { text: '$', wildcards: false },
    ]);
  });

  test('malformed variables are reported', () => {
    for (const bad of ['${aws:username', '${}', '${ }', '${username}', '${aws:user{name}', "${aws:username, guest}", "${aws:username, 'guest}", "${aws:username, 'a' b}", '${aws:username,}', '${*']) {
      const t = parseTemplate(bad);
      assert.ok(typeof t !== 'string' && 'error' in t, `${bad} is refused`);
    }
  });

  test('resolution: values, defaults, a missing value, one pass', () => {
    assert.equal(resolve('home/${aws:username}/', { 'aws:username': 'bob' }), 'home/bob/');
    assert.equal(resolve('home/${aws:username}/', {}), undefined);
    assert.equal(resolve("home/${aws:username, 'guest'}/", {}), 'home/guest/');
    assert.equal(resolve("home/${aws:username, 'guest'}/", { 'aws:username': 'bob' }), 'home/bob/');
    assert.equal(resolve("${aws:username, '${aws:userid}'}", { 'aws:userid': 'x' }), '${aws:userid}');
    assert.equal(resolve('${s3:prefix}', { 's3:prefix': '${aws:username}' }), '${aws:username}');
    assert.equal(resolve('${$}{aws:username}', { 'aws:username': 'bob' }), '${aws:username}');
  });

  test("a variable's value and the escapes are characters, never wildcards", () => {
    const r = resolveTemplate(template('a/${s3:prefix}/${*}/*'), (k) => (k === 's3:prefix' ? 'x*?' : undefined))!;
    assert.equal(r.text, 'a/x*?/*/*');
    assert.ok(globMatch(r.text, 'a/x*?/*/anything', r.literal));
    assert.ok(!globMatch(r.text, 'a/xyz/*/anything', r.literal));
    assert.ok(!globMatch(r.text, 'a/x*?/q/anything', r.literal));
    assert.ok(globMatch(r.text, 'a/xyz/q/anything')); // without the mask every * is a wildcard
  });
});

describe('policy variables: evaluation', () => {
  test('a home folder per user: arn:aws:s3:::photos/${aws:username}/*', () => {
    const text = policy('2012-10-17', home);
    assert.equal(decide(text), 'Allow');
    assert.equal(decide(text, { resource: 'arn:aws:s3:::photos/alice/a.jpg' }), undefined);
    assert.equal(decide(text, { principal: ALICE, resource: 'arn:aws:s3:::photos/alice/a.jpg' }), 'Allow');
    assert.equal(decide(text, { resource: 'arn:aws:s3:::photos/bob' }), undefined);
    // Anonymous requests have no aws:username: the resource matches nothing.
    assert.equal(decide(text, { principal: undefined }), undefined);
    assert.equal(decide(text, { principal: undefined, resource: 'arn:aws:s3:::photos/${aws:username}/a' }), undefined);
    // The name is matched as it is (case-sensitive, as resources are).
    assert.equal(decide(text, { resource: 'arn:aws:s3:::photos/Bob/a.jpg' }), undefined);
  });

  test('with 2008-10-17 or no Version, variables are text', () => {
    for (const version of ['2008-10-17', undefined]) {
      const text = policy(version, home);
      assert.equal(decide(text), undefined);
      assert.equal(decide(text, { resource: 'arn:aws:s3:::photos/${aws:username}/a.jpg' }), 'Allow');
      // ${*} is the text '${', then a wildcard, then '}'.
      const star = policy(version, { ...home, Resource: 'arn:aws:s3:::photos/${*}' });
      assert.equal(decide(star, { resource: 'arn:aws:s3:::photos/${anything}' }), 'Allow');
      assert.equal(decide(star, { resource: 'arn:aws:s3:::photos/*' }), undefined);
      // Malformed variables are text as well.
      assert.equal(decide(policy(version, { ...home, Resource: 'arn:aws:s3:::photos/${oops' })), undefined);
    }
  });

  test('${*}, ${?} and ${$} match those characters only', () => {
    const star = policy('2012-10-17', { ...home, Resource: 'arn:aws:s3:::photos/${*}' });
    assert.equal(decide(star, { resource: 'arn:aws:s3:::photos/*' }), 'Allow');
    assert.equal(decide(star, { resource: 'arn:aws:s3:::photos/x' }), undefined);
    const question = policy('2012-10-17', { ...home, Resource: 'arn:aws:s3:::photos/why${?}/*' });
    assert.equal(decide(question, { resource: 'arn:aws:s3:::photos/why?/x' }), 'Allow');
    assert.equal(decide(question, { resource: 'arn:aws:s3:::photos/whys/x' }), undefined);
    const dollar = policy('2012-10-17', { ...home, Resource: 'arn:aws:s3:::photos/${$}{aws:username}/*' });
    assert.equal(decide(dollar, { resource: 'arn:aws:s3:::photos/${aws:username}/x' }), 'Allow');
    assert.equal(decide(dollar, { resource: 'arn:aws:s3:::photos/bob/x' }), undefined);
  });

  test("a default stands in for a missing value: ${aws:username, 'anonymous'}", () => {
    const text = policy('2012-10-17', { ...home, Resource: "arn:aws:s3:::photos/${aws:username, 'anonymous'}/*" });
    assert.equal(decide(text, { principal: undefined, resource: 'arn:aws:s3:::photos/anonymous/x' }), 'Allow');
    assert.equal(decide(text, { principal: undefined }), undefined);
    assert.equal(decide(text), 'Allow');
    assert.equal(decide(text, { resource: 'arn:aws:s3:::photos/anonymous/x' }), undefined);
  });

  test('a value that cannot be resolved: Resource through another value only; NotResource does not match', () => {
    const both = policy('2012-10-17', { ...home, Resource: ['arn:aws:s3:::photos/${aws:username}/*', 'arn:aws:s3:::photos/public/*'] });
    assert.equal(decide(both, { principal: undefined, resource: 'arn:aws:s3:::photos/public/x' }), 'Allow');
    assert.equal(decide(both, { principal: undefined, resource: 'arn:aws:s3:::photos/bob/x' }), undefined);
    // Deny writes outside one's own folder.
    const outside = policy('2012-10-17', { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', NotResource: 'arn:aws:s3:::photos/${aws:username}/*' });
    assert.equal(decide(outside, { resource: 'arn:aws:s3:::photos/alice/x' }), 'Deny');
    assert.equal(decide(outside), undefined);
    // Anonymous: not known to be outside anything, so the Deny does not apply.
    assert.equal(decide(outside, { principal: undefined, resource: 'arn:aws:s3:::photos/alice/x' }), undefined);
    // A Null condition (or a default) says what anonymous requests get.
    const closed = policy('2012-10-17', { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::photos/*', Condition: { Null: { 'aws:username': 'true' } } });
    assert.equal(decide(closed, { principal: undefined }), 'Deny');
  });

  test('conditions: string and ARN operators take variables; unresolved values decide nothing', () => {
    const list = (condition: object, over: Over = {}): 'Allow' | 'Deny' | undefined =>
      decide(policy('2012-10-17', { Effect: 'Allow', Principal: '*', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::photos', Condition: condition }), {
        action: 's3:ListBucket',
        resource: 'arn:aws:s3:::photos',
        ...over,
      });
    const prefix = (p: string, over: Over = {}): Over => ({ ...over, values: { 's3:prefix': p, ...over.values } });
    // The documented ListBucket pattern: each user lists their own folder.
    assert.equal(list({ StringLike: { 's3:prefix': ['${aws:username}/*', '${aws:username}'] } }, prefix('bob/2024/')), 'Allow');
    assert.equal(list({ StringLike: { 's3:prefix': ['${aws:username}/*', '${aws:username}'] } }, prefix('bob')), 'Allow');
    assert.equal(list({ StringLike: { 's3:prefix': '${aws:username}/*' } }, prefix('alice/')), undefined);
    assert.equal(list({ StringLike: { 's3:prefix': '${aws:username}/*' } }, prefix('bob/', { principal: undefined })), undefined);
    assert.equal(list({ StringEquals: { 's3:prefix': 'home/${aws:username}/' } }, prefix('home/bob/')), 'Allow');
    assert.equal(list({ StringEquals: { 's3:prefix': 'home/${aws:username}/' } }, prefix('home/*/')), undefined);
    assert.equal(list({ StringEqualsIgnoreCase: { 's3:prefix': '${aws:username}' } }, prefix('BOB')), 'Allow');
    // A value from the request is literal inside StringLike: a '*' prefix is not a wildcard.
    assert.equal(list({ StringLike: { 's3:delimiter': '${s3:prefix}' } }, { values: { 's3:prefix': '*', 's3:delimiter': '/' } }), undefined);
    assert.equal(list({ StringLike: { 's3:delimiter': '${s3:prefix}' } }, { values: { 's3:prefix': '*', 's3:delimiter': '*' } }), 'Allow');
    // Negated operators: true only when known to differ from every value.
    assert.equal(list({ StringNotEquals: { 's3:prefix': '${aws:username}/' } }, prefix('alice/')), 'Allow');
    assert.equal(list({ StringNotEquals: { 's3:prefix': '${aws:username}/' } }, prefix('bob/')), undefined);
    assert.equal(list({ StringNotEquals: { 's3:prefix': '${aws:username}/' } }, prefix('alice/', { principal: undefined })), undefined);
    assert.equal(list({ StringNotLike: { 's3:prefix': ['${aws:username}/*', 'tmp/*'] } }, prefix('tmp/x', { principal: undefined })), undefined);
    assert.equal(list({ StringNotLike: { 's3:prefix': ['${aws:username}/*', 'tmp/*'] } }, prefix('x', { principal: undefined })), undefined);
    assert.equal(list({ StringNotLike: { 's3:prefix': ['${aws:username}/*', 'tmp/*'] } }, prefix('x')), 'Allow');
    // An absent condition key: as before (negated operators hold), whatever the values.
    assert.equal(list({ StringNotEquals: { 's3:prefix': '${aws:username}/' } }, { principal: undefined }), 'Allow');
    // ARN operators; the time variables; a tag's value.
    assert.equal(list({ ArnLike: { 'aws:SourceArn': 'arn:aws:iam::*:user/${aws:username}' } }, { values: { 'aws:sourcearn': 'arn:aws:iam::1:user/bob' } }), 'Allow');
    assert.equal(list({ ArnNotEquals: { 'aws:SourceArn': 'arn:aws:iam::1:user/${aws:username}' } }, { values: { 'aws:sourcearn': 'arn:aws:iam::1:user/bob' } }), undefined);
    assert.equal(list({ StringEquals: { 's3:x-amz-meta-stamp': '${aws:EpochTime}' } }, { values: { 'aws:epochtime': '1800000000', 's3:x-amz-meta-stamp': '1800000000' } }), 'Allow');
    assert.equal(list({ StringLike: { 's3:prefix': '${aws:CurrentTime}*' } }, { values: { 'aws:currenttime': '2026-12-03T06:00:00.000Z', 's3:prefix': '2026-12-03T06:00:00.000Z/' } }), 'Allow');
    assert.equal(list({ StringEquals: { 's3:prefix': '${s3:ExistingObjectTag/Owner}' } }, { values: { 's3:existingobjecttag/Owner': 'bob', 's3:prefix': 'bob' } }), 'Allow');
    assert.equal(list({ StringEquals: { 's3:prefix': '${s3:existingobjecttag/owner}' } }, { values: { 's3:existingobjecttag/Owner': 'bob', 's3:prefix': 'bob' } }), undefined);
    // Other operators' values are not templates: a variable there is not a number, a date, an address.
    malformed(policy('2012-10-17', { Effect: 'Allow', Principal: '*', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::photos', Condition: { NumericEquals: { 's3:max-keys': '${s3:max-keys}' } } }), 'Invalid Condition value for NumericEquals: s3:max-keys');
    // A variable in a condition key is not one (the key is absent).
    assert.equal(list({ StringEquals: { '${aws:username}': 'bob' } }, prefix('x')), undefined);
  });

  test('a variable in a condition value does not fix a restricting key (GetBucketPolicyStatus)', () => {
    const pub = (condition: object): boolean =>
      isPublicPolicy(parseBucketPolicy(policy('2012-10-17', { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::photos/*', Condition: condition }), 'photos'));
    assert.ok(!pub({ StringEquals: { 'aws:username': 'bob' } }));
    assert.ok(pub({ StringEquals: { 'aws:username': '${aws:username}' } }));
    assert.ok(pub({ StringEquals: { 'aws:userid': ["${aws:userid, 'x'}"] } }));
  });

  test('malformed variables: MalformedPolicy on PutBucketPolicy, text in a stored document', () => {
    malformed(policy('2012-10-17', { ...home, Resource: 'arn:aws:s3:::photos/${aws:username/*' }), 'Invalid policy variable in Resource arn:aws:s3:::photos/${aws:username/*: a ${ without its closing }');
    malformed(policy('2012-10-17', { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', NotResource: 'arn:aws:s3:::photos/${user}/*' }), 'Invalid policy variable in NotResource arn:aws:s3:::photos/${user}/*: ${user} does not name a condition key');
    malformed(
      policy('2012-10-17', { ...home, Resource: 'arn:aws:s3:::photos/*', Condition: { StringLike: { 's3:prefix': "${aws:username, guest}" } } }),
      "Invalid policy variable in Condition StringLike s3:prefix: the default value of ${aws:username, …} must be in single quotes",
    );
    // A stored document (parsed without its bucket) reads it as text, as before variables.
    const stored = policy('2012-10-17', { ...home, Resource: 'arn:aws:s3:::photos/${aws:username/*' });
    assert.equal(decide(stored, { resource: 'arn:aws:s3:::photos/${aws:username/x' }, null), 'Allow');
    assert.equal(decide(stored, {}, null), undefined);
  });
});

describe('actions must apply to the statement resources', () => {
  const NOT_APPLY = 'Action does not apply to any resource(s) in statement';
  const st = (Action: unknown, Resource: unknown): string => policy('2012-10-17', { Effect: 'Allow', Principal: '*', Action, Resource });
  const accepted = (text: string): void => assert.equal(parseBucketPolicy(text, 'photos').statements.length, 1);

  test('object actions need an object resource, bucket actions the bucket', () => {
    malformed(st('s3:GetObject', 'arn:aws:s3:::photos'), NOT_APPLY);
    malformed(st(['s3:GetObject', 's3:PutObject'], 'arn:aws:s3:::photos'), NOT_APPLY);
    malformed(st('s3:ListBucket', 'arn:aws:s3:::photos/*'), NOT_APPLY);
    malformed(st(['s3:GetObject', 's3:ListBucket'], 'arn:aws:s3:::photos/*'), NOT_APPLY);
    malformed(st(['s3:GetObject', 's3:ListBucket'], 'arn:aws:s3:::photos'), NOT_APPLY);
    malformed(st('s3:AbortMultipartUpload', 'arn:aws:s3:::photos'), NOT_APPLY);
    malformed(st('s3:ListMultipartUploadParts', 'arn:aws:s3:::photos'), NOT_APPLY);
    malformed(st('s3:ListBucketMultipartUploads', 'arn:aws:s3:::photos/*'), NOT_APPLY);
    malformed(st('s3:PutBucketObjectLockConfiguration', 'arn:aws:s3:::photos/*'), NOT_APPLY);
    malformed(st('s3:PutObjectRetention', 'arn:aws:s3:::photos'), NOT_APPLY);
    malformed(st('s3:DeleteBucket', 'arn:aws:s3:::photos/x'), NOT_APPLY);
    malformed(st('s3:GetObject', 'arn:aws:s3:::phot?s'), NOT_APPLY);
    malformed(st('s3:ListAllMyBuckets', ['arn:aws:s3:::photos', 'arn:aws:s3:::photos/*']), NOT_APPLY);
    accepted(st('s3:GetObject', 'arn:aws:s3:::photos/*'));
    accepted(st('s3:GetObject', 'arn:aws:s3:::photos/a.jpg'));
    accepted(st('s3:ListBucket', 'arn:aws:s3:::photos'));
    accepted(st(['s3:GetObject', 's3:ListBucket'], ['arn:aws:s3:::photos', 'arn:aws:s3:::photos/*']));
    accepted(st('s3:DeleteBucket', 'arn:aws:s3:::pho*s'));
    // A '*' in the bucket part may reach into keys: both kinds apply.
    accepted(st(['s3:GetObject', 's3:ListBucket'], 'arn:aws:s3:::photos*'));
    accepted(st(['s3:GetObject', 's3:ListBucket'], 'arn:aws:s3:::*'));
  });

  test('a wildcard action applies if one of the actions it matches does', () => {
    accepted(st('s3:*', 'arn:aws:s3:::photos'));
    accepted(st('s3:*', 'arn:aws:s3:::photos/*'));
    accepted(st('*', 'arn:aws:s3:::photos/*'));
    accepted(st('s3:Get*', 'arn:aws:s3:::photos'));
    accepted(st('s3:Get*', 'arn:aws:s3:::photos/*'));
    accepted(st('s3:List*', 'arn:aws:s3:::photos/*')); // ListMultipartUploadParts
    accepted(st('s3:list*', 'arn:aws:s3:::photos')); // ListBucket
    malformed(st('s3:GetObject*', 'arn:aws:s3:::photos'), NOT_APPLY);
    malformed(st('s3:GetBucket*', 'arn:aws:s3:::photos/*'), NOT_APPLY);
    malformed(st('s3:ListAll*', 'arn:aws:s3:::*'), NOT_APPLY);
    malformed(st(['s3:Get*', 's3:PutBucket*'], 'arn:aws:s3:::photos/*'), NOT_APPLY);
  });

  test('resources with variables; NotAction and NotResource are not checked; stored documents are not re-checked', () => {
    accepted(st('s3:PutObject', 'arn:aws:s3:::photos/${aws:username}/*'));
    malformed(st('s3:ListBucket', 'arn:aws:s3:::photos/${aws:username}'), NOT_APPLY);
    accepted(policy('2012-10-17', { Effect: 'Deny', Principal: '*', NotAction: 's3:GetObject', Resource: 'arn:aws:s3:::photos' }));
    accepted(policy('2012-10-17', { Effect: 'Deny', Principal: '*', Action: 's3:GetObject', NotResource: 'arn:aws:s3:::photos' }));
    // The check applies to whatever Version.
    malformed(policy('2008-10-17', { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::photos' }), NOT_APPLY);
    // A document stored before the check still evaluates (its statement applies to nothing).
    const old = st('s3:GetObject', 'arn:aws:s3:::photos');
    assert.equal(evaluatePolicy(parseBucketPolicy(old), request({ action: 's3:GetObject', resource: 'arn:aws:s3:::photos/x' })), undefined);
  });
});
