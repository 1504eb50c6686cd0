/**
 * The lifecycle of S3 users and access keys on a 3-node loopback ring, through the ops API and
 * the AWS SDK: rotation (a second key, both working, the old one disabled — refused on every
 * node within the cache bound while the new one works — enabled again, deleted), the limit of
 * two keys, the user registry (listing, paging, users made before it), user deletion (refused
 * while the user owns a bucket, also when the bucket appears during the deletion; allowed once
 * it is gone, after which its keys and canonical id are refused) and bad input with stable codes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, DeleteBucketCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { ids } from '../../../src/cloud/s3/model.ts';
import type { AccessKeyEntry, UserEntry } from '../../../src/cloud/s3/model.ts';
import { registerLocalUsers } from '../../../src/cloud/s3/user-registry.ts';
import { clientFor, createUser, s3failure, startS3Fixture } from './harness.ts';
import type { S3Fixture, TestUser } from './harness.ts';
import { call, waitFor } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

/** `s3.cacheMs` of the ring (the default): how long a node may keep accepting a revoked key. */
const CACHE_MS = 2000;
/** The deadline for "refused on every node": the bound, and a little more for a loaded machine. */
const REVOCATION_DEADLINE_MS = CACHE_MS + 1500;

describe('S3 users and access keys on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let f: S3Fixture;
  const clients: S3Client[] = [];
  /** An SDK client per node for `user` (destroyed after the tests). */
  const clientsFor = (user: TestUser): S3Client[] => {
    const made = f.nodes.map((n) => clientFor(n.endpoint, user));
    clients.push(...made);
    return made;
  };
  const ops = (i: number): string => f.nodes[i]!.ops!.url;
  /** Whether `client` is refused as S3 refuses an unknown key. */
  const refused = async (client: S3Client): Promise<boolean> => {
    try {
      await client.send(new ListBucketsCommand({}));
      return false;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      assert.equal(e.name, 'InvalidAccessKeyId', String(err));
      assert.equal(e.$metadata?.httpStatusCode, 403);
      return true;
    }
  };
  const works = async (client: S3Client): Promise<boolean> => (await client.send(new ListBucketsCommand({}))).$metadata.httpStatusCode === 200;

  before(async () => {
    f = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['alice-photos'] });
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await runCleanups(cleanups);
  });

  test('rotation: a second key, both work, the old one disabled (refused on every node within the bound), enabled, deleted; a third key is over the limit', async (t) => {
    const key1 = f.alice;
    const r = await call(ops(1), '/api/s3/users/alice/keys', { method: 'POST' });
    assert.equal(r.status, 201, r.text);
    const key2: TestUser = { name: 'alice', id: f.alice.id, accessKey: r.body['accessKey'] as string, secret: r.body['secret'] as string };
    assert.equal(r.body['status'], 'Active');
    assert.equal(r.body['id'], f.alice.id);
    assert.match(key2.accessKey, /^PI[A-Z2-7]{18}$/);
    assert.notEqual(key2.accessKey, key1.accessKey);
    const old = f.aliceClients;
    const fresh = clientsFor(key2);
    for (const c of [...old, ...fresh]) assert.ok(await works(c));
    // Both are alice: the new key sees her bucket and writes as her.
    assert.deepEqual((await fresh[2]!.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name), ['alice-photos']);
    await fresh[1]!.send(new PutObjectCommand({ Bucket: 'alice-photos', Key: 'by-key-2', Body: 'x' }));

    const shown = await call(ops(2), '/api/s3/users/alice');
    assert.equal(shown.status, 200, shown.text);
    const keys = shown.body['accessKeys'] as { accessKey: string; status: string; createdAt: number }[];
    assert.deepEqual(keys.map((k) => [k.accessKey, k.status]), [[key1.accessKey, 'Active'], [key2.accessKey, 'Active']]);
    assert.ok(keys.every((k) => typeof k.createdAt === 'number' && k.createdAt > 0));
    assert.ok(!shown.text.includes(key1.secret) && !shown.text.includes(key2.secret) && !/secret/i.test(shown.text), 'never a secret');

    // IAM's limit: two keys per user, whatever their status.
    const third = await call(ops(0), '/api/s3/users/alice/keys', { method: 'POST' });
    assert.equal(third.status, 409, third.text);
    assert.equal((third.body['error'] as { code: string }).code, 'LimitExceeded');
    assert.match((third.body['error'] as { message: string }).message, /alice.*2/);

    // Disable key 1 through node 2. Every node has it cached (the requests above).
    for (const c of old) assert.ok(await works(c));
    const disable = await call(ops(2), `/api/s3/users/alice/keys/${key1.accessKey}`, { method: 'POST', body: { status: 'Inactive' } });
    assert.equal(disable.status, 200, disable.text);
    assert.equal(disable.body['status'], 'Inactive');
    const disabledAt = Date.now();
    assert.ok(await refused(old[2]!), 'the node that made the change refuses the key at once');
    await waitFor(async () => (await Promise.all(old.map(refused))).every(Boolean), { timeoutMs: REVOCATION_DEADLINE_MS, intervalMs: 50, what: 'key 1 refused on every node' });
    t.diagnostic(`disabled key refused on every node ${Date.now() - disabledAt} ms after the change (bound: s3.cacheMs = ${CACHE_MS} ms)`);
    for (const c of fresh) assert.ok(await works(c), 'key 2 works meanwhile');
    assert.equal(((await call(ops(0), '/api/s3/users/alice')).body['accessKeys'] as { status: string }[])[0]!.status, 'Inactive');
    // Inactive keys still count against the limit.
    assert.equal((await call(ops(1), '/api/s3/users/alice/keys', { method: 'POST' })).status, 409);

    // Enabled again: works everywhere (nodes that read it Inactive see the change within the bound).
    const enable = await call(ops(0), `/api/s3/users/alice/keys/${key1.accessKey}`, { method: 'POST', body: { status: 'Active' } });
    assert.equal(enable.status, 200, enable.text);
    assert.ok(await works(old[0]!), 'at once on the node that made the change');
    await waitFor(async () => (await Promise.all(old.map(works))).every(Boolean), { timeoutMs: REVOCATION_DEADLINE_MS, intervalMs: 50, what: 'key 1 working again on every node' });

    // Deleted: refused everywhere within the bound; the user keeps key 2 alone.
    const del = await call(ops(1), `/api/s3/users/alice/keys/${key1.accessKey}`, { method: 'DELETE' });
    assert.equal(del.status, 200, del.text);
    const deletedAt = Date.now();
    assert.ok(await refused(old[1]!));
    await waitFor(async () => (await Promise.all(old.map(refused))).every(Boolean), { timeoutMs: REVOCATION_DEADLINE_MS, intervalMs: 50, what: 'deleted key 1 refused on every node' });
    t.diagnostic(`deleted key refused on every node ${Date.now() - deletedAt} ms after the change`);
    for (const c of fresh) assert.ok(await works(c));
    const after = await call(ops(2), '/api/s3/users/alice');
    assert.deepEqual((after.body['accessKeys'] as { accessKey: string }[]).map((k) => k.accessKey), [key2.accessKey]);
    const again = await call(ops(2), `/api/s3/users/alice/keys/${key1.accessKey}`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.equal((again.body['error'] as { code: string }).code, 'NotFound');
    // Room for a new key again.
    const replacement = await call(ops(2), '/api/s3/users/alice/keys', { method: 'POST' });
    assert.equal(replacement.status, 201, replacement.text);
    f.alice = { ...f.alice, accessKey: replacement.body['accessKey'] as string, secret: replacement.body['secret'] as string };
    f.aliceClients = clientsFor(f.alice);
    assert.ok(await works(f.aliceClients[0]!));
  });

  test('bad input: unknown users, another user\'s key, a bad status, bad paging give stable codes', async () => {
    const expect = async (path: string, init: { method?: string; body?: unknown }, status: number, code: string, message?: RegExp): Promise<void> => {
      const r = await call(ops(0), path, init);
      assert.equal(r.status, status, `${init.method ?? 'GET'} ${path}: ${r.text}`);
      const error = r.body['error'] as { code: string; message: string };
      assert.equal(error.code, code);
      if (message) assert.match(error.message, message);
    };
    await expect('/api/s3/users/nobody', {}, 404, 'NotFound', /no S3 user "nobody"/);
    await expect('/api/s3/users/nobody', { method: 'DELETE' }, 404, 'NotFound');
    await expect('/api/s3/users/nobody/keys', { method: 'POST' }, 404, 'NotFound');
    await expect(`/api/s3/users/nobody/keys/${f.bob.accessKey}`, { method: 'POST', body: { status: 'Inactive' } }, 404, 'NotFound');
    // Bob's key through alice: not hers, whatever the operation.
    await expect(`/api/s3/users/alice/keys/${f.bob.accessKey}`, { method: 'POST', body: { status: 'Inactive' } }, 404, 'NotFound', /user "alice" has no access key/);
    await expect(`/api/s3/users/alice/keys/${f.bob.accessKey}`, { method: 'DELETE' }, 404, 'NotFound');
    await expect('/api/s3/users/alice/keys/PINOSUCHKEY000000000', { method: 'DELETE' }, 404, 'NotFound');
    assert.ok(await works(f.bobClients[0]!), "bob's key is untouched");
    await expect(`/api/s3/users/bob/keys/${f.bob.accessKey}`, { method: 'POST', body: { status: 'Disabled' } }, 400, 'InvalidArgument', /"Active" or "Inactive"/);
    await expect(`/api/s3/users/bob/keys/${f.bob.accessKey}`, { method: 'POST', body: { status: 'inactive' } }, 400, 'InvalidArgument');
    await expect(`/api/s3/users/bob/keys/${f.bob.accessKey}`, { method: 'POST', body: {} }, 400, 'InvalidArgument');
    await expect('/api/s3/users?limit=0', {}, 400, 'InvalidArgument');
    await expect('/api/s3/users?limit=abc', {}, 400, 'InvalidArgument');
    await expect('/api/s3/users?limit=5000', {}, 400, 'InvalidArgument');
    await expect('/api/s3/users?after=%25%25', {}, 400, 'InvalidArgument');
    await expect('/api/s3/users', { method: 'POST', body: { name: 'alice' } }, 409, 'Conflict');
    assert.ok(await works(f.bobClients[2]!));
  });

  test('listing: the registry pages by name; users made before it are listed once they sign a request or a node goes through its store', async () => {
    await createUser(f.nodes[2]!, 'zoe');
    const all = await call(ops(1), '/api/s3/users');
    assert.equal(all.status, 200, all.text);
    const users = all.body['users'] as { name: string; id: string; createdAt: number }[];
    const names = users.map((u) => u.name);
    assert.deepEqual(names, [...names].sort());
    for (const n of ['alice', 'bob', 'zoe']) assert.ok(names.includes(n), n);
    assert.equal(users.find((u) => u.name === 'bob')!.id, f.bob.id);
    assert.ok(users.every((u) => typeof u.createdAt === 'number'));
    assert.equal(all.body['next'], undefined);
    // One at a time.
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await call(ops(0), `/api/s3/users?limit=1${after ? `&after=${after}` : ''}`);
      assert.equal(page.status, 200, page.text);
      const got = page.body['users'] as { name: string }[];
      assert.ok(got.length <= 1);
      seen.push(...got.map((u) => u.name));
      after = page.body['next'] as string | undefined;
    } while (after);
    assert.deepEqual(seen, names);

    // What older code wrote: a user and its key, no registry entry (nor s3uid: record).
    const catalog = f.nodes[0]!.s3.catalog;
    const old = async (name: string, key: string, fill: string): Promise<TestUser> => {
      const id = fill.repeat(64);
      const user: UserEntry = { type: 's3.user', url: `s3user:${name}`, name, id, accessKeys: [key], createdAt: 1 };
      const record: AccessKeyEntry = { type: 's3.key', user: id, name, secret: `${name}-secret`, createdAt: 1 };
      await catalog.dht.writeIfAbsent(ids.accessKey(key), record);
      await catalog.dht.writeIfAbsent(ids.user(name), user);
      return { name, id, accessKey: key, secret: `${name}-secret` };
    };
    const listed = async (): Promise<string[]> => ((await call(ops(2), '/api/s3/users')).body['users'] as { name: string }[]).map((u) => u.name);
    const carol = await old('carol', 'PICAROLOLDUSER000001', 'd');
    const dave = await old('dave', 'PIDAVEOLDUSER0000001', 'e');
    assert.ok(!(await listed()).includes('carol'));
    // Carol signs a request: the node that loads her key registers her.
    const [carolClient] = clientsFor(carol);
    assert.ok(await works(carolClient!));
    await waitFor(async () => (await listed()).includes('carol'), { timeoutMs: 10_000, what: 'carol listed after signing a request' });
    assert.equal((await call(ops(0), '/api/s3/users/carol')).body['accessKeys'] instanceof Array, true);
    // Dave never signs anything: the start-up pass over a node's store registers him.
    assert.ok(!(await listed()).includes('dave'));
    const pass = await registerLocalUsers(f.nodes[1]!.s3.catalog.dht);
    assert.ok(pass.found >= 5, `user records held: ${pass.found}`);
    assert.equal(pass.registered, 1, 'only dave had no entry');
    assert.ok((await listed()).includes('dave'));
    assert.equal((await registerLocalUsers(f.nodes[2]!.s3.catalog.dht)).registered, 0, 'a second pass writes nothing');
    // Old users' keys are Active (no status stored) and manageable like any other.
    const shown = await call(ops(1), '/api/s3/users/dave');
    assert.deepEqual(shown.body['accessKeys'], [{ accessKey: dave.accessKey, status: 'Active', createdAt: 1 }]);
  });

  test('deleting a user: refused while it owns a bucket (also one created during the deletion), allowed once it is gone; then its keys and id are refused', async (t) => {
    const erin = await createUser(f.nodes[1]!, 'erin');
    const e = clientsFor(erin);
    await e[0]!.send(new CreateBucketCommand({ Bucket: 'erin-bucket' }));
    const refusedDelete = await call(ops(2), '/api/s3/users/erin', { method: 'DELETE' });
    assert.equal(refusedDelete.status, 409, refusedDelete.text);
    const error = refusedDelete.body['error'] as { code: string; message: string };
    assert.equal(error.code, 'DeleteConflict');
    assert.match(error.message, /user "erin" owns a bucket \(erin-bucket\): delete them first/);
    for (const c of e) assert.ok(await works(c), 'a refused deletion leaves the keys alone');
    await e[2]!.send(new DeleteBucketCommand({ Bucket: 'erin-bucket' }));

    // A bucket created while the deletion waits for the caches: the deletion is refused and the
    // keys work again (whichever came first, the user never ends up deleted with a bucket).
    assert.ok(await works(e[1]!), "node 1 has erin's key cached");
    const started = Date.now();
    const racing = call(ops(0), '/api/s3/users/erin', { method: 'DELETE' });
    await e[1]!.send(new CreateBucketCommand({ Bucket: 'erin-late' }));
    const raced = await racing;
    t.diagnostic(`deletion with a bucket created during it answered ${raced.status} after ${Date.now() - started} ms`);
    assert.equal(raced.status, 409, raced.text);
    assert.equal((raced.body['error'] as { code: string }).code, 'DeleteConflict');
    assert.match((raced.body['error'] as { message: string }).message, /erin-late/);
    const restored = await call(ops(2), '/api/s3/users/erin');
    assert.equal(restored.status, 200);
    assert.equal(restored.body['deleting'], undefined);
    assert.deepEqual((restored.body['accessKeys'] as { status: string }[]).map((k) => k.status), ['Active']);
    await waitFor(async () => (await Promise.all(e.map(works))).every(Boolean), { timeoutMs: REVOCATION_DEADLINE_MS, intervalMs: 50, what: "erin's key working again everywhere" });
    await e[0]!.send(new DeleteBucketCommand({ Bucket: 'erin-late' }));

    // Now it goes: a second key too; both refused on every node as soon as the deletion answers.
    const second = await call(ops(1), '/api/s3/users/erin/keys', { method: 'POST' });
    assert.equal(second.status, 201);
    const erin2: TestUser = { ...erin, accessKey: second.body['accessKey'] as string, secret: second.body['secret'] as string };
    const e2 = clientsFor(erin2);
    for (const c of [...e, ...e2]) assert.ok(await works(c));
    const t0 = Date.now();
    const deleted = await call(ops(2), '/api/s3/users/erin', { method: 'DELETE' });
    assert.equal(deleted.status, 200, deleted.text);
    t.diagnostic(`DeleteUser took ${Date.now() - t0} ms`);
    assert.deepEqual(deleted.body, { name: 'erin', id: erin.id, accessKeys: [erin.accessKey, erin2.accessKey] });
    for (const c of [...e, ...e2]) assert.ok(await refused(c), 'refused on every node at once: the keys were disabled for cacheMs + 1 s');
    assert.equal((await call(ops(0), '/api/s3/users/erin')).status, 404);
    assert.ok(!((await call(ops(1), '/api/s3/users')).body['users'] as { name: string }[]).some((u) => u.name === 'erin'));
    // Its canonical id is gone: a grant naming it is refused like any unknown id.
    assert.equal(await f.nodes[0]!.s3.catalog.userById(erin.id), undefined);
    await s3failure(f.aliceClients[0]!.send(new CreateBucketCommand({ Bucket: 'for-erin', GrantRead: `id="${erin.id}"` })), 'InvalidArgument', 400);
    assert.equal((await call(ops(0), '/api/s3/users/erin', { method: 'DELETE' })).status, 404);

    // The name is free again: a new user, a new id.
    const erinAgain = await createUser(f.nodes[0]!, 'erin');
    assert.notEqual(erinAgain.id, erin.id);
    assert.ok(await works(clientsFor(erinAgain)[2]!));
    assert.ok(((await call(ops(1), '/api/s3/users')).body['users'] as { name: string; id: string }[]).some((u) => u.name === 'erin' && u.id === erinAgain.id));
  });
});
