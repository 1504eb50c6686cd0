/**
 * Streaming CSV record reader of S3 Select (the `CSV` of `InputSerialization`): bytes in, in
 * chunks cut anywhere (even inside a UTF-8 character or a two-byte delimiter); records out, as
 * arrays of field strings.
 *
 * Hand-written rather than `csv-parse`: AWS's CSV is not RFC 4180 and that parser has no way to
 * say several of its rules — a record delimiter inside quotes is an error unless
 * `AllowQuotedRecordDelimiter` (csv-parse always accepts it), comments only at the start of a row,
 * UTF-8 validity (`InvalidTextEncoding`), a byte limit per record. It also has the fast path
 * AWS's flag exists for: records are cut at the record delimiter before quotes are looked at.
 *
 * How it is fast: each chunk is checked with `isAscii` / `isUtf8` (native) and decoded once, in
 * pieces of at most {@link DECODE_BYTES}; records and fields are found in that text with
 * `indexOf` and taken as slices of it (V8 substrings), never decoded or built a character at a
 * time. A record without quotes, or whose quoted fields are simple, is split in one loop; the
 * rest go through a careful state machine.
 *
 * Rules (AWS's CSVInput, and where its documentation is silent, the choices noted):
 * - Delimiters, quote, escape and comment characters are strings of any length (AWS documents
 *   single characters but "arbitrary" delimiters); they are matched in the decoded text, which
 *   for valid UTF-8 is matching their bytes: they cannot match inside another character.
 * - Records end at the record delimiter (default `\n`). With the default `\n`, a `\r` right before
 *   it is dropped, so CRLF files read as expected; a last record need not end with a delimiter.
 * - Empty lines are skipped; so are lines starting with the comment character. A comment is
 *   recognised only where a record starts. (AWS's default comment character, `#`, is applied by
 *   the request parser: here an absent one means no comments.)
 * - A field starting with the quote character (default `"`) is quoted: it ends at the next lone
 *   quote, which must be followed by a field delimiter or the end of the record
 *   (`CSVUnescapedQuote` otherwise). Inside it the escape character (default: the quote character)
 *   followed by a quote gives a quote; when the two differ, escape + escape gives one escape
 *   character and an escape before anything else is kept as it is. A quote elsewhere in an
 *   unquoted field is an ordinary character.
 * - A record delimiter inside quotes is part of the field with `allowQuotedRecordDelimiter`, else
 *   `CSVEscapingRecordDelimiter`. A quoted field still open at the end of the input is
 *   `CSVParsingError`.
 * - A record (its bytes, quotes included, delimiter excluded) may hold at most
 *   {@link MAX_RECORD_BYTES} bytes (`OverMaxRecordSize`); it is detected while the record is still
 *   arriving, so memory stays bounded. Comment lines count too.
 * - Input must be UTF-8 (`InvalidTextEncoding`); a byte order mark at the start is dropped. As
 *   any error, it comes when the record holding the bad bytes is complete, after the records
 *   before it.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { SelectError } from '../protocol/select-errors.ts';
import { LeadingBom } from './leading-bom.ts';

/** Largest record S3 Select accepts, in the input or in the result: 1 MiB. */
export const MAX_RECORD_BYTES = 1024 * 1024;

/** The options of AWS's `CSVInput` that shape parsing (`FileHeaderInfo` is the caller's). */
export interface CsvInputOptions {
  /** Between fields; default `,`. */
  fieldDelimiter?: string;
  /** Between records; default `\n` (which also accepts `\r\n`). */
  recordDelimiter?: string;
  /** Opens and closes a quoted field; default `"`; `''` turns quoting off. */
  quoteCharacter?: string;
  /** Escapes a quote inside a quoted field; default: the quote character. */
  quoteEscapeCharacter?: string;
  /** A row starting with it is skipped; absent or `''`: no comments (AWS's default `#` is the request parser's to apply). */
  comments?: string;
  /** Whether a quoted field may hold the record delimiter; default false. */
  allowQuotedRecordDelimiter?: boolean;
}

const EMPTY = Buffer.alloc(0);
const CR = 0x0d;
/** UTF-8 takes at most 3 bytes per UTF-16 code unit: a segment this long or shorter (in units) is within the limit. */
const SURELY_SHORT = Math.floor(MAX_RECORD_BYTES / 3);
/** Bytes decoded into one string at most (see `parseBytes`). */
const DECODE_BYTES = 64 * 1024;

