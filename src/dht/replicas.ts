/**
 * Who holds a key: the replica set (the key's root and its nearest neighbours, inside the key's
 * scope where the scope has enough nodes) and the ring arcs anti-entropy works on.
 */
import { RING_SIZE, Scope, azOf, compareCloseness, regionOf, scopeOf } from '../id/index.ts';
import type { Id } from '../id/index.ts';
import type { NodeHandle } from '../wire/index.ts';

/**
 * The `n` handles closest to `key`, closest first. For a REGION or AVAILABILITY_ZONE scoped key,
 * only handles in that region / zone are taken when there are at least `n` of them.
 */
export function replicaSetOf(key: Id, handles: readonly NodeHandle[], n: number): NodeHandle[] {
  let pool = handles;
  const scope = scopeOf(key);
  if (scope !== Scope.GLOBAL) {
    const region = regionOf(key);
    const az = azOf(key);
    const inScope = handles.filter((h) => regionOf(h.id) === region && (scope === Scope.REGION || azOf(h.id) === az));
    if (inScope.length >= n) pool = inScope;
  }
  if (pool.length <= 1) return pool.slice();
  // Partial selection: n is small, the pool is a leaf set (~25).
  const out: NodeHandle[] = [];
  for (const h of pool) {
    let i = out.length;
    while (i > 0 && compareCloseness(key, h.id, out[i - 1]!.id) < 0) i--;
    if (i < n) {
      out.splice(i, 0, h);
      if (out.length > n) out.pop();
    }
  }
  return out;
}

/** Whether `id` is among `handles`. */
export function includesNode(handles: readonly NodeHandle[], id: Id): boolean {
  for (const h of handles) if (h.id.hex === id.hex) return true;
  return false;
}

/** (b - a) mod 2^160. */
export function cw(a: bigint, b: bigint): bigint {
  const d = b - a;
  return d >= 0n ? d : d + RING_SIZE;
}

/** The point halfway clockwise from `a` to `b`. */
export function midpointCw(a: bigint, b: bigint): bigint {
  return (a + cw(a, b) / 2n) % RING_SIZE;
}

/** A clockwise arc of the ring: `lo`, then `span` more ids (inclusive). */
export interface Arc {
  lo: bigint;
  span: bigint;
}

/** 40-digit hex of a ring position. */
export function hexOf(x: bigint): string {
  return x.toString(16).padStart(40, '0');
}

/**
 * Splits an arc into at most `parts` non-wrapping ranges `[loHex, hiHex]` (inclusive), in
 * clockwise order.
 */
export function splitArc(arc: Arc, parts: number): [string, string][] {
  const out: [string, string][] = [];
  const total = arc.span + 1n;
  const k = total < BigInt(parts) ? Number(total) : parts;
  let start = 0n;
  for (let i = 1; i <= k; i++) {
    const end = (total * BigInt(i)) / BigInt(k); // exclusive offset
    if (end <= start) continue;
    const a = (arc.lo + start) % RING_SIZE;
    const b = (arc.lo + end - 1n) % RING_SIZE;
    if (a <= b) out.push([hexOf(a), hexOf(b)]);
    else {
      out.push([hexOf(a), hexOf(RING_SIZE - 1n)]);
      out.push([hexOf(0n), hexOf(b)]);
    }
    start = end;
  }
  return out;
}

/** Splits a non-wrapping hex range into at most `parts` ranges. */
export function splitRange(range: [string, string], parts: number): [string, string][] {
  const lo = BigInt('0x' + range[0]);
  const hi = BigInt('0x' + range[1]);
  return splitArc({ lo, span: hi - lo }, parts);
}

/** Whether the position `x` lies on the arc. */
export function onArc(x: bigint, arc: Arc): boolean {
  return cw(arc.lo, x) <= arc.span;
}

