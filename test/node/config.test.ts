/** Configuration: one schema for file, environment and flags; precedence; errors that name the setting; docs in step. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, SETTINGS, configFromEnv, configSchema, loadConfig } from '../../src/node/index.ts';
import { flagsToConfig } from '../../src/cli/program.ts';
import { tempDir } from './fixtures.ts';

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'InvalidConfig');
    return err.message;
  }
  assert.fail('expected an invalid configuration');
}

describe('configuration', () => {
  test('defaults: DESIGN.md values, paths under the data directory', () => {
    const c = loadConfig({ cwd: '/srv' });
    assert.equal(c.port, 4524);
    assert.equal(c.newRing, false);
    assert.equal(c.overlay.leafSetSize, 24);
    assert.deepEqual([c.dht.replicas, c.dht.writeQuorum, c.dht.readQuorum], [4, 3, 3]);
    assert.equal(c.dht.operationTimeoutMs, 10_000);
    assert.equal(c.dataDir, '/srv/.pi/node');
    assert.equal(c.tls.cert, '/srv/.pi/node/tls/node.crt');
    assert.equal(c.ops.tokenFile, '/srv/.pi/node/ops-token');
    assert.equal(c.ops.bind, '127.0.0.1');
  });

  test('YAML and JSON files; file < environment < flags; relative paths in a file are relative to it', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    mkdirSync(join(dir, 'etc'));
    const yaml = join(dir, 'etc', 'pi.yaml');
    writeFileSync(yaml, 'dataDir: ../data\nport: 5000\nbootstrap: [10.0.0.1:4524, "[::1]:4524"]\nops: { port: 6000, token: abcdefghijklmnopqr }\ntls: { ca: certs/ca.crt }\n');
    const c = loadConfig({ file: yaml, env: { PI_PORT: '5001', PI_NEW_RING: 'yes', PI_APPS: 'a, b' }, flags: { port: 5002 }, cwd: '/elsewhere' });
    assert.equal(c.port, 5002);
    assert.equal(c.newRing, true);
    assert.deepEqual(c.apps, ['a', 'b']);
    assert.deepEqual(c.bootstrap, ['10.0.0.1:4524', '[::1]:4524']);
    assert.equal(c.ops.port, 6000);
    assert.equal(c.dataDir, join(dir, 'data'));
    assert.equal(c.tls.ca, join(dir, 'etc', 'certs', 'ca.crt'));
    assert.equal(c.tls.key, join(dir, 'data', 'tls', 'node.key'));
    const json = join(dir, 'pi.json');
    writeFileSync(json, JSON.stringify({ region: 2, az: 1, log: { level: 'debug' } }));
    const j = loadConfig({ file: json, env: { PI_LOG_LEVEL: 'warn' } });
    assert.deepEqual([j.region, j.az, j.log.level], [2, 1, 'warn']);
  });

  test('environment values are converted by type; an unknown PI_ variable is a warning, not an error', () => {
    const warnings: string[] = [];
    const c = loadConfig({ env: { PI_INSECURE: 'true', PI_OVERLAY_LEAF_SET_SIZE: '16', PI_ALERTS_DISK_MIN_FREE_PERCENT: '2.5', PI_PROT: '1', PI_OPS_URL: 'x', HOME: '/' }, onWarning: (m) => warnings.push(m) });
    assert.equal(c.insecure, true);
    assert.equal(c.overlay.leafSetSize, 16);
    assert.equal(c.alerts.diskMinFreePercent, 2.5);
    assert.deepEqual(warnings, ['ignoring unknown environment variable PI_PROT (settings are listed in docs/configuration.md)']);
    assert.deepEqual(configFromEnv({ PI_BOOTSTRAP: 'a:1,,b:2 ' }).config, { bootstrap: ['a:1', 'b:2'] });
  });

  test('invalid values fail at start naming the setting, where it came from, and the problem', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'port: 70000\nopts: 1\nops: { prot: 1 }\nbootstrap: [nohost]\n');
    const m = problems(() => loadConfig({ file, env: { PI_NEW_RING: 'maybe' } }));
    assert.match(m, /setting "port" \(from file .*bad\.yaml\).*65535.*got 70000/);
    assert.match(m, /unknown setting "opts" \(from file .*bad\.yaml\)/);
    assert.match(m, /unknown setting "ops\.prot" \(from file .*bad\.yaml\)/);
    // An unknown section (an object, not a value) is named with its source too.
    writeFileSync(file, 'opts:\n  port: 1\n');
    assert.match(problems(() => loadConfig({ file })), /unknown setting "opts" \(from file .*bad\.yaml\)/);
    assert.match(m, /setting "bootstrap\.0".*host:port.*"nohost"/);
    assert.match(m, /setting "newRing" \(from environment PI_NEW_RING\).*"maybe"/);
    assert.match(problems(() => loadConfig({ flags: { az: 1 } })), /setting "az": an availability zone needs a region/);
    assert.match(problems(() => loadConfig({ flags: { dht: { replicas: 2 } } })), /setting "dht\.writeQuorum": 3 is more than dht\.replicas \(2\)/);
    assert.match(problems(() => loadConfig({ flags: { overlay: { leafSetSize: 7 } } })), /overlay\.leafSetSize.*even/);
    assert.match(problems(() => loadConfig({ flags: { ops: { token: 'short' } } })), /ops\.token.*16 characters/);
    assert.match(problems(() => loadConfig({ flags: { apps: ['Bad Name'] } })), /apps\.0/);
    assert.match(problems(() => loadConfig({ file: join(dir, 'missing.yaml') })), /cannot read configuration file/);
    writeFileSync(join(dir, 'broken.yaml'), 'port: [1\n');
    assert.match(problems(() => loadConfig({ file: join(dir, 'broken.yaml') })), /not valid YAML/);
    writeFileSync(join(dir, 'list.yaml'), '- 1\n');
    assert.match(problems(() => loadConfig({ file: join(dir, 'list.yaml') })), /must hold a mapping/);
  });

  test('a bad bootstrap address is one clear problem, not two', () => {
    for (const [value, message] of [
      ['foo', 'an address must be host:port (e.g. 10.0.0.2:4524)'],
      ['foo:', 'an address must be host:port (e.g. 10.0.0.2:4524)'],
      [':4524', 'an address must be host:port (e.g. 10.0.0.2:4524)'],
      ['foo:0', 'the port of host:port must be 1..65535'],
      ['foo:70000', 'the port of host:port must be 1..65535'],
    ] as const) {
      const m = problems(() => loadConfig({ flags: { bootstrap: [value] } }));
      assert.equal(m, `invalid configuration: setting "bootstrap.0" (from flags): ${message}, got "${value}"`);
    }
    assert.deepEqual(loadConfig({ flags: { bootstrap: ['a.example:1', '[::1]:65535', '10.0.0.2:4524'] } }).bootstrap, ['a.example:1', '[::1]:65535', '10.0.0.2:4524']);
  });

  test('YAML .nan and .inf are reported as not numbers (not "received NaN, got null")', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    const file = join(dir, 'nan.yaml');
    writeFileSync(file, 'port: .nan\nops: { port: .inf }\n');
    const m = problems(() => loadConfig({ file }));
    assert.match(m, /setting "port" \(from file .*nan\.yaml\): the value is not a number, got NaN/);
    assert.match(m, /setting "ops\.port" \(from file .*nan\.yaml\): the value is not a finite number, got Infinity/);
    assert.doesNotMatch(m, /null|received/);
  });

  test('settings checked against each other are reported together with the other problems', () => {
    const m = problems(() => loadConfig({ flags: { port: -1, az: 1, dht: { replicas: 2 }, s3: { replicas: 1, tls: { cert: '/x' } } } }));
    assert.match(m, /setting "port"/);
    assert.match(m, /setting "az": an availability zone needs a region/);
    assert.match(m, /setting "dht\.writeQuorum": 3 is more than dht\.replicas \(2\)/);
    assert.match(m, /setting "dht\.readQuorum": 3 is more than dht\.replicas \(2\)/);
    assert.match(m, /setting "s3\.writeQuorum": 2 is more than s3\.replicas \(1\)/);
    assert.match(m, /setting "s3\.tls\.key": the S3 endpoint's TLS needs both/);
    // A section that is invalid by itself is not compared: its own problem is the one to fix.
    const own = problems(() => loadConfig({ flags: { dht: { replicas: 0 } } }));
    assert.match(own, /setting "dht\.replicas"/);
    assert.doesNotMatch(own, /writeQuorum/);
  });

  test('s3.accessLog: defaults, and values out of range refused naming the setting', () => {
    const c = loadConfig({});
    assert.deepEqual(c.s3.accessLog, { flushIntervalMs: 300_000, maxBufferBytes: 1_048_576 });
    const set = loadConfig({ env: { PI_S3_ACCESS_LOG_FLUSH_INTERVAL_MS: '60000', PI_S3_ACCESS_LOG_MAX_BUFFER_BYTES: '65536' } });
    assert.deepEqual(set.s3.accessLog, { flushIntervalMs: 60_000, maxBufferBytes: 65_536 });
    assert.match(problems(() => loadConfig({ flags: { s3: { accessLog: { flushIntervalMs: 10 } } } })), /setting "s3\.accessLog\.flushIntervalMs"/);
    assert.match(problems(() => loadConfig({ flags: { s3: { accessLog: { flushIntervalMs: 2 * 86_400_000 } } } })), /setting "s3\.accessLog\.flushIntervalMs"/);
    assert.match(problems(() => loadConfig({ flags: { s3: { accessLog: { maxBufferBytes: 100 } } } })), /setting "s3\.accessLog\.maxBufferBytes"/);
    assert.match(problems(() => loadConfig({ flags: { s3: { accessLog: { maxBufferBytes: 1.5 } } } })), /setting "s3\.accessLog\.maxBufferBytes"/);
    assert.match(problems(() => loadConfig({ flags: { s3: { accessLog: { flushMs: 1000 } } } })), /unknown setting "s3\.accessLog\.flushMs"/);
  });

  test('CLI flags map onto settings', () => {
    assert.deepEqual(flagsToConfig({ port: 1, opsPort: 2, newRing: true, joinTimeout: 3, ops: false, logLevel: 'debug', dataDir: 'd' }), {
      port: 1,
      newRing: true,
      joinTimeoutMs: 3,
      dataDir: 'd',
      ops: { port: 2, enabled: false },
      log: { level: 'debug' },
    });
  });

  test('every setting of the schema is in SETTINGS (with its environment variable) and in docs/configuration.md', () => {
    const leaves = (o: Record<string, unknown>, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? leaves(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`]));
    const defaults = configSchema.parse({});
    const schemaPaths = new Set(leaves(defaults as Record<string, unknown>));
    for (const optional of ['advertise', 'region', 'az', 'tls.ca', 'tls.cert', 'tls.key', 'ops.token', 'ops.tokenFile', 's3.sseMasterKeyFile', 's3.tls.cert', 's3.tls.key']) schemaPaths.add(optional);
    const documented = new Set(SETTINGS.map((s) => s.path));
    assert.deepEqual([...schemaPaths].sort(), [...documented].sort());
    // Each setting's environment variable sets it.
    for (const s of SETTINGS) {
      const sample = s.type === 'bool' ? 'true' : s.type === 'int' || s.type === 'number' ? '1' : s.type === 'list' ? 'x' : s.type === 'enum' ? 'debug' : 'v';
      const { config, unknown } = configFromEnv({ [s.env]: sample });
      assert.deepEqual(unknown, []);
      assert.notEqual(JSON.stringify(config), '{}', s.env);
    }
    const docs = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');
    for (const s of SETTINGS) {
      assert.ok(docs.includes(`\`${s.path}\``), `docs/configuration.md documents ${s.path}`);
      assert.ok(docs.includes(`\`${s.env}\``), `docs/configuration.md names ${s.env}`);
    }
  });
});
