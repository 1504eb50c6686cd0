/**
 * The Pastry overlay in the simulator: real node code, virtual time, fixed seeds.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Id } from '../../src/id/index.ts';
import { SimRing } from '../../src/sim/ring.ts';
import type { SimNode } from '../../src/sim/ring.ts';
import type { OverlayError } from '../../src/overlay/index.ts';
import type { DepartureReason, ForwardDecision } from '../../src/overlay/index.ts';
import type { NodeHandle } from '../../src/wire/index.ts';
import { MessageType } from '../../src/wire/index.ts';

interface Events {
  departures: { at: SimNode; node: NodeHandle; reason: DepartureReason; time: number }[];
  arrivals: { at: SimNode; node: NodeHandle }[];
  /** `correct`: at delivery time, this node was the live node closest to the key. */
  deliveries: { at: SimNode; key: Id; n: number; hops: number; correct: boolean }[];
}

/** A ring whose nodes record overlay events and deliveries of the 'probe' app. */
function recordingRing(seed: string, options: ConstructorParameters<typeof SimRing>[0]['overlay'] = {}): { ring: SimRing; events: Events } {
  const ring = new SimRing({ seed, overlay: options, network: { codec: true } });
  const events: Events = { departures: [], arrivals: [], deliveries: [] };
  ring.onNodeCreated((node) => {
    node.pastry.register({
      name: 'probe',
      deliver: (msg, info) =>
        events.deliveries.push({ at: node, key: info.key!, n: msg.body as number, hops: info.hops, correct: ring.closestLive(info.key!) === node }),
      nodeDeparted: (h, reason) => events.departures.push({ at: node, node: h, reason, time: ring.now() }),
      nodeArrived: (h) => events.arrivals.push({ at: node, node: h }),
    });
  });
  return { ring, events };
}

function randomKeys(ring: SimRing, n: number, label: string): Id[] {
  const r = ring.env.random.fork(label);
  return Array.from({ length: n }, () => Id.fromBytes(r.bytes(20)));
}

/** Routes one message per key from random live nodes; returns the expected root of each. */
function routeAll(ring: SimRing, keys: Id[], base = 0): Map<number, SimNode> {
  const expected = new Map<number, SimNode>();
  keys.forEach((key, i) => {
    const n = base + i;
    ring.randomLive().pastry.route(key, { app: 'probe', mid: `m${n}`, body: n });
    expected.set(n, ring.closestLive(key)!);
  });
  return expected;
}

