/** The `pi` command in-process: certificates, configuration, inspection commands against real nodes, errors. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { table } from '../../src/cli/output.ts';
import { readValue } from '../../src/cli/inspect.ts';
import { runningDevNodes } from '../../src/cli/up.ts';
import { loadTlsCredentials } from '../../src/node/index.ts';
import type { ScribeService } from '../../src/node/index.ts';
import { makeTopic } from '../../src/scribe/index.ts';
import { CreateBucketCommand, DeleteBucketCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { startRing, tempDir, TOKEN, waitFor } from '../node/fixtures.ts';
import type { TestNode } from '../node/fixtures.ts';
import { clientFor, startS3Ring } from '../cloud/s3/harness.ts';
import type { S3Node } from '../cloud/s3/harness.ts';
import { runPi as pi } from '../helpers/pi-cli.ts';
import { runCleanups } from '../helpers/cleanup.ts';

describe('pi cert', () => {
  test('create-ca and create-node write usable, CA-signed credentials; keys are private; no silent overwrite', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    const ca = join(dir, 'ca');
    const r1 = await pi(['cert', 'create-ca', '--dir', ca, '--name', 'Test CA']);
    assert.equal(r1.code, 0, r1.err);
    assert.match(r1.out, /created CA "CN=Test CA"/);
    assert.equal(statSync(join(ca, 'ca.key')).mode & 0o777, 0o600);
    const again = await pi(['cert', 'create-ca', '--dir', ca]);
    assert.equal(again.code, 1);
    assert.match(again.err, /already exists.*--force/);
    const out = join(dir, 'node', 'tls');
    const r2 = await pi(['--json', 'cert', 'create-node', 'n1', '--ca-dir', ca, '--out', out, '--host', '127.0.0.1,localhost']);
    assert.equal(r2.code, 0, r2.err);
    const json = JSON.parse(r2.out) as { subject: string; cert: string };
    assert.equal(json.subject, 'CN=n1');
    assert.equal(statSync(join(out, 'node.key')).mode & 0o777, 0o600);
    const cert = new X509Certificate(readFileSync(join(out, 'node.crt')));
    assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.match(cert.subjectAltName ?? '', /DNS:localhost/);
    // What a node checks at start.
    const loaded = loadTlsCredentials({ ca: join(out, 'ca.crt'), cert: join(out, 'node.crt'), key: join(out, 'node.key') }, Date.now());
    assert.equal(loaded.summary.subject, 'CN=n1');
    const noCa = await pi(['cert', 'create-node', 'n2', '--ca-dir', join(dir, 'nope'), '--out', join(dir, 'n2')]);
    assert.equal(noCa.code, 1);
    assert.match(noCa.err, /cannot read the CA.*pi cert create-ca/);
  });
});

describe('pi config show', () => {
  test('file < environment < flags, printed with the token masked', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    const file = join(dir, 'pi.yaml');
    writeFileSync(file, 'port: 5000\nbind: 10.0.0.1\nops:\n  token: file-token-0123456789\n  port: 7000\nlog:\n  level: debug\n');
    const r = await pi(['--json', 'config', 'show', '--config', file, '--port', '6000'], { PI_BIND: '10.0.0.2', PI_OPS_PORT: '7001' });
    assert.equal(r.code, 0, r.err);
    const c = JSON.parse(r.out) as { port: number; bind: string; ops: { port: number; token: string }; log: { level: string } };
    assert.equal(c.port, 6000, 'flag beats file');
    assert.equal(c.bind, '10.0.0.2', 'environment beats file');
    assert.equal(c.ops.port, 7001);
    assert.equal(c.log.level, 'debug', 'file beats default');
    assert.equal(c.ops.token, '********');
  });

  test('an invalid setting fails with its name, its source and the problem', async () => {
    const bad = await pi(['config', 'show', '--port', 'eighty'], {});
    assert.equal(bad.code, 1);
    assert.match(bad.err, /setting "port" \(from flags\)/);
    const env = await pi(['--json', 'config', 'show'], { PI_OPS_PORT: '99999' });
    assert.equal(env.code, 1);
    const e = JSON.parse(env.err) as { error: { code: string; message: string } };
    assert.equal(e.error.code, 'InvalidConfig');
    assert.match(e.error.message, /setting "ops\.port" \(from environment PI_OPS_PORT\).*65535/);
  });
});

describe('pi inspection commands against a running ring', () => {
  let nodes: TestNode[];
  const cleanups: (() => Promise<void>)[] = [];
  before(async () => {
    nodes = await startRing((fn) => cleanups.push(fn), 3);
  });
  after(async () => {
    await runCleanups(cleanups);
  });
  const target = (i = 0): string[] => ['--ops', nodes[i]!.ops!.url, '--token', TOKEN];

  test('status: text and JSON', async () => {
    const text = await pi(['status', ...target()]);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, new RegExp(`node\\s+${nodes[0]!.node.id.hex}`));
    assert.match(text.out, /health ok/);
    assert.match(text.out, /mutual TLS/);
    assert.match(text.out, /\nreserve\s+(\d+\.\d\d GiB|none)\n/, 'the storage reserve (not reached)');
    const json = await pi(['--json', 'status', ...target()]);
    assert.equal((JSON.parse(json.out) as { id: string }).id, nodes[0]!.node.id.hex);
  });

  test('ring --walk lists every node', async () => {
    const r = await pi(['ring', '--walk', ...target(1)]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /leaf set: 2 of 24/);
    assert.match(r.out, /ring size: about 3 nodes/);
    assert.match(r.out, /ring: 3 nodes reachable/);
    for (const n of nodes) assert.ok(r.out.includes(n.node.id.hex.slice(0, 8)));
  });

  test('apps, events, alerts', async () => {
    const apps = await pi(['apps', ...target()]);
    assert.equal(apps.code, 0, apps.err);
    assert.equal((apps.out.match(/dht\*, scribe\*, apps\*/g) ?? []).length, 3);
    const events = await pi(['events', '--ring', ...target()]);
    assert.match(events.out, /node\.ready/);
    const alerts = await pi(['--json', 'alerts', '--ring', ...target()]);
    assert.deepEqual((JSON.parse(alerts.out) as { alerts: unknown[] }).alerts, []);
  });

  test('dht put, get, counts, scan and seed', async (t) => {
    const put = await pi(['--json', 'dht', 'put', 'cfg:main', '{"type":"cfg","replicas":4}', ...target()]);
    assert.equal(put.code, 0, put.err);
    assert.equal((JSON.parse(put.out) as { version: number }).version, 1);
    const get = await pi(['dht', 'get', 'cfg:main', ...target(2)]);
    assert.match(get.out, /replicas: 4/);
    assert.match(get.out, /writtenAt: ['"]?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/, 'times readable in text mode');
    assert.equal(typeof JSON.parse((await pi(['--json', 'dht', 'get', 'cfg:main', ...target(2)])).out).writtenAt, 'number', '--json keeps the number');
    const dir = await tempDir((fn) => t.after(fn));
    const seedFile = join(dir, 'seed.yaml');
    writeFileSync(seedFile, 'records:\n  - uri: queue:jobs\n    entity: { type: queue, retries: 3 }\n  - uri: cfg:main\n    entity: { type: cfg }\n');
    const seed = await pi(['--json', 'seed', seedFile, ...target(1)]);
    assert.equal(seed.code, 0, seed.err);
    assert.deepEqual(JSON.parse(seed.out).written, 1);
    const scan = await pi(['--json', 'dht', 'scan', '--type', 'queue', ...target()]);
    assert.equal((JSON.parse(scan.out) as { records: unknown[] }).records.length, 1, 'a 3-node ring holds every record on every node');
    const counts = await pi(['--json', 'dht', 'counts', ...target()]);
    assert.equal((JSON.parse(counts.out) as { byType: Record<string, number> }).byType['cfg'], 1);
    const missing = await pi(['dht', 'get', 'cfg:none', ...target()]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no record/);
    const badJson = await pi(['dht', 'put', 'cfg:x', '{nope', ...target()]);
    assert.equal(badJson.code, 2);
    assert.match(badJson.err, /not valid JSON/);
  });

  test('topics lists the ring\'s topics; queue show names a queue that was never seeded', async () => {
    await nodes[1]!.node.service<ScribeService>('scribe')!.scribe.subscribe(makeTopic('svc:clock'), { deliver() {} });
    // A ring walk is reused for 1.5 s: wait for one made after the subscription.
    await waitFor(async () => {
      const r = await pi(['--json', 'topics', ...target()]);
      return (JSON.parse(r.out) as { ring: { uri: string; subscribers: number }[] }).ring.some((x) => x.uri === 'svc:clock' && x.subscribers === 1);
    }, { what: 'the topic in a fresh ring walk' });
    const topics = await pi(['topics', ...target()]);
    assert.equal(topics.code, 0, topics.err);
    assert.match(topics.out, /ring:\n {2}- uri: svc:clock\n(.*\n)* {4}subscribers: 1/);
    const queue = await pi(['queue', 'show', 'jobs', ...target()]);
    assert.match(queue.err, /no queue "jobs" has been seeded/);
  });

  test('a wrong token and an unreachable node give clear errors', async () => {
    const wrong = await pi(['status', '--ops', nodes[0]!.ops!.url, '--token', 'wrong-token-000000000']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /token was refused/);
    const none = await pi(['status', '--ops', 'http://127.0.0.1:1']);
    assert.equal(none.code, 1);
    assert.match(none.err, /cannot reach the ops API at http:\/\/127\.0\.0\.1:1 \(from --ops\)/);
  });

  test('without a token the error says where it looked and how to give one', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    const missing = await pi(['status', '--ops', nodes[0]!.ops!.url, '--data-dir', dir]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no token: pass --token, set PI_OPS_TOKEN, or give the node's data directory with --data-dir; no token file .*ops-token/);
    assert.ok(missing.err.includes(join(dir, 'ops-token')), missing.err);
    writeFileSync(join(dir, 'ops-token'), '\n');
    const empty = await pi(['status', '--ops', nodes[0]!.ops!.url, '--data-dir', dir]);
    assert.equal(empty.code, 1);
    assert.match(empty.err, /the token file .*ops-token is empty/);
    writeFileSync(join(dir, 'ops-token'), TOKEN);
    const found = await pi(['status', '--ops', nodes[0]!.ops!.url, '--data-dir', dir]);
    assert.equal(found.code, 0, found.err);
  });

  test('the node-to-node port or another HTTP server given as the ops API: the error says so', async (t) => {
    // The node-to-node port speaks TLS: a plain HTTP request is closed without an answer.
    const transport = await pi(['status', '--ops', `http://${nodes[0]!.node.address}`, '--token', TOKEN]);
    assert.equal(transport.code, 1);
    assert.match(transport.err, /closed without an HTTP answer .*node-to-node port/);
    const other = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('not here'));
    await new Promise<void>((ok) => other.listen(0, '127.0.0.1', ok));
    t.after(() => new Promise<void>((ok) => other.close(() => ok())));
    const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const wrong = await pi(['status', '--ops', url, '--token', TOKEN]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /answered 404 with something that is not JSON: is it a node's ops API/);
  });
});

