/**
 * The publish/subscribe variant of the application base class: everything a
 * {@link PiApplication} has, plus topics (subscribe, publish, anycast) with handlers for topic
 * messages, anycasts offered to this node, and the no-subscriber event on a topic's root.
 *
 * Topics are named by URI and scope; a REGION / AVAILABILITY_ZONE topic is the one of this node's
 * location (its tree stays in the zone). Subscriptions are dropped when the application stops.
 */
import { Scope } from '../id/index.ts';
import { makeTopic } from '../scribe/index.ts';
import type { AnycastHandlerResult, AnycastResult, NoSubscribersEvent, ScribeClient, ScribeMessage, Topic } from '../scribe/index.ts';
import type { Method } from '../wire/index.ts';
import { parseScope } from './activation.ts';
import { PiApplication } from './application.ts';
import type { ApplicationOptions } from './application.ts';
import { NO_LOCATION } from './records.ts';

/** Options of {@link PubSubApplication.anycast}. */
export interface AppAnycastOptions {
  tx?: string;
  timeoutMs?: number;
  /**
   * Start the walk at a random point of the topic's scope (default true): repeated anycasts from
   * one node spread over the subscribers instead of always reaching the nearest first.
   */
  random?: boolean;
}

/** A Pi application with publish/subscribe and anycast. */
export abstract class PubSubApplication extends PiApplication {
  private readonly subscriptions = new Map<string, Topic>();
  private readonly client: ScribeClient;
  private removeNoSubscribers: (() => void) | undefined;

  constructor(name: string, options: ApplicationOptions = {}) {
    super(name, options);
    this.client = {
      deliver: (topic, msg) => this.safely('onTopicMessage', () => this.onTopicMessage(topic, msg)),
      anycast: (topic, msg) => this.offerAnycast(topic, msg),
      subscribed: (topic) => this.safely('onSubscribed', () => this.onSubscribed(topic)),
    };
  }

  /** The topic `uri` in `scope` (default global), in this node's region / zone for scoped ones. */
  topic(uri: string, scope: Scope | 'global' | 'region' | 'az' = Scope.GLOBAL): Topic {
    return makeTopic(uri, parseScope(scope), this.location ?? NO_LOCATION);
  }

  /**
   * Subscribes this application on this node. Resolves once the node is in the topic's tree
   * (rejects with `Timeout` if that takes too long; the subscription keeps trying).
   */
  async subscribe(topic: Topic | string): Promise<Topic> {
    const t = typeof topic === 'string' ? this.topic(topic) : topic;
    this.subscriptions.set(t.id.hex, t);
    this.listenForNoSubscribers();
    await this.scribe.subscribe(t, this.client);
    return t;
  }

  /** Drops this application's subscription; returns whether it was subscribed. */
  unsubscribe(topic: Topic | string): boolean {
    const t = typeof topic === 'string' ? this.topic(topic) : topic;
    this.subscriptions.delete(t.id.hex);
    return this.scribe.unsubscribe(t, this.client);
  }

  /** Whether this application subscribes to `topic` here. */
  isSubscribed(topic: Topic | string): boolean {
    const t = typeof topic === 'string' ? this.topic(topic) : topic;
    return this.subscriptions.has(t.id.hex);
  }

  /** Topics this application subscribes to here. */
  topics(): Topic[] {
    return [...this.subscriptions.values()];
  }

  /** Publishes to every subscriber of `topic` (unreliable; returns the publish id). */
  publish(topic: Topic | string, method: Method | undefined, entity: unknown, options: { tx?: string } = {}): string {
    const t = typeof topic === 'string' ? this.topic(topic) : topic;
    return this.scribe.publish(t, method, entity, options);
  }

  /**
   * Offers `entity` to the topic's subscribers one at a time until one accepts. Rejects with
   * `NoSubscribers`, `AllDeclined` or `Timeout`.
   */
  anycast(topic: Topic | string, method: Method | undefined, entity: unknown, options: AppAnycastOptions = {}): Promise<AnycastResult> {
    const t = typeof topic === 'string' ? this.topic(topic) : topic;
    const o = { ...(options.tx !== undefined ? { tx: options.tx } : {}), ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) };
    return options.random === false ? this.scribe.anycast(t, method, entity, o) : this.scribe.randomAnycast(t, method, entity, o);
  }

  /** Listens for no-subscriber events on this node (the host calls it before `onStart`). */
  override prepare(): void {
    super.prepare();
    if (this.host.hasScribe) this.listenForNoSubscribers();
  }

  /** Drops every subscription (the host calls it when the application stops). */
  override releaseResources(aborting = false): void {
    super.releaseResources(aborting);
    this.removeNoSubscribers?.();
    this.removeNoSubscribers = undefined;
    if (aborting || !this.host.hasScribe) return;
    for (const t of this.subscriptions.values()) this.scribe.unsubscribe(t, this.client);
    this.subscriptions.clear();
  }

  // ---- handlers ---------------------------------------------------------------------------

  /** A message published to a topic this application subscribes to. */
  onTopicMessage(_topic: Topic, _msg: ScribeMessage): void {}

  /**
   * An anycast offered to this node: return `true` / `{ accept: true, reply }` to take it, or
   * `false` / `{ accept: false, entity }` to pass it on. The default declines.
   */
  onAnycast(_topic: Topic, _msg: ScribeMessage): AnycastHandlerResult | Promise<AnycastHandlerResult> {
    return false;
  }

  /** This node became part of a topic's tree. */
  onSubscribed(_topic: Topic): void {}

  /** A publish or anycast to one of this application's topics found nobody (raised on the topic's root). */
  onNoSubscribers(_event: NoSubscribersEvent): void {}

  // ---- internals --------------------------------------------------------------------------

  private listenForNoSubscribers(): void {
    if (this.removeNoSubscribers) return;
    this.removeNoSubscribers = this.scribe.onNoSubscribers((event) => {
      if (this.subscriptions.has(event.topic.id.hex) || this.ownsTopic(event.topic)) this.safely('onNoSubscribers', () => this.onNoSubscribers(event));
    });
  }

  /**
   * Whether no-subscriber events of `topic` go to this application although it does not
   * subscribe to it here (override for topics it publishes or anycasts to). Default: none.
   */
  ownsTopic(_topic: Topic): boolean {
    return false;
  }

  private offerAnycast(topic: Topic, msg: ScribeMessage): AnycastHandlerResult | Promise<AnycastHandlerResult> {
    try {
      const r = this.onAnycast(topic, msg);
      if (r instanceof Promise) {
        return r.catch((err: unknown) => {
          this.host.reportError(this.name, err, 'onAnycast');
          return false;
        });
      }
      return r;
    } catch (err) {
      this.host.reportError(this.name, err, 'onAnycast');
      return false;
    }
  }

  private safely(during: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.host.reportError(this.name, err, during);
    }
  }
}
