/**
 * The node's configuration: one zod schema for the configuration file (YAML or JSON),
 * environment variables (`PI_*`) and command-line flags, merged in that order of precedence
 * (flags win). Every setting is listed in {@link SETTINGS} with its environment variable and
 * documentation; `docs/configuration.md` documents the same table (a test keeps them in step).
 *
 * Invalid configuration fails at start with a {@link ConfigError} naming each bad setting, where
 * its value came from, and what is wrong with it.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** Default node-to-node port (DESIGN.md). */
export const DEFAULT_NODE_PORT = 4524;
/** Default ops API / dashboard port. */
export const DEFAULT_OPS_PORT = 4525;
/** Default port of the S3 application's endpoint. */
export const DEFAULT_S3_PORT = 9090;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

const port = z.number().int().min(0).max(65535);
const ms = z.number().int().min(1);
const code = z.number().int().min(0).max(255);
/** `host:port` with a non-empty host and a port 1..65535 (IPv6 hosts in brackets). One problem is reported, never two. */
const hostPort = z.string().superRefine((s, ctx) => {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  if (!m) ctx.addIssue({ code: 'custom', message: 'an address must be host:port (e.g. 10.0.0.2:4524)' });
  else if (Number(m[2]) < 1 || Number(m[2]) > 65535) ctx.addIssue({ code: 'custom', message: 'the port of host:port must be 1..65535' });
});
const host = z.string().min(1).regex(/^[A-Za-z0-9.:[\]-]+$/, 'expected a host name or IP address');
const appName = z.string().regex(/^[a-z][a-z0-9.-]*$/, 'application names are lower case letters, digits, "." and "-"');