describe('Pastry ring in the simulator', () => {
  test('every key routes to its numerically closest live node, in about log16(N) hops', async () => {
    const { ring, events } = recordingRing('route-200');
    await ring.build(200);
    await ring.runFor(2_000);
    assert.equal(ring.leafSetsConsistent().wrong, 0, 'every leaf set matches the true ring');
    const keys = randomKeys(ring, 2000, 'keys');
    const expected = routeAll(ring, keys);
    await ring.runUntil(() => events.deliveries.length >= keys.length, 10_000, 'all delivered');
    const wrong = events.deliveries.filter((d) => expected.get(d.n) !== d.at);
    assert.equal(wrong.length, 0, 'all delivered at the correct root');
    assert.equal(new Set(events.deliveries.map((d) => d.n)).size, keys.length, 'each exactly once');
    const avgHops = events.deliveries.reduce((a, d) => a + d.hops, 0) / events.deliveries.length;
    assert.ok(avgHops < Math.log(200) / Math.log(16) + 0.5, `average hops ${avgHops}`);
    assert.equal(events.arrivals.length, 199, 'one arrival per joined node');
    assert.equal(new Set(events.arrivals.map((a) => a.node.id.hex)).size, 199);
  });

  test('estimatedRingSize: exact while the ring is smaller than the leaf set, close to the truth beyond', async () => {
    const { ring } = recordingRing('ring-size');
    await ring.build(10);
    await ring.runFor(2_000);
    assert.deepEqual(ring.live().map((n) => n.pastry.estimatedRingSize()), new Array<number>(10).fill(10));
    await ring.build(190);
    await ring.runFor(2_000);
    const estimates = ring.live().map((n) => n.pastry.estimatedRingSize()).sort((a, b) => a - b);
    const median = estimates[estimates.length >> 1]!;
    assert.ok(median > 170 && median < 230, `median estimate ${median} for 200 nodes`);
    assert.ok(estimates[0]! > 100 && estimates[estimates.length - 1]! < 400, `estimates from ${estimates[0]} to ${estimates[estimates.length - 1]}`);
  });

  test('a node restarted with its id at a new address is reached there, not declared dead', async () => {
    const { ring, events } = recordingRing('moved');
    await ring.build(40);
    await ring.runFor(2_000);
    const old = ring.randomLive();
    ring.crash(old);
    // Back (same id, new port) before anyone noticed the crash.
    await ring.runFor(200);
    const fresh = ring.createNode({ id: old.id });
    assert.notEqual(fresh.addr, old.addr);
    ring.startJoin(fresh);
    await ring.runUntil(() => fresh.pastry.isReady, 10_000, 'the restarted node joined');
    const back = ring.now();
    await ring.runFor(10_000);
    // Leaf-set members hear from it and take the new address; a far node's routing-table entry
    // is corrected when it is next used (a failed hop), as in Pastry.
    const stale = ring.live().filter((n) => n.pastry.leafSetMembers().some((h) => h.id.hex === old.id.hex && h.addr !== fresh.addr));
    assert.deepEqual(stale.map((n) => n.id.short()), [], 'no leaf set keeps the old address');
    assert.equal(ring.leafSetsConsistent().wrong, 0, 'every leaf set matches the true ring');
    const late = events.departures.filter((d) => d.node.id.hex === old.id.hex && d.time > back);
    assert.deepEqual(late.map((d) => d.at.id.short()), [], 'nobody reports the restarted node departed');
    // Messages for its id reach it from everywhere, stale routing-table entries or not.
    const from = ring.live().filter((n) => n !== fresh);
    const before = events.deliveries.length;
    from.forEach((n, i) => n.pastry.route(old.id, { app: 'probe', mid: `moved-${i}`, body: i }));
    await ring.runUntil(() => events.deliveries.length - before >= from.length, 10_000, 'all delivered');
    assert.ok(events.deliveries.slice(before).every((d) => d.at === fresh), 'all delivered to the restarted node');
  });

  test('arrivals are reported on the live node nearest to the newcomer', async () => {
    const { ring, events } = recordingRing('arrivals');
    await ring.build(40);
    await ring.runFor(2_000);
    const before = events.arrivals.length;
    const [newcomer] = await ring.build(1);
    await ring.runFor(1_000);
    const arrivals = events.arrivals.slice(before);
    assert.equal(arrivals.length, 1);
    assert.equal(arrivals[0]!.node.id.hex, newcomer!.id.hex);
    const others = ring.live().filter((n) => n !== newcomer);
    const nearest = others.reduce((best, n) => (closer(newcomer!.id, n.id, best.id) ? n : best));
    assert.equal(arrivals[0]!.at, nearest);
  });

  test('a crashed node is reported departed once, by the nearest live node, within 3 s', async () => {
    const { ring, events } = recordingRing('crash-detect');
    await ring.build(60);
    await ring.runFor(3_000);
    for (let round = 0; round < 5; round++) {
      const victim = ring.randomLive();
      const crashedAt = ring.now();
      ring.crash(victim);
      await ring.runUntil(() => events.departures.some((d) => d.node.id.hex === victim.id.hex), 5_000, 'departure reported');
      await ring.runFor(5_000);
      const reports = events.departures.filter((d) => d.node.id.hex === victim.id.hex);
      assert.equal(reports.length, 1, 'reported exactly once');
      assert.equal(reports[0]!.reason, 'failed');
      assert.equal(reports[0]!.at, ring.closestLive(victim.id), 'by the nearest live node');
      assert.ok(reports[0]!.time - crashedAt <= 3_000, `detected after ${reports[0]!.time - crashedAt} ms`);
    }
    await ring.runFor(5_000);
    assert.equal(ring.leafSetsConsistent().wrong, 0, 'leaf sets repaired');
  });

  test('a graceful leave is reported once as "left" and the leaf sets close the gap', async () => {
    const { ring, events } = recordingRing('leave');
    await ring.build(50);
    await ring.runFor(2_000);
    const leaver = ring.randomLive();
    ring.leave(leaver);
    await ring.runFor(3_000);
    const reports = events.departures.filter((d) => d.node.id.hex === leaver.id.hex);
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.reason, 'left');
    assert.equal(reports[0]!.at, ring.closestLive(leaver.id));
    assert.equal(leaver.status, 'left');
    assert.equal(ring.leafSetsConsistent().wrong, 0);
  });

  test('messages in flight to nodes that crash are re-routed to the new root, not lost', async () => {
    const { ring, events } = recordingRing('reroute');
    await ring.build(80);
    await ring.runFor(2_000);
    const keys = randomKeys(ring, 400, 'keys');
    // Crash the roots of half the keys just as the messages are sent.
    const victims = new Set<SimNode>();
    keys.slice(0, 200).forEach((k) => victims.add(ring.closestLive(k)!));
    const survivorsOnly = [...victims].slice(0, 8);
    keys.forEach((key, n) => {
      let from = ring.randomLive();
      while (survivorsOnly.includes(from)) from = ring.randomLive();
      from.pastry.route(key, { app: 'probe', mid: `r${n}`, body: n });
    });
    for (const v of survivorsOnly) ring.crash(v);
    await ring.runUntil(() => events.deliveries.length >= keys.length, 20_000, 'all delivered');
    for (const d of events.deliveries) assert.ok(d.correct, `message ${d.n} at the live root`);
  });

  test('routing stays correct under churn with crashes, leaves and joins', async () => {
    const { ring, events } = recordingRing('churn');
    await ring.build(120);
    await ring.runFor(2_000);
    const r = ring.env.random.fork('churn');
    let sent = 0;
    const expected: number[] = [];
    for (let round = 0; round < 20; round++) {
      const action = r.int(3);
      if (action === 0) ring.crash(ring.randomLive());
      else if (action === 1) ring.leave(ring.randomLive());
      else ring.startJoin(ring.createNode());
      for (let i = 0; i < 50; i++) {
        const key = Id.fromBytes(r.bytes(20));
        ring.randomLive().pastry.route(key, { app: 'probe', mid: `c${sent}`, body: sent });
        expected.push(sent++);
      }
      await ring.runFor(r.int(1500));
    }
    await ring.runUntil(() => events.deliveries.length >= sent, 20_000, 'all delivered');
    assert.equal(new Set(events.deliveries.map((d) => d.n)).size, sent, 'each message delivered once');
    const wrong = events.deliveries.filter((d) => !d.correct);
    assert.equal(wrong.length, 0, 'every message delivered at the live root of its key at that moment');
  });

  test('a partitioned ring heals into one ring', async () => {
    const { ring } = recordingRing('partition');
    await ring.build(40);
    await ring.runFor(2_000);
    const live = ring.live();
    const half = live.filter((_, i) => i % 2 === 0).map((n) => n.addr);
    ring.network.partition([half]);
    await ring.runFor(20_000);
    ring.network.heal();
    await ring.runUntil(() => ring.leafSetsConsistent().wrong === 0, 120_000, 'leaf sets consistent after heal');
  });

  test('nodes joining one bootstrap at the same moment all join on their first attempt', async () => {
    // A joiner used to enter the bootstrap's leaf set as soon as its JOIN arrived; the next
    // joiner's JOIN was then routed to it, still joining, which held it until ready, and two
    // joiners holding each other's JOIN both timed out and retried (seen on loopback rings).
    let failed = 0;
    let slowest = 0;
    for (let s = 0; s < 12; s++) {
      const ring = new SimRing({ seed: `join-together-${s}` });
      const founder = ring.createFirst();
      const joiners = Array.from({ length: 6 }, () => ring.createNode());
      const started = ring.now();
      for (const j of joiners) ring.startJoin(j, [founder.addr]);
      await ring.runUntil(() => joiners.every((j) => j.status !== 'joining'), 30_000, 'every joiner done');
      failed += joiners.filter((j) => j.status !== 'live').length;
      slowest = Math.max(slowest, ring.now() - started);
      await ring.runUntil(() => ring.leafSetsConsistent().wrong === 0, 60_000, 'leaf sets consistent');
    }
    assert.equal(failed, 0, 'joins that ran out of their one attempt');
    assert.ok(slowest < 2000, `the slowest group took ${slowest} ms of virtual time`);
  });

  test('a message whose sender is not the peer it came from is dropped (it cannot put nodes in the leaf set)', async () => {
    const ring = new SimRing({ seed: 'sender-mismatch' });
    await ring.build(8);
    const victim = ring.randomLive();
    const raw = ring.network.createTransport();
    raw.setHandler(() => {});
    const fakeId = Id.fromBytes(ring.env.random.fork('fake').bytes(20));
    const spoofed = { t: MessageType.HEARTBEAT, from: { id: fakeId, addr: 'sim:9999' } } as const;
    raw.send(victim.addr, spoofed);
    await ring.runFor(1000);
    assert.equal(victim.pastry.leafSetMembers().some((h) => h.id.hex === fakeId.hex), false, 'the spoofed sender is not taken');
    assert.equal(victim.pastry.stats.senderMismatches, 1);
    // The same heartbeat naming its true sender is taken: the check, not the message, refused it.
    raw.send(victim.addr, { t: MessageType.HEARTBEAT, from: { id: fakeId, addr: raw.address } });
    await ring.runFor(10);
    assert.equal(victim.pastry.leafSetMembers().some((h) => h.id.hex === fakeId.hex), true, 'a ring smaller than the leaf set takes every live sender');
    assert.equal(victim.pastry.stats.senderMismatches, 1, 'a true sender is not counted');
  });

  test('a node without a reachable bootstrap fails to join unless told to start a ring', async () => {
    const ring = new SimRing({ seed: 'join-fail' });
    const lonely = ring.createNode();
    const joined = lonely.pastry.join(['sim:999'], { newRing: false });
    const outcome = joined.then(
      () => 'joined',
      (err: OverlayError) => err.code,
    );
    await ring.runFor(10_000);
    assert.equal(await outcome, 'JoinFailed');
    const founder = ring.createNode();
    const started = founder.pastry.join(['sim:999'], { newRing: true });
    await ring.runFor(10_000);
    await started;
    assert.equal(founder.pastry.state, 'ready');
    await assert.rejects(ring.createNode().pastry.join([]), (err: OverlayError) => err.code === 'JoinFailed');
  });

  test('forward hooks can pass, consume and redirect; a throwing hook lets the message pass', async () => {
    const ring = new SimRing({ seed: 'forward' });
    const seen: string[] = [];
    const delivered: { at: SimNode; body: string; key: Id }[] = [];
    const redirectTarget = Id.parse('8'.repeat(40));
    ring.onNodeCreated((node) => {
      node.pastry.register({
        name: 'fwd',
        deliver: (msg, info) => delivered.push({ at: node, body: msg.body as string, key: info.key! }),
        forward: (ctx): ForwardDecision | void => {
          seen.push(ctx.msg.body as string);
          if (ctx.msg.body === 'consume') return { action: 'consume' };
          if (ctx.msg.body === 'redirect') return { action: 'redirect', key: redirectTarget, msg: { ...ctx.msg, body: 'redirected' } };
          if (ctx.msg.body === 'throw') throw new Error('hook failure');
          return { action: 'pass' };
        },
      });
    });
    await ring.build(30);
    await ring.runFor(1_000);
    const key = Id.parse('1'.repeat(40));
    let origin = ring.randomLive();
    while (origin === ring.closestLive(key)) origin = ring.randomLive();
    for (const body of ['pass', 'consume', 'redirect', 'throw']) origin.pastry.route(key, { app: 'fwd', mid: body, body });
    await ring.runFor(2_000);
    assert.ok(seen.includes('consume') && seen.includes('pass'), 'the origin runs the hook');
    assert.deepEqual(delivered.filter((d) => d.body === 'pass').map((d) => d.at), [ring.closestLive(key)]);
    assert.equal(delivered.filter((d) => d.body === 'consume').length, 0, 'consumed messages are not delivered');
    const redirected = delivered.filter((d) => d.body === 'redirected');
    assert.equal(redirected.length, 1);
    assert.equal(redirected[0]!.at, ring.closestLive(redirectTarget));
    assert.equal(delivered.filter((d) => d.body === 'throw').length, 1, 'a throwing hook does not lose the message');
  });

  test('duplicate application names are refused; a throwing deliver does not stop the node', async () => {
    const ring = new SimRing({ seed: 'apps' });
    const [a] = await ring.build(3);
    assert.throws(
      () => a!.pastry.register({ name: '__sim', deliver: () => {} }),
      (err: OverlayError) => err.code === 'DuplicateApplication',
    );
    let after = 0;
    for (const n of ring.live()) {
      n.pastry.register({
        name: 'boom',
        deliver: (msg) => {
          if (msg.body === 'boom') throw new Error('application bug');
          after++;
        },
      });
    }
    a!.pastry.route(a!.id, { app: 'boom', mid: 'x1', body: 'boom' });
    a!.pastry.route(a!.id, { app: 'boom', mid: 'x2', body: 'fine' });
    await ring.runFor(1_000);
    assert.equal(after, 1);
    assert.equal(a!.pastry.state, 'ready');
  });

  test('routing tables prefer nearer nodes (lower RTT) over random ones', async () => {
    const ring = new SimRing({ seed: 'proximity', network: { minLatencyMs: 0.1, maxLatencyMs: 20, jitterMs: 0 } });
    await ring.build(300);
    await ring.runFor(200_000); // several maintenance rounds
    let chosen = 0;
    let random = 0;
    let count = 0;
    const live = ring.live();
    const r = ring.env.random.fork('x');
    for (const node of live) {
      const rows = node.pastry.routingTable();
      for (let row = 0; row < Math.min(rows.length, 1); row++) {
        for (const h of rows[row]!) {
          if (!h) continue;
          chosen += ring.network.latency(node.addr, h.addr);
          // A random node qualifying for the same slot (same first digit).
          const digit = h.id.digit(0);
          const candidates = live.filter((n) => n.id.digit(0) === digit && n !== node);
          random += ring.network.latency(node.addr, r.pick(candidates).addr);
          count++;
        }
      }
    }
    assert.ok(count > 1000);
    console.log(`proximity: chosen ${(chosen / count).toFixed(2)} ms vs random ${(random / count).toFixed(2)} ms`);
    assert.ok(chosen / count < 0.85 * (random / count), `row-0 entries average ${(chosen / count).toFixed(2)} ms vs ${(random / count).toFixed(2)} ms for random choices`);
  });
});

function closer(key: Id, a: Id, b: Id): boolean {
  const da = ringDist(key, a);
  const db = ringDist(key, b);
  return da < db || (da === db && a.compare(b) < 0);
}

function ringDist(a: Id, b: Id): bigint {
  const d = (b.big - a.big + (1n << 160n)) % (1n << 160n);
  return d > 1n << 159n ? (1n << 160n) - d : d;
}
