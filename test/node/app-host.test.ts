/**
 * The application framework inside real nodes: framework applications chosen with `apps`,
 * activation events, seeding through the ops API, task queues shown by `/api/queues` and
 * `pi queue show`, and a throwing application isolated from the rest.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PiApplication } from '../../src/app/index.ts';
import { ApplicationRegistry, frameworkApplication } from '../../src/node/index.ts';
import type { AppHostService } from '../../src/node/index.ts';
import { call, startNode, TOKEN, waitFor } from './fixtures.ts';
import type { TestNode } from './fixtures.ts';
import { runPi as pi } from '../helpers/pi-cli.ts';
import { runCleanups } from '../helpers/cleanup.ts';

class Worker extends PiApplication {
  handled = 0;
  constructor() {
    super('worker');
  }
  override onStart(): void {
    this.processQueue('jobs', { onTask: () => void this.handled++ });
  }
}

class Broken extends PiApplication {
  constructor() {
    super('broken');
  }
  override onStart(): void {
    throw new Error('broken on purpose');
  }
}

const registry = new ApplicationRegistry([
  frameworkApplication('worker', 'processes jobs', () => new Worker()),
  frameworkApplication('broken', 'fails to start', () => new Broken()),
]);

let nodes: TestNode[];
const cleanups: (() => Promise<void>)[] = [];
before(async () => {
  const first = await startNode((fn) => cleanups.push(fn), { config: { apps: ['worker', 'broken'] }, launch: { applications: registry } });
  const second = await startNode((fn) => cleanups.push(fn), { bootstrap: [first.node.address], config: { apps: ['worker'] }, launch: { applications: registry } });
  nodes = [first, second];
  await waitFor(() => nodes.every((n) => n.node.overlay.leafSetMembers().length === 1), { what: 'a ring of 2' });
});
after(async () => {
  await runCleanups(cleanups);
});

describe('the application host in a node', () => {
  test('framework applications chosen with apps become active; their activation is an event; a failing one is isolated', async () => {
    const n = nodes[0]!;
    await waitFor(() => n.node.services().find((s) => s.service.name === 'worker')?.state === 'active', { what: 'worker active' });
    assert.ok(n.node.events.list({ types: ['app.activated'] }).some((e) => e.data?.['app'] === 'worker'));
    await waitFor(() => n.node.events.list({ types: ['error'] }).some((e) => e.data?.['app'] === 'broken'), { what: 'the broken application reported' });
    assert.equal(n.node.state, 'ready');
    const apps = await call(n.ops!.url, '/api/apps');
    const mine = (apps.body['ring'] as { id: string; apps: { name: string; state: string }[] }[]).find((r) => r.id === n.node.id.hex)!;
    assert.deepEqual(mine.apps.map((a) => a.name).sort(), ['apps', 'broken', 'dht', 'scribe', 'worker']);
    const framework = await call(n.ops!.url, '/api/apps/framework');
    assert.equal((framework.body['apps'] as { name: string; activator: string }[]).find((a) => a.name === 'worker')!.activator, 'always-on');
  });

  test('pi seed seeds a queue through the seeder; tasks show in /api/queues and pi queue show', async (t) => {
    const n = nodes[1]!;
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'pi-seed-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'seed.yaml');
    await writeFile(file, 'queues:\n  - name: jobs\n    retries: 2\n    staleAfterMs: 60000\nrecords:\n  - uri: cfg:main\n    entity: { type: cfg }\n');
    const target = ['--ops', n.ops!.url, '--token', TOKEN];
    const seeded = await pi(['seed', file, ...target]);
    assert.equal(seeded.code, 0, seeded.err);
    assert.match(seeded.out, /seeded 2 record\(s\), kept 0 existing, 0 failed/);
    assert.match(seeded.out, /written queue jobs/);
    const again = await pi(['--json', 'seed', file, ...target]);
    assert.equal(JSON.parse(again.out).kept, 2, 'seeding twice keeps what is there');
    const bad = await pi(['seed', file.replace('seed.yaml', 'bad.yaml'), ...target]);
    assert.equal(bad.code, 1);
    await writeFile(join(dir, 'invalid.yaml'), 'queues:\n  - name: Bad Name\n');
    const invalid = await pi(['seed', join(dir, 'invalid.yaml'), ...target]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.err, /queues\[0\]\.name/);

    const host = n.node.service<AppHostService>('apps')!.host;
    for (const uri of ['job:1', 'job:2', 'job:3']) await host.queues.add('jobs', uri, { data: { n: uri } });
    const queues = await call(n.ops!.url, '/api/queues');
    const jobs = (queues.body['queues'] as { name: string; depth: number; settings: { retries: number } }[]).find((q) => q.name === 'jobs')!;
    assert.equal(jobs.depth, 3);
    assert.equal(jobs.settings.retries, 2);
    const show = await pi(['--json', 'queue', 'show', 'jobs', ...target]);
    assert.equal(show.code, 0, show.err);
    const shown = JSON.parse(show.out) as { tasks: { uri: string; owner: string }[] };
    assert.deepEqual(shown.tasks.map((x) => x.uri), ['job:1', 'job:2', 'job:3']);
    assert.equal(shown.tasks[0]!.owner, n.node.id.hex);
    const missing = await pi(['queue', 'show', 'nope', ...target]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no queue "nope"/);
    assert.match((await call(n.ops!.url, '/metrics')).text, /pi_task_queue_events_total\{kind="added"\} 3/);
  });
});
