/** Real nodes over loopback TCP with mutual TLS: joining, refusing strangers, leaving, restarting, isolating failing applications. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { createCa } from '../../src/node/certs.ts';
import { ApplicationRegistry, ConfigError, DataDirError, TlsSetupError } from '../../src/node/index.ts';
import type { DhtService, NodeService, ServiceContext } from '../../src/node/index.ts';
import { launchNode } from '../../src/cli/launch.ts';
import { logged, memoryEnv, ringCa, startNode, startRing, tempDir, testConfig, waitFor, writeCerts } from './fixtures.ts';

/** A loopback port nothing listens on (bound once, then closed): connections to it are refused. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('PiNode over TLS', () => {
  test('three nodes form a ring; each sees the others, and DHT records written on one are read on another', async (t) => {
    const nodes = await startRing((fn) => t.after(fn), 3);
    for (const n of nodes) {
      assert.equal(n.node.state, 'ready');
      assert.equal(n.node.health(), 'ok');
      assert.ok(n.node.transport.secure);
      assert.deepEqual(
        new Set(n.node.overlay.leafSetMembers().map((h) => h.id.hex)),
        new Set(nodes.filter((o) => o !== n).map((o) => o.node.id.hex)),
      );
    }
    const dht0 = nodes[0]!.node.service<DhtService>('dht')!.dht;
    const dht2 = nodes[2]!.node.service<DhtService>('dht')!.dht;
    const id = nodes[1]!.node.id; // any id
    await dht0.put(id, { type: 'note', text: 'hello' });
    const r = await dht2.get(id);
    assert.equal(r?.body['text'], 'hello');
    // Every log line of a node carries its id.
    for (const e of nodes[0]!.store.entries) assert.equal(e['nodeId'], nodes[0]!.node.id.hex, `log line without node id: ${e.msg}`);
  });

  test('a node whose certificate is not signed by the ring CA cannot join; the refusal is logged on both sides', async (t) => {
    const [ring] = await startRing((fn) => t.after(fn), 1);
    const dir = await tempDir((fn) => t.after(fn));
    const rogueCa = await createCa({ commonName: 'rogue CA' });
    // Its own certificate chains to its own CA, so it starts; the ring refuses it, and it refuses the ring.
    await writeCerts(dir, rogueCa, 'rogue');
    const { env, store } = memoryEnv();
    const config = testConfig(dir, { bootstrap: [ring!.node.address], joinTimeoutMs: 1500, overlay: { joinAttemptTimeoutMs: 500 } });
    // The error points at the causes to check, not at starting a second ring.
    await assert.rejects(
      launchNode(config, { env }),
      (err: Error & { code?: string }) =>
        err.code === 'JoinFailed' &&
        /could not join the ring through .* answered the join request \(.*TlsRefused.*\)\. Check that these nodes run .*signed by the ring's CA.*Only the first node of a new ring starts with newRing/.test(err.message),
    );
    await waitFor(() => logged(ring!.store, 'TlsRefused').length > 0, { what: 'the ring node to log the refusal' });
    assert.ok(logged(store, 'TlsRefused').length > 0, 'the rogue node logs the refusal too');
    assert.match(String(logged(ring!.store, 'TlsRefused')[0]!['reason'] ?? logged(ring!.store, 'TlsRefused')[0]!.msg), /certificate|verify|refus/i);
    assert.equal(ring!.node.overlay.leafSetMembers().length, 0, 'the ring never admitted it');
    assert.ok(ring!.node.transport.stats.rejected > 0);
  });

  test('a certificate trusted by the ring but presented with a CA it does not match is refused at start', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    const rogueCa = await createCa({ commonName: 'rogue CA' });
    await writeCerts(dir, rogueCa, 'impostor', await ringCa()); // signed by rogue, claims the ring CA
    await assert.rejects(launchNode(testConfig(dir, { newRing: true }), memoryEnv()), (err: Error) => err instanceof TlsSetupError && /tls\.cert/.test(err.message) && /not signed by the ring CA/.test(err.message));
  });

  test('missing certificate files stop the start with the setting to fix', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    await assert.rejects(launchNode(testConfig(dir, { newRing: true }), memoryEnv()), (err: Error) => err instanceof TlsSetupError && /setting "tls\.ca"/.test(err.message) && /pi cert create-ca/.test(err.message));
  });

  test('a start refused for its certificates or its applications leaves no data directory behind', async (t) => {
    const parent = await tempDir((fn) => t.after(fn));
    const dir = join(parent, 'node');
    await assert.rejects(launchNode(testConfig(dir, { newRing: true }), memoryEnv()), (err: Error) => err instanceof TlsSetupError);
    assert.deepEqual(await readdir(parent), [], 'no data directory, no node id, no store');
    await writeCerts(parent, await ringCa(), 'x'); // the certificates alone, in <parent>/tls
    const withCerts = { newRing: true, apps: ['nope'], tls: { ca: join(parent, 'tls', 'ca.crt'), cert: join(parent, 'tls', 'node.crt'), key: join(parent, 'tls', 'node.key') } };
    await assert.rejects(launchNode(testConfig(dir, withCerts), memoryEnv()), (err: Error) => err instanceof ConfigError && /unknown application "nope"/.test(err.message));
    assert.deepEqual(await readdir(parent), ['tls']);
  });

  test('--insecure runs without certificates, says so loudly and keeps an alert up', async (t) => {
    const n = await startNode((fn) => t.after(fn), { config: { insecure: true } });
    assert.equal(n.node.transport.secure, false);
    assert.ok(logged(n.store, 'Insecure').some((e) => /INSECURE/.test(e.msg)));
    assert.ok(n.node.alerts.has('Insecure'));
    assert.equal(n.node.health(), 'degraded');
  });

  test('a second node on a taken port is refused naming the setting and the likely cause', async (t) => {
    const first = await startNode((fn) => t.after(fn));
    const port = Number(first.node.address.split(':')[1]);
    const dir = await tempDir((fn) => t.after(fn));
    await writeCerts(dir, await ringCa(), 'second');
    const again = testConfig(dir, { newRing: true, port, ops: { port: 0 } });
    await assert.rejects(
      launchNode(again, memoryEnv()),
      (err: Error & { code?: string }) =>
        err.code === 'ListenFailed' && /^setting "port": cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE.*is a node already running with this configuration/.test(err.message) && err.message.includes(dir),
    );
    assert.equal(first.node.state, 'ready', 'the running node carries on');
  });

  test('a second node on a data directory in use is refused (another port changes nothing); the directory is free once the first stops', async (t) => {
    const first = await startNode((fn) => t.after(fn));
    const again = testConfig(first.dir, { newRing: true, port: 0, ops: { port: 0 } });
    await assert.rejects(
      launchNode(again, memoryEnv()),
      (err: Error & { code?: string }) => err.code === 'DataDirLocked' && err.message.includes(`pid ${process.pid}`) && /one node per data directory/.test(err.message),
    );
    assert.equal(first.node.state, 'ready', 'the running node carries on');
    const id = first.node.id.hex;
    await first.stop({ graceful: false });
    const next = await launchNode(again, memoryEnv());
    t.after(() => next.stop({ graceful: false }));
    assert.equal(next.node.id.hex, id);
  });

  test('the first node of a new ring does not wait out the join timeout for a bootstrap address that refuses connections', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    await writeCerts(dir, await ringCa(), 'first');
    const closed = await freePort();
    const { env, store } = memoryEnv();
    const n = await launchNode(testConfig(dir, { newRing: true, bootstrap: [`127.0.0.1:${closed}`], overlay: { joinAttemptTimeoutMs: 60_000 } }), { env });
    t.after(() => n.stop({ graceful: false }));
    assert.equal(n.node.state, 'ready', 'started its ring (the test would time out waiting 60 s otherwise)');
    assert.match(String(logged(store, 'JoinUnreachable')[0]?.['reason']), /DialFailed: .*ECONNREFUSED/);
    assert.equal(logged(store, 'JoinTimeout').length, 0);
  });

  test('without bootstrap nodes or newRing, the node refuses to start a ring', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    await writeCerts(dir, await ringCa(), 'alone');
    await assert.rejects(launchNode(testConfig(dir, { newRing: false }), memoryEnv()), (err: Error & { code?: string }) => err.code === 'JoinFailed' && /newRing/.test(err.message));
  });

  test('a joiner keeps retrying until its bootstrap node comes up', async (t) => {
    const firstDir = await tempDir((fn) => t.after(fn));
    await writeCerts(firstDir, await ringCa(), 'late');
    // Below the ephemeral range (32768 and up), where another test's connection could take it first.
    const port = 20000 + Math.floor(Math.random() * 12000);
    const joinerDir = await tempDir((fn) => t.after(fn));
    await writeCerts(joinerDir, await ringCa(), 'early');
    const joiner = memoryEnv();
    const joining = launchNode(testConfig(joinerDir, { bootstrap: [`127.0.0.1:${port}`], joinTimeoutMs: 15_000, overlay: { joinAttemptTimeoutMs: 300 } }), { env: joiner.env });
    await waitFor(() => joiner.store.entries.some((e) => e['code'] === 'JoinRetry'), { timeoutMs: 5000, what: 'a retry' });
    const first = await launchNode(testConfig(firstDir, { port, newRing: true }), memoryEnv());
    t.after(() => first.stop({ graceful: false }));
    const second = await joining;
    t.after(() => second.stop({ graceful: false }));
    assert.equal(second.node.state, 'ready');
    await waitFor(() => first.node.overlay.leafSetMembers().length === 1, { what: 'the first node to see the joiner' });
  });

  test('a graceful stop hands records off and is reported as a departure by the ring', async (t) => {
    const nodes = await startRing((fn) => t.after(fn), 4);
    const [a, b] = nodes;
    const dht = a!.node.service<DhtService>('dht')!.dht;
    for (let i = 0; i < 20; i++) await dht.put(nodes[i % 4]!.node.id, { type: 'k', i }).catch(() => dht.update(nodes[i % 4]!.node.id, () => ({ type: 'k', i })));
    const leaving = nodes[3]!;
    const started = Date.now();
    await leaving.stop({ graceful: true });
    assert.ok(Date.now() - started < 5000, 'left within the shutdown timeout');
    assert.equal(leaving.node.state, 'stopped');
    await waitFor(() => nodes.slice(0, 3).some((n) => n.node.events.list({ types: ['node.departed'] }).some((e) => e.data?.['peer'] === leaving.node.id.hex && e.data?.['reason'] === 'left')), {
      what: 'a departure event for the node that left',
    });
    for (const n of nodes.slice(0, 3)) assert.ok(!n.node.overlay.leafSetMembers().some((h) => h.id.equals(leaving.node.id)));
    const r = await b!.node.service<DhtService>('dht')!.dht.get(nodes[3]!.node.id);
    assert.equal(r?.type, 'k', 'the records survive the departure');
  });

  test('a node restarted on its data directory keeps its id and its records', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    await writeCerts(dir, await ringCa(), 'phoenix');
    const first = await launchNode(testConfig(dir, { newRing: true }), memoryEnv());
    const id = first.node.id.hex;
    await first.node.service<DhtService>('dht')!.dht.put(first.node.id, { type: 'memo', n: 1 });
    await first.stop({ graceful: true });
    const again = await launchNode(testConfig(dir, { newRing: true }), memoryEnv());
    t.after(() => again.stop({ graceful: false }));
    assert.equal(again.node.id.hex, id);
    assert.equal(again.node.service<DhtService>('dht')!.dht.localGet(again.node.id)?.v, 1);
  });

  test('a data directory of another region is refused', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    await writeCerts(dir, await ringCa(), 'zoned');
    const first = await launchNode(testConfig(dir, { newRing: true, region: 1, az: 2 }), memoryEnv());
    assert.equal(first.node.id.hex.slice(0, 4), '0102');
    await first.stop({ graceful: false });
    await assert.rejects(launchNode(testConfig(dir, { newRing: true, region: 3 }), memoryEnv()), (err: Error) => err instanceof DataDirError && err.code === 'NodeIdMismatch');
  });
});

/** An application that fails where told to. */
class Faulty implements NodeService {
  readonly kind = 'app';
  delivered = 0;
  constructor(
    readonly name: string,
    private readonly failIn: 'start' | 'summary' | 'deliver' | 'none',
  ) {}
  start(ctx: ServiceContext): void {
    if (this.failIn === 'start') throw new Error('cannot start');
    ctx.overlay.register({
      name: this.name,
      deliver: () => {
        this.delivered++;
        if (this.failIn === 'deliver') throw new Error('deliver blew up');
      },
    });
  }
  summary(): Record<string, unknown> {
    if (this.failIn === 'summary') throw new Error('no summary');
    return { ok: true };
  }
}

