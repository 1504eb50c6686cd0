/**
 * The seeder: validation with paths in the messages, idempotence (seeding twice writes once),
 * overwrite keeping live state, ranges from IPv4 / integer bounds, regions and zones, raw
 * records, and a new zone seeded into an existing ring.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Id, Scope, idFor } from '../../src/id/index.ts';
import { PiApplication, SharedRecordActivator, appUri, parseSeed, queueUri, rangeUri, rangeValues, regionUri, scopedId, zoneUri } from '../../src/app/index.ts';
import type { AppError, AppRecord, PlaceRecord, QueueRecord, RangeRecord } from '../../src/app/index.ts';
import { appRing, seed } from './helpers.ts';

describe('seed format', () => {
  test('a bad seed is refused with every problem and its path', () => {
    assert.throws(
      () => parseSeed({ applications: [{ name: 'Bad Name', slots: 2 }, { name: 'both', slots: 1, checkpoints: 2 }], queues: [{ name: 'q', retries: -1 }], extra: 1 }),
      (e: AppError) => {
        assert.equal(e.code, 'InvalidSeed');
        assert.match(e.message, /applications\[0\]\.name: must be 1-63 characters/);
        assert.match(e.message, /applications\[1\]: an application needs either "slots"/);
        assert.match(e.message, /queues\[0\]\.retries/);
        assert.match(e.message, /extra|Unrecognized/);
        return true;
      },
    );
    assert.throws(() => parseSeed({ ranges: [{ name: 'r', from: '10.0.0.9', to: '10.0.0.1' }] }), /ranges\[0\]: "to" comes before "from"/);
    assert.throws(() => parseSeed({ ranges: [{ name: 'r', from: '10.0.0.1', to: 5 }] }), /must both be IPv4 addresses or both integers/);
    assert.throws(() => parseSeed({ ranges: [{ name: 'r', from: 0, to: 20_000 }] }), /at most 10000 values/);
    assert.throws(() => parseSeed({ records: [{ entity: {} }] }), /records\[0\]: a record needs either "uri" or "id"/);
    assert.throws(() => parseSeed('text'), (e: AppError) => e.code === 'InvalidSeed');
  });

  test('an empty seed is refused: there is nothing to write', () => {
    for (const empty of [[], {}, undefined, null, { location: { region: 1, az: 2 } }, { applications: [], records: [] }]) {
      assert.throws(
        () => parseSeed(empty),
        (e: AppError) => e.code === 'InvalidSeed' && /^invalid seed: it is empty: give at least one of applications, queues, regions, ranges or records$/.test(e.message),
        JSON.stringify(empty),
      );
    }
  });

  test('defaults, a list taken as records, and range expansion', () => {
    const s = parseSeed({ queues: [{ name: 'jobs' }] });
    assert.deepEqual(s.queues[0], { name: 'jobs', scope: 'global', retries: 3, staleAfterMs: 60_000, watchers: 2 });
    assert.equal(parseSeed([{ uri: 'doc:a', entity: { a: 1 } }]).records.length, 1);
    assert.deepEqual(rangeValues({ from: '10.0.0.254', to: '10.0.1.1' }), ['10.0.0.254', '10.0.0.255', '10.0.1.0', '10.0.1.1']);
    assert.throws(() => rangeValues({ values: ['a', 'a'] }), /distinct/);
  });
});

class Holder extends PiApplication {
  constructor() {
    super('web', { activator: new SharedRecordActivator({ expiryMs: 6000 }) });
  }
}

describe('seeding a ring', () => {
  test('every kind of record; seeding twice writes once; overwrite changes settings and keeps live claims', async () => {
    const sim = await appRing('seeder-ring', 8, { apps: () => [new Holder()] });
    const spec = {
      regions: [{ code: 1, name: 'eu-west', zones: [{ code: 1, name: 'eu-west-1a' }, { code: 2 }] }],
      applications: [
        { name: 'web', slots: ['10.0.0.1', '10.0.0.2'], expiryMs: 6000 },
        { name: 'index', checkpoints: 3, scope: 'region' },
      ],
      queues: [{ name: 'jobs', retries: 4, staleAfterMs: 5000 }],
      ranges: [{ name: 'ips', from: '192.168.0.1', to: '192.168.0.8', leaseMs: 30_000 }],
      records: [{ uri: 'doc:welcome', entity: { type: 'doc', text: 'hi' } }, { id: 'ab'.repeat(20), entity: { n: 1 } }],
    };
    const first = await seed(sim, spec);
    assert.equal(first.failed, 0, JSON.stringify(first.results.filter((r) => r.error)));
    assert.equal(first.written, 9);
    const again = await seed(sim, spec);
    assert.deepEqual([again.written, again.kept, again.failed], [0, 9, 0], "idempotent");

    const d = sim.dht(sim.ring.randomLive());
    const app = await sim.settle(d.get<AppRecord>(scopedId(appUri('web'), Scope.GLOBAL, undefined)));
    assert.deepEqual(app!.body.slots!.map((s) => s.value), ['10.0.0.1', '10.0.0.2']);
    assert.equal(app!.body.activator, 'shared-record');
    const index = await sim.settle(d.get<AppRecord>(scopedId(appUri('index'), Scope.REGION, undefined)));
    assert.equal(index!.body.checkpoints!.length, 3);
    assert.ok(index!.body.checkpoints!.every((h) => Id.tryParse(h)));
    const q = await sim.settle(d.get<QueueRecord>(idFor(queueUri('jobs'), Scope.GLOBAL)));
    assert.deepEqual([q!.body.retries, q!.body.staleAfterMs, q!.body.watchers], [4, 5000, 2]);
    const r = await sim.settle(d.get<RangeRecord>(idFor(rangeUri('ips'), Scope.GLOBAL)));
    assert.equal(r!.body.values.length, 8);
    const zone = await sim.settle(d.get<PlaceRecord>(idFor(zoneUri(1, 1), Scope.GLOBAL)));
    assert.equal(zone!.body.name, 'eu-west-1a');
    assert.equal((await sim.settle(d.get<PlaceRecord>(idFor(regionUri(1), Scope.GLOBAL))))!.body.name, 'eu-west');
    assert.equal((await sim.settle(d.get(idFor('doc:welcome', Scope.GLOBAL))))!.body['text'], 'hi');
    assert.equal((await sim.settle(d.get(Id.parse('ab'.repeat(20)))))!.body['n'], 1);

    // Overwrite: a third address; the two claims held now survive.
    await sim.runUntil(() => sim.activeNodes('web').length === 2, 10_000);
    const holders = sim.activeNodes('web').map((n) => n.id.hex).sort();
    const o = await seed(sim, { applications: [{ name: 'web', slots: ['10.0.0.1', '10.0.0.2', '10.0.0.3'], overwrite: true }] });
    assert.equal(o.written, 1);
    const app2 = await sim.settle(d.get<AppRecord>(scopedId(appUri('web'), Scope.GLOBAL, undefined)));
    assert.deepEqual(app2!.body.slots!.slice(0, 2).map((s) => s.holder).sort(), holders);
    await sim.runUntil(() => sim.activeNodes('web').length === 3, 15_000);
    assert.ok(holders.every((h) => sim.activeNodes('web').some((n) => n.id.hex === h)), 'the first two holders kept their slots');
  });
});
