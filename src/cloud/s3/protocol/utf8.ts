/**
 * Strict UTF-8 decoding of request documents. Node's `Buffer#toString('utf8')` replaces every
 * invalid sequence with U+FFFD, so a document with a stray byte would be read as a different
 * document than the client sent (a DeleteObjects `<Key>victim\xFF</Key>` deleting `victim\uFFFD`).
 * A request document must be UTF-8: one that is not is refused, never repaired.
 */

// One decoder for every call: `decode` without `stream` keeps no state between calls. The BOM is
// kept (ignoreBOM) so each caller decides about it as it did with `toString`.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** `bytes` as text, or undefined when they are not well-formed UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}
