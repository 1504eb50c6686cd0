/**
 * Scalar functions called by name: COALESCE, NULLIF, LOWER, UPPER, CHAR_LENGTH / CHARACTER_LENGTH,
 * SUBSTRING, TO_STRING, TO_TIMESTAMP, UTCNOW; plus TRIM, EXTRACT, DATE_ADD and DATE_DIFF, which
 * have their own syntax. NULL / MISSING arguments give NULL / MISSING (MISSING first), except for
 * COALESCE and NULLIF.
 */
import { isTimestamp, type SqlTimestamp, type SqlValue } from '../values.ts';
import { node, type Ctx, type Fn, type Node } from './node.ts';
import { describe, equals, fail, isUnknown, toNumber } from './ops.ts';
import { compileTimestampFormat, dateAdd, dateDiff, extractPart, parseTimestamp, type DatePart, type TimestampFormatter } from './timestamp.ts';

/** Minimum and maximum argument counts of the functions called by name. */
const ARITY: Record<string, readonly [number, number]> = {
  coalesce: [1, Infinity],
  nullif: [2, 2],
  lower: [1, 1],
  upper: [1, 1],
  char_length: [1, 1],
  character_length: [1, 1],
  substring: [2, 3],
  to_string: [2, 2],
  to_timestamp: [1, 1],
  utcnow: [0, 0],
};

/** The unknown among argument values (MISSING before NULL), or false when all are known. */
function unknownArg(values: readonly SqlValue[]): null | undefined | false {
  let sawNull = false;
  for (const v of values) {
    if (v === undefined) return undefined;
    if (v === null) sawNull = true;
  }
  return sawNull ? null : false;
}

function wrongType(fn: string, v: SqlValue, expected: string): never {
  return fail('IncorrectSqlFunctionArgumentType', `${fn.toUpperCase()} expects ${expected}, got ${describe(v)}.`);
}

function str(fn: string, v: SqlValue): string {
  return typeof v === 'string' ? v : wrongType(fn, v, 'a string');
}

function int(fn: string, v: SqlValue, untyped: boolean): number {
  if (typeof v !== 'number' && !(untyped && typeof v === 'string')) wrongType(fn, v, 'a number');
  return Math.trunc(toNumber(v, untyped));
}

/** A known value as a timestamp: a TIMESTAMP, or an untyped CSV field holding one. */
export function timestampArg(fn: string, v: SqlValue, untyped: boolean): SqlTimestamp {
  if (isTimestamp(v)) return v;
  if (untyped && typeof v === 'string') return parseTimestamp(v.trim()) ?? fail('ValueParseFailure', `Cannot read '${v}' as a timestamp.`);
  return wrongType(fn, v, 'a timestamp');
}

function hasSurrogates(s: string): boolean {
  return /[\uD800-\uDFFF]/.test(s);
}

/** Characters (code points) of a string. */
function charLength(s: string): number {
  return hasSurrogates(s) ? [...s].length : s.length;
}

/**
 * SUBSTRING(s, start[, length]) with 1-based positions (AWS): a start below 1 counts from there,
 * so (s, 0, 3) is the first 2 characters, and a length reaching before the string gives ''.
 */
export function substring(s: string, start: number, length: number | undefined): string {
  if (length !== undefined && length < 0) fail('IllegalSqlFunctionArgument', 'SUBSTRING length must not be negative.');
  const chars = hasSurrogates(s) ? [...s] : undefined;
  const size = chars ? chars.length : s.length;
  const from = Math.max(start, 1);
  const end = length === undefined ? size + 1 : Math.min(start + length, size + 1);
  if (end <= from) return '';
  return chars ? chars.slice(from - 1, end - 1).join('') : s.slice(from - 1, end - 1);
}

/** TRIM: removes the characters of `chars` (a set) from the start, the end or both. */
export function trim(s: string, where: 'leading' | 'trailing' | 'both', chars: string): string {
  const set = new Set(chars);
  const cps = hasSurrogates(s) || hasSurrogates(chars) ? [...s] : s;
  let from = 0;
  let to = cps.length;
  if (where !== 'trailing') while (from < to && set.has(cps[from]!)) from++;
  if (where !== 'leading') while (to > from && set.has(cps[to - 1]!)) to--;
  return typeof cps === 'string' ? cps.slice(from, to) : cps.slice(from, to).join('');
}

