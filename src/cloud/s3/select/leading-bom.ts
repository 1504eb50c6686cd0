/**
 * The UTF-8 byte order mark S3 Select ignores at the start of a CSV or JSON object, dropped from
 * an input that arrives in pieces (the first piece may hold only part of it).
 */
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Drops a byte order mark at the very start of a pieced input. */
export class LeadingBom {
  /** Bytes held at the start until a mark can be told apart; undefined once settled. */
  private head: Buffer | undefined = Buffer.alloc(0);

  /** `piece` without the input's leading mark; undefined while the first bytes could still be one. */
  strip(piece: Buffer): Buffer | undefined {
    if (this.head === undefined) return piece;
    const joined = this.head.length === 0 ? piece : Buffer.concat([this.head, piece]);
    if (joined.length < BOM.length && BOM.subarray(0, joined.length).equals(joined)) {
      this.head = joined;
      return undefined;
    }
    this.head = undefined;
    return joined.length >= BOM.length && joined[0] === BOM[0] && joined[1] === BOM[1] && joined[2] === BOM[2] ? joined.subarray(BOM.length) : joined;
  }

  /** At the end of input: the bytes held back (an input shorter than a mark that began like one), if any. */
  end(): Buffer | undefined {
    const head = this.head;
    this.head = undefined;
    return head !== undefined && head.length > 0 ? head : undefined;
  }
}
