/**
 * Syntax tree of an S3 Select query, as the parser builds it and the compiler consumes it.
 */
import type { SqlValue } from '../values.ts';
import type { DatePart } from './timestamp.ts';

/** A name as written: unquoted names match case-insensitively, quoted ones exactly. */
export interface Name {
  readonly text: string;
  readonly quoted: boolean;
}

/** One step of a path after its head: `.name`, `[expr]`, or a wildcard `.*` / `[*]`. */
export type Step =
  | { readonly k: 'name'; readonly name: Name }
  | { readonly k: 'index'; readonly e: Expr }
  | { readonly k: 'wild'; readonly bracket: boolean };

/** A CAST target type. */
export type CastType = 'bool' | 'int' | 'float' | 'decimal' | 'string' | 'timestamp';

/** An aggregate function. */
export type AggregateName = 'count' | 'sum' | 'avg' | 'min' | 'max';

/** A scalar expression. */
export type Expr =
  | { readonly k: 'lit'; readonly v: SqlValue; readonly real?: boolean }
  | { readonly k: 'ref'; readonly head: Name; readonly steps: readonly Step[] }
  | { readonly k: 'neg'; readonly e: Expr }
  | { readonly k: 'not'; readonly e: Expr }
  | { readonly k: 'arith'; readonly op: '+' | '-' | '*' | '/' | '%'; readonly l: Expr; readonly r: Expr }
  | { readonly k: 'concat'; readonly l: Expr; readonly r: Expr }
  | { readonly k: 'cmp'; readonly op: '=' | '<>' | '<' | '>' | '<=' | '>='; readonly l: Expr; readonly r: Expr }
  | { readonly k: 'and' | 'or'; readonly l: Expr; readonly r: Expr }
  | { readonly k: 'is'; readonly e: Expr; readonly what: 'null' | 'missing'; readonly not: boolean }
  | { readonly k: 'between'; readonly e: Expr; readonly lo: Expr; readonly hi: Expr; readonly not: boolean }
  | { readonly k: 'in'; readonly e: Expr; readonly list: readonly Expr[]; readonly not: boolean }
  | { readonly k: 'like'; readonly e: Expr; readonly pattern: Expr; readonly escape: Expr | undefined; readonly not: boolean }
  | { readonly k: 'case'; readonly subject: Expr | undefined; readonly whens: readonly { when: Expr; then: Expr }[]; readonly else: Expr | undefined }
  | { readonly k: 'cast'; readonly e: Expr; readonly type: CastType }
  | { readonly k: 'call'; readonly name: string; readonly args: readonly Expr[] }
  | { readonly k: 'agg'; readonly fn: AggregateName; readonly arg: Expr | undefined }
  | { readonly k: 'list'; readonly items: readonly Expr[] }
  | { readonly k: 'trim'; readonly where: 'leading' | 'trailing' | 'both'; readonly chars: Expr | undefined; readonly e: Expr }
  | { readonly k: 'extract'; readonly part: DatePart; readonly e: Expr }
  | { readonly k: 'date_add'; readonly part: DatePart; readonly n: Expr; readonly e: Expr }
  | { readonly k: 'date_diff'; readonly part: DatePart; readonly a: Expr; readonly b: Expr };

/** An item of the SELECT list: `*`, `alias.*`, or an expression with an optional output name. */
export type SelectItem =
  | { readonly k: 'star' }
  | { readonly k: 'qstar'; readonly qualifier: Name }
  | { readonly k: 'expr'; readonly e: Expr; readonly alias: string | undefined };

/** A step of the FROM path: `.name` / `['name']`, `[n]`, `[*]`, `.*`. */
export type FromStep =
  | { readonly k: 'name'; readonly name: Name }
  | { readonly k: 'index'; readonly i: number }
  | { readonly k: 'wild' }
  | { readonly k: 'wildObj' };

/** A whole query. */
export interface Query {
  readonly items: readonly SelectItem[];
  readonly from: { readonly steps: readonly FromStep[]; readonly alias: Name | undefined };
  readonly where: Expr | undefined;
  readonly limit: number | undefined;
}