describe('pi user against a node running s3', () => {
  let node: S3Node;
  const cleanups: (() => Promise<void>)[] = [];
  before(async () => {
    [node] = (await startS3Ring((fn) => cleanups.push(fn), 1)) as [S3Node];
  });
  after(async () => {
    await runCleanups(cleanups);
  });
  const target = (): string[] => ['--ops', node.ops!.url, '--token', TOKEN];
  const json = async (args: string[]): Promise<Record<string, unknown>> => {
    const r = await pi(['--json', ...args, ...target()]);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out) as Record<string, unknown>;
  };

  test('create, list, show; key create (up to two), disable, enable, delete; text and JSON', async () => {
    const created = await json(['user', 'create', 'carla']);
    const key1 = created['accessKey'] as string;
    await json(['user', 'create', 'diego']);

    const list = await pi(['user', 'list', ...target()]);
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /^NAME\s+CANONICAL ID\s+CREATED\n/);
    assert.match(list.out, new RegExp(`carla\\s+${created['id'] as string}\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ`));
    assert.match(list.out, /\n2 users\n$/);
    const one = await pi(['user', 'list', '--limit', '1', ...target()]);
    assert.match(one.out, /1 user \(more: raise --limit\)/);
    assert.ok(!one.out.includes('diego'));
    assert.deepEqual(((await json(['user', 'list'])) as { users: { name: string }[] }).users.map((u) => u.name), ['carla', 'diego']);
    assert.equal((await pi(['user', 'list', '--limit', 'x', ...target()])).code, 2);

    const key = await pi(['user', 'key', 'create', 'carla', ...target()]);
    assert.equal(key.code, 0, key.err);
    assert.match(key.out, /created an access key for S3 user carla\n {2}endpoint {11}http:\/\/127\.0\.0\.1:\d+\n {2}access key id {6}(PI[A-Z2-7]{18})\n {2}secret access key {2}\S+ {2}\(shown once\)/);
    const key2 = /access key id {6}(PI[A-Z2-7]{18})/.exec(key.out)![1]!;
    const third = await pi(['--json', 'user', 'key', 'create', 'carla', ...target()]);
    assert.equal(third.code, 1);
    assert.equal((JSON.parse(third.err) as { error: { code: string } }).error.code, 'LimitExceeded');

    const show = await pi(['user', 'show', 'carla', ...target()]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, new RegExp(`^S3 user carla\\n {2}canonical id {2}${created['id'] as string}\\n {2}created {7}\\S+ \\S+\\n {2}access keys {3}2\\n {4}ACCESS KEY\\s+STATUS\\s+CREATED\\n {4}${key1}\\s+Active\\s+\\S+ \\S+\\n {4}${key2}\\s+Active`));
    assert.ok(!show.out.includes(created['secret'] as string));

    const disable = await pi(['user', 'key', 'disable', 'carla', key1, ...target()]);
    assert.equal(disable.code, 0, disable.err);
    assert.equal(disable.out, `access key ${key1} of S3 user carla is Inactive (every node refuses it within s3.cacheMs)\n`);
    const shown = (await json(['user', 'show', 'carla'])) as { accessKeys: { accessKey: string; status: string }[] };
    assert.deepEqual(shown.accessKeys.map((k) => k.status), ['Inactive', 'Active']);
    assert.deepEqual(await json(['user', 'key', 'enable', 'carla', key1]), { name: 'carla', accessKey: key1, status: 'Active', createdAt: (shown.accessKeys[0] as { createdAt?: number }).createdAt });

    const del = await pi(['user', 'key', 'delete', 'carla', key1, ...target()]);
    assert.equal(del.code, 0, del.err);
    assert.equal(del.out, `deleted access key ${key1} of S3 user carla (every node refuses it within s3.cacheMs)\n`);
    const gone = await pi(['user', 'key', 'delete', 'carla', key1, ...target()]);
    assert.equal(gone.code, 1);
    assert.match(gone.err, /user "carla" has no access key "PI\w+" \(NotFound\)/);
    const bad = await pi(['user', 'key', 'disable', 'nobody', key2, ...target()]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /no S3 user "nobody" \(NotFound\)/);
    assert.equal((await pi(['user', 'key', 'disable', 'carla', ...target()])).code, 2, 'a missing argument is a usage error');
  });

  test('delete: refused while the user owns a bucket (the message says what to do), then done', async () => {
    const u = await json(['user', 'create', 'ines']);
    const s3 = clientFor(node.endpoint, { name: 'ines', id: u['id'] as string, accessKey: u['accessKey'] as string, secret: u['secret'] as string });
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'ines-bucket' }));
      const refused = await pi(['user', 'delete', 'ines', ...target()]);
      assert.equal(refused.code, 1);
      assert.match(refused.err, /user "ines" owns a bucket \(ines-bucket\): delete them first .* \(DeleteConflict\)/);
      await s3.send(new DeleteBucketCommand({ Bucket: 'ines-bucket' }));
      const deleted = await pi(['user', 'delete', 'ines', ...target()]);
      assert.equal(deleted.code, 0, deleted.err);
      assert.equal(deleted.out, 'deleted S3 user ines and its 1 access key\n');
      await assert.rejects(s3.send(new ListBucketsCommand({})), { name: 'InvalidAccessKeyId' });
      const show = await pi(['--json', 'user', 'show', 'ines', ...target()]);
      assert.equal(show.code, 1);
      assert.deepEqual(JSON.parse(show.err), { error: { code: 'NotFound', message: 'no S3 user "ines"' } });
    } finally {
      s3.destroy();
    }
  });
});

