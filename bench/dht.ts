#!/usr/bin/env node
/**
 * `npm run bench:dht -- [--json] [--seconds S] [--clients C] [--workers W] [--skip-etcd] [--skip-redis]`
 *
 * Throughput and latency of the DHT against etcd and redis, on this machine, same workload shape:
 *
 * - Pi: a ring of 8 nodes over loopback TCP, each on its own LMDB directory (temp), replicas 4,
 *   write quorum 3, read quorum 3. The nodes run in `--workers` worker threads (default 1: on the
 *   shared 2-core machine one thread measured faster than two, which pay a context switch on
 *   every cross-thread hop; LMDB commits run on lmdb's own threads either way), and every worker
 *   also runs its share of the clients against its own nodes, as applications on those nodes
 *   would. A write is acknowledged after 3 replicas committed it to LMDB (fsync).
 * - etcd: a 3-member cluster on loopback (Debian's etcd-server, started here, data in a temp dir),
 *   driven through its HTTP/JSON gateway with keep-alive (Node's fetch). A write is acknowledged
 *   after the raft majority (2 of 3) fsynced it to the WAL.
 * - redis: one redis-server, appendonly yes, appendfsync everysec (acknowledged before the fsync;
 *   up to a second of writes can be lost), driven over RESP with one connection per client.
 *
 * Phases, each `--seconds` long after a short warm-up, with `--clients` concurrent clients that
 * each issue one operation at a time: put (new keys, ~100-byte JSON values), get (random existing
 * keys), update (read, then a conditional write on the version read — Dht.update, an etcd txn on
 * mod_revision, a redis Lua compare-and-set — retried on conflict).
 *
 * etcd and redis are installed with apt-get when missing. Every process and temp dir is removed
 * at the end. Prints one JSON object with all figures and the ratios Pi/etcd and Pi/redis.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Id, Scope, idFor } from '../src/id/index.ts';
import { LogStore, MemoryLogger, RealEnv } from '../src/env/index.ts';
import { TcpTransport } from '../src/transport/index.ts';
import { PastryNode } from '../src/overlay/index.ts';
import { Dht, openNodeStorage } from '../src/dht/index.ts';
import type { Entity, LmdbStorage } from '../src/dht/index.ts';

const PAD = 'x'.repeat(60);
const NODES = 8;

interface PhaseResult {
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

interface SystemResult {
  /** At saturation (`--clients` concurrent clients). */
  put: PhaseResult;
  get: PhaseResult;
  update: PhaseResult;
  /** At light load (`--light-clients` concurrent clients): latency without queueing. */
  light: { put: PhaseResult; get: PhaseResult; update: PhaseResult };
  [extra: string]: unknown;
}

/** One operation kind for one client: `seq` counts that client's operations. */
type Op = (client: number, seq: number) => Promise<void>;

interface Lat {
  samples: Float64Array;
  n: number;
}

/** Runs `op` from `clients` concurrent loops for `seconds`; returns counts and latencies. */
async function drive(clients: number, seconds: number, op: Op, clientBase = 0): Promise<{ ops: number; errors: number; lat: Lat; elapsedMs: number }> {
  const lat: Lat = { samples: new Float64Array(1_000_000), n: 0 };
  let ops = 0;
  let errors = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let seq = 0;
      while (performance.now() < end) {
        const t = performance.now();
        try {
          await op(clientBase + c, seq++);
          ops++;
          if (lat.n < lat.samples.length) lat.samples[lat.n++] = performance.now() - t;
        } catch {
          errors++;
        }
      }
    }),
  );
  return { ops, errors, lat, elapsedMs: performance.now() - start };
}

