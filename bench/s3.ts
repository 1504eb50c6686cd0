/**
 * `npm run bench:s3 -- [--json] [--small 4000] [--large 6] [--clients 16] [--large-clients 2] [--warmup 3000]`
 *
 * Pi Cloud S3 against the references, with the same client and workload:
 * - Pi: a 3-node ring over loopback, each node its own `pi start` process (so the ring uses every
 *   core, as separate machines would), the `s3` application on each; the clients spread their
 *   requests over the three endpoints;
 * - s3rver (the npm S3 server, filesystem-backed), in its own process;
 * - raw local disk: the same bytes written with fs streams and fsync, then read back with fs
 *   streams — the physical reference.
 *
 * Workload: `--small` PUTs of distinct 4 KiB objects by `--clients` concurrent clients, then as
 * many GETs; `--large` 64 MiB objects PUT then GET by `--large-clients` concurrent clients.
 * Throughput (ops/s, MiB/s) and per-request latency p50/p99. The client is a lean SigV4 client
 * (UNSIGNED-PAYLOAD) on bench/lean-http.ts, keep-alive, the same for Pi and s3rver: it reads
 * responses into one reused buffer per connection and counts the bytes, so on a 2-core machine it
 * takes as little CPU as it can from the servers it measures (node:http's client spent about a
 * core receiving 64 MiB objects at 300 MiB/s, mostly in garbage collection).
 *
 * `--pi-tls` serves Pi's endpoints over HTTPS (s3rver stays on plain HTTP).
 * `--pi-sse s3` encrypts Pi's bench bucket by default (SSE-S3, a master key file on every node)
 * to measure what encryption at rest costs; the references are unchanged.
 *
 * Modes used internally: `--serve-s3rver DIR` runs s3rver in this process.
 * Diagnostics: `BENCH_NODE_ARGS` adds Node.js flags to the Pi node processes (e.g. `--cpu-prof`);
 * `BENCH_METRICS_DUMP=FILE` appends each Pi node's `/metrics` to FILE before the ring stops.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { deriveSigningKey, requestStringToSign, signHex, uriEncode } from '../src/cloud/s3/protocol/index.ts';
import { LeanHttpClient } from './lean-http.ts';

const MiB = 1024 * 1024;

interface Options {
  json: boolean;
  small: number;
  large: number;
  clients: number;
  largeClients: number;
  /** 4 KiB PUTs and as many GETs before the measured phases (connections, caches, the JIT). */
  warmup: number;
  skipS3rver: boolean;
  keep: boolean;
  /** Processes hosting the Pi nodes: one per node, or 1 (all of them). */
  nodeProcesses: number;
  /** Pi nodes (3; 1 is a diagnostic: the same work without replication). */
  ringSize: number;
  /** Pi's bucket encrypted by default with SSE-S3 (`--pi-sse s3`). */
  piSse: boolean;
  /** Pi's endpoints over HTTPS (`--pi-tls`). */
  piTls: boolean;
}

interface Stats {
  count: number;
  seconds: number;
  opsPerSec: number;
  mibPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /**
   * CPU used during the phase, as a share of one core (1 = one core busy the whole phase): each
   * server process, the client (this process), and the machine's idle share of all its cores.
   */
  cpu?: Record<string, number>;
}

interface Target {
  name: string;
  endpoints: string[];
  accessKey: string;
  secret: string;
  /** Waits until background work of the writes (third chunk copies) is done. */
  settle?: () => Promise<void>;
  /** Configures the bench bucket once created (Pi with `--pi-sse s3`: default encryption). */
  setupBucket?: (bucket: string) => Promise<void>;
  /** The server processes, by label (their CPU time is reported per phase). */
  processes?: Record<string, number>;
  /** For HTTPS endpoints: a keep-alive agent trusting their CA. */
  httpsAgent?: HttpsAgent;
}

// ---------------------------------------------------------------------------------------------
// CPU accounting: /proc/<pid>/stat (utime + stime) of each server process, process.cpuUsage()
// for the client, /proc/stat for the machine's idle time.

const CLOCK_TICKS = 100;

/** CPU seconds a process has used (all its threads), or NaN when it cannot be read (not Linux). */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Idle and total CPU seconds of the whole machine (all cores). */
function machineCpuSeconds(): { idle: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
    return { idle: (line[3]! + line[4]!) / CLOCK_TICKS, total: total / CLOCK_TICKS };
  } catch {
    return { idle: NaN, total: NaN };
  }
}