describe('pi up on a data directory whose ring runs', () => {
  test('is refused, --fresh deleting nothing; a ring file whose processes are gone does not count', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    // A process that looks like node 0 of a ring started from `dir`: its arguments hold that
    // node's config file, as `pi start --config <dir>/node-0/pi.yaml` does.
    const config = join(dir, 'node-0', 'pi.yaml');
    const node = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', config], { stdio: 'ignore' });
    t.after(() => node.kill('SIGKILL'));
    const exited = new Promise((resolve) => node.once('exit', resolve));
    const ring = (pid: number): string => JSON.stringify({ nodes: [{ index: 0, id: '0'.repeat(40), addr: '127.0.0.1:1', opsUrl: 'http://127.0.0.1:1', pid, log: '' }], token: TOKEN, dashboard: '', startedAt: 0 });
    writeFileSync(join(dir, 'ring.json'), ring(node.pid!));
    writeFileSync(join(dir, 'ops-token'), TOKEN);
    const refused = await pi(['up', '--data-dir', dir, '--fresh']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, new RegExp(`a dev ring is already running in ${dir} \\(node pid ${node.pid}\\): stop it first`));
    assert.equal(readFileSync(join(dir, 'ops-token'), 'utf8'), TOKEN, '--fresh deleted nothing');
    assert.deepEqual(await runningDevNodes(dir), [node.pid]);
    // The pid of a process that is not this ring's node (here: this test), or of none at all.
    writeFileSync(join(dir, 'ring.json'), ring(process.pid));
    assert.deepEqual(await runningDevNodes(dir), []);
    node.kill('SIGKILL');
    await exited;
    writeFileSync(join(dir, 'ring.json'), ring(node.pid!));
    assert.deepEqual(await runningDevNodes(dir), []);
  });
});

