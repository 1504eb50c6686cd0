/**
 * The rewrap job's pre-flight check, on ring walks as the ops API makes them: which nodes stand in
 * the way of a rewrap under a given current master key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeMismatches, masterKeyMismatches } from '../../../src/cloud/s3/rewrap-preflight.ts';
import type { NodeSummary, RingMember, RingSnapshot } from '../../../src/node/index.ts';

function member(id: string, s3: 'active' | 'none' | 'failed', sse: unknown, answered = true): RingMember {
  const summary = {
    apps: s3 === 'none' ? [{ name: 'dht', kind: 'core', state: 'active' }] : [{ name: 's3', kind: 'app', state: s3 }],
    services: s3 === 'none' ? {} : { s3: { endpoint: 'http://x', sse } },
  } as unknown as NodeSummary;
  return { id: id.padEnd(40, '0'), addr: `10.0.0.${id.length}:4000`, health: answered ? 'ok' : 'unreachable', ...(answered ? { summary } : {}) };
}

function snapshot(members: RingMember[]): RingSnapshot {
  return { self: members[0]!.id, at: 0, members, truncated: false, durationMs: 1 };
}

test('nodes serving S3 with another current key, none, or no answer stand in the way; others do not', () => {
  const ring = snapshot([
    member('a1', 'active', { current: 'new', held: ['new', 'old'] }),
    member('b22', 'active', { current: 'old', held: ['old'] }),
    member('c333', 'active', null),
    member('d4444', 'none', undefined),
    member('e55555', 'failed', { current: 'old' }),
    member('f666666', 'active', undefined, false),
  ]);
  const m = masterKeyMismatches(ring, 'new');
  assert.deepEqual(
    m.map((x) => [x.id.slice(0, 7), x.current]),
    [
      ['b220000', 'old'],
      ['c333000', null],
      ['f666666', 'unreachable'],
    ],
  );
  assert.match(describeMismatches(m), /b22000000000 \(10\.0\.0\.3:4000\): current key old; c33300000000 \(10\.0\.0\.4:4000\): no master key; f66666600000 \(10\.0\.0\.7:4000\): did not answer/);
  assert.deepEqual(masterKeyMismatches(snapshot([member('a1', 'active', { current: 'new' }), member('d4444', 'none', undefined)]), 'new'), []);
});
