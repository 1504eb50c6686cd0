/**
 * The leaf set: the `size / 2` nodes nearest to this node on each side of the ring.
 *
 * `right` holds the nearest nodes clockwise (larger ids, wrapping), `left` the nearest
 * counter-clockwise, both sorted nearest first. In a ring smaller than the leaf set a node may sit
 * on both sides; the leaf set then covers the whole ring.
 */
import { RING_SIZE, approxClockwiseDistance, clockwiseDistance, compareCloseness, inClockwiseArc } from '../id/index.ts';
import type { Id } from '../id/index.ts';
import type { NodeHandle } from '../wire/index.ts';

interface Entry {
  handle: NodeHandle;
  /** Distance from this node in the side's direction. */
  distance: bigint;
  /** The same, approximated in units of 2^112 (see approxClockwiseDistance). */
  approx: number;
}

const APPROX_RANGE = 2 ** 48;
/** Approximate distances closer than this (or this close to the wrap) are compared exactly. */
const MARGIN = 3;

/** Nodes to skip when choosing the closest (e.g. suspected dead), by id hex. */
export interface Exclusion {
  excludes(hex: string): boolean;
}

/** Excludes exactly one node. */
export function excludeOne(hex: string, also?: Exclusion): Exclusion {
  return { excludes: (h) => h === hex || (also !== undefined && also.excludes(h)) };
}

export class LeafSet {
  private left: Entry[] = [];
  private right: Entry[] = [];
  /** Member ids (hex) for O(1) membership tests. */
  private readonly ids = new Set<string>();
  /** Cached result of members(); rebuilt after a change. */
  private memberCache: NodeHandle[] | undefined;
  readonly half: number;

  constructor(
    readonly self: NodeHandle,
    size: number,
  ) {
    if (!Number.isInteger(size) || size < 2 || size % 2 !== 0) throw new RangeError(`leaf set size must be an even integer ≥ 2, got ${size}`);
    this.half = size / 2;
  }

  /** Nearest-first counter-clockwise neighbours. */
  leftSide(): NodeHandle[] {
    return this.left.map((e) => e.handle);
  }

  /** Nearest-first clockwise neighbours. */
  rightSide(): NodeHandle[] {
    return this.right.map((e) => e.handle);
  }

  /**
   * Every member once (a node on both sides appears once), right side first. The array is shared
   * until the next change: do not modify it.
   */
  members(): readonly NodeHandle[] {
    if (this.memberCache) return this.memberCache;
    const out: NodeHandle[] = [];
    for (const e of this.right) out.push(e.handle);
    for (const e of this.left) if (!this.right.some((r) => r.handle === e.handle)) out.push(e.handle);
    this.memberCache = out;
    return out;
  }

  get size(): number {
    return this.ids.size;
  }

  isEmpty(): boolean {
    return this.left.length === 0 && this.right.length === 0;
  }

  /** The immediate clockwise neighbour. */
  rightNeighbour(): NodeHandle | undefined {
    return this.right[0]?.handle;
  }

  /** The immediate counter-clockwise neighbour. */
  leftNeighbour(): NodeHandle | undefined {
    return this.left[0]?.handle;
  }

  /** The farthest member on each side (refill targets after a loss). */
  leftmost(): NodeHandle | undefined {
    return this.left[this.left.length - 1]?.handle;
  }

  rightmost(): NodeHandle | undefined {
    return this.right[this.right.length - 1]?.handle;
  }

  contains(id: Id): boolean {
    return this.ids.has(id.hex);
  }

  get(id: Id): NodeHandle | undefined {
    const hex = id.hex;
    if (!this.ids.has(hex)) return undefined;
    return (this.right.find((e) => e.handle.id.hex === hex) ?? this.left.find((e) => e.handle.id.hex === hex))?.handle;
  }

