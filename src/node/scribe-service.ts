/**
 * Scribe (publish/subscribe, anycast, broadcast) as a node service: one {@link Scribe} per node,
 * leaving its topic trees gracefully before the node leaves, with `/api/topics` (this node's part
 * of every tree, and the topics of the whole ring), metrics and a dashboard summary.
 */
import { Scribe } from '../scribe/index.ts';
import type { ScribeStats, Topic, TreeInfo } from '../scribe/index.ts';
import { Scope } from '../id/index.ts';
import type { MetricFamily, NodeService, OpsRoute, ServiceContext } from './service.ts';

/** One topic as this node holds it. */
export interface TopicView {
  uri: string;
  id: string;
  scope: string;
  root: boolean;
  connected: boolean;
  /** Local subscribers (clients) on this node. */
  clients: number;
  children: number;
  /** Subscribers in this node's subtree, as far as it knows. */
  subtreeCount: number;
  parent?: string;
}

/** A topic across the ring (from every node's summary). */
export interface RingTopicView {
  uri: string;
  id: string;
  scope: string;
  /** Local subscribers summed over the nodes. */
  subscribers: number;
  /** Nodes holding tree state (subscribers and forwarders). */
  treeNodes: number;
  /** Node(s) that believe they are the root. */
  roots: string[];
}

function view(info: TreeInfo): TopicView {
  const v: TopicView = {
    uri: info.topic.uri,
    id: info.topic.id.hex,
    scope: Scope[info.topic.scope] ?? String(info.topic.scope),
    root: info.root,
    connected: info.connected,
    clients: info.clients,
    children: info.children.length,
    subtreeCount: info.subtreeCount,
  };
  if (info.parent) v.parent = info.parent.id.hex;
  return v;
}

/** Merges the topic summaries of many nodes. */
export function ringTopics(summaries: { node: string; topics: TopicView[] }[]): RingTopicView[] {
  const out = new Map<string, RingTopicView>();
  for (const { node, topics } of summaries) {
    for (const t of topics) {
      let r = out.get(t.id);
      if (!r) out.set(t.id, (r = { uri: t.uri, id: t.id, scope: t.scope, subscribers: 0, treeNodes: 0, roots: [] }));
      r.subscribers += t.clients;
      r.treeNodes++;
      if (t.root) r.roots.push(node);
    }
  }
  return [...out.values()].sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
}

/** The Scribe service of a node. */
export class ScribeService implements NodeService {
  readonly name = 'scribe';
  readonly kind = 'core';
  private scribeValue: Scribe | undefined;
  private ctx: ServiceContext | undefined;

  /** The node's Scribe (after start): applications subscribe, publish and anycast through it. */
  get scribe(): Scribe {
    if (!this.scribeValue) throw new Error('the Scribe service has not started');
    return this.scribeValue;
  }

  start(ctx: ServiceContext): void {
    this.ctx = ctx;
    this.scribeValue = new Scribe({ env: ctx.env, node: ctx.overlay });
    this.scribeValue.onNoSubscribers((e) =>
      ctx.events.record('scribe.noSubscribers', `${e.kind} to ${e.topic.uri} reached no subscriber (${e.reason})`, { level: 'warn', data: { topic: e.topic.uri, kind: e.kind, reason: e.reason } }),
    );
  }

  /** Leaves every topic tree (children re-join elsewhere at once), then stops. */
  stop(): void {
    this.scribeValue?.leave();
  }

  abort(): void {
    this.scribeValue?.stop();
  }

  /** This node's part of every topic tree. */
  topicViews(): TopicView[] {
    const s = this.scribeValue;
    if (!s) return [];
    const out: TopicView[] = [];
    for (const topic of s.treeTopics()) {
      const info = s.treeInfo(topic as Topic);
      if (info) out.push(view(info));
    }
    return out;
  }

  summary(): Record<string, unknown> {
    return { topics: this.topicViews() };
  }

  routes(): OpsRoute[] {
    return [
      {
        method: 'GET',
        path: '/api/topics',
        description: "Topics: this node's part of each tree, and (?walk=true, the default) every topic of the ring.",
        handler: async (req) => {
          const local = this.topicViews();
          const body: Record<string, unknown> = { node: this.ctx!.overlay.id.hex, local };
          if (req.query.get('walk') !== 'false') {
            const snapshot = await this.ctx!.walkRing();
            body['ring'] = ringTopics(
              snapshot.members.flatMap((m) => {
                const topics = (m.summary?.services?.['scribe'] as { topics?: TopicView[] } | undefined)?.topics;
                return topics ? [{ node: m.id, topics }] : [];
              }),
            );
          }
          return { body };
        },
      },
    ];
  }

  metrics(): MetricFamily[] {
    const s = this.scribeValue;
    if (!s) return [];
    return scribeMetrics(s.stats, this.topicViews());
  }
}

/** Metric families of Scribe's counters. */
export function scribeMetrics(stats: ScribeStats, topics: TopicView[]): MetricFamily[] {
  const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'counter', values: [{ value }] });
  return [
    counter('pi_scribe_published_total', 'Publishes sent from this node.', stats.published),
    counter('pi_scribe_delivered_total', 'Messages handed to local subscribers.', stats.delivered),
    counter('pi_scribe_forwarded_total', 'Publish copies sent down the trees.', stats.forwarded),
    counter('pi_scribe_duplicates_dropped_total', 'Publish copies dropped as already seen.', stats.duplicatesDropped),
    counter('pi_scribe_repairs_total', 'Re-joins after losing a parent.', stats.repairs),
    counter('pi_scribe_root_takeovers_total', "Times this node became a topic's root.", stats.rootTakeovers),
    counter('pi_scribe_anycasts_total', 'Anycasts sent from this node.', stats.anycastsSent),
    counter('pi_scribe_anycasts_accepted_total', 'Anycasts sent from this node that a subscriber accepted.', stats.anycastsAccepted),
    counter('pi_scribe_no_subscriber_events_total', 'Publishes or anycasts that reached nobody (raised here as root).', stats.noSubscriberEvents),
    { name: 'pi_scribe_topics', help: 'Topics this node holds tree state for, by role.', type: 'gauge', values: [
      { labels: { role: 'root' }, value: topics.filter((t) => t.root).length },
      { labels: { role: 'subscriber' }, value: topics.filter((t) => t.clients > 0).length },
      { labels: { role: 'any' }, value: topics.length },
    ] },
  ];
}
