/**
 * Compiles expressions to closures: names are resolved once (CSV header names to field indexes),
 * constant sub-expressions are folded, LIKE patterns with a constant pattern become one RegExp,
 * and IN lists of constants become sets. Logic is three-valued; NULL / MISSING propagate through
 * operators (MISSING first).
 */
import { isTimestamp, type JsonValue, type SqlTimestamp, type SqlValue } from '../values.ts';
import type { AggregateName, Expr, Name, Step } from './ast.ts';
import { compileCall, compileDateAdd, compileDateDiff, compileExtract, compileTrim } from './functions.ts';
import { likeMatcher } from './like.ts';
import type { LikeMatcher } from './like.ts';
import { node, type Ctx, type Fn, type Node } from './node.ts';
import { castTo, checkInt, describe, equals, fail, isIntegral, isUnknown, numericString, order, toNumber, toText, truth, unknownOf } from './ops.ts';

/** Expressions nested deeper than this are refused (MaxOperatorsExceeded). */
const MAX_DEPTH = 1000;

/** An aggregate being computed over the rows that pass WHERE. */
export interface Aggregate {
  add(c: Ctx): void;
  result(): SqlValue;
}

/** What expressions are compiled against. */
export interface Scope {
  readonly input: 'csv' | 'json';
  /** CSV header names (FileHeaderInfo=USE). */
  readonly columnNames: readonly string[] | undefined;
  /** Names bound to the row: the FROM alias (CSV, JSON), or the names AWS derives from the FROM path (JSON). */
  readonly rowNames: readonly Name[];
  /** UTCNOW(): one instant for the whole query. */
  readonly now: () => SqlTimestamp;
}

/**
 * Where an expression sits: `row` (per-row, no aggregates), `where` (the same, but an aggregate is
 * UnsupportedSqlOperation), `outer` (an aggregate query's SELECT list, outside the aggregates:
 * no column references), `inner` (an aggregate's argument: no nested aggregates).
 */
export type Mode = 'row' | 'where' | 'outer' | 'inner';

const NO_ROW: Ctx = { fields: [], value: undefined };

/** Whether two names match: exactly if either is quoted, else case-insensitively. */
export function sameName(a: Name, b: Name): boolean {
  return a.quoted || b.quoted ? a.text === b.text : a.text.toLowerCase() === b.text.toLowerCase();
}

/** A JSON object's member by name: exact for a quoted name; case-insensitive (and unambiguous) otherwise. */
export function member(v: SqlValue, name: Name): SqlValue {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || isTimestamp(v)) return undefined;
  const obj = v as { [k: string]: SqlValue };
  if (name.quoted) return Object.hasOwn(obj, name.text) ? obj[name.text] : undefined;
  const len = name.text.length;
  const lower = name.text.toLowerCase();
  let found: string | undefined;
  for (const k in obj) {
    if (k.length === len && k.toLowerCase() === lower) {
      if (found !== undefined) fail('AmbiguousFieldName', `The name '${name.text}' matches the fields '${found}' and '${k}'.`);
      found = k;
    }
  }
  return found === undefined ? undefined : obj[found];
}

/** Element `i` of a list, or a member by an exact key; MISSING otherwise. */
function indexed(v: SqlValue, i: SqlValue): SqlValue {
  if (typeof i === 'number') return Array.isArray(v) && Number.isInteger(i) && i >= 0 ? v[i] : undefined;
  if (typeof i === 'string') return member(v, { text: i, quoted: true });
  return undefined;
}

