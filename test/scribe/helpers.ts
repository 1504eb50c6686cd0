/**
 * A simulated ring with a Scribe on every node, and subscribers that record what they get.
 */
import { SimRing } from '../../src/sim/ring.ts';
import type { SimNode, SimRingOptions } from '../../src/sim/ring.ts';
import { Scribe } from '../../src/scribe/index.ts';
import type { AnycastHandlerResult, ScribeClient, ScribeMessage, ScribeOptions, Topic } from '../../src/scribe/index.ts';

export function scribeOf(node: SimNode): Scribe {
  return node.attachments.get('scribe') as Scribe;
}

/** A ring whose every node (including later ones) runs a Scribe. */
export function scribeRing(seed: string, options: Partial<SimRingOptions> = {}, scribe: Partial<ScribeOptions> = {}): SimRing {
  const ring = new SimRing({ seed, network: { codec: true }, ...options });
  ring.onNodeCreated((node) => node.attachments.set('scribe', new Scribe({ env: node.env, node: node.pastry, options: scribe })));
  return ring;
}

/** A subscriber that records deliveries and answers anycasts with `decide`. */
export class Recorder implements ScribeClient {
  readonly delivered: ScribeMessage[] = [];
  readonly offered: ScribeMessage[] = [];
  confirmations = 0;

  constructor(
    readonly node: SimNode,
    private readonly decide: (msg: ScribeMessage) => AnycastHandlerResult | Promise<AnycastHandlerResult> = () => true,
  ) {}

  deliver(_topic: Topic, msg: ScribeMessage): void {
    this.delivered.push(msg);
  }

  anycast(_topic: Topic, msg: ScribeMessage): AnycastHandlerResult | Promise<AnycastHandlerResult> {
    this.offered.push(msg);
    return this.decide(msg);
  }

  subscribed(): void {
    this.confirmations++;
  }

  /** How many times the publish `id` arrived. */
  got(id: string): number {
    let n = 0;
    for (const m of this.delivered) if (m.id === id) n++;
    return n;
  }
}

/** Subscribes a recorder on each node; resolves once the ring has run until all are confirmed. */
export async function subscribeAll(ring: SimRing, topic: Topic, nodes: SimNode[], decide?: (node: SimNode) => (msg: ScribeMessage) => AnycastHandlerResult | Promise<AnycastHandlerResult>): Promise<Recorder[]> {
  const recorders = nodes.map((n) => new Recorder(n, decide?.(n)));
  const promises = recorders.map((r) => scribeOf(r.node).subscribe(topic, r));
  let settled = 0;
  for (const p of promises) p.then(() => settled++);
  await ring.runUntil(() => settled === promises.length, 20_000, 'subscriptions confirmed');
  return recorders;
}

/**
 * Checks the tree of `topic` over the live nodes: exactly one root (the live node closest to the
 * id), every other tree node connected to a live parent that lists it as a child, paths free of
 * loops and ending at the parent. Returns the tree nodes.
 */
export function checkTree(ring: SimRing, topic: Topic): { root: SimNode; members: SimNode[]; problems: string[] } {
  const live = ring.live();
  const byHex = new Map(live.map((n) => [n.id.hex, n]));
  const members = live.filter((n) => scribeOf(n).treeInfo(topic) !== undefined);
  const problems: string[] = [];
  const expectedRoot = ring.closestLive(topic.id)!;
  const realRoots = members.filter((n) => scribeOf(n).treeInfo(topic)!.root);
  if (realRoots.length !== 1 || realRoots[0] !== expectedRoot) problems.push(`roots: ${realRoots.map((n) => n.index).join(',')} (expected ${expectedRoot.index})`);
  for (const n of members) {
    const info = scribeOf(n).treeInfo(topic)!;
    if (info.root) continue;
    if (!info.connected || !info.parent) {
      problems.push(`${n.index} not connected`);
      continue;
    }
    const parent = byHex.get(info.parent.id.hex);
    if (!parent) {
      problems.push(`${n.index}: parent ${info.parent.id.short()} is not live`);
      continue;
    }
    const pinfo = scribeOf(parent).treeInfo(topic);
    if (!pinfo || !pinfo.children.some((c) => c.id.equals(n.id))) problems.push(`${n.index}: parent ${parent.index} does not list it`);
    const path = info.path ?? [];
    if (path.length === 0 || !path[path.length - 1]!.equals(parent.id)) problems.push(`${n.index}: path does not end at its parent`);
    if (path.some((id) => id.equals(n.id))) problems.push(`${n.index}: loop`);
    if (path.length > 0 && !path[0]!.equals(expectedRoot.id)) problems.push(`${n.index}: path starts at ${path[0]!.short()}, not the root`);
  }
  return { root: expectedRoot, members, problems };
}

/** Marks a promise's rejection as handled now (the test asserts on it later). */
export function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}
