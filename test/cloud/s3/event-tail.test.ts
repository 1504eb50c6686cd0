/**
 * The ops view of a notification topic (event-tail.ts) in virtual time, with a feed the test
 * drives: a read subscribes once, a long poll waits for the next message (and no longer than it
 * was asked), the buffer keeps the latest messages and says how many a slow reader missed, and a
 * topic nobody reads is let go.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualEnv } from '../../../src/env/index.ts';
import { EventTail } from '../../../src/cloud/s3/event-tail.ts';
import type { TailRead } from '../../../src/cloud/s3/event-tail.ts';

/** A feed whose messages the test publishes. */
function feed(): { subscribed: string[]; unsubscribed: string[]; publish(name: string, message: unknown): void; subscribe(name: string, deliver: (m: unknown) => void): Promise<void>; unsubscribe(name: string): void } {
  const deliverers = new Map<string, (m: unknown) => void>();
  const out = {
    subscribed: [] as string[],
    unsubscribed: [] as string[],
    publish: (name: string, message: unknown) => deliverers.get(name)?.(message),
    subscribe: (name: string, deliver: (m: unknown) => void) => {
      out.subscribed.push(name);
      deliverers.set(name, deliver);
      return Promise.resolve();
    },
    unsubscribe: (name: string) => {
      out.unsubscribed.push(name);
      deliverers.delete(name);
    },
  };
  return out;
}

describe('the ops view of a notification topic', () => {
  test('a long poll answers as soon as a message comes, and no later than it was asked', async () => {
    const env = VirtualEnv.create({ seed: 1 });
    const f = feed();
    const tail = new EventTail(env, f);
    assert.deepEqual(await tail.read('t', 0, 0), { topic: 't', messages: [], last: 0, missed: 0 });
    const started = env.now();
    let answered: TailRead | undefined;
    void tail.read('t', 0, 5_000).then((r) => (answered = r));
    await env.scheduler.runFor(1_000);
    assert.equal(answered, undefined, 'still waiting after 1 s');
    f.publish('t', { n: 1 });
    await env.scheduler.runUntilTrue(() => answered !== undefined, 10);
    assert.deepEqual(answered!.messages.map((m) => [m.seq, m.message]), [[1, { n: 1 }]]);
    assert.equal(env.now() - started, 1_000, 'answered when the message came');

    answered = undefined;
    const again = env.now();
    void tail.read('t', 1, 3_000).then((r) => (answered = r));
    await env.scheduler.runUntilTrue(() => answered !== undefined, 10_000);
    assert.deepEqual(answered!.messages, []);
    assert.equal(env.now() - again, 3_000, 'nothing new: answered when the wait ran out');
    assert.deepEqual(f.subscribed, ['t'], 'subscribed once');
    tail.close();
  });

  test('the buffer keeps the latest messages and counts what a slow reader missed; an unread topic is let go', async () => {
    const env = VirtualEnv.create({ seed: 2 });
    const f = feed();
    const tail = new EventTail(env, f, { keep: 3, idleMs: 60_000 });
    await tail.read('t', 0, 0);
    for (let i = 1; i <= 5; i++) f.publish('t', i);
    const r = await tail.read('t', 0, 0);
    assert.deepEqual(r.messages.map((m) => m.message), [3, 4, 5]);
    assert.deepEqual([r.last, r.missed], [5, 2]);
    assert.equal((await tail.read('t', 4, 0)).missed, 0);
    await env.scheduler.runFor(130_000);
    assert.deepEqual(f.unsubscribed, ['t'], 'unread for over idleMs');
    assert.deepEqual(await tail.read('t', 0, 0), { topic: 't', messages: [], last: 0, missed: 0 }, 'asked again: followed afresh');
    assert.deepEqual(f.subscribed, ['t', 't']);
    tail.close();
  });
});
