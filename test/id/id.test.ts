import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DIGIT_BASE,
  ID_BITS,
  ID_DIGITS,
  Id,
  InvalidIdError,
  RING_SIZE,
  clockwiseDistance,
  closestTo,
  compareCloseness,
  inClockwiseArc,
  nClosestTo,
  ringDistance,
} from '../../src/id/index.ts';
import { bigIdValue, clusteredIds, idArb, nearIds } from '../helpers/arbitraries.ts';

const HALF = RING_SIZE / 2n;
const mod = (x: bigint): bigint => ((x % RING_SIZE) + RING_SIZE) % RING_SIZE;

/** Reference distance straight from the definition. */
function refRingDistance(a: bigint, b: bigint): bigint {
  const cw = mod(b - a);
  const ccw = mod(a - b);
  return cw < ccw ? cw : ccw;
}

function assertInvalid(fn: () => unknown, messagePart?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidIdError, `expected InvalidIdError, got ${String(err)}`);
    assert.equal(err.code, 'InvalidId');
    assert.equal(err.name, 'InvalidIdError');
    if (messagePart) assert.match(err.message, messagePart);
    return true;
  });
}

describe('constants', () => {
  test('describe a 160-bit ring of 40 hex digits', () => {
    assert.equal(ID_BITS, 160);
    assert.equal(ID_DIGITS, 40);
    assert.equal(DIGIT_BASE, 16);
    assert.equal(RING_SIZE, 2n ** 160n);
  });
});

describe('Id parsing and printing', () => {
  test('hex round trip (either case in, lower case out)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.boolean(), (bytes, upper) => {
        const hex = Buffer.from(bytes).toString('hex');
        const id = Id.parse(upper ? hex.toUpperCase() : hex);
        assert.equal(id.hex, hex);
        assert.equal(id.toString(), hex);
        assert.equal(id.toJSON(), hex);
        assert.equal(JSON.stringify({ id }), JSON.stringify({ id: hex }));
        assert.equal(id.short(), hex.slice(0, 8));
        assert.ok(Id.parse(id.hex).equals(id));
      }),
    );
  });

  test('bytes round trip (also from a Uint8Array view into a larger buffer)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.nat(8), (bytes, offset) => {
        const id = Id.fromBytes(bytes);
        assert.deepEqual([...id.toBytes()], [...bytes]);
        assert.equal(id.toBytes().length, 20);
        const big = new Uint8Array(offset + 28);
        big.set(bytes, offset);
        assert.ok(Id.fromBytes(big.subarray(offset, offset + 20)).equals(id));
      }),
    );
  });

  test('bigint round trip, zero-padded to 40 digits', () => {
    fc.assert(
      fc.property(bigIdValue, (v) => {
        const id = Id.fromBigInt(v);
        assert.equal(id.big, v);
        assert.equal(id.hex.length, 40);
        assert.equal(BigInt('0x' + id.hex), v);
        assert.equal(Id.parse(id.hex).big, v);
        assert.ok(Id.fromBytes(id.toBytes()).equals(id));
      }),
    );
    assert.equal(Id.fromBigInt(0n).hex, '0'.repeat(40));
    assert.equal(Id.fromBigInt(RING_SIZE - 1n).hex, 'f'.repeat(40));
  });

  test('ids equal by value are deep-equal whether or not their number was computed', () => {
    const a = Id.fromBigInt(0x1234n); // number cached
    const b = Id.parse(a.hex); // not yet computed
    assert.deepStrictEqual(a, b);
    void b.big;
    assert.deepStrictEqual(a, b);
  });

  test('wrong length is rejected with the length in the message', () => {
    for (const text of ['', 'a', 'a'.repeat(39), 'a'.repeat(41), 'a'.repeat(80)]) {
      assertInvalid(() => Id.parse(text), new RegExp(`\\(${text.length} characters\\)`));
      assert.equal(Id.tryParse(text), undefined);
    }
    assertInvalid(() => Id.parse('a'.repeat(200)), /40 hex digits/);
  });

  test('non-hex characters are rejected', () => {
    fc.assert(
      fc.property(
        fc.nat(39),
        fc.string({ minLength: 1, maxLength: 1 }).filter((c) => !/[0-9a-fA-F]/.test(c)),
        (pos, c) => {
          const text = 'a'.repeat(pos) + c + 'a'.repeat(39 - pos);
          assertInvalid(() => Id.parse(text), /40 hex digits/);
          assert.equal(Id.tryParse(text), undefined);
        },
      ),
    );
    assertInvalid(() => Id.parse('0x' + 'a'.repeat(38)));
    assertInvalid(() => Id.parse(' ' + 'a'.repeat(39)));
  });

  test('non-string input is rejected naming the type', () => {
    for (const value of [undefined, null, 42, 42n, {}, ['a'.repeat(40)], Buffer.alloc(20)]) {
      assertInvalid(() => Id.parse(value as unknown as string), /must be a string/);
      assert.equal(Id.tryParse(value), undefined);
    }
  });

  test('out-of-range or mistyped numbers and wrong-sized byte arrays are rejected', () => {
    assertInvalid(() => Id.fromBigInt(-1n), /out of range/);
    assertInvalid(() => Id.fromBigInt(RING_SIZE), /out of range/);
    assertInvalid(() => Id.fromBigInt(5 as unknown as bigint));
    for (const n of [0, 19, 21, 40]) assertInvalid(() => Id.fromBytes(new Uint8Array(n)), new RegExp(`got ${n}`));
    assertInvalid(() => Id.fromBytes(new Array(20).fill(0) as unknown as Uint8Array));
  });
});

