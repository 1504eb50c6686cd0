/**
 * ScanRange of S3 Select: the query sees the records that *start* within bytes Start..End of the
 * object (End inclusive), each whole, even where it runs past End. A record starts at byte 0 and
 * right after each record delimiter. Only uncompressed CSV (without quoted record delimiters) and
 * JSON LINES have such boundaries; the request parser refuses the others.
 */

/** The bytes to read for a scan range over an object of `size` bytes, and the range itself. */
export interface ScanWindow {
  /** First byte to read: a little before `start`, to see a delimiter that ends right before it. */
  readFrom: number;
  start: number;
  end: number;
}

/**
 * Resolves a requested range against the object's size: `start < 0` means the last `-start`
 * bytes (only End was given), a missing End the end of the object. Undefined when no record can
 * start in it (it begins at or past the end).
 */
export function scanWindow(range: { start: number; end: number | undefined }, size: number, delimiterBytes: number): ScanWindow | undefined {
  const start = range.start < 0 ? Math.max(0, size + range.start) : range.start;
  const end = Math.min(range.end ?? size - 1, size - 1);
  if (start >= size || end < start) return undefined;
  return { readFrom: Math.max(0, start - delimiterBytes), start, end };
}

/**
 * Cuts the bytes read from `readFrom` on down to the records that start within the window. Feed
 * it the object's bytes in order; it returns what to parse from each piece, and sets `done` once
 * a record starts past the window (the rest need not be read).
 */
export class RecordWindow {
  /** Whether the window is complete: stop reading. */
  done = false;
  private pos: number;
  private inside: boolean;
  private carry: Buffer = Buffer.alloc(0);

  constructor(
    private readonly delimiter: Buffer,
    private readonly window: ScanWindow,
  ) {
    this.pos = window.readFrom;
    this.inside = window.start === 0;
  }

  /** The part of `piece` (the next bytes of the object) inside the window; empty for none. */
  take(piece: Buffer): Buffer {
    if (this.done || piece.length === 0) return EMPTY;
    // Search the end of the previous piece too, for a delimiter split between the two.
    const buf = this.carry.length > 0 ? Buffer.concat([this.carry, piece]) : piece;
    const base = this.pos - this.carry.length; // absolute offset of buf[0]
    const dl = this.delimiter.length;
    let from = this.inside ? this.carry.length : 0; // first byte of buf to hand on
    let out: Buffer | undefined;
    for (let i = buf.indexOf(this.delimiter); i >= 0; i = buf.indexOf(this.delimiter, i + dl)) {
      const recordStart = base + i + dl; // a record starts right after the delimiter
      if (!this.inside) {
        if (recordStart >= this.window.start) {
          this.inside = true;
          from = i + dl;
          if (recordStart > this.window.end) return this.finish(EMPTY);
        }
      } else if (recordStart > this.window.end) {
        out = buf.subarray(Math.max(from, 0), i + dl);
        return this.finish(out);
      }
    }
    this.pos += piece.length;
    this.carry = dl > 1 ? Buffer.from(buf.subarray(Math.max(0, buf.length - (dl - 1)))) : EMPTY;
    if (!this.inside) return EMPTY;
    return from >= buf.length ? EMPTY : buf.subarray(from);
  }

  private finish(last: Buffer): Buffer {
    this.done = true;
    return last;
  }
}

const EMPTY = Buffer.alloc(0);
