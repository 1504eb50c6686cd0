/**
 * Unit tests of the S3 application's pure parts: chunk-list packing, canned ACL decisions and
 * their policy documents, the chunk sink's inline / chunk split, and the error mapping.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { packChunks, unpackChunks } from '../../../src/cloud/s3/model.ts';
import { canReadBucket, canReadObject, canWriteBucket, cannedOf, policyOf } from '../../../src/cloud/s3/access.ts';
import { ChunkSink } from '../../../src/cloud/s3/data.ts';
import { mapError } from '../../../src/cloud/s3/http.ts';
import { S3Error } from '../../../src/cloud/s3/protocol/index.ts';
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

  test('canned ACLs: who may list, write and read', () => {
    const owner = { id: 'o', name: 'owner' };
    const other = { id: 'x', name: 'other' };
    assert.equal(canReadBucket('o', 'private', owner), true);
    assert.equal(canReadBucket('o', 'private', other), false);
    assert.equal(canReadBucket('o', 'private', undefined), false);
    assert.equal(canReadBucket('o', 'public-read', undefined), true);
    assert.equal(canWriteBucket('o', 'public-read', undefined), false);
    assert.equal(canWriteBucket('o', 'public-read-write', undefined), true);
    assert.equal(canReadBucket('o', 'authenticated-read', other), true);
    assert.equal(canReadBucket('o', 'authenticated-read', undefined), false);
    assert.equal(canReadObject('o', 'w', undefined, owner), true, 'the bucket owner reads what others wrote');
    assert.equal(canReadObject('o', 'w', 'private', other), false);
    assert.equal(canReadObject('o', 'w', 'public-read', undefined), true);
    assert.equal(canReadObject('o', 'w', 'bucket-owner-full-control', other), false);
  });

  test('policy documents and canned ACLs map both ways', () => {
    for (const acl of ['private', 'public-read', 'public-read-write', 'authenticated-read'] as const) {
      assert.equal(cannedOf(policyOf({ id: 'o' }, acl), 'o'), acl);
    }
    const odd = policyOf({ id: 'o' }, 'private');
    odd.grants.push({ grantee: { type: 'CanonicalUser', id: 'someone' }, permission: 'READ' });
    assert.throws(() => cannedOf(odd, 'o'), (e: S3Error) => e.code === 'NotImplemented');
    for (const acl of ['bucket-owner-read', 'bucket-owner-full-control'] as const) {
      assert.equal(cannedOf(policyOf({ id: 'w' }, acl, { id: 'o' }), 'w', 'o'), acl);
      assert.deepEqual(policyOf({ id: 'o' }, acl, { id: 'o' }).grants.length, 1, 'the bucket owner owns the object: one grant');
    }
  });

  test('the chunk sink keeps small bodies inline, splits large ones at chunk boundaries, and refuses too much', async () => {
    const stored = new Map<string, Buffer>();
    const store = { put: async (data: Uint8Array, hash: string) => (stored.set(hash, Buffer.from(data)), hash) } as unknown as ChunkStore;
    const small = new ChunkSink(store, { chunkSize: 1024, inlineMax: 100, concurrency: 2, maxBytes: 10_000 });
    await pipeline(Readable.from([Buffer.from('tiny')]), small);
    assert.deepEqual(small.result, { size: 4, inline: Buffer.from('tiny'), chunks: [] });
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
