/**
 * fast-check arbitraries for ids and wire messages, shared by property tests.
 */
import fc from 'fast-check';
import { Id, RING_SIZE } from '../../src/id/index.ts';
import { MessageType, METHODS, RESPONSE_CODES } from '../../src/wire/index.ts';
import type { AppMessage, NodeHandle, WireMessage } from '../../src/wire/index.ts';

/** Records with the ordinary prototype, as real code and the decoder produce. */
const plain = { noNullPrototype: true } as const;

/** Any value of the id space, biased toward the edges (0, 2^160 - 1, half ring). */
export const bigIdValue: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 4, arbitrary: fc.bigInt({ min: 0n, max: RING_SIZE - 1n }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(0n, 1n, RING_SIZE - 1n, RING_SIZE / 2n, RING_SIZE / 2n - 1n, RING_SIZE / 2n + 1n),
  },
);

/** A uniformly random id, biased toward the edges of the ring. */
export const idArb: fc.Arbitrary<Id> = bigIdValue.map((v) => Id.fromBigInt(v));

/**
 * `count` ids packed around one anchor (offsets within ±`spread`, wrapping at 2^160), so that
 * ties, duplicates and wrap-around are common.
 */
export function clusteredIds(minCount: number, maxCount: number, spread = 8): fc.Arbitrary<{ anchor: bigint; ids: Id[] }> {
  return fc
    .tuple(
      bigIdValue,
      fc.array(fc.integer({ min: -spread, max: spread }), { minLength: minCount, maxLength: maxCount }),
    )
    .map(([anchor, offsets]) => ({
      anchor,
      ids: offsets.map((o) => Id.fromBigInt((((anchor + BigInt(o)) % RING_SIZE) + RING_SIZE) % RING_SIZE)),
    }));
}

/**
 * Ids whose values differ by a few units of 2^`shift` plus arbitrary lower bits, all around one
 * anchor (wrapping at 2^160): near-ties at every scale, including the scale at which a fast
 * approximate distance (e.g. on the top 48 bits, shift 112) stops being able to decide.
 */
export function nearIds(minCount: number, maxCount: number): fc.Arbitrary<{ anchor: bigint; ids: Id[] }> {
  const member = fc.tuple(fc.integer({ min: -3, max: 3 }), fc.bigInt({ min: 0n, max: RING_SIZE - 1n }));
  const shift = fc.oneof(fc.constantFrom(112, 113, 111, 159, 0), fc.integer({ min: 0, max: 159 }));
  return fc.tuple(bigIdValue, shift, fc.array(member, { minLength: minCount, maxLength: maxCount })).map(([anchor, k, members]) => {
    const unit = 1n << BigInt(k);
    return {
      anchor,
      ids: members.map(([units, low]) => {
        const value = anchor + BigInt(units) * unit + (low % unit);
        return Id.fromBigInt(((value % RING_SIZE) + RING_SIZE) % RING_SIZE);
      }),
    };
  });
}

/** A string of `min..max` UTF-16 code units made of whole graphemes. */
export function text(min: number, max: number): fc.Arbitrary<string> {
  return fc
    .string({ unit: 'grapheme', minLength: min, maxLength: max })
    .filter((s) => s.length >= min && s.length <= max);
}

export const handleArb: fc.Arbitrary<NodeHandle> = fc.record({ id: idArb, addr: text(1, 40) }, plain);

const safeKey = fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__');

/** Values an application may put in a message body: JSON-ish plus Buffers and Ids. */
export const bodyArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double().filter((x) => !Object.is(x, -0)),
    text(0, 20),
    fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)),
    idArb,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(safeKey, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;

export const appMessageArb: fc.Arbitrary<AppMessage> = fc.record(
  {
    app: text(1, 30),
    mid: text(1, 30),
    corr: text(1, 30),
    tx: text(1, 30),
    method: fc.constantFrom(...METHODS),
    code: fc.constantFrom(...RESPONSE_CODES),
    kind: text(1, 30),
    body: bodyArb,
  },
  { requiredKeys: ['app', 'mid'], noNullPrototype: true },
);

const int = fc.maxSafeInteger();
const handles = fc.array(handleArb, { maxLength: 6 });
const row = fc.array(fc.option(handleArb, { nil: null }), { maxLength: 16 });
const rows = fc.array(row, { maxLength: 5 });

/** A valid message of every type (as produced by a well-behaved node). */
export const wireMessageArb: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.record(
    {
      t: fc.constant(MessageType.HELLO),
      proto: fc.string({ minLength: 1, maxLength: 16 }),
      v: int,
      addr: text(1, 60),
      id: idArb,
    },
    { requiredKeys: ['t', 'proto', 'v', 'addr'], noNullPrototype: true },
  ),
  fc.record({ t: fc.constant(MessageType.HELLO_REJECT), reason: text(1, 100) }, plain),
  fc.record(
    { t: fc.constant(MessageType.ROUTE), key: idArb, origin: handleArb, from: handleArb, hop: int, hops: int, msg: appMessageArb },
    plain,
  ),
  fc.record({ t: fc.constant(MessageType.DIRECT), from: handleArb, hop: int, msg: appMessageArb }, plain),
  fc.record({ t: fc.constant(MessageType.HOP_ACK), from: handleArb, hops: fc.array(int, { minLength: 1, maxLength: 20 }) }, plain),
  fc.record({ t: fc.constant(MessageType.JOIN), joiner: handleArb, rows, from: handleArb, hop: int, hops: int }, plain),
  fc.record({ t: fc.constant(MessageType.JOIN_REPLY), from: handleArb, rows, leafSet: handles }, plain),
  fc.record(
    { t: fc.constant(MessageType.PROBE), from: handleArb, nonce: int, joining: fc.boolean() },
    { requiredKeys: ['t', 'from', 'nonce'], noNullPrototype: true },
  ),
  fc.record({ t: fc.constant(MessageType.PROBE_REPLY), from: handleArb, nonce: int, leafSet: handles }, plain),
  fc.record({ t: fc.constant(MessageType.HEARTBEAT), from: handleArb }, plain),
  fc.record({ t: fc.constant(MessageType.LEAFSET_REQUEST), from: handleArb }, plain),
  fc.record({ t: fc.constant(MessageType.LEAFSET), from: handleArb, leafSet: handles }, plain),
  fc.record({ t: fc.constant(MessageType.FAILED_NOTICE), from: handleArb, failed: handles }, plain),
  fc.record({ t: fc.constant(MessageType.LEAVE), from: handleArb, leafSet: handles }, plain),
  fc.record({ t: fc.constant(MessageType.ROW_REQUEST), from: handleArb, row: fc.integer({ min: 0, max: 39 }) }, plain),
  fc.record({ t: fc.constant(MessageType.ROW_REPLY), from: handleArb, row: fc.integer({ min: 0, max: 39 }), entries: row }, plain),
  fc.record({ t: fc.constant(MessageType.ANNOUNCE), from: handleArb }, plain),
) as fc.Arbitrary<WireMessage>;
