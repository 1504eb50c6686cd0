/**
 * Streaming JSON record reader of S3 Select (the `JSON` of `InputSerialization`): bytes in, in
 * chunks cut anywhere; records out, as parsed JSON values.
 *
 * - `LINES`: one JSON value per line (`\n`; a `\r` before it is whitespace to JSON). Lines holding
 *   only whitespace are skipped; a line that is not exactly one JSON value is `JSONParsingError`.
 * - `DOCUMENT`: a stream of top-level JSON values, each of which may span lines, separated by
 *   optional whitespace; each is one record. A small scanner, aware of strings, escapes and
 *   nesting, finds where each value ends; `JSON.parse` then parses (and checks) it. A top-level
 *   scalar ends at whitespace or at the start of the next value; anything else between values
 *   (a `,`, a stray `]`) is `JSONParsingError`, as is a value still open at the end.
 *
 * A record may hold at most {@link MAX_RECORD_BYTES} bytes (`OverMaxRecordSize`, found while it
 * still arrives); the input must be UTF-8 (`InvalidTextEncoding`); a byte order mark at the start
 * is dropped.
 */
import { isUtf8 } from 'node:buffer';
import { SelectError } from '../protocol/select-errors.ts';
import { LeadingBom } from './leading-bom.ts';
import { MAX_RECORD_BYTES } from './csv-input.ts';
import type { JsonValue } from './values.ts';

/** AWS's JSONInput `Type`. */
export type JsonInputType = 'DOCUMENT' | 'LINES';

/** The options of AWS's `JSONInput`. */
export interface JsonInputOptions {
  type: JsonInputType;
}

const NL = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** Whether `b` ends a top-level scalar (whitespace, or what starts or ends another value). */
function endsScalar(b: number): boolean {
  return isSpace(b) || b === 0x7b || b === 0x5b || b === QUOTE || b === 0x7d || b === 0x5d || b === 0x2c || b === 0x3a;
}

function parseRecord(bytes: Buffer): JsonValue {
  const text = bytes.toString('utf8');
  // Decoding replaces invalid bytes with U+FFFD: only then is the (slower) check needed.
  if (text.includes('\uFFFD') && !isUtf8(bytes)) throw new SelectError('InvalidTextEncoding');
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw new SelectError('JSONParsingError');
  }
}

/**
 * Reads JSON records from a stream of byte chunks. Call {@link push} for each chunk and {@link end}
 * once at the end; each calls `onRecord` synchronously for every record completed. After a thrown
 * error (a {@link SelectError}, or one of `onRecord`'s) the reader is spent.
 */
export class JsonRecordReader {
  private readonly lines: boolean;
  /** Bytes of the record under way from earlier chunks. */
  private carry: Buffer[] = [];
  private carryLength = 0;
  /** The byte order mark the input may start with. */
  private readonly bom = new LeadingBom();
  private bytes = 0;

  // DOCUMENT scanner state.
  /** Whether a value is under way. */
  private inValue = false;
  /** Nesting depth of the value under way (0 for a top-level scalar or string). */
  private depth = 0;
  private inString = false;
  /** Whether the last byte was a backslash inside a string. */
  private escaped = false;
  /** Whether the value under way is a top-level scalar other than a string. */
  private scalar = false;
  /** Position of the next backslash in the chunk being scanned (-1: none; -2: not looked for yet). */
  private nextBackslash = -2;

  constructor(options: JsonInputOptions) {
    this.lines = options.type === 'LINES';
  }

  /** Bytes pushed so far (the input as parsed: S3 Select's BytesProcessed). */
  get bytesProcessed(): number {
    return this.bytes;
  }

  /** Parses `chunk`, calling `onRecord` for each record it completes. */
  push(chunk: Buffer, onRecord: (value: JsonValue) => void): void {
    this.bytes += chunk.length;
    const piece = this.bom.strip(chunk);
    if (piece === undefined) return;
    chunk = piece;
    if (this.lines) this.scanLines(chunk, onRecord);
    else this.scanDocument(chunk, onRecord);
  }

  /** Ends the input: parses what remains, calling `onRecord` for the last record. */
  end(onRecord: (value: JsonValue) => void): void {
    const head = this.bom.end();
    if (head !== undefined) {
      if (this.lines) this.scanLines(head, onRecord);
      else this.scanDocument(head, onRecord);
    }
    if (this.lines) {
      if (this.carryLength > 0) this.line(this.takeCarry(undefined), onRecord);
      return;
    }
    if (!this.inValue) return;
    // Only a top-level scalar can end with the input; anything else is unterminated.
    if (!this.scalar) throw new SelectError('JSONParsingError');
    this.inValue = false;
    this.scalar = false;
    onRecord(parseRecord(this.takeCarry(undefined)));
  }

