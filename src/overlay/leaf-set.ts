/**
 * The leaf set: the `size / 2` nodes nearest to this node on each side of the ring.
 *
 * `right` holds the nearest nodes clockwise (larger ids, wrapping), `left` the nearest
 * counter-clockwise, both sorted nearest first. In a ring smaller than the leaf set a node may sit
 * on both sides; the leaf set then covers the whole ring.
 */
import { RING_SIZE, clockwiseDistance, ringDistance } from '../id/index.ts';
import type { Id } from '../id/index.ts';
import type { NodeHandle } from '../wire/index.ts';

interface Entry {
  handle: NodeHandle;
  /** Distance from this node in the side's direction. */
  distance: bigint;
}

export class LeafSet {
  private left: Entry[] = [];
  private right: Entry[] = [];
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

  /** Every member once (a node on both sides appears once). */
  members(): NodeHandle[] {
    const out: NodeHandle[] = [];
    const seen = new Set<string>();
    for (const e of this.right) if (!seen.has(e.handle.id.hex)) (seen.add(e.handle.id.hex), out.push(e.handle));
    for (const e of this.left) if (!seen.has(e.handle.id.hex)) (seen.add(e.handle.id.hex), out.push(e.handle));
    return out;
  }

  get size(): number {
    return this.members().length;
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
    const hex = id.hex;
    return this.left.some((e) => e.handle.id.hex === hex) || this.right.some((e) => e.handle.id.hex === hex);
  }

  get(id: Id): NodeHandle | undefined {
    const hex = id.hex;
    return (this.right.find((e) => e.handle.id.hex === hex) ?? this.left.find((e) => e.handle.id.hex === hex))?.handle;
  }

  /**
   * True when the leaf set knows every node of the ring: a side is not full, or the two sides
   * overlap. Every key is then in range.
   */
  coversWholeRing(): boolean {
    if (this.left.length < this.half || this.right.length < this.half) return true;
    const farRight = this.right[this.right.length - 1]!.distance;
    const farLeftClockwise = RING_SIZE - this.left[this.left.length - 1]!.distance;
    return farRight >= farLeftClockwise;
  }

  /** Whether `key` falls between the leftmost and rightmost members (inclusive). */
  inRange(key: Id): boolean {
    if (this.coversWholeRing()) return true;
    const leftmost = this.left[this.left.length - 1]!.handle.id;
    const rightmost = this.right[this.right.length - 1]!.handle.id;
    return clockwiseDistance(leftmost, key) <= clockwiseDistance(leftmost, rightmost);
  }

  /** Whether adding `handle` would change the leaf set (it is not a member and fits a side). */
  wouldAccept(handle: NodeHandle): boolean {
    if (handle.id.hex === this.self.id.hex || this.contains(handle.id)) return false;
    const cw = clockwiseDistance(this.self.id, handle.id);
    const ccw = RING_SIZE - cw;
    return this.fits(this.right, cw) || this.fits(this.left, ccw);
  }

  private fits(side: Entry[], distance: bigint): boolean {
    return side.length < this.half || distance < side[side.length - 1]!.distance;
  }

  /**
   * Adds `handle` where it fits. Returns the members that dropped out of the leaf set entirely
   * (pushed off both sides), or undefined if nothing changed. A known member gets its address
   * updated (a node that restarted elsewhere).
   */
  add(handle: NodeHandle): { evicted: NodeHandle[] } | undefined {
    if (handle.id.hex === this.self.id.hex) return undefined;
    if (this.contains(handle.id)) {
      this.updateAddress(handle);
      return undefined;
    }
    const cw = clockwiseDistance(this.self.id, handle.id);
    const ccw = RING_SIZE - cw;
    const pushedRight = this.insert(this.right, handle, cw);
    const pushedLeft = this.insert(this.left, handle, ccw);
    if (pushedRight === false && pushedLeft === false) return undefined;
    const evicted: NodeHandle[] = [];
    for (const h of [pushedRight, pushedLeft]) {
      if (h && !this.contains(h.id) && !evicted.some((e) => e.id.hex === h.id.hex)) evicted.push(h);
    }
    return { evicted };
  }

  /** Inserts in order; returns false if it did not fit, the entry pushed off, or null. */
  private insert(side: Entry[], handle: NodeHandle, distance: bigint): NodeHandle | null | false {
    if (!this.fits(side, distance)) return false;
    let i = side.length;
    while (i > 0 && side[i - 1]!.distance > distance) i--;
    side.splice(i, 0, { handle, distance });
    if (side.length > this.half) return side.pop()!.handle;
    return null;
  }

  private updateAddress(handle: NodeHandle): void {
    for (const side of [this.left, this.right]) {
      for (const e of side) if (e.handle.id.hex === handle.id.hex && e.handle.addr !== handle.addr) e.handle = handle;
    }
  }

  /** Removes a member; returns whether it was one. */
  remove(id: Id): boolean {
    const hex = id.hex;
    const before = this.left.length + this.right.length;
    this.left = this.left.filter((e) => e.handle.id.hex !== hex);
    this.right = this.right.filter((e) => e.handle.id.hex !== hex);
    return this.left.length + this.right.length !== before;
  }

  /** Which sides `id` is on (for refilling the side that lost it). */
  sidesOf(id: Id): { left: boolean; right: boolean } {
    const hex = id.hex;
    return { left: this.left.some((e) => e.handle.id.hex === hex), right: this.right.some((e) => e.handle.id.hex === hex) };
  }

  /**
   * The member (or this node) numerically closest to `key`, skipping ids in `exclude`
   * (ties: smaller id).
   */
  closest(key: Id, exclude?: (id: Id) => boolean): NodeHandle {
    let best = this.self;
    let bestDistance = ringDistance(key, this.self.id);
    const consider = (h: NodeHandle): void => {
      if (exclude && exclude(h.id)) return;
      const d = ringDistance(key, h.id);
      if (d < bestDistance || (d === bestDistance && h.id.hex < best.id.hex)) {
        best = h;
        bestDistance = d;
      }
    };
    for (const e of this.right) consider(e.handle);
    for (const e of this.left) consider(e.handle);
    return best;
  }

  /** The `n` nodes (this one included) closest to `key`, closest first. */
  closestN(key: Id, n: number, exclude?: (id: Id) => boolean): NodeHandle[] {
    const all = [this.self, ...this.members()].filter((h) => !exclude || h.id.hex === this.self.id.hex || !exclude(h.id));
    all.sort((a, b) => {
      const da = ringDistance(key, a.id);
      const db = ringDistance(key, b.id);
      return da < db ? -1 : da > db ? 1 : a.id.compare(b.id);
    });
    return all.slice(0, n);
  }
}
