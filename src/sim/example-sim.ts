#!/usr/bin/env node
/**
 * `npm run sim:example -- [--json] [--seed S] [--nodes N] [--jobs J] ...`: the job runner example
 * (examples/job-runner) on a simulated ring, in virtual time, while nodes are killed: the node
 * serving the API (twice) and workers in the middle of jobs. Clients submit jobs to the API's
 * address and retry (same job id) when it does not answer. At the end every acknowledged job must
 * be done exactly once in effect, with the right result.
 *
 * Prints `{ jobs, completed, duplicates, lost, failoverSeconds, ... }`: `duplicates` counts jobs
 * whose effect was applied more than once, `lost` acknowledged jobs not done at the end,
 * `failoverSeconds` the longest time the API address went unserved after its node was killed.
 *
 * The API is served through an in-memory address space instead of real HTTP (simulated code must
 * not do real I/O); a node's bindings disappear when it is killed, as its sockets would.
 */
import { Command } from 'commander';
import { LoopbackAddressDriver, Seeder } from '../app/index.ts';
import { peakRssMB, startStopwatch } from '../env/index.ts';
import type { ApiHandler, ApiRequest, ApiResponse, Listener, ListenerFactory } from '../../examples/job-runner/api-transport.ts';
import { JobApi } from '../../examples/job-runner/api.ts';
import { API_APP, JOB_QUEUE, WORKER_APP, compute, jobId } from '../../examples/job-runner/jobs.ts';
import type { JobInput, JobRecord } from '../../examples/job-runner/jobs.ts';
import { JobWorker } from '../../examples/job-runner/worker.ts';
import { AppSim } from './app-sim.ts';
import type { SimNode } from './ring.ts';
import { nonNegativeInt, positiveInt } from './cli-args.ts';

/** Parameters of the example simulation. */
export interface ExampleSimOptions {
  seed: string | number;
  nodes: number;
  jobs: number;
  /** Jobs submitted per virtual second. */
  rate: number;
  /** Job slots per node. */
  capacity: number;
  /** Work time of a job, uniform in [min, max] ms. */
  workMs: [number, number];
  /** Times the node serving the API is killed. */
  apiKills: number;
  /** Workers killed in the middle of a job. */
  workerKills: number;
  /** Failover bound of the API address (its seeded expiry). */
  expiryMs: number;
  /** Give up after this much virtual time. */
  deadlineMs: number;
}

export const DEFAULT_EXAMPLE_SIM: ExampleSimOptions = {
  seed: 'example',
  nodes: 24,
  jobs: 200,
  rate: 5,
  capacity: 2,
  workMs: [500, 3000],
  apiKills: 2,
  workerKills: 4,
  expiryMs: 10_000,
  deadlineMs: 600_000,
};

/** What `npm run sim:example` prints. */
export interface ExampleSimReport {
  /** Jobs acknowledged by the API. */
  jobs: number;
  /** Of those, done with the right result at the end. */
  completed: number;
  /** Jobs whose effect was applied more than once. */
  duplicates: number;
  /** Acknowledged jobs not done at the end. */
  lost: number;
  /** Longest time the API address went unserved after its node was killed (virtual seconds). */
  failoverSeconds: number;
  /** The API address's failover bound (seconds). */
  expirySeconds: number;
  wrongResults: number;
  /** Job runs beyond the first (a worker died, or a job was taken over). */
  reexecutions: number;
  /** Tasks re-dispatched by watchers after going stale / at once after their owner departed. */
  redispatched: number;
  recovered: number;
  /** Submissions clients had to retry (the API did not answer). */
  clientRetries: number;
  /** Times two nodes tried to serve the API address at once. */
  addressConflicts: number;
  kills: number;
  nodes: number;
  seed: string | number;
  simulatedSeconds: number;
  wallSeconds: number;
  peakRssMB: number;
}

/** The simulated network's address space: who serves which address:port. */
class SimAddressSpace implements ListenerFactory {
  private readonly bound = new Map<string, ApiHandler>();
  conflicts = 0;

  async listen(address: string, port: number, handler: ApiHandler): Promise<Listener> {
    const key = `${address}:${port}`;
    if (this.bound.has(key)) {
      this.conflicts++;
      throw Object.assign(new Error(`${key} is in use`), { code: 'EADDRINUSE' });
    }
    this.bound.set(key, handler);
    return {
      close: () => {
        if (this.bound.get(key) === handler) this.bound.delete(key);
      },
    };
  }

