/**
 * Which top-level fields of a record a query can read: lets a columnar input (Parquet) decode
 * only those columns. An over-approximation by design — every name a path could start with is
 * kept — and `undefined` (every field) whenever the query can see whole records (`*`, `alias.*`,
 * a bare alias, a FROM path or reference starting with an index or wildcard).
 */
import type { Expr, Name, Query } from './ast.ts';

/** The names the query's paths can reach at the top of a record, or undefined for all of them. */
export function topLevelFields(query: Query): Name[] | undefined {
  if (query.items.some((i) => i.k !== 'expr')) return undefined;
  const first = query.from.steps[0];
  if (first !== undefined) return first.k === 'name' ? [first.name] : undefined;
  const rowNames: Name[] = query.from.alias !== undefined ? [query.from.alias] : [{ text: 'S3Object', quoted: false }, { text: '_1', quoted: false }];
  const names: Name[] = [];
  let whole = false;
  const visit = (value: unknown): void => {
    if (whole || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const v of value) visit(v);
      return;
    }
    const e = value as Expr;
    if (e.k === 'ref') {
      // The head is a column, unless it names the row (the alias; without one S3Object or _1):
      // then the first step is. Both are kept where the head could be either.
      names.push(e.head);
      if (rowNames.some((r) => sameText(r, e.head))) {
        const step = e.steps[0];
        if (step?.k === 'name') names.push(step.name);
        else whole = true; // the whole record, or an element of it by index / wildcard
      }
    }
    for (const v of Object.values(value)) visit(v);
  };
  visit(query.items);
  visit(query.where);
  return whole ? undefined : names;
}

function sameText(a: Name, b: Name): boolean {
  return a.text.toLowerCase() === b.text.toLowerCase();
}

/** The columns among `available` that one of `names` can name (unquoted names match case-insensitively). */
export function matchingColumns(names: readonly Name[], available: readonly string[]): string[] {
  return available.filter((column) => names.some((n) => (n.quoted ? n.text === column : n.text.toLowerCase() === column.toLowerCase())));
}