describe('digits and comparison', () => {
  test('digit(i) and sharedPrefixLength agree with the hex string', () => {
    fc.assert(
      fc.property(idArb, idArb, (a, b) => {
        for (let i = 0; i < ID_DIGITS; i++) assert.equal(a.digit(i), parseInt(a.hex[i]!, 16));
        let expected = 0;
        while (expected < 40 && a.hex[expected] === b.hex[expected]) expected++;
        assert.equal(a.sharedPrefixLength(b), expected);
        assert.equal(b.sharedPrefixLength(a), expected);
        assert.equal(a.sharedPrefixLength(a), 40);
      }),
    );
  });

  test('sharedPrefixLength on ids that differ only at one digit', () => {
    fc.assert(
      fc.property(idArb, fc.nat(39), fc.integer({ min: 1, max: 15 }), (a, pos, delta) => {
        const changed = ((a.digit(pos) + delta) % 16).toString(16);
        const b = Id.parse(a.hex.slice(0, pos) + changed + a.hex.slice(pos + 1));
        assert.equal(a.sharedPrefixLength(b), pos);
      }),
    );
  });

  test('digit() outside 0..39 throws rather than returning garbage', () => {
    const id = Id.fromBigInt(1n);
    for (const i of [-1, 40, 41]) assert.throws(() => id.digit(i), RangeError);
  });

  test('compare is consistent with bigint order; equals with value equality', () => {
    fc.assert(
      fc.property(idArb, idArb, (a, b) => {
        const expected = a.big < b.big ? -1 : a.big > b.big ? 1 : 0;
        assert.equal(Math.sign(a.compare(b)), expected);
        assert.equal(Math.sign(b.compare(a)), -expected + 0);
        assert.equal(a.equals(b), expected === 0);
        assert.equal(a.equals(Id.parse(a.hex.toUpperCase())), true);
      }),
    );
    const id = Id.fromBigInt(7n);
    assert.equal(id.equals(undefined), false);
    assert.equal(id.equals(null), false);
  });

  test('sorting with compare gives numeric order', () => {
    fc.assert(
      fc.property(fc.array(idArb, { maxLength: 30 }), (ids) => {
        const sorted = ids.slice().sort((x, y) => x.compare(y)).map((x) => x.big);
        const expected = ids.map((x) => x.big).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
        assert.deepEqual(sorted, expected);
      }),
    );
  });
});

