/**
 * Requester Pays through the AWS SDK on a 3-node ring: PutBucketRequestPayment and
 * GetBucketRequestPayment (the owner's; a malformed document), and what the setting does to other
 * users' requests — refused unless they say they pay (`RequestPayer: requester`), answered with
 * `x-amz-request-charged` when they do, anonymous requests refused, the owner unaffected, a copy
 * out of the bucket checked as a read of it — and turning it off again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetBucketRequestPaymentCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutBucketRequestPaymentCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { waitFor } from '../../helpers/wait.ts';
import { bytes, putXmlDocument, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

describe('S3 Requester Pays through the AWS SDK on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let a: S3Client[];
  let b: S3Client[];
  let anon: S3Client;

  /**
   * Waits until bob's unpaid GetObject gets `refused` (true) or not on every node: the setting
   * reaches other nodes' caches of the bucket record within s3.cacheMs.
   */
  async function everywhere(refused: boolean): Promise<void> {
    for (const client of b) {
      await waitFor(
        () =>
          client.send(new GetObjectCommand({ Bucket: 'shared', Key: 'data.txt' })).then(
            async (out) => {
              await bytes(out.Body); // an unread body would hold its connection
              return !refused;
            },
            (err: { name?: string }) => refused && err.name === 'AccessDenied',
          ),
        { timeoutMs: 10_000, what: `bob ${refused ? 'refused' : 'served'} on every node` },
      );
    }
  }

  async function payer(client = a[1]!): Promise<string | undefined> {
    return (await client.send(new GetBucketRequestPaymentCommand({ Bucket: 'shared' }))).Payer;
  }

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['shared'] });
    ({ nodes, alice, aliceClients: a, bobClients: b } = fixture);
    anon = fixture.anonymousClients[2]!;
    await a[0]!.send(new PutBucketAclCommand({ Bucket: 'shared', ACL: 'public-read' }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'shared', Key: 'data.txt', Body: 'shared data', ACL: 'public-read' }));
    await b[0]!.send(new CreateBucketCommand({ Bucket: 'bobs' }));
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('the configuration: BucketOwner by default, set and read by the owner only, malformed documents refused', async () => {
    assert.equal(await payer(), 'BucketOwner');
    await s3failure(b[1]!.send(new PutBucketRequestPaymentCommand({ Bucket: 'shared', RequestPaymentConfiguration: { Payer: 'Requester' } })), 'AccessDenied', 403);
    await s3failure(b[2]!.send(new GetBucketRequestPaymentCommand({ Bucket: 'shared' })), 'AccessDenied', 403);
    const doc = (inner: string): string => `<RequestPaymentConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</RequestPaymentConfiguration>`;
    for (const bad of [doc('<Payer>Someone</Payer>'), doc(''), doc('<Payer>Requester</Payer><Payer>Requester</Payer>')]) {
      assert.equal((await putXmlDocument(nodes[2]!.endpoint, alice, '/shared', 'requestPayment', bad)).code, 'MalformedXML', bad);
    }
    assert.equal(await payer(), 'BucketOwner', 'nothing changed');
  });

  test('Requester: other users must say they pay, are told they were charged; anonymous refused; the owner unaffected', async () => {
    // Before: the public-read object is anyone's to read.
    assert.equal((await bytes((await b[1]!.send(new GetObjectCommand({ Bucket: 'shared', Key: 'data.txt' }))).Body)).toString(), 'shared data');
    await a[0]!.send(new PutBucketRequestPaymentCommand({ Bucket: 'shared', RequestPaymentConfiguration: { Payer: 'Requester' } }));
    assert.equal(await payer(a[2]!), 'Requester');
    await everywhere(true);

    await s3failure(b[1]!.send(new GetObjectCommand({ Bucket: 'shared', Key: 'data.txt' })), 'AccessDenied', 403);
    await s3failure(b[2]!.send(new HeadObjectCommand({ Bucket: 'shared', Key: 'data.txt' })), undefined, 403);
    await s3failure(b[0]!.send(new ListObjectsV2Command({ Bucket: 'shared' })), 'AccessDenied', 403);
    await s3failure(anon.send(new GetObjectCommand({ Bucket: 'shared', Key: 'data.txt', RequestPayer: 'requester' })), 'AccessDenied', 403);

    const paid = await b[1]!.send(new GetObjectCommand({ Bucket: 'shared', Key: 'data.txt', RequestPayer: 'requester' }));
    assert.equal((await bytes(paid.Body)).toString(), 'shared data');
    assert.equal(paid.RequestCharged, 'requester');
    const listed = await b[2]!.send(new ListObjectsV2Command({ Bucket: 'shared', RequestPayer: 'requester' }));
    assert.deepEqual(listed.Contents?.map((o) => o.Key), ['data.txt']);
    assert.equal(listed.RequestCharged, 'requester');
    // The setting gives no right: a user who may not write still may not, paying or not.
    await s3failure(b[1]!.send(new PutObjectCommand({ Bucket: 'shared', Key: 'bob.txt', Body: 'x', RequestPayer: 'requester' })), 'AccessDenied', 403);

    // The owner pays for its own requests: no header needed, none answered.
    const own = await a[2]!.send(new GetObjectCommand({ Bucket: 'shared', Key: 'data.txt' }));
    assert.equal((await bytes(own.Body)).toString(), 'shared data');
    assert.equal(own.RequestCharged, undefined);
  });

  test('a copy out of a Requester Pays bucket is a read of it: the copier must say it pays', async () => {
    await s3failure(b[0]!.send(new CopyObjectCommand({ Bucket: 'bobs', Key: 'copy.txt', CopySource: 'shared/data.txt' })), 'AccessDenied', 403);
    await b[0]!.send(new CopyObjectCommand({ Bucket: 'bobs', Key: 'copy.txt', CopySource: 'shared/data.txt', RequestPayer: 'requester' }));
    assert.equal((await bytes((await b[1]!.send(new GetObjectCommand({ Bucket: 'bobs', Key: 'copy.txt' }))).Body)).toString(), 'shared data');
  });

  test('BucketOwner again: other users read without saying anything', async () => {
    await a[1]!.send(new PutBucketRequestPaymentCommand({ Bucket: 'shared', RequestPaymentConfiguration: { Payer: 'BucketOwner' } }));
    assert.equal(await payer(a[0]!), 'BucketOwner');
    await everywhere(false);
    const got = await b[2]!.send(new GetObjectCommand({ Bucket: 'shared', Key: 'data.txt' }));
    assert.equal((await bytes(got.Body)).toString(), 'shared data');
    assert.equal(got.RequestCharged, undefined);
  });
});
