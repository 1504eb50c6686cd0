/**
 * A compiled query: binds each input record (or each element the FROM path reaches in a JSON
 * record) to the row, filters it with WHERE, and projects it — or, for an aggregate query,
 * accumulates it into the one result row.
 */
import { isTimestamp, type InputRecord, type JsonValue, type OutputRow, type SqlValue } from '../values.ts';
import type { FromStep, Name, Query, SelectItem } from './ast.ts';
import { Compiler, hasAggregate, member, sameName, type Scope } from './compile.ts';
import type { Ctx, Fn } from './node.ts';
import { fail, truth } from './ops.ts';
import type { CompiledQuery, QueryOptions } from './index.ts';
import { timestampFromMs } from './timestamp.ts';
import type { SqlTimestamp } from '../values.ts';

type Emit = (row: OutputRow) => void;

const S3OBJECT: Name = { text: 'S3Object', quoted: false };
const UNDERSCORE_1: Name = { text: '_1', quoted: false };

/** Names bound to the row (AWS): the alias; else, for JSON, `S3Object` and `_1` without a path, the path's last name, or `_1` after a wildcard or index. */
function rowNames(q: Query, input: 'csv' | 'json'): Name[] {
  const { alias, steps } = q.from;
  if (alias !== undefined) return [alias];
  if (input === 'csv' || steps.length === 0) return input === 'csv' ? [S3OBJECT] : [S3OBJECT, UNDERSCORE_1];
  const last = steps[steps.length - 1]!;
  return [last.k === 'name' ? last.name : UNDERSCORE_1];
}

/** The values a JSON record yields through the FROM path: one per element a wildcard reaches, MISSING where nothing matches. */
function compileFromPath(steps: readonly FromStep[]): ((root: JsonValue) => SqlValue[]) | undefined {
  if (steps.length === 0) return undefined;
  const step = (v: SqlValue, s: FromStep, out: SqlValue[]): void => {
    switch (s.k) {
      case 'name':
        out.push(v === undefined ? undefined : member(v, s.name));
        return;
      case 'index':
        out.push(Array.isArray(v) ? v[s.i] : undefined);
        return;
      case 'wild':
        if (Array.isArray(v) && v.length > 0) out.push(...v);
        else out.push(undefined);
        return;
      case 'wildObj':
        if (typeof v === 'object' && v !== null && !Array.isArray(v) && !isTimestamp(v) && Object.keys(v).length > 0) out.push(...Object.values(v));
        else out.push(undefined);
    }
  };
  return (root) => {
    let values: SqlValue[] = [root];
    for (const s of steps) {
      const next: SqlValue[] = [];
      for (const v of values) step(v, s, next);
      values = next;
    }
    return values;
  };
}

