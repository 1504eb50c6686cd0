import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoRandom, RealEnv, SeededRandom, VIRTUAL_EPOCH_MS, VirtualEnv, silentLogger } from '../../src/env/index.ts';
import type { MemoryLogger } from '../../src/env/index.ts';
import { waitFor } from '../helpers/wait.ts';

function virtual(seed: string | number = 'env'): { env: VirtualEnv; t0: number; rel: () => number } {
  const env = VirtualEnv.create({ seed, logLevel: 'trace' });
  const t0 = env.now();
  return { env, t0, rel: () => env.now() - t0 };
}

describe('VirtualEnv timers', () => {
  test('is virtual and starts at the virtual epoch', () => {
    const { env } = virtual();
    assert.equal(env.virtual, true);
    assert.equal(env.now(), VIRTUAL_EPOCH_MS);
    assert.equal(env.alive, true);
  });

  test('setTimeout fires once at the virtual time; cancel prevents it', async () => {
    const { env, rel } = virtual();
    const fired: number[] = [];
    env.setTimeout(() => fired.push(rel()), 25);
    const cancelled = env.setTimeout(() => fired.push(-1), 10);
    cancelled.cancel();
    env.setTimeout(() => fired.push(rel()), -3); // negative means now
    await env.scheduler.runFor(24);
    assert.deepEqual(fired, [0]);
    await env.scheduler.runFor(100);
    assert.deepEqual(fired, [0, 25]);
  });

  test('setInterval fires every period until cancelled, from outside or inside the callback', async () => {
    const { env, rel } = virtual();
    const a: number[] = [];
    const b: number[] = [];
    const ta = env.setInterval(() => a.push(rel()), 10);
    const tb = env.setInterval(() => {
      b.push(rel());
      if (b.length === 3) tb.cancel();
    }, 7);
    await env.scheduler.runFor(35);
    assert.deepEqual(a, [10, 20, 30]);
    ta.cancel();
    ta.cancel();
    await env.scheduler.runFor(100);
    assert.deepEqual(a, [10, 20, 30]);
    assert.deepEqual(b, [7, 14, 21]);
  });

  test('setInterval with a zero, negative or NaN period ticks every 1 ms instead of spinning', async () => {
    for (const period of [0, -5, NaN]) {
      const { env } = virtual();
      let n = 0;
      env.setInterval(() => n++, period);
      await env.scheduler.runFor(10);
      assert.equal(n, 10, `period ${period}`);
    }
  });

  test('defer runs after the current event, at the same virtual time, after events already due', async () => {
    const { env, rel } = virtual();
    const log: string[] = [];
    env.setTimeout(() => {
      env.defer(() => log.push(`deferred@${rel()}`));
      log.push(`event@${rel()}`);
    }, 5);
    env.setTimeout(() => log.push(`same-time@${rel()}`), 5);
    env.setTimeout(() => log.push(`later@${rel()}`), 6);
    await env.scheduler.runFor(10);
    assert.deepEqual(log, ['event@5', 'same-time@5', 'deferred@5', 'later@6']);
  });

  test('sleep resolves in virtual time', async () => {
    const { env, rel } = virtual();
    let woke = -1;
    void env.sleep(40).then(() => (woke = rel()));
    await env.scheduler.runFor(39);
    assert.equal(woke, -1);
    await env.scheduler.runFor(1);
    assert.equal(woke, 40);
  });
});

describe('VirtualEnv halt, withLog and fork', () => {
  test('halt() stops every timer of the env and of envs derived by withLog()', async () => {
    const { env } = virtual();
    const derived = env.withLog({ component: 'x' });
    const derived2 = derived.withLog({ sub: 'y' });
    let fired = 0;
    let intervalTicks = 0;
    let slept = false;
    env.setTimeout(() => fired++, 10);
    derived.setTimeout(() => fired++, 10);
    derived2.setTimeout(() => fired++, 10);
    derived.setInterval(() => intervalTicks++, 3);
    void derived2.sleep(10).then(() => (slept = true));
    await env.scheduler.runFor(5);
    assert.equal(intervalTicks, 1);
    derived2.halt(); // halting any env of the family halts the whole family
    assert.equal(env.alive, false);
    assert.equal(derived.alive, false);
    env.setTimeout(() => fired++, 1); // timers created after the crash never fire either
    env.defer(() => fired++);
    await env.scheduler.runFor(100);
    assert.equal(fired, 0);
    assert.equal(intervalTicks, 1);
    assert.equal(slept, false);
  });

  test('halt() does not stop forks, and a fork halting does not stop its parent', async () => {
    const { env } = virtual();
    const node1 = env.fork('node-1');
    const node2 = env.fork('node-2');
    const log: string[] = [];
    env.setTimeout(() => log.push('parent'), 10);
    node1.setTimeout(() => log.push('node-1'), 10);
    node2.setTimeout(() => log.push('node-2'), 10);
    node2.withLog({ a: 1 }).setTimeout(() => log.push('node-2 derived'), 10);
    env.halt();
    node2.halt();
    assert.equal(node1.alive, true);
    await env.scheduler.runFor(20);
    assert.deepEqual(log, ['node-1']);
  });

  test('withLog shares clock, scheduler and random stream, and binds the logger', async () => {
    const { env } = virtual();
    const derived = env.withLog({ tx: 't-1' });
    assert.equal(derived.scheduler, env.scheduler);
    assert.equal(derived.random, env.random);
    assert.equal(derived.now(), env.now());
    derived.log.warn('hello');
    const store = (env.log as MemoryLogger).store;
    assert.equal(store.entries.at(-1)?.['tx'], 't-1');
    assert.equal(store.entries.at(-1)?.msg, 'hello');
  });

  test('fork gives a reproducible random stream of its own and optional log bindings', () => {
    const a = VirtualEnv.create({ seed: 42 });
    const b = VirtualEnv.create({ seed: 42 });
    const c = VirtualEnv.create({ seed: 43 });
    assert.equal(a.random.hex(8), b.random.hex(8));
    assert.notEqual(VirtualEnv.create({ seed: 42 }).random.hex(8), c.random.hex(8));
    const fa = a.fork('n1', { node: 'n1' });
    const fb = b.fork('n1');
    assert.equal(fa.random.hex(8), fb.random.hex(8));
    assert.notEqual(a.fork('n1').random.hex(8), a.fork('n2').random.hex(8));
    assert.equal(fa.scheduler, a.scheduler);
    fa.log.error('boom');
    fb.log.error('bang');
    const entries = (a.log as MemoryLogger).store.entries;
    assert.equal(entries.at(-1)?.['node'], 'n1');
    assert.equal((b.log as MemoryLogger).store.entries.at(-1)?.['node'], undefined);
  });

  test('a VirtualEnv whole run is reproducible from its seed', async () => {
    async function run(seed: number): Promise<string[]> {
      const env = VirtualEnv.create({ seed });
      const trace: string[] = [];
      for (let i = 0; i < 5; i++) {
        const node = env.fork(`n${i}`);
        node.setInterval(() => trace.push(`${i}@${env.now() - VIRTUAL_EPOCH_MS}:${node.random.int(100)}`), 1 + node.random.int(10));
      }
      await env.scheduler.runFor(30);
      return trace;
    }
    assert.deepEqual(await run(7), await run(7));
    assert.notDeepEqual(await run(7), await run(8));
  });
});

