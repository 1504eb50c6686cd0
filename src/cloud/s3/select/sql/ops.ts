/**
 * Value semantics of S3 Select's SQL: ordering and equality, numeric coercion, truth values and
 * CAST.
 *
 * Types are not converted implicitly (AWS: "all input data is treated as a string … cast when
 * necessary"; `NULLIF(1, '1')` is 1), with one exception the documentation leaves open: a CSV
 * field is untyped text, so where a field meets a number (`WHERE s.age > 30`, `_1 + 1`,
 * `SUM(_3)`) a field that reads as a number acts as one, and where it meets a boolean or a
 * timestamp, `'true'`/`'false'` or a timestamp's text acts as one. Strings from literals,
 * functions and JSON keep their type.
 */
import { SelectError, type SelectErrorCode } from '../../protocol/select-errors.ts';
import { formatTimestamp, isTimestamp, type JsonValue, type SqlValue } from '../values.ts';
import type { CastType } from './ast.ts';
import { compareTimestamps, parseTimestamp } from './timestamp.ts';

/** Throws a SelectError. */
export function fail(code: SelectErrorCode, message?: string): never {
  throw new SelectError(code, message);
}

const NUMERIC = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
const INTEGRAL = /^\s*[+-]?\d+\s*$/;
/** The largest magnitude of S3 Select's 8-byte INT, 2^63 - 1 (as a double, 2^63). */
export const MAX_INT = 2 ** 63;

/** Longest plain integer read digit by digit: 15 digits stay below 2^53, so the value is exact. */
const MAX_PLAIN_INTEGER_LENGTH = 15;

/** The number a string spells (surrounding blanks allowed), or undefined. */
export function numericString(s: string): number | undefined {
  // Plain decimal integers, the usual numeric CSV field, without the regular expression.
  const length = s.length;
  if (length > 0 && length <= MAX_PLAIN_INTEGER_LENGTH) {
    const first = s.charCodeAt(0);
    const signed = first === 0x2d || first === 0x2b;
    let i = signed ? 1 : 0;
    let n = 0;
    for (; i < length; i++) {
      const digit = s.charCodeAt(i) - 0x30;
      if (digit < 0 || digit > 9) break;
      n = n * 10 + digit;
    }
    // `-0` is -0, as Number('-0').
    if (i === length && (!signed || length > 1)) return first === 0x2d ? -n : n;
  }
  return NUMERIC.test(s) ? Number(s) : undefined;
}

/** NULL or MISSING. */
export function isUnknown(v: SqlValue): v is null | undefined {
  return v === null || v === undefined;
}

/** The unknown an operation yields from unknown operands: MISSING if either is MISSING, else NULL. */
export function unknownOf(a: SqlValue, b: SqlValue): null | undefined {
  return a === undefined || b === undefined ? undefined : null;
}

function isStructured(v: SqlValue): v is JsonValue[] | { [k: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !isTimestamp(v);
}

function boolString(s: string): boolean | undefined {
  const t = s.trim().toLowerCase();
  return t === 'true' ? true : t === 'false' ? false : undefined;
}

function sign(a: number | string | boolean, b: number | string | boolean): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Orders two known (non-NULL, non-MISSING) values: negative, 0 or positive, or NaN when they are
 * not comparable (different types, or structures). `ua` / `ub` say the value is an untyped CSV field.
 */
export function order(a: SqlValue, b: SqlValue, ua: boolean, ub: boolean): number {
  const ta = typeof a;
  const tb = typeof b;
  if (ta === tb && (ta === 'number' || ta === 'string' || ta === 'boolean')) return sign(a as number, b as number);
  if (ta === 'string' && ua) return orderText(a as string, b, false);
  if (tb === 'string' && ub) return orderText(b as string, a, true);
  if (isTimestamp(a) && isTimestamp(b)) return compareTimestamps(a, b);
  return NaN;
}

/** Orders untyped text `s` against `other` by reading it as other's type. */
function orderText(s: string, other: SqlValue, flipped: boolean): number {
  let r: number;
  if (typeof other === 'number') {
    const n = numericString(s);
    r = n === undefined ? NaN : sign(n, other);
  } else if (typeof other === 'boolean') {
    const b = boolString(s);
    r = b === undefined ? NaN : sign(b, other);
  } else if (isTimestamp(other)) {
    const t = parseTimestamp(s);
    r = t === undefined ? NaN : compareTimestamps(t, other);
  } else {
    r = NaN;
  }
  return flipped ? -r : r;
}

/** Equality of two known values; structures compare deeply. */
export function equals(a: SqlValue, b: SqlValue, ua: boolean, ub: boolean): boolean {
  if (isStructured(a) && isStructured(b)) return deepEquals(a, b);
  return order(a, b, ua, ub) === 0;
}

function deepEquals(a: SqlValue, b: SqlValue): boolean {
  if (a === b) return true;
  if (isUnknown(a) || isUnknown(b)) return false;
  if (!isStructured(a) || !isStructured(b)) return order(a, b, false, false) === 0;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as SqlValue[];
    return a.length === bb.length && a.every((x, i) => deepEquals(x, bb[i]));
  }
  const ob = b as { [k: string]: SqlValue };
  const keys = Object.keys(a);
  return keys.length === Object.keys(ob).length && keys.every((k) => Object.hasOwn(ob, k) && deepEquals(a[k], ob[k]));
}