  /**
   * True when the leaf set knows every node of the ring: the two sides overlap (in a ring smaller
   * than the leaf set both hold every other node), or the node is alone. Every key is then in
   * range. A side that is merely short (members failed and are not replaced yet, while the other
   * side is full) does not make it whole: the nodes beyond it are unknown, not absent.
   */
  coversWholeRing(): boolean {
    if (this.left.length === 0 && this.right.length === 0) return true;
    if (this.left.length === 0 || this.right.length === 0) return false;
    const farRight = this.right[this.right.length - 1]!.distance;
    const farLeftClockwise = RING_SIZE - this.left[this.left.length - 1]!.distance;
    return farRight >= farLeftClockwise;
  }

  /**
   * How far from `key` the nodes this leaf set does not know begin: every unknown node lies beyond
   * the leftmost or the rightmost member, so farther from `key` than the nearer of the two.
   * Undefined when the leaf set knows the whole ring; 0 when `key` is out of range.
   */
  unknownBeyond(key: Id): bigint | undefined {
    if (this.coversWholeRing()) return undefined;
    const leftmost = this.left[this.left.length - 1]!.handle.id;
    const rightmost = this.right[this.right.length - 1]!.handle.id;
    if (!inClockwiseArc(key, leftmost, rightmost)) return 0n;
    const toRight = clockwiseDistance(key, rightmost);
    const toLeft = clockwiseDistance(leftmost, key);
    return toRight < toLeft ? toRight : toLeft;
  }

  /** Whether `key` falls between the leftmost and rightmost members (inclusive). */
  inRange(key: Id): boolean {
    if (this.coversWholeRing()) return true;
    const leftmost = this.left[this.left.length - 1]!.handle.id;
    const rightmost = this.right[this.right.length - 1]!.handle.id;
    return inClockwiseArc(key, leftmost, rightmost);
  }

  /**
   * Whether adding `handle` would change the leaf set (it is not a member and fits a side). With
   * `pending` (nodes about to be added, e.g. being probed), it must fit among those too, so that
   * a joining node does not probe far more candidates than it can keep.
   */
  wouldAccept(handle: NodeHandle, pending?: LeafSet): boolean {
    if (handle.id.hex === this.self.id.hex || this.ids.has(handle.id.hex)) return false;
    if (pending?.contains(handle.id)) return false;
    const approxCw = approxClockwiseDistance(this.self.id, handle.id);
    const approxCcw = approxClockwiseDistance(handle.id, this.self.id);
    let fitsRight = this.fitsApprox(this.right, approxCw);
    let fitsLeft = this.fitsApprox(this.left, approxCcw);
    if (fitsRight === false && fitsLeft === false) return false;
    if (fitsRight === undefined || fitsLeft === undefined || pending) {
      const cw = clockwiseDistance(this.self.id, handle.id);
      const ccw = RING_SIZE - cw;
      fitsRight ??= this.right[this.right.length - 1]!.distance > cw;
      fitsLeft ??= this.left[this.left.length - 1]!.distance > ccw;
      if (pending) {
        fitsRight = fitsRight && closerCount(this.right, cw) + closerCount(pending.right, cw) < this.half;
        fitsLeft = fitsLeft && closerCount(this.left, ccw) + closerCount(pending.left, ccw) < this.half;
      }
    }
    return fitsRight || fitsLeft;
  }

  /**
   * Whether a node at approximate distance `approx` fits on `side` (the side has room, or the node
   * is nearer than its farthest entry); undefined when too close to call without exact distances.
   */
  private fitsApprox(side: Entry[], approx: number): boolean | undefined {
    if (side.length < this.half) return true;
    const last = side[side.length - 1]!;
    if (approx <= MARGIN || approx >= APPROX_RANGE - MARGIN || Math.abs(approx - last.approx) <= MARGIN) return undefined;
    return approx < last.approx;
  }

