#!/usr/bin/env node
/**
 * `npm run chaos:dht -- [--json] [--only NAME] [--seed S] [--churn-nodes N] [--churn-minutes M]`:
 * the DHT under faults, in virtual time, from fixed seeds. Scenarios:
 *
 * - `concurrent-counters`: 50 clients increment 10 counters concurrently (1% message loss);
 *   every counter must end at exactly the number of acknowledged increments.
 * - `crash-replica-pairs`: two members of a replica set crash at once, repeatedly, under load.
 * - `rolling-restart`: every node is restarted in turn on its own storage, under load.
 * - `partition-heal`: the ring is split in two for a while, writers go on on both sides, then it
 *   heals and must converge.
 * - `churn-1000`: 1,000 nodes, churn at the simulator's default rate (mean session 30 minutes,
 *   20% of departures crashes) for 2 simulated hours with steady writes.
 *
 * Every scenario reports acknowledged writes, lost writes (acknowledged but not read back at the
 * end), stale reads (a read older than a write acknowledged before it started), and more. The
 * helpers are exported for the tests.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Command } from 'commander';
import { positiveInt } from './cli-args.ts';
import { Id, compareCloseness, idFor, Scope } from '../id/index.ts';
import { drainMicrotasks, peakRssMB, startStopwatch } from '../env/index.ts';
import type { SimNetworkOptions } from '../transport/index.ts';
import type { OverlayOptions } from '../overlay/index.ts';
import { Dht, MemoryStorage } from '../dht/index.ts';
import type { DhtOptions, DhtRecord, Entity } from '../dht/index.ts';
import { SimRing } from './ring.ts';
import type { SimNode } from './ring.ts';

// -----------------------------------------------------------------------------------------------
// A simulated ring with a DHT on every node

/** Options of a {@link DhtSim}. */
export interface DhtSimOptions {
  seed: string | number;
  dht?: Partial<DhtOptions>;
  network?: SimNetworkOptions;
  overlay?: Partial<OverlayOptions>;
  logCapacity?: number;
  /**
   * Default step of {@link DhtSim.run} / {@link DhtSim.settle}: 0 runs promise continuations
   * after every event (exact); a few ms runs events in synchronous steps (faster).
   */
  stepMs?: number;
}

/** A {@link SimRing} whose nodes each run a {@link Dht} on a memory engine that survives restarts. */
export class DhtSim {
  readonly ring: SimRing;
  /** Each node id's storage: a restarted node finds its records again (its "disk"). */
  readonly disks = new Map<string, MemoryStorage>();

  constructor(readonly options: DhtSimOptions) {
    this.ring = new SimRing({ seed: options.seed, network: options.network, overlay: options.overlay, logCapacity: options.logCapacity ?? 2000 });
    this.ring.onNodeCreated((node) => {
      let disk = this.disks.get(node.id.hex);
      if (!disk) this.disks.set(node.id.hex, (disk = new MemoryStorage()));
      node.attachments.set('dht', new Dht({ env: node.env, node: node.pastry, storage: disk, options: options.dht }));
    });
  }

  dht(node: SimNode): Dht {
    return node.attachments.get('dht') as Dht;
  }

  now(): number {
    return this.ring.now();
  }

  /** Runs virtual time until `promise` settles (or `timeoutMs` pass: then it rejects). */
  async settle<T>(promise: Promise<T>, timeoutMs = 120_000, stepMs = this.options.stepMs ?? 0): Promise<T> {
    let done = false;
    let value: T | undefined;
    let error: unknown;
    promise.then(
      (v) => {
        done = true;
        value = v;
      },
      (e: unknown) => {
        done = true;
        error = e;
      },
    );
    if (!(await this.runUntil(() => done, timeoutMs, stepMs))) throw new Error(`operation not settled within ${timeoutMs} ms of virtual time`);
    if (error !== undefined) throw error;
    return value as T;
  }

