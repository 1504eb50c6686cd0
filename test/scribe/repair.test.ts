/**
 * Tree repair in the simulator: forwarders, parents and roots that crash or leave, a new node
 * that becomes the root, partitions, churn. Subscribers get back into the tree by themselves
 * within a few seconds, and publishes sent meanwhile still reach them (replayed after the repair).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Id } from '../../src/id/index.ts';
import { makeTopic } from '../../src/scribe/index.ts';
import type { Topic } from '../../src/scribe/index.ts';
import type { SimNode, SimRing } from '../../src/sim/ring.ts';
import { checkTree, scribeOf, scribeRing, subscribeAll } from './helpers.ts';
import type { Recorder } from './helpers.ts';

/** Publishes `n` messages from random live nodes, one every `gapMs`. */
async function publishSeries(ring: SimRing, topic: Topic, n: number, gapMs: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(scribeOf(ring.randomLive()).publish(topic, 'UPDATE', i));
    await ring.runFor(gapMs);
  }
  return ids;
}

function assertAllGotOnce(recorders: Recorder[], ids: string[], alive: (n: SimNode) => boolean = (n) => n.status === 'live'): void {
  for (const r of recorders) {
    if (!alive(r.node)) continue;
    for (const id of ids) assert.equal(r.got(id), 1, `node ${r.node.index} got ${id} ${r.got(id)} times`);
  }
}

