/**
 * The job runner example's simulation (what `npm run sim:example` runs), small: every job
 * acknowledged by the API is done exactly once in effect with the right result, although the
 * API's node and busy workers are killed while it works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runExampleSim } from '../../src/sim/example-sim.ts';

test('job runner under kills: every job completed, none lost, no effect applied twice, API failover within its expiry', { timeout: 120_000 }, async (t) => {
  const r = await runExampleSim({ seed: 'example-test', nodes: 14, jobs: 60, rate: 10, apiKills: 1, workerKills: 3, expiryMs: 8000 });
  t.diagnostic(JSON.stringify(r));
  assert.equal(r.jobs, 60, 'every submission was acknowledged (clients retried through the failover)');
  assert.equal(r.completed, 60);
  assert.equal(r.lost, 0);
  assert.equal(r.duplicates, 0);
  assert.equal(r.wrongResults, 0);
  assert.equal(r.kills, 4);
  assert.ok(r.reexecutions >= 1, 'killed workers were in the middle of jobs, which ran again elsewhere');
  assert.ok(r.recovered + r.redispatched >= 1, 'the task queue re-dispatched them');
  assert.ok(r.failoverSeconds > 0 && r.failoverSeconds <= 8, `API failover ${r.failoverSeconds} s`);
  assert.ok(r.clientRetries > 0, 'clients met the failover');
  assert.equal(r.addressConflicts, 0);
});
