/**
 * Output writers of S3 Select (`OutputSerialization`): result rows in, UTF-8 bytes out, gathered
 * until the caller takes them (`take()`) for a Records event; `pendingBytes` says when to.
 *
 * Values are written as follows (AWS documents the options, not these details):
 * - strings as they are; booleans `true` / `false`; numbers in JavaScript's shortest round-trip
 *   form (`1`, `1.5`, `1e+21`; `NaN` and `Infinity` as such in CSV, `null` in JSON, which has no
 *   word for them);
 * - timestamps in the Ion form S3 Select shows them in, at the precision they were written with
 *   ({@link formatTimestamp}: `2007T`, `2007-02-23T`, `2007-02-23T12:14:33.079-08:00`);
 * - JSON arrays and objects as JSON text (in CSV) or as JSON (in JSON);
 * - NULL and MISSING: an empty field in CSV; in JSON, `null` and an omitted member.
 *
 * Rows longer than {@link MAX_RECORD_BYTES} once written are `OverMaxRecordSize` (and not written).
 */
import { SelectError } from '../protocol/select-errors.ts';
import { MAX_RECORD_BYTES } from './csv-input.ts';
import { formatTimestamp, isTimestamp } from './values.ts';
import type { OutputRow, SqlValue } from './values.ts';

/** The options of AWS's `CSVOutput`. */
export interface CsvOutputOptions {
  /** `ALWAYS` quotes every field; `ASNEEDED` (default) only those that need it. */
  quoteFields?: 'ALWAYS' | 'ASNEEDED';
  /** Default `"`. */
  quoteCharacter?: string;
  /** Escapes the quote character inside a quoted field; default: the quote character (doubling). */
  quoteEscapeCharacter?: string;
  /** Default `\n`. */
  recordDelimiter?: string;
  /** Default `,`. */
  fieldDelimiter?: string;
}

/** The options of AWS's `JSONOutput`. */
export interface JsonOutputOptions {
  /** Written after each record; default `\n`. */
  recordDelimiter?: string;
}

/** Turns result rows into output bytes. */
export interface RowWriter {
  /** Serialises `row` after the rows written before it. */
  write(row: OutputRow): void;
  /** The bytes written since the last take (a fresh buffer: it is the caller's to keep). */
  take(): Buffer;
  /** How many bytes {@link take} would return. */
  readonly pendingBytes: number;
}

/**
 * Output text gathered until taken. Records are appended to one string (V8 joins them lazily, as
 * a rope) and encoded to UTF-8 in one go when taken: cheaper than writing each short record into
 * a growing buffer, where `Buffer#write`'s wrapper costs more than the copy (measured: about twice
 * the time). Only each record's byte length is computed on the way, for the record limit and
 * {@link length}.
 */
class TextSink {
  private text = '';
  /** UTF-8 bytes of {@link text}. */
  length = 0;

  /**
   * Appends a record and its delimiter (`delimiterBytes` long in UTF-8), unless the record is over
   * {@link MAX_RECORD_BYTES}: then nothing is appended and `OverMaxRecordSize` thrown.
   */
  appendRecord(record: string, delimiter: string, delimiterBytes: number): void {
    const n = Buffer.byteLength(record, 'utf8');
    if (n > MAX_RECORD_BYTES) throw new SelectError('OverMaxRecordSize');
    this.text += record;
    this.text += delimiter;
    this.length += n + delimiterBytes;
  }

  take(): Buffer {
    const out = Buffer.from(this.text, 'utf8');
    this.text = '';
    this.length = 0;
    return out;
  }
}

/** A value as the text of a CSV field (before quoting); NULL and MISSING are empty. */
function csvText(v: SqlValue): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
      return String(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'undefined':
      return '';
    default:
      if (v === null) return '';
      if (isTimestamp(v)) return formatTimestamp(v);
      return JSON.stringify(v);
  }
}

/** A value as JSON text (MISSING is the caller's to omit). */
function jsonText(v: SqlValue): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'undefined':
      return 'null';
    default:
      if (v === null) return 'null';
      if (isTimestamp(v)) return JSON.stringify(formatTimestamp(v));
      return JSON.stringify(v);
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function nonEmpty(value: string | undefined, fallback: string, what: string): string {
  const v = value ?? fallback;
  if (v === '') throw new RangeError(`CSV output ${what} must not be empty`);
  return v;
}

