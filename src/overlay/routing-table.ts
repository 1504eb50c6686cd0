/**
 * Pastry routing table (b = 4): row r holds, for each digit value d, a node that shares the
 * first r digits with this node and has d as digit r. Where several nodes qualify the one with the
 * lower measured round-trip time is kept (proximity neighbour selection).
 */
import { DIGIT_BASE, ID_DIGITS } from '../id/index.ts';
import type { Id } from '../id/index.ts';
import type { NodeHandle } from '../wire/index.ts';

/** A routing-table entry. */
export interface RoutingEntry {
  handle: NodeHandle;
  /** Smoothed RTT in ms if measured. */
  rtt: number | undefined;
}

export class RoutingTable {
  private readonly rows: (RoutingEntry | undefined)[][] = [];
  private count = 0;

  constructor(readonly self: Id) {}

  /** Number of entries. */
  get size(): number {
    return this.count;
  }

  /** Number of rows that have ever held an entry (the table grows on demand). */
  get depth(): number {
    return this.rows.length;
  }

  /** The entry for `key` at row `row` (its digit there), if any. */
  lookup(key: Id, row: number): RoutingEntry | undefined {
    return this.rows[row]?.[key.digit(row)];
  }

  /** The (row, column) slot `id` belongs to, or undefined for this node itself. */
  slotOf(id: Id): { row: number; col: number } | undefined {
    const row = this.self.sharedPrefixLength(id);
    if (row >= ID_DIGITS) return undefined;
    return { row, col: id.digit(row) };
  }

  get(row: number, col: number): RoutingEntry | undefined {
    return this.rows[row]?.[col];
  }

  /** Row `row` as handles (null where empty), 16 long. */
  row(row: number): (NodeHandle | null)[] {
    const r = this.rows[row];
    const out: (NodeHandle | null)[] = new Array(DIGIT_BASE).fill(null);
    if (!r) return out;
    for (let c = 0; c < DIGIT_BASE; c++) out[c] = r[c]?.handle ?? null;
    return out;
  }

  /** Rows 0..depth-1 as handles. */
  allRows(): (NodeHandle | null)[][] {
    const out: (NodeHandle | null)[][] = [];
    for (let r = 0; r < this.rows.length; r++) out.push(this.row(r));
    return out;
  }

  /** Every entry. */
  *entries(): IterableIterator<RoutingEntry> {
    for (const r of this.rows) for (const e of r) if (e) yield e;
  }

  contains(id: Id): boolean {
    const slot = this.slotOf(id);
    return slot !== undefined && this.rows[slot.row]?.[slot.col]?.handle.id.hex === id.hex;
  }

  /**
   * Offers `handle` for its slot. It is taken if the slot is empty, holds the same node (address
   * and RTT refreshed), or holds a node with a higher (or unknown) RTT while this one's is known
   * and lower. Returns the entry it replaced, `true` if it filled an empty slot, or false.
   */
  offer(handle: NodeHandle, rtt: number | undefined): NodeHandle | boolean {
    const slot = this.slotOf(handle.id);
    if (!slot) return false;
    let r = this.rows[slot.row];
    if (!r) {
      while (this.rows.length <= slot.row) this.rows.push(new Array(DIGIT_BASE).fill(undefined));
      r = this.rows[slot.row]!;
    }
    const current = r[slot.col];
    if (!current) {
      r[slot.col] = { handle, rtt };
      this.count++;
      return true;
    }
    if (current.handle.id.hex === handle.id.hex) {
      current.handle = handle;
      if (rtt !== undefined) current.rtt = rtt;
      return false;
    }
    if (rtt !== undefined && (current.rtt === undefined || rtt < current.rtt)) {
      r[slot.col] = { handle, rtt };
      return current.handle;
    }
    return false;
  }

  /** Whether `handle` would be taken by {@link offer} with an unknown RTT (its slot is empty). */
  hasRoomFor(id: Id): boolean {
    const slot = this.slotOf(id);
    return slot !== undefined && !this.rows[slot.row]?.[slot.col];
  }

  /** Records a new RTT measurement for an entry, if present. */
  updateRtt(id: Id, rtt: number): void {
    const slot = this.slotOf(id);
    if (!slot) return;
    const e = this.rows[slot.row]?.[slot.col];
    if (e && e.handle.id.hex === id.hex) e.rtt = rtt;
  }

  /** Removes `id` if present; returns whether it was. */
  remove(id: Id): boolean {
    const slot = this.slotOf(id);
    if (!slot) return false;
    const r = this.rows[slot.row];
    if (r?.[slot.col]?.handle.id.hex !== id.hex) return false;
    r[slot.col] = undefined;
    this.count--;
    return true;
  }
}
