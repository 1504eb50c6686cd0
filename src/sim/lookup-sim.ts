/**
 * The routing simulation behind `npm run sim`: build a ring, route lookups for random keys from
 * random live nodes, optionally under churn, and check every delivery against the true root.
 */
import { Id, ID_BITS } from '../id/index.ts';
import { peakRssMB, startStopwatch } from '../env/index.ts';
import type { AppMessage } from '../wire/index.ts';
import type { DeliveryInfo } from '../overlay/index.ts';
import { SimRing } from './ring.ts';
import type { SimNode } from './ring.ts';

/** Parameters of a lookup simulation. */
export interface LookupSimOptions {
  nodes: number;
  lookups: number;
  seed: string | number;
  churn: boolean;
  /** Mean session time under churn (virtual minutes). Default 30. */
  sessionMinutes: number;
  /** Share of departures that are crashes without notice. Default 0.2. */
  crashFraction: number;
  /** Lookups issued per virtual second. Default 1000. */
  lookupRate: number;
}

/** What `npm run sim` prints. */
export interface LookupSimReport {
  nodes: number;
  lookups: number;
  delivered: number;
  correctRoot: number;
  wrongRoot: number;
  duplicates: number;
  lost: number;
  avgHops: number;
  p99Hops: number;
  maxHops: number;
  log16N: number;
  churn: boolean;
  joins: number;
  leaves: number;
  crashes: number;
  joinFailures: number;
  messages: number;
  simulatedSeconds: number;
  wallSeconds: number;
  peakRssMB: number;
  seed: string | number;
}

const LOOKUP_APP = 'lookup';

export const DEFAULT_LOOKUP_SIM: Omit<LookupSimOptions, 'nodes' | 'lookups' | 'seed'> = {
  churn: false,
  sessionMinutes: 30,
  crashFraction: 0.2,
  lookupRate: 2000,
};

export function runLookupSim(options: LookupSimOptions): LookupSimReport {
  const watch = startStopwatch();
  const ring = new SimRing({ seed: options.seed, logCapacity: 1000 });
  const start = ring.now();
  const hopsHistogram: number[] = [];
  let delivered = 0;
  let correct = 0;
  let duplicates = 0;
  const seen = new Uint8Array(options.lookups);

  ring.onNodeCreated((node: SimNode) => {
    node.pastry.register({
      name: LOOKUP_APP,
      deliver: (msg: AppMessage, info: DeliveryInfo) => {
        const n = msg.body as number;
        if (seen[n]) {
          duplicates++;
          return;
        }
        seen[n] = 1;
        delivered++;
        hopsHistogram[info.hops] = (hopsHistogram[info.hops] ?? 0) + 1;
        if (process.env.DBG && n % 1000 === 0) console.log("lookup", n, "hops", info.hops, "origin", info.origin.id.short(), "root", node.id.short(), "t", ring.now() - start);
        if (ring.closestLive(info.key!) === node) correct++;
      },
    });
  });

  const joinFailures = ring.buildSync(options.nodes);
  // Let the last joins settle (heartbeats, first gossip) before measuring.
  ring.scheduler.runUntilSync(ring.now() + 5_000);

  const random = ring.env.random.fork('lookups');
  const churnRandom = ring.env.random.fork('churn');
  let joins = 0;
  let leaves = 0;
  let crashes = 0;
  const interval = 1000 / options.lookupRate;
  const lookupsEnd = ring.now() + options.lookups * interval;

  if (options.churn) {
    // Each live node departs at rate 1/session; joins replace departures to hold the size.
    const departureMean = (options.sessionMinutes * 60_000) / options.nodes;
    const scheduleDeparture = (): void => {
      ring.env.setTimeout(() => {
        if (ring.now() > lookupsEnd) return;
        if (ring.liveCount > 1) {
          const victim = ring.randomLive();
          if (churnRandom.next() < options.crashFraction) {
            ring.crash(victim);
            crashes++;
          } else {
            ring.leave(victim);
            leaves++;
          }
        }
        scheduleDeparture();
      }, churnRandom.exponential(departureMean));
    };
    const scheduleJoin = (): void => {
      ring.env.setTimeout(() => {
        if (ring.now() > lookupsEnd) return;
        const node = ring.createNode();
        ring.startJoin(node);
        joins++;
        scheduleJoin();
      }, churnRandom.exponential(departureMean));
    };
    scheduleDeparture();
    scheduleJoin();
  }

  let issued = 0;
  const issueNext = (): void => {
    if (issued >= options.lookups) return;
    const n = issued++;
    const from = ring.randomLive();
    const key = Id.fromBytes(random.bytes(ID_BITS / 8));
    from.pastry.route(key, { app: LOOKUP_APP, mid: `l${n}`, body: n });
    ring.env.setTimeout(issueNext, interval);
  };
  issueNext();
  ring.scheduler.runUntilTrueSync(() => issued >= options.lookups, options.lookups * interval + 60_000);
  // Give the last lookups time to arrive (re-routes take a few ack timeouts at most).
  ring.scheduler.runUntilTrueSync(() => delivered >= options.lookups, 30_000);

  let total = 0;
  let sum = 0;
  let max = 0;
  for (let h = 0; h < hopsHistogram.length; h++) {
    const c = hopsHistogram[h] ?? 0;
    total += c;
    sum += h * c;
    if (c > 0) max = h;
  }
  let p99 = 0;
  let acc = 0;
  for (let h = 0; h < hopsHistogram.length; h++) {
    acc += hopsHistogram[h] ?? 0;
    if (acc >= total * 0.99) {
      p99 = h;
      break;
    }
  }
  (globalThis as Record<string, unknown>)['__hist'] = hopsHistogram;
  return {
    nodes: options.nodes,
    lookups: options.lookups,
    delivered,
    correctRoot: correct,
    wrongRoot: delivered - correct,
    duplicates,
    lost: options.lookups - delivered,
    avgHops: total > 0 ? round(sum / total, 3) : 0,
    p99Hops: p99,
    maxHops: max,
    log16N: round(Math.log(options.nodes) / Math.log(16), 3),
    churn: options.churn,
    joins,
    leaves,
    crashes,
    joinFailures,
    messages: ring.network.stats.sent,
    simulatedSeconds: round((ring.now() - start) / 1000, 1),
    wallSeconds: round(watch.elapsedMs() / 1000, 1),
    peakRssMB: Math.round(peakRssMB()),
    seed: options.seed,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
