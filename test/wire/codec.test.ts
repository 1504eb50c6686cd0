import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Id } from '../../src/id/index.ts';
import { MessageType, SPLICE_MIN_BYTES, SplicedBody, WireError, decodeMessage, encodeForSend, encodeMessage } from '../../src/wire/index.ts';
import type { DirectMessage, RouteMessage, WireMessage } from '../../src/wire/index.ts';
import { appMessageArb, bodyArb, handleArb, text, wireMessageArb } from '../helpers/arbitraries.ts';
import { idB, nodeA, samples } from './samples.ts';

describe('encodeMessage / decodeMessage', () => {
  test('every message type round-trips', () => {
    for (const [name, m] of Object.entries(samples())) {
      const bytes = encodeMessage(m);
      assert.ok(Buffer.isBuffer(bytes));
      const back = decodeMessage(bytes);
      assert.deepStrictEqual(back, m, name);
      assert.notEqual(back, m);
    }
  });

  test('ids come back as Id instances, buffers as Buffers, app bodies intact', () => {
    const m = samples().ROUTE as RouteMessage;
    const back = decodeMessage(encodeMessage(m)) as RouteMessage;
    assert.ok(back.key instanceof Id);
    assert.ok(back.origin.id instanceof Id);
    assert.ok(back.from.id.equals(m.from.id));
    const body = back.msg.body as { value: unknown; owner: unknown; list: unknown };
    assert.ok(Buffer.isBuffer(body.value));
    assert.deepEqual([...(body.value as Buffer)], [1, 2, 3]);
    assert.ok(body.owner instanceof Id && body.owner.equals(idB));
    assert.deepStrictEqual(body.list, [1, 'two', null, true]);
    // methods of the decoded id work (it is a real Id, not a look-alike)
    assert.equal((body.owner as Id).digit(0), 15);
  });

  test('ids are compact on the wire: 20 bytes plus a small extension header', () => {
    const withId = encodeMessage({ t: 32, from: nodeA });
    const withoutId = encodeMessage({ t: 32, from: { addr: nodeA.addr } } as unknown as WireMessage);
    assert.ok(withId.length - withoutId.length <= 20 + 3 + 3, `id costs ${withId.length - withoutId.length} bytes`);
  });

  test('a Uint8Array in a body comes back as a Buffer with the same bytes', () => {
    const m: WireMessage = { t: 11, from: nodeA, hop: 1, msg: { app: 'a', mid: 'm', body: new Uint8Array([9, 8, 7]) } };
    const back = decodeMessage(encodeMessage(m)) as typeof m;
    assert.ok(Buffer.isBuffer(back.msg.body));
    assert.deepEqual([...(back.msg.body as Buffer)], [9, 8, 7]);
  });

  test('the random message generator covers every message type', () => {
    const seen = new Set(fc.sample(wireMessageArb, { numRuns: 3000, seed: 1 }).map((m) => m.t));
    assert.deepEqual([...seen].sort((a, b) => a - b), Object.values(MessageType).sort((a, b) => a - b));
  });

  test('property: decode(encode(m)) deep-equals m for random valid messages', () => {
    fc.assert(
      fc.property(wireMessageArb, (m) => {
        assert.deepStrictEqual(decodeMessage(encodeMessage(m)), m);
      }),
      { numRuns: 400 },
    );
  });

  test('undecodable bytes are rejected as MalformedFrame', () => {
    const good = encodeMessage(samples().HEARTBEAT);
    const cases: [string, Buffer][] = [
      ['empty', Buffer.alloc(0)],
      ['truncated', good.subarray(0, good.length - 1)],
      ['trailing garbage', Buffer.concat([good, Buffer.from([0])])],
      ['a map missing its value', Buffer.from([0x81, 0xa1, 0x74])],
      ['the never-used byte 0xc1 alone', Buffer.from([0xc1])],
      ['a string longer than the frame', Buffer.from([0xd9, 0xff, 0x61])],
      // ext 0x50 (an id) with 3 bytes instead of 20
      ['a short id', Buffer.from([0x82, 0xa1, 0x74, 0x20, 0xa4, ...Buffer.from('from'), 0xc7, 3, 0x50, 1, 2, 3])],
    ];
    for (const [what, bytes] of cases) {
      assert.throws(
        () => decodeMessage(bytes),
        (err: unknown) => err instanceof WireError && err.code === 'MalformedFrame' && /undecodable frame body/.test(err.message),
        what,
      );
    }
  });

  test('a map whose t is not an integer is a MalformedMessage, not an unknown type', () => {
    // { t: <0xc1> } and { t: "x" }
    for (const [bytes, shown] of [[Buffer.from([0x81, 0xa1, 0x74, 0xc1]), 'an object'], [Buffer.from([0x81, 0xa1, 0x74, 0xa1, 0x78]), '"x"']] as const) {
      assert.throws(
        () => decodeMessage(bytes),
        (err: unknown) => err instanceof WireError && err.code === 'MalformedMessage' && err.message === `t must be an integer message type, got ${shown}`,
      );
    }
  });

  test('any byte string is rejected with a WireError or accepted as a valid message, never a crash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeMessage(bytes);
        } catch (err) {
          assert.ok(err instanceof WireError, `${String(err)} for ${Buffer.from(bytes).toString('hex')}`);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('random corruption of valid messages never escapes as a non-WireError', () => {
    fc.assert(
      fc.property(wireMessageArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, pos, xor) => {
        const bytes = Buffer.from(encodeMessage(m));
        const i = pos % bytes.length;
        bytes[i] = bytes[i]! ^ xor;
        try {
          decodeMessage(bytes);
        } catch (err) {
          assert.ok(err instanceof WireError, String(err));
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('a "__proto__" key in a frame cannot change an object prototype', () => {
    // { t: 32, __proto__: { polluted: 1 }, from: ... } built by hand
    const key = Buffer.from('__proto__');
    const inner = Buffer.from([0x81, 0xa8, ...Buffer.from('polluted'), 0x01]);
    const encoded = encodeMessage({ t: 32, from: nodeA });
    const from = encoded.subarray(encoded.indexOf(Buffer.from([0xa4, ...Buffer.from('from')]))); // key "from" and its value
    const bytes = Buffer.concat([Buffer.from([0x83, 0xa1, 0x74, 0x20, 0xa9]), key, inner, from]);
    const m = decodeMessage(bytes) as unknown as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(m), Object.prototype);
    assert.equal(m['polluted'], undefined);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});

describe('encodeForSend', () => {
  /** The bytes a spliced body puts on the wire. */
  const joined = (b: Buffer | SplicedBody): Buffer => (b instanceof SplicedBody ? Buffer.concat(b.parts) : b);
  const bytesArb = fc.integer({ min: SPLICE_MIN_BYTES, max: SPLICE_MIN_BYTES * 3 }).chain((n) => fc.integer({ min: 0, max: 255 }).map((fill) => Buffer.alloc(n, fill)));

  test('a large binary in an application body is spliced in, byte for byte what encodeMessage writes', () => {
    fc.assert(
      fc.property(
        appMessageArb,
        fc.dictionary(text(1, 6), bodyArb, { maxKeys: 4 }),
        bytesArb,
        fc.constantFrom('first', 'last', 'whole'),
        fc.option(fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), { nil: undefined }),
        handleArb,
        (app, fields, data, where, acks, from) => {
          const body = where === 'whole' ? data : where === 'first' ? { d: data, ...fields } : { ...fields, d: data };
          const m: DirectMessage = { t: MessageType.DIRECT, from, hop: 3, msg: { ...app, body } };
          if (acks) m.acks = acks; // after msg, as the overlay attaches them
          const expected = encodeMessage(m);
          const sent = encodeForSend(m);
          assert.ok(sent instanceof SplicedBody, 'spliced');
          assert.ok(sent.parts.includes(data), 'the value itself is a piece (not copied)');
          assert.equal(sent.length, expected.length);
          assert.ok(joined(sent).equals(expected));
          assert.equal(body === data ? m.msg.body : (m.msg.body as Record<string, unknown>)['d'], data, 'the message is left as it was');
          assert.deepStrictEqual(decodeMessage(joined(sent)), decodeMessage(expected));
        },
      ),
      { numRuns: 60 },
    );
  });

  test('everything else is encoded as encodeMessage does, in one buffer', () => {
    fc.assert(
      fc.property(wireMessageArb, (m) => {
        const sent = encodeForSend(m);
        assert.ok(Buffer.isBuffer(sent));
        assert.ok(sent.equals(encodeMessage(m)));
      }),
      { numRuns: 300 },
    );
    // Small binaries and binaries deeper than the body's own fields are copied as usual.
    const small: WireMessage = { t: MessageType.DIRECT, from: nodeA, hop: 1, msg: { app: 'a', mid: 'm', body: { d: Buffer.alloc(SPLICE_MIN_BYTES - 1) } } };
    const deep: WireMessage = { t: MessageType.DIRECT, from: nodeA, hop: 1, msg: { app: 'a', mid: 'm', body: { x: { d: Buffer.alloc(SPLICE_MIN_BYTES) } } } };
    const other: WireMessage = { t: MessageType.HEARTBEAT, from: nodeA } as WireMessage;
    // A frozen body cannot take the stand-in: copied as usual, not an encoding failure.
    const frozen: WireMessage = { t: MessageType.DIRECT, from: nodeA, hop: 1, msg: { app: 'a', mid: 'm', body: Object.freeze({ d: Buffer.alloc(SPLICE_MIN_BYTES, 3) }) } };
    for (const m of [small, deep, other, frozen]) {
      const sent = encodeForSend(m);
      assert.ok(Buffer.isBuffer(sent) && sent.equals(encodeMessage(m)));
    }
  });

  test('a message that holds the stand-in marker itself is encoded the ordinary way', () => {
    // The marker encodeForSend packs in place of the large value (codec.ts, SPLICE_MARKER).
    const marker = Buffer.from('5f9a0c3e71d4b8269e0a4c7d13f5b2e8', 'hex');
    const m: RouteMessage = { ...(samples().ROUTE as RouteMessage) };
    m.msg = { app: 'x', mid: 'm-2', body: { a: marker, d: Buffer.alloc(SPLICE_MIN_BYTES, 9) } };
    const sent = encodeForSend(m);
    assert.ok(Buffer.isBuffer(sent));
    assert.ok(sent.equals(encodeMessage(m)));
    assert.deepStrictEqual(decodeMessage(sent), m);
  });
});
