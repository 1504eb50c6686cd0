/**
 * Records and entities: encoding, size limit, version order, operation history, registry.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Id, Scope, idFor } from '../../src/id/index.ts';
import { EntityRegistry, InvalidEntityError, RecordTooLargeError, compareItems, toRecord } from '../../src/dht/index.ts';
import { appliedOp, encodeEntity, isStorageKey, isStoredItem, itemHash, itemKey, keyPosition, keySortKey, makeItem, recordKey } from '../../src/dht/record.ts';
import type { StoredItem } from '../../src/dht/index.ts';

const id = idFor('doc:a', Scope.GLOBAL);
const history = { limit: 3, memoryMs: 10_000 };

function item(v: number, op: string, prev?: StoredItem, at = 1000): StoredItem {
  return makeItem(recordKey(id), encodeEntity({ type: 'doc', n: v }, 1024), v, op, prev, history, at, 'application/json');
}

describe('records', () => {
  test('entity headers come from type, url and deleted; version is set by the DHT, unknown fields survive', () => {
    const enc = encodeEntity({ url: 'Counter:x', version: 7, n: 1, future: { field: [1, 2] } }, 1024);
    assert.equal(enc.type, 'counter', 'type defaults to the URI scheme');
    assert.equal(enc.uri, 'Counter:x');
    assert.equal(enc.deleted, false);
    assert.ok(!enc.json.includes('"version"'), 'version is not stored in the body');
    const it = makeItem(recordKey(id), enc, 3, 'op1', undefined, history, 5, 'application/json');
    const rec = toRecord(it);
    assert.deepEqual(rec.body, { url: 'Counter:x', n: 1, future: { field: [1, 2] }, version: 3 });
    assert.equal(rec.version, 3);
    assert.equal(rec.id.hex, id.hex);
    assert.equal(rec.sortKey, undefined);
    assert.equal(rec.writtenAt, 5);
    assert.equal(rec.bytes, enc.json.length);
    assert.equal(encodeEntity({ type: 't', deleted: true }, 100).deleted, true);
  });

  test('nested fields named version are application data and survive', () => {
    const enc = encodeEntity({ type: 'app', version: 9, spec: { version: '2.1' }, releases: [{ version: 1 }] }, 1024);
    assert.deepEqual(JSON.parse(enc.json), { type: 'app', spec: { version: '2.1' }, releases: [{ version: 1 }] });
  });

  test('bad entities and oversized bodies get clear typed errors', () => {
    assert.throws(() => encodeEntity(null, 100), InvalidEntityError);
    assert.throws(() => encodeEntity([1], 100), InvalidEntityError);
    assert.throws(() => encodeEntity('x', 100), InvalidEntityError);
    assert.throws(() => encodeEntity({ type: 5 }, 100), InvalidEntityError);
    assert.throws(() => encodeEntity({ deleted: 'yes' }, 100), InvalidEntityError);
    assert.throws(() => encodeEntity({ big: 10n }, 100), (e: InvalidEntityError) => e.code === 'InvalidEntity' && /JSON/.test(e.message));
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => encodeEntity(cyclic, 100), InvalidEntityError);
    assert.throws(
      () => encodeEntity({ s: 'x'.repeat(200) }, 100),
      (e: RecordTooLargeError) => e.code === 'RecordTooLarge' && e.limit === 100 && e.bytes > 200,
    );
    // Multi-byte characters count as UTF-8 bytes.
    assert.throws(() => encodeEntity({ s: '€'.repeat(40) }, 100), RecordTooLargeError);
    assert.doesNotThrow(() => encodeEntity({ s: 'x'.repeat(80) }, 100));
  });

  test('version order: higher version wins, equal versions by operation id; summaries hash equal iff equal', () => {
    const a = item(2, 'a');
    const b = item(3, 'b');
    assert.ok(compareItems(b, a) > 0 && compareItems(a, b) < 0);
    const c = item(3, 'c');
    assert.equal(Math.sign(compareItems(b, c)), -Math.sign(compareItems(c, b)));
    assert.notEqual(compareItems(b, c), 0);
    assert.equal(compareItems(b, { ...b }), 0);
    assert.deepEqual(itemHash(b), itemHash({ ...b }));
    assert.notDeepEqual(itemHash(b), itemHash(c));
    assert.notDeepEqual(itemHash(b), itemHash({ ...b, d: true }));
  });

  test('operation history: kept within its count and age; a count overflow is recorded', () => {
    let it = item(1, 'op1', undefined, 1000);
    it = item(2, 'op2', it, 2000);
    it = item(3, 'op3', it, 3000);
    assert.ok(appliedOp(it, 'op1') && appliedOp(it, 'op2') && appliedOp(it, 'op3'));
    assert.equal(it.hf, 0);
    it = item(4, 'op4', it, 4000);
    it = item(5, 'op5', it, 5000);
    assert.deepEqual(it.h.map((e) => e[0]), ['op2', 'op3', 'op4'], 'at most 3 entries');
    assert.equal(it.hf, 1000, 'the newest entry dropped for room');
    assert.equal(appliedOp(it, 'op1'), false);
    it = item(6, 'op6', it, 20_000);
    assert.deepEqual(it.h.map((e) => e[0]), ['op5'], 'entries older than the memory are dropped by age');
    assert.equal(it.hf, 1000, 'age drops do not count as overflow');
    assert.equal(appliedOp(undefined, 'op1'), false);
  });

  test('storage keys: records, partition items, validation of peer input', () => {
    const p = Id.parse('ab'.repeat(20));
    assert.equal(recordKey(p), p.hex);
    const k = itemKey(p, 'photos/2024/a.jpg');
    assert.equal(keyPosition(k), p.hex);
    assert.equal(keySortKey(k), 'photos/2024/a.jpg');
    assert.equal(keySortKey(p.hex), undefined);
    assert.ok(isStorageKey(k) && isStorageKey(p.hex));
    assert.ok(!isStorageKey('zz' + p.hex.slice(2)) && !isStorageKey(p.hex + '/') && !isStorageKey(p.hex + 'x') && !isStorageKey(5));
    assert.throws(() => itemKey(p, ''), (e: { code: string }) => e.code === 'InvalidArgument');
    assert.throws(() => itemKey(p, 'x'.repeat(1025)), (e: { code: string }) => e.code === 'InvalidArgument');
    assert.ok(isStoredItem(item(1, 'x')));
    assert.ok(!isStoredItem({ ...item(1, 'x'), v: 0 }));
    assert.ok(!isStoredItem({ ...item(1, 'x'), b: {} }));
    assert.ok(!isStoredItem({ ...item(1, 'x'), k: 'nope' }));
  });
});

describe('entity registry', () => {
  test('types by name or URI scheme, validators refuse with a reason, strict mode refuses unknown types', () => {
    const reg = new EntityRegistry();
    reg.register('counter', { schemes: ['ctr'], validate: (e) => (typeof e.n === 'number' ? undefined : 'n must be a number') });
    reg.register('user', { validate: (e) => typeof e.name === 'string' });
    reg.register('thrower', { validate: () => { throw new Error('boom'); } });
    assert.equal(reg.typeOf({ url: 'ctr:x' }), 'counter');
    assert.equal(reg.typeOf({ url: 'Other:x' }), 'other');
    assert.equal(reg.typeOf({}), undefined);
    assert.doesNotThrow(() => reg.validate({ url: 'ctr:a', n: 1 }));
    assert.throws(() => reg.validate({ url: 'ctr:a', n: 'one' }), (e: InvalidEntityError) => e.code === 'InvalidEntity' && /n must be a number/.test(e.message));
    assert.throws(() => reg.validate({ type: 'counter', url: 'user:a', n: 1 }), /scheme/);
    assert.throws(() => reg.validate({ type: 'user' }), InvalidEntityError);
    assert.throws(() => reg.validate({ type: 'thrower' }), /boom/);
    assert.doesNotThrow(() => reg.validate({ type: 'unregistered' }), 'non-strict registries let unknown types through');
    const strict = new EntityRegistry(true).register('a');
    assert.doesNotThrow(() => strict.validate({ type: 'a' }));
    assert.throws(() => strict.validate({ type: 'b' }), /unknown entity type "b"/);
    assert.throws(() => strict.validate({}), /unknown entity type/);
  });
});