describe('RealEnv', () => {
  const quiet = { logger: silentLogger };

  test('is not virtual and reads the wall clock', () => {
    const env = new RealEnv(quiet);
    assert.equal(env.virtual, false);
    assert.ok(Math.abs(env.now() - Date.now()) < 1000);
  });

  test('setTimeout fires, and a cancelled one does not', async () => {
    const env = new RealEnv(quiet);
    const start = env.now();
    let fired = 0;
    let cancelledFired = false;
    const c = env.setTimeout(() => (cancelledFired = true), 5);
    c.cancel();
    env.setTimeout(() => fired++, 10);
    await waitFor(() => fired === 1, { what: 'timer' });
    assert.ok(env.now() - start >= 9);
    // a later timer firing proves the cancelled one had its chance
    let later = false;
    env.setTimeout(() => (later = true), 15);
    await waitFor(() => later, { what: 'later timer' });
    assert.equal(cancelledFired, false);
    assert.equal(fired, 1);
  });

  test('setInterval repeats until cancelled', async () => {
    const env = new RealEnv(quiet);
    let n = 0;
    const t = env.setInterval(() => n++, 2);
    await waitFor(() => n >= 3, { what: 'three ticks' });
    t.cancel();
    const at = n;
    let marker = false;
    env.setTimeout(() => (marker = true), 20);
    await waitFor(() => marker, { what: 'marker' });
    assert.equal(n, at);
  });

  test('timers longer than 2^31-1 ms do not fire early', async () => {
    const env = new RealEnv(quiet);
    let longFired = false;
    const long = env.setTimeout(() => (longFired = true), 2 ** 31 + 1000);
    const longInterval = env.setInterval(() => (longFired = true), 3 * 2 ** 31);
    let shortFired = false;
    env.setTimeout(() => (shortFired = true), 30);
    await waitFor(() => shortFired, { what: 'short timer' });
    assert.equal(longFired, false);
    long.cancel();
    longInterval.cancel();
  });

  test('defer runs after the current synchronous code', async () => {
    const env = new RealEnv(quiet);
    const log: string[] = [];
    env.defer(() => log.push('deferred'));
    log.push('sync');
    await waitFor(() => log.length === 2);
    assert.deepEqual(log, ['sync', 'deferred']);
  });

  test('sleep waits at least the given time', async () => {
    const env = new RealEnv(quiet);
    const start = env.now();
    await env.sleep(15);
    assert.ok(env.now() - start >= 14);
    await env.sleep(-1);
  });

  test('a seed makes randomness reproducible; no seed uses cryptographic randomness', () => {
    const a = new RealEnv({ ...quiet, seed: 'real' });
    const b = new RealEnv({ ...quiet, seed: 'real' });
    assert.equal(a.random.hex(16), b.random.hex(16));
    assert.equal(new RealEnv({ ...quiet, seed: 'real' }).random.hex(16), new SeededRandom('real').hex(16));
    assert.ok(a.random instanceof SeededRandom);
    assert.ok(new RealEnv(quiet).random instanceof CryptoRandom);
    const own = new SeededRandom('own');
    assert.equal(new RealEnv({ ...quiet, seed: 'ignored', random: own }).random, own);
  });

  test('withLog and fork keep the clock and derive randomness and logging', () => {
    const env = new RealEnv({ ...quiet, seed: 's' });
    const w = env.withLog({ a: 1 });
    assert.equal(w.random, env.random);
    assert.equal(w.virtual, false);
    const f1 = env.fork('x');
    const f2 = new RealEnv({ ...quiet, seed: 's' }).fork('x');
    assert.equal(f1.random.hex(8), f2.random.hex(8));
    assert.notEqual(env.fork('y').random.hex(8), new RealEnv({ ...quiet, seed: 's' }).fork('x').random.hex(8));
  });
});
