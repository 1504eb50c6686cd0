/**
 * S3 bucket policies through the AWS SDK on a 3-node loopback ring, with the bucket owner
 * (alice), another user (bob) and anonymous requests: PutBucketPolicy / GetBucketPolicy /
 * DeleteBucketPolicy / GetBucketPolicyStatus (the owner's only, and never locked out), every
 * MalformedPolicy error, and what policies do to the operations: a public GetObject on a prefix,
 * an explicit Deny overriding both an ACL grant and ownership, a Deny of PutObject without a given
 * x-amz-acl, an s3:prefix condition on ListBucket, NotPrincipal / NotAction, DeleteObjects key by
 * key, CopyObject's source, POST uploads, tagging, and bucket-level actions granted by a policy.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketPolicyCommand,
  GetBucketPolicyStatusCommand,
  GetBucketTaggingCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { bytes, rawRequest, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { waitFor } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

describe('S3 bucket policies through the AWS SDK on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let bob: TestUser;
  /** Alice's client on each node. */
  let a: S3Client[];
  /** Bob's client on each node. */
  let b: S3Client[];
  /** Anonymous clients on each node. */
  let anon: S3Client[];

  async function read(client: S3Client, bucket: string, key: string): Promise<string> {
    return (await bytes((await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body)).toString();
  }

  function policy(bucket: string, ...statements: object[]): string {
    return JSON.stringify({ Version: '2012-10-17', Statement: statements.map((s) => ({ Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`], ...s })) });
  }

  async function putPolicy(bucket: string, text: string, client = a[0]!): Promise<void> {
    const out = await client.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: text }));
    assert.equal(out.$metadata.httpStatusCode, 204);
  }

  /** Waits until `client` is refused (`AccessDenied`): a policy change reaches other nodes' caches within cacheMs. */
  async function refusedSoon(what: string, send: () => Promise<unknown>): Promise<void> {
    await waitFor(
      async () => {
        try {
          await send();
          return false;
        } catch (err) {
          return (err as { name?: string }).name === 'AccessDenied' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403;
        }
      },
      { timeoutMs: 10_000, what },
    );
  }

  before(async () => {
    ({ nodes, alice, bob, aliceClients: a, bobClients: b, anonymousClients: anon } = await startS3Fixture((fn) => cleanups.push(fn)));
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('Put / Get / Delete / status: the document as stored, 204s, NoSuchBucketPolicy; the owner only', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'managed' }));
    await s3failure(a[1]!.send(new GetBucketPolicyCommand({ Bucket: 'managed' })), 'NoSuchBucketPolicy', 404);
    await s3failure(a[1]!.send(new GetBucketPolicyStatusCommand({ Bucket: 'managed' })), 'NoSuchBucketPolicy', 404);
    assert.equal((await a[2]!.send(new DeleteBucketPolicyCommand({ Bucket: 'managed' }))).$metadata.httpStatusCode, 204);
    // Stored and returned byte for byte, whitespace included.
    const text = `{\n  "Version": "2012-10-17",\n  "Id": "readers",\n  "Statement": {"Sid": "bob reads", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::${bob.id}:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::managed/*"}\n}`;
    await putPolicy('managed', text);
    assert.equal((await a[1]!.send(new GetBucketPolicyCommand({ Bucket: 'managed' }))).Policy, text);
    assert.equal((await a[2]!.send(new GetBucketPolicyStatusCommand({ Bucket: 'managed' }))).PolicyStatus?.IsPublic, false);
    // Others may not manage it, even when the policy allows them everything.
    await putPolicy('managed', policy('managed', { Effect: 'Allow', Principal: '*', Action: 's3:*' }));
    assert.equal((await a[0]!.send(new GetBucketPolicyStatusCommand({ Bucket: 'managed' }))).PolicyStatus?.IsPublic, true);
    await s3failure(b[0]!.send(new GetBucketPolicyCommand({ Bucket: 'managed' })), 'AccessDenied', 403);
    await s3failure(b[1]!.send(new PutBucketPolicyCommand({ Bucket: 'managed', Policy: text })), 'AccessDenied', 403);
    await s3failure(b[2]!.send(new DeleteBucketPolicyCommand({ Bucket: 'managed' })), 'AccessDenied', 403);
    await s3failure(anon[0]!.send(new GetBucketPolicyStatusCommand({ Bucket: 'managed' })), 'AccessDenied', 403);
    await s3failure(b[0]!.send(new GetBucketPolicyCommand({ Bucket: 'no-such-bucket' })), 'NoSuchBucket', 404);
    // The owner is never locked out of the policy, even by a Deny of everything to everyone.
    await putPolicy('managed', policy('managed', { Effect: 'Deny', Principal: '*', Action: 's3:*' }));
    await s3failure(a[0]!.send(new ListObjectsV2Command({ Bucket: 'managed' })), 'AccessDenied', 403);
    assert.match((await a[0]!.send(new GetBucketPolicyCommand({ Bucket: 'managed' }))).Policy ?? '', /"Deny"/);
    assert.equal((await a[0]!.send(new DeleteBucketPolicyCommand({ Bucket: 'managed' }))).$metadata.httpStatusCode, 204);
    await s3failure(a[0]!.send(new GetBucketPolicyCommand({ Bucket: 'managed' })), 'NoSuchBucketPolicy', 404);
    assert.equal((await a[0]!.send(new ListObjectsV2Command({ Bucket: 'managed' }))).KeyCount, 0);
    // Other methods on the sub-resources.
    for (const query of [{ policy: '' }, { policyStatus: '' }] as Record<string, string>[]) {
      const r = await rawRequest(nodes[0]!.endpoint, alice, { method: 'POST', path: '/managed', query });
      assert.equal(r.status, 405);
      assert.match(r.body.toString(), /<Code>MethodNotAllowed<\/Code>/);
    }
  });

  test('every MalformedPolicy error, with S3 messages; nothing stored', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'strict' }));
    const ok = { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::strict/*' };
    const doc = (...s: object[]): string => JSON.stringify({ Version: '2012-10-17', Statement: s });
    const cases: [string, string][] = [
      ['"just a string"', "Policies must be valid JSON and the first byte must be '{'"],
      ['{"Version": "2012-10-17", "Statement": [', 'This policy contains invalid Json'],
      ['{"Version": "2012-10-17"}', 'Missing required field Statement'],
      ['{"Version": "2012-10-17", "Statement": []}', 'Could not parse the policy: Statement is empty!'],
      [JSON.stringify({ Version: '2001-01-01', Statement: [ok] }), 'The policy must contain a valid version string'],
      [doc({ ...ok, Effect: 'Permit' }), 'Invalid effect: Permit'],
      [doc({ ...ok, Action: 's3:GetObjects' }), 'Policy has invalid action'],
      [doc({ ...ok, Action: 'iam:PassRole' }), 'Policy has invalid action'],
      [doc({ ...ok, Resource: 'arn:aws:s3:::another-bucket/*' }), 'Policy has invalid resource'],
      [doc({ ...ok, Resource: '*' }), 'Policy has invalid resource'],
      [doc({ ...ok, Principal: { AWS: 'nobody-here' } }), 'Invalid principal in policy'],
      [doc({ ...ok, Principal: { CanonicalUser: 'f'.repeat(64) } }), 'Invalid principal in policy'],
      [doc({ ...ok, Principal: { Federated: 'cognito-identity.amazonaws.com' } }), 'Invalid principal in policy'],
      [doc({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::strict/*' }), 'Missing required field Principal'],
      [doc({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject' }), 'Statement is missing required element'],
      [doc({ ...ok, Condition: { StringEqualsAnything: { 's3:prefix': 'x' } } }), 'Invalid Condition type : StringEqualsAnything'],
      [doc({ ...ok, Sid: 'same' }, { ...ok, Sid: 'same' }), 'Statement IDs (SID) in a single policy must be unique'],
      [doc(...Array.from({ length: 200 }, (_, i) => ({ ...ok, Sid: `statement-${i}-${'x'.repeat(80)}` }))), 'Policy exceeds the maximum allowed document size.'],
    ];
    for (const [text, message] of cases) {
      const err = await s3failure(a[1]!.send(new PutBucketPolicyCommand({ Bucket: 'strict', Policy: text })), 'MalformedPolicy', 400);
      assert.equal(err.message, message, text.slice(0, 120));
    }
    await s3failure(a[0]!.send(new GetBucketPolicyCommand({ Bucket: 'strict' })), 'NoSuchBucketPolicy', 404);
    // A user by name, by ARN and by canonical id: accepted.
    await putPolicy('strict', doc({ ...ok, Principal: { AWS: ['bob', 'arn:aws:iam::ignored:user/alice', bob.id], CanonicalUser: alice.id } }));
  });

  test('a policy granting everyone GetObject on a prefix: anonymous reads there, nowhere else; no listing', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'site' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'site', Key: 'public/index.html', Body: '<h1>hello</h1>' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'site', Key: 'drafts/next.html', Body: 'secret' }));
    await s3failure(anon[1]!.send(new GetObjectCommand({ Bucket: 'site', Key: 'public/index.html' })), 'AccessDenied', 403);
    await putPolicy('site', JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::site/public/*'] }] }));
    assert.equal((await a[0]!.send(new GetBucketPolicyStatusCommand({ Bucket: 'site' }))).PolicyStatus?.IsPublic, true);
    // An Allow counts at once on every node (a refusal is re-checked on a fresh record).
    for (const c of anon) assert.equal(await read(c, 'site', 'public/index.html'), '<h1>hello</h1>');
    assert.equal((await anon[2]!.send(new HeadObjectCommand({ Bucket: 'site', Key: 'public/index.html' }))).ContentLength, 14);
    assert.equal(await read(b[1]!, 'site', 'public/index.html'), '<h1>hello</h1>');
    await s3failure(anon[0]!.send(new GetObjectCommand({ Bucket: 'site', Key: 'drafts/next.html' })), 'AccessDenied', 403);
    await s3failure(b[0]!.send(new GetObjectCommand({ Bucket: 'site', Key: 'drafts/next.html' })), 'AccessDenied', 403);
    // Without s3:ListBucket a missing key is AccessDenied, not NoSuchKey (as S3 answers).
    await s3failure(anon[0]!.send(new GetObjectCommand({ Bucket: 'site', Key: 'public/missing.html' })), 'AccessDenied', 403);
    await s3failure(anon[0]!.send(new ListObjectsV2Command({ Bucket: 'site' })), 'AccessDenied', 403);
    await s3failure(anon[1]!.send(new PutObjectCommand({ Bucket: 'site', Key: 'public/defaced.html', Body: 'x' })), 'AccessDenied', 403);
    await s3failure(anon[1]!.send(new DeleteObjectCommand({ Bucket: 'site', Key: 'public/index.html' })), 'AccessDenied', 403);
    assert.equal(await read(a[2]!, 'site', 'drafts/next.html'), 'secret');
    // Deleting the policy ends it (through node 0; the others within cacheMs).
    await a[0]!.send(new DeleteBucketPolicyCommand({ Bucket: 'site' }));
    await s3failure(anon[0]!.send(new GetObjectCommand({ Bucket: 'site', Key: 'public/index.html' })), 'AccessDenied', 403);
    await refusedSoon('the deletion to reach node 2', () => anon[2]!.send(new GetObjectCommand({ Bucket: 'site', Key: 'public/index.html' })));
  });

  test('an explicit Deny overrides an ACL grant and ownership, for another user and for the owner', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'shared', GrantWrite: `id="${bob.id}"`, GrantRead: `id="${bob.id}"`, GrantFullControl: `id="${alice.id}"` }));
    await b[0]!.send(new PutObjectCommand({ Bucket: 'shared', Key: 'bob/notes.txt', Body: 'bob owns this' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'shared', Key: 'alice/doc.txt', Body: 'alice doc', ACL: 'authenticated-read' }));
    assert.equal(await read(b[0]!, 'shared', 'alice/doc.txt'), 'alice doc');
    await putPolicy(
      'shared',
      policy(
        'shared',
        { Sid: 'NoBob', Effect: 'Deny', Principal: { AWS: `arn:aws:iam::000000000000:user/bob` }, Action: ['s3:GetObject', 's3:PutObject'] },
        { Sid: 'NobodyDeletes', Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', Resource: 'arn:aws:s3:::shared/alice/*' },
      ),
    );
    // Through node 0, whose cache the policy write updated; then every node within cacheMs.
    await s3failure(b[0]!.send(new GetObjectCommand({ Bucket: 'shared', Key: 'alice/doc.txt' })), 'AccessDenied', 403); // ACL grant denied
    await s3failure(b[0]!.send(new GetObjectCommand({ Bucket: 'shared', Key: 'bob/notes.txt' })), 'AccessDenied', 403); // ownership denied
    await s3failure(b[0]!.send(new PutObjectCommand({ Bucket: 'shared', Key: 'bob/more.txt', Body: 'x' })), 'AccessDenied', 403); // bucket WRITE denied
    for (const c of b) await refusedSoon('the Deny to reach every node', () => c.send(new GetObjectCommand({ Bucket: 'shared', Key: 'bob/notes.txt' })));
    // What the Deny does not name still works: listing (READ grant), deleting his own object elsewhere.
    assert.equal((await b[1]!.send(new ListObjectsV2Command({ Bucket: 'shared' }))).KeyCount, 2);
    // The owner is denied too where a Deny names everyone.
    await s3failure(a[0]!.send(new DeleteObjectCommand({ Bucket: 'shared', Key: 'alice/doc.txt' })), 'AccessDenied', 403);
    assert.equal(await read(a[0]!, 'shared', 'bob/notes.txt'), 'bob owns this');
    // DeleteObjects is checked key by key.
    const out = await a[0]!.send(new DeleteObjectsCommand({ Bucket: 'shared', Delete: { Objects: [{ Key: 'alice/doc.txt' }, { Key: 'bob/notes.txt' }] } }));
    assert.deepEqual(out.Deleted?.map((d) => d.Key), ['bob/notes.txt']);
    assert.deepEqual(out.Errors?.map((e) => [e.Key, e.Code]), [['alice/doc.txt', 'AccessDenied']]);
    assert.equal(await read(a[0]!, 'shared', 'alice/doc.txt'), 'alice doc');
    // CopyObject reads its source under the source bucket's policy.
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'bob-copies', GrantWrite: `id="${bob.id}"` }));
    await s3failure(b[0]!.send(new CopyObjectCommand({ Bucket: 'bob-copies', Key: 'copy', CopySource: 'shared/alice/doc.txt' })), 'AccessDenied', 403);
  });

  test('a Deny of PutObject without x-amz-acl bucket-owner-full-control', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'dropbox', GrantWrite: `id="${bob.id}"`, GrantFullControl: `id="${alice.id}"` }));
    await putPolicy(
      'dropbox',
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Sid: 'RequireOwnerControl', Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:PutObject', Resource: 'arn:aws:s3:::dropbox/*', Condition: { StringNotEquals: { 's3:x-amz-acl': 'bucket-owner-full-control' } } }],
      }),
    );
    assert.equal((await a[0]!.send(new GetBucketPolicyStatusCommand({ Bucket: 'dropbox' }))).PolicyStatus?.IsPublic, false);
    await s3failure(b[0]!.send(new PutObjectCommand({ Bucket: 'dropbox', Key: 'report.csv', Body: 'a,b' })), 'AccessDenied', 403);
    await s3failure(b[0]!.send(new PutObjectCommand({ Bucket: 'dropbox', Key: 'report.csv', Body: 'a,b', ACL: 'private' })), 'AccessDenied', 403);
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'dropbox', Key: 'mine.csv', Body: 'a,b' })), 'AccessDenied', 403);
    await b[0]!.send(new PutObjectCommand({ Bucket: 'dropbox', Key: 'report.csv', Body: 'a,b', ACL: 'bucket-owner-full-control' }));
    assert.equal(await read(a[1]!, 'dropbox', 'report.csv'), 'a,b');
  });

  test('an s3:prefix condition on ListBucket', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'homes' }));
    for (const key of ['home/bob/a', 'home/bob/b', 'home/alice/c']) await a[0]!.send(new PutObjectCommand({ Bucket: 'homes', Key: key, Body: key }));
    await putPolicy(
      'homes',
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { AWS: 'bob' }, Action: 's3:ListBucket', Resource: 'arn:aws:s3:::homes', Condition: { StringLike: { 's3:prefix': ['home/bob/*'] } } },
          { Effect: 'Allow', Principal: { AWS: 'bob' }, Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:aws:s3:::homes/home/bob/*' },
        ],
      }),
    );
    const listed = await b[1]!.send(new ListObjectsV2Command({ Bucket: 'homes', Prefix: 'home/bob/' }));
    assert.deepEqual(listed.Contents?.map((c) => c.Key), ['home/bob/a', 'home/bob/b']);
    await s3failure(b[1]!.send(new ListObjectsV2Command({ Bucket: 'homes' })), 'AccessDenied', 403);
    await s3failure(b[1]!.send(new ListObjectsV2Command({ Bucket: 'homes', Prefix: 'home/alice/' })), 'AccessDenied', 403);
    await b[2]!.send(new PutObjectCommand({ Bucket: 'homes', Key: 'home/bob/new', Body: 'new' }));
    assert.equal(await read(b[2]!, 'homes', 'home/bob/new'), 'new');
    // A missing key: ListBucket is allowed only with the prefix condition, which a GetObject never meets.
    await s3failure(b[2]!.send(new GetObjectCommand({ Bucket: 'homes', Key: 'home/bob/missing' })), 'AccessDenied', 403);
    await s3failure(b[2]!.send(new PutObjectCommand({ Bucket: 'homes', Key: 'home/alice/x', Body: 'x' })), 'AccessDenied', 403);
  });

  test('NotPrincipal and NotAction', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'commons', ACL: 'public-read-write' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'commons', Key: 'keep', Body: 'keep' }));
    await putPolicy('commons', policy('commons', { Effect: 'Deny', NotPrincipal: { AWS: alice.id }, Action: 's3:DeleteObject' }));
    await s3failure(b[0]!.send(new DeleteObjectCommand({ Bucket: 'commons', Key: 'keep' })), 'AccessDenied', 403);
    await s3failure(anon[0]!.send(new DeleteObjectCommand({ Bucket: 'commons', Key: 'keep' })), 'AccessDenied', 403);
    await anon[0]!.send(new PutObjectCommand({ Bucket: 'commons', Key: 'anon-drop', Body: 'x' })); // the ACL still lets anyone write
    assert.equal((await a[0]!.send(new DeleteObjectCommand({ Bucket: 'commons', Key: 'anon-drop' }))).$metadata.httpStatusCode, 204);

    await a[0]!.send(new CreateBucketCommand({ Bucket: 'almost-all' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'almost-all', Key: 'x', Body: 'x', Tagging: 'team=blue' }));
    await putPolicy('almost-all', policy('almost-all', { Effect: 'Allow', Principal: { AWS: 'bob' }, NotAction: ['s3:DeleteObject', 's3:*Tagging'] }));
    assert.equal(await read(b[0]!, 'almost-all', 'x'), 'x');
    assert.equal((await b[0]!.send(new ListObjectsV2Command({ Bucket: 'almost-all' }))).KeyCount, 1);
    await b[0]!.send(new PutObjectCommand({ Bucket: 'almost-all', Key: 'y', Body: 'from bob' }));
    await s3failure(b[0]!.send(new DeleteObjectCommand({ Bucket: 'almost-all', Key: 'x' })), 'AccessDenied', 403);
    await s3failure(b[0]!.send(new GetObjectTaggingCommand({ Bucket: 'almost-all', Key: 'x' })), 'AccessDenied', 403);
    await s3failure(b[0]!.send(new PutBucketTaggingCommand({ Bucket: 'almost-all', Tagging: { TagSet: [{ Key: 'k', Value: 'v' }] } })), 'AccessDenied', 403);
    // A bucket-level action the policy allows (the bucket owner's by default): bob changes the ACL.
    await b[0]!.send(new PutBucketAclCommand({ Bucket: 'almost-all', ACL: 'public-read' }));
    assert.equal((await anon[0]!.send(new ListObjectsV2Command({ Bucket: 'almost-all' }))).KeyCount, 2);
  });

  test('POST uploads: the form is checked as a PutObject of its key, s3:x-amz-acl from its acl field', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'inbox', ACL: 'public-read-write' }));
    await putPolicy(
      'inbox',
      policy(
        'inbox',
        { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::inbox/closed/*' },
        { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::inbox/shared/*', Condition: { StringNotEquals: { 's3:x-amz-acl': 'public-read' } } },
      ),
    );
    const post = async (key: string, acl?: string): Promise<number> => {
      const form = new FormData();
      form.append('key', key);
      if (acl !== undefined) form.append('acl', acl);
      form.append('file', new Blob(['posted']), 'f.txt');
      const res = await fetch(`${nodes[0]!.endpoint}/inbox`, { method: 'POST', body: form });
      await res.arrayBuffer();
      return res.status;
    };
    assert.equal(await post('open/a'), 204);
    assert.equal(await post('closed/a'), 403);
    assert.equal(await post('shared/a'), 403);
    assert.equal(await post('shared/a', 'public-read'), 204);
    assert.equal(await read(anon[1]!, 'inbox', 'shared/a'), 'posted');
    assert.deepEqual((await a[0]!.send(new ListObjectsV2Command({ Bucket: 'inbox' }))).Contents?.map((c) => c.Key), ['open/a', 'shared/a']);
  });

  test('conditions on object tags and bucket tagging allowed by policy', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'tagged' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'tagged', Key: 'open', Body: 'open', Tagging: 'visibility=public' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'tagged', Key: 'closed', Body: 'closed', Tagging: 'visibility=private' }));
    await putPolicy(
      'tagged',
      policy(
        'tagged',
        { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Condition: { StringEquals: { 's3:ExistingObjectTag/visibility': 'public' } } },
        { Effect: 'Allow', Principal: { AWS: 'bob' }, Action: ['s3:GetBucketTagging', 's3:PutBucketTagging'] },
        { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Condition: { StringEquals: { 's3:RequestObjectTag/visibility': 'public' } } },
      ),
    );
    assert.equal(await read(anon[0]!, 'tagged', 'open'), 'open');
    await s3failure(anon[0]!.send(new GetObjectCommand({ Bucket: 'tagged', Key: 'closed' })), 'AccessDenied', 403);
    await b[0]!.send(new PutBucketTaggingCommand({ Bucket: 'tagged', Tagging: { TagSet: [{ Key: 'by', Value: 'bob' }] } }));
    assert.deepEqual((await b[1]!.send(new GetBucketTaggingCommand({ Bucket: 'tagged' }))).TagSet, [{ Key: 'by', Value: 'bob' }]);
    await s3failure(a[0]!.send(new PutObjectCommand({ Bucket: 'tagged', Key: 'new', Body: 'x', Tagging: 'visibility=public' })), 'AccessDenied', 403);
    await a[0]!.send(new PutObjectCommand({ Bucket: 'tagged', Key: 'new', Body: 'x', Tagging: 'visibility=private' }));
  });
});
