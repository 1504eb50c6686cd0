/**
 * `npm run bench:route -- --nodes 16 [--workers 2] [--concurrency 64] [--seconds 5] [--json]`
 *
 * Routed-message throughput and latency on a real loopback-TCP ring. The nodes are spread over
 * worker threads (default: one per CPU core, as separate machines would each have their own), all
 * talking TCP to each other. Load is closed-loop: `concurrency` tokens circulate; each is a
 * message routed to a random key from a random node, and the node it is delivered to routes the
 * next one. Latency is origin → root delivery, measured on the process-wide high-resolution clock.
 */
import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Command } from 'commander';
import { Id } from '../src/id/index.ts';
import type { AppMessage } from '../src/wire/index.ts';
import { TcpRing } from '../test/helpers/tcp-ring.ts';

interface WorkerConfig {
  index: number;
  seed: string;
  bodyBytes: number;
}

type ToWorker =
  | { cmd: 'add'; bootstrap: string | undefined }
  | { cmd: 'leafSets' }
  | { cmd: 'start'; tokens: number }
  | { cmd: 'measure'; on: boolean }
  | { cmd: 'token' }
  | { cmd: 'stop' };

type FromWorker =
  | { kind: 'added'; addr: string }
  | { kind: 'leafSets'; sizes: number[] }
  | { kind: 'token'; to: number }
  | { kind: 'result'; latencies: Float64Array; hops: number }
  | { kind: 'stopped' };

/** Process-wide clock: comparable across worker threads. */
const clock = (): number => performance.timeOrigin + performance.now();

if (!isMainThread) {
  await runWorker(workerData as WorkerConfig);
} else {
  await runMain();
}

async function runWorker(config: WorkerConfig): Promise<void> {
  const port = parentPort!;
  const payload = 'x'.repeat(config.bodyBytes);
  const latencies: number[] = [];
  let hops = 0;
  let measuring = false;
  let stopping = false;
  let seq = 0;
  let ring: TcpRing | undefined;
  const nodes: TcpRing['nodes'] = [];
  let keyState = BigInt(0x9e3779b97f4a7c15n) ^ BigInt(config.index + 1) * 0x5deece66dn;

  const nextKey = (): Id => {
    keyState ^= keyState << 13n;
    keyState ^= keyState >> 7n;
    keyState ^= keyState << 17n;
    keyState &= (1n << 160n) - 1n;
    return Id.fromBigInt(keyState);
  };
  const sendToken = (): void => {
    if (stopping || nodes.length === 0) return;
    const origin = nodes[seq++ % nodes.length]!;
    origin.pastry.route(nextKey(), { app: 'bench', mid: `w${config.index}-${seq}`, body: { t: clock(), p: payload } });
  };
  const onDeliver = (msg: AppMessage, h: number): void => {
    const body = msg.body as { t: number };
    if (measuring) {
      latencies.push(clock() - body.t);
      hops += h;
    }
    sendToken();
  };

  port.on('message', async (m: ToWorker) => {
    switch (m.cmd) {
      case 'add': {
        ring ??= await TcpRing.start(0, { seed: config.seed });
        const node = await ring.addNode(m.bootstrap, (n) => n.pastry.register({ name: 'bench', deliver: (msg, info) => onDeliver(msg, info.hops) }));
        nodes.push(node);
        port.postMessage({ kind: 'added', addr: node.transport.address } satisfies FromWorker);
        break;
      }
      case 'leafSets':
        port.postMessage({ kind: 'leafSets', sizes: nodes.map((n) => n.pastry.leafSetMembers().length) } satisfies FromWorker);
        break;
      case 'start':
        for (let i = 0; i < m.tokens; i++) sendToken();
        break;
      case 'measure':
        measuring = m.on;
        if (!m.on) port.postMessage({ kind: 'result', latencies: Float64Array.from(latencies), hops } satisfies FromWorker);
        break;
      case 'token':
        sendToken();
        break;
      case 'stop':
        stopping = true;
        await ring?.close();
        port.postMessage({ kind: 'stopped' } satisfies FromWorker);
        break;
    }
  });
}

