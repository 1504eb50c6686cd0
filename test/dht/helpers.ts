/**
 * Simulator helpers for the DHT tests: a ring with a DHT per node (see src/sim/dht-chaos.ts).
 */
import { DhtSim } from '../../src/sim/dht-chaos.ts';
import type { DhtSimOptions } from '../../src/sim/dht-chaos.ts';
import type { SimNode } from '../../src/sim/ring.ts';
import type { Id } from '../../src/id/index.ts';

/** Builds a ring of `n` DHT nodes (codec on) and lets it settle. */
export async function dhtRing(seed: string, n: number, options: Omit<DhtSimOptions, 'seed'> = {}): Promise<DhtSim> {
  const sim = new DhtSim({ ...options, seed, network: { codec: true, ...options.network } });
  await sim.ring.build(n);
  await sim.run(2_000);
  return sim;
}

/** Live nodes holding a copy of `id` (optionally at least `version`). */
export function holders(sim: DhtSim, id: Id, version = 1, sortKey?: string): SimNode[] {
  return sim.ring.live().filter((n) => (sim.dht(n).localGet(id, sortKey)?.v ?? 0) >= version);
}

/** A live node that is not in `exclude`. */
export function otherThan(sim: DhtSim, exclude: SimNode[]): SimNode {
  for (;;) {
    const n = sim.ring.randomLive();
    if (!exclude.includes(n)) return n;
  }
}
