import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualEnv } from '../../src/env/index.ts';
import { WatcherService } from '../../src/app/watchers.ts';
import { ConsumedResourceRegistry } from '../../src/app/consumed-resource-registry.ts';
import { AddressDriverError, LinuxAddressDriver, LoopbackAddressDriver } from '../../src/app/address-drivers.ts';

describe('WatcherService', () => {
  test('runs periodically with jitter within bounds, and stops on remove', async () => {
    const env = VirtualEnv.create({ seed: 'w1' });
    const watchers = new WatcherService(env);
    const runs: number[] = [];
    watchers.add('tick', () => void runs.push(env.now()), { intervalMs: 1000, jitter: 0.2 });
    await env.scheduler.runFor(10_500);
    assert.ok(runs.length >= 8 && runs.length <= 13, `${runs.length} runs`);
    for (let i = 1; i < runs.length; i++) {
      const gap = runs[i]! - runs[i - 1]!;
      assert.ok(gap >= 800 && gap <= 1200, `gap ${gap}`);
    }
    assert.throws(() => watchers.add('tick', () => {}, { intervalMs: 10 }), /already exists/);
    assert.equal(watchers.remove('tick'), true);
    const count = runs.length;
    await env.scheduler.runFor(5_000);
    assert.equal(runs.length, count);
  });

  test('skips a run while the previous one is still going', async () => {
    const env = VirtualEnv.create({ seed: 'w2' });
    const watchers = new WatcherService(env);
    let concurrent = 0;
    let maxConcurrent = 0;
    let completed = 0;
    watchers.add(
      'slow',
      async () => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await env.sleep(2_500); // longer than the interval
        concurrent--;
        completed++;
      },
      { intervalMs: 1000, jitter: 0 },
    );
    await env.scheduler.runFor(10_200);
    assert.equal(maxConcurrent, 1);
    const status = watchers.status()[0]!;
    assert.ok(status.skipped >= 4, `skipped ${status.skipped}`);
    assert.equal(status.runs, completed);
    assert.ok(completed >= 3);
  });

  test('replace swaps the task; failures are counted and logged, not fatal', async () => {
    const env = VirtualEnv.create({ seed: 'w3' });
    const watchers = new WatcherService(env);
    let a = 0;
    let b = 0;
    watchers.add('job', () => void a++, { intervalMs: 100, jitter: 0 });
    await env.scheduler.runFor(350);
    watchers.replace('job', () => {
      b++;
      throw new Error('boom');
    }, { intervalMs: 100, jitter: 0 });
    const aBefore = a;
    await env.scheduler.runFor(350);
    assert.equal(a, aBefore);
    assert.ok(b >= 3);
    const status = watchers.status()[0]!;
    assert.equal(status.failures, b);
    assert.equal(status.lastError, 'boom');
    const store = (env.log as unknown as { store: { find(x: string): unknown[] } }).store;
    assert.equal(store.find('WatcherFailed').length, b);
    watchers.stop();
  });

  test('runNow runs at once (eager recovery)', async () => {
    const env = VirtualEnv.create({ seed: 'w4' });
    const watchers = new WatcherService(env);
    let runs = 0;
    watchers.add('x', () => void runs++, { intervalMs: 60_000 });
    assert.equal(await watchers.runNow('x'), true);
    assert.equal(runs, 1);
    assert.equal(await watchers.runNow('missing'), false);
  });
});

describe('ConsumedResourceRegistry', () => {
  test('creates on the first consumer and releases after the last', async () => {
    const log: string[] = [];
    const registry = new ConsumedResourceRegistry<string>({
      create: async (id) => {
        log.push(`create ${id}`);
        return `res-${id}`;
      },
      release: async (id, r) => void log.push(`release ${id} ${r}`),
    });
    assert.equal(await registry.register('nat', 'app-a'), 'res-nat');
    assert.equal(await registry.register('nat', 'app-b'), 'res-nat');
    assert.equal(await registry.register('nat', 'app-b'), 'res-nat');
    assert.deepEqual(registry.consumers('nat').sort(), ['app-a', 'app-b']);
    assert.equal(await registry.deregister('nat', 'app-a'), false);
    assert.equal(await registry.deregister('nat', 'app-b'), true);
    assert.equal(await registry.deregister('nat', 'app-b'), false);
    assert.deepEqual(log, ['create nat', 'release nat res-nat']);
    assert.deepEqual(registry.resources(), []);
  });

  test('a consumer arriving while the resource is being released gets a fresh one', async () => {
    let n = 0;
    const events: string[] = [];
    let releaseStarted!: () => void;
    const started = new Promise<void>((r) => (releaseStarted = r));
    let finishRelease!: () => void;
    const registry = new ConsumedResourceRegistry<number>({
      create: async () => {
        events.push('create');
        return ++n;
      },
      release: async () => {
        events.push('release start');
        releaseStarted();
        await new Promise<void>((r) => (finishRelease = r));
        events.push('release end');
      },
    });
    await registry.register('r', 'a');
    const releasing = registry.deregister('r', 'a');
    await started;
    const again = registry.register('r', 'b');
    finishRelease();
    assert.equal(await releasing, true);
    assert.equal(await again, 2);
    assert.deepEqual(events, ['create', 'release start', 'release end', 'create']);
  });

  test('a consumer arriving before the release starts keeps the resource', async () => {
    const events: string[] = [];
    const registry = new ConsumedResourceRegistry<string>({
      create: async () => (events.push('create'), 'r1'),
      release: async () => void events.push('release'),
    });
    await registry.register('r', 'a');
    const releasing = registry.deregister('r', 'a');
    const again = registry.register('r', 'b');
    assert.equal(await releasing, false);
    assert.equal(await again, 'r1');
    assert.deepEqual(events, ['create']);
  });
});

describe('address drivers', () => {
  test('loopback accepts 127.x.y.z only', async () => {
    const d = new LoopbackAddressDriver();
    await d.acquire('127.0.0.5');
    await assert.rejects(d.acquire('10.0.0.5'), AddressDriverError);
    await assert.rejects(d.acquire('not-an-ip'), AddressDriverError);
  });

  test('linux adds the address once, announces it with gratuitous ARP, and removes it', async () => {
    const calls: string[] = [];
    let present = false;
    const d = new LinuxAddressDriver({
      interface: 'eth0',
      run: async (cmd, args) => {
        calls.push(`${cmd} ${args.join(' ')}`);
        if (args[0] === '-o') return present ? '2: eth0    inet 10.1.2.3/32 scope global eth0\n' : '';
        if (args[1] === 'add') present = true;
        if (args[1] === 'del') present = false;
        return '';
      },
    });
    await d.acquire('10.1.2.3');
    await d.acquire('10.1.2.3');
    await d.release('10.1.2.3');
    assert.deepEqual(calls, [
      'ip -o -4 addr show dev eth0',
      'ip addr add 10.1.2.3/32 dev eth0',
      'arping -U -c 3 -I eth0 10.1.2.3',
      'ip -o -4 addr show dev eth0',
      'arping -U -c 3 -I eth0 10.1.2.3',
      'ip -o -4 addr show dev eth0',
      'ip addr del 10.1.2.3/32 dev eth0',
    ]);
    assert.throws(() => new LinuxAddressDriver({ interface: 'eth0; rm -rf /' }), AddressDriverError);
    await assert.rejects(d.acquire('300.1.1.1'), AddressDriverError);
  });
});