function nonEmpty(value: string, what: string): string {
  if (value === '') throw new RangeError(`CSV ${what} must not be empty`);
  return value;
}

/** Bytes of the UTF-8 sequence a lead byte opens (a byte that opens none counts as 4: it fails validation anyway). */
function sequenceLength(lead: number): number {
  return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
}

/** Where a character cut off by the end of `buf[from, to)` begins, else `to`. */
function incompleteTail(buf: Buffer, from: number, to: number): number {
  for (let i = to - 1; i >= from && i >= to - 3; i--) {
    const b = buf[i]!;
    if (b < 0x80) return to;
    if (b >= 0xc0) return to - i < sequenceLength(b) ? i : to;
  }
  return to;
}

/**
 * Where the first byte sequence of `buf[from, to)` that is not valid UTF-8 starts, or -1. A
 * character cut off by `to` is valid when its bytes so far can begin one. Only run once
 * `isUtf8` has failed, to find the spot: the bytes before it still make records.
 */
function invalidAt(buf: Buffer, from: number, to: number): number {
  let i = from;
  while (i < to) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    // The well-formed sequences of Unicode's table 3-7: no overlongs, surrogates or beyond U+10FFFF.
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) n = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      n = 3;
      if (b === 0xe0) lo = 0xa0;
      else if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 4;
      if (b === 0xf0) lo = 0x90;
      else if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k < n; k++) {
      if (i + k >= to) return -1;
      const c = buf[i + k]!;
      if (c < lo || c > hi) return i;
      lo = 0x80;
      hi = 0xbf;
    }
    i += n;
  }
  return -1;
}

/**
 * Reads CSV records from a stream of byte chunks. Call {@link push} for each chunk and {@link end}
 * once at the end; each calls `onRecord` synchronously for every record completed, with a fresh
 * array. After a thrown error (a {@link SelectError}, or one of `onRecord`'s) the reader is spent.
 */
export class CsvRecordReader {
  private readonly fieldDelim: string;
  private readonly recordDelim: string;
  /** The record delimiter as bytes: after invalid UTF-8, the rest of the record is looked for in bytes. */
  private readonly recordDelimBytes: Buffer;
  /** The quote character; `''` when quoting is off. */
  private readonly quote: string;
  /** The escape character when it is not the quote character itself, else `''`. */
  private readonly escape: string;
  /** `''` when comments are off. */
  private readonly comment: string;
  private readonly allowQuoted: boolean;
  /** Whether the record delimiter is `\n`, whose preceding `\r` is dropped. */
  private readonly stripCr: boolean;

  /** The byte order mark the input may start with. */
  private readonly bom = new LeadingBom();
  /** The first bytes of a character cut by the end of the last chunk (a valid start of one). */
  private partial = EMPTY;
  /** Text after the last record delimiter, in pieces: the start of a segment still arriving. */
  private carry: string[] = [];
  private carryChars = 0;
  /** UTF-8 bytes of the first `carryCounted` pieces of the carry, counted only near the record limit. */
  private carryBytes = 0;
  private carryCounted = 0;
  /**
   * Set once invalid UTF-8 arrived: the segment holding it fails when it is complete (or, first,
   * when it grows too long), as any segment. Its bytes so far, and the last of them, where a
   * record delimiter may begin.
   */
  private poison: { length: number; tail: Buffer } | undefined;

  /** Fields in the last record split by {@link records}: the next one's array is made that size. */
  private width = 1;
  /** Fields of the record under way (one spanning several segments when a quoted field holds delimiters). */
  private fields: string[] = [];
  /** Whether the record under way ended its last segment inside a quoted field. */
  private inQuote = false;
  /** The text of that quoted field so far. */
  private pending = '';
  /**
   * Bytes of the record under way in segments already parsed, delimiters included (and once
   * invalid UTF-8 arrived, the text of its segment before it).
   */
  private recordBytes = 0;
  private bytes = 0;

