/**
 * The publish/subscribe application variant in the simulator: topic delivery, the anycast
 * handler (accept / decline / throw), the no-subscriber event on the topic's root, and
 * subscriptions dropped when the application stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PubSubApplication } from '../../src/app/index.ts';
import type { AnycastHandlerResult, NoSubscribersEvent, ScribeMessage, Topic } from '../../src/scribe/index.ts';
import { appRing } from './helpers.ts';

class News extends PubSubApplication {
  received: unknown[] = [];
  noSubscribers: NoSubscribersEvent[] = [];
  mode: 'accept' | 'decline' | 'throw' = 'decline';
  constructor(private readonly subscriber: boolean) {
    super('news');
  }
  override async onStart(): Promise<void> {
    if (this.subscriber) await this.subscribe('topic:news').catch(() => {});
  }
  override onTopicMessage(_topic: Topic, msg: ScribeMessage): void {
    this.received.push(msg.entity);
  }
  override onAnycast(_topic: Topic, msg: ScribeMessage): AnycastHandlerResult {
    if (this.mode === 'throw') throw new Error('anycast handler broken');
    return this.mode === 'accept' ? { accept: true, reply: { took: msg.entity, by: this.node.id.hex } } : false;
  }
  override ownsTopic(topic: Topic): boolean {
    return topic.uri === 'topic:empty';
  }
  override onNoSubscribers(event: NoSubscribersEvent): void {
    this.noSubscribers.push(event);
  }
}

test('pub/sub applications: delivery, anycast handler, no-subscriber event, unsubscribe on stop', async () => {
  const sim = await appRing('pubsub-app', 14, { apps: (n) => [new News(n.index % 3 === 0)] });
  await sim.run(4000);
  const subscribers = sim.ring.live().filter((n) => n.index % 3 === 0);
  const app = (n: (typeof subscribers)[number]): News => sim.app<News>(n, 'news');
  const publisher = app(sim.ring.live().find((n) => n.index % 3 !== 0)!);
  publisher.publish('topic:news', 'CREATE', { headline: 'hello' });
  await sim.run(2000);
  for (const n of subscribers) assert.deepEqual(app(n).received, [{ headline: 'hello' }]);
  for (const n of sim.ring.live().filter((x) => !subscribers.includes(x))) assert.equal(app(n).received.length, 0);

  // Every subscriber declines, then one throws and the others accept.
  await assert.rejects(sim.settle(publisher.anycast('topic:news', 'GET', 'job-1')), (e: { code: string }) => e.code === 'AllDeclined');
  for (const n of subscribers) app(n).mode = 'throw';
  await assert.rejects(sim.settle(publisher.anycast('topic:news', 'GET', 'job-x')), (e: { code: string }) => e.code === 'AllDeclined');
  for (const n of subscribers) assert.equal(sim.host(n).status().find((s) => s.name === 'news')!.stats.lastError?.during, 'onAnycast', 'a throwing anycast handler is counted and declines');
  for (const n of subscribers.slice(1)) app(n).mode = 'accept';
  const r = await sim.settle(publisher.anycast('topic:news', 'GET', 'job-2'));
  assert.ok(subscribers.slice(1).some((n) => n.id.hex === (r.reply as { by: string }).by));
  assert.deepEqual((r.reply as { took: unknown }).took, 'job-2');

  // Nobody subscribes to topic:empty: its root's application hears about it.
  publisher.publish('topic:empty', 'CREATE', { lost: true });
  await sim.run(2000);
  const root = sim.ring.closestLive(publisher.topic('topic:empty').id)!;
  assert.equal(app(root).noSubscribers.length, 1);
  assert.equal(app(root).noSubscribers[0]!.kind, 'publish');

  // Stopping the application drops its subscription.
  const leaving = subscribers[1]!;
  const stopped = app(leaving);
  assert.equal(stopped.isSubscribed('topic:news'), true);
  await sim.settle(sim.host(leaving).remove('news'));
  assert.equal(sim.scribe(leaving).isSubscribed(publisher.topic('topic:news')), false);
  publisher.publish('topic:news', 'CREATE', { headline: 'second' });
  await sim.run(2000);
  assert.equal(stopped.received.length, 1, 'the stopped application got nothing more');
  assert.equal(stopped.state, 'stopped');
  assert.equal(app(subscribers[2]!).received.length, 2);
});