/** Visits an expression's direct sub-expressions. */
export function children(e: Expr): Expr[] {
  switch (e.k) {
    case 'lit':
      return [];
    case 'ref':
      return e.steps.flatMap((s) => (s.k === 'index' ? [s.e] : []));
    case 'neg':
    case 'not':
    case 'cast':
    case 'extract':
      return [e.e];
    case 'arith':
    case 'concat':
    case 'cmp':
    case 'and':
    case 'or':
      return [e.l, e.r];
    case 'is':
      return [e.e];
    case 'between':
      return [e.e, e.lo, e.hi];
    case 'in':
      return [e.e, ...e.list];
    case 'like':
      return e.escape ? [e.e, e.pattern, e.escape] : [e.e, e.pattern];
    case 'case':
      return [...(e.subject ? [e.subject] : []), ...e.whens.flatMap((w) => [w.when, w.then]), ...(e.else ? [e.else] : [])];
    case 'call':
      return [...e.args];
    case 'agg':
      return e.arg ? [e.arg] : [];
    case 'list':
      return [...e.items];
    case 'trim':
      return e.chars ? [e.chars, e.e] : [e.e];
    case 'date_add':
      return [e.n, e.e];
    case 'date_diff':
      return [e.a, e.b];
  }
}

/** Whether `test` holds for some node of `e`, not looking inside nodes `skip` accepts (iterative: trees can be deep). */
function some(e: Expr, test: (x: Expr) => boolean, skip: (x: Expr) => boolean = () => false): boolean {
  const stack = [e];
  for (let x = stack.pop(); x !== undefined; x = stack.pop()) {
    if (test(x)) return true;
    if (!skip(x)) stack.push(...children(x));
  }
  return false;
}

/** Whether an expression contains an aggregate call. */
export function hasAggregate(e: Expr): boolean {
  return some(e, (x) => x.k === 'agg');
}

/** Compiles expressions of one query. */
export class Compiler {
  /** Aggregates created while compiling an aggregate query's SELECT list. */
  readonly aggregates: Aggregate[] = [];
  private mode: Mode = 'row';

  constructor(private readonly scope: Scope) {}

  /** Compiles `e` in `mode`. */
  compile(e: Expr, mode: Mode): Node {
    const saved = this.mode;
    this.mode = mode;
    try {
      return this.expr(e, 0);
    } finally {
      this.mode = saved;
    }
  }

  private expr(e: Expr, depth: number): Node {
    if (depth > MAX_DEPTH) fail('MaxOperatorsExceeded');
    let constantParts = true;
    const sub = (x: Expr): Node => {
      const n = this.expr(x, depth + 1);
      if (!n.constant) constantParts = false;
      return n;
    };
    const n = this.build(e, sub);
    if (n.constant || !constantParts || e.k === 'ref' || e.k === 'agg' || (e.k === 'call' && e.name === 'utcnow')) return n;
    // Fold a pure expression of constants, unless evaluating it fails (that error belongs to run time).
    try {
      const v = n.fn(NO_ROW);
      return { ...n, fn: () => v, constant: true };
    } catch {
      return n;
    }
  }

