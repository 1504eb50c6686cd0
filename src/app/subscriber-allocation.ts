/**
 * Subscriber resource allocation: nodes that have a resource to give (capacity, slots, disk…)
 * advertise it by subscribing to a topic; a client that needs some sends an anycast to the topic;
 * the first subscriber that accepts allocates and answers with what it allocated.
 *
 * A provider subscribes while it has capacity and unsubscribes when it runs out (call
 * {@link SubscriberResourcePool.update} after its capacity changes), so anycasts only visit nodes
 * that may accept. Anycasts start at a random point of the topic's scope, spreading allocations.
 */
import type { Scope } from '../id/index.ts';
import { makeTopic } from '../scribe/index.ts';
import type { ScribeClient, ScribeMessage, Topic } from '../scribe/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import { parseScope } from './activation.ts';
import { errorInfo } from './errors.ts';
import type { ApplicationHost } from './host.ts';
import { NO_LOCATION } from './records.ts';

/** What a node with capacity provides. */
export interface CapacityProvider<Req = unknown, Alloc = unknown> {
  /** Whether this node can take more (it stays subscribed while true). */
  hasCapacity(): boolean;
  /**
   * Allocates for `request` (from node `from`), or declines with undefined. May be async; the
   * anycast waits.
   */
  tryAllocate(request: Req, from: NodeHandle, tx: string | undefined): Alloc | undefined | Promise<Alloc | undefined>;
}

/** An accepted allocation. */
export interface Allocation<Alloc = unknown> {
  /** The node that allocated. */
  by: NodeHandle;
  allocation: Alloc;
  /** Subscribers the anycast visited. */
  visited: number;
}

/** One topic of offered capacity, on one node. */
export class SubscriberResourcePool<Req = unknown, Alloc = unknown> {
  readonly topic: Topic;
  readonly stats = { offered: 0, accepted: 0, declined: 0, requests: 0, failures: 0 };
  private provider: CapacityProvider<Req, Alloc> | undefined;
  private readonly client: ScribeClient;
  private subscribed = false;

  constructor(
    private readonly host: ApplicationHost,
    uri: string,
    scope: Scope | 'global' | 'region' | 'az' = 'global',
    /** Application blamed in error reports. */
    private readonly app?: string,
  ) {
    this.topic = makeTopic(uri, parseScope(scope), host.location ?? NO_LOCATION);
    this.client = { anycast: (_t, msg) => this.offer(msg) };
  }

  /** Offers this node's capacity: subscribes while `provider.hasCapacity()`. */
  async provide(provider: CapacityProvider<Req, Alloc>): Promise<void> {
    this.provider = provider;
    await this.update();
  }

  /** Re-reads the provider's capacity: subscribes or unsubscribes accordingly. */
  async update(): Promise<void> {
    const want = this.provider?.hasCapacity() ?? false;
    if (want && !this.subscribed) {
      this.subscribed = true;
      try {
        await this.host.scribe.subscribe(this.topic, this.client);
      } catch (err) {
        // The subscription keeps trying; a Timeout only means it is not confirmed yet.
        if (errorInfo(err).code !== 'Timeout') {
          this.subscribed = false;
          throw err;
        }
      }
    } else if (!want && this.subscribed) {
      this.subscribed = false;
      this.host.scribe.unsubscribe(this.topic, this.client);
    }
  }

  /** Stops offering. */
  withdraw(): void {
    this.provider = undefined;
    if (this.subscribed) {
      this.subscribed = false;
      this.host.scribe.unsubscribe(this.topic, this.client);
    }
  }

  /** Whether this node currently offers capacity. */
  get offering(): boolean {
    return this.subscribed;
  }

  /**
   * Asks the topic's subscribers for an allocation. Rejects with `NoSubscribers` (nobody has
   * capacity), `AllDeclined` or `Timeout`.
   */
  async request(request: Req, options: { timeoutMs?: number; tx?: string } = {}): Promise<Allocation<Alloc>> {
    this.stats.requests++;
    try {
      const r = await this.host.scribe.randomAnycast(this.topic, 'CREATE', request, options);
      return { by: r.by, allocation: r.reply as Alloc, visited: r.visited };
    } catch (err) {
      this.stats.failures++;
      throw err;
    }
  }

  private async offer(msg: ScribeMessage): Promise<{ accept: true; reply: Alloc } | false> {
    const p = this.provider;
    this.stats.offered++;
    if (!p || !p.hasCapacity()) {
      this.stats.declined++;
      return false;
    }
    try {
      const alloc = await p.tryAllocate(msg.entity as Req, msg.source, msg.tx);
      if (alloc === undefined) {
        this.stats.declined++;
        return false;
      }
      this.stats.accepted++;
      return { accept: true, reply: alloc };
    } catch (err) {
      this.stats.declined++;
      if (this.app) this.host.reportError(this.app, err, `allocation on ${this.topic.uri}`);
      return false;
    } finally {
      void this.update().catch(() => {});
    }
  }
}
