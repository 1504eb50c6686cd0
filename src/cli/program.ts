/**
 * The `pi` command line (commander): `start`, `up`, the inspection commands, `user` and `s3`
 * (the s3 application's administration), `cert` and `config`. Built by a function so tests can run it in-process with captured output.
 */
import { Command, CommanderError, Option } from 'commander';
import { stringify as toYaml } from 'yaml';
import { loadConfig, redactConfig } from '../node/config.ts';
import type { ConfigInput, PiConfig } from '../node/config.ts';
import { DEV_RING_DIR, OpsClient, resolveTarget } from './client.ts';
import type { TargetOptions } from './client.ts';
import * as inspect from './inspect.ts';
import { CliError, Output } from './output.ts';
import type { Io } from './output.ts';
import { packageVersion } from './version.ts';

// Commands load what they need when they run: a node does not load the certificate tooling
// (@peculiar/x509), and the inspection commands load no node code; `pi up` starts faster.
const launch = () => import('./launch.ts');
const up = () => import('./up.ts');
const certFiles = () => import('./cert-files.ts');
const s3Admin = () => import('./s3-admin.ts');
const s3Users = () => import('./s3-users.ts');
const s3Kms = () => import('./s3-kms.ts');

const list = (v: string, prev: string[] = []): string[] => [
  ...prev,
  ...v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== ''),
];

/** Parses a number if it is one; otherwise keeps the text so the config check names the setting. */
const num = (v: string): number | string => (v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v);

/** Flags shared by `start` and `config show`. */
function addNodeFlags(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'configuration file (YAML or JSON); default $PI_CONFIG')
    .option('--data-dir <dir>', 'data directory (node id, token, certificates, storage)')
    .option('--bind <host>', 'address the node-to-node listener binds to')
    .option('-p, --port <port>', 'node-to-node port', num)
    .option('--advertise <host>', 'host other nodes use to reach this one')
    .option('-b, --bootstrap <host:port,...>', 'nodes to join through (repeatable)', list)
    .option('--new-ring', 'start a new ring if no bootstrap node can be joined')
    .option('--join-timeout <ms>', 'keep trying to join this long', num)
    .option('--region <code>', 'region code 0..255', num)
    .option('--az <code>', 'availability-zone code 0..255', num)
    .option('--apps <name,...>', 'applications to run (repeatable)', list)
    .option('--insecure', 'plaintext node-to-node traffic, no certificates (development only)')
    .option('--ops-bind <host>', 'address of the ops API')
    .option('--ops-port <port>', 'port of the ops API', num)
    .option('--no-ops', 'do not serve the ops API and dashboard')
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']));
}

/** Flags → a configuration layer. */
export function flagsToConfig(o: Record<string, unknown>): ConfigInput {
  const c: ConfigInput = {};
  const set = (path: string, v: unknown): void => {
    if (v === undefined) return;
    const parts = path.split('.');
    let node = c;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as ConfigInput;
    node[parts[parts.length - 1]!] = v;
  };
  set('dataDir', o['dataDir']);
  set('bind', o['bind']);
  set('port', o['port']);
  set('advertise', o['advertise']);
  set('bootstrap', o['bootstrap']);
  set('newRing', o['newRing']);
  set('joinTimeoutMs', o['joinTimeout']);
  set('region', o['region']);
  set('az', o['az']);
  set('apps', o['apps']);
  set('insecure', o['insecure']);
  set('ops.bind', o['opsBind']);
  set('ops.port', o['opsPort']);
  if (o['ops'] === false) set('ops.enabled', false);
  set('log.level', o['logLevel']);
  return c;
}

function configFrom(o: Record<string, unknown>, io: Io, out: Output): PiConfig {
  const file = (o['config'] as string | undefined) ?? io.env['PI_CONFIG'];
  return loadConfig({
    ...(file ? { file } : {}),
    env: io.env,
    flags: flagsToConfig(o),
    onWarning: (m) => out.progress('warning', `warning: ${m}`),
  });
}

function addTargetFlags(cmd: Command): Command {
  return cmd
    .option('--ops <url>', 'ops API of the node to ask (default $PI_OPS_URL, the dev ring, or http://127.0.0.1:4525)')
    .option('--token <token>', 'ops API token (default $PI_OPS_TOKEN, the dev ring\'s, or <data-dir>/ops-token)')
    .option('--data-dir <dir>', "data directory whose ops-token to use (default .pi/node)");
}

