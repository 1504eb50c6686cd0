/**
 * The Scribe simulation behind `npm run sim:scribe`: build a ring with a Scribe on every node,
 * subscribe a random share of the nodes to each topic, then publish and randomAnycast, optionally
 * under churn, and check every delivery and anycast outcome.
 *
 * Topics come in three kinds: most have subscribers of which a share is willing to take
 * anycasts; every 20th has subscribers that all decline (anycasts must fail `AllDeclined`); and
 * every 20th has none (anycasts fail `NoSubscribers`, publishes raise the root's event).
 */
import { drainMicrotasks, peakRssMB, startStopwatch } from '../env/index.ts';
import { Scribe, ScribeError, makeTopic } from '../scribe/index.ts';
import type { ScribeOptions, Topic } from '../scribe/index.ts';
import { SimRing } from './ring.ts';
import type { SimNode } from './ring.ts';

/** Parameters of a Scribe simulation. */
export interface ScribeSimOptions {
  nodes: number;
  topics: number;
  seed: string | number;
  churn: boolean;
  /** Mean share of nodes subscribed to a topic (each topic draws 0.5–1.5 times it). Default 0.03. */
  share: number;
  /** Share of a topic's subscribers that accept anycasts. Default 0.8. */
  willing: number;
  /** Publishes per topic. Default 10. */
  publishesPerTopic: number;
  /** randomAnycasts per willing subscriber of a topic (10 per topic without willing ones). Default 20. */
  anycastsPerSubscriber: number;
  /** Virtual seconds over which the publishes and anycasts are spread (and churn goes on). Default 20. */
  phaseSeconds: number;
  /** Mean session time under churn (virtual minutes). Default 30. */
  sessionMinutes: number;
  /** Share of departures that are silent crashes (the rest leave gracefully). Default 0.2. */
  crashFraction: number;
  scribe?: Partial<ScribeOptions>;
}

export const DEFAULT_SCRIBE_SIM: Omit<ScribeSimOptions, 'nodes' | 'topics' | 'seed'> = {
  churn: false,
  share: 0.03,
  willing: 0.8,
  publishesPerTopic: 10,
  anycastsPerSubscriber: 20,
  phaseSeconds: 20,
  sessionMinutes: 30,
  crashFraction: 0.2,
};

/** What `npm run sim:scribe` prints. */
export interface ScribeSimReport {
  nodes: number;
  topics: number;
  subscriptions: number;
  /** Virtual seconds until every subscription was confirmed. */
  subscribeSeconds: number;
  unconfirmed: number;
  publishes: number;
  /** Publishes × subscribers of the topic alive throughout the run. */
  expectedDeliveries: number;
  /** Of those, delivered (first copy). */
  deliveries: number;
  /** Copies delivered to a subscriber a second time (anywhere). */
  duplicates: number;
  deliveryRatio: number;
  p50PublishLatencyMs: number;
  p99PublishLatencyMs: number;
  anycasts: number;
  /** Anycasts to topics with at least one willing subscriber alive throughout. */
  anycastsToWilling: number;
  anycastsAccepted: number;
  /** Anycasts to such topics that were not accepted. */
  anycastsMissed: number;
  noSubscribersFailures: number;
  allDeclinedFailures: number;
  /** Anycasts to topics without willing subscribers that were accepted or failed wrongly. */
  anycastsWrongOutcome: number;
  timeouts: number;
  /** Busiest subscriber's share of a topic's accepted anycasts over the fair share (max over topics). */
  maxAcceptShare: number;
  meanMaxAcceptShare: number;
  noSubscriberEvents: number;
  treeRepairs: number;
  churn: boolean;
  joins: number;
  leaves: number;
  crashes: number;
  messages: number;
  simulatedSeconds: number;
  wallSeconds: number;
  peakRssMB: number;
  seed: string | number;
}

type TopicKind = 'normal' | 'declining' | 'empty';

interface SimTopic {
  topic: Topic;
  kind: TopicKind;
  subscribers: SimNode[];
  willing: Set<SimNode>;
  accepts: Map<SimNode, number>;
}

function scribeOf(node: SimNode): Scribe {
  return node.attachments.get('scribe') as Scribe;
}