describe('applications are isolated', () => {
  test('failing applications are reported; the node and the other applications carry on', async (t) => {
    const apps = { good: new Faulty('good', 'none'), bad: new Faulty('bad', 'deliver'), broken: new Faulty('broken', 'start'), mute: new Faulty('mute', 'summary') };
    const registry = new ApplicationRegistry(Object.values(apps).map((a) => ({ name: a.name, description: a.name, create: () => a })));
    const n = await startNode((fn) => t.after(fn), { config: { apps: ['good', 'bad', 'broken', 'mute'] }, launch: { applications: registry } });
    assert.equal(n.node.state, 'ready');
    const states = Object.fromEntries(n.node.services().map((s) => [s.service.name, s.state]));
    assert.equal(states['broken'], 'failed');
    assert.equal(states['good'], 'active');
    assert.ok(n.node.alerts.has('ApplicationFailed', 'broken'));
    assert.equal(n.node.health(), 'critical');
    // A summary that throws is left out (and counted) instead of breaking the node's summary.
    const summary = n.node.summary();
    assert.deepEqual(summary.services['good'], { ok: true });
    assert.equal(summary.services['mute'], undefined);
    assert.ok(n.node.services().find((s) => s.service.name === 'mute')!.errors >= 1);
    // A throwing deliver does not stop delivery to the others.
    n.node.overlay.route(n.node.id, { app: 'bad', mid: 'm1' });
    n.node.overlay.route(n.node.id, { app: 'good', mid: 'm2' });
    await waitFor(() => apps.good.delivered === 1 && apps.bad.delivered === 1);
    assert.ok(n.store.entries.some((e) => e['code'] === 'ApplicationError' && e['app'] === 'bad'));
    assert.ok(n.node.events.list({ types: ['error'] }).some((e) => e.data?.['app'] === 'broken'));
  });

  test('an unknown application name is a configuration error naming the setting', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    await writeCerts(dir, await ringCa(), 'x');
    await assert.rejects(launchNode(testConfig(dir, { newRing: true, apps: ['nope'] }), memoryEnv()), (err: Error) => err instanceof ConfigError && /setting "apps": unknown application "nope"/.test(err.message));
  });

  test('join() twice is refused', async (t) => {
    const n = await startNode((fn) => t.after(fn));
    await assert.rejects(n.node.join(), (err: Error & { code?: string }) => err.code === 'InvalidState');
    assert.equal(n.node.state, 'ready');
  });
});