/** Compiles a call of a function by name; throws UnsupportedFunction / EvaluatorInvalidArguments. */
export function compileCall(name: string, args: readonly Node[], now: () => SqlTimestamp): Node {
  const arity = ARITY[name];
  if (arity === undefined) fail('UnsupportedFunction', `Unsupported function ${name.toUpperCase()}.`);
  if (args.length < arity[0] || args.length > arity[1]) {
    fail('EvaluatorInvalidArguments', `${name.toUpperCase()} takes ${arity[0] === arity[1] ? arity[0] : `${arity[0]} to ${arity[1]}`} arguments, got ${args.length}.`);
  }
  const fns = args.map((a) => a.fn);
  const [a, b, c] = fns as [Fn, Fn, Fn];
  switch (name) {
    case 'coalesce':
      return node(
        (ctx) => {
          for (const f of fns) {
            const v = f(ctx);
            if (!isUnknown(v)) return v;
          }
          return null;
        },
        { real: args.some((x) => x.real), int: args.every((x) => x.int) },
      );
    case 'nullif': {
      const [ua, ub] = [args[0]!.untyped, args[1]!.untyped];
      return node(
        (ctx) => {
          const x = a(ctx);
          if (isUnknown(x)) return null;
          const y = b(ctx);
          if (isUnknown(y)) return x;
          return equals(x, y, ua, ub) ? null : x;
        },
        { real: args[0]!.real, int: args[0]!.int, untyped: ua },
      );
    }
    case 'lower':
      return node((ctx) => {
        const v = a(ctx);
        return isUnknown(v) ? v : str(name, v).toLowerCase();
      });
    case 'upper':
      return node((ctx) => {
        const v = a(ctx);
        return isUnknown(v) ? v : str(name, v).toUpperCase();
      });
    case 'char_length':
    case 'character_length':
      return node(
        (ctx) => {
          const v = a(ctx);
          return isUnknown(v) ? v : charLength(str(name, v));
        },
        { int: true },
      );
    case 'substring': {
      const [us, ul] = [args[1]!.untyped, args[2]?.untyped ?? false];
      return node((ctx) => {
        const s = a(ctx);
        const start = b(ctx);
        const length = c === undefined ? 0 : c(ctx);
        const unknown = unknownArg([s, start, length]);
        if (unknown !== false) return unknown;
        return substring(str(name, s), int(name, start, us), c === undefined ? undefined : int(name, length, ul));
      });
    }
    case 'to_string':
      return compileToString(a, args[1]!, args[0]!.untyped);
    case 'to_timestamp':
      return node((ctx) => {
        const v = a(ctx);
        if (isUnknown(v) || isTimestamp(v)) return v;
        return parseTimestamp(str(name, v).trim()) ?? fail('ValueParseFailure', `Cannot read '${String(v)}' as a timestamp.`);
      });
    default:
      // utcnow: one instant for the whole query.
      return node(() => now());
  }
}

function compileToString(ts: Fn, pattern: Node, untyped: boolean): Node {
  let formatter: TimestampFormatter | undefined;
  let lastPattern: string | undefined;
  const ctx0: Ctx = { fields: [], value: undefined };
  if (pattern.constant) {
    const p = pattern.fn(ctx0);
    // An invalid constant pattern fails when evaluated, like any other evaluation error.
    if (typeof p === 'string') {
      try {
        formatter = compileTimestampFormat(p);
        lastPattern = p;
      } catch {
        formatter = undefined;
      }
    }
  }
  const pat = pattern.fn;
  return node((ctx) => {
    const t = ts(ctx);
    const p = pat(ctx);
    const unknown = unknownArg([t, p]);
    if (unknown !== false) return unknown;
    const timestamp = timestampArg('to_string', t, untyped);
    const text = str('to_string', p);
    if (formatter === undefined || text !== lastPattern) {
      formatter = compileTimestampFormat(text);
      lastPattern = text;
    }
    return formatter(timestamp);
  });
}

/** TRIM([where] [chars] FROM s). */
export function compileTrim(where: 'leading' | 'trailing' | 'both', chars: Node | undefined, s: Node): Node {
  const fs = s.fn;
  const fc = chars?.fn;
  return node((ctx) => {
    const v = fs(ctx);
    const set = fc === undefined ? ' ' : fc(ctx);
    const unknown = unknownArg([v, set]);
    if (unknown !== false) return unknown;
    return trim(str('trim', v), where, str('trim', set));
  });
}

/** EXTRACT(part FROM ts). */
export function compileExtract(part: DatePart, ts: Node): Node {
  const f = ts.fn;
  const untyped = ts.untyped;
  return node(
    (ctx) => {
      const v = f(ctx);
      return isUnknown(v) ? v : extractPart(part, timestampArg('extract', v, untyped));
    },
    { int: true },
  );
}

/** DATE_ADD(part, n, ts). */
export function compileDateAdd(part: DatePart, n: Node, ts: Node): Node {
  const [fn, ft] = [n.fn, ts.fn];
  return node((ctx) => {
    const q = fn(ctx);
    const t = ft(ctx);
    const unknown = unknownArg([q, t]);
    if (unknown !== false) return unknown;
    return dateAdd(part, int('date_add', q, n.untyped), timestampArg('date_add', t, ts.untyped));
  });
}

/** DATE_DIFF(part, a, b). */
export function compileDateDiff(part: DatePart, a: Node, b: Node): Node {
  const [fa, fb] = [a.fn, b.fn];
  return node(
    (ctx) => {
      const x = fa(ctx);
      const y = fb(ctx);
      const unknown = unknownArg([x, y]);
      if (unknown !== false) return unknown;
      return dateDiff(part, timestampArg('date_diff', x, a.untyped), timestampArg('date_diff', y, b.untyped));
    },
    { int: true },
  );
}