/** The configuration schema. Paths are resolved by {@link loadConfig}. */
export const configSchema = z.strictObject({
  dataDir: z.string().min(1).default('.pi/node'),
  bind: host.default('0.0.0.0'),
  port: port.default(DEFAULT_NODE_PORT),
  advertise: host.optional(),
  bootstrap: z.array(hostPort).default([]),
  newRing: z.boolean().default(false),
  joinTimeoutMs: ms.default(60_000),
  region: code.optional(),
  az: code.optional(),
  apps: z.array(appName).default([]),
  insecure: z.boolean().default(false),
  tls: z
    .strictObject({
      ca: z.string().min(1).optional(),
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
    })
    .prefault({}),
  ops: z
    .strictObject({
      enabled: z.boolean().default(true),
      bind: host.default('127.0.0.1'),
      port: port.default(DEFAULT_OPS_PORT),
      token: z.string().min(16, 'an ops token must be at least 16 characters').optional(),
      tokenFile: z.string().min(1).optional(),
      dashboard: z.boolean().default(true),
      crawlLimit: z.number().int().min(1).max(100_000).default(1000),
    })
    .prefault({}),
  log: z.strictObject({ level: z.enum(LOG_LEVELS).default('info') }).prefault({}),
  shutdownTimeoutMs: ms.default(10_000),
  alerts: z
    .strictObject({
      checkIntervalMs: ms.default(5000),
      diskMinFreePercent: z.number().min(0).max(100).default(5),
      diskMinFreeBytes: z.number().int().min(0).default(512 * 1024 * 1024),
      leafSetEmptyMs: ms.default(30_000),
    })
    .prefault({}),
  storage: z
    .strictObject({
      reserveBytes: z.number().int().min(0).default(1024 ** 3),
      reservePercent: z.number().min(0).max(50).default(2),
    })
    .prefault({}),
  overlay: z
    .strictObject({
      leafSetSize: z.number().int().min(2).max(256).refine((n) => n % 2 === 0, 'must be even').default(24),
      heartbeatIntervalMs: ms.default(1000),
      suspectAfterMs: ms.default(1500),
      probeTimeoutMs: ms.default(400),
      probeAttempts: z.number().int().min(1).max(20).default(2),
      joinAttemptTimeoutMs: ms.default(5000),
      routingMaintenanceIntervalMs: ms.default(60_000),
    })
    .prefault({}),
  dht: z
    .strictObject({
      replicas: z.number().int().min(1).max(32).default(4),
      writeQuorum: z.number().int().min(1).max(32).default(3),
      readQuorum: z.number().int().min(1).max(32).default(3),
      maxRecordBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
      operationTimeoutMs: ms.default(10_000),
      antiEntropyIntervalMs: ms.default(30_000),
      antiEntropyLargePartitionIntervalMs: ms.default(600_000),
      tombstoneGraceMs: ms.default(7 * 24 * 3600_000),
      recordScrubItems: z.number().int().min(0).max(10_000_000).default(20_000),
    })
    .prefault({}),
  s3: z
    .strictObject({
      bind: host.default('0.0.0.0'),
      port: port.default(DEFAULT_S3_PORT),
      baseDomains: z.array(z.string().min(1).regex(/^[A-Za-z0-9.-]+$/, 'expected a host name')).default(['localhost', 's3.localhost']),
      websiteDomains: z.array(z.string().min(1).regex(/^[A-Za-z0-9.-]+$/, 'expected a host name')).default(['s3-website.localhost']),
      region: z.string().regex(/^[a-z0-9-]{1,32}$/, 'expected a region name such as us-east-1').default('us-east-1'),
      maxObjectBytes: z.number().int().min(1).default(5 * 1024 ** 4),
      chunkSize: z.number().int().min(64 * 1024).max(8 * 1024 * 1024).default(4 * 1024 * 1024),
      inlineMaxBytes: z.number().int().min(0).max(256 * 1024).default(64 * 1024),
      putConcurrency: z.number().int().min(1).max(64).default(4),
      replicas: z.number().int().min(1).max(16).default(3),
      writeQuorum: z.number().int().min(1).max(16).default(2),
      minPartBytes: z.number().int().min(0).default(5 * 1024 * 1024),
      cacheMs: z.number().int().min(0).default(2000),
      maxClockSkewMs: ms.default(15 * 60_000),
      bodyIdleTimeoutMs: z.number().int().min(100).default(20_000),
      drainTimeoutMs: z.number().int().min(0).default(5000),
      signatureV2: z.boolean().default(true),
      lifecycleSweepMs: z.number().int().min(0).default(3600_000),
      replicationSweepMs: z.number().int().min(0).default(60_000),
      eventRetentionMs: z.number().int().min(60_000).default(24 * 3600_000),
      indexShards: z.number().int().min(0).max(64).default(0),
      sseMasterKeyFile: z.string().min(1).optional(),
      ssePreviousKeyFiles: z.array(z.string().min(1)).default([]),
      tls: z
        .strictObject({
          cert: z.string().min(1).optional(),
          key: z.string().min(1).optional(),
        })
        .prefault({}),
      allowSseCustomerKeysOverHttp: z.boolean().default(false),
      kms: z
        .strictObject({
          autoCreateKeys: z.boolean().default(false),
        })
        .prefault({}),
      verifyReads: z.boolean().default(true),
      scrub: z
        .strictObject({
          enabled: z.boolean().default(true),
          bytesPerSecond: z.number().int().min(0).default(16 * 1024 * 1024),
          intervalMs: ms.default(7 * 24 * 3600_000),
        })
        .prefault({}),
      gc: z
        .strictObject({
          enabled: z.boolean().default(true),
          intervalMs: ms.default(10 * 60_000),
          graceMs: ms.default(3600_000),
          orphanRefMs: ms.default(24 * 3600_000),
        })
        .prefault({}),
      accessLog: z
        .strictObject({
          flushIntervalMs: z.number().int().min(1000).max(24 * 3600_000).default(5 * 60_000),
          maxBufferBytes: z.number().int().min(4096).max(64 * 1024 * 1024).default(1024 * 1024),
        })
        .prefault({}),
    })
    .prefault({}),
});

/** A validated, fully defaulted configuration (paths absolute). */
export type PiConfig = z.output<typeof configSchema> & {
  tls: { ca: string; cert: string; key: string };
  ops: z.output<typeof configSchema>['ops'] & { tokenFile: string };
};

/** What a configuration layer may hold: a partial tree of settings. */
export type ConfigInput = Record<string, unknown>;

type SettingType = 'string' | 'int' | 'number' | 'bool' | 'list' | 'enum';

/** One documented setting. */
export interface Setting {
  /** Dotted path in the file (`ops.port`). */
  path: string;
  type: SettingType;
  /** Environment variable (`PI_OPS_PORT`). */
  env: string;
  /** Default as shown in the docs. */
  default: string;
  doc: string;
  /** A file or directory path: relative values are resolved (see {@link loadConfig}). */
  isPath?: boolean;
}

function envName(path: string): string {
  return 'PI_' + path.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase();
}

