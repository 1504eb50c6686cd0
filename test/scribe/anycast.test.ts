/**
 * Anycast in the simulator: the walk order (local node first, depth-first), accept and decline,
 * changed messages, throwing handlers, asynchronous handlers, NoSubscribers / AllDeclined with
 * the root's event, and randomAnycast's even spread.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTopic } from '../../src/scribe/index.ts';
import type { AnycastDecision, NoSubscribersEvent, ScribeMessage , ScribeError} from '../../src/scribe/index.ts';
import type { MemoryLogger } from '../../src/env/index.ts';
import type { SimNode } from '../../src/sim/ring.ts';
import { checkTree, later, scribeOf, scribeRing, subscribeAll } from './helpers.ts';

async function ringWith(seed: string, n: number, codec = true) {
  const ring = scribeRing(seed, { network: { codec } });
  await ring.build(n);
  await ring.runFor(2_000);
  return ring;
}

describe('Scribe anycast in the simulator', () => {
  test('a subscribed sender offers to itself first; accept stops the walk and carries the reply back', async () => {
    const ring = await ringWith('any-local', 80);
    const topic = makeTopic('topic:workers');
    const subscribers = ring.env.random.fork('p').shuffle(ring.live()).slice(0, 15);
    const recorders = await subscribeAll(ring, topic, subscribers, (node) => () => ({ accept: true, reply: { worker: node.index } }));
    const sender = recorders[4]!;
    const p = scribeOf(sender.node).anycast(topic, 'CREATE', { job: 1 });
    await ring.runFor(500);
    const res = await p;
    assert.equal(res.by.id.hex, sender.node.id.hex);
    assert.deepEqual(res.reply, { worker: sender.node.index });
    assert.deepEqual(res.entity, { job: 1 });
    assert.equal(recorders.reduce((a, r) => a + r.offered.length, 0), 1, 'nobody else was offered it');
  });

  test('declines walk the tree depth-first, each subscriber once, with changes passed on; the first willing one takes it', async () => {
    const ring = await ringWith('any-walk', 100);
    const topic = makeTopic('topic:pool');
    const subscribers = ring.env.random.fork('p').shuffle(ring.live()).slice(0, 25);
    const willing = new Set([subscribers[7]!, subscribers[19]!]);
    const recorders = await subscribeAll(ring, topic, subscribers, (node) => (msg: ScribeMessage): AnycastDecision => {
      if (willing.has(node)) return { accept: true };
      const e = msg.entity as { hops: number[] };
      return { accept: false, entity: { hops: [...e.hops, node.index] } };
    });
    await ring.runFor(3_000);
    const sender = ring.live().find((n) => !subscribers.includes(n))!;
    const p = scribeOf(sender).anycast(topic, 'GET', { hops: [] });
    await ring.runFor(2_000);
    const res = await p;
    assert.ok([...willing].some((w) => w.id.equals(res.by.id)), 'a willing subscriber took it');
    const trail = (res.entity as { hops: number[] }).hops;
    assert.equal(new Set(trail).size, trail.length, 'no subscriber offered twice');
    const offered = recorders.filter((r) => r.offered.length > 0);
    assert.equal(offered.length, trail.length + 1, 'every decliner extended the message; one accepted');
    for (const r of offered) assert.equal(r.offered.length, 1);
    // Each decliner saw the message as changed by those before it.
    for (const r of offered) {
      const seen = (r.offered[0]!.entity as { hops: number[] }).hops;
      assert.deepEqual(seen, trail.slice(0, seen.length));
    }
  });

  test('the walk is depth-first: a subtree is finished before the walk climbs out of it', async () => {
    const ring = await ringWith('any-dfs', 120);
    const topic = makeTopic('topic:dfs');
    const subscribers = ring.env.random.fork('p').shuffle(ring.live()).slice(0, 50);
    const order: SimNode[] = [];
    await subscribeAll(ring, topic, subscribers, (node) => () => {
      order.push(node);
      return false;
    });
    const sender = subscribers[0]!;
    const p = later(scribeOf(sender).anycast(topic, 'GET', null));
    await ring.runFor(3_000);
    await assert.rejects(p, (e: ScribeError) => e.code === 'AllDeclined');
    assert.equal(order.length, subscribers.length, 'every subscriber offered once');
    assert.equal(order[0], sender, 'the sender first');
    // Depth-first: once the walk leaves a node's subtree it never comes back into it.
    const { members, root } = checkTree(ring, topic);
    const parentOf = new Map<SimNode, SimNode | undefined>();
    for (const n of members) parentOf.set(n, members.find((m) => m.id.equals(scribeOf(n).treeInfo(topic)!.parent?.id)));
    const inSubtree = (n: SimNode, top: SimNode): boolean => {
      for (let x: SimNode | undefined = n; x; x = parentOf.get(x)) if (x === top) return true;
      return false;
    };
    let checked = 0;
    for (const top of members) {
      const positions = order.map((n, i) => (inSubtree(n, top) ? i : -1)).filter((i) => i >= 0);
      if (positions.length < 2 || top === root) continue;
      checked++;
      assert.equal(positions[positions.length - 1]! - positions[0]! + 1, positions.length, `subtree of ${top.index} visited contiguously`);
    }
    assert.ok(checked >= 4, `${checked} subtrees with several subscribers`);
  });

  test('a throwing handler counts as declined and is logged; asynchronous handlers are awaited', async () => {
    const ring = await ringWith('any-throw', 40);
    const topic = makeTopic('topic:flaky');
    const [a, b] = ring.env.random.fork('p').shuffle(ring.live());
    await subscribeAll(ring, topic, [a!], () => () => {
      throw new Error('handler bug');
    });
    await subscribeAll(ring, topic, [b!], () => async (msg) => {
      await Promise.resolve();
      return { accept: true, reply: `async:${String(msg.entity)}` };
    });
    const results = [];
    for (let i = 0; i < 3; i++) {
      const p = scribeOf(a!).anycast(topic, 'GET', i);
      await ring.runFor(500);
      results.push(await p);
    }
    for (const [i, r] of results.entries()) {
      assert.equal(r.by.id.hex, b!.id.hex);
      assert.equal(r.reply, `async:${i}`);
    }
    const store = (a!.env.log as MemoryLogger).store;
    const errors = store.entries.filter((e) => e.code === 'SubscriberError' && e.level === 'error');
    assert.equal(errors.length, 1, 'logged once at error level');
  });

  test('NoSubscribers and AllDeclined reject the sender and raise the root event', async () => {
    const ring = await ringWith('any-fail', 60);
    const events: { at: SimNode; event: NoSubscribersEvent }[] = [];
    for (const n of ring.live()) scribeOf(n).onNoSubscribers((event) => events.push({ at: n, event }));
    const empty = makeTopic('topic:nobody');
    const p1 = later(scribeOf(ring.randomLive()).anycast(empty, 'GET', 'x'));
    const p2 = later(scribeOf(ring.randomLive()).randomAnycast(empty, 'GET', 'y'));
    await ring.runFor(1_000);
    await assert.rejects(p1, (e: ScribeError) => e.code === 'NoSubscribers');
    await assert.rejects(p2, (e: ScribeError) => e.code === 'NoSubscribers');
    assert.equal(events.length, 2);
    for (const e of events) {
      assert.equal(e.at, ring.closestLive(empty.id), 'raised on the root');
      assert.equal(e.event.kind, 'anycast');
      assert.equal(e.event.reason, 'NoSubscribers');
    }
    assert.deepEqual(events.map((e) => e.event.message.entity).sort(), ['x', 'y']);

    const busy = makeTopic('topic:busy');
    const subs = ring.env.random.fork('p').shuffle(ring.live()).slice(0, 8);
    await subscribeAll(ring, busy, subs, () => () => ({ accept: false }));
    events.length = 0;
    const p3 = later(scribeOf(ring.randomLive()).randomAnycast(busy, 'GET', 'z'));
    await ring.runFor(1_000);
    await assert.rejects(p3, (e: ScribeError) => e.code === 'AllDeclined');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.at, ring.closestLive(busy.id));
    assert.equal(events[0]!.event.reason, 'AllDeclined');
  });

  test('an anycast nobody answers in time rejects with Timeout', async () => {
    const ring = await ringWith('any-timeout', 20);
    const topic = makeTopic('topic:slow');
    const [slow] = ring.live();
    await subscribeAll(ring, topic, [slow!], () => () => new Promise(() => undefined));
    const p = later(scribeOf(ring.live()[5]!).anycast(topic, 'GET', 1, { timeoutMs: 2_000 }));
    await ring.runFor(3_000);
    await assert.rejects(p, (e: ScribeError) => e.code === 'Timeout');
  });

  test('randomAnycast spreads accepted anycasts evenly over the willing subscribers', async () => {
    const ring = await ringWith('any-spread', 120, false);
    const topic = makeTopic('topic:spread');
    const subscribers = ring.env.random.fork('p').shuffle(ring.live()).slice(0, 16);
    const unwilling = new Set(subscribers.slice(0, 4));
    const accepts = new Map<SimNode, number>();
    await subscribeAll(ring, topic, subscribers, (node) => () => {
      if (unwilling.has(node)) return false;
      accepts.set(node, (accepts.get(node) ?? 0) + 1);
      return true;
    });
    await ring.runFor(5_000); // subtree counts settle
    const total = 960;
    let done = 0;
    for (let i = 0; i < total; i++) {
      scribeOf(ring.randomLive()).randomAnycast(topic, 'GET', i).then(() => done++);
      if (i % 20 === 0) await ring.runFor(10);
    }
    await ring.runUntil(() => done === total, 10_000, 'all anycasts accepted');
    const fair = total / (subscribers.length - unwilling.size);
    const shares = [...accepts.values()].map((c) => c / fair);
    assert.equal(accepts.size, subscribers.length - unwilling.size, 'every willing subscriber got some');
    assert.ok(Math.max(...shares) < 1.6, `busiest subscriber ${Math.max(...shares).toFixed(2)}× its fair share`);
    assert.ok(Math.min(...shares) > 0.5, `least busy ${Math.min(...shares).toFixed(2)}× its fair share`);
    // Plain anycast from one subscribed node always stays local.
    const local = subscribers[10]!;
    const before = accepts.get(local)!;
    for (let i = 0; i < 5; i++) void scribeOf(local).anycast(topic, 'GET', i);
    await ring.runFor(500);
    assert.equal(accepts.get(local), before + 5);
  });
});