describe('pi usage', () => {
  test('unknown commands and options are usage errors (exit 2); --help and --version exit 0', async () => {
    assert.equal((await pi(['frobnicate'])).code, 2);
    assert.equal((await pi(['status', '--bogus'])).code, 2);
    const help = await pi(['--help']);
    assert.equal(help.code, 0);
    for (const cmd of ['start', 'up', 'status', 'ring', 'apps', 'dht', 'seed', 'topics', 'queue', 'user', 's3', 'cert', 'config']) assert.match(help.out, new RegExp(`\\b${cmd}\\b`));
    const userHelp = await pi(['user', '--help']);
    for (const cmd of ['create', 'list', 'show', 'delete', 'key']) assert.match(userHelp.out, new RegExp(`\\b${cmd}\\b`));
    const keyHelp = await pi(['user', 'key', '--help']);
    for (const cmd of ['create', 'enable', 'disable', 'delete']) assert.match(keyHelp.out, new RegExp(`\\b${cmd} \\[options\\] <name>`));
    assert.match((await pi(['--version'])).out, /^\d+\.\d+\.\d+/);
  });

  test('helpers: tables align, values parse from JSON, YAML files and stdin', () => {
    assert.equal(table(['a', 'bb'], [['xxx', 1]]), 'a    bb\nxxx  1');
    assert.deepEqual(readValue('{"a":1}'), { a: 1 });
    assert.deepEqual(readValue('-', () => '[1]'), [1]);
  });
});
