/**
 * LIKE patterns: `%` matches any sequence of characters, `_` any one character (a Unicode code
 * point), and the ESCAPE character makes the next `%`, `_` or itself literal. Matching is
 * case-sensitive and covers the whole string.
 *
 * Matching is not done with a RegExp: `%a%a%a%…b` compiled to `.*a.*a.*…b` backtracks
 * exponentially, and a query of a few bytes over a short object held a node's event loop for
 * seconds (minutes with a longer pattern). The matcher below is the wildcard algorithm that
 * remembers only the last `%`: on a mismatch it retries that `%` one character further, so it
 * takes at most (text length × pattern length) steps.
 */
import { fail } from './ops.ts';

/** A compiled pattern: each element a literal code point, ANY_ONE (`_`) or ANY_RUN (`%`). */
const ANY_ONE = -1;
const ANY_RUN = -2;

/** A compiled LIKE pattern. */
export interface LikeMatcher {
  /** Whether the whole of `text` matches the pattern. */
  test(text: string): boolean;
}

/** Compiles a LIKE pattern (with an optional one-character escape). */
export function likeMatcher(pattern: string, escape: string | undefined): LikeMatcher {
  if (escape !== undefined && [...escape].length !== 1) {
    fail('LikeInvalidInputs', `The ESCAPE of LIKE must be one character, got '${escape}'.`);
  }
  const compiled: number[] = [];
  let escaped = false;
  for (const ch of pattern) {
    const code = ch.codePointAt(0)!;
    if (escaped) {
      if (ch !== '%' && ch !== '_' && ch !== escape) {
        fail('EvaluatorLikePatternInvalidEscapeSequence', `Invalid escape sequence '${escape}${ch}' in LIKE pattern.`);
      }
      compiled.push(code);
      escaped = false;
    } else if (ch === escape) {
      escaped = true;
    } else if (ch === '%') {
      // Consecutive `%` are one.
      if (compiled[compiled.length - 1] !== ANY_RUN) compiled.push(ANY_RUN);
    } else {
      compiled.push(ch === '_' ? ANY_ONE : code);
    }
  }
  if (escaped) fail('EvaluatorLikePatternInvalidEscapeSequence', 'A LIKE pattern cannot end with its escape character.');
  return { test: (text) => matches(compiled, codePoints(text)) };
}

function codePoints(text: string): number[] {
  const out: number[] = [];
  for (const ch of text) out.push(ch.codePointAt(0)!);
  return out;
}

function matches(pattern: readonly number[], text: readonly number[]): boolean {
  let p = 0;
  let t = 0;
  // The last `%` seen, and the text position it is currently taken to extend to.
  let run = -1;
  let mark = 0;
  while (t < text.length) {
    const want = pattern[p];
    if (p < pattern.length && want !== ANY_RUN && (want === ANY_ONE || want === text[t])) {
      p++;
      t++;
    } else if (p < pattern.length && want === ANY_RUN) {
      run = p++;
      mark = t;
    } else if (run >= 0) {
      p = run + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === ANY_RUN) p++;
  return p === pattern.length;
}