  constructor(options: CsvInputOptions = {}) {
    this.fieldDelim = nonEmpty(options.fieldDelimiter ?? ',', 'field delimiter');
    this.recordDelim = nonEmpty(options.recordDelimiter ?? '\n', 'record delimiter');
    this.recordDelimBytes = Buffer.from(this.recordDelim, 'utf8');
    this.quote = options.quoteCharacter ?? '"';
    const escape = options.quoteEscapeCharacter || this.quote;
    this.escape = this.quote === '' || escape === this.quote ? '' : escape;
    this.comment = options.comments ?? '';
    this.allowQuoted = options.allowQuotedRecordDelimiter ?? false;
    this.stripCr = this.recordDelim === '\n';
  }

  /** Bytes pushed so far (the input as parsed: S3 Select's BytesProcessed). */
  get bytesProcessed(): number {
    return this.bytes;
  }

  /** Parses `chunk`, calling `onRecord` for each record it completes. */
  push(chunk: Buffer, onRecord: (fields: string[]) => void): void {
    this.bytes += chunk.length;
    const piece = this.bom.strip(chunk);
    if (piece === undefined) return;
    chunk = piece;
    this.decode(chunk, onRecord);
  }

  /** Ends the input: parses what remains, calling `onRecord` for the last record. */
  end(onRecord: (fields: string[]) => void): void {
    const head = this.bom.end();
    if (head !== undefined) {
      this.decode(head, onRecord);
    }
    // Invalid bytes, or a character the input ends in the middle of, in the last segment (its
    // size was checked as it arrived).
    if (this.poison !== undefined || this.partial.length > 0) throw new SelectError('InvalidTextEncoding');
    if (this.carryChars > 0) {
      const last = this.takeCarry();
      // At the end of the input a still-open quote can only be unterminated.
      if (this.segment(last, 0, last.length, true, onRecord)) throw new SelectError('CSVParsingError');
    } else if (this.inQuote) {
      throw new SelectError('CSVParsingError');
    }
  }

  /**
   * Decodes `chunk` (after the bytes of a character the last one cut) and parses the text. The
   * chunk is checked whole with `isAscii` / `isUtf8` (native and fast); only when that fails is the
   * first invalid byte looked for, so that the records before it come out first, as they would in
   * order.
   */
  private decode(chunk: Buffer, onRecord: (fields: string[]) => void): void {
    if (this.poison !== undefined) return this.poisoned(chunk);
    let from = 0;
    if (this.partial.length > 0) {
      const held = this.partial;
      const need = sequenceLength(held[0]!) - held.length;
      const joined = Buffer.concat([held, chunk.subarray(0, need)]);
      if (invalidAt(joined, 0, joined.length) >= 0) {
        this.partial = EMPTY;
        return this.poisonFrom(Buffer.concat([held, chunk]));
      }
      if (joined.length < held.length + need) {
        // Still cut short (the chunk held only continuation bytes).
        this.partial = joined;
        return this.checkCarry();
      }
      this.partial = EMPTY;
      this.parseText(joined.toString('utf8'), onRecord);
      from = need;
    }
    const to = chunk.length;
    if (isAscii(from === 0 ? chunk : chunk.subarray(from))) {
      // The common case; latin1 decodes it to the same text, as a plain copy.
      this.parseBytes(chunk, from, to, 'latin1', onRecord);
    } else {
      const cut = incompleteTail(chunk, from, to);
      if (isUtf8(chunk.subarray(from, cut)) && invalidAt(chunk, cut, to) < 0) {
        this.parseBytes(chunk, from, cut, 'utf8', onRecord);
        // Counted in the record's size from now (it will be part of it).
        this.partial = cut < to ? Buffer.from(chunk.subarray(cut)) : EMPTY;
      } else {
        const bad = Math.max(from, invalidAt(chunk, from, to));
        this.parseBytes(chunk, from, bad, 'utf8', onRecord);
        return this.poisonFrom(chunk.subarray(bad));
      }
    }
    this.checkCarry();
  }

  /**
   * Decodes `chunk[from, to)`, valid text, and parses it, in pieces of at most
   * {@link DECODE_BYTES} cut between characters: a longer string goes to V8's large-object space,
   * which measured markedly slower for this churn of one string per chunk.
   */
  private parseBytes(chunk: Buffer, from: number, to: number, encoding: 'latin1' | 'utf8', onRecord: (fields: string[]) => void): void {
    while (from < to) {
      let end = Math.min(to, from + DECODE_BYTES);
      while (end < to && (chunk[end]! & 0xc0) === 0x80) end--;
      this.parseText(chunk.toString(encoding, from, end), onRecord);
      from = end;
    }
  }

