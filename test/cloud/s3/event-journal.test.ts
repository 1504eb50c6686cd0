/**
 * The follower of a notification topic's journal (event-journal.ts) in virtual time, over a
 * journal the test writes: events in key order, the doorbell and the poll, events that land
 * behind the cursor (late appends, slow clocks) found by looking behind, copies of one event
 * delivered once, a consumer's failure offered again, and a restart from a kept cursor.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualEnv } from '../../../src/env/index.ts';
import type { Dht } from '../../../src/dht/index.ts';
import { EventFollower, EventJournal, cursorAt, cursorTime, isCursor } from '../../../src/cloud/s3/event-journal.ts';
import type { JournalPage, JournaledEvent } from '../../../src/cloud/s3/event-journal.ts';

/** A journal the test appends to, read as the ring's is: in key order, after a cursor. */
class TestJournal {
  private readonly events: JournaledEvent[] = [];
  private n = 0;
  reads = 0;

  /** Appends an event written at `at` (a copy of `id` when given); returns its key. */
  append(at: number, message: unknown, id?: string): string {
    const cursor = `${cursorAt(at)}.0000000000000001.${(++this.n).toString(16).padStart(8, '0')}`;
    this.events.push({ cursor, id: id ?? cursor, at, message });
    this.events.sort((a, b) => (a.cursor < b.cursor ? -1 : a.cursor > b.cursor ? 1 : 0));
    return cursor;
  }

  read = (cursor: string, limit: number): Promise<JournalPage> => {
    this.reads++;
    const after = this.events.filter((e) => e.cursor > cursor);
    const events = after.slice(0, limit);
    return Promise.resolve({ events, cursor: events.length > 0 ? events[events.length - 1]!.cursor : cursor, more: after.length > limit });
  };
}

function setup(seed: number, options: { after?: string; doorbell?: boolean; fail?: (e: JournaledEvent) => boolean } = {}) {
  const env = VirtualEnv.create({ seed });
  const journal = new TestJournal();
  const got: unknown[] = [];
  let ring: (() => void) | undefined;
  const follower = new EventFollower(env, {
    read: journal.read,
    ...(options.doorbell ? { doorbell: (r: () => void) => ((ring = r), () => (ring = undefined)) } : {}),
    ...(options.after !== undefined ? { after: options.after } : {}),
    pageSize: 3,
    onEvent: (e) => {
      if (options.fail?.(e)) throw new Error('consumer failed');
      got.push(e.message);
    },
  });
  return { env, journal, got, follower, ring: () => ring?.() };
}

