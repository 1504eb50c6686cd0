/**
 * Scribe in the simulator (real node code, virtual time, messages through the real codec):
 * subscribing builds one tree rooted at the topic's root; publishes reach every subscriber once;
 * unsubscribing prunes; bad input is dropped and logged.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Scope } from '../../src/id/index.ts';
import { makeTopic } from '../../src/scribe/index.ts';
import type { NoSubscribersEvent , ScribeError} from '../../src/scribe/index.ts';
import type { MemoryLogger } from '../../src/env/index.ts';
import { Recorder, checkTree, scribeOf, scribeRing, subscribeAll } from './helpers.ts';

describe('Scribe publish/subscribe in the simulator', () => {
  test('subscribers form one tree at the topic root; every publish reaches each subscriber exactly once', async () => {
    const ring = scribeRing('pubsub');
    await ring.build(120);
    await ring.runFor(2_000);
    const topic = makeTopic('topic:news');
    const r = ring.env.random.fork('pick');
    const subscribers = r.shuffle(ring.live()).slice(0, 30);
    const recorders = await subscribeAll(ring, topic, subscribers);
    await ring.runFor(50);
    for (const rec of recorders) assert.equal(rec.confirmations, 1, 'subscribed() called once');
    for (const n of subscribers) assert.deepEqual(scribeOf(n).topics().map((t) => t.uri), ['topic:news']);
    const tree = checkTree(ring, topic);
    assert.deepEqual(tree.problems, []);
    assert.ok(tree.members.length > subscribers.length, 'forwarders joined the tree');
    assert.ok(scribeOf(tree.root).treeInfo(topic)!.root);

    // A second local client on one node, and an outsider that only watches.
    const second = new Recorder(subscribers[0]!);
    await scribeOf(subscribers[0]!).subscribe(topic, second);
    const outsider = ring.live().find((n) => !subscribers.includes(n))!;
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(scribeOf(ring.randomLive()).publish(topic, 'UPDATE', { i, blob: Buffer.from([i]) }));
    ids.push(scribeOf(subscribers[3]!).publish(topic, undefined, 'from a subscriber'));
    await ring.runFor(1_000);
    for (const rec of [...recorders, second]) {
      for (const id of ids) assert.equal(rec.got(id), 1, `node ${rec.node.index} got ${id} once`);
    }
    const m = recorders[1]!.delivered.find((x) => x.id === ids[5]!)!;
    assert.equal(m.method, 'UPDATE');
    assert.deepEqual(m.entity, { i: 5, blob: Buffer.from([5]) });
    assert.equal(m.topic.uri, 'topic:news');
    assert.equal(recorders[1]!.delivered.find((x) => x.id === ids[20])!.source.id.hex, subscribers[3]!.id.hex);
    assert.equal(scribeOf(outsider).isSubscribed(topic), false);
    const delivered = ring.live().reduce((a, n) => a + scribeOf(n).stats.delivered, 0);
    assert.equal(delivered, ids.length * (recorders.length + 1), 'no delivery anywhere else');
  });

  test('scoped topics: a REGION topic lives on nodes of that region', async () => {
    const ring = scribeRing('scoped');
    ring.createFirst({ region: 1, az: 1 });
    for (let i = 0; i < 40; i++) {
      const node = ring.createNode({ location: { region: 1 + (i % 2), az: 1 + (i % 3) } });
      ring.startJoin(node);
      await ring.runUntil(() => node.status === 'live', 10_000);
    }
    await ring.runFor(2_000);
    const topic = makeTopic('svc:cache', Scope.REGION, { region: 2, az: 0 });
    const nodes = ring.live().filter((n) => n.location?.region === 2).slice(0, 6);
    const recorders = await subscribeAll(ring, topic, nodes);
    const id = scribeOf(ring.randomLive()).publish(topic, 'CREATE', 1);
    await ring.runFor(500);
    for (const rec of recorders) assert.equal(rec.got(id), 1);
    assert.equal(checkTree(ring, topic).root.location?.region, 2, 'root in the region');
    const ans = scribeOf(ring.live().find((n) => n.location?.region === 1)!).randomAnycast(topic, 'GET', 'x');
    await ring.runFor(1_000);
    assert.equal((await ans).by.id.hex.slice(0, 2), '02');
  });

  test('unsubscribe stops deliveries and prunes forwarders; the empty tree disappears', async () => {
    const ring = scribeRing('unsub');
    await ring.build(80);
    await ring.runFor(2_000);
    const topic = makeTopic('topic:prune');
    const subscribers = ring.env.random.fork('p').shuffle(ring.live()).slice(0, 12);
    const recorders = await subscribeAll(ring, topic, subscribers);
    const [gone, ...stay] = recorders;
    assert.equal(scribeOf(gone!.node).unsubscribe(topic, gone!), true);
    assert.equal(scribeOf(gone!.node).unsubscribe(topic, gone!), false, 'second time: not subscribed');
    await ring.runFor(200);
    const id = scribeOf(ring.randomLive()).publish(topic, 'DELETE', null);
    await ring.runFor(500);
    assert.equal(gone!.got(id), 0);
    for (const rec of stay) assert.equal(rec.got(id), 1);
    assert.equal(scribeOf(gone!.node).topics().length, 0);
    assert.deepEqual(checkTree(ring, topic).problems, []);

    for (const rec of stay) scribeOf(rec.node).unsubscribe(topic, rec);
    await ring.runFor(500);
    const holders = ring.live().filter((n) => scribeOf(n).treeInfo(topic) !== undefined);
    // Only the root may keep (empty) state, for replay, and only for the replay window.
    assert.ok(holders.length <= 1, `${holders.length} nodes still hold tree state`);
    if (holders.length === 1) assert.ok(scribeOf(holders[0]!).treeInfo(topic)!.root);
    await ring.runFor(scribeOf(ring.randomLive()).options.replayWindowMs + 2_000);
    assert.equal(ring.live().filter((n) => scribeOf(n).treeInfo(topic) !== undefined).length, 0);
  });

  test('a publish to a topic without subscribers raises the event on the root only', async () => {
    const ring = scribeRing('nosub-pub');
    await ring.build(50);
    await ring.runFor(2_000);
    const topic = makeTopic('topic:lonely');
    const events: { at: number; event: NoSubscribersEvent }[] = [];
    for (const n of ring.live()) scribeOf(n).onNoSubscribers((event) => events.push({ at: n.index, event }));
    const id = scribeOf(ring.randomLive()).publish(topic, 'CREATE', { hello: 1 });
    await ring.runFor(1_000);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.at, ring.closestLive(topic.id)!.index);
    assert.equal(events[0]!.event.kind, 'publish');
    assert.equal(events[0]!.event.reason, 'NoSubscribers');
    assert.equal(events[0]!.event.message.id, id);
    assert.deepEqual(events[0]!.event.message.entity, { hello: 1 });
    assert.equal(events[0]!.event.topic.uri, 'topic:lonely');
  });

  test('bad input: invalid topics and methods are refused; malformed messages are dropped and logged once', async () => {
    const ring = scribeRing('bad-input', { logLevel: 'warn' });
    const [a, b] = await ring.build(10);
    await ring.runFor(1_000);
    const s = scribeOf(a!);
    await assert.rejects(s.subscribe({ uri: 'x' } as never, new Recorder(a!)), (e: ScribeError) => e.code === 'InvalidTopic');
    assert.throws(() => s.publish(makeTopic('topic:x'), 'PATCH' as never, 1), (e: ScribeError) => e.code === 'InvalidArgument');
    await assert.rejects(s.anycast({} as never, 'GET', 1), (e: ScribeError) => e.code === 'InvalidTopic');
    const bodies: [string, unknown][] = [
      ['sub', { t: 'nope' }],
      ['ack', { t: a!.id, p: 'x' }],
      ['hb', { ts: [1, 2] }],
      ['pub', { t: a!.id, u: 'topic:x', i: '', e: 1 }],
      ['aw', { t: a!.id }],
      ['rp', { t: a!.id, ms: [{}] }],
      ['cnt', { ts: [a!.id], cs: [-1] }],
      ['what', {}],
    ];
    for (const [kind, body] of bodies) for (let i = 0; i < 3; i++) b!.pastry.send(a!.pastry.handle, { app: 'scribe', mid: `bad-${kind}-${i}`, kind, body });
    await ring.runFor(500);
    assert.equal(s.stats.malformed, bodies.length * 3);
    const store = (a!.env.log as MemoryLogger).store;
    const lines = store.entries.filter((e) => e.code === 'MalformedMessage');
    assert.equal(lines.length, bodies.length, 'one line per kind');
    const idle = ring.createNode();
    assert.throws(() => scribeOf(idle).publish(makeTopic('topic:x'), 'GET', 1), (e: ScribeError) => e.code === 'NotRunning');
    await assert.rejects(scribeOf(idle).randomAnycast(makeTopic('topic:x'), 'GET', 1), (e: ScribeError) => e.code === 'NotRunning');
    scribeOf(idle).stop();
    assert.throws(() => scribeOf(idle).publish(makeTopic('topic:x'), 'GET', 1), (e: ScribeError) => e.code === 'Closed');
    // Still works.
    const topic = makeTopic('topic:after');
    const [rec] = await subscribeAll(ring, topic, [a!]);
    const id = scribeOf(b!).publish(topic, 'GET', 2);
    await ring.runFor(200);
    assert.equal(rec!.got(id), 1);
  });
});
