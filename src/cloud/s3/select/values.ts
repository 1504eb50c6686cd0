/**
 * Values of S3 Select's SQL (SelectObjectContent): what the SQL engine computes from input records
 * and what the output writers serialise.
 *
 * CSV fields arrive as strings; JSON records as parsed JSON. `undefined` is SQL's MISSING (a JSON
 * path that leads nowhere), distinct from NULL: a JSON output omits a MISSING field and writes a
 * NULL one as `null`; a CSV output writes both as an empty field.
 */

/** A JSON value as parsed from input (JSON.parse's result). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Marks SQL TIMESTAMP values. A symbol, so that no JSON input (which `SELECT *` hands on as it
 * came) can pass for a timestamp.
 */
export const TIMESTAMP: unique symbol = Symbol('timestamp');

/** An SQL TIMESTAMP: an instant, with the UTC offset and precision it was written with. */
export interface SqlTimestamp {
  readonly kind: typeof TIMESTAMP;
  /** Milliseconds since the epoch (UTC). */
  readonly ms: number;
  /** Offset from UTC the value is shown in, in minutes (0 for `Z`). */
  readonly offsetMinutes: number;
  /** How much of the value was given: shown back with the same precision. */
  readonly precision: 'year' | 'month' | 'day' | 'minute' | 'second' | 'fraction';
  /** Digits of the fraction of a second as written (for `fraction`), up to nanoseconds. */
  readonly fraction?: string;
}

/** Any SQL value: a scalar, a timestamp, JSON structure (from JSON input), or MISSING (`undefined`). */
export type SqlValue = null | boolean | number | string | SqlTimestamp | JsonValue[] | { [key: string]: JsonValue } | undefined;

/**
 * One result row: the projected columns in SELECT-list order, named as S3 names them (the alias,
 * else the column's name, else `_1`, `_2`, … by position). For `SELECT *` of a JSON record, `whole`
 * is the record as it came (JSON output writes it unchanged; CSV output writes its top-level values).
 */
export interface OutputRow {
  readonly names: readonly string[];
  readonly values: readonly SqlValue[];
  readonly whole?: JsonValue;
}

/** One input record. */
export type InputRecord = { readonly kind: 'csv'; readonly fields: readonly string[] } | { readonly kind: 'json'; readonly value: JsonValue };

/** Whether `v` is an SQL TIMESTAMP. */
export function isTimestamp(v: SqlValue): v is SqlTimestamp {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === TIMESTAMP;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Prints a TIMESTAMP as S3 Select does (Ion text): with the precision it was written with, in its
 * own UTC offset — `2007T`, `2007-02T`, `2007-02-23T`, `2007-02-23T12:14Z`, `2007-02-23T12:14:33Z`,
 * `2007-02-23T12:14:33.079-08:00`. An offset of `-0` is Ion's "unknown local offset" (a date that
 * gained a time of day, e.g. through DATE_ADD) and prints as `-00:00`; `0` prints as `Z`.
 */
export function formatTimestamp(t: SqlTimestamp): string {
  const offset = t.offsetMinutes;
  const local = new Date(t.ms + offset * 60_000);
  const year = pad(local.getUTCFullYear(), 4);
  if (t.precision === 'year') return `${year}T`;
  const month = `${year}-${pad(local.getUTCMonth() + 1, 2)}`;
  if (t.precision === 'month') return `${month}T`;
  const day = `${month}-${pad(local.getUTCDate(), 2)}`;
  if (t.precision === 'day') return `${day}T`;
  let text = `${day}T${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}`;
  if (t.precision === 'second' || t.precision === 'fraction') text += `:${pad(local.getUTCSeconds(), 2)}`;
  if (t.precision === 'fraction') text += `.${t.fraction ?? pad(local.getUTCMilliseconds(), 3)}`;
  if (offset === 0 && !Object.is(offset, -0)) return `${text}Z`;
  const abs = Math.abs(offset);
  const sign = offset < 0 || Object.is(offset, -0) ? '-' : '+';
  return `${text}${sign}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`;
}