interface CpuSample {
  at: number;
  processes: Record<string, number>;
  client: number;
  machine: { idle: number; total: number };
}

function sampleCpu(processes: Record<string, number>): CpuSample {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(processes)) out[name] = processCpuSeconds(pid);
  const u = process.cpuUsage();
  return { at: performance.now(), processes: out, client: (u.user + u.system) / 1e6, machine: machineCpuSeconds() };
}

/** CPU per process between two samples, in cores (CPU seconds / wall seconds). */
function cpuBetween(a: CpuSample, b: CpuSample): Record<string, number> {
  const wall = (b.at - a.at) / 1000;
  const r = (x: number): number => Math.round((x / wall) * 100) / 100;
  const out: Record<string, number> = {};
  for (const name of Object.keys(a.processes)) out[name] = r(b.processes[name]! - a.processes[name]!);
  out['client'] = r(b.client - a.client);
  out['idle'] = r(b.machine.idle - a.machine.idle);
  return out;
}

// ---------------------------------------------------------------------------------------------
// A lean SigV4 client

function amzDate(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

const keyCache = new Map<string, Buffer>();

function sign(target: Target, method: string, host: string, path: string, query = ''): Record<string, string> {
  const date = amzDate(new Date());
  const day = date.slice(0, 8);
  const cacheKey = `${target.secret}/${day}`;
  let key = keyCache.get(cacheKey);
  if (!key) keyCache.set(cacheKey, (key = deriveSigningKey(target.secret, day, 'us-east-1', 's3')));
  const scope = `${day}/us-east-1/s3/aws4_request`;
  const canonical = `${method}\n${path}\n${query}\nhost:${host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:${date}\n\nhost;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD`;
  const signature = signHex(key, requestStringToSign(date, scope, canonical));
  return {
    host,
    'x-amz-date': date,
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    authorization: `AWS4-HMAC-SHA256 Credential=${target.accessKey}/${scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${signature}`,
  };
}

const lean = new LeanHttpClient();

/** One request; resolves with the status and the number of body bytes received. */
async function send(target: Target, endpoint: string, method: string, bucket: string, key: string | undefined, body?: Buffer | (() => Readable), length = 0, subresource?: string): Promise<{ status: number; bytes: number }> {
  const url = new URL(endpoint);
  const path = `/${bucket}${key === undefined ? '' : `/${uriEncode(key, false)}`}`;
  const headers = sign(target, method, url.host, path, subresource === undefined ? '' : `${subresource}=`);
  if (body !== undefined) headers['content-length'] = String(Buffer.isBuffer(body) ? body.length : length);
  if (Buffer.isBuffer(body) && subresource !== undefined) headers['content-md5'] = createHash('md5').update(body).digest('base64');
  const fullPath = subresource === undefined ? path : `${path}?${subresource}`;
  if (url.protocol === 'http:') return lean.send(url.hostname, Number(url.port), { method, path: fullPath, headers, ...(body === undefined ? {} : { body: Buffer.isBuffer(body) ? body : body() }) });
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: url.hostname, port: url.port, method, path: fullPath, headers, agent: target.httpsAgent }, (res: IncomingMessage) => {
      let bytes = 0;
      res.on('data', (b: Buffer) => (bytes += b.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else pipeline(body(), req).catch(reject);
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `count` operations with `clients` in flight; op(i) resolves with bytes moved. */
async function measure(count: number, clients: number, op: (i: number) => Promise<number>, processes: Record<string, number> = {}): Promise<Stats> {
  const latencies: number[] = [];
  const cpuBefore = sampleCpu(processes);
  let next = 0;
  let bytes = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        try {
          bytes += await op(i);
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuBetween(cpuBefore, sampleCpu(processes));
  latencies.sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 100) / 100;
  return { count, seconds: round(seconds), opsPerSec: round(count / seconds), mibPerSec: round(bytes / MiB / seconds), p50Ms: round(percentile(latencies, 50)), p99Ms: round(percentile(latencies, 99)), errors, cpu };
}

function ok(status: number, what: string): void {
  if (status < 200 || status >= 300) throw new Error(`${what}: HTTP ${status}`);
}

/** The workload against one target. */
async function workload(target: Target, o: Options, small: Buffer, large: Buffer): Promise<Record<string, Stats>> {
  const bucket = `bench-${Date.now().toString(36)}`;
  const at = (i: number): string => target.endpoints[i % target.endpoints.length]!;
  ok((await send(target, at(0), 'PUT', bucket, undefined, Buffer.alloc(0))).status, 'create bucket');
  await target.setupBucket?.(bucket);
  const smallKey = (i: number): string => `small/${String(i).padStart(7, '0')}`;
  // Warm-up, the same for every target (its figures are not reported): connections, caches and
  // the JIT. A server runs for days; the first seconds of a process, while V8 is still compiling
  // its hot functions (a fifth of the nodes' CPU in the first ten seconds under this load), are
  // not what its users get.
  await measure(o.warmup, o.clients, async (i) => {
    const r = await send(target, at(i), 'PUT', bucket, `warm/${i}`, small);
    ok(r.status, 'warm-up put');
    return small.length;
  });
  await measure(o.warmup, o.clients, async (i) => {
    const r = await send(target, at(i + 1), 'GET', bucket, `warm/${i}`);
    ok(r.status, 'warm-up get');
    return r.bytes;
  });
  const procs = target.processes ?? {};
  const smallPut = await measure(o.small, o.clients, async (i) => {
    const r = await send(target, at(i), 'PUT', bucket, smallKey(i), small);
    ok(r.status, 'small put');
    return small.length;
  }, procs);
  const smallGet = await measure(o.small, o.clients, async (i) => {
    const r = await send(target, at(i + 1), 'GET', bucket, smallKey(i));
    ok(r.status, 'small get');
    if (r.bytes !== small.length) throw new Error(`small get: ${r.bytes} bytes`);
    return r.bytes;
  }, procs);
  const largePut = await measure(o.large, o.largeClients, async (i) => {
    const r = await send(target, at(i), 'PUT', bucket, `large/${i}`, () => Readable.from(slices(large)), large.length);
    ok(r.status, 'large put');
    return large.length;
  }, procs);
  await target.settle?.();
  const largeGet = await measure(o.large, o.largeClients, async (i) => {
    const r = await send(target, at(i + 1), 'GET', bucket, `large/${i}`);
    ok(r.status, 'large get');
    if (r.bytes !== large.length) throw new Error(`large get: ${r.bytes} bytes`);
    return r.bytes;
  }, procs);
  return { smallPut, smallGet, largePut, largeGet };
}

/** PutBucketEncryption: SSE-S3 by default for every object of `bucket` (`--pi-sse s3`). */
async function encryptByDefault(target: Target, bucket: string): Promise<void> {
  const doc = Buffer.from('<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>');
  // Through every node, so that none serves a write from a cached record without the default.
  for (const endpoint of target.endpoints) ok((await send(target, endpoint, 'PUT', bucket, undefined, doc, 0, 'encryption')).status, 'put bucket encryption');
}

/** A large body as 1 MiB pieces (as a client streams a file). */
function* slices(data: Buffer): Generator<Buffer> {
  for (let off = 0; off < data.length; off += MiB) yield data.subarray(off, off + MiB);
}

// ---------------------------------------------------------------------------------------------
// Raw disk reference

async function rawDisk(dir: string, o: Options, small: Buffer, large: Buffer): Promise<Record<string, Stats>> {
  await fs.mkdir(join(dir, 'small'), { recursive: true });
  const writeFile = async (path: string, data: Buffer): Promise<void> => {
    const out = createWriteStream(path);
    await pipeline(Readable.from(slices(data)), out);
    const fh = await fs.open(path, 'r+');
    await fh.sync();
    await fh.close();
  };
  const readFile = async (path: string): Promise<number> => {
    let n = 0;
    for await (const b of createReadStream(path, { highWaterMark: MiB })) n += (b as Buffer).length;
    return n;
  };
  const smallPut = await measure(o.small, o.clients, async (i) => {
    await writeFile(join(dir, 'small', String(i)), small);
    return small.length;
  });
  const smallGet = await measure(o.small, o.clients, async (i) => readFile(join(dir, 'small', String(i))));
  const largePut = await measure(o.large, o.largeClients, async (i) => {
    await writeFile(join(dir, `large-${i}`), large);
    return large.length;
  });
  const largeGet = await measure(o.large, o.largeClients, async (i) => readFile(join(dir, `large-${i}`)));
  return { smallPut, smallGet, largePut, largeGet };
}

// ---------------------------------------------------------------------------------------------
// Servers

async function waitHttp(url: string, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {
      // not yet
    }
    if (Date.now() > until) throw new Error(`${url} did not answer within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * glibc malloc settings for every process of the benchmark (Pi nodes, s3rver, and the client
 * and raw-disk reference, which re-run this script with them): keep freed
 * megabyte buffers in the heap instead of unmapping them, so the next one does not pay a page
 * fault per 4 KiB again (expensive on virtual machines; `--no-malloc-tuning` turns it off).
 */
let MALLOC_ENV: Record<string, string> = { MALLOC_MMAP_THRESHOLD_: String(128 * MiB), MALLOC_TRIM_THRESHOLD_: String(1024 * MiB) };

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function spawnChild(args: string[], log: string): Promise<ChildProcess> {
  return fs.open(log, 'w').then((fh) => {
    const extra = (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
    const child = spawn(process.execPath, ['--import', 'tsx', ...extra, ...args], { stdio: ['ignore', fh.fd, fh.fd], env: { ...process.env, ...MALLOC_ENV } });
    children.push(child);
    void fh.close();
    return child;
  });
}

/** Configuration of Pi node `i` of the bench ring. */
function baseNodeConfig(dir: string, i: number, nodes: { port: number; ops: number; s3: number }[], token: string): Record<string, unknown> {
  return {
    dataDir: join(dir, `node-${i}`),
    bind: '127.0.0.1',
    port: nodes[i]!.port,
    bootstrap: i === 0 ? [] : [`127.0.0.1:${nodes[0]!.port}`],
    newRing: i === 0,
    insecure: true,
    apps: ['s3'],
    overlay: { joinAttemptTimeoutMs: 1000 },
    ops: { bind: '127.0.0.1', port: nodes[i]!.ops, token, dashboard: false },
    log: { level: 'warn' },
    s3: { bind: '127.0.0.1', port: nodes[i]!.s3, gc: { enabled: false } },
  };
}

/** `--serve-ring FILE`: runs every node listed in the JSON file FILE in this process. */
async function serveRing(file: string): Promise<void> {
  const { loadConfig } = await import('../src/node/config.ts');
  const { launchNode } = await import('../src/cli/launch.ts');
  const { createPinoLogger } = await import('../src/env/index.ts');
  const configs = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>[];
  const launched = [];
  for (const c of configs) {
    await fs.mkdir(c['dataDir'] as string, { recursive: true });
    launched.push(launchNode(loadConfig({ flags: c }), { logger: createPinoLogger({ level: 'warn' }) }));
    // Node 0 creates the ring; the others join through it.
    if (launched.length === 1) await launched[0];
  }
  const nodes = await Promise.all(launched);
  process.on('SIGTERM', () => void Promise.all(nodes.map((n) => n.stop({ graceful: false }))).then(() => process.exit(0)));
}

async function startPi(dir: string, processes: number, size: number, sse: boolean, tls: boolean): Promise<{ target: Target; stop: () => Promise<void> }> {
  const token = 'bench-token-0123456789abcdef';
  const nodes: { port: number; ops: number; s3: number }[] = [];
  for (let i = 0; i < size; i++) nodes.push({ port: await freePort(), ops: await freePort(), s3: await freePort() });
  const procs: ChildProcess[] = [];
  await fs.mkdir(dir, { recursive: true });
  const keyFile = sse ? join(dir, 'sse-master.key') : undefined;
  if (keyFile) await fs.writeFile(keyFile, createHash('sha256').update('bench master key').digest());
  // `--pi-tls`: HTTPS endpoints with a certificate from a throwaway CA the client trusts.
  let endpointTls: { cert: string; key: string; caPem: string } | undefined;
  if (tls) {
    const { createCa, createNodeCert } = await import('../src/node/certs.ts');
    const ca = await createCa({ commonName: 'bench CA' });
    const issued = await createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name: 'bench s3', hosts: ['127.0.0.1'] });
    endpointTls = { cert: join(dir, 's3-tls.crt'), key: join(dir, 's3-tls.key'), caPem: ca.certPem };
    await fs.writeFile(endpointTls.cert, issued.certPem);
    await fs.writeFile(endpointTls.key, issued.keyPem, { mode: 0o600 });
  }
  const nodeConfig = (d: string, i: number, all: typeof nodes, t: string): Record<string, unknown> => {
    const c = baseNodeConfig(d, i, all, t);
    if (keyFile) (c['s3'] as Record<string, unknown>)['sseMasterKeyFile'] = keyFile;
    if (endpointTls) (c['s3'] as Record<string, unknown>)['tls'] = { cert: endpointTls.cert, key: endpointTls.key };
    return c;
  };
  if (processes === 1) {
    const file = join(dir, 'ring.json');
    await fs.writeFile(file, JSON.stringify(nodes.map((_, i) => nodeConfig(dir, i, nodes, token))));
    procs.push(await spawnChild(['bench/s3.ts', '--serve-ring', file], join(dir, 'ring.log')));
  } else {
    for (let i = 0; i < size; i++) {
      const config = nodeConfig(dir, i, nodes, token);
      await fs.mkdir(config['dataDir'] as string, { recursive: true });
      const file = join(config['dataDir'] as string, 'pi.yaml');
      await fs.writeFile(file, toYaml(config));
      procs.push(await spawnChild(['src/cli/main.ts', 'start', '--config', file], join(config['dataDir'] as string, 'node.log')));
    }
  }
  for (const n of nodes) {
    const until = Date.now() + 60_000;
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${n.ops}/health`);
        const h = (await res.json()) as { ready?: boolean; leafSet?: number };
        if (h.ready && (h.leafSet ?? 0) >= size - 1) break;
      } catch {
        // starting
      }
      if (Date.now() > until) throw new Error(`a Pi node did not become ready; see ${dir}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const res = await fetch(`http://127.0.0.1:${nodes[0]!.ops}/api/s3/users`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench' }) });
  const user = (await res.json()) as { accessKey: string; secret: string };
  if (!res.ok) throw new Error(`creating the bench user failed: ${JSON.stringify(user)}`);
  const settle = async (): Promise<void> => {
    // Every node holds every chunk once the third copies arrived (3 nodes, 3 copies). A third
    // copy that failed is only restored by a later repair sweep, minutes away: the GETs do not
    // wait for it longer than a minute.
    let last = '';
    const until = Date.now() + 60_000;
    for (let stable = 0; stable < 3; ) {
      if (Date.now() > until) {
        process.stderr.write(`warning: chunk copies did not settle within 60 s (chunks per node: ${last}); measuring the GETs anyway\n`);
        return;
      }
      const counts = await Promise.all(
        nodes.map(async (n) => {
          const r = await fetch(`http://127.0.0.1:${n.ops}/api/s3`, { headers: { authorization: `Bearer ${token}` } });
          return ((await r.json()) as { chunks: { count: number } }).chunks.count;
        }),
      );
      const key = counts.join(',');
      stable = key === last && counts.every((c) => c === counts[0]) ? stable + 1 : 0;
      last = key;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const target: Target = {
    name: 'pi',
    endpoints: nodes.map((n) => `${endpointTls ? 'https' : 'http'}://127.0.0.1:${n.s3}`),
    accessKey: user.accessKey,
    secret: user.secret,
    settle,
    ...(endpointTls ? { httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64, ca: endpointTls.caPem }) } : {}),
    processes: Object.fromEntries(procs.map((p, i) => [procs.length === 1 ? 'ring' : `node${i}`, p.pid!])),
  };
  if (sse) target.setupBucket = (bucket) => encryptByDefault(target, bucket);
  return {
    target,
    stop: async () => {
      if (process.env['BENCH_METRICS_DUMP']) {
        for (const n of nodes) {
          const r = await fetch(`http://127.0.0.1:${n.ops}/metrics`, { headers: { authorization: `Bearer ${token}` } });
          await fs.appendFile(process.env['BENCH_METRICS_DUMP'], `# node ${n.port}\n${await r.text()}`);
        }
      }
      for (const p of procs) p.kill('SIGTERM');
      await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
    },
  };
}

async function startS3rver(dir: string): Promise<{ target: Target; stop: () => Promise<void> }> {
  const port = await freePort();
  await fs.mkdir(dir, { recursive: true });
  const child = await spawnChild(['bench/s3.ts', '--serve-s3rver', join(dir, 'data'), '--port', String(port)], join(dir, 's3rver.log'));
  await waitHttp(`http://127.0.0.1:${port}/`, 30_000);
  return {
    target: { name: 's3rver', endpoints: [`http://127.0.0.1:${port}`], accessKey: 'S3RVER', secret: 'S3RVER', processes: { s3rver: child.pid! } },
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    },
  };
}

async function serveS3rver(directory: string, port: number): Promise<void> {
  const name = 's3rver';
  const { default: S3rver } = (await import(name)) as { default: new (o: Record<string, unknown>) => { run(): Promise<unknown>; close(): Promise<void> } };
  await fs.mkdir(directory, { recursive: true });
  const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory });
  await server.run();
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

// ---------------------------------------------------------------------------------------------

function ratio(a: number, b: number): number {
  return b > 0 ? Math.round((a / b) * 100) / 100 : 0;
}

async function main(): Promise<void> {
  const program = new Command('bench:s3')
    .option('--json', 'print one JSON object')
    .option('--small <n>', '4 KiB objects to PUT and GET', (v) => Number(v), 4000)
    .option('--large <n>', '64 MiB objects to PUT and GET', (v) => Number(v), 6)
    .option('--clients <n>', 'concurrent clients for small objects', (v) => Number(v), 16)
    .option('--large-clients <n>', 'concurrent clients for large objects', (v) => Number(v), 2)
    .option('--warmup <n>', '4 KiB PUTs, then as many GETs, before measuring (every target)', (v) => Number(v), 3000)
    .option('--skip-s3rver', 'do not run s3rver')
    .option('--ring-size <n>', 'Pi nodes: 3, or 1 to see the cost without replication (diagnostic)', (v) => Number(v), 3)
    .option('--pi-tls', "Pi's endpoints speak HTTPS (a certificate from a throwaway CA; s3rver stays on HTTP)")
    .option('--pi-sse <mode>', "Pi's bench bucket encrypted: none, or s3 (SSE-S3 by bucket default encryption, a master key on every node)", 'none')
    .option('--node-processes <n>', 'processes hosting the 3 Pi nodes: 3 (one each) or 1', (v) => Number(v), 3)
    .option('--serve-ring <file>', '(internal) run the Pi nodes configured in FILE')
    .option('--keep', 'keep the data directories')
    .option('--no-malloc-tuning', 'run the servers without the glibc malloc settings')
    .option('--serve-s3rver <dir>', '(internal) run s3rver on --port')
    .option('--port <port>', '(internal)', (v) => Number(v), 0);
  program.parse(process.argv);
  const raw = program.opts<Omit<Options, 'piSse' | 'piTls'> & { piTls?: boolean; piSse: string; serveS3rver?: string; serveRing?: string; port: number; mallocTuning: boolean }>();
  if (raw.piSse !== 'none' && raw.piSse !== 's3') throw new Error(`--pi-sse: none or s3, not ${raw.piSse}`);
  if (!raw.mallocTuning) MALLOC_ENV = {};
  else if (process.env['MALLOC_MMAP_THRESHOLD_'] === undefined && !raw.serveS3rver && !raw.serveRing) {
    // The client and the raw-disk reference run here: the same malloc settings as the servers.
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, ...MALLOC_ENV } });
    const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
    process.exit(code);
  }
  if (raw.serveS3rver) return serveS3rver(raw.serveS3rver, raw.port);
  if (raw.serveRing) return serveRing(raw.serveRing);
  const o: Options = { json: Boolean(raw.json), small: raw.small, large: raw.large, clients: raw.clients, largeClients: raw.largeClients, warmup: Math.max(0, raw.warmup), skipS3rver: Boolean(raw.skipS3rver), keep: Boolean(raw.keep), nodeProcesses: raw.nodeProcesses === 1 ? 1 : 3, ringSize: raw.ringSize === 1 ? 1 : 3, piSse: raw.piSse === 's3', piTls: Boolean(raw.piTls) };
  const log = (m: string): void => {
    if (!o.json) console.log(m);
    else process.stderr.write(`${m}\n`);
  };
  const dir = await fs.mkdtemp(join(tmpdir(), 'pi-bench-s3-'));
  const small = createHash('sha512').update('small').digest().subarray(0, 64);
  const smallBody = Buffer.alloc(4096);
  for (let i = 0; i < smallBody.length; i += 64) small.copy(smallBody, i);
  const large = Buffer.allocUnsafe(64 * MiB);
  let seed = createHash('sha256').update('large').digest();
  for (let off = 0; off < large.length; off += 32) {
    seed = createHash('sha256').update(seed).digest();
    seed.copy(large, off);
  }
  const results: Record<string, Record<string, Stats>> = {};
  try {
    log(`raw disk reference in ${dir} …`);
    results['raw'] = await rawDisk(join(dir, 'raw'), o, smallBody, large);
    log(`  ${JSON.stringify(results['raw'])}`);
    log('Pi: 3-node ring …');
    const pi = await startPi(join(dir, 'pi'), o.nodeProcesses, o.ringSize, o.piSse, o.piTls);
    try {
      results['pi'] = await workload(pi.target, o, smallBody, large);
      log(`  ${JSON.stringify(results['pi'])}`);
    } finally {
      await pi.stop();
    }
    if (!o.skipS3rver) {
      log('s3rver …');
      const s3rver = await startS3rver(join(dir, 's3rver'));
      try {
        results['s3rver'] = await workload(s3rver.target, o, smallBody, large);
        log(`  ${JSON.stringify(results['s3rver'])}`);
      } finally {
        await s3rver.stop();
      }
    }
  } finally {
    if (!o.keep) await fs.rm(dir, { recursive: true, force: true });
  }
  const pi = results['pi']!;
  const s3rver = results['s3rver'];
  const rawDiskStats = results['raw']!;
  const ratios: Record<string, number> = {
    largePutVsRaw: ratio(pi.largePut!.mibPerSec, rawDiskStats.largePut!.mibPerSec),
    largeGetVsRaw: ratio(pi.largeGet!.mibPerSec, rawDiskStats.largeGet!.mibPerSec),
  };
  if (s3rver) {
    ratios['smallPutVsS3rver'] = ratio(pi.smallPut!.opsPerSec, s3rver.smallPut!.opsPerSec);
    ratios['smallGetVsS3rver'] = ratio(pi.smallGet!.opsPerSec, s3rver.smallGet!.opsPerSec);
    ratios['largePutVsS3rver'] = ratio(pi.largePut!.mibPerSec, s3rver.largePut!.mibPerSec);
    ratios['largeGetVsS3rver'] = ratio(pi.largeGet!.mibPerSec, s3rver.largeGet!.mibPerSec);
  }
  const floors = {
    smallPutAtLeast3xS3rver: s3rver ? ratios['smallPutVsS3rver']! >= 3 : null,
    smallGetAtLeast3xS3rver: s3rver ? ratios['smallGetVsS3rver']! >= 3 : null,
    largeGetAtLeast30PercentOfRaw: ratios['largeGetVsRaw']! >= 0.3,
  };
  const report = {
    config: {
      client: 'lean SigV4 client (UNSIGNED-PAYLOAD) on bench/lean-http.ts: keep-alive, responses read into one reused buffer per connection; the same for every target (HTTPS: node:https)',
      pi: `${o.ringSize} node${o.ringSize === 1 ? ' (diagnostic: no replication)' : 's'} ${o.nodeProcesses === 1 ? 'in one process' : 'each its own `pi start` process'} (insecure transport), s3 defaults (4 MiB chunks, 3 copies, write quorum 2, 64 KiB inline), DHT defaults (replicas 4, write and read quorum 3: 2 of 3 on a 3-node ring)${o.piSse ? '; bucket encrypted by default with SSE-S3' : ''}${o.piTls ? '; endpoints over HTTPS' : ''}`,
      s3rver: 's3rver 3.7.1 in its own process, filesystem backend',
      serverEnv: MALLOC_ENV,
      raw: 'fs write streams + fsync, read back with fs read streams',
      warmUp: `${o.warmup} PUTs + ${o.warmup} GETs of 4 KiB per server target, not measured`,
      smallObjects: o.small,
      smallBytes: smallBody.length,
      clients: o.clients,
      largeObjects: o.large,
      largeBytes: large.length,
      largeClients: o.largeClients,
      cpus: (await import('node:os')).availableParallelism(),
    },
    pi,
    s3rver: s3rver ?? null,
    raw: rawDiskStats,
    ratios,
    floors,
  };
  if (o.json) console.log(JSON.stringify(report));
  else console.log(JSON.stringify(report, null, 2));
  process.exit(0);
}

await main();