  /**
   * Runs `ms` of virtual time. With `stepMs`, events run synchronously in steps of that size and
   * promise continuations run between steps (much faster for big rings; continuations then run
   * up to `stepMs` late, deterministically).
   */
  async run(ms: number, stepMs = this.options.stepMs ?? 0): Promise<void> {
    if (stepMs <= 0) return this.ring.runFor(ms);
    const end = this.ring.now() + ms;
    while (this.ring.now() < end) {
      this.ring.scheduler.runUntilSync(Math.min(end, this.ring.now() + stepMs));
      await drainMicrotasks();
    }
  }

  /** Runs until `cond` holds, in steps (see {@link run}); false if `timeoutMs` passed first. */
  async runUntil(cond: () => boolean, timeoutMs: number, stepMs = this.options.stepMs ?? 0): Promise<boolean> {
    if (stepMs <= 0) {
      try {
        await this.ring.runUntil(cond, timeoutMs);
        return true;
      } catch {
        return false;
      }
    }
    const end = this.ring.now() + timeoutMs;
    while (!cond()) {
      if (this.ring.now() >= end) return false;
      this.ring.scheduler.runUntilSync(Math.min(end, this.ring.now() + stepMs));
      await drainMicrotasks();
    }
    return true;
  }

  /** Graceful leave: hand records off, then leave the overlay. */
  async leave(node: SimNode): Promise<void> {
    const dht = this.dht(node);
    await dht.handOff();
    dht.close();
    this.ring.leave(node);
  }

  /** The `n` live nodes closest to `key` (the true replica set). */
  trueReplicaSet(key: Id, n: number, live: SimNode[] = this.ring.live()): SimNode[] {
    return closestNodes(key, live, n);
  }
}

/** The `n` of `nodes` closest to `key` (sorted by id once for many keys: see {@link SortedNodes}). */
function closestNodes(key: Id, nodes: SimNode[], n: number): SimNode[] {
  return nodes
    .slice()
    .sort((a, b) => compareCloseness(key, a.id, b.id))
    .slice(0, n);
}

/** Live nodes sorted by id, for finding many keys' replica sets quickly. */
export class SortedNodes {
  private readonly nodes: SimNode[];
  constructor(nodes: SimNode[]) {
    this.nodes = nodes.slice().sort((a, b) => a.id.compare(b.id));
  }

  closest(key: Id, n: number): SimNode[] {
    const arr = this.nodes;
    if (arr.length <= 2 * n + 1) return closestNodes(key, arr, n);
    let lo = 0;
    let hi = arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (arr[mid]!.id.compare(key) < 0) lo = mid + 1;
      else hi = mid;
    }
    const candidates: SimNode[] = [];
    for (let i = -n; i < n; i++) candidates.push(arr[(lo + i + arr.length) % arr.length]!);
    return closestNodes(key, candidates, n);
  }
}

// -----------------------------------------------------------------------------------------------
// Bookkeeping of acknowledged writes and reads

/** What a scenario reports. */
export interface ScenarioReport {
  name: string;
  seed: string | number;
  nodes: number;
  ackedWrites: number;
  /** Acknowledged writes not found at the end (must be 0). */
  lostWrites: number;
  /** Writes whose outcome the client never learned (timeouts, client node gone). */
  ambiguousWrites: number;
  /** Applied increments that were never acknowledged (at most ambiguousWrites). */
  unacknowledgedApplied: number;
  /** Writes refused definitively (version conflicts after all retries). */
  failedWrites: number;
  reads: number;
  /** Reads that returned a version older than one acknowledged before the read began. */
  staleReads: number;
  failedReads: number;
  /** Keys whose true replica set all hold the latest version at the end. */
  fullStrengthShare: number;
  keys: number;
  crashes: number;
  restarts: number;
  leaves: number;
  joins: number;
  simulatedSeconds: number;
  wallSeconds: number;
  messages: number;
  [extra: string]: unknown;
}

/** Per-key record of what was acknowledged. */
class Ledger {
  /** Highest acknowledged version and its payload, per key hex. */
  readonly acked = new Map<string, { version: number; n: number }>();
  /** Acknowledged increments per counter key. */
  readonly increments = new Map<string, number>();
  ackedWrites = 0;
  ambiguous = 0;
  /** Ambiguous outcomes by error code. */
  readonly ambiguousBy: Record<string, number> = {};
  failed = 0;
  reads = 0;
  staleReads = 0;
  failedReads = 0;

