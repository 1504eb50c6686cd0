/**
 * The Scribe simulation behind `npm run sim:scribe`: small runs meet the floors, the same
 * seed gives the same figures, and the command prints every required field.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DEFAULT_SCRIBE_SIM, runScribeSim } from '../../src/sim/scribe-sim.ts';

describe('sim:scribe', () => {
  test('without churn: every delivery, no duplicate, every anycast right, even spread; replays exactly', async () => {
    const options = { ...DEFAULT_SCRIBE_SIM, nodes: 200, topics: 20, seed: 'floors', anycastsPerSubscriber: 10 };
    const r = await runScribeSim(options);
    assert.equal(r.unconfirmed, 0);
    assert.ok(r.expectedDeliveries > 700);
    assert.equal(r.deliveries, r.expectedDeliveries);
    assert.equal(r.deliveryRatio, 1);
    assert.equal(r.duplicates, 0);
    assert.ok(r.anycastsToWilling > 700);
    assert.equal(r.anycastsAccepted, r.anycastsToWilling, 'every anycast to a topic with a willing subscriber accepted');
    assert.equal(r.anycastsWrongOutcome, 0, 'NoSubscribers / AllDeclined exactly where due');
    assert.ok(r.noSubscribersFailures > 0 && r.allDeclinedFailures > 0);
    assert.ok(r.maxAcceptShare <= 3, `maxAcceptShare ${r.maxAcceptShare}`);
    assert.ok(r.p99PublishLatencyMs > 0 && r.p99PublishLatencyMs < 50);
    const again = await runScribeSim(options);
    assert.deepEqual({ ...again, wallSeconds: 0, peakRssMB: 0 }, { ...r, wallSeconds: 0, peakRssMB: 0 }, 'same seed, same figures');
  });

  test('with churn: subscribers alive throughout get ≥ 99.9% of publishes', async () => {
    const r = await runScribeSim({ ...DEFAULT_SCRIBE_SIM, nodes: 300, topics: 15, seed: 'churn', churn: true, sessionMinutes: 2, anycastsPerSubscriber: 2 });
    assert.ok(r.leaves + r.crashes >= 10, `${r.leaves + r.crashes} departures`);
    assert.ok(r.treeRepairs > 0);
    assert.equal(r.duplicates, 0);
    assert.ok(r.deliveryRatio >= 0.999, `deliveryRatio ${r.deliveryRatio}`);
  });

  test('the command prints one JSON object with the required fields', () => {
    const out = spawnSync(process.execPath, ['--import', 'tsx', 'src/sim/scribe-main.ts', '--nodes', '60', '--topics', '4', '--seed', '3', '--anycasts', '2', '--json'], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    const report = JSON.parse(out.stdout) as Record<string, unknown>;
    for (const field of ['nodes', 'topics', 'publishes', 'expectedDeliveries', 'deliveries', 'duplicates', 'deliveryRatio', 'anycasts', 'anycastsAccepted', 'maxAcceptShare', 'p99PublishLatencyMs', 'wallSeconds']) {
      assert.equal(typeof report[field], 'number', field);
    }
    assert.equal(report.nodes, 60);
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'src/sim/scribe-main.ts', '--nodes', '0'], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /positive integer/);
  });
});
