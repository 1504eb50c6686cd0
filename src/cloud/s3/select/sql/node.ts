/**
 * Compiled expressions: closures over a per-row context, with what the compiler knows of them
 * statically.
 */
import type { SqlValue } from '../values.ts';

/** What an expression is evaluated against: the current row (reused from row to row). */
export interface Ctx {
  /** CSV: the record's fields. */
  fields: readonly string[];
  /** JSON: the value bound to the row (a record, or an element the FROM path reached). */
  value: SqlValue;
}

/** A compiled expression. */
export type Fn = (c: Ctx) => SqlValue;

/** A compiled expression and its static properties. */
export interface Node {
  readonly fn: Fn;
  /** Statically FLOAT / DECIMAL: arithmetic on it never divides as integers. */
  readonly real: boolean;
  /** Statically INT. */
  readonly int: boolean;
  /** A CSV field: untyped text that reads as a number / boolean / timestamp where it meets one. */
  readonly untyped: boolean;
  /** Has the same value for every row (folded at compile time). */
  readonly constant: boolean;
  /** The output column name a reference gives (`s.a.b` → `b`), if any. */
  readonly name?: string | undefined;
}

/** A node with default properties. */
export function node(fn: Fn, props: Partial<Omit<Node, 'fn'>> = {}): Node {
  return { fn, real: false, int: false, untyped: false, constant: false, ...props };
}