  ack(key: Id, version: number, n: number): void {
    this.ackedWrites++;
    const cur = this.acked.get(key.hex);
    if (!cur || version > cur.version) this.acked.set(key.hex, { version, n });
  }

  ackIncrement(key: Id, record: DhtRecord): void {
    this.ack(key, record.version, (record.body as { n: number }).n);
    this.increments.set(key.hex, (this.increments.get(key.hex) ?? 0) + 1);
  }

  unknown(err: unknown): void {
    this.ambiguous++;
    const code = (err as { code?: string }).code ?? 'Error';
    this.ambiguousBy[code] = (this.ambiguousBy[code] ?? 0) + 1;
  }

  versionOf(key: Id): number {
    return this.acked.get(key.hex)?.version ?? 0;
  }
}

interface CounterBody extends Entity {
  n: number;
}

/** Settles `p`, or gives up after `ms` of virtual time on the ring's own (never halted) clock. */
function withDeadline<T>(sim: DhtSim, p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = sim.ring.env.setTimeout(() => reject(Object.assign(new Error('client gave up'), { code: 'ClientDeadline' })), ms);
    p.then(
      (v) => {
        timer.cancel();
        resolve(v);
      },
      (e: unknown) => {
        timer.cancel();
        reject(e as Error);
      },
    );
  });
}

/** Options of the counter workload. */
interface CounterWorkload {
  clients: number;
  counters: Id[];
  incrementsPerClient: number;
  readers: number;
  readsPerReader: number;
  /** Mean pause between a client's operations (ms). */
  thinkMs: number;
  /** Nodes that must not run client operations right now (draining for a restart). */
  avoid?: Set<SimNode>;
  /** Nodes client operations run on (default: any live node). */
  clientNodes?: SimNode[];
  /** Stops issuing operations once this holds. */
  stop?: () => boolean;
}

/** Tracks client operations in flight per node (to drain a node before restarting it). */
class InFlight {
  private readonly byNode = new Map<SimNode, number>();
  enter(n: SimNode): void {
    this.byNode.set(n, (this.byNode.get(n) ?? 0) + 1);
  }
  leave(n: SimNode): void {
    this.byNode.set(n, (this.byNode.get(n) ?? 1) - 1);
  }
  on(n: SimNode): number {
    return this.byNode.get(n) ?? 0;
  }
}

/**
 * Clients incrementing counters with `update` and readers checking freshness. Resolves when every
 * client and reader has finished.
 */
function counterWorkload(sim: DhtSim, ledger: Ledger, w: CounterWorkload, inflight = new InFlight()): Promise<void> {
  const random = sim.ring.env.random.fork('workload');
  const pickNode = (): SimNode => {
    for (let i = 0; i < 100; i++) {
      const n = w.clientNodes ? random.pick(w.clientNodes) : sim.ring.randomLive();
      if (n.status === 'live' && !w.avoid?.has(n)) return n;
    }
    return sim.ring.randomLive();
  };
  const client = async (): Promise<void> => {
    for (let i = 0; i < w.incrementsPerClient; i++) {
      await sim.ring.env.sleep(random.exponential(w.thinkMs));
      if (w.stop?.()) return;
      const key = random.pick(w.counters);
      const node = pickNode();
      inflight.enter(node);
      try {
        const rec = await withDeadline(sim, sim.dht(node).update<CounterBody>(key, (cur) => ({ ...(cur?.body ?? { type: 'counter' }), n: (cur?.body.n ?? 0) + 1 }), { retries: 30 }), 90_000);
        if (rec) ledger.ackIncrement(key, rec);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'UpdateRetriesExhausted') ledger.failed++;
        else ledger.unknown(err);
      } finally {
        inflight.leave(node);
      }
    }
  };
  const reader = async (): Promise<void> => {
    for (let i = 0; i < w.readsPerReader; i++) {
      await sim.ring.env.sleep(random.exponential(w.thinkMs * 2));
      if (w.stop?.()) return;
      const key = random.pick(w.counters);
      const node = pickNode();
      const floor = ledger.versionOf(key);
      inflight.enter(node);
      try {
        const rec = await withDeadline(sim, sim.dht(node).get(key), 90_000);
        ledger.reads++;
        if ((rec?.version ?? 0) < floor) ledger.staleReads++;
      } catch {
        ledger.failedReads++;
      } finally {
        inflight.leave(node);
      }
    }
  };
  const all: Promise<void>[] = [];
  for (let i = 0; i < w.clients; i++) all.push(client());
  for (let i = 0; i < w.readers; i++) all.push(reader());
  return Promise.all(all).then(() => undefined);
}

