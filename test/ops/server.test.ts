/** The ops API of real nodes over loopback: authentication, every route, metrics, the DHT routes, bad input. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ApplicationRegistry } from '../../src/node/index.ts';
import type { NodeService } from '../../src/node/index.ts';
import { DhtService } from '../../src/node/index.ts';
import type { ScribeService } from '../../src/node/index.ts';
import { makeTopic } from '../../src/scribe/index.ts';
import { call, startRing, TOKEN, waitFor } from '../node/fixtures.ts';
import type { TestNode } from '../node/fixtures.ts';
import { runCleanups } from '../helpers/cleanup.ts';

let nodes: TestNode[];
const cleanups: (() => Promise<void>)[] = [];
let routeCalls = 0;

/** An application with a route that fails on demand. */
const flaky: NodeService = {
  name: 'flaky',
  kind: 'app',
  start() {},
  routes: () => [
    {
      method: 'GET',
      path: '/api/flaky/:what',
      description: 'fails when asked',
      handler: (req) => {
        routeCalls++;
        if (req.params['what'] === 'boom') throw new Error('kaboom');
        return { body: { what: req.params['what'], q: req.query.get('q') } };
      },
    },
  ],
  metrics: () => [{ name: 'pi_flaky_calls_total', help: 'calls', type: 'counter', values: [{ labels: { kind: 'a"b' }, value: routeCalls }] }],
};

before(async () => {
  const registry = new ApplicationRegistry([{ name: 'flaky', description: 'test app', create: () => flaky }]);
  nodes = await startRing((fn) => cleanups.push(fn), 3, { apps: [] });
  // One more node running the flaky application, joined to the ring.
  const { startNode } = await import('../node/fixtures.ts');
  nodes.push(await startNode((fn) => cleanups.push(fn), { bootstrap: [nodes[0]!.node.address], config: { apps: ['flaky'] }, launch: { applications: registry } }));
  await waitFor(() => nodes.every((n) => n.node.overlay.leafSetMembers().length === 3), { what: 'a ring of 4' });
});
after(async () => {
  await runCleanups(cleanups);
});

const url = (i = 0): string => nodes[i]!.ops!.url;