  isBound(key: string): boolean {
    return this.bound.has(key);
  }

  /** A client's request; rejects like a refused connection when nobody serves the address. */
  request(key: string, req: ApiRequest): Promise<ApiResponse> {
    const h = this.bound.get(key);
    return h ? h(req) : Promise.reject(Object.assign(new Error(`connection refused: ${key}`), { code: 'ECONNREFUSED' }));
  }
}

const ADDRESS = '127.9.0.1';
const PORT = 8080;

/** Runs the scenario. */
export async function runExampleSim(options: Partial<ExampleSimOptions> = {}): Promise<ExampleSimReport> {
  const o = { ...DEFAULT_EXAMPLE_SIM, ...options };
  const watch = startStopwatch();
  const space = new SimAddressSpace();
  const effects = new Map<string, number>();
  const runs = new Map<string, number>();
  const sim = new AppSim({
    seed: o.seed,
    network: { codec: true },
    stepMs: 5,
    apps: () => [
      new JobApi({ driver: new LoopbackAddressDriver(), listeners: space, port: PORT, expiryMs: o.expiryMs, summaryIntervalMs: 10_000 }),
      new JobWorker({
        capacity: o.capacity,
        scanIntervalMs: 2000,
        onEffect: (id) => effects.set(id, (effects.get(id) ?? 0) + 1),
        onRun: (id) => runs.set(id, (runs.get(id) ?? 0) + 1),
      }),
    ],
  });
  await sim.build(o.nodes);
  const seeder = sim.ring.randomLive();
  await sim.settle(
    new Seeder(sim.dht(seeder)).seed({
      applications: [{ name: API_APP, slots: [ADDRESS], expiryMs: o.expiryMs }],
      queues: [{ name: JOB_QUEUE, staleAfterMs: 8000, retries: 50, watchers: 2 }],
    }),
  );
  const key = `${ADDRESS}:${PORT}`;
  if (!(await sim.runUntil(() => space.isBound(key), 60_000))) throw new Error('the API never came up');

  const env = sim.ring.env;
  const random = env.random.fork('example-clients');
  const inputs = new Map<string, JobInput>();
  const acked = new Set<string>();
  let clientRetries = 0;
  const timeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const t = env.setTimeout(() => reject(new Error('timeout')), ms);
      p.then(
        (v) => {
          t.cancel();
          resolve(v);
        },
        (e: unknown) => {
          t.cancel();
          reject(e as Error);
        },
      );
    });
  /** A client: submits until the API acknowledges (same id every time: idempotent). */
  const submit = async (id: string, input: JobInput): Promise<void> => {
    for (;;) {
      try {
        const r = await timeout(space.request(key, { method: 'POST', path: '/jobs', query: new URLSearchParams(), body: { id, input } }), 3000);
        if (r.status === 202) {
          acked.add(id);
          return;
        }
      } catch {
        // refused or no answer: the address is moving
      }
      clientRetries++;
      await env.sleep(500);
    }
  };

  const start = sim.ring.now();
  for (let i = 0; i < o.jobs; i++) {
    const id = `job-${String(i).padStart(5, '0')}`;
    const input: JobInput = { n: 1000 + random.int(5000), workMs: o.workMs[0] + random.int(o.workMs[1] - o.workMs[0] + 1) };
    inputs.set(id, input);
    env.setTimeout(() => void submit(id, input), (i * 1000) / o.rate);
  }

  // Kills spread over the submission period: API holders and busy workers.
  const period = (o.jobs * 1000) / o.rate;
  const kills: { at: number; what: 'api' | 'worker' }[] = [];
  for (let k = 0; k < o.apiKills; k++) kills.push({ at: start + ((k + 1) * period) / (o.apiKills + 1), what: 'api' });
  for (let k = 0; k < o.workerKills; k++) kills.push({ at: start + ((k + 0.5) * period) / o.workerKills, what: 'worker' });
  kills.sort((a, b) => a.at - b.at);
  const apiHolder = (): SimNode | undefined => sim.ring.live().find((n) => sim.app<JobApi>(n, API_APP).isActive);
  let killed = 0;
  let failoverMs = 0;
  let apiDownSince: number | undefined;

  const deadline = start + o.deadlineMs;
  while (sim.ring.now() < deadline) {
    await sim.run(100);
    const now = sim.ring.now();
    while (kills.length > 0 && kills[0]!.at <= now) {
      const k = kills.shift()!;
      let victim: SimNode | undefined;
      if (k.what === 'api') victim = apiHolder();
      else {
        const holder = apiHolder();
        const busy = sim.ring.live().filter((n) => n !== holder && sim.app<JobWorker>(n, WORKER_APP).busy > 0);
        victim = busy.length > 0 ? busy[random.int(busy.length)] : undefined;
      }
      if (!victim) continue;
      sim.crash(victim);
      killed++;
      if (k.what === 'api') apiDownSince = now;
    }
    if (apiDownSince !== undefined && space.isBound(key)) {
      failoverMs = Math.max(failoverMs, now - apiDownSince);
      apiDownSince = undefined;
    }
    const allIn = acked.size === o.jobs;
    if (allIn && kills.length === 0 && [...acked].every((id) => effects.has(id))) break;
  }
  if (apiDownSince !== undefined) failoverMs = Math.max(failoverMs, sim.ring.now() - apiDownSince);
  // Let in-flight duplicates (if any) land before counting.
  await sim.run(15_000);

  // Check every acknowledged job in the DHT.
  const reader = sim.dht(sim.ring.randomLive());
  let completed = 0;
  let wrong = 0;
  for (const id of acked) {
    const r = await sim.settle(reader.get<JobRecord>(jobId(id)));
    if (r?.body.state !== 'done') continue;
    completed++;
    if (r.body.result !== compute(inputs.get(id)!)) wrong++;
  }
  let redispatched = 0;
  let recovered = 0;
  for (const n of sim.ring.nodes) {
    const host = sim.host(n);
    try {
      redispatched += host.queues.stats.redispatched;
      recovered += host.queues.stats.recovered;
    } catch {
      // a stopped host: its counters are gone with it
    }
  }
  return {
    jobs: acked.size,
    completed,
    duplicates: [...effects.values()].filter((v) => v > 1).length,
    lost: acked.size - completed,
    failoverSeconds: Math.round(failoverMs / 100) / 10,
    expirySeconds: o.expiryMs / 1000,
    wrongResults: wrong,
    reexecutions: [...runs.values()].reduce((s, v) => s + v - 1, 0),
    redispatched,
    recovered,
    clientRetries,
    addressConflicts: space.conflicts,
    kills: killed,
    nodes: o.nodes,
    seed: o.seed,
    simulatedSeconds: Math.round((sim.ring.now() - start) / 1000),
    wallSeconds: Math.round(watch.elapsedMs() / 100) / 10,
    peakRssMB: Math.round(peakRssMB()),
  };
}