  private build(e: Expr, sub: (x: Expr) => Node): Node {
    switch (e.k) {
      case 'lit': {
        const v = e.v;
        return node(() => v, { constant: true, real: e.real === true, int: typeof v === 'number' && e.real !== true });
      }
      case 'ref':
        return this.scope.input === 'csv' ? this.csvRef(e.head, e.steps) : this.jsonRef(e.head, e.steps, sub);
      case 'neg': {
        const x = sub(e.e);
        const f = x.fn;
        const untyped = x.untyped;
        return node(
          (c) => {
            const v = f(c);
            return isUnknown(v) ? v : -toNumber(v, untyped) + 0;
          },
          { real: x.real, int: x.int },
        );
      }
      case 'not': {
        const f = sub(e.e).fn;
        return node((c) => {
          const t = truth(f(c));
          return isUnknown(t) ? t : !t;
        });
      }
      case 'and':
      case 'or':
        return this.logic(e.k, e, sub);
      case 'arith':
        return arithmetic(e.op, sub(e.l), sub(e.r));
      case 'concat': {
        const [l, r] = [sub(e.l).fn, sub(e.r).fn];
        return node((c) => {
          const a = l(c);
          const b = r(c);
          if (isUnknown(a) || isUnknown(b)) return unknownOf(a, b);
          return toText(a) + toText(b);
        });
      }
      case 'cmp':
        return comparison(e.op, sub(e.l), sub(e.r));
      case 'is': {
        const f = sub(e.e).fn;
        const not = e.not;
        return e.what === 'null' ? node((c) => isUnknown(f(c)) !== not) : node((c) => (f(c) === undefined) !== not);
      }
      case 'between':
        return between(sub(e.e), sub(e.lo), sub(e.hi), e.not);
      case 'in':
        return inList(sub(e.e), e.list.map(sub), e.not);
      case 'like':
        return like(sub(e.e), sub(e.pattern), e.escape ? sub(e.escape) : undefined, e.not);
      case 'case':
        return caseExpr(e.subject ? sub(e.subject) : undefined, e.whens.map((w) => [sub(w.when), sub(w.then)] as const), e.else ? sub(e.else) : undefined);
      case 'cast': {
        const f = sub(e.e).fn;
        const type = e.type;
        return node((c) => castTo(type, f(c)), { int: type === 'int', real: type === 'float' || type === 'decimal' });
      }
      case 'call':
        return compileCall(e.name, e.args.map(sub), this.scope.now);
      case 'agg':
        return this.aggregate(e.fn, e.arg, sub);
      case 'list': {
        const fns = e.items.map((x) => sub(x).fn);
        // A list holds values (MISSING becomes NULL inside it).
        return node((c) => fns.map((f) => f(c) ?? null) as JsonValue[]);
      }
      case 'trim':
        return compileTrim(e.where, e.chars ? sub(e.chars) : undefined, sub(e.e));
      case 'extract':
        return compileExtract(e.part, sub(e.e));
      case 'date_add':
        return compileDateAdd(e.part, sub(e.n), sub(e.e));
      case 'date_diff':
        return compileDateDiff(e.part, sub(e.a), sub(e.b));
    }
  }

  /** AND / OR over a flattened chain (long chains do not nest closures). */
  private logic(kind: 'and' | 'or', e: Expr, sub: (x: Expr) => Node): Node {
    const operands: Expr[] = [];
    let cur = e;
    while (cur.k === kind) {
      operands.push(cur.r);
      cur = cur.l;
    }
    operands.push(cur);
    const fns = operands.reverse().map((x) => sub(x).fn);
    // AND stops at FALSE, OR at TRUE; otherwise unknown wins over the other value.
    const stop = kind === 'or';
    return node((c) => {
      let unknown: null | undefined | false = false;
      for (const f of fns) {
        const t = truth(f(c));
        if (t === stop) return stop;
        if (t === undefined) unknown = undefined;
        else if (t === null && unknown === false) unknown = null;
      }
      return unknown === false ? !stop : unknown;
    });
  }

  private csvRef(head: Name, steps: readonly Step[]): Node {
    checkWildcards(steps);
    let column = head;
    if (steps.length > 0) {
      if (!this.scope.rowNames.some((r) => sameName(r, head))) {
        fail('InvalidTableAlias', `'${head.text}' is not the table alias.`);
      }
      const [first, ...rest] = steps;
      if (first!.k !== 'name' || rest.length > 0) fail('InvalidKeyPath', 'CSV columns have no members or elements.');
      column = first.name;
    }
    const name = column.text;
    const positional = column.quoted ? null : /^_(\d+)$/.exec(name);
    if (positional) {
      const index = Number(positional[1]) - 1;
      if (index < 0) fail('InvalidColumnIndex', `Column index ${name} is not valid: columns are numbered from _1.`);
      return node((c) => c.fields[index], { untyped: true, name });
    }
    const headers = this.scope.columnNames ?? [];
    const lower = name.toLowerCase();
    const matches: number[] = [];
    headers.forEach((h, i) => {
      if (column.quoted ? h === name : h.toLowerCase() === lower) matches.push(i);
    });
    if (matches.length === 1) {
      const index = matches[0]!;
      return node((c) => c.fields[index], { untyped: true, name });
    }
    // Reported when evaluated: a query over no records succeeds, as it does with AWS.
    const error = (): never =>
      matches.length === 0
        ? fail('MissingHeaders', `The column '${name}' is not in the file's header${this.scope.columnNames ? '' : ' (there is no header: set FileHeaderInfo to USE)'}.`)
        : fail('AmbiguousFieldName', `The name '${name}' matches ${matches.length} columns: ${matches.map((i) => headers[i]).join(', ')}.`);
    return node(error, { untyped: true, name });
  }