/** Creates the counters (write-if-absent, n = 0). */
async function createCounters(sim: DhtSim, ledger: Ledger, count: number, label: string): Promise<Id[]> {
  const ids: Id[] = [];
  for (let i = 0; i < count; i++) {
    const id = idFor(`counter:${label}-${i}`, Scope.GLOBAL);
    const r = await sim.settle(sim.dht(sim.ring.randomLive()).writeIfAbsent<CounterBody>(id, { type: 'counter', url: `counter:${label}-${i}`, n: 0 }));
    ledger.ack(id, r.record.version, 0);
    ids.push(id);
  }
  return ids;
}

/**
 * Final check: reads every acknowledged key (quorum read from a live node) and compares with what
 * was acknowledged; also measures how many keys' true replica sets all hold the latest version.
 */
async function verify(sim: DhtSim, ledger: Ledger, stepMs = 0): Promise<{ lost: number; unackedApplied: number; fullStrengthShare: number; lostKeys: string[] }> {
  const replicas = sim.dht(sim.ring.randomLive()).options.replicas;
  let lost = 0;
  let unackedApplied = 0;
  const lostKeys: string[] = [];
  const results = new Map<string, DhtRecord | undefined>();
  const keys = [...ledger.acked.keys()];
  // Reads in parallel batches.
  for (let i = 0; i < keys.length; i += 50) {
    const batch = keys.slice(i, i + 50);
    const reads = batch.map((hex) => {
      const id = Id.parse(hex);
      return sim.dht(sim.ring.randomLive()).get(id).then(
        (r) => results.set(hex, r),
        () => results.set(hex, undefined),
      );
    });
    const all = Promise.all(reads);
    let done = false;
    void all.then(() => (done = true));
    await sim.runUntil(() => done, 120_000, stepMs);
  }
  for (const hex of keys) {
    const want = ledger.acked.get(hex)!;
    const got = results.get(hex);
    const version = got?.version ?? 0;
    const incs = ledger.increments.get(hex);
    if (incs !== undefined) {
      const n = (got?.body as { n?: number } | undefined)?.n ?? 0;
      if (n < incs) {
        lost += incs - n;
        lostKeys.push(hex);
      } else unackedApplied += n - incs;
    } else if (version < want.version || (version === want.version && (got?.body as { n?: number }).n !== want.n)) {
      lost += Math.max(1, want.version - version);
      lostKeys.push(hex);
    }
  }
  const sorted = new SortedNodes(sim.ring.live());
  let full = 0;
  for (const hex of keys) {
    const id = Id.parse(hex);
    const latest = Math.max(results.get(hex)?.version ?? 0, ledger.acked.get(hex)!.version);
    const set = sorted.closest(id, replicas);
    if (set.every((n) => (sim.dht(n).localGet(id)?.v ?? 0) >= latest)) full++;
  }
  return { lost, unackedApplied, fullStrengthShare: keys.length === 0 ? 1 : round(full / keys.length, 4), lostKeys };
}