describe('Scribe tree repair in the simulator', () => {
  test('crashed forwarders and parents: subscribers re-join within a few seconds and miss nothing', async () => {
    const ring = scribeRing('repair-crash');
    await ring.build(150);
    await ring.runFor(2_000);
    const topic = makeTopic('topic:repair');
    const subscribers = ring.env.random.fork('p').shuffle(ring.live()).slice(0, 30);
    const recorders = await subscribeAll(ring, topic, subscribers);
    const root = ring.closestLive(topic.id)!;
    // Victims: tree nodes with children, other than the root (forwarders and subscriber-parents).
    const inner = checkTree(ring, topic).members.filter((n) => n !== root && scribeOf(n).treeInfo(topic)!.children.length > 0);
    assert.ok(inner.length >= 3, `${inner.length} inner nodes`);
    const victims = inner.slice(0, 4);
    const orphans = recorders.filter((r) => !victims.includes(r.node) && victims.some((v) => scribeOf(r.node).treeInfo(topic)!.path!.some((id) => id.equals(v.id))));
    assert.ok(orphans.length > 0, 'some subscribers sit below a victim');
    const crashedAt = ring.now();
    for (const v of victims) ring.crash(v);
    // Publishes keep coming during the repair.
    const during = await publishSeries(ring, topic, 10, 300);
    await ring.runUntil(() => checkTree(ring, topic).problems.length === 0, 10_000, 'tree repaired');
    const repairMs = ring.now() - crashedAt;
    assert.ok(repairMs <= 6_000, `repaired after ${repairMs} ms`);
    for (const r of orphans) assert.ok(!scribeOf(r.node).treeInfo(topic)!.path!.some((id) => victims.some((v) => v.id.equals(id))));
    const after = await publishSeries(ring, topic, 5, 50);
    await ring.runFor(2_000);
    assertAllGotOnce(recorders, [...during, ...after]);
    assert.ok(orphans.some((r) => scribeOf(r.node).stats.replayed > 0 || scribeOf(r.node).stats.repairs > 0));
  });

  test('the root crashes: the next closest node takes over and no subscription is lost', async () => {
    const ring = scribeRing('repair-root');
    await ring.build(100);
    await ring.runFor(2_000);
    const topic = makeTopic('topic:root-crash');
    const subscribers = ring.env.random.fork('p').shuffle(ring.live()).slice(0, 25);
    const oldRoot = ring.closestLive(topic.id)!;
    const recorders = await subscribeAll(ring, topic, subscribers.filter((n) => n !== oldRoot));
    ring.crash(oldRoot);
    const during = await publishSeries(ring, topic, 8, 400);
    await ring.runUntil(() => checkTree(ring, topic).problems.length === 0, 10_000, 'tree repaired');
    const newRoot = ring.closestLive(topic.id)!;
    assert.ok(scribeOf(newRoot).treeInfo(topic)!.root);
    for (const r of recorders) assert.ok(scribeOf(r.node).isSubscribed(topic));
    const after = await publishSeries(ring, topic, 3, 50);
    await ring.runFor(1_000);
    assertAllGotOnce(recorders, [...during, ...after]);
  });

  test('a node closer to the topic id joins: it becomes the root, the old tree hangs below it', async () => {
    const ring = scribeRing('repair-newroot');
    await ring.build(80);
    await ring.runFor(2_000);
    const topic = makeTopic('topic:handover');
    const subscribers = ring.env.random.fork('p').shuffle(ring.live()).slice(0, 20);
    const recorders = await subscribeAll(ring, topic, subscribers);
    const oldRoot = ring.closestLive(topic.id)!;
    const publishing = publishSeries(ring, topic, 20, 100);
    await ring.runFor(300);
    const newcomer = ring.createNode({ id: Id.fromBigInt(topic.id.big + 1n) });
    ring.startJoin(newcomer);
    const ids = await publishing;
    await ring.runUntil(() => checkTree(ring, topic).problems.length === 0, 10_000, 'tree consistent');
    assert.equal(ring.closestLive(topic.id), newcomer);
    assert.ok(scribeOf(newcomer).treeInfo(topic)!.root);
    assert.ok(scribeOf(newcomer).treeInfo(topic)!.children.some((c) => c.id.equals(oldRoot.id)), 'the old root is a child of the new one');
    assert.ok(!scribeOf(oldRoot).treeInfo(topic)!.root);
    await ring.runFor(1_000);
    assertAllGotOnce(recorders, ids);
  });

  test('graceful leaves: children re-join at once', async () => {
    const ring = scribeRing('repair-leave');
    await ring.build(120);
    await ring.runFor(2_000);
    const topic = makeTopic('topic:leave');
    const subscribers = ring.env.random.fork('p').shuffle(ring.live()).slice(0, 30);
    const recorders = await subscribeAll(ring, topic, subscribers);
    const root = ring.closestLive(topic.id)!;
    const leavers = checkTree(ring, topic).members.filter((n) => n !== root && scribeOf(n).treeInfo(topic)!.children.length > 0).slice(0, 3);
    leavers.push(root);
    const before = ring.now();
    for (const v of leavers) {
      scribeOf(v).leave();
      ring.leave(v);
    }
    await ring.runUntil(() => checkTree(ring, topic).problems.length === 0, 10_000, 'tree repaired');
    assert.ok(ring.now() - before < 2_500, `re-joined after ${ring.now() - before} ms (no heartbeat timeout needed)`);
    const ids = await publishSeries(ring, topic, 5, 20);
    await ring.runFor(1_000);
    assertAllGotOnce(recorders, ids, (n) => !leavers.includes(n));
  });

  test('a partition splits the tree; after healing there is one tree again and publishes reach everyone', async () => {
    const ring = scribeRing('repair-partition', { network: { codec: false } });
    await ring.build(40);
    await ring.runFor(2_000);
    const topic = makeTopic('topic:split');
    const subscribers = ring.env.random.fork('p').shuffle(ring.live()).slice(0, 16);
    const recorders = await subscribeAll(ring, topic, subscribers);
    const half = ring.live().filter((_, i) => i % 2 === 0).map((n) => n.addr);
    ring.network.partition([half]);
    await ring.runFor(10_000);
    ring.network.heal();
    await ring.runUntil(() => ring.leafSetsConsistent().consistent, 120_000, 'ring healed');
    await ring.runUntil(() => checkTree(ring, topic).problems.length === 0, 20_000, 'one tree');
    const ids = await publishSeries(ring, topic, 5, 50);
    await ring.runFor(1_000);
    assertAllGotOnce(recorders, ids);
  });

  test('under churn (crashes, leaves, joins) every subscriber alive throughout gets every publish', async () => {
    const ring = scribeRing('repair-churn', { network: { codec: false } });
    await ring.build(200);
    await ring.runFor(2_000);
    const topics = [0, 1, 2].map((i) => makeTopic(`topic:churn/${i}`));
    const r = ring.env.random.fork('churn');
    const recorders: Recorder[][] = [];
    for (const t of topics) recorders.push(await subscribeAll(ring, t, r.shuffle(ring.live()).slice(0, 25)));
    const departed = new Set<SimNode>();
    const ids: string[][] = topics.map(() => []);
    // Half the victims are inner nodes of a tree (the departures that need repair).
    const victim = (): SimNode => {
      if (r.next() < 0.5) return ring.randomLive();
      const t = topics[r.int(topics.length)]!;
      const inner = ring.live().filter((n) => (scribeOf(n).treeInfo(t)?.children.length ?? 0) > 0);
      return inner.length > 0 ? r.pick(inner) : ring.randomLive();
    };
    for (let round = 0; round < 40; round++) {
      const action = r.int(4);
      if (action === 0) {
        const v = victim();
        departed.add(v);
        ring.crash(v);
      } else if (action === 1) {
        const v = victim();
        departed.add(v);
        scribeOf(v).leave();
        ring.leave(v);
      } else if (action === 2) {
        ring.startJoin(ring.createNode());
      }
      topics.forEach((t, i) => ids[i]!.push(scribeOf(ring.randomLive()).publish(t, 'UPDATE', round)));
      await ring.runFor(r.int(600));
    }
    await ring.runFor(8_000);
    let expected = 0;
    let got = 0;
    topics.forEach((_, i) => {
      for (const rec of recorders[i]!) {
        if (departed.has(rec.node)) continue;
        for (const id of ids[i]!) {
          expected++;
          const n = rec.got(id);
          assert.ok(n <= 1, 'never twice');
          got += n;
        }
      }
    });
    assert.equal(got, expected, `${expected - got} of ${expected} deliveries missing`);
    for (const t of topics) assert.deepEqual(checkTree(ring, t).problems, []);
  });
});
