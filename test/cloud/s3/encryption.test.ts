/**
 * SSE-C building blocks: the CTR counter arithmetic and decryption from any offset (what Range
 * requests rely on), the key check, the keyed ETag, the request headers' validation, and chunk
 * lists that carry IVs; the SSE-S3 master key (its file formats, wrapping, refusals).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { MasterKey, MasterKeys, addToCounter, checkKey, cryptPiece, decipherAt, keyForRead, sealKey, sealedEtag } from '../../../src/cloud/s3/encryption.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Error, copySourceCustomerKey, requestCustomerKey } from '../../../src/cloud/s3/protocol/index.ts';
import type { CustomerKey } from '../../../src/cloud/s3/protocol/index.ts';
import { packChunks, unpackChunks } from '../../../src/cloud/s3/model.ts';

function customerKey(key: Buffer): CustomerKey {
  return { key, keyMd5: createHash('md5').update(key).digest('base64') };
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof S3Error, String(err));
    return err.code;
  }
  return undefined;
}

describe('SSE-C encryption', () => {
  test('the counter adds as a 128-bit big-endian number, carries included', () => {
    assert.equal(addToCounter(Buffer.alloc(16, 0), 1).toString('hex'), '00000000000000000000000000000001');
    assert.equal(addToCounter(Buffer.from('000000000000000000000000000000ff', 'hex'), 1).toString('hex'), '00000000000000000000000000000100');
    assert.equal(addToCounter(Buffer.from('0000000000000000ffffffffffffffff', 'hex'), 2).toString('hex'), '00000000000000010000000000000001');
    assert.equal(addToCounter(Buffer.alloc(16, 0xff), 1).toString('hex'), '00000000000000000000000000000000', 'wraps as CTR does');
    assert.equal(addToCounter(Buffer.alloc(16, 0), 2 ** 40 + 5).toString('hex'), '00000000000000000000010000000005');
  });

  test('decrypting from any offset gives the plaintext from there, whatever the IV (carries across its bytes)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 5000 }), (ivBytes, a, b) => {
        const key = Buffer.alloc(32, 9);
        // IVs close to a carry in their low bytes are the interesting ones.
        const iv = Buffer.from(ivBytes);
        iv.fill(0xff, 12);
        const plain = Buffer.alloc(6000);
        for (let i = 0; i < plain.length; i++) plain[i] = (i * 7) & 0xff;
        const cipher = cryptPiece(key, iv, plain);
        const [from, to] = a <= b ? [a, b] : [b, a];
        const d = decipherAt(key, iv, from);
        // Fed in two pieces, as a stream reads them.
        const mid = from + Math.floor((to - from) / 2);
        const out = Buffer.concat([d.update(cipher.subarray(from, mid)), d.update(cipher.subarray(mid, to))]);
        assert.deepEqual(out, plain.subarray(from, to));
      }),
      { numRuns: 200 },
    );
  });

  test('a sealed key recognises its key only; the keyed ETag hides the MD5', () => {
    const a = customerKey(Buffer.alloc(32, 1));
    const b = customerKey(Buffer.alloc(32, 2));
    const sealed = sealKey(a, randomBytes(16));
    assert.equal(sealed.md5, a.keyMd5);
    assert.ok(!JSON.stringify(sealed).includes(a.key.toString('base64')), 'the key itself is not kept');
    assert.deepEqual(checkKey(sealed, a), a.key);
    assert.equal(code(() => checkKey(sealed, b)), 'AccessDenied');
    assert.equal(code(() => checkKey(sealed, undefined)), 'InvalidRequest');
    assert.equal(code(() => keyForRead(undefined, a, undefined)), 'InvalidRequest');
    assert.equal(keyForRead(undefined, undefined, undefined), undefined);
    assert.notEqual(sealKey(a, randomBytes(16)).mac, sealed.mac, 'salted: the same key seals differently');
    const md5 = createHash('md5').update('data').digest('hex');
    assert.match(sealedEtag(a.key, md5), /^[0-9a-f]{32}$/);
    assert.notEqual(sealedEtag(a.key, md5), md5);
    assert.notEqual(sealedEtag(a.key, md5), sealedEtag(b.key, md5));
    assert.equal(sealedEtag(a.key, md5), sealedEtag(a.key, md5));
  });

  test('request headers: a valid key is read; each way of getting them wrong has its error', () => {
    const key = Buffer.alloc(32, 5);
    const md5 = createHash('md5').update(key).digest('base64');
    const h = (over: Record<string, string | undefined>): Record<string, string> => {
      const all: Record<string, string | undefined> = {
        'x-amz-server-side-encryption-customer-algorithm': 'AES256',
        'x-amz-server-side-encryption-customer-key': key.toString('base64'),
        'x-amz-server-side-encryption-customer-key-md5': md5,
        ...over,
      };
      return Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
    };
    assert.deepEqual(requestCustomerKey(h({})), { key, keyMd5: md5 });
    assert.equal(requestCustomerKey({}), undefined);
    assert.equal(copySourceCustomerKey(h({})), undefined, 'the copy source has its own headers');
    assert.equal(code(() => requestCustomerKey(h({ 'x-amz-server-side-encryption-customer-algorithm': 'aws:kms' }))), 'InvalidEncryptionAlgorithmError');
    assert.equal(code(() => requestCustomerKey(h({ 'x-amz-server-side-encryption-customer-algorithm': undefined }))), 'InvalidArgument');
    assert.equal(code(() => requestCustomerKey(h({ 'x-amz-server-side-encryption-customer-key': undefined }))), 'InvalidArgument');
    assert.equal(code(() => requestCustomerKey(h({ 'x-amz-server-side-encryption-customer-key': 'not base64!' }))), 'InvalidArgument');
    assert.equal(code(() => requestCustomerKey(h({ 'x-amz-server-side-encryption-customer-key': Buffer.alloc(31).toString('base64') }))), 'InvalidArgument');
    assert.equal(code(() => requestCustomerKey(h({ 'x-amz-server-side-encryption-customer-key-md5': undefined }))), 'InvalidArgument');
    assert.equal(code(() => requestCustomerKey(h({ 'x-amz-server-side-encryption-customer-key-md5': 'AAAAAAAAAAAAAAAAAAAAAA==' }))), 'InvalidArgument');
  });

  test('chunk lists with IVs round-trip, are marked, and cannot mix with plaintext chunks', () => {
    const refs = [
      { hash: 'ab'.repeat(32), size: 4 * 1024 * 1024, iv: '01'.repeat(16) },
      { hash: 'cd'.repeat(32), size: 17, iv: 'ff'.repeat(16) },
    ];
    const packed = packChunks(refs);
    assert.ok(packed.startsWith('e:'));
    assert.deepEqual(unpackChunks(packed), refs);
    assert.deepEqual(unpackChunks(packChunks(refs.map(({ hash, size }) => ({ hash, size })))), refs.map(({ hash, size }) => ({ hash, size })), 'plaintext lists keep their old format');
    assert.throws(() => packChunks([refs[0]!, { hash: 'cd'.repeat(32), size: 1 }]), /mixes/);
  });

  test('the master key: read from raw, hex or base64 files; wraps data keys that only it unwraps; refuses another key or a tampered wrap', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pi-master-key-'));
    try {
      const bytes = Buffer.alloc(32, 0x42);
      const ids = new Set<string>();
      for (const [name, content] of [['raw', bytes], ['hex', `${bytes.toString('hex')}\n`], ['b64', bytes.toString('base64')]] as const) {
        await writeFile(join(dir, name), content);
        ids.add(MasterKey.fromFile(join(dir, name)).id);
      }
      assert.equal(ids.size, 1, 'the three encodings are the same key');
      await writeFile(join(dir, 'short'), Buffer.alloc(31));
      assert.throws(() => MasterKey.fromFile(join(dir, 'short')), /short holds neither 32 bytes/);
      assert.throws(() => MasterKey.fromFile(join(dir, 'missing')), /cannot read the SSE master key file/);

      const master = new MasterKey(bytes);
      const dataKey = randomBytes(32);
      const sealed = master.wrap(dataKey, randomBytes(12));
      assert.equal(sealed.kid, master.id);
      assert.ok(!Buffer.from(sealed.wk, 'base64').includes(dataKey), 'the data key is not kept in the clear');
      assert.deepEqual(master.unwrap(sealed), dataKey);
      assert.deepEqual(keyForRead(sealed, undefined, new MasterKeys(master)), dataKey);
      assert.equal(code(() => keyForRead(sealed, undefined, undefined)), 'InternalError', 'a node without the master key');
      assert.equal(code(() => keyForRead(sealed, customerKey(Buffer.alloc(32, 1)), new MasterKeys(master))), 'InvalidRequest', 'an SSE-C key for SSE-S3 data');
      assert.equal(code(() => new MasterKey(Buffer.alloc(32, 0x43)).unwrap(sealed)), 'InternalError', 'another master key');
      const tampered = Buffer.from(sealed.wk, 'base64');
      tampered[20]! ^= 1;
      assert.equal(code(() => master.unwrap({ ...sealed, wk: tampered.toString('base64') })), 'InternalError', 'a tampered wrap does not authenticate');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('master key rotation: previous keys unwrap what they wrapped; rewrap moves a data key under the current key, IV kept', () => {
    const oldKey = new MasterKey(Buffer.alloc(32, 0x01));
    const newKey = new MasterKey(Buffer.alloc(32, 0x02));
    const dataKey = randomBytes(32);
    const before = { ...oldKey.wrap(dataKey, randomBytes(12)), iv: 'AAAAAAAAAAAAAAAAAAAAAA==' };
    const rotated = new MasterKeys(newKey, [oldKey]);
    assert.deepEqual(rotated.ids, [newKey.id, oldKey.id]);
    assert.deepEqual(rotated.unwrap(before), dataKey, 'a previous key still reads');
    assert.equal(rotated.wrap(dataKey, randomBytes(12)).kid, newKey.id, 'new data keys go under the current key');
    const after = rotated.rewrap(before, randomBytes(12));
    assert.equal(after.kid, newKey.id);
    assert.equal(after.iv, before.iv, 'the inline IV stays');
    assert.deepEqual(new MasterKeys(newKey).unwrap(after), dataKey, 'the rewrapped key needs the current key only');
    assert.equal(code(() => new MasterKeys(newKey).unwrap(before)), 'InternalError', 'the old key retired, its wraps are unreadable');
    assert.deepEqual(rotated.rewrap(after, randomBytes(12)), after, 'already under the current key: unchanged');
  });
});
