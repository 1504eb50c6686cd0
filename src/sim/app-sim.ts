/**
 * The whole per-node stack in the simulator: PastryNode + DHT (memory engine that survives
 * restarts) + Scribe + an application host with the applications a factory makes for each node.
 * Tests and simulation commands of the application framework build on it.
 */
import { ApplicationHost } from '../app/index.ts';
import type { PiApplication } from '../app/index.ts';
import type { Dht, DhtOptions } from '../dht/index.ts';
import type { Location } from '../id/index.ts';
import type { OverlayOptions } from '../overlay/index.ts';
import { Scribe } from '../scribe/index.ts';
import type { ScribeOptions } from '../scribe/index.ts';
import type { SimNetworkOptions } from '../transport/index.ts';
import { DhtSim } from './dht-chaos.ts';
import type { SimNode, SimRing } from './ring.ts';

/** Options of an {@link AppSim}. */
export interface AppSimOptions {
  seed: string | number;
  network?: SimNetworkOptions;
  overlay?: Partial<OverlayOptions>;
  dht?: Partial<DhtOptions>;
  scribe?: Partial<ScribeOptions>;
  /** Without Scribe, pub/sub applications cannot run (default: with). */
  scribeEnabled?: boolean;
  /** The applications of one node (called for every node created, restarts included). */
  apps?: (node: SimNode) => PiApplication[];
  /** Step of the async run loops (see DhtSim); default 1 ms. */
  stepMs?: number;
  logCapacity?: number;
}

/** A simulated ring whose nodes run the full application stack. */
export class AppSim {
  readonly dhtSim: DhtSim;

  constructor(readonly options: AppSimOptions) {
    this.dhtSim = new DhtSim({
      seed: options.seed,
      network: options.network,
      overlay: options.overlay,
      dht: options.dht,
      stepMs: options.stepMs ?? 1,
      logCapacity: options.logCapacity,
    });
    this.ring.onNodeCreated((node) => {
      const dht = this.dhtSim.dht(node);
      const scribe = options.scribeEnabled === false ? undefined : new Scribe({ env: node.env, node: node.pastry, options: options.scribe });
      if (scribe) node.attachments.set('scribe', scribe);
      const host = new ApplicationHost({ env: node.env, node: node.pastry, dht, location: node.location, ...(scribe ? { scribe } : {}) });
      node.attachments.set('apps', host);
      for (const app of options.apps?.(node) ?? []) host.add(app);
      node.pastry.register({ name: '__appsim', deliver: () => {}, ready: () => void host.start() });
    });
  }

  get ring(): SimRing {
    return this.dhtSim.ring;
  }

  host(node: SimNode): ApplicationHost {
    return node.attachments.get('apps') as ApplicationHost;
  }

  dht(node: SimNode): Dht {
    return this.dhtSim.dht(node);
  }

  scribe(node: SimNode): Scribe {
    const s = node.attachments.get('scribe') as Scribe | undefined;
    if (!s) throw new Error('this simulation runs without Scribe');
    return s;
  }

  /** The application `name` of `node`. */
  app<T extends PiApplication>(node: SimNode, name: string): T {
    const app = this.host(node).get<T>(name);
    if (!app) throw new Error(`node ${node.index} has no application ${name}`);
    return app;
  }

  /** Live nodes on which application `name` is active. */
  activeNodes(name: string): SimNode[] {
    return this.ring.live().filter((n) => this.host(n).get(name)?.isActive);
  }

  /** Builds a ring of `n` nodes (in `location` if given) and lets it settle for `settleMs`. */
  async build(n: number, options: { location?: Location; settleMs?: number } = {}): Promise<SimNode[]> {
    const nodes = await this.ring.build(n, 30_000, options.location);
    await this.run(options.settleMs ?? 2000);
    return nodes;
  }

  /**
   * A silent crash: the node stops and nobody is told. Its host is aborted, which models the
   * operating system releasing the process's sockets and addresses (nothing is sent).
   */
  crash(node: SimNode): void {
    this.ring.crash(node);
    this.host(node).abort();
    this.scribeOf(node)?.stop();
  }

  /** Graceful stop: applications deactivate (releasing what they hold), data is handed off, the node leaves. */
  async leave(node: SimNode): Promise<void> {
    await this.host(node).stop();
    this.scribeOf(node)?.leave();
    await this.dhtSim.leave(node);
  }

  /** Restarts a crashed or departed node with the same id, address and storage. */
  restart(node: SimNode): SimNode {
    return this.ring.restart(node);
  }

  run(ms: number): Promise<void> {
    return this.dhtSim.run(ms);
  }

  runUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    return this.dhtSim.runUntil(cond, timeoutMs);
  }

  /** Runs virtual time until `promise` settles; rejects after `timeoutMs`. */
  settle<T>(promise: Promise<T>, timeoutMs = 120_000): Promise<T> {
    return this.dhtSim.settle(promise, timeoutMs);
  }

  private scribeOf(node: SimNode): Scribe | undefined {
    return node.attachments.get('scribe') as Scribe | undefined;
  }
}