  /** Cuts `text` (with the carried text before it) at record delimiters and parses the segments; the caller checks what is left over against the limit. */
  private parseText(text: string, onRecord: (fields: string[]) => void): void {
    let pos = 0;
    if (this.carryChars > 0 && text.length > 0) {
      pos = this.afterCarry(text, onRecord);
      if (pos < 0) {
        this.carry.push(text);
        this.carryChars += text.length;
        return;
      }
    }
    pos = this.records(text, pos, onRecord);
    if (pos < text.length) {
      this.carry.push(text.slice(pos));
      this.carryChars += text.length - pos;
    }
  }

  /**
   * Completes the carried segment when `text` holds the record delimiter ending it (which may
   * begin in the carry): returns where `text` resumes, or -1 when the segment goes on.
   */
  private afterCarry(text: string, onRecord: (fields: string[]) => void): number {
    const delim = this.recordDelim;
    if (delim.length > 1) {
      let tail = '';
      for (let i = this.carry.length - 1; i >= 0 && tail.length < delim.length - 1; i--) {
        tail = this.carry[i]!.slice(-(delim.length - 1 - tail.length)) + tail;
      }
      const at = (tail + text.slice(0, delim.length - 1)).indexOf(delim);
      // A match wholly inside the text is left to the ordinary search.
      if (at >= 0 && at < tail.length) {
        const carried = this.takeCarry();
        const seg = carried.slice(0, carried.length - (tail.length - at));
        this.segment(seg, 0, seg.length, false, onRecord);
        return at + delim.length - tail.length;
      }
    }
    const at = text.indexOf(delim);
    if (at < 0) return -1;
    const seg = this.takeCarry() + text.slice(0, at);
    this.segment(seg, 0, seg.length, false, onRecord);
    return at + delim.length;
  }

  /**
   * Parses the whole records of `text` from `pos`; returns where the unfinished one starts. The
   * hot loop: a record is split right here, its fields slices of the decoded text, unless it needs
   * more care — it continues a quoted field, it may be over the limit, or it has a quoted field
   * that is not simple (one with a record delimiter, text after its closing quote, or a distinct
   * escape character) — when {@link segment} parses it. The next field delimiter and the next
   * quote are searched once and remembered, so that `indexOf` scans any stretch of text once,
   * however records and searches interleave.
   */
  private records(text: string, pos: number, onRecord: (fields: string[]) => void): number {
    const rd = this.recordDelim;
    const fd = this.fieldDelim;
    const quote = this.quote;
    const comment = this.comment;
    const stripCr = this.stripCr;
    const simpleQuotes = this.escape === '';
    const none = text.length;
    let nextFd = -1;
    let nextQuote = quote === '' ? none : -1;
    let width = this.width;
    records: for (;;) {
      const at = text.indexOf(rd, pos);
      if (at < 0) break;
      const start = pos;
      pos = at + rd.length;
      if (this.inQuote || at - start > SURELY_SHORT) {
        this.segment(text, start, at, false, onRecord);
        continue;
      }
      const end = stripCr && at > start && text.charCodeAt(at - 1) === CR ? at - 1 : at;
      if (end === start || (comment !== '' && end - start >= comment.length && text.startsWith(comment, start))) continue;
      if (nextQuote < start) {
        nextQuote = text.indexOf(quote, start);
        if (nextQuote < 0) nextQuote = none;
      }
      const quoted = nextQuote < end;
      if (quoted && !simpleQuotes) {
        this.segment(text, start, at, false, onRecord);
        continue;
      }
      // Sized as the last record: growing an empty array cost more than the rest of the split.
      const fields = new Array<string>(width);
      let n = 0;
      let p = start;
      for (;;) {
        if (quoted && p + quote.length <= end && text.startsWith(quote, p)) {
          let value = '';
          let from = p + quote.length;
          for (;;) {
            if (nextQuote < from) {
              nextQuote = text.indexOf(quote, from);
              if (nextQuote < 0) nextQuote = none;
            }
            const after = nextQuote + quote.length;
            if (after > end) {
              this.segment(text, start, at, false, onRecord);
              continue records;
            }
            value += text.slice(from, nextQuote);
            if (after + quote.length > end || !text.startsWith(quote, after)) {
              p = after;
              break;
            }
            value += quote;
            from = after + quote.length;
          }
          fields[n++] = value;
          if (p === end) break;
          if (p + fd.length <= end && text.startsWith(fd, p)) {
            p += fd.length;
            continue;
          }
          this.segment(text, start, at, false, onRecord);
          continue records;
        }
        if (nextFd < p) {
          nextFd = text.indexOf(fd, p);
          if (nextFd < 0) nextFd = none;
        }
        if (nextFd > end - fd.length) {
          fields[n++] = text.slice(p, end);
          break;
        }
        fields[n++] = text.slice(p, nextFd);
        p = nextFd + fd.length;
      }
      if (n !== width) fields.length = width = n;
      onRecord(fields);
    }
    this.width = width;
    return pos;
  }

