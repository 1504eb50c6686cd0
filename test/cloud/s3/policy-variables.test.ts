/**
 * Bucket policy variables and the action / resource check through the AWS SDK on a 3-node ring:
 * one policy giving every user a home folder (`arn:aws:s3:::shared/${aws:username}/*`, listing
 * under `s3:prefix` `${aws:username}/…`), a folder by canonical id (`${aws:userid}`) and by
 * address (`${aws:SourceIp}`), a default for anonymous requests (`${aws:username, 'anonymous'}`),
 * the `${*}` escape; the same document with Version 2008-10-17 (variables are text); and
 * PutBucketPolicy's MalformedPolicy for an action that applies to none of its resources and for a
 * malformed variable.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, DeleteObjectCommand, GetBucketPolicyCommand, GetObjectCommand, ListObjectsV2Command, PutBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { bytes, clientFor, createUser, s3failure, startS3Ring } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { waitFor } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

describe('S3 bucket policy variables through the AWS SDK on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let a: S3Client[];
  let b: S3Client[];
  let c: S3Client[];
  let anon: S3Client[];

  async function read(client: S3Client, bucket: string, key: string): Promise<string> {
    return (await bytes((await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body)).toString();
  }

  async function put(client: S3Client, bucket: string, key: string, body = key): Promise<void> {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  }

  async function putPolicy(bucket: string, document: object): Promise<void> {
    const out = await a[0]!.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(document) }));
    assert.equal(out.$metadata.httpStatusCode, 204);
  }

  const homes = (version: string): object => ({
    Version: version,
    Statement: [
      {
        Sid: 'ListOwnFolder',
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:ListBucket',
        Resource: 'arn:aws:s3:::shared',
        Condition: { StringLike: { 's3:prefix': ['${aws:username}/*', '${aws:username}'] } },
      },
      { Sid: 'OwnFolder', Effect: 'Allow', Principal: '*', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: 'arn:aws:s3:::shared/${aws:username}/*' },
      { Sid: 'ById', Effect: 'Allow', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::shared/by-id/${aws:userid}/*' },
      { Sid: 'ByAddress', Effect: 'Allow', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::shared/by-ip/${aws:SourceIp}/*' },
      { Sid: 'Guests', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: "arn:aws:s3:::shared/${aws:username, 'anonymous'}/*" },
      { Sid: 'Star', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::shared/star/${*}' },
    ],
  });

  before(async () => {
    nodes = await startS3Ring((fn) => cleanups.push(fn), 3);
    alice = await createUser(nodes[0]!, 'alice');
    bob = await createUser(nodes[1]!, 'bob');
    carol = await createUser(nodes[2]!, 'carol');
    a = nodes.map((n) => clientFor(n.endpoint, alice));
    b = nodes.map((n) => clientFor(n.endpoint, bob));
    c = nodes.map((n) => clientFor(n.endpoint, carol));
    anon = nodes.map((n) => clientFor(n.endpoint, undefined));
  });

  after(async () => {
    for (const client of [...a, ...b, ...c, ...anon]) client.destroy();
    await runCleanups(cleanups);
  });

  test('one policy, a home folder per user: each writes, reads, lists and deletes only under their own name', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'shared' }));
    await put(a[0]!, 'shared', 'anonymous/readme.txt', 'welcome');
    await put(a[0]!, 'shared', 'star/*', 'the star');
    await put(a[0]!, 'shared', 'star/x', 'not the star');
    // Before the policy, bob may not write (the bucket is alice's and private).
    await s3failure(b[1]!.send(new PutObjectCommand({ Bucket: 'shared', Key: 'bob/a.txt', Body: 'a' })), 'AccessDenied', 403);
    await putPolicy('shared', homes('2012-10-17'));

    // Each user in their own folder, through any node.
    await put(b[1]!, 'shared', 'bob/a.txt', 'from bob');
    await put(c[2]!, 'shared', 'carol/c.txt', 'from carol');
    assert.equal(await read(b[2]!, 'shared', 'bob/a.txt'), 'from bob');
    assert.equal(await read(c[0]!, 'shared', 'carol/c.txt'), 'from carol');
    // Not in someone else's.
    await s3failure(b[0]!.send(new PutObjectCommand({ Bucket: 'shared', Key: 'carol/b.txt', Body: 'b' })), 'AccessDenied', 403);
    await s3failure(c[1]!.send(new GetObjectCommand({ Bucket: 'shared', Key: 'bob/a.txt' })), 'AccessDenied', 403);
    await s3failure(c[1]!.send(new DeleteObjectCommand({ Bucket: 'shared', Key: 'bob/a.txt' })), 'AccessDenied', 403);
    // A folder named like the variable is not anyone's.
    await s3failure(b[0]!.send(new PutObjectCommand({ Bucket: 'shared', Key: '${aws:username}/x', Body: 'x' })), 'AccessDenied', 403);

    // Listing: only with a prefix in one's own folder (s3:prefix against ${aws:username}/*).
    const listed = await b[0]!.send(new ListObjectsV2Command({ Bucket: 'shared', Prefix: 'bob/' }));
    assert.deepEqual(listed.Contents?.map((o) => o.Key), ['bob/a.txt']);
    await s3failure(b[0]!.send(new ListObjectsV2Command({ Bucket: 'shared', Prefix: 'carol/' })), 'AccessDenied', 403);
    await s3failure(b[0]!.send(new ListObjectsV2Command({ Bucket: 'shared' })), 'AccessDenied', 403);
    await s3failure(anon[0]!.send(new ListObjectsV2Command({ Bucket: 'shared', Prefix: 'anonymous/' })), 'AccessDenied', 403);

    // By canonical id, by address (loopback here).
    await put(b[2]!, 'shared', `by-id/${bob.id}/x`);
    await s3failure(b[2]!.send(new PutObjectCommand({ Bucket: 'shared', Key: `by-id/${carol.id}/x`, Body: 'x' })), 'AccessDenied', 403);
    await put(c[1]!, 'shared', 'by-ip/127.0.0.1/x');
    await s3failure(c[1]!.send(new PutObjectCommand({ Bucket: 'shared', Key: 'by-ip/10.0.0.1/x', Body: 'x' })), 'AccessDenied', 403);

    // Anonymous requests have no aws:username: nothing of the home folders, the default folder only.
    await s3failure(anon[1]!.send(new PutObjectCommand({ Bucket: 'shared', Key: 'anonymous/x', Body: 'x' })), 'AccessDenied', 403);
    await s3failure(anon[1]!.send(new GetObjectCommand({ Bucket: 'shared', Key: 'bob/a.txt' })), 'AccessDenied', 403);
    assert.equal(await read(anon[2]!, 'shared', 'anonymous/readme.txt'), 'welcome');
    await s3failure(b[2]!.send(new GetObjectCommand({ Bucket: 'shared', Key: 'anonymous/readme.txt' })), 'AccessDenied', 403);
    // ${*} is a '*' in the key, not a wildcard.
    assert.equal(await read(anon[0]!, 'shared', 'star/*'), 'the star');
    await s3failure(anon[0]!.send(new GetObjectCommand({ Bucket: 'shared', Key: 'star/x' })), 'AccessDenied', 403);

    await b[1]!.send(new DeleteObjectCommand({ Bucket: 'shared', Key: 'bob/a.txt' }));
    assert.equal((await b[1]!.send(new ListObjectsV2Command({ Bucket: 'shared', Prefix: 'bob/' }))).KeyCount, 0);

    // The same document with Version 2008-10-17: variables are text, so bob's folder is no longer his.
    await putPolicy('shared', homes('2008-10-17'));
    await waitFor(
      async () => {
        try {
          await put(b[1]!, 'shared', 'bob/again.txt');
          return false;
        } catch (err) {
          return (err as { name?: string }).name === 'AccessDenied';
        }
      },
      { timeoutMs: 10_000, what: 'the 2008-10-17 policy on every node' },
    );
    await put(b[1]!, 'shared', '${aws:username}/literally');
  });

  test('PutBucketPolicy: actions that apply to none of the resources, malformed variables; nothing stored', async () => {
    await a[0]!.send(new CreateBucketCommand({ Bucket: 'checked' }));
    const doc = (s: object): string => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', ...s }] });
    const cases: [string, string][] = [
      [doc({ Action: 's3:GetObject', Resource: 'arn:aws:s3:::checked' }), 'Action does not apply to any resource(s) in statement'],
      [doc({ Action: 's3:ListBucket', Resource: 'arn:aws:s3:::checked/*' }), 'Action does not apply to any resource(s) in statement'],
      [doc({ Action: ['s3:GetObject', 's3:ListBucket'], Resource: 'arn:aws:s3:::checked/${aws:username}/*' }), 'Action does not apply to any resource(s) in statement'],
      [doc({ Action: 's3:GetObject', Resource: 'arn:aws:s3:::checked/${aws:username' }), 'Invalid policy variable in Resource arn:aws:s3:::checked/${aws:username: a ${ without its closing }'],
      [
        doc({ Action: 's3:ListBucket', Resource: 'arn:aws:s3:::checked', Condition: { StringLike: { 's3:prefix': '${aws:username, guest}/*' } } }),
        'Invalid policy variable in Condition StringLike s3:prefix: the default value of ${aws:username, …} must be in single quotes',
      ],
    ];
    for (const [text, message] of cases) {
      const err = await s3failure(a[1]!.send(new PutBucketPolicyCommand({ Bucket: 'checked', Policy: text })), 'MalformedPolicy', 400);
      assert.equal(err.message, message, text);
    }
    await s3failure(a[0]!.send(new GetBucketPolicyCommand({ Bucket: 'checked' })), 'NoSuchBucketPolicy', 404);
    // Wildcard actions apply when one of theirs does.
    const ok = doc({ Action: 's3:Get*', Resource: 'arn:aws:s3:::checked' });
    assert.equal((await a[2]!.send(new PutBucketPolicyCommand({ Bucket: 'checked', Policy: ok }))).$metadata.httpStatusCode, 204);
    assert.equal((await a[2]!.send(new GetBucketPolicyCommand({ Bucket: 'checked' }))).Policy, ok);
  });
});
