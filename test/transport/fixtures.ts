/** Shared helpers of the TCP transport tests: environments with inspectable logs, raw peers. */
import net from 'node:net';
import { LogStore, MemoryLogger, RealEnv } from '../../src/env/index.ts';
import type { LogEntry, LogLevel } from '../../src/env/index.ts';
import { Id } from '../../src/id/index.ts';
import { TcpTransport } from '../../src/transport/index.ts';
import type { TcpTransportOptions } from '../../src/transport/index.ts';
import {
  FrameDecoder,
  MessageType,
  PROTOCOL_NAME,
  PROTOCOL_VERSION,
  decodeMessage,
  encodeMessage,
  frameHeader,
} from '../../src/wire/index.ts';
import type { DirectMessage, WireMessage } from '../../src/wire/index.ts';
import { waitFor } from '../helpers/wait.ts';

export { waitFor };

/** A real-time env whose log lines can be inspected. */
export function makeEnv(level: LogLevel = 'info'): { env: RealEnv; store: LogStore } {
  const store = new LogStore(100_000, () => Date.now());
  const env = new RealEnv({ seed: 1, logger: new MemoryLogger(store, level) });
  return { env, store };
}

/** Log entries carrying `code` at level warn or above. */
export function logged(store: LogStore, code: string): LogEntry[] {
  return store.entries.filter((e) => e['code'] === code && (e.level === 'warn' || e.level === 'error' || e.level === 'fatal'));
}

const NODE_ID = Id.parse('a1'.repeat(20));

/** A small DIRECT message numbered `n`. */
export function direct(n: number, body?: unknown): DirectMessage {
  const m: DirectMessage = { t: MessageType.DIRECT, from: { id: NODE_ID, addr: '127.0.0.1:4524' }, hop: n, msg: { app: 'test', mid: `m-${n}` } };
  if (body !== undefined) m.msg.body = body;
  return m;
}

/** A transport with its env, log store and a record of what it received. */
export interface Node {
  t: TcpTransport;
  store: LogStore;
  received: { message: WireMessage; from: string }[];
}

/** Starts a transport on an ephemeral loopback port, closed by `cleanup`. */
export async function startNode(cleanup: (fn: () => Promise<void>) => void, options: Partial<TcpTransportOptions> = {}): Promise<Node> {
  const { env, store } = makeEnv();
  const t = await TcpTransport.listen({ env, ...options });
  cleanup(() => t.close());
  const received: Node['received'] = [];
  t.setHandler((message, from) => received.push({ message, from }));
  return { t, store, received };
}

/** A hand-driven client or server socket speaking raw frames. */
export class RawPeer {
  readonly frames: WireMessage[] = [];
  readonly decodeErrors: unknown[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder();

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const body of this.decoder.push(chunk)) this.frames.push(decodeMessage(body));
      } catch (err) {
        this.decodeErrors.push(err);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static async connect(addr: string): Promise<RawPeer> {
    const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
    const socket = net.connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawPeer(socket);
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  sendFrame(body: Buffer): void {
    this.socket.write(Buffer.concat([frameHeader(body.length), body]));
  }

  send(message: unknown): void {
    this.sendFrame(encodeMessage(message as WireMessage));
  }

  sendHello(addr: string, v = PROTOCOL_VERSION, proto = PROTOCOL_NAME): void {
    this.send({ t: MessageType.HELLO, proto, v, addr });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A free loopback port (bound then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
