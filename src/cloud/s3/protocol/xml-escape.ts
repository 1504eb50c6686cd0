/**
 * Escaping of text for XML element content and attribute values, as S3 writes it: `&`, `<`, `>`
 * and `"` become entities (AWS writes ETags as `&quot;…&quot;`), carriage return and the other
 * control characters that a parser would drop or normalise become numeric character references
 * (`&#13;`), so keys holding them survive a round trip through an XML parser that accepts them.
 */

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[&<>"\u0000-\u0008\u000b-\u001f]/;
// eslint-disable-next-line no-control-regex
const ESCAPE_ALL = /[&<>"\u0000-\u0008\u000b-\u001f]/g;

function replacement(ch: string): string {
  switch (ch) {
    case '&':
      return '&amp;';
    case '<':
      return '&lt;';
    case '>':
      return '&gt;';
    case '"':
      return '&quot;';
    default:
      return `&#${ch.charCodeAt(0)};`;
  }
}

/** Escapes `text` for use as XML character data or a double-quoted attribute value. */
export function escapeXml(text: string): string {
  return NEEDS_ESCAPE.test(text) ? text.replace(ESCAPE_ALL, replacement) : text;
}

/** `<name>value</name>` with the value escaped; '' for an absent value (optional elements). */
export function xmlLeaf(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${escapeXml(String(value))}</${name}>`;
}
