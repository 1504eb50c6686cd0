/**
 * Parquet input for S3 Select: an object read as Parquet (hyparquet) through ranged reads of the
 * object's bytes — the footer first, then each row group's column chunks — so a large object is
 * never held whole; one row group's rows are (Parquet is columnar: a row group is its unit).
 *
 * Rows become JSON-like records for the SQL engine, as JSON input does (`s.column`, nested
 * structs and lists as paths): INT64 values as numbers (exact up to 2^53), DATE as `YYYY-MM-DD`,
 * TIMESTAMP as ISO 8601 text in UTC with the column's precision (CAST(… AS TIMESTAMP) makes it
 * a timestamp), DECIMAL as numbers, binary columns as UTF-8 text (hyparquet's default), other
 * binary (UUID) as text. Codecs: uncompressed, SNAPPY, GZIP, BROTLI, ZSTD, LZ4 and LZ4_RAW
 * (hyparquet-compressors), LZO.
 */
import { parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { SelectError } from '../protocol/select-errors.ts';
import type { JsonValue } from './values.ts';

/** Reads bytes `start`..`end - 1` of the object. */
export type ReadRange = (start: number, end: number) => Promise<Buffer>;

/** A failure of the object's own reads (not of its Parquet): passed on as it is. */
class ObjectReadFailure extends Error {
  constructor(readonly failure: unknown) {
    super('object read failed');
  }
}

/** The object as hyparquet's random-access file. */
export function asyncBufferOf(size: number, read: ReadRange): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      let bytes: Buffer;
      try {
        bytes = stop > start ? await read(start, stop) : Buffer.alloc(0);
      } catch (err) {
        throw new ObjectReadFailure(err);
      }
      // An ArrayBuffer of exactly these bytes: the Buffer's own when it spans all of it (large
      // reads do), else a copy (small Buffers are views into a shared pool).
      if (bytes.byteOffset === 0 && bytes.length === bytes.buffer.byteLength) return bytes.buffer as ArrayBuffer;
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
    },
  };
}

/** ISO 8601 text (UTC) of `ms` since the epoch, with `fractionDigits` appended to its milliseconds. */
function isoText(ms: bigint, fractionDigits: string): string {
  const whole = new Date(Number(ms)).toISOString(); // …:SS.mmmZ
  return fractionDigits === '' ? whole : `${whole.slice(0, -1)}${fractionDigits}Z`;
}

/** Floor division: quotient and a non-negative remainder (instants before 1970). */
function floorDiv(a: bigint, b: bigint): [bigint, bigint] {
  let q = a / b;
  let r = a % b;
  if (r < 0n) {
    q -= 1n;
    r += b;
  }
  return [q, r];
}

const utf8 = new TextDecoder();

/** How Parquet's logical types become record values (see the module comment). */
const PARSERS = {
  timestampFromMilliseconds: (ms: bigint): string => isoText(ms, ''),
  timestampFromMicroseconds: (us: bigint): string => {
    const [ms, rest] = floorDiv(us, 1000n);
    return isoText(ms, String(rest).padStart(3, '0'));
  },
  timestampFromNanoseconds: (ns: bigint): string => {
    const [ms, rest] = floorDiv(ns, 1_000_000n);
    return isoText(ms, String(rest).padStart(6, '0'));
  },
  dateFromDays: (days: number): string => new Date(days * 86_400_000).toISOString().slice(0, 10),
  stringFromBytes: (bytes: Uint8Array): string => utf8.decode(bytes),
};

/** A value of a Parquet row as a record value: bigints as numbers, bytes as text, structures recursively. */
export function recordValue(v: unknown): JsonValue {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'bigint':
      return Number(v);
    case 'number':
    case 'string':
    case 'boolean':
      return v;
    case 'object':
      if (v instanceof Date) return v.toISOString();
      if (v instanceof Uint8Array) return utf8.decode(v);
      if (Array.isArray(v) || ArrayBuffer.isView(v)) return Array.from(v as ArrayLike<unknown>, recordValue);
      return recordOf(v as Record<string, unknown>);
    default:
      return String(v);
  }
}

/**
 * A row (or struct) as a record, converted in place: the reader's row objects are fresh and
 * ours, and most values (numbers, strings) need nothing, so no copy per row.
 */
function recordOf(row: Record<string, unknown>): JsonValue {
  for (const k in row) {
    const x = row[k];
    if (typeof x === 'object' || typeof x === 'bigint' || x === undefined) row[k] = recordValue(x);
  }
  return row as JsonValue;
}

/** A Parquet object's rows, one row group at a time. */
export class ParquetRecordReader {
  private constructor(
    private readonly file: AsyncBuffer,
    private readonly metadata: FileMetaData,
  ) {}

  /** Reads the footer; an object that is not Parquet is `InvalidRequestParameter` (see {@link notParquet}). */
  static async open(file: AsyncBuffer): Promise<ParquetRecordReader> {
    try {
      return new ParquetRecordReader(file, await parquetMetadataAsync(file, { parsers: PARSERS }));
    } catch (err) {
      throw notParquet(err);
    }
  }

  /** Rows in the file. */
  get rows(): number {
    return Number(this.metadata.num_rows);
  }

  /** The file's top-level columns, and whether each is a group (a struct, list or map). */
  get columns(): { name: string; group: boolean }[] {
    return parquetSchema(this.metadata).children.map((c) => ({ name: c.element.name, group: c.children.length > 0 }));
  }

  /**
   * The rows of each row group in turn (as records); stop iterating to stop the reads. With
   * `columns`, only those top-level columns are read and decoded (the records lack the others).
   */
  async *rowGroups(columns?: string[]): AsyncGenerator<JsonValue[]> {
    let rowStart = 0;
    for (const group of this.metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows);
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({ file: this.file, metadata: this.metadata, rowStart, rowEnd, compressors, parsers: PARSERS, ...(columns ? { columns } : {}) });
      } catch (err) {
        if (err instanceof SelectError) throw err;
        throw notParquet(err);
      }
      rowStart = rowEnd;
      yield rows.map(recordOf);
    }
  }
}

/** A read that failed on the object's bytes: it is not (valid) Parquet, or uses what is not supported. */
function notParquet(err: unknown): unknown {
  if (err instanceof ObjectReadFailure) return err.failure;
  const why = err instanceof Error ? err.message : String(err);
  return new SelectError('InvalidRequestParameter', `The object could not be read as Parquet: ${why.slice(0, 200)}`);
}
