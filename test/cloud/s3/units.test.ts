/**
 * Unit tests of the S3 application's pure parts: chunk-list packing, ACL decisions (canned and
 * explicit grants), their policy documents and grantee resolution, the chunk sink's inline /
 * chunk split, and the error mapping.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { packChunks, unpackChunks } from '../../../src/cloud/s3/model.ts';
import { BY_GRANT, allows, canBucket, canObjectAcl, canReadBucket, canReadObject, canWriteBucket, cannedOf, isPublicAcl, policyOf } from '../../../src/cloud/s3/access.ts';
import { resolveGrants, withAcl } from '../../../src/cloud/s3/acl.ts';
import type { StoredGrant } from '../../../src/cloud/s3/model.ts';
import { ChunkSink } from '../../../src/cloud/s3/data.ts';
import { mapError } from '../../../src/cloud/s3/http.ts';
import { ACL_GROUPS, S3Error } from '../../../src/cloud/s3/protocol/index.ts';
import type { CannedAcl } from '../../../src/cloud/s3/protocol/index.ts';
import type { ChunkStore } from '../../../src/cloud/s3/chunks/store.ts';
import { chunkHash } from '../../../src/cloud/s3/chunks/store.ts';
import { pattern } from './harness.ts';

describe('S3 application units', () => {
  test('chunk lists pack into 36 bytes per chunk and back', () => {
    const refs = [0, 1, 2].map((i) => ({ hash: chunkHash(pattern(10 + i, i + 1)), size: 4 * 1024 * 1024 - i }));
    const packed = packChunks(refs);
    assert.equal(Buffer.from(packed, 'base64').length, 3 * 36);
    assert.deepEqual(unpackChunks(packed), refs);
    assert.deepEqual(unpackChunks(undefined), []);
    assert.deepEqual(unpackChunks(packChunks([])), []);
  });

  // An allowance by ownership is `true`; one that only a grant gives is BY_GRANT (the access log's aclRequired).
  test('canned ACLs: who may list, write and read', () => {
    const owner = { id: 'o', name: 'owner' };
    const other = { id: 'x', name: 'other' };
    const bucket = (acl: CannedAcl) => ({ owner: 'o', acl });
    assert.equal(canReadBucket(bucket('private'), owner), true);
    assert.equal(canReadBucket(bucket('private'), other), false);
    assert.equal(canReadBucket(bucket('private'), undefined), false);
    assert.equal(canReadBucket(bucket('public-read'), undefined), BY_GRANT);
    assert.equal(canWriteBucket(bucket('public-read'), undefined), false);
    assert.equal(canWriteBucket(bucket('public-read-write'), undefined), BY_GRANT);
    assert.equal(canReadBucket(bucket('authenticated-read'), other), BY_GRANT);
    assert.equal(canReadBucket(bucket('authenticated-read'), undefined), false);
    assert.equal(canBucket(bucket('public-read-write'), other, 'READ_ACP'), false, 'no canned ACL grants READ_ACP / WRITE_ACP');
    assert.equal(canBucket(bucket('private'), owner, 'WRITE_ACP'), true);
    assert.equal(canReadObject({ owner: 'o' }, { owner: 'w' }, owner), true, 'the bucket owner reads what others wrote');
    assert.equal(canReadObject({ owner: 'o' }, { owner: 'w', acl: 'private' }, other), false);
    assert.equal(canReadObject({ owner: 'o' }, { owner: 'w', acl: 'public-read' }, undefined), BY_GRANT);
    assert.equal(canReadObject({ owner: 'o' }, { owner: 'w', acl: 'bucket-owner-full-control' }, other), false);
  });

  test('explicit grants: by id, to AllUsers and AuthenticatedUsers; FULL_CONTROL is every permission; owners keep theirs', () => {
    const owner = { id: 'o', name: 'owner' };
    const x = { id: 'x', name: 'x' };
    const y = { id: 'y', name: 'y' };
    const bucket = { owner: 'o', acl: 'private' as const, grants: [{ p: 'READ' as const, id: 'x', n: 'x' }, { p: 'WRITE_ACP' as const, uri: ACL_GROUPS.AuthenticatedUsers }, { p: 'FULL_CONTROL' as const, id: 'y' }] };
    assert.equal(canReadBucket(bucket, x), BY_GRANT);
    assert.equal(canWriteBucket(bucket, x), false);
    assert.equal(canBucket(bucket, x, 'READ_ACP'), false);
    assert.equal(canBucket(bucket, x, 'WRITE_ACP'), BY_GRANT, 'through AuthenticatedUsers');
    assert.equal(canBucket(bucket, undefined, 'WRITE_ACP'), false, 'anonymous is not authenticated');
    for (const access of ['READ', 'WRITE', 'READ_ACP', 'WRITE_ACP'] as const) {
      assert.equal(canBucket(bucket, y, access), BY_GRANT, `FULL_CONTROL gives ${access}`);
      assert.equal(canBucket({ owner: 'o', grants: [] }, owner, access), true, `the owner keeps ${access} with an empty list`);
      assert.equal(canBucket({ owner: 'o', grants: [] }, x, access), false);
    }
    const object = { owner: 'w', grants: [{ p: 'READ' as const, uri: ACL_GROUPS.AllUsers }, { p: 'READ_ACP' as const, id: 'x' }] };
    assert.equal(canReadObject({ owner: 'o' }, object, undefined), BY_GRANT);
    assert.equal(canObjectAcl({ owner: 'o' }, object, x, 'READ_ACP'), BY_GRANT);
    assert.equal(canObjectAcl({ owner: 'o' }, object, x, 'WRITE_ACP'), false);
    assert.equal(canObjectAcl({ owner: 'o' }, object, y, 'READ_ACP'), false);
    assert.equal(canObjectAcl({ owner: 'o' }, object, owner, 'WRITE_ACP'), true, 'the bucket owner manages every object');
    assert.equal(allows({ acl: 'public-read-write', grants: [] }, undefined, 'WRITE'), false, 'an explicit list replaces the canned ACL');
  });

  test('IgnorePublicAcls: grants to the public groups and public canned ACLs count for nothing; grants by id still do', () => {
    const x = { id: 'x', name: 'x' };
    const ignoring = { owner: 'o', pab: { ignoreAcls: true as const } };
    assert.equal(canReadBucket({ ...ignoring, acl: 'public-read' }, undefined), false);
    assert.equal(canReadBucket({ ...ignoring, acl: 'authenticated-read' }, x), false);
    assert.equal(canWriteBucket({ ...ignoring, grants: [{ p: 'WRITE', uri: ACL_GROUPS.AllUsers }, { p: 'READ', id: 'x' }] }, x), false);
    assert.equal(canReadBucket({ ...ignoring, grants: [{ p: 'WRITE', uri: ACL_GROUPS.AllUsers }, { p: 'READ', id: 'x' }] }, x), BY_GRANT);
    assert.equal(canReadObject(ignoring, { owner: 'w', acl: 'public-read' }, undefined), false);
    assert.equal(canReadObject({ owner: 'o' }, { owner: 'w', acl: 'public-read' }, undefined), BY_GRANT, 'without the block the ACL counts');
    assert.equal(canObjectAcl(ignoring, { owner: 'w', grants: [{ p: 'FULL_CONTROL', uri: ACL_GROUPS.AuthenticatedUsers }] }, x, 'READ_ACP'), false);
    assert.equal(canReadObject(ignoring, { owner: 'w' }, { id: 'o', name: 'o' }), true, 'owners keep their rights');
    assert.ok(isPublicAcl({ acl: 'authenticated-read' }));
    assert.ok(isPublicAcl({ grants: [{ p: 'READ_ACP', uri: ACL_GROUPS.AllUsers }] }));
    assert.ok(!isPublicAcl({ acl: 'bucket-owner-full-control' }));
    assert.ok(!isPublicAcl({ acl: 'public-read', grants: [{ p: 'READ', id: 'x' }] }), 'an explicit list replaces the canned ACL');
  });

  test('policy documents: canned ACLs as grant lists, explicit lists as given, and lists that are exactly a canned ACL', () => {
    for (const acl of ['private', 'public-read', 'public-read-write', 'authenticated-read'] as const) {
      assert.equal(cannedOf(policyOf({ id: 'o' }, acl).grants, 'o'), acl);
    }
    const odd = policyOf({ id: 'o' }, 'private');
    odd.grants.push({ grantee: { type: 'CanonicalUser', id: 'someone' }, permission: 'READ' });
    assert.equal(cannedOf(odd.grants, 'o'), undefined);
    assert.equal(cannedOf([...policyOf({ id: 'o' }, 'public-read-write').grants].reverse(), 'o'), undefined, 'order matters: it reads back as given');
    assert.equal(cannedOf([], 'o'), undefined, 'no grants at all is not private');
    for (const acl of ['bucket-owner-read', 'bucket-owner-full-control'] as const) {
      assert.equal(cannedOf(policyOf({ id: 'w' }, acl, { id: 'o' }).grants, 'w', 'o'), acl);
      assert.deepEqual(policyOf({ id: 'o' }, acl, { id: 'o' }).grants.length, 1, 'the bucket owner owns the object: one grant');
    }
    const explicit = policyOf({ id: 'o', displayName: 'owner' }, { acl: 'public-read', grants: [{ p: 'READ', id: 'x', n: 'xavier' }, { p: 'WRITE', uri: ACL_GROUPS.AllUsers }] });
    assert.deepEqual(explicit, {
      owner: { id: 'o', displayName: 'owner' },
      grants: [
        { grantee: { type: 'CanonicalUser', id: 'x', displayName: 'xavier' }, permission: 'READ' },
        { grantee: { type: 'Group', uri: ACL_GROUPS.AllUsers }, permission: 'WRITE' },
      ],
    });
  });

  test('grantees resolve against the users: unknown ids are InvalidArgument, e-mail addresses unresolvable, odd groups refused', async () => {
    const catalog = { userById: async (id: string) => (id === 'a'.repeat(64) ? 'alice' : undefined) };
    const alice = 'a'.repeat(64);
    assert.deepEqual(
      await resolveGrants(catalog, [
        { grantee: { type: 'CanonicalUser', id: alice }, permission: 'READ' },
        { grantee: { type: 'Group', uri: ACL_GROUPS.AllUsers }, permission: 'READ_ACP' },
        { grantee: { type: 'CanonicalUser', id: alice, displayName: 'ignored' }, permission: 'WRITE' },
      ]),
      [
        { p: 'READ', id: alice, n: 'alice' },
        { p: 'READ_ACP', uri: ACL_GROUPS.AllUsers },
        { p: 'WRITE', id: alice, n: 'alice' },
      ],
    );
    await assert.rejects(resolveGrants(catalog, [{ grantee: { type: 'CanonicalUser', id: 'b'.repeat(64) }, permission: 'READ' }]), (e: S3Error) => {
      assert.equal(e.code, 'InvalidArgument');
      assert.equal(e.message, 'Invalid id');
      assert.deepEqual(e.fields, { ArgumentName: 'CanonicalUser/ID', ArgumentValue: 'b'.repeat(64) });
      return true;
    });
    await assert.rejects(resolveGrants(catalog, [{ grantee: { type: 'AmazonCustomerByEmail', emailAddress: 'a@example.com' }, permission: 'READ' }]), (e: S3Error) => e.code === 'UnresolvableGrantByEmailAddress');
    await assert.rejects(resolveGrants(catalog, [{ grantee: { type: 'Group', uri: 'http://acs.amazonaws.com/groups/global/Everyone' }, permission: 'READ' }]), (e: S3Error) => e.code === 'InvalidArgument' && e.message === 'Invalid group uri');
    assert.deepEqual(withAcl({ owner: 'o', acl: 'public-read' as CannedAcl }, { grants: [] }), { owner: 'o', grants: [] });
    assert.deepEqual(withAcl({ owner: 'o', grants: [] as StoredGrant[] }, { acl: 'private' }), { owner: 'o', acl: 'private' });
  });

  test('the chunk sink keeps small bodies inline, splits large ones at chunk boundaries, and refuses too much', async () => {
    const stored = new Map<string, Buffer>();
    const store = { put: async (data: Uint8Array, hash: string) => (stored.set(hash, Buffer.from(data)), hash) } as unknown as ChunkStore;
    const small = new ChunkSink(store, { chunkSize: 1024, inlineMax: 100, concurrency: 2, maxBytes: 10_000 });
    await pipeline(Readable.from([Buffer.from('tiny')]), small);
    assert.deepEqual(small.result, { size: 4, inline: Buffer.from('tiny'), chunks: [] });
    const pieces = new ChunkSink(store, { chunkSize: 1024, inlineMax: 100, concurrency: 2, maxBytes: 10_000 });
    await pipeline(Readable.from([Buffer.from('in '), Buffer.from('three '), Buffer.from('pieces')]), pieces);
    assert.deepEqual(pieces.result, { size: 15, inline: Buffer.from('in three pieces'), chunks: [] });
    const data = pattern(2500, 3);
    const refs: string[] = [];
    const big = new ChunkSink(store, { chunkSize: 1024, inlineMax: 100, concurrency: 2, maxBytes: 10_000, onChunk: async (r) => void refs.push(r.hash) });
    await pipeline(Readable.from([data.subarray(0, 700), data.subarray(700, 2100), data.subarray(2100)]), big);
    assert.deepEqual(big.result.chunks.map((c) => c.size), [1024, 1024, 452]);
    assert.ok(Buffer.concat(big.result.chunks.map((c) => stored.get(c.hash)!)).equals(data));
    assert.deepEqual(refs.sort(), big.result.chunks.map((c) => c.hash).sort(), 'every chunk reported for its reference');
    const limited = new ChunkSink(store, { chunkSize: 1024, inlineMax: 0, concurrency: 2, maxBytes: 2000 });
    await assert.rejects(pipeline(Readable.from([data]), limited), (e: S3Error) => e.code === 'EntityTooLarge');
  });

  test('storage errors map to retryable S3 errors; unknown ones to InternalError', () => {
    assert.equal(mapError(Object.assign(new Error('x'), { code: 'ChunkUnavailable' })).code, 'ServiceUnavailable');
    assert.equal(mapError(Object.assign(new Error('x'), { code: 'Timeout' })).status, 503);
    assert.equal(mapError(Object.assign(new Error('x'), { code: 'VersionConflict' })).code, 'OperationAborted');
    assert.equal(mapError(new TypeError('boom')).code, 'InternalError');
    const own = new S3Error('NoSuchKey');
    assert.equal(mapError(own), own);
  });
});
