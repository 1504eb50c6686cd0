/**
 * Parser of S3 Select's SQL: `SELECT list FROM S3Object[path] [[AS] alias] [WHERE cond] [LIMIT n] [;]`
 * into a syntax tree, with AWS's Parse… error codes. Operator precedence follows AWS's table
 * (highest first): unary minus; `* / %`; `+ -`; `||`; `IS`; `IN`; `BETWEEN`; `LIKE`; `< > <= >=`;
 * `= <> !=`; `NOT`; `AND`; `OR`.
 */
import { SELECT_ERRORS, SelectError, type SelectErrorCode } from '../../protocol/select-errors.ts';
import type { AggregateName, CastType, Expr, FromStep, Name, Query, SelectItem, Step } from './ast.ts';
import { tokenize, type Token } from './lexer.ts';
import { parseTimestamp, type DatePart } from './timestamp.ts';

/** Nesting deeper than this is refused (MaxOperatorsExceeded) rather than overflowing the stack. */
export const MAX_NESTING = 256;

const AGGREGATES = new Set<string>(['count', 'sum', 'avg', 'min', 'max']);
/** Keyword-named scalar functions taking a plain argument list. */
const KEYWORD_FUNCTIONS = new Set(['coalesce', 'nullif', 'lower', 'upper', 'char_length', 'character_length']);
const DATE_PARTS = new Set<string>(['year', 'month', 'day', 'hour', 'minute', 'second']);
const JOIN_WORDS = new Set(['join', 'inner', 'left', 'right', 'cross', 'full', 'outer', 'natural']);
const UNSUPPORTED_CLAUSES = new Set(['order', 'having', 'union', 'intersect', 'except', 'offset', 'fetch']);
/** SQL type names S3 Select knows but cannot CAST to. */
const UNSUPPORTED_TYPES = new Set(['date', 'time', 'interval', 'blob', 'clob', 'bit', 'struct', 'tuple', 'list', 'bag', 'sexp', 'symbol', 'null', 'missing']);

/** Throws `code` with AWS's message (or `what`) and where in the expression it happened. */
function fail(code: SelectErrorCode, token: Token, what?: string): never {
  const near = token.kind === 'eof' ? 'the end of the expression' : `'${token.text}' at position ${token.pos}`;
  throw new SelectError(code, `${what ?? SELECT_ERRORS[code].message} Near ${near}.`);
}

/** Parses a whole query. */
export function parseQuery(sql: string): Query {
  return new Parser(tokenize(sql)).query();
}

