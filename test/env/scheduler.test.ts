import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Scheduler, SimulationDeadlineError, VIRTUAL_EPOCH_MS, VirtualEnv } from '../../src/env/index.ts';

describe('Scheduler basics', () => {
  test('starts at the virtual epoch (or a given time) with nothing pending', () => {
    assert.equal(new Scheduler().now(), VIRTUAL_EPOCH_MS);
    assert.equal(new Date(VIRTUAL_EPOCH_MS).toISOString(), '2025-01-01T00:00:00.000Z');
    const s = new Scheduler(1000);
    assert.equal(s.now(), 1000);
    assert.equal(s.pending, 0);
    assert.equal(s.step(), false);
    assert.equal(s.peekTime(), undefined);
  });

  test('events run in time order, ties in insertion order, and the clock is the event time', () => {
    const s = new Scheduler(0);
    const log: string[] = [];
    const at = (name: string): (() => void) => () => log.push(`${name}@${s.now()}`);
    s.schedule(30, at('c'));
    s.schedule(10, at('a1'));
    s.schedule(20, at('b'));
    s.schedule(10, at('a2'));
    s.schedule(0, at('z'));
    s.schedule(10, at('a3'));
    s.runUntilSync(100);
    assert.deepEqual(log, ['z@0', 'a1@10', 'a2@10', 'a3@10', 'b@20', 'c@30']);
    assert.equal(s.now(), 100);
    assert.equal(s.eventsRun, 6);
  });

  test('negative and NaN delays mean "now", after events already due now', () => {
    const s = new Scheduler(0);
    const log: string[] = [];
    s.schedule(0, () => log.push('first'));
    s.schedule(-5, () => log.push('negative'));
    s.schedule(NaN, () => log.push('nan'));
    s.runUntilSync(0);
    assert.deepEqual(log, ['first', 'negative', 'nan']);
    assert.equal(s.now(), 0);
  });

  test('events scheduled by events run in order, including ones due at the current time', () => {
    const s = new Scheduler(0);
    const log: string[] = [];
    s.schedule(5, () => {
      log.push(`a@${s.now()}`);
      s.schedule(0, () => log.push(`a-now@${s.now()}`));
      s.schedule(1, () => log.push(`a+1@${s.now()}`));
    });
    s.schedule(5, () => log.push(`b@${s.now()}`));
    s.schedule(6, () => log.push(`c@${s.now()}`));
    s.runUntilSync(10);
    assert.deepEqual(log, ['a@5', 'b@5', 'a-now@5', 'c@6', 'a+1@6']);
  });

  test('cancel prevents an event; cancelling twice or after it ran is harmless', () => {
    const s = new Scheduler(0);
    const log: number[] = [];
    const h1 = s.schedule(1, () => log.push(1));
    s.schedule(2, () => log.push(2));
    const h3 = s.schedule(3, () => log.push(3));
    h1.cancel();
    h1.cancel();
    assert.equal(s.peekTime(), 2, 'a cancelled head is skipped');
    s.runUntilSync(2);
    h3.cancel();
    s.runUntilSync(10);
    assert.deepEqual(log, [2]);
    const h4 = s.schedule(1, () => log.push(4));
    s.runUntilSync(20);
    h4.cancel();
    assert.deepEqual(log, [2, 4]);
    assert.equal(s.step(), false);
  });

  test('an event may cancel a later event due at the same time', () => {
    const s = new Scheduler(0);
    const log: string[] = [];
    const holder: { h?: { cancel(): void } } = {};
    s.schedule(1, () => {
      log.push('a');
      holder.h!.cancel();
    });
    holder.h = s.schedule(1, () => log.push('b'));
    s.runUntilSync(5);
    assert.deepEqual(log, ['a']);
  });

  test('run order matches a stable sort by time for any set of events (heap property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.boolean()), { maxLength: 200 }),
        (specs) => {
          const s = new Scheduler(0);
          const ran: number[] = [];
          const handles = specs.map(([delay], i) => s.schedule(delay, () => ran.push(i)));
          specs.forEach(([, cancel], i) => {
            if (cancel) handles[i]!.cancel();
          });
          const expected = specs
            .map(([delay, cancel], i) => ({ delay, cancel, i }))
            .filter((x) => !x.cancel)
            .sort((a, b) => a.delay - b.delay || a.i - b.i)
            .map((x) => x.i);
          while (s.step());
          assert.deepEqual(ran, expected);
          assert.equal(s.pending, 0);
        },
      ),
    );
  });

  test('runUntilSync does not run events after the target and never moves the clock back', () => {
    const s = new Scheduler(0);
    const log: number[] = [];
    s.schedule(10, () => log.push(10));
    s.schedule(11, () => log.push(11));
    s.runUntilSync(10);
    assert.deepEqual(log, [10]);
    assert.equal(s.now(), 10);
    s.runUntilSync(5);
    assert.equal(s.now(), 10);
    assert.deepEqual(log, [10]);
  });

  test('runUntilTrueSync stops as soon as the condition holds, or at the deadline', () => {
    const s = new Scheduler(0);
    let n = 0;
    for (let t = 1; t <= 10; t++) s.schedule(t * 10, () => n++);
    assert.equal(
      s.runUntilTrueSync(() => n === 3, 1000),
      true,
    );
    assert.equal(s.now(), 30);
    assert.equal(
      s.runUntilTrueSync(() => n === 100, 25),
      false,
    );
    assert.equal(s.now(), 55);
    assert.equal(n, 5);
  });
});

