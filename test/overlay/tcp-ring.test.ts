/**
 * The overlay over real loopback TCP: 16 nodes in one process, some crashed at socket level
 * mid-run. Departures are reported once each, and every key routes to the correct live root.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Id } from '../../src/id/index.ts';
import type { DepartureReason } from '../../src/overlay/index.ts';
import type { NodeHandle } from '../../src/wire/index.ts';
import { TcpRing } from '../helpers/tcp-ring.ts';
import type { TcpRingNode } from '../helpers/tcp-ring.ts';
import { waitFor } from '../helpers/wait.ts';

describe('Pastry over loopback TCP', () => {
  const departures: { at: TcpRingNode; node: NodeHandle; reason: DepartureReason; time: number }[] = [];
  const deliveries = new Map<number, { at: TcpRingNode; hops: number }>();
  let ring: TcpRing;

  after(async () => {
    await ring?.close();
  });

  test('16 nodes join, survive 3 socket-level crashes, and route every key to its live root', async () => {
    ring = await TcpRing.start(16, {
      seed: 'tcp-16',
      onNode: (node) => {
        node.pastry.register({
          name: 'probe',
          deliver: (msg, info) => deliveries.set(msg.body as number, { at: node, hops: info.hops }),
          nodeDeparted: (h, reason) => departures.push({ at: node, node: h, reason, time: Date.now() }),
        });
      },
    });
    await ring.waitConverged();

    const victims = [ring.nodes[3]!, ring.nodes[8]!, ring.nodes[13]!];
    const crashedAt = Date.now();
    for (const v of victims) ring.crash(v);
    await waitFor(() => victims.every((v) => departures.some((d) => d.node.id.equals(v.id))), { timeoutMs: 10_000, what: 'departures reported' });
    await ring.waitConverged();

    for (const v of victims) {
      const reports = departures.filter((d) => d.node.id.equals(v.id));
      assert.equal(reports.length, 1, `departure of ${v.id.short()} reported exactly once`);
      assert.equal(reports[0]!.reason, 'failed');
      assert.equal(reports[0]!.at, ring.closestLive(v.id), 'reported by the nearest live node');
      // The 3 s bound is checked exactly in virtual time (pastry.test.ts); on a shared CI machine
      // real timers can lag, so here it is only bounded loosely.
      assert.ok(reports[0]!.time - crashedAt < 8_000, `detected in ${reports[0]!.time - crashedAt} ms`);
    }

    const live = ring.live();
    const keys = Array.from({ length: 300 }, (_, i) => Id.fromBigInt((BigInt(i) * 0x5deece66dn * (1n << 100n) + 12345n) % (1n << 160n)));
    keys.forEach((key, n) => live[n % live.length]!.pastry.route(key, { app: 'probe', mid: `k${n}`, body: n }));
    await waitFor(() => deliveries.size === keys.length, { timeoutMs: 10_000, what: 'all keys delivered' });
    keys.forEach((key, n) => assert.equal(deliveries.get(n)!.at, ring.closestLive(key), `key ${n} at its live root`));
    assert.ok([...deliveries.values()].every((d) => d.hops <= 1), 'a 13-node ring fits in every leaf set: one hop');
    assert.equal(departures.length, 3, 'no spurious departures');
  });
});