  /**
   * Adds `handle` where it fits. Returns the members that dropped out of the leaf set entirely
   * (pushed off both sides), or undefined if nothing changed. A known member gets its address
   * updated (a node that restarted elsewhere).
   */
  add(handle: NodeHandle): { evicted: NodeHandle[] } | undefined {
    if (handle.id.hex === this.self.id.hex) return undefined;
    if (this.ids.has(handle.id.hex)) {
      this.updateAddress(handle);
      return undefined;
    }
    const cw = clockwiseDistance(this.self.id, handle.id);
    const ccw = RING_SIZE - cw;
    const pushedRight = this.insert(this.right, handle, cw, approxClockwiseDistance(this.self.id, handle.id));
    const pushedLeft = this.insert(this.left, handle, ccw, approxClockwiseDistance(handle.id, this.self.id));
    if (pushedRight === false && pushedLeft === false) return undefined;
    this.memberCache = undefined;
    this.ids.add(handle.id.hex);
    const evicted: NodeHandle[] = [];
    for (const h of [pushedRight, pushedLeft]) {
      if (!h || evicted.includes(h)) continue;
      const hex = h.id.hex;
      if (this.left.some((e) => e.handle.id.hex === hex) || this.right.some((e) => e.handle.id.hex === hex)) continue;
      this.ids.delete(hex);
      evicted.push(h);
    }
    return { evicted };
  }

  /** Inserts in order; returns false if it did not fit, the entry pushed off, or null. */
  private insert(side: Entry[], handle: NodeHandle, distance: bigint, approx: number): NodeHandle | null | false {
    if (side.length >= this.half && distance >= side[side.length - 1]!.distance) return false;
    let i = side.length;
    while (i > 0 && side[i - 1]!.distance > distance) i--;
    side.splice(i, 0, { handle, distance, approx });
    if (side.length > this.half) return side.pop()!.handle;
    return null;
  }

  private updateAddress(handle: NodeHandle): void {
    const current = this.get(handle.id);
    if (!current || current.addr === handle.addr) return;
    for (const side of [this.left, this.right]) {
      for (const e of side) {
        if (e.handle.id.hex === handle.id.hex && e.handle.addr !== handle.addr) {
          e.handle = handle;
          this.memberCache = undefined;
        }
      }
    }
  }

  /** Removes a member; returns whether it was one. */
  remove(id: Id): boolean {
    const hex = id.hex;
    if (!this.ids.delete(hex)) return false;
    this.left = this.left.filter((e) => e.handle.id.hex !== hex);
    this.right = this.right.filter((e) => e.handle.id.hex !== hex);
    this.memberCache = undefined;
    return true;
  }

  /** Which sides `id` is on (for refilling the side that lost it). */
  sidesOf(id: Id): { left: boolean; right: boolean } {
    const hex = id.hex;
    if (!this.ids.has(hex)) return { left: false, right: false };
    return { left: this.left.some((e) => e.handle.id.hex === hex), right: this.right.some((e) => e.handle.id.hex === hex) };
  }

  /**
   * The member (or this node) numerically closest to `key`, skipping ids in `exclude`
   * (ties: smaller id).
   */
  closest(key: Id, exclude?: Exclusion): NodeHandle;
  /** With `includeSelf` false: the closest member other than this node, if any. */
  closest(key: Id, exclude: Exclusion | undefined, includeSelf: false): NodeHandle | undefined;
  closest(key: Id, exclude?: Exclusion, includeSelf = true): NodeHandle | undefined {
    let best: NodeHandle | undefined = includeSelf ? this.self : undefined;
    for (const e of this.right) {
      if (exclude && exclude.excludes(e.handle.id.hex)) continue;
      if (best === undefined || compareCloseness(key, e.handle.id, best.id) < 0) best = e.handle;
    }
    for (const e of this.left) {
      if (exclude && exclude.excludes(e.handle.id.hex)) continue;
      if (best === undefined || compareCloseness(key, e.handle.id, best.id) < 0) best = e.handle;
    }
    return best;
  }

  /** The `n` nodes (this one included) closest to `key`, closest first. */
  closestN(key: Id, n: number, exclude?: Exclusion): NodeHandle[] {
    const all = [this.self, ...this.members()].filter((h) => !exclude || h === this.self || !exclude.excludes(h.id.hex));
    all.sort((a, b) => compareCloseness(key, a.id, b.id));
    return all.slice(0, n);
  }
}

/** Number of entries of a side nearer than `distance` (sides are sorted nearest first). */
function closerCount(side: Entry[], distance: bigint): number {
  let n = 0;
  while (n < side.length && side[n]!.distance < distance) n++;
  return n;
}
