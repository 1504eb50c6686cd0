/**
 * The chaos scenarios of `npm run chaos:dht`, small: each must lose no acknowledged write, and
 * the counters must end at exactly the acknowledged increments.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { churn, concurrentCounters, crashReplicaPairs, partitionHeal, rollingRestart } from '../../src/sim/dht-chaos.ts';
import type { ScenarioReport } from '../../src/sim/dht-chaos.ts';

function check(r: ScenarioReport): void {
  assert.equal(r.lostWrites, 0, `${r.name}: lost writes`);
  assert.ok(r.ackedWrites > 0, `${r.name}: something was acknowledged`);
  assert.ok(r.unacknowledgedApplied <= r.ambiguousWrites, `${r.name}: only writes of unknown outcome may have applied unacknowledged`);
  assert.equal(r.staleReads, 0, `${r.name}: stale reads`);
}

describe('DHT chaos scenarios (small)', () => {
  test('concurrent counters over a lossy network end at exactly the acknowledged increments', async () => {
    const r = await concurrentCounters({ seed: 'test-counters', nodes: 12, clients: 20, counters: 4, increments: 8 });
    check(r);
    assert.equal(r.ambiguousWrites, 0);
    assert.equal(r.ackedWrites, 4 + 20 * 8);
    assert.equal(r.unacknowledgedApplied, 0);
  });

  test('crashing two replicas at once, twice, under load', async () => {
    const r = await crashReplicaPairs({ seed: 'test-crash', nodes: 16, rounds: 2, clients: 6, thinkMs: 100 });
    check(r);
    assert.equal(r.crashes, 4);
    assert.equal(r.fullStrengthShare, 1);
  });

  test('rolling restart of every node', async () => {
    const r = await rollingRestart({ seed: 'test-rolling', nodes: 6, clients: 3, thinkMs: 100 });
    check(r);
    assert.equal(r.restarts, 6);
  });

  test('partition and heal', async () => {
    const r = await partitionHeal({ seed: 'test-partition', nodes: 16, partitionMs: 8_000 });
    check(r);
    assert.equal(r.healed, true);
    assert.equal(r.fullStrengthShare, 1);
  });

  test('churn with graceful leaves and crashes', async () => {
    const r = await churn({ seed: 'test-churn', nodes: 60, minutes: 4, sessionMinutes: 5 });
    check(r);
    assert.ok(r.crashes + r.leaves > 10, 'there was churn');
  });
});