/** A raw HTTP/1.1 connection to a node's ops port, to send what fetch will not (lying lengths, half bodies). */
async function rawOps(i = 0): Promise<{ socket: net.Socket; received: () => string; ended: () => boolean }> {
  const { hostname, port } = new URL(url(i));
  const socket = net.connect({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  let ended = false;
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => {});
  socket.on('close', () => (ended = true));
  cleanups.push(async () => void socket.destroy());
  return { socket, received: () => text, ended: () => ended };
}

describe('ops API', () => {
  test('/health needs no token and says ready; everything else needs the token', async () => {
    const h = await call(url(), '/health', { token: null });
    assert.equal(h.status, 200);
    assert.equal(h.body['status'], 'ok');
    assert.equal(h.body['id'], nodes[0]!.node.id.hex);
    for (const path of ['/api/node', '/api/ring', '/metrics', '/api/events', '/api/dht/counts']) {
      const none = await call(url(), path, { token: null });
      assert.equal(none.status, 401, path);
      assert.equal((none.body['error'] as { code: string }).code, 'Unauthorized');
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      assert.equal((await call(url(), path, { token: 'x'.repeat(TOKEN.length) })).status, 401, `${path} with a wrong token`);
    }
    assert.equal((await call(url(), '/api/node')).status, 200);
  });

  test('/api/node describes the node', async () => {
    const { body } = await call(url(), '/api/node');
    assert.equal(body['id'], nodes[0]!.node.id.hex);
    assert.equal(body['state'], 'ready');
    assert.equal(body['secure'], true);
    assert.equal((body['leafSet'] as unknown[]).length, 3);
    assert.ok((body['certificate'] as { subject: string }).subject.includes('node-0'));
    assert.equal(((body['config'] as Record<string, Record<string, unknown>>)['ops']!)['token'], '********', 'the token is not shown');
    assert.ok((body['services'] as { name: string }[]).some((s) => s.name === 'dht'));
    assert.ok(typeof (body['eventLoop'] as { p99Ms: number }).p99Ms === 'number');
    // Heartbeats start once the leaf set is complete; on a loaded machine the first may not have
    // gone out yet when the test begins.
    assert.ok(Array.isArray(body['messages']));
    await waitFor(async () => ((await call(url(), '/api/node')).body['messages'] as { type: string }[]).some((m) => m.type === 'HEARTBEAT'), {
      timeoutMs: 10_000,
      what: 'a heartbeat counted in /api/node',
    });
  });

  test('/api/ring shows leaf set and routing table; ?walk=true finds every node with its applications', async () => {
    const { body } = await call(url(), '/api/ring?walk=true');
    const ls = body['leafSet'] as { left: unknown[]; right: unknown[]; size: number };
    assert.equal(ls.size, 3);
    assert.ok((body['routingTable'] as { size: number }).size >= 1);
    const walk = body['walk'] as { members: { id: string; health: string; summary?: { apps: { name: string }[] } }[] };
    assert.deepEqual(walk.members.map((m) => m.id).sort(), nodes.map((n) => n.node.id.hex).sort());
    assert.ok(walk.members.every((m) => m.health === 'ok'));
    const flakyNode = walk.members.find((m) => m.id === nodes[3]!.node.id.hex)!;
    assert.ok(flakyNode.summary!.apps.some((a) => a.name === 'flaky'));
    assert.equal((await call(url(), '/api/ring?walk=maybe')).status, 400);
  });

  test('/api/apps lists what runs where', async () => {
    const { body } = await call(url(1), '/api/apps');
    const ring = body['ring'] as { id: string; apps: { name: string }[] }[];
    assert.equal(ring.length, 4);
    assert.deepEqual(ring.find((r) => r.id === nodes[3]!.node.id.hex)!.apps.map((a) => a.name).sort(), ['apps', 'dht', 'flaky', 'scribe']);
  });

  test('/api/events: local and ring-wide, with since and limit', async () => {
    const local = await call(url(), '/api/events?limit=5');
    const events = local.body['events'] as { seq: number; type: string }[];
    assert.ok(events.length > 0 && events.length <= 5);
    assert.ok(events[0]!.seq > events[events.length - 1]!.seq, 'newest first');
    const last = local.body['lastSeq'] as number;
    assert.equal(((await call(url(), `/api/events?since=${last}`)).body['events'] as unknown[]).length, 0);
    const ring = await call(url(), '/api/events?scope=ring&limit=200');
    const nodesSeen = new Set((ring.body['events'] as { node: string }[]).map((e) => e.node));
    assert.ok(nodesSeen.size >= 3, 'events of several nodes');
    assert.equal((await call(url(), '/api/events?scope=galaxy')).status, 400);
    assert.equal((await call(url(), '/api/events?limit=-1')).status, 400);
  });

  test('/api/dht: write by URI on one node, read on another, counts, scan, seed', async () => {
    const put = await call(url(0), '/api/dht/records/user:alice', { method: 'PUT', body: { type: 'user', name: 'Alice' } });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.body['version'], 1);
    const again = await call(url(0), '/api/dht/records/user:alice', { method: 'PUT', body: { type: 'user', name: 'Alice B.' } });
    assert.equal(again.body['version'], 2, 'replace mode writes over the current version');
    const got = await call(url(2), '/api/dht/records/user:alice');
    assert.equal(got.status, 200);
    assert.equal((got.body['body'] as { name: string }).name, 'Alice B.');
    assert.equal(got.body['uri'], 'user:alice');
    const byId = await call(url(1), `/api/dht/records/${got.body['id']}`);
    assert.equal(byId.body['version'], 2);
    assert.equal((await call(url(1), '/api/dht/records/user:nobody')).status, 404);
    assert.equal((await call(url(1), '/api/dht/records/not%20a%20key')).status, 400);
    assert.equal((await call(url(1), '/api/dht/records/user:x', { method: 'PUT', body: [1, 2] })).status, 400);
    assert.equal((await call(url(1), '/api/dht/records/user:x', { method: 'PUT', body: '{bad json' })).status, 400);
    const conflict = await call(url(1), '/api/dht/records/user:alice?mode=put', { method: 'PUT', body: { type: 'user', version: 1 } });
    assert.equal(conflict.status, 409);
    assert.equal((conflict.body['error'] as { code: string }).code, 'VersionConflict');
    const absent = await call(url(1), '/api/dht/records/user:alice?mode=ifAbsent', { method: 'PUT', body: { type: 'user' } });
    assert.equal(absent.status, 409);
    assert.equal(absent.body['written'], false);

    const seed = await call(url(0), '/api/dht/seed', {
      method: 'POST',
      body: { records: [{ uri: 'queue:jobs', entity: { type: 'queue' } }, { uri: 'user:alice', entity: { type: 'user' } }, { entity: {} }, { uri: 'user:alice', entity: { type: 'user', name: 'C' }, overwrite: true }] },
    });
    assert.equal(seed.status, 200, seed.text);
    assert.deepEqual([seed.body['written'], seed.body['kept'], seed.body['failed']], [2, 1, 1]);

    let total = 0;
    for (let i = 0; i < 4; i++) {
      const counts = await call(url(i), '/api/dht/counts');
      total += ((counts.body['rootByType'] as Record<string, number>)['user'] ?? 0);
    }
    assert.equal(total, 1, 'each record counted once, at its root');
    const stats = await call(url(1), '/api/dht/stats');
    assert.equal(stats.body['storeSummed'], true, 'the store index is summed up after start');
    assert.equal(typeof stats.body['items'], 'number');
    const scan = await call(url(0), '/api/dht/scan?type=queue&limit=10');
    const holders = await Promise.all([0, 1, 2, 3].map((i) => call(url(i), '/api/dht/scan?type=queue')));
    assert.equal(holders.filter((h) => (h.body['records'] as unknown[]).length === 1).length, 4, 'four replicas of the queue record (a ring of 4)');
    assert.ok(Array.isArray(scan.body['records']));
    assert.equal((await call(url(0), '/api/dht/scan?limit=zero')).status, 400);
  });

  test('/metrics: Prometheus text with messages by type, hops, DHT operations, event-loop lag, service metrics', async () => {
    const heartbeats = (text: string): number => Number(/^pi_messages_total\{direction="in",type="HEARTBEAT"\} (\d+)/m.exec(text)?.[1] ?? 0);
    // A loaded machine may not have delivered the first heartbeat yet: wait for it (with a deadline).
    const before = await waitFor(
      async () => {
        const m = await call(url(0), '/metrics');
        return m.status === 200 && heartbeats(m.text) > 0 ? m : undefined;
      },
      { what: 'a first heartbeat counted' },
    );
    assert.match(before.headers.get('content-type') ?? '', /text\/plain/);
    for (const name of ['pi_node_ready 1', 'pi_route_hops_count', 'pi_event_loop_lag_seconds{quantile="0.99"}', 'pi_leafset_size 3', 'pi_ring_size_estimate 4', 'pi_dht_operations_total{op=', 'pi_dht_operation_seconds_count{op=', 'pi_dht_replica_repairs_total', 'process_cpu_user_seconds_total', 'pi_app_active{app="dht",kind="core",state="active"} 1']) {
      assert.ok(before.text.includes(name), `metrics include ${name}`);
    }
    await waitFor(async () => heartbeats((await call(url(0), '/metrics')).text) > heartbeats(before.text), { what: 'heartbeat counter to grow' });
    const flakyMetrics = await call(url(3), '/metrics');
    assert.ok(flakyMetrics.text.includes('pi_flaky_calls_total{kind="a\\"b"}'), 'service metrics with escaped labels');
  });

  test('service routes: served under /api, a failing one answers 500 and is counted, the node carries on', async () => {
    const ok = await call(url(3), '/api/flaky/hello?q=1');
    assert.deepEqual(ok.body, { what: 'hello', q: '1' });
    const boom = await call(url(3), '/api/flaky/boom');
    assert.equal(boom.status, 500);
    assert.equal((boom.body['error'] as { message: string }).message, 'kaboom');
    assert.ok(boom.headers.get('x-pi-tx')?.startsWith('ops-'));
    assert.equal(nodes[3]!.node.services().find((s) => s.service.name === 'flaky')!.errors, 1);
    assert.ok(nodes[3]!.store.entries.some((e) => e['code'] === 'ApplicationError' && e['app'] === 'flaky'));
    assert.equal((await call(url(3), '/health', { token: null })).status, 200);
  });

  test('/api/topics: this node\'s part of each tree, and the topics of the whole ring', async () => {
    const topic = makeTopic('svc:echo');
    for (const i of [1, 2]) await nodes[i]!.node.service<ScribeService>('scribe')!.scribe.subscribe(topic, { deliver() {} });
    const root = nodes.find((n) => n.node.service<ScribeService>('scribe')!.scribe.treeInfo(topic)?.root)!;
    assert.ok(root, 'a root holds the tree');
    type RingTopic = { uri: string; subscribers: number; treeNodes: number; roots: string[] };
    // A ring walk is reused for 1.5 s: wait for one made after the subscriptions.
    const t = await waitFor(async () => {
      const r = await call(url(0), '/api/topics');
      assert.equal(r.status, 200, r.text);
      return (r.body['ring'] as RingTopic[]).find((x) => x.uri === 'svc:echo' && x.subscribers === 2);
    }, { what: 'the topic in a fresh ring walk' });
    assert.equal(t.subscribers, 2);
    assert.deepEqual(t.roots, [root.node.id.hex]);
    const local = (await call(url(1), '/api/topics?walk=false')).body;
    assert.equal((local['local'] as { uri: string; clients: number }[]).find((x) => x.uri === 'svc:echo')!.clients, 1);
    assert.equal(local['ring'], undefined);
    assert.match((await call(url(1), '/metrics')).text, /pi_scribe_topics\{role="subscriber"\} 1/);
  });

  test('unknown routes 404; wrong methods 405; bodies too large 413; the route index', async () => {
    assert.deepEqual((await call(url(), '/api/queues')).body['queues'], [], 'no queue registered here');
    assert.equal((await call(url(), '/api/queues/jobs')).status, 404);
    assert.equal((await call(url(), '/api/nothing')).status, 404);
    const wrong = await call(url(), '/api/node', { method: 'DELETE' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET');
    const big = await call(url(), '/api/dht/seed', { method: 'POST', body: 'x'.repeat(1024 * 1024 + 10) });
    assert.equal(big.status, 413);
    const index = await call(url(), '/api');
    assert.ok((index.body['routes'] as { path: string }[]).some((r) => r.path === '/api/dht/records/:key'));
  });

  test('under /api/ the token is checked before the route: no mapping the API without it', async () => {
    for (const [path, method] of [['/api/nothing', 'GET'], ['/api/dht/nothing/at/all', 'DELETE'], ['/api/node', 'DELETE'], ['/api/', 'GET']] as const) {
      const none = await call(url(), path, { method, token: null });
      assert.equal(none.status, 401, `${method} ${path}`);
      assert.equal((none.body['error'] as { code: string }).code, 'Unauthorized');
    }
    assert.equal((await call(url(), '/api/nothing')).status, 404, 'with the token: 404');
    assert.equal((await call(url(), '/api/node', { method: 'DELETE' })).status, 405, 'with the token: 405');
    // Outside /api, public routes and 404s are as they were.
    assert.equal((await call(url(), '/health', { token: null })).status, 200);
    assert.equal((await call(url(), '/nothing', { token: null })).status, 404);
    assert.equal((await call(url(), '/', { token: null })).status, 200);
  });

  test('POST /api/seed with an empty seed ([] or {}) is refused (InvalidSeed), not "written 0"', async () => {
    for (const body of [[], {}]) {
      const r = await call(url(), '/api/seed', { method: 'POST', body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal((r.body['error'] as { code: string }).code, 'InvalidSeed');
      assert.match((r.body['error'] as { message: string }).message, /empty/);
    }
  });

  test('a client that goes away in the middle of a body is logged as such (ClientClosedRequest), not as a server error', async () => {
    const since = nodes[0]!.store.entries.length;
    const raw = await rawOps();
    // With "Expect: 100-continue" the server says when it has the request in hand.
    raw.socket.write(`POST /api/dht/seed HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 500000\r\nExpect: 100-continue\r\n\r\n`);
    await waitFor(() => raw.received().includes('100 Continue'), { what: 'the server to take the request' });
    raw.socket.write('{');
    raw.socket.destroy();
    const line = await waitFor(() => nodes[0]!.store.entries.slice(since).find((e) => e['code'] === 'ClientClosedRequest'), { what: 'the ClientClosedRequest line' });
    assert.equal(line.level, 'info');
    assert.equal(line['status'], 499);
    assert.match(String(line['msg']), /client closed the connection after \d+ byte\(s\) of the request body \(of 500000 announced\)/);
    const after = nodes[0]!.store.entries.slice(since);
    assert.equal(after.filter((e) => e.level === 'error' || e.level === 'fatal').length, 0, JSON.stringify(after));
    assert.ok(!after.some((e) => /ops request failed/.test(String(e['msg']))));
    assert.ok(!after.some((e) => e['status'] === 500));
  });

  test('a body announced above the limit is refused at once with 413 and the connection closed', async () => {
    const since = nodes[0]!.store.entries.length;
    const raw = await rawOps();
    raw.socket.write(`POST /api/dht/seed HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{`);
    await waitFor(raw.ended, { what: 'the server to close the connection' });
    assert.match(raw.received(), /^HTTP\/1\.1 413 /);
    assert.match(raw.received(), /\r\nconnection: close\r\n/i);
    assert.match(raw.received(), /"code":"RequestTooLarge"/);
    const after = nodes[0]!.store.entries.slice(since);
    assert.equal(after.filter((e) => e.level === 'error' || e.level === 'fatal').length, 0, JSON.stringify(after));
  });

  test('after a 413 on a body too large to be read, the connection is closed: the rest is never taken as a request', async () => {
    const raw = await rawOps();
    // Chunked, so that no length announces it: the limit is found while reading.
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    raw.socket.write(`POST /api/dht/seed HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    for (let i = 0; i < 5; i++) raw.socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`);
    await waitFor(() => raw.received().includes('\r\n\r\n'), { what: 'the answer' });
    assert.match(raw.received(), /^HTTP\/1\.1 413 /);
    assert.match(raw.received(), /\r\nconnection: close\r\n/i);
    await waitFor(raw.ended, { what: 'the server to close the connection' });
    assert.equal(raw.received().match(/HTTP\/1\.1 /g)!.length, 1, 'one answer only');
  });

  test('the dashboard is served without a token and holds no data', async () => {
    const page = await call(url(), '/', { token: null });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.text, /<svg id="ring"/);
    const js = await call(url(), '/dashboard/app.js', { token: null });
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.ok(!js.text.includes(TOKEN));
    assert.equal((await call(url(), '/dashboard/../server.ts', { token: null })).status, 404);
    assert.equal((await call(url(), '/dashboard/missing.js', { token: null })).status, 404);
  });

  test('the DHT service is exposed to other services', () => {
    assert.ok(nodes[0]!.node.service<DhtService>('dht') instanceof DhtService);
  });
});