export async function runScribeSim(options: ScribeSimOptions): Promise<ScribeSimReport> {
  const watch = startStopwatch();
  const ring = new SimRing({ seed: options.seed, logCapacity: 1000 });
  const start = ring.now();
  ring.onNodeCreated((node) => node.attachments.set('scribe', new Scribe({ env: node.env, node: node.pastry, options: options.scribe })));

  ring.buildSync(options.nodes);
  ring.scheduler.runUntilSync(ring.now() + 5_000);

  const random = ring.env.random.fork('scribe-sim');
  const live = ring.live();

  // Topics and subscribers.
  const topics: SimTopic[] = [];
  for (let i = 0; i < options.topics; i++) {
    const kind: TopicKind = i % 20 === 19 ? 'empty' : i % 20 === 18 ? 'declining' : 'normal';
    const topic = makeTopic(`topic:sim/${i}`);
    const count = kind === 'empty' ? 0 : Math.max(1, Math.round(options.nodes * options.share * (0.5 + random.next())));
    const subscribers = random.shuffle(live).slice(0, count);
    const willing = new Set<SimNode>();
    if (kind === 'normal') {
      for (const n of subscribers) if (random.next() < options.willing) willing.add(n);
      if (willing.size === 0) willing.add(subscribers[0]!);
    }
    topics.push({ topic, kind, subscribers, willing, accepts: new Map() });
  }

  // Per publish: when it was sent; per (publish, node): delivered.
  const publishedAt = new Map<string, number>();
  const deliveredTo = new Map<string, Set<number>>();
  const latencies: number[] = [];
  let duplicates = 0;
  let confirmed = 0;
  let subscriptions = 0;
  for (const t of topics) {
    for (const node of t.subscribers) {
      subscriptions++;
      const willing = t.willing.has(node);
      void scribeOf(node)
        .subscribe(t.topic, {
          deliver: (_topic, msg) => {
            let set = deliveredTo.get(msg.id);
            if (!set) deliveredTo.set(msg.id, (set = new Set()));
            if (set.has(node.index)) {
              duplicates++;
              return;
            }
            set.add(node.index);
            const at = publishedAt.get(msg.id);
            if (at !== undefined) latencies.push(ring.now() - at);
          },
          anycast: () => {
            if (!willing) return false;
            t.accepts.set(node, (t.accepts.get(node) ?? 0) + 1);
            return true;
          },
          subscribed: () => {
            confirmed++;
          },
        })
        .catch(() => undefined);
    }
  }
  const subscribeStart = ring.now();
  await runChunked(ring, () => confirmed >= subscriptions, 60_000, 1);
  const subscribeSeconds = (ring.now() - subscribeStart) / 1000;
  const unconfirmed = subscriptions - confirmed;
  await runChunked(ring, () => false, 5_000); // subtree counts reach the roots, totals come back down

  // Churn: departures at rate N / session, joins at the same rate.
  let joins = 0;
  let leaves = 0;
  let crashes = 0;
  let churning = options.churn;
  const departed = new Set<SimNode>();
  if (options.churn) {
    const churnRandom = ring.env.random.fork('churn');
    const mean = (options.sessionMinutes * 60_000) / options.nodes;
    const departure = (): void => {
      ring.env.setTimeout(() => {
        if (!churning) return;
        if (ring.liveCount > 2) {
          const victim = ring.randomLive();
          departed.add(victim);
          if (churnRandom.next() < options.crashFraction) {
            ring.crash(victim);
            crashes++;
          } else {
            scribeOf(victim).leave();
            ring.leave(victim);
            leaves++;
          }
        }
        departure();
      }, churnRandom.exponential(mean));
    };
    const join = (): void => {
      ring.env.setTimeout(() => {
        if (!churning) return;
        ring.startJoin(ring.createNode());
        joins++;
        join();
      }, churnRandom.exponential(mean));
    };
    departure();
    join();
  }

  // Publishes, then anycasts, interleaved in time.
  const publishes: { id: string; topic: SimTopic }[] = [];
  const publishPlan: SimTopic[] = [];
  for (let k = 0; k < options.publishesPerTopic; k++) for (const t of topics) publishPlan.push(t);
  const anycastPlan: SimTopic[] = [];
  for (const t of topics) {
    const n = t.kind === 'normal' ? options.anycastsPerSubscriber * t.willing.size : 10;
    for (let k = 0; k < n; k++) anycastPlan.push(t);
  }
  const anycastOrder = random.shuffle(anycastPlan);
  const outcomes: { topic: SimTopic; outcome: string }[] = [];
  let pending = 0;

  const phaseMs = options.phaseSeconds * 1000;
  const publishGap = phaseMs / Math.max(1, publishPlan.length);
  const anycastGap = phaseMs / Math.max(1, anycastOrder.length);
  let pi = 0;
  const publishNext = (): void => {
    if (pi >= publishPlan.length) return;
    const t = publishPlan[pi++]!;
    const id = scribeOf(ring.randomLive()).publish(t.topic, 'UPDATE', { n: pi });
    publishedAt.set(id, ring.now());
    publishes.push({ id, topic: t });
    ring.env.setTimeout(publishNext, publishGap);
  };
  let ai = 0;
  const anycastNext = (): void => {
    if (ai >= anycastOrder.length) return;
    const t = anycastOrder[ai++]!;
    pending++;
    scribeOf(ring.randomLive())
      .randomAnycast(t.topic, 'GET', { a: ai })
      .then(
        () => outcomes.push({ topic: t, outcome: 'accepted' }),
        (err: unknown) => outcomes.push({ topic: t, outcome: err instanceof ScribeError ? err.code : 'error' }),
      )
      .finally(() => pending--);
    ring.env.setTimeout(anycastNext, anycastGap);
  };
  publishNext();
  anycastNext();
  await runChunked(ring, () => pi >= publishPlan.length && ai >= anycastOrder.length, phaseMs + 60_000);
  churning = false;
  await runChunked(ring, () => pending === 0, 30_000);
  await runChunked(ring, () => false, 10_000); // late repairs and replays

  // Subscribers alive throughout: never departed.
  const aliveThroughout = (n: SimNode): boolean => !departed.has(n) && n.status === 'live';
  let expected = 0;
  let delivered = 0;
  for (const p of publishes) {
    const got = deliveredTo.get(p.id);
    for (const n of p.topic.subscribers) {
      if (!aliveThroughout(n)) continue;
      expected++;
      if (got?.has(n.index)) delivered++;
    }
  }

  let toWilling = 0;
  let accepted = 0;
  let missed = 0;
  let wrong = 0;
  let noSubs = 0;
  let allDeclined = 0;
  let timeouts = 0;
  for (const o of outcomes) {
    if (o.outcome === 'accepted') accepted++;
    else if (o.outcome === 'NoSubscribers') noSubs++;
    else if (o.outcome === 'AllDeclined') allDeclined++;
    else if (o.outcome === 'Timeout') timeouts++;
    const hasWilling = [...o.topic.willing].some(aliveThroughout);
    if (hasWilling) {
      toWilling++;
      if (o.outcome !== 'accepted') missed++;
    } else if (o.topic.kind === 'empty' && o.outcome !== 'NoSubscribers') wrong++;
    else if (o.topic.kind === 'declining' && o.outcome !== 'AllDeclined') wrong++;
  }

  const shares: number[] = [];
  for (const t of topics) {
    if (t.kind !== 'normal') continue;
    const willing = [...t.willing].filter(aliveThroughout);
    let total = 0;
    let max = 0;
    for (const n of willing) {
      const c = t.accepts.get(n) ?? 0;
      total += c;
      if (c > max) max = c;
    }
    if (total > 0) shares.push(max / (total / willing.length));
  }

  let noSubscriberEvents = 0;
  let repairs = 0;
  for (const n of ring.nodes) {
    const s = scribeOf(n);
    noSubscriberEvents += s.stats.noSubscriberEvents;
    repairs += s.stats.repairs;
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => (latencies.length === 0 ? 0 : round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!, 2));

  return {
    nodes: options.nodes,
    topics: options.topics,
    subscriptions,
    subscribeSeconds: round(subscribeSeconds, 2),
    unconfirmed,
    publishes: publishes.length,
    expectedDeliveries: expected,
    deliveries: delivered,
    duplicates,
    deliveryRatio: expected === 0 ? 1 : round(delivered / expected, 6),
    p50PublishLatencyMs: pct(0.5),
    p99PublishLatencyMs: pct(0.99),
    anycasts: outcomes.length,
    anycastsToWilling: toWilling,
    anycastsAccepted: accepted,
    anycastsMissed: missed,
    noSubscribersFailures: noSubs,
    allDeclinedFailures: allDeclined,
    anycastsWrongOutcome: wrong,
    timeouts,
    maxAcceptShare: shares.length === 0 ? 0 : round(Math.max(...shares), 3),
    meanMaxAcceptShare: shares.length === 0 ? 0 : round(shares.reduce((a, b) => a + b, 0) / shares.length, 3),
    noSubscriberEvents,
    treeRepairs: repairs,
    churn: options.churn,
    joins,
    leaves,
    crashes,
    messages: ring.network.stats.sent,
    simulatedSeconds: round((ring.now() - start) / 1000, 1),
    wallSeconds: round(watch.elapsedMs() / 1000, 1),
    peakRssMB: Math.round(peakRssMB()),
    seed: options.seed,
  };
}

/**
 * Runs virtual time in slices, letting promise continuations (anycast outcomes) run between
 * slices rather than after every event: much faster, and nothing here measures their timing.
 */
async function runChunked(ring: SimRing, done: () => boolean, timeoutMs: number, sliceMs = 20): Promise<boolean> {
  const deadline = ring.now() + timeoutMs;
  await drainMicrotasks();
  while (!done()) {
    if (ring.now() >= deadline) return false;
    ring.scheduler.runUntilSync(Math.min(deadline, ring.now() + sliceMs));
    await drainMicrotasks();
  }
  return true;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
