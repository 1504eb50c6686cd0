/**
 * `npm run bench:scribe -- [--nodes 12] [--publishes 5000] [--window 100] [--anycasts 3000] [--json]`
 *
 * Scribe over a real loopback-TCP ring in this process: every node subscribes to one topic; the
 * nodes take turns publishing, closed-loop (at most `window` publishes not yet delivered
 * everywhere), then send randomAnycasts in batches of 200. Reports publish and delivery rates,
 * publish → delivery latency (p50/p99) and the anycast rate. All nodes share one event loop, so
 * the figures are those of one CPU core carrying the whole ring.
 */
import { Command } from 'commander';
import { randomNodeId } from '../src/id/index.ts';
import { LogStore, MemoryLogger, RealEnv } from '../src/env/index.ts';
import { TcpTransport } from '../src/transport/index.ts';
import { PastryNode } from '../src/overlay/index.ts';
import { Scribe, makeTopic } from '../src/scribe/index.ts';
import { positiveInt } from '../src/sim/cli-args.ts';


const o = new Command('bench:scribe')
  .option('--nodes <n>', 'nodes (all subscribed)', positiveInt, 12)
  .option('--publishes <n>', 'publishes', positiveInt, 5000)
  .option('--window <n>', 'publishes in flight at most', positiveInt, 100)
  .option('--anycasts <n>', 'randomAnycasts', positiveInt, 3000)
  .option('--json', 'print one JSON object', false)
  .parse()
  .opts<{ nodes: number; publishes: number; window: number; anycasts: number; json: boolean }>();

const logs = new LogStore(1000, () => Date.now());
const nodes: { transport: TcpTransport; pastry: PastryNode; scribe: Scribe; got: number }[] = [];
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const total = (): number => nodes.reduce((a, n) => a + n.got, 0);

try {
  for (let i = 0; i < o.nodes; i++) {
    const env = new RealEnv({ seed: `bench-scribe-${i}`, logger: new MemoryLogger(logs, 'error') });
    const id = randomNodeId((k) => env.random.bytes(k));
    const transport = await TcpTransport.listen({ env, host: '127.0.0.1', port: 0, nodeId: id });
    const pastry = new PastryNode(env, transport, id);
    nodes.push({ transport, pastry, scribe: new Scribe({ env, node: pastry }), got: 0 });
    if (i === 0) pastry.createRing();
    else await pastry.join([nodes[0]!.transport.address]);
  }
  const want = Math.min(o.nodes - 1, nodes[0]!.pastry.options.leafSetSize);
  for (const deadline = Date.now() + 10_000; Date.now() < deadline && !nodes.every((n) => n.pastry.leafSetMembers().length >= want); ) await tick();

  const topic = makeTopic('topic:bench');
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  await Promise.all(
    nodes.map((n) =>
      n.scribe.subscribe(topic, {
        deliver: (_t, m) => {
          n.got++;
          const at = sentAt.get(m.id);
          if (at !== undefined) latencies.push(performance.now() - at);
        },
        anycast: () => true,
      }),
    ),
  );

  const expected = o.publishes * o.nodes;
  const t0 = performance.now();
  for (let i = 0; i < o.publishes; i++) {
    while (total() < (i + 1 - o.window) * o.nodes) await tick();
    const id = nodes[i % o.nodes]!.scribe.publish(topic, 'UPDATE', { i, pad: 'x'.repeat(100) });
    sentAt.set(id, performance.now());
  }
  const deadline = performance.now() + 30_000;
  while (total() < expected && performance.now() < deadline) await tick();
  const publishSeconds = (performance.now() - t0) / 1000;

  const t1 = performance.now();
  let accepted = 0;
  for (let i = 0; i < o.anycasts; i += 200) {
    const batch: Promise<unknown>[] = [];
    for (let k = i; k < Math.min(o.anycasts, i + 200); k++) batch.push(nodes[k % o.nodes]!.scribe.randomAnycast(topic, 'GET', k).then(() => accepted++, () => undefined));
    await Promise.all(batch);
  }
  const anycastSeconds = (performance.now() - t1) / 1000;

  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0) * 100) / 100;
  const report = {
    nodes: o.nodes,
    publishes: o.publishes,
    window: o.window,
    expectedDeliveries: expected,
    deliveries: total(),
    publishesPerSecond: Math.round(o.publishes / publishSeconds),
    deliveriesPerSecond: Math.round(total() / publishSeconds),
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    anycasts: o.anycasts,
    anycastsAccepted: accepted,
    anycastsPerSecond: Math.round(o.anycasts / anycastSeconds),
  };
  if (o.json) console.log(JSON.stringify(report));
  else for (const [k, v] of Object.entries(report)) console.log(`${k.padEnd(20)} ${v}`);
} finally {
  for (const n of nodes) {
    n.scribe.stop();
    n.pastry.stop();
  }
  await Promise.all(nodes.map((n) => n.transport.close()));
}
