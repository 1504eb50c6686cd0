/**
 * MFA delete through the AWS SDK over HTTPS on a 3-node ring: a virtual MFA device made with
 * `pi user mfa create`, MfaDelete set with the owner's code (and refused without it, with a wrong
 * one, or by another user), then permanent deletions of versions (DeleteObject, DeleteObjects)
 * and versioning changes needing the code while plain deletes (delete markers) do not; lifecycle
 * configurations refused on such a bucket; a replaced device's codes refused; MfaDelete disabled.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { base32Decode, totp } from '../../../src/cloud/s3/protocol/index.ts';
import { TOKEN } from '../../node/fixtures.ts';
import { runPi } from '../../helpers/pi-cli.ts';
import { runCleanups } from '../../helpers/cleanup.ts';
import { endpointCertificate, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node } from './harness.ts';

describe('S3 MFA delete through the AWS SDK over HTTPS on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let a: S3Client[];
  let b: S3Client[];
  let device: { serial: string; secret: string };

  /** `x-amz-mfa` with the current code of `d` (a step off with `stepOffset`). */
  function mfa(d = device, stepOffset = 0): string {
    return `${d.serial} ${totp(base32Decode(d.secret)!, Date.now() + stepOffset * 30_000)}`;
  }

  /**
   * `x-amz-mfa` with the current code of a new device (codes are good once, and the steps of a
   * 30 s window few): for a request that must get through.
   */
  async function freshMfa(): Promise<string> {
    device = await newDevice();
    return mfa();
  }

  async function newDevice(): Promise<{ serial: string; secret: string }> {
    const r = await runPi(['--json', 'user', 'mfa', 'create', 'alice', '--ops', nodes[1]!.ops!.url, '--token', TOKEN]);
    assert.equal(r.code, 0, r.err + r.out);
    const out = JSON.parse(r.out) as { serial: string; secret: string; uri: string };
    assert.match(out.uri, /^otpauth:\/\/totp\//);
    return out;
  }

  async function versionIds(key: string): Promise<string[]> {
    const listed = await a[0]!.send(new ListObjectVersionsCommand({ Bucket: 'guarded', Prefix: key }));
    return (listed.Versions ?? []).filter((v) => v.Key === key).map((v) => v.VersionId!);
  }

  before(async () => {
    const tls = await endpointCertificate((fn) => cleanups.push(fn));
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['guarded', 'with-rules'], tls });
    ({ nodes, aliceClients: a, bobClients: b } = fixture);
    device = await newDevice();
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('pi user show names the device; MfaDelete needs the owner and a valid code, good once', async () => {
    const shown = await runPi(['user', 'show', 'alice', '--ops', nodes[0]!.ops!.url, '--token', TOKEN]);
    assert.match(shown.out, new RegExp(`MFA device +${device.serial.replace(/[/.]/g, '\\$&')}`));
    const enable = (MFA?: string, client = a[0]!): Promise<unknown> =>
      client.send(new PutBucketVersioningCommand({ Bucket: 'guarded', VersioningConfiguration: { Status: 'Enabled', MFADelete: 'Enabled' }, ...(MFA !== undefined ? { MFA } : {}) }));
    const none = await s3failure(enable(), 'AccessDenied', 403);
    assert.equal(none.message, 'Mfa Authentication must be used for this request');
    const code = totp(base32Decode(device.secret)!, Date.now());
    const wrong = `${code.slice(0, 5)}${(Number(code[5]) + 1) % 10}`;
    const bad = await s3failure(enable(`${device.serial} ${wrong}`), 'AccessDenied', 403);
    assert.equal(bad.message, 'MultiFactorAuthentication failed with invalid MFA one time pass code.');
    await s3failure(enable(`arn:pi:iam:::mfa/someone ${code}`), 'AccessDenied', 403);
    await s3failure(enable(mfa(), b[0]!), 'AccessDenied', 403);
    await s3failure(enable(`${device.serial}`), 'InvalidArgument', 400);
    // A code one step old still counts (clocks drift, people type).
    await enable(mfa(device, -1));
    // A code is good once, and none older than the last one used (RFC 6238 §5.2).
    const once = mfa();
    await enable(once);
    const replayed = await s3failure(enable(once), 'AccessDenied', 403);
    assert.equal(replayed.message, 'MultiFactorAuthentication failed with invalid MFA one time pass code.');
    await s3failure(enable(mfa(device, -1)), 'AccessDenied', 403);
    for (const c of a) {
      const got = await c.send(new GetBucketVersioningCommand({ Bucket: 'guarded' }));
      assert.deepEqual([got.Status, got.MFADelete], ['Enabled', 'Enabled']);
    }
  });

  test('deleting a version takes the code; a delete marker does not', async () => {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'guarded', Key: 'doc', Body: 'one' }));
    await a[1]!.send(new PutObjectCommand({ Bucket: 'guarded', Key: 'doc', Body: 'two' }));
    const [newest, oldest] = await versionIds('doc');
    assert.ok(newest !== undefined && oldest !== undefined);
    const marker = await a[2]!.send(new DeleteObjectCommand({ Bucket: 'guarded', Key: 'doc' }));
    assert.equal(marker.DeleteMarker, true, 'a plain delete writes a marker, no code needed');
    await s3failure(a[0]!.send(new DeleteObjectCommand({ Bucket: 'guarded', Key: 'doc', VersionId: oldest })), 'AccessDenied', 403);
    await s3failure(b[0]!.send(new DeleteObjectCommand({ Bucket: 'guarded', Key: 'doc', VersionId: oldest, MFA: mfa() })), 'AccessDenied', 403);
    assert.deepEqual(await versionIds('doc'), [newest, oldest], 'nothing deleted');
    // Every node knows at once (the setting was made through node 0; this asks node 2).
    await s3failure(a[2]!.send(new DeleteObjectCommand({ Bucket: 'guarded', Key: 'doc', VersionId: oldest })), 'AccessDenied', 403);
    await a[1]!.send(new DeleteObjectCommand({ Bucket: 'guarded', Key: 'doc', VersionId: oldest, MFA: await freshMfa() }));
    assert.deepEqual(await versionIds('doc'), [newest]);
  });

  test('DeleteObjects naming versions takes one code for the request; without versions it needs none', async () => {
    for (const key of ['x', 'y']) await a[0]!.send(new PutObjectCommand({ Bucket: 'guarded', Key: key, Body: key }));
    const objects = [{ Key: 'x', VersionId: (await versionIds('x'))[0]! }, { Key: 'y', VersionId: (await versionIds('y'))[0]! }];
    await s3failure(a[2]!.send(new DeleteObjectsCommand({ Bucket: 'guarded', Delete: { Objects: objects } })), 'AccessDenied', 403);
    assert.equal((await versionIds('x')).length, 1, 'the whole request refused');
    const out = await a[2]!.send(new DeleteObjectsCommand({ Bucket: 'guarded', Delete: { Objects: objects }, MFA: await freshMfa() }));
    assert.deepEqual(out.Deleted?.map((d) => d.Key).sort(), ['x', 'y']);
    assert.deepEqual([...(await versionIds('x')), ...(await versionIds('y'))], []);
    const plain = await a[0]!.send(new DeleteObjectsCommand({ Bucket: 'guarded', Delete: { Objects: [{ Key: 'z' }] } }));
    assert.equal(plain.Deleted?.[0]?.DeleteMarker, true);
  });

  test('lifecycle and MFA delete exclude each other; versioning changes take the code', async () => {
    const rules = { Rules: [{ ID: 'r', Status: 'Enabled' as const, Filter: { Prefix: 'tmp/' }, Expiration: { Days: 1 } }] };
    await s3failure(a[0]!.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'guarded', LifecycleConfiguration: rules })), 'InvalidRequest', 400);
    await a[0]!.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'with-rules', LifecycleConfiguration: rules }));
    await s3failure(
      a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'with-rules', VersioningConfiguration: { Status: 'Enabled', MFADelete: 'Enabled' }, MFA: await freshMfa() })),
      'InvalidRequest',
      400,
    );
    await s3failure(a[1]!.send(new PutBucketVersioningCommand({ Bucket: 'guarded', VersioningConfiguration: { Status: 'Suspended' } })), 'AccessDenied', 403);
    await a[1]!.send(new PutBucketVersioningCommand({ Bucket: 'guarded', VersioningConfiguration: { Status: 'Suspended' }, MFA: await freshMfa() }));
    // Read through the node that made the change (others may hold the record for s3.cacheMs).
    const got = await a[1]!.send(new GetBucketVersioningCommand({ Bucket: 'guarded' }));
    assert.deepEqual([got.Status, got.MFADelete], ['Suspended', 'Enabled'], 'MfaDelete stays as it was');
  });

  test("a replaced device's codes stop working; MfaDelete Disabled lifts the requirement", async () => {
    const old = device;
    device = await newDevice();
    const enable = (MFA: string): Promise<unknown> => a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'guarded', VersioningConfiguration: { Status: 'Enabled' }, MFA }));
    await s3failure(enable(mfa(old)), 'AccessDenied', 403);
    await enable(mfa());
    await a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'guarded', VersioningConfiguration: { Status: 'Enabled', MFADelete: 'Disabled' }, MFA: await freshMfa() }));
    const got = await a[0]!.send(new GetBucketVersioningCommand({ Bucket: 'guarded' }));
    assert.deepEqual([got.Status, got.MFADelete], ['Enabled', 'Disabled']);
    await a[0]!.send(new PutObjectCommand({ Bucket: 'guarded', Key: 'free', Body: '1' }));
    await a[0]!.send(new DeleteObjectCommand({ Bucket: 'guarded', Key: 'free', VersionId: (await versionIds('free'))[0]! }));
    assert.deepEqual(await versionIds('free'), []);
    const removed = await runPi(['user', 'mfa', 'delete', 'alice', '--ops', nodes[2]!.ops!.url, '--token', TOKEN]);
    assert.equal(removed.code, 0, removed.err);
    await s3failure(a[0]!.send(new PutBucketVersioningCommand({ Bucket: 'guarded', VersioningConfiguration: { Status: 'Enabled', MFADelete: 'Enabled' }, MFA: mfa() })), 'AccessDenied', 403);
  });
});
