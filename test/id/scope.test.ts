import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  Id,
  IdFlags,
  InvalidIdError,
  Scope,
  azOf,
  flagsOf,
  idFor,
  inScope,
  randomIdInScope,
  randomNodeId,
  regionOf,
  scopeOf,
  uriScheme,
  withFlags,
} from '../../src/id/index.ts';
import type { Location } from '../../src/id/index.ts';
import { SeededRandom } from '../../src/env/index.ts';

const sha1 = (s: string): string => createHash('sha1').update(s, 'utf8').digest('hex');
const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

const uriArb = fc
  .tuple(fc.stringMatching(/^[a-z][a-z0-9+.-]{0,10}$/), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }))
  .map(([scheme, rest]) => `${scheme}:${rest}`);
const locationArb: fc.Arbitrary<Location> = fc.record({ region: fc.integer({ min: 0, max: 255 }), az: fc.integer({ min: 0, max: 255 }) });
const scopeArb = fc.constantFrom(Scope.GLOBAL, Scope.REGION, Scope.AVAILABILITY_ZONE);

function assertInvalid(fn: () => unknown, messagePart: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidIdError, `expected InvalidIdError, got ${String(err)}`);
    assert.equal(err.code, 'InvalidId');
    assert.match(err.message, messagePart);
    return true;
  });
}