class Parser {
  private i = 0;
  private depth = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.i + ahead, this.tokens.length - 1)]!;
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  private isOp(text: string, ahead = 0): boolean {
    const t = this.peek(ahead);
    return t.kind === 'op' && t.text === text;
  }

  private isKw(text: string, ahead = 0): boolean {
    const t = this.peek(ahead);
    return t.kind === 'keyword' && t.text === text;
  }

  private acceptOp(text: string): boolean {
    if (!this.isOp(text)) return false;
    this.i++;
    return true;
  }

  private acceptKw(text: string): boolean {
    if (!this.isKw(text)) return false;
    this.i++;
    return true;
  }

  private expectOp(text: string, code: SelectErrorCode): void {
    if (!this.acceptOp(text)) fail(code, this.peek(), `Expected '${text}'.`);
  }

  private expectKw(text: string, code: SelectErrorCode = 'ParseExpectedKeyword'): void {
    if (!this.acceptKw(text)) fail(code, this.peek(), `Expected ${text.toUpperCase()}.`);
  }

  query(): Query {
    const first = this.peek();
    if (!this.acceptKw('select')) fail(first.kind === 'keyword' ? 'ParseUnsupportedSyntax' : 'ParseUnexpectedToken', first, 'Only SELECT is supported.');
    if (this.isKw('distinct') || this.isKw('all')) fail('ParseUnsupportedSyntax', this.peek(), 'SELECT DISTINCT / ALL is not supported.');
    if (this.isKw('from')) fail('ParseEmptySelect', this.peek());
    const items = this.selectList();
    const from = this.fromClause();
    let where: Expr | undefined;
    if (this.acceptKw('where')) where = this.expr();
    let limit: number | undefined;
    if (this.acceptKw('limit')) limit = this.limit();
    this.acceptOp(';');
    const t = this.peek();
    if (t.kind !== 'eof') {
      if (t.kind === 'keyword' && t.text === 'group') fail('ParseExpectedIdentForGroupName', t);
      if (t.kind === 'keyword' && UNSUPPORTED_CLAUSES.has(t.text)) fail('ParseUnsupportedSyntax', t, `${t.text.toUpperCase()} is not supported.`);
      if (t.kind === 'ident' && UNSUPPORTED_CLAUSES.has(t.text.toLowerCase())) fail('ParseUnsupportedSyntax', t, `${t.text.toUpperCase()} is not supported.`);
      // `WHERE a XOR b`: a name where a binary operator belongs.
      if (t.kind === 'ident' && where !== undefined && limit === undefined) fail('ParseUnknownOperator', t);
      fail('ParseUnexpectedToken', t);
    }
    return { items, from, where, limit };
  }

  private selectList(): SelectItem[] {
    const items: SelectItem[] = [];
    for (;;) {
      const t = this.peek();
      if (this.acceptOp('*')) {
        if (items.length > 0 || this.isOp(',')) fail('ParseAsteriskIsNotAloneInSelectList', t);
        items.push({ k: 'star' });
      } else {
        items.push(this.selectItem());
      }
      if (this.acceptOp(',')) continue;
      if (this.isKw('from')) return items;
      const after = this.peek();
      if (after.kind === 'eof' || after.kind === 'keyword') fail('ParseSelectMissingFrom', after);
      if (after.kind === 'number' || after.kind === 'string' || after.kind === 'ion') fail('ParseUnexpectedTerm', after);
      fail('ParseUnexpectedToken', after);
    }
  }

  private selectItem(): SelectItem {
    const e = this.expr();
    if (e.k === 'ref' && e.steps.length === 1 && e.steps[0]!.k === 'wild' && !e.steps[0]!.bracket) {
      return { k: 'qstar', qualifier: e.head };
    }
    let alias: string | undefined;
    if (this.acceptKw('as')) {
      const t = this.next();
      if (t.kind !== 'ident' && t.kind !== 'qident') fail('ParseExpectedIdentForAlias', t);
      alias = t.text;
    } else if (this.peek().kind === 'ident' || this.peek().kind === 'qident') {
      alias = this.next().text;
    }
    return { k: 'expr', e, alias };
  }

  private fromClause(): Query['from'] {
    const t = this.peek();
    if (!this.acceptKw('from')) fail('ParseSelectMissingFrom', t);
    const source = this.next();
    if (source.kind !== 'ident' && source.kind !== 'qident') fail('ParseExpectedTokenType', source, 'Expected S3Object.');
    if (source.text.toLowerCase() !== 's3object') {
      throw new SelectError('UnsupportedSqlStructure', `The FROM clause must name S3Object, not '${source.text}'.`);
    }
    const steps: FromStep[] = [];
    for (;;) {
      if (this.acceptOp('[')) {
        const s = this.next();
        if (s.kind === 'op' && s.text === '*') steps.push({ k: 'wild' });
        else if (s.kind === 'number' && /^\d+$/.test(s.text)) steps.push({ k: 'index', i: Number(s.text) });
        else if (s.kind === 'string') steps.push({ k: 'name', name: { text: s.text, quoted: true } });
        else fail('ParseInvalidPathComponent', s);
        this.expectOp(']', 'ParseExpectedTokenType');
      } else if (this.acceptOp('.')) {
        const s = this.next();
        if (s.kind === 'op' && s.text === '*') steps.push({ k: 'wildObj' });
        else if (s.kind === 'ident' || s.kind === 'qident') steps.push({ k: 'name', name: { text: s.text, quoted: s.kind === 'qident' } });
        else fail('ParseInvalidPathComponent', s);
      } else {
        break;
      }
    }
    // `S3Object` is the stream of root values; `S3Object[*]` says so explicitly.
    if (steps[0]?.k === 'wild') steps.shift();
    let alias: Name | undefined;
    if (this.acceptKw('as')) {
      const a = this.next();
      if (a.kind !== 'ident' && a.kind !== 'qident') fail('ParseExpectedIdentForAlias', a);
      alias = { text: a.text, quoted: a.kind === 'qident' };
    } else if (this.peek().kind === 'ident' || this.peek().kind === 'qident') {
      const a = this.next();
      alias = { text: a.text, quoted: a.kind === 'qident' };
    }
    const after = this.peek();
    if (this.isOp(',') || (after.kind === 'keyword' && JOIN_WORDS.has(after.text))) fail('ParseMalformedJoin', after);
    return { steps, alias };
  }

  private limit(): number {
    const t = this.peek();
    if (this.isOp('-') && this.peek(1).kind === 'number') fail('EvaluatorNegativeLimit', t);
    const n = this.next();
    if (n.kind !== 'number' || !/^\d+$/.test(n.text)) fail('ParseExpectedNumber', n);
    return Number(n.text);
  }

  /** Any expression. */
  expr(): Expr {
    if (++this.depth > MAX_NESTING) throw new SelectError('MaxOperatorsExceeded');
    const e = this.or();
    this.depth--;
    return e;
  }

  private or(): Expr {
    let l = this.and();
    while (this.acceptKw('or')) l = { k: 'or', l, r: this.and() };
    return l;
  }

  private and(): Expr {
    let l = this.not();
    while (this.acceptKw('and')) l = { k: 'and', l, r: this.not() };
    return l;
  }

  private not(): Expr {
    if (this.acceptKw('not')) {
      if (++this.depth > MAX_NESTING) throw new SelectError('MaxOperatorsExceeded');
      const e: Expr = { k: 'not', e: this.not() };
      this.depth--;
      return e;
    }
    return this.equality();
  }

  private equality(): Expr {
    let l = this.relational();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || (t.text !== '=' && t.text !== '<>' && t.text !== '!=')) return l;
      this.i++;
      l = { k: 'cmp', op: t.text === '=' ? '=' : '<>', l, r: this.relational() };
    }
  }

  private relational(): Expr {
    let l = this.like();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || (t.text !== '<' && t.text !== '>' && t.text !== '<=' && t.text !== '>=')) return l;
      this.i++;
      l = { k: 'cmp', op: t.text, l, r: this.like() };
    }
  }

  /** `[NOT] word` at the current position: whether it is there (consuming it) and whether negated. */
  private negatable(word: string): { found: boolean; not: boolean } {
    if (this.isKw(word)) {
      this.i++;
      return { found: true, not: false };
    }
    if (this.isKw('not') && this.isKw(word, 1)) {
      this.i += 2;
      return { found: true, not: true };
    }
    return { found: false, not: false };
  }

  private like(): Expr {
    let l = this.between();
    for (;;) {
      const m = this.negatable('like');
      if (!m.found) return l;
      const pattern = this.between();
      const escape = this.acceptKw('escape') ? this.between() : undefined;
      l = { k: 'like', e: l, pattern, escape, not: m.not };
    }
  }

  private between(): Expr {
    let l = this.in();
    for (;;) {
      const m = this.negatable('between');
      if (!m.found) return l;
      const lo = this.in();
      this.expectKw('and');
      const hi = this.in();
      l = { k: 'between', e: l, lo, hi, not: m.not };
    }
  }

  private in(): Expr {
    let l = this.is();
    for (;;) {
      const m = this.negatable('in');
      if (!m.found) return l;
      this.expectOp('(', 'ParseExpectedTokenType');
      if (this.isKw('select')) fail('ParseUnsupportedSelect', this.peek(), 'Subqueries are not supported.');
      const list: Expr[] = [this.expr()];
      while (this.acceptOp(',')) list.push(this.expr());
      this.expectOp(')', 'ParseExpectedTokenType');
      l = { k: 'in', e: l, list, not: m.not };
    }
  }

  private is(): Expr {
    let l = this.concat();
    while (this.acceptKw('is')) {
      const not = this.acceptKw('not');
      const t = this.next();
      if (t.kind !== 'keyword' || (t.text !== 'null' && t.text !== 'missing')) fail('ParseExpectedKeyword', t, 'Expected NULL or MISSING after IS.');
      l = { k: 'is', e: l, what: t.text, not };
    }
    return l;
  }

  private concat(): Expr {
    let l = this.additive();
    while (this.acceptOp('||')) l = { k: 'concat', l, r: this.additive() };
    return l;
  }

  private additive(): Expr {
    let l = this.multiplicative();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || (t.text !== '+' && t.text !== '-')) return l;
      this.i++;
      l = { k: 'arith', op: t.text, l, r: this.multiplicative() };
    }
  }

  private multiplicative(): Expr {
    let l = this.unary();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || (t.text !== '*' && t.text !== '/' && t.text !== '%')) return l;
      this.i++;
      l = { k: 'arith', op: t.text, l, r: this.unary() };
    }
  }

  private unary(): Expr {
    if (this.isOp('-') || this.isOp('+')) {
      const minus = this.next().text === '-';
      if (++this.depth > MAX_NESTING) throw new SelectError('MaxOperatorsExceeded');
      const e = this.unary();
      this.depth--;
      if (!minus) return e;
      if (e.k === 'lit' && typeof e.v === 'number') return { k: 'lit', v: -e.v, real: e.real };
      return { k: 'neg', e };
    }
    return this.primary();
  }

  private primary(): Expr {
    const t = this.next();
    switch (t.kind) {
      case 'number':
        return { k: 'lit', v: Number(t.text), real: /[.eE]/.test(t.text) };
      case 'string':
        return { k: 'lit', v: t.text };
      case 'ion': {
        const ts = parseTimestamp(t.text.trim());
        if (ts === undefined) fail('LexerInvalidIONLiteral', t, 'Only timestamps may be written between backticks.');
        return { k: 'lit', v: ts };
      }
      case 'ident':
        if (this.isOp('(')) return this.functionCall(t);
        return this.path({ text: t.text, quoted: false });
      case 'qident':
        return this.path({ text: t.text, quoted: true });
      case 'keyword':
        return this.keywordPrimary(t);
      case 'eof':
        return fail('ParseExpectedExpression', t);
      case 'op':
        if (t.text === '(') {
          if (this.isKw('select')) fail('ParseUnsupportedSelect', this.peek(), 'Subqueries are not supported.');
          const e = this.expr();
          this.expectOp(')', 'ParseExpectedTokenType');
          return e;
        }
        if (t.text === '[') {
          const items: Expr[] = [];
          if (!this.acceptOp(']')) {
            do items.push(this.expr());
            while (this.acceptOp(','));
            this.expectOp(']', 'ParseExpectedTokenType');
          }
          return { k: 'list', items };
        }
        if (t.text === ')' || t.text === ',' || t.text === ']' || t.text === ';') return fail('ParseExpectedExpression', t);
        return fail('ParseUnexpectedOperator', t);
    }
  }

  private keywordPrimary(t: Token): Expr {
    switch (t.text) {
      case 'null':
        return { k: 'lit', v: null };
      case 'missing':
        return { k: 'lit', v: undefined };
      case 'true':
        return { k: 'lit', v: true };
      case 'false':
        return { k: 'lit', v: false };
      case 'case':
        return this.caseExpr();
      case 'cast':
        return this.cast();
      case 'extract':
        return this.extract();
      case 'substring':
        return this.substring();
      case 'trim':
        return this.trim();
      case 'select':
        return fail('ParseUnsupportedSelect', t, 'Subqueries are not supported.');
    }
    if (AGGREGATES.has(t.text)) return this.aggregate(t.text as AggregateName);
    if (KEYWORD_FUNCTIONS.has(t.text)) {
      if (!this.isOp('(')) fail('ParseExpectedLeftParenBuiltinFunctionCall', this.peek());
      return this.functionCall(t);
    }
    if (this.isOp('(')) throw new SelectError('UnsupportedFunction', `Unsupported function ${t.text.toUpperCase()}.`);
    return fail('ParseUnExpectedKeyword', t);
  }

  /** The steps after a path's head: `.name`, `."name"`, `[expr]`, `.*`, `[*]`. */
  private path(head: Name): Expr {
    const steps: Step[] = [];
    for (;;) {
      if (this.acceptOp('.')) {
        const s = this.next();
        if (s.kind === 'ident' || s.kind === 'qident') steps.push({ k: 'name', name: { text: s.text, quoted: s.kind === 'qident' } });
        else if (s.kind === 'op' && s.text === '*') steps.push({ k: 'wild', bracket: false });
        else fail('ParseInvalidPathComponent', s);
      } else if (this.acceptOp('[')) {
        if (this.acceptOp('*')) steps.push({ k: 'wild', bracket: true });
        else steps.push({ k: 'index', e: this.expr() });
        this.expectOp(']', 'ParseExpectedTokenType');
      } else {
        return { k: 'ref', head, steps };
      }
    }
  }

  /** `(arg, …)` of a function call; `*` is only COUNT's. */
  private args(): Expr[] {
    this.expectOp('(', 'ParseExpectedLeftParenBuiltinFunctionCall');
    return this.argsAfterParen();
  }

  private argsAfterParen(): Expr[] {
    const args: Expr[] = [];
    if (this.acceptOp(')')) return args;
    for (;;) {
      if (this.isOp('*') && (this.isOp(')', 1) || this.isOp(',', 1))) fail('ParseUnsupportedCallWithStar', this.peek());
      args.push(this.expr());
      if (this.acceptOp(',')) continue;
      this.expectOp(')', 'ParseExpectedRightParenBuiltinFunctionCall');
      return args;
    }
  }

  private functionCall(name: Token): Expr {
    const lower = name.text.toLowerCase();
    if (lower === 'date_add' || lower === 'date_diff') return this.dateFunction(lower);
    return { k: 'call', name: lower, args: this.args() };
  }

  private aggregate(fn: AggregateName): Expr {
    this.expectOp('(', 'ParseExpectedLeftParenBuiltinFunctionCall');
    if (this.isKw('distinct') || this.isKw('all')) fail('ParseUnsupportedSyntax', this.peek(), 'DISTINCT / ALL in aggregates is not supported.');
    if (this.isOp('*')) {
      const star = this.next();
      if (fn !== 'count') fail('ParseUnsupportedCallWithStar', star);
      this.expectOp(')', 'ParseExpectedRightParenBuiltinFunctionCall');
      return { k: 'agg', fn, arg: undefined };
    }
    const args = this.argsAfterParen();
    if (args.length !== 1) throw new SelectError('ParseNonUnaryAgregateFunctionCall');
    return { k: 'agg', fn, arg: args[0] };
  }

  private caseExpr(): Expr {
    const subject = this.isKw('when') ? undefined : this.expr();
    if (!this.isKw('when')) fail('ParseExpectedWhenClause', this.peek());
    const whens: { when: Expr; then: Expr }[] = [];
    while (this.acceptKw('when')) {
      const when = this.expr();
      this.expectKw('then');
      whens.push({ when, then: this.expr() });
    }
    const otherwise = this.acceptKw('else') ? this.expr() : undefined;
    this.expectKw('end');
    return { k: 'case', subject, whens, else: otherwise };
  }

  private cast(): Expr {
    this.expectOp('(', 'ParseExpectedLeftParenAfterCast');
    const e = this.expr();
    if (this.isOp(',')) fail('ParseCastArity', this.peek());
    this.expectKw('as');
    const type = this.typeName();
    this.expectOp(')', 'ParseExpectedRightParenBuiltinFunctionCall');
    return { k: 'cast', e, type };
  }

  private typeName(): CastType {
    const t = this.next();
    if (t.kind !== 'keyword' && t.kind !== 'ident') fail('ParseExpectedTypeName', t);
    const name = t.text.toLowerCase();
    let type: CastType;
    let params = 0;
    switch (name) {
      case 'bool':
      case 'boolean':
        type = 'bool';
        break;
      case 'int':
      case 'integer':
      case 'smallint':
      case 'bigint':
        type = 'int';
        break;
      case 'float':
      case 'real':
        type = 'float';
        break;
      case 'double':
        this.acceptKw('precision');
        type = 'float';
        break;
      case 'decimal':
      case 'dec':
      case 'numeric':
        type = 'decimal';
        params = 2;
        break;
      case 'string':
        type = 'string';
        break;
      case 'varchar':
      case 'char':
      case 'character':
        if (name !== 'varchar') this.acceptKw('varying');
        type = 'string';
        params = 1;
        break;
      case 'timestamp':
        type = 'timestamp';
        break;
      default:
        if (UNSUPPORTED_TYPES.has(name)) throw new SelectError('InvalidDataType', `CAST to ${name.toUpperCase()} is not supported.`);
        return fail('ParseExpectedTypeName', t);
    }
    // Precision and scale are accepted and ignored, as S3 Select does.
    if (this.acceptOp('(')) {
      let count = 0;
      do {
        const p = this.next();
        if (p.kind !== 'number' || !/^\d+$/.test(p.text) || ++count > params) fail('ParseInvalidTypeParam', p);
      } while (this.acceptOp(','));
      this.expectOp(')', 'ParseInvalidTypeParam');
    }
    return type;
  }

  private datePart(timezone: boolean): DatePart {
    const t = this.next();
    const name = t.kind === 'keyword' || t.kind === 'ident' ? t.text.toLowerCase() : '';
    if (DATE_PARTS.has(name) || (timezone && (name === 'timezone_hour' || name === 'timezone_minute'))) return name as DatePart;
    return fail('ParseExpectedDatePart', t);
  }

  private extract(): Expr {
    this.expectOp('(', 'ParseExpectedLeftParenBuiltinFunctionCall');
    const part = this.datePart(true);
    this.expectKw('from');
    const e = this.expr();
    this.expectOp(')', 'ParseExpectedRightParenBuiltinFunctionCall');
    return { k: 'extract', part, e };
  }

  private dateFunction(name: 'date_add' | 'date_diff'): Expr {
    this.expectOp('(', 'ParseExpectedLeftParenBuiltinFunctionCall');
    const part = this.datePart(false);
    this.expectOp(',', 'ParseExpectedArgumentDelimiter');
    const a = this.expr();
    this.expectOp(',', 'ParseExpectedArgumentDelimiter');
    const b = this.expr();
    this.expectOp(')', 'ParseExpectedRightParenBuiltinFunctionCall');
    return name === 'date_add' ? { k: 'date_add', part, n: a, e: b } : { k: 'date_diff', part, a, b };
  }

  /** `SUBSTRING(s FROM start [FOR length])` or `SUBSTRING(s, start [, length])`. */
  private substring(): Expr {
    this.expectOp('(', 'ParseExpectedLeftParenBuiltinFunctionCall');
    const args = [this.expr()];
    if (this.acceptKw('from')) {
      args.push(this.expr());
      if (this.acceptKw('for')) args.push(this.expr());
    } else {
      while (this.acceptOp(',')) args.push(this.expr());
    }
    this.expectOp(')', 'ParseExpectedRightParenBuiltinFunctionCall');
    return { k: 'call', name: 'substring', args };
  }

  /** `TRIM([[LEADING|TRAILING|BOTH] [chars] FROM] s)`. */
  private trim(): Expr {
    this.expectOp('(', 'ParseExpectedLeftParenBuiltinFunctionCall');
    let where: 'leading' | 'trailing' | 'both' = 'both';
    let chars: Expr | undefined;
    let e: Expr;
    const spec = this.peek();
    if (spec.kind === 'keyword' && (spec.text === 'leading' || spec.text === 'trailing' || spec.text === 'both')) {
      this.i++;
      where = spec.text;
      if (!this.isKw('from')) chars = this.expr();
      this.expectKw('from');
      e = this.expr();
    } else {
      e = this.expr();
      if (this.acceptKw('from')) {
        chars = e;
        e = this.expr();
      }
    }
    this.expectOp(')', 'ParseExpectedRightParenBuiltinFunctionCall');
    return { k: 'trim', where, chars, e };
  }
}
