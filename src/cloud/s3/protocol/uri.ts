/**
 * Percent-encoding as AWS defines it (the `UriEncode` of Signature Version 4, also used for
 * `encoding-type=url` listings) and the matching decoding.
 */

const EXTRA_RESERVED = /[!'()*]/g;

function hexEscape(ch: string): string {
  return `%${ch.charCodeAt(0).toString(16).toUpperCase()}`;
}

/**
 * AWS `UriEncode`: UTF-8, every byte except the unreserved characters `A-Z a-z 0-9 - . _ ~` as
 * `%XX` with upper-case hex; `/` is kept as is when `encodeSlash` is false (object key paths).
 * Throws `URIError` for a string holding a lone surrogate.
 */
export function uriEncode(value: string, encodeSlash = true): string {
  const encoded = encodeURIComponent(value).replace(EXTRA_RESERVED, hexEscape);
  return encodeSlash ? encoded : encoded.replace(/%2F/g, '/');
}

/**
 * Decodes `%XX` escapes (UTF-8); `+` stays a plus sign. Returns `undefined` for a malformed
 * escape or bytes that are not UTF-8.
 */
export function percentDecode(value: string): string | undefined {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/**
 * Decodes a query-string component as HTML forms write it: `+` is a space, then `%XX` escapes.
 * Returns `undefined` when malformed.
 */
export function formDecode(value: string): string | undefined {
  return percentDecode(value.includes('+') ? value.replace(/\+/g, ' ') : value);
}