function summarize(parts: { ops: number; errors: number; lat: Lat; elapsedMs: number }[]): PhaseResult {
  const ops = parts.reduce((a, p) => a + p.ops, 0);
  const errors = parts.reduce((a, p) => a + p.errors, 0);
  const elapsed = Math.max(...parts.map((p) => p.elapsedMs));
  const all = new Float64Array(parts.reduce((a, p) => a + p.lat.n, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p.lat.samples.subarray(0, p.lat.n), o);
    o += p.lat.n;
  }
  all.sort();
  const pct = (q: number): number => (all.length === 0 ? 0 : round(all[Math.min(all.length - 1, Math.floor(q * all.length))]!, 3));
  return { ops, opsPerSec: Math.round((ops / elapsed) * 1000), p50Ms: pct(0.5), p99Ms: pct(0.99), errors };
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

/** Keys are numbered per client: client c's n-th put writes key c * 10^7 + n. */
function keyOf(client: number, n: number): number {
  return client * 10_000_000 + n;
}

function value(k: number, n = 0): string {
  return JSON.stringify({ type: 'bench', k, n, pad: PAD });
}

/** Per-client count of keys written so far (client c's keys are keyOf(c, 0..n-1)). */
type Written = Map<number, number>;

interface Phases {
  put: Awaited<ReturnType<typeof drive>>;
  get: Awaited<ReturnType<typeof drive>>;
  update: Awaited<ReturnType<typeof drive>>;
}

/**
 * Runs the three phases against one system with `clients` concurrent clients numbered from
 * `clientBase`: put (new keys), get and update (random keys written so far).
 */
async function phases(o: Options, written: Written, clients: number, warmup: number, put: Op, get: (k: number) => Promise<void>, update: (k: number) => Promise<void>, clientBase = 0): Promise<Phases> {
  // Each client writes new keys, numbered on across phases.
  const putOp: Op = async (c) => {
    const n = written.get(c) ?? 0;
    await put(c, n);
    written.set(c, n + 1);
  };
  const owners = [...written.keys()];
  const randomKey = (): number => {
    for (;;) {
      const all = owners.length > 0 ? owners : [...written.keys()];
      const c = all[Math.floor(Math.random() * all.length)]!;
      const n = written.get(c) ?? 0;
      if (n > 0) return keyOf(c, Math.floor(Math.random() * n));
    }
  };
  if (warmup > 0) await drive(clients, warmup, putOp, clientBase);
  const p = await drive(clients, o.seconds, putOp, clientBase);
  owners.push(...[...written.keys()].filter((c) => !owners.includes(c)));
  const g = await drive(clients, o.seconds, () => get(randomKey()), clientBase);
  const u = await drive(clients, o.seconds, () => update(randomKey()), clientBase);
  return { put: p, get: g, update: u };
}

/** Saturation (`clients`) then light load (`lightClients`), same operations. */
async function loads(o: Options, clientBase: number, clients: number, lightClients: number, put: Op, get: (k: number) => Promise<void>, update: (k: number) => Promise<void>): Promise<{ heavy: Phases; light: Phases }> {
  const written: Written = new Map();
  const heavy = await phases(o, written, clients, o.warmup, put, get, update, clientBase);
  // Light-load clients get numbers of their own (their puts create new keys too).
  const light = await phases(o, written, lightClients, 0, put, get, update, clientBase + 1000);
  return { heavy, light };
}

function result(r: { heavy: Phases; light: Phases }[]): Pick<SystemResult, 'put' | 'get' | 'update' | 'light'> {
  return {
    put: summarize(r.map((x) => x.heavy.put)),
    get: summarize(r.map((x) => x.heavy.get)),
    update: summarize(r.map((x) => x.heavy.update)),
    light: {
      put: summarize(r.map((x) => x.light.put)),
      get: summarize(r.map((x) => x.light.get)),
      update: summarize(r.map((x) => x.light.update)),
    },
  };
}

interface Options {
  seconds: number;
  warmup: number;
  clients: number;
  lightClients: number;
  workers: number;
}

// -----------------------------------------------------------------------------------------------
// Pi

interface PiWorkerData {
  index: number;
  nodes: number;
  dir: string;
  options: Options;
  clientBase: number;
  clients: number;
  lightClients: number;
}

interface BenchDoc extends Entity {
  k: number;
  n: number;
  pad: string;
}

/** A worker: starts its nodes (joining through `bootstrap`), then runs its clients on them. */
async function piWorker(data: PiWorkerData): Promise<void> {
  const port = parentPort!;
  const nodes: { dht: Dht; pastry: PastryNode; transport: TcpTransport; storage: LmdbStorage }[] = [];
  const wait = (type: string): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const on = (m: Record<string, unknown>): void => {
        if (m['type'] === type) {
          port.off('message', on);
          resolve(m);
        }
      };
      port.on('message', on);
    });
  const { bootstrap } = (await wait('start')) as { bootstrap: string | undefined };
  let first = bootstrap;
  for (let i = 0; i < data.nodes; i++) {
    const env = new RealEnv({ logger: new MemoryLogger(new LogStore(100, () => Date.now()), 'error') });
    const { nodeId, storage } = await openNodeStorage(join(data.dir, `node-${data.index}-${i}`), { createId: () => Id.fromBytes(env.random.bytes(20)) });
    const transport = await TcpTransport.listen({ env, host: '127.0.0.1', port: 0, nodeId });
    const pastry = new PastryNode(env, transport, nodeId);
    const dht = new Dht({ env, node: pastry, storage });
    if (first === undefined) {
      pastry.createRing();
      first = transport.address;
    } else {
      await pastry.join([first]);
    }
    nodes.push({ dht, pastry, transport, storage });
  }
  port.postMessage({ type: 'up', address: first });
  await wait('go');
  // Each client works through one node of this worker (as an application on it would).
  const dhtOf = (c: number): Dht => nodes[c % nodes.length]!.dht;
  const ids = new Map<number, Id>();
  const idOf = (k: number): Id => {
    let id = ids.get(k);
    if (!id) ids.set(k, (id = idFor(`bench:${k}`, Scope.GLOBAL)));
    return id;
  };
  const r = await loads(
    data.options,
    data.clientBase,
    data.clients,
    data.lightClients,
    async (c, seq) => {
      const k = keyOf(c, seq);
      await dhtOf(c).put<BenchDoc>(idOf(k), { type: 'bench', k, n: 0, pad: PAD });
    },
    async (k) => {
      const rec = await nodes[k % nodes.length]!.dht.get(idOf(k));
      if (!rec) throw new Error('missing');
    },
    async (k) => {
      await nodes[k % nodes.length]!.dht.update<BenchDoc>(idOf(k), (cur) => ({ ...cur!.body, n: cur!.body.n + 1 }), { retries: 100 });
    },
  );
  const strip = (x: Awaited<ReturnType<typeof drive>>): unknown => ({ ops: x.ops, errors: x.errors, elapsedMs: x.elapsedMs, lat: Array.from(x.lat.samples.subarray(0, x.lat.n)) });
  const stripAll = (p: Phases): unknown => ({ put: strip(p.put), get: strip(p.get), update: strip(p.update) });
  const stats = { fastWrites: 0, retries: 0, updateConflicts: 0 };
  for (const n of nodes) {
    stats.fastWrites += n.dht.stats.fastWrites;
    stats.retries += n.dht.stats.retries;
    stats.updateConflicts += n.dht.stats.updateConflicts;
  }
  port.postMessage({ type: 'result', heavy: stripAll(r.heavy), light: stripAll(r.light), stats });
  await wait('stop');
  for (const n of nodes) {
    n.dht.close();
    n.pastry.stop();
  }
  for (const n of nodes) {
    await n.transport.close();
    await n.storage.close();
  }
  port.postMessage({ type: 'stopped' });
}

