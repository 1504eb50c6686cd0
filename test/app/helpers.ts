/** Helpers of the application framework tests. */
import type { LogEntry, LogStore } from '../../src/env/index.ts';
import { Seeder } from '../../src/app/index.ts';
import type { SeedReport } from '../../src/app/index.ts';
import { AppSim } from '../../src/sim/app-sim.ts';
import type { AppSimOptions } from '../../src/sim/app-sim.ts';
import type { SimNode } from '../../src/sim/ring.ts';

/** Builds an application ring of `n` nodes (codec on: every message survives a real encoding). */
export async function appRing(seed: string, n: number, options: Omit<AppSimOptions, 'seed'> = {}): Promise<AppSim> {
  const sim = new AppSim({ ...options, seed, network: { codec: true, ...options.network } });
  await sim.build(n);
  return sim;
}

/** Seeds `spec` from a random live node. */
export function seed(sim: AppSim, spec: unknown, from: SimNode = sim.ring.randomLive()): Promise<SeedReport> {
  return sim.settle(new Seeder(sim.dht(from), { location: from.location }).seed(spec));
}

/** The simulator's log store. */
export function logs(sim: AppSim): LogStore {
  return (sim.ring.env.log as unknown as { store: LogStore }).store;
}

/** Log entries matching `pred`. */
export function logLines(sim: AppSim, pred: (e: LogEntry) => boolean): LogEntry[] {
  return logs(sim).entries.filter(pred);
}