function report(sim: DhtSim, name: string, ledger: Ledger, v: Awaited<ReturnType<typeof verify>>, extra: Partial<ScenarioReport> & { start: number; watch: { elapsedMs(): number } }): ScenarioReport {
  const { start, watch, ...rest } = extra;
  return {
    name,
    seed: sim.options.seed,
    nodes: sim.ring.liveCount,
    ackedWrites: ledger.ackedWrites,
    lostWrites: v.lost,
    ambiguousWrites: ledger.ambiguous,
    ...(ledger.ambiguous > 0 ? { ambiguousByCode: ledger.ambiguousBy } : {}),
    unacknowledgedApplied: v.unackedApplied,
    failedWrites: ledger.failed,
    reads: ledger.reads,
    staleReads: ledger.staleReads,
    failedReads: ledger.failedReads,
    fullStrengthShare: v.fullStrengthShare,
    keys: ledger.acked.size,
    crashes: 0,
    restarts: 0,
    leaves: 0,
    joins: 0,
    simulatedSeconds: round((sim.now() - start) / 1000, 1),
    wallSeconds: round(watch.elapsedMs() / 1000, 1),
    messages: sim.ring.network.stats.sent,
    ...(v.lostKeys.length > 0 ? { lostKeys: v.lostKeys.slice(0, 10) } : {}),
    ...rest,
  };
}

// -----------------------------------------------------------------------------------------------
// Scenarios

/** Options shared by the scenarios. */
export interface ScenarioOptions {
  seed?: string | number;
  nodes?: number;
}

/** 50 clients increment 10 counters concurrently over a lossy network. */
export async function concurrentCounters(o: ScenarioOptions & { clients?: number; counters?: number; increments?: number; loss?: number } = {}): Promise<ScenarioReport> {
  const watch = startStopwatch();
  const sim = new DhtSim({ seed: o.seed ?? 'counters', network: { codec: true } });
  await sim.ring.build(o.nodes ?? 24);
  await sim.run(2_000);
  const start = sim.now();
  const ledger = new Ledger();
  const counters = await createCounters(sim, ledger, o.counters ?? 10, 'c');
  sim.ring.network.setLoss(o.loss ?? 0.01);
  const work = counterWorkload(sim, ledger, { clients: o.clients ?? 50, counters, incrementsPerClient: o.increments ?? 10, readers: 10, readsPerReader: 20, thinkMs: 20 });
  await sim.settle(work, 600_000);
  sim.ring.network.setLoss(0);
  await sim.run(5_000);
  const v = await verify(sim, ledger);
  return report(sim, 'concurrent-counters', ledger, v, { start, watch });
}

/** Two members of a replica set crash at once, repeatedly, while clients write and read. */
export async function crashReplicaPairs(o: ScenarioOptions & { rounds?: number; clients?: number; thinkMs?: number } = {}): Promise<ScenarioReport> {
  const watch = startStopwatch();
  const sim = new DhtSim({ seed: o.seed ?? 'crash-pairs', network: { codec: true } });
  await sim.ring.build(o.nodes ?? 30);
  await sim.run(2_000);
  const start = sim.now();
  const ledger = new Ledger();
  const counters = await createCounters(sim, ledger, 10, 'p');
  // Clients run on a few nodes that stay up; every other node may crash.
  const clientNodes = sim.ring.live().slice(0, 6);
  let stop = false;
  const work = counterWorkload(sim, ledger, { clients: o.clients ?? 20, counters, incrementsPerClient: 1_000_000, readers: 5, readsPerReader: 1_000_000, thinkMs: o.thinkMs ?? 40, clientNodes, stop: () => stop });
  let crashes = 0;
  const random = sim.ring.env.random.fork('victims');
  for (let round = 0; round < (o.rounds ?? 5); round++) {
    await sim.run(3_000);
    const key = random.pick(counters);
    const victims = sim.trueReplicaSet(key, 4).filter((n) => !clientNodes.includes(n)).slice(0, 2);
    for (const v of victims) sim.ring.crash(v);
    crashes += victims.length;
    await sim.run(5_000);
  }
  stop = true;
  await sim.settle(work, 600_000);
  await sim.run(5_000);
  const v = await verify(sim, ledger);
  return report(sim, 'crash-replica-pairs', ledger, v, { start, watch, crashes });
}

