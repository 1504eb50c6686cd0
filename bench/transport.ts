/**
 * One-way throughput of TcpTransport over loopback: small ROUTE messages (100-byte body by
 * default) from one transport to another over one connection.
 *
 *   node --import tsx bench/transport.ts [--messages N] [--body BYTES] [--tls] [--same-thread]
 *
 * By default the receiver runs in a worker thread, as two nodes on one machine would each have
 * their own process; `--same-thread` puts both ends on one event loop (encode, send, receive,
 * decode and validate all share one core). The sender keeps at most ~8 MiB in flight (it yields
 * while more is pending), so the run measures the transport, not the drop path.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { LogStore, MemoryLogger, RealEnv } from '../src/env/index.ts';
import { Id } from '../src/id/index.ts';
import { createCa, createNodeCert } from '../src/node/certs.ts';
import { TcpTransport } from '../src/transport/index.ts';
import type { TlsCredentials } from '../src/transport/index.ts';
import { MessageType } from '../src/wire/index.ts';
import type { RouteMessage } from '../src/wire/index.ts';

const WARMUP = 20_000;

interface ReceiverConfig {
  total: number;
  tls: TlsCredentials | undefined;
}

function env(): RealEnv {
  return new RealEnv({ seed: 1, logger: new MemoryLogger(new LogStore(1000, () => Date.now()), 'warn') });
}

/** Starts a receiver; `onCount` fires after the warm-up and after the last timed message. */
async function startReceiver(config: ReceiverConfig, onEvent: (event: 'warm' | 'done') => void): Promise<TcpTransport> {
  const t = await TcpTransport.listen({ env: env(), tls: config.tls });
  let received = 0;
  t.setHandler(() => {
    received++;
    if (received === WARMUP) onEvent('warm');
    else if (received === WARMUP + config.total) onEvent('done');
  });
  return t;
}

if (!isMainThread) {
  // Receiver thread: reports its address, then 'warm' and 'done'.
  const config = workerData as ReceiverConfig;
  const t = await startReceiver(config, (event) => parentPort!.postMessage(event));
  parentPort!.postMessage({ address: t.address });
  parentPort!.once('message', () => {
    void t.close().then(() => parentPort!.close());
  });
} else {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '1000000' },
      body: { type: 'string', default: '100' },
      tls: { type: 'boolean', default: false },
      'same-thread': { type: 'boolean', default: false },
    },
  });
  const total = Number(values.messages);
  const bodyBytes = Number(values.body);

  let tlsA: TlsCredentials | undefined;
  let tlsB: TlsCredentials | undefined;
  if (values.tls) {
    const ca = await createCa();
    const issue = async (name: string): Promise<TlsCredentials> => {
      const kc = await createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name });
      return { key: kc.keyPem, cert: kc.certPem, ca: ca.certPem };
    };
    tlsA = await issue('sender');
    tlsB = await issue('receiver');
  }

  // Receiver events arrive through `events`; `next(kind)` waits for one.
  const waiting = new Map<string, () => void>();
  const arrived = new Set<string>();
  const onEvent = (event: string): void => {
    const w = waiting.get(event);
    if (w) w();
    else arrived.add(event);
  };
  const next = (event: string): Promise<void> =>
    arrived.has(event) ? Promise.resolve() : new Promise((resolve) => waiting.set(event, resolve));

  let receiverAddress: string;
  let stopReceiver: () => Promise<void>;
  if (values['same-thread']) {
    const r = await startReceiver({ total, tls: tlsB }, onEvent);
    receiverAddress = r.address;
    stopReceiver = () => r.close();
  } else {
    // The worker must load tsx itself before it can import this .ts file.
    const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); });`;
    const worker = new Worker(boot, { eval: true, workerData: { total, tls: tlsB } satisfies ReceiverConfig });
    receiverAddress = await new Promise<string>((resolve, reject) => {
      worker.on('message', (m: unknown) => {
        if (typeof m === 'string') onEvent(m);
        else resolve((m as { address: string }).address);
      });
      worker.once('error', reject);
    });
    stopReceiver = async () => {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage('stop');
      await exited;
    };
  }

  const a = await TcpTransport.listen({ env: env(), tls: tlsA });
  const key = Id.parse('5a'.repeat(20));
  const handle = { id: Id.parse('a5'.repeat(20)), addr: a.address };
  const body = 'x'.repeat(bodyBytes);
  const message = (hop: number): RouteMessage => ({
    t: MessageType.ROUTE,
    key,
    origin: handle,
    from: handle,
    hop,
    hops: 1,
    msg: { app: 'bench', mid: `m-${hop}`, kind: 'bench.ping', body },
  });

  const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const maxInFlight = 8 * 1024 * 1024;
  const sendAll = async (from: number, count: number): Promise<void> => {
    for (let sent = 0; sent < count; ) {
      const end = Math.min(count, sent + 2000);
      for (; sent < end; sent++) a.send(receiverAddress, message(from + sent));
      await yieldTurn();
      while ((a.connectionInfo()[0]?.pendingBytes ?? 0) > maxInFlight) await yieldTurn();
    }
  };

  // Warm up (connection, JIT) before timing.
  await sendAll(0, WARMUP);
  await next('warm');
  const start = performance.now();
  await sendAll(WARMUP, total);
  const sendDone = performance.now();
  await next('done');
  const elapsed = (performance.now() - start) / 1000;
  const rate = total / elapsed;
  const frameBytes = a.stats.bytesOut / a.stats.messagesOut;

  console.log(
    `${values.tls ? 'TLS' : 'TCP'}, ${values['same-thread'] ? 'both ends on one thread' : 'receiver in a worker thread'}: ` +
      `${total} ROUTE messages (${bodyBytes}-byte body, ${frameBytes.toFixed(0)} bytes per frame) in ${elapsed.toFixed(2)} s: ` +
      `${Math.round(rate).toLocaleString('en')} messages/s, ${((rate * frameBytes) / 1e6).toFixed(1)} MB/s ` +
      `(sender done after ${((sendDone - start) / 1000).toFixed(2)} s; dropped ${a.stats.dropped})`,
  );
  await a.close();
  await stopReceiver();
}