function isStruct(v: SqlValue): v is { [k: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isTimestamp(v);
}

/** One piece of a projected row. */
type Part = { readonly k: 'value'; readonly name: string; readonly fn: Fn } | { readonly k: 'star' };

class Compiled implements CompiledQuery {
  readonly aggregate: boolean;
  done: boolean;
  private readonly ctx: Ctx = { fields: [], value: undefined };
  private readonly where: ((c: Ctx) => boolean) | undefined;
  private readonly limit: number;
  private readonly fromPath: ((root: JsonValue) => SqlValue[]) | undefined;
  private readonly parts: readonly Part[];
  /** `SELECT *` (or `alias.*`) alone: the row as it is. */
  private readonly whole: boolean;
  private readonly names: readonly string[];
  /** Some item is `alias.*` (the row's columns are spliced in). */
  private readonly spliced: boolean;
  private readonly add: (c: Ctx) => void;
  private readonly csvNames = new Map<number, readonly string[]>();
  private emitted = 0;
  private finished = false;

  constructor(
    q: Query,
    private readonly options: QueryOptions,
  ) {
    const input = options.input;
    if (input === 'csv' && q.from.steps.length > 0) fail('InvalidKeyPath', 'A path in the FROM clause applies to JSON input only.');
    let now: SqlTimestamp | undefined;
    const scope: Scope = {
      input,
      columnNames: options.columnNames,
      rowNames: rowNames(q, input),
      now: () => (now ??= timestampFromMs(options.now())),
    };
    const compiler = new Compiler(scope);
    if (q.where !== undefined) {
      const w = compiler.compile(q.where, 'where').fn;
      this.where = (c) => truth(w(c)) === true;
    }
    this.limit = q.limit ?? Infinity;
    this.fromPath = input === 'json' ? compileFromPath(q.from.steps) : undefined;
    this.aggregate = q.items.some((i) => i.k === 'expr' && hasAggregate(i.e));
    this.parts = q.items.map((item, i) => this.part(item, i, compiler, scope));
    this.whole = this.parts.length === 1 && this.parts[0]!.k === 'star';
    this.names = this.parts.map((p) => (p.k === 'value' ? p.name : ''));
    this.spliced = this.parts.some((p) => p.k === 'star');
    const aggregates = compiler.aggregates;
    this.add = (c) => {
      for (const a of aggregates) a.add(c);
    };
    this.done = this.limit === 0;
  }

  private part(item: SelectItem, index: number, compiler: Compiler, scope: Scope): Part {
    if (item.k === 'star' || item.k === 'qstar') {
      if (item.k === 'qstar' && !scope.rowNames.some((r) => sameName(r, item.qualifier))) {
        fail('InvalidTableAlias', `'${item.qualifier.text}' is not the table alias.`);
      }
      if (this.aggregate) fail('UnsupportedSqlStructure', 'An aggregate query can select only aggregates and constants.');
      return { k: 'star' };
    }
    if (this.aggregate) compiler.checkReferences(item.e);
    const n = compiler.compile(item.e, this.aggregate ? 'outer' : 'row');
    return { k: 'value', name: item.alias ?? n.name ?? `_${index + 1}`, fn: n.fn };
  }

  process(record: InputRecord, emit: Emit): void {
    if (this.done) return;
    const ctx = this.ctx;
    if (record.kind === 'csv') {
      if (this.options.input !== 'csv') throw new TypeError('A CSV record was given to a query over JSON input.');
      ctx.fields = record.fields;
      this.row(record, emit);
      return;
    }
    if (this.options.input !== 'json') throw new TypeError('A JSON record was given to a query over CSV input.');
    if (this.fromPath === undefined) {
      ctx.value = record.value;
      this.row(record, emit);
      return;
    }
    for (const v of this.fromPath(record.value)) {
      ctx.value = v;
      this.row(record, emit);
      if (this.done) return;
    }
  }

  private row(record: InputRecord, emit: Emit): void {
    const ctx = this.ctx;
    if (this.where !== undefined && !this.where(ctx)) return;
    if (this.aggregate) {
      this.add(ctx);
      return;
    }
    emit(this.project(record.kind, ctx));
    if (++this.emitted >= this.limit) this.done = true;
  }

  finish(emit: Emit): void {
    if (!this.aggregate || this.finished || this.limit === 0) return;
    this.finished = true;
    emit(this.project('json', this.ctx));
  }

  private project(kind: 'csv' | 'json', ctx: Ctx): OutputRow {
    if (this.whole) return kind === 'csv' ? { names: this.namesFor(ctx.fields.length), values: ctx.fields } : this.wholeValue(ctx.value);
    const parts = this.parts;
    if (!this.spliced) {
      const values: SqlValue[] = new Array(parts.length);
      for (let i = 0; i < parts.length; i++) values[i] = (parts[i] as { fn: Fn }).fn(ctx);
      return { names: this.names, values };
    }
    // `alias.*` among other items: the row's columns in its place.
    const names: string[] = [];
    const values: SqlValue[] = [];
    for (const p of parts) {
      if (p.k === 'value') {
        names.push(p.name);
        values.push(p.fn(ctx));
      } else {
        const r = kind === 'csv' ? { names: this.namesFor(ctx.fields.length), values: ctx.fields } : this.wholeValue(ctx.value);
        names.push(...r.names);
        values.push(...r.values);
      }
    }
    return { names, values };
  }

  /** A JSON row as it is: a structure's members; another value as `_1`; nothing for MISSING. */
  private wholeValue(v: SqlValue): OutputRow {
    if (isStruct(v)) return { names: Object.keys(v), values: Object.values(v), whole: v };
    if (v === undefined) return { names: [], values: [] };
    return { names: ['_1'], values: [v] };
  }

  /** CSV column names for `n` fields: the header's, then `_k` by position. */
  private namesFor(n: number): readonly string[] {
    let names = this.csvNames.get(n);
    if (names === undefined) {
      const header = this.options.columnNames ?? [];
      names = Array.from({ length: n }, (_, i) => header[i] ?? `_${i + 1}`);
      this.csvNames.set(n, names);
    }
    return names;
  }
}

/** Compiles a parsed query for the given input. */
export function compileParsed(q: Query, options: QueryOptions): CompiledQuery {
  return new Compiled(q, options);
}