/** Every node is crashed and restarted on its own storage in turn, under load. */
export async function rollingRestart(o: ScenarioOptions & { clients?: number; thinkMs?: number } = {}): Promise<ScenarioReport> {
  const watch = startStopwatch();
  const sim = new DhtSim({ seed: o.seed ?? 'rolling', network: { codec: true } });
  await sim.ring.build(o.nodes ?? 16);
  await sim.run(2_000);
  const start = sim.now();
  const ledger = new Ledger();
  const counters = await createCounters(sim, ledger, 10, 'r');
  const avoid = new Set<SimNode>();
  const inflight = new InFlight();
  let stop = false;
  const work = counterWorkload(sim, ledger, { clients: o.clients ?? 10, counters, incrementsPerClient: 1_000_000, readers: 3, readsPerReader: 1_000_000, thinkMs: o.thinkMs ?? 50, avoid, stop: () => stop }, inflight);
  let restarts = 0;
  for (const node of sim.ring.live()) {
    // Drain the node's own client operations first (a controlled restart), then crash it.
    avoid.add(node);
    await sim.runUntil(() => inflight.on(node) === 0, 30_000);
    sim.ring.crash(node);
    await sim.run(1_000);
    const fresh = sim.ring.restart(node);
    restarts++;
    await sim.runUntil(() => fresh.status !== 'joining', 30_000);
    avoid.delete(node);
    await sim.run(3_000);
  }
  stop = true;
  await sim.settle(work, 300_000);
  await sim.run(5_000);
  const v = await verify(sim, ledger);
  return report(sim, 'rolling-restart', ledger, v, { start, watch, restarts });
}

/** The ring splits in two; single-writer keys are written on both sides; it heals and converges. */
export async function partitionHeal(o: ScenarioOptions & { partitionMs?: number } = {}): Promise<ScenarioReport> {
  const watch = startStopwatch();
  const sim = new DhtSim({ seed: o.seed ?? 'partition', network: { codec: true }, dht: { antiEntropyIntervalMs: 10_000 } });
  await sim.ring.build(o.nodes ?? 40);
  await sim.run(2_000);
  const start = sim.now();
  const ledger = new Ledger();
  const live = sim.ring.live();
  const random = sim.ring.env.random.fork('writers');
  // One writer per key; the writer knows the version it last wrote (single writer), so a side
  // that lacks the key still writes the next version, which wins when the sides meet again.
  const writers = live.slice(0, 30).map((node, i) => ({ node, key: idFor(`doc:w${i}`, Scope.GLOBAL), version: 0, seq: 0 }));
  let stop = false;
  const writer = async (w: (typeof writers)[number]): Promise<void> => {
    while (!stop) {
      await sim.ring.env.sleep(random.exponential(300));
      if (stop) break;
      const seq = w.seq + 1;
      try {
        const rec = await withDeadline(sim, sim.dht(w.node).put(w.key, { type: 'doc', n: seq, version: w.version }), 90_000);
        w.version = rec.version;
        w.seq = seq;
        ledger.ack(w.key, rec.version, seq);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'VersionConflict') {
          // An earlier write whose answer was lost did apply: learn the version and go on.
          ledger.failed++;
          try {
            const cur = await withDeadline(sim, sim.dht(w.node).get(w.key), 90_000);
            if (cur) {
              w.version = cur.version;
              w.seq = Math.max(w.seq, (cur.body as { n: number }).n);
            }
          } catch {
            // next round
          }
        } else ledger.unknown(err);
      }
    }
  };
  const work = Promise.all(writers.map(writer));
  await sim.run(5_000);
  const sideA = live.filter((_, i) => i % 2 === 0).map((n) => n.addr);
  sim.ring.network.partition([sideA]);
  await sim.run(o.partitionMs ?? 20_000);
  sim.ring.network.heal();
  await sim.run(10_000);
  stop = true;
  await sim.settle(work, 300_000);
  const healed = await sim.runUntil(() => sim.ring.leafSetsConsistent().wrong === 0, 180_000);
  // Two anti-entropy periods for the replicas to converge.
  await sim.run(25_000);
  const v = await verify(sim, ledger);
  return report(sim, 'partition-heal', ledger, v, { start, watch, healed });
}