function s(path: string, type: SettingType, def: string, doc: string, isPath = false): Setting {
  return { path, type, env: envName(path), default: def, doc, ...(isPath ? { isPath } : {}) };
}

/** Every setting, its environment variable, default and meaning. */
export const SETTINGS: readonly Setting[] = [
  s('dataDir', 'string', '.pi/node', 'Data directory: node id, ops token, certificates, DHT storage.', true),
  s('bind', 'string', '0.0.0.0', 'Address the node-to-node listener binds to.'),
  s('port', 'int', String(DEFAULT_NODE_PORT), 'Node-to-node port (0 picks a free one).'),
  s('advertise', 'string', '(first non-loopback IPv4, else 127.0.0.1, when bind is 0.0.0.0; else bind)', 'Host other nodes use to reach this one.'),
  s('bootstrap', 'list', '[]', 'Nodes to join through, `host:port` (comma-separated in the environment).'),
  s('newRing', 'bool', 'false', 'Start a new ring when no bootstrap node can be joined (or none is given).'),
  s('joinTimeoutMs', 'int', '60000', 'Keep trying the bootstrap list this long before giving up.'),
  s('region', 'int', '(none)', 'Region code 0..255; node ids start with it so region-scoped records stay in the region.'),
  s('az', 'int', '(none)', 'Availability-zone code 0..255 within the region (needs `region`).'),
  s('apps', 'list', '[]', 'Applications to run on this node, by name (comma-separated in the environment).'),
  s('insecure', 'bool', 'false', 'Plaintext node-to-node traffic without certificates. Local development only.'),
  s('tls.ca', 'string', '<dataDir>/tls/ca.crt', "The ring CA's certificate (PEM).", true),
  s('tls.cert', 'string', '<dataDir>/tls/node.crt', "This node's certificate (PEM), signed by the ring CA.", true),
  s('tls.key', 'string', '<dataDir>/tls/node.key', "This node's private key (PKCS#8 PEM).", true),
  s('ops.enabled', 'bool', 'true', 'Serve the ops API, metrics and dashboard over HTTP.'),
  s('ops.bind', 'string', '127.0.0.1', 'Address the ops API binds to.'),
  s('ops.port', 'int', String(DEFAULT_OPS_PORT), 'Ops API port (0 picks a free one).'),
  s('ops.token', 'string', '(generated)', 'Bearer token of the ops API (at least 16 characters). If unset, one is generated into `ops.tokenFile`.'),
  s('ops.tokenFile', 'string', '<dataDir>/ops-token', 'Where the generated ops token is kept.', true),
  s('ops.dashboard', 'bool', 'true', 'Serve the web dashboard at `/`.'),
  s('ops.crawlLimit', 'int', '1000', 'Most nodes the ring view visits (dashboard, `pi apps`).'),
  s('log.level', 'enum', 'info', `Log level: ${LOG_LEVELS.join(', ')}.`),
  s('shutdownTimeoutMs', 'int', '10000', 'A graceful shutdown (SIGTERM/SIGINT) is forced after this long.'),
  s('alerts.checkIntervalMs', 'int', '5000', 'How often disk space, the data directory and the leaf set are checked.'),
  s('alerts.diskMinFreePercent', 'number', '5', 'Alert when free space on the data directory falls below this share.'),
  s('alerts.diskMinFreeBytes', 'int', '536870912', 'Alert when free space on the data directory falls below this many bytes.'),
  s('alerts.leafSetEmptyMs', 'int', '30000', 'Alert when the leaf set has stayed empty this long (the node is alone or cut off).'),
  s('storage.reserveBytes', 'int', '1073741824', 'Storage reserve: below this much free space on the data directory\'s disk the node stores no new data (new DHT records, S3 chunks: `DiskFull`, S3 507) but still takes deletions; the reserve is the smaller of this and `storage.reservePercent` (0 in either: no reserve).'),
  s('storage.reservePercent', 'number', '2', 'Storage reserve as a share of the disk, in percent (the smaller of this and `storage.reserveBytes` applies).'),
  s('overlay.leafSetSize', 'int', '24', 'Leaf set size L (even; both sides together).'),
  s('overlay.heartbeatIntervalMs', 'int', '1000', 'Heartbeat period to the ring neighbours.'),
  s('overlay.suspectAfterMs', 'int', '1500', 'Silence after which a neighbour is probed.'),
  s('overlay.probeTimeoutMs', 'int', '400', 'Wait for one probe answer.'),
  s('overlay.probeAttempts', 'int', '2', 'Unanswered probes before a node is declared dead.'),
  s('overlay.joinAttemptTimeoutMs', 'int', '5000', "Wait for one bootstrap node's join reply before trying the next."),
  s('overlay.routingMaintenanceIntervalMs', 'int', '60000', 'Routing-table maintenance period.'),
  s('dht.replicas', 'int', '4', 'Replica set size: the root plus its nearest neighbours.'),
  s('dht.writeQuorum', 'int', '3', 'Replicas that must store a write durably before it is acknowledged (fewer on a ring smaller than `dht.replicas`: by as many nodes as are missing, but not below 2; see src/dht/README.md).'),
  s('dht.readQuorum', 'int', '3', 'Replica answers a read waits for (highest version wins; fewer on a smaller ring, always overlapping the write quorum, also that of the ring one node larger).'),
  s('dht.maxRecordBytes', 'int', '1048576', 'Largest record body (JSON bytes).'),
  s('dht.operationTimeoutMs', 'int', '10000', 'Deadline of one DHT operation, retries included.'),
  s('dht.antiEntropyIntervalMs', 'int', '30000', 'Period of the anti-entropy pass that repairs replicas.'),
  s('dht.antiEntropyLargePartitionIntervalMs', 'int', '600000', 'A differing partition of over 10,000 items (an S3 bucket index) is compared item by item with each replica at most this often, or every 0.5 ms per item when longer (its digests cannot be refined below the whole partition).'),
  s('dht.tombstoneGraceMs', 'int', '604800000', 'Deleted records (tombstones) are removed this long after deletion.'),
  s('dht.recordScrubItems', 'int', '20000', 'Stored records read back each minute to check their checksums (the record scrub; 0 turns it off).'),
  s('s3.bind', 'string', '0.0.0.0', 'Address the S3 endpoint binds to (the `s3` application).'),
  s('s3.port', 'int', String(DEFAULT_S3_PORT), 'Port of the S3 endpoint (0 picks a free one).'),
  s('s3.baseDomains', 'list', '[localhost, s3.localhost]', 'Host names of the S3 endpoint: `<bucket>.<name>` is virtual-hosted-style addressing.'),
  s('s3.websiteDomains', 'list', '[s3-website.localhost]', 'Host names of the static website endpoint: `<bucket>.<name>` serves the bucket as a website.'),
  s('s3.region', 'string', 'us-east-1', 'Region the S3 endpoint reports for buckets.'),
  s('s3.maxObjectBytes', 'int', '5497558138880', 'Largest object (5 TiB; a single PUT is also limited to 5 GiB).'),
  s('s3.chunkSize', 'int', '4194304', 'Object data is stored in chunks of this size (64 KiB to 8 MiB).'),
  s('s3.inlineMaxBytes', 'int', '65536', 'Objects up to this size are kept inside their index entry instead of in chunks.'),
  s('s3.putConcurrency', 'int', '4', 'Chunk writes of one upload in flight at once.'),
  s('s3.replicas', 'int', '3', 'Copies of each chunk.'),
  s('s3.writeQuorum', 'int', '2', 'Copies stored durably before a chunk write is acknowledged.'),
  s('s3.minPartBytes', 'int', '5242880', 'Smallest part of a multipart upload (all but the last part).'),
  s('s3.cacheMs', 'int', '2000', 'How long a node caches access keys and bucket records: a key deleted or disabled through another node keeps working here at most this long.'),
  s('s3.maxClockSkewMs', 'int', '900000', "Largest difference between a request's signing time and the node's clock."),
  s('s3.bodyIdleTimeoutMs', 'int', '20000', 'A request body from which nothing arrives this long (while the node is ready to read it) is answered 400 RequestTimeout and its connection closed.'),
  s('s3.drainTimeoutMs', 'int', '5000', 'On a graceful stop, requests being served get this long to finish (new ones are refused with a retryable 503 and idle connections closed); what is still running then is cut. Part of shutdownTimeoutMs.'),
  s('s3.signatureV2', 'bool', 'true', 'Accept AWS Signature Version 2 (Authorization: AWS …, presigned AWSAccessKeyId/Expires/Signature URLs, POST forms signed with HMAC-SHA1) besides SigV4; false refuses it with InvalidRequest.'),
  s('s3.lifecycleSweepMs', 'int', '3600000', 'Period of the lifecycle sweep (expiring objects, aborting old uploads) over the buckets a node is root of; 0 turns it off.'),
  s('s3.replicationSweepMs', 'int', '60000', 'Period of the bucket replication sweep, which retries the replications left over (older than one period) in the buckets a node is root of; 0 turns it off.'),
  s('s3.eventRetentionMs', 'int', '86400000', 'How long bucket event notifications are kept in their topic journal for consumers that follow it (at least 60000).'),
  s('s3.indexShards', 'int', '0', "Index shards of a new bucket (1–64; 0: about one per DHT replica set (`dht.replicas` nodes) the ring has when the bucket is created, a power of two from 1 to 8): its object index is split over this many DHT partitions, each with its own root and replicas, so one busy bucket's writes spread over the ring; a listing reads every shard. Fixed when the bucket is created."),
  s('s3.sseMasterKeyFile', 'string', '(none)', 'File with the SSE-S3 master key (32 random bytes; the same file on every node). Without it SSE-S3 requests and bucket default encryption are refused.', true),
  s('s3.ssePreviousKeyFiles', 'list', '[]', 'Files of SSE-S3 master keys rotated out: they still unwrap the data keys they wrapped, never new ones (`pi s3 rewrap` moves those to the current key).', true),
  s('s3.tls.cert', 'string', '(none)', 'Certificate chain (PEM) of the S3 endpoint: with s3.tls.key set too, the endpoint speaks HTTPS only. Reloaded when the file changes.', true),
  s('s3.tls.key', 'string', '(none)', "Private key (PEM) of the S3 endpoint's certificate.", true),
  s('s3.allowSseCustomerKeysOverHttp', 'bool', 'false', 'Accept SSE-C keys and SSE-KMS requests on a plain-HTTP endpoint (only behind a TLS-terminating proxy); refused otherwise, as S3 does.'),
  s('s3.kms.autoCreateKeys', 'bool', 'false', 'Create an SSE-KMS key named by a bare name (e.g. testkey-1) on first use, with that alias: for test rings (conformance suites); leave off in production so that a mistyped key id is refused.'),
  s('s3.verifyReads', 'bool', 'true', 'Check whole chunks read (copies on this node as they stream, against the CRC32 recorded when written, else the SHA-256; replicas\' answers); a damaged copy fails the read instead of serving wrong bytes, and is restored from a replica.'),
  s('s3.scrub.enabled', 'bool', 'true', "Re-read this node's chunks in the background to find damaged copies (bit rot) and restore them from replicas."),
  s('s3.scrub.bytesPerSecond', 'int', '16777216', 'Most bytes the scrubber reads per second (0: no limit).'),
  s('s3.scrub.intervalMs', 'int', '604800000', 'A scrub pass starts this long after the previous one started (7 days).'),
  s('s3.gc.enabled', 'bool', 'true', 'Collect chunks no object or upload refers to any more.'),
  s('s3.gc.intervalMs', 'int', '600000', "Period of the collector's sweep over a node's chunks."),
  s('s3.gc.graceMs', 'int', '3600000', 'A chunk is collected only this long after it was last written and last released.'),
  s('s3.gc.orphanRefMs', 'int', '86400000', 'References of object versions that were never written are dropped after this long.'),
  s('s3.accessLog.flushIntervalMs', 'int', '300000', "Each node writes the server access log records it holds for a bucket into the bucket's log target this often (1 s to 24 h)."),
  s('s3.accessLog.maxBufferBytes', 'int', '1048576', "A node writes a bucket's access log records as soon as it holds this many bytes of them (4 KiB to 64 MiB)."),
];

