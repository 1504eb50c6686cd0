/**
 * A simulated ring: many real {@link PastryNode}s in one process, on a {@link SimNetwork}, in the
 * virtual time of one {@link Scheduler}. Everything is derived from one seed, so a run replays
 * exactly. Higher layers (DHT, Scribe, applications) attach to each node through
 * {@link SimRing.onNodeCreated}.
 */
import { compareCloseness, randomNodeId } from '../id/index.ts';
import type { Location , Id} from '../id/index.ts';
import { VirtualEnv } from '../env/index.ts';
import type { LogLevel } from '../env/index.ts';
import { SimNetwork } from '../transport/index.ts';
import type { SimNetworkOptions, SimTransport } from '../transport/index.ts';
import { PastryNode } from '../overlay/index.ts';
import type { OverlayOptions } from '../overlay/index.ts';

/** Where a simulated node is in its life. */
export type SimNodeStatus = 'joining' | 'live' | 'leaving' | 'left' | 'crashed' | 'failed';

/** One simulated node. */
export interface SimNode {
  readonly index: number;
  readonly id: Id;
  readonly addr: string;
  env: VirtualEnv;
  transport: SimTransport;
  pastry: PastryNode;
  status: SimNodeStatus;
  /** Region / availability zone, when the node is zoned. */
  readonly location: Location | undefined;
  /** Virtual time the node became live. */
  liveSince: number;
  /** Per-node state attached by higher layers (e.g. the DHT instance). */
  readonly attachments: Map<string, unknown>;
}

/** Options of a {@link SimRing}. */
export interface SimRingOptions {
  seed: string | number;
  network?: SimNetworkOptions;
  overlay?: Partial<OverlayOptions>;
  /** Log level of the in-memory logger (default 'warn'). */
  logLevel?: LogLevel;
  /** Echo log lines to stderr (debugging). */
  echoLogs?: boolean;
  logCapacity?: number;
}

export class SimRing {
  readonly env: VirtualEnv;
  readonly network: SimNetwork;
  readonly nodes: SimNode[] = [];
  private readonly createHooks: ((node: SimNode) => void)[] = [];
  /** Live node ids as sorted bigints (for the true closest node to a key). */
  private liveSorted: bigint[] = [];
  private readonly liveByValue = new Map<bigint, SimNode>();
  private readonly random;

  constructor(readonly options: SimRingOptions) {
    this.env = VirtualEnv.create({ seed: options.seed, logLevel: options.logLevel ?? 'warn', echo: options.echoLogs, logCapacity: options.logCapacity });
    this.random = this.env.random.fork('ring');
    this.network = new SimNetwork(this.env.scheduler, this.env.random.fork('network'), options.network);
  }

  get scheduler() {
    return this.env.scheduler;
  }

  now(): number {
    return this.env.now();
  }

  /** Registers a hook run for every node created from now on (attach applications here). */
  onNodeCreated(hook: (node: SimNode) => void): void {
    this.createHooks.push(hook);
  }

  /** Nodes that are live (joined, not crashed or leaving). */
  live(): SimNode[] {
    return this.nodes.filter((n) => n.status === 'live');
  }

  get liveCount(): number {
    return this.liveSorted.length;
  }

  /** A random live node. */
  randomLive(): SimNode {
    const v = this.liveSorted[this.random.int(this.liveSorted.length)]!;
    return this.liveByValue.get(v)!;
  }

