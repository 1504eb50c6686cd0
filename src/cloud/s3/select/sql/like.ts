/**
 * LIKE patterns: `%` matches any sequence of characters, `_` any one character (a Unicode code
 * point), and the ESCAPE character makes the next `%`, `_` or itself literal. Matching is
 * case-sensitive and covers the whole string.
 */
import { fail } from './ops.ts';

const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/]/g;

/** Compiles a LIKE pattern (with an optional one-character escape) to an anchored RegExp. */
export function likeRegex(pattern: string, escape: string | undefined): RegExp {
  if (escape !== undefined && [...escape].length !== 1) {
    fail('LikeInvalidInputs', `The ESCAPE of LIKE must be one character, got '${escape}'.`);
  }
  let source = '';
  let escaped = false;
  let afterPercent = false;
  for (const ch of pattern) {
    const percent = !escaped && ch === '%';
    if (escaped) {
      if (ch !== '%' && ch !== '_' && ch !== escape) {
        fail('EvaluatorLikePatternInvalidEscapeSequence', `Invalid escape sequence '${escape}${ch}' in LIKE pattern.`);
      }
      source += ch.replace(REGEX_SPECIAL, '\\$&');
      escaped = false;
    } else if (ch === escape) {
      escaped = true;
    } else if (ch === '%') {
      if (!afterPercent) source += '.*';
    } else if (ch === '_') {
      source += '.';
    } else {
      source += ch.replace(REGEX_SPECIAL, '\\$&');
    }
    afterPercent = percent;
  }
  if (escaped) fail('EvaluatorLikePatternInvalidEscapeSequence', 'A LIKE pattern cannot end with its escape character.');
  return new RegExp(`^${source}$`, 'su');
}