  private jsonRef(head: Name, steps: readonly Step[], sub: (x: Expr) => Node): Node {
    checkWildcards(steps);
    const boundToRow = this.scope.rowNames.some((r) => sameName(r, head));
    const accessors: ((v: SqlValue, c: Ctx) => SqlValue)[] = [];
    if (!boundToRow) accessors.push((v) => member(v, head));
    let name: string | undefined = head.text;
    for (const s of steps) {
      if (s.k === 'name') {
        const n = s.name;
        accessors.push((v) => member(v, n));
        name = n.text;
      } else if (s.k === 'index') {
        const i = sub(s.e).fn;
        accessors.push((v, c) => indexed(v, i(c)));
        name = undefined;
      }
    }
    if (accessors.length === 0) return node((c) => c.value, { name });
    if (accessors.length === 1) {
      const a = accessors[0]!;
      return node((c) => a(c.value, c), { name });
    }
    return node(
      (c) => {
        let v = c.value;
        for (const a of accessors) {
          if (v === undefined) return undefined;
          v = a(v, c);
        }
        return v;
      },
      { name },
    );
  }

  private aggregate(fn: AggregateName, arg: Expr | undefined, sub: (x: Expr) => Node): Node {
    if (this.mode === 'where') fail('UnsupportedSqlOperation', 'Aggregate functions cannot be used in WHERE.');
    if (this.mode !== 'outer') fail('UnsupportedSqlStructure', 'Aggregate functions cannot be nested, nor mixed with per-row values.');
    this.mode = 'inner';
    const x = arg === undefined ? undefined : sub(arg);
    this.mode = 'outer';
    const agg = makeAggregate(fn, x);
    this.aggregates.push(agg);
    return node(() => agg.result(), { int: fn === 'count' || (x?.int === true && fn !== 'avg'), real: fn === 'avg' || x?.real === true });
  }

  /** Fails for column references where the mode forbids them (an aggregate query's SELECT list). */
  checkReferences(e: Expr): void {
    if (some(e, (x) => x.k === 'ref', (x) => x.k === 'agg')) fail('UnsupportedSqlStructure', 'An aggregate query can select only aggregates and constants.');
  }
}

function checkWildcards(steps: readonly Step[]): void {
  for (const s of steps) {
    if (s.k === 'wild') {
      fail(s.bracket ? 'ParseCannotMixSqbAndWildcardInSelectList' : 'ParseInvalidContextForWildcardInSelectList');
    }
  }
}

function arithmetic(op: '+' | '-' | '*' | '/' | '%', l: Node, r: Node): Node {
  const [fl, fr, ul, ur] = [l.fn, r.fn, l.untyped, r.untyped];
  // A FLOAT / DECIMAL operand makes the result real; two integers give an INT (division truncates).
  const real = l.real || r.real;
  const apply = (x: number, y: number, a: SqlValue, b: SqlValue): SqlValue => {
    switch (op) {
      case '+':
        return integral(x + y, x, y, real);
      case '-':
        return integral(x - y, x, y, real);
      case '*':
        return integral(x * y, x, y, real);
      case '/':
        if (y === 0) return null;
        return !real && isIntegral(a) && isIntegral(b) ? Math.trunc(x / y) + 0 : x / y;
      case '%':
        return y === 0 ? null : (x % y) + 0;
    }
  };
  return node(
    (c) => {
      const a = fl(c);
      const b = fr(c);
      if (isUnknown(a) || isUnknown(b)) return unknownOf(a, b);
      return apply(toNumber(a, ul), toNumber(b, ur), a, b);
    },
    { real, int: l.int && r.int },
  );
}

