/**
 * Scribe's message bodies (inside overlay AppMessages of the application `scribe`) and the checks
 * an incoming body must pass before anything acts on it. Keys are short: some of these travel
 * once per tree edge per second.
 */
import { Id } from '../id/index.ts';
import { METHODS } from '../wire/index.ts';
import type { Method, NodeHandle } from '../wire/index.ts';

/** Message kinds. */
export const Kind = {
  /** Routed toward the topic id: join the tree (intercepted by the first tree node on the way). */
  SUBSCRIBE: 'sub',
  /** Parent → child: you are my child; my path to the root. */
  ACK: 'ack',
  /** Child → parent: drop me from these topics. */
  PRUNE: 'prn',
  /** Parent → child: still your parent for these topics. */
  HEARTBEAT: 'hb',
  /** Parent → children: I am leaving, re-join now. */
  GONE: 'gone',
  /** Parent → child: my path to the root changed. */
  PATH: 'pth',
  /** Child → parent: anycast subscribers in my subtree. */
  COUNT: 'cnt',
  /** Routed to the topic id: a publish, disseminated by the root. */
  PUBLISH: 'pub',
  /** Parent → child: a publish going down the tree. */
  PUBLISH_DOWN: 'pd',
  /** Child → parent: a publish whose route ended below the root, on its way up. */
  PUBLISH_UP: 'pu',
  /** Routed to the topic id after a repair: send me your recent publishes. */
  REPLAY_REQUEST: 'rpq',
  /** Root → requester: recent publishes. */
  REPLAY: 'rp',
  /** Re-joined child → new parent: my recent publishes (new ones spread down and further up). */
  REPLAY_UP: 'ru',
  /** A leaving root → the next closest node: my recent publishes, for the subscribers re-joining there. */
  HANDOVER: 'hov',
  /** Routed (to a random id, then to the topic id): an anycast, intercepted by the first tree node. */
  ANYCAST: 'any',
  /** Node → node: an anycast walk going on. */
  WALK: 'aw',
  /** Routed to the topic id: a walk found nobody; the root raises the event and answers. */
  ANYCAST_FAILED: 'af',
  /** A root without a tree → the previous root candidate (a handover may be under way). */
  HANDOFF: 'ho',
  /** … and back: nobody here either. */
  HANDOFF_NONE: 'hn',
} as const;

export interface SubscribeBody {
  t: Id;
  u: string;
  /** Anycast subscribers in the subscriber's subtree. */
  n: number;
  /** Nodes that must not take this subscriber as a child (they formed a loop with it). */
  x?: Id[];
  /** 1 when re-joining after losing the tree: the ack should carry recent publishes. */
  r?: 1;
}

export interface AckBody {
  t: Id;
  /** Root first, down to (and including) the acknowledging parent. */
  p: Id[];
  /** The parent's recent publishes, for a re-joining child. */
  rp?: PublishBody[];
}

export interface TopicsBody {
  ts: Id[];
}

export interface HeartbeatBody extends TopicsBody {
  /** Per topic: anycast subscribers in the whole tree, as the parent knows it. */
  ss: number[];
}

export interface CountBody {
  ts: Id[];
  cs: number[];
}

export interface PathBody {
  t: Id;
  p: Id[];
}

export interface PublishBody {
  t: Id;
  u: string;
  /** Publish id (dedup). */
  i: string;
  m?: Method;
  e: unknown;
  /** The publisher. */
  s: NodeHandle;
}

export interface ReplayRequestBody {
  t: Id;
}

export interface ReplayBody {
  t: Id;
  ms: PublishBody[];
}

export interface HandoverBody extends ReplayBody {
  u: string;
}

export interface AnycastBody {
  t: Id;
  u: string;
  m?: Method;
  e: unknown;
  /** The sender (answers go there). */
  s: NodeHandle;
  /** The sender's request id; absent on the first leg (then it is the message's own id). */
  c?: string;
  /** 1 while still on the way to the random starting point (no interception). */
  r?: 1;
  /** 1 for a randomAnycast: subscribers are chosen in proportion to subtree sizes. */
  sp?: 1;
}

export interface WalkBody extends AnycastBody {
  c: string;
  /** Nodes whose children (and parent) were queued. */
  v: Id[];
  /** Nodes whose local subscribers were offered the anycast. */
  d: Id[];
  /** Nodes still to visit: next first (anycast), or drawn by weight (randomAnycast). */
  q: NodeHandle[];
  /** randomAnycast: the weight of each entry of `q` (subscribers it stands for). */
  qw?: number[];
  /** Subscribers offered so far. */
  n: number;
}

export interface FailedBody {
  t: Id;
  u: string;
  m?: Method;
  e: unknown;
  s: NodeHandle;
  c: string;
  why: 'NoSubscribers' | 'AllDeclined';
}

export interface HandoffBody {
  k: 'pub' | 'any';
  b: PublishBody | AnycastBody;
}

// ------------------------------------------------------------------------------------------------
// Checks. Each returns the body typed, or undefined if it is malformed.

type Obj = Record<string, unknown>;

function obj(x: unknown): Obj | undefined {
  return typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Obj) : undefined;
}

function isId(x: unknown): x is Id {
  return x instanceof Id;
}