describe('Scheduler with async code', () => {
  test('runUntil advances the clock to the target even with no events', async () => {
    const s = new Scheduler(0);
    await s.runUntil(1234);
    assert.equal(s.now(), 1234);
    await s.runFor(6);
    assert.equal(s.now(), 1240);
    await s.runUntil(10);
    assert.equal(s.now(), 1240, 'never backwards');
  });

  test('runUntil runs events up to and including the target, not after', async () => {
    const s = new Scheduler(0);
    const log: number[] = [];
    for (const t of [5, 10, 15]) s.schedule(t, () => log.push(t));
    await s.runUntil(10);
    assert.deepEqual(log, [5, 10]);
    assert.equal(s.now(), 10);
    await s.runFor(100);
    assert.deepEqual(log, [5, 10, 15]);
    assert.equal(s.now(), 110);
  });

  test('await env.sleep inside nested async functions sees the right virtual time', async () => {
    const env = VirtualEnv.create({ seed: 'async' });
    const t0 = env.now();
    const seen: [string, number][] = [];
    const rel = (): number => env.now() - t0;

    async function leaf(name: string, ms: number): Promise<number> {
      await env.sleep(ms);
      seen.push([`${name} woke`, rel()]);
      await Promise.resolve();
      await null;
      return rel();
    }
    async function middle(): Promise<number> {
      const a = await leaf('m1', 10);
      // a chain several promise levels deep after the wake-up
      const b = await Promise.resolve(a)
        .then((x) => Promise.resolve(x + 0))
        .then(async (x) => {
          await Promise.resolve();
          return x;
        });
      seen.push(['middle after chain', rel()]);
      await leaf('m2', 5);
      return b;
    }
    async function top(): Promise<void> {
      const r = await middle();
      seen.push([`top got ${r}`, rel()]);
      await env.sleep(0);
      seen.push(['top after sleep(0)', rel()]);
    }

    // Competing callbacks: if continuations ran late, they would observe these later times.
    env.setTimeout(() => seen.push(['timer 11', rel()]), 11);
    env.setTimeout(() => seen.push(['timer 16', rel()]), 16);
    const done = top();
    await env.scheduler.runUntil(t0 + 100);
    await done;
    assert.deepEqual(seen, [
      ['m1 woke', 10],
      ['middle after chain', 10],
      ['timer 11', 11],
      ['m2 woke', 15],
      ['top got 10', 15],
      ['top after sleep(0)', 15],
      ['timer 16', 16],
    ]);
    assert.equal(rel(), 100);
  });

  test('async loops with sleeps observe exact virtual times', async () => {
    const env = VirtualEnv.create({ seed: 'loop' });
    const t0 = env.now();
    const times: number[] = [];
    const loop = (async () => {
      for (let i = 0; i < 5; i++) {
        await env.sleep(7);
        times.push(env.now() - t0);
      }
    })();
    await env.scheduler.runUntil(t0 + 30);
    assert.deepEqual(times, [7, 14, 21, 28]);
    await env.scheduler.runFor(10);
    await loop;
    assert.deepEqual(times, [7, 14, 21, 28, 35]);
  });

  test('a continuation that schedules a timer gets it placed relative to its own wake-up time', async () => {
    const s = new Scheduler(0);
    const log: string[] = [];
    const sleep = (ms: number): Promise<void> => new Promise((r) => s.schedule(ms, r));
    void (async () => {
      await sleep(10);
      s.schedule(1, () => log.push(`inner@${s.now()}`));
    })();
    s.schedule(10.5, () => log.push(`outer@${s.now()}`));
    await s.runUntil(20);
    assert.deepEqual(log, ['outer@10.5', 'inner@11']);
  });

  test('runUntilTrue resolves as soon as the condition holds, without running later events', async () => {
    const env = VirtualEnv.create({ seed: 'rut' });
    const t0 = env.now();
    let ready = false;
    let later = false;
    void (async () => {
      await env.sleep(20);
      await Promise.resolve();
      ready = true; // set by a continuation, not by the event itself
    })();
    env.setTimeout(() => (later = true), 21);
    await env.scheduler.runUntilTrue(() => ready, 1000, 'ready');
    assert.equal(env.now() - t0, 20);
    assert.equal(later, false);
  });

  test('runUntilTrue returns at once when the condition already holds', async () => {
    const s = new Scheduler(0);
    let ran = false;
    s.schedule(0, () => (ran = true));
    await s.runUntilTrue(() => true, 100);
    assert.equal(ran, false);
    assert.equal(s.now(), 0);
  });

  test('runUntilTrue rejects with SimulationDeadlineError at the deadline, clock at the deadline', async () => {
    const s = new Scheduler(0);
    let n = 0;
    s.schedule(10, () => n++);
    s.schedule(60, () => n++);
    await assert.rejects(s.runUntilTrue(() => n > 5, 50, 'five ticks'), (err: unknown) => {
      assert.ok(err instanceof SimulationDeadlineError);
      assert.equal(err.code, 'SimulationDeadline');
      assert.equal(err.name, 'SimulationDeadlineError');
      assert.match(err.message, /five ticks not reached within 50 ms of virtual time/);
      return true;
    });
    assert.equal(s.now(), 50);
    assert.equal(n, 1, 'the event after the deadline did not run');
    // with no events at all
    const empty = new Scheduler(0);
    await assert.rejects(empty.runUntilTrue(() => false, 5), SimulationDeadlineError);
    assert.equal(empty.now(), 5);
  });

  test('runUntilTrue accepts a condition that becomes true exactly at the deadline', async () => {
    const s = new Scheduler(0);
    let done = false;
    s.schedule(50, () => (done = true));
    await s.runUntilTrue(() => done, 50);
    assert.equal(s.now(), 50);
  });
});