describe('ring distances', () => {
  test('clockwiseDistance(a,b) + clockwiseDistance(b,a) is 2^160, or 0 for equal ids', () => {
    fc.assert(
      fc.property(idArb, idArb, (a, b) => {
        const ab = clockwiseDistance(a, b);
        const ba = clockwiseDistance(b, a);
        assert.ok(ab >= 0n && ab < RING_SIZE);
        assert.equal(ab, mod(b.big - a.big));
        assert.equal(ab + ba, a.equals(b) ? 0n : RING_SIZE);
      }),
    );
  });

  test('clockwiseDistance across zero wraps', () => {
    const top = Id.fromBigInt(RING_SIZE - 1n);
    const zero = Id.fromBigInt(0n);
    assert.equal(clockwiseDistance(top, zero), 1n);
    assert.equal(clockwiseDistance(zero, top), RING_SIZE - 1n);
  });

  test('ringDistance is symmetric, at most 2^159, zero only for equal ids, and matches the definition', () => {
    fc.assert(
      fc.property(idArb, idArb, (a, b) => {
        const d = ringDistance(a, b);
        assert.equal(d, ringDistance(b, a));
        assert.ok(d >= 0n && d <= HALF);
        assert.equal(d === 0n, a.equals(b));
        assert.equal(d, refRingDistance(a.big, b.big));
      }),
    );
    assert.equal(ringDistance(Id.fromBigInt(0n), Id.fromBigInt(HALF)), HALF);
    assert.equal(ringDistance(Id.fromBigInt(RING_SIZE - 1n), Id.fromBigInt(1n)), 2n);
  });

  test('ringDistance obeys the triangle inequality', () => {
    fc.assert(
      fc.property(idArb, idArb, idArb, (a, b, c) => {
        assert.ok(ringDistance(a, c) <= ringDistance(a, b) + ringDistance(b, c));
      }),
    );
  });
});

describe('closeness', () => {
  /** Brute-force closest: minimum distance, ties broken by the smaller id. */
  function refClosest(key: Id, ids: Id[]): Id | undefined {
    let best: Id | undefined;
    for (const id of ids) {
      if (best === undefined) {
        best = id;
        continue;
      }
      const d = refRingDistance(key.big, id.big);
      const bd = refRingDistance(key.big, best.big);
      if (d < bd || (d === bd && id.big < best.big)) best = id;
    }
    return best;
  }

  const keyAndIds = fc.oneof(
    fc.tuple(idArb, fc.array(idArb, { maxLength: 20 })),
    // keys in the middle of a dense cluster, so equidistant candidates are common
    clusteredIds(0, 20).chain(({ anchor, ids }) =>
      fc.integer({ min: -8, max: 8 }).map((o) => [Id.fromBigInt(mod(anchor + BigInt(o))), ids] as [Id, Id[]]),
    ),
    // near-ties at every scale: the key is one of the generated ids
    nearIds(2, 20).map(({ ids }) => [ids[0]!, ids.slice(1)] as [Id, Id[]]),
    // keys half a ring away from a cluster: distances near 2^159, where ring distance turns around
    nearIds(1, 20).map(({ anchor, ids }) => [Id.fromBigInt(mod(anchor + HALF)), ids] as [Id, Id[]]),
  );

  test('closestTo agrees with a brute-force reference, ties going to the smaller id', () => {
    fc.assert(
      fc.property(keyAndIds, ([key, ids]) => {
        const got = closestTo(
          key,
          ids.map((id) => ({ id })),
        );
        const expected = refClosest(key, ids);
        assert.equal(got?.id.hex, expected?.hex);
      }),
      { numRuns: 300 },
    );
  });

  test('an equidistant pair resolves to the smaller id, wherever the key is', () => {
    fc.assert(
      fc.property(bigIdValue, fc.bigInt({ min: 1n, max: HALF - 1n }), (k, d) => {
        const key = Id.fromBigInt(k);
        const lo = Id.fromBigInt(mod(k - d));
        const hi = Id.fromBigInt(mod(k + d));
        const smaller = lo.compare(hi) < 0 ? lo : hi;
        assert.equal(closestTo(key, [{ id: lo }, { id: hi }])!.id.hex, smaller.hex);
        assert.equal(closestTo(key, [{ id: hi }, { id: lo }])!.id.hex, smaller.hex);
        assert.ok(compareCloseness(key, smaller, smaller === lo ? hi : lo) < 0);
      }),
    );
  });

  test('closestTo of nothing is undefined; candidates keep their own identity', () => {
    assert.equal(closestTo(Id.fromBigInt(1n), []), undefined);
    const node = { id: Id.fromBigInt(5n), name: 'n' };
    assert.equal(closestTo(Id.fromBigInt(1n), new Set([node])), node);
  });

  test('nClosestTo is sorted by closeness and is the right prefix of the full order', () => {
    fc.assert(
      fc.property(keyAndIds, fc.nat(25), ([key, ids], n) => {
        const got = nClosestTo(
          key,
          ids.map((id) => ({ id })),
          n,
        ).map((c) => c.id);
        assert.equal(got.length, Math.min(n, ids.length));
        const full = ids.slice().sort((a, b) => {
          const da = refRingDistance(key.big, a.big);
          const db = refRingDistance(key.big, b.big);
          return da < db ? -1 : da > db ? 1 : a.big < b.big ? -1 : a.big > b.big ? 1 : 0;
        });
        assert.deepEqual(
          got.map((x) => x.hex),
          full.slice(0, n).map((x) => x.hex),
        );
        for (let i = 1; i < got.length; i++) assert.ok(compareCloseness(key, got[i - 1]!, got[i]!) <= 0);
        if (got.length > 0) assert.equal(got[0]!.hex, refClosest(key, ids)!.hex);
      }),
      { numRuns: 300 },
    );
  });

  test('compareCloseness is antisymmetric, zero only for equal ids, and matches exact distances', () => {
    const triple = fc.oneof(
      fc.tuple(idArb, idArb, idArb),
      nearIds(3, 3).map(({ ids }) => ids as [Id, Id, Id]),
      nearIds(2, 2).map(({ anchor, ids }) => [Id.fromBigInt(mod(anchor + HALF)), ...ids] as [Id, Id, Id]),
    );
    fc.assert(
      fc.property(triple, ([key, a, b]) => {
        const da = refRingDistance(key.big, a.big);
        const db = refRingDistance(key.big, b.big);
        const expected = da < db ? -1 : da > db ? 1 : a.big < b.big ? -1 : a.big > b.big ? 1 : 0;
        assert.equal(Math.sign(compareCloseness(key, a, b)), expected);
        const ab = Math.sign(compareCloseness(key, a, b));
        assert.equal(ab, -Math.sign(compareCloseness(key, b, a)) + 0);
        assert.equal(ab === 0, a.equals(b));
      }),
    );
  });
});

