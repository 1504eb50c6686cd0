/**
 * Lexer of S3 Select's SQL: turns the expression into tokens. Keywords are case-insensitive and
 * reserved (AWS's list): an unquoted identifier that spells one is a keyword token, and must be
 * double-quoted to be used as a name.
 */
import { SelectError } from '../../protocol/select-errors.ts';
import { RESERVED } from './keywords.ts';

/** What a token is. */
export type TokenKind =
  /** An unquoted name (`text` as written). */
  | 'ident'
  /** A double-quoted name (`text` without the quotes, `""` unescaped). */
  | 'qident'
  /** A reserved word (`text` lower-cased). */
  | 'keyword'
  /** A numeric literal (`text` as written). */
  | 'number'
  /** A single-quoted string (`text` unescaped). */
  | 'string'
  /** A backtick-quoted Ion literal (`text` between the backticks). */
  | 'ion'
  /** Punctuation or an operator (`text`). */
  | 'op'
  | 'eof';

/** One token and where it starts in the expression. */
export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly pos: number;
}

const IDENT_START = /[\p{L}_]/u;
const IDENT_PART = /[\p{L}\p{N}_$]/u;
const DIGIT = /[0-9]/;
const SINGLE_OPS = new Set(['+', '-', '*', '/', '%', '(', ')', ',', '.', '[', ']', ';', '=', '<', '>']);
const DOUBLE_OPS = new Set(['<=', '>=', '<>', '!=', '||']);

/** Splits `sql` into tokens (ending with an `eof` token); throws `Lexer…` SelectErrors. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) throw new SelectError('LexerInvalidChar', `Unterminated comment at position ${i}.`);
      i = end + 2;
      continue;
    }
    const start = i;
    if (IDENT_START.test(c)) {
      i++;
      while (i < n && IDENT_PART.test(sql[i]!)) i++;
      const text = sql.slice(start, i);
      const lower = text.toLowerCase();
      tokens.push(RESERVED.has(lower) ? { kind: 'keyword', text: lower, pos: start } : { kind: 'ident', text, pos: start });
      continue;
    }
    // After a name, `]` or `)`, a dot is a path step (`s.1` is not `s` then `.1`).
    const prev = tokens[tokens.length - 1];
    const afterOperand = prev !== undefined && (prev.kind === 'ident' || prev.kind === 'qident' || (prev.kind === 'op' && (prev.text === ']' || prev.text === ')')));
    if (DIGIT.test(c) || (c === '.' && !afterOperand && DIGIT.test(sql[i + 1] ?? ''))) {
      i = scanNumber(sql, i);
      tokens.push({ kind: 'number', text: sql.slice(start, i), pos: start });
      continue;
    }
    if (c === "'" || c === '"') {
      const [text, end] = scanQuoted(sql, i, c);
      tokens.push({ kind: c === "'" ? 'string' : 'qident', text, pos: start });
      i = end;
      continue;
    }
    if (c === '`') {
      const end = sql.indexOf('`', i + 1);
      if (end < 0) throw new SelectError('LexerInvalidIONLiteral', `Unterminated Ion literal at position ${i}.`);
      tokens.push({ kind: 'ion', text: sql.slice(i + 1, end), pos: start });
      i = end + 1;
      continue;
    }
    const two = sql.slice(i, i + 2);
    if (DOUBLE_OPS.has(two)) {
      tokens.push({ kind: 'op', text: two, pos: start });
      i += 2;
      continue;
    }
    if (SINGLE_OPS.has(c)) {
      tokens.push({ kind: 'op', text: c, pos: start });
      i++;
      continue;
    }
    if (c === '!' || c === '|') throw new SelectError('LexerInvalidOperator', `Invalid operator '${c}' at position ${i}.`);
    throw new SelectError('LexerInvalidChar', `Invalid character '${c}' at position ${i}.`);
  }
  tokens.push({ kind: 'eof', text: '', pos: n });
  return tokens;
}

/** Scans `digits[.digits][e[+-]digits]` (or `.digits…`) from `i`; returns the end. */
function scanNumber(sql: string, i: number): number {
  const start = i;
  const digits = (): void => {
    while (i < sql.length && DIGIT.test(sql[i]!)) i++;
  };
  digits();
  if (sql[i] === '.') {
    i++;
    digits();
  }
  if (sql[i] === 'e' || sql[i] === 'E') {
    i++;
    if (sql[i] === '+' || sql[i] === '-') i++;
    const expStart = i;
    digits();
    if (i === expStart) throw new SelectError('LexerInvalidLiteral', `Invalid number '${sql.slice(start, i)}' at position ${start}.`);
  }
  // `12abc` is not a number followed by a name.
  if (i < sql.length && IDENT_PART.test(sql[i]!)) {
    throw new SelectError('LexerInvalidLiteral', `Invalid number '${sql.slice(start, i + 1)}' at position ${start}.`);
  }
  return i;
}

/** Scans a `quote`-delimited literal from `i` (doubling the quote escapes it); returns [text, end]. */
function scanQuoted(sql: string, i: number, quote: string): [string, number] {
  const start = i;
  let text = '';
  i++;
  for (;;) {
    const end = sql.indexOf(quote, i);
    if (end < 0) {
      throw new SelectError('LexerInvalidLiteral', `Unterminated ${quote === "'" ? 'string' : 'quoted identifier'} at position ${start}.`);
    }
    text += sql.slice(i, end);
    if (sql[end + 1] === quote) {
      text += quote;
      i = end + 2;
      continue;
    }
    return [text, end + 1];
  }
}