async function runMain(): Promise<void> {
  const program = new Command('bench:route')
    .option('--nodes <n>', 'ring size', (v) => parseInt(v, 10), 16)
    .option('--workers <n>', 'worker threads hosting the nodes (default: CPU cores)', (v) => parseInt(v, 10), Math.max(1, Math.min(availableParallelism(), 16)))
    .option('--concurrency <n>', 'messages in flight (closed loop)', (v) => parseInt(v, 10), 8)
    .option('--seconds <s>', 'measured duration', (v) => parseFloat(v), 5)
    .option('--body-bytes <n>', 'payload size', (v) => parseInt(v, 10), 100)
    .option('--json', 'print one JSON object', false)
    .parse();
  const o = program.opts<{ nodes: number; workers: number; concurrency: number; seconds: number; bodyBytes: number; json: boolean }>();
  const workerCount = Math.min(o.workers, o.nodes);

  // Workers load tsx themselves before importing this file.
  const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); });`;
  const workers = Array.from({ length: workerCount }, (_, index) => new Worker(boot, { eval: true, workerData: { index, seed: `bench-route-${index}`, bodyBytes: o.bodyBytes } satisfies WorkerConfig }));
  const inbox = workers.map(() => [] as FromWorker[]);
  const waiters = workers.map(() => [] as ((m: FromWorker) => void)[]);
  workers.forEach((w, i) =>
    w.on('message', (m: FromWorker) => {
      const waiter = waiters[i]!.shift();
      if (waiter) waiter(m);
      else inbox[i]!.push(m);
    }),
  );
  const ask = (i: number, m: ToWorker): Promise<FromWorker> =>
    new Promise((resolve) => {
      waiters[i]!.push(resolve);
      workers[i]!.postMessage(m);
    });

  const addrs: string[] = [];
  for (let i = 0; i < o.nodes; i++) {
    const bootstrap = addrs.length === 0 ? undefined : addrs[i % addrs.length];
    const r = (await ask(i % workerCount, { cmd: 'add', bootstrap })) as { addr: string };
    addrs.push(r.addr);
  }
  const want = Math.min(o.nodes - 1, 24);
  for (let tries = 0; ; tries++) {
    const sizes = (await Promise.all(workers.map((_, i) => ask(i, { cmd: 'leafSets' })))).flatMap((r) => (r as { sizes: number[] }).sizes);
    if (sizes.every((s) => s === want)) break;
    if (tries > 300) throw new Error(`leaf sets did not converge: ${sizes.join(',')}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  for (let i = 0; i < workerCount; i++) workers[i]!.postMessage({ cmd: 'start', tokens: Math.ceil(o.concurrency / workerCount) } satisfies ToWorker);
  await new Promise((r) => setTimeout(r, 1000)); // warm-up: connections, JIT
  for (const w of workers) w.postMessage({ cmd: 'measure', on: true } satisfies ToWorker);
  const start = clock();
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  const results = (await Promise.all(workers.map((_, i) => ask(i, { cmd: 'measure', on: false })))) as { latencies: Float64Array; hops: number }[];
  const elapsed = (clock() - start) / 1000;
  await Promise.all(workers.map((_, i) => ask(i, { cmd: 'stop' })));
  await Promise.all(workers.map((w) => w.terminate()));

  const all = Float64Array.from(results.flatMap((r) => [...r.latencies])).sort();
  const hops = results.reduce((a, r) => a + r.hops, 0);
  const pct = (p: number): number => all[Math.min(all.length - 1, Math.floor((p / 100) * all.length))] ?? 0;
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  const report = {
    nodes: o.nodes,
    workers: workerCount,
    concurrency: o.concurrency,
    bodyBytes: o.bodyBytes,
    seconds: round(elapsed),
    messages: all.length,
    messagesPerSecond: Math.round(all.length / elapsed),
    p50Ms: round(pct(50)),
    p99Ms: round(pct(99)),
    maxMs: round(all[all.length - 1] ?? 0),
    avgHops: all.length > 0 ? round(hops / all.length) : 0,
  };
  if (o.json) console.log(JSON.stringify(report));
  else for (const [k, v] of Object.entries(report)) console.log(`${k.padEnd(18)} ${v}`);
}