/** Thrown for invalid configuration; `problems` names each bad setting. */
export class ConfigError extends Error {
  readonly code = 'InvalidConfig';
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? `invalid configuration: ${problems[0]}` : `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Where each layer comes from, for error messages. */
export interface ConfigSources {
  /** Path of the configuration file (YAML, or JSON by extension). */
  file?: string;
  /** Environment (defaults to none: pass `process.env` explicitly). */
  env?: Record<string, string | undefined>;
  /** Settings from command-line flags, as a partial tree. */
  flags?: ConfigInput;
  /** Base for relative paths from env and flags. Default `process.cwd()`. */
  cwd?: string;
  /** Told about things worth a warning (e.g. an unknown `PI_*` variable). */
  onWarning?: (message: string) => void;
}

/** Reads and parses a configuration file; relative paths in it are resolved against its folder. */
export function readConfigFile(path: string): ConfigInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read configuration file ${path}: ${(err as Error).message}`]);
  }
  let data: unknown;
  try {
    data = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError([`configuration file ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigError([`configuration file ${path} must hold a mapping of settings`]);
  return resolvePaths(data as ConfigInput, dirname(resolve(path)));
}

/** Settings from `PI_*` environment variables, converted to their types where they parse. */
export function configFromEnv(env: Record<string, string | undefined>): { config: ConfigInput; unknown: string[] } {
  const out: ConfigInput = {};
  const known = new Set<string>();
  for (const setting of SETTINGS) {
    known.add(setting.env);
    const raw = env[setting.env];
    if (raw === undefined || raw === '') continue;
    setPath(out, setting.path, convert(setting.type, raw.trim()));
  }
  // A misspelt PI_ variable would silently do nothing; report it (PI_OPS_URL etc. belong to the CLI).
  const unknown = Object.keys(env).filter((k) => k.startsWith('PI_') && !known.has(k) && !CLIENT_ENV.has(k));
  return { config: out, unknown };
}

/** Variables read by the `pi` client commands rather than by the node. */
const CLIENT_ENV = new Set(['PI_OPS_URL', 'PI_CONFIG']);

function convert(type: SettingType, raw: string): unknown {
  switch (type) {
    case 'int':
    case 'number': {
      const n = Number(raw);
      return raw !== '' && Number.isFinite(n) ? n : raw;
    }
    case 'bool': {
      const v = raw.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      return raw;
    }
    case 'list':
      return raw
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    default:
      return raw;
  }
}

function setPath(target: ConfigInput, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === undefined || typeof next !== 'object' || next === null) node[part] = {};
    node = node[part] as ConfigInput;
  }
  node[parts[parts.length - 1]!] = value;
}

function getPath(source: ConfigInput, path: string): unknown {
  let node: unknown = source;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as ConfigInput)[part];
  }
  return node;
}

/** Resolves relative path settings of a layer against `base`. */
function resolvePaths(layer: ConfigInput, base: string): ConfigInput {
  const out = structuredClone(layer);
  for (const setting of SETTINGS) {
    if (!setting.isPath) continue;
    const value = getPath(out, setting.path);
    if (typeof value === 'string' && value !== '' && !isAbsolute(value)) setPath(out, setting.path, resolve(base, value));
    else if (Array.isArray(value)) setPath(out, setting.path, value.map((v: unknown) => (typeof v === 'string' && v !== '' && !isAbsolute(v) ? resolve(base, v) : v)));
  }
  return out;
}

/** Deep merge of plain objects; arrays and scalars of `over` replace those of `base`. */
function merge(base: ConfigInput, over: ConfigInput): ConfigInput {
  const out: ConfigInput = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const prev = out[key];
    if (isPlainObject(value) && isPlainObject(prev)) out[key] = merge(prev, value);
    else out[key] = value;
  }
  return out;
}

function isPlainObject(v: unknown): v is ConfigInput {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Records which layer set each leaf, for error messages. */
function origins(layers: [string, ConfigInput][]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (label: string, node: ConfigInput, prefix: string): void => {
    for (const [key, value] of Object.entries(node)) {
      const path = prefix ? `${prefix}.${key}` : key;
      if (isPlainObject(value)) {
        // A section is named by the layer that brought it first (an unknown section is reported
        // by its own name); its leaves by the layer that set them last.
        if (!out.has(path)) out.set(path, label);
        walk(label, value, path);
      } else out.set(path, label);
    }
  };
  for (const [label, layer] of layers) walk(label, layer, '');
  return out;
}

function describeValue(value: unknown): string {
  // JSON would show NaN and Infinity as null.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/**
 * Loads the configuration: defaults < file < environment < flags. Relative paths in the file are
 * resolved against the file's folder, others against `cwd`. Throws {@link ConfigError}.
 */
export function loadConfig(sources: ConfigSources = {}): PiConfig {
  const cwd = sources.cwd ?? process.cwd();
  const layers: [string, ConfigInput][] = [];
  if (sources.file !== undefined) layers.push([`file ${sources.file}`, readConfigFile(sources.file)]);
  const problems: string[] = [];
  if (sources.env) {
    const { config, unknown } = configFromEnv(sources.env);
    layers.push(['environment', resolvePaths(config, cwd)]);
    // Not an error: an unrelated PI_ variable must not stop a node; but a typo is worth a warning.
    for (const name of unknown) sources.onWarning?.(`ignoring unknown environment variable ${name} (settings are listed in docs/configuration.md)`);
  }
  if (sources.flags) layers.push(['flags', resolvePaths(sources.flags, cwd)]);
  let merged: ConfigInput = {};
  for (const [, layer] of layers) merged = merge(merged, layer);
  const from = origins(layers);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const path = [...issue.path, key].join('.');
          problems.push(`unknown setting "${path}"${from.has(path) ? ` (from ${from.get(path)})` : ''}`);
        }
        continue;
      }
      const path = issue.path.join('.');
      const settingPath = issue.path.filter((p) => typeof p === 'string').join('.');
      const origin = from.get(path) ?? from.get(settingPath);
      const value = getPath(merged, path);
      const env = SETTINGS.find((x) => x.path === settingPath)?.env;
      const where = origin === 'environment' && env ? `environment ${env}` : origin;
      // YAML's .nan and .inf are numbers to zod, which then says "expected number, received NaN".
      const what = typeof value === 'number' && !Number.isFinite(value) ? `the value is not ${Number.isNaN(value) ? 'a number' : 'a finite number'}` : issue.message;
      problems.push(`setting "${path}"${where ? ` (from ${where})` : ''}: ${what}${value !== undefined ? `, got ${describeValue(value)}` : ''}`);
    }
  }
  // Settings checked against each other are reported with the rest, where their own values are valid.
  problems.push(...relationProblems(merged));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return finish(result.data, cwd);
}

/**
 * Problems between settings (a quorum above its replica count, a zone without a region), found
 * in each section that is valid by itself, so that they are reported together with the others.
 */
function relationProblems(input: ConfigInput): string[] {
  const problems: string[] = [];
  const shape = configSchema.shape;
  const region = shape.region.safeParse(input['region']);
  const az = shape.az.safeParse(input['az']);
  if (region.success && az.success && az.data !== undefined && region.data === undefined) problems.push('setting "az": an availability zone needs a region (set "region" too)');
  const dht = shape.dht.safeParse(input['dht']);
  if (dht.success) {
    if (dht.data.writeQuorum > dht.data.replicas) problems.push(`setting "dht.writeQuorum": ${dht.data.writeQuorum} is more than dht.replicas (${dht.data.replicas})`);
    if (dht.data.readQuorum > dht.data.replicas) problems.push(`setting "dht.readQuorum": ${dht.data.readQuorum} is more than dht.replicas (${dht.data.replicas})`);
  }
  const s3 = shape.s3.safeParse(input['s3']);
  if (s3.success) {
    if (s3.data.writeQuorum > s3.data.replicas) problems.push(`setting "s3.writeQuorum": ${s3.data.writeQuorum} is more than s3.replicas (${s3.data.replicas})`);
    if ((s3.data.tls.cert === undefined) !== (s3.data.tls.key === undefined)) problems.push(`setting "s3.tls.${s3.data.tls.cert === undefined ? 'cert' : 'key'}": the S3 endpoint's TLS needs both s3.tls.cert and s3.tls.key`);
  }
  return problems;
}

/** Fills defaults that depend on other settings (checked against each other by {@link relationProblems}). */
function finish(data: z.output<typeof configSchema>, cwd: string): PiConfig {
  const dataDir = resolve(cwd, data.dataDir);
  return {
    ...data,
    dataDir,
    tls: {
      ca: data.tls.ca ?? join(dataDir, 'tls', 'ca.crt'),
      cert: data.tls.cert ?? join(dataDir, 'tls', 'node.crt'),
      key: data.tls.key ?? join(dataDir, 'tls', 'node.key'),
    },
    ops: { ...data.ops, tokenFile: data.ops.tokenFile ?? join(dataDir, 'ops-token') },
  };
}

/** The configuration as a plain object for display, with the ops token masked. */
export function redactConfig(config: PiConfig): Record<string, unknown> {
  const copy = structuredClone(config) as Record<string, unknown>;
  const ops = copy['ops'] as Record<string, unknown>;
  if (ops['token'] !== undefined) ops['token'] = '********';
  return copy;
}
