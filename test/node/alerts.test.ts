/** Alerts and events in virtual time: disk nearly full, read-only data directory, empty leaf set; raised and cleared once. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualEnv } from '../../src/env/index.ts';
import { AlertMonitor, AlertSet, EventLog, formatBytes, fsProbe } from '../../src/node/index.ts';
import type { DataDirProbe, DiskSpace } from '../../src/node/index.ts';
import { tempDir, waitFor } from './fixtures.ts';

const GiB = 2 ** 30;

function setup(probe: DataDirProbe, node = { ready: true, leafSet: 3 }) {
  const env = VirtualEnv.create({ seed: 1, logLevel: 'info' });
  const events = new EventLog('a'.repeat(40), () => env.now());
  const alerts = new AlertSet(env, env.log, events);
  const monitor = new AlertMonitor(env, alerts, { dataDir: '/data', isReady: () => node.ready, leafSetSize: () => node.leafSet }, { checkIntervalMs: 1000, diskMinFreePercent: 5, diskMinFreeBytes: GiB, leafSetEmptyMs: 10_000 }, probe);
  const store = (env.log as unknown as { store: { entries: { msg: string; level: string; code?: string }[] } }).store;
  return { env, events, alerts, monitor, node, store };
}

class FakeDisk implements DataDirProbe {
  space: DiskSpace = { freeBytes: 100 * GiB, totalBytes: 200 * GiB };
  write: string | undefined;
  async diskSpace(): Promise<DiskSpace> {
    return this.space;
  }
  async writeError(): Promise<string | undefined> {
    return this.write;
  }
}

describe('alerts', () => {
  test('disk nearly full: raised once (log line and event), updated, cleared once', async () => {
    const disk = new FakeDisk();
    const { env, events, alerts, monitor, store } = setup(disk);
    monitor.start();
    await env.scheduler.runFor(1500);
    assert.equal(alerts.list().length, 0);
    disk.space = { freeBytes: 0.5 * GiB, totalBytes: 200 * GiB };
    await env.scheduler.runFor(5000);
    assert.ok(alerts.has('DiskNearlyFull'));
    assert.equal(alerts.list()[0]!.severity, 'critical', 'under 1% free is critical');
    assert.match(alerts.list()[0]!.message, /512\.0 MiB \(0\.3%\) free/);
    assert.equal(store.entries.filter((e) => e.msg.startsWith('ALERT DiskNearlyFull')).length, 1, 'logged once while it lasts');
    assert.equal(events.list({ types: ['alert.raised'] }).length, 1);
    disk.space = { freeBytes: 9 * GiB, totalBytes: 200 * GiB }; // 4.5%: still below 5%
    await env.scheduler.runFor(1000);
    assert.equal(alerts.list()[0]!.severity, 'warning');
    disk.space = { freeBytes: 50 * GiB, totalBytes: 200 * GiB };
    await env.scheduler.runFor(1000);
    assert.equal(alerts.has('DiskNearlyFull'), false);
    assert.equal(events.list({ types: ['alert.cleared'] }).length, 1);
    assert.equal(monitor.disk?.freeBytes, 50 * GiB);
    await monitor.stop();
  });

  test('stop resolves only once a check in flight has finished (its write probe is not left running)', async () => {
    let release!: () => void;
    let probing = false;
    const disk = new FakeDisk();
    disk.writeError = () => {
      probing = true;
      return new Promise<undefined>((resolve) => (release = () => resolve(undefined)));
    };
    const { monitor } = setup(disk);
    monitor.start();
    await waitFor(() => probing, { what: 'the write probe started' });
    let stopped = false;
    const stopping = monitor.stop().then(() => (stopped = true));
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(stopped, false, 'the probe is still running');
    release();
    await stopping;
    assert.equal(stopped, true);
  });

  test('a data directory that stops taking writes is a critical alert until it takes them again', async () => {
    const disk = new FakeDisk();
    const { env, alerts, monitor } = setup(disk);
    monitor.start();
    disk.write = 'EROFS: read-only file system';
    await env.scheduler.runFor(1000);
    assert.ok(alerts.has('DataDirReadOnly'));
    assert.match(alerts.list()[0]!.message, /does not take writes \(EROFS/);
    disk.write = undefined;
    await env.scheduler.runFor(1000);
    assert.equal(alerts.has('DataDirReadOnly'), false);
    await monitor.stop();
  });

  test('a full disk (the write probe fails with ENOSPC) is not a read-only data directory: no DataDirReadOnly telling to restart', async () => {
    const disk = new FakeDisk();
    const { env, alerts, monitor } = setup(disk);
    monitor.start();
    disk.space = { freeBytes: 0, totalBytes: 200 * GiB };
    disk.write = 'ENOSPC: ENOSPC: no space left on device, write';
    await env.scheduler.runFor(3000);
    assert.ok(alerts.has('DiskNearlyFull'));
    assert.equal(alerts.has('DataDirReadOnly'), false);
    disk.write = 'EDQUOT: EDQUOT: disk quota exceeded, write';
    await env.scheduler.runFor(1000);
    assert.equal(alerts.has('DataDirReadOnly'), false);
    await monitor.stop();
  });

  test('the storage reserve is read again at every check, so that space freed is seen with no write coming', async () => {
    let refreshed = 0;
    const env = VirtualEnv.create({ seed: 1, logLevel: 'info' });
    const events = new EventLog('a'.repeat(40), () => env.now());
    const alerts = new AlertSet(env, env.log, events);
    const node = { dataDir: '/data', isReady: () => true, leafSetSize: () => 3, refreshSpace: () => void refreshed++ };
    const monitor = new AlertMonitor(env, alerts, node, { checkIntervalMs: 1000, diskMinFreePercent: 5, diskMinFreeBytes: GiB, leafSetEmptyMs: 10_000 }, new FakeDisk());
    monitor.start();
    await env.scheduler.runFor(3500);
    assert.equal(refreshed, 4);
    await monitor.stop();
  });

  test('an empty leaf set is an alert only after it has lasted leafSetEmptyMs, and clears when a neighbour appears', async () => {
    const { env, alerts, monitor, node } = setup(new FakeDisk(), { ready: true, leafSet: 0 });
    monitor.start();
    await env.scheduler.runFor(9000);
    assert.equal(alerts.has('LeafSetEmpty'), false, 'not yet');
    await env.scheduler.runFor(2000);
    assert.ok(alerts.has('LeafSetEmpty'));
    node.leafSet = 1;
    await env.scheduler.runFor(1000);
    assert.equal(alerts.has('LeafSetEmpty'), false);
    node.leafSet = 0;
    await env.scheduler.runFor(5000);
    assert.equal(alerts.has('LeafSetEmpty'), false, 'the clock restarts');
    await monitor.stop();
  });

  test('a failing disk check is itself an alert, not an exception', async () => {
    const probe: DataDirProbe = { diskSpace: () => Promise.reject(new Error('ENOENT: gone')), writeError: () => Promise.resolve(undefined) };
    const { env, alerts, monitor } = setup(probe);
    monitor.start();
    await env.scheduler.runFor(1000);
    assert.ok(alerts.has('DiskCheckFailed'));
    await monitor.stop();
  });

  test('alerts with subjects are separate; the list puts critical ones first', () => {
    const { alerts } = setup(new FakeDisk());
    alerts.raise('ApplicationFailed', 'critical', 'x failed', { subject: 'x' });
    alerts.raise('ApplicationFailed', 'critical', 'y failed', { subject: 'y' });
    alerts.raise('Insecure', 'warning', 'plaintext');
    assert.deepEqual(alerts.list().map((a) => a.subject ?? a.code), ['x', 'y', 'Insecure']);
    alerts.clear('ApplicationFailed', 'x');
    assert.deepEqual(alerts.list().map((a) => a.subject ?? a.code), ['y', 'Insecure']);
  });

  test('the real probe: a writable directory passes; a path that is not a directory does not', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    assert.equal(await fsProbe.writeError(dir), undefined);
    assert.ok((await fsProbe.diskSpace(dir)).totalBytes > 0);
    assert.match((await fsProbe.writeError(`${dir}/missing/sub`)) ?? '', /ENOENT/);
  });
});

describe('events', () => {
  test('bounded, numbered, filtered by type prefix and since; listeners cannot break recording', () => {
    let now = 1000;
    const log = new EventLog('n', () => now, 3);
    log.onEvent(() => {
      throw new Error('bad listener');
    });
    for (let i = 0; i < 5; i++) {
      now += 10;
      log.record(i % 2 ? 'node.arrived' : 'alert.raised', `e${i}`);
    }
    assert.deepEqual(log.list().map((e) => e.message), ['e2', 'e3', 'e4']);
    assert.equal(log.lastSeq, 5);
    assert.deepEqual(log.list({ since: 3 }).map((e) => e.seq), [4, 5]);
    assert.deepEqual(log.list({ types: ['alert'] }).map((e) => e.message), ['e2', 'e4']);
    assert.deepEqual(log.list({ limit: 1 }).map((e) => e.message), ['e4']);
    assert.equal(formatBytes(1536), '1.5 KiB');
  });
});