  /** The carried text joined, leaving the carry empty. */
  private takeCarry(): string {
    const joined = this.carry.length === 1 ? this.carry[0]! : this.carry.join('');
    this.carry = [];
    this.carryChars = 0;
    this.carryBytes = 0;
    this.carryCounted = 0;
    return joined;
  }

  /**
   * Refuses a record that grows past the limit while it arrives. Counted in UTF-16 units first
   * (between a third of its bytes and all of them); in bytes only when that cannot tell.
   */
  private checkCarry(): void {
    const held = this.partial.length;
    if (this.carryChars === 0 && held === 0) return;
    const known = this.recordBytes + held;
    if (known + this.carryChars * 3 <= MAX_RECORD_BYTES) return;
    if (known + this.carryChars > MAX_RECORD_BYTES) throw new SelectError('OverMaxRecordSize');
    for (; this.carryCounted < this.carry.length; this.carryCounted++) {
      this.carryBytes += Buffer.byteLength(this.carry[this.carryCounted]!, 'utf8');
    }
    if (known + this.carryBytes > MAX_RECORD_BYTES) throw new SelectError('OverMaxRecordSize');
  }

  /**
   * After invalid UTF-8 (`bytes` start with it): the text before it was parsed; the segment
   * under way can only fail now, and is followed in bytes until it does.
   */
  private poisonFrom(bytes: Buffer): void {
    for (const piece of this.carry) this.recordBytes += Buffer.byteLength(piece, 'utf8');
    this.takeCarry();
    this.poison = { length: 0, tail: EMPTY };
    this.poisoned(bytes);
  }

  /** Adds `chunk` to the segment holding invalid UTF-8: it fails once its delimiter arrives or it is too long. */
  private poisoned(chunk: Buffer): void {
    const poison = this.poison!;
    const delim = this.recordDelimBytes;
    const probe = poison.tail.length === 0 ? chunk : Buffer.concat([poison.tail, chunk]);
    const at = probe.indexOf(delim);
    const before = this.recordBytes + poison.length - poison.tail.length;
    // Complete: checked for size first, as every segment.
    if (at >= 0) throw new SelectError(before + at > MAX_RECORD_BYTES ? 'OverMaxRecordSize' : 'InvalidTextEncoding');
    poison.length += chunk.length;
    if (this.recordBytes + poison.length > MAX_RECORD_BYTES) throw new SelectError('OverMaxRecordSize');
    poison.tail = Buffer.from(probe.subarray(Math.max(0, probe.length - (delim.length - 1))));
  }