/** 1,000 nodes, churn at the default rate, steady writes, two simulated hours. */
export async function churn(o: ScenarioOptions & { minutes?: number; writesPerSecond?: number; sessionMinutes?: number; crashFraction?: number } = {}): Promise<ScenarioReport> {
  const watch = startStopwatch();
  const nodes = o.nodes ?? 1000;
  const step = 20;
  const sim = new DhtSim({ seed: o.seed ?? 'churn', logCapacity: 200 });
  sim.ring.buildSync(nodes);
  await sim.run(5_000, step);
  const start = sim.now();
  const end = start + (o.minutes ?? 120) * 60_000;
  const ledger = new Ledger();
  const random = sim.ring.env.random.fork('churn-workload');
  const churnRandom = sim.ring.env.random.fork('churn');
  const sessionMs = (o.sessionMinutes ?? 30) * 60_000;
  const crashFraction = o.crashFraction ?? 0.2;
  let crashes = 0;
  let leaves = 0;
  let joins = 0;
  const meanGap = sessionMs / nodes;
  const scheduleDeparture = (): void => {
    sim.ring.env.setTimeout(() => {
      if (sim.now() >= end) return;
      if (sim.ring.liveCount > 8) {
        const victim = sim.ring.randomLive();
        if (churnRandom.next() < crashFraction) {
          sim.ring.crash(victim);
          crashes++;
        } else {
          void sim.leave(victim);
          leaves++;
        }
      }
      scheduleDeparture();
    }, churnRandom.exponential(meanGap));
  };
  const scheduleJoin = (): void => {
    sim.ring.env.setTimeout(() => {
      if (sim.now() >= end) return;
      sim.ring.startJoin(sim.ring.createNode());
      joins++;
      scheduleJoin();
    }, churnRandom.exponential(meanGap));
  };
  scheduleDeparture();
  scheduleJoin();
  // Steady writes: updates of 200 counters and new records; reads check freshness.
  const counterIds = Array.from({ length: 200 }, (_, i) => idFor(`counter:churn-${i}`, Scope.GLOBAL));
  let created = 0;
  const rate = o.writesPerSecond ?? 2;
  const writeOnce = (): void => {
    const node = sim.ring.randomLive();
    const dht = sim.dht(node);
    const newRecord = random.next() < 0.4;
    if (newRecord) {
      const i = created++;
      const id = idFor(`doc:churn-${i}`, Scope.GLOBAL);
      withDeadline(sim, dht.writeIfAbsent(id, { type: 'doc', n: i }), 120_000).then(
        (r) => ledger.ack(id, r.record.version, i),
        (err: unknown) => ledger.unknown(err),
      );
    } else {
      const key = random.pick(counterIds);
      withDeadline(sim, dht.update<CounterBody>(key, (cur) => ({ type: 'counter', n: (cur?.body.n ?? 0) + 1 }), { retries: 30 }), 120_000).then(
        (rec) => {
          if (rec) ledger.ackIncrement(key, rec);
        },
        (err: { code?: string }) => {
          if (err.code === 'UpdateRetriesExhausted') ledger.failed++;
          else ledger.unknown(err);
        },
      );
    }
    if (random.next() < 0.5) {
      const key = random.pick(counterIds);
      const floor = ledger.versionOf(key);
      withDeadline(sim, dht.get(key), 120_000).then(
        (rec) => {
          ledger.reads++;
          if ((rec?.version ?? 0) < floor) ledger.staleReads++;
        },
        () => ledger.failedReads++,
      );
    }
  };
  const scheduleWrite = (): void => {
    sim.ring.env.setTimeout(() => {
      if (sim.now() >= end) return;
      writeOnce();
      scheduleWrite();
    }, random.exponential(1000 / rate));
  };
  scheduleWrite();
  await sim.run(end - sim.now(), step);
  // Let the last operations finish and the ring settle.
  await sim.run(120_000, step);
  const v = await verify(sim, ledger, step);
  const stats = { handedOff: 0, antiEntropyItems: 0, readRepairs: 0 };
  for (const n of sim.ring.live()) {
    const s = sim.dht(n).stats;
    stats.handedOff += s.itemsHandedOff;
    stats.antiEntropyItems += s.antiEntropyItems;
    stats.readRepairs += s.readRepairs;
  }
  return report(sim, 'churn-1000', ledger, v, { start, watch, crashes, leaves, joins, peakRssMB: Math.round(peakRssMB()), ...stats });
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// -----------------------------------------------------------------------------------------------
// Command

export const SCENARIOS = ['concurrent-counters', 'crash-replica-pairs', 'rolling-restart', 'partition-heal', 'churn-1000'] as const;

async function main(): Promise<void> {
  const program = new Command('chaos:dht')
    .description('Run the DHT fault scenarios in the simulator and report lost writes')
    .option('--json', 'print one JSON object', false)
    .option('--only <names>', `comma-separated scenarios (${SCENARIOS.join(', ')})`)
    .option('--seed <seed>', 'seed suffix (same seed, same run)', '1')
    .option('--churn-nodes <n>', 'ring size of the churn scenario', positiveInt, 1000)
    .option('--churn-minutes <m>', 'simulated minutes of the churn scenario', positiveInt, 120)
    .parse();
  const o = program.opts<{ json: boolean; only?: string; seed: string; churnNodes: number; churnMinutes: number }>();
  const only = o.only ? o.only.split(',').map((s) => s.trim()) : [...SCENARIOS];
  for (const name of only) if (!(SCENARIOS as readonly string[]).includes(name)) program.error(`unknown scenario "${name}"`);
  const scenarios: ScenarioReport[] = [];
  const run = async (name: string, fn: () => Promise<ScenarioReport>): Promise<void> => {
    if (!only.includes(name)) return;
    const r = await fn();
    scenarios.push(r);
    if (!o.json) console.log(JSON.stringify(r));
  };
  // The long churn scenario runs in a worker thread, beside the others (it is independent and
  // deterministic either way): on two cores the whole run takes about as long as it alone.
  const churnOptions = { seed: `churn-${o.seed}`, nodes: o.churnNodes, minutes: o.churnMinutes };
  const churnReport = only.includes('churn-1000') ? churnInWorker(churnOptions) : undefined;
  await run('concurrent-counters', () => concurrentCounters({ seed: `counters-${o.seed}` }));
  await run('crash-replica-pairs', () => crashReplicaPairs({ seed: `crash-pairs-${o.seed}` }));
  await run('rolling-restart', () => rollingRestart({ seed: `rolling-${o.seed}` }));
  await run('partition-heal', () => partitionHeal({ seed: `partition-${o.seed}` }));
  if (churnReport) await run('churn-1000', () => churnReport);
  const lost = scenarios.reduce((a, s) => a + s.lostWrites, 0);
  if (o.json) console.log(JSON.stringify({ scenarios, lostWrites: lost }));
  else console.log(lost === 0 ? 'no acknowledged write lost' : `${lost} acknowledged writes LOST`);
  process.exitCode = lost === 0 ? 0 : 1;
}

/** Runs {@link churn} in a worker thread (loading this file through tsx, as the main thread did). */
function churnInWorker(options: Parameters<typeof churn>[0]): Promise<ScenarioReport> {
  const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); });`;
  return new Promise((resolve, reject) => {
    const w = new Worker(boot, { eval: true, workerData: { chaosChurn: options } });
    w.once('message', (r: ScenarioReport) => {
      resolve(r);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

const churnJob = !isMainThread ? (workerData as { chaosChurn?: Parameters<typeof churn>[0] } | null)?.chaosChurn : undefined;
if (churnJob) {
  churn(churnJob).then(
    (r) => parentPort!.postMessage(r),
    (err: unknown) => {
      throw err;
    },
  );
} else if (isMainThread && process.argv[1] && /dht-chaos\.[tj]s$/.test(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(2);
  });
}