/** Builds the program. `exit` receives the exit code of commands that finish. */
export function buildProgram(io: Io): Command {
  const program = new Command('pi');
  const output = (cmd: Command): Output => new Output(io, Boolean(cmd.optsWithGlobals()['json']));
  const client = (cmd: Command): OpsClient => new OpsClient(resolveTarget(cmd.opts() as TargetOptions, io.env));

  program
    .description('Pi: a decentralised application substrate. Run nodes, form rings, look inside them.')
    .version(packageVersion(), '-V, --version')
    .option('--json', 'machine-readable JSON output')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride();

  addNodeFlags(program.command('start').description('run one node in the foreground (JSON logs on stdout; SIGTERM/SIGINT leave the ring gracefully)')).action(async (_o, cmd: Command) => {
    const out = output(cmd);
    const config = configFrom(cmd.opts(), io, out);
    process.exitCode = await (await launch()).runForeground(config);
  });

  program
    .command('up')
    .description('run a local development ring: N nodes on loopback with TLS, the dashboard, the standard applications')
    .option('-n, --nodes <n>', 'number of nodes', (v) => Number(v), 5)
    .option('--base-port <port>', 'node-to-node port of node 0 (node i uses base + i)', (v) => Number(v), 4524)
    .option('--ops-base-port <port>', 'ops API port of node 0 (default base port + 100)', (v) => Number(v))
    .option('--s3-base-port <port>', 'S3 endpoint port of node 0 (default base port + 200)', (v) => Number(v))
    .option('--data-dir <dir>', 'where the ring keeps its nodes, CA and token', DEV_RING_DIR)
    .option('--apps <name,...>', 'applications to run on every node (default: every standard application; "none" for none)', list)
    .option('--insecure', 'plaintext transport without certificates')
    .option('--s3-tls', 'serve S3 over HTTPS with a certificate from the throwaway CA (clients trust <data-dir>/s3-tls/ca.crt)')
    .option('--fresh', 'delete the data directory first (new node ids, new CA)')
    .option('--timeout <ms>', 'give up if the ring is not up within this long', (v) => Number(v), 60_000)
    .addOption(new Option('--log-level <level>', 'log level of the nodes').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'))
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const base = o['basePort'] as number;
      if (!Number.isInteger(base) || base < 1 || base > 65000) throw new CliError('InvalidArgument', `--base-port must be a port number, got ${String(o['basePort'])}`, 2);
      process.exitCode = await (await up()).runUp(
        {
          nodes: o['nodes'] as number,
          basePort: base,
          opsBasePort: (o['opsBasePort'] as number | undefined) ?? base + 100,
          s3BasePort: (o['s3BasePort'] as number | undefined) ?? base + 200,
          dataDir: o['dataDir'] as string,
          apps: o['apps'] === undefined ? undefined : (o['apps'] as string[]).filter((a) => a !== 'none'),
          insecure: Boolean(o['insecure']),
          s3Tls: Boolean(o['s3Tls']),
          fresh: Boolean(o['fresh']),
          logLevel: o['logLevel'] as string,
          readyTimeoutMs: o['timeout'] as number,
        },
        output(cmd),
      );
    });

  addTargetFlags(program.command('status').description("a node's identity, health, alerts and services")).action((_o, cmd: Command) => inspect.status(client(cmd), output(cmd)));
  addTargetFlags(program.command('ring').description("a node's leaf set and routing table; --walk lists the whole ring"))
    .option('-w, --walk', 'walk the ring and list every node')
    .action((o: { walk?: boolean }, cmd: Command) => inspect.ring(client(cmd), output(cmd), Boolean(o.walk)));
  addTargetFlags(program.command('apps').description('which node runs which services and applications')).action((_o, cmd: Command) => inspect.apps(client(cmd), output(cmd)));
  addTargetFlags(program.command('events').description('recent events: arrivals, departures, activations, errors, alerts'))
    .option('-r, --ring', 'events of the whole ring, not just this node')
    .option('-l, --limit <n>', 'how many', (v) => Number(v), 50)
    .option('-f, --follow', 'keep printing new events')
    .action((o: { ring?: boolean; limit: number; follow?: boolean }, cmd: Command) =>
      inspect.events(client(cmd), output(cmd), { ring: Boolean(o.ring), limit: o.limit, follow: Boolean(o.follow) }),
    );
  addTargetFlags(program.command('decommission').description('take the node out of the ring for good: copy what it holds to other nodes, leave, stop'))
    .option('--yes', 'confirm')
    .option('--no-wait', 'return once started instead of following it')
    .action(async (o: { yes?: boolean; wait: boolean }, cmd: Command) => {
      const { decommission } = await import('./decommission.ts');
      await decommission(client(cmd), output(cmd), { yes: Boolean(o.yes), wait: o.wait });
    });
  addTargetFlags(program.command('alerts').description('active alerts'))
    .option('-r, --ring', 'alerts of every node')
    .action((o: { ring?: boolean }, cmd: Command) => inspect.alerts(client(cmd), output(cmd), Boolean(o.ring)));

  const dht = program.command('dht').description('DHT records');
  addTargetFlags(dht.command('get <key>').description('read a record by id (40 hex digits) or URI')).action((key: string, _o, cmd: Command) => inspect.dhtGet(client(cmd), output(cmd), key));
  addTargetFlags(dht.command('put <key> <value>').description('write a record: VALUE is JSON, @file (JSON/YAML) or - for stdin')).action((key: string, value: string, _o, cmd: Command) =>
    inspect.dhtPut(client(cmd), output(cmd), key, value),
  );
  addTargetFlags(dht.command('scan').description("records held on the node (its local store)"))
    .option('-t, --type <type>', 'only records of this entity type')
    .option('-l, --limit <n>', 'at most this many', (v) => Number(v), 100)
    .option('--root-only', 'only records this node is the root for')
    .action((o: { type?: string; limit: number; rootOnly?: boolean }, cmd: Command) =>
      inspect.dhtScan(client(cmd), output(cmd), { ...(o.type ? { type: o.type } : {}), limit: o.limit, rootOnly: Boolean(o.rootOnly) }),
    );
  addTargetFlags(dht.command('counts').description('record counts by type on the node')).action((_o, cmd: Command) => inspect.dhtCounts(client(cmd), output(cmd)));
  addTargetFlags(dht.command('quarantine').description("damaged records the node keeps aside (they never match their checksum and are never served); --clear empties it"))
    .option('--clear', 'remove them (after looking at them)')
    .option('--limit <n>', 'list at most this many', (v) => Number(v))
    .action((o: { clear?: boolean; limit?: number }, cmd: Command) => inspect.dhtQuarantine(client(cmd), output(cmd), { clear: Boolean(o.clear), ...(o.limit !== undefined ? { limit: o.limit } : {}) }));
  addTargetFlags(program.command('seed <file>').description('create the records listed in a YAML or JSON file')).action((file: string, _o, cmd: Command) => inspect.seed(client(cmd), output(cmd), file));
  addTargetFlags(program.command('topics').description('pub/sub topics known to the node')).action((_o, cmd: Command) => inspect.topics(client(cmd), output(cmd)));
  const queue = program.command('queue').description('task queues');
  addTargetFlags(queue.command('show <name>').description('one task queue and its tasks')).action((name: string, _o, cmd: Command) => inspect.queueShow(client(cmd), output(cmd), name));
  addTargetFlags(queue.command('list').description('task queues')).action((_o, cmd: Command) => inspect.queueList(client(cmd), output(cmd)));

  const user = program.command('user').description('users of the S3 endpoint (the s3 application)');
  addTargetFlags(user.command('create <name>').description('create an S3 user; prints its access key and secret (shown once)')).action(async (name: string, _o, cmd: Command) => {
    const out = output(cmd);
    const r = await client(cmd).post<{ name: string; id: string; accessKey: string; secret: string; endpoint?: string }>('/api/s3/users', { name });
    out.result(r, () =>
      [
        `created S3 user ${r.name}`,
        `  endpoint           ${r.endpoint ?? ''}`,
        `  access key id      ${r.accessKey}`,
        `  secret access key  ${r.secret}  (shown once)`,
      ].join('\n'),
    );
  });

  addTargetFlags(user.command('list').description('the S3 users of the ring, by name'))
    .option('-l, --limit <n>', 'at most this many (default all)', (v) => Number(v))
    .action(async (o: { limit?: number }, cmd: Command) => (await s3Users()).list(client(cmd), output(cmd), o.limit));
  addTargetFlags(user.command('show <name>').description("an S3 user: canonical id, access keys with their status (never the secrets)")).action(async (name: string, _o, cmd: Command) =>
    (await s3Users()).show(client(cmd), output(cmd), name),
  );
  addTargetFlags(user.command('delete <name>').description('delete an S3 user and its access keys (refused while it owns buckets)')).action(async (name: string, _o, cmd: Command) =>
    (await s3Users()).remove(client(cmd), output(cmd), name),
  );
  const key = user.command('key').description("an S3 user's access keys (at most 2: rotate by creating the new one, then disabling and deleting the old)");
  addTargetFlags(key.command('create <name>').description('give the user another access key; prints it and its secret (shown once)')).action(async (name: string, _o, cmd: Command) =>
    (await s3Users()).createKey(client(cmd), output(cmd), name),
  );
  addTargetFlags(key.command('disable <name> <key>').description('make an access key Inactive: it signs nothing until enabled again')).action(async (name: string, k: string, _o, cmd: Command) =>
    (await s3Users()).setKeyStatus(client(cmd), output(cmd), name, k, 'Inactive'),
  );
  addTargetFlags(key.command('enable <name> <key>').description('make an access key Active again')).action(async (name: string, k: string, _o, cmd: Command) =>
    (await s3Users()).setKeyStatus(client(cmd), output(cmd), name, k, 'Active'),
  );
  addTargetFlags(key.command('delete <name> <key>').description('delete an access key')).action(async (name: string, k: string, _o, cmd: Command) =>
    (await s3Users()).deleteKey(client(cmd), output(cmd), name, k),
  );

  const mfa = user.command('mfa').description("an S3 user's virtual MFA device (a TOTP authenticator), for buckets with MFA delete");
  addTargetFlags(mfa.command('create <name>').description('give the user a new MFA device (replacing any it had); prints its serial and secret (shown once)')).action(async (name: string, _o, cmd: Command) =>
    (await s3Users()).createMfa(client(cmd), output(cmd), name),
  );
  addTargetFlags(mfa.command('delete <name>').description("remove the user's MFA device")).action(async (name: string, _o, cmd: Command) => (await s3Users()).deleteMfa(client(cmd), output(cmd), name));

  const s3 = program.command('s3').description('administration of the S3 endpoint (the s3 application)');
  addTargetFlags(
    s3
      .command('rewrap')
      .description("rewrap SSE-S3 data keys under the node's current master key (after a rotation); --dry-run counts them by master key"),
  )
    .option('-b, --bucket <name,...>', 'only these buckets (repeatable; default every bucket)', list)
    .option('--dry-run', 'count the SSE-S3 objects, versions and uploads by master key; change nothing')
    .option('--status', "show the node's running or last job instead of starting one")
    .option('--force', 'rewrap even while some node serving S3 has another current master key or does not answer')
    .action(async (o: { bucket?: string[]; dryRun?: boolean; status?: boolean; force?: boolean }, cmd: Command) => {
      const options = { ...(o.bucket ? { buckets: o.bucket } : {}), dryRun: Boolean(o.dryRun), status: Boolean(o.status), force: Boolean(o.force) };
      const admin = await s3Admin();
      admin.checkRewrapOptions(options);
      await admin.rewrap(client(cmd), output(cmd), options);
    });
  addTargetFlags(s3.command('buckets').description('the buckets of the ring with owner and settings; --usage counts their objects and bytes'))
    .option('-u, --usage', 'count current objects and bytes (reads every index entry of each bucket)')
    .option('--max-objects <n>', 'count at most this many index entries per bucket', (v) => Number(v))
    .action(async (o: { usage?: boolean; maxObjects?: number }, cmd: Command) => {
      await (await s3Admin()).buckets(client(cmd), output(cmd), { usage: Boolean(o.usage), ...(o.maxObjects !== undefined ? { maxObjects: o.maxObjects } : {}) });
    });
  addTargetFlags(s3.command('replicate-existing <bucket>').description("replicate the bucket's versions written before its replication configuration (S3 Batch Replication)"))
    .option('--dry-run', 'count the versions that would be replicated; change nothing')
    .option('--retry-failed', 'replicate the FAILED versions again too (once their cause is fixed)')
    .action(async (bucket: string, o: { dryRun?: boolean; retryFailed?: boolean }, cmd: Command) => {
      await (await s3Admin()).replicateExisting(client(cmd), output(cmd), bucket, { dryRun: Boolean(o.dryRun), retryFailed: Boolean(o.retryFailed) });
    });
  addTargetFlags(s3.command('events <topic>').description("bucket event notifications kept in a topic's journal (the name in its ARN)"))
    .option('-f, --follow', 'keep printing new ones')
    .option('--since <duration>', 'from this long ago (e.g. 90s, 10m, 2h)', '1h')
    .option('--after <cursor>', 'after this cursor (printed by an earlier run)')
    .action(async (topic: string, o: { follow?: boolean; since: string; after?: string }, cmd: Command) => {
      const admin = await s3Admin();
      await admin.events(client(cmd), output(cmd), topic, { follow: Boolean(o.follow), sinceMs: admin.parseSince(o.since), ...(o.after !== undefined ? { after: o.after } : {}) });
    });
  addTargetFlags(s3.command('scrub').description("re-read the node's chunks now and check them against their hashes (damaged copies are restored from replicas)"))
    .option('--status', "show the node's scrubber instead of starting a pass")
    .option('-w, --wait', 'follow the pass until it ends')
    .action(async (o: { status?: boolean; wait?: boolean }, cmd: Command) => {
      await (await s3Admin()).scrub(client(cmd), output(cmd), { status: Boolean(o.status), wait: Boolean(o.wait) });
    });
  const kmsKey = s3.command('kms-key').description('SSE-KMS keys of the ring (their material is wrapped under the SSE-S3 master key)');
  addTargetFlags(kmsKey.command('create').description('create a KMS key; prints its id and ARN'))
    .option('--alias <name>', 'an alias (name or alias/name) to refer to it by')
    .option('--description <text>', 'what the key is for')
    .action(async (o: { alias?: string; description?: string }, cmd: Command) => {
      await (await s3Kms()).create(client(cmd), output(cmd), { ...(o.alias !== undefined ? { alias: o.alias } : {}), ...(o.description !== undefined ? { description: o.description } : {}) });
    });
  addTargetFlags(kmsKey.command('list').description('the KMS keys of the ring with alias and state')).action(async (_o: unknown, cmd: Command) => {
    await (await s3Kms()).list(client(cmd), output(cmd));
  });
  addTargetFlags(kmsKey.command('disable <key>').description('disable a key (id, ARN or alias): objects under it can be neither read nor written')).action(async (key: string, _o: unknown, cmd: Command) => {
    await (await s3Kms()).setState(client(cmd), output(cmd), key, 'Disabled');
  });
  addTargetFlags(kmsKey.command('enable <key>').description('enable a disabled key again')).action(async (key: string, _o: unknown, cmd: Command) => {
    await (await s3Kms()).setState(client(cmd), output(cmd), key, 'Enabled');
  });
  addTargetFlags(s3.command('flush-access-logs').description("write the node's buffered server access log records into their target buckets now")).action(async (_o: unknown, cmd: Command) => {
    await (await s3Admin()).flushAccessLogs(client(cmd), output(cmd));
  });

  const cert = program.command('cert').description('certificates for mutual TLS between nodes');
  cert
    .command('create-ca')
    .description("create the ring's certificate authority")
    .option('-d, --dir <dir>', 'where to write ca.crt and ca.key', '.pi/ca')
    .option('--name <cn>', 'common name', 'Pi ring CA')
    .option('--days <n>', 'validity in days', (v) => Number(v), 3650)
    .option('--force', 'replace an existing CA')
    .action(async (o: { dir: string; name: string; days: number; force?: boolean }, cmd: Command) => {
      const out = output(cmd);
      const r = await (await certFiles()).writeCa(o.dir, { name: o.name, days: o.days, force: Boolean(o.force) });
      out.result(r, () => `created CA "${r.subject}" valid until ${r.validTo}\n  certificate  ${r.cert}\n  private key  ${r.key}  (keep it safe: whoever has it can add nodes to the ring)`);
    });
  cert
    .command('create-node <name>')
    .description('issue a node certificate signed by the CA')
    .option('--ca-dir <dir>', 'the CA folder', '.pi/ca')
    .option('-o, --out <dir>', "where to write node.crt, node.key and ca.crt (a node's <dataDir>/tls)")
    .option('--host <host,...>', 'DNS names / IP addresses for subjectAltName (repeatable)', list, [])
    .option('--days <n>', 'validity in days', (v) => Number(v), 825)
    .option('--force', 'replace an existing certificate')
    .action(async (name: string, o: { caDir: string; out?: string; host: string[]; days: number; force?: boolean }, cmd: Command) => {
      const out = output(cmd);
      const dir = o.out ?? `.pi/certs/${name}`;
      const r = await (await certFiles()).writeNodeCert(o.caDir, dir, name, { hosts: o.host, days: o.days, force: Boolean(o.force) });
      out.result(r, () => `issued "${r.subject}" valid until ${r.validTo}\n  certificate  ${r.cert}\n  private key  ${r.key}\n  CA           ${r.ca}\nA node finds these in <dataDir>/tls/, or set tls.cert, tls.key and tls.ca.`);
    });

  const config = program.command('config').description('configuration');
  addNodeFlags(config.command('show').description('print the effective configuration (file < environment < flags)')).action((_o, cmd: Command) => {
    const out = output(cmd);
    const c = redactConfig(configFrom(cmd.opts(), io, out));
    out.result(c, () => toYaml(c).trimEnd());
  });

  return program;
}

/** Runs the program; resolves with the exit code (errors printed as text or JSON). */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version end with code 0; usage errors were printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    new Output(io, argv.includes('--json')).error(err);
    const code = (err as { exitCode?: number }).exitCode;
    return typeof code === 'number' ? code : 1;
  }
}
