/**
 * A ring of real Pastry nodes over loopback TCP in this process (tests and benchmarks).
 */
import type { Id} from '../../src/id/index.ts';
import { compareCloseness, randomNodeId } from '../../src/id/index.ts';
import { LogStore, MemoryLogger, RealEnv } from '../../src/env/index.ts';
import type { LogLevel } from '../../src/env/index.ts';
import { TcpTransport } from '../../src/transport/index.ts';
import type { TlsCredentials } from '../../src/transport/index.ts';
import { PastryNode } from '../../src/overlay/index.ts';
import type { OverlayOptions } from '../../src/overlay/index.ts';
import { waitFor } from './wait.ts';

export interface TcpRingNode {
  id: Id;
  env: RealEnv;
  transport: TcpTransport;
  pastry: PastryNode;
  crashed: boolean;
}

export interface TcpRingOptions {
  seed?: string;
  overlay?: Partial<OverlayOptions>;
  logLevel?: LogLevel;
  tls?: (index: number) => TlsCredentials;
  /** Called for each node before it joins (register applications here). */
  onNode?: (node: TcpRingNode, index: number) => void;
}

export class TcpRing {
  readonly nodes: TcpRingNode[] = [];
  readonly logs: LogStore;

  private constructor(private readonly options: TcpRingOptions) {
    this.logs = new LogStore(100_000, () => Date.now());
  }

  /** Starts `n` nodes: the first creates the ring, the rest join through random earlier nodes. */
  static async start(n: number, options: TcpRingOptions = {}): Promise<TcpRing> {
    const ring = new TcpRing(options);
    for (let i = 0; i < n; i++) await ring.addNode();
    return ring;
  }

  /**
   * Starts one more node. It joins through `bootstrap` if given, else through a random live node
   * of this ring, else it creates the ring. `onNode` runs before it joins (register apps there).
   */
  async addNode(bootstrap?: string, onNode?: (node: TcpRingNode) => void): Promise<TcpRingNode> {
    const i = this.nodes.length;
    const seed = `${this.options.seed ?? 'tcp-ring'}-${i}`;
    const logger = new MemoryLogger(this.logs, this.options.logLevel ?? 'warn');
    const env = new RealEnv({ seed, logger });
    const id = randomNodeId((k) => env.random.bytes(k));
    const transport = await TcpTransport.listen({ env, host: '127.0.0.1', port: 0, nodeId: id, tls: this.options.tls?.(i) });
    const pastry = new PastryNode(env.withLog({ node: id.short() }), transport, id, this.options.overlay);
    const node: TcpRingNode = { id, env, transport, pastry, crashed: false };
    this.options.onNode?.(node, i);
    onNode?.(node);
    this.nodes.push(node);
    const live = this.live().filter((x) => x !== node && x.pastry.isReady);
    if (bootstrap !== undefined) await pastry.join([bootstrap]);
    else if (live.length === 0) pastry.createRing();
    else await pastry.join([live[Math.floor(env.random.next() * live.length)]!.transport.address]);
    return node;
  }

  live(): TcpRingNode[] {
    return this.nodes.filter((n) => !n.crashed);
  }

  /** The live node numerically closest to `key`. */
  closestLive(key: Id): TcpRingNode {
    return this.live().reduce((best, n) => (compareCloseness(key, n.id, best.id) < 0 ? n : best));
  }

  /** Kills a node at socket level: timers stop, connections drop, nobody is told. */
  crash(node: TcpRingNode): void {
    node.crashed = true;
    node.pastry.stop();
  }

  /** Waits until every live node's leaf set holds exactly the other live nodes (small rings). */
  async waitConverged(timeoutMs = 15_000): Promise<void> {
    await waitFor(
      () => {
        const live = this.live();
        const want = Math.min(live.length - 1, this.nodes[0]!.pastry.options.leafSetSize);
        return live.every((n) => {
          const members = n.pastry.leafSetMembers();
          return members.length === want && members.every((m) => live.some((l) => l.id.equals(m.id)));
        });
      },
      { timeoutMs, what: 'leaf sets to converge', intervalMs: 20 },
    );
  }

  async close(): Promise<void> {
    for (const n of this.nodes) if (!n.crashed) n.pastry.stop();
    await Promise.all(this.nodes.map((n) => n.transport.close()));
  }
}
