/**
 * One node's part of one topic's tree: its local subscribers, children, parent, path to the root,
 * and the recent publishes it keeps for replay.
 */
import type { Id } from '../id/index.ts';
import type { Timer } from '../env/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import type { ScribeClient, Topic } from './types.ts';
import type { PublishBody } from './wire.ts';

/** A child in the tree. */
export interface Child {
  handle: NodeHandle;
  /** Anycast subscribers in its subtree, as it last reported. */
  count: number;
  /** Accepted while this node was not connected: owed an ack. */
  pending: boolean;
  /** Re-joining: its ack carries this node's recent publishes. */
  replay: boolean;
}

/** A local subscription and whether it has been told it is confirmed. */
export interface Subscription {
  client: ScribeClient;
  confirmed: boolean;
  waiters: { resolve: () => void; reject: (err: Error) => void; timer: Timer }[];
}

export class TopicTree {
  readonly subscriptions: Subscription[] = [];
  readonly children = new Map<string, Child>();
  parent: NodeHandle | undefined;
  /** Root first, down to the parent; [] at the root; undefined while not connected. */
  path: Id[] | undefined;
  root = false;
  /** A subscribe of ours is on its way. */
  joining = false;
  /** Was connected before (a re-join asks the root for missed publishes). */
  wasConnected = false;
  parentHeardAt = 0;
  retryTimer: Timer | undefined;
  /** Nodes that formed a loop with us: they must not take us as a child. */
  excluded: Id[] = [];
  /** Sum of the children's counts. */
  childCount = 0;
  /** Count last sent to the parent. */
  reportedCount = -1;
  /** Anycast subscribers in the whole tree, as the parent last said (the root's count). */
  total = 0;
  /** When the tree became empty (root state is kept a while for replay). */
  emptySince = 0;
  /** Recent publishes, oldest first, with the local time each was seen. */
  readonly recent: { at: number; body: PublishBody }[] = [];

  constructor(readonly topic: Topic) {}

  get connected(): boolean {
    return this.root || this.parent !== undefined;
  }

  /** Local subscribers able to take anycasts. */
  get anycastClients(): number {
    let n = 0;
    for (const s of this.subscriptions) if (s.client.anycast) n++;
    return n;
  }

  /** Anycast subscribers in this subtree: 1 for this node if it has any, plus the children's. */
  get count(): number {
    return (this.anycastClients > 0 ? 1 : 0) + this.childCount;
  }

  /** Anycast subscribers outside this node's subtree (as far as it knows). */
  get outside(): number {
    return this.root ? 0 : Math.max(0, this.total - this.count);
  }

  /** Anycast subscribers in the whole tree (as far as this node knows). */
  get treeTotal(): number {
    return this.root ? this.count : Math.max(this.total, this.count);
  }

  /** No local subscribers and no children: nothing keeps this node in the tree. */
  get empty(): boolean {
    return this.subscriptions.length === 0 && this.children.size === 0;
  }

  /** Keeps a publish for replay, dropping what is too old or too many. */
  remember(body: PublishBody, now: number, windowMs: number, max: number): void {
    this.recent.push({ at: now, body });
    this.trim(now, windowMs, max);
  }

  trim(now: number, windowMs: number, max: number): void {
    let drop = Math.max(0, this.recent.length - max);
    while (drop < this.recent.length && now - this.recent[drop]!.at > windowMs) drop++;
    if (drop > 0) this.recent.splice(0, drop);
  }

  hasInPath(id: Id): boolean {
    if (this.parent?.id.equals(id)) return true;
    if (!this.path) return false;
    for (const p of this.path) if (p.equals(id)) return true;
    return false;
  }
}
