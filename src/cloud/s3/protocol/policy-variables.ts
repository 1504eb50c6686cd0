/**
 * Policy variables of bucket policies (IAM's "Variables and tags"; documents of Version
 * `2012-10-17` only — with `2008-10-17` or no Version they are plain text): in a Resource /
 * NotResource value and in the values of the string and ARN condition operators,
 *
 * - `${key}` stands for the request's value of condition key `key` (`${aws:username}`,
 *   `${aws:userid}`, `${aws:SourceIp}`, `${aws:CurrentTime}`, `${s3:prefix}`,
 *   `${s3:ExistingObjectTag/project}`, …; the key is case-insensitive up to its first `/`, as
 *   condition keys are);
 * - `${key, 'default'}` is the request's value, or `default` when the request has none (a quote
 *   inside the default is written `''`; spaces around the key and the default are ignored);
 * - `${*}`, `${?}` and `${$}` are the characters `*`, `?` and `$` themselves (not wildcards).
 *
 * What a variable puts in a value is matched as it is: a `*` or `?` in the request's value (or
 * in a default) is a character, never a wildcard. Substitution is one pass: a default holding
 * `${…}` is that text. A variable whose key the request lacks, without a default, leaves the value
 * unresolved: it matches nothing, and an element that needs it to decide does not match (see
 * protocol/policy.ts). A malformed variable (`${` without its `}`, no key, a default without its
 * quotes) is an error when a document is put; {@link parseTemplate} reports it.
 */

/** A condition key as policies are matched: case-insensitive up to its first `/` (tag keys keep their case). */
export function conditionKey(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? key.toLowerCase() : key.slice(0, slash).toLowerCase() + key.slice(slash);
}

/** A piece of a value with variables: text (its `*` and `?` wildcards or not), or a variable. */
export type TemplatePart = { text: string; wildcards: boolean } | { key: string; fallback: string | undefined };

/** A policy value holding variables (or the escapes `${*}`, `${?}`, `${$}`). */
export interface PolicyTemplate {
  /** As written. */
  source: string;
  parts: TemplatePart[];
}

/** A template resolved for one request: the pattern and which of its `*` / `?` are characters. */
export interface ResolvedValue {
  text: string;
  /** Nonzero where a `*` or `?` of `text` is a character, not a wildcard (undefined: none is). */
  literal: Uint8Array | undefined;
}

/** A key inside `${…}`: a service prefix, a colon, then no braces, quotes, `$` or commas. */
const KEY = /^[A-Za-z0-9-]+:[^{}$',]+$/;

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

/**
 * `text` as a policy value of a `2012-10-17` document: the text itself when it has no variable,
 * a template when it has, or `{ error }` (what is wrong) when a `${` does not start a well-formed
 * variable.
 */
export function parseTemplate(text: string): string | PolicyTemplate | { error: string } {
  if (!text.includes('${')) return text;
  const parts: TemplatePart[] = [];
  const addText = (t: string, wildcards: boolean): void => {
    if (t !== '') parts.push({ text: t, wildcards });
  };
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf('${', i);
    if (at < 0) {
      addText(text.slice(i), true);
      break;
    }
    addText(text.slice(i, at), true);
    let k = at + 2;
    const escape = text[k];
    if ((escape === '*' || escape === '?' || escape === '$') && text[k + 1] === '}') {
      addText(escape, false);
      i = k + 2;
      continue;
    }
    while (k < text.length && text[k] !== '}' && text[k] !== ',') k++;
    if (k >= text.length) return { error: `a \${ without its closing }` };
    const key = text.slice(at + 2, k).trim();
    if (!KEY.test(key)) return { error: `\${${text.slice(at + 2, k)}${text[k]} does not name a condition key` };
    let fallback: string | undefined;
    if (text[k] === ',') {
      k++;
      while (isSpace(text[k])) k++;
      if (text[k] !== "'") return { error: `the default value of \${${key}, …} must be in single quotes` };
      k++;
      fallback = '';
      for (;;) {
        if (k >= text.length) return { error: `the default value of \${${key}, …} has no closing quote` };
        if (text[k] === "'") {
          if (text[k + 1] !== "'") break;
          fallback += "'";
          k += 2;
        } else {
          fallback += text[k];
          k++;
        }
      }
      k++;
      while (isSpace(text[k])) k++;
      if (text[k] !== '}') return { error: `\${${key}, '…'} must end after its default value` };
    }
    parts.push({ key: conditionKey(key), fallback });
    i = k + 1;
  }
  return { source: text, parts };
}

/**
 * A template with the request's values in: `value(key)` gives a (normalized) key's value, or
 * undefined when the request has none. Undefined when a variable without a default has no value.
 */
export function resolveTemplate(t: PolicyTemplate, value: (key: string) => string | undefined): ResolvedValue | undefined {
  let text = '';
  let literal: number[] | undefined;
  const mark = (piece: string): void => {
    for (let j = 0; j < piece.length; j++) {
      const c = piece.charCodeAt(j);
      if (c === 42 || c === 63) (literal ??= []).push(text.length + j);
    }
  };
  for (const part of t.parts) {
    let piece: string;
    if ('text' in part) {
      piece = part.text;
      if (!part.wildcards) mark(piece);
    } else {
      const v = value(part.key) ?? part.fallback;
      if (v === undefined) return undefined;
      piece = v;
      mark(piece);
    }
    text += piece;
  }
  if (literal === undefined) return { text, literal: undefined };
  const mask = new Uint8Array(text.length);
  for (const j of literal) mask[j] = 1;
  return { text, literal: mask };
}