/**
 * Writes rows as CSV (AWS's CSVOutput). With `ASNEEDED`, a field is quoted when it holds the field
 * or record delimiter, the quote or escape character, or a line break (`\r`, `\n`); inside
 * quotes the quote character is escaped with the escape character, and so is the escape
 * character itself when it is not the quote (so that a reader can tell them apart). A row with
 * a whole JSON record (`SELECT *` of JSON input) writes the record's top-level values in order, or
 * the record itself as one field when it is not an object.
 */
export class CsvRowWriter implements RowWriter {
  private readonly sink = new TextSink();
  private readonly always: boolean;
  private readonly quote: string;
  private readonly fieldDelimiter: string;
  private readonly recordDelimiter: string;
  private readonly delimiterBytes: number;
  private readonly needsQuotes: RegExp;
  private readonly toEscape: RegExp;
  private readonly escape: string;

  constructor(options: CsvOutputOptions = {}) {
    this.always = (options.quoteFields ?? 'ASNEEDED') === 'ALWAYS';
    this.quote = nonEmpty(options.quoteCharacter, '"', 'quote character');
    this.escape = nonEmpty(options.quoteEscapeCharacter, this.quote, 'quote escape character');
    this.fieldDelimiter = nonEmpty(options.fieldDelimiter, ',', 'field delimiter');
    this.recordDelimiter = nonEmpty(options.recordDelimiter, '\n', 'record delimiter');
    this.delimiterBytes = Buffer.byteLength(this.recordDelimiter, 'utf8');
    const special = [this.fieldDelimiter, this.recordDelimiter, this.quote, this.escape, '\n', '\r'];
    this.needsQuotes = new RegExp(special.map(escapeRegExp).join('|'));
    const escaped = this.escape === this.quote ? [this.quote] : [this.escape, this.quote];
    this.toEscape = new RegExp(escaped.map(escapeRegExp).join('|'), 'g');
  }

  get pendingBytes(): number {
    return this.sink.length;
  }

  write(row: OutputRow): void {
    let line = '';
    if (row.whole !== undefined) {
      const w = row.whole;
      if (typeof w === 'object' && w !== null && !Array.isArray(w)) {
        let first = true;
        for (const key in w) {
          if (!first) line += this.fieldDelimiter;
          line += this.field(csvText(w[key]));
          first = false;
        }
      } else {
        line = this.field(csvText(w));
      }
    } else {
      const values = row.values;
      for (let i = 0; i < values.length; i++) {
        if (i > 0) line += this.fieldDelimiter;
        line += this.field(csvText(values[i]));
      }
    }
    this.sink.appendRecord(line, this.recordDelimiter, this.delimiterBytes);
  }

  take(): Buffer {
    return this.sink.take();
  }

  private field(text: string): string {
    if (!this.always && !this.needsQuotes.test(text)) return text;
    return this.quote + text.replace(this.toEscape, (m) => this.escape + m) + this.quote;
  }
}

/**
 * Writes rows as JSON (AWS's JSONOutput): each row an object of its columns in order, each
 * followed by the record delimiter. MISSING columns are left out, NULL ones are `null`; a
 * column name used twice appears twice, as written. A row with a whole JSON record is written as
 * that record.
 */
export class JsonRowWriter implements RowWriter {
  private readonly sink = new TextSink();
  private readonly recordDelimiter: string;
  private readonly delimiterBytes: number;
  private names: readonly string[] | undefined;
  private keys: string[] = [];

  constructor(options: JsonOutputOptions = {}) {
    this.recordDelimiter = options.recordDelimiter ?? '\n';
    this.delimiterBytes = Buffer.byteLength(this.recordDelimiter, 'utf8');
  }

  get pendingBytes(): number {
    return this.sink.length;
  }

  write(row: OutputRow): void {
    let text: string;
    if (row.whole !== undefined) {
      text = JSON.stringify(row.whole);
    } else {
      const keys = this.keysOf(row.names);
      text = '{';
      let first = true;
      for (let i = 0; i < row.values.length; i++) {
        const v = row.values[i];
        if (v === undefined) continue;
        if (!first) text += ',';
        text += (keys[i] ?? `"_${i + 1}":`) + jsonText(v);
        first = false;
      }
      text += '}';
    }
    this.sink.appendRecord(text, this.recordDelimiter, this.delimiterBytes);
  }

  take(): Buffer {
    return this.sink.take();
  }

  /** `"name":` for each column; rows of one query share their names array, so it is kept. */
  private keysOf(names: readonly string[]): string[] {
    if (names !== this.names) {
      this.names = names;
      this.keys = names.map((n) => `${JSON.stringify(n)}:`);
    }
    return this.keys;
  }
}
