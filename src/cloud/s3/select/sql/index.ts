/**
 * S3 Select's SQL engine (SelectObjectContent): compiles a query once, then runs it record by
 * record. Pure: no I/O; the current time comes from `options.now`.
 */
import { Buffer } from 'node:buffer';
import { SelectError } from '../../protocol/select-errors.ts';
import type { InputRecord, OutputRow } from '../values.ts';
import { parseQuery } from './parser.ts';
import { compileParsed } from './query.ts';

/** The longest expression AWS accepts, in bytes of UTF-8. */
export const MAX_EXPRESSION_BYTES = 256 * 1024;

export interface QueryOptions {
  /** Input format. */
  input: 'csv' | 'json';
  /** CSV with FileHeaderInfo=USE: the header row's names (column references by name resolve through them). Without it, CSV columns are only `_1`, `_2`, … */
  columnNames?: readonly string[];
  /** Milliseconds since the epoch, for UTCNOW(). */
  now(): number;
}

export interface CompiledQuery {
  /** Whether the SELECT list aggregates (the result is one row, produced by finish()). */
  readonly aggregate: boolean;
  /** Feeds one input record; calls `emit` for each result row (0 or 1 for CSV; for JSON, one per element the FROM path iterates with [*]). Does nothing once `done`. */
  process(record: InputRecord, emit: (row: OutputRow) => void): void;
  /** After the last record: the aggregate row, if the query aggregates. */
  finish(emit: (row: OutputRow) => void): void;
  /** True once LIMIT rows were emitted (the caller stops reading input). */
  readonly done: boolean;
}

/** Parses and checks `sql`; throws SelectError with AWS's code (ExpressionTooLong above 256 KiB, Parse…/Lexer… for syntax). */
export function compileQuery(sql: string, options: QueryOptions): CompiledQuery {
  if (Buffer.byteLength(sql, 'utf8') > MAX_EXPRESSION_BYTES) throw new SelectError('ExpressionTooLong');
  return compileParsed(parseQuery(sql), options);
}