function isIdArray(x: unknown, max = 100_000): x is Id[] {
  if (!Array.isArray(x) || x.length > max) return false;
  for (const e of x) if (!(e instanceof Id)) return false;
  return true;
}

export function isHandle(x: unknown): x is NodeHandle {
  const o = obj(x);
  return o !== undefined && o.id instanceof Id && typeof o.addr === 'string' && o.addr.length > 0 && o.addr.length <= 300;
}

function isMethod(x: unknown): x is Method | undefined {
  return x === undefined || (typeof x === 'string' && (METHODS as readonly string[]).includes(x));
}

function isUri(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0 && x.length <= 4096;
}

export function parseSubscribe(x: unknown): SubscribeBody | undefined {
  const o = obj(x);
  if (!o || !isId(o.t) || !isUri(o.u) || typeof o.n !== 'number' || !(o.n >= 0)) return undefined;
  if (o.x !== undefined && !isIdArray(o.x, 64)) return undefined;
  return o as unknown as SubscribeBody;
}

export function parseAck(x: unknown): AckBody | undefined {
  const o = obj(x);
  if (!o || !isId(o.t) || !isIdArray(o.p, 256)) return undefined;
  if (o.rp !== undefined && !publishesOf(o.rp, o.t)) return undefined;
  return o as unknown as AckBody;
}

function publishesOf(x: unknown, t: Id): boolean {
  if (!Array.isArray(x) || x.length > 100_000) return false;
  for (const m of x) {
    const p = parsePublish(m);
    if (!p || !p.t.equals(t)) return false;
  }
  return true;
}

export function parsePath(x: unknown): PathBody | undefined {
  const o = obj(x);
  if (!o || !isId(o.t) || !isIdArray(o.p, 256)) return undefined;
  return o as unknown as PathBody;
}

export function parseTopics(x: unknown): TopicsBody | undefined {
  const o = obj(x);
  if (!o || !isIdArray(o.ts)) return undefined;
  return o as unknown as TopicsBody;
}

export function parseHeartbeat(x: unknown): HeartbeatBody | undefined {
  const o = parseCount({ ts: obj(x)?.ts, cs: obj(x)?.ss });
  return o ? (x as HeartbeatBody) : undefined;
}

export function parseCount(x: unknown): CountBody | undefined {
  const o = obj(x);
  if (!o || !isIdArray(o.ts) || !Array.isArray(o.cs) || o.cs.length !== o.ts.length) return undefined;
  for (const c of o.cs) if (typeof c !== 'number' || !(c >= 0)) return undefined;
  return o as unknown as CountBody;
}

export function parsePublish(x: unknown): PublishBody | undefined {
  const o = obj(x);
  if (!o || !isId(o.t) || !isUri(o.u) || typeof o.i !== 'string' || o.i.length === 0 || o.i.length > 200 || !isMethod(o.m) || !isHandle(o.s)) return undefined;
  return o as unknown as PublishBody;
}

export function parseReplayRequest(x: unknown): ReplayRequestBody | undefined {
  const o = obj(x);
  if (!o || !isId(o.t)) return undefined;
  return o as unknown as ReplayRequestBody;
}

export function parseReplay(x: unknown): ReplayBody | undefined {
  const o = obj(x);
  if (!o || !isId(o.t) || !publishesOf(o.ms, o.t)) return undefined;
  return o as unknown as ReplayBody;
}

export function parseHandover(x: unknown): HandoverBody | undefined {
  const o = parseReplay(x) as unknown as Obj | undefined;
  if (!o || !isUri(o.u)) return undefined;
  return o as unknown as HandoverBody;
}

export function parseAnycast(x: unknown): AnycastBody | undefined {
  const o = obj(x);
  if (!o || !isId(o.t) || !isUri(o.u) || !isMethod(o.m) || !isHandle(o.s)) return undefined;
  if (o.c !== undefined && (typeof o.c !== 'string' || o.c.length > 200)) return undefined;
  return o as unknown as AnycastBody;
}

export function parseWalk(x: unknown): WalkBody | undefined {
  const o = parseAnycast(x) as Obj | undefined;
  if (!o || typeof o.c !== 'string' || !isIdArray(o.v) || !isIdArray(o.d) || typeof o.n !== 'number') return undefined;
  if (!Array.isArray(o.q) || !o.q.every(isHandle)) return undefined;
  if (o.qw !== undefined && (!Array.isArray(o.qw) || o.qw.length !== o.q.length || !o.qw.every((x) => typeof x === 'number' && x >= 0))) return undefined;
  if (o.sp === 1 && o.qw === undefined) return undefined;
  return o as unknown as WalkBody;
}

export function parseFailed(x: unknown): FailedBody | undefined {
  const o = parseAnycast(x) as Obj | undefined;
  if (!o || typeof o.c !== 'string' || (o.why !== 'NoSubscribers' && o.why !== 'AllDeclined')) return undefined;
  return o as unknown as FailedBody;
}

export function parseHandoff(x: unknown): HandoffBody | undefined {
  const o = obj(x);
  if (!o) return undefined;
  if (o.k === 'pub' && parsePublish(o.b)) return o as unknown as HandoffBody;
  if (o.k === 'any' && parseAnycast(o.b) && typeof obj(o.b)!.c === 'string') return o as unknown as HandoffBody;
  return undefined;
}