  /**
   * Parses one segment, `text[from, to)`: the text between two record delimiters. Returns whether
   * it ended inside a quoted field (only possible at the end of the input; before that, the record
   * goes on or it is an error).
   */
  private segment(text: string, from: number, to: number, last: boolean, onRecord: (fields: string[]) => void): boolean {
    const continuing = this.inQuote;
    if (this.exceeds(text, from, to)) throw new SelectError('OverMaxRecordSize');
    const droppedCr = this.stripCr && to > from && text.charCodeAt(to - 1) === CR;
    const end = droppedCr ? to - 1 : to;
    if (!continuing) {
      if (end === from) return false;
      if (this.comment !== '' && end - from >= this.comment.length && text.startsWith(this.comment, from)) return false;
    }
    if (this.parse(text.slice(from, end))) {
      // Still inside quotes: the `\r` taken for a CRLF's was the field's, and so is the delimiter.
      if (droppedCr) this.pending += '\r';
      if (last) return true;
      if (!this.allowQuoted) throw new SelectError('CSVEscapingRecordDelimiter');
      this.pending += this.recordDelim;
      this.recordBytes += Buffer.byteLength(text.slice(from, to), 'utf8') + this.recordDelimBytes.length;
      return true;
    }
    const fields = this.fields;
    this.fields = [];
    this.recordBytes = 0;
    onRecord(fields);
    return false;
  }

  /** Whether the record under way, with `text[from, to)` added, is over the limit (in UTF-8 bytes). */
  private exceeds(text: string, from: number, to: number): boolean {
    const units = to - from;
    if (this.recordBytes + units * 3 <= MAX_RECORD_BYTES) return false;
    if (this.recordBytes + units > MAX_RECORD_BYTES) return true;
    return this.recordBytes + Buffer.byteLength(text.slice(from, to), 'utf8') > MAX_RECORD_BYTES;
  }

  /**
   * Adds the fields of `line` (one segment's text) to the record under way; returns whether it
   * ended inside quotes. Fields are slices of the segment's text, decoded once: cheaper than
   * decoding each field's bytes.
   */
  private parse(line: string): boolean {
    const fd = this.fieldDelim;
    const quote = this.quote;
    let pos = 0;
    if (this.inQuote) {
      pos = this.quoted(line, 0);
      if (pos < 0) return true;
      pos = this.closed(line, pos);
      if (pos < 0) return false;
    }
    for (;;) {
      if (quote !== '' && line.startsWith(quote, pos)) {
        this.inQuote = true;
        this.pending = '';
        pos = this.quoted(line, pos + quote.length);
        if (pos < 0) return true;
        pos = this.closed(line, pos);
        if (pos < 0) return false;
        continue;
      }
      const next = line.indexOf(fd, pos);
      if (next < 0) {
        this.fields.push(line.slice(pos));
        return false;
      }
      this.fields.push(line.slice(pos, next));
      pos = next + fd.length;
    }
  }

  /**
   * Reads quoted content from `pos` into {@link pending}. Returns the position just after the
   * closing quote, or -1 when the line ends first.
   */
  private quoted(line: string, pos: number): number {
    const quote = this.quote;
    const escape = this.escape;
    let nextQuote = -2;
    let nextEscape = escape === '' ? -1 : -2;
    for (;;) {
      if (nextQuote !== -1 && nextQuote < pos) nextQuote = line.indexOf(quote, pos);
      if (nextEscape !== -1 && nextEscape < pos) nextEscape = line.indexOf(escape, pos);
      if (nextEscape >= 0 && (nextQuote < 0 || nextEscape < nextQuote)) {
        this.pending += line.slice(pos, nextEscape);
        const after = nextEscape + escape.length;
        if (line.startsWith(quote, after)) {
          this.pending += quote;
          pos = after + quote.length;
        } else if (line.startsWith(escape, after)) {
          this.pending += escape;
          pos = after + escape.length;
        } else {
          this.pending += escape;
          pos = after;
        }
        continue;
      }
      if (nextQuote < 0) {
        this.pending += line.slice(pos);
        return -1;
      }
      this.pending += line.slice(pos, nextQuote);
      const after = nextQuote + quote.length;
      if (escape === '' && line.startsWith(quote, after)) {
        // A doubled quote (the escape is the quote character itself).
        this.pending += quote;
        pos = after + quote.length;
        continue;
      }
      this.inQuote = false;
      return after;
    }
  }

  /**
   * Ends the quoted field whose closing quote ends at `pos`: returns the position of the next
   * field, or -1 when the record ends there.
   */
  private closed(line: string, pos: number): number {
    this.fields.push(this.pending);
    this.pending = '';
    if (pos === line.length) return -1;
    if (line.startsWith(this.fieldDelim, pos)) return pos + this.fieldDelim.length;
    throw new SelectError('CSVUnescapedQuote');
  }
}