function integral(result: number, x: number, y: number, real: boolean): number {
  return !real && Number.isInteger(x) && Number.isInteger(y) ? checkInt(result) : result;
}

function comparison(op: '=' | '<>' | '<' | '>' | '<=' | '>=', l: Node, r: Node): Node {
  const [fl, fr, ul, ur] = [l.fn, r.fn, l.untyped, r.untyped];
  const test = (a: SqlValue, b: SqlValue): boolean | null => {
    switch (op) {
      case '=':
        return equals(a, b, ul, ur);
      case '<>':
        return !equals(a, b, ul, ur);
    }
    // Values of different types have no order: the comparison is unknown.
    const o = order(a, b, ul, ur);
    if (Number.isNaN(o)) return null;
    return op === '<' ? o < 0 : op === '>' ? o > 0 : op === '<=' ? o <= 0 : o >= 0;
  };
  return node((c) => {
    const a = fl(c);
    const b = fr(c);
    if (isUnknown(a) || isUnknown(b)) return unknownOf(a, b);
    return test(a, b);
  });
}

function between(x: Node, lo: Node, hi: Node, not: boolean): Node {
  const [fx, fl, fh] = [x.fn, lo.fn, hi.fn];
  const bound = (v: SqlValue, b: SqlValue, ub: boolean, low: boolean): boolean | null | undefined => {
    if (isUnknown(b)) return b;
    const o = order(v, b, x.untyped, ub);
    return Number.isNaN(o) ? null : low ? o >= 0 : o <= 0;
  };
  return node((c) => {
    const v = fx(c);
    if (isUnknown(v)) return v;
    const a = bound(v, fl(c), lo.untyped, true);
    if (a === false) return not;
    const b = bound(v, fh(c), hi.untyped, false);
    if (b === false) return not;
    if (a === true && b === true) return !not;
    return a === undefined || b === undefined ? undefined : null;
  });
}

function inList(x: Node, items: readonly Node[], not: boolean): Node {
  const fx = x.fn;
  const untyped = x.untyped;
  if (items.every((i) => i.constant)) {
    const values = items.map((i) => i.fn(NO_ROW));
    if (values.every((v) => typeof v === 'string' || typeof v === 'number')) {
      const strings = new Set(values.filter((v) => typeof v === 'string'));
      const numbers = new Set(values.filter((v) => typeof v === 'number'));
      return node((c) => {
        const v = fx(c);
        if (isUnknown(v)) return v;
        if (typeof v === 'string') {
          if (strings.has(v)) return !not;
          if (untyped && numbers.size > 0) {
            const n = numericString(v);
            if (n !== undefined && numbers.has(n)) return !not;
          }
          return not;
        }
        if (typeof v === 'number') return numbers.has(v) ? !not : not;
        return not;
      });
    }
  }
  const fns = items.map((i) => [i.fn, i.untyped] as const);
  return node((c) => {
    const v = fx(c);
    if (isUnknown(v)) return v;
    let unknown: null | undefined | false = false;
    for (const [f, u] of fns) {
      const item = f(c);
      if (isUnknown(item)) {
        if (unknown !== undefined) unknown = item;
      } else if (equals(v, item, untyped, u)) {
        return !not;
      }
    }
    return unknown === false ? not : unknown;
  });
}