/**
 * The arcs of this node's root range shared with each replica peer: `me`'s root range is from the
 * midpoint with its left neighbour to the midpoint with its right neighbour; a peer `j` places to
 * the right holds the part of it where it is nearer than the node `replicas - j` places to the
 * left (and symmetrically on the left). Small rings, where the leaf set covers everything, share
 * the whole root range with every member.
 */
export function sharedArcs(me: Id, left: readonly NodeHandle[], right: readonly NodeHandle[], replicas: number): { peer: NodeHandle; arc: Arc }[] {
  const l0 = left[0];
  const r0 = right[0];
  if (!l0 || !r0) return [];
  const m = me.big;
  const lo = midpointCw(l0.id.big, m);
  const hi = midpointCw(m, r0.id.big);
  const root: Arc = { lo, span: cw(lo, hi) };
  const out: { peer: NodeHandle; arc: Arc }[] = [];
  const seen = new Set<string>();
  const add = (peer: NodeHandle, from: bigint, to: bigint): void => {
    if (peer.id.hex === me.hex || seen.has(peer.id.hex)) return;
    // Clip [from, to] (offsets clockwise from root.lo) to the root arc.
    const a = from < 0n ? 0n : from;
    const b = to > root.span ? root.span : to;
    if (b < a) return;
    seen.add(peer.id.hex);
    out.push({ peer, arc: { lo: (root.lo + a) % RING_SIZE, span: b - a } });
  };
  for (let j = 1; j < replicas; j++) {
    const rp = right[j - 1];
    if (rp) {
      const rival = left[replicas - j - 1];
      if (!rival || includesNode(right.slice(0, replicas - 1), rival.id)) add(rp, 0n, root.span);
      else add(rp, offsetOnRoot(root, midpointCw(rival.id.big, rp.id.big)), root.span);
    }
    const lp = left[j - 1];
    if (lp) {
      const rival = right[replicas - j - 1];
      if (!rival || includesNode(left.slice(0, replicas - 1), rival.id)) add(lp, 0n, root.span);
      else add(lp, 0n, offsetOnRoot(root, midpointCw(lp.id.big, rival.id.big)));
    }
  }
  return out;
}

/** Offset of `x` from the arc's start, as a signed value near the arc (before it: negative). */
function offsetOnRoot(root: Arc, x: bigint): bigint {
  const d = cw(root.lo, x);
  // Points far past the arc are treated as lying before it.
  return d > RING_SIZE / 2n ? d - RING_SIZE : d;
}

/**
 * Where a leaf-set change can have changed replica sets of global keys: around each node added,
 * the arc from the member `n` places before it to the member `n` places after it, among the
 * members now; likewise around each node removed, among the members before. A position off every
 * arc has, on the shorter way round to each changed node, `n` members strictly closer than that
 * node, so the node is in neither its old nor its new replica set, and the two are equal.
 * Undefined when a list has fewer than `2n + 1` members (then any position may have changed).
 * (Scoped keys draw replicas from a filtered pool, so this bound does not hold for them.)
 */
export function changedArcs(now: readonly NodeHandle[], old: readonly NodeHandle[], added: readonly string[], removed: readonly string[], n: number): Arc[] | undefined {
  const arcs: Arc[] = [];
  const around = (members: readonly NodeHandle[], changed: readonly string[]): boolean => {
    if (changed.length === 0) return true;
    if (members.length < 2 * n + 1) return false;
    const ring = [...members].sort((a, b) => a.id.compare(b.id));
    for (const hex of changed) {
      const i = ring.findIndex((h) => h.id.hex === hex);
      if (i < 0) return false;
      const lo = ring[(i - n + ring.length) % ring.length]!.id.big;
      const hi = ring[(i + n) % ring.length]!.id.big;
      arcs.push({ lo, span: cw(lo, hi) });
    }
    return true;
  };
  return around(now, added) && around(old, removed) ? arcs : undefined;
}

/** Ring position of a storage key's id hex. */
export function positionOf(hex: string): bigint {
  return BigInt('0x' + hex);
}