  private scanLines(chunk: Buffer, onRecord: (value: JsonValue) => void): void {
    let pos = 0;
    for (;;) {
      const at = chunk.indexOf(NL, pos);
      if (at < 0) break;
      this.line(this.carryLength > 0 ? this.takeCarry(chunk.subarray(pos, at)) : chunk.subarray(pos, at), onRecord);
      pos = at + 1;
    }
    if (pos < chunk.length) this.keep(chunk.subarray(pos));
  }

  private line(bytes: Buffer, onRecord: (value: JsonValue) => void): void {
    if (bytes.length > MAX_RECORD_BYTES) throw new SelectError('OverMaxRecordSize');
    let i = 0;
    while (i < bytes.length && isSpace(bytes[i]!)) i++;
    if (i === bytes.length) return;
    onRecord(parseRecord(bytes));
  }

  private scanDocument(chunk: Buffer, onRecord: (value: JsonValue) => void): void {
    const n = chunk.length;
    this.nextBackslash = -2;
    // Where the value under way starts in this chunk (0 when it began in an earlier one).
    let start = 0;
    let i = 0;
    while (i < n) {
      if (!this.inValue) {
        const b = chunk[i]!;
        if (isSpace(b)) {
          i++;
          continue;
        }
        start = i;
        this.inValue = true;
        if (b === 0x7b || b === 0x5b) {
          this.depth = 1;
        } else if (b === QUOTE) {
          this.depth = 0;
          this.inString = true;
        } else if (b === 0x7d || b === 0x5d || b === 0x2c || b === 0x3a) {
          throw new SelectError('JSONParsingError');
        } else {
          this.depth = 0;
          this.scalar = true;
        }
        i++;
        continue;
      }
      if (this.inString) {
        i = this.skipString(chunk, i);
        if (this.inString) break;
        if (this.depth === 0) i = this.emit(chunk, start, i, onRecord);
        continue;
      }
      if (this.scalar) {
        while (i < n && !endsScalar(chunk[i]!)) i++;
        if (i === n) break;
        this.scalar = false;
        this.emit(chunk, start, i, onRecord);
        continue;
      }
      // Inside an object or array, outside strings: a tight loop up to the next string or the end.
      let depth = this.depth;
      while (i < n) {
        const b = chunk[i++]!;
        if (b === QUOTE) {
          this.inString = true;
          break;
        }
        if (b === 0x7b || b === 0x5b) depth++;
        else if ((b === 0x7d || b === 0x5d) && --depth === 0) break;
      }
      this.depth = depth;
      if (depth === 0) i = this.emit(chunk, start, i, onRecord);
    }
    if (this.inValue) this.keep(chunk.subarray(start));
  }

  /** Skips string content from `i`; returns the position after the closing quote, or the chunk's end. */
  private skipString(chunk: Buffer, i: number): number {
    const n = chunk.length;
    if (this.escaped) {
      this.escaped = false;
      i++;
    }
    for (;;) {
      if (i >= n) return n;
      const q = chunk.indexOf(QUOTE, i);
      // The next backslash is remembered across strings: searching again for each string would
      // make a chunk of many short strings quadratic.
      if (this.nextBackslash !== -1 && this.nextBackslash < i) this.nextBackslash = chunk.indexOf(BACKSLASH, i);
      const bs = this.nextBackslash;
      if (bs >= 0 && (q < 0 || bs < q)) {
        // Skip the escaped byte (on into the next chunk when the backslash ends this one).
        if (bs + 1 >= n) {
          this.escaped = true;
          return n;
        }
        i = bs + 2;
        continue;
      }
      if (q < 0) return n;
      this.inString = false;
      return q + 1;
    }
  }

  /** Completes the value spanning `start..end` of `chunk` (after any carried bytes); returns `end`. */
  private emit(chunk: Buffer, start: number, end: number, onRecord: (value: JsonValue) => void): number {
    this.inValue = false;
    if (this.carryLength + end - start > MAX_RECORD_BYTES) throw new SelectError('OverMaxRecordSize');
    const bytes = this.carryLength > 0 ? this.takeCarry(chunk.subarray(start, end)) : chunk.subarray(start, end);
    onRecord(parseRecord(bytes));
    return end;
  }

  /** Keeps the unfinished tail of a chunk for the next one. */
  private keep(tail: Buffer): void {
    this.carry.push(tail);
    this.carryLength += tail.length;
    if (this.carryLength > MAX_RECORD_BYTES) throw new SelectError('OverMaxRecordSize');
  }

  /** The carried bytes joined (with `rest` after them), leaving the carry empty. */
  private takeCarry(rest: Buffer | undefined): Buffer {
    if (rest !== undefined) this.carry.push(rest);
    const joined = this.carry.length === 1 ? this.carry[0]! : Buffer.concat(this.carry);
    this.carry = [];
    this.carryLength = 0;
    return joined;
  }
}