describe('following a notification topic journal', () => {
  test('cursors order by time and name it', () => {
    assert.equal(cursorAt(0x1234), '000000001234');
    assert.equal(cursorTime('00000000ffff.00ab.00000001'), 0xffff);
    assert.ok(isCursor('00000000ffff') && isCursor('00000000ffff.00ab.00000001'));
    assert.ok(!isCursor('') && !isCursor('00000000ffff.') && !isCursor('zz0000000000') && !isCursor('00000000ffff.00ab.1'));
  });

  test('an append acknowledged late is written again under a fresh key with the same id; a prompt one once', async () => {
    const env = VirtualEnv.create({ seed: 6 });
    const written: { key: string; id: string; at: number }[] = [];
    let delayMs = 6_000;
    // The journal's only use of the DHT when appending: a conditional item write (here slow at first).
    const dht = {
      writeItemIfAbsent: async (_p: unknown, key: string, e: { id: string; at: number }) => {
        await env.sleep(delayMs);
        delayMs = 10;
        written.push({ key, id: e.id, at: e.at });
        return { written: true };
      },
    } as unknown as Dht;
    const journal = new EventJournal(env, dht, { isReady: true, isRoot: () => true }, '00ab', { retentionMs: 60_000 });
    let key: string | undefined;
    void journal.append('t', { n: 1 }).then((k) => (key = k));
    await env.scheduler.runUntilTrue(() => key !== undefined, 20_000);
    assert.equal(written.length, 2, 'written twice');
    assert.equal(written[1]!.id, written[0]!.key, 'the copy names the first key as its id');
    assert.ok(written[1]!.key > written[0]!.key && written[1]!.at - written[0]!.at >= 6_000, 'under a fresh, later key');
    assert.equal(key, written[1]!.key);
    assert.deepEqual(journal.stats, { appended: 2, rewritten: 1, expired: 0 });
    let second: string | undefined;
    void journal.append('t', { n: 2 }).then((k) => (second = k));
    await env.scheduler.runUntilTrue(() => second !== undefined, 1_000);
    await env.scheduler.runFor(10_000);
    assert.equal(written.length, 3, 'a prompt append is written once');
  });

  test('events come in key order, page after page, as soon as the doorbell rings, and the cursor follows them', async () => {
    const { env, journal, got, follower, ring } = setup(1, { doorbell: true });
    await env.scheduler.runFor(10_000);
    follower.start();
    await env.scheduler.runFor(10);
    for (let i = 0; i < 7; i++) journal.append(env.now(), i);
    ring();
    await env.scheduler.runUntilTrue(() => got.length === 7, 50);
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6], 'in order, across pages of 3');
    assert.equal(cursorTime(follower.cursor), env.now(), 'the cursor is the last event delivered');
    const last = journal.append(env.now() + 5, 'late ring');
    await env.scheduler.runFor(20);
    ring();
    await env.scheduler.runUntilTrue(() => got.length === 8, 50);
    assert.equal(follower.cursor, last);
    follower.stop();
  });

  test('without a doorbell (or when its message is lost) the poll finds the events within a second', async () => {
    const { env, journal, got, follower } = setup(2);
    await env.scheduler.runFor(5_000);
    follower.start();
    await env.scheduler.runFor(100);
    journal.append(env.now(), 'a');
    const at = env.now();
    await env.scheduler.runUntilTrue(() => got.length === 1, 5_000);
    assert.ok(env.now() - at <= 1_000, `found by the poll (${env.now() - at} ms)`);
    follower.stop();
    journal.append(env.now(), 'after stop');
    await env.scheduler.runFor(5_000);
    assert.deepEqual(got, ['a'], 'a stopped follower reads nothing');
  });

  test('an event that lands behind the cursor is found by looking behind; copies of one event come once', async () => {
    const { env, journal, got, follower, ring } = setup(3, { doorbell: true });
    await env.scheduler.runFor(60_000);
    follower.start();
    await env.scheduler.runFor(100);
    const first = journal.append(env.now(), 'first');
    await env.scheduler.runFor(3_000);
    journal.append(env.now(), 'third');
    ring();
    await env.scheduler.runUntilTrue(() => got.length === 2, 100);
    // Written between them by a node whose append took 2 s (or whose clock is 2 s behind).
    journal.append(env.now() - 2_000, 'second, late');
    // And a rewritten copy of the first (its append was acknowledged late): same id.
    journal.append(env.now(), 'first (copy)', first);
    ring();
    await env.scheduler.runUntilTrue(() => got.includes('second, late'), 10_000);
    await env.scheduler.runFor(10_000);
    assert.deepEqual(got, ['first', 'third', 'second, late'], 'the late one delivered, the copy not');
    follower.stop();
  });

  test('a consumer that fails gets the event again; nothing after it is skipped', async () => {
    let failures = 1;
    const { env, journal, got, follower, ring } = setup(4, { doorbell: true, fail: (e) => e.message === 2 && failures-- > 0 });
    await env.scheduler.runFor(1_000);
    follower.start();
    await env.scheduler.runFor(10);
    for (let i = 1; i <= 4; i++) journal.append(env.now(), i);
    ring();
    await env.scheduler.runUntilTrue(() => got.length === 4, 5_000);
    assert.deepEqual(got, [1, 2, 3, 4]);
    follower.stop();
  });

  test('a follower restarted from a kept cursor gets what came meanwhile, and nothing before the window behind it', async () => {
    const { env, journal, got, follower, ring } = setup(5, { doorbell: true });
    await env.scheduler.runFor(100_000);
    journal.append(env.now() - 50_000, 'before the start');
    follower.start();
    await env.scheduler.runFor(10);
    journal.append(env.now(), 'one');
    ring();
    await env.scheduler.runUntilTrue(() => got.length === 1, 100);
    const kept = follower.cursor;
    follower.stop();
    assert.deepEqual(got, ['one'], 'a follower started afresh begins at its start');
    await env.scheduler.runFor(5_000);
    journal.append(env.now(), 'two, while stopped');
    journal.append(env.now() + 1, 'three, while stopped');

    const again: unknown[] = [];
    const resumed = new EventFollower(env, { read: journal.read, after: kept, onEvent: (e) => void again.push(e.message) });
    resumed.start();
    await env.scheduler.runUntilTrue(() => again.length >= 2, 5_000);
    await env.scheduler.runFor(2_000);
    assert.deepEqual(
      again.filter((m) => m !== 'one'),
      ['two, while stopped', 'three, while stopped'],
      'what came meanwhile, in order (the kept cursor\'s own event may come again: at least once)',
    );
    assert.ok(!again.includes('before the start'), 'nothing older than the window behind the cursor');
    resumed.stop();
  });
});