function like(x: Node, pattern: Node, escape: Node | undefined, not: boolean): Node {
  const [fx, fp, fe] = [x.fn, pattern.fn, escape?.fn];
  const text = (v: SqlValue, what: string): string => (typeof v === 'string' ? v : fail('LikeInvalidInputs', `The ${what} of LIKE must be a string, got ${describe(v)}.`));
  let matcher: LikeMatcher | undefined;
  let cachedPattern: string | undefined;
  let cachedEscape: string | undefined;
  return node((c) => {
    const v = fx(c);
    const p = fp(c);
    const e = fe === undefined ? undefined : fe(c);
    if (isUnknown(v) || isUnknown(p) || (fe !== undefined && isUnknown(e))) return unknownOf(v, unknownOf(p, e ?? null));
    const ps = text(p, 'pattern');
    const es = e === undefined ? undefined : text(e, 'escape');
    if (matcher === undefined || ps !== cachedPattern || es !== cachedEscape) {
      matcher = likeMatcher(ps, es);
      cachedPattern = ps;
      cachedEscape = es;
    }
    // A value that is not text does not match (the comparison is unknown).
    if (typeof v !== 'string') return null;
    return matcher.test(v) !== not;
  });
}

function caseExpr(subject: Node | undefined, whens: readonly (readonly [Node, Node])[], otherwise: Node | undefined): Node {
  const fe = otherwise?.fn;
  const props = {
    real: whens.some(([, t]) => t.real) || otherwise?.real === true,
    int: whens.every(([, t]) => t.int) && (otherwise === undefined || otherwise.int),
  };
  const arms = whens.map(([w, t]) => [w.fn, w.untyped, t.fn] as const);
  if (subject === undefined) {
    return node((c) => {
      for (const [w, , t] of arms) if (truth(w(c)) === true) return t(c);
      return fe === undefined ? null : fe(c);
    }, props);
  }
  const [fs, us] = [subject.fn, subject.untyped];
  return node((c) => {
    const s = fs(c);
    if (!isUnknown(s)) {
      for (const [w, uw, t] of arms) {
        const v = w(c);
        if (!isUnknown(v) && equals(s, v, us, uw)) return t(c);
      }
    }
    return fe === undefined ? null : fe(c);
  }, props);
}

/** The accumulator of an aggregate over the argument `x` (COUNT(*) when undefined). NULL and MISSING are skipped. */
function makeAggregate(fn: AggregateName, x: Node | undefined): Aggregate {
  if (x === undefined) {
    let n = 0;
    return { add: () => void n++, result: () => n };
  }
  const f: Fn = x.fn;
  const untyped = x.untyped;
  switch (fn) {
    case 'count': {
      let n = 0;
      return {
        add: (c) => {
          if (!isUnknown(f(c))) n++;
        },
        result: () => n,
      };
    }
    case 'sum':
    case 'avg': {
      let sum = 0;
      let n = 0;
      let ints = !x.real;
      return {
        add: (c) => {
          const v = f(c);
          if (isUnknown(v)) return;
          const num = toNumber(v, untyped);
          if (!Number.isInteger(num)) ints = false;
          sum += num;
          n++;
        },
        result: () => {
          if (n === 0) return null;
          if (fn === 'avg') return sum / n;
          return ints ? checkInt(sum) : sum;
        },
      };
    }
    default: {
      // MIN / MAX: untyped fields that read as numbers compare as numbers.
      let best: SqlValue;
      const sign = fn === 'min' ? -1 : 1;
      return {
        add: (c) => {
          let v = f(c);
          if (isUnknown(v)) return;
          if (untyped && typeof v === 'string') v = numericString(v) ?? v;
          if (best === undefined) {
            best = v;
            return;
          }
          const o = order(v, best, false, false);
          if (Number.isNaN(o)) fail('IncorrectSqlFunctionArgumentType', `${fn.toUpperCase()} cannot compare ${describe(v)} with ${describe(best)}.`);
          if (o * sign > 0) best = v;
        },
        result: () => (best === undefined ? null : best),
      };
    }
  }
}
