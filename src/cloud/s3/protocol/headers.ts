/**
 * Request header access. Header maps use lower-case names, as Node's `IncomingMessage.headers`
 * (values joined by Node) or `headersDistinct` (arrays) provide them; arrays are joined with `,`
 * as SigV4 canonicalisation joins repeated headers.
 */

/** Request headers by lower-case name. */
export type HeaderMap = Readonly<Record<string, string | readonly string[] | undefined>>;

/** The value of header `name` (lower-case), repeated values joined with `,`. */
export function getHeader(headers: HeaderMap, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(',');
}