describe('uriScheme', () => {
  test('returns the lower-cased scheme of scheme:rest URIs', () => {
    assert.equal(uriScheme('bucket:photos'), 'bucket');
    assert.equal(uriScheme('S3+Obj.v-2:a/b:c'), 's3+obj.v-2');
  });

  test('rejects URIs without a scheme or without a rest, naming the URI', () => {
    for (const bad of ['', ':x', 'bucket:', 'nocolon', '1abc:x', 'a b:x', '-a:x']) {
      assertInvalid(() => uriScheme(bad), /scheme:rest/);
      assertInvalid(() => idFor(bad, Scope.GLOBAL), /scheme:rest/);
    }
    assertInvalid(() => uriScheme('x'.repeat(500)), /x{80}"/);
  });

  test('rejects non-string URIs with InvalidIdError rather than a TypeError', () => {
    for (const bad of [undefined, null, 42, {}]) {
      assertInvalid(() => uriScheme(bad as unknown as string), /URI/);
      assertInvalid(() => idFor(bad as unknown as string, Scope.GLOBAL), /URI/);
    }
  });
});

describe('idFor', () => {
  test('is deterministic and depends on the URI', () => {
    fc.assert(
      fc.property(uriArb, uriArb, scopeArb, locationArb, (u1, u2, scope, location) => {
        const a = idFor(u1, scope, { location });
        assert.ok(a.equals(idFor(u1, scope, { location })));
        if (u1 !== u2) assert.ok(!a.equals(idFor(u2, scope, { location })));
      }),
    );
  });

  test('GLOBAL: the hash fills every digit above the flag byte; location is ignored', () => {
    fc.assert(
      fc.property(uriArb, fc.option(locationArb, { nil: undefined }), (uri, location) => {
        const id = idFor(uri, Scope.GLOBAL, location ? { location } : {});
        assert.equal(id.hex.slice(0, 38), sha1(uri).slice(0, 38));
        assert.equal(flagsOf(id), 0);
        assert.equal(scopeOf(id), Scope.GLOBAL);
      }),
    );
  });

  test('REGION: region byte, then a hash byte in the zone position, 128 hash bits, reserved 00, flags', () => {
    fc.assert(
      fc.property(uriArb, locationArb, (uri, location) => {
        const id = idFor(uri, Scope.REGION, { location });
        const h = sha1(uri);
        assert.equal(regionOf(id), location.region);
        assert.equal(id.hex.slice(0, 2), hex2(location.region));
        assert.equal(id.hex.slice(2, 4), h.slice(32, 34));
        assert.equal(id.hex.slice(4, 36), h.slice(0, 32));
        assert.equal(id.hex.slice(36, 38), '00');
        assert.equal(scopeOf(id), Scope.REGION);
        // the zone of the location does not matter for a REGION id
        assert.ok(id.equals(idFor(uri, Scope.REGION, { location: { region: location.region, az: (location.az + 1) % 256 } })));
        assert.ok(inScope(id, Scope.REGION, location));
      }),
    );
  });

  test('AVAILABILITY_ZONE: region byte, zone byte, 128 hash bits, reserved 00, flags', () => {
    fc.assert(
      fc.property(uriArb, locationArb, (uri, location) => {
        const id = idFor(uri, Scope.AVAILABILITY_ZONE, { location });
        assert.equal(regionOf(id), location.region);
        assert.equal(azOf(id), location.az);
        assert.equal(id.hex.slice(4, 36), sha1(uri).slice(0, 32));
        assert.equal(id.hex.slice(36, 38), '00');
        assert.equal(scopeOf(id), Scope.AVAILABILITY_ZONE);
        assert.ok(inScope(id, Scope.AVAILABILITY_ZONE, location));
        assert.ok(inScope(id, Scope.REGION, location));
      }),
    );
  });

  test('REGION and AZ ids of one URI share the 128-bit hash and differ only in the head and flags', () => {
    const location = { region: 7, az: 3 };
    const r = idFor('bucket:x', Scope.REGION, { location });
    const z = idFor('bucket:x', Scope.AVAILABILITY_ZONE, { location });
    assert.equal(r.hex.slice(4, 38), z.hex.slice(4, 38));
    assert.equal(r.hex.slice(0, 2), z.hex.slice(0, 2));
  });

  test('flags carry scope, backupable and backup-copy bits, recoverable with scopeOf / flagsOf', () => {
    fc.assert(
      fc.property(uriArb, scopeArb, locationArb, fc.boolean(), fc.boolean(), (uri, scope, location, backupable, backupCopy) => {
        const id = idFor(uri, scope, { location, backupable, backupCopy });
        assert.equal(scopeOf(id), scope);
        const flags = flagsOf(id);
        assert.equal(flags & IdFlags.SCOPE_MASK, scope);
        assert.equal((flags & IdFlags.BACKUPABLE) !== 0, backupable);
        assert.equal((flags & IdFlags.BACKUP_COPY) !== 0, backupCopy);
        assert.equal(flags & ~0b1111, 0);
        // the flags never move the id away from its place: everything above the flag byte is the same
        assert.equal(id.hex.slice(0, 38), idFor(uri, scope, { location }).hex.slice(0, 38));
      }),
    );
  });

  test('REGION and AVAILABILITY_ZONE scopes need a location', () => {
    for (const scope of [Scope.REGION, Scope.AVAILABILITY_ZONE]) {
      assertInvalid(() => idFor('bucket:x', scope), new RegExp(`scope ${Scope[scope]} needs a region/availability-zone location`));
    }
  });

  test('location codes must be integers 0..255', () => {
    for (const location of [
      { region: 256, az: 0 },
      { region: -1, az: 0 },
      { region: 1.5, az: 0 },
      { region: 0, az: 256 },
      { region: 0, az: NaN },
    ]) {
      assertInvalid(() => idFor('bucket:x', Scope.AVAILABILITY_ZONE, { location }), /code must be an integer 0\.\.255/);
    }
  });

  test('an unknown scope is rejected', () => {
    assertInvalid(() => idFor('bucket:x', 3 as Scope, { location: { region: 0, az: 0 } }), /unknown scope/);
  });
});

describe('withFlags', () => {
  test('changes only the flag byte', () => {
    const id = idFor('bucket:x', Scope.REGION, { location: { region: 9, az: 1 }, backupable: true });
    const copy = withFlags(id, flagsOf(id) | IdFlags.BACKUP_COPY);
    assert.equal(copy.hex.slice(0, 38), id.hex.slice(0, 38));
    assert.equal(flagsOf(copy), Scope.REGION | IdFlags.BACKUPABLE | IdFlags.BACKUP_COPY);
    assert.equal(scopeOf(copy), Scope.REGION);
    assertInvalid(() => withFlags(id, 256), /flags code/);
  });
});

describe('node ids and scope membership', () => {
  test('randomNodeId keeps the region/az prefix and is reproducible from the random source', () => {
    fc.assert(
      fc.property(fc.string(), locationArb, (seed, location) => {
        const a = randomNodeId((n) => new SeededRandom(seed).bytes(n), location);
        const b = randomNodeId((n) => new SeededRandom(seed).bytes(n), location);
        assert.ok(a.equals(b));
        assert.equal(regionOf(a), location.region);
        assert.equal(azOf(a), location.az);
        assert.ok(inScope(a, Scope.AVAILABILITY_ZONE, location));
      }),
    );
  });

  test('randomNodeId puts the random bytes after the prefix; without a location it is all random', () => {
    const bytes = Uint8Array.from({ length: 20 }, (_, i) => i + 1);
    const located = randomNodeId((n) => bytes.subarray(0, n), { region: 0xab, az: 0xcd });
    assert.equal(located.hex, 'abcd' + Buffer.from(bytes.subarray(0, 18)).toString('hex'));
    const anywhere = randomNodeId((n) => bytes.subarray(0, n));
    assert.equal(anywhere.hex, Buffer.from(bytes).toString('hex'));
    assertInvalid(() => randomNodeId((n) => bytes.subarray(0, n), { region: 300, az: 0 }), /region code/);
  });

  test('randomNodeId without a location spreads over the whole ring', () => {
    const random = new SeededRandom('anywhere');
    const regions = new Set<number>();
    for (let i = 0; i < 2000; i++) regions.add(regionOf(randomNodeId((n) => random.bytes(n))));
    assert.ok(regions.size > 200, `only ${regions.size} region bytes hit`);
  });

  test('inScope', () => {
    const loc = { region: 0x12, az: 0x34 };
    const id = Id.parse('1234' + '0'.repeat(36));
    const otherZone = Id.parse('1299' + '0'.repeat(36));
    const otherRegion = Id.parse('1334' + '0'.repeat(36));
    assert.ok(inScope(id, Scope.GLOBAL, loc));
    assert.ok(inScope(otherRegion, Scope.GLOBAL, loc));
    assert.ok(inScope(id, Scope.REGION, loc));
    assert.ok(inScope(otherZone, Scope.REGION, loc));
    assert.ok(!inScope(otherRegion, Scope.REGION, loc));
    assert.ok(inScope(id, Scope.AVAILABILITY_ZONE, loc));
    assert.ok(!inScope(otherZone, Scope.AVAILABILITY_ZONE, loc));
    assert.ok(!inScope(otherRegion, Scope.AVAILABILITY_ZONE, loc));
  });

  test('randomIdInScope stays in scope and varies within it', () => {
    fc.assert(
      fc.property(fc.string(), scopeArb, locationArb, (seed, scope, location) => {
        const random = new SeededRandom(seed);
        const seen = new Set<string>();
        for (let i = 0; i < 20; i++) {
          const id = randomIdInScope((n) => random.bytes(n), scope, location);
          assert.ok(inScope(id, scope, location), `${id.hex} not in ${Scope[scope]} of ${JSON.stringify(location)}`);
          seen.add(id.hex);
        }
        assert.equal(seen.size, 20);
      }),
      { numRuns: 50 },
    );
  });

  test('randomIdInScope for REGION spreads over the zones of the region', () => {
    const random = new SeededRandom('zones');
    const zones = new Set<number>();
    for (let i = 0; i < 2000; i++) zones.add(azOf(randomIdInScope((n) => random.bytes(n), Scope.REGION, { region: 3, az: 4 })));
    assert.ok(zones.size > 200, `only ${zones.size} zones hit`);
  });

  test('randomIdInScope rejects an invalid location clearly', () => {
    assertInvalid(() => randomIdInScope((n) => new Uint8Array(n), Scope.REGION, { region: 256, az: 0 }), /region code/);
    assertInvalid(() => randomIdInScope((n) => new Uint8Array(n), Scope.AVAILABILITY_ZONE, { region: 1, az: -1 }), /availability zone code/);
  });
});