describe('inClockwiseArc', () => {
  test('matches a walk along the ring, including wrap-around', () => {
    fc.assert(
      fc.property(clusteredIds(3, 3, 6), ({ ids }) => {
        const [x, from, to] = ids as [Id, Id, Id];
        // walk clockwise from `from` to `to` (at most 13 steps in the cluster) and see whether x is met
        let met = false;
        for (let v = from.big, steps = 0; ; v = mod(v + 1n), steps++) {
          if (v === x.big) met = true;
          if (v === to.big || steps > 20) break;
        }
        if (clockwiseDistance(from, to) <= 20n) assert.equal(inClockwiseArc(x, from, to), met);
      }),
      { numRuns: 500 },
    );
  });

  test('agrees with the clockwise-distance definition for arbitrary ids', () => {
    const triple = fc.oneof(
      fc.tuple(idArb, idArb, idArb),
      nearIds(3, 3).map(({ ids }) => ids as [Id, Id, Id]),
    );
    fc.assert(
      fc.property(triple, ([x, from, to]) => {
        assert.equal(inClockwiseArc(x, from, to), mod(x.big - from.big) <= mod(to.big - from.big));
        assert.ok(inClockwiseArc(from, from, to));
        assert.ok(inClockwiseArc(to, from, to));
        // x is on exactly one of the two arcs unless it is an endpoint (or the arcs are single points)
        if (!x.equals(from) && !x.equals(to) && !from.equals(to)) assert.notEqual(inClockwiseArc(x, from, to), inClockwiseArc(x, to, from));
      }),
    );
  });

  test('explicit wrap-around cases', () => {
    const id = (v: bigint): Id => Id.fromBigInt(mod(v));
    assert.ok(inClockwiseArc(id(0n), id(-5n), id(5n)));
    assert.ok(inClockwiseArc(id(-1n), id(-5n), id(5n)));
    assert.ok(!inClockwiseArc(id(6n), id(-5n), id(5n)));
    assert.ok(!inClockwiseArc(id(HALF), id(-5n), id(5n)));
    assert.ok(inClockwiseArc(id(HALF), id(5n), id(-5n)));
    // an arc with equal ends is a single point
    assert.ok(inClockwiseArc(id(3n), id(3n), id(3n)));
    assert.ok(!inClockwiseArc(id(4n), id(3n), id(3n)));
  });
});