async function benchPi(o: Options): Promise<SystemResult> {
  const dir = mkdtempSync(join(tmpdir(), 'pi-bench-dht-'));
  const workers: Worker[] = [];
  try {
    const per = NODES / o.workers;
    const messages = new Map<Worker, Record<string, unknown>[]>();
    const next = (w: Worker, type: string): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const on = (m: Record<string, unknown>): void => {
          if (m['type'] === type) {
            w.off('message', on);
            resolve(m);
          }
        };
        w.on('message', on);
        w.once('error', reject);
      });
    const clientsPer = Math.ceil(o.clients / o.workers);
    const lightPer = Math.max(1, Math.ceil(o.lightClients / o.workers));
    // Workers load this file through tsx, as the main thread did.
    const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); });`;
    for (let i = 0; i < o.workers; i++) {
      const data: PiWorkerData = { index: i, nodes: per, dir, options: o, clientBase: i * clientsPer, clients: clientsPer, lightClients: lightPer };
      // A larger young generation (64 MiB semi-spaces): far fewer short-lived objects promoted
      // and collected by mark-compact pauses, which set the light-load p99 otherwise.
      const w = new Worker(boot, { eval: true, workerData: data, resourceLimits: { maxYoungGenerationSizeMb: 192 } });
      messages.set(w, []);
      workers.push(w);
    }
    // Start the ring in worker 0, then the others join through its first node.
    workers[0]!.postMessage({ type: 'start', bootstrap: undefined });
    const up0 = await next(workers[0]!, 'up');
    for (const w of workers.slice(1)) {
      w.postMessage({ type: 'start', bootstrap: up0['address'] });
      await next(w, 'up');
    }
    // Let leaf sets settle before measuring.
    await new Promise((r) => setTimeout(r, 2000));
    const results = workers.map((w) => next(w, 'result'));
    for (const w of workers) w.postMessage({ type: 'go' });
    const all = await Promise.all(results);
    const stopped = workers.map((w) => next(w, 'stopped'));
    for (const w of workers) w.postMessage({ type: 'stop' });
    await Promise.all(stopped);
    const unpack = (x: { ops: number; errors: number; elapsedMs: number; lat: number[] }): Awaited<ReturnType<typeof drive>> => ({
      ops: x.ops,
      errors: x.errors,
      elapsedMs: x.elapsedMs,
      lat: { samples: Float64Array.from(x.lat), n: x.lat.length },
    });
    const phasesOf = (p: Record<string, never>): Phases => ({ put: unpack(p['put']), get: unpack(p['get']), update: unpack(p['update']) });
    const merged = result(all.map((r) => ({ heavy: phasesOf(r['heavy'] as Record<string, never>), light: phasesOf(r['light'] as Record<string, never>) })));
    const stats = all.map((r) => r['stats'] as Record<string, number>).reduce((a, s) => {
      for (const [k, v] of Object.entries(s)) a[k] = (a[k] ?? 0) + v;
      return a;
    }, {} as Record<string, number>);
    return { ...merged, nodes: NODES, workers: o.workers, durability: 'LMDB commit (fsync) on 3 of 4 replicas', stats };
  } finally {
    for (const w of workers) await w.terminate();
    rmSync(dir, { recursive: true, force: true });
  }
}

// -----------------------------------------------------------------------------------------------
// etcd

function ensureInstalled(binary: string, packages: string[]): void {
  if (spawnSync('which', [binary]).status === 0) return;
  console.error(`${binary} missing: apt-get install -y ${packages.join(' ')}`);
  let r = spawnSync('apt-get', ['install', '-y', ...packages], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'] });
    r = spawnSync('apt-get', ['install', '-y', ...packages], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  if (r.status !== 0 || spawnSync('which', [binary]).status !== 0) throw new Error(`could not install ${packages.join(' ')}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`${what} did not come up within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every server started here, killed if the benchmark is interrupted. */
const children = new Set<ChildProcess>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(130);
  });
}
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function track(p: ChildProcess): ChildProcess {
  children.add(p);
  p.once('exit', () => children.delete(p));
  return p;
}

function stopProcess(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function benchEtcd(o: Options): Promise<SystemResult> {
  ensureInstalled('etcd', ['etcd-server', 'etcd-client']);
  const dir = mkdtempSync(join(tmpdir(), 'etcd-bench-'));
  const procs: ChildProcess[] = [];
  try {
    const members = [];
    for (let i = 0; i < 3; i++) members.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
    const cluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
    for (const m of members) {
      const p = track(spawn(
        'etcd',
        [
          '--name', m.name,
          '--data-dir', join(dir, m.name),
          '--listen-client-urls', `http://127.0.0.1:${m.client}`,
          '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
          '--listen-peer-urls', `http://127.0.0.1:${m.peer}`,
          '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
          '--initial-cluster', cluster,
          '--initial-cluster-state', 'new',
          '--initial-cluster-token', 'pi-bench',
          '--log-level', 'error',
        ],
        { stdio: ['ignore', 'ignore', 'ignore'] },
      ));
      procs.push(p);
    }
    const urls = members.map((m) => `http://127.0.0.1:${m.client}`);
    for (const u of urls) await waitUntil('etcd member', async () => ((await (await fetch(`${u}/health`)).json()) as { health: string }).health === 'true');
    const call = async (c: number, path: string, body: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(`${urls[c % urls.length]}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      if (res.status !== 200) throw new Error(`etcd ${path}: ${res.status}`);
      return (await res.json()) as Record<string, unknown>;
    };
    const r = await loads(
      o,
      0,
      o.clients,
      o.lightClients,
      async (c, seq) => {
        const k = keyOf(c, seq);
        await call(c, '/v3/kv/put', { key: b64(`bench:${k}`), value: b64(value(k)) });
      },
      async (k) => {
        const res = await call(k, '/v3/kv/range', { key: b64(`bench:${k}`) });
        if (!res['kvs']) throw new Error('missing');
      },
      async (k) => {
        const key = b64(`bench:${k}`);
        for (let attempt = 0; attempt < 100; attempt++) {
          const res = await call(k, '/v3/kv/range', { key });
          const kv = (res['kvs'] as { mod_revision: string; value: string }[])[0]!;
          const doc = JSON.parse(Buffer.from(kv.value, 'base64').toString()) as { n: number };
          const txn = await call(k + attempt, '/v3/kv/txn', {
            compare: [{ key, target: 'MOD', result: 'EQUAL', mod_revision: kv.mod_revision }],
            success: [{ request_put: { key, value: b64(value(k, doc.n + 1)) } }],
          });
          if (txn['succeeded']) return;
        }
        throw new Error('conflict');
      },
    );
    return { ...result([r]), members: 3, durability: 'raft majority fsync (2 of 3)' };
  } finally {
    await Promise.all(procs.map(stopProcess));
    rmSync(dir, { recursive: true, force: true });
  }
}

// -----------------------------------------------------------------------------------------------
// redis

type RespValue = string | number | null | RespValue[] | Error;

/** A minimal RESP2 client: one connection, requests answered in order. */
class Resp {
  private buf: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  private readonly waiting: { resolve: (v: RespValue) => void; reject: (e: Error) => void }[] = [];

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => {
      for (const w of this.waiting.splice(0)) w.reject(e);
    });
  }

  static connect(port: number): Promise<Resp> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Resp(s)));
      s.once('error', reject);
    });
  }

  call(...args: string[]): Promise<RespValue> {
    let out = `*${args.length}\r\n`;
    for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(out);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const r = this.parse(0);
      if (!r) return;
      this.buf = this.buf.subarray(r.end);
      const w = this.waiting.shift();
      if (!w) continue;
      if (r.value instanceof Error) w.reject(r.value);
      else w.resolve(r.value);
    }
  }

  private parse(at: number): { value: RespValue; end: number } | undefined {
    const nl = this.buf.indexOf('\r\n', at);
    if (nl < 0) return undefined;
    const type = String.fromCharCode(this.buf[at]!);
    const line = this.buf.toString('utf8', at + 1, nl);
    switch (type) {
      case '+':
        return { value: line, end: nl + 2 };
      case '-':
        return { value: new Error(line), end: nl + 2 };
      case ':':
        return { value: Number(line), end: nl + 2 };
      case '$': {
        const len = Number(line);
        if (len < 0) return { value: null, end: nl + 2 };
        if (this.buf.length < nl + 2 + len + 2) return undefined;
        return { value: this.buf.toString('utf8', nl + 2, nl + 2 + len), end: nl + 2 + len + 2 };
      }
      case '*': {
        const n = Number(line);
        if (n < 0) return { value: null, end: nl + 2 };
        const items: RespValue[] = [];
        let pos = nl + 2;
        for (let i = 0; i < n; i++) {
          const r = this.parse(pos);
          if (!r) return undefined;
          items.push(r.value);
          pos = r.end;
        }
        return { value: items, end: pos };
      }
      default:
        throw new Error(`unexpected RESP type ${type}`);
    }
  }
}

const CAS = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";

async function benchRedis(o: Options): Promise<SystemResult> {
  ensureInstalled('redis-server', ['redis-server']);
  const dir = mkdtempSync(join(tmpdir(), 'redis-bench-'));
  const port = await freePort();
  const proc = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--dir', dir, '--daemonize', 'no'], {
    stdio: ['ignore', 'ignore', 'ignore'],
  }));
  const conns: Resp[] = [];
  try {
    await waitUntil('redis', async () => {
      const c = await Resp.connect(port);
      const pong = await c.call('PING');
      c.close();
      return pong === 'PONG';
    });
    for (let i = 0; i < o.clients; i++) conns.push(await Resp.connect(port));
    // Light-load clients are numbered from 1000.
    for (let i = 0; i < o.lightClients; i++) conns[1000 + i] = await Resp.connect(port);
    const sha = (await conns[0]!.call('SCRIPT', 'LOAD', CAS)) as string;
    // Gets and updates pick a connection by key; give each its own queue by client instead.
    let rr = 0;
    const anyConn = (): Resp => conns[rr++ % o.clients]!;
    const r = await loads(
      o,
      0,
      o.clients,
      o.lightClients,
      async (c, seq) => {
        const k = keyOf(c, seq);
        await conns[c]!.call('SET', `bench:${k}`, value(k));
      },
      async (k) => {
        if ((await anyConn().call('GET', `bench:${k}`)) === null) throw new Error('missing');
      },
      async (k) => {
        const conn = anyConn();
        for (let attempt = 0; attempt < 100; attempt++) {
          const cur = (await conn.call('GET', `bench:${k}`)) as string;
          const doc = JSON.parse(cur) as { n: number };
          if ((await conn.call('EVALSHA', sha, '1', `bench:${k}`, cur, value(k, doc.n + 1))) === 1) return;
        }
        throw new Error('conflict');
      },
    );
    return { ...result([r]), durability: 'appendonly, appendfsync everysec' };
  } finally {
    for (const c of conns) c?.close();
    await stopProcess(proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

// -----------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      seconds: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '2' },
      clients: { type: 'string', default: '64' },
      'light-clients': { type: 'string', default: '4' },
      workers: { type: 'string', default: '1' },
      'skip-etcd': { type: 'boolean', default: false },
      'skip-redis': { type: 'boolean', default: false },
    },
  });
  const o: Options = {
    seconds: Number(values.seconds),
    warmup: Number(values.warmup),
    clients: Number(values.clients),
    lightClients: Number(values['light-clients']),
    workers: Number(values.workers),
  };
  if (![1, 2, 4, 8].includes(o.workers)) throw new Error('--workers must divide 8 nodes: 1, 2, 4 or 8');
  const log = (msg: string): void => {
    if (!values.json) console.log(msg);
  };
  const out: Record<string, unknown> = { clients: o.clients, lightClients: o.lightClients, seconds: o.seconds, loadAverage: (await import('node:os')).loadavg()[0] };
  log('Pi …');
  const pi = await benchPi(o);
  out['pi'] = pi;
  log(JSON.stringify(pi));
  const ratios: Record<string, number> = {};
  const ratio = (name: string, other: SystemResult): void => {
    ratios[`${name}PutThroughput`] = round(pi.put.opsPerSec / other.put.opsPerSec, 2);
    ratios[`${name}GetThroughput`] = round(pi.get.opsPerSec / other.get.opsPerSec, 2);
    ratios[`${name}UpdateThroughput`] = round(pi.update.opsPerSec / other.update.opsPerSec, 2);
    ratios[`${name}GetP99`] = round(pi.get.p99Ms / other.get.p99Ms, 2);
    ratios[`${name}PutP99`] = round(pi.put.p99Ms / other.put.p99Ms, 2);
    ratios[`${name}LightGetP99`] = round(pi.light.get.p99Ms / other.light.get.p99Ms, 2);
    ratios[`${name}LightPutP99`] = round(pi.light.put.p99Ms / other.light.put.p99Ms, 2);
  };
  if (!values['skip-etcd']) {
    log('etcd …');
    const etcd = await benchEtcd(o);
    out['etcd'] = etcd;
    log(JSON.stringify(etcd));
    ratio('piOverEtcd', etcd);
  }
  if (!values['skip-redis']) {
    log('redis …');
    const redis = await benchRedis(o);
    out['redis'] = redis;
    log(JSON.stringify(redis));
    ratio('piOverRedis', redis);
  }
  out['ratios'] = ratios;
  out['floors'] = {
    piPutAtLeastEtcd: out['etcd'] ? pi.put.opsPerSec >= (out['etcd'] as SystemResult).put.opsPerSec : null,
    piGetP99Under5msLightLoad: pi.light.get.p99Ms < 5,
    piGetP99Under5msSaturated: pi.get.p99Ms < 5,
  };
  console.log(JSON.stringify(out, null, values.json ? 0 : 2));
}

if (isMainThread) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  void piWorker(workerData as PiWorkerData);
}