  /** The live node numerically closest to `key` (ties: smaller id) — the correct root. */
  closestLive(key: Id): SimNode | undefined {
    const arr = this.liveSorted;
    if (arr.length === 0) return undefined;
    const k = key.big;
    let lo = 0;
    let hi = arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (arr[mid]! < k) lo = mid + 1;
      else hi = mid;
    }
    const a = this.liveByValue.get(arr[lo % arr.length]!)!;
    const b = this.liveByValue.get(arr[(lo - 1 + arr.length) % arr.length]!)!;
    return compareCloseness(key, a.id, b.id) <= 0 ? a : b;
  }

  /**
   * Creates a node (not yet joined). `id` defaults to a random id in `location`; `addr` reuses an
   * address (restart of a crashed node).
   */
  createNode(options: { id?: Id; addr?: string; location?: Location } = {}): SimNode {
    const index = this.nodes.length;
    const location = options.location;
    const nodeRandom = this.random.fork(`node-${index}`);
    const id = options.id ?? randomNodeId((n) => nodeRandom.bytes(n), location);
    const env = this.env.fork(`node-${index}`, { node: id.short() });
    const transport = this.network.createTransport(options.addr);
    const pastry = new PastryNode(env, transport, id, this.options.overlay);
    const node: SimNode = { index, id, addr: transport.address, env, transport, pastry, status: 'joining', location, liveSince: 0, attachments: new Map() };
    this.nodes.push(node);
    for (const hook of this.createHooks) hook(node);
    pastry.register({
      name: '__sim',
      deliver: () => {},
      ready: () => this.markLive(node),
    });
    return node;
  }

  /** Starts a new ring with a fresh node. */
  createFirst(location?: Location): SimNode {
    const node = this.createNode({ location });
    node.pastry.createRing();
    return node;
  }

  /** Starts `node` joining through a random live node (or the given addresses). */
  startJoin(node: SimNode, bootstrap?: string[]): void {
    const via = bootstrap ?? (this.liveCount > 0 ? [this.randomLive().addr] : []);
    node.pastry.join(via).catch(() => {
      if (node.status === 'joining') node.status = 'failed';
    });
  }

  private markLive(node: SimNode): void {
    if (node.status !== 'joining') return;
    node.status = 'live';
    node.liveSince = this.now();
    this.insertLive(node);
  }

  private insertLive(node: SimNode): void {
    const v = node.id.big;
    if (this.liveByValue.has(v)) return;
    this.liveByValue.set(v, node);
    let lo = 0;
    let hi = this.liveSorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.liveSorted[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    this.liveSorted.splice(lo, 0, v);
  }

  private removeLive(node: SimNode): void {
    const v = node.id.big;
    if (this.liveByValue.get(v) !== node) return;
    this.liveByValue.delete(v);
    const i = this.liveSorted.indexOf(v);
    if (i >= 0) this.liveSorted.splice(i, 1);
  }

  /** Silent crash: the node stops and its address goes dark, nobody is told. */
  crash(node: SimNode): void {
    if (node.status === 'crashed' || node.status === 'left') return;
    this.removeLive(node);
    node.status = 'crashed';
    node.env.halt();
    this.network.crash(node.addr);
  }

  /** Graceful leave (announced); the node stops after its grace period. */
  leave(node: SimNode): void {
    if (node.status !== 'live') return;
    this.removeLive(node);
    node.status = 'leaving';
    node.pastry.leave().then(
      () => {
        node.status = 'left';
      },
      () => {
        node.status = 'left';
      },
    );
  }

  /**
   * Restarts a crashed (or departed) node with the same id and address, as a machine rebooting
   * onto the same data directory; it rejoins through a live node. Returns the new incarnation.
   */
  restart(node: SimNode): SimNode {
    if (node.status !== 'crashed' && node.status !== 'left') throw new Error(`node ${node.index} is ${node.status}, not down`);
    const fresh = this.createNode({ id: node.id, addr: node.addr, location: node.location });
    this.startJoin(fresh);
    return fresh;
  }

  /**
   * Builds a ring of `n` nodes joining one after another through random live nodes (callback
   * style: for the overlay alone). Returns the number that failed to join.
   */
  buildSync(n: number, joinTimeoutMs = 30_000, location?: Location): number {
    let failures = 0;
    if (this.liveCount === 0) {
      this.createFirst(location);
      n--;
    }
    for (let i = 0; i < n; i++) {
      const node = this.createNode({ location });
      this.startJoin(node);
      this.scheduler.runUntilTrueSync(() => node.status !== 'joining', joinTimeoutMs);
      if (node.status !== 'live') failures++;
    }
    return failures;
  }

  /** Builds a ring of `n` nodes, letting promise continuations of higher layers run. */
  async build(n: number, joinTimeoutMs = 30_000, location?: Location): Promise<SimNode[]> {
    const created: SimNode[] = [];
    if (this.liveCount === 0) {
      created.push(this.createFirst(location));
      n--;
    }
    for (let i = 0; i < n; i++) {
      const node = this.createNode({ location });
      created.push(node);
      this.startJoin(node);
      await this.scheduler.runUntilTrue(() => node.status !== 'joining', joinTimeoutMs, `node ${node.index} joined`);
      if (node.status !== 'live') throw new Error(`node ${node.index} failed to join`);
    }
    return created;
  }

  /** Runs `ms` of virtual time (async: promise continuations run in order). */
  runFor(ms: number): Promise<void> {
    return this.scheduler.runFor(ms);
  }

  /** Runs until `condition` holds; rejects after `timeoutMs` of virtual time. */
  runUntil(condition: () => boolean, timeoutMs: number, what?: string): Promise<void> {
    return this.scheduler.runUntilTrue(condition, timeoutMs, what);
  }

  /** Whether every live node's leaf set matches the true ring (diagnostics and tests). */
  leafSetsConsistent(): { consistent: boolean; wrong: number } {
    const live = this.liveSorted;
    const n = live.length;
    let wrong = 0;
    for (let i = 0; i < n; i++) {
      const node = this.liveByValue.get(live[i]!)!;
      const half = node.pastry.options.leafSetSize / 2;
      const want = Math.min(half, n - 1);
      const right = node.pastry.leafSet().right.map((h) => h.id.big);
      const left = node.pastry.leafSet().left.map((h) => h.id.big);
      let ok = right.length >= want && left.length >= want;
      for (let k = 1; ok && k <= want; k++) {
        if (right[k - 1] !== live[(i + k) % n]) ok = false;
        if (left[k - 1] !== live[(i - k + n * k) % n]) ok = false;
      }
      if (!ok) wrong++;
    }
    return { consistent: wrong === 0, wrong };
  }
}