async function main(): Promise<void> {
  const d = DEFAULT_EXAMPLE_SIM;
  const program = new Command('sim:example')
    .description('The job runner example on a simulated ring while nodes are killed; checks every job completes exactly once in effect')
    .option('--seed <seed>', 'random seed (same seed, same run)', String(d.seed))
    .option('--nodes <n>', 'ring size', positiveInt, d.nodes)
    .option('--jobs <n>', 'jobs to submit', positiveInt, d.jobs)
    .option('--rate <n>', 'jobs submitted per virtual second', positiveInt, d.rate)
    .option('--capacity <n>', 'job slots per node', positiveInt, d.capacity)
    .option('--api-kills <n>', 'kills of the node serving the API', nonNegativeInt, d.apiKills)
    .option('--worker-kills <n>', 'kills of workers in the middle of a job', nonNegativeInt, d.workerKills)
    .option('--expiry-ms <ms>', 'failover bound of the API address', positiveInt, d.expiryMs)
    .option('--json', 'print one JSON object', false)
    .parse();
  const o = program.opts<{ seed: string; nodes: number; jobs: number; rate: number; capacity: number; apiKills: number; workerKills: number; expiryMs: number; json: boolean }>();
  const report = await runExampleSim({ seed: o.seed, nodes: o.nodes, jobs: o.jobs, rate: o.rate, capacity: o.capacity, apiKills: o.apiKills, workerKills: o.workerKills, expiryMs: o.expiryMs });
  if (o.json) console.log(JSON.stringify(report));
  else for (const [k, v] of Object.entries(report)) console.log(`${k.padEnd(18)} ${v}`);
  const ok = report.lost === 0 && report.duplicates === 0 && report.wrongResults === 0 && report.completed === report.jobs && report.failoverSeconds <= report.expirySeconds;
  process.exitCode = ok ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