/** A known value as a number for arithmetic: numbers, and untyped fields that read as numbers. */
export function toNumber(v: SqlValue, untyped: boolean): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && untyped) {
    const n = numericString(v);
    if (n !== undefined) return n;
  }
  return fail('IncorrectSqlFunctionArgumentType', `Expected a number, got ${describe(v)}.`);
}

/** Whether a number (or untyped numeric text) is an integer, for integer division. */
export function isIntegral(v: SqlValue): boolean {
  return typeof v === 'number' ? Number.isInteger(v) : typeof v === 'string' && INTEGRAL.test(v);
}

/** Checks an INT result against the 8-byte range. */
export function checkInt(n: number): number {
  // Doubles cannot hold 2^63 - 1: anything that reaches 2^63 is out of range.
  if (n >= MAX_INT || n < -MAX_INT) fail('IntegerOverflow');
  return n;
}

/** A condition's truth value: TRUE, FALSE, or unknown (NULL / MISSING). */
export function truth(v: SqlValue): boolean | null | undefined {
  if (typeof v === 'boolean' || v === null || v === undefined) return v;
  if (typeof v === 'string') {
    const b = boolString(v);
    if (b !== undefined) return b;
  }
  return fail('IncorrectSqlFunctionArgumentType', `Expected a boolean condition, got ${describe(v)}.`);
}

/** How a value is described in error messages. */
export function describe(v: SqlValue): string {
  if (v === undefined) return 'MISSING';
  if (v === null) return 'NULL';
  if (isTimestamp(v)) return 'a timestamp';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a structure';
  return `${typeof v} ${JSON.stringify(v).slice(0, 40)}`;
}

/** A number as CAST(… AS STRING) prints it. */
export function numberToString(n: number): string {
  return Object.is(n, -0) ? '0' : String(n);
}

/** A scalar as text, for `||`; structures are refused. */
export function toText(v: SqlValue): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return numberToString(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (isTimestamp(v)) return formatTimestamp(v);
  return fail('IncorrectSqlFunctionArgumentType', `Cannot use ${describe(v)} as text.`);
}

function castFailed(v: SqlValue, type: CastType): never {
  return fail('CastFailed', `Cannot CAST ${describe(v)} AS ${type.toUpperCase()}.`);
}

function invalidCast(v: SqlValue, type: CastType): never {
  return fail('InvalidCast', `${describe(v)} cannot be CAST AS ${type.toUpperCase()}.`);
}

function castNumber(v: SqlValue, type: CastType): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const n = numericString(v);
    return n === undefined ? castFailed(v, type) : n;
  }
  return invalidCast(v, type);
}

/**
 * CAST(v AS type). NULL and MISSING stay as they are. A value of a type that never converts
 * (a timestamp to INT, a structure to anything) is InvalidCast; a value that could but does not
 * (`'abc'` to INT) is CastFailed. INT truncates toward zero (`'3.9'` → 3) and must fit 8 bytes.
 */
export function castTo(type: CastType, v: SqlValue): SqlValue {
  if (v === null || v === undefined) return v;
  switch (type) {
    case 'int': {
      const n = castNumber(v, type);
      if (!Number.isFinite(n)) castFailed(v, type);
      return checkInt(Math.trunc(n) + 0);
    }
    case 'float':
    case 'decimal':
      return castNumber(v, type);
    case 'string':
      if (isStructured(v)) invalidCast(v, type);
      return toText(v);
    case 'bool':
      if (typeof v === 'boolean') return v;
      if (typeof v === 'number') return v !== 0;
      if (typeof v === 'string') return boolString(v) ?? castFailed(v, type);
      return invalidCast(v, type);
    case 'timestamp':
      if (isTimestamp(v)) return v;
      if (typeof v === 'string') return parseTimestamp(v.trim()) ?? castFailed(v, type);
      return invalidCast(v, type);
  }
}
